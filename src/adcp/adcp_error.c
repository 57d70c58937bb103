#include "adcp/adcp_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int http;
} status_table[ADCP_STATUS_COUNT] = {
    [ADCP_OK] = {"ok", 200},
    [ADCP_ERR_INVALID_JSON] = {"invalid_json", 400},
    [ADCP_ERR_INVALID_FIELD] = {"invalid_field", 400},
    [ADCP_ERR_MISSING_FIELD] = {"missing_field", 400},
    [ADCP_ERR_UNKNOWN_TYPE] = {"unknown_message_type", 400},
    [ADCP_ERR_INVALID_CSR] = {"invalid_csr", 400},
    [ADCP_ERR_CSR_SIGNATURE] = {"csr_signature_invalid", 400},
    [ADCP_ERR_WEAK_ALGORITHM] = {"weak_algorithm", 400},
    [ADCP_ERR_UNAUTHENTICATED] = {"unauthenticated", 401},
    [ADCP_ERR_FORBIDDEN] = {"forbidden", 403},
    [ADCP_ERR_NAME_NOT_ALLOWED] = {"name_not_allowed", 403},
    [ADCP_ERR_NOT_FOUND] = {"not_found", 404},
    [ADCP_ERR_METHOD] = {"method_not_allowed", 405},
    [ADCP_ERR_CONFLICT] = {"conflict", 409},
    [ADCP_ERR_TOO_LARGE] = {"body_too_large", 413},
    [ADCP_ERR_THROTTLED] = {"throttled", 429},
    [ADCP_ERR_NO_HSM] = {"no_hsm_available", 503},
    [ADCP_ERR_HSM] = {"hsm_error", 503},
    [ADCP_ERR_STORAGE] = {"storage_error", 503},
    [ADCP_ERR_UNAVAILABLE] = {"service_unavailable", 503},
    [ADCP_ERR_INTERNAL] = {"internal_error", 500},
};

const char *
adcp_status_name(enum adcp_status code)
{
    if ((unsigned)code >= ADCP_STATUS_COUNT)
        return "internal_error";
    return status_table[code].name;
}

int
adcp_status_http(enum adcp_status code)
{
    if ((unsigned)code >= ADCP_STATUS_COUNT)
        return 500;
    return status_table[code].http;
}

/* Returns the length of the valid UTF-8 sequence at text (RFC 3629: no
 * overlong forms, surrogates or code points above U+10FFFF), or 0. */
static size_t
utf8_sequence_length(const unsigned char *text)
{
    unsigned char lead = text[0];
    unsigned char low = 0x80, high = 0xbf;
    size_t len;

    if (lead < 0x80)
        return 1;
    if (lead >= 0xc2 && lead <= 0xdf)
        len = 2;
    else if (lead >= 0xe0 && lead <= 0xef)
        len = 3;
    else if (lead >= 0xf0 && lead <= 0xf4)
        len = 4;
    else
        return 0;
    if (lead == 0xe0)
        low = 0xa0;
    else if (lead == 0xed)
        high = 0x9f;
    else if (lead == 0xf0)
        low = 0x90;
    else if (lead == 0xf4)
        high = 0x8f;
    if (text[1] < low || text[1] > high)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (text[i] < 0x80 || text[i] > 0xbf)
            return 0;
    return len;
}

/* Replaces each byte that does not start a valid UTF-8 sequence with '?'.
 * A message can quote a value cut by a %.Ns precision or by the buffer
 * size in the middle of a character, and jansson rejects invalid UTF-8,
 * so the error would otherwise have no JSON form. */
static void
replace_invalid_utf8(char *text)
{
    unsigned char *cursor = (unsigned char *)text;

    while (*cursor != '\0') {
        size_t len = utf8_sequence_length(cursor);

        if (len == 0) {
            *cursor++ = '?';
            continue;
        }
        cursor += len;
    }
}

enum adcp_status
adcp_error_set(struct adcp_error *err, enum adcp_status code,
               const char *field, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    replace_invalid_utf8(err->message);
    return code;
}

void
adcp_error_clear(struct adcp_error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
}
