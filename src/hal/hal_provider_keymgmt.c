/*
 * Key management of the hsm4ssl provider for RSA and EC keys. The key data
 * (struct hal_provider_key) contains a HAL key and its public half as an
 * ordinary default-provider EVP_PKEY. Every key parameter (size, modulus,
 * curve, encoded point) is read from that public half.
 *
 * Import accepts two kinds of data: the key reference that hal_key_evp
 * passes, and public-key data exported by another provider, which
 * EVP_PKEY_eq and X509_check_private_key need to compare a certificate's
 * public key with an HSM key. Export gives out the public half only.
 */
#include "hal/hal_provider-internal.h"

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#define SELECT_PRIVATE OSSL_KEYMGMT_SELECT_PRIVATE_KEY
#define SELECT_PUBLIC OSSL_KEYMGMT_SELECT_PUBLIC_KEY
#define SELECT_PARAMETERS OSSL_KEYMGMT_SELECT_ALL_PARAMETERS

static const OSSL_PARAM rsa_public_types[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM rsa_import_types[] = {
    OSSL_PARAM_octet_string(HAL_PROVIDER_PARAM_KEY_REF, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM ec_public_types[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM ec_import_types[] = {
    OSSL_PARAM_octet_string(HAL_PROVIDER_PARAM_KEY_REF, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END,
};

/* The parameters that get_params reads from the public half. */
static const OSSL_PARAM rsa_gettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM ec_gettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL,
                           0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
    OSSL_PARAM_END,
};

static struct hal_provider_key *
keymgmt_new(void *provctx, enum hal_key_type type)
{
    struct hal_provider_key *kd;

    kd = calloc(1, sizeof(*kd));
    if (kd == NULL)
        return NULL;
    kd->provctx = provctx;
    kd->type = type;
    return kd;
}

static void *
keymgmt_rsa_new(void *provctx)
{
    return keymgmt_new(provctx, HAL_KEY_RSA);
}

static void *
keymgmt_ec_new(void *provctx)
{
    return keymgmt_new(provctx, HAL_KEY_EC);
}

static void
keymgmt_free(void *keydata)
{
    struct hal_provider_key *kd = keydata;

    if (kd == NULL)
        return;
    if (kd->key != NULL)
        hal_key_unref(kd->key);
    EVP_PKEY_free(kd->public_key);
    free(kd);
}

/*
 * Copies the parts of keydata_from named by selection. Both copies share
 * the HAL key and the public half, which are immutable, by reference.
 */
static void *
keymgmt_dup(const void *keydata_from, int selection)
{
    const struct hal_provider_key *from = keydata_from;
    struct hal_provider_key *kd;

    if (from == NULL)
        return NULL;
    kd = keymgmt_new(from->provctx, from->type);
    if (kd == NULL)
        return NULL;
    if ((selection & SELECT_PRIVATE) != 0 && from->key != NULL)
        kd->key = hal_key_ref(from->key);
    if ((selection & (SELECT_PUBLIC | SELECT_PRIVATE)) != 0 &&
        from->public_key != NULL) {
        if (EVP_PKEY_up_ref(from->public_key) != 1) {
            keymgmt_free(kd);
            return NULL;
        }
        kd->public_key = from->public_key;
    }
    return kd;
}

/*
 * Returns 1 when keydata contains every part in selection. Domain
 * parameters (the curve, for EC) come with the public half.
 */
static int
keymgmt_has(const void *keydata, int selection)
{
    const struct hal_provider_key *kd = keydata;

    if (kd == NULL)
        return 0;
    if ((selection & SELECT_PRIVATE) != 0 && kd->key == NULL)
        return 0;
    if ((selection & (SELECT_PUBLIC | SELECT_PARAMETERS)) != 0 &&
        kd->public_key == NULL)
        return 0;
    return 1;
}

/* Takes a reference to the HAL key that param carries, and its public
 * half from the HAL. */
static int
keymgmt_import_reference(struct hal_provider_key *kd, const OSSL_PARAM *param)
{
    struct hal_key *key;
    EVP_PKEY *public_key;

    if (param->data_type != OSSL_PARAM_OCTET_STRING ||
        param->data_size != sizeof(key) || param->data == NULL) {
        HAL_PROVIDER_RAISE(kd->provctx, HAL_PROVIDER_R_INVALID_KEY,
                           "%s must be an octet string of %zu bytes",
                           HAL_PROVIDER_PARAM_KEY_REF, sizeof(key));
        return 0;
    }
    memcpy(&key, param->data, sizeof(key));
    if (key == NULL || hal_key_type(key) != kd->type) {
        HAL_PROVIDER_RAISE(kd->provctx, HAL_PROVIDER_R_INVALID_KEY,
                           "%s does not point at an %s key",
                           HAL_PROVIDER_PARAM_KEY_REF,
                           hal_provider_type_name(kd->type));
        return 0;
    }
    public_key = hal_key_public(key);
    if (public_key == NULL) {
        HAL_PROVIDER_RAISE(kd->provctx, HAL_PROVIDER_R_INVALID_KEY,
                           "reading the public key of HSM key \"%s\" failed",
                           hal_key_label(key));
        return 0;
    }
    kd->key = hal_key_ref(key);
    kd->public_key = public_key;
    return 1;
}

/* Builds the public half in the default provider from public-key data
 * that another provider exported. Private parts in params are ignored. */
static int
keymgmt_import_public(struct hal_provider_key *kd, const OSSL_PARAM params[])
{
    const char *type_name = hal_provider_type_name(kd->type);
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *public_key = NULL;
    int ok = 0;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type_name,
                                     HAL_PROVIDER_DEFAULT_PROPERTIES);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &public_key, EVP_PKEY_PUBLIC_KEY,
                          (OSSL_PARAM *)params) != 1) {
        HAL_PROVIDER_RAISE(kd->provctx, HAL_PROVIDER_R_INVALID_KEY,
                           "importing an %s public key into the default "
                           "provider failed", type_name);
        goto out;
    }
    kd->public_key = public_key;
    ok = 1;
out:
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int
keymgmt_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    struct hal_provider_key *kd = keydata;
    const OSSL_PARAM *ref;

    if (kd == NULL || params == NULL)
        return 0;
    if (kd->key != NULL || kd->public_key != NULL) {
        HAL_PROVIDER_RAISE(kd->provctx, HAL_PROVIDER_R_INVALID_KEY,
                           "the key data already contains a key");
        return 0;
    }
    ref = OSSL_PARAM_locate_const(params, HAL_PROVIDER_PARAM_KEY_REF);
    if (ref != NULL)
        return keymgmt_import_reference(kd, ref);
    if ((selection & SELECT_PUBLIC) != 0)
        return keymgmt_import_public(kd, params);
    HAL_PROVIDER_RAISE(kd->provctx, HAL_PROVIDER_R_INVALID_KEY,
                       "an HSM key needs %s or a public key to import",
                       HAL_PROVIDER_PARAM_KEY_REF);
    return 0;
}

/*
 * Exports the public half. A selection that includes the private key is
 * rejected without raising an error, because OpenSSL 3.0 tries such an
 * export to the default provider before every signature and then falls
 * back to this provider. An error left on the queue after a successful
 * signature would make SSL_get_error report a failure.
 */
static int
keymgmt_export(void *keydata, int selection, OSSL_CALLBACK *param_cb,
               void *cbarg)
{
    struct hal_provider_key *kd = keydata;

    if (kd == NULL || kd->public_key == NULL)
        return 0;
    if ((selection & SELECT_PRIVATE) != 0)
        return 0;
    return EVP_PKEY_export(kd->public_key, selection, param_cb, cbarg);
}

static const OSSL_PARAM *
keymgmt_rsa_import_types(int selection)
{
    if ((selection & SELECT_PUBLIC) == 0)
        return NULL;
    return rsa_import_types;
}

static const OSSL_PARAM *
keymgmt_ec_import_types(int selection)
{
    if ((selection & SELECT_PUBLIC) == 0)
        return NULL;
    return ec_import_types;
}

static const OSSL_PARAM *
keymgmt_rsa_export_types(int selection)
{
    if ((selection & SELECT_PUBLIC) == 0)
        return NULL;
    return rsa_public_types;
}

static const OSSL_PARAM *
keymgmt_ec_export_types(int selection)
{
    if ((selection & SELECT_PUBLIC) == 0)
        return NULL;
    return ec_public_types;
}

/* Reads the requested parameters from the public half in the default
 * provider, which fills only the public ones. */
static int
keymgmt_get_params(void *keydata, OSSL_PARAM params[])
{
    struct hal_provider_key *kd = keydata;

    if (kd == NULL || kd->public_key == NULL)
        return 0;
    return EVP_PKEY_get_params(kd->public_key, params);
}

static const OSSL_PARAM *
keymgmt_rsa_gettable_params(void *provctx)
{
    (void)provctx;
    return rsa_gettable;
}

static const OSSL_PARAM *
keymgmt_ec_gettable_params(void *provctx)
{
    (void)provctx;
    return ec_gettable;
}

static const char *
keymgmt_rsa_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

static const char *
keymgmt_ec_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

/*
 * Compares two keys of this key management. The private halves match
 * when the public halves do, so a key pair selection compares the public
 * halves; a parameters-only selection compares the curves.
 */
static int
keymgmt_match(const void *keydata1, const void *keydata2, int selection)
{
    const struct hal_provider_key *kd1 = keydata1;
    const struct hal_provider_key *kd2 = keydata2;

    if (kd1 == NULL || kd2 == NULL || kd1->type != kd2->type)
        return 0;
    if (kd1->public_key == NULL || kd2->public_key == NULL)
        return 0;
    if ((selection & (SELECT_PRIVATE | SELECT_PUBLIC)) != 0)
        return EVP_PKEY_eq(kd1->public_key, kd2->public_key) == 1;
    if ((selection & SELECT_PARAMETERS) != 0)
        return EVP_PKEY_parameters_eq(kd1->public_key, kd2->public_key) == 1;
    return 1;
}

#define KEYMGMT_COMMON_FUNCTIONS                                             \
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))keymgmt_free},                  \
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))keymgmt_dup},                    \
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))keymgmt_has},                    \
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))keymgmt_import},              \
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))keymgmt_export},              \
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))keymgmt_get_params},      \
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))keymgmt_match}

const OSSL_DISPATCH hal_provider_rsa_keymgmt_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))keymgmt_rsa_new},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))keymgmt_rsa_import_types},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))keymgmt_rsa_export_types},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
     (void (*)(void))keymgmt_rsa_gettable_params},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
     (void (*)(void))keymgmt_rsa_query_operation_name},
    KEYMGMT_COMMON_FUNCTIONS,
    {0, NULL},
};

const OSSL_DISPATCH hal_provider_ec_keymgmt_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))keymgmt_ec_new},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))keymgmt_ec_import_types},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))keymgmt_ec_export_types},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
     (void (*)(void))keymgmt_ec_gettable_params},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
     (void (*)(void))keymgmt_ec_query_operation_name},
    KEYMGMT_COMMON_FUNCTIONS,
    {0, NULL},
};
