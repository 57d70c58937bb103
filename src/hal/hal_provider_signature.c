/*
 * Signatures of the hsm4ssl provider: RSA (PKCS#1 v1.5 and PSS) and ECDSA
 * by the HSM through hal_key_sign. Messages are hashed here with a digest
 * from the default provider, and only the digest goes to the HSM.
 *
 * The HAL signs with SHA-256, SHA-384 or SHA-512. It signs PSS only with a
 * salt as long as the digest and MGF1 over the same digest. Other settings
 * are rejected when they are set or, at the latest, when signing starts.
 *
 * Verification is forwarded to the default provider with the key's public
 * half. OpenSSL 3.0 routes a verification here for an EVP_PKEY made by
 * hal_key_evp. Certificates' own public keys stay in the default provider,
 * because hal_provider_load loads it before this one.
 */
#include "hal/hal_provider-internal.h"

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "adcp/adcp_error.h"

enum sig_operation {
    SIG_OP_NONE = 0,
    SIG_OP_SIGN,
    SIG_OP_VERIFY,
};

/* The state of one signature operation. */
struct sig_ctx {
    struct hal_provider_ctx *provctx;
    enum hal_key_type type;  /* of the algorithm: HAL_KEY_RSA or HAL_KEY_EC */
    enum sig_operation operation;
    struct hal_key *key;     /* own reference; NULL when verifying only */
    EVP_PKEY *public_key;    /* own reference */
    EVP_MD *md;              /* NULL until set */
    EVP_MD *mgf1_md;         /* NULL means the same as md */
    int pad_mode;            /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
    int salt_length;         /* bytes, or an RSA_PSS_SALTLEN_* value */
    EVP_MD_CTX *md_ctx;      /* digest of the message; digest_* only */
    bool md_fixed;           /* digest_*_init chose md; it may not change */
};

static const OSSL_PARAM rsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM ecdsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM rsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM ecdsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
    OSSL_PARAM_END,
};

/* The digests the HAL signs with; the first is the default. */
static const char *const supported_digests[] = {"SHA256", "SHA384", "SHA512"};

static int sig_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static struct sig_ctx *
sig_new(void *provctx, enum hal_key_type type)
{
    struct sig_ctx *ctx;

    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return NULL;
    ctx->provctx = provctx;
    ctx->type = type;
    ctx->pad_mode = RSA_PKCS1_PADDING;
    ctx->salt_length = RSA_PSS_SALTLEN_DIGEST;
    return ctx;
}

static void *
sig_rsa_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return sig_new(provctx, HAL_KEY_RSA);
}

static void *
sig_ecdsa_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return sig_new(provctx, HAL_KEY_EC);
}

static void
sig_freectx(void *vctx)
{
    struct sig_ctx *ctx = vctx;

    if (ctx == NULL)
        return;
    if (ctx->key != NULL)
        hal_key_unref(ctx->key);
    EVP_PKEY_free(ctx->public_key);
    EVP_MD_free(ctx->md);
    EVP_MD_free(ctx->mgf1_md);
    EVP_MD_CTX_free(ctx->md_ctx);
    free(ctx);
}

/* Copies everything of from into a new context, the digest state too. */
static void *
sig_dupctx(void *vctx)
{
    const struct sig_ctx *from = vctx;
    struct sig_ctx *ctx;

    if (from == NULL)
        return NULL;
    ctx = sig_new(from->provctx, from->type);
    if (ctx == NULL)
        return NULL;
    *ctx = *from;
    ctx->key = NULL;
    ctx->public_key = NULL;
    ctx->md = NULL;
    ctx->mgf1_md = NULL;
    ctx->md_ctx = NULL;

    if (from->key != NULL)
        ctx->key = hal_key_ref(from->key);
    if (from->public_key != NULL) {
        if (EVP_PKEY_up_ref(from->public_key) != 1)
            goto fail;
        ctx->public_key = from->public_key;
    }
    if (from->md != NULL) {
        if (EVP_MD_up_ref(from->md) != 1)
            goto fail;
        ctx->md = from->md;
    }
    if (from->mgf1_md != NULL) {
        if (EVP_MD_up_ref(from->mgf1_md) != 1)
            goto fail;
        ctx->mgf1_md = from->mgf1_md;
    }
    if (from->md_ctx != NULL) {
        ctx->md_ctx = EVP_MD_CTX_new();
        if (ctx->md_ctx == NULL ||
            EVP_MD_CTX_copy_ex(ctx->md_ctx, from->md_ctx) != 1)
            goto fail;
    }
    return ctx;
fail:
    sig_freectx(ctx);
    return NULL;
}

