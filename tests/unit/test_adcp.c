/*
 * Unit tests of ADCP messages: names, life cycle, message ids, timestamps,
 * and the JSON decoder and encoder with real jansson documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adcp/adcp.h"
#include "common/secret.h"

/* A keypairgen request with every body member, in the form the original
 * system sends: lengths and days as strings, a timestamp without a zone. */
static const char published_message[] =
    "{\"header\": {"
    "  \"message_direction\": \"request\","
    "  \"message_id\": \"17\","
    "  \"message_type\": \"keypairgen\","
    "  \"source_mac_address\": \"52:54:00:12:34:56\","
    "  \"source_ip_address\": \"10.0.0.7\","
    "  \"timestamp\": \"2023-11-14T16:00:36.937948\","
    "  \"dest_hsm_module\": \"/usr/lib/softhsm/libsofthsm2.so\"},"
    " \"body\": {"
    "  \"session_label\": \"tenant-a\","
    "  \"credentials\": {\"admin_pin\": \"so-PIN-4711\","
    "                    \"user_pin\": \"user-PIN-0815\"},"
    "  \"key_info\": {\"type\": \"rsa\", \"length\": \"2048\","
    "                 \"label\": \"web01-key\", \"id\": \"0A1b\"},"
    "  \"csr_details\": {\"csr\": \"-----BEGIN CERTIFICATE REQUEST-----\","
    "                    \"csr_file\": \"web01.csr\"},"
    "  \"cert_details\": {\"hash_algorithm\": \"SHA384\", \"days\": \"365\"}"
    " }}";

static json_t *
load(const char *text)
{
    json_error_t error;
    json_t *json = json_loads(text, 0, &error);

    if (json == NULL)
        fail_msg("test JSON does not parse: %s: %s", error.text, text);
    return json;
}

/* Decodes text as a whole message into a new request message. */
static enum adcp_status
decode_text(const char *text, struct adcp_msg **msg, struct adcp_error *err)
{
    json_t *json = load(text);
    enum adcp_status rc;

    *msg = adcp_msg_new(ADCP_DIR_REQUEST);
    assert_non_null(*msg);
    rc = adcp_msg_decode(json, *msg, err);
    json_decref(json);
    return rc;
}

/* Decodes text as a body into a new message's body. */
static enum adcp_status
decode_body_text(const char *text, struct adcp_msg **msg,
                 struct adcp_error *err)
{
    json_t *json = load(text);
    enum adcp_status rc;

    *msg = adcp_msg_new(ADCP_DIR_REQUEST);
    assert_non_null(*msg);
    rc = adcp_body_decode(json, &(*msg)->body, err);
    json_decref(json);
    return rc;
}

static char *
encode_text(const struct adcp_msg *msg)
{
    json_t *json = adcp_msg_encode(msg);
    char *text;

    assert_non_null(json);
    text = json_dumps(json, JSON_SORT_KEYS);
    json_decref(json);
    assert_non_null(text);
    return text;
}

/* Must run first: the first id of the process is "1". */
static void
message_id_starts_at_one(void **state)
{
    char id[ADCP_ID_MAX];

    (void)state;
    adcp_message_id_next(id);
    assert_string_equal(id, "1");
    adcp_message_id_next(id);
    assert_string_equal(id, "2");
}

#define ID_THREADS 4
#define IDS_PER_THREAD 2000

static void *
take_ids(void *arg)
{
    unsigned long *numbers = arg;
    char id[ADCP_ID_MAX];

    for (int i = 0; i < IDS_PER_THREAD; i++) {
        adcp_message_id_next(id);
        numbers[i] = strtoul(id, NULL, 10);
    }
    return NULL;
}

static int
compare_numbers(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a;
    unsigned long y = *(const unsigned long *)b;

    return (x > y) - (x < y);
}

static void
message_ids_unique_across_threads(void **state)
{
    static unsigned long numbers[ID_THREADS * IDS_PER_THREAD];
    pthread_t threads[ID_THREADS];
    char id[ADCP_ID_MAX];
    unsigned long first;

    (void)state;
    adcp_message_id_next(id);
    first = strtoul(id, NULL, 10);
    for (int t = 0; t < ID_THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, take_ids,
                                        &numbers[t * IDS_PER_THREAD]),
                         0);
    for (int t = 0; t < ID_THREADS; t++)
        pthread_join(threads[t], NULL);
    qsort(numbers, ID_THREADS * IDS_PER_THREAD, sizeof(numbers[0]),
          compare_numbers);
    /* Every id from first + 1 on was handed out exactly once. */
    for (size_t i = 0; i < ID_THREADS * IDS_PER_THREAD; i++)
        assert_int_equal(numbers[i], first + 1 + i);
}

