/*
 * Tests of the hsm4ssl OpenSSL provider against a real SoftHSM2 token in a
 * temporary directory. The keys are generated in the token through the HAL
 * and used through hal_key_evp. Every signature is checked with the key's
 * public half in OpenSSL's default provider.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hal/hal.h"

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN_LABEL "provider-test"
#define SO_PIN "5678"
#define USER_PIN "1234"
#define TLS_HOST "hsm.test"

/* Checks an OpenSSL call that returns 1 on success, and prints the
 * OpenSSL error queue when it did not. */
#define assert_ossl(call)                                                    \
    do {                                                                     \
        if ((call) != 1) {                                                   \
            char errors_[1024];                                              \
            fail_msg("%s failed: %s", #call,                                 \
                     drain_errors(errors_, sizeof(errors_)));                \
        }                                                                    \
    } while (0)

/* One key generated in the token, with its two EVP_PKEY forms. */
struct test_key {
    const char *label;
    enum hal_key_type type;
    unsigned bits;
    struct hal_key *key;
    EVP_PKEY *evp;    /* from hal_key_evp: signs in the HSM */
    EVP_PKEY *pub;    /* from hal_key_public: default provider */
};

struct fixture {
    char dir[PATH_MAX];
    struct hal *hal;
    struct test_key keys[4];
    size_t key_count;
};

enum {
    KEY_RSA2048 = 0,
    KEY_RSA3072,
    KEY_P256,
    KEY_P384,
};

static const struct {
    const char *label;
    enum hal_key_type type;
    unsigned bits;
} key_specs[] = {
    {"rsa-2048", HAL_KEY_RSA, 2048},
    {"rsa-3072", HAL_KEY_RSA, 3072},
    {"ec-p256", HAL_KEY_EC, 256},
    {"ec-p384", HAL_KEY_EC, 384},
};

static const char *const digest_names[] = {"SHA256", "SHA384", "SHA512"};

static const unsigned char message[] =
    "HSM4SSL provider test message, signed inside SoftHSM2";

/* Writes the OpenSSL error queue into buf as one line and empties it. */
static const char *
drain_errors(char *buf, size_t len)
{
    unsigned long code;
    size_t used = 0;
    const char *data = NULL;
    int flags = 0;

    buf[0] = '\0';
    while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0 &&
           used + 1 < len) {
        char text[256];

        ERR_error_string_n(code, text, sizeof(text));
        used += (size_t)snprintf(buf + used, len - used, "[%s%s%s] ", text,
                                 (flags & ERR_TXT_STRING) ? ": " : "",
                                 (flags & ERR_TXT_STRING) ? data : "");
        if (used >= len)
            break;
    }
    if (buf[0] == '\0')
        snprintf(buf, len, "(no OpenSSL error)");
    return buf;
}

static int
remove_entry(const char *path, const struct stat *st, int type,
             struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* Writes a SoftHSM2 configuration whose token directory is inside dir and
 * points SOFTHSM2_CONF at it. */
static int
write_softhsm_config(const char *dir)
{
    char tokens[PATH_MAX + 16];
    char conf[PATH_MAX + 16];
    FILE *file;

    snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
    if (mkdir(tokens, 0700) != 0)
        return -1;
    file = fopen(conf, "w");
    if (file == NULL)
        return -1;
    fprintf(file, "directories.tokendir = %s\nobjectstore.backend = file\n"
                  "log.level = ERROR\nslots.removable = false\n", tokens);
    if (fclose(file) != 0)
        return -1;
    return setenv("SOFTHSM2_CONF", conf, 1);
}

/* Initialises the token through the HAL and generates the test keys. */
static int
make_token_and_keys(struct fixture *fx)
{
    struct hal_hsm_config cfg;
    struct adcp_error err;
    struct hal_hsm *hsm;

    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.name, sizeof(cfg.name), "softhsm");
    snprintf(cfg.module_path, sizeof(cfg.module_path), "%s", SOFTHSM_MODULE);
    snprintf(cfg.token_label, sizeof(cfg.token_label), "%s", TOKEN_LABEL);
    if (hal_new(&fx->hal, &err) != ADCP_OK ||
        hal_add_hsm(fx->hal, &cfg, &err) != ADCP_OK ||
        (hsm = hal_hsm_find(fx->hal, "softhsm")) == NULL ||
        hal_token_init(hsm, SO_PIN, USER_PIN, &err) != ADCP_OK) {
        fprintf(stderr, "token setup failed: %s\n", err.message);
        return -1;
    }
    for (size_t i = 0; i < sizeof(key_specs) / sizeof(key_specs[0]); i++) {
        struct test_key *k = &fx->keys[i];
        struct hal_keygen spec;

        memset(&spec, 0, sizeof(spec));
        spec.type = key_specs[i].type;
        spec.bits = key_specs[i].bits;
        snprintf(spec.label, sizeof(spec.label), "%s", key_specs[i].label);
        k->label = key_specs[i].label;
        k->type = key_specs[i].type;
        k->bits = key_specs[i].bits;
        if (hal_key_generate(hsm, &spec, &k->key, &err) != ADCP_OK) {
            fprintf(stderr, "generating %s failed: %s\n", k->label,
                    err.message);
            return -1;
        }
        fx->key_count++;
        k->evp = hal_key_evp(k->key);
        k->pub = hal_key_public(k->key);
        if (k->evp == NULL || k->pub == NULL) {
            fprintf(stderr, "no EVP_PKEY for %s\n", k->label);
            return -1;
        }
    }
    return 0;
}

