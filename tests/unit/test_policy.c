/*
 * Unit tests of the assignment policy set: parsing, the permits check, the
 * choice of an HSM and the JSON form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/policy.h"

/* Two HSMs whose lists include the weak names md5, sha1 and rc4, as old
 * policy sets do. */
static const char two_hsm_policy[] =
    "{\"policies\": ["
    " {\"hsm\": \"HSM1\","
    "  \"capabilities\": [\"initsession\", \"keypairgen\","
    "                     \"certificate_gen\"],"
    "  \"algorithms\": [\"rsa\", \"ecc\"],"
    "  \"hash_funcs\": [\"md5\", \"sha1\", \"sha256\"],"
    "  \"utilization\": [\"med\"]},"
    " {\"hsm\": \"HSM2\","
    "  \"capabilities\": [\"initsession\", \"keypairgen\", \"encryption\"],"
    "  \"algorithms\": [\"rsa\", \"aes\", \"rc4\"],"
    "  \"hash_funcs\": [\"md5\", \"sha256\", \"sha512\"],"
    "  \"utilization\": [\"high\"]}"
    "]}";

static json_t *
load(const char *text)
{
    json_error_t error;
    json_t *json = json_loads(text, 0, &error);

    if (json == NULL)
        fail_msg("test JSON does not parse: %s: %s", error.text, text);
    return json;
}

static enum adcp_status
parse_text(const char *text, struct policy_set **set, struct adcp_error *err)
{
    json_t *json = load(text);
    enum adcp_status rc = policy_set_parse(json, set, err);

    json_decref(json);
    return rc;
}

static struct policy_set *
parse_ok(const char *text)
{
    struct policy_set *set = NULL;
    struct adcp_error err;

    if (parse_text(text, &set, &err) != ADCP_OK)
        fail_msg("policy set rejected: %s: %s", err.field, err.message);
    return set;
}

static uint32_t
capability(enum adcp_type type)
{
    return 1u << type;
}

static void
parse_two_hsm_example(void **state)
{
    struct policy_set *set = parse_ok(two_hsm_policy);
    const struct policy_entry *hsm1, *hsm2;

    (void)state;
    assert_int_equal(set->count, 2);
    hsm1 = policy_set_find(set, "HSM1");
    hsm2 = policy_set_find(set, "HSM2");
    assert_non_null(hsm1);
    assert_non_null(hsm2);
    assert_null(policy_set_find(set, "HSM3"));
    assert_null(policy_set_find(set, "hsm1"));

    assert_int_equal(hsm1->capabilities,
                     capability(ADCP_TYPE_INITSESSION) |
                         capability(ADCP_TYPE_KEYPAIRGEN) |
                         capability(ADCP_TYPE_CERTIFICATE_GEN));
    assert_int_equal(hsm1->algorithms, POLICY_ALG_RSA | POLICY_ALG_ECC);
    assert_int_equal(hsm1->hash_funcs, POLICY_HASH_MD5 | POLICY_HASH_SHA1 |
                                           POLICY_HASH_SHA256);
    assert_true(hsm1->utilization_fixed);
    assert_int_equal(hsm1->utilization, POLICY_UTIL_MED);

    assert_int_equal(hsm2->capabilities,
                     capability(ADCP_TYPE_INITSESSION) |
                         capability(ADCP_TYPE_KEYPAIRGEN) |
                         capability(ADCP_TYPE_ENCRYPTION));
    assert_int_equal(hsm2->algorithms,
                     POLICY_ALG_RSA | POLICY_ALG_AES | POLICY_ALG_RC4);
    assert_int_equal(hsm2->hash_funcs, POLICY_HASH_MD5 | POLICY_HASH_SHA256 |
                                           POLICY_HASH_SHA512);
    assert_int_equal(hsm2->utilization, POLICY_UTIL_HIGH);
    policy_set_free(set);
}

