/*
 * Unit tests of the key material ssleverywhere makes: the -default and
 * -manual key specs, key generation, encrypted PKCS#8 files (PBES2 with
 * AES-256-CBC or DES-EDE3-CBC), CSRs, and the PEM and fingerprint helpers.
 * Everything runs through real OpenSSL.
 *
 * The CLI sources under test are included, because unit tests link only
 * hsm4ssl_core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_args.c"
#include "cli/cli_exit.c"
#include "cli/cli_keyfile.c"
#include "cli/cli_keyspec.c"
#include "cli/cli_pem.c"

static void
default_spec_is_rsa_2048_aes_sha256(void **state)
{
    struct cli_options opts = {.use_default = true};
    struct cli_keyspec spec;

    (void)state;
    assert_int_equal(cli_keyspec_from_gen_cert(&opts, &spec), CLI_EXIT_OK);
    assert_int_equal(spec.type, CLI_KEY_RSA);
    assert_int_equal(spec.bits, 2048);
    assert_string_equal(spec.cipher, "AES-256-CBC");
    assert_string_equal(spec.digest, "sha256");
    assert_int_equal(spec.days, 365);
}

static void
manual_spec_reads_each_option(void **state)
{
    struct cli_options opts = {.manual = true,
                               .key_type = "ec",
                               .key_length = "P-384",
                               .encryption = "des3",
                               .hash = "sha512",
                               .days = "30"};
    struct cli_keyspec spec;

    (void)state;
    assert_int_equal(cli_keyspec_from_gen_cert(&opts, &spec), CLI_EXIT_OK);
    assert_int_equal(spec.type, CLI_KEY_EC);
    assert_int_equal(spec.bits, 384);
    assert_string_equal(spec.curve, "secp384r1");
    assert_string_equal(spec.cipher, "DES-EDE3-CBC");
    assert_string_equal(spec.digest, "sha512");
    assert_int_equal(spec.days, 30);
}

static void
curve_spellings_accepted(void **state)
{
    const char *const names[] = {"256", "P-256", "prime256v1", "p-256",
                                 "521", "P-521", "secp521r1"};
    const int bits[] = {256, 256, 256, 256, 521, 521, 521};
    struct cli_keyspec spec;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(cli_keyspec_parse_length(names[i], "-key_length",
                                                  CLI_KEY_EC, &spec),
                         CLI_EXIT_OK);
        assert_int_equal(spec.bits, bits[i]);
    }
}

/* Each -manual option left out is a usage error. */
static void
manual_spec_needs_every_option(void **state)
{
    struct cli_keyspec spec;

    (void)state;
    for (int missing = 0; missing < 4; missing++) {
        struct cli_options opts = {.manual = true,
                                   .key_type = "rsa",
                                   .key_length = "2048",
                                   .encryption = "aes",
                                   .hash = "sha256"};
        char **fields[] = {&opts.key_type, &opts.key_length,
                           &opts.encryption, &opts.hash};

        *fields[missing] = NULL;
        if (cli_keyspec_from_gen_cert(&opts, &spec) != CLI_EXIT_USAGE)
            fail_msg("-manual without option %d was accepted", missing);
    }
}

static void
bad_spec_values_rejected(void **state)
{
    struct {
        const char *type, *length, *encryption, *hash;
    } cases[] = {
        {"rsa", "1024", "aes", "sha256"},  {"rsa", "2047", "aes", "sha256"},
        {"rsa", "32768", "aes", "sha256"}, {"rsa", "2048x", "aes", "sha256"},
        {"rsa", "P-256", "aes", "sha256"}, {"ec", "P-192", "aes", "sha256"},
        {"ec", "2048", "aes", "sha256"},   {"dsa", "2048", "aes", "sha256"},
        {"rsa", "2048", "rc4", "sha256"},  {"rsa", "2048", "aes", "md5"},
        {"rsa", "2048", "aes", "sha1"},
    };
    struct cli_keyspec spec;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cli_options opts = {.manual = true,
                                   .key_type = (char *)cases[i].type,
                                   .key_length = (char *)cases[i].length,
                                   .encryption = (char *)cases[i].encryption,
                                   .hash = (char *)cases[i].hash};

        if (cli_keyspec_from_gen_cert(&opts, &spec) != CLI_EXIT_USAGE)
            fail_msg("case %zu (%s %s %s %s) was accepted", i, cases[i].type,
                     cases[i].length, cases[i].encryption, cases[i].hash);
    }
}