static void
message_id_node_prefix(void **state)
{
    char id[ADCP_ID_MAX];
    char expected[ADCP_ID_MAX];
    unsigned long number;

    (void)state;
    adcp_message_id_set_node("node-b");
    adcp_message_id_next(id);
    assert_memory_equal(id, "node-b-", 7);
    number = strtoul(id + 7, NULL, 10);
    assert_true(number > 2);

    /* An invalid node id is ignored and the prefix stays. */
    adcp_message_id_set_node("node/with/slashes");
    adcp_message_id_set_node("a-node-id-much-too-long-for-ids");
    adcp_message_id_next(id);
    snprintf(expected, sizeof(expected), "node-b-%lu", number + 1);
    assert_string_equal(id, expected);

    adcp_message_id_set_node(NULL);
    adcp_message_id_next(id);
    snprintf(expected, sizeof(expected), "%lu", number + 2);
    assert_string_equal(id, expected);
}

static void
timestamp_is_iso8601_utc_microseconds(void **state)
{
    char stamp[ADCP_TIMESTAMP_MAX];
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";

    (void)state;
    adcp_timestamp_now(stamp);
    assert_int_equal(strlen(stamp), strlen(shape));
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd')
            assert_in_range(stamp[i], '0', '9');
        else
            assert_int_equal(stamp[i], shape[i]);
    }
    assert_memory_equal(stamp, "20", 2);
}

static void
type_names_round_trip(void **state)
{
    (void)state;
    for (int type = ADCP_TYPE_UNKNOWN + 1; type < ADCP_TYPE_COUNT; type++)
        assert_int_equal(adcp_type_parse(adcp_type_name(type)), type);
    assert_string_equal(adcp_type_name(ADCP_TYPE_CERTIFICATE_GEN),
                        "certificate_gen");
    assert_string_equal(adcp_type_name(ADCP_TYPE_UNKNOWN), "unknown");
    assert_string_equal(adcp_type_name(ADCP_TYPE_COUNT), "unknown");
    assert_int_equal(adcp_type_parse("unknown"), ADCP_TYPE_UNKNOWN);
    assert_int_equal(adcp_type_parse("KEYPAIRGEN"), ADCP_TYPE_UNKNOWN);
    assert_int_equal(adcp_type_parse(NULL), ADCP_TYPE_UNKNOWN);
    assert_string_equal(adcp_direction_name(ADCP_DIR_REQUEST), "request");
    assert_string_equal(adcp_direction_name(ADCP_DIR_RESPONSE), "response");
    assert_string_equal(adcp_direction_name(ADCP_DIR_INTERNAL), "internal");
}

