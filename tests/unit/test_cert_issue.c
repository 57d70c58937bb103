/*
 * Certificate issuance against real OpenSSL: software CA keys (RSA-2048 and
 * P-256) stand in for the HSM keys, and every CSR is made here with
 * OpenSSL, then issued and checked field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managers/cert_issue.h"

#define SECONDS_PER_DAY 86400
#define BACKDATE_SECONDS 60

static char dns_primary[] = "web1.example.test";
static char dns_mixed_case[] = "Www.Example.Test";
static char ip_v4[] = "192.0.2.10";
static char ip_v6[] = "2001:db8::10";
static char *const host_dns[] = {dns_primary, dns_mixed_case};
static char *const host_ips[] = {ip_v4, ip_v6};

static const struct issue_host test_host = {
    .name = "web1",
    .dns_names = host_dns,
    .dns_count = 2,
    .ip_addresses = host_ips,
    .ip_count = 2,
};

static const struct issue_limits test_limits = {
    .default_days = 365,
    .max_days = 825,
    .min_rsa_bits = 2048,
};

/* Keys and roots made once for the whole group. */
static struct {
    EVP_PKEY *rsa_ca_key;
    struct issue_result rsa_root;
    EVP_PKEY *ec_ca_key;
    struct issue_result ec_root;
    EVP_PKEY *rsa_key; /* subject keys */
    EVP_PKEY *ec_key;
} fx;

/* What make_csr puts into a CSR. */
struct csr_spec {
    EVP_PKEY *key;
    const char *cn;            /* NULL: no CN */
    const char *second_cn;     /* a second CN entry */
    const char *organization;  /* O and OU, which issuance ignores */
    const char *san;           /* openssl.cnf syntax, "DNS:a,IP:b" */
    const char *basic_constraints;
    const char *key_usage;
    const char *extended_key_usage;
    const char *comment;       /* nsComment, an extension the CA never sets */
    const char *digest;        /* NULL: sha256; "none" for Ed25519 */
    bool pss;
};

static void
add_req_ext(X509_REQ *req, STACK_OF(X509_EXTENSION) **exts, int nid,
            const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    if (value == NULL)
        return;
    X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_true(X509v3_add_ext(exts, ext, -1) != NULL);
    X509_EXTENSION_free(ext);
}

static void
add_name_entry(X509_NAME *name, int nid, const char *value)
{
    if (value == NULL)
        return;
    assert_true(X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                           (const unsigned char *)value, -1,
                                           -1, 0));
}

static char *
pem_of_req(X509_REQ *req)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy;
    long len;

    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
    len = BIO_get_mem_data(bio, &data);
    copy = strndup(data, (size_t)len);
    assert_non_null(copy);
    BIO_free(bio);
    return copy;
}

static void
sign_req(X509_REQ *req, const struct csr_spec *spec)
{
    const char *digest = spec->digest ? spec->digest : "sha256";
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pkey_ctx = NULL;

    assert_non_null(md_ctx);
    assert_int_equal(EVP_DigestSignInit_ex(md_ctx, &pkey_ctx,
                                           strcmp(digest, "none") == 0
                                               ? NULL
                                               : digest,
                                           NULL, NULL, spec->key, NULL),
                     1);
    if (spec->pss)
        assert_int_equal(
            EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING),
            1);
    assert_true(X509_REQ_sign_ctx(req, md_ctx) > 0);
    EVP_MD_CTX_free(md_ctx);
}

/* Returns a PEM CSR made to spec; the caller frees it. */
static char *
make_csr(const struct csr_spec *spec)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name;
    char *pem;

    assert_non_null(req);
    assert_int_equal(X509_REQ_set_version(req, X509_REQ_VERSION_1), 1);
    name = X509_REQ_get_subject_name(req);
    add_name_entry(name, NID_organizationName, spec->organization);
    add_name_entry(name, NID_organizationalUnitName, spec->organization);
    add_name_entry(name, NID_commonName, spec->cn);
    add_name_entry(name, NID_commonName, spec->second_cn);
    assert_int_equal(X509_REQ_set_pubkey(req, spec->key), 1);

    add_req_ext(req, &exts, NID_subject_alt_name, spec->san);
    add_req_ext(req, &exts, NID_basic_constraints, spec->basic_constraints);
    add_req_ext(req, &exts, NID_key_usage, spec->key_usage);
    add_req_ext(req, &exts, NID_ext_key_usage, spec->extended_key_usage);
    add_req_ext(req, &exts, NID_netscape_comment, spec->comment);
    if (exts != NULL)
        assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

    sign_req(req, spec);
    pem = pem_of_req(req);
    X509_REQ_free(req);
    return pem;
}

/* A CSR that issuance accepts for test_host, with the given key. */
static char *
make_good_csr(EVP_PKEY *key)
{
    struct csr_spec spec = {
        .key = key,
        .cn = "web1.example.test",
        .san = "DNS:web1.example.test,IP:192.0.2.10",
    };

    return make_csr(&spec);
}

static X509 *parse_issued(const struct issue_result *out);

/* Issues under ca_cert. cert_issue_from_csr returns only the PEM, so
 * out->cert is parsed from it here and the checks read what a client
 * receives. */
static enum adcp_status
issue_under(X509 *ca_cert, EVP_PKEY *ca_key, const char *pem,
            const char *hash, int days, struct issue_result *out,
            struct adcp_error *err)
{
    struct issue_request request = {
        .csr_pem = pem,
        .hash_algorithm = hash,
        .days = days,
    };
    enum adcp_status status;

    adcp_error_clear(err);
    status = cert_issue_from_csr(ca_cert, ca_key, &test_host, &request,
                                 &test_limits, out, err);
    if (status == ADCP_OK) {
        assert_null(out->cert);
        out->cert = parse_issued(out);
    }
    return status;
}

static enum adcp_status
issue_rsa(const char *pem, const char *hash, int days,
          struct issue_result *out, struct adcp_error *err)
{
    return issue_under(fx.rsa_root.cert, fx.rsa_ca_key, pem, hash, days,
                       out, err);
}

/* Issues under the RSA root and asserts the code, the field and that the
 * message contains text (when not NULL). */
static void
assert_rejected(const char *pem, const char *hash, int days,
                enum adcp_status code, const char *field, const char *text)
{
    struct issue_result out;
    struct adcp_error err;
    enum adcp_status status;

    status = issue_rsa(pem, hash, days, &out, &err);
    print_message("%s: %s\n", adcp_status_name(status), err.message);
    assert_string_equal(adcp_status_name(status), adcp_status_name(code));
    assert_int_equal(err.code, code);
    assert_string_equal(err.field, field);
    if (text != NULL)
        assert_non_null(strstr(err.message, text));
    assert_null(out.cert);
    assert_null(out.cert_pem);
    issue_result_clear(&out);
}

static void
assert_csr_rejected(const struct csr_spec *spec, enum adcp_status code,
                    const char *text)
{
    char *pem = make_csr(spec);

    assert_rejected(pem, NULL, 0, code, "csr_details.csr", text);
    free(pem);
}

static void
assert_csr_rejected_pem(const char *pem, enum adcp_status code,
                        const char *text)
{
    assert_rejected(pem, NULL, 0, code, "csr_details.csr", text);
}

static X509 *
issue_ok(const struct csr_spec *spec, const char *hash, int days)
{
    struct issue_result out;
    struct adcp_error err;
    enum adcp_status status;
    char *pem = make_csr(spec);
    X509 *cert;

    status = issue_rsa(pem, hash, days, &out, &err);
    if (status != ADCP_OK)
        print_error("%s: %s\n", adcp_status_name(status), err.message);
    assert_int_equal(status, ADCP_OK);
    cert = X509_dup(out.cert);
    assert_non_null(cert);
    issue_result_clear(&out);
    free(pem);
    return cert;
}