static int
group_teardown(void **state)
{
    struct fixture *fx = *state;

    if (fx == NULL)
        return 0;
    for (size_t i = 0; i < fx->key_count; i++) {
        EVP_PKEY_free(fx->keys[i].evp);
        EVP_PKEY_free(fx->keys[i].pub);
        hal_key_unref(fx->keys[i].key);
    }
    hal_free(fx->hal);
    if (fx->dir[0] != '\0')
        nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static int
group_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    const char *tmp = getenv("TMPDIR");

    *state = fx;
    if (fx == NULL)
        return -1;
    if (access(SOFTHSM_MODULE, R_OK) != 0) {
        fprintf(stderr, "%s is missing; install softhsm2\n", SOFTHSM_MODULE);
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "%s/test_hal_provider.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL) {
        fx->dir[0] = '\0';
        return -1;
    }
    if (write_softhsm_config(fx->dir) != 0 || make_token_and_keys(fx) != 0) {
        group_teardown(state);
        *state = NULL;
        return -1;
    }
    return 0;
}

static EVP_MD *
fetch_md(const char *name)
{
    EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);

    assert_non_null(md);
    return md;
}

/* Sets RSA padding on a signing or verifying context: PSS with a salt as
 * long as the digest, or PKCS#1 v1.5. */
static void
set_rsa_padding(EVP_PKEY_CTX *pctx, bool pss)
{
    assert_ossl(EVP_PKEY_CTX_set_rsa_padding(
        pctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING));
    if (pss)
        assert_ossl(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                     RSA_PSS_SALTLEN_DIGEST));
}

/* Signs message with key through EVP_DigestSign; returns the length. */
static size_t
digest_sign(EVP_PKEY *key, const char *md_name, bool pss, unsigned char *sig,
            size_t sig_size)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = 0;

    assert_non_null(mctx);
    assert_ossl(EVP_DigestSignInit_ex(mctx, &pctx, md_name, NULL, NULL, key,
                                      NULL));
    if (EVP_PKEY_is_a(key, "RSA"))
        set_rsa_padding(pctx, pss);
    assert_ossl(EVP_DigestSign(mctx, NULL, &len, message, sizeof(message)));
    assert_true(len <= sig_size);
    len = sig_size;
    assert_ossl(EVP_DigestSign(mctx, sig, &len, message, sizeof(message)));
    EVP_MD_CTX_free(mctx);
    return len;
}

/* Returns EVP_DigestVerify's result for sig over data with key. */
static int
digest_verify(EVP_PKEY *key, const char *md_name, bool pss,
              const unsigned char *sig, size_t sig_len,
              const unsigned char *data, size_t data_len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int result;

    assert_non_null(mctx);
    assert_ossl(EVP_DigestVerifyInit_ex(mctx, &pctx, md_name, NULL, NULL, key,
                                        NULL));
    if (EVP_PKEY_is_a(key, "RSA"))
        set_rsa_padding(pctx, pss);
    result = EVP_DigestVerify(mctx, sig, sig_len, data, data_len);
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return result;
}

static void
test_provider_load_idempotent(void **state)
{
    (void)state;
    assert_int_equal(hal_provider_load(), 0);
    assert_int_equal(hal_provider_load(), 0);
    assert_int_equal(OSSL_PROVIDER_available(NULL, "hsm4ssl"), 1);
    assert_int_equal(OSSL_PROVIDER_available(NULL, "default"), 1);
}

/* Only key pairs have an EVP_PKEY. */
static void
test_evp_rejects_aes_key(void **state)
{
    struct fixture *fx = *state;
    struct hal_hsm *hsm = hal_hsm_find(fx->hal, "softhsm");
    struct hal_keygen spec;
    struct adcp_error err;
    struct hal_key *aes = NULL;

    assert_non_null(hsm);
    memset(&spec, 0, sizeof(spec));
    spec.type = HAL_KEY_AES;
    spec.bits = 256;
    snprintf(spec.label, sizeof(spec.label), "aes-256");
    if (hal_key_generate(hsm, &spec, &aes, &err) != ADCP_OK)
        fail_msg("generating an AES key failed: %s", err.message);
    assert_null(hal_key_evp(aes));
    assert_null(hal_key_evp(NULL));
    hal_key_unref(aes);
}

/* Without a property query, fetches must keep finding the default
 * provider, which has the key generation and verification this provider
 * lacks. */
static void
test_unqualified_fetch_uses_default(void **state)
{
    static const char *const names[] = {"RSA", "EC"};
    static const char *const signatures[] = {"RSA", "ECDSA"};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        EVP_KEYMGMT *keymgmt = EVP_KEYMGMT_fetch(NULL, names[i], NULL);
        EVP_SIGNATURE *sig = EVP_SIGNATURE_fetch(NULL, signatures[i], NULL);

        assert_non_null(keymgmt);
        assert_non_null(sig);
        assert_string_equal(
            OSSL_PROVIDER_get0_name(EVP_KEYMGMT_get0_provider(keymgmt)),
            "default");
        assert_string_equal(
            OSSL_PROVIDER_get0_name(EVP_SIGNATURE_get0_provider(sig)),
            "default");
        EVP_KEYMGMT_free(keymgmt);
        EVP_SIGNATURE_free(sig);
    }
}

