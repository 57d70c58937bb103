/*
 * Decoding of a PKCS#10 request (RFC 2986) without OpenSSL's X509_REQ.
 *
 * d2i_X509_REQ decodes the request's public key with an OpenSSL 3.0
 * decoder that it sets up anew on every call. On the benchmark machine of
 * docs/benchmarks.md that took 0.14 ms, 40 % of an EC P-256 issuance and
 * more than the CA's signature. Here the request is decoded with
 * templates of its own, which keep the key as bytes and the signed part
 * as it was encoded. The key is then built from its parameters: RSA from
 * the modulus and exponent, EC on P-256, P-384 and P-521 by copying a key
 * of the curve and setting the point (4 to 5 us).
 * Other key types go through OpenSSL's decoder as before, so that the
 * checks reject them with the same errors.
 *
 * The certificate copies the key bytes as they are, so a key that
 * OpenSSL would decode and encode again must be exact DER here: no bytes
 * after an RSA key, no unused bits, RSA parameters NULL or absent.
 */
#include "managers/cert_internal.h"

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct {
    X509_ALGOR *algorithm;
    ASN1_BIT_STRING *key;
} CERT_CSR_SPKI;

ASN1_SEQUENCE(CERT_CSR_SPKI) = {
    ASN1_SIMPLE(CERT_CSR_SPKI, algorithm, X509_ALGOR),
    ASN1_SIMPLE(CERT_CSR_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CERT_CSR_SPKI)

/* CertificationRequestInfo. OpenSSL's X509_REQ_INFO also makes the
 * attributes optional, because some tools leave the field out. */
typedef struct {
    ASN1_INTEGER *version;
    X509_NAME *subject;
    CERT_CSR_SPKI *spki;
    STACK_OF(X509_ATTRIBUTE) *attributes;
} CERT_CSR_INFO;

ASN1_SEQUENCE(CERT_CSR_INFO) = {
    ASN1_SIMPLE(CERT_CSR_INFO, version, ASN1_INTEGER),
    ASN1_SIMPLE(CERT_CSR_INFO, subject, X509_NAME),
    ASN1_SIMPLE(CERT_CSR_INFO, spki, CERT_CSR_SPKI),
    ASN1_IMP_SET_OF_OPT(CERT_CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END(CERT_CSR_INFO)

/* CertificationRequest, with the signed part kept as its encoding (an
 * ANY holding the whole SEQUENCE), which the signature covers. */
typedef struct {
    ASN1_TYPE *info;
    X509_ALGOR *signature_algorithm;
    ASN1_BIT_STRING *signature;
} CERT_CSR_OUTER;

ASN1_SEQUENCE(CERT_CSR_OUTER) = {
    ASN1_SIMPLE(CERT_CSR_OUTER, info, ASN1_ANY),
    ASN1_SIMPLE(CERT_CSR_OUTER, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(CERT_CSR_OUTER, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CERT_CSR_OUTER)

/* RSAPublicKey (RFC 8017, appendix A.1.1), as OpenSSL's own template
 * reads it. */
typedef struct {
    BIGNUM *modulus;
    BIGNUM *exponent;
} CERT_RSA_PUBLIC;

ASN1_SEQUENCE(CERT_RSA_PUBLIC) = {
    ASN1_SIMPLE(CERT_RSA_PUBLIC, modulus, BIGNUM),
    ASN1_SIMPLE(CERT_RSA_PUBLIC, exponent, BIGNUM),
} static_ASN1_SEQUENCE_END(CERT_RSA_PUBLIC)

struct cert_csr {
    CERT_CSR_OUTER *outer;
    CERT_CSR_INFO *info;
    X509_PUBKEY *public_key; /* the key as sent, never decoded */
    EVP_PKEY *key;           /* NULL: not decodable */
    CERT_RSA_PUBLIC *rsa;    /* the decoded RSA key, else NULL */
};

/* Keys on the curves with a fast path; each holds only its curve. */
static const int fast_curves[] = {NID_X9_62_prime256v1, NID_secp384r1,
                                  NID_secp521r1};
#define FAST_CURVE_COUNT (sizeof(fast_curves) / sizeof(fast_curves[0]))
static EVP_PKEY *curve_keys[FAST_CURVE_COUNT];
static pthread_once_t curve_keys_once = PTHREAD_ONCE_INIT;

/* Makes the curve keys once. A curve whose key cannot be made goes
 * through OpenSSL's decoder instead. */
static void
curve_keys_init(void)
{
    for (size_t i = 0; i < FAST_CURVE_COUNT; i++) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(
                OSSL_PKEY_PARAM_GROUP_NAME,
                (char *)OBJ_nid2sn(fast_curves[i]), 0),
            OSSL_PARAM_construct_end(),
        };
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

        if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &curve_keys[i], EVP_PKEY_KEY_PARAMETERS,
                              params) != 1)
            curve_keys[i] = NULL;
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
}

static EVP_PKEY *
curve_key(int nid)
{
    if (pthread_once(&curve_keys_once, curve_keys_init) != 0)
        return NULL;
    for (size_t i = 0; i < FAST_CURVE_COUNT; i++)
        if (fast_curves[i] == nid)
            return curve_keys[i];
    return NULL;
}

/* Returns the curve of an id-ecPublicKey algorithm with a named curve,
 * else NID_undef. */
static int
named_curve(const X509_ALGOR *algorithm)
{
    const void *value = NULL;
    int type = V_ASN1_UNDEF;

    X509_ALGOR_get0(NULL, &type, &value, algorithm);
    return type == V_ASN1_OBJECT ? OBJ_obj2nid(value) : NID_undef;
}

static bool
rsa_parameters_null(const X509_ALGOR *algorithm)
{
    int type = V_ASN1_UNDEF;

    X509_ALGOR_get0(NULL, &type, NULL, algorithm);
    return type == V_ASN1_UNDEF || type == V_ASN1_NULL;
}

/* Builds an RSA key from RSAPublicKey DER, which must have no bytes
 * after it, and keeps the modulus and exponent in *values_out. */
static EVP_PKEY *
rsa_key_of(const unsigned char *bits, int len, CERT_RSA_PUBLIC **values_out)
{
    const unsigned char *cursor = bits;
    CERT_RSA_PUBLIC *values = NULL;
    OSSL_PARAM_BLD *builder = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;

    values = (CERT_RSA_PUBLIC *)ASN1_item_d2i(NULL, &cursor, len,
                                              ASN1_ITEM_rptr(CERT_RSA_PUBLIC));
    if (values == NULL || cursor != bits + len)
        goto out;
    builder = OSSL_PARAM_BLD_new();
    if (builder == NULL ||
        !OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_N,
                                values->modulus) ||
        !OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_E,
                                values->exponent))
        goto out;
    params = OSSL_PARAM_BLD_to_param(builder);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
    if (key != NULL) {
        *values_out = values;
        values = NULL;
    }
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    ASN1_item_free((ASN1_VALUE *)values, ASN1_ITEM_rptr(CERT_RSA_PUBLIC));
    return key;
}