/* Verifies leaf in a store that trusts only root, in strict X.509 mode. */
static int
verify_chain(X509 *root, X509 *leaf, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok;

    assert_non_null(store);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, root), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
    ok = X509_verify_cert(ctx);
    if (ok != 1)
        print_message("verification: %s\n",
                      X509_verify_cert_error_string(
                          X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

/* Parses the PEM certificate that the caller of issuance receives. */
static X509 *
parse_issued(const struct issue_result *out)
{
    BIO *bio = BIO_new_mem_buf(out->cert_pem, -1);
    X509 *cert;

    assert_non_null(bio);
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    assert_non_null(cert);
    BIO_free(bio);
    return cert;
}

static int
verify_issued(X509 *root, const struct issue_result *out, int purpose)
{
    X509 *cert = parse_issued(out);
    int ok = verify_chain(root, cert, purpose);

    X509_free(cert);
    return ok;
}

/* The certificate's SubjectPublicKeyInfo is the CSR's, byte for byte, and
 * the one OpenSSL encodes for the subject key. */
static void
assert_spki_copied(const struct issue_result *out, const char *csr_pem,
                   EVP_PKEY *subject_key)
{
    BIO *bio = BIO_new_mem_buf(csr_pem, -1);
    unsigned char *from_csr = NULL, *from_cert = NULL, *from_key = NULL;
    X509 *cert = parse_issued(out);
    X509_REQ *req;
    int csr_len, cert_len, key_len;

    assert_non_null(bio);
    req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    assert_non_null(req);
    csr_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &from_csr);
    cert_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &from_cert);
    key_len = i2d_PUBKEY(subject_key, &from_key);
    assert_true(csr_len > 0);
    assert_int_equal(cert_len, csr_len);
    assert_memory_equal(from_cert, from_csr, (size_t)csr_len);
    assert_int_equal(key_len, csr_len);
    assert_memory_equal(from_key, from_csr, (size_t)csr_len);
    /* The copy in the unsigned structure is the same as the parsed one. */
    OPENSSL_free(from_cert);
    from_cert = NULL;
    cert_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(out->cert), &from_cert);
    assert_int_equal(cert_len, csr_len);
    assert_memory_equal(from_cert, from_csr, (size_t)csr_len);
    OPENSSL_free(from_csr);
    OPENSSL_free(from_cert);
    OPENSSL_free(from_key);
    X509_REQ_free(req);
    X509_free(cert);
    BIO_free(bio);
}

static void
assert_critical(X509 *cert, int nid, bool critical)
{
    int index = X509_get_ext_by_NID(cert, nid, -1);

    assert_true(index >= 0);
    assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(cert, index)),
                     critical ? 1 : 0);
}

static void
assert_common_name(X509 *cert, const char *expected)
{
    X509_NAME *subject = X509_get_subject_name(cert);
    char cn[128];

    assert_int_equal(X509_NAME_entry_count(subject), 1);
    assert_true(X509_NAME_get_text_by_NID(subject, NID_commonName, cn,
                                          sizeof(cn)) > 0);
    assert_string_equal(cn, expected);
}

static void
assert_dns_entry(const GENERAL_NAME *entry, const char *expected)
{
    int type;
    ASN1_STRING *value = GENERAL_NAME_get0_value(entry, &type);

    assert_int_equal(type, GEN_DNS);
    assert_int_equal(ASN1_STRING_length(value), (int)strlen(expected));
    assert_memory_equal(ASN1_STRING_get0_data(value), expected,
                        strlen(expected));
}

static void
assert_ip_entry(const GENERAL_NAME *entry, const unsigned char *expected,
                int len)
{
    int type;
    ASN1_STRING *value = GENERAL_NAME_get0_value(entry, &type);

    assert_int_equal(type, GEN_IPADD);
    assert_int_equal(ASN1_STRING_length(value), len);
    assert_memory_equal(ASN1_STRING_get0_data(value), expected, len);
}

/* The SANs are the host's registered names, in order, IPs as iPAddress. */
static void
assert_host_sans(X509 *cert)
{
    static const unsigned char v4[] = {192, 0, 2, 10};
    static const unsigned char v6[] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                       0,    0,    0,    0,    0, 0, 0, 0x10};
    GENERAL_NAMES *names;

    names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    assert_non_null(names);
    assert_int_equal(sk_GENERAL_NAME_num(names), 4);
    assert_dns_entry(sk_GENERAL_NAME_value(names, 0), "web1.example.test");
    assert_dns_entry(sk_GENERAL_NAME_value(names, 1), "Www.Example.Test");
    assert_ip_entry(sk_GENERAL_NAME_value(names, 2), v4, 4);
    assert_ip_entry(sk_GENERAL_NAME_value(names, 3), v6, 16);
    GENERAL_NAMES_free(names);
}

/* The end-entity profile: exactly the CA's six extensions. */
static void
assert_host_profile(X509 *cert, X509 *root, bool rsa_subject)
{
    uint32_t key_usage = KU_DIGITAL_SIGNATURE;
    BASIC_CONSTRAINTS *bc;

    if (rsa_subject)
        key_usage |= KU_KEY_ENCIPHERMENT;
    assert_int_equal(X509_get_version(cert), X509_VERSION_3);
    assert_int_equal(X509_get_ext_count(cert), 6);

    bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_int_equal(bc->ca, 0);
    assert_null(bc->pathlen);
    BASIC_CONSTRAINTS_free(bc);
    assert_critical(cert, NID_basic_constraints, true);

    assert_int_equal(X509_get_key_usage(cert), key_usage);
    assert_critical(cert, NID_key_usage, true);
    assert_int_equal(X509_get_extended_key_usage(cert),
                     XKU_SSL_SERVER | XKU_SSL_CLIENT);
    assert_critical(cert, NID_ext_key_usage, false);

    assert_host_sans(cert);
    assert_critical(cert, NID_subject_alt_name, false);

    assert_non_null(X509_get0_subject_key_id(cert));
    assert_non_null(X509_get0_authority_key_id(cert));
    assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert),
                                           X509_get0_subject_key_id(root)),
                     0);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(cert),
                                   X509_get_subject_name(root)),
                     0);
}

static EVP_PKEY *
make_ec_key(const char *curve)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

    assert_non_null(key);
    return key;
}

static EVP_PKEY *
make_rsa_key(size_t bits)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);

    assert_non_null(key);
    return key;
}

