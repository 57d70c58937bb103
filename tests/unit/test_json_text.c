/*
 * Unit tests of json_text_compact: for every kind of value it writes the
 * text json_dumps(JSON_COMPACT) writes, including escapes, text that
 * outgrows the first buffer, and the values it hands to json_dumps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/json_text.h"

/* Checks that json_text_compact and json_dumps agree on json, then frees
 * json. */
static void
assert_same_text(json_t *json)
{
    char *expected, *text;

    assert_non_null(json);
    expected = json_dumps(json, JSON_COMPACT);
    text = json_text_compact(json);
    assert_non_null(expected);
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);
    free(expected);
    json_decref(json);
}

static void
test_scalars_and_nesting(void **state)
{
    (void)state;
    assert_same_text(json_pack("{s:s, s:i, s:b, s:b, s:n}", "serial",
                               "0A1B", "days", -365, "ok", 1, "revoked", 0,
                               "error"));
    assert_same_text(json_pack("{s:[i, s, {s:[]}], s:{}}", "list", 7, "x",
                               "empty", "object"));
    assert_same_text(json_pack("[]"));
    assert_same_text(json_pack("{s:I}", "big", (json_int_t)INT64_MIN));
}

static void
test_escapes(void **state)
{
    (void)state;
    assert_same_text(json_pack("{s:s}", "pem",
                               "-----BEGIN CERTIFICATE-----\nMIIB\n"
                               "-----END CERTIFICATE-----\n"));
    assert_same_text(json_pack("{s:s}", "quote \" and \\ in a key",
                               "\b\f\r\t\x01\x1f /<>"));
    /* A NUL inside a string, as json_stringn allows. */
    assert_same_text(json_pack("{s:s%}", "nul", "a\0b", (size_t)3));
}

/* Non-ASCII text and reals take json_dumps's path; the text is the same. */
static void
test_values_left_to_jansson(void **state)
{
    (void)state;
    assert_same_text(json_pack("{s:s}", "subject", "CN=M\xc3\xbcller"));
    assert_same_text(json_pack("{s:f}", "ratio", 0.85));
    assert_same_text(json_pack("{s:s, s:[f]}", "a", "b", "c", 1.5));
}

/* Values other than objects and arrays, and NULL, get what json_dumps
 * returns for them without JSON_ENCODE_ANY: NULL. */
static void
test_non_container_values(void **state)
{
    json_t *text = json_string("serial");

    (void)state;
    assert_null(json_text_compact(NULL));
    assert_null(json_text_compact(text));
    json_decref(text);
}

/* Text longer than the first 4096-byte buffer, so that it grows twice. */
static void
test_long_text(void **state)
{
    size_t len = 3 * 4096;
    char *long_text = malloc(len + 1);

    (void)state;
    assert_non_null(long_text);
    for (size_t i = 0; i < len; i++)
        long_text[i] = (i % 65 == 64) ? '\n' : (char)('A' + i % 26);
    long_text[len] = '\0';
    assert_same_text(json_pack("{s:s, s:s}", "certificate", long_text,
                               "chain", long_text));
    free(long_text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_nesting),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_values_left_to_jansson),
        cmocka_unit_test(test_non_container_values),
        cmocka_unit_test(test_long_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