/* Software keys made after the provider loaded still work end to end. */
static void
test_software_keys_unaffected(void **state)
{
    unsigned char sig[512];
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    size_t len;

    (void)state;
    assert_non_null(rsa);
    assert_non_null(ec);
    assert_string_equal(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(rsa)),
                        "default");
    len = digest_sign(rsa, "SHA256", true, sig, sizeof(sig));
    assert_int_equal(digest_verify(rsa, "SHA256", true, sig, len, message,
                                   sizeof(message)), 1);
    len = digest_sign(ec, "SHA256", false, sig, sizeof(sig));
    assert_int_equal(digest_verify(ec, "SHA256", false, sig, len, message,
                                   sizeof(message)), 1);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

static void
check_rsa_params(const struct test_key *k)
{
    BIGNUM *n1 = NULL, *n2 = NULL, *e1 = NULL, *e2 = NULL;

    assert_ossl(EVP_PKEY_get_bn_param(k->evp, OSSL_PKEY_PARAM_RSA_N, &n1));
    assert_ossl(EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_N, &n2));
    assert_ossl(EVP_PKEY_get_bn_param(k->evp, OSSL_PKEY_PARAM_RSA_E, &e1));
    assert_ossl(EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_E, &e2));
    assert_int_equal(BN_cmp(n1, n2), 0);
    assert_int_equal(BN_cmp(e1, e2), 0);
    assert_int_equal(BN_num_bits(n1), (int)k->bits);
    BN_free(n1);
    BN_free(n2);
    BN_free(e1);
    BN_free(e2);
}

static void
check_ec_params(const struct test_key *k)
{
    char group1[64], group2[64];
    unsigned char point1[200], point2[200];
    size_t len1 = 0, len2 = 0;

    assert_ossl(EVP_PKEY_get_group_name(k->evp, group1, sizeof(group1),
                                        NULL));
    assert_ossl(EVP_PKEY_get_group_name(k->pub, group2, sizeof(group2),
                                        NULL));
    assert_string_equal(group1, group2);
    assert_ossl(EVP_PKEY_get_octet_string_param(
        k->evp, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point1, sizeof(point1),
        &len1));
    assert_ossl(EVP_PKEY_get_octet_string_param(
        k->pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point2, sizeof(point2),
        &len2));
    assert_int_equal(len1, len2);
    assert_memory_equal(point1, point2, len1);
    assert_int_not_equal(EVP_PKEY_get_ec_point_conv_form(k->evp), 0);
}

static void
test_key_params_match_public_half(void **state)
{
    struct fixture *fx = *state;

    for (size_t i = 0; i < fx->key_count; i++) {
        const struct test_key *k = &fx->keys[i];
        char digest[32];

        assert_string_equal(
            OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(k->evp)),
            "hsm4ssl");
        assert_true(EVP_PKEY_is_a(k->evp, k->type == HAL_KEY_RSA ? "RSA"
                                                                 : "EC"));
        assert_int_equal(EVP_PKEY_get_bits(k->evp), (int)k->bits);
        assert_int_equal(EVP_PKEY_get_security_bits(k->evp),
                         EVP_PKEY_get_security_bits(k->pub));
        assert_int_equal(EVP_PKEY_get_size(k->evp),
                         EVP_PKEY_get_size(k->pub));
        assert_ossl(EVP_PKEY_get_default_digest_name(k->evp, digest,
                                                     sizeof(digest)) > 0);
        assert_string_equal(digest, "SHA256");
        if (k->type == HAL_KEY_RSA)
            check_rsa_params(k);
        else
            check_ec_params(k);
    }
}

static void
test_digest_sign_verifies(void **state)
{
    struct fixture *fx = *state;
    unsigned char sig[512];

    for (size_t i = 0; i < fx->key_count; i++) {
        const struct test_key *k = &fx->keys[i];
        int paddings = k->type == HAL_KEY_RSA ? 2 : 1;

        for (size_t d = 0; d < 3; d++) {
            for (int pss = 0; pss < paddings; pss++) {
                size_t len;

                ERR_clear_error();
                len = digest_sign(k->evp, digest_names[d], pss, sig,
                                  sizeof(sig));
                /* A successful signature leaves no error behind, which
                 * SSL_get_error would otherwise misreport. */
                assert_int_equal(ERR_peek_error(), 0);
                assert_int_equal(digest_verify(k->pub, digest_names[d], pss,
                                               sig, len, message,
                                               sizeof(message)), 1);
                assert_int_not_equal(digest_verify(k->pub, digest_names[d],
                                                   pss, sig, len, message,
                                                   sizeof(message) - 1), 1);
            }
        }
    }
}

/* EVP_PKEY_sign over a digest: the size query, then the signature. */
static void
test_pkey_sign_over_digest(void **state)
{
    struct fixture *fx = *state;
    unsigned char digest[32];
    unsigned char sig[512];
    EVP_MD *md = fetch_md("SHA256");

    assert_ossl(EVP_Digest(message, sizeof(message), digest, NULL, md, NULL));
    for (size_t i = 0; i < fx->key_count; i++) {
        const struct test_key *k = &fx->keys[i];
        EVP_PKEY_CTX *sctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->evp, NULL);
        EVP_PKEY_CTX *vctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pub, NULL);
        size_t len = 0;

        assert_non_null(sctx);
        assert_non_null(vctx);
        assert_ossl(EVP_PKEY_sign_init(sctx));
        assert_ossl(EVP_PKEY_CTX_set_signature_md(sctx, md));
        assert_ossl(EVP_PKEY_sign(sctx, NULL, &len, digest, sizeof(digest)));
        assert_int_equal(len, (size_t)EVP_PKEY_get_size(k->pub));
        assert_ossl(EVP_PKEY_sign(sctx, sig, &len, digest, sizeof(digest)));
        assert_ossl(EVP_PKEY_verify_init(vctx));
        assert_ossl(EVP_PKEY_CTX_set_signature_md(vctx, md));
        assert_int_equal(EVP_PKEY_verify(vctx, sig, len, digest,
                                         sizeof(digest)), 1);
        EVP_PKEY_CTX_free(sctx);
        EVP_PKEY_CTX_free(vctx);
    }
    EVP_MD_free(md);
}