/* Builds an EC key on the curve of curve_template from the encoded point,
 * which must lie on the curve. */
static EVP_PKEY *
ec_key_of(EVP_PKEY *curve_template, const unsigned char *bits, int len)
{
    EVP_PKEY *key = EVP_PKEY_dup(curve_template);

    if (key != NULL &&
        EVP_PKEY_set1_encoded_public_key(key, bits, (size_t)len) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

/*
 * Returns whether an EC point is encoded in a form that RFC 5480, section
 * 2.2, allows: compressed (02, 03) or uncompressed (04). The point at
 * infinity (00) and the hybrid forms (06, 07) are rejected.
 *
 * Decoding then leaves the point check to OpenSSL: EC_POINT_oct2point, as
 * EVP_PKEY_set1_encoded_public_key and d2i_PUBKEY call it in OpenSSL 3.0,
 * rejects coordinates outside the field and points off the curve. With
 * infinity excluded here, that is what EVP_PKEY_public_check_quick checks,
 * so the CSR checks need not run it again (about 60 000 instructions for
 * P-256 under callgrind).
 */
static bool
ec_point_form_allowed(const unsigned char *bits, int len)
{
    return len > 0 && (bits[0] == 0x02 || bits[0] == 0x03 || bits[0] == 0x04);
}

/* Decodes the SubjectPublicKeyInfo with OpenSSL's decoder: the path for
 * key types without a fast path. */
static EVP_PKEY *
decoded_key_of(const CERT_CSR_SPKI *spki)
{
    unsigned char *der = NULL;
    const unsigned char *cursor;
    EVP_PKEY *key = NULL;
    int len;

    len = ASN1_item_i2d((const ASN1_VALUE *)spki, &der,
                        ASN1_ITEM_rptr(CERT_CSR_SPKI));
    if (len > 0) {
        cursor = der;
        key = d2i_PUBKEY(NULL, &cursor, len);
    }
    OPENSSL_free(der);
    return key;
}

/* Returns the request's key, or NULL when it cannot be decoded. An RSA
 * key's modulus and exponent go to *rsa. */
static EVP_PKEY *
key_of(const CERT_CSR_SPKI *spki, CERT_RSA_PUBLIC **rsa)
{
    const ASN1_OBJECT *oid = NULL;
    const unsigned char *bits = ASN1_STRING_get0_data(spki->key);
    int len = ASN1_STRING_length(spki->key);
    EVP_PKEY *curve_template;
    int nid;

    /* A key is whole bytes. The certificate copies the BIT STRING with
     * no unused bits, so one with unused bits would change. */
    if ((spki->key->flags & ASN1_STRING_FLAG_BITS_LEFT) != 0 &&
        (spki->key->flags & 0x07) != 0)
        return NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, spki->algorithm);
    nid = OBJ_obj2nid(oid);
    if (nid == NID_rsaEncryption)
        return rsa_parameters_null(spki->algorithm)
                   ? rsa_key_of(bits, len, rsa)
                   : NULL;
    if (nid == NID_X9_62_id_ecPublicKey) {
        if (!ec_point_form_allowed(bits, len))
            return NULL;
        curve_template = curve_key(named_curve(spki->algorithm));
        if (curve_template != NULL)
            return ec_key_of(curve_template, bits, len);
    }
    return decoded_key_of(spki);
}

void
cert_csr_free(struct cert_csr *csr)
{
    if (csr == NULL)
        return;
    EVP_PKEY_free(csr->key);
    ASN1_item_free((ASN1_VALUE *)csr->rsa, ASN1_ITEM_rptr(CERT_RSA_PUBLIC));
    X509_PUBKEY_free(csr->public_key);
    ASN1_item_free((ASN1_VALUE *)csr->info, ASN1_ITEM_rptr(CERT_CSR_INFO));
    ASN1_item_free((ASN1_VALUE *)csr->outer,
                   ASN1_ITEM_rptr(CERT_CSR_OUTER));
    free(csr);
}

/* Decodes the outer SEQUENCE, whose signed part must be a SEQUENCE, and
 * sets *trailing when bytes follow it in der. */
static bool
decode_outer(struct cert_csr *csr, const unsigned char *der, long der_len,
             bool *trailing)
{
    const unsigned char *cursor = der;

    csr->outer = (CERT_CSR_OUTER *)ASN1_item_d2i(
        NULL, &cursor, der_len, ASN1_ITEM_rptr(CERT_CSR_OUTER));
    *trailing = cursor != der + der_len;
    return csr->outer != NULL && csr->outer->info->type == V_ASN1_SEQUENCE;
}

static bool
decode_info(struct cert_csr *csr)
{
    const ASN1_STRING *encoded = csr->outer->info->value.sequence;
    const unsigned char *cursor = ASN1_STRING_get0_data(encoded);

    csr->info = (CERT_CSR_INFO *)ASN1_item_d2i(
        NULL, &cursor, ASN1_STRING_length(encoded),
        ASN1_ITEM_rptr(CERT_CSR_INFO));
    return csr->info != NULL;
}

/*
 * Decodes the DER request der. It must be PKCS#10 version 1 with no
 * bytes after it, else the result is ADCP_ERR_INVALID_CSR. A key that
 * cannot be decoded is not an error here: cert_csr_key then returns NULL.
 * On ADCP_OK *out is the caller's (cert_csr_free).
 */
enum adcp_status
cert_csr_decode(const unsigned char *der, long der_len, struct cert_csr **out,
                struct adcp_error *err)
{
    struct cert_csr *csr = calloc(1, sizeof(*csr));
    const CERT_CSR_SPKI *spki;
    enum adcp_status status = ADCP_ERR_INVALID_CSR;
    bool trailing = false;

    *out = NULL;
    if (csr == NULL) {
        status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                "out of memory while decoding the CSR");
        goto out;
    }
    if (!decode_outer(csr, der, der_len, &trailing) || !decode_info(csr)) {
        adcp_error_set(err, status, "csr_details.csr",
                       "csr_details.csr is not a valid PKCS#10 request "
                       "(the DER inside the PEM block does not decode); "
                       "create the CSR again");
        goto out;
    }
    if (trailing || ASN1_INTEGER_get(csr->info->version) != 0) {
        adcp_error_set(err, status, "csr_details.csr",
                       "csr_details.csr is not a PKCS#10 version 1 "
                       "request, or has bytes after it; create the CSR "
                       "again");
        goto out;
    }
    spki = csr->info->spki;
    csr->public_key = X509_PUBKEY_new();
    if (csr->public_key == NULL ||
        !cert_public_key_copy(csr->public_key, spki->algorithm,
                              ASN1_STRING_get0_data(spki->key),
                              ASN1_STRING_length(spki->key))) {
        status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                "out of memory while decoding the CSR");
        goto out;
    }
    csr->key = key_of(spki, &csr->rsa);
    *out = csr;
    csr = NULL;
    status = ADCP_OK;
