/*
 * Keys inside an HSM: generation, lookup by label, the reference-counted
 * struct hal_key and its cached public half.
 */
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hal/hal-internal.h"
#include "hal/pkcs11_keys.h"

struct hal_key *
hal_key_new(struct hal_hsm *hsm, enum hal_key_type type, const char *label)
{
    struct hal_key *key = calloc(1, sizeof(*key));

    if (key == NULL)
        return NULL;
    if (pthread_mutex_init(&key->lock, NULL) != 0) {
        free(key);
        return NULL;
    }
    atomic_init(&key->refs, 1);
    key->type = type;
    key->hsm = hsm;
    snprintf(key->label, sizeof(key->label), "%s", label);
    key->private_handle = CK_INVALID_HANDLE;
    key->public_handle = CK_INVALID_HANDLE;
    key->generation = atomic_load(&hsm->generation);
    return key;
}

struct hal_key *
hal_key_ref(struct hal_key *key)
{
    if (key != NULL)
        atomic_fetch_add(&key->refs, 1);
    return key;
}

void
hal_key_unref(struct hal_key *key)
{
    if (key == NULL || atomic_fetch_sub(&key->refs, 1) != 1)
        return;
    EVP_PKEY_free(key->public_key);
    pthread_mutex_destroy(&key->lock);
    free(key);
}

enum hal_key_type
hal_key_type(const struct hal_key *key)
{
    return key->type;
}

unsigned
hal_key_bits(const struct hal_key *key)
{
    return key->bits;
}

const char *
hal_key_label(const struct hal_key *key)
{
    return key->label;
}

struct hal_hsm *
hal_key_hsm(const struct hal_key *key)
{
    return key->hsm;
}

/* Finds the private key, or else the secret key, labelled label. */
static CK_RV
find_key_object(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                const char *label, const unsigned char *id, size_t id_len,
                bool *found, CK_OBJECT_HANDLE *object)
{
    CK_RV rv;

    rv = pkcs11_object_find(fn, session, CKO_PRIVATE_KEY, label, id, id_len,
                            found, object);
    if (rv != CKR_OK || *found)
        return rv;
    return pkcs11_object_find(fn, session, CKO_SECRET_KEY, label, id, id_len,
                              found, object);
}

static enum adcp_status
find_failed(struct hal_hsm *hsm, struct hal_op *op, CK_RV rv,
            struct adcp_error *err)
{
    op->rv = rv;
    return hal_hsm_call_failed(hsm, err, "C_FindObjects", rv);
}

static enum adcp_status
key_not_found(const struct hal_hsm *hsm, const char *label,
              struct adcp_error *err)
{
    return adcp_error_set(err, ADCP_ERR_NOT_FOUND, "key_info.label",
                          "HSM \"%s\" holds no key labelled \"%s\"; check "
                          "the label or generate the key first",
                          hsm->cfg.name, label);
}

enum adcp_status
hal_key_handle(struct hal_key *key, CK_SESSION_HANDLE session, bool refresh,
               CK_OBJECT_HANDLE *private_handle, struct hal_op *op,
               struct adcp_error *err)
{
    struct hal_hsm *hsm = key->hsm;
    CK_FUNCTION_LIST *fn = hsm->module->fn;
    unsigned generation = atomic_load(&hsm->generation);
    enum adcp_status status = ADCP_OK;
    CK_OBJECT_HANDLE object = CK_INVALID_HANDLE;
    bool found = false;
    CK_RV rv;

    pthread_mutex_lock(&key->lock);
    if (!refresh && key->generation == generation) {
        *private_handle = key->private_handle;
        goto out;
    }
    rv = find_key_object(fn, session, key->label, key->id, key->id_len,
                         &found, &object);
    if (rv != CKR_OK) {
        status = find_failed(hsm, op, rv, err);
        goto out;
    }
    if (!found) {
        status = key_not_found(hsm, key->label, err);
        goto out;
    }
    key->private_handle = object;
    key->generation = generation;
    *private_handle = object;
out:
    pthread_mutex_unlock(&key->lock);
    return status;
}