/* ECDSA without a digest set picks the digest by the input length. */
static void
test_ecdsa_sign_without_digest(void **state)
{
    struct fixture *fx = *state;
    const struct test_key *k = &fx->keys[KEY_P384];
    unsigned char digest[48];
    unsigned char sig[256];
    EVP_PKEY_CTX *sctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->evp, NULL);
    EVP_PKEY_CTX *vctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pub, NULL);
    size_t len = sizeof(sig);

    memset(digest, 0x5a, sizeof(digest));
    assert_ossl(EVP_PKEY_sign_init(sctx));
    assert_ossl(EVP_PKEY_sign(sctx, sig, &len, digest, sizeof(digest)));
    assert_ossl(EVP_PKEY_verify_init(vctx));
    assert_int_equal(EVP_PKEY_verify(vctx, sig, len, digest, sizeof(digest)),
                     1);
    len = sizeof(sig);
    assert_int_not_equal(EVP_PKEY_sign(sctx, sig, &len, digest, 20), 1);
    ERR_clear_error();
    EVP_PKEY_CTX_free(sctx);
    EVP_PKEY_CTX_free(vctx);
}

/* Returns a self-signed certificate for pub with subjectAltName TLS_HOST,
 * signed by signer (the same key, in the HSM) with md_name, and PSS when
 * pss is true. */
static X509 *
make_certificate(EVP_PKEY *pub, EVP_PKEY *signer, const char *md_name,
                 bool pss)
{
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_EXTENSION *ext;
    X509V3_CTX v3;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    assert_non_null(cert);
    assert_non_null(name);
    assert_non_null(mctx);
    assert_ossl(X509_set_version(cert, X509_VERSION_3));
    assert_ossl(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1));
    assert_ossl(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                           (const unsigned char *)TLS_HOST,
                                           -1, -1, 0));
    assert_ossl(X509_set_subject_name(cert, name));
    assert_ossl(X509_set_issuer_name(cert, name));
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), -60));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 3600));
    assert_ossl(X509_set_pubkey(cert, pub));
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                              "DNS:" TLS_HOST);
    assert_non_null(ext);
    assert_ossl(X509_add_ext(cert, ext, -1));
    X509_EXTENSION_free(ext);

    assert_ossl(EVP_DigestSignInit_ex(mctx, &pctx, md_name, NULL, NULL,
                                      signer, NULL));
    if (EVP_PKEY_is_a(signer, "RSA"))
        set_rsa_padding(pctx, pss);
    assert_true(X509_sign_ctx(cert, mctx) > 0);
    EVP_MD_CTX_free(mctx);
    X509_NAME_free(name);
    return cert;
}

static int
expected_signature_nid(const struct test_key *k, size_t digest, bool pss)
{
    static const int rsa[] = {NID_sha256WithRSAEncryption,
                              NID_sha384WithRSAEncryption,
                              NID_sha512WithRSAEncryption};
    static const int ecdsa[] = {NID_ecdsa_with_SHA256, NID_ecdsa_with_SHA384,
                                NID_ecdsa_with_SHA512};

    if (pss)
        return NID_rsassaPss;
    return k->type == HAL_KEY_RSA ? rsa[digest] : ecdsa[digest];
}

static void
test_x509_sign_verifies(void **state)
{
    struct fixture *fx = *state;

    for (size_t i = 0; i < fx->key_count; i++) {
        const struct test_key *k = &fx->keys[i];
        int paddings = k->type == HAL_KEY_RSA ? 2 : 1;

        for (size_t d = 0; d < 3; d++) {
            for (int pss = 0; pss < paddings; pss++) {
                X509 *cert = make_certificate(k->pub, k->evp, digest_names[d],
                                              pss);

                assert_int_equal(X509_get_signature_nid(cert),
                                 expected_signature_nid(k, d, pss));
                assert_int_equal(X509_verify(cert, k->pub), 1);
                assert_int_equal(X509_check_private_key(cert, k->evp), 1);
                X509_free(cert);
            }
        }
    }
}

/* The plain X509_sign call with a legacy digest constant. */
static void
test_x509_sign_plain(void **state)
{
    struct fixture *fx = *state;
    const struct test_key *k = &fx->keys[KEY_RSA2048];
    X509 *cert = make_certificate(k->pub, k->evp, "SHA256", false);

    assert_true(X509_sign(cert, k->evp, EVP_sha384()) > 0);
    assert_int_equal(X509_get_signature_nid(cert),
                     NID_sha384WithRSAEncryption);
    assert_int_equal(X509_verify(cert, k->pub), 1);
    X509_free(cert);
}

/* A certificate of another key must not pair with an HSM key. */
static void
test_check_private_key_mismatch(void **state)
{
    struct fixture *fx = *state;
    const struct test_key *a = &fx->keys[KEY_RSA2048];
    const struct test_key *b = &fx->keys[KEY_RSA3072];
    const struct test_key *ec = &fx->keys[KEY_P256];
    X509 *cert = make_certificate(b->pub, b->evp, "SHA256", false);

    assert_int_equal(X509_check_private_key(cert, a->evp), 0);
    assert_int_equal(X509_check_private_key(cert, ec->evp), 0);
    ERR_clear_error();
    assert_int_equal(EVP_PKEY_eq(a->pub, a->evp), 1);
    assert_int_equal(EVP_PKEY_eq(a->evp, a->pub), 1);
    assert_int_not_equal(EVP_PKEY_eq(b->pub, a->evp), 1);
    assert_int_not_equal(EVP_PKEY_eq(a->evp, b->evp), 1);
    ERR_clear_error();
    X509_free(cert);
}