out:
    ERR_clear_error();
    cert_csr_free(csr);
    return status;
}

EVP_PKEY *
cert_csr_key(const struct cert_csr *csr)
{
    return csr->key;
}

const X509_PUBKEY *
cert_csr_public_key(const struct cert_csr *csr)
{
    return csr->public_key;
}

bool
cert_csr_rsa_public(const struct cert_csr *csr, const BIGNUM **modulus,
                    const BIGNUM **exponent)
{
    if (csr->rsa == NULL)
        return false;
    *modulus = csr->rsa->modulus;
    *exponent = csr->rsa->exponent;
    return true;
}

const X509_NAME *
cert_csr_subject(const struct cert_csr *csr)
{
    return csr->info->subject;
}

const X509_ALGOR *
cert_csr_signature_algorithm(const struct cert_csr *csr)
{
    return csr->outer->signature_algorithm;
}

/* Returns 1 when the request's signature verifies with key over the
 * signed part as it was encoded, as X509_REQ_verify does. */
int
cert_csr_verify(const struct cert_csr *csr, EVP_PKEY *key)
{
    return ASN1_item_verify_ex(ASN1_ITEM_rptr(ASN1_ANY),
                               csr->outer->signature_algorithm,
                               csr->outer->signature, csr->outer->info, NULL,
                               key, NULL, NULL);
}