/* Fetches a digest the HAL signs with from the default provider, or
 * raises an error that names the digest and returns NULL. */
static EVP_MD *
sig_fetch_digest(const struct sig_ctx *ctx, const char *name)
{
    EVP_MD *md;

    md = EVP_MD_fetch(NULL, name, HAL_PROVIDER_DEFAULT_PROPERTIES);
    if (md != NULL) {
        for (size_t i = 0; i < sizeof(supported_digests) /
                                   sizeof(supported_digests[0]); i++)
            if (EVP_MD_is_a(md, supported_digests[i]))
                return md;
    }
    EVP_MD_free(md);
    HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_UNSUPPORTED_DIGEST,
                       "digest \"%s\" is not supported for HSM keys; use "
                       "SHA256, SHA384 or SHA512", name);
    return NULL;
}

/*
 * Takes the key of an init call. provkey may be NULL to restart an
 * operation with the key it already has. Signing needs key data that
 * contains a HAL key, and verifying needs the public half only.
 */
static int
sig_take_key(struct sig_ctx *ctx, void *provkey, enum sig_operation operation)
{
    struct hal_provider_key *kd = provkey;

    if (kd != NULL) {
        if (kd->type != ctx->type || kd->public_key == NULL) {
            HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_KEY,
                               "the key is not an %s key of this provider",
                               hal_provider_type_name(ctx->type));
            return 0;
        }
        if (EVP_PKEY_up_ref(kd->public_key) != 1)
            return 0;
        if (ctx->key != NULL)
            hal_key_unref(ctx->key);
        EVP_PKEY_free(ctx->public_key);
        ctx->key = kd->key != NULL ? hal_key_ref(kd->key) : NULL;
        ctx->public_key = kd->public_key;
    }
    if (ctx->public_key == NULL) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_KEY,
                           "no key was given to the signature operation");
        return 0;
    }
    if (operation == SIG_OP_SIGN && ctx->key == NULL) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_KEY,
                           "the key holds only a public key, so it cannot "
                           "sign; use the EVP_PKEY from hal_key_evp");
        return 0;
    }
    ctx->operation = operation;
    return 1;
}

static int
sig_init(void *vctx, void *provkey, const OSSL_PARAM params[],
         enum sig_operation operation)
{
    struct sig_ctx *ctx = vctx;

    if (ctx == NULL || !sig_take_key(ctx, provkey, operation))
        return 0;
    EVP_MD_CTX_free(ctx->md_ctx);
    ctx->md_ctx = NULL;
    ctx->md_fixed = false;
    return sig_set_ctx_params(ctx, params);
}

static int
sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, params, SIG_OP_SIGN);
}

static int
sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, params, SIG_OP_VERIFY);
}

/* Chooses the digest for a one-shot signature over a digest when none was
 * set: for ECDSA the one of tbs_len bytes, for RSA none, because the
 * DigestInfo depends on it. */
static int
sig_infer_digest(struct sig_ctx *ctx, size_t tbs_len)
{
    if (ctx->md != NULL)
        return 1;
    if (ctx->type == HAL_KEY_EC) {
        for (size_t i = 0; i < sizeof(supported_digests) /
                                   sizeof(supported_digests[0]); i++) {
            EVP_MD *md = EVP_MD_fetch(NULL, supported_digests[i],
                                      HAL_PROVIDER_DEFAULT_PROPERTIES);

            if (md != NULL && (size_t)EVP_MD_get_size(md) == tbs_len) {
                ctx->md = md;
                return 1;
            }
            EVP_MD_free(md);
        }
    }
    HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_UNSUPPORTED_DIGEST,
                       "no digest is set for a %zu-byte input; set SHA256, "
                       "SHA384 or SHA512 with EVP_PKEY_CTX_set_signature_md",
                       tbs_len);
    return 0;
}

/* Checks the PSS settings against the one form the HAL signs: salt as
 * long as the digest, MGF1 over the digest. */
