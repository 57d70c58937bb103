/*
 * The CRL encoder (cert_crl_encode.c) with a software CA key and a real
 * SQLite store. OpenSSL must parse the result, verify its signature, and
 * read back every serial, time, reason and extension. The encodings at
 * the edges are included: a serial whose top bit is set, an odd number
 * of hex digits, a date from 2050, an empty list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "managers/cert_crl.h"
#include "managers/cert_issue.h"
#include "store/store.h"

/* 2023-11-14T22:13:20Z and 2051-01-01T00:00:00Z. */
#define REVOKED_2023 1700000000
#define REVOKED_2051 2556144000

struct fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
    struct store *store;
    EVP_PKEY *key;
    X509 *root;
    X509_CRL *crl;
};

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct issue_result root = {0};
    struct adcp_error err = {0};

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_cert_crl.XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/hsm4ssl.db", fx->dir);
    fx->key = EVP_RSA_gen(2048);
    if (fx->key == NULL ||
        cert_root_create(fx->key, "Test Root", "Test", 30, "sha256", &root,
                         &err) != ADCP_OK ||
        store_open_sqlite(fx->path, &fx->store, &err) != ADCP_OK) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    fx->root = root.cert;
    root.cert = NULL;
    issue_result_clear(&root);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;
    char name[PATH_MAX + 32];

    X509_CRL_free(fx->crl);
    store_close(fx->store);
    EVP_PKEY_free(fx->key);
    X509_free(fx->root);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "%s%s", fx->path,
                 (const char *[]){"", "-wal", "-shm"}[i]);
        unlink(name);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void
add_revoked_until(struct fixture *fx, const char *serial, time_t when,
                  int reason, time_t not_after)
{
    static const char pem[] = "-----BEGIN CERTIFICATE-----\n"
                              "MIIBtest\n"
                              "-----END CERTIFICATE-----\n";
    struct store_cert cert;
    struct adcp_error err = {0};

    memset(&cert, 0, sizeof(cert));
    snprintf(cert.serial, sizeof(cert.serial), "%s", serial);
    snprintf(cert.subject, sizeof(cert.subject), "CN=test");
    cert.pem = (char *)pem;
    cert.not_after = not_after;
    if (store_cert_add(fx->store, &cert, &err) != ADCP_OK ||
        store_cert_revoke(fx->store, serial, reason, when, &err) != ADCP_OK)
        fail_msg("%s: %s", serial, err.message);
}

/* Revokes a certificate that is valid for a year after the CRLs of the
 * tests. */
static void
add_revoked(struct fixture *fx, const char *serial, time_t when, int reason)
{
    add_revoked_until(fx, serial, when, reason, REVOKED_2023 + 365 * 86400);
}

/* Builds the CRL and parses it into fx->crl. */
static void
build_and_parse(struct fixture *fx, int64_t number, size_t want_entries)
{
    struct cert_crl_request request = {
        .ca_cert = fx->root,
        .ca_key = fx->key,
        .digest = "sha256",
        .store = fx->store,
        .number = number,
        .this_update = REVOKED_2023,
        .next_update = REVOKED_2023 + CERT_CRL_DEFAULT_LIFETIME,
    };
    struct cert_crl_der der = {0};
    struct adcp_error err = {0};
    const unsigned char *p;

    if (cert_crl_build(&request, &der, &err) != ADCP_OK)
        fail_msg("cert_crl_build: %s", err.message);
    assert_int_equal(der.entries, want_entries);
    p = der.der;
    fx->crl = d2i_X509_CRL(NULL, &p, (long)der.len);
    assert_non_null(fx->crl);
    assert_ptr_equal(p, der.der + der.len);
    free(der.der);
}

static void
assert_serial(const X509_REVOKED *entry, const char *want)
{
    BIGNUM *number =
        ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(entry), NULL);
    char *hex = BN_bn2hex(number);

    assert_string_equal(hex, want);
    OPENSSL_free(hex);
    BN_free(number);
}

static int
entry_reason(const X509_REVOKED *entry)
{
    ASN1_ENUMERATED *reason =
        X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
    int value = reason != NULL ? (int)ASN1_ENUMERATED_get(reason) : -1;

    ASN1_ENUMERATED_free(reason);
    return value;
}

