/*
 * p11_probe: report, for every private key on one PKCS#11 token, whether
 * its secret value can be read (C_GetAttributeValue) or exported wrapped
 * (C_WrapKey under a fresh session AES key). ca_key_non_extractable.sh
 * compiles and runs it; pkcs11-tool cannot do this, because its
 * --read-object rejects private keys before it calls the token.
 *
 * Usage: p11_probe MODULE TOKEN_LABEL PIN_FILE
 * Prints one line per private key:
 *   key label=L type=rsa|ec sensitive=0|1 extractable=0|1
 *       always_sensitive=0|1 never_extractable=0|1 read=RV wrap=RV
 * where RV is the PKCS#11 return value name (CKR_OK means it worked),
 * then the same line, starting "control", for a session EC key made
 * non-sensitive and extractable: its read=CKR_OK wrap=CKR_OK shows that
 * the probe does detect a key whose value can leave the token.
 * Exits 0 after probing, 2 on a usage or PKCS#11 setup error.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_MAX_KEYS 64
#define PROBE_MAX_SLOTS 64

static const char *
rv_name(CK_RV rv)
{
    static char other[32];

    switch (rv) {
    case CKR_OK:
        return "CKR_OK";
    case CKR_ATTRIBUTE_SENSITIVE:
        return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_ATTRIBUTE_TYPE_INVALID:
        return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_KEY_UNEXTRACTABLE:
        return "CKR_KEY_UNEXTRACTABLE";
    case CKR_KEY_NOT_WRAPPABLE:
        return "CKR_KEY_NOT_WRAPPABLE";
    case CKR_MECHANISM_INVALID:
        return "CKR_MECHANISM_INVALID";
    default:
        snprintf(other, sizeof(other), "0x%lx", (unsigned long)rv);
        return other;
    }
}

static int
read_pin(const char *path, char *pin, size_t size)
{
    FILE *file = fopen(path, "r");
    size_t len;

    if (file == NULL) {
        fprintf(stderr, "p11_probe: cannot open PIN file %s\n", path);
        return -1;
    }
    if (fgets(pin, (int)size, file) == NULL) {
        fprintf(stderr, "p11_probe: PIN file %s is empty\n", path);
        fclose(file);
        return -1;
    }
    fclose(file);
    len = strcspn(pin, "\r\n");
    pin[len] = '\0';
    return 0;
}

static CK_FUNCTION_LIST_PTR
load_module(const char *path)
{
    CK_C_GetFunctionList get_function_list;
    CK_FUNCTION_LIST_PTR functions = NULL;
    CK_C_INITIALIZE_ARGS init_args;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CK_RV rv;

    if (handle == NULL) {
        fprintf(stderr, "p11_probe: dlopen %s: %s\n", path, dlerror());
        return NULL;
    }
    get_function_list = (CK_C_GetFunctionList)dlsym(handle,
                                                    "C_GetFunctionList");
    if (get_function_list == NULL || get_function_list(&functions) != CKR_OK) {
        fprintf(stderr, "p11_probe: %s has no C_GetFunctionList\n", path);
        return NULL;
    }
    memset(&init_args, 0, sizeof(init_args));
    init_args.flags = CKF_OS_LOCKING_OK;
    rv = functions->C_Initialize(&init_args);
    if (rv != CKR_OK) {
        fprintf(stderr, "p11_probe: C_Initialize: %s\n", rv_name(rv));
        return NULL;
    }
    return functions;
}

/* Find the slot whose token label (blank-padded to 32 bytes) is label. */
static int
find_slot(CK_FUNCTION_LIST_PTR p11, const char *label, CK_SLOT_ID *slot)
{
    CK_SLOT_ID slots[PROBE_MAX_SLOTS];
    CK_ULONG count = PROBE_MAX_SLOTS, i;
    CK_TOKEN_INFO info;
    char padded[sizeof(info.label)];
    size_t len = strlen(label);

    if (len > sizeof(padded))
        return -1;
    memset(padded, ' ', sizeof(padded));
    memcpy(padded, label, len);
    if (p11->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK)
        return -1;
    for (i = 0; i < count; i++) {
        if (p11->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue;
        if (memcmp(info.label, padded, sizeof(padded)) == 0) {
            *slot = slots[i];
            return 0;
        }
    }
    fprintf(stderr, "p11_probe: no token labelled '%s'\n", label);
    return -1;
}

static CK_OBJECT_HANDLE
make_wrapping_key(CK_FUNCTION_LIST_PTR p11, CK_SESSION_HANDLE session)
{
    CK_MECHANISM mechanism = { CKM_AES_KEY_GEN, NULL, 0 };
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG length = 32;
    CK_ATTRIBUTE template[] = {
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_VALUE_LEN, &length, sizeof(length) },
        { CKA_WRAP, &yes, sizeof(yes) },
    };
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    CK_RV rv;

    rv = p11->C_GenerateKey(session, &mechanism, template, 3, &key);
    if (rv != CKR_OK)
        fprintf(stderr, "p11_probe: C_GenerateKey AES: %s\n", rv_name(rv));
    return key;
}

/* Generate a session P-256 key pair whose private key is deliberately
 * readable and exportable. */
