#include "hal/pkcs11_keys.h"

#include <stdlib.h>
#include <string.h>

/* Room for the longest template below plus CKA_LABEL and CKA_ID. */
#define TEMPLATE_MAX 12

struct template {
    CK_ATTRIBUTE attrs[TEMPLATE_MAX];
    CK_ULONG count;
};

static CK_BBOOL ck_true = CK_TRUE;
static CK_BBOOL ck_false = CK_FALSE;

/* Named-curve OIDs in DER: prime256v1, secp384r1, secp521r1. */
static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
                                         0x3d, 0x03, 0x01, 0x07};
static const unsigned char oid_p384[] = {0x06, 0x05, 0x2b, 0x81,
                                         0x04, 0x00, 0x22};
static const unsigned char oid_p521[] = {0x06, 0x05, 0x2b, 0x81,
                                         0x04, 0x00, 0x23};

/* Appends one attribute; the value must outlive the template's use. The
 * templates are fixed in this file and fit, so overflow is a bug. */
static void
template_add(struct template *t, CK_ATTRIBUTE_TYPE type, const void *value,
             size_t len)
{
    if (t->count >= TEMPLATE_MAX)
        abort();
    t->attrs[t->count].type = type;
    /* PKCS#11 templates take non-const pointers for input values too. */
    t->attrs[t->count].pValue = (void *)value;
    t->attrs[t->count].ulValueLen = (CK_ULONG)len;
    t->count++;
}

static void
template_add_bool(struct template *t, CK_ATTRIBUTE_TYPE type, bool value)
{
    template_add(t, type, value ? &ck_true : &ck_false, sizeof(CK_BBOOL));
}

static void
template_add_name(struct template *t, const struct hal_keygen *spec,
                  const unsigned char *id, size_t id_len)
{
    template_add(t, CKA_LABEL, spec->label, strlen(spec->label));
    if (id_len > 0)
        template_add(t, CKA_ID, id, id_len);
}

/* Attributes of the private half of a pair. */
static void
template_private(struct template *t, const struct hal_keygen *spec)
{
    template_add_bool(t, CKA_TOKEN, true);
    template_add_bool(t, CKA_PRIVATE, true);
    template_add_bool(t, CKA_SENSITIVE, true);
    template_add_bool(t, CKA_EXTRACTABLE, spec->extractable);
    template_add_bool(t, CKA_SIGN, true);
    if (spec->type == HAL_KEY_RSA)
        template_add_bool(t, CKA_DECRYPT, true);
}

/* The public half is a public object, so that it can be read without a
 * login (for the provider and for listing keys). */
static void
template_public(struct template *t, const struct hal_keygen *spec)
{
    template_add_bool(t, CKA_TOKEN, true);
    template_add_bool(t, CKA_PRIVATE, false);
    template_add_bool(t, CKA_VERIFY, true);
    if (spec->type == HAL_KEY_RSA)
        template_add_bool(t, CKA_ENCRYPT, true);
}

const unsigned char *
pkcs11_ec_params(unsigned bits, size_t *len)
{
    switch (bits) {
    case 256:
        *len = sizeof(oid_p256);
        return oid_p256;
    case 384:
        *len = sizeof(oid_p384);
        return oid_p384;
    case 521:
        *len = sizeof(oid_p521);
        return oid_p521;
    default:
        *len = 0;
        return NULL;
    }
}

unsigned
pkcs11_ec_bits(const unsigned char *params, size_t len)
{
    static const unsigned sizes[] = {256, 384, 521};
    const unsigned char *oid;
    size_t oid_len;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        oid = pkcs11_ec_params(sizes[i], &oid_len);
        if (len == oid_len && memcmp(params, oid, len) == 0)
            return sizes[i];
    }
    return 0;
}

const char *
pkcs11_ec_group_name(unsigned bits)
{
    switch (bits) {
    case 256:
        return "P-256";
    case 384:
        return "P-384";
    case 521:
        return "P-521";
    default:
        return NULL;
    }
}