static int
sig_check_pss(const struct sig_ctx *ctx)
{
    int md_size = EVP_MD_get_size(ctx->md);

    if (ctx->salt_length != RSA_PSS_SALTLEN_DIGEST &&
        ctx->salt_length != md_size) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_SALT_LENGTH,
                           "PSS salt length %d is not supported with %s; "
                           "use \"digest\" (%d bytes)", ctx->salt_length,
                           EVP_MD_get0_name(ctx->md), md_size);
        return 0;
    }
    if (ctx->mgf1_md != NULL &&
        !EVP_MD_is_a(ctx->mgf1_md, EVP_MD_get0_name(ctx->md))) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_UNSUPPORTED_DIGEST,
                           "MGF1 digest %s differs from the signature digest "
                           "%s; HSM keys use MGF1 with the same digest",
                           EVP_MD_get0_name(ctx->mgf1_md),
                           EVP_MD_get0_name(ctx->md));
        return 0;
    }
    return 1;
}

static enum hal_sign_scheme
sig_scheme(const struct sig_ctx *ctx)
{
    if (ctx->type == HAL_KEY_EC)
        return HAL_SIGN_ECDSA;
    if (ctx->pad_mode == RSA_PKCS1_PSS_PADDING)
        return HAL_SIGN_RSA_PSS;
    return HAL_SIGN_RSA_PKCS1;
}

/*
 * Signs the digest tbs with the HSM. sig_size is the size of sig; on
 * success *sig_len is the signature length. Returns 1, or 0 with an error
 * raised that carries the HAL's message.
 */
static int
sig_sign_digest(struct sig_ctx *ctx, unsigned char *sig, size_t *sig_len,
                size_t sig_size, const unsigned char *tbs, size_t tbs_len)
{
    size_t max_size = (size_t)EVP_PKEY_get_size(ctx->public_key);
    struct adcp_error err;
    size_t len = sig_size;

    if (!sig_infer_digest(ctx, tbs_len))
        return 0;
    if (tbs_len != (size_t)EVP_MD_get_size(ctx->md)) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_PARAMETER,
                           "the input is %zu bytes, but a %s digest is %d",
                           tbs_len, EVP_MD_get0_name(ctx->md),
                           EVP_MD_get_size(ctx->md));
        return 0;
    }
    if (sig_scheme(ctx) == HAL_SIGN_RSA_PSS && !sig_check_pss(ctx))
        return 0;
    if (sig_size < max_size) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_BUFFER_TOO_SMALL,
                           "the signature buffer holds %zu bytes; %zu are "
                           "needed", sig_size, max_size);
        return 0;
    }
    adcp_error_clear(&err);
    if (hal_key_sign(ctx->key, sig_scheme(ctx), ctx->md, tbs, tbs_len, sig,
                     &len, &err) != ADCP_OK) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_SIGN_FAILED,
                           "HSM key \"%s\": %s", hal_key_label(ctx->key),
                           err.message);
        return 0;
    }
    *sig_len = len;
    return 1;
}

static int
sig_sign(void *vctx, unsigned char *sig, size_t *sig_len, size_t sig_size,
         const unsigned char *tbs, size_t tbs_len)
{
    struct sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->operation != SIG_OP_SIGN || sig_len == NULL)
        return 0;
    if (sig == NULL) {
        *sig_len = (size_t)EVP_PKEY_get_size(ctx->public_key);
        return 1;
    }
    return sig_sign_digest(ctx, sig, sig_len, sig_size, tbs, tbs_len);
}

/* Sets the digest, RSA padding and PSS settings of ctx on a
 * default-provider context. */
static int
sig_copy_settings(const struct sig_ctx *ctx, EVP_PKEY_CTX *pctx)
{
    if (ctx->md != NULL && EVP_PKEY_CTX_set_signature_md(pctx, ctx->md) <= 0)
        return 0;
    if (ctx->type != HAL_KEY_RSA)
        return 1;
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, ctx->pad_mode) <= 0)
        return 0;
    if (ctx->pad_mode != RSA_PKCS1_PSS_PADDING)
        return 1;
    if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, ctx->salt_length) <= 0)
        return 0;
    return ctx->mgf1_md == NULL ||
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, ctx->mgf1_md) > 0;
}

/* Verifies sig over the digest tbs with the public half in the default
 * provider. Returns 1 for a valid signature and 0 otherwise. */
