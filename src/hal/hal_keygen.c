/*
 * Key generation inside an HSM (hal_key_generate): the label check, the
 * PKCS#11 call, and the CKA_ID derived from the public key.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/log.h"
#include "hal/hal-internal.h"
#include "hal/pkcs11_keys.h"

/* Length of the random CKA_ID of an AES key, which has no public key to
 * derive one from. */
#define RANDOM_ID_LEN 16

struct keygen_ctx {
    const struct hal_keygen *spec;
    struct hal_key *key; /* result */
};

static enum adcp_status
label_free(struct hal_hsm *hsm, CK_SESSION_HANDLE session, const char *label,
           struct hal_op *op, struct adcp_error *err)
{
    CK_OBJECT_HANDLE object;
    bool found = false;
    CK_RV rv;

    rv = pkcs11_object_find(hsm->module->fn, session, PKCS11_CLASS_ANY, label,
                            NULL, 0, &found, &object);
    if (rv != CKR_OK) {
        op->rv = rv;
        return hal_hsm_call_failed(hsm, err, "C_FindObjects", rv);
    }
    if (found)
        return adcp_error_set(err, ADCP_ERR_CONFLICT, "key_info.label",
                              "HSM \"%s\" already holds an object labelled "
                              "\"%s\"; choose another label", hsm->cfg.name,
                              label);
    return ADCP_OK;
}

/*
 * Computes the SHA-1 of the public key as X.509 encodes it in the
 * subjectPublicKey BIT STRING (RSAPublicKey, or the EC point). That is
 * the first subject key identifier method of RFC 5280, which OpenSSL uses
 * by default, so the CKA_ID matches the SKI of the key's certificates.
 */
static int
derive_id(EVP_PKEY *pkey, unsigned char id[20])
{
    unsigned char *der = NULL;
    unsigned int len = 0;
    EVP_MD *sha1 = NULL;
    int der_len, rc = -1;

    der_len = i2d_PublicKey(pkey, &der);
    if (der_len <= 0)
        goto out;
    sha1 = EVP_MD_fetch(NULL, "SHA1", "provider=default");
    if (sha1 == NULL)
        goto out;
    if (EVP_Digest(der, (size_t)der_len, id, &len, sha1, NULL) != 1 ||
        len != 20)
        goto out;
    rc = 0;
out:
    EVP_MD_free(sha1);
    OPENSSL_free(der);
    return rc;
}

static void
destroy_objects(struct hal_hsm *hsm, CK_SESSION_HANDLE session,
                const struct hal_key *key)
{
    CK_FUNCTION_LIST *fn = hsm->module->fn;

    if (key->private_handle != CK_INVALID_HANDLE)
        (void)fn->C_DestroyObject(session, key->private_handle);
    if (key->public_handle != CK_INVALID_HANDLE)
        (void)fn->C_DestroyObject(session, key->public_handle);
}

/* Sets the derived CKA_ID on both halves of a new pair. */
static enum adcp_status
set_derived_id(struct hal_hsm *hsm, CK_SESSION_HANDLE session,
               struct hal_key *key, struct hal_op *op, struct adcp_error *err)
{
    CK_FUNCTION_LIST *fn = hsm->module->fn;
    CK_RV rv;

    if (derive_id(key->public_key, key->id) != 0) {
        log_openssl_errors(__func__, "deriving CKA_ID");
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "cannot derive the "
                              "CKA_ID of key \"%s\"; see the log for "
                              "OpenSSL's reason", key->label);
    }
    key->id_len = 20;
    rv = pkcs11_object_set_id(fn, session, key->private_handle, key->id,
                              key->id_len);
    if (rv == CKR_OK)
        rv = pkcs11_object_set_id(fn, session, key->public_handle, key->id,
                                  key->id_len);
    if (rv != CKR_OK) {
        op->rv = rv;
        return hal_hsm_call_failed(hsm, err, "C_SetAttributeValue(CKA_ID)",
                                   rv);
    }
    return ADCP_OK;
}

