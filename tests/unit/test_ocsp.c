/*
 * The OCSP responder's steps with a software CA key: request decoding
 * with the RFC 8954 nonce checks, and issuer matching per hash algorithm.
 * Signed responses must verify in OpenSSL and read back as built. The
 * cache is checked for look-up, removal after a revocation, the
 * generation check, eviction and refresh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managers/cert_internal.h"
#include "managers/cert_issue.h"
#include "managers/ocsp_internal.h"

/* 2023-11-14T22:13:20Z */
#define REVOKED_2023 1700000000

struct fixture {
    EVP_PKEY *key;
    X509 *root;
    EVP_PKEY *other_key;
    X509 *other_root;
    struct ocsp_issuer issuer;
};

static X509 *
make_root(EVP_PKEY *key, const char *name)
{
    struct issue_result root = {0};
    struct adcp_error err = {0};
    X509 *cert;

    if (cert_root_create(key, name, "Test", 30, "sha256", &root, &err) !=
        ADCP_OK) {
        fprintf(stderr, "make_root: %s\n", err.message);
        return NULL;
    }
    cert = root.cert;
    root.cert = NULL;
    issue_result_clear(&root);
    return cert;
}

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    fx->key = EVP_RSA_gen(2048);
    fx->other_key = EVP_EC_gen("P-256");
    if (fx->key == NULL || fx->other_key == NULL)
        return -1;
    fx->root = make_root(fx->key, "Test Root");
    fx->other_root = make_root(fx->other_key, "Other Root");
    if (fx->root == NULL || fx->other_root == NULL ||
        !ocsp_issuer_init(&fx->issuer, fx->root))
        return -1;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    EVP_PKEY_free(fx->key);
    EVP_PKEY_free(fx->other_key);
    X509_free(fx->root);
    X509_free(fx->other_root);
    free(fx);
    return 0;
}

/* Makes a CertID of issuer for serial (hex) under digest. */
static OCSP_CERTID *
cert_id_of(const EVP_MD *digest, X509 *issuer, const char *serial)
{
    ASN1_INTEGER *number = s2i_ASN1_INTEGER(NULL, serial);
    OCSP_CERTID *id;

    assert_non_null(number);
    id = OCSP_cert_id_new(digest, X509_get_subject_name(issuer),
                          X509_get0_pubkey_bitstr(issuer), number);
    ASN1_INTEGER_free(number);
    assert_non_null(id);
    return id;
}

/* Encodes a request for count CertIDs of fx->root, with a nonce of
 * nonce_len bytes when nonce_len is not 0. */
static unsigned char *
request_der(struct fixture *fx, int count, int nonce_len, int *len)
{
    OCSP_REQUEST *request = OCSP_REQUEST_new();
    unsigned char *der = NULL;
    char serial[16];

    assert_non_null(request);
    for (int i = 0; i < count; i++) {
        snprintf(serial, sizeof(serial), "0x%X", 0x1000 + i);
        assert_non_null(OCSP_request_add0_id(
            request, cert_id_of(EVP_sha1(), fx->root, serial)));
    }
    if (nonce_len != 0)
        assert_int_equal(
            OCSP_request_add1_nonce(request, NULL, nonce_len), 1);
    *len = i2d_OCSP_REQUEST(request, &der);
    assert_true(*len > 0);
    OCSP_REQUEST_free(request);
    return der;
}

/* Decodes der and returns whether it was accepted, with query cleared. */
static bool
decodes(const unsigned char *der, int len, bool *has_nonce)
{
    struct ocsp_query query;
    const char *problem = NULL;
    bool accepted = ocsp_query_decode(der, (size_t)len, &query, &problem);

    if (!accepted)
        assert_non_null(problem);
    if (has_nonce != NULL)
        *has_nonce = query.has_nonce;
    ocsp_query_clear(&query);
    return accepted;
}

