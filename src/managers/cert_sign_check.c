/*
 * When cert_build_sign checks a new signature against the CA certificate.
 *
 * The check catches a CA key that does not belong to the CA certificate
 * and an HSM that returns a faulty signature. For RSA it runs on every
 * signature. It is cheap there (one public-key operation with a small
 * exponent), and one faulty RSA-CRT signature reveals the CA's private
 * key (the Bellcore attack), so none may leave the process.
 *
 * An ECDSA verification costs about as much as the HSM's signature, and
 * no key recovery from one faulty signature like the RSA one is known
 * for ECDSA. So an EC CA key is checked on its first signature under a
 * CA certificate and then on one signature in CERT_EC_CHECK_INTERVAL.
 * That still notices a key replaced in the HSM after a bounded number of
 * certificates.
 *
 * NOTE: a faulty ECDSA signature between two checks reaches the client,
 * as a certificate that relying parties reject.
 *
 * The state lives in the ex_data of the CA key's EVP_PKEY, so it ends
 * with the key and a new key at the same address starts unchecked.
 */
#include "managers/cert_internal.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* NOTE: a chosen value, not a measured one: the check then costs 1/64 of
 * a verification per certificate. */
#define CERT_EC_CHECK_INTERVAL 64

/* The CA public key that the EVP_PKEY's signatures last verified with. */
struct sign_check_state {
    unsigned char *ca_public_key; /* subjectPublicKey bits of the CA */
    int ca_public_key_len;
    unsigned unchecked; /* signatures since the last check */
};

/* Guards the ex_data slot and every sign_check_state. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int state_index = -1;

static void
state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index,
           long argl, void *argp)
{
    struct sign_check_state *state = ptr;

    (void)parent;
    (void)ad;
    (void)index;
    (void)argl;
    (void)argp;
    if (state == NULL)
        return;
    OPENSSL_free(state->ca_public_key);
    free(state);
}

static void
index_init(void)
{
    state_index = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL, state_free);
}

static bool
same_ca_key(const struct sign_check_state *state,
            const ASN1_BIT_STRING *ca_public_key)
{
    return state != NULL && state->ca_public_key != NULL &&
           state->ca_public_key_len == ASN1_STRING_length(ca_public_key) &&
           memcmp(state->ca_public_key, ASN1_STRING_get0_data(ca_public_key),
                  (size_t)state->ca_public_key_len) == 0;
}

/* Returns whether checks of signatures under ca_cert may be sampled: its
 * key is EC and the ex_data index exists. */
static bool
sampled(X509 *ca_cert)
{
    EVP_PKEY *verify_key = X509_get0_pubkey(ca_cert);

    return verify_key != NULL && EVP_PKEY_is_a(verify_key, "EC") &&
           X509_get0_pubkey_bitstr(ca_cert) != NULL &&
           pthread_once(&index_once, index_init) == 0 && state_index >= 0;
}

/*
 * Returns whether the signature that ca_key has just made under ca_cert
 * needs checking: always for an RSA CA certificate, for an unknown pair,
 * after a failed check, and every CERT_EC_CHECK_INTERVAL signatures.
 */
bool
cert_sign_check_due(EVP_PKEY *ca_key, X509 *ca_cert)
{
    const ASN1_BIT_STRING *ca_public_key;
    struct sign_check_state *state;
    bool due = true;

    if (!sampled(ca_cert))
        return true;
    ca_public_key = X509_get0_pubkey_bitstr(ca_cert);
    pthread_mutex_lock(&state_lock);
    state = EVP_PKEY_get_ex_data(ca_key, state_index);
    if (same_ca_key(state, ca_public_key) &&
        ++state->unchecked < CERT_EC_CHECK_INTERVAL)
        due = false;
    pthread_mutex_unlock(&state_lock);
    return due;
}

/* Records the outcome of a check of ca_key's signature under ca_cert. A
 * failure clears the recorded CA key, so the next signature is checked
 * again. When the state cannot be stored, every signature is checked. */
void
cert_sign_check_record(EVP_PKEY *ca_key, X509 *ca_cert, bool passed)
{
    const ASN1_BIT_STRING *ca_public_key;
    struct sign_check_state *state;
    unsigned char *copy = NULL;
    int len;

    if (!sampled(ca_cert))
        return;
    ca_public_key = X509_get0_pubkey_bitstr(ca_cert);
    len = ASN1_STRING_length(ca_public_key);
    if (passed) {
        copy = OPENSSL_memdup(ASN1_STRING_get0_data(ca_public_key),
                              (size_t)len);
        if (copy == NULL)
            return;
    }
    pthread_mutex_lock(&state_lock);
    state = EVP_PKEY_get_ex_data(ca_key, state_index);
    if (state == NULL && passed) {
        state = calloc(1, sizeof(*state));
        if (state != NULL &&
            EVP_PKEY_set_ex_data(ca_key, state_index, state) != 1) {
            free(state);
            state = NULL;
        }
    }
    if (state != NULL) {
        OPENSSL_free(state->ca_public_key);
        state->ca_public_key = copy;
        state->ca_public_key_len = passed ? len : 0;
        state->unchecked = 0;
        copy = NULL;
    }
    pthread_mutex_unlock(&state_lock);
    OPENSSL_free(copy);
}
