/*
 * JSON to ADCP: the members of a request body (adcp_body_decode).
 *
 * Decoding checks the shape of each member (type, length, plain names, hex
 * digits) and leaves it to the managers to check which members an
 * operation needs. A member whose value is null counts as absent, and
 * unknown members are ignored. Every error is ADCP_ERR_INVALID_FIELD with
 * err->field set to the dotted path of the member, such as
 * "key_info.length" or "host.dns_names[2]".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "adcp/adcp.h"
#include "adcp/adcp_internal.h"
#include "adcp/adcp_json_internal.h"
#include "common/crl_reason.h"

/* Limits for members that live on the heap, where no buffer bounds them.
 * Both are generous estimates: PINs are short in practice, and a PEM CSR
 * with a 16384-bit RSA key and a hundred names stays well below 64 KiB. */
#define PIN_MAX_LEN 255
#define CSR_MAX_LEN 65536

#define KEY_LENGTH_MAX 16384
#define DAYS_MAX 36500

/* EC curves by name, for clients that send a curve where the length goes. */
static const struct {
    const char *name;
    unsigned bits;
} curve_names[] = {
    {"P-256", 256},     {"prime256v1", 256}, {"secp256r1", 256},
    {"P-384", 384},     {"secp384r1", 384},  {"P-521", 521},
    {"secp521r1", 521},
};

/* Returns the member as an object, or NULL when it is absent. Sets *rc to
 * an error when the member is there but is not an object. */
static const json_t *
object_member(const json_t *parent, const char *key, enum adcp_status *rc,
              struct adcp_error *err)
{
    const json_t *value = adcp_json_member(parent, key);

    *rc = ADCP_OK;
    if (value != NULL && !json_is_object(value)) {
        *rc = adcp_json_type_error(err, key, value, "an object");
        return NULL;
    }
    return value;
}

/*
 * Reads a PIN into a new heap string. The value is a secret, so no message
 * shows it, not even in part.
 */
static enum adcp_status
decode_secret(const json_t *object, const char *key, char **out,
              struct adcp_error *err)
{
    char path[ADCP_PATH_LEN];
    const json_t *value = adcp_json_member(object, key);
    size_t len;

    if (value == NULL)
        return ADCP_OK;
    adcp_json_path("credentials", key, path);
    if (!json_is_string(value))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s is %s; expected a string", path,
                              adcp_json_type_description(value));
    len = json_string_length(value);
    if (strlen(json_string_value(value)) != len)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s contains a NUL character; remove it", path);
    if (len > PIN_MAX_LEN)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s is %zu bytes long; the maximum is %d",
                              path, len, PIN_MAX_LEN);
    *out = strdup(json_string_value(value));
    if (*out == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, path,
                              "out of memory while reading %s", path);
    return ADCP_OK;
}

static enum adcp_status
decode_credentials(const json_t *body, struct adcp_credentials *out,
                   struct adcp_error *err)
{
    enum adcp_status rc;
    const json_t *object = object_member(body, "credentials", &rc, err);

    if (object == NULL)
        return rc;
    rc = decode_secret(object, "admin_pin", &out->admin_pin, err);
    if (rc != ADCP_OK)
        return rc;
    return decode_secret(object, "user_pin", &out->user_pin, err);
}

/*
 * Reads a whole number from min to max, sent as a JSON integer or as a
 * decimal string such as "2048", which the original system sends. Sets
 * *found when the member is there.
 */
static enum adcp_status
decode_number(const json_t *object, const char *prefix, const char *key,
              long min, long max, const char *example, long *out,
              bool *found, struct adcp_error *err)
{
    char path[ADCP_PATH_LEN];
    char shown[ADCP_QUOTE_MAX];
    const json_t *value = adcp_json_member(object, key);
    long long number;

    *found = value != NULL;
    if (value == NULL)
        return ADCP_OK;
    adcp_json_path(prefix, key, path);
    if (json_is_integer(value)) {
        number = json_integer_value(value);
    } else if (json_is_string(value) &&
               adcp_json_is_decimal(json_string_value(value)) &&
               json_string_length(value) <= 12) {
        number = strtoll(json_string_value(value), NULL, 10);
    } else {
        char expected[80];

        snprintf(expected, sizeof(expected),
                 "an integer or a decimal string such as \"%s\"", example);
        return adcp_json_type_error(err, path, value, expected);
    }
    if (number < min || number > max) {
        adcp_json_describe(value, shown, sizeof(shown));
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, path,
                              "%s is %s; expected a value from %ld to %ld",
                              path, shown, min, max);
    }
    *out = (long)number;
    return ADCP_OK;
}