static void
request_with_nonce_decodes(void **state)
{
    int len;
    unsigned char *der = request_der(*state, 3, 32, &len);
    struct ocsp_query query;
    const char *problem = NULL;
    char serial[ADCP_SERIAL_MAX];

    assert_true(ocsp_query_decode(der, (size_t)len, &query, &problem));
    assert_int_equal(query.count, 3);
    assert_true(query.has_nonce);
    ocsp_cert_id_serial(query.cert_ids[2], serial);
    assert_string_equal(serial, "1002");
    ocsp_query_clear(&query);
    OPENSSL_free(der);
}

static void
request_nonce_lengths_checked(void **state)
{
    static const struct {
        int len;
        bool accepted;
    } cases[] = {{1, true}, {16, true}, {32, true}, {33, false}, {64, false}};
    bool has_nonce = false;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int len;
        unsigned char *der = request_der(*state, 1, cases[i].len, &len);

        assert_int_equal(decodes(der, len, &has_nonce), cases[i].accepted);
        if (cases[i].accepted)
            assert_true(has_nonce);
        OPENSSL_free(der);
    }
}

static void
request_empty_nonce_rejected(void **state)
{
    struct fixture *fx = *state;
    OCSP_REQUEST *request = OCSP_REQUEST_new();
    /* An OCTET STRING of 0 bytes inside the extnValue. */
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    unsigned char empty[] = {0x04, 0x00};
    X509_EXTENSION *ext;
    unsigned char *der = NULL;
    int len;

    assert_true(ASN1_OCTET_STRING_set(value, empty, sizeof(empty)));
    ext = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_Nonce, 0,
                                       value);
    assert_non_null(OCSP_request_add0_id(
        request, cert_id_of(EVP_sha1(), fx->root, "0x10")));
    assert_int_equal(OCSP_REQUEST_add_ext(request, ext, -1), 1);
    len = i2d_OCSP_REQUEST(request, &der);
    assert_false(decodes(der, len, NULL));
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    OCSP_REQUEST_free(request);
}

static void
request_two_nonces_rejected(void **state)
{
    struct fixture *fx = *state;
    OCSP_REQUEST *request = OCSP_REQUEST_new();
    X509_EXTENSION *nonce;
    unsigned char *der = NULL;
    int len;

    assert_non_null(OCSP_request_add0_id(
        request, cert_id_of(EVP_sha1(), fx->root, "0x10")));
    assert_int_equal(OCSP_request_add1_nonce(request, NULL, 16), 1);
    /* OCSP_request_add1_nonce replaces a nonce, so the second one is a
     * copy added as another extension. */
    nonce = X509_EXTENSION_dup(OCSP_REQUEST_get_ext(request, 0));
    assert_int_equal(OCSP_REQUEST_add_ext(request, nonce, -1), 1);
    assert_int_equal(OCSP_REQUEST_get_ext_count(request), 2);
    len = i2d_OCSP_REQUEST(request, &der);
    assert_false(decodes(der, len, NULL));
    OPENSSL_free(der);
    X509_EXTENSION_free(nonce);
    OCSP_REQUEST_free(request);
}

/* A critical extension the responder does not know rejects the request,
 * in the requestExtensions and in a Request; a non-critical one is
 * ignored. */
static void
request_unknown_critical_rejected(void **state)
{
    static const struct {
        bool critical;
        bool in_single;
        bool accepted;
    } cases[] = {
        {false, false, true}, {true, false, false},
        {false, true, true},  {true, true, false},
    };
    struct fixture *fx = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        OCSP_REQUEST *request = OCSP_REQUEST_new();
        ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
        unsigned char null_der[] = {0x05, 0x00};
        X509_EXTENSION *ext;
        OCSP_ONEREQ *single;
        unsigned char *der = NULL;
        int len;

        assert_true(ASN1_OCTET_STRING_set(value, null_der,
                                          sizeof(null_der)));
        /* The CRL reason OID stands for any extension OCSP does not
         * define. */
        ext = X509_EXTENSION_create_by_NID(NULL, NID_crl_reason,
                                           cases[i].critical, value);
        single = OCSP_request_add0_id(
            request, cert_id_of(EVP_sha1(), fx->root, "0x10"));
        assert_non_null(single);
        if (cases[i].in_single)
            assert_int_equal(OCSP_ONEREQ_add_ext(single, ext, -1), 1);
        else
            assert_int_equal(OCSP_REQUEST_add_ext(request, ext, -1), 1);
        len = i2d_OCSP_REQUEST(request, &der);
        assert_int_equal(decodes(der, len, NULL), cases[i].accepted);
        OPENSSL_free(der);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(value);
        OCSP_REQUEST_free(request);
    }
}