static int
sig_verify(void *vctx, const unsigned char *sig, size_t sig_len,
           const unsigned char *tbs, size_t tbs_len)
{
    struct sig_ctx *ctx = vctx;
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;

    if (ctx == NULL || ctx->operation != SIG_OP_VERIFY)
        return 0;
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, ctx->public_key,
                                      HAL_PROVIDER_DEFAULT_PROPERTIES);
    if (pctx == NULL || EVP_PKEY_verify_init(pctx) != 1 ||
        !sig_copy_settings(ctx, pctx)) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_OPENSSL_FAILED,
                           "setting up verification with the public key "
                           "failed");
        goto out;
    }
    ok = EVP_PKEY_verify(pctx, sig, sig_len, tbs, tbs_len) == 1;
out:
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

/* Starts hashing for digest_sign or digest_verify. mdname NULL keeps the
 * digest already set, or picks SHA256. */
static int
sig_digest_init(struct sig_ctx *ctx, const char *mdname, void *provkey,
                const OSSL_PARAM params[], enum sig_operation operation)
{
    EVP_MD *md = NULL;

    if (!sig_init(ctx, provkey, NULL, operation))
        return 0;
    if (mdname != NULL || ctx->md == NULL) {
        md = sig_fetch_digest(ctx, mdname != NULL ? mdname
                                                  : supported_digests[0]);
        if (md == NULL)
            return 0;
        EVP_MD_free(ctx->md);
        ctx->md = md;
    }
    ctx->md_ctx = EVP_MD_CTX_new();
    if (ctx->md_ctx == NULL ||
        EVP_DigestInit_ex2(ctx->md_ctx, ctx->md, NULL) != 1) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_OPENSSL_FAILED,
                           "starting the %s digest failed",
                           EVP_MD_get0_name(ctx->md));
        return 0;
    }
    ctx->md_fixed = true;
    return sig_set_ctx_params(ctx, params);
}

static int
sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                     const OSSL_PARAM params[])
{
    if (vctx == NULL)
        return 0;
    return sig_digest_init(vctx, mdname, provkey, params, SIG_OP_SIGN);
}

static int
sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
                       const OSSL_PARAM params[])
{
    if (vctx == NULL)
        return 0;
    return sig_digest_init(vctx, mdname, provkey, params, SIG_OP_VERIFY);
}

static int
sig_digest_update(void *vctx, const unsigned char *data, size_t data_len)
{
    struct sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->md_ctx == NULL)
        return 0;
    return EVP_DigestUpdate(ctx->md_ctx, data, data_len);
}

/* Finishes the message digest into digest, of EVP_MAX_MD_SIZE bytes. */
static int
sig_digest_final(struct sig_ctx *ctx, unsigned char *digest,
                 unsigned int *digest_len)
{
    if (ctx->md_ctx == NULL ||
        EVP_DigestFinal_ex(ctx->md_ctx, digest, digest_len) != 1) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_OPENSSL_FAILED,
                           "finishing the message digest failed");
        return 0;
    }
    return 1;
}

/* With sig NULL, stores the maximum signature size in *sig_len and leaves
 * the digest running, as EVP_DigestSignFinal expects. */
static int
sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *sig_len,
                      size_t sig_size)
{
    struct sig_ctx *ctx = vctx;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ok;

    if (ctx == NULL || ctx->operation != SIG_OP_SIGN || sig_len == NULL)
        return 0;
    if (sig == NULL) {
        *sig_len = (size_t)EVP_PKEY_get_size(ctx->public_key);
        return 1;
    }
    if (!sig_digest_final(ctx, digest, &digest_len))
        return 0;
    ok = sig_sign_digest(ctx, sig, sig_len, sig_size, digest, digest_len);
    OPENSSL_cleanse(digest, sizeof(digest));
    return ok;
}

static int
sig_digest_verify_final(void *vctx, const unsigned char *sig, size_t sig_len)
{
    struct sig_ctx *ctx = vctx;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (ctx == NULL || ctx->operation != SIG_OP_VERIFY)
        return 0;
    if (!sig_digest_final(ctx, digest, &digest_len))
        return 0;
    return sig_verify(ctx, sig, sig_len, digest, digest_len);
}

/* Replaces *slot with the digest named by p, a UTF-8 string. */
static int
sig_set_digest_param(struct sig_ctx *ctx, const OSSL_PARAM *p, EVP_MD **slot)
{
    const char *name = NULL;
    EVP_MD *md;

    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_PARAMETER,
                           "parameter \"%s\" must be a digest name", p->key);
        return 0;
    }
    md = sig_fetch_digest(ctx, name);
    if (md == NULL)
        return 0;
    EVP_MD_free(*slot);
    *slot = md;
    return 1;
}

