/*
 * The project's OpenSSL 3 provider, "hsm4ssl": it makes HSM keys ordinary
 * EVP_PKEYs whose private-key operations go to hal_key_sign, so that
 * X509_sign, X509_CRL_sign, OCSP signing and SSL_CTX_use_PrivateKey work
 * with no private key material in process memory.
 *
 * The provider is built in (OSSL_PROVIDER_add_builtin) and loaded into the
 * default library context next to the default provider, which keeps doing
 * everything else: public-key operations, digests, software keys. It offers
 * key management for "RSA" and "EC" and signatures for "RSA" and "ECDSA",
 * all with the property "provider=hsm4ssl".
 *
 * Why OpenSSL 3.0 picks this provider's signature for an HSM key: signing
 * first tries the default provider's signature, and for that it exports
 * the key to the default key management with every part selected. This
 * provider's export rejects any selection with the private key, so OpenSSL
 * falls back to the signature of the key's own provider.
 */
#include "hal/hal_provider-internal.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

#include "common/log.h"

static const OSSL_ALGORITHM keymgmt_algorithms[] = {
    {"RSA:rsaEncryption", HAL_PROVIDER_PROPERTIES,
     hal_provider_rsa_keymgmt_functions, "RSA key inside an HSM"},
    {"EC:id-ecPublicKey", HAL_PROVIDER_PROPERTIES,
     hal_provider_ec_keymgmt_functions, "EC key inside an HSM"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM signature_algorithms[] = {
    {"RSA:rsaEncryption", HAL_PROVIDER_PROPERTIES,
     hal_provider_rsa_signature_functions,
     "RSA PKCS#1 v1.5 and PSS signatures by an HSM"},
    {"ECDSA", HAL_PROVIDER_PROPERTIES, hal_provider_ecdsa_signature_functions,
     "ECDSA signatures by an HSM"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ITEM reason_strings[] = {
    {HAL_PROVIDER_R_INVALID_KEY, "invalid HSM key"},
    {HAL_PROVIDER_R_PRIVATE_KEY_NOT_EXPORTABLE,
     "private key of an HSM key cannot be exported"},
    {HAL_PROVIDER_R_UNSUPPORTED_DIGEST, "unsupported digest"},
    {HAL_PROVIDER_R_UNSUPPORTED_PADDING, "unsupported padding mode"},
    {HAL_PROVIDER_R_INVALID_SALT_LENGTH, "invalid PSS salt length"},
    {HAL_PROVIDER_R_INVALID_PARAMETER, "invalid parameter"},
    {HAL_PROVIDER_R_BUFFER_TOO_SMALL, "signature buffer too small"},
    {HAL_PROVIDER_R_SIGN_FAILED, "HSM signing failed"},
    {HAL_PROVIDER_R_OPENSSL_FAILED, "OpenSSL call failed"},
    {0, NULL},
};

static const OSSL_PARAM provider_gettable[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
    OSSL_PARAM_END,
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* Both providers stay loaded for the life of the process, because
 * EVP_PKEYs of HSM keys may be freed as late as the process exit.
 * hal_provider_load returns its result from the handles, so an optimising
 * compiler keeps the stores and leak checkers find the providers reachable
 * at exit. */
static OSSL_PROVIDER *default_provider;
static OSSL_PROVIDER *hsm_provider;

void
hal_provider_raise(const struct hal_provider_ctx *provctx,
                   enum hal_provider_reason reason, const char *file, int line,
                   const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (provctx != NULL && provctx->new_error != NULL &&
        provctx->set_error_debug != NULL && provctx->vset_error != NULL) {
        provctx->new_error(provctx->handle);
        provctx->set_error_debug(provctx->handle, file, line, func);
        provctx->vset_error(provctx->handle, (uint32_t)reason, fmt, ap);
    } else {
        /* Defensive: without the core's functions the error still goes on
         * the queue, under the generic library code. */
        ERR_new();
        ERR_set_debug(file, line, func);
        ERR_vset_error(ERR_LIB_USER, (int)reason, fmt, ap);
    }
    va_end(ap);
}

const char *
hal_provider_type_name(enum hal_key_type type)
{
    switch (type) {
    case HAL_KEY_RSA:
        return "RSA";
    case HAL_KEY_EC:
        return "EC";
    case HAL_KEY_AES:
        break;
    }
    return NULL;
}

static const OSSL_ALGORITHM *
provider_query_operation(void *provctx, int operation_id, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KEYMGMT:
        return keymgmt_algorithms;
    case OSSL_OP_SIGNATURE:
        return signature_algorithms;
    default:
        return NULL;
    }
}

static const OSSL_PARAM *
provider_gettable_params(void *provctx)
{
    (void)provctx;
    return provider_gettable;
}

static int
provider_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    (void)provctx;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "HSM4SSL HSM key provider"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, HSM4SSL_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, OPENSSL_FULL_VERSION_STR))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static const OSSL_ITEM *
provider_get_reason_strings(void *provctx)
{
    (void)provctx;
    return reason_strings;
}

static void
provider_teardown(void *provctx)
{
    free(provctx);
}

static const OSSL_DISPATCH provider_functions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))provider_teardown},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION,
     (void (*)(void))provider_query_operation},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
     (void (*)(void))provider_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))provider_get_params},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
     (void (*)(void))provider_get_reason_strings},
    {0, NULL},
};

