/*
 * Tests of the HAL and its PKCS#11 driver against real SoftHSM2 tokens in
 * a temporary token directory: token initialisation, login, key
 * generation and its attributes (read back with this file's own PKCS#11
 * calls), the three signature schemes verified by OpenSSL, routing by a
 * policy set, concurrent signing and recovery of a lost session pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <ftw.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/secret.h"
#include "hal/hal-internal.h"
#include "hal/hal.h"
#include "hal/pkcs11_errors.h"
#include "hal/policy.h"

#define MODULE_PATH "/usr/lib/softhsm/libsofthsm2.so"
/* The file MODULE_PATH links to: another path, so another module entry
 * of the HAL, whose C_Initialize finds the library initialised. */
#define MODULE_ALIAS "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"
#define SO_PIN "so-5678"
#define USER_PIN "user-1234"
#define SIGN_THREADS 4
#define SIGNS_PER_THREAD 20

static const unsigned char message[] = "hello from the HAL tests";

/* Everything the tests share; made once by group_setup. */
struct fixture {
    char dir[64];
    char pin_file[128];
    struct hal *hal;
    struct hal_hsm *hsm_a;   /* token "tok-a", with the signing keys */
    struct hal_hsm *hsm_b;   /* "tok-b" via MODULE_ALIAS, 2 sessions,
                              * serialised calls */
    struct hal_hsm *hsm_c;   /* token "tok-c", for the wrong PIN */
    struct hal_hsm *hsm_d;   /* token "tok-d", never initialised: down */
    struct hal_key *rsa;     /* RSA-2048 on hsm_a */
    struct hal_key *ec;      /* P-256 on hsm_a */
    struct hal_key *ec_b;    /* P-256 on hsm_b */
    CK_FUNCTION_LIST *fn;    /* this file's own view of the module */
    void *module;
    unsigned long load_error; /* OpenSSL's queue after the first load */
};

static struct fixture fx;

static int
remove_entry(const char *path, const struct stat *st, int flag,
             struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
config_fill(struct hal_hsm_config *cfg, const char *name, const char *label,
            const char *module_path, unsigned sessions, bool serialize)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->name, sizeof(cfg->name), "%s", name);
    snprintf(cfg->module_path, sizeof(cfg->module_path), "%s", module_path);
    snprintf(cfg->token_label, sizeof(cfg->token_label), "%s", label);
    snprintf(cfg->pin_file, sizeof(cfg->pin_file), "%s", fx.pin_file);
    cfg->sessions = sessions;
    cfg->serialize = serialize;
}