/* Sets the signature digest. After digest_*_init the message is already
 * being hashed, so only the same digest is accepted then. */
static int
sig_set_md(struct sig_ctx *ctx, const OSSL_PARAM *p)
{
    const char *name = NULL;

    if (ctx->md_fixed) {
        if (OSSL_PARAM_get_utf8_string_ptr(p, &name) && ctx->md != NULL &&
            EVP_MD_is_a(ctx->md, name))
            return 1;
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_PARAMETER,
                           "the digest cannot change once hashing started");
        return 0;
    }
    return sig_set_digest_param(ctx, p, &ctx->md);
}

/* Parses the RSA padding mode, as an integer (RSA_PKCS1_PADDING,
 * RSA_PKCS1_PSS_PADDING) or as a name ("pkcs1", "pss"). */
static int
sig_set_pad_mode(struct sig_ctx *ctx, const OSSL_PARAM *p)
{
    const char *name = NULL;
    int mode = 0;

    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            return 0;
        if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0)
            mode = RSA_PKCS1_PADDING;
        else if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0)
            mode = RSA_PKCS1_PSS_PADDING;
    } else if (!OSSL_PARAM_get_int(p, &mode)) {
        mode = 0;
    }
    if (mode != RSA_PKCS1_PADDING && mode != RSA_PKCS1_PSS_PADDING) {
        if (name != NULL)
            HAL_PROVIDER_RAISE(ctx->provctx,
                               HAL_PROVIDER_R_UNSUPPORTED_PADDING,
                               "RSA padding mode \"%s\" is not supported "
                               "for HSM keys; use \"pkcs1\" or \"pss\"",
                               name);
        else
            HAL_PROVIDER_RAISE(ctx->provctx,
                               HAL_PROVIDER_R_UNSUPPORTED_PADDING,
                               "RSA padding mode %d is not supported for "
                               "HSM keys; use RSA_PKCS1_PADDING or "
                               "RSA_PKCS1_PSS_PADDING", mode);
        return 0;
    }
    ctx->pad_mode = mode;
    return 1;
}

/* Parses the PSS salt length, as an integer or as "digest", "max", "auto"
 * or a decimal number. Signing accepts the digest length only; that check
 * waits for the digest, unless it is already known. */
static int
sig_set_salt_length(struct sig_ctx *ctx, const OSSL_PARAM *p)
{
    const char *text = NULL;
    int length = 0;

    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        char *end = NULL;
        long value;

        if (!OSSL_PARAM_get_utf8_string_ptr(p, &text))
            return 0;
        if (strcmp(text, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0) {
            length = RSA_PSS_SALTLEN_DIGEST;
        } else if (strcmp(text, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0) {
            length = RSA_PSS_SALTLEN_MAX;
        } else if (strcmp(text, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0) {
            length = RSA_PSS_SALTLEN_AUTO;
        } else {
            value = strtol(text, &end, 10);
            if (end == text || *end != '\0' || value < 0 || value > 4096)
                goto invalid;
            length = (int)value;
        }
    } else if (!OSSL_PARAM_get_int(p, &length)) {
        goto invalid;
    }
    ctx->salt_length = length;
    if (ctx->operation == SIG_OP_SIGN && ctx->md != NULL &&
        length != RSA_PSS_SALTLEN_DIGEST && length != EVP_MD_get_size(ctx->md))
        goto invalid;
    return 1;
invalid:
    HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_SALT_LENGTH,
                       "PSS salt length \"%s\" is not supported for HSM keys; "
                       "use \"digest\" or the digest length",
                       text != NULL ? text : "(integer)");
    return 0;
}

/* Applies the RSA-only parameters. */
static int
sig_set_rsa_params(struct sig_ctx *ctx, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;

    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL && !sig_set_pad_mode(ctx, p))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL && !sig_set_digest_param(ctx, p, &ctx->mgf1_md))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL && !sig_set_salt_length(ctx, p))
        return 0;
    return 1;
}

/* Applies the parameters this provider supports and ignores the others, as
 * OpenSSL's own providers do. The digest comes first so that the salt
 * length can be checked against it. */
