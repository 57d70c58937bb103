/*
 * Checks of single JSON values for the ADCP decoders: types, lengths,
 * control characters, plain names and hex digits, each failure with a
 * message that names the member path and the value.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "adcp/adcp.h"
#include "adcp/adcp_internal.h"
#include "adcp/adcp_json_internal.h"

const char *
adcp_json_type_description(const json_t *value)
{
    if (value == NULL)
        return "missing";
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a floating-point number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "a value of unknown type";
}

void
adcp_json_describe(const json_t *value, char *out, size_t size)
{
    if (json_is_string(value))
        adcp_quote_string(json_string_value(value), out, size);
    else if (json_is_integer(value))
        snprintf(out, size, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(value));
    else
        snprintf(out, size, "%s", adcp_json_type_description(value));
}

void
adcp_json_path(const char *prefix, const char *key, char out[ADCP_PATH_LEN])
{
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(out, ADCP_PATH_LEN, "%s", key);
    else
        snprintf(out, ADCP_PATH_LEN, "%s.%s", prefix, key);
}

enum adcp_status
adcp_json_type_error(struct adcp_error *err, const char *path,
                     const json_t *value, const char *expected)
{
    char shown[ADCP_QUOTE_MAX];

    adcp_json_describe(value, shown, sizeof(shown));
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                          "%s is %s; expected %s", path, shown, expected);
}

const json_t *
adcp_json_member(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);

    return json_is_null(value) ? NULL : value;
}

bool
adcp_json_has_control_char(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return true;
    }
    return false;
}

static bool
is_hex(const char *text)
{
    for (const char *p = text; *p; p++) {
        if (!isxdigit((unsigned char)*p))
            return false;
    }
    return true;
}

bool
adcp_json_is_decimal(const char *text)
{
    if (text[0] == '\0')
        return false;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
    }
    return true;
}

static enum adcp_status
check_string_shape(const char *path, const char *text, enum adcp_check check,
                   struct adcp_error *err)
{
    char shown[ADCP_QUOTE_MAX];

    adcp_quote_string(text, shown, sizeof(shown));
    if (adcp_json_has_control_char(text))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s %s contains a control character; "
                              "remove it", path, shown);
    switch (check) {
    case ADCP_CHECK_TEXT:
        break;
    case ADCP_CHECK_PLAIN_NAME:
        if (text[0] == '\0')
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                                  "%s is empty; expected a name such as "
                                  "\"web01\"", path);
        if (!adcp_is_plain_name(text))
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                                  "%s %s is a path; expected a plain name "
                                  "without '/' that is not \".\" or \"..\"",
                                  path, shown);
        break;
    case ADCP_CHECK_HEX:
        if (!is_hex(text))
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                                  "%s %s is not hexadecimal; expected hex "
                                  "digits such as \"01AB\"", path, shown);
        break;
    case ADCP_CHECK_HEX_BYTES:
        if (!is_hex(text) || strlen(text) % 2 != 0)
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                                  "%s %s is not a whole number of hex "
                                  "bytes; expected an even count of hex "
                                  "digits such as \"01AB\"", path, shown);
        break;
    }
    return ADCP_OK;
}

const char *
adcp_json_string_value(const json_t *value, const char *path,
                       struct adcp_error *err)
{
    const char *text;

    if (!json_is_string(value)) {
        adcp_json_type_error(err, path, value, "a string");
        return NULL;
    }
    text = json_string_value(value);
    if (strlen(text) != json_string_length(value)) {
        adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                       "%s contains a NUL character; remove it", path);
        return NULL;
    }
    return text;
}

enum adcp_status
adcp_json_string(const json_t *object, const char *prefix, const char *key,
                 enum adcp_check check, char *out, size_t size,
                 struct adcp_error *err)
{
    char path[ADCP_PATH_LEN];
    char shown[ADCP_QUOTE_MAX];
    const json_t *value = adcp_json_member(object, key);
    const char *text;
    size_t len;
    enum adcp_status rc;

    if (value == NULL)
        return ADCP_OK;
    adcp_json_path(prefix, key, path);
    text = adcp_json_string_value(value, path, err);
    if (text == NULL)
        return ADCP_ERR_INVALID_FIELD;
    len = strlen(text);
    if (len >= size) {
        adcp_quote_string(text, shown, sizeof(shown));
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s %s is %zu bytes long; the maximum is %zu",
                              path, shown, len, size - 1);
    }
    rc = check_string_shape(path, text, check, err);
    if (rc != ADCP_OK)
        return rc;
    memcpy(out, text, len + 1);
    return ADCP_OK;
}

