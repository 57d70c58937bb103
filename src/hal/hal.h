/*
 * Hardware abstraction layer: the service manager (which HSM serves a
 * request, from the policy set) and the driver manager (which driver and
 * command run it). Every use of a key goes through here; private keys
 * never leave the HSM.
 *
 * An HSM is one token of one PKCS#11 module. Several HSMs may share a
 * module (one C_Initialize per module path). Each HSM keeps a pool of
 * sessions on which one user login serves all of them.
 *
 * Thread safety: after configuration (hal_add_hsm, hal_set_policy) every
 * function may be called from several threads at once.
 */
#ifndef HSM4SSL_HAL_H
#define HSM4SSL_HAL_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#include "adcp/adcp.h"
#include "hal/policy.h"

struct hal;
struct hal_hsm;
struct hal_key;

struct hal_hsm_config {
    char name[ADCP_NAME_MAX];
    char module_path[ADCP_PATH_MAX];
    char token_label[ADCP_LABEL_MAX];
    char pin_file[ADCP_PATH_MAX];  /* user PIN, mode 0600; "" for none */
    char init_args[ADCP_PATH_MAX]; /* C_Initialize pReserved (NSS); "" */
    unsigned sessions;             /* pool size; 0 picks the default */
    bool serialize;                /* one call at a time (tpm2-pkcs11) */
    bool network;                  /* calls wait for another machine */
};

enum hal_key_type {
    HAL_KEY_RSA = 1,
    HAL_KEY_EC,
    HAL_KEY_AES,
};

struct hal_keygen {
    enum hal_key_type type;
    unsigned bits;               /* RSA modulus; EC 256, 384 or 521; AES */
    char label[ADCP_NAME_MAX];   /* CKA_LABEL, unique within the token */
    unsigned char id[32];        /* CKA_ID */
    size_t id_len;               /* 0: derived from the public key */
    bool extractable;            /* false unless policy marks it exportable */
};

enum hal_sign_scheme {
    HAL_SIGN_RSA_PKCS1 = 1, /* PKCS#1 v1.5 over a DigestInfo */
    HAL_SIGN_RSA_PSS,       /* salt length = digest length, MGF1 same */
    HAL_SIGN_ECDSA,         /* returns a DER ECDSA-Sig-Value */
};

/* Life cycle. hal_free finalizes every module it initialised. */
enum adcp_status hal_new(struct hal **out, struct adcp_error *err);
void hal_free(struct hal *hal);

/* The step of a login at which the HAL calls its login hook. */
enum hal_login_step {
    HAL_LOGIN_STARTING, /* C_Login is about to be called */
    HAL_LOGIN_FAILED,   /* C_Login returned an error */
    HAL_LOGIN_DONE,     /* C_Login succeeded */
};

/* A function the HAL calls in the thread that logs in to an HSM, before
 * and after each C_Login. It runs under that HSM's state lock, so it must
 * not call the HAL. */
typedef void (*hal_login_fn)(void *arg, const char *hsm_name,
                             enum hal_login_step step);

/* Sets the login hook. Set it before the first hal_add_hsm: it is read
 * without a lock. */
void hal_set_login_hook(struct hal *hal, hal_login_fn fn, void *arg);

/*
 * Adds an HSM: loads its module (once per path) with CKF_OS_LOCKING_OK,
 * finds the token by label and, when the token is initialised and the PIN
 * file is readable, logs in. A token that is missing or not initialised is
 * added as down, so that initsession can initialise it later.
 */
enum adcp_status hal_add_hsm(struct hal *hal, const struct hal_hsm_config *cfg,
                             struct adcp_error *err);

/* Replaces the policy set; takes ownership of set. */
void hal_set_policy(struct hal *hal, struct policy_set *set);

size_t hal_hsm_count(const struct hal *hal);
struct hal_hsm *hal_hsm_at(struct hal *hal, size_t index);
struct hal_hsm *hal_hsm_find(struct hal *hal, const char *name);