static void
plain_name_cases(void **state)
{
    char longest[ADCP_NAME_MAX];
    char too_long[ADCP_NAME_MAX + 1];

    (void)state;
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    memset(too_long, 'a', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    assert_true(adcp_is_plain_name("web01.csr"));
    assert_true(adcp_is_plain_name("...")); /* a name, not a path */
    assert_true(adcp_is_plain_name(longest));
    assert_false(adcp_is_plain_name(too_long));
    assert_false(adcp_is_plain_name(NULL));
    assert_false(adcp_is_plain_name(""));
    assert_false(adcp_is_plain_name("."));
    assert_false(adcp_is_plain_name(".."));
    assert_false(adcp_is_plain_name("../etc/passwd"));
    assert_false(adcp_is_plain_name("/etc/passwd"));
    assert_false(adcp_is_plain_name("dir/"));
    assert_false(adcp_is_plain_name("a\nb"));
    assert_false(adcp_is_plain_name("a\x7f"));
}

static void
decode_published_message(void **state)
{
    struct adcp_msg *msg;
    struct adcp_error err;

    (void)state;
    assert_int_equal(decode_text(published_message, &msg, &err), ADCP_OK);
    assert_int_equal(msg->header.direction, ADCP_DIR_REQUEST);
    assert_string_equal(msg->header.message_id, "17");
    assert_int_equal(msg->header.type, ADCP_TYPE_KEYPAIRGEN);
    assert_string_equal(msg->header.source_mac, "52:54:00:12:34:56");
    assert_string_equal(msg->header.source_ip, "10.0.0.7");
    assert_string_equal(msg->header.timestamp, "2023-11-14T16:00:36.937948");
    assert_string_equal(msg->header.dest_hsm_module,
                        "/usr/lib/softhsm/libsofthsm2.so");
    assert_string_equal(msg->body.session_label, "tenant-a");
    assert_string_equal(msg->body.credentials.admin_pin, "so-PIN-4711");
    assert_string_equal(msg->body.credentials.user_pin, "user-PIN-0815");
    assert_true(msg->body.key_info.present);
    assert_string_equal(msg->body.key_info.type, "rsa");
    assert_int_equal(msg->body.key_info.length, 2048);
    assert_string_equal(msg->body.key_info.label, "web01-key");
    assert_string_equal(msg->body.key_info.id, "0A1b");
    assert_true(msg->body.csr_details.present);
    assert_string_equal(msg->body.csr_details.csr,
                        "-----BEGIN CERTIFICATE REQUEST-----");
    assert_string_equal(msg->body.csr_details.csr_file, "web01.csr");
    assert_true(msg->body.cert_details.present);
    assert_string_equal(msg->body.cert_details.hash_algorithm, "sha384");
    assert_int_equal(msg->body.cert_details.days, 365);
    assert_false(msg->body.host.present);
    adcp_msg_free(msg);
}

static void
decode_defaults_and_nulls(void **state)
{
    struct adcp_msg *msg;
    struct adcp_error err;

    (void)state;
    assert_int_equal(
        decode_text("{\"header\": {\"message_type\": \"health\","
                    " \"message_id\": null}}",
                    &msg, &err),
        ADCP_OK);
    assert_int_equal(msg->header.direction, ADCP_DIR_REQUEST);
    assert_int_equal(msg->header.type, ADCP_TYPE_HEALTH);
    assert_string_equal(msg->header.message_id, "");
    assert_string_equal(msg->body.cert_details.hash_algorithm, "sha256");
    assert_int_equal(msg->body.cert_details.days, 0);
    assert_false(msg->body.key_info.present);
    assert_null(msg->body.credentials.user_pin);
    adcp_msg_free(msg);

    assert_int_equal(
        decode_body_text("{\"key_info\": {\"type\": \"ECC\","
                         " \"length\": \"prime256v1\"},"
                         " \"cert_details\": {\"days\": 30},"
                         " \"credentials\": null, \"unknown\": [1]}",
                         &msg, &err),
        ADCP_OK);
    assert_string_equal(msg->body.key_info.type, "ec");
    assert_int_equal(msg->body.key_info.length, 256);
    assert_string_equal(msg->body.cert_details.hash_algorithm, "sha256");
    assert_int_equal(msg->body.cert_details.days, 30);
    assert_null(msg->body.credentials.admin_pin);
    adcp_msg_free(msg);
}

static void
decode_flat_host_body(void **state)
{
    struct adcp_msg *msg;
    struct adcp_error err;

    (void)state;
    assert_int_equal(
        decode_body_text("{\"name\": \"web01\","
                         " \"dns_names\": [\"web01.example.org\","
                         "                 \"www.example.org\"],"
                         " \"ip_addresses\": [\"10.0.0.7\", \"fd00::7\"]}",
                         &msg, &err),
        ADCP_OK);
    assert_true(msg->body.host.present);
    assert_string_equal(msg->body.host.name, "web01");
    assert_int_equal(msg->body.host.dns_count, 2);
    assert_string_equal(msg->body.host.dns_names[1], "www.example.org");
    assert_int_equal(msg->body.host.ip_count, 2);
    assert_string_equal(msg->body.host.ip_addresses[1], "fd00::7");
    adcp_msg_free(msg);

    assert_int_equal(
        decode_body_text("{\"host\": {\"name\": \"db01\","
                         " \"ip_addresses\": [\"10.0.0.8\"]},"
                         " \"serial\": \"0a1b2c\"}",
                         &msg, &err),
        ADCP_OK);
    assert_true(msg->body.host.present);
    assert_string_equal(msg->body.host.name, "db01");
    assert_int_equal(msg->body.host.dns_count, 0);
    assert_int_equal(msg->body.host.ip_count, 1);
    assert_string_equal(msg->body.serial, "0A1B2C");
    adcp_msg_free(msg);
}

static void
round_trip_request(void **state)
{
    struct adcp_msg *msg, *copy;
    struct adcp_error err;
    json_t *json;
    char *first, *second;

    (void)state;
    assert_int_equal(decode_text(published_message, &msg, &err), ADCP_OK);
    snprintf(msg->header.dest_hsm_name, sizeof(msg->header.dest_hsm_name),
             "HSM1");
    msg->body.host.present = true;
    snprintf(msg->body.host.name, sizeof(msg->body.host.name), "web01");
    msg->body.host.dns_names = calloc(1, sizeof(char *));
    msg->body.host.dns_names[0] = strdup("web01.example.org");
    msg->body.host.dns_count = 1;
    snprintf(msg->body.serial, sizeof(msg->body.serial), "0A1B");

    json = adcp_msg_encode(msg);
    assert_non_null(json);
    copy = adcp_msg_new(ADCP_DIR_REQUEST);
    assert_int_equal(adcp_msg_decode(json, copy, &err), ADCP_OK);
    json_decref(json);

    assert_string_equal(copy->header.message_id, "17");
    assert_int_equal(copy->header.type, ADCP_TYPE_KEYPAIRGEN);
    assert_string_equal(copy->header.dest_hsm_name, "HSM1");
    assert_string_equal(copy->header.dest_hsm_module,
                        msg->header.dest_hsm_module);
    assert_string_equal(copy->header.timestamp, msg->header.timestamp);
    assert_int_equal(copy->body.key_info.length, 2048);
    assert_string_equal(copy->body.key_info.label, "web01-key");
    assert_string_equal(copy->body.csr_details.csr, msg->body.csr_details.csr);
    assert_string_equal(copy->body.cert_details.hash_algorithm, "sha384");
    assert_int_equal(copy->body.cert_details.days, 365);
    assert_string_equal(copy->body.host.dns_names[0], "web01.example.org");
    assert_string_equal(copy->body.serial, "0A1B");
    /* The PINs do not travel; the copy only shows that they were set. */
    assert_string_equal(copy->body.credentials.admin_pin, "***");

    /* Encoding the copy gives the same text: nothing was lost. */
    first = encode_text(msg);
    second = encode_text(copy);
    assert_string_equal(first, second);
    free(first);
    free(second);
    adcp_msg_free(copy);
    adcp_msg_free(msg);
}

static void
credentials_never_encoded(void **state)
{
    struct adcp_msg *msg;
    struct adcp_error err;
    char *text;

    (void)state;
    assert_int_equal(decode_text(published_message, &msg, &err), ADCP_OK);
    text = encode_text(msg);
    assert_null(strstr(text, "so-PIN-4711"));
    assert_null(strstr(text, "user-PIN-0815"));
    assert_non_null(strstr(text, "\"admin_pin\": \"***\""));
    assert_non_null(strstr(text, "\"user_pin\": \"***\""));
    free(text);

    /* Only a PIN that is set shows up, and a wiped one not at all. */
    secret_clear_string(&msg->body.credentials.admin_pin);
    text = encode_text(msg);
    assert_null(strstr(text, "admin_pin"));
    assert_non_null(strstr(text, "user_pin"));
    free(text);
    adcp_msg_wipe_credentials(msg);
    assert_null(msg->body.credentials.user_pin);
    text = encode_text(msg);
    assert_null(strstr(text, "credentials"));
    free(text);
    adcp_msg_free(msg);
}

static void
credential_errors_hide_value(void **state)
{
    struct adcp_msg *msg;
    struct adcp_error err;
    char long_pin[400];
    char body[512];

    (void)state;
    memset(long_pin, 'P', sizeof(long_pin) - 1);
    long_pin[sizeof(long_pin) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"credentials\": {\"user_pin\": \"%s\"}}",
             long_pin);
    assert_int_equal(decode_body_text(body, &msg, &err),
                     ADCP_ERR_INVALID_FIELD);
    assert_string_equal(err.field, "credentials.user_pin");
    assert_null(strstr(err.message, "PPPP"));
    adcp_msg_free(msg);

    /* A rejected body keeps no PIN, even one that decoded before. */
    assert_int_equal(
        decode_body_text("{\"credentials\": {\"admin_pin\": \"so-PIN-4711\","
                         " \"user_pin\": 4711}}",
                         &msg, &err),
        ADCP_ERR_INVALID_FIELD);
    assert_string_equal(err.field, "credentials.user_pin");
    assert_null(strstr(err.message, "4711"));
    assert_null(msg->body.credentials.admin_pin);
    adcp_msg_free(msg);
}

struct bad_body {
    const char *json;
    const char *field;
};

static void
bad_body_members_named(void **state)
{
    static const struct bad_body cases[] = {
        {"{\"session_label\": 7}", "session_label"},
        {"{\"hsm\": \"../HSM1\"}", "hsm"},
        {"{\"credentials\": [\"1234\"]}", "credentials"},
        {"{\"credentials\": {\"admin_pin\": true}}", "credentials.admin_pin"},
        {"{\"key_info\": \"rsa\"}", "key_info"},
        {"{\"key_info\": {\"type\": \"dsa\"}}", "key_info.type"},
        {"{\"key_info\": {\"type\": 1}}", "key_info.type"},
        {"{\"key_info\": {\"length\": true}}", "key_info.length"},
        {"{\"key_info\": {\"length\": 2048.5}}", "key_info.length"},
        {"{\"key_info\": {\"length\": \"20x8\"}}", "key_info.length"},
        {"{\"key_info\": {\"length\": \"-2048\"}}", "key_info.length"},
        {"{\"key_info\": {\"length\": \"\"}}", "key_info.length"},
        {"{\"key_info\": {\"length\": 0}}", "key_info.length"},
        {"{\"key_info\": {\"length\": 99999999999}}", "key_info.length"},
        {"{\"key_info\": {\"label\": \"\"}}", "key_info.label"},
        {"{\"key_info\": {\"label\": \"keys/web01\"}}", "key_info.label"},
        {"{\"key_info\": {\"id\": \"xyz1\"}}", "key_info.id"},
        {"{\"key_info\": {\"id\": \"abc\"}}", "key_info.id"},
        {"{\"csr_details\": {\"csr\": 12}}", "csr_details.csr"},
        {"{\"csr_details\": {\"csr_file\": [\"a\"]}}", "csr_details.csr_file"},
        {"{\"cert_details\": {\"days\": 0}}", "cert_details.days"},
        {"{\"cert_details\": {\"days\": 36501}}", "cert_details.days"},
        {"{\"cert_details\": {\"days\": \"one year\"}}", "cert_details.days"},
        {"{\"cert_details\": {\"hash_algorithm\": 256}}",
         "cert_details.hash_algorithm"},
        {"{\"cert_details\": {\"hash_algorithm\": \"\"}}",
         "cert_details.hash_algorithm"},
        {"{\"host\": [\"web01\"]}", "host"},
        {"{\"host\": {\"name\": \"..\"}}", "host.name"},
        {"{\"host\": {\"dns_names\": \"web01.example.org\"}}",
         "host.dns_names"},
        {"{\"host\": {\"dns_names\": [\"a.example.org\", 3]}}",
         "host.dns_names[1]"},
        {"{\"dns_names\": [\"a.example.org\", \"\"]}", "dns_names[1]"},
        {"{\"ip_addresses\": [null]}", "ip_addresses[0]"},
        {"{\"ip_addresses\": [\"10.0.0.1\\n\"]}", "ip_addresses[0]"},
        {"{\"host\": {\"name\": \"a\"}, \"name\": \"b\"}", "host"},
        {"{\"serial\": \"0x1F\"}", "serial"},
        {"{\"serial\": 31}", "serial"},
    };
    struct adcp_msg *msg;
    struct adcp_error err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum adcp_status rc = decode_body_text(cases[i].json, &msg, &err);

        if (rc != ADCP_ERR_INVALID_FIELD ||
            strcmp(err.field, cases[i].field) != 0)
            fail_msg("%s: got %s at \"%s\" (%s); expected invalid_field at "
                     "\"%s\"", cases[i].json, adcp_status_name(rc),
                     err.field, err.message, cases[i].field);
        /* The sentence starts with the member it is about. */
        assert_non_null(strstr(err.message, cases[i].field));
        adcp_msg_free(msg);
    }
}

