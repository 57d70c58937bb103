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
    return code;
}

void
adcp_error_clear(struct adcp_error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
}
