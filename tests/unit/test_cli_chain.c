/*
 * Unit tests of what ssleverywhere accepts from a server: the CA chain
 * that becomes ca-chain.crt, the issued certificate, the public key of
 * -keypair_gen, certificate fields as text, and messages that quote
 * server text. The certificates are made here with OpenSSL: a pinned
 * root, an intermediate under it, a foreign root, and leaves with one
 * flaw each.
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
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_chain.c"
#include "cli/cli_exit.c"
#include "cli/cli_pem.c"

#define DAY (24L * 3600)

/* What make_cert puts in a certificate. */
struct cert_spec {
    const char *cn;
    X509 *issuer;           /* NULL for self-signed */
    EVP_PKEY *issuer_key;
    EVP_PKEY *key;
    long not_before;        /* seconds from now */
    long not_after;
    const char *basic_constraints; /* openssl.cnf syntax, or NULL */
    const char *key_usage;
    const char *extended_key_usage;
};

/* The certificates every test shares, made once. */
struct chain_fixture {
    EVP_PKEY *root_key, *intermediate_key, *foreign_key, *leaf_key;
    X509 *root, *intermediate, *foreign, *impostor;
};

static const char leaf_usage[] = "serverAuth,clientAuth";

static EVP_PKEY *
make_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static void
add_extension(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    if (value == NULL)
        return;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static X509 *
make_cert(const struct cert_spec *spec)
{
    static long next_serial = 1000;
    X509 *cert = X509_new();
    X509 *issuer;

    assert_non_null(cert);
    issuer = spec->issuer != NULL ? spec->issuer : cert;
    assert_int_equal(X509_set_version(cert, 2), 1);
    assert_int_equal(
        ASN1_INTEGER_set(X509_get_serialNumber(cert), next_serial++), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert),
                                    spec->not_before));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert),
                                    spec->not_after));
    assert_int_equal(X509_NAME_add_entry_by_txt(
                         X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                         (const unsigned char *)spec->cn, -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(cert,
                                          X509_get_subject_name(issuer)),
                     1);
    assert_int_equal(X509_set_pubkey(cert, spec->key), 1);
    add_extension(cert, issuer, NID_basic_constraints,
                  spec->basic_constraints);
    add_extension(cert, issuer, NID_key_usage, spec->key_usage);
    add_extension(cert, issuer, NID_ext_key_usage,
                  spec->extended_key_usage);
    assert_true(X509_sign(cert, spec->issuer_key, EVP_sha256()) > 0);
    return cert;
}

static X509 *
make_ca(const char *cn, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key)
{
    struct cert_spec spec = {cn, issuer, issuer_key, key, -DAY, 30 * DAY,
                             "critical,CA:TRUE",
                             "critical,keyCertSign,cRLSign", NULL};

    return make_cert(&spec);
}

/* A leaf for the shared leaf key under the pinned root, with the given
 * validity and extensions. */
static X509 *
make_leaf(const struct chain_fixture *fx, long not_before, long not_after,
          const char *basic_constraints, const char *extended_key_usage)
{
    struct cert_spec spec = {"web", fx->root, fx->root_key, fx->leaf_key,
                             not_before, not_after, basic_constraints,
                             "critical,digitalSignature",
                             extended_key_usage};

    return make_cert(&spec);
}

/* Returns the PEM of up to three certificates (NULL ends the list) as a
 * heap string. */
static char *
pem_of(X509 *first, X509 *second, X509 *third)
{
    X509 *certs[] = {first, second, third};
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    size_t len;

    assert_non_null(bio);
    for (size_t i = 0; i < 3 && certs[i] != NULL; i++)
        assert_int_equal(PEM_write_bio_X509(bio, certs[i]), 1);
    assert_int_equal(cli_pem_bio_to_string(bio, &text, &len), 0);
    BIO_free(bio);
    return text;
}

/* stderr is sent to a temporary file while a check prints its error. */
static FILE *capture_file;
static int saved_stderr = -1;
static char captured[4096];