static void
body_that_is_no_object(void **state)
{
    struct adcp_msg *msg;
    struct adcp_error err;

    (void)state;
    assert_int_equal(decode_body_text("[1, 2]", &msg, &err),
                     ADCP_ERR_INVALID_FIELD);
    assert_string_equal(err.field, "body");
    adcp_msg_free(msg);
    assert_int_equal(
        decode_text("{\"header\": {\"message_type\": \"health\"},"
                    " \"body\": \"x\"}",
                    &msg, &err),
        ADCP_ERR_INVALID_FIELD);
    assert_string_equal(err.field, "body");
    adcp_msg_free(msg);
}

static void
bad_header_members_named(void **state)
{
    static const struct {
        const char *json;
        enum adcp_status code;
        const char *field;
    } cases[] = {
        {"[]", ADCP_ERR_INVALID_JSON, ""},
        {"{\"body\": {}}", ADCP_ERR_MISSING_FIELD, "header"},
        {"{\"header\": \"request\"}", ADCP_ERR_INVALID_FIELD, "header"},
        {"{\"header\": {}}", ADCP_ERR_MISSING_FIELD, "header.message_type"},
        {"{\"header\": {\"message_type\": 3}}", ADCP_ERR_INVALID_FIELD,
         "header.message_type"},
        {"{\"header\": {\"message_type\": \"health\","
         " \"message_direction\": \"sideways\"}}",
         ADCP_ERR_INVALID_FIELD, "header.message_direction"},
        {"{\"header\": {\"message_type\": \"health\", \"timestamp\": 12}}",
         ADCP_ERR_INVALID_FIELD, "header.timestamp"},
        {"{\"header\": {\"message_type\": \"health\","
         " \"source_ip_address\": \"10.0.0.1\\r\\nX: y\"}}",
         ADCP_ERR_INVALID_FIELD, "header.source_ip_address"},
        {"{\"header\": {\"message_type\": \"health\","
         " \"source_mac_address\": \"52:54:00:12:34:56:78\"}}",
         ADCP_ERR_INVALID_FIELD, "header.source_mac_address"},
    };
    struct adcp_msg *msg;
    struct adcp_error err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum adcp_status rc = decode_text(cases[i].json, &msg, &err);

        if (rc != cases[i].code || strcmp(err.field, cases[i].field) != 0)
            fail_msg("%s: got %s at \"%s\" (%s); expected %s at \"%s\"",
                     cases[i].json, adcp_status_name(rc), err.field,
                     err.message, adcp_status_name(cases[i].code),
                     cases[i].field);
        assert_true(strlen(err.message) > 0);
        adcp_msg_free(msg);
    }
}

