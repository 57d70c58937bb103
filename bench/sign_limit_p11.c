/*
 * The raw PKCS#11 signer of sign_limit: the module called directly, with
 * none of the project's code in the path, so that its rate is the floor
 * the HAL and the server are measured against.
 */
#include <dlfcn.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"
#include "sign_limit.h"

/* DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1). */
static const unsigned char sha256_prefix[19] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

struct limit_signer {
    void *handle;                /* from dlopen */
    CK_FUNCTION_LIST *fn;
    bool initialized;            /* C_Initialize succeeded: finalize */
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE *sessions; /* one per thread */
    unsigned session_count;
    CK_OBJECT_HANDLE key;
    CK_KEY_TYPE key_type;
    size_t sig_len;              /* modulus bytes, or 2 * field bytes */
};

static void
report_rv(const char *call, CK_RV rv)
{
    fprintf(stderr, "sign_limit: %s failed: CKR 0x%lx\n", call,
            (unsigned long)rv);
}

static int
load_module(struct limit_signer *s, const char *path)
{
    CK_C_GetFunctionList get_list;
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    s->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (s->handle == NULL) {
        fprintf(stderr, "sign_limit: cannot load module %s: %s\n", path,
                dlerror());
        return -1;
    }
    get_list = (CK_C_GetFunctionList)dlsym(s->handle, "C_GetFunctionList");
    if (get_list == NULL || get_list(&s->fn) != CKR_OK) {
        fprintf(stderr, "sign_limit: %s has no usable C_GetFunctionList\n",
                path);
        return -1;
    }
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    rv = s->fn->C_Initialize(&args);
    if (rv != CKR_OK) {
        report_rv("C_Initialize", rv);
        return -1;
    }
    s->initialized = true;
    return 0;
}

/* Compares a space-padded CK_TOKEN_INFO label with a C string. */
static bool
label_matches(const CK_UTF8CHAR padded[32], const char *label)
{
    size_t len = strlen(label);

    if (len > 32 || memcmp(padded, label, len) != 0)
        return false;
    for (size_t i = len; i < 32; i++) {
        if (padded[i] != ' ')
            return false;
    }
    return true;
}

static int
find_token(struct limit_signer *s, const char *label)
{
    CK_SLOT_ID slots[64];
    CK_ULONG count = sizeof(slots) / sizeof(slots[0]);
    CK_TOKEN_INFO info;
    CK_RV rv;

    rv = s->fn->C_GetSlotList(CK_TRUE, slots, &count);
    if (rv != CKR_OK) {
        report_rv("C_GetSlotList", rv);
        return -1;
    }
    for (CK_ULONG i = 0; i < count; i++) {
        if (s->fn->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
            label_matches(info.label, label)) {
            s->slot = slots[i];
            return 0;
        }
    }
    fprintf(stderr, "sign_limit: no token labelled \"%s\"; check "
            "--token and SOFTHSM2_CONF\n", label);
    return -1;
}

static int
open_sessions(struct limit_signer *s, unsigned count)
{
    CK_RV rv;

    s->sessions = calloc(count, sizeof(*s->sessions));
    if (s->sessions == NULL)
        return -1;
    for (unsigned i = 0; i < count; i++) {
        rv = s->fn->C_OpenSession(s->slot, CKF_SERIAL_SESSION, NULL, NULL,
                                  &s->sessions[i]);
        if (rv != CKR_OK) {
            report_rv("C_OpenSession", rv);
            return -1;
        }
        s->session_count++;
    }
    return 0;
}

/* Logs the application in (one login serves every session) with the PIN
 * read from pin_file, which is wiped right after C_Login. */
static int
login(struct limit_signer *s, const char *pin_file)
{
    char *pin = secret_read_file(pin_file);
    CK_RV rv;

    if (pin == NULL) {
        fprintf(stderr, "sign_limit: cannot read PIN file %s (it must be "
                "a regular file of mode 0600)\n", pin_file);
        return -1;
    }
    rv = s->fn->C_Login(s->sessions[0], CKU_USER, (CK_UTF8CHAR *)pin,
                        strlen(pin));
    secret_free_string(pin);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        report_rv("C_Login", rv);
        return -1;
    }
    return 0;
}