static int
group_setup(void **state)
{
    struct adcp_error err;

    (void)state;
    fx.rsa_ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.ec_ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    fx.rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (fx.rsa_ca_key == NULL || fx.ec_ca_key == NULL ||
        fx.rsa_key == NULL || fx.ec_key == NULL)
        return -1;
    if (cert_root_create(fx.rsa_ca_key, "Test Root RSA", "HSM4SSL Test",
                         3650, "sha256", &fx.rsa_root, &err) != ADCP_OK ||
        cert_root_create(fx.ec_ca_key, "Test Root EC", "HSM4SSL Test", 3650,
                         "sha384", &fx.ec_root, &err) != ADCP_OK) {
        fprintf(stderr, "root: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    issue_result_clear(&fx.rsa_root);
    issue_result_clear(&fx.ec_root);
    EVP_PKEY_free(fx.rsa_ca_key);
    EVP_PKEY_free(fx.ec_ca_key);
    EVP_PKEY_free(fx.rsa_key);
    EVP_PKEY_free(fx.ec_key);
    return 0;
}

/* ---- good requests ---------------------------------------------------- */

static void
issue_rsa_csr_under_rsa_root(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.rsa_key);

    (void)state;
    assert_int_equal(issue_rsa(pem, NULL, 0, &out, &err), ADCP_OK);
    assert_int_equal(X509_verify(out.cert, fx.rsa_ca_key), 1);
    assert_int_equal(verify_issued(fx.rsa_root.cert, &out,
                                  X509_PURPOSE_SSL_SERVER),
                     1);
    assert_int_equal(verify_issued(fx.rsa_root.cert, &out,
                                  X509_PURPOSE_SSL_CLIENT),
                     1);
    assert_host_profile(out.cert, fx.rsa_root.cert, true);
    assert_spki_copied(&out, pem, fx.rsa_key);
    assert_common_name(out.cert, "web1.example.test");
    assert_string_equal(out.subject, "CN=web1.example.test");
    assert_int_equal(X509_get_signature_nid(out.cert),
                     NID_sha256WithRSAEncryption);
    assert_non_null(strstr(out.cert_pem, "-----BEGIN CERTIFICATE-----"));
    issue_result_clear(&out);
    free(pem);
}

static void
issue_ec_csr_under_ec_root(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);

    (void)state;
    assert_int_equal(issue_under(fx.ec_root.cert, fx.ec_ca_key, pem,
                                 "sha512", 0, &out, &err),
                     ADCP_OK);
    assert_int_equal(X509_verify(out.cert, fx.ec_ca_key), 1);
    assert_int_equal(verify_issued(fx.ec_root.cert, &out,
                                  X509_PURPOSE_SSL_SERVER),
                     1);
    assert_int_equal(verify_issued(fx.ec_root.cert, &out,
                                  X509_PURPOSE_SSL_CLIENT),
                     1);
    assert_host_profile(out.cert, fx.ec_root.cert, false);
    assert_spki_copied(&out, pem, fx.ec_key);
    assert_int_equal(X509_get_signature_nid(out.cert), NID_ecdsa_with_SHA512);
    issue_result_clear(&out);
    free(pem);
}

static void
issue_ec_csr_under_rsa_root(void **state)
{
    struct csr_spec spec = {.key = fx.ec_key, .cn = "web1"};
    X509 *cert;

    (void)state;
    cert = issue_ok(&spec, "SHA384", 0);
    assert_int_equal(X509_get_signature_nid(cert),
                     NID_sha384WithRSAEncryption);
    assert_host_profile(cert, fx.rsa_root.cert, false);
    assert_common_name(cert, "web1");
    X509_free(cert);
}

static void
issue_p384_and_p521_keys(void **state)
{
    const char *curves[] = {"P-384", "P-521"};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct csr_spec spec = {.key = make_ec_key(curves[i]),
                                .cn = "web1"};
        X509 *cert = issue_ok(&spec, NULL, 0);

        assert_int_equal(verify_chain(fx.rsa_root.cert, cert,
                                      X509_PURPOSE_SSL_SERVER),
                         1);
        X509_free(cert);
        EVP_PKEY_free(spec.key);
    }
}

static void
issue_pss_signed_csr(void **state)
{
    struct csr_spec spec = {.key = fx.rsa_key, .cn = "web1", .pss = true};
    X509 *cert;

    (void)state;
    cert = issue_ok(&spec, NULL, 0);
    assert_host_profile(cert, fx.rsa_root.cert, true);
    X509_free(cert);
}

static void
issue_accepts_new_certificate_request_label(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);
    size_t size = strlen(pem) + 16;
    char *old = malloc(size);
    char *body = strchr(pem, '\n');
    char *end = strstr(pem, "-----END");

    (void)state;
    assert_non_null(old);
    assert_non_null(body);
    assert_non_null(end);
    *end = '\0';
    snprintf(old, size,
             "-----BEGIN NEW CERTIFICATE REQUEST-----%s"
             "-----END NEW CERTIFICATE REQUEST-----\n",
             body);
    assert_int_equal(issue_rsa(old, NULL, 0, &out, &err), ADCP_OK);
    issue_result_clear(&out);
    free(old);
    free(pem);
}

static void
issue_ignores_requested_extensions(void **state)
{
    struct csr_spec spec = {
        .key = fx.rsa_key,
        .cn = "web1.example.test",
        .san = "DNS:web1.example.test",
        .basic_constraints = "critical,CA:FALSE",
        .key_usage = "critical,keyCertSign,cRLSign,digitalSignature",
        .extended_key_usage = "codeSigning,emailProtection",
        .comment = "copied?",
    };
    X509 *cert;

    (void)state;
    cert = issue_ok(&spec, NULL, 0);
    assert_host_profile(cert, fx.rsa_root.cert, true);
    assert_int_equal(X509_get_ext_by_NID(cert, NID_netscape_comment, -1), -1);
    assert_int_equal(X509_check_ca(cert), 0);
    X509_free(cert);
}

/* ---- names ------------------------------------------------------------ */

static void
issue_matches_cn_without_case(void **state)
{
    struct csr_spec spec = {.key = fx.ec_key, .cn = "WWW.EXAMPLE.test"};
    X509 *cert;

    (void)state;
    cert = issue_ok(&spec, NULL, 0);
    assert_common_name(cert, "Www.Example.Test");
    X509_free(cert);
}

static void
issue_matches_ip_cn_by_value(void **state)
{
    struct csr_spec spec = {
        .key = fx.ec_key,
        .cn = "2001:DB8:0:0::0010",
        .san = "IP:2001:db8:0::10,IP:192.0.2.10,DNS:WEB1.example.TEST",
    };
    X509 *cert;

    (void)state;
    cert = issue_ok(&spec, NULL, 0);
    assert_common_name(cert, "2001:db8::10");
    assert_host_sans(cert);
    X509_free(cert);
}

static void
issue_without_cn_uses_host_name(void **state)
{
    struct csr_spec spec = {.key = fx.ec_key, .san = "DNS:web1.example.test"};
    X509 *cert;

    (void)state;
    cert = issue_ok(&spec, NULL, 0);
    assert_common_name(cert, "web1");
    X509_free(cert);
}

static void
issue_drops_other_subject_attributes(void **state)
{
    struct csr_spec spec = {
        .key = fx.ec_key,
        .cn = "web1",
        .organization = "Some Other Org",
    };
    X509 *cert;

    (void)state;
    cert = issue_ok(&spec, NULL, 0);
    assert_common_name(cert, "web1");
    X509_free(cert);
}

static void
reject_san_not_owned(void **state)
{
    struct csr_spec spec = {
        .key = fx.ec_key,
        .cn = "web1",
        .san = "DNS:web1.example.test,DNS:evil.example.test",
    };

    (void)state;
    assert_csr_rejected(&spec, ADCP_ERR_NAME_NOT_ALLOWED,
                        "evil.example.test");
    spec.san = "IP:192.0.2.11";
    assert_csr_rejected(&spec, ADCP_ERR_NAME_NOT_ALLOWED, "192.0.2.11");
    /* The host name is a valid CN but not one of the registered DNS
     * names, so it cannot be a SAN. */
    spec.san = "DNS:web1";
    assert_csr_rejected(&spec, ADCP_ERR_NAME_NOT_ALLOWED, "DNS name web1");
}

static void
reject_san_of_other_type(void **state)
{
    struct csr_spec spec = {
        .key = fx.ec_key,
        .cn = "web1",
        .san = "email:root@example.test",
    };

    (void)state;
    assert_csr_rejected(&spec, ADCP_ERR_NAME_NOT_ALLOWED, "rfc822Name");
    spec.san = "URI:https://web1.example.test/";
    assert_csr_rejected(&spec, ADCP_ERR_NAME_NOT_ALLOWED, "URI");
}

static void
reject_cn_not_owned(void **state)
{
    struct csr_spec spec = {.key = fx.ec_key, .cn = "web2.example.test"};

    (void)state;
    assert_csr_rejected(&spec, ADCP_ERR_NAME_NOT_ALLOWED,
                        "web2.example.test");
    spec.cn = "192.0.2.99";
    assert_csr_rejected(&spec, ADCP_ERR_NAME_NOT_ALLOWED, "192.0.2.99");
}

