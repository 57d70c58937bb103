/*
 * Helpers of the ADCP JSON decoders, defined in adcp_json_value.c and used
 * by adcp_json.c (header), adcp_json_decode.c (body) and adcp_json_host.c
 * (host object).
 * Each helper that fails sets err to ADCP_ERR_INVALID_FIELD with the dotted
 * path of the member in err->field.
 */
#ifndef HSM4SSL_ADCP_JSON_INTERNAL_H
#define HSM4SSL_ADCP_JSON_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "adcp/adcp.h"

/* A dotted member path fits the field of struct adcp_error. */
#define ADCP_PATH_LEN sizeof(((struct adcp_error *)0)->field)

/* Checks on a string member beyond its type, its length and the absence of
 * control characters. */
enum adcp_check {
    ADCP_CHECK_TEXT = 0,  /* nothing more */
    ADCP_CHECK_PLAIN_NAME, /* adcp_is_plain_name */
    ADCP_CHECK_HEX,        /* hex digits only, possibly none */
    ADCP_CHECK_HEX_BYTES,  /* an even number of hex digits */
};

/* Writes prefix.key, or key alone when prefix is empty. */
void adcp_json_path(const char *prefix, const char *key,
                    char out[ADCP_PATH_LEN]);

/* Returns "a string", "an integer", "true" and so on for value. */
const char *adcp_json_type_description(const json_t *value);

/* Describes value for an error message: a string quoted and cut, an
 * integer by its value, anything else by its type. */
void adcp_json_describe(const json_t *value, char *out, size_t size);

/* Returns the text of a JSON string, or NULL after setting err when value
 * is no string or contains a NUL, which C strings cannot carry. */
const char *adcp_json_string_value(const json_t *value, const char *path,
                                   struct adcp_error *err);

/* Returns true when text is one or more ASCII digits. */
bool adcp_json_is_decimal(const char *text);

/* Returns true when text contains a byte below 0x20 or DEL. */
bool adcp_json_has_control_char(const char *text);

/* Returns the member key of object, NULL when it is absent or null. */
const json_t *adcp_json_member(const json_t *object, const char *key);

/* Sets err to "PATH is VALUE; expected EXPECTED" and returns
 * ADCP_ERR_INVALID_FIELD. */
enum adcp_status adcp_json_type_error(struct adcp_error *err,
                                      const char *path, const json_t *value,
                                      const char *expected);

/*
 * Copies the string member key of object into out (size bytes with the
 * NUL) after checking it. A string that does not fit is an error and is
 * never cut. Leaves out unchanged when the member is absent.
 */
enum adcp_status adcp_json_string(const json_t *object, const char *prefix,
                                  const char *key, enum adcp_check check,
                                  char *out, size_t size,
                                  struct adcp_error *err);

/* Decodes the host of a body: the "host" object, or the members "name",
 * "dns_names" and "ip_addresses" at the top of the body as the REST body
 * of POST /v1/hosts sends them. Both forms at once are an error. */
enum adcp_status adcp_json_decode_host(const json_t *body,
                                       struct adcp_host_info *out,
                                       struct adcp_error *err);

#endif