static void
crl_lists_entries_that_verify(void **state)
{
    struct fixture *fx = *state;
    STACK_OF(X509_REVOKED) *entries;
    const X509_REVOKED *entry;
    ASN1_INTEGER *number;

    add_revoked(fx, "80", REVOKED_2023, CRL_REASON_KEY_COMPROMISE);
    add_revoked(fx, "ABC", REVOKED_2051, CRL_REASON_UNSPECIFIED);
    add_revoked(fx, "7F0102", REVOKED_2023, CRL_REASON_AA_COMPROMISE);
    build_and_parse(fx, 42, 3);
    assert_int_equal(X509_CRL_verify(fx->crl, X509_get0_pubkey(fx->root)),
                     1);
    assert_int_equal(X509_CRL_get_version(fx->crl), X509_CRL_VERSION_2);
    assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(fx->crl),
                                   X509_get_subject_name(fx->root)),
                     0);
    number = X509_CRL_get_ext_d2i(fx->crl, NID_crl_number, NULL, NULL);
    assert_non_null(number);
    assert_int_equal(ASN1_INTEGER_get(number), 42);
    ASN1_INTEGER_free(number);
    assert_int_equal(X509_CRL_get_ext_by_NID(fx->crl,
                                             NID_authority_key_identifier,
                                             -1) >= 0,
                     1);
    entries = X509_CRL_get_REVOKED(fx->crl);
    assert_int_equal(sk_X509_REVOKED_num(entries), 3);
    /* In the store's order: shorter hex first. */
    entry = sk_X509_REVOKED_value(entries, 0);
    assert_serial(entry, "80");
    assert_int_equal(entry_reason(entry), CRL_REASON_KEY_COMPROMISE);
    assert_int_equal(ASN1_TIME_cmp_time_t(
                         X509_REVOKED_get0_revocationDate(entry),
                         REVOKED_2023),
                     0);
    entry = sk_X509_REVOKED_value(entries, 1);
    assert_serial(entry, "0ABC");
    assert_int_equal(entry_reason(entry), -1);
    assert_int_equal(ASN1_STRING_type(
                         X509_REVOKED_get0_revocationDate(entry)),
                     V_ASN1_GENERALIZEDTIME);
    assert_int_equal(ASN1_TIME_cmp_time_t(
                         X509_REVOKED_get0_revocationDate(entry),
                         REVOKED_2051),
                     0);
    entry = sk_X509_REVOKED_value(entries, 2);
    assert_serial(entry, "7F0102");
    assert_int_equal(entry_reason(entry), CRL_REASON_AA_COMPROMISE);
}

static void
crl_without_entries_omits_list(void **state)
{
    struct fixture *fx = *state;

    build_and_parse(fx, 1, 0);
    assert_int_equal(X509_CRL_verify(fx->crl, X509_get0_pubkey(fx->root)),
                     1);
    assert_null(X509_CRL_get_REVOKED(fx->crl));
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(fx->crl),
                                          REVOKED_2023 +
                                              CERT_CRL_DEFAULT_LIFETIME),
                     0);
}

/* A certificate that expired more than one CRL lifetime before
 * thisUpdate is left out; one that expired more recently is listed. */
static void
crl_leaves_out_long_expired(void **state)
{
    struct fixture *fx = *state;

    add_revoked_until(fx, "0A", REVOKED_2023 - 86400,
                      CRL_REASON_KEY_COMPROMISE,
                      REVOKED_2023 - CERT_CRL_DEFAULT_LIFETIME - 1);
    add_revoked_until(fx, "0B", REVOKED_2023 - 86400,
                      CRL_REASON_KEY_COMPROMISE,
                      REVOKED_2023 - CERT_CRL_DEFAULT_LIFETIME);
    build_and_parse(fx, 1, 1);
    assert_serial(sk_X509_REVOKED_value(X509_CRL_get_REVOKED(fx->crl), 0),
                  "0B");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(crl_lists_entries_that_verify,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(crl_without_entries_omits_list,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(crl_leaves_out_long_expired, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