static void
reject_two_common_names(void **state)
{
    struct csr_spec spec = {
        .key = fx.ec_key,
        .cn = "web1",
        .second_cn = "web1.example.test",
    };

    (void)state;
    assert_csr_rejected(&spec, ADCP_ERR_INVALID_CSR, "more than one CN");
}

static void
reject_ca_request(void **state)
{
    struct csr_spec spec = {
        .key = fx.ec_key,
        .cn = "web1",
        .basic_constraints = "critical,CA:TRUE",
    };

    (void)state;
    assert_csr_rejected(&spec, ADCP_ERR_FORBIDDEN,
                        "the CSR requests CA:TRUE; this CA issues only "
                        "end-entity certificates");
    /* The CA check comes before the name checks. */
    spec.san = "DNS:evil.example.test";
    assert_csr_rejected(&spec, ADCP_ERR_FORBIDDEN, "CA:TRUE");
}

/* ---- keys and signatures ---------------------------------------------- */

static void
reject_rsa_1024(void **state)
{
    struct csr_spec spec = {.key = make_rsa_key(1024), .cn = "web1"};

    (void)state;
    assert_csr_rejected(&spec, ADCP_ERR_WEAK_ALGORITHM, "1024 bits");
    EVP_PKEY_free(spec.key);
}

static void
reject_koblitz_curves(void **state)
{
    const char *curves[] = {"secp192k1", "secp256k1"};
    char expected[80];

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct csr_spec spec = {.key = make_ec_key(curves[i]), .cn = "web1"};

        snprintf(expected, sizeof(expected),
                 "curve %s is not accepted; use P-256, P-384 or P-521",
                 curves[i]);
        assert_csr_rejected(&spec, ADCP_ERR_WEAK_ALGORITHM, expected);
        EVP_PKEY_free(spec.key);
    }
}

static void
reject_ed25519_key(void **state)
{
    struct csr_spec spec = {.cn = "web1", .digest = "none"};

    (void)state;
    spec.key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(spec.key);
    assert_csr_rejected(&spec, ADCP_ERR_INVALID_CSR, "key type ED25519");
    EVP_PKEY_free(spec.key);
}

static void
reject_rsa_exponent_3(void **state)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    struct csr_spec spec = {.cn = "web1"};
    BIGNUM *exponent = BN_new();

    (void)state;
    assert_non_null(ctx);
    assert_non_null(exponent);
    assert_int_equal(BN_set_word(exponent, 3), 1);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
    assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, exponent), 1);
    assert_int_equal(EVP_PKEY_generate(ctx, &spec.key), 1);
    assert_csr_rejected(&spec, ADCP_ERR_WEAK_ALGORITHM, "public exponent 3");
    EVP_PKEY_free(spec.key);
    BN_free(exponent);
    EVP_PKEY_CTX_free(ctx);
}

/* Returns a PEM CSR for spec whose SubjectPublicKeyInfo carries bits in
 * place of the key's own, signed with spec.key. */
static char *
make_csr_with_key_bits(const struct csr_spec *spec, const unsigned char *bits,
                       int len)
{
    X509_REQ *req = X509_REQ_new();
    unsigned char *copy = OPENSSL_memdup(bits, (size_t)len);
    ASN1_OBJECT *algorithm = NULL;
    X509_ALGOR *algor = NULL;
    X509_PUBKEY *public_key;
    const void *value = NULL;
    int type = V_ASN1_UNDEF;
    char *pem;

    assert_non_null(req);
    assert_non_null(copy);
    assert_int_equal(X509_REQ_set_version(req, X509_REQ_VERSION_1), 1);
    add_name_entry(X509_REQ_get_subject_name(req), NID_commonName, spec->cn);
    assert_int_equal(X509_REQ_set_pubkey(req, spec->key), 1);
    public_key = X509_REQ_get_X509_PUBKEY(req);
    assert_int_equal(X509_PUBKEY_get0_param(NULL, NULL, NULL, &algor,
                                            public_key),
                     1);
    X509_ALGOR_get0((const ASN1_OBJECT **)&algorithm, &type, &value, algor);
    algorithm = OBJ_dup(algorithm);
    assert_non_null(algorithm);
    assert_int_equal(X509_PUBKEY_set0_param(
                         public_key, algorithm, type,
                         type == V_ASN1_OBJECT ? OBJ_dup(value) : NULL, copy,
                         len),
                     1);
    sign_req(req, spec);
    pem = pem_of_req(req);
    X509_REQ_free(req);
    return pem;
}

/* The certificate copies the key's bytes, so bytes after the RSA key
 * cannot be dropped on the way and the CSR is rejected. */
static void
reject_rsa_key_with_trailing_bytes(void **state)
{
    struct csr_spec spec = {.key = fx.rsa_key, .cn = "web1"};
    unsigned char *der = NULL, *padded;
    int len = i2d_PublicKey(fx.rsa_key, &der);
    char *pem;

    (void)state;
    assert_true(len > 0);
    padded = OPENSSL_malloc((size_t)len + 1);
    assert_non_null(padded);
    memcpy(padded, der, (size_t)len);
    padded[len] = 0;
    pem = make_csr_with_key_bits(&spec, padded, len + 1);
    assert_csr_rejected_pem(pem, ADCP_ERR_INVALID_CSR, "cannot be decoded");
    free(pem);
    OPENSSL_free(padded);
    OPENSSL_free(der);
}

/* A point that is not on the curve must never reach the signature check.
 * The point is the key's own with its last coordinate byte changed. */
static void
reject_ec_point_off_curve(void **state)
{
    struct csr_spec spec = {.key = fx.ec_key, .cn = "web1"};
    unsigned char point[65];
    size_t len = 0;
    char *pem;

    (void)state;
    assert_int_equal(EVP_PKEY_get_octet_string_param(
                         fx.ec_key, OSSL_PKEY_PARAM_PUB_KEY, point,
                         sizeof(point), &len),
                     1);
    assert_int_equal(len, 65);
    point[64] ^= 0x01;
    pem = make_csr_with_key_bits(&spec, point, (int)len);
    assert_csr_rejected_pem(pem, ADCP_ERR_INVALID_CSR, "cannot be decoded");
    free(pem);
}

/* The point at infinity is no public key: with it as the key, a
 * signature can be made to verify without any private key. */
static void
reject_ec_point_at_infinity(void **state)
{
    static const unsigned char infinity[] = {0x00};
    struct csr_spec spec = {.key = fx.ec_key, .cn = "web1"};
    char *pem;

    (void)state;
    pem = make_csr_with_key_bits(&spec, infinity, (int)sizeof(infinity));
    assert_csr_rejected_pem(pem, ADCP_ERR_INVALID_CSR, "cannot be decoded");
    free(pem);
}

/* RFC 5480 forbids the hybrid form (06 or 07, then both coordinates),
 * even for a point on the curve. */
static void
reject_ec_point_in_hybrid_form(void **state)
{
    struct csr_spec spec = {.key = fx.ec_key, .cn = "web1"};
    unsigned char point[65];
    size_t len = 0;
    char *pem;

    (void)state;
    assert_int_equal(EVP_PKEY_get_octet_string_param(
                         fx.ec_key, OSSL_PKEY_PARAM_PUB_KEY, point,
                         sizeof(point), &len),
                     1);
    assert_int_equal(len, 65);
    assert_int_equal(point[0], 0x04);
    point[0] = (unsigned char)(0x06 | (point[64] & 0x01));
    pem = make_csr_with_key_bits(&spec, point, (int)len);
    assert_csr_rejected_pem(pem, ADCP_ERR_INVALID_CSR, "cannot be decoded");
    free(pem);
}