static void
capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    assert_non_null(capture_file);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Ends the capture and returns what was printed. */
static const char *
capture_end(void)
{
    size_t n;

    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    rewind(capture_file);
    n = fread(captured, 1, sizeof(captured) - 1, capture_file);
    captured[n] = '\0';
    fclose(capture_file);
    return captured;
}

static int
setup(void **state)
{
    struct chain_fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    fx->root_key = make_key();
    fx->intermediate_key = make_key();
    fx->foreign_key = make_key();
    fx->leaf_key = make_key();
    fx->root = make_ca("Pinned Root", NULL, fx->root_key, fx->root_key);
    fx->intermediate = make_ca("Issuing CA", fx->root, fx->root_key,
                               fx->intermediate_key);
    fx->foreign = make_ca("Foreign Root", NULL, fx->foreign_key,
                          fx->foreign_key);
    /* Same subject as the pinned root, another key. */
    fx->impostor = make_ca("Pinned Root", NULL, fx->foreign_key,
                           fx->foreign_key);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct chain_fixture *fx = *state;

    X509_free(fx->impostor);
    X509_free(fx->foreign);
    X509_free(fx->intermediate);
    X509_free(fx->root);
    EVP_PKEY_free(fx->leaf_key);
    EVP_PKEY_free(fx->foreign_key);
    EVP_PKEY_free(fx->intermediate_key);
    EVP_PKEY_free(fx->root_key);
    free(fx);
    return 0;
}

/* Builds ca-chain.crt from chain and returns its certificates. */
static STACK_OF(X509) *
build_ok(const struct chain_fixture *fx, const char *chain)
{
    STACK_OF(X509) *certs = NULL;
    char *pem = NULL;
    size_t len = 0;

    assert_int_equal(cli_chain_build(chain, fx->root, &pem, &len),
                     CLI_EXIT_OK);
    assert_non_null(pem);
    assert_int_equal(strlen(pem), len);
    assert_true(cli_pem_read_certs(pem, len, &certs) > 0);
    free(pem);
    return certs;
}

static void
chain_of_root_alone(void **state)
{
    struct chain_fixture *fx = *state;
    STACK_OF(X509) *certs = build_ok(fx, NULL);

    assert_int_equal(sk_X509_num(certs), 1);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 0), fx->root), 0);
    sk_X509_pop_free(certs, X509_free);
}

static void
chain_keeps_intermediate_then_root(void **state)
{
    struct chain_fixture *fx = *state;
    char *chain = pem_of(fx->intermediate, fx->root, NULL);
    STACK_OF(X509) *certs = build_ok(fx, chain);

    assert_int_equal(sk_X509_num(certs), 2);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 0), fx->intermediate),
                     0);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 1), fx->root), 0);
    sk_X509_pop_free(certs, X509_free);
    free(chain);
}

static void
chain_drops_repeats(void **state)
{
    struct chain_fixture *fx = *state;
    char *chain = pem_of(fx->root, fx->intermediate, fx->intermediate);
    STACK_OF(X509) *certs = build_ok(fx, chain);

    assert_int_equal(sk_X509_num(certs), 2);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 0), fx->intermediate),
                     0);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 1), fx->root), 0);
    sk_X509_pop_free(certs, X509_free);
    free(chain);
}

/* Builds ca-chain.crt from chain, expecting exit 5, no output and needle
 * in the message. */
static void
expect_chain_rejected(const struct chain_fixture *fx, const char *chain,
                      const char *needle)
{
    char *pem = (char *)"unchanged";
    size_t len = 99;
    const char *message;
    int rc;

    capture_begin();
    rc = cli_chain_build(chain, fx->root, &pem, &len);
    message = capture_end();
    assert_int_equal(rc, CLI_EXIT_SERVER);
    assert_null(pem);
    assert_int_equal(len, 0);
    if (strstr(message, needle) == NULL)
        fail_msg("expected \"%s\" in: %s", needle, message);
}