static void
request_malformed_rejected(void **state)
{
    static const unsigned char garbage[] = "garbage";
    int len;
    unsigned char *der = request_der(*state, 1, 0, &len);
    unsigned char *longer = malloc((size_t)len + 1);

    assert_false(decodes(garbage, sizeof(garbage) - 1, NULL));
    assert_false(decodes(der, 0, NULL));
    /* Cut short, and with a byte after the DER. */
    assert_false(decodes(der, len - 1, NULL));
    assert_non_null(longer);
    memcpy(longer, der, (size_t)len);
    longer[len] = 0;
    assert_false(decodes(longer, len + 1, NULL));
    assert_true(decodes(der, len, NULL));
    free(longer);
    OPENSSL_free(der);
}

static void
request_cert_id_count_limited(void **state)
{
    int len;
    unsigned char *der = request_der(*state, 0, 0, &len);

    assert_false(decodes(der, len, NULL));
    OPENSSL_free(der);
    der = request_der(*state, OCSP_MAX_CERT_IDS, 0, &len);
    assert_true(decodes(der, len, NULL));
    OPENSSL_free(der);
    der = request_der(*state, OCSP_MAX_CERT_IDS + 1, 0, &len);
    assert_false(decodes(der, len, NULL));
    OPENSSL_free(der);
}

static void
issuer_matched_per_digest(void **state)
{
    struct fixture *fx = *state;
    const EVP_MD *ours[] = {EVP_sha1(), EVP_sha256(), EVP_sha384(),
                            EVP_sha512()};
    OCSP_CERTID *id;

    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        id = cert_id_of(ours[i], fx->root, "0x10");
        assert_int_equal(ocsp_issuer_match(&fx->issuer, id),
                         OCSP_ISSUER_THIS_CA);
        OCSP_CERTID_free(id);
        id = cert_id_of(ours[i], fx->other_root, "0x10");
        assert_int_equal(ocsp_issuer_match(&fx->issuer, id),
                         OCSP_ISSUER_OTHER);
        OCSP_CERTID_free(id);
    }
    id = cert_id_of(EVP_sha224(), fx->root, "0x10");
    assert_int_equal(ocsp_issuer_match(&fx->issuer, id),
                     OCSP_ISSUER_UNSUPPORTED);
    OCSP_CERTID_free(id);
}

/* Signs a response for singles and parses it, checking the signature
 * against fx->root as a relying party would. */
static OCSP_BASICRESP *
sign_and_verify(struct fixture *fx, OCSP_REQUEST *request,
                const struct ocsp_single *singles, size_t count)
{
    struct ocsp_sign_request sign = {
        .ca_cert = fx->root,
        .ca_key = fx->key,
        .digest = "sha256",
        .request = request,
        .singles = singles,
        .count = count,
        .this_update = REVOKED_2023 + 60,
        .next_update = REVOKED_2023 + 60 + OCSP_DEFAULT_LIFETIME,
    };
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509_STORE *trusted = X509_STORE_new();
    struct adcp_error err = {0};
    const unsigned char *next;
    OCSP_RESPONSE *response;
    OCSP_BASICRESP *basic;
    unsigned char *der;
    size_t len;

    assert_int_equal(ocsp_response_sign(&sign, &der, &len, &err), ADCP_OK);
    next = der;
    response = d2i_OCSP_RESPONSE(NULL, &next, (long)len);
    assert_non_null(response);
    assert_int_equal(OCSP_response_status(response),
                     OCSP_RESPONSE_STATUS_SUCCESSFUL);
    basic = OCSP_response_get1_basic(response);
    assert_non_null(basic);
    /* No certs member at all: the signer is the issuer. */
    assert_true(sk_X509_num(OCSP_resp_get0_certs(basic)) <= 0);
    assert_int_equal(X509_STORE_add_cert(trusted, fx->root), 1);
    assert_int_equal(sk_X509_push(certs, fx->root), 1);
    assert_int_equal(OCSP_basic_verify(basic, certs, trusted,
                                       OCSP_TRUSTOTHER),
                     1);
    sk_X509_free(certs);
    X509_STORE_free(trusted);
    OCSP_RESPONSE_free(response);
    OPENSSL_free(der);
    return basic;
}