static void
default_and_manual_conflict(void **state)
{
    struct cli_options both = {.use_default = true, .manual = true};
    struct cli_options neither = {0};
    struct cli_options default_with_hash = {.use_default = true,
                                            .hash = "sha512"};
    struct cli_options bad_days = {.use_default = true, .days = "0"};
    struct cli_keyspec spec;

    (void)state;
    assert_int_equal(cli_keyspec_from_gen_cert(&both, &spec),
                     CLI_EXIT_USAGE);
    assert_int_equal(cli_keyspec_from_gen_cert(&neither, &spec),
                     CLI_EXIT_USAGE);
    assert_int_equal(cli_keyspec_from_gen_cert(&default_with_hash, &spec),
                     CLI_EXIT_USAGE);
    assert_int_equal(cli_keyspec_from_gen_cert(&bad_days, &spec),
                     CLI_EXIT_USAGE);
}

/* Returns the NID of the PBES2 encryption scheme of an encrypted PKCS#8
 * PEM, or NID_undef when it is not PBES2. */
static int
pbes2_cipher_nid(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_SIG *sig = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *oid = NULL;
    const void *param = NULL;
    int param_type = 0, nid = NID_undef;
    PBE2PARAM *pbe2 = NULL;

    assert_non_null(sig);
    X509_SIG_get0(sig, &alg, NULL);
    X509_ALGOR_get0(&oid, &param_type, &param, alg);
    if (OBJ_obj2nid(oid) == NID_pbes2 && param_type == V_ASN1_SEQUENCE) {
        pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM),
                                         alg->parameter);
        if (pbe2 != NULL)
            nid = OBJ_obj2nid(pbe2->encryption->algorithm);
    }
    PBE2PARAM_free(pbe2);
    X509_SIG_free(sig);
    BIO_free(bio);
    return nid;
}

static void
key_file_is_encrypted_pkcs8(void **state)
{
    const char *const cipher_names[] = {"AES-256-CBC", "DES-EDE3-CBC"};
    const int nids[] = {NID_aes_256_cbc, NID_des_ede3_cbc};
    struct cli_keyspec spec = {.type = CLI_KEY_EC, .bits = 256,
                               .curve = "prime256v1"};
    EVP_PKEY *key = NULL, *back = NULL;

    (void)state;
    assert_int_equal(cli_keyfile_generate(&spec, &key), CLI_EXIT_OK);
    for (size_t i = 0; i < 2; i++) {
        char *pem = NULL;
        size_t len = 0;

        assert_int_equal(cli_keyfile_encrypt(key, cipher_names[i],
                                             "s3cret-pass", &pem, &len),
                         CLI_EXIT_OK);
        assert_int_equal(strlen(pem), len);
        assert_non_null(strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert_int_equal(pbes2_cipher_nid(pem), nids[i]);
        assert_int_equal(cli_keyfile_decrypt(pem, len, "s3cret-pass", "k",
                                             &back), CLI_EXIT_OK);
        assert_int_equal(EVP_PKEY_eq(key, back), 1);
        EVP_PKEY_free(back);
        back = NULL;
        assert_int_equal(cli_keyfile_decrypt(pem, len, "wrong-pass", "k",
                                             &back), CLI_EXIT_LOCAL);
        assert_null(back);
        free(pem);
    }
    EVP_PKEY_free(key);
}

static void
rsa_key_has_requested_size(void **state)
{
    struct cli_keyspec spec = {.type = CLI_KEY_RSA, .bits = 3072};
    EVP_PKEY *key = NULL;

    (void)state;
    assert_int_equal(cli_keyfile_generate(&spec, &key), CLI_EXIT_OK);
    assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(key), 3072);
    EVP_PKEY_free(key);
}

/* Parses a CSR PEM; fails the test when it does not parse. */
static X509_REQ *
read_csr(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);

    BIO_free(bio);
    assert_non_null(req);
    return req;
}

static void
csr_has_name_key_and_digest(void **state)
{
    const char *const digest_names[] = {"sha256", "sha384", "sha512"};
    const int rsa_nids[] = {NID_sha256WithRSAEncryption,
                            NID_sha384WithRSAEncryption,
                            NID_sha512WithRSAEncryption};
    struct cli_keyspec spec = {.type = CLI_KEY_RSA, .bits = 2048};
    EVP_PKEY *key = NULL;

    (void)state;
    assert_int_equal(cli_keyfile_generate(&spec, &key), CLI_EXIT_OK);
    for (size_t i = 0; i < 3; i++) {
        char *pem = NULL, cn[80];
        size_t len = 0;
        X509_REQ *req;

        assert_int_equal(cli_keyfile_make_csr(key, "web-1.example",
                                              digest_names[i], &pem, &len),
                         CLI_EXIT_OK);
        req = read_csr(pem);
        assert_int_equal(X509_REQ_get_signature_nid(req), rsa_nids[i]);
        assert_int_equal(X509_REQ_verify(req, key), 1);
        assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key), 1);
        assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
                                              NID_commonName, cn,
                                              sizeof(cn)) > 0);
        assert_string_equal(cn, "web-1.example");
        assert_int_equal(X509_NAME_entry_count(
                             X509_REQ_get_subject_name(req)), 1);
        X509_REQ_free(req);
        free(pem);
    }
    EVP_PKEY_free(key);
}