static int
write_softhsm_config(void)
{
    char path[128], tokens[128];
    FILE *file;

    snprintf(tokens, sizeof(tokens), "%s/tokens", fx.dir);
    if (mkdir(tokens, 0700) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/softhsm2.conf", fx.dir);
    file = fopen(path, "w");
    if (file == NULL)
        return -1;
    fprintf(file, "directories.tokendir = %s\nobjectstore.backend = file\n"
            "log.level = ERROR\nslots.removable = false\n", tokens);
    fclose(file);
    return setenv("SOFTHSM2_CONF", path, 1);
}

static struct hal_hsm *
add_hsm(const char *name, const char *label, const char *module_path,
        unsigned sessions, bool serialize)
{
    struct hal_hsm_config cfg;
    struct adcp_error err;

    config_fill(&cfg, name, label, module_path, sessions, serialize);
    if (hal_add_hsm(fx.hal, &cfg, &err) != ADCP_OK) {
        print_error("hal_add_hsm(%s): %s\n", name, err.message);
        return NULL;
    }
    return hal_hsm_find(fx.hal, name);
}

static int
init_token(struct hal_hsm *hsm)
{
    struct adcp_error err;

    if (hal_token_init(hsm, SO_PIN, USER_PIN, &err) != ADCP_OK) {
        print_error("hal_token_init(%s): %s\n", hal_hsm_name(hsm),
                    err.message);
        return -1;
    }
    return 0;
}

static struct hal_key *
generate(struct hal_hsm *hsm, enum hal_key_type type, unsigned bits,
         const char *label)
{
    struct hal_keygen spec;
    struct adcp_error err;
    struct hal_key *key = NULL;

    memset(&spec, 0, sizeof(spec));
    spec.type = type;
    spec.bits = bits;
    snprintf(spec.label, sizeof(spec.label), "%s", label);
    if (hal_key_generate(hsm, &spec, &key, &err) != ADCP_OK)
        print_error("hal_key_generate(%s): %s\n", label, err.message);
    return key;
}

/* The module as a second user of it would see it: the process already
 * initialised it through the HAL, so C_Initialize is not called. */
static int
open_own_view(void)
{
    CK_C_GetFunctionList get_function_list;

    fx.module = dlopen(MODULE_PATH, RTLD_NOW | RTLD_LOCAL);
    if (fx.module == NULL)
        return -1;
    *(void **)&get_function_list = dlsym(fx.module, "C_GetFunctionList");
    if (get_function_list == NULL || get_function_list(&fx.fn) != CKR_OK)
        return -1;
    return 0;
}

static int
group_setup(void **state)
{
    struct adcp_error err;

    (void)state;
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/test-hal-XXXXXX");
    if (mkdtemp(fx.dir) == NULL || write_softhsm_config() != 0)
        return -1;
    snprintf(fx.pin_file, sizeof(fx.pin_file), "%s/user.pin", fx.dir);
    if (secret_write_file(fx.pin_file, USER_PIN) != 0)
        return -1;
    if (hal_new(&fx.hal, &err) != ADCP_OK) {
        print_error("hal_new: %s\n", err.message);
        return -1;
    }
    ERR_clear_error();
    fx.hsm_a = add_hsm("hsm-a", "tok-a", MODULE_PATH, 0, false);
    fx.load_error = ERR_peek_error();
    fx.hsm_b = add_hsm("hsm-b", "tok-b", MODULE_ALIAS, 2, true);
    fx.hsm_c = add_hsm("hsm-c", "tok-c", MODULE_PATH, 0, false);
    fx.hsm_d = add_hsm("hsm-d", "tok-d", MODULE_PATH, 0, false);
    if (fx.hsm_a == NULL || fx.hsm_b == NULL || fx.hsm_c == NULL ||
        fx.hsm_d == NULL)
        return -1;
    if (init_token(fx.hsm_a) != 0 || init_token(fx.hsm_b) != 0 ||
        init_token(fx.hsm_c) != 0)
        return -1;
    fx.rsa = generate(fx.hsm_a, HAL_KEY_RSA, 2048, "rsa-key");
    fx.ec = generate(fx.hsm_a, HAL_KEY_EC, 256, "ec-key");
    fx.ec_b = generate(fx.hsm_b, HAL_KEY_EC, 256, "ec-key-b");
    if (fx.rsa == NULL || fx.ec == NULL || fx.ec_b == NULL)
        return -1;
    return open_own_view();
}

static int
group_teardown(void **state)
{
    (void)state;
    hal_key_unref(fx.rsa);
    hal_key_unref(fx.ec);
    hal_key_unref(fx.ec_b);
    hal_free(fx.hal);
    if (fx.module != NULL)
        dlclose(fx.module);
    if (fx.dir[0] != '\0')
        nftw(fx.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* Returns the slot of the token labelled label, or fails the test. */
static CK_SLOT_ID
slot_of(const char *label)
{
    unsigned char padded[32];
    CK_SLOT_ID slots[16];
    CK_ULONG count = 16;
    CK_TOKEN_INFO info;
    size_t len = strlen(label);

    memset(padded, ' ', sizeof(padded));
    memcpy(padded, label, len);
    assert_int_equal(fx.fn->C_GetSlotList(CK_TRUE, slots, &count), CKR_OK);
    for (CK_ULONG i = 0; i < count; i++) {
        assert_int_equal(fx.fn->C_GetTokenInfo(slots[i], &info), CKR_OK);
        if (memcmp(info.label, padded, sizeof(padded)) == 0)
            return slots[i];
    }
    fail_msg("no token labelled %s", label);
    return 0;
}

static CK_SESSION_HANDLE
own_session(const char *label)
{
    CK_SESSION_HANDLE session;
    CK_RV rv;

    assert_int_equal(fx.fn->C_OpenSession(slot_of(label), CKF_SERIAL_SESSION,
                                          NULL, NULL, &session),
                     CKR_OK);
    /* Login is per application and token: the HAL holds it already. */
    rv = fx.fn->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN,
                        strlen(USER_PIN));
    assert_true(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
    return session;
}

static CK_OBJECT_HANDLE
own_find(CK_SESSION_HANDLE session, CK_OBJECT_CLASS object_class,
         const char *label)
{
    CK_ATTRIBUTE template[] = {
        {CKA_CLASS, &object_class, sizeof(object_class)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_OBJECT_HANDLE objects[2];
    CK_ULONG count = 0;

    assert_int_equal(fx.fn->C_FindObjectsInit(session, template, 2), CKR_OK);
    assert_int_equal(fx.fn->C_FindObjects(session, objects, 2, &count),
                     CKR_OK);
    assert_int_equal(fx.fn->C_FindObjectsFinal(session), CKR_OK);
    assert_int_equal(count, 1);
    return objects[0];
}

static CK_BBOOL
own_bool(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
         CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL value = 2;
    CK_ATTRIBUTE attr = {type, &value, sizeof(value)};

    assert_int_equal(fx.fn->C_GetAttributeValue(session, object, &attr, 1),
                     CKR_OK);
    return value;
}

static CK_RV
own_read(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
         CK_ATTRIBUTE_TYPE type, unsigned char *buf, CK_ULONG *len)
{
    CK_ATTRIBUTE attr = {type, buf, *len};
    CK_RV rv = fx.fn->C_GetAttributeValue(session, object, &attr, 1);

    *len = attr.ulValueLen;
    return rv;
}

static void
test_rv_names_and_sentences(void **state)
{
    (void)state;
    assert_string_equal(pkcs11_rv_name(CKR_PIN_INCORRECT),
                        "CKR_PIN_INCORRECT");
    assert_string_equal(pkcs11_rv_sentence(CKR_PIN_INCORRECT),
                        "the PIN is wrong");
    assert_string_equal(pkcs11_rv_name(0x7777), "CKR_0x00007777");
    assert_true(pkcs11_rv_is_device_down(CKR_DEVICE_REMOVED));
    assert_true(pkcs11_rv_is_device_down(CKR_SESSION_HANDLE_INVALID));
    assert_false(pkcs11_rv_is_device_down(CKR_PIN_INCORRECT));
}

static void
test_token_init_on_empty_tokendir(void **state)
{
    CK_TOKEN_INFO info;

    (void)state;
    assert_true(hal_hsm_is_up(fx.hsm_a));
    assert_true(hal_hsm_is_up(fx.hsm_b));
    assert_int_equal(fx.fn->C_GetTokenInfo(slot_of("tok-a"), &info), CKR_OK);
    assert_true(info.flags & CKF_TOKEN_INITIALIZED);
    assert_true(info.flags & CKF_USER_PIN_INITIALIZED);
    assert_true(slot_of("tok-a") != slot_of("tok-b"));
}

static void
test_hsms_share_one_module(void **state)
{
    (void)state;
    assert_int_equal(hal_hsm_count(fx.hal), 4);
    assert_int_equal(fx.hal->module_count, 2);
    assert_ptr_equal(fx.hsm_a->module, fx.hsm_c->module);
    assert_ptr_equal(fx.hsm_a->module, fx.hsm_d->module);
    assert_ptr_not_equal(fx.hsm_a->module, fx.hsm_b->module);
    /* Only the first C_Initialize of the library was the HAL's own. */
    assert_true(fx.hsm_a->module->finalize);
    assert_false(fx.hsm_b->module->finalize);
    assert_string_equal(hal_hsm_module_path(fx.hsm_b), MODULE_ALIAS);
    assert_string_equal(hal_hsm_token_label(fx.hsm_b), "tok-b");
    assert_false(fx.hsm_a->cfg.serialize);
    assert_null(fx.hsm_a->pool.call_lock);
    assert_ptr_equal(fx.hsm_b->pool.call_lock, &fx.hsm_b->module->call_lock);
}

/* SoftHSM2's C_Initialize queues OpenSSL errors of its own, which must
 * not show up in the next log line about an OpenSSL call of ours. */
static void
test_module_load_clears_openssl_errors(void **state)
{
    char text[256];

    (void)state;
    ERR_error_string_n(fx.load_error, text, sizeof(text));
    assert_string_equal(fx.load_error == 0 ? "" : text, "");
}

static void
test_uninitialised_token_is_down(void **state)
{
    struct hal_key *key = NULL;
    struct adcp_error err;

    (void)state;
    assert_false(hal_hsm_is_up(fx.hsm_d));
    assert_int_equal(hal_key_find(fx.hsm_d, "rsa-key", &key, &err),
                     ADCP_ERR_HSM);
    assert_null(key);
    assert_non_null(strstr(err.message, "hsm-d"));
}

static void
test_private_key_attributes(void **state)
{
    CK_SESSION_HANDLE session = own_session("tok-a");
    unsigned char buf[512];
    CK_ULONG len = sizeof(buf);
    CK_OBJECT_HANDLE rsa, ec;

    (void)state;
    rsa = own_find(session, CKO_PRIVATE_KEY, "rsa-key");
    assert_int_equal(own_bool(session, rsa, CKA_SENSITIVE), CK_TRUE);
    assert_int_equal(own_bool(session, rsa, CKA_EXTRACTABLE), CK_FALSE);
    assert_int_equal(own_bool(session, rsa, CKA_NEVER_EXTRACTABLE), CK_TRUE);
    assert_int_equal(own_bool(session, rsa, CKA_TOKEN), CK_TRUE);
    assert_int_equal(own_bool(session, rsa, CKA_PRIVATE), CK_TRUE);
    assert_int_equal(own_bool(session, rsa, CKA_SIGN), CK_TRUE);
    assert_int_equal(own_bool(session, rsa, CKA_DECRYPT), CK_TRUE);
    assert_int_equal(own_read(session, rsa, CKA_PRIVATE_EXPONENT, buf, &len),
                     CKR_ATTRIBUTE_SENSITIVE);

    ec = own_find(session, CKO_PRIVATE_KEY, "ec-key");
    assert_int_equal(own_bool(session, ec, CKA_SENSITIVE), CK_TRUE);
    assert_int_equal(own_bool(session, ec, CKA_EXTRACTABLE), CK_FALSE);
    assert_int_equal(own_bool(session, ec, CKA_NEVER_EXTRACTABLE), CK_TRUE);
    len = sizeof(buf);
    assert_int_equal(own_read(session, ec, CKA_VALUE, buf, &len),
                     CKR_ATTRIBUTE_SENSITIVE);
    fx.fn->C_CloseSession(session);
}

/* The CKA_ID of both halves is the SHA-1 of the subjectPublicKey. */
static void
test_key_id_derived_from_public_key(void **state)
{
    CK_SESSION_HANDLE session = own_session("tok-a");
    unsigned char id[64], public_id[64], expected[20], *der = NULL;
    CK_ULONG len = sizeof(id), public_len = sizeof(public_id);
    EVP_PKEY *pub = hal_key_public(fx.rsa);
    unsigned int digest_len = 0;
    int der_len;

    (void)state;
    assert_non_null(pub);
    der_len = i2d_PublicKey(pub, &der);
    assert_true(der_len > 0);
    assert_int_equal(EVP_Digest(der, (size_t)der_len, expected, &digest_len,
                                EVP_sha1(), NULL),
                     1);
    assert_int_equal(own_read(session,
                              own_find(session, CKO_PRIVATE_KEY, "rsa-key"),
                              CKA_ID, id, &len),
                     CKR_OK);
    assert_int_equal(own_read(session,
                              own_find(session, CKO_PUBLIC_KEY, "rsa-key"),
                              CKA_ID, public_id, &public_len),
                     CKR_OK);
    assert_int_equal(len, 20);
    assert_memory_equal(id, expected, 20);
    assert_int_equal(public_len, 20);
    assert_memory_equal(public_id, expected, 20);
    OPENSSL_free(der);
    EVP_PKEY_free(pub);
    fx.fn->C_CloseSession(session);
}

static void
test_key_find_by_label(void **state)
{
    struct hal_key *key = NULL;
    struct adcp_error err;
    EVP_PKEY *found_pub, *generated_pub;

    (void)state;
    assert_int_equal(hal_key_find(fx.hsm_a, "rsa-key", &key, &err), ADCP_OK);
    assert_int_equal(hal_key_type(key), HAL_KEY_RSA);
    assert_int_equal(hal_key_bits(key), 2048);
    assert_string_equal(hal_key_label(key), "rsa-key");
    assert_ptr_equal(hal_key_hsm(key), fx.hsm_a);
    found_pub = hal_key_public(key);
    generated_pub = hal_key_public(fx.rsa);
    assert_non_null(found_pub);
    assert_int_equal(EVP_PKEY_eq(found_pub, generated_pub), 1);
    EVP_PKEY_free(found_pub);
    EVP_PKEY_free(generated_pub);
    hal_key_unref(key);

    assert_int_equal(hal_key_find(fx.hsm_a, "ec-key", &key, &err), ADCP_OK);
    assert_int_equal(hal_key_type(key), HAL_KEY_EC);
    assert_int_equal(hal_key_bits(key), 256);
    hal_key_unref(key);
}

static void
test_unknown_label_not_found(void **state)
{
    struct hal_key *key = NULL;
    struct adcp_error err;

    (void)state;
    assert_int_equal(hal_key_find(fx.hsm_a, "no-such-key", &key, &err),
                     ADCP_ERR_NOT_FOUND);
    assert_null(key);
    assert_non_null(strstr(err.message, "no-such-key"));
    assert_false(hal_hsm_has_key(fx.hsm_a, "no-such-key"));
    assert_true(hal_hsm_has_key(fx.hsm_a, "rsa-key"));
    assert_false(hal_hsm_has_key(fx.hsm_b, "rsa-key"));
}

static void
test_duplicate_label_conflict(void **state)
{
    struct hal_keygen spec;
    struct hal_key *key = NULL;
    struct adcp_error err;

    (void)state;
    memset(&spec, 0, sizeof(spec));
    spec.type = HAL_KEY_EC;
    spec.bits = 384;
    snprintf(spec.label, sizeof(spec.label), "rsa-key");
    assert_int_equal(hal_key_generate(fx.hsm_a, &spec, &key, &err),
                     ADCP_ERR_CONFLICT);
    assert_null(key);
    assert_string_equal(err.field, "key_info.label");
}

static void
test_invalid_key_sizes_rejected(void **state)
{
    static const struct {
        enum hal_key_type type;
        unsigned bits;
    } cases[] = {
        {HAL_KEY_RSA, 1024}, {HAL_KEY_RSA, 16384}, {HAL_KEY_EC, 255},
        {HAL_KEY_AES, 64},
    };
    struct hal_keygen spec;
    struct hal_key *key = NULL;
    struct adcp_error err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&spec, 0, sizeof(spec));
        spec.type = cases[i].type;
        spec.bits = cases[i].bits;
        snprintf(spec.label, sizeof(spec.label), "bad-%zu", i);
        assert_int_equal(hal_key_generate(fx.hsm_a, &spec, &key, &err),
                         ADCP_ERR_INVALID_FIELD);
        assert_null(key);
    }
}

static void
test_aes_and_p384_generation(void **state)
{
    CK_SESSION_HANDLE session;
    struct hal_key *aes = generate(fx.hsm_b, HAL_KEY_AES, 256, "aes-key");
    struct hal_key *p384 = generate(fx.hsm_b, HAL_KEY_EC, 384, "p384-key");
    struct hal_key *found = NULL;
    struct adcp_error err;
    unsigned char buf[64];
    CK_ULONG len = sizeof(buf);
    CK_OBJECT_HANDLE object;

    (void)state;
    assert_non_null(aes);
    assert_non_null(p384);
    assert_null(hal_key_public(aes));
    assert_int_equal(hal_key_find(fx.hsm_b, "aes-key", &found, &err),
                     ADCP_OK);
    assert_int_equal(hal_key_type(found), HAL_KEY_AES);
    assert_int_equal(hal_key_bits(found), 256);
    session = own_session("tok-b");
    object = own_find(session, CKO_SECRET_KEY, "aes-key");
    assert_int_equal(own_bool(session, object, CKA_EXTRACTABLE), CK_FALSE);
    assert_int_equal(own_read(session, object, CKA_VALUE, buf, &len),
                     CKR_ATTRIBUTE_SENSITIVE);
    fx.fn->C_CloseSession(session);
    hal_key_unref(found);
    hal_key_unref(aes);
    hal_key_unref(p384);
}

static void
digest_of(const EVP_MD *md, unsigned char *digest, size_t *len)
{
    unsigned int out_len = 0;

    assert_int_equal(EVP_Digest(message, sizeof(message), digest, &out_len,
                                md, NULL),
                     1);
    *len = out_len;
}

/* Verifies sig over the message with OpenSSL's own digest and padding,
 * independently of the digest the HAL was given. Returns 1 or 0. */
static int
verify(struct hal_key *key, int padding, const EVP_MD *md,
       const unsigned char *sig, size_t sig_len)
{
    EVP_PKEY *pub = hal_key_public(key);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int rc;

    assert_non_null(pub);
    assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pub), 1);
    if (padding != 0) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, padding), 1);
    }
    if (padding == RSA_PKCS1_PSS_PADDING) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(
                             pctx, RSA_PSS_SALTLEN_DIGEST),
                         1);
    }
    rc = EVP_DigestVerify(ctx, sig, sig_len, message, sizeof(message));
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    return rc == 1;
}