/*
 * Returns the extensions of the request's extensionRequest attribute (or
 * Microsoft's older one), an empty stack when there is none, and NULL
 * when the attribute does not decode. Like X509_REQ_get_extensions in
 * OpenSSL 3.0, it reads the attribute's first value. The caller frees
 * the stack with sk_X509_EXTENSION_pop_free.
 */
STACK_OF(X509_EXTENSION) *
cert_csr_extensions(const struct cert_csr *csr)
{
    static const int nids[] = {NID_ext_req, NID_ms_ext_req};
    const STACK_OF(X509_ATTRIBUTE) *attributes = csr->info->attributes;
    const unsigned char *cursor;
    ASN1_TYPE *value = NULL;
    int index = -1;

    for (size_t i = 0; index < 0 && i < sizeof(nids) / sizeof(nids[0]); i++)
        index = X509at_get_attr_by_NID(attributes, nids[i], -1);
    if (index >= 0)
        value = X509_ATTRIBUTE_get0_type(X509at_get_attr(attributes, index),
                                         0);
    if (value == NULL)
        return sk_X509_EXTENSION_new_null();
    if (value->type != V_ASN1_SEQUENCE)
        return NULL;
    cursor = ASN1_STRING_get0_data(value->value.sequence);
    return (STACK_OF(X509_EXTENSION) *)ASN1_item_d2i(
        NULL, &cursor, ASN1_STRING_length(value->value.sequence),
        ASN1_ITEM_rptr(X509_EXTENSIONS));
}
