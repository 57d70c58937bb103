/*
 * Signing with an HSM key (hal_key_sign): the DigestInfo of PKCS#1 v1.5,
 * the PSS parameters, and the conversion of raw ECDSA output to DER.
 * Only the raw mechanisms (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA) are
 * used: every module tested has them, unlike the hash-and-sign ones.
 */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hal/hal-internal.h"
#include "hal/pkcs11_keys.h"

/* The largest raw ECDSA output, r || s for P-521. */
#define ECDSA_RAW_MAX (2 * 66)
/* The largest DigestInfo: the SHA-512 prefix and its digest. */
#define DIGEST_INFO_MAX (19 + 64)

/* A digest as the RSA schemes need it: the DER DigestInfo prefix that
 * precedes the digest (RFC 8017, section 9.2) and the PSS parameters. */
struct digest_kind {
    int nid;
    unsigned char prefix[19];
    size_t prefix_len;
    CK_MECHANISM_TYPE hash_mechanism;
    CK_RSA_PKCS_MGF_TYPE mgf;
};

static const struct digest_kind digest_kinds[] = {
    {NID_sha1,
     {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05,
      0x00, 0x04, 0x14},
     15, CKM_SHA_1, CKG_MGF1_SHA1},
    {NID_sha224,
     {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
      0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
     19, CKM_SHA224, CKG_MGF1_SHA224},
    {NID_sha256,
     {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
      0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
     19, CKM_SHA256, CKG_MGF1_SHA256},
    {NID_sha384,
     {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
      0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
     19, CKM_SHA384, CKG_MGF1_SHA384},
    {NID_sha512,
     {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
      0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
     19, CKM_SHA512, CKG_MGF1_SHA512},
};

static const struct digest_kind *
digest_kind_of(const EVP_MD *md)
{
    int nid = EVP_MD_get_type(md);

    for (size_t i = 0; i < sizeof(digest_kinds) / sizeof(digest_kinds[0]);
         i++) {
        if (digest_kinds[i].nid == nid)
            return &digest_kinds[i];
    }
    return NULL;
}

/* Mechanism, input and output of one signature. */
struct sign_ctx {
    struct hal_key *key;
    CK_MECHANISM mechanism;
    CK_RSA_PKCS_PSS_PARAMS pss;
    unsigned char input[DIGEST_INFO_MAX];
    const unsigned char *in; /* input, or the caller's tbs */
    size_t in_len;
    unsigned char *out;
    size_t out_len;          /* size of out, then the signature length */
};

static enum adcp_status
sign_op(struct hal_hsm *hsm, CK_SESSION_HANDLE session, void *arg,
        struct hal_op *op, struct adcp_error *err)
{
    struct sign_ctx *ctx = arg;
    CK_OBJECT_HANDLE object = CK_INVALID_HANDLE;
    enum adcp_status status;
    size_t len;
    CK_RV rv = CKR_OK;

    /* A handle may be stale after recovery or when another process
     * recreated the key: find the key again by label once and retry. */
    for (int attempt = 0; attempt < 2; attempt++) {
        status = hal_key_handle(ctx->key, session, attempt > 0, &object, op,
                                err);
        if (status != ADCP_OK)
            return status;
        len = ctx->out_len;
        rv = pkcs11_sign(hsm->module->fn, session, &ctx->mechanism, object,
                         ctx->in, ctx->in_len, ctx->out, &len, &op->discard);
        if (rv != CKR_KEY_HANDLE_INVALID && rv != CKR_OBJECT_HANDLE_INVALID)
            break;
    }
    op->rv = rv;
    if (rv != CKR_OK)
        return hal_hsm_call_failed(hsm, err, "C_Sign", rv);
    ctx->out_len = len;
    return ADCP_OK;
}

static enum adcp_status
digest_length_check(const EVP_MD *md, size_t tbs_len, struct adcp_error *err)
{
    int expected = EVP_MD_get_size(md);

    if (expected <= 0 || (size_t)expected != tbs_len)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "tbs",
                              "the digest to sign is %zu bytes, but %s "
                              "digests are %d bytes", tbs_len,
                              EVP_MD_get0_name(md), expected);
    return ADCP_OK;
}

static enum adcp_status
unsupported_digest(const EVP_MD *md, struct adcp_error *err)
{
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "hash_algorithm",
                          "digest %s cannot be used with HSM RSA keys; use "
                          "sha256, sha384 or sha512",
                          md != NULL ? EVP_MD_get0_name(md) : "(none)");
}

/* PKCS#1 v1.5: CKM_RSA_PKCS over DigestInfo || digest. Without md, tbs
 * is signed as given (the caller encoded it, as TLS 1.1 needed). */
static enum adcp_status
setup_pkcs1(struct sign_ctx *ctx, const EVP_MD *md, const unsigned char *tbs,
            size_t tbs_len, struct adcp_error *err)
{
    const struct digest_kind *kind;
    enum adcp_status status;

    ctx->mechanism.mechanism = CKM_RSA_PKCS;
    if (md == NULL) {
        ctx->in = tbs;
        ctx->in_len = tbs_len;
        return ADCP_OK;
    }
    if ((kind = digest_kind_of(md)) == NULL)
        return unsupported_digest(md, err);
    if ((status = digest_length_check(md, tbs_len, err)) != ADCP_OK)
        return status;
    memcpy(ctx->input, kind->prefix, kind->prefix_len);
    memcpy(ctx->input + kind->prefix_len, tbs, tbs_len);
    ctx->in = ctx->input;
    ctx->in_len = kind->prefix_len + tbs_len;
    return ADCP_OK;
}

/* PSS: MGF1 with the message digest and a salt as long as the digest. */
static enum adcp_status
setup_pss(struct sign_ctx *ctx, const EVP_MD *md, const unsigned char *tbs,
          size_t tbs_len, struct adcp_error *err)
{
    const struct digest_kind *kind;
    enum adcp_status status;

    if (md == NULL || (kind = digest_kind_of(md)) == NULL)
        return unsupported_digest(md, err);
    if ((status = digest_length_check(md, tbs_len, err)) != ADCP_OK)
        return status;
    ctx->pss.hashAlg = kind->hash_mechanism;
    ctx->pss.mgf = kind->mgf;
    ctx->pss.sLen = tbs_len;
    ctx->mechanism.mechanism = CKM_RSA_PKCS_PSS;
    ctx->mechanism.pParameter = &ctx->pss;
    ctx->mechanism.ulParameterLen = sizeof(ctx->pss);
    ctx->in = tbs;
    ctx->in_len = tbs_len;
    return ADCP_OK;
}

static enum adcp_status
setup_ecdsa(struct sign_ctx *ctx, const EVP_MD *md, const unsigned char *tbs,
            size_t tbs_len, struct adcp_error *err)
{
    enum adcp_status status;

    if (md != NULL && (status = digest_length_check(md, tbs_len, err)) !=
                          ADCP_OK)
        return status;
    if (tbs_len == 0 || tbs_len > 64)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "tbs",
                              "an ECDSA digest is 1 to 64 bytes, not %zu",
                              tbs_len);
    ctx->mechanism.mechanism = CKM_ECDSA;
    ctx->in = tbs;
    ctx->in_len = tbs_len;
    return ADCP_OK;
}

/* Returns the size of the longest DER ECDSA-Sig-Value for a curve whose
 * order has field_len bytes: two INTEGERs with a possible 0x00 each. */
static size_t
ecdsa_der_max(size_t field_len)
{
    size_t content = 2 * (2 + field_len + 1);

    return content + (content < 128 ? 2 : 3);
}

static enum adcp_status
scheme_check(const struct hal_key *key, enum hal_sign_scheme scheme,
             struct adcp_error *err)
{
    bool rsa_scheme = scheme == HAL_SIGN_RSA_PKCS1 ||
                      scheme == HAL_SIGN_RSA_PSS;

    if (key->type == HAL_KEY_RSA && rsa_scheme)
        return ADCP_OK;
    if (key->type == HAL_KEY_EC && scheme == HAL_SIGN_ECDSA)
        return ADCP_OK;
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "key_info.type",
                          "key \"%s\" is %s, which cannot make %s signatures",
                          key->label,
                          key->type == HAL_KEY_RSA  ? "an RSA key"
                          : key->type == HAL_KEY_EC ? "an EC key"
                                                    : "an AES key",
                          rsa_scheme ? "RSA" : "ECDSA");
}