static void
chain_rejects_foreign_root(void **state)
{
    struct chain_fixture *fx = *state;
    char *chain = pem_of(fx->foreign, fx->root, NULL);

    expect_chain_rejected(fx, chain,
                          "the server sent a chain certificate "
                          "CN=Foreign Root that does not lead to the "
                          "pinned root");
    free(chain);
}

static void
chain_rejects_root_impostor(void **state)
{
    struct chain_fixture *fx = *state;
    char *chain = pem_of(fx->impostor, NULL, NULL);

    expect_chain_rejected(fx, chain, "CN=Pinned Root that does not lead");
    free(chain);
}

static void
chain_rejects_non_ca_member(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *leaf = make_leaf(fx, -DAY, DAY, "critical,CA:FALSE", leaf_usage);
    char *chain = pem_of(leaf, fx->root, NULL);

    expect_chain_rejected(fx, chain, "not a CA certificate");
    free(chain);
    X509_free(leaf);
}

static void
chain_rejects_expired_intermediate(void **state)
{
    struct chain_fixture *fx = *state;
    struct cert_spec spec = {"Old CA", fx->root, fx->root_key,
                             fx->intermediate_key, -3 * DAY, -DAY,
                             "critical,CA:TRUE", "critical,keyCertSign",
                             NULL};
    X509 *old = make_cert(&spec);
    char *chain = pem_of(old, fx->root, NULL);

    expect_chain_rejected(fx, chain, "expired");
    free(chain);
    X509_free(old);
}

/* An intermediate that only a foreign CA signed, sent together with its
 * issuer, still leads nowhere near the pinned root. */
static void
chain_rejects_foreign_intermediate(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *rogue = make_ca("Rogue CA", fx->foreign, fx->foreign_key,
                          fx->intermediate_key);
    char *chain = pem_of(rogue, fx->foreign, fx->root);

    expect_chain_rejected(fx, chain, "CN=Rogue CA");
    free(chain);
    X509_free(rogue);
}

static void
chain_rejects_invalid_pem(void **state)
{
    struct chain_fixture *fx = *state;

    expect_chain_rejected(fx,
                          "-----BEGIN CERTIFICATE-----\nnot base64\n"
                          "-----END CERTIFICATE-----\n",
                          "\"chain\" is not a list of PEM certificates");
}

/* Checks leaf as the issued certificate for the shared leaf key, with
 * chain_file as ca-chain.crt; expects rc and, for failures, needle in
 * the message. */
static void
expect_issued(const struct chain_fixture *fx, X509 *leaf,
              const char *chain_file, EVP_PKEY *key, int expected,
              const char *needle)
{
    char *pem = pem_of(leaf, NULL, NULL);
    X509 *cert = NULL;
    const char *message;
    int rc;

    capture_begin();
    rc = cli_chain_check_issued(pem, chain_file, fx->root, key, &cert);
    message = capture_end();
    assert_int_equal(rc, expected);
    if (expected == CLI_EXIT_OK) {
        assert_non_null(cert);
        assert_int_equal(X509_cmp(cert, leaf), 0);
    } else {
        assert_null(cert);
        if (strstr(message, needle) == NULL)
            fail_msg("expected \"%s\" in: %s", needle, message);
    }
    X509_free(cert);
    free(pem);
}

static void
issued_leaf_accepted(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *leaf = make_leaf(fx, -60, 30 * DAY, "critical,CA:FALSE",
                           leaf_usage);
    char *chain = pem_of(fx->root, NULL, NULL);

    expect_issued(fx, leaf, chain, fx->leaf_key, CLI_EXIT_OK, NULL);
    free(chain);
    X509_free(leaf);
}

static void
issued_under_intermediate_accepted(void **state)
{
    struct chain_fixture *fx = *state;
    struct cert_spec spec = {"web", fx->intermediate, fx->intermediate_key,
                             fx->leaf_key, -60, DAY, "critical,CA:FALSE",
                             NULL, leaf_usage};
    X509 *leaf = make_cert(&spec);
    char *chain = pem_of(fx->intermediate, fx->root, NULL);
    char *root_only = pem_of(fx->root, NULL, NULL);

    expect_issued(fx, leaf, chain, fx->leaf_key, CLI_EXIT_OK, NULL);
    expect_issued(fx, leaf, root_only, fx->leaf_key, CLI_EXIT_SERVER,
                  "does not verify up to the pinned CA root");
    free(root_only);
    free(chain);
    X509_free(leaf);
}