static int
sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    struct sig_ctx *ctx = vctx;
    const OSSL_PARAM *p;

    if (ctx == NULL)
        return 0;
    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL && !sig_set_md(ctx, p))
        return 0;
    if (ctx->type == HAL_KEY_RSA && !sig_set_rsa_params(ctx, params))
        return 0;
    return 1;
}

/* Builds the RSASSA-PSS-params of ctx (RFC 4055): hash, MGF1 over the same
 * hash, salt as long as the digest, and the trailer field left at its
 * default. */
static ASN1_STRING *
sig_pss_params(const struct sig_ctx *ctx)
{
    RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
    X509_ALGOR *mgf1_hash = X509_ALGOR_new();
    ASN1_STRING *mgf1_params = NULL;
    ASN1_STRING *out = NULL;
    ASN1_OBJECT *hash;

    if (pss == NULL || mgf1_hash == NULL)
        goto out;
    pss->hashAlgorithm = X509_ALGOR_new();
    pss->maskGenAlgorithm = X509_ALGOR_new();
    pss->saltLength = ASN1_INTEGER_new();
    if (pss->hashAlgorithm == NULL || pss->maskGenAlgorithm == NULL ||
        pss->saltLength == NULL ||
        !ASN1_INTEGER_set(pss->saltLength, EVP_MD_get_size(ctx->md)))
        goto out;
    /* Both hash identifiers get a NULL parameter, as the default provider
     * of OpenSSL 3.0 writes them. X509_ALGOR_set_md would leave it out. */
    hash = OBJ_nid2obj(EVP_MD_get_type(ctx->md));
    if (!X509_ALGOR_set0(pss->hashAlgorithm, hash, V_ASN1_NULL, NULL) ||
        !X509_ALGOR_set0(mgf1_hash, hash, V_ASN1_NULL, NULL))
        goto out;
    if (ASN1_item_pack(mgf1_hash, ASN1_ITEM_rptr(X509_ALGOR), &mgf1_params) ==
        NULL)
        goto out;
    if (!X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1),
                         V_ASN1_SEQUENCE, mgf1_params))
        goto out;
    mgf1_params = NULL;
    out = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL);
out:
    ASN1_STRING_free(mgf1_params);
    X509_ALGOR_free(mgf1_hash);
    RSA_PSS_PARAMS_free(pss);
    return out;
}

/* Fills alg with the signature AlgorithmIdentifier of ctx. */
static int
sig_fill_algorithm(const struct sig_ctx *ctx, X509_ALGOR *alg)
{
    ASN1_STRING *pss;
    int nid = NID_undef;
    int pkey_nid;

    if (sig_scheme(ctx) == HAL_SIGN_RSA_PSS) {
        pss = sig_pss_params(ctx);
        if (pss == NULL)
            return 0;
        if (!X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE,
                             pss)) {
            ASN1_STRING_free(pss);
            return 0;
        }
        return 1;
    }
    pkey_nid = ctx->type == HAL_KEY_EC ? NID_X9_62_id_ecPublicKey
                                       : NID_rsaEncryption;
    if (!OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(ctx->md), pkey_nid))
        return 0;
    /* The RSA identifiers carry a NULL parameter and the ECDSA ones none,
     * as the default provider of OpenSSL 3.0 encodes them. */
    return X509_ALGOR_set0(alg, OBJ_nid2obj(nid),
                           ctx->type == HAL_KEY_EC ? V_ASN1_UNDEF
                                                   : V_ASN1_NULL,
                           NULL);
}

/* Stores the DER signature AlgorithmIdentifier of ctx in p, for
 * X509_sign, X509_CRL_sign and OCSP signing. */
static int
sig_get_algorithm_id(const struct sig_ctx *ctx, OSSL_PARAM *p)
{
    X509_ALGOR *alg = NULL;
    unsigned char *der = NULL;
    int der_len;
    int ok = 0;

    if (ctx->md == NULL) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_INVALID_PARAMETER,
                           "the algorithm identifier needs a digest; set "
                           "one first");
        return 0;
    }
    alg = X509_ALGOR_new();
    if (alg == NULL || !sig_fill_algorithm(ctx, alg)) {
        HAL_PROVIDER_RAISE(ctx->provctx, HAL_PROVIDER_R_OPENSSL_FAILED,
                           "encoding the algorithm identifier for %s failed",
                           EVP_MD_get0_name(ctx->md));
        goto out;
    }
    der_len = i2d_X509_ALGOR(alg, &der);
    if (der_len <= 0)
        goto out;
    ok = OSSL_PARAM_set_octet_string(p, der, (size_t)der_len);