static void
unknown_message_type_named(void **state)
{
    struct adcp_msg *msg;
    struct adcp_error err;

    (void)state;
    assert_int_equal(
        decode_text("{\"header\": {\"message_type\": \"keygen\"}}", &msg,
                    &err),
        ADCP_ERR_UNKNOWN_TYPE);
    assert_string_equal(err.field, "header.message_type");
    assert_non_null(strstr(err.message, "\"keygen\""));
    assert_non_null(strstr(err.message, "keypairgen"));
    adcp_msg_free(msg);

    assert_int_equal(
        decode_text("{\"header\": {\"message_type\": \"unknown\"}}", &msg,
                    &err),
        ADCP_ERR_UNKNOWN_TYPE);
    adcp_msg_free(msg);
}

static void
path_in_csr_file_rejected(void **state)
{
    static const char *const paths[] = {
        "../../etc/passwd", "/etc/passwd", "csr/web01.csr", ".", "..",
        "web01\n.csr",      "",
    };
    struct adcp_msg *msg;
    struct adcp_error err;
    char body[256];
    json_t *json;

    (void)state;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json = json_pack("{s:{s:s}}", "csr_details", "csr_file", paths[i]);
        assert_non_null(json);
        msg = adcp_msg_new(ADCP_DIR_REQUEST);
        assert_int_equal(adcp_body_decode(json, &msg->body, &err),
                         ADCP_ERR_INVALID_FIELD);
        assert_string_equal(err.field, "csr_details.csr_file");
        assert_string_equal(msg->body.csr_details.csr_file, "");
        json_decref(json);
        adcp_msg_free(msg);
    }
    snprintf(body, sizeof(body),
             "{\"csr_details\": {\"csr_file\": \"web01.csr\"}}");
    assert_int_equal(decode_body_text(body, &msg, &err), ADCP_OK);
    assert_string_equal(msg->body.csr_details.csr_file, "web01.csr");
    adcp_msg_free(msg);
}