static bool
curve_bits(const json_t *value, unsigned *bits)
{
    if (!json_is_string(value))
        return false;
    for (size_t i = 0; i < sizeof(curve_names) / sizeof(curve_names[0]);
         i++) {
        if (strcasecmp(json_string_value(value), curve_names[i].name) == 0) {
            *bits = curve_names[i].bits;
            return true;
        }
    }
    return false;
}

static enum adcp_status
decode_key_length(const json_t *key_info, struct adcp_key_info *out,
                  struct adcp_error *err)
{
    const json_t *value = adcp_json_member(key_info, "length");
    long length;
    bool found;
    enum adcp_status rc;

    if (value != NULL && curve_bits(value, &out->length))
        return ADCP_OK;
    rc = decode_number(key_info, "key_info", "length", 1, KEY_LENGTH_MAX,
                       "2048", &length, &found, err);
    if (rc == ADCP_OK && found)
        out->length = (unsigned)length;
    return rc;
}

static void
lowercase(char *text)
{
    for (char *p = text; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

static void
uppercase(char *text)
{
    for (char *p = text; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

static const char *const key_types[] = {"rsa", "ec", "aes"};

/* Reads key_info.type; "ecc" and upper case are accepted and stored as
 * "ec" and lower case. */
static enum adcp_status
decode_key_type(const json_t *key_info, struct adcp_key_info *out,
                struct adcp_error *err)
{
    char type[ADCP_NAME_MAX] = "";
    enum adcp_status rc;

    rc = adcp_json_string(key_info, "key_info", "type", ADCP_CHECK_TEXT,
                          type, sizeof(type), err);
    if (rc != ADCP_OK || adcp_json_member(key_info, "type") == NULL)
        return rc;
    lowercase(type);
    if (strcmp(type, "ecc") == 0)
        snprintf(type, sizeof(type), "ec");
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
        if (strcmp(type, key_types[i]) == 0) {
            snprintf(out->type, sizeof(out->type), "%s", key_types[i]);
            return ADCP_OK;
        }
    }
    return adcp_json_type_error(err, "key_info.type",
                                adcp_json_member(key_info, "type"),
                                "rsa, ec or aes");
}

static enum adcp_status
decode_key_info(const json_t *body, struct adcp_key_info *out,
                struct adcp_error *err)
{
    enum adcp_status rc;
    const json_t *object = object_member(body, "key_info", &rc, err);

    if (object == NULL)
        return rc;
    out->present = true;
    rc = decode_key_type(object, out, err);
    if (rc == ADCP_OK)
        rc = decode_key_length(object, out, err);
    if (rc == ADCP_OK)
        rc = adcp_json_string(object, "key_info", "label",
                              ADCP_CHECK_PLAIN_NAME, out->label,
                              sizeof(out->label), err);
    if (rc == ADCP_OK)
        rc = adcp_json_string(object, "key_info", "id", ADCP_CHECK_HEX_BYTES,
                              out->id, sizeof(out->id), err);
    return rc;
}

static enum adcp_status
decode_csr(const json_t *csr_details, struct adcp_csr_details *out,
           struct adcp_error *err)
{
    const json_t *value = adcp_json_member(csr_details, "csr");
    const char *text;

    if (value == NULL)
        return ADCP_OK;
    text = adcp_json_string_value(value, "csr_details.csr", err);
    if (text == NULL)
        return ADCP_ERR_INVALID_FIELD;
    if (strlen(text) > CSR_MAX_LEN)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "csr_details.csr",
                              "csr_details.csr is %zu bytes long; the "
                              "maximum is %d", strlen(text), CSR_MAX_LEN);
    out->csr = strdup(text);
    if (out->csr == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "csr_details.csr",
                              "out of memory while reading csr_details.csr");
    return ADCP_OK;
}

static enum adcp_status
decode_csr_details(const json_t *body, struct adcp_csr_details *out,
                   struct adcp_error *err)
{
    enum adcp_status rc;
    const json_t *object = object_member(body, "csr_details", &rc, err);

    if (object == NULL)
        return rc;
    out->present = true;
    rc = decode_csr(object, out, err);
    if (rc != ADCP_OK)
        return rc;
    return adcp_json_string(object, "csr_details", "csr_file",
                            ADCP_CHECK_PLAIN_NAME, out->csr_file,
                            sizeof(out->csr_file), err);
}

static enum adcp_status
decode_cert_details(const json_t *body, struct adcp_cert_details *out,
                    struct adcp_error *err)
{
    enum adcp_status rc;
    const json_t *object = object_member(body, "cert_details", &rc, err);
    long days;
    bool found;

    if (object == NULL)
        return rc;
    out->present = true;
    rc = adcp_json_string(object, "cert_details", "hash_algorithm",
                          ADCP_CHECK_TEXT, out->hash_algorithm,
                          sizeof(out->hash_algorithm), err);
    if (rc != ADCP_OK)
        return rc;
    if (out->hash_algorithm[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD,
                              "cert_details.hash_algorithm",
                              "cert_details.hash_algorithm is empty; "
                              "expected a hash name such as \"sha256\"");
    lowercase(out->hash_algorithm);
    rc = decode_number(object, "cert_details", "days", 1, DAYS_MAX, "365",
                       &days, &found, err);
    if (rc == ADCP_OK && found)
        out->days = (int)days;
    return rc;
}

/* Reads the revocation reason: an RFC 5280 name such as "keyCompromise"
 * or its value as an integer. Text longer than the buffer is cut, which
 * is safe because no reason name is that long. */
static enum adcp_status
decode_reason(const json_t *body, struct adcp_body *out,
              struct adcp_error *err)
{
    const json_t *value = adcp_json_member(body, "reason");
    char shown[ADCP_QUOTE_MAX];
    char problem[128];
    char text[24];

    if (value == NULL)
        return ADCP_OK;
    if (json_is_integer(value))
        snprintf(text, sizeof(text), "%lld",
                 (long long)json_integer_value(value));
    else if (json_is_string(value))
        snprintf(text, sizeof(text), "%s", json_string_value(value));
    else
        return adcp_json_type_error(err, "reason", value,
                                    "a reason name such as "
                                    "\"keyCompromise\"");
    /* A NUL inside the string would end the C text early. */
    if (json_is_string(value) &&
        strlen(json_string_value(value)) != json_string_length(value))
        text[0] = '\0';
    if (crl_reason_parse(text, &out->reason, problem, sizeof(problem)) == 0) {
        out->reason_given = true;
        return ADCP_OK;
    }
    adcp_json_describe(value, shown, sizeof(shown));
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "reason",
                          "reason %s %s; use one of %s", shown, problem,
                          CRL_REASON_ACCEPTED);
}

/* Reads the whole body into out; the caller resets out on failure. */
static enum adcp_status
decode_body_members(const json_t *body, struct adcp_body *out,
                    struct adcp_error *err)
{
    enum adcp_status rc;

    rc = adcp_json_string(body, "", "session_label", ADCP_CHECK_PLAIN_NAME,
                          out->session_label, sizeof(out->session_label),
                          err);
    if (rc == ADCP_OK)
        rc = adcp_json_string(body, "", "hsm", ADCP_CHECK_PLAIN_NAME,
                              out->hsm, sizeof(out->hsm), err);
    if (rc == ADCP_OK)
        rc = decode_credentials(body, &out->credentials, err);
    if (rc == ADCP_OK)
        rc = decode_key_info(body, &out->key_info, err);
    if (rc == ADCP_OK)
        rc = decode_csr_details(body, &out->csr_details, err);
    if (rc == ADCP_OK)
        rc = decode_cert_details(body, &out->cert_details, err);
    if (rc == ADCP_OK)
        rc = adcp_json_decode_host(body, &out->host, err);
    if (rc == ADCP_OK)
        rc = adcp_json_string(body, "", "serial", ADCP_CHECK_HEX, out->serial,
                              sizeof(out->serial), err);
    if (rc == ADCP_OK)
        uppercase(out->serial);
    if (rc == ADCP_OK)
        rc = decode_reason(body, out, err);
    if (rc == ADCP_OK)
        rc = adcp_json_string(body, "", "format", ADCP_CHECK_TEXT,
                              out->format, sizeof(out->format), err);
    if (rc == ADCP_OK)
        lowercase(out->format);
    return rc;
}

/*
 * Decodes a body object into out, which must be zeroed or have been filled
 * before (its heap members are freed first). A NULL or null body is an
 * empty one. On failure out is left empty, so no PIN of a rejected request
 * stays in memory.
 */
enum adcp_status
adcp_body_decode(const json_t *body, struct adcp_body *out,
                 struct adcp_error *err)
{
    enum adcp_status rc;

    adcp_error_clear(err);
    if (out == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "adcp_body_decode called without a body "
                              "to fill; report this as a bug");
    adcp_body_reset(out);
    if (body == NULL || json_is_null(body))
        return ADCP_OK;
    if (!json_is_object(body))
        return adcp_json_type_error(err, "body", body, "an object");
    rc = decode_body_members(body, out, err);
    if (rc != ADCP_OK)
        adcp_body_reset(out);
    return rc;
}