const char *hal_hsm_name(const struct hal_hsm *hsm);
const char *hal_hsm_module_path(const struct hal_hsm *hsm);
const char *hal_hsm_token_label(const struct hal_hsm *hsm);
bool hal_hsm_is_up(const struct hal_hsm *hsm);

/*
 * Service manager: picks the HSM for request by the policy set. When
 * key_label is not NULL only HSMs that hold a key with that label qualify.
 * On success fills header->dest_hsm_name and dest_hsm_module (header may be
 * NULL) and returns ADCP_OK with *out set; otherwise ADCP_ERR_NO_HSM or
 * ADCP_ERR_WEAK_ALGORITHM with a message that names the reason.
 */
enum adcp_status hal_route(struct hal *hal,
                           const struct policy_request *request,
                           const char *key_label, struct adcp_header *header,
                           struct hal_hsm **out, struct adcp_error *err);

/*
 * Initialises the token of hsm (C_InitToken with so_pin and the HSM's
 * token label, then C_InitPIN with user_pin) and logs in. Erases what the
 * token held. The PINs are only read; the caller wipes them.
 */
enum adcp_status hal_token_init(struct hal_hsm *hsm, const char *so_pin,
                                const char *user_pin, struct adcp_error *err);

/* Logs the session pool in with user_pin. */
enum adcp_status hal_hsm_login(struct hal_hsm *hsm, const char *user_pin,
                               struct adcp_error *err);

/*
 * Generates a key pair (or an AES key) inside the token: token object,
 * private, sensitive, non-extractable unless spec->extractable. A label
 * already in use is ADCP_ERR_CONFLICT. On success *out is a new reference.
 */
enum adcp_status hal_key_generate(struct hal_hsm *hsm,
                                  const struct hal_keygen *spec,
                                  struct hal_key **out,
                                  struct adcp_error *err);

/* Finds a private key by label; ADCP_ERR_NOT_FOUND when absent. */
enum adcp_status hal_key_find(struct hal_hsm *hsm, const char *label,
                              struct hal_key **out, struct adcp_error *err);

/* Returns true when the token of hsm holds a private key with label. */
bool hal_hsm_has_key(struct hal_hsm *hsm, const char *label);

struct hal_key *hal_key_ref(struct hal_key *key);
void hal_key_unref(struct hal_key *key);

enum hal_key_type hal_key_type(const struct hal_key *key);
unsigned hal_key_bits(const struct hal_key *key);
const char *hal_key_label(const struct hal_key *key);
struct hal_hsm *hal_key_hsm(const struct hal_key *key);

/* Returns the public half as an ordinary EVP_PKEY (default provider); the
 * caller frees it. NULL for AES keys or on failure. */
EVP_PKEY *hal_key_public(const struct hal_key *key);

/*
 * Returns an EVP_PKEY whose private-key operations the project's OpenSSL
 * provider forwards to hal_key_sign, so X509_sign, SSL_CTX_use_PrivateKey
 * and the like work with no key material in memory. The EVP_PKEY holds a
 * reference to key. The caller frees it.
 */
EVP_PKEY *hal_key_evp(struct hal_key *key);

/*
 * Signs tbs with the key. For HAL_SIGN_RSA_PKCS1 and HAL_SIGN_ECDSA, tbs is
 * the digest of the message made with md (the function adds the DigestInfo
 * where the scheme needs one). *sig_len holds the size of sig on entry and
 * the signature length on return.
 */
enum adcp_status hal_key_sign(struct hal_key *key, enum hal_sign_scheme scheme,
                              const EVP_MD *md, const unsigned char *tbs,
                              size_t tbs_len, unsigned char *sig,
                              size_t *sig_len, struct adcp_error *err);

/* Loads the project's provider into the default library context. Called by
 * hal_new; safe to call again. Returns 0 or -1. */
int hal_provider_load(void);

#endif