/* Converts r || s into a DER ECDSA-Sig-Value in sig. */
static enum adcp_status
ecdsa_to_der(const struct hal_key *key, const unsigned char *raw,
             size_t raw_len, unsigned char *sig, size_t *sig_len,
             struct adcp_error *err)
{
    size_t half = raw_len / 2;
    ECDSA_SIG *value = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
    enum adcp_status status = ADCP_ERR_INTERNAL;
    unsigned char *der = NULL;
    int der_len;

    if (value == NULL || r == NULL || s == NULL ||
        ECDSA_SIG_set0(value, r, s) != 1) {
        adcp_error_set(err, status, "", "out of memory encoding an ECDSA "
                       "signature of key \"%s\"", key->label);
        goto out;
    }
    r = s = NULL; /* value owns them now */
    der_len = i2d_ECDSA_SIG(value, &der);
    if (der_len <= 0 || (size_t)der_len > *sig_len) {
        log_openssl_errors(__func__, "i2d_ECDSA_SIG");
        adcp_error_set(err, status, "", "cannot encode the ECDSA signature "
                       "of key \"%s\" in %zu bytes", key->label, *sig_len);
        goto out;
    }
    memcpy(sig, der, (size_t)der_len);
    *sig_len = (size_t)der_len;
    status = ADCP_OK;
out:
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(value);
    return status;
}