static void
sign_and_verify(struct hal_key *key, enum hal_sign_scheme scheme,
                const EVP_MD *md, int padding)
{
    unsigned char digest[64], sig[512];
    size_t digest_len = 0, sig_len = sizeof(sig);
    struct adcp_error err;

    digest_of(md, digest, &digest_len);
    if (hal_key_sign(key, scheme, md, digest, digest_len, sig, &sig_len,
                     &err) != ADCP_OK)
        fail_msg("hal_key_sign: %s", err.message);
    assert_int_equal(verify(key, padding, md, sig, sig_len), 1);
    /* The check can fail: a changed byte must not verify. */
    sig[sig_len / 2] ^= 0x01;
    assert_int_equal(verify(key, padding, md, sig, sig_len), 0);
}

static void
test_sign_rsa_pkcs1(void **state)
{
    (void)state;
    sign_and_verify(fx.rsa, HAL_SIGN_RSA_PKCS1, EVP_sha256(),
                    RSA_PKCS1_PADDING);
    sign_and_verify(fx.rsa, HAL_SIGN_RSA_PKCS1, EVP_sha384(),
                    RSA_PKCS1_PADDING);
    sign_and_verify(fx.rsa, HAL_SIGN_RSA_PKCS1, EVP_sha512(),
                    RSA_PKCS1_PADDING);
}

