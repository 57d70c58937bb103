/*
 * Definitions shared by the three files of the project's OpenSSL provider:
 * hal_provider.c (loading, dispatch, errors, hal_key_evp),
 * hal_provider_keymgmt.c (key management) and hal_provider_signature.c
 * (signing). Nothing outside them uses this header.
 */
#ifndef HSM4SSL_HAL_PROVIDER_INTERNAL_H
#define HSM4SSL_HAL_PROVIDER_INTERNAL_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "hal/hal.h"

/* The provider's name, and the property query that selects it. */
#define HAL_PROVIDER_NAME "hsm4ssl"
#define HAL_PROVIDER_PROPERTIES "provider=hsm4ssl"

/* The property query for the public halves and the digests, which the
 * default provider computes. */
#define HAL_PROVIDER_DEFAULT_PROPERTIES "provider=default"

/*
 * The import parameter that hands a struct hal_key to the key management:
 * an octet string holding the pointer itself. Import takes a new reference.
 * Only hal_key_evp passes it, from inside this process.
 */
#define HAL_PROVIDER_PARAM_KEY_REF "hsm4ssl-key-ref"

/* Reason codes of the errors this provider raises; the text of each is in
 * hal_provider.c. */
enum hal_provider_reason {
    HAL_PROVIDER_R_INVALID_KEY = 1,
    HAL_PROVIDER_R_PRIVATE_KEY_NOT_EXPORTABLE,
    HAL_PROVIDER_R_UNSUPPORTED_DIGEST,
    HAL_PROVIDER_R_UNSUPPORTED_PADDING,
    HAL_PROVIDER_R_INVALID_SALT_LENGTH,
    HAL_PROVIDER_R_INVALID_PARAMETER,
    HAL_PROVIDER_R_BUFFER_TOO_SMALL,
    HAL_PROVIDER_R_SIGN_FAILED,
    HAL_PROVIDER_R_OPENSSL_FAILED,
};

/* The provider context: the core's handle and its error functions. */
struct hal_provider_ctx {
    const OSSL_CORE_HANDLE *handle;
    OSSL_FUNC_core_new_error_fn *new_error;
    OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
    OSSL_FUNC_core_vset_error_fn *vset_error;
};

/*
 * Key data of the key management. A key made by hal_key_evp contains a HAL
 * key and its public half. A key imported from another provider (a
 * certificate's public key, for EVP_PKEY_eq) contains the public half only.
 * Both members are immutable once import has succeeded, so one key data
 * may be used by several threads at once.
 */
struct hal_provider_key {
    struct hal_provider_ctx *provctx;
    enum hal_key_type type;  /* HAL_KEY_RSA or HAL_KEY_EC */
    struct hal_key *key;     /* own reference; NULL for public-only data */
    EVP_PKEY *public_key;    /* default provider; NULL until imported */
};

/*
 * Raises an OpenSSL error from this provider, with reason and a message
 * formatted from fmt. file, line and func name the place that raised it.
 */
void hal_provider_raise(const struct hal_provider_ctx *provctx,
                        enum hal_provider_reason reason, const char *file,
                        int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define HAL_PROVIDER_RAISE(provctx, reason, ...)                             \
    hal_provider_raise((provctx), (reason), __FILE__, __LINE__, __func__,    \
                       __VA_ARGS__)

/* Returns the OpenSSL key type name of a HAL key type: "RSA" or "EC". */
const char *hal_provider_type_name(enum hal_key_type type);

/* Dispatch tables, listed by hal_provider.c. */
extern const OSSL_DISPATCH hal_provider_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH hal_provider_ec_keymgmt_functions[];
extern const OSSL_DISPATCH hal_provider_rsa_signature_functions[];
extern const OSSL_DISPATCH hal_provider_ecdsa_signature_functions[];

#endif