/* An EVP_PKEY from hal_key_evp also verifies, through its public half. */
static void
test_hsm_key_verifies(void **state)
{
    struct fixture *fx = *state;

    for (size_t i = 0; i < fx->key_count; i++) {
        const struct test_key *k = &fx->keys[i];
        X509 *cert = make_certificate(k->pub, k->evp, "SHA384",
                                      k->type == HAL_KEY_RSA);

        assert_int_equal(X509_verify(cert, k->evp), 1);
        X509_free(cert);
    }
}

static void
test_crl_sign_verifies(void **state)
{
    struct fixture *fx = *state;

    for (size_t i = 0; i < fx->key_count; i++) {
        const struct test_key *k = &fx->keys[i];
        X509_CRL *crl = X509_CRL_new();
        X509_NAME *name = X509_NAME_new();
        ASN1_TIME *now = X509_gmtime_adj(NULL, 0);

        assert_non_null(crl);
        assert_non_null(now);
        assert_ossl(X509_NAME_add_entry_by_txt(
            name, "CN", MBSTRING_ASC, (const unsigned char *)"CRL issuer", -1,
            -1, 0));
        assert_ossl(X509_CRL_set_version(crl, X509_CRL_VERSION_2));
        assert_ossl(X509_CRL_set_issuer_name(crl, name));
        assert_ossl(X509_CRL_set1_lastUpdate(crl, now));
        assert_true(X509_CRL_sign(crl, k->evp, EVP_sha256()) > 0);
        assert_int_equal(X509_CRL_verify(crl, k->pub), 1);
        ASN1_TIME_free(now);
        X509_NAME_free(name);
        X509_CRL_free(crl);
    }
}

static void
test_ocsp_sign_verifies(void **state)
{
    struct fixture *fx = *state;

    for (size_t i = 0; i < fx->key_count; i++) {
        const struct test_key *k = &fx->keys[i];
        X509 *cert = make_certificate(k->pub, k->evp, "SHA256", false);
        OCSP_BASICRESP *response = OCSP_BASICRESP_new();
        X509_STORE *store = X509_STORE_new();

        assert_non_null(response);
        assert_non_null(store);
        assert_ossl(X509_STORE_add_cert(store, cert));
        assert_ossl(OCSP_basic_sign(response, cert, k->evp, EVP_sha384(),
                                    NULL, 0));
        /* OCSP_NOVERIFY skips the chain, not the signature. */
        assert_int_equal(OCSP_basic_verify(response, NULL, store,
                                           OCSP_NOVERIFY), 1);
        X509_STORE_free(store);
        OCSP_BASICRESP_free(response);
        X509_free(cert);
    }
}

/* Arguments and result of one signing thread. */
struct signer {
    const struct test_key *key;
    int failures;
};

static void *
signer_run(void *arg)
{
    struct signer *signer = arg;

    for (int i = 0; i < 20; i++) {
        EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        unsigned char sig[512];
        size_t len = sizeof(sig);

        if (mctx == NULL ||
            EVP_DigestSignInit_ex(mctx, NULL, "SHA256", NULL, NULL,
                                  signer->key->evp, NULL) != 1 ||
            EVP_DigestSign(mctx, sig, &len, message, sizeof(message)) != 1)
            signer->failures++;
        else if (digest_verify(signer->key->pub, "SHA256", false, sig, len,
                               message, sizeof(message)) != 1)
            signer->failures++;
        EVP_MD_CTX_free(mctx);
    }
    return NULL;
}

/* Several threads sign with one EVP_PKEY at the same time. */
static void
test_concurrent_signing(void **state)
{
    struct fixture *fx = *state;
    struct signer signers[4];
    pthread_t threads[4];

    for (size_t i = 0; i < 4; i++) {
        signers[i].key = &fx->keys[i % 2 == 0 ? KEY_P256 : KEY_RSA2048];
        signers[i].failures = 0;
        assert_int_equal(pthread_create(&threads[i], NULL, signer_run,
                                        &signers[i]), 0);
    }
    for (size_t i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(signers[i].failures, 0);
    }
}

/* A copied key signs, and a signing context copied halfway through the
 * message carries the digest state over. */
static void
test_dup_key_and_context(void **state)
{
    struct fixture *fx = *state;
    const struct test_key *k = &fx->keys[KEY_RSA2048];
    EVP_PKEY *copy = EVP_PKEY_dup(k->evp);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_MD_CTX *mcopy = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig1[512], sig2[512];
    size_t len1 = sizeof(sig1), len2 = sizeof(sig2);
    size_t half = sizeof(message) / 2;

    assert_non_null(copy);
    assert_int_equal(EVP_PKEY_eq(copy, k->pub), 1);
    assert_ossl(EVP_DigestSignInit_ex(mctx, &pctx, "SHA512", NULL, NULL, copy,
                                      NULL));
    set_rsa_padding(pctx, true);
    assert_ossl(EVP_DigestSignUpdate(mctx, message, half));
    assert_ossl(EVP_MD_CTX_copy_ex(mcopy, mctx));
    assert_ossl(EVP_DigestSignUpdate(mctx, message + half,
                                     sizeof(message) - half));
    assert_ossl(EVP_DigestSignUpdate(mcopy, message + half,
                                     sizeof(message) - half));
    assert_ossl(EVP_DigestSignFinal(mctx, sig1, &len1));
    assert_ossl(EVP_DigestSignFinal(mcopy, sig2, &len2));
    assert_int_equal(digest_verify(k->pub, "SHA512", true, sig1, len1,
                                   message, sizeof(message)), 1);
    assert_int_equal(digest_verify(k->pub, "SHA512", true, sig2, len2,
                                   message, sizeof(message)), 1);
    EVP_MD_CTX_free(mctx);
    EVP_MD_CTX_free(mcopy);
    EVP_PKEY_free(copy);
}

