/*
 * JSON to ADCP, whole messages: adcp_msg_decode reads the header and hands
 * the body to adcp_body_decode (adcp_json_decode.c) or, for a response,
 * reads the status and the result. adcp_json_encode.c writes messages.
 */
#include <stdio.h>
#include <string.h>

#include "adcp/adcp.h"
#include "adcp/adcp_internal.h"
#include "adcp/adcp_json_internal.h"

/* Writes the operation names, comma-separated, for an error message. */
static void
list_type_names(char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (int type = ADCP_TYPE_UNKNOWN + 1; type < ADCP_TYPE_COUNT; type++) {
        int n = snprintf(out + used, size - used, "%s%s",
                         used > 0 ? ", " : "",
                         adcp_type_name((enum adcp_type)type));

        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static enum adcp_status
decode_direction(const json_t *header, enum adcp_direction *out,
                 struct adcp_error *err)
{
    char name[ADCP_NAME_MAX] = "";
    enum adcp_status rc;

    rc = adcp_json_string(header, "header", "message_direction",
                          ADCP_CHECK_TEXT, name, sizeof(name), err);
    if (rc != ADCP_OK)
        return rc;
    if (name[0] == '\0' && !adcp_json_member(header, "message_direction")) {
        *out = ADCP_DIR_REQUEST;
        return ADCP_OK;
    }
    for (int dir = ADCP_DIR_REQUEST; dir <= ADCP_DIR_INTERNAL; dir++) {
        if (strcmp(name, adcp_direction_name((enum adcp_direction)dir)) ==
            0) {
            *out = (enum adcp_direction)dir;
            return ADCP_OK;
        }
    }
    return adcp_json_type_error(err, "header.message_direction",
                                adcp_json_member(header, "message_direction"),
                                "request, response or internal");
}

static enum adcp_status
decode_type(const json_t *header, enum adcp_type *out,
            struct adcp_error *err)
{
    const json_t *value = adcp_json_member(header, "message_type");
    char names[256];
    char shown[ADCP_QUOTE_MAX];

    if (value == NULL)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD,
                              "header.message_type",
                              "header.message_type is missing; set it to "
                              "the operation, such as \"keypairgen\"");
    if (!json_is_string(value))
        return adcp_json_type_error(err, "header.message_type", value,
                                    "the name of an operation as a string");
    *out = adcp_type_parse(json_string_value(value));
    if (*out != ADCP_TYPE_UNKNOWN &&
        strlen(json_string_value(value)) == json_string_length(value))
        return ADCP_OK;
    list_type_names(names, sizeof(names));
    adcp_quote_string(json_string_value(value), shown, sizeof(shown));
    return adcp_error_set(err, ADCP_ERR_UNKNOWN_TYPE, "header.message_type",
                          "header.message_type %s is not a known "
                          "operation; expected one of %s", shown, names);
}

/* The header members that are plain strings, and where each one goes. */
static enum adcp_status
decode_header_strings(const json_t *header, struct adcp_header *out,
                      struct adcp_error *err)
{
    const struct {
        const char *key;
        char *buffer;
        size_t size;
    } members[] = {
        {"message_id", out->message_id, sizeof(out->message_id)},
        {"source_mac_address", out->source_mac, sizeof(out->source_mac)},
        {"source_ip_address", out->source_ip, sizeof(out->source_ip)},
        {"timestamp", out->timestamp, sizeof(out->timestamp)},
        {"dest_hsm_name", out->dest_hsm_name, sizeof(out->dest_hsm_name)},
        {"dest_hsm_module", out->dest_hsm_module,
         sizeof(out->dest_hsm_module)},
    };
    enum adcp_status rc;

    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        rc = adcp_json_string(header, "header", members[i].key,
                              ADCP_CHECK_TEXT, members[i].buffer,
                              members[i].size, err);
        if (rc != ADCP_OK)
            return rc;
    }
    return ADCP_OK;
}

static enum adcp_status
decode_header(const json_t *root, struct adcp_header *out,
              struct adcp_error *err)
{
    const json_t *header = adcp_json_member(root, "header");
    enum adcp_status rc;

    if (header == NULL)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "header",
                              "the message has no header; send "
                              "{\"header\": {...}, \"body\": {...}}");
    if (!json_is_object(header))
        return adcp_json_type_error(err, "header", header, "an object");
    rc = decode_direction(header, &out->direction, err);
    if (rc == ADCP_OK)
        rc = decode_type(header, &out->type, err);
    if (rc == ADCP_OK)
        rc = decode_header_strings(header, out, err);
    return rc;
}