static void
issued_expired_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *leaf = make_leaf(fx, -2 * DAY, -DAY, "critical,CA:FALSE",
                           leaf_usage);
    char *chain = pem_of(fx->root, NULL, NULL);

    expect_issued(fx, leaf, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "is not valid now: certificate has expired");
    free(chain);
    X509_free(leaf);
}

/* notAfter before notBefore, both in the past: what openssl x509 -days -1
 * makes. */
static void
issued_inverted_validity_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *leaf = make_leaf(fx, 0, -DAY, "critical,CA:FALSE", leaf_usage);
    char *chain = pem_of(fx->root, NULL, NULL);

    expect_issued(fx, leaf, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "is not valid now");
    free(chain);
    X509_free(leaf);
}

static void
issued_not_yet_valid_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *leaf = make_leaf(fx, DAY, 2 * DAY, "critical,CA:FALSE",
                           leaf_usage);
    char *chain = pem_of(fx->root, NULL, NULL);

    expect_issued(fx, leaf, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "not yet valid");
    free(chain);
    X509_free(leaf);
}

/* CA:TRUE with a keyUsage that lacks keyCertSign, which X509_check_ca
 * alone reports as no CA, and a leaf without basicConstraints. */
static void
issued_ca_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *ca = make_leaf(fx, -60, DAY, "critical,CA:TRUE", leaf_usage);
    X509 *bare = make_leaf(fx, -60, DAY, NULL, leaf_usage);
    char *chain = pem_of(fx->root, NULL, NULL);

    expect_issued(fx, ca, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "issued a CA certificate");
    expect_issued(fx, bare, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "it must have CA:FALSE");
    free(chain);
    X509_free(bare);
    X509_free(ca);
}

static void
issued_without_client_auth_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *server_only = make_leaf(fx, -60, DAY, "critical,CA:FALSE",
                                  "serverAuth");
    X509 *client_only = make_leaf(fx, -60, DAY, "critical,CA:FALSE",
                                  "clientAuth");
    X509 *no_usage = make_leaf(fx, -60, DAY, "critical,CA:FALSE", NULL);
    char *chain = pem_of(fx->root, NULL, NULL);

    expect_issued(fx, server_only, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "lacks the extended key usage clientAuth;");
    expect_issued(fx, client_only, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "lacks the extended key usage serverAuth;");
    expect_issued(fx, no_usage, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "clientAuth and serverAuth");
    free(chain);
    X509_free(no_usage);
    X509_free(client_only);
    X509_free(server_only);
}

static void
issued_for_other_key_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *leaf = make_leaf(fx, -60, DAY, "critical,CA:FALSE", leaf_usage);
    char *chain = pem_of(fx->root, NULL, NULL);

    expect_issued(fx, leaf, chain, fx->intermediate_key, CLI_EXIT_SERVER,
                  "another public key");
    free(chain);
    X509_free(leaf);
}

static void
issued_by_foreign_ca_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    struct cert_spec spec = {"web", fx->foreign, fx->foreign_key,
                             fx->leaf_key, -60, DAY, "critical,CA:FALSE",
                             NULL, leaf_usage};
    X509 *leaf = make_cert(&spec);
    char *chain = pem_of(fx->foreign, fx->root, NULL);

    /* Even with the foreign root in the file, only root is an anchor. */
    expect_issued(fx, leaf, chain, fx->leaf_key, CLI_EXIT_SERVER,
                  "does not verify up to the pinned CA root");
    free(chain);
    X509_free(leaf);
}