/* The settings read back as they were set, as integers and as names.
 * OSSL_PARAMs are used directly: in OpenSSL 3.0.22 the wrappers
 * EVP_PKEY_CTX_get_rsa_padding and _get_rsa_pss_saltlen return the
 * length of the parameter's text instead of 1, and read back 0 from the
 * default provider. */
static void
test_get_ctx_params(void **state)
{
    struct fixture *fx = *state;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    char pad_name[16], salt_name[16], digest[32], mgf1[32];
    int pad = 0, salt = 0;
    size_t digest_size = 0;
    OSSL_PARAM params[8];

    assert_ossl(EVP_DigestSignInit_ex(mctx, &pctx, "SHA384", NULL, NULL,
                                      fx->keys[KEY_RSA3072].evp, NULL));
    set_rsa_padding(pctx, true);
    params[0] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PAD_MODE, &pad);
    params[1] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
                                         &salt);
    params[2] = OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_DIGEST, digest, sizeof(digest));
    params[3] = OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_MGF1_DIGEST, mgf1, sizeof(mgf1));
    params[4] = OSSL_PARAM_construct_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE,
                                            &digest_size);
    params[5] = OSSL_PARAM_construct_end();
    assert_ossl(EVP_PKEY_CTX_get_params(pctx, params));
    assert_int_equal(pad, RSA_PKCS1_PSS_PADDING);
    assert_int_equal(salt, RSA_PSS_SALTLEN_DIGEST);
    assert_string_equal(digest, "SHA2-384");
    assert_string_equal(mgf1, "SHA2-384");
    assert_int_equal(digest_size, 48);

    params[0] = OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_PAD_MODE, pad_name, sizeof(pad_name));
    params[1] = OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_PSS_SALTLEN, salt_name, sizeof(salt_name));
    params[2] = OSSL_PARAM_construct_end();
    assert_ossl(EVP_PKEY_CTX_get_params(pctx, params));
    assert_string_equal(pad_name, "pss");
    assert_string_equal(salt_name, "digest");
    EVP_MD_CTX_free(mctx);
}

/* Returns the DER signature AlgorithmIdentifier of a signing context. */
static size_t
algorithm_id(EVP_PKEY *key, const char *md_name, bool pss,
             unsigned char *out, size_t out_size)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    OSSL_PARAM params[2];
    size_t len;

    assert_ossl(EVP_DigestSignInit_ex(mctx, &pctx, md_name, NULL, NULL, key,
                                      NULL));
    if (EVP_PKEY_is_a(key, "RSA"))
        set_rsa_padding(pctx, pss);
    params[0] = OSSL_PARAM_construct_octet_string(
        OSSL_SIGNATURE_PARAM_ALGORITHM_ID, out, out_size);
    params[1] = OSSL_PARAM_construct_end();
    assert_ossl(EVP_PKEY_CTX_get_params(pctx, params));
    len = params[0].return_size;
    EVP_MD_CTX_free(mctx);
    return len;
}

/* The AlgorithmIdentifiers must be byte for byte those of the default
 * provider for a software key of the same type. */
static void
test_algorithm_id_matches_default(void **state)
{
    struct fixture *fx = *state;
    EVP_PKEY *soft_rsa = EVP_RSA_gen(2048);
    EVP_PKEY *soft_ec = EVP_EC_gen("P-256");
    const struct test_key *keys[] = {&fx->keys[KEY_RSA2048],
                                     &fx->keys[KEY_P256]};
    EVP_PKEY *soft[] = {soft_rsa, soft_ec};

    assert_non_null(soft_rsa);
    assert_non_null(soft_ec);
    for (size_t i = 0; i < 2; i++) {
        int paddings = keys[i]->type == HAL_KEY_RSA ? 2 : 1;

        for (size_t d = 0; d < 3; d++) {
            for (int pss = 0; pss < paddings; pss++) {
                unsigned char ours[128], theirs[128];
                size_t ours_len = algorithm_id(keys[i]->evp, digest_names[d],
                                               pss, ours, sizeof(ours));
                size_t theirs_len = algorithm_id(soft[i], digest_names[d],
                                                 pss, theirs, sizeof(theirs));

                assert_true(ours_len > 0);
                assert_int_equal(ours_len, theirs_len);
                assert_memory_equal(ours, theirs, ours_len);
            }
        }
    }
    EVP_PKEY_free(soft_rsa);
    EVP_PKEY_free(soft_ec);
}

/* Settings the HAL cannot sign with are rejected, and unknown parameters
 * are ignored. */
