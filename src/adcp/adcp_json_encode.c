/*
 * ADCP to JSON: adcp_msg_encode. PINs are never written, only "***" for
 * each one that is set, so the output may go to logs and the audit log.
 */
#include <jansson.h>

#include "adcp/adcp.h"
#include "common/crl_reason.h"

/* Each add_* helper returns 0, or -1 when out of memory or when a string is
 * not valid UTF-8. */
static int
add_string(json_t *object, const char *key, const char *value)
{
    return json_object_set_new(object, key, json_string(value));
}

static int
add_string_if_set(json_t *object, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return 0;
    return add_string(object, key, value);
}

static int
add_integer(json_t *object, const char *key, json_int_t value)
{
    return json_object_set_new(object, key, json_integer(value));
}

/* Sets object[key] to value and takes the reference, also on failure. */
static int
add_object(json_t *object, const char *key, json_t *value)
{
    return json_object_set_new(object, key, value);
}

static json_t *
encode_string_list(char *const *items, size_t count)
{
    json_t *array = json_array();

    for (size_t i = 0; array != NULL && i < count; i++) {
        if (json_array_append_new(array, json_string(items[i])) != 0) {
            json_decref(array);
            array = NULL;
        }
    }
    return array;
}

static json_t *
encode_header(const struct adcp_header *header)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "message_direction",
                     adcp_direction_name(header->direction), "message_id",
                     header->message_id, "message_type",
                     adcp_type_name(header->type), "source_mac_address",
                     header->source_mac, "source_ip_address",
                     header->source_ip, "timestamp", header->timestamp,
                     "dest_hsm_module", header->dest_hsm_module,
                     "dest_hsm_name", header->dest_hsm_name);
}

/* Shows which PINs were given, never their values. */
static json_t *
encode_credentials(const struct adcp_credentials *credentials)
{
    json_t *object = json_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    if (credentials->admin_pin != NULL)
        rc |= add_string(object, "admin_pin", "***");
    if (credentials->user_pin != NULL)
        rc |= add_string(object, "user_pin", "***");
    if (rc != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

static json_t *
encode_key_info(const struct adcp_key_info *key_info)
{
    json_t *object = json_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    rc |= add_string_if_set(object, "type", key_info->type);
    if (key_info->length > 0)
        rc |= add_integer(object, "length", key_info->length);
    rc |= add_string_if_set(object, "label", key_info->label);
    rc |= add_string_if_set(object, "id", key_info->id);
    if (rc != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

static json_t *
encode_csr_details(const struct adcp_csr_details *csr_details)
{
    json_t *object = json_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    rc |= add_string_if_set(object, "csr", csr_details->csr);
    rc |= add_string_if_set(object, "csr_file", csr_details->csr_file);
    if (rc != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

static json_t *
encode_cert_details(const struct adcp_cert_details *cert_details)
{
    json_t *object = json_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    rc |= add_string_if_set(object, "hash_algorithm",
                            cert_details->hash_algorithm);
    if (cert_details->days > 0)
        rc |= add_integer(object, "days", cert_details->days);
    if (rc != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

static json_t *
encode_host(const struct adcp_host_info *host)
{
    json_t *object = json_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    rc |= add_string_if_set(object, "name", host->name);
    rc |= add_object(object, "dns_names",
                     encode_string_list(host->dns_names, host->dns_count));
    rc |= add_object(object, "ip_addresses",
                     encode_string_list(host->ip_addresses, host->ip_count));
    if (rc != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

/* Writes every member of a request body that is set, with the PINs
 * replaced by "***". */
static json_t *
encode_request_body(const struct adcp_body *body)
{
    json_t *object = json_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    rc |= add_string_if_set(object, "session_label", body->session_label);
    rc |= add_string_if_set(object, "hsm", body->hsm);
    if (body->credentials.admin_pin != NULL ||
        body->credentials.user_pin != NULL)
        rc |= add_object(object, "credentials",
                         encode_credentials(&body->credentials));
    if (body->key_info.present)
        rc |= add_object(object, "key_info",
                         encode_key_info(&body->key_info));
    if (body->csr_details.present)
        rc |= add_object(object, "csr_details",
                         encode_csr_details(&body->csr_details));
    if (body->cert_details.present)
        rc |= add_object(object, "cert_details",
                         encode_cert_details(&body->cert_details));
    if (body->host.present)
        rc |= add_object(object, "host", encode_host(&body->host));
    rc |= add_string_if_set(object, "serial", body->serial);
    if (body->reason_given)
        rc |= add_string(object, "reason", crl_reason_name(body->reason));
    rc |= add_string_if_set(object, "format", body->format);
    if (rc != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

static json_t *
encode_error(const struct adcp_error *error)
{
    json_t *object = json_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    rc |= add_string(object, "code", adcp_status_name(error->code));
    rc |= add_string(object, "message", error->message);
    rc |= add_string_if_set(object, "field", error->field);
    if (rc != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

/*
 * Writes a response body: {"status": "ok"} with the members of an object
 * in result->data (other JSON values go under "result"), or
 * {"status": "error", "error": {...}}. "status" wins over a member of the
 * same name in the data.
 */
static json_t *
encode_response_body(const struct adcp_result *result)
{
    json_t *object = json_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    if (result->status != ADCP_OK) {
        rc |= add_string(object, "status", "error");
        rc |= add_object(object, "error", encode_error(&result->error));
    } else {
        if (json_is_object(result->data))
            rc |= json_object_update(object, result->data);
        else if (result->data != NULL)
            rc |= json_object_set(object, "result", result->data);
        rc |= add_string(object, "status", "ok");
    }
    if (rc != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

/*
 * Returns the message as a new JSON object, or NULL when out of memory or
 * when a string member is not valid UTF-8. Requests and internal messages
 * carry their body without PINs, responses their status and result.
 */
json_t *
adcp_msg_encode(const struct adcp_msg *msg)
{
    json_t *root = NULL;
    json_t *body;
    int rc = 0;

    if (msg == NULL)
        return NULL;
    root = json_object();
    if (root == NULL)
        return NULL;
    if (msg->header.direction == ADCP_DIR_RESPONSE)
        body = encode_response_body(&msg->result);
    else
        body = encode_request_body(&msg->body);
    rc |= add_object(root, "header", encode_header(&msg->header));
    rc |= add_object(root, "body", body);
    if (rc != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}