/* Checks the caller's buffer and, when it is short, stores the size
 * needed in *sig_len. */
static enum adcp_status
buffer_check(const struct hal_key *key, enum hal_sign_scheme scheme,
             size_t *sig_len, struct adcp_error *err)
{
    size_t field_len = (key->bits + 7) / 8;
    size_t needed = scheme == HAL_SIGN_ECDSA ? ecdsa_der_max(field_len)
                                             : field_len;

    size_t given = *sig_len;

    if (given >= needed)
        return ADCP_OK;
    *sig_len = needed;
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "sig",
                          "the signature buffer of %zu bytes is too small "
                          "for key \"%s\"; it needs %zu", given, key->label,
                          needed);
}

static enum adcp_status
sign_setup(struct sign_ctx *ctx, enum hal_sign_scheme scheme,
           const EVP_MD *md, const unsigned char *tbs, size_t tbs_len,
           struct adcp_error *err)
{
    switch (scheme) {
    case HAL_SIGN_RSA_PKCS1:
        return setup_pkcs1(ctx, md, tbs, tbs_len, err);
    case HAL_SIGN_RSA_PSS:
        return setup_pss(ctx, md, tbs, tbs_len, err);
    default:
        return setup_ecdsa(ctx, md, tbs, tbs_len, err);
    }
}

/* Module output must be exactly the modulus, or r || s of the curve's
 * size, because some modules report a larger one (tpm2-pkcs11 1.9.0
 * returned a length of 512 for RSA-2048). */
static enum adcp_status
output_check(const struct hal_key *key, enum hal_sign_scheme scheme,
             size_t out_len, struct adcp_error *err)
{
    size_t field_len = (key->bits + 7) / 8;
    size_t expected = scheme == HAL_SIGN_ECDSA ? 2 * field_len : field_len;

    if (out_len == expected)
        return ADCP_OK;
    return adcp_error_set(err, ADCP_ERR_HSM, "", "HSM \"%s\" returned a %zu "
                          "byte signature for key \"%s\", which needs %zu "
                          "bytes", key->hsm->cfg.name, out_len, key->label,
                          expected);
}

enum adcp_status
hal_key_sign(struct hal_key *key, enum hal_sign_scheme scheme,
             const EVP_MD *md, const unsigned char *tbs, size_t tbs_len,
             unsigned char *sig, size_t *sig_len, struct adcp_error *err)
{
    unsigned char raw[ECDSA_RAW_MAX];
    struct sign_ctx ctx;
    enum adcp_status status;

    if (key == NULL || tbs == NULL || sig == NULL || sig_len == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "hal_key_sign needs a key, input and output");
    if ((status = scheme_check(key, scheme, err)) != ADCP_OK)
        return status;
    if ((status = buffer_check(key, scheme, sig_len, err)) != ADCP_OK)
        return status;
    memset(&ctx, 0, sizeof(ctx));
    ctx.key = key;
    if ((status = sign_setup(&ctx, scheme, md, tbs, tbs_len, err)) != ADCP_OK)
        return status;
    ctx.out = scheme == HAL_SIGN_ECDSA ? raw : sig;
    ctx.out_len = scheme == HAL_SIGN_ECDSA ? sizeof(raw) : *sig_len;
    status = hal_hsm_run(key->hsm, sign_op, &ctx, err);
    if (status == ADCP_OK)
        status = output_check(key, scheme, ctx.out_len, err);
    if (status != ADCP_OK)
        return status;
    if (scheme == HAL_SIGN_ECDSA)
        return ecdsa_to_der(key, raw, ctx.out_len, sig, sig_len, err);
    *sig_len = ctx.out_len;
    return ADCP_OK;
}
