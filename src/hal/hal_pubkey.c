/*
 * The public half of an HSM key pair as an ordinary EVP_PKEY of the
 * default provider, built from the token's public attributes.
 */
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hal/hal-internal.h"
#include "hal/pkcs11_keys.h"

/* The properties of the default provider, so that the project's own
 * provider never serves the public halves it depends on. */
#define DEFAULT_PROPERTIES "provider=default"

static enum adcp_status
read_failed(struct hal_hsm *hsm, struct hal_op *op, CK_RV rv,
            const char *what, struct adcp_error *err)
{
    char call[64];

    op->rv = rv;
    snprintf(call, sizeof(call), "C_GetAttributeValue(%s)", what);
    return hal_hsm_call_failed(hsm, err, call, rv);
}

static enum adcp_status
openssl_failed(const struct hal_hsm *hsm, const char *what,
               struct adcp_error *err)
{
    log_openssl_errors(__func__, what);
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "building the public key read from HSM \"%s\" "
                          "failed in %s; see the log for OpenSSL's reason",
                          hsm->cfg.name, what);
}

/* Turns params into a public EVP_PKEY of type_name. */
static EVP_PKEY *
pkey_from_params(const char *type_name, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL)
        goto out;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type_name, DEFAULT_PROPERTIES);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1)
        goto out;
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static enum adcp_status
rsa_public(struct hal_hsm *hsm, CK_SESSION_HANDLE session,
           CK_OBJECT_HANDLE object, EVP_PKEY **out, struct hal_op *op,
           struct adcp_error *err)
{
    CK_FUNCTION_LIST *fn = hsm->module->fn;
    unsigned char *modulus = NULL, *exponent = NULL;
    size_t modulus_len = 0, exponent_len = 0;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    enum adcp_status status;
    CK_RV rv;

    rv = pkcs11_attribute_read(fn, session, object, CKA_MODULUS, &modulus,
                               &modulus_len);
    if (rv != CKR_OK) {
        status = read_failed(hsm, op, rv, "CKA_MODULUS", err);
        goto out;
    }
    rv = pkcs11_attribute_read(fn, session, object, CKA_PUBLIC_EXPONENT,
                               &exponent, &exponent_len);
    if (rv != CKR_OK) {
        status = read_failed(hsm, op, rv, "CKA_PUBLIC_EXPONENT", err);
        goto out;
    }
    n = BN_bin2bn(modulus, (int)modulus_len, NULL);
    e = BN_bin2bn(exponent, (int)exponent_len, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (n == NULL || e == NULL || bld == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
        (*out = pkey_from_params("RSA", bld)) == NULL) {
        status = openssl_failed(hsm, "EVP_PKEY_fromdata(RSA)", err);
        goto out;
    }
    status = ADCP_OK;
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(modulus);
    free(exponent);
    return status;
}

/*
 * Returns the uncompressed point inside CKA_EC_POINT. PKCS#11 2.40 defines
 * the value as a DER OCTET STRING (SoftHSM2 follows it), but some modules
 * return the bare point, so a value of exactly the bare point's length
 * that starts with 0x04 is taken as bare. Returns a heap copy or NULL.
 */
static unsigned char *
ec_point_unwrap(const unsigned char *value, size_t len, unsigned bits,
                size_t *point_len)
{
    size_t bare_len = 2 * ((bits + 7) / 8) + 1;
    const unsigned char *p = value;
    ASN1_OCTET_STRING *octets;
    unsigned char *point = NULL;

    if (len == bare_len && value[0] == 0x04) {
        point = malloc(len);
        if (point != NULL) {
            memcpy(point, value, len);
            *point_len = len;
        }
        return point;
    }
    octets = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);
    if (octets == NULL)
        return NULL;
    if (p == value + len && (size_t)ASN1_STRING_length(octets) == bare_len) {
        point = malloc(bare_len);
        if (point != NULL) {
            memcpy(point, ASN1_STRING_get0_data(octets), bare_len);
            *point_len = bare_len;
        }
    }
    ASN1_OCTET_STRING_free(octets);
    return point;
}

static enum adcp_status
ec_public(struct hal_hsm *hsm, CK_SESSION_HANDLE session,
          CK_OBJECT_HANDLE object, EVP_PKEY **out, struct hal_op *op,
          struct adcp_error *err)
{
    CK_FUNCTION_LIST *fn = hsm->module->fn;
    unsigned char *params = NULL, *value = NULL, *point = NULL;
    size_t params_len = 0, value_len = 0, point_len = 0;
    OSSL_PARAM_BLD *bld = NULL;
    enum adcp_status status;
    const char *group;
    unsigned bits;
    CK_RV rv;

    rv = pkcs11_attribute_read(fn, session, object, CKA_EC_PARAMS, &params,
                               &params_len);
    if (rv != CKR_OK) {
        status = read_failed(hsm, op, rv, "CKA_EC_PARAMS", err);
        goto out;
    }
    bits = pkcs11_ec_bits(params, params_len);
    group = pkcs11_ec_group_name(bits);
    if (group == NULL) {
        status = adcp_error_set(err, ADCP_ERR_HSM, "", "a key on HSM \"%s\" "
                                "uses a curve other than P-256, P-384 and "
                                "P-521, which the service does not support",
                                hsm->cfg.name);
        goto out;
    }
    rv = pkcs11_attribute_read(fn, session, object, CKA_EC_POINT, &value,
                               &value_len);
    if (rv != CKR_OK) {
        status = read_failed(hsm, op, rv, "CKA_EC_POINT", err);
        goto out;
    }
    point = ec_point_unwrap(value, value_len, bits, &point_len);
    if (point == NULL) {
        status = adcp_error_set(err, ADCP_ERR_HSM, "", "HSM \"%s\" returned "
                                "a CKA_EC_POINT of %zu bytes that is not an "
                                "uncompressed %s point", hsm->cfg.name,
                                value_len, group);
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                         point_len) != 1 ||
        (*out = pkey_from_params("EC", bld)) == NULL) {
        status = openssl_failed(hsm, "EVP_PKEY_fromdata(EC)", err);
        goto out;
    }
    status = ADCP_OK;
out:
    OSSL_PARAM_BLD_free(bld);
    free(params);
    free(value);
    free(point);
    return status;
}

enum adcp_status
hal_pubkey_read(struct hal_hsm *hsm, CK_SESSION_HANDLE session,
                enum hal_key_type type, CK_OBJECT_HANDLE public_handle,
                CK_OBJECT_HANDLE private_handle, EVP_PKEY **out,
                struct hal_op *op, struct adcp_error *err)
{
    *out = NULL;
    switch (type) {
    case HAL_KEY_RSA:
        /* A private RSA key carries the modulus and exponent too, so a
         * missing public object is no obstacle. */
        return rsa_public(hsm, session,
                          public_handle != CK_INVALID_HANDLE ? public_handle
                                                             : private_handle,
                          out, op, err);
    case HAL_KEY_EC:
        if (public_handle == CK_INVALID_HANDLE)
            return adcp_error_set(err, ADCP_ERR_NOT_FOUND, "key_info.label",
                                  "the EC key on HSM \"%s\" has no public "
                                  "key object with the same label and "
                                  "CKA_ID, so its public half is unknown",
                                  hsm->cfg.name);
        return ec_public(hsm, session, public_handle, out, op, err);
    default:
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "key_info.type",
                              "an AES key has no public half");
    }
}