static int
find_key(struct limit_signer *s, const char *label)
{
    CK_OBJECT_CLASS class = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE match[] = {
        {CKA_CLASS, &class, sizeof(class)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_SESSION_HANDLE session = s->sessions[0];
    CK_ULONG found = 0;
    CK_RV rv;

    rv = s->fn->C_FindObjectsInit(session, match, 2);
    if (rv != CKR_OK) {
        report_rv("C_FindObjectsInit", rv);
        return -1;
    }
    rv = s->fn->C_FindObjects(session, &s->key, 1, &found);
    s->fn->C_FindObjectsFinal(session);
    if (rv != CKR_OK || found != 1) {
        fprintf(stderr, "sign_limit: no private key labelled \"%s\" in the "
                "token; check --key\n", label);
        return -1;
    }
    return 0;
}

/* Reads the key type, and the size from a trial signature (the modulus
 * length, or r || s for EC), which also proves that the key signs. */
static int
read_key_info(struct limit_signer *s, struct limit_key_info *info)
{
    CK_ATTRIBUTE type_attr = {CKA_KEY_TYPE, &s->key_type,
                              sizeof(s->key_type)};
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    unsigned char digest[32] = {0}, sig[LIMIT_SIG_MAX];
    CK_ULONG sig_len = sizeof(sig);
    CK_SESSION_HANDLE session = s->sessions[0];
    CK_RV rv;

    rv = s->fn->C_GetAttributeValue(session, s->key, &type_attr, 1);
    if (rv != CKR_OK) {
        report_rv("C_GetAttributeValue(CKA_KEY_TYPE)", rv);
        return -1;
    }
    if (s->key_type == CKK_RSA) {
        mech.mechanism = CKM_RSA_PKCS;
    } else if (s->key_type != CKK_EC) {
        fprintf(stderr, "sign_limit: key type 0x%lx is neither RSA nor EC\n",
                (unsigned long)s->key_type);
        return -1;
    }
    rv = s->fn->C_SignInit(session, &mech, s->key);
    if (rv == CKR_OK)
        rv = s->fn->C_Sign(session, digest, sizeof(digest), sig, &sig_len);
    if (rv != CKR_OK) {
        report_rv("trial C_Sign", rv);
        return -1;
    }
    s->sig_len = sig_len;
    if (s->key_type == CKK_RSA)
        snprintf(info->spec, sizeof(info->spec), "rsa:%lu",
                 (unsigned long)sig_len * 8);
    else
        snprintf(info->spec, sizeof(info->spec), "ec:%lu",
                 (unsigned long)sig_len * 4);
    return 0;
}

static void
raw_close(struct limit_signer *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->session_count; i++)
        s->fn->C_CloseSession(s->sessions[i]);
    free(s->sessions);
    if (s->initialized)
        s->fn->C_Finalize(NULL);
    if (s->handle != NULL)
        dlclose(s->handle);
    free(s);
}

static int
raw_open(const struct limit_options *options, struct limit_signer **out,
         struct limit_key_info *info)
{
    struct limit_signer *s = calloc(1, sizeof(*s));
    int ret = -1;

    *out = NULL;
    if (s == NULL)
        goto out;
    if (load_module(s, options->module_path) != 0 ||
        find_token(s, options->token_label) != 0 ||
        open_sessions(s, options->threads) != 0 ||
        login(s, options->pin_file) != 0 ||
        find_key(s, options->key_label) != 0 ||
        read_key_info(s, info) != 0)
        goto out;
    *out = s;
    s = NULL;
    ret = 0;
out:
    raw_close(s);
    return ret;
}

/* Hashes msg with SHA-256 and signs it with one C_SignInit and C_Sign:
 * CKM_RSA_PKCS over the DigestInfo, or CKM_ECDSA over the digest. */
static int
raw_sign(struct limit_signer *s, unsigned thread, const unsigned char *msg,
         size_t msg_len)
{
    unsigned char input[sizeof(sha256_prefix) + 32], sig[LIMIT_SIG_MAX];
    unsigned char *digest = input + sizeof(sha256_prefix);
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    CK_SESSION_HANDLE session = s->sessions[thread];
    CK_ULONG sig_len = sizeof(sig);
    CK_BYTE *in = digest;
    CK_ULONG in_len = 32;
    CK_RV rv;

    if (EVP_Digest(msg, msg_len, digest, NULL, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "sign_limit: SHA-256 failed\n");
        return -1;
    }
    if (s->key_type == CKK_RSA) {
        memcpy(input, sha256_prefix, sizeof(sha256_prefix));
        mech.mechanism = CKM_RSA_PKCS;
        in = input;
        in_len = sizeof(input);
    }
    rv = s->fn->C_SignInit(session, &mech, s->key);
    if (rv == CKR_OK)
        rv = s->fn->C_Sign(session, in, in_len, sig, &sig_len);
    if (rv != CKR_OK) {
        report_rv("C_Sign", rv);
        return -1;
    }
    if (sig_len != s->sig_len) {
        fprintf(stderr, "sign_limit: C_Sign returned %lu bytes, expected "
                "%zu\n", (unsigned long)sig_len, s->sig_len);
        return -1;
    }
    return 0;
}

const struct limit_signer_ops limit_signer_raw = {
    "raw", false, raw_open, raw_sign, raw_close,
};