out:
    OPENSSL_free(der);
    X509_ALGOR_free(alg);
    return ok;
}

/* Stores the padding mode in p, as the type the caller requested. */
static int
sig_get_pad_mode(const struct sig_ctx *ctx, OSSL_PARAM *p)
{
    const char *name = ctx->pad_mode == RSA_PKCS1_PSS_PADDING
                           ? OSSL_PKEY_RSA_PAD_MODE_PSS
                           : OSSL_PKEY_RSA_PAD_MODE_PKCSV15;

    if (p->data_type == OSSL_PARAM_UTF8_STRING)
        return OSSL_PARAM_set_utf8_string(p, name);
    return OSSL_PARAM_set_int(p, ctx->pad_mode);
}

/* Stores the salt length in p, as an integer or as text. */
static int
sig_get_salt_length(const struct sig_ctx *ctx, OSSL_PARAM *p)
{
    char text[16];

    if (p->data_type != OSSL_PARAM_UTF8_STRING)
        return OSSL_PARAM_set_int(p, ctx->salt_length);
    switch (ctx->salt_length) {
    case RSA_PSS_SALTLEN_DIGEST:
        return OSSL_PARAM_set_utf8_string(p, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST);
    case RSA_PSS_SALTLEN_MAX:
        return OSSL_PARAM_set_utf8_string(p, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX);
    case RSA_PSS_SALTLEN_AUTO:
        return OSSL_PARAM_set_utf8_string(p, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO);
    default:
        snprintf(text, sizeof(text), "%d", ctx->salt_length);
        return OSSL_PARAM_set_utf8_string(p, text);
    }
}

static int
sig_get_rsa_params(const struct sig_ctx *ctx, OSSL_PARAM params[])
{
    const EVP_MD *mgf1_md = ctx->mgf1_md != NULL ? ctx->mgf1_md : ctx->md;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL && !sig_get_pad_mode(ctx, p))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL && !sig_get_salt_length(ctx, p))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL && mgf1_md != NULL &&
        !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(mgf1_md)))
        return 0;
    return 1;
}

static int
sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    struct sig_ctx *ctx = vctx;
    OSSL_PARAM *p;

    if (ctx == NULL)
        return 0;
    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL && !sig_get_algorithm_id(ctx, p))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL && ctx->md != NULL &&
        !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(ctx->md)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST_SIZE);
    if (p != NULL && ctx->md != NULL &&
        !OSSL_PARAM_set_size_t(p, (size_t)EVP_MD_get_size(ctx->md)))
        return 0;
    if (ctx->type == HAL_KEY_RSA && !sig_get_rsa_params(ctx, params))
        return 0;
    return 1;
}

static const OSSL_PARAM *
sig_rsa_settable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return rsa_settable;
}

static const OSSL_PARAM *
sig_ecdsa_settable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return ecdsa_settable;
}

static const OSSL_PARAM *
sig_rsa_gettable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return rsa_gettable;
}

static const OSSL_PARAM *
sig_ecdsa_gettable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return ecdsa_gettable;
}

#define SIGNATURE_COMMON_FUNCTIONS                                           \
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},              \
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},                \
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_sign_init},          \
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign},                    \
    {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))sig_verify_init},      \
    {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sig_verify},                \
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,                                   \
     (void (*)(void))sig_digest_sign_init},                                  \
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,                                 \
     (void (*)(void))sig_digest_update},                                     \
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,                                  \
     (void (*)(void))sig_digest_sign_final},                                 \
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,                                 \
     (void (*)(void))sig_digest_verify_init},                                \
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,                               \
     (void (*)(void))sig_digest_update},                                     \
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,                                \
     (void (*)(void))sig_digest_verify_final},                               \
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params}, \
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params}

const OSSL_DISPATCH hal_provider_rsa_signature_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_rsa_newctx},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))sig_rsa_gettable_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
     (void (*)(void))sig_rsa_settable_ctx_params},
    SIGNATURE_COMMON_FUNCTIONS,
    {0, NULL},
};

const OSSL_DISPATCH hal_provider_ecdsa_signature_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_ecdsa_newctx},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))sig_ecdsa_gettable_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
     (void (*)(void))sig_ecdsa_settable_ctx_params},
    SIGNATURE_COMMON_FUNCTIONS,
    {0, NULL},
};