/* A coordinate of 2^256 - 1 lies outside the field of P-256. */
static void
reject_ec_coordinate_outside_field(void **state)
{
    struct csr_spec spec = {.key = fx.ec_key, .cn = "web1"};
    unsigned char point[65];
    size_t len = 0;
    char *pem;

    (void)state;
    assert_int_equal(EVP_PKEY_get_octet_string_param(
                         fx.ec_key, OSSL_PKEY_PARAM_PUB_KEY, point,
                         sizeof(point), &len),
                     1);
    assert_int_equal(len, 65);
    memset(point + 1, 0xff, 32);
    pem = make_csr_with_key_bits(&spec, point, (int)len);
    assert_csr_rejected_pem(pem, ADCP_ERR_INVALID_CSR, "cannot be decoded");
    free(pem);
}

/* Returns whether OpenSSL encodes the parsed certificate to the bytes it
 * was parsed from, which holds when those bytes are DER. */
static bool
reencodes_identically(X509 *cert)
{
    unsigned char *parsed = NULL, *reencoded = NULL;
    int parsed_len = i2d_X509(cert, &parsed);
    int reencoded_len;
    bool same;

    assert_true(parsed_len > 0);
    assert_true(i2d_re_X509_tbs(cert, NULL) > 0);
    reencoded_len = i2d_X509(cert, &reencoded);
    same = parsed_len == reencoded_len &&
           memcmp(parsed, reencoded, (size_t)parsed_len) == 0;
    OPENSSL_free(parsed);
    OPENSSL_free(reencoded);
    return same;
}

/* Issuance encodes certificates from its own templates, so each must be
 * DER that OpenSSL writes the same way, under both root types. */
static void
issued_certificates_are_der(void **state)
{
    const struct {
        X509 *root;
        EVP_PKEY *ca_key;
        EVP_PKEY *subject_key;
        const char *hash;
    } cases[] = {
        {fx.rsa_root.cert, fx.rsa_ca_key, fx.rsa_key, "sha256"},
        {fx.rsa_root.cert, fx.rsa_ca_key, fx.ec_key, "sha512"},
        {fx.ec_root.cert, fx.ec_ca_key, fx.ec_key, "sha384"},
        {fx.ec_root.cert, fx.ec_ca_key, fx.rsa_key, "sha256"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *pem = make_good_csr(cases[i].subject_key);
        struct issue_result out;
        struct adcp_error err;

        assert_int_equal(issue_under(cases[i].root, cases[i].ca_key, pem,
                                     cases[i].hash, 30, &out, &err),
                         ADCP_OK);
        assert_true(reencodes_identically(out.cert));
        assert_int_equal(X509_verify(out.cert, X509_get0_pubkey(
                                                   cases[i].root)),
                         1);
        issue_result_clear(&out);
        free(pem);
    }
}

/* A compressed point is accepted and reaches the certificate as sent. */
static void
issue_keeps_compressed_ec_point(void **state)
{
    EVP_PKEY *key = make_ec_key("P-256");
    struct issue_result out;
    struct adcp_error err;
    char *pem;

    (void)state;
    assert_int_equal(EVP_PKEY_set_utf8_string_param(
                         key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                         OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED),
                     1);
    pem = make_good_csr(key);
    assert_int_equal(issue_rsa(pem, NULL, 0, &out, &err), ADCP_OK);
    assert_spki_copied(&out, pem, key);
    assert_int_equal(X509_get0_pubkey_bitstr(out.cert)->length, 33);
    assert_int_equal(verify_issued(fx.rsa_root.cert, &out,
                                   X509_PURPOSE_SSL_SERVER),
                     1);
    issue_result_clear(&out);
    free(pem);
    EVP_PKEY_free(key);
}

static void
reject_explicit_curve_parameters(void **state)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    struct csr_spec spec = {.cn = "web1"};
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                         "P-256", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING,
                                         "explicit", 0),
        OSSL_PARAM_construct_end(),
    };

    (void)state;
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_params(ctx, params), 1);
    assert_int_equal(EVP_PKEY_generate(ctx, &spec.key), 1);
    assert_csr_rejected(&spec, ADCP_ERR_INVALID_CSR, "explicit");
    EVP_PKEY_free(spec.key);
    EVP_PKEY_CTX_free(ctx);
}

static void
reject_weak_csr_signature(void **state)
{
    struct csr_spec spec = {.key = fx.rsa_key, .cn = "web1"};

    (void)state;
    spec.digest = "sha1";
    assert_csr_rejected(&spec, ADCP_ERR_WEAK_ALGORITHM, "sha1");
    spec.digest = "md5";
    assert_csr_rejected(&spec, ADCP_ERR_WEAK_ALGORITHM, "md5");
    spec.digest = "sha1";
    spec.pss = true;
    assert_csr_rejected(&spec, ADCP_ERR_WEAK_ALGORITHM, "rsassaPss");
    spec.key = fx.ec_key;
    spec.pss = false;
    assert_csr_rejected(&spec, ADCP_ERR_WEAK_ALGORITHM, "ecdsa-with-SHA1");
}

/* Re-encodes pem with one byte of its DER changed. */
static char *
corrupt_der_byte(const char *pem, long offset_from_end)
{
    BIO *in = BIO_new_mem_buf(pem, -1), *out = BIO_new(BIO_s_mem());
    char *name = NULL, *header = NULL, *data = NULL, *copy;
    unsigned char *der = NULL;
    long der_len = 0, len;

    assert_non_null(in);
    assert_non_null(out);
    assert_int_equal(PEM_read_bio(in, &name, &header, &der, &der_len), 1);
    der[der_len - offset_from_end] ^= 0x01;
    assert_true(PEM_write_bio(out, name, header, der, der_len) > 0);
    len = BIO_get_mem_data(out, &data);
    copy = strndup(data, (size_t)len);
    assert_non_null(copy);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(in);
    BIO_free(out);
    return copy;
}

static void
reject_broken_csr_signature(void **state)
{
    char *good = make_good_csr(fx.rsa_key);
    char *broken = corrupt_der_byte(good, 1);
    struct csr_spec weak = {.key = make_rsa_key(1024), .cn = "web1"};
    char *weak_good = make_csr(&weak);
    char *weak_broken = corrupt_der_byte(weak_good, 1);

    (void)state;
    assert_rejected(broken, NULL, 0, ADCP_ERR_CSR_SIGNATURE,
                    "csr_details.csr", "does not verify");
    /* The signature is checked before the key size. */
    assert_rejected(weak_broken, NULL, 0, ADCP_ERR_CSR_SIGNATURE,
                    "csr_details.csr", NULL);
    free(good);
    free(broken);
    free(weak_good);
    free(weak_broken);
    EVP_PKEY_free(weak.key);
}

/* ---- PEM input -------------------------------------------------------- */

static char *
concat(const char *a, const char *b)
{
    size_t size = strlen(a) + strlen(b) + 1;
    char *joined = malloc(size);

    assert_non_null(joined);
    snprintf(joined, size, "%s%s", a, b);
    return joined;
}

static void
reject_input_that_is_not_pem(void **state)
{
    (void)state;
    assert_rejected("hello", NULL, 0, ADCP_ERR_INVALID_CSR,
                    "csr_details.csr", "not PEM");
    assert_rejected("", NULL, 0, ADCP_ERR_INVALID_CSR, "csr_details.csr",
                    "not PEM");
    assert_rejected("-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n"
                    "-----END CERTIFICATE REQUEST-----\n",
                    NULL, 0, ADCP_ERR_INVALID_CSR, "csr_details.csr",
                    "not valid PEM");
    assert_rejected("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                    "-----END CERTIFICATE REQUEST-----\n",
                    NULL, 0, ADCP_ERR_INVALID_CSR, "csr_details.csr",
                    "PKCS#10");
    assert_rejected(NULL, NULL, 0, ADCP_ERR_MISSING_FIELD,
                    "csr_details.csr", "missing");
}