static void
test_sign_rsa_pss(void **state)
{
    (void)state;
    sign_and_verify(fx.rsa, HAL_SIGN_RSA_PSS, EVP_sha256(),
                    RSA_PKCS1_PSS_PADDING);
    sign_and_verify(fx.rsa, HAL_SIGN_RSA_PSS, EVP_sha512(),
                    RSA_PKCS1_PSS_PADDING);
}

static void
test_sign_ecdsa(void **state)
{
    (void)state;
    sign_and_verify(fx.ec, HAL_SIGN_ECDSA, EVP_sha256(), 0);
    sign_and_verify(fx.ec, HAL_SIGN_ECDSA, EVP_sha384(), 0);
}

static void
test_sign_rejects_bad_input(void **state)
{
    unsigned char digest[32] = {0}, sig[512];
    size_t sig_len = 16;
    struct adcp_error err;

    (void)state;
    assert_int_equal(hal_key_sign(fx.rsa, HAL_SIGN_RSA_PKCS1, EVP_sha256(),
                                  digest, 32, sig, &sig_len, &err),
                     ADCP_ERR_INVALID_FIELD);
    assert_int_equal(sig_len, 256);
    sig_len = sizeof(sig);
    assert_int_equal(hal_key_sign(fx.rsa, HAL_SIGN_RSA_PKCS1, EVP_sha384(),
                                  digest, 32, sig, &sig_len, &err),
                     ADCP_ERR_INVALID_FIELD);
    assert_int_equal(hal_key_sign(fx.rsa, HAL_SIGN_ECDSA, NULL, digest, 32,
                                  sig, &sig_len, &err),
                     ADCP_ERR_INVALID_FIELD);
    assert_int_equal(hal_key_sign(fx.ec, HAL_SIGN_RSA_PSS, EVP_sha256(),
                                  digest, 32, sig, &sig_len, &err),
                     ADCP_ERR_INVALID_FIELD);
}