static CK_OBJECT_HANDLE
make_control_key(CK_FUNCTION_LIST_PTR p11, CK_SESSION_HANDLE session)
{
    CK_MECHANISM mechanism = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_BYTE p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
                           0x3d, 0x03, 0x01, 0x07 };
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    char label[] = "p11-probe-control";
    CK_ATTRIBUTE public_template[] = {
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_EC_PARAMS, p256_oid, sizeof(p256_oid) },
    };
    CK_ATTRIBUTE private_template[] = {
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_SENSITIVE, &no, sizeof(no) },
        { CKA_EXTRACTABLE, &yes, sizeof(yes) },
        { CKA_LABEL, label, sizeof(label) - 1 },
    };
    CK_OBJECT_HANDLE public_key, private_key = CK_INVALID_HANDLE;
    CK_RV rv;

    rv = p11->C_GenerateKeyPair(session, &mechanism, public_template, 2,
                                private_template, 4, &public_key,
                                &private_key);
    if (rv != CKR_OK)
        fprintf(stderr, "p11_probe: C_GenerateKeyPair EC: %s\n", rv_name(rv));
    return private_key;
}

static CK_BBOOL
get_bool(CK_FUNCTION_LIST_PTR p11, CK_SESSION_HANDLE session,
         CK_OBJECT_HANDLE key, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL value = CK_FALSE;
    CK_ATTRIBUTE attribute = { type, &value, sizeof(value) };

    if (p11->C_GetAttributeValue(session, key, &attribute, 1) != CKR_OK)
        return CK_FALSE;
    return value;
}

static void
probe_key(CK_FUNCTION_LIST_PTR p11, CK_SESSION_HANDLE session,
          const char *kind, CK_OBJECT_HANDLE key,
          CK_OBJECT_HANDLE wrapping_key)
{
    CK_KEY_TYPE key_type = 0;
    char label[128] = "";
    CK_ATTRIBUTE info[] = {
        { CKA_KEY_TYPE, &key_type, sizeof(key_type) },
        { CKA_LABEL, label, sizeof(label) - 1 },
    };
    unsigned char value[4096];
    CK_ATTRIBUTE secret = { CKA_PRIVATE_EXPONENT, value, sizeof(value) };
    CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
    CK_ULONG wrapped_len = 0;
    CK_RV read_rv, wrap_rv;

    if (p11->C_GetAttributeValue(session, key, info, 2) == CKR_OK)
        label[info[1].ulValueLen] = '\0';
    if (key_type == CKK_EC)
        secret.type = CKA_VALUE;
    read_rv = p11->C_GetAttributeValue(session, key, &secret, 1);
    wrap_rv = p11->C_WrapKey(session, &wrap, wrapping_key, key, NULL,
                             &wrapped_len);

    printf("%s label=%s type=%s sensitive=%d extractable=%d "
           "always_sensitive=%d never_extractable=%d read=%s",
           kind, label, key_type == CKK_EC ? "ec" : key_type == CKK_RSA ? "rsa"
                                                               : "other",
           get_bool(p11, session, key, CKA_SENSITIVE),
           get_bool(p11, session, key, CKA_EXTRACTABLE),
           get_bool(p11, session, key, CKA_ALWAYS_SENSITIVE),
           get_bool(p11, session, key, CKA_NEVER_EXTRACTABLE),
           rv_name(read_rv));
    printf(" wrap=%s\n", rv_name(wrap_rv));
}

static int
probe_token(CK_FUNCTION_LIST_PTR p11, CK_SESSION_HANDLE session)
{
    CK_OBJECT_CLASS class = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE filter = { CKA_CLASS, &class, sizeof(class) };
    CK_OBJECT_HANDLE keys[PROBE_MAX_KEYS], wrapping_key, control_key;
    CK_ULONG count = 0, i;

    if (p11->C_FindObjectsInit(session, &filter, 1) != CKR_OK ||
        p11->C_FindObjects(session, keys, PROBE_MAX_KEYS, &count) != CKR_OK) {
        fprintf(stderr, "p11_probe: cannot list private keys\n");
        return -1;
    }
    p11->C_FindObjectsFinal(session);

    wrapping_key = make_wrapping_key(p11, session);
    if (wrapping_key == CK_INVALID_HANDLE)
        return -1;
    for (i = 0; i < count; i++)
        probe_key(p11, session, "key", keys[i], wrapping_key);

    control_key = make_control_key(p11, session);
    if (control_key != CK_INVALID_HANDLE)
        probe_key(p11, session, "control", control_key, wrapping_key);
    p11->C_DestroyObject(session, wrapping_key);
    return control_key == CK_INVALID_HANDLE ? -1 : 0;
}

int
main(int argc, char **argv)
{
    CK_FUNCTION_LIST_PTR p11;
    CK_SESSION_HANDLE session;
    CK_SLOT_ID slot;
    char pin[256];
    int status = 2;
    CK_RV rv;

    if (argc != 4) {
        fprintf(stderr, "usage: p11_probe MODULE TOKEN_LABEL PIN_FILE\n");
        return 2;
    }
    if (read_pin(argv[3], pin, sizeof(pin)) != 0)
        return 2;
    p11 = load_module(argv[1]);
    if (p11 == NULL || find_slot(p11, argv[2], &slot) != 0)
        goto out;
    rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
                            NULL, &session);
    if (rv != CKR_OK) {
        fprintf(stderr, "p11_probe: C_OpenSession: %s\n", rv_name(rv));
        goto out;
    }
    rv = p11->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        fprintf(stderr, "p11_probe: C_Login: %s\n", rv_name(rv));
        goto out;
    }
    if (probe_token(p11, session) == 0)
        status = 0;
    p11->C_Logout(session);
    p11->C_CloseSession(session);
out:
    explicit_bzero(pin, sizeof(pin));
    if (p11 != NULL)
        p11->C_Finalize(NULL);
    return status;
}