/* Returns the size in bits of a big-endian modulus, 0 when it is empty or
 * out of memory. */
static unsigned
modulus_bits(const unsigned char *modulus, size_t len)
{
    BIGNUM *n = BN_bin2bn(modulus, (int)len, NULL);
    unsigned bits = n != NULL ? (unsigned)BN_num_bits(n) : 0;

    BN_free(n);
    return bits;
}

/* Reads the type, size and CKA_ID of a found key object into key. */
static enum adcp_status
key_describe(struct hal_key *key, CK_SESSION_HANDLE session,
             struct hal_op *op, struct adcp_error *err)
{
    CK_FUNCTION_LIST *fn = key->hsm->module->fn;
    CK_OBJECT_HANDLE object = key->private_handle;
    unsigned char *value = NULL;
    size_t len = 0;
    CK_ULONG key_type = 0, value_len = 0;
    enum adcp_status status = ADCP_OK;
    CK_RV rv;

    rv = pkcs11_attribute_ulong(fn, session, object, CKA_KEY_TYPE, &key_type);
    if (rv == CKR_OK)
        rv = pkcs11_attribute_read(fn, session, object, CKA_ID, &value, &len);
    if (rv == CKR_OK && len <= sizeof(key->id)) {
        memcpy(key->id, value, len);
        key->id_len = len;
    }
    free(value);
    value = NULL;
    if (rv != CKR_OK) {
        op->rv = rv;
        return hal_hsm_call_failed(key->hsm, err, "C_GetAttributeValue", rv);
    }

    switch (key_type) {
    case CKK_RSA:
        key->type = HAL_KEY_RSA;
        rv = pkcs11_attribute_read(fn, session, object, CKA_MODULUS, &value,
                                   &len);
        if (rv == CKR_OK)
            key->bits = modulus_bits(value, len);
        break;
    case CKK_EC:
        key->type = HAL_KEY_EC;
        rv = pkcs11_attribute_read(fn, session, object, CKA_EC_PARAMS, &value,
                                   &len);
        if (rv == CKR_OK)
            key->bits = pkcs11_ec_bits(value, len);
        break;
    case CKK_AES:
        key->type = HAL_KEY_AES;
        rv = pkcs11_attribute_ulong(fn, session, object, CKA_VALUE_LEN,
                                    &value_len);
        key->bits = (unsigned)value_len * 8;
        break;
    default:
        break;
    }
    free(value);
    if (rv != CKR_OK) {
        op->rv = rv;
        status = hal_hsm_call_failed(key->hsm, err, "C_GetAttributeValue",
                                     rv);
    } else if (key->bits == 0) {
        status = adcp_error_set(err, ADCP_ERR_HSM, "key_info.label",
                                "key \"%s\" on HSM \"%s\" has a type or size "
                                "the service does not support (RSA, EC "
                                "P-256/P-384/P-521, AES)", key->label,
                                key->hsm->cfg.name);
    }
    return status;
}

/* Finds the public half of key (same label and CKA_ID) and caches it. A
 * pair without a public object is still usable for signing. */
static enum adcp_status
key_load_public(struct hal_key *key, CK_SESSION_HANDLE session,
                struct hal_op *op, struct adcp_error *err)
{
    CK_FUNCTION_LIST *fn = key->hsm->module->fn;
    bool found = false;
    CK_RV rv;

    if (key->type == HAL_KEY_AES)
        return ADCP_OK;
    rv = pkcs11_object_find(fn, session, CKO_PUBLIC_KEY, key->label, key->id,
                            key->id_len, &found, &key->public_handle);
    if (rv != CKR_OK)
        return find_failed(key->hsm, op, rv, err);
    if (!found) {
        key->public_handle = CK_INVALID_HANDLE;
        if (key->type == HAL_KEY_EC) {
            log_warn("EC key \"%s\" on HSM \"%s\" has no public key object; "
                     "it can sign, but hal_key_public returns NULL",
                     key->label, key->hsm->cfg.name);
            return ADCP_OK;
        }
    }
    return hal_pubkey_read(key->hsm, session, key->type, key->public_handle,
                           key->private_handle, &key->public_key, op, err);
}