static void
issued_two_certificates_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    X509 *leaf = make_leaf(fx, -60, DAY, "critical,CA:FALSE", leaf_usage);
    char *two = pem_of(leaf, leaf, NULL);
    char *chain = pem_of(fx->root, NULL, NULL);
    X509 *cert = NULL;

    capture_begin();
    assert_int_equal(cli_chain_check_issued(two, chain, fx->root,
                                            fx->leaf_key, &cert),
                     CLI_EXIT_SERVER);
    assert_int_equal(cli_chain_check_issued(NULL, chain, fx->root,
                                            fx->leaf_key, &cert),
                     CLI_EXIT_SERVER);
    capture_end();
    assert_null(cert);
    free(chain);
    free(two);
    X509_free(leaf);
}

static void
find_root_by_fingerprint(void **state)
{
    struct chain_fixture *fx = *state;
    char *chain = pem_of(fx->intermediate, fx->root, NULL);
    char fingerprint[65], other[65];
    X509 *found;

    assert_int_equal(cli_pem_fingerprint(fx->root, fingerprint), 0);
    found = cli_chain_find_root(chain, strlen(chain), fingerprint);
    assert_non_null(found);
    assert_int_equal(X509_cmp(found, fx->root), 0);
    X509_free(found);
    assert_int_equal(cli_pem_fingerprint(fx->foreign, other), 0);
    assert_null(cli_chain_find_root(chain, strlen(chain), other));
    free(chain);
}

static void
serial_printed_as_hex(void **state)
{
    X509 *cert = X509_new();
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    BIGNUM *bn = NULL;
    char text[64];

    (void)state;
    assert_int_equal(ASN1_INTEGER_set(serial, 0), 1);
    assert_int_equal(X509_set_serialNumber(cert, serial), 1);
    assert_int_equal(cli_pem_serial_format(cert, text, sizeof(text)), 0);
    assert_string_equal(text, "00");

    /* A leading byte with its high bit set, and a zero inside. */
    assert_int_not_equal(BN_hex2bn(&bn, "80AB00CDEF"), 0);
    assert_non_null(BN_to_ASN1_INTEGER(bn, serial));
    assert_int_equal(X509_set_serialNumber(cert, serial), 1);
    assert_int_equal(cli_pem_serial_format(cert, text, sizeof(text)), 0);
    assert_string_equal(text, "80AB00CDEF");
    assert_int_equal(cli_pem_serial_format(cert, text, 10), -1);

    assert_int_equal(ASN1_INTEGER_set(serial, -1), 1);
    assert_int_equal(X509_set_serialNumber(cert, serial), 1);
    assert_int_equal(cli_pem_serial_format(cert, text, sizeof(text)), 0);
    assert_string_equal(text, "-01");
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    X509_free(cert);
}

static void
time_printed_as_rfc3339(void **state)
{
    ASN1_TIME *time = ASN1_TIME_new();
    char text[32];

    (void)state;
    assert_non_null(ASN1_TIME_set(time, 1827891626));
    assert_int_equal(cli_pem_time_format(time, text), 0);
    assert_string_equal(text, "2027-12-04T03:40:26Z");
    /* A GeneralizedTime after 2049. */
    assert_int_equal(ASN1_TIME_set_string(time, "20510101000000Z"), 1);
    assert_int_equal(cli_pem_time_format(time, text), 0);
    assert_string_equal(text, "2051-01-01T00:00:00Z");
    ASN1_TIME_free(time);
}