static void
ec_csr_signed_with_ecdsa(void **state)
{
    struct cli_keyspec spec = {.type = CLI_KEY_EC, .bits = 521,
                               .curve = "secp521r1"};
    EVP_PKEY *key = NULL;
    char *pem = NULL;
    size_t len = 0;
    X509_REQ *req;

    (void)state;
    assert_int_equal(cli_keyfile_generate(&spec, &key), CLI_EXIT_OK);
    assert_int_equal(EVP_PKEY_get_bits(key), 521);
    assert_int_equal(cli_keyfile_make_csr(key, "CL", "sha384", &pem, &len),
                     CLI_EXIT_OK);
    req = read_csr(pem);
    assert_int_equal(X509_REQ_get_signature_nid(req), NID_ecdsa_with_SHA384);
    assert_int_equal(X509_REQ_verify(req, key), 1);
    X509_REQ_free(req);
    free(pem);
    EVP_PKEY_free(key);
}

static void
fingerprint_parse_normalises(void **state)
{
    const char *lower =
        "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:"
        "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89";
    char hex[65], text[96];

    (void)state;
    assert_int_equal(cli_pem_fingerprint_parse(lower, hex), 0);
    assert_string_equal(hex, "ABCDEF0123456789ABCDEF0123456789"
                             "ABCDEF0123456789ABCDEF0123456789");
    cli_pem_fingerprint_format(hex, text);
    assert_int_equal(strlen(text), 95);
    assert_int_equal(strncmp(text, "AB:CD:EF:01", 11), 0);
    assert_int_equal(cli_pem_fingerprint_parse("abcdef", hex), -1);
    assert_int_equal(cli_pem_fingerprint_parse(
                         "GBCDEF0123456789ABCDEF0123456789"
                         "ABCDEF0123456789ABCDEF0123456789", hex), -1);
    assert_int_equal(cli_pem_fingerprint_parse(
                         "ABCDEF0123456789ABCDEF0123456789"
                         "ABCDEF0123456789ABCDEF01234567890", hex), -1);
}

/* Makes a self-signed certificate for key. */
static X509 *
self_signed(EVP_PKEY *key, const char *cn)
{
    X509 *cert = X509_new();

    assert_non_null(cert);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN",
                               MBSTRING_UTF8, (const unsigned char *)cn, -1,
                               -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_set_pubkey(cert, key);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    return cert;
}

static void
pem_certificate_list_round_trip(void **state)
{
    struct cli_keyspec spec = {.type = CLI_KEY_EC, .bits = 256,
                               .curve = "prime256v1"};
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *certs = sk_X509_new_null(), *back = NULL;
    char *pem = NULL, hex[65], expected[65];
    size_t len = 0;

    (void)state;
    assert_int_equal(cli_keyfile_generate(&spec, &key), CLI_EXIT_OK);
    sk_X509_push(certs, self_signed(key, "one"));
    sk_X509_push(certs, self_signed(key, "two"));
    assert_int_equal(cli_pem_write_certs(certs, &pem, &len), 0);
    assert_int_equal(cli_pem_read_certs(pem, len, &back), 2);
    assert_int_equal(X509_cmp(sk_X509_value(back, 1),
                              sk_X509_value(certs, 1)), 0);
    assert_int_equal(cli_pem_fingerprint(sk_X509_value(back, 0), hex), 0);
    assert_int_equal(cli_pem_fingerprint(sk_X509_value(certs, 0), expected),
                     0);
    assert_string_equal(hex, expected);
    sk_X509_pop_free(back, X509_free);

    assert_int_equal(cli_pem_read_certs("", 0, &back), 0);
    sk_X509_pop_free(back, X509_free);
    /* A block whose base64 is damaged makes the whole list invalid. */
    pem[40] = '!';
    assert_int_equal(cli_pem_read_certs(pem, len, &back), -1);
    assert_null(back);
    free(pem);
    sk_X509_pop_free(certs, X509_free);
    EVP_PKEY_free(key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_spec_is_rsa_2048_aes_sha256),
        cmocka_unit_test(manual_spec_reads_each_option),
        cmocka_unit_test(curve_spellings_accepted),
        cmocka_unit_test(manual_spec_needs_every_option),
        cmocka_unit_test(bad_spec_values_rejected),
        cmocka_unit_test(default_and_manual_conflict),
        cmocka_unit_test(key_file_is_encrypted_pkcs8),
        cmocka_unit_test(rsa_key_has_requested_size),
        cmocka_unit_test(csr_has_name_key_and_digest),
        cmocka_unit_test(ec_csr_signed_with_ecdsa),
        cmocka_unit_test(fingerprint_parse_normalises),
        cmocka_unit_test(pem_certificate_list_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