static void
reject_certificate_instead_of_csr(void **state)
{
    char *good = make_good_csr(fx.ec_key);
    char *cert_then_csr = concat(fx.rsa_root.cert_pem, good);

    (void)state;
    assert_rejected(fx.rsa_root.cert_pem, NULL, 0, ADCP_ERR_INVALID_CSR,
                    "csr_details.csr", "PEM CERTIFICATE block");
    /* OpenSSL's PEM reader would skip the certificate and find the CSR. */
    assert_rejected(cert_then_csr, NULL, 0, ADCP_ERR_INVALID_CSR,
                    "csr_details.csr", "PEM CERTIFICATE block");
    free(cert_then_csr);
    free(good);
}

static void
reject_text_around_csr(void **state)
{
    char *good = make_good_csr(fx.ec_key);
    char *two = concat(good, good);
    char *trailing = concat(good, "garbage\n");
    char *leading = concat("Subject: web1\n", good);
    char *spaced = concat("\n  \n", good);
    struct issue_result out;
    struct adcp_error err;

    (void)state;
    assert_rejected(two, NULL, 0, ADCP_ERR_INVALID_CSR, "csr_details.csr",
                    "exactly one CSR");
    assert_rejected(trailing, NULL, 0, ADCP_ERR_INVALID_CSR,
                    "csr_details.csr", "exactly one CSR");
    assert_rejected(leading, NULL, 0, ADCP_ERR_INVALID_CSR,
                    "csr_details.csr", "not PEM");
    /* Whitespace around the block is harmless. */
    assert_int_equal(issue_rsa(spaced, NULL, 0, &out, &err), ADCP_OK);
    issue_result_clear(&out);
    free(good);
    free(two);
    free(trailing);
    free(leading);
    free(spaced);
}

/* ---- hash and days ---------------------------------------------------- */

static void
reject_weak_and_unknown_hashes(void **state)
{
    char *pem = make_good_csr(fx.ec_key);
    struct csr_spec ca = {
        .key = fx.ec_key,
        .cn = "web1",
        .basic_constraints = "CA:TRUE",
    };
    char *ca_pem = make_csr(&ca);

    (void)state;
    assert_rejected(pem, "sha1", 0, ADCP_ERR_WEAK_ALGORITHM,
                    "cert_details.hash_algorithm", "sha1");
    assert_rejected(pem, "md5", 0, ADCP_ERR_WEAK_ALGORITHM,
                    "cert_details.hash_algorithm", "md5");
    assert_rejected(pem, "sha3-999", 0, ADCP_ERR_INVALID_FIELD,
                    "cert_details.hash_algorithm", "sha3-999");
    assert_rejected(pem, "", 0, ADCP_ERR_INVALID_FIELD,
                    "cert_details.hash_algorithm", NULL);
    /* The hash is checked before the CSR's extensions. */
    assert_rejected(ca_pem, "md5", 0, ADCP_ERR_WEAK_ALGORITHM,
                    "cert_details.hash_algorithm", NULL);
    free(pem);
    free(ca_pem);
}

static void
issue_default_days(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);
    time_t before = time(NULL);

    (void)state;
    assert_int_equal(issue_rsa(pem, NULL, 0, &out, &err), ADCP_OK);
    assert_int_equal(out.not_after - out.not_before,
                     365 * SECONDS_PER_DAY + BACKDATE_SECONDS);
    assert_true(out.not_before >= before - BACKDATE_SECONDS);
    assert_true(out.not_before <= time(NULL) - BACKDATE_SECONDS);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(out.cert),
                                          out.not_after),
                     0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(out.cert),
                                          out.not_before),
                     0);
    issue_result_clear(&out);

    assert_int_equal(issue_rsa(pem, NULL, 30, &out, &err), ADCP_OK);
    assert_int_equal(out.not_after - out.not_before,
                     30 * SECONDS_PER_DAY + BACKDATE_SECONDS);
    issue_result_clear(&out);
    free(pem);
}

static void
reject_days_out_of_range(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);

    (void)state;
    assert_rejected(pem, NULL, 826, ADCP_ERR_INVALID_FIELD,
                    "cert_details.days", "826");
    assert_rejected(pem, NULL, 826, ADCP_ERR_INVALID_FIELD,
                    "cert_details.days", "825");
    assert_rejected(pem, NULL, -1, ADCP_ERR_INVALID_FIELD,
                    "cert_details.days", "-1");
    assert_int_equal(issue_rsa(pem, NULL, 825, &out, &err), ADCP_OK);
    assert_int_equal(out.not_after - out.not_before,
                     825 * SECONDS_PER_DAY + BACKDATE_SECONDS);
    issue_result_clear(&out);
    free(pem);
}

static void
issue_clamps_to_ca_not_after(void **state)
{
    struct issue_result root, out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);
    time_t root_end;

    (void)state;
    assert_int_equal(cert_root_create(fx.ec_ca_key, "Short Root", NULL, 10,
                                      NULL, &root, &err),
                     ADCP_OK);
    assert_int_equal(issue_under(root.cert, fx.ec_ca_key, pem, NULL, 365,
                                 &out, &err),
                     ADCP_OK);
    root_end = root.not_after;
    assert_int_equal(out.not_after, root_end);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(out.cert),
                                       X509_get0_notAfter(root.cert)),
                     0);
    assert_true(out.not_before >= root.not_before);
    assert_int_equal(verify_issued(root.cert, &out,
                                  X509_PURPOSE_SSL_SERVER),
                     1);
    issue_result_clear(&out);
    issue_result_clear(&root);
    free(pem);
}

static void
reject_expired_ca(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);
    X509 *expired = X509_dup(fx.ec_root.cert);

    (void)state;
    assert_non_null(expired);
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(expired),
                                  time(NULL) - 10));
    assert_int_equal(issue_under(expired, fx.ec_ca_key, pem, NULL, 0, &out,
                                 &err),
                     ADCP_ERR_INTERNAL);
    assert_non_null(strstr(err.message, "expired"));
    assert_null(out.cert);
    X509_free(expired);
    free(pem);
}

static void
reject_ca_key_of_other_certificate(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);

    (void)state;
    assert_int_equal(issue_under(fx.rsa_root.cert, fx.ec_ca_key, pem, NULL,
                                 0, &out, &err),
                     ADCP_ERR_HSM);
    assert_non_null(strstr(err.message, "does not verify"));
    assert_null(out.cert);
    assert_null(out.cert_pem);
    free(pem);
}

/* Under an EC CA only a sample of signatures is checked; a key that does
 * not belong to the CA certificate must still fail on every attempt. */
static void
reject_other_ec_key_every_time(void **state)
{
    EVP_PKEY *other = make_ec_key("P-256");
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);

    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(issue_under(fx.ec_root.cert, other, pem, NULL, 0,
                                     &out, &err),
                         ADCP_ERR_HSM);
        assert_non_null(strstr(err.message, "does not verify"));
        assert_null(out.cert);
    }
    EVP_PKEY_free(other);
    free(pem);
}

/* Past the sampling interval, every certificate still verifies. */
static void
issue_many_under_ec_root(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);

    (void)state;
    for (int i = 0; i < 130; i++) {
        assert_int_equal(issue_under(fx.ec_root.cert, fx.ec_ca_key, pem,
                                     NULL, 0, &out, &err),
                         ADCP_OK);
        assert_int_equal(X509_verify(out.cert, fx.ec_ca_key), 1);
        issue_result_clear(&out);
    }
    free(pem);
}