static void
subject_escapes_controls(void **state)
{
    struct chain_fixture *fx = *state;
    struct cert_spec spec = {"evil\033[2J\xc2\x9b", NULL, fx->foreign_key,
                             fx->foreign_key, -DAY, DAY, "CA:TRUE", NULL,
                             NULL};
    X509 *cert;
    char text[SUBJECT_TEXT_MAX];

    cert = make_cert(&spec);
    cli_pem_subject_format(cert, text, sizeof(text));
    for (const char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            fail_msg("byte 0x%02x left in subject text %s",
                     (unsigned char)*p, text);
    assert_non_null(strstr(text, "CN=evil"));
    X509_free(cert);
}

static char *
public_key_pem(EVP_PKEY *key)
{
    char *pem = NULL;

    assert_int_equal(cli_pem_public_key_write(key, &pem), 0);
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    return pem;
}

static void
public_key_read_back(void **state)
{
    struct chain_fixture *fx = *state;
    char *pem = public_key_pem(fx->leaf_key);
    char padded[1024];
    EVP_PKEY *key = NULL;

    assert_int_equal(cli_pem_public_key_read(pem, &key), 0);
    assert_int_equal(EVP_PKEY_eq(key, fx->leaf_key), 1);
    EVP_PKEY_free(key);
    snprintf(padded, sizeof(padded), "\n%s\n\n", pem);
    assert_int_equal(cli_pem_public_key_read(padded, &key), 0);
    EVP_PKEY_free(key);
    free(pem);
}

static void
public_key_garbage_rejected(void **state)
{
    struct chain_fixture *fx = *state;
    char *pem = public_key_pem(fx->leaf_key);
    char text[2048];
    EVP_PKEY *key = (EVP_PKEY *)1;

    (void)state;
    assert_int_equal(cli_pem_public_key_read("\033[2Jnot a pem", &key), -1);
    assert_null(key);
    assert_int_equal(cli_pem_public_key_read("", &key), -1);
    snprintf(text, sizeof(text), "%s\033[2J", pem);
    assert_int_equal(cli_pem_public_key_read(text, &key), -1);
    snprintf(text, sizeof(text), "%s%s", pem, pem);
    assert_int_equal(cli_pem_public_key_read(text, &key), -1);
    /* A certificate is not a PUBLIC KEY block. */
    free(pem);
    pem = pem_of(fx->root, NULL, NULL);
    assert_int_equal(cli_pem_public_key_read(pem, &key), -1);
    free(pem);
}

/* cli_fail prints "ssleverywhere: MESSAGE" with every control character
 * and invalid UTF-8 byte of MESSAGE replaced by '?'. */
static void
messages_replace_controls(void **state)
{
    const char *text;

    (void)state;
    capture_begin();
    cli_fail(CLI_EXIT_SERVER, "%s",
             "a\033[2Jb\nc\x7f" "d\xc2\x9b" "e\xff" "f\xc3\xa9g\xe2\x82");
    text = capture_end();
    assert_string_equal(text, "ssleverywhere: a?[2Jb?c?d??e?f\xc3\xa9g??\n");
    capture_begin();
    cli_note("%s", "\xf0\x9f\x94\x92 ok \xed\xa0\x80");
    text = capture_end();
    assert_string_equal(text, "ssleverywhere: \xf0\x9f\x94\x92 ok ???\n");
}

int
main(void)
{
#define CASE(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        CASE(chain_of_root_alone),
        CASE(chain_keeps_intermediate_then_root),
        CASE(chain_drops_repeats),
        CASE(chain_rejects_foreign_root),
        CASE(chain_rejects_root_impostor),
        CASE(chain_rejects_non_ca_member),
        CASE(chain_rejects_expired_intermediate),
        CASE(chain_rejects_foreign_intermediate),
        CASE(chain_rejects_invalid_pem),
        CASE(issued_leaf_accepted),
        CASE(issued_under_intermediate_accepted),
        CASE(issued_expired_rejected),
        CASE(issued_inverted_validity_rejected),
        CASE(issued_not_yet_valid_rejected),
        CASE(issued_ca_rejected),
        CASE(issued_without_client_auth_rejected),
        CASE(issued_for_other_key_rejected),
        CASE(issued_by_foreign_ca_rejected),
        CASE(issued_two_certificates_rejected),
        CASE(find_root_by_fingerprint),
        CASE(serial_printed_as_hex),
        CASE(time_printed_as_rfc3339),
        CASE(subject_escapes_controls),
        CASE(public_key_read_back),
        CASE(public_key_garbage_rejected),
        CASE(messages_replace_controls),
    };
#undef CASE

    return cmocka_run_group_tests(tests, NULL, NULL);
}