static void
response_reports_each_status(void **state)
{
    struct fixture *fx = *state;
    struct ocsp_single singles[3] = {
        {cert_id_of(EVP_sha1(), fx->root, "0x11"), V_OCSP_CERTSTATUS_GOOD,
         0, 0},
        {cert_id_of(EVP_sha256(), fx->root, "0x12"),
         V_OCSP_CERTSTATUS_REVOKED, REVOKED_2023,
         OCSP_REVOKED_STATUS_KEYCOMPROMISE},
        {cert_id_of(EVP_sha1(), fx->root, "0x13"),
         V_OCSP_CERTSTATUS_UNKNOWN, 0, 0},
    };
    OCSP_BASICRESP *basic = sign_and_verify(fx, NULL, singles, 3);
    ASN1_GENERALIZEDTIME *revoked_at = NULL, *this_update, *next_update;
    const ASN1_OCTET_STRING *key_id = NULL;
    const X509_NAME *name = NULL;
    int reason = -1;
    time_t when;

    assert_int_equal(OCSP_resp_get0_id(basic, &key_id, &name), 1);
    assert_non_null(key_id);
    assert_null(name);
    assert_int_equal(OCSP_resp_count(basic), 3);
    assert_int_equal(OCSP_single_get0_status(OCSP_resp_get0(basic, 0),
                                             NULL, NULL, NULL, NULL),
                     V_OCSP_CERTSTATUS_GOOD);
    assert_int_equal(OCSP_single_get0_status(OCSP_resp_get0(basic, 1),
                                             &reason, &revoked_at,
                                             &this_update, &next_update),
                     V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    assert_true(cert_time_of_asn1(revoked_at, &when));
    assert_int_equal(when, REVOKED_2023);
    assert_int_equal(OCSP_resp_find(basic, singles[1].cert_id, -1), 1);
    assert_int_equal(OCSP_single_get0_status(OCSP_resp_get0(basic, 2),
                                             NULL, NULL, NULL, NULL),
                     V_OCSP_CERTSTATUS_UNKNOWN);
    /* No nonce was requested, so none is sent. */
    assert_int_equal(OCSP_BASICRESP_get_ext_by_NID(
                         basic, NID_id_pkix_OCSP_Nonce, -1),
                     -1);
    for (size_t i = 0; i < 3; i++)
        OCSP_CERTID_free(singles[i].cert_id);
    OCSP_BASICRESP_free(basic);
}

static void
response_unspecified_reason_omitted(void **state)
{
    struct fixture *fx = *state;
    struct ocsp_single single = {cert_id_of(EVP_sha1(), fx->root, "0x12"),
                                 V_OCSP_CERTSTATUS_REVOKED, REVOKED_2023,
                                 OCSP_REVOKED_STATUS_UNSPECIFIED};
    OCSP_BASICRESP *basic = sign_and_verify(fx, NULL, &single, 1);
    int reason = 0;

    assert_int_equal(OCSP_single_get0_status(OCSP_resp_get0(basic, 0),
                                             &reason, NULL, NULL, NULL),
                     V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(reason, OCSP_REVOKED_STATUS_NOSTATUS);
    OCSP_CERTID_free(single.cert_id);
    OCSP_BASICRESP_free(basic);
}

static void
response_echoes_nonce(void **state)
{
    struct fixture *fx = *state;
    OCSP_REQUEST *request = OCSP_REQUEST_new();
    OCSP_CERTID *id = cert_id_of(EVP_sha1(), fx->root, "0x11");
    struct ocsp_single single = {id, V_OCSP_CERTSTATUS_GOOD, 0, 0};
    OCSP_BASICRESP *basic;

    assert_non_null(OCSP_request_add0_id(request, OCSP_CERTID_dup(id)));
    assert_int_equal(OCSP_request_add1_nonce(request, NULL, 32), 1);
    basic = sign_and_verify(fx, request, &single, 1);
    assert_int_equal(OCSP_check_nonce(request, basic), 1);
    OCSP_BASICRESP_free(basic);
    OCSP_REQUEST_free(request);
    OCSP_CERTID_free(id);
}

static void
error_responses_parse(void **state)
{
    static const int statuses[] = {
        OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
        OCSP_RESPONSE_STATUS_INTERNALERROR,
        OCSP_RESPONSE_STATUS_TRYLATER,
        OCSP_RESPONSE_STATUS_UNAUTHORIZED,
    };

    (void)state;
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        size_t len;
        const unsigned char *der = ocsp_response_error(statuses[i], &len);
        OCSP_RESPONSE *response = d2i_OCSP_RESPONSE(NULL, &der, (long)len);

        assert_non_null(response);
        assert_int_equal(OCSP_response_status(response), statuses[i]);
        assert_null(OCSP_response_get1_basic(response));
        OCSP_RESPONSE_free(response);
    }
}

/* Makes a cached response of len bytes whose first byte is tag. */
static struct ocsp_cached *
cached_of(unsigned char tag, size_t len)
{
    unsigned char *der = OPENSSL_zalloc(len);
    struct ocsp_cached *cached;

    assert_non_null(der);
    der[0] = tag;
    cached = ocsp_cached_new(der, len);
    assert_non_null(cached);
    return cached;
}

/* Returns the first byte of the cached response for key, or -1. */
static int
cached_tag(struct ocsp_cache *cache, const char *key, const char *serial,
           time_t now)
{
    struct ocsp_cached *cached = ocsp_cache_get(
        cache, (const unsigned char *)key, strlen(key),
        (const unsigned char *)serial, strlen(serial), now);
    struct ocsp_reply reply;
    int tag;

    if (cached == NULL)
        return -1;
    ocsp_cached_to_reply(cached, &reply);
    tag = reply.der[0];
    reply.release(reply.owner);
    return tag;
}

static void
put(struct ocsp_cache *cache, uint64_t generation, const char *key,
    const char *serial, unsigned char tag, size_t len, time_t refresh_at)
{
    struct ocsp_cached *cached = cached_of(tag, len);

    ocsp_cache_put(cache, generation, (const unsigned char *)key,
                   strlen(key), (const unsigned char *)serial,
                   strlen(serial), cached, refresh_at);
    ocsp_cached_unref(cached);
}

static void
cache_forgets_every_digest(void **state)
{
    struct ocsp_cache *cache = ocsp_cache_new(1 << 20);
    uint64_t generation;

    (void)state;
    assert_non_null(cache);
    generation = ocsp_cache_generation(cache);
    put(cache, generation, "sha1:A", "A", 1, 100, 1000);
    put(cache, generation, "sha256:A", "A", 2, 100, 1000);
    put(cache, generation, "sha1:B", "B", 3, 100, 1000);
    assert_int_equal(cached_tag(cache, "sha1:A", "A", 10), 1);
    assert_int_equal(cached_tag(cache, "sha256:A", "A", 10), 2);
    assert_int_equal(cached_tag(cache, "sha1:C", "C", 10), -1);
    ocsp_cache_forget(cache, (const unsigned char *)"A", 1);
    assert_int_equal(cached_tag(cache, "sha1:A", "A", 10), -1);
    assert_int_equal(cached_tag(cache, "sha256:A", "A", 10), -1);
    assert_int_equal(cached_tag(cache, "sha1:B", "B", 10), 3);
    ocsp_cache_free(cache);
}

static void
cache_skips_put_after_forget(void **state)
{
    struct ocsp_cache *cache = ocsp_cache_new(1 << 20);
    uint64_t before;

    (void)state;
    before = ocsp_cache_generation(cache);
    /* A revocation commits while the response is being signed. */
    ocsp_cache_forget(cache, (const unsigned char *)"A", 1);
    put(cache, before, "sha1:A", "A", 1, 100, 1000);
    assert_int_equal(cached_tag(cache, "sha1:A", "A", 10), -1);
    put(cache, ocsp_cache_generation(cache), "sha1:A", "A", 2, 100, 1000);
    assert_int_equal(cached_tag(cache, "sha1:A", "A", 10), 2);
    ocsp_cache_forget_all(cache);
    assert_int_equal(cached_tag(cache, "sha1:A", "A", 10), -1);
    ocsp_cache_free(cache);
}

static void
cache_refreshes_and_evicts(void **state)
{
    struct ocsp_cache *cache = ocsp_cache_new(8192);
    uint64_t generation = ocsp_cache_generation(cache);
    size_t entries, bytes;
    char key[16];

    (void)state;
    put(cache, generation, "sha1:A", "A", 1, 100, 50);
    assert_int_equal(cached_tag(cache, "sha1:A", "A", 49), 1);
    assert_int_equal(cached_tag(cache, "sha1:A", "A", 50), -1);
    /* Ten responses of 1000 bytes: the oldest go, the newest stay. */
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "sha1:%d", i);
        put(cache, generation, key, key + 5, (unsigned char)i, 1000, 1000);
    }
    ocsp_cache_usage(cache, &entries, &bytes);
    assert_true(bytes <= 8192);
    assert_true(entries >= 5);
    assert_true(entries < 10);
    assert_int_equal(cached_tag(cache, "sha1:0", "0", 10), -1);
    assert_int_equal(cached_tag(cache, "sha1:9", "9", 10), 9);
    /* A response larger than the whole cache is not kept. */
    put(cache, generation, "sha1:big", "big", 7, 9000, 1000);
    assert_int_equal(cached_tag(cache, "sha1:big", "big", 10), -1);
    ocsp_cache_free(cache);
}