static void
parse_plain_array_and_string_level(void **state)
{
    struct policy_set *set = parse_ok(
        "[{\"hsm\": \"soft\", \"capabilities\": [\"health\"],"
        "  \"algorithms\": [\"EC\"], \"hash_funcs\": [\"SHA-384\"],"
        "  \"utilization\": \"low\"},"
        " {\"hsm\": \"net\", \"capabilities\": [], \"algorithms\": [],"
        "  \"hash_funcs\": [], \"utilization\": null}]");

    (void)state;
    assert_int_equal(set->count, 2);
    assert_int_equal(set->entries[0].algorithms, POLICY_ALG_ECC);
    assert_int_equal(set->entries[0].hash_funcs, POLICY_HASH_SHA384);
    assert_true(set->entries[0].utilization_fixed);
    assert_int_equal(set->entries[0].utilization, POLICY_UTIL_LOW);
    assert_false(set->entries[1].utilization_fixed);
    policy_set_free(set);

    set = parse_ok("{\"policies\": []}");
    assert_int_equal(set->count, 0);
    policy_set_free(set);
}

static void
names_and_weakness(void **state)
{
    (void)state;
    assert_int_equal(policy_algorithm_bit("ec"), POLICY_ALG_ECC);
    assert_int_equal(policy_algorithm_bit("ecc"), POLICY_ALG_ECC);
    assert_int_equal(policy_algorithm_bit("RSA"), POLICY_ALG_RSA);
    assert_int_equal(policy_algorithm_bit("dsa"), 0);
    assert_int_equal(policy_algorithm_bit(NULL), 0);
    assert_int_equal(policy_hash_bit("sha512"), POLICY_HASH_SHA512);
    assert_int_equal(policy_hash_bit("sha3-256"), 0);
    assert_true(policy_is_weak("md5"));
    assert_true(policy_is_weak("SHA1"));
    assert_true(policy_is_weak("rc4"));
    assert_false(policy_is_weak("sha256"));
    assert_false(policy_is_weak("aes"));
    assert_false(policy_is_weak(NULL));
}