/* The API loads JSON without JSON_ALLOW_NUL, but a caller that allows it
 * must not get "a.csr" from "a.csr\0/../x". */
static void
embedded_nul_rejected(void **state)
{
    static const char name[] = "a.csr\0/../x";
    struct adcp_msg *msg;
    struct adcp_error err;
    json_t *json;

    (void)state;
    json = json_pack("{s:{s:o}}", "csr_details", "csr_file",
                     json_stringn(name, sizeof(name) - 1));
    assert_non_null(json);
    msg = adcp_msg_new(ADCP_DIR_REQUEST);
    assert_int_equal(adcp_body_decode(json, &msg->body, &err),
                     ADCP_ERR_INVALID_FIELD);
    assert_string_equal(err.field, "csr_details.csr_file");
    assert_string_equal(msg->body.csr_details.csr_file, "");
    json_decref(json);
    adcp_msg_free(msg);
}

/* Decodes {"<object>": {"<key>": "<len x's>"}} or {"<key>": ...} when
 * object is NULL. */
static enum adcp_status
decode_long_string(const char *object, const char *key, size_t len,
                   struct adcp_error *err, struct adcp_msg **msg)
{
    char *text = malloc(len + 1);
    json_t *value, *json;
    enum adcp_status rc;

    assert_non_null(text);
    memset(text, 'x', len);
    text[len] = '\0';
    value = json_pack("{s:s}", key, text);
    json = object != NULL ? json_pack("{s:o}", object, value) : value;
    assert_non_null(json);
    *msg = adcp_msg_new(ADCP_DIR_REQUEST);
    rc = adcp_body_decode(json, &(*msg)->body, err);
    json_decref(json);
    free(text);
    return rc;
}