struct find_ctx {
    const char *label;
    struct hal_key *key; /* result */
};

static enum adcp_status
find_op(struct hal_hsm *hsm, CK_SESSION_HANDLE session, void *arg,
        struct hal_op *op, struct adcp_error *err)
{
    struct find_ctx *ctx = arg;
    struct hal_key *key = NULL;
    CK_OBJECT_HANDLE object = CK_INVALID_HANDLE;
    enum adcp_status status;
    bool found = false;
    CK_RV rv;

    rv = find_key_object(hsm->module->fn, session, ctx->label, NULL, 0,
                         &found, &object);
    if (rv != CKR_OK)
        return find_failed(hsm, op, rv, err);
    if (!found)
        return key_not_found(hsm, ctx->label, err);
    key = hal_key_new(hsm, HAL_KEY_RSA, ctx->label);
    if (key == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory finding key \"%s\"", ctx->label);
    key->private_handle = object;
    status = key_describe(key, session, op, err);
    if (status == ADCP_OK)
        status = key_load_public(key, session, op, err);
    if (status != ADCP_OK) {
        hal_key_unref(key);
        return status;
    }
    ctx->key = key;
    return ADCP_OK;
}

enum adcp_status
hal_key_label_check(const char *label, struct adcp_error *err)
{
    if (label == NULL || label[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "key_info.label",
                              "a key label is required");
    if (strnlen(label, ADCP_NAME_MAX) >= ADCP_NAME_MAX)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "key_info.label",
                              "key label \"%.32s...\" is longer than %d "
                              "bytes", label, ADCP_NAME_MAX - 1);
    return ADCP_OK;
}

enum adcp_status
hal_key_find(struct hal_hsm *hsm, const char *label, struct hal_key **out,
             struct adcp_error *err)
{
    struct find_ctx ctx = {label, NULL};
    enum adcp_status status;

    *out = NULL;
    if ((status = hal_key_label_check(label, err)) != ADCP_OK)
        return status;
    status = hal_hsm_run(hsm, find_op, &ctx, err);
    if (status != ADCP_OK)
        return status;
    hal_hsm_cache_add(hsm, label);
    *out = ctx.key;
    return ADCP_OK;
}

struct has_ctx {
    const char *label;
    bool found;
};

static enum adcp_status
has_op(struct hal_hsm *hsm, CK_SESSION_HANDLE session, void *arg,
       struct hal_op *op, struct adcp_error *err)
{
    struct has_ctx *ctx = arg;
    CK_OBJECT_HANDLE object;
    CK_RV rv;

    rv = find_key_object(hsm->module->fn, session, ctx->label, NULL, 0,
                         &ctx->found, &object);
    if (rv != CKR_OK)
        return find_failed(hsm, op, rv, err);
    return ADCP_OK;
}

bool
hal_hsm_has_key(struct hal_hsm *hsm, const char *label)
{
    struct has_ctx ctx = {label, false};
    struct adcp_error err;

    if (hsm == NULL || hal_key_label_check(label, NULL) != ADCP_OK)
        return false;
    if (hal_hsm_cache_has(hsm, label))
        return true;
    if (hal_hsm_run(hsm, has_op, &ctx, &err) != ADCP_OK) {
        log_warn("checking whether HSM \"%s\" holds key \"%s\" failed: %s",
                 hsm->cfg.name, label, err.message);
        return false;
    }
    if (ctx.found)
        hal_hsm_cache_add(hsm, label);
    return ctx.found;
}

EVP_PKEY *
hal_key_public(const struct hal_key *key)
{
    EVP_PKEY *pkey = NULL;

    if (key == NULL || key->type == HAL_KEY_AES)
        return NULL;
    /* The cache is the only mutable state behind a const key; its lock
     * makes the write safe. */
    pthread_mutex_lock(&((struct hal_key *)key)->lock);
    if (key->public_key != NULL && EVP_PKEY_up_ref(key->public_key) == 1)
        pkey = key->public_key;
    pthread_mutex_unlock(&((struct hal_key *)key)->lock);
    return pkey;
}
