/*
 * Definitions shared by the HAL's own files and the OpenSSL provider
 * (hal_provider.c). Not an interface for the rest of the project: the
 * managers use hal.h only.
 *
 * Lifetimes: a struct hal owns its modules and HSMs, and an HSM lives until
 * hal_free. A struct hal_key points at its HSM without owning it, so every
 * key reference must be dropped before hal_free.
 *
 * Lock order, outermost first: hal_hsm.keygen_lock, pkcs11_module.call_lock,
 * hal_hsm.state_lock, hal_key.lock, hal_hsm.cache_lock, pkcs11_pool.lock.
 */
#ifndef HSM4SSL_HAL_INTERNAL_H
#define HSM4SSL_HAL_INTERNAL_H

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "adcp/adcp.h"
#include "hal/hal.h"
#include "hal/pkcs11_module.h"
#include "hal/pkcs11_session.h"

struct hal_hsm {
    struct hal *hal;
    struct hal_hsm_config cfg;
    struct pkcs11_module *module; /* shared with other HSMs; owned by hal */

    /* Guards slot, has_slot and last_recovery, and serialises login,
     * recovery and token initialisation of this HSM. */
    pthread_mutex_t state_lock;
    CK_SLOT_ID slot;
    bool has_slot;              /* a token with cfg.token_label was found */
    time_t last_recovery;       /* CLOCK_MONOTONIC seconds of the last try */

    atomic_bool up;             /* logged in, last call reached it */
    atomic_uint generation;     /* +1 on every recovery or re-login */
    atomic_uint in_flight;      /* requests running now, for utilisation */

    struct pkcs11_pool pool;

    /* Held across the label check and the generation of a new key, so
     * that two requests for one label cannot both create it. */
    pthread_mutex_t keygen_lock;

    /* Labels known to name a private or secret key on the token. Only
     * positive results are cached, and token initialisation clears them. */
    pthread_mutex_t cache_lock;
    char (*key_labels)[ADCP_NAME_MAX];
    size_t key_label_count;
    size_t key_label_capacity;
};

struct hal {
    pthread_mutex_t lock;        /* guards policy and the arrays' growth */
    struct pkcs11_module **modules; /* one per module path */
    size_t module_count;
    struct hal_hsm **hsms;
    size_t hsm_count;
    struct policy_set *policy;   /* owned; NULL until hal_set_policy */
    unsigned rotation;           /* round-robin position, under lock */
    hal_login_fn login_hook;     /* NULL, or called around each C_Login */
    void *login_hook_arg;
};

/*
 * A key inside an HSM, shared by reference count between the managers and
 * the provider's EVP_PKEYs. The object handles are valid for the HSM
 * generation they were found in. When the generation has moved on,
 * hal_key_sign finds the key again by label and CKA_ID.
 */
struct hal_key {
    atomic_uint refs;
    enum hal_key_type type;
    unsigned bits;               /* RSA modulus, EC 256/384/521, AES */
    char label[ADCP_NAME_MAX];
    unsigned char id[32];        /* CKA_ID */
    size_t id_len;
    struct hal_hsm *hsm;         /* not owned */

    pthread_mutex_t lock;        /* guards the fields below */
    CK_OBJECT_HANDLE private_handle; /* private key, or the AES key */
    CK_OBJECT_HANDLE public_handle;  /* CK_INVALID_HANDLE when none */
    unsigned generation;         /* hsm->generation the handles are from */
    EVP_PKEY *public_key;        /* cached public half; NULL until read */
};

/* The state of one operation run by hal_hsm_run. */
struct hal_op {
    CK_RV rv;      /* the module's last result, to detect a lost device */
    bool discard;  /* close the session instead of returning it to idle */
};

/*
 * One operation on a lent session. It returns ADCP_OK or fills err, and
 * records the module's result in op->rv so that hal_hsm_run can tell a
 * lost device from an ordinary failure.
 */
typedef enum adcp_status (*hal_op_fn)(struct hal_hsm *hsm,
                                      CK_SESSION_HANDLE session, void *ctx,
                                      struct hal_op *op,
                                      struct adcp_error *err);

/*
 * Runs fn on a session borrowed from hsm's pool, under the module call
 * lock when the HSM serialises calls. When the HSM is down, or fn reports
 * a lost device, it marks the HSM down, tries one recovery (new sessions,
 * login with the PIN file) and runs fn once more. Returns fn's status, or
 * ADCP_ERR_HSM when the HSM stays down.
 */
enum adcp_status hal_hsm_run(struct hal_hsm *hsm, hal_op_fn fn, void *ctx,
                             struct adcp_error *err);

/* Fills err for a failed module call on hsm and returns the status that
 * fits rv: ADCP_ERR_UNAUTHENTICATED for PIN errors, else ADCP_ERR_HSM. */
enum adcp_status hal_hsm_call_failed(const struct hal_hsm *hsm,
                                     struct adcp_error *err, const char *call,
                                     CK_RV rv);

/* Marks hsm down and logs why, once per transition. */
void hal_hsm_mark_down(struct hal_hsm *hsm, const char *call, CK_RV rv);

/* Creates an HSM for cfg on module (not yet looked up or logged in) and
 * frees one. */
struct hal_hsm *hal_hsm_new(struct hal *hal, const struct hal_hsm_config *cfg,
                            struct pkcs11_module *module);
void hal_hsm_free(struct hal_hsm *hsm);

/* Finds the token, and logs in with the PIN file when the token is
 * initialised and a PIN file is configured. A missing token is not an
 * error: the HSM stays down. */
enum adcp_status hal_hsm_start(struct hal_hsm *hsm, struct adcp_error *err);

/* Key label cache of an HSM. */
bool hal_hsm_cache_has(struct hal_hsm *hsm, const char *label);
void hal_hsm_cache_add(struct hal_hsm *hsm, const char *label);
void hal_hsm_cache_clear(struct hal_hsm *hsm);

/*
 * Reads the public half of a key pair from the token: CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT, or CKA_EC_PARAMS and CKA_EC_POINT. EC keys need
 * the public object, because private EC keys have no point. Returns
 * ADCP_OK with *out set to a new EVP_PKEY of the default provider.
 */
enum adcp_status hal_pubkey_read(struct hal_hsm *hsm, CK_SESSION_HANDLE session,
                                 enum hal_key_type type,
                                 CK_OBJECT_HANDLE public_handle,
                                 CK_OBJECT_HANDLE private_handle,
                                 EVP_PKEY **out, struct hal_op *op,
                                 struct adcp_error *err);

/*
 * Returns in *private_handle the key's private (or AES) object handle,
 * valid for the HSM's current generation. With refresh, or when the
 * generation moved on, the key is first found again by label and CKA_ID.
 */
enum adcp_status hal_key_handle(struct hal_key *key, CK_SESSION_HANDLE session,
                                bool refresh, CK_OBJECT_HANDLE *private_handle,
                                struct hal_op *op, struct adcp_error *err);

/* Creates a key with one reference and no object handles yet. */
struct hal_key *hal_key_new(struct hal_hsm *hsm, enum hal_key_type type,
                            const char *label);

/* Checks that label is present and fits ADCP_NAME_MAX. */
enum adcp_status hal_key_label_check(const char *label,
                                     struct adcp_error *err);

/* The pool size that hal_route compares in-flight requests with. */
size_t hal_hsm_pool_size(const struct hal_hsm *hsm);

#endif