static void
overlong_strings_rejected(void **state)
{
    static const struct {
        const char *object;
        const char *key;
        size_t max;
        const char *field;
    } cases[] = {
        {NULL, "session_label", ADCP_LABEL_MAX - 1, "session_label"},
        {NULL, "hsm", ADCP_NAME_MAX - 1, "hsm"},
        {"key_info", "label", ADCP_NAME_MAX - 1, "key_info.label"},
        {"csr_details", "csr_file", ADCP_NAME_MAX - 1,
         "csr_details.csr_file"},
        {"host", "name", ADCP_NAME_MAX - 1, "host.name"},
        {"credentials", "user_pin", 255, "credentials.user_pin"},
        {"csr_details", "csr", 65536, "csr_details.csr"},
    };
    struct adcp_msg *msg;
    struct adcp_error err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(decode_long_string(cases[i].object, cases[i].key,
                                            cases[i].max, &err, &msg),
                         ADCP_OK);
        adcp_msg_free(msg);
        assert_int_equal(decode_long_string(cases[i].object, cases[i].key,
                                            cases[i].max + 1, &err, &msg),
                         ADCP_ERR_INVALID_FIELD);
        assert_string_equal(err.field, cases[i].field);
        assert_non_null(strstr(err.message, "maximum"));
        adcp_msg_free(msg);
    }
}

static void
overlong_header_string_rejected(void **state)
{
    struct adcp_msg *msg;
    struct adcp_error err;
    char text[256];

    (void)state;
    snprintf(text, sizeof(text),
             "{\"header\": {\"message_type\": \"health\","
             " \"message_id\": \"%s\"}}",
             "1234567890123456789012345678901234567890");
    assert_int_equal(decode_text(text, &msg, &err), ADCP_ERR_INVALID_FIELD);
    assert_string_equal(err.field, "header.message_id");
    /* The id is not cut to fit. */
    assert_string_equal(msg->header.message_id, "");
    adcp_msg_free(msg);
}

static void
response_success_encoded(void **state)
{
    struct adcp_msg *request, *response, *copy;
    struct adcp_error err;
    json_t *json, *body;

    (void)state;
    assert_int_equal(decode_text(published_message, &request, &err), ADCP_OK);
    snprintf(request->header.dest_hsm_name,
             sizeof(request->header.dest_hsm_name), "HSM2");
    response = adcp_msg_response_for(request);
    assert_non_null(response);
    assert_int_equal(response->header.direction, ADCP_DIR_RESPONSE);
    assert_string_equal(response->header.message_id, "17");
    assert_int_equal(response->header.type, ADCP_TYPE_KEYPAIRGEN);
    assert_string_equal(response->header.dest_hsm_name, "HSM2");
    assert_string_equal(response->header.dest_hsm_module,
                        "/usr/lib/softhsm/libsofthsm2.so");
    assert_string_not_equal(response->header.timestamp,
                            request->header.timestamp);

    adcp_msg_succeed(response, json_pack("{s:s, s:s}", "label", "web01-key",
                                         "status", "overridden"));
    json = adcp_msg_encode(response);
    body = json_object_get(json, "body");
    assert_string_equal(json_string_value(json_object_get(body, "status")),
                        "ok");
    assert_string_equal(json_string_value(json_object_get(body, "label")),
                        "web01-key");
    assert_null(json_object_get(body, "credentials"));
    assert_null(json_object_get(body, "key_info"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json, "header"),
                                          "message_direction")),
        "response");

    copy = adcp_msg_new(ADCP_DIR_REQUEST);
    assert_int_equal(adcp_msg_decode(json, copy, &err), ADCP_OK);
    assert_int_equal(copy->header.direction, ADCP_DIR_RESPONSE);
    assert_int_equal(copy->result.status, ADCP_OK);
    assert_string_equal(
        json_string_value(json_object_get(copy->result.data, "label")),
        "web01-key");
    assert_null(json_object_get(copy->result.data, "status"));
    json_decref(json);
    adcp_msg_free(copy);
    adcp_msg_free(response);
    adcp_msg_free(request);
}