/* Sets both key identifiers of a self-signed certificate to id. */
static void
replace_key_ids(X509 *cert, ASN1_OCTET_STRING *id)
{
    AUTHORITY_KEYID *authority = AUTHORITY_KEYID_new();

    assert_non_null(authority);
    authority->keyid = ASN1_OCTET_STRING_dup(id);
    assert_non_null(authority->keyid);
    assert_int_equal(X509_add1_ext_i2d(cert, NID_subject_key_identifier, id,
                                       0, X509V3_ADD_REPLACE),
                     1);
    assert_int_equal(X509_add1_ext_i2d(cert, NID_authority_key_identifier,
                                       authority, 0, X509V3_ADD_REPLACE),
                     1);
    AUTHORITY_KEYID_free(authority);
}

/* Returns a freshly decoded copy of cert, so that no cached extension
 * value survives, and frees cert. */
static X509 *
reparse(X509 *cert)
{
    unsigned char *der = NULL;
    const unsigned char *cursor;
    int len = i2d_X509(cert, &der);
    X509 *copy;

    assert_true(len > 0);
    cursor = der;
    copy = d2i_X509(NULL, &cursor, len);
    assert_non_null(copy);
    OPENSSL_free(der);
    X509_free(cert);
    return copy;
}

/* A CA whose subjectKeyIdentifier is not the SHA-1 of its key, as another
 * tool may write it: the AKI must copy the CA's value. */
static void
issue_copies_ca_key_id_to_aki(void **state)
{
    static const unsigned char custom_id[] = {1, 2, 3, 4, 5, 6, 7, 8};
    ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
    X509 *ca = X509_dup(fx.ec_root.cert);
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);

    (void)state;
    assert_non_null(id);
    assert_non_null(ca);
    assert_int_equal(ASN1_OCTET_STRING_set(id, custom_id, sizeof(custom_id)),
                     1);
    replace_key_ids(ca, id);
    assert_true(X509_sign(ca, fx.ec_ca_key, EVP_sha256()) > 0);
    ca = reparse(ca);

    assert_int_equal(issue_under(ca, fx.ec_ca_key, pem, NULL, 0, &out, &err),
                     ADCP_OK);
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(out.cert), id), 0);
    assert_int_equal(verify_issued(ca, &out, X509_PURPOSE_SSL_SERVER), 1);
    issue_result_clear(&out);
    ASN1_OCTET_STRING_free(id);
    X509_free(ca);
    free(pem);
}

/* ---- serials and fingerprints ----------------------------------------- */

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
serials_are_random_positive_and_distinct(void **state)
{
    enum { COUNT = 1000 };
    char **hex = calloc(COUNT, sizeof(*hex));

    (void)state;
    assert_non_null(hex);
    for (int i = 0; i < COUNT; i++) {
        ASN1_INTEGER *serial = cert_serial_random();
        BIGNUM *value;

        assert_non_null(serial);
        value = ASN1_INTEGER_to_BN(serial, NULL);
        assert_non_null(value);
        assert_false(BN_is_negative(value));
        assert_false(BN_is_zero(value));
        assert_true(BN_num_bits(value) <= 127);
        /* A uniform 127-bit draw has fewer than 64 bits with probability
         * 2^-63. */
        assert_true(BN_num_bits(value) >= 64);
        hex[i] = BN_bn2hex(value);
        assert_non_null(hex[i]);
        BN_free(value);
        ASN1_INTEGER_free(serial);
    }
    qsort(hex, COUNT, sizeof(*hex), compare_strings);
    for (int i = 1; i < COUNT; i++)
        assert_string_not_equal(hex[i - 1], hex[i]);
    for (int i = 0; i < COUNT; i++)
        OPENSSL_free(hex[i]);
    free(hex);
}

static void
issue_reports_serial_as_upper_hex(void **state)
{
    struct issue_result out;
    struct adcp_error err;
    char *pem = make_good_csr(fx.ec_key);
    char serial[ADCP_SERIAL_MAX];
    BIGNUM *value;
    char *expected;

    (void)state;
    assert_int_equal(issue_rsa(pem, NULL, 0, &out, &err), ADCP_OK);
    value = ASN1_INTEGER_to_BN(X509_get0_serialNumber(out.cert), NULL);
    assert_non_null(value);
    assert_false(BN_is_negative(value));
    assert_true(BN_num_bits(value) >= 64);
    expected = BN_bn2hex(value);
    assert_string_equal(out.serial, expected);
    cert_serial_hex(out.cert, serial);
    assert_string_equal(serial, expected);
    assert_int_equal(strspn(serial, "0123456789ABCDEF"), strlen(serial));
    OPENSSL_free(expected);
    BN_free(value);
    issue_result_clear(&out);
    free(pem);
}

static void
serial_hex_of_small_serials(void **state)
{
    X509 *cert = X509_new();
    char serial[ADCP_SERIAL_MAX];

    (void)state;
    assert_non_null(cert);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 0x0abc),
                     1);
    cert_serial_hex(cert, serial);
    assert_string_equal(serial, "0ABC");
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 0x80),
                     1);
    cert_serial_hex(cert, serial);
    assert_string_equal(serial, "80");
    cert_serial_hex(NULL, serial);
    assert_string_equal(serial, "");
    X509_free(cert);
}

static void
fingerprint_is_upper_hex_sha256(void **state)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char fingerprint[65], expected[65];

    (void)state;
    assert_int_equal(X509_digest(fx.rsa_root.cert, EVP_sha256(), md,
                                 &md_len),
                     1);
    assert_int_equal(md_len, 32);
    for (unsigned int i = 0; i < md_len; i++)
        snprintf(expected + 2 * i, 3, "%02X", md[i]);
    cert_fingerprint_sha256(fx.rsa_root.cert, fingerprint);
    assert_string_equal(fingerprint, expected);
    assert_int_equal(strlen(fingerprint), 64);
}

/* ---- root and server certificates ------------------------------------- */

static void
assert_root_profile(const struct issue_result *root, EVP_PKEY *key)
{
    BASIC_CONSTRAINTS *bc;
    char text[128];
    int critical = -1;

    assert_int_equal(X509_verify(root->cert, key), 1);
    assert_int_equal(X509_check_ca(root->cert), 1);
    assert_int_equal(X509_get_ext_count(root->cert), 4);
    bc = X509_get_ext_d2i(root->cert, NID_basic_constraints, &critical,
                          NULL);
    assert_non_null(bc);
    assert_int_equal(critical, 1);
    assert_true(bc->ca != 0);
    assert_non_null(bc->pathlen);
    assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_key_usage(root->cert),
                     KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_critical(root->cert, NID_key_usage, true);
    assert_non_null(X509_get0_subject_key_id(root->cert));
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(root->cert),
                              X509_get0_subject_key_id(root->cert)),
        0);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(root->cert),
                                   X509_get_subject_name(root->cert)),
                     0);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(root->cert),
                                          NID_organizationName, text,
                                          sizeof(text)) > 0);
    assert_string_equal(text, "HSM4SSL Test");
    assert_int_equal(root->not_after - root->not_before,
                     3650 * SECONDS_PER_DAY + BACKDATE_SECONDS);
}

static void
root_has_ca_profile(void **state)
{
    (void)state;
    assert_root_profile(&fx.rsa_root, fx.rsa_ca_key);
    assert_root_profile(&fx.ec_root, fx.ec_ca_key);
    assert_string_equal(fx.rsa_root.subject, "CN=Test Root RSA,O=HSM4SSL Test");
    assert_int_equal(X509_get_signature_nid(fx.ec_root.cert),
                     NID_ecdsa_with_SHA384);
    assert_int_equal(verify_chain(fx.rsa_root.cert, fx.rsa_root.cert,
                                  X509_PURPOSE_ANY),
                     1);
}