/* A bucket contains up to two seconds' worth of signatures and refills
 * at the rate. Each address has its own, and no limit lets all pass. */
static void
rate_limits_each_address(void **state)
{
    struct ocsp_rate *rate = ocsp_rate_new(5);

    (void)state;
    assert_non_null(rate);
    for (int i = 0; i < 10; i++)
        assert_true(ocsp_rate_take(rate, "192.0.2.1", 100.0));
    assert_false(ocsp_rate_take(rate, "192.0.2.1", 100.0));
    assert_true(ocsp_rate_take(rate, "192.0.2.2", 100.0));
    /* A fifth of a second later one signature has come back. */
    assert_true(ocsp_rate_take(rate, "192.0.2.1", 100.2));
    assert_false(ocsp_rate_take(rate, "192.0.2.1", 100.2));
    /* Later than the burst's two seconds, the bucket is full but not
     * fuller. */
    for (int i = 0; i < 10; i++)
        assert_true(ocsp_rate_take(rate, "192.0.2.1", 110.0));
    assert_false(ocsp_rate_take(rate, "192.0.2.1", 110.0));
    ocsp_rate_free(rate);

    assert_null(ocsp_rate_new(0));
    assert_true(ocsp_rate_take(NULL, "192.0.2.1", 0.0));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_with_nonce_decodes),
        cmocka_unit_test(request_nonce_lengths_checked),
        cmocka_unit_test(request_empty_nonce_rejected),
        cmocka_unit_test(request_two_nonces_rejected),
        cmocka_unit_test(request_unknown_critical_rejected),
        cmocka_unit_test(rate_limits_each_address),
        cmocka_unit_test(request_malformed_rejected),
        cmocka_unit_test(request_cert_id_count_limited),
        cmocka_unit_test(issuer_matched_per_digest),
        cmocka_unit_test(response_reports_each_status),
        cmocka_unit_test(response_unspecified_reason_omitted),
        cmocka_unit_test(response_echoes_nonce),
        cmocka_unit_test(error_responses_parse),
        cmocka_unit_test(cache_forgets_every_digest),
        cmocka_unit_test(cache_skips_put_after_forget),
        cmocka_unit_test(cache_refreshes_and_evicts),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