/* Creates the key object(s) and fills key's handles and CKA_ID. */
static enum adcp_status
generate_objects(struct hal_hsm *hsm, CK_SESSION_HANDLE session,
                 const struct hal_keygen *spec, struct hal_key *key,
                 struct hal_op *op, struct adcp_error *err)
{
    CK_RV rv;

    if (spec->id_len > 0) {
        memcpy(key->id, spec->id, spec->id_len);
        key->id_len = spec->id_len;
    } else if (spec->type == HAL_KEY_AES) {
        if (RAND_bytes(key->id, RANDOM_ID_LEN) != 1)
            return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "the random "
                                  "generator failed making a CKA_ID");
        key->id_len = RANDOM_ID_LEN;
    }
    rv = pkcs11_key_generate(hsm->module->fn, session, spec, key->id,
                             key->id_len, &key->private_handle,
                             &key->public_handle);
    if (rv != CKR_OK) {
        op->rv = rv;
        return hal_hsm_call_failed(hsm, err, spec->type == HAL_KEY_AES
                                                 ? "C_GenerateKey"
                                                 : "C_GenerateKeyPair",
                                   rv);
    }
    return ADCP_OK;
}

static enum adcp_status
keygen_op(struct hal_hsm *hsm, CK_SESSION_HANDLE session, void *arg,
          struct hal_op *op, struct adcp_error *err)
{
    struct keygen_ctx *ctx = arg;
    const struct hal_keygen *spec = ctx->spec;
    struct hal_key *key = NULL;
    enum adcp_status status;

    if ((status = label_free(hsm, session, spec->label, op, err)) != ADCP_OK)
        return status;
    key = hal_key_new(hsm, spec->type, spec->label);
    if (key == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory "
                              "generating key \"%s\"", spec->label);
    key->bits = spec->bits;
    status = generate_objects(hsm, session, spec, key, op, err);
    if (status == ADCP_OK && spec->type != HAL_KEY_AES)
        status = hal_pubkey_read(hsm, session, spec->type, key->public_handle,
                                 key->private_handle, &key->public_key, op,
                                 err);
    if (status == ADCP_OK && spec->type != HAL_KEY_AES && spec->id_len == 0)
        status = set_derived_id(hsm, session, key, op, err);
    if (status != ADCP_OK) {
        /* Leave no half-made key behind to block the label. */
        destroy_objects(hsm, session, key);
        hal_key_unref(key);
        return status;
    }
    ctx->key = key;
    return ADCP_OK;
}

static enum adcp_status
spec_check(const struct hal_keygen *spec, struct adcp_error *err)
{
    const char *problem;
    enum adcp_status status;

    if ((status = hal_key_label_check(spec->label, err)) != ADCP_OK)
        return status;
    if (spec->id_len > sizeof(spec->id))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "key_info.id",
                              "a key ID has at most %zu bytes",
                              sizeof(spec->id));
    problem = pkcs11_keygen_check(spec);
    if (problem != NULL)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "key_info.length",
                              "%s; %u was requested", problem, spec->bits);
    return ADCP_OK;
}

enum adcp_status
hal_key_generate(struct hal_hsm *hsm, const struct hal_keygen *spec,
                 struct hal_key **out, struct adcp_error *err)
{
    struct keygen_ctx ctx = {spec, NULL};
    enum adcp_status status;

    *out = NULL;
    if (hsm == NULL || spec == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "hal_key_generate needs an HSM and a spec");
    if ((status = spec_check(spec, err)) != ADCP_OK)
        return status;
    pthread_mutex_lock(&hsm->keygen_lock);
    status = hal_hsm_run(hsm, keygen_op, &ctx, err);
    pthread_mutex_unlock(&hsm->keygen_lock);
    if (status != ADCP_OK)
        return status;
    hal_hsm_cache_add(hsm, spec->label);
    log_info("generated %s-%u key \"%s\" on HSM \"%s\"",
             spec->type == HAL_KEY_RSA ? "RSA"
             : spec->type == HAL_KEY_EC ? "EC" : "AES",
             spec->bits, spec->label, hsm->cfg.name);
    *out = ctx.key;
    return ADCP_OK;
}