static void
response_error_encoded(void **state)
{
    struct adcp_msg *request, *response, *copy;
    struct adcp_error err, failure;
    json_t *json, *error;

    (void)state;
    request = adcp_msg_new(ADCP_DIR_REQUEST);
    request->header.type = ADCP_TYPE_CERTIFICATE_GEN;
    adcp_message_id_next(request->header.message_id);
    response = adcp_msg_response_for(request);
    adcp_msg_succeed(response, json_pack("{s:i}", "partial", 1));
    adcp_error_set(&failure, ADCP_ERR_NAME_NOT_ALLOWED, "csr_details.csr",
                   "the CSR names evil.example.org, which is not registered "
                   "to host web01; register the name first");
    assert_int_equal(adcp_msg_fail(response, &failure),
                     ADCP_ERR_NAME_NOT_ALLOWED);
    assert_null(response->result.data);

    json = adcp_msg_encode(response);
    error = json_object_get(json_object_get(json, "body"), "error");
    assert_string_equal(
        json_string_value(
            json_object_get(json_object_get(json, "body"), "status")),
        "error");
    assert_string_equal(json_string_value(json_object_get(error, "code")),
                        "name_not_allowed");
    assert_string_equal(json_string_value(json_object_get(error, "field")),
                        "csr_details.csr");
    assert_string_equal(json_string_value(json_object_get(error, "message")),
                        failure.message);
    assert_null(json_object_get(json_object_get(json, "body"), "partial"));

    copy = adcp_msg_new(ADCP_DIR_REQUEST);
    assert_int_equal(adcp_msg_decode(json, copy, &err), ADCP_OK);
    assert_int_equal(copy->result.status, ADCP_ERR_NAME_NOT_ALLOWED);
    assert_string_equal(copy->result.error.field, "csr_details.csr");
    assert_string_equal(copy->result.error.message, failure.message);
    json_decref(json);
    adcp_msg_free(copy);

    /* A failure without an error code is reported as an internal error. */
    adcp_error_clear(&failure);
    assert_int_equal(adcp_msg_fail(response, &failure), ADCP_ERR_INTERNAL);
    assert_int_equal(adcp_msg_fail(response, NULL), ADCP_ERR_INTERNAL);
    adcp_msg_free(response);
    adcp_msg_free(request);
}

/* A quoted value cut inside a character must still give a message that
 * jansson accepts, so that the error can be sent as JSON. */
static void
error_message_cut_inside_utf8(void **state)
{
    static const struct {
        const char *value; /* formatted with %.4s */
        const char *expected;
    } cases[] = {
        {"ab\xc3\xa9", "ab\xc3\xa9"},     /* whole: a, b, U+00E9 */
        {"abc\xc3\xa9", "abc?"},           /* cut after the lead byte */
        {"ab\xe2\x82\xac", "ab??"},        /* U+20AC cut after 2 bytes */
        {"a\xe2\x82\xac", "a\xe2\x82\xac"}, /* U+20AC whole */
        {"\xc0\xaf" "ab", "??ab"},         /* overlong "/" */
        {"\xed\xa0\x80" "a", "???a"},     /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", "????"},     /* above U+10FFFF */
        {"\x80" "bcd", "?bcd"},            /* stray continuation */
    };
    struct adcp_error err;
    json_t *json;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        adcp_error_set(&err, ADCP_ERR_NOT_FOUND, "", "no %.4s here",
                       cases[i].value);
        json = json_string(err.message);
        assert_non_null(json);
        json_decref(json);
        assert_memory_equal(err.message, "no ", 3);
        assert_string_equal(err.message + 3 + strlen(cases[i].expected),
                            " here");
        assert_memory_equal(err.message + 3, cases[i].expected,
                            strlen(cases[i].expected));
    }
}

static void
free_functions_accept_null(void **state)
{
    (void)state;
    adcp_msg_free(NULL);
    adcp_msg_wipe_credentials(NULL);
    adcp_msg_succeed(NULL, json_object());
    assert_null(adcp_msg_response_for(NULL));
    assert_null(adcp_msg_encode(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_id_starts_at_one),
        cmocka_unit_test(message_ids_unique_across_threads),
        cmocka_unit_test(message_id_node_prefix),
        cmocka_unit_test(timestamp_is_iso8601_utc_microseconds),
        cmocka_unit_test(type_names_round_trip),
        cmocka_unit_test(plain_name_cases),
        cmocka_unit_test(decode_published_message),
        cmocka_unit_test(decode_defaults_and_nulls),
        cmocka_unit_test(decode_flat_host_body),
        cmocka_unit_test(round_trip_request),
        cmocka_unit_test(credentials_never_encoded),
        cmocka_unit_test(credential_errors_hide_value),
        cmocka_unit_test(bad_body_members_named),
        cmocka_unit_test(body_that_is_no_object),
        cmocka_unit_test(bad_header_members_named),
        cmocka_unit_test(unknown_message_type_named),
        cmocka_unit_test(path_in_csr_file_rejected),
        cmocka_unit_test(embedded_nul_rejected),
        cmocka_unit_test(overlong_strings_rejected),
        cmocka_unit_test(overlong_header_string_rejected),
        cmocka_unit_test(response_success_encoded),
        cmocka_unit_test(response_error_encoded),
        cmocka_unit_test(error_message_cut_inside_utf8),
        cmocka_unit_test(free_functions_accept_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