static void
test_wrong_pin_clear_error(void **state)
{
    struct adcp_error err;

    (void)state;
    assert_int_equal(hal_hsm_login(fx.hsm_c, "not-the-pin", &err),
                     ADCP_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(err.message, "CKR_PIN_INCORRECT"));
    assert_non_null(strstr(err.message, "hsm-c"));
    assert_string_equal(err.field, "user_pin");
    assert_false(hal_hsm_is_up(fx.hsm_c));
    assert_int_equal(hal_hsm_login(fx.hsm_c, USER_PIN, &err), ADCP_OK);
    assert_true(hal_hsm_is_up(fx.hsm_c));
}

/* A wrong SO PIN leaves the token as it was, logged in and keeping its
 * keys. */
static void
test_token_init_wrong_so_pin(void **state)
{
    struct adcp_error err;

    (void)state;
    assert_int_equal(hal_token_init(fx.hsm_a, "not-the-so-pin", USER_PIN,
                                    &err),
                     ADCP_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(err.message, "C_InitToken"));
    assert_non_null(strstr(err.message, "CKR_PIN_INCORRECT"));
    assert_string_equal(err.field, "admin_pin");
    assert_true(hal_hsm_is_up(fx.hsm_a));
    assert_true(hal_hsm_has_key(fx.hsm_a, "rsa-key"));
    sign_and_verify(fx.rsa, HAL_SIGN_RSA_PKCS1, EVP_sha256(),
                    RSA_PKCS1_PADDING);
}