static void
test_unsupported_settings_rejected(void **state)
{
    struct fixture *fx = *state;
    const struct test_key *k = &fx->keys[KEY_RSA2048];
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[512];
    size_t len = sizeof(sig);
    int unknown = 7;
    OSSL_PARAM params[2];
    EVP_MD *sha384 = fetch_md("SHA384");

    assert_int_not_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA1", NULL,
                                               NULL, k->evp, NULL), 1);
    assert_int_not_equal(ERR_peek_error(), 0);
    ERR_clear_error();

    assert_ossl(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", NULL, NULL,
                                      k->evp, NULL));
    assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_NO_PADDING) <= 0);
    assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_X931_PADDING) <= 0);
    assert_ossl(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING));
    assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 20) <= 0);
    assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_MAX) <=
                0);
    assert_ossl(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32));
    ERR_clear_error();

    params[0] = OSSL_PARAM_construct_int("hsm4ssl-no-such-parameter",
                                         &unknown);
    params[1] = OSSL_PARAM_construct_end();
    assert_ossl(EVP_PKEY_CTX_set_params(pctx, params));

    assert_ossl(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, sha384));
    assert_int_not_equal(EVP_DigestSign(mctx, sig, &len, message,
                                        sizeof(message)), 1);
    assert_int_not_equal(ERR_peek_error(), 0);
    ERR_clear_error();
    EVP_MD_free(sha384);
    EVP_MD_CTX_free(mctx);
}

/* A one-shot RSA signature needs its digest: no DigestInfo is guessed. */
static void
test_rsa_sign_needs_digest(void **state)
{
    struct fixture *fx = *state;
    EVP_PKEY_CTX *sctx =
        EVP_PKEY_CTX_new_from_pkey(NULL, fx->keys[KEY_RSA2048].evp, NULL);
    unsigned char digest[32] = {0};
    unsigned char sig[512];
    size_t len = sizeof(sig);

    assert_ossl(EVP_PKEY_sign_init(sctx));
    assert_int_not_equal(EVP_PKEY_sign(sctx, sig, &len, digest,
                                       sizeof(digest)), 1);
    ERR_clear_error();
    EVP_PKEY_CTX_free(sctx);
}

static void
test_private_key_not_exportable(void **state)
{
    struct fixture *fx = *state;

    for (size_t i = 0; i < fx->key_count; i++) {
        const struct test_key *k = &fx->keys[i];
        BIO *out = BIO_new(BIO_s_mem());
        BIO *ours = BIO_new(BIO_s_mem());
        BIO *theirs = BIO_new(BIO_s_mem());
        unsigned char *der = NULL;
        OSSL_PARAM *params = NULL;
        char *ours_pem = NULL, *theirs_pem = NULL;
        long ours_len, theirs_len;

        assert_int_not_equal(PEM_write_bio_PrivateKey(out, k->evp, NULL, NULL,
                                                      0, NULL, NULL), 1);
        /* Not even a PEM header may come out. */
        assert_int_equal(BIO_get_mem_data(out, &ours_pem), 0);
        assert_true(i2d_PrivateKey(k->evp, &der) <= 0);
        assert_null(der);
        assert_int_not_equal(EVP_PKEY_todata(k->evp, EVP_PKEY_KEYPAIR,
                                             &params), 1);
        assert_null(params);
        ERR_clear_error();

        assert_ossl(PEM_write_bio_PUBKEY(ours, k->evp));
        assert_ossl(PEM_write_bio_PUBKEY(theirs, k->pub));
        ours_len = BIO_get_mem_data(ours, &ours_pem);
        theirs_len = BIO_get_mem_data(theirs, &theirs_pem);
        assert_true(ours_len > 0);
        assert_int_equal(ours_len, theirs_len);
        assert_memory_equal(ours_pem, theirs_pem, (size_t)ours_len);
        BIO_free(out);
        BIO_free(ours);
        BIO_free(theirs);
    }
}

/* One TLS peer running in its own thread. */
struct tls_server {
    SSL *ssl;
    int ok;
    char error[1024];
};

static void *
tls_server_run(void *arg)
{
    struct tls_server *server = arg;
    char buf[16];

    if (SSL_accept(server->ssl) != 1) {
        drain_errors(server->error, sizeof(server->error));
        goto out;
    }
    if (SSL_read(server->ssl, buf, 4) != 4 || memcmp(buf, "ping", 4) != 0 ||
        SSL_write(server->ssl, "pong", 4) != 4) {
        drain_errors(server->error, sizeof(server->error));
        goto out;
    }
    server->ok = 1;
out:
    /* Unblocks the client if the handshake failed on this side. */
    shutdown(SSL_get_fd(server->ssl), SHUT_RDWR);
    return NULL;
}

static SSL_CTX *
server_ctx(const struct test_key *k, X509 *cert, int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    assert_non_null(ctx);
    assert_ossl(SSL_CTX_set_min_proto_version(ctx, version));
    assert_ossl(SSL_CTX_set_max_proto_version(ctx, version));
    assert_ossl(SSL_CTX_use_certificate(ctx, cert));
    assert_ossl(SSL_CTX_use_PrivateKey(ctx, k->evp));
    assert_ossl(SSL_CTX_check_private_key(ctx));
    return ctx;
}

/* A client that trusts cert and nothing else and checks TLS_HOST. */
static SSL_CTX *
client_ctx(X509 *cert, int version, const char *sigalgs)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    assert_non_null(ctx);
    assert_ossl(SSL_CTX_set_min_proto_version(ctx, version));
    assert_ossl(SSL_CTX_set_max_proto_version(ctx, version));
    assert_ossl(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert));
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (sigalgs != NULL)
        assert_ossl(SSL_CTX_set1_sigalgs_list(ctx, sigalgs));
    return ctx;
}

