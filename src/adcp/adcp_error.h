/*
 * Stable error codes of ADCP responses and the REST API. Each code has one
 * machine name (the "code" member of an error object) and one HTTP status;
 * adcp_status_name() and adcp_status_http() read them from one table.
 */
#ifndef HSM4SSL_ADCP_ERROR_H
#define HSM4SSL_ADCP_ERROR_H

#include <stddef.h>

enum adcp_status {
    ADCP_OK = 0,
    ADCP_ERR_INVALID_JSON,      /* 400 invalid_json */
    ADCP_ERR_INVALID_FIELD,     /* 400 invalid_field */
    ADCP_ERR_MISSING_FIELD,     /* 400 missing_field */
    ADCP_ERR_UNKNOWN_TYPE,      /* 400 unknown_message_type */
    ADCP_ERR_INVALID_CSR,       /* 400 invalid_csr */
    ADCP_ERR_CSR_SIGNATURE,     /* 400 csr_signature_invalid */
    ADCP_ERR_WEAK_ALGORITHM,    /* 400 weak_algorithm */
    ADCP_ERR_UNAUTHENTICATED,   /* 401 unauthenticated */
    ADCP_ERR_FORBIDDEN,         /* 403 forbidden */
    ADCP_ERR_NAME_NOT_ALLOWED,  /* 403 name_not_allowed */
    ADCP_ERR_NOT_FOUND,         /* 404 not_found */
    ADCP_ERR_METHOD,            /* 405 method_not_allowed */
    ADCP_ERR_CONFLICT,          /* 409 conflict */
    ADCP_ERR_TOO_LARGE,         /* 413 body_too_large */
    ADCP_ERR_THROTTLED,         /* 429 throttled */
    ADCP_ERR_NO_HSM,            /* 503 no_hsm_available */
    ADCP_ERR_HSM,               /* 503 hsm_error */
    ADCP_ERR_STORAGE,           /* 503 storage_error */
    ADCP_ERR_UNAVAILABLE,       /* 503 service_unavailable */
    ADCP_ERR_INTERNAL,          /* 500 internal_error */
    ADCP_STATUS_COUNT
};

/* One error, as it goes into a response: code, offending field ("" when
 * none) and a sentence that names the value and the fix. */
struct adcp_error {
    enum adcp_status code;
    char field[64];
    char message[512];
};

const char *adcp_status_name(enum adcp_status code);
int adcp_status_http(enum adcp_status code);

/* Fills err (which may be NULL) and returns code, so a caller can write
 * `return adcp_error_set(err, ADCP_ERR_..., "field", "...", ...);`. */
enum adcp_status adcp_error_set(struct adcp_error *err, enum adcp_status code,
                                const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void adcp_error_clear(struct adcp_error *err);

#endif