const char *
pkcs11_keygen_check(const struct hal_keygen *spec)
{
    switch (spec->type) {
    case HAL_KEY_RSA:
        if (spec->bits < 2048 || spec->bits > 8192 || spec->bits % 8 != 0)
            return "RSA key length must be a multiple of 8 from 2048 to "
                   "8192 bits";
        return NULL;
    case HAL_KEY_EC:
        if (pkcs11_ec_group_name(spec->bits) == NULL)
            return "EC key length must be 256, 384 or 521 bits (P-256, "
                   "P-384, P-521)";
        return NULL;
    case HAL_KEY_AES:
        if (spec->bits != 128 && spec->bits != 192 && spec->bits != 256)
            return "AES key length must be 128, 192 or 256 bits";
        return NULL;
    default:
        return "key type must be rsa, ec or aes";
    }
}

static CK_RV
generate_rsa(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
             const struct hal_keygen *spec, const unsigned char *id,
             size_t id_len, CK_OBJECT_HANDLE *private_handle,
             CK_OBJECT_HANDLE *public_handle)
{
    static const unsigned char exponent[] = {0x01, 0x00, 0x01};
    CK_MECHANISM mechanism = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ULONG bits = spec->bits;
    struct template pub = {0}, priv = {0};

    template_public(&pub, spec);
    template_add(&pub, CKA_MODULUS_BITS, &bits, sizeof(bits));
    template_add(&pub, CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent));
    template_add_name(&pub, spec, id, id_len);
    template_private(&priv, spec);
    template_add_name(&priv, spec, id, id_len);
    return fn->C_GenerateKeyPair(session, &mechanism, pub.attrs, pub.count,
                                 priv.attrs, priv.count, public_handle,
                                 private_handle);
}

static CK_RV
generate_ec(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
            const struct hal_keygen *spec, const unsigned char *id,
            size_t id_len, CK_OBJECT_HANDLE *private_handle,
            CK_OBJECT_HANDLE *public_handle)
{
    CK_MECHANISM mechanism = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    struct template pub = {0}, priv = {0};
    const unsigned char *params;
    size_t params_len;

    params = pkcs11_ec_params(spec->bits, &params_len);
    template_public(&pub, spec);
    template_add(&pub, CKA_EC_PARAMS, params, params_len);
    template_add_name(&pub, spec, id, id_len);
    template_private(&priv, spec);
    template_add_name(&priv, spec, id, id_len);
    return fn->C_GenerateKeyPair(session, &mechanism, pub.attrs, pub.count,
                                 priv.attrs, priv.count, public_handle,
                                 private_handle);
}

static CK_RV
generate_aes(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
             const struct hal_keygen *spec, const unsigned char *id,
             size_t id_len, CK_OBJECT_HANDLE *secret_handle)
{
    CK_MECHANISM mechanism = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG value_len = spec->bits / 8;
    struct template t = {0};

    template_add_bool(&t, CKA_TOKEN, true);
    template_add_bool(&t, CKA_PRIVATE, true);
    template_add_bool(&t, CKA_SENSITIVE, true);
    template_add_bool(&t, CKA_EXTRACTABLE, spec->extractable);
    template_add_bool(&t, CKA_ENCRYPT, true);
    template_add_bool(&t, CKA_DECRYPT, true);
    template_add(&t, CKA_VALUE_LEN, &value_len, sizeof(value_len));
    template_add_name(&t, spec, id, id_len);
    return fn->C_GenerateKey(session, &mechanism, t.attrs, t.count,
                             secret_handle);
}

CK_RV
pkcs11_key_generate(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                    const struct hal_keygen *spec, const unsigned char *id,
                    size_t id_len, CK_OBJECT_HANDLE *private_handle,
                    CK_OBJECT_HANDLE *public_handle)
{
    *private_handle = CK_INVALID_HANDLE;
    *public_handle = CK_INVALID_HANDLE;
    switch (spec->type) {
    case HAL_KEY_RSA:
        return generate_rsa(fn, session, spec, id, id_len, private_handle,
                            public_handle);
    case HAL_KEY_EC:
        return generate_ec(fn, session, spec, id, id_len, private_handle,
                           public_handle);
    case HAL_KEY_AES:
        return generate_aes(fn, session, spec, id, id_len, private_handle);
    default:
        return CKR_ARGUMENTS_BAD;
    }
}