static void
bad_policy_sets_named(void **state)
{
    static const struct {
        const char *json;
        enum adcp_status code;
        const char *field;
        const char *mentions; /* a word the message must contain */
    } cases[] = {
        {"{\"hsms\": []}", ADCP_ERR_INVALID_FIELD, "policies", "policies"},
        {"\"HSM1\"", ADCP_ERR_INVALID_FIELD, "policies", "\"HSM1\""},
        {"[7]", ADCP_ERR_INVALID_FIELD, "policies[0]", "7"},
        {"[{\"capabilities\": [], \"algorithms\": [], \"hash_funcs\": []}]",
         ADCP_ERR_MISSING_FIELD, "policies[0].hsm", "hsm"},
        {"[{\"hsm\": \"a/b\", \"capabilities\": [], \"algorithms\": [],"
         " \"hash_funcs\": []}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].hsm", "a/b"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [\"keypairgen\","
         " \"keygen\"], \"algorithms\": [], \"hash_funcs\": []}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].capabilities[1]", "keygen"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [\"unknown\"],"
         " \"algorithms\": [], \"hash_funcs\": []}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].capabilities[0]", "HSM1"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [\"dsa\"],"
         " \"hash_funcs\": []}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].algorithms[0]", "dsa"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [1],"
         " \"hash_funcs\": []}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].algorithms[0]", "algorithm"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [],"
         " \"hash_funcs\": [\"sha3-256\"]}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].hash_funcs[0]", "sha3-256"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [],"
         " \"hash_funcs\": \"sha256\"}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].hash_funcs", "array"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": []}]",
         ADCP_ERR_MISSING_FIELD, "policies[0].hash_funcs", "hash_funcs"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [],"
         " \"hash_func\": []}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].hash_func", "hash_func"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [],"
         " \"hash_funcs\": [], \"utilization\": [\"extreme\"]}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].utilization", "extreme"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [],"
         " \"hash_funcs\": [], \"utilization\": [\"low\", \"high\"]}]",
         ADCP_ERR_INVALID_FIELD, "policies[0].utilization", "low"},
        {"[{\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [],"
         " \"hash_funcs\": []},"
         " {\"hsm\": \"HSM1\", \"capabilities\": [], \"algorithms\": [],"
         " \"hash_funcs\": []}]",
         ADCP_ERR_INVALID_FIELD, "policies", "policies[1]"},
    };
    static struct policy_set sentinel;
    struct policy_set *set;
    struct adcp_error err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *json = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        enum adcp_status rc;

        assert_non_null(json);
        set = &sentinel; /* parse must clear it on failure */
        rc = policy_set_parse(json, &set, &err);
        json_decref(json);
        if (rc != cases[i].code || strcmp(err.field, cases[i].field) != 0 ||
            strstr(err.message, cases[i].mentions) == NULL)
            fail_msg("%s: got %s at \"%s\" (%s); expected %s at \"%s\" "
                     "mentioning %s", cases[i].json, adcp_status_name(rc),
                     err.field, err.message, adcp_status_name(cases[i].code),
                     cases[i].field, cases[i].mentions);
        assert_null(set);
    }
}

static void
permits_matrix(void **state)
{
    static const struct {
        const char *hsm;
        struct policy_request request;
        bool permitted;
    } cases[] = {
        {"HSM1", {ADCP_TYPE_KEYPAIRGEN, "rsa", NULL}, true},
        {"HSM1", {ADCP_TYPE_KEYPAIRGEN, "ec", NULL}, true},
        {"HSM1", {ADCP_TYPE_KEYPAIRGEN, "ECC", NULL}, true},
        {"HSM1", {ADCP_TYPE_KEYPAIRGEN, "aes", NULL}, false},
        {"HSM1", {ADCP_TYPE_CERTIFICATE_GEN, "rsa", "sha256"}, true},
        {"HSM1", {ADCP_TYPE_CERTIFICATE_GEN, "rsa", "sha512"}, false},
        {"HSM1", {ADCP_TYPE_CERTIFICATE_GEN, "rsa", "sha1"}, false},
        {"HSM1", {ADCP_TYPE_CERTIFICATE_GEN, NULL, NULL}, true},
        {"HSM1", {ADCP_TYPE_ENCRYPTION, "rsa", NULL}, false},
        {"HSM1", {ADCP_TYPE_HEALTH, NULL, NULL}, false},
        {"HSM2", {ADCP_TYPE_ENCRYPTION, "aes", NULL}, true},
        {"HSM2", {ADCP_TYPE_ENCRYPTION, "rc4", NULL}, false},
        {"HSM2", {ADCP_TYPE_KEYPAIRGEN, "ec", NULL}, false},
        {"HSM2", {ADCP_TYPE_KEYPAIRGEN, "rsa", "sha512"}, true},
        {"HSM2", {ADCP_TYPE_KEYPAIRGEN, "rsa", "md5"}, false},
        {"HSM2", {ADCP_TYPE_CERTIFICATE_GEN, "rsa", "sha256"}, false},
        {"HSM2", {ADCP_TYPE_INITSESSION, NULL, NULL}, true},
        {"HSM2", {ADCP_TYPE_UNKNOWN, NULL, NULL}, false},
        {"HSM2", {ADCP_TYPE_KEYPAIRGEN, "dsa", NULL}, false},
    };
    struct policy_set *set = parse_ok(two_hsm_policy);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct policy_request *r = &cases[i].request;
        bool permitted =
            policy_entry_permits(policy_set_find(set, cases[i].hsm), r);

        if (permitted != cases[i].permitted)
            fail_msg("%s %s %s %s: permitted is %d, expected %d",
                     cases[i].hsm, adcp_type_name(r->operation),
                     r->algorithm ? r->algorithm : "-",
                     r->hash ? r->hash : "-", permitted, cases[i].permitted);
    }
    assert_false(policy_entry_permits(NULL, &cases[0].request));
    assert_false(policy_entry_permits(&set->entries[0], NULL));
    policy_set_free(set);
}

static void
select_lowest_utilization(void **state)
{
    struct policy_set *set = parse_ok(two_hsm_policy);
    struct policy_request request = {ADCP_TYPE_KEYPAIRGEN, "rsa", NULL};
    /* The fixed levels (HSM1 med, HSM2 high) win over the live ones. */
    struct policy_candidate candidates[] = {
        {"HSM2", true, true, POLICY_UTIL_LOW},
        {"HSM1", true, true, POLICY_UTIL_HIGH},
    };
    struct adcp_error err;
    unsigned rotation = 0;
    size_t chosen = 99;

    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(policy_select(set, &request, candidates, 2,
                                       &rotation, &chosen, &err),
                         ADCP_OK);
        assert_int_equal(chosen, 1);
    }
    policy_set_free(set);
}