static void
root_rejects_bad_arguments(void **state)
{
    struct issue_result out;
    struct adcp_error err;

    (void)state;
    assert_int_equal(cert_root_create(fx.ec_ca_key, "Root", NULL, 0, NULL,
                                      &out, &err),
                     ADCP_ERR_INVALID_FIELD);
    assert_string_equal(err.field, "cert_details.days");
    assert_int_equal(cert_root_create(fx.ec_ca_key, "Root", NULL, 365, "md5",
                                      &out, &err),
                     ADCP_ERR_WEAK_ALGORITHM);
    assert_int_equal(cert_root_create(fx.ec_ca_key, "", NULL, 365, NULL, &out,
                                      &err),
                     ADCP_ERR_MISSING_FIELD);
    assert_null(out.cert);
}

static void
server_certificate_is_server_only(void **state)
{
    static char localhost[] = "localhost";
    static char loopback[] = "127.0.0.1";
    static char *const dns[] = {localhost};
    static char *const ips[] = {loopback};
    const struct issue_host names = {
        .name = "hsm4ssl.test",
        .dns_names = dns,
        .dns_count = 1,
        .ip_addresses = ips,
        .ip_count = 1,
    };
    struct issue_result out;
    struct adcp_error err;
    GENERAL_NAMES *sans;
    int type;

    (void)state;
    assert_int_equal(cert_server_create(fx.rsa_root.cert, fx.rsa_ca_key,
                                        fx.ec_key, &names, 397, &out, &err),
                     ADCP_OK);
    assert_common_name(out.cert, "hsm4ssl.test");
    assert_int_equal(X509_get_extended_key_usage(out.cert), XKU_SSL_SERVER);
    assert_int_equal(X509_get_key_usage(out.cert), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_check_ca(out.cert), 0);
    assert_int_equal(verify_issued(fx.rsa_root.cert, &out,
                                  X509_PURPOSE_SSL_SERVER),
                     1);
    assert_int_not_equal(verify_issued(fx.rsa_root.cert, &out,
                                      X509_PURPOSE_SSL_CLIENT),
                         1);
    assert_int_equal(X509_check_host(out.cert, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(out.cert, "127.0.0.1", 0), 1);
    sans = X509_get_ext_d2i(out.cert, NID_subject_alt_name, NULL, NULL);
    assert_non_null(sans);
    assert_int_equal(sk_GENERAL_NAME_num(sans), 2);
    GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(sans, 1), &type);
    assert_int_equal(type, GEN_IPADD);
    GENERAL_NAMES_free(sans);
    issue_result_clear(&out);
}

/* A serial from a client becomes the stored form: upper case, without
 * separators or leading zero bytes, two digits per byte. */
static void
serial_normalised_to_stored_form(void **state)
{
    static const struct {
        const char *input;
        const char *stored;
    } cases[] = {
        {"0a:1b", "0A1B"},   {"0028ab", "28AB"}, {"00000028AB", "28AB"},
        {"8ab", "08AB"},     {"00", "00"},       {"0", "00"},
        {"0000", "00"},      {"0080", "80"},     {"7F", "7F"},
    };
    char out[ADCP_SERIAL_MAX];
    struct adcp_error err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(cert_serial_normalise(cases[i].input, out, &err),
                         ADCP_OK);
        if (strcmp(out, cases[i].stored) != 0)
            fail_msg("serial \"%s\" became \"%s\", expected \"%s\"",
                     cases[i].input, out, cases[i].stored);
    }
}

/* A serial of the maximum 47 digits takes 48 once padded to whole bytes,
 * so with its NUL it does not fit the output. It is rejected without a
 * write past the output. With a leading zero digit it fits. */
static void
serial_normalise_longest_odd_length(void **state)
{
    struct {
        char out[ADCP_SERIAL_MAX];
        char after; /* a canary that must not change */
    } buffer;
    char input[ADCP_SERIAL_MAX];
    struct adcp_error err;

    (void)state;
    memset(input, '7', ADCP_SERIAL_MAX - 1);
    input[ADCP_SERIAL_MAX - 1] = '\0';
    memset(&buffer, 0, sizeof(buffer));
    buffer.after = 'x';
    assert_int_equal(cert_serial_normalise(input, buffer.out, &err),
                     ADCP_ERR_INVALID_FIELD);
    assert_int_equal(buffer.after, 'x');
    assert_string_equal(err.field, "serial");

    input[0] = '0';
    assert_int_equal(cert_serial_normalise(input, buffer.out, &err),
                     ADCP_OK);
    assert_int_equal(buffer.after, 'x');
    assert_int_equal(strlen(buffer.out), ADCP_SERIAL_MAX - 2);
    assert_string_equal(buffer.out, input + 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(issue_rsa_csr_under_rsa_root),
        cmocka_unit_test(issue_ec_csr_under_ec_root),
        cmocka_unit_test(issue_ec_csr_under_rsa_root),
        cmocka_unit_test(issue_p384_and_p521_keys),
        cmocka_unit_test(issue_pss_signed_csr),
        cmocka_unit_test(issue_accepts_new_certificate_request_label),
        cmocka_unit_test(issue_ignores_requested_extensions),
        cmocka_unit_test(issue_matches_cn_without_case),
        cmocka_unit_test(issue_matches_ip_cn_by_value),
        cmocka_unit_test(issue_without_cn_uses_host_name),
        cmocka_unit_test(issue_drops_other_subject_attributes),
        cmocka_unit_test(reject_san_not_owned),
        cmocka_unit_test(reject_san_of_other_type),
        cmocka_unit_test(reject_cn_not_owned),
        cmocka_unit_test(reject_two_common_names),
        cmocka_unit_test(reject_ca_request),
        cmocka_unit_test(reject_rsa_1024),
        cmocka_unit_test(reject_koblitz_curves),
        cmocka_unit_test(reject_ed25519_key),
        cmocka_unit_test(reject_rsa_exponent_3),
        cmocka_unit_test(reject_explicit_curve_parameters),
        cmocka_unit_test(reject_rsa_key_with_trailing_bytes),
        cmocka_unit_test(reject_ec_point_off_curve),
        cmocka_unit_test(reject_ec_point_at_infinity),
        cmocka_unit_test(reject_ec_point_in_hybrid_form),
        cmocka_unit_test(reject_ec_coordinate_outside_field),
        cmocka_unit_test(issue_keeps_compressed_ec_point),
        cmocka_unit_test(issued_certificates_are_der),
        cmocka_unit_test(reject_weak_csr_signature),
        cmocka_unit_test(reject_broken_csr_signature),
        cmocka_unit_test(reject_input_that_is_not_pem),
        cmocka_unit_test(reject_certificate_instead_of_csr),
        cmocka_unit_test(reject_text_around_csr),
        cmocka_unit_test(reject_weak_and_unknown_hashes),
        cmocka_unit_test(issue_default_days),
        cmocka_unit_test(reject_days_out_of_range),
        cmocka_unit_test(issue_clamps_to_ca_not_after),
        cmocka_unit_test(reject_expired_ca),
        cmocka_unit_test(reject_ca_key_of_other_certificate),
        cmocka_unit_test(reject_other_ec_key_every_time),
        cmocka_unit_test(issue_many_under_ec_root),
        cmocka_unit_test(issue_copies_ca_key_id_to_aki),
        cmocka_unit_test(serials_are_random_positive_and_distinct),
        cmocka_unit_test(issue_reports_serial_as_upper_hex),
        cmocka_unit_test(serial_hex_of_small_serials),
        cmocka_unit_test(fingerprint_is_upper_hex_sha256),
        cmocka_unit_test(root_has_ca_profile),
        cmocka_unit_test(root_rejects_bad_arguments),
        cmocka_unit_test(server_certificate_is_server_only),
        cmocka_unit_test(serial_normalised_to_stored_form),
        cmocka_unit_test(serial_normalise_longest_odd_length),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