static bool
parse_status_name(const char *name, enum adcp_status *out)
{
    for (int code = ADCP_OK + 1; code < ADCP_STATUS_COUNT; code++) {
        if (strcmp(name, adcp_status_name((enum adcp_status)code)) == 0) {
            *out = (enum adcp_status)code;
            return true;
        }
    }
    return false;
}

/* Reads the error object of a response with status "error". */
static enum adcp_status
decode_result_error(const json_t *body, struct adcp_error *out,
                    struct adcp_error *err)
{
    const json_t *error = adcp_json_member(body, "error");
    char code[ADCP_NAME_MAX] = "";
    enum adcp_status rc;

    if (error == NULL)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "error",
                              "a response with status \"error\" has no "
                              "error object; add one with code and message");
    if (!json_is_object(error))
        return adcp_json_type_error(err, "error", error,
                                    "an object with code and message");
    rc = adcp_json_string(error, "error", "code", ADCP_CHECK_TEXT, code,
                          sizeof(code), err);
    if (rc != ADCP_OK)
        return rc;
    if (!parse_status_name(code, &out->code))
        return adcp_json_type_error(err, "error.code",
                                    json_object_get(error, "code"),
                                    "an error code such as \"not_found\"");
    rc = adcp_json_string(error, "error", "message", ADCP_CHECK_TEXT,
                          out->message, sizeof(out->message), err);
    if (rc != ADCP_OK)
        return rc;
    return adcp_json_string(error, "error", "field", ADCP_CHECK_TEXT,
                            out->field, sizeof(out->field), err);
}

/* Copies the result members of a successful response: the body without
 * "status", or NULL when nothing else is there. */
static enum adcp_status
copy_result_data(const json_t *body, json_t **out, struct adcp_error *err)
{
    json_t *data = json_deep_copy(body);

    if (data == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "body",
                              "out of memory while reading the body");
    json_object_del(data, "status");
    if (json_object_size(data) == 0) {
        json_decref(data);
        data = NULL;
    }
    *out = data;
    return ADCP_OK;
}

/*
 * Reads the body of a response into out: "status", and either "error" or
 * the result members, which become a new object in out->data.
 */
static enum adcp_status
decode_result(const json_t *body, struct adcp_result *out,
              struct adcp_error *err)
{
    const json_t *status = adcp_json_member(body, "status");
    const char *name = json_string_value(status); /* NULL for no string */
    json_t *data = NULL;
    enum adcp_status rc;

    if (body == NULL || !json_is_object(body))
        return adcp_json_type_error(err, "body",
                                    body != NULL ? body : json_null(),
                                    "an object with status");
    if (name != NULL && strcmp(name, "error") == 0) {
        rc = decode_result_error(body, &out->error, err);
        if (rc != ADCP_OK)
            return rc;
        out->status = out->error.code;
    } else if (name != NULL && strcmp(name, "ok") == 0) {
        rc = copy_result_data(body, &data, err);
        if (rc != ADCP_OK)
            return rc;
        out->status = ADCP_OK;
        adcp_error_clear(&out->error);
    } else {
        return adcp_json_type_error(err, "status",
                                    status != NULL ? status : json_null(),
                                    "\"ok\" or \"error\"");
    }
    json_decref(out->data);
    out->data = data;
    return ADCP_OK;
}

enum adcp_status
adcp_msg_decode(const json_t *root, struct adcp_msg *msg,
                struct adcp_error *err)
{
    enum adcp_status rc;

    adcp_error_clear(err);
    if (msg == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "adcp_msg_decode called without a message "
                              "to fill; report this as a bug");
    if (root == NULL || !json_is_object(root))
        return adcp_error_set(err, ADCP_ERR_INVALID_JSON, "",
                              "the ADCP message is not a JSON object; send "
                              "{\"header\": {...}, \"body\": {...}}");
    rc = decode_header(root, &msg->header, err);
    if (rc != ADCP_OK)
        return rc;
    if (msg->header.direction == ADCP_DIR_RESPONSE)
        return decode_result(adcp_json_member(root, "body"), &msg->result,
                             err);
    return adcp_body_decode(adcp_json_member(root, "body"), &msg->body, err);
}