static void
select_live_utilization(void **state)
{
    struct policy_set *set = parse_ok(
        "[{\"hsm\": \"A\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": []},"
        " {\"hsm\": \"B\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": []}]");
    struct policy_request request = {ADCP_TYPE_KEYPAIRGEN, "rsa", NULL};
    struct policy_candidate candidates[] = {
        {"A", true, true, POLICY_UTIL_HIGH},
        {"B", true, true, POLICY_UTIL_MED},
    };
    struct adcp_error err;
    size_t chosen = 99;

    (void)state;
    assert_int_equal(policy_select(set, &request, candidates, 2, NULL,
                                   &chosen, &err),
                     ADCP_OK);
    assert_int_equal(chosen, 1);
    candidates[0].live_utilization = POLICY_UTIL_LOW;
    assert_int_equal(policy_select(set, &request, candidates, 2, NULL,
                                   &chosen, &err),
                     ADCP_OK);
    assert_int_equal(chosen, 0);
    policy_set_free(set);
}

static void
select_round_robin_among_equals(void **state)
{
    struct policy_set *set = parse_ok(
        "[{\"hsm\": \"A\", \"capabilities\": [\"certificate_gen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": [\"sha256\"],"
        "  \"utilization\": [\"low\"]},"
        " {\"hsm\": \"B\", \"capabilities\": [\"certificate_gen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": [\"sha256\"],"
        "  \"utilization\": [\"high\"]},"
        " {\"hsm\": \"C\", \"capabilities\": [\"certificate_gen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": [\"sha256\"],"
        "  \"utilization\": [\"low\"]},"
        " {\"hsm\": \"D\", \"capabilities\": [\"certificate_gen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": [\"sha256\"],"
        "  \"utilization\": [\"low\"]}]");
    struct policy_request request = {ADCP_TYPE_CERTIFICATE_GEN, "rsa",
                                     "sha256"};
    struct policy_candidate candidates[] = {
        {"A", true, true, POLICY_UTIL_LOW},
        {"B", true, true, POLICY_UTIL_LOW},
        {"C", true, true, POLICY_UTIL_LOW},
        {"D", true, true, POLICY_UTIL_LOW},
    };
    /* B is busier, so A, C and D take turns. */
    static const size_t expected[] = {0, 2, 3, 0, 2, 3, 0};
    struct adcp_error err;
    unsigned rotation = 0;
    size_t chosen;

    (void)state;
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        assert_int_equal(policy_select(set, &request, candidates, 4,
                                       &rotation, &chosen, &err),
                         ADCP_OK);
        assert_int_equal(chosen, expected[i]);
    }
    assert_int_equal(rotation, 7);
    policy_set_free(set);
}

static void
select_skips_down_and_keyless(void **state)
{
    struct policy_set *set = parse_ok(
        "[{\"hsm\": \"A\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"ec\"], \"hash_funcs\": [],"
        "  \"utilization\": [\"low\"]},"
        " {\"hsm\": \"B\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"ec\"], \"hash_funcs\": [],"
        "  \"utilization\": [\"low\"]},"
        " {\"hsm\": \"C\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"ec\"], \"hash_funcs\": [],"
        "  \"utilization\": [\"high\"]}]");
    struct policy_request request = {ADCP_TYPE_KEYPAIRGEN, "ec", NULL};
    struct policy_candidate candidates[] = {
        {"A", false, true, POLICY_UTIL_LOW},
        {"B", true, false, POLICY_UTIL_LOW},
        {"C", true, true, POLICY_UTIL_LOW},
    };
    struct adcp_error err;
    unsigned rotation = 0;
    size_t chosen;

    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(policy_select(set, &request, candidates, 3,
                                       &rotation, &chosen, &err),
                         ADCP_OK);
        assert_int_equal(chosen, 2);
    }
    policy_set_free(set);
}

static void
weak_algorithms_rejected_for_use(void **state)
{
    static const struct {
        struct policy_request request;
        const char *field;
    } cases[] = {
        {{ADCP_TYPE_CERTIFICATE_GEN, "rsa", "sha1"},
         "cert_details.hash_algorithm"},
        {{ADCP_TYPE_CERTIFICATE_GEN, "rsa", "MD5"},
         "cert_details.hash_algorithm"},
        {{ADCP_TYPE_ENCRYPTION, "rc4", NULL}, "key_info.type"},
    };
    struct policy_set *set = parse_ok(two_hsm_policy);
    /* Both HSMs list md5; HSM1 lists sha1, HSM2 rc4. */
    struct policy_candidate candidates[] = {
        {"HSM1", true, true, POLICY_UTIL_LOW},
        {"HSM2", true, true, POLICY_UTIL_LOW},
    };
    struct adcp_error err;
    size_t chosen = 99;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(policy_select(set, &cases[i].request, candidates, 2,
                                       NULL, &chosen, &err),
                         ADCP_ERR_WEAK_ALGORITHM);
        assert_string_equal(err.field, cases[i].field);
        assert_non_null(strstr(err.message, "weak"));
        assert_int_equal(chosen, 99);
    }
    policy_set_free(set);
}

static void
no_match_names_each_reason(void **state)
{
    struct policy_set *set = parse_ok(
        "[{\"hsm\": \"HSM1\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"rsa\"], \"hash_funcs\": []},"
        " {\"hsm\": \"HSM2\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"ecc\"], \"hash_funcs\": []},"
        " {\"hsm\": \"HSM3\", \"capabilities\": [\"initsession\"],"
        "  \"algorithms\": [\"ecc\"], \"hash_funcs\": []},"
        " {\"hsm\": \"HSM4\", \"capabilities\": [\"keypairgen\"],"
        "  \"algorithms\": [\"ecc\"], \"hash_funcs\": []}]");
    struct policy_request request = {ADCP_TYPE_KEYPAIRGEN, "ec", NULL};
    struct policy_candidate candidates[] = {
        {"HSM1", true, true, POLICY_UTIL_LOW},
        {"HSM2", false, true, POLICY_UTIL_LOW},
        {"HSM3", true, true, POLICY_UTIL_LOW},
        {"HSM4", true, false, POLICY_UTIL_LOW},
        {"HSM5", true, true, POLICY_UTIL_LOW},
    };
    struct adcp_error err;
    size_t chosen = 99;

    (void)state;
    assert_int_equal(policy_select(set, &request, candidates, 2, NULL,
                                   &chosen, &err),
                     ADCP_ERR_NO_HSM);
    assert_string_equal(err.message, "no HSM may serve keypairgen with ec: "
                                     "HSM1 lacks algorithm ecc, HSM2 is down");
    assert_int_equal(chosen, 99);

    assert_int_equal(policy_select(set, &request, candidates, 5, NULL,
                                   &chosen, &err),
                     ADCP_ERR_NO_HSM);
    assert_string_equal(err.message,
                        "no HSM may serve keypairgen with ec: "
                        "HSM1 lacks algorithm ecc, HSM2 is down, "
                        "HSM3 lacks capability keypairgen, "
                        "HSM4 does not hold the key, "
                        "HSM5 has no policy entry");

    assert_int_equal(policy_select(set, &request, candidates, 0, NULL,
                                   &chosen, &err),
                     ADCP_ERR_NO_HSM);
    assert_non_null(strstr(err.message, "no HSM is configured"));
    policy_set_free(set);
}

static void
no_match_hash_and_unknown_names(void **state)
{
    struct policy_set *set = parse_ok(two_hsm_policy);
    struct policy_request request = {ADCP_TYPE_CERTIFICATE_GEN, "rsa",
                                     "sha512"};
    struct policy_candidate candidates[] = {
        {"HSM1", true, true, POLICY_UTIL_LOW},
    };
    struct adcp_error err;
    size_t chosen;

    (void)state;
    assert_int_equal(policy_select(set, &request, candidates, 1, NULL,
                                   &chosen, &err),
                     ADCP_ERR_NO_HSM);
    assert_string_equal(err.message, "no HSM may serve certificate_gen with "
                                     "rsa and sha512: HSM1 lacks hash "
                                     "function sha512");

    request.algorithm = "dsa";
    assert_int_equal(policy_select(set, &request, candidates, 1, NULL,
                                   &chosen, &err),
                     ADCP_ERR_NO_HSM);
    assert_string_equal(err.field, "key_info.type");
    assert_non_null(strstr(err.message, "dsa"));
    policy_set_free(set);
}

static void
no_match_message_is_capped(void **state)
{
    struct policy_set *set = parse_ok("[]");
    struct policy_request request = {ADCP_TYPE_HEALTH, NULL, NULL};
    struct policy_candidate candidates[60];
    char names[60][16];
    struct adcp_error err;
    size_t chosen;

    (void)state;
    for (int i = 0; i < 60; i++) {
        snprintf(names[i], sizeof(names[i]), "HSM-%02d", i);
        candidates[i] = (struct policy_candidate){names[i], true, true,
                                                  POLICY_UTIL_LOW};
    }
    assert_int_equal(policy_select(set, &request, candidates, 60, NULL,
                                   &chosen, &err),
                     ADCP_ERR_NO_HSM);
    assert_true(strlen(err.message) < sizeof(err.message) - 1);
    assert_non_null(strstr(err.message, "no HSM may serve health: HSM-00 "
                                        "has no policy entry, "));
    assert_non_null(strstr(err.message, " more"));
    assert_null(strstr(err.message, "HSM-59"));
    policy_set_free(set);
}

static void
to_json_round_trip(void **state)
{
    struct policy_set *set = parse_ok(two_hsm_policy);
    struct policy_set *copy = NULL;
    struct adcp_error err;
    json_t *json = policy_set_to_json(set);
    json_t *hsm2;

    (void)state;
    assert_non_null(json);
    hsm2 = json_array_get(json_object_get(json, "policies"), 1);
    assert_string_equal(json_string_value(json_object_get(hsm2, "hsm")),
                        "HSM2");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(hsm2, "algorithms"),
                                         2)),
        "rc4");
    assert_string_equal(
        json_string_value(
            json_array_get(json_object_get(hsm2, "utilization"), 0)),
        "high");
    assert_int_equal(policy_set_parse(json, &copy, &err), ADCP_OK);
    assert_int_equal(copy->count, set->count);
    for (size_t i = 0; i < set->count; i++)
        assert_memory_equal(&copy->entries[i], &set->entries[i],
                            sizeof(set->entries[i]));
    json_decref(json);
    policy_set_free(copy);
    policy_set_free(set);
    policy_set_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_two_hsm_example),
        cmocka_unit_test(parse_plain_array_and_string_level),
        cmocka_unit_test(names_and_weakness),
        cmocka_unit_test(bad_policy_sets_named),
        cmocka_unit_test(permits_matrix),
        cmocka_unit_test(select_lowest_utilization),
        cmocka_unit_test(select_live_utilization),
        cmocka_unit_test(select_round_robin_among_equals),
        cmocka_unit_test(select_skips_down_and_keyless),
        cmocka_unit_test(weak_algorithms_rejected_for_use),
        cmocka_unit_test(no_match_names_each_reason),
        cmocka_unit_test(no_match_hash_and_unknown_names),
        cmocka_unit_test(no_match_message_is_capped),
        cmocka_unit_test(to_json_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