/* Picks the core's error functions out of the dispatch table it passed. */
static void
provider_take_core_functions(struct hal_provider_ctx *ctx,
                             const OSSL_DISPATCH *in)
{
    for (; in != NULL && in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_NEW_ERROR:
            ctx->new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            ctx->set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            ctx->vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        default:
            break;
        }
    }
}

/* The provider's entry point, which OSSL_PROVIDER_load calls once per
 * library context. */
static int
provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
              const OSSL_DISPATCH **out, void **provctx)
{
    struct hal_provider_ctx *ctx;

    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return 0;
    ctx->handle = handle;
    provider_take_core_functions(ctx, in);
    *out = provider_functions;
    *provctx = ctx;
    return 1;
}

/*
 * Registers and loads the provider, and the default provider before it:
 * once any provider is loaded explicitly, OpenSSL no longer loads the
 * default one on its own. The default provider is loaded first so that
 * fetches without a property query (software keys, verification) keep
 * finding its implementations before this provider's.
 */
static void
provider_load_once(void)
{
    if (OSSL_PROVIDER_add_builtin(NULL, HAL_PROVIDER_NAME, provider_init) !=
        1) {
        log_openssl_errors(__func__, "registering the hsm4ssl provider");
        return;
    }
    default_provider = OSSL_PROVIDER_load(NULL, "default");
    if (default_provider == NULL) {
        log_openssl_errors(__func__, "loading the default provider");
        return;
    }
    hsm_provider = OSSL_PROVIDER_load(NULL, HAL_PROVIDER_NAME);
    if (hsm_provider == NULL)
        log_openssl_errors(__func__, "loading the hsm4ssl provider");
}

int
hal_provider_load(void)
{
    if (pthread_once(&load_once, provider_load_once) != 0)
        return -1;
    return default_provider != NULL && hsm_provider != NULL ? 0 : -1;
}

/* Builds the key-reference parameter list and imports it into this
 * provider's key management for the key's type. */
static EVP_PKEY *
provider_import_key(struct hal_key *key, const char *type_name)
{
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_octet_string(HAL_PROVIDER_PARAM_KEY_REF,
                                                  &key, sizeof(key));
    params[1] = OSSL_PARAM_construct_end();

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type_name,
                                     HAL_PROVIDER_PROPERTIES);
    if (ctx == NULL) {
        log_openssl_errors(__func__, "fetching the hsm4ssl key management");
        goto out;
    }
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1) {
        log_openssl_errors(__func__, "importing the HSM key");
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

EVP_PKEY *
hal_key_evp(struct hal_key *key)
{
    const char *type_name;

    if (key == NULL)
        return NULL;
    type_name = hal_provider_type_name(hal_key_type(key));
    if (type_name == NULL) {
        log_error("key \"%s\" is not an RSA or EC key pair, so it has no "
                  "EVP_PKEY", hal_key_label(key));
        return NULL;
    }
    if (hal_provider_load() != 0)
        return NULL;
    return provider_import_key(key, type_name);
}