static struct policy_set *
policy_from(const char *text)
{
    json_error_t json_err;
    json_t *json = json_loads(text, 0, &json_err);
    struct policy_set *set = NULL;
    struct adcp_error err;

    assert_non_null(json);
    if (policy_set_parse(json, &set, &err) != ADCP_OK)
        fail_msg("policy_set_parse: %s", err.message);
    json_decref(json);
    return set;
}

static const char *
route(const struct policy_request *request, const char *key_label,
      enum adcp_status expected)
{
    struct adcp_header header;
    struct hal_hsm *hsm = NULL;
    struct adcp_error err;
    enum adcp_status status;

    memset(&header, 0, sizeof(header));
    status = hal_route(fx.hal, request, key_label, &header, &hsm, &err);
    if (status != expected)
        fail_msg("hal_route returned %d: %s", status, err.message);
    if (status != ADCP_OK) {
        assert_null(hsm);
        return NULL;
    }
    assert_string_equal(header.dest_hsm_name, hal_hsm_name(hsm));
    assert_string_equal(header.dest_hsm_module, hal_hsm_module_path(hsm));
    return hal_hsm_name(hsm);
}

static void
test_route_by_policy_set(void **state)
{
    struct policy_request keygen = {ADCP_TYPE_KEYPAIRGEN, "rsa", "sha256"};
    struct policy_request sign = {ADCP_TYPE_CERTIFICATE_GEN, "rsa",
                                  "sha256"};
    struct policy_request weak = {ADCP_TYPE_CERTIFICATE_GEN, "rsa", "sha1"};
    const char *first, *second;

    (void)state;
    hal_set_policy(fx.hal, policy_from(
        "[{\"hsm\": \"hsm-a\", \"capabilities\": [\"keypairgen\","
        "  \"certificate_gen\"], \"algorithms\": [\"rsa\", \"ecc\"],"
        "  \"hash_funcs\": [\"sha256\", \"sha1\"]},"
        " {\"hsm\": \"hsm-b\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": [\"sha256\"]},"
        " {\"hsm\": \"hsm-d\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": [\"sha256\"]}]"));

    /* hsm-a and hsm-b qualify (hsm-c has no entry, hsm-d is down), so
     * round robin alternates. */
    first = route(&keygen, NULL, ADCP_OK);
    second = route(&keygen, NULL, ADCP_OK);
    assert_true(strcmp(first, "hsm-a") == 0 || strcmp(first, "hsm-b") == 0);
    assert_true(strcmp(second, "hsm-a") == 0 ||
                strcmp(second, "hsm-b") == 0);
    assert_string_not_equal(first, second);

    /* Only hsm-a may sign certificates, and it holds the key. */
    assert_string_equal(route(&sign, "rsa-key", ADCP_OK), "hsm-a");
    /* hsm-b holds ec-key-b but may not sign certificates. */
    route(&sign, "ec-key-b", ADCP_ERR_NO_HSM);
    route(&weak, "rsa-key", ADCP_ERR_WEAK_ALGORITHM);

    /* A fixed high load on hsm-a sends key generation to hsm-b. */
    hal_set_policy(fx.hal, policy_from(
        "[{\"hsm\": \"hsm-a\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": [\"sha256\"],"
        "  \"utilization\": [\"high\"]},"
        " {\"hsm\": \"hsm-b\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": [\"sha256\"]}]"));
    for (int i = 0; i < 3; i++)
        assert_string_equal(route(&keygen, NULL, ADCP_OK), "hsm-b");

    /* Without a policy set every HSM that is up qualifies, and weak
     * hashes are still rejected. */
    hal_set_policy(fx.hal, NULL);
    assert_string_not_equal(route(&keygen, NULL, ADCP_OK), "hsm-d");
    assert_string_equal(route(&sign, "ec-key-b", ADCP_OK), "hsm-b");
    route(&weak, "rsa-key", ADCP_ERR_WEAK_ALGORITHM);
}

struct sign_worker {
    struct hal_key *key;
    int verified;
};

static void *
sign_worker_run(void *arg)
{
    struct sign_worker *worker = arg;
    unsigned char digest[32], sig[256];
    size_t digest_len = 0, sig_len;
    struct adcp_error err;
    unsigned int out_len;

    EVP_Digest(message, sizeof(message), digest, &out_len, EVP_sha256(),
               NULL);
    digest_len = out_len;
    for (int i = 0; i < SIGNS_PER_THREAD; i++) {
        sig_len = sizeof(sig);
        if (hal_key_sign(worker->key, HAL_SIGN_ECDSA, EVP_sha256(), digest,
                         digest_len, sig, &sig_len, &err) != ADCP_OK)
            break;
        worker->verified += verify(worker->key, 0, EVP_sha256(), sig,
                                   sig_len);
    }
    return NULL;
}

/* Four threads on hsm-a (four sessions) and on hsm-b (two sessions and
 * serialised calls, so threads wait for each other). */
static void
test_sign_from_four_threads(void **state)
{
    struct hal_key *keys[2] = {fx.ec, fx.ec_b};
    struct sign_worker workers[SIGN_THREADS];
    pthread_t threads[SIGN_THREADS];

    (void)state;
    for (size_t k = 0; k < 2; k++) {
        for (int i = 0; i < SIGN_THREADS; i++) {
            workers[i].key = keys[k];
            workers[i].verified = 0;
            assert_int_equal(pthread_create(&threads[i], NULL,
                                            sign_worker_run, &workers[i]),
                             0);
        }
        for (int i = 0; i < SIGN_THREADS; i++) {
            pthread_join(threads[i], NULL);
            assert_int_equal(workers[i].verified, SIGNS_PER_THREAD);
        }
        assert_int_equal(atomic_load(&keys[k]->hsm->in_flight), 0);
        assert_true(keys[k]->hsm->pool.opened <=
                    keys[k]->hsm->pool.capacity);
    }
    assert_int_equal(fx.hsm_b->pool.capacity, 2);
}

/* Closing every session behind the HAL's back logs the token out and
 * invalidates the pool: the next signature must recover with the PIN
 * file and succeed. */
static void
test_recovery_after_sessions_lost(void **state)
{
    unsigned generation = atomic_load(&fx.hsm_a->generation);

    (void)state;
    assert_int_equal(fx.fn->C_CloseAllSessions(slot_of("tok-a")), CKR_OK);
    sign_and_verify(fx.rsa, HAL_SIGN_RSA_PKCS1, EVP_sha256(),
                    RSA_PKCS1_PADDING);
    assert_true(hal_hsm_is_up(fx.hsm_a));
    assert_true(atomic_load(&fx.hsm_a->generation) > generation);
}

/* Recovery reads the PIN file when it needs it, so a file that group or
 * others may read stops it with an error that names the file. */
static void
test_recovery_rejects_open_pin_file(void **state)
{
    struct hal_key *key = NULL;
    struct adcp_error err;

    (void)state;
    /* Leave an idle session in the pool, which the next call reuses. */
    assert_true(hal_hsm_has_key(fx.hsm_c, "absent") == false);
    assert_int_equal(chmod(fx.pin_file, 0644), 0);
    assert_int_equal(fx.fn->C_CloseAllSessions(slot_of("tok-c")), CKR_OK);
    assert_int_equal(hal_key_find(fx.hsm_c, "absent", &key, &err),
                     ADCP_ERR_HSM);
    assert_null(key);
    assert_non_null(strstr(err.message, fx.pin_file));
    assert_non_null(strstr(err.message, "group or others"));
    assert_false(hal_hsm_is_up(fx.hsm_c));
    assert_int_equal(chmod(fx.pin_file, 0600), 0);
    assert_int_equal(hal_hsm_login(fx.hsm_c, USER_PIN, &err), ADCP_OK);
    assert_int_equal(hal_key_find(fx.hsm_c, "absent", &key, &err),
                     ADCP_ERR_NOT_FOUND);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rv_names_and_sentences),
        cmocka_unit_test(test_token_init_on_empty_tokendir),
        cmocka_unit_test(test_hsms_share_one_module),
        cmocka_unit_test(test_module_load_clears_openssl_errors),
        cmocka_unit_test(test_uninitialised_token_is_down),
        cmocka_unit_test(test_private_key_attributes),
        cmocka_unit_test(test_key_id_derived_from_public_key),
        cmocka_unit_test(test_key_find_by_label),
        cmocka_unit_test(test_unknown_label_not_found),
        cmocka_unit_test(test_duplicate_label_conflict),
        cmocka_unit_test(test_invalid_key_sizes_rejected),
        cmocka_unit_test(test_aes_and_p384_generation),
        cmocka_unit_test(test_sign_rsa_pkcs1),
        cmocka_unit_test(test_sign_rsa_pss),
        cmocka_unit_test(test_sign_ecdsa),
        cmocka_unit_test(test_sign_rejects_bad_input),
        cmocka_unit_test(test_wrong_pin_clear_error),
        cmocka_unit_test(test_token_init_wrong_so_pin),
        cmocka_unit_test(test_route_by_policy_set),
        cmocka_unit_test(test_sign_from_four_threads),
        cmocka_unit_test(test_recovery_after_sessions_lost),
        cmocka_unit_test(test_recovery_rejects_open_pin_file),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