static void
set_timeouts(int fd)
{
    struct timeval timeout = {.tv_sec = 20, .tv_usec = 0};

    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout,
                                sizeof(timeout)), 0);
}

/*
 * Runs a TLS handshake over a socket pair: the server uses the HSM key,
 * the client verifies the server's certificate (signed by the same key)
 * and hostname. Checks the version and the server's signature type.
 */
static void
run_handshake(const struct test_key *k, int version, const char *sigalgs,
              int want_signature_nid)
{
    X509 *cert = make_certificate(k->pub, k->evp, "SHA256", false);
    SSL_CTX *sctx = server_ctx(k, cert, version);
    SSL_CTX *cctx = client_ctx(cert, version, sigalgs);
    struct tls_server server = {.ssl = SSL_new(sctx)};
    SSL *client = SSL_new(cctx);
    pthread_t thread;
    int fds[2];
    int nid = NID_undef;
    char buf[8];
    char errors[1024];

    assert_non_null(server.ssl);
    assert_non_null(client);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    set_timeouts(fds[0]);
    set_timeouts(fds[1]);
    assert_ossl(SSL_set_fd(server.ssl, fds[0]));
    assert_ossl(SSL_set_fd(client, fds[1]));
    assert_ossl(SSL_set1_host(client, TLS_HOST));
    assert_int_equal(pthread_create(&thread, NULL, tls_server_run, &server),
                     0);

    if (SSL_connect(client) != 1) {
        drain_errors(errors, sizeof(errors));
        pthread_join(thread, NULL);
        fail_msg("%s handshake failed: client %s; server %s", k->label,
                 errors, server.error);
    }
    assert_int_equal(SSL_write(client, "ping", 4), 4);
    assert_int_equal(SSL_read(client, buf, 4), 4);
    assert_memory_equal(buf, "pong", 4);
    pthread_join(thread, NULL);
    if (!server.ok)
        fail_msg("%s server failed: %s", k->label, server.error);

    assert_int_equal(SSL_version(client), version);
    assert_int_equal(SSL_get_verify_result(client), X509_V_OK);
    assert_ossl(SSL_get_peer_signature_type_nid(client, &nid));
    assert_int_equal(nid, want_signature_nid);

    SSL_free(client);
    SSL_free(server.ssl);
    close(fds[0]);
    close(fds[1]);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    X509_free(cert);
}

static void
test_tls13_rsa(void **state)
{
    struct fixture *fx = *state;

    run_handshake(&fx->keys[KEY_RSA2048], TLS1_3_VERSION, NULL,
                  NID_rsassaPss);
    run_handshake(&fx->keys[KEY_RSA3072], TLS1_3_VERSION, NULL,
                  NID_rsassaPss);
}

static void
test_tls12_rsa(void **state)
{
    struct fixture *fx = *state;

    run_handshake(&fx->keys[KEY_RSA2048], TLS1_2_VERSION, NULL,
                  NID_rsassaPss);
    run_handshake(&fx->keys[KEY_RSA2048], TLS1_2_VERSION, "RSA+SHA256",
                  NID_rsaEncryption);
    run_handshake(&fx->keys[KEY_RSA3072], TLS1_2_VERSION, "RSA+SHA512",
                  NID_rsaEncryption);
}

static void
test_tls13_ec(void **state)
{
    struct fixture *fx = *state;

    run_handshake(&fx->keys[KEY_P256], TLS1_3_VERSION, NULL,
                  NID_X9_62_id_ecPublicKey);
    run_handshake(&fx->keys[KEY_P384], TLS1_3_VERSION, NULL,
                  NID_X9_62_id_ecPublicKey);
}

static void
test_tls12_ec(void **state)
{
    struct fixture *fx = *state;

    run_handshake(&fx->keys[KEY_P256], TLS1_2_VERSION, NULL,
                  NID_X9_62_id_ecPublicKey);
    run_handshake(&fx->keys[KEY_P384], TLS1_2_VERSION, "ECDSA+SHA384",
                  NID_X9_62_id_ecPublicKey);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_load_idempotent),
        cmocka_unit_test(test_evp_rejects_aes_key),
        cmocka_unit_test(test_unqualified_fetch_uses_default),
        cmocka_unit_test(test_software_keys_unaffected),
        cmocka_unit_test(test_key_params_match_public_half),
        cmocka_unit_test(test_digest_sign_verifies),
        cmocka_unit_test(test_pkey_sign_over_digest),
        cmocka_unit_test(test_ecdsa_sign_without_digest),
        cmocka_unit_test(test_x509_sign_verifies),
        cmocka_unit_test(test_x509_sign_plain),
        cmocka_unit_test(test_check_private_key_mismatch),
        cmocka_unit_test(test_hsm_key_verifies),
        cmocka_unit_test(test_crl_sign_verifies),
        cmocka_unit_test(test_ocsp_sign_verifies),
        cmocka_unit_test(test_concurrent_signing),
        cmocka_unit_test(test_dup_key_and_context),
        cmocka_unit_test(test_get_ctx_params),
        cmocka_unit_test(test_algorithm_id_matches_default),
        cmocka_unit_test(test_unsupported_settings_rejected),
        cmocka_unit_test(test_rsa_sign_needs_digest),
        cmocka_unit_test(test_private_key_not_exportable),
        cmocka_unit_test(test_tls13_rsa),
        cmocka_unit_test(test_tls12_rsa),
        cmocka_unit_test(test_tls13_ec),
        cmocka_unit_test(test_tls12_ec),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