CK_RV
pkcs11_object_find(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                   CK_OBJECT_CLASS object_class, const char *label,
                   const unsigned char *id, size_t id_len, bool *found,
                   CK_OBJECT_HANDLE *out)
{
    struct template t = {0};
    CK_OBJECT_HANDLE object = CK_INVALID_HANDLE;
    CK_ULONG count = 0;
    CK_RV rv, final_rv;

    *found = false;
    if (object_class != PKCS11_CLASS_ANY)
        template_add(&t, CKA_CLASS, &object_class, sizeof(object_class));
    template_add(&t, CKA_LABEL, label, strlen(label));
    if (id_len > 0)
        template_add(&t, CKA_ID, id, id_len);
    rv = fn->C_FindObjectsInit(session, t.attrs, t.count);
    if (rv != CKR_OK)
        return rv;
    rv = fn->C_FindObjects(session, &object, 1, &count);
    /* Always end the search, or the session stays in a find operation. */
    final_rv = fn->C_FindObjectsFinal(session);
    if (rv == CKR_OK)
        rv = final_rv;
    if (rv == CKR_OK && count == 1) {
        *found = true;
        *out = object;
    }
    return rv;
}

CK_RV
pkcs11_attribute_read(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                      CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                      unsigned char **value, size_t *len)
{
    CK_ATTRIBUTE attr = {type, NULL, 0};
    unsigned char *buf;
    CK_RV rv;

    *value = NULL;
    *len = 0;
    rv = fn->C_GetAttributeValue(session, object, &attr, 1);
    if (rv != CKR_OK)
        return rv;
    if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    /* One spare byte, so that an empty value still gets a buffer. */
    buf = malloc(attr.ulValueLen + 1);
    if (buf == NULL)
        return CKR_HOST_MEMORY;
    attr.pValue = buf;
    rv = fn->C_GetAttributeValue(session, object, &attr, 1);
    if (rv != CKR_OK) {
        free(buf);
        return rv;
    }
    *value = buf;
    *len = attr.ulValueLen;
    return CKR_OK;
}

CK_RV
pkcs11_attribute_ulong(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                       CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                       CK_ULONG *out)
{
    CK_ATTRIBUTE attr = {type, out, sizeof(*out)};

    return fn->C_GetAttributeValue(session, object, &attr, 1);
}

CK_RV
pkcs11_object_set_id(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                     CK_OBJECT_HANDLE object, const unsigned char *id,
                     size_t id_len)
{
    CK_ATTRIBUTE attr = {CKA_ID, (void *)id, (CK_ULONG)id_len};

    return fn->C_SetAttributeValue(session, object, &attr, 1);
}

CK_RV
pkcs11_sign(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
            CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key,
            const unsigned char *in, size_t in_len, unsigned char *out,
            size_t *out_len, bool *discard)
{
    CK_ULONG len = (CK_ULONG)*out_len;
    CK_RV rv;

    rv = fn->C_SignInit(session, mechanism, key);
    if (rv != CKR_OK) {
        if (rv == CKR_OPERATION_ACTIVE)
            *discard = true;
        return rv;
    }
    /* The input is only read; PKCS#11 declares it non-const. */
    rv = fn->C_Sign(session, (CK_BYTE_PTR)in, (CK_ULONG)in_len, out, &len);
    if (rv != CKR_OK) {
        /* CKR_BUFFER_TOO_SMALL keeps the operation active by the
         * standard, and some modules (NSS, tpm2-pkcs11) keep it after
         * other failures too: start over on a fresh session. */
        *discard = true;
        return rv;
    }
    *out_len = len;
    return CKR_OK;
}
