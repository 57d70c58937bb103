#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "managers/service.h"

/* The text of an audit entry, built by dump_value. */
struct text_buffer {
    char *data;
    size_t len;
    size_t size;
    bool failed; /* out of memory, or a value the fast path leaves alone */
};

static void
buffer_append(struct text_buffer *buffer, const char *bytes, size_t len)
{
    size_t size = buffer->size ? buffer->size : 4096;
    char *grown;

    if (buffer->failed)
        return;
    while (buffer->len + len + 1 > size)
        size *= 2;
    if (size != buffer->size) {
        grown = realloc(buffer->data, size);
        if (grown == NULL) {
            buffer->failed = true;
            return;
        }
        buffer->data = grown;
        buffer->size = size;
    }
    memcpy(buffer->data + buffer->len, bytes, len);
    buffer->len += len;
    buffer->data[buffer->len] = '\0';
}

/* Writes text as a JSON string escaped as jansson 2.14 escapes it without
 * flags. A byte above 0x7f ends the fast path, so that json_dumps checks
 * the UTF-8 and writes the string as before. */
static void
dump_string(struct text_buffer *buffer, const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    char escape[6];

    buffer_append(buffer, "\"", 1);
    for (size_t i = 0; i < len && !buffer->failed; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c >= 0x80) {
            buffer->failed = true;
            return;
        }
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buffer_append(buffer, text + run, i - run);
        run = i + 1;
        escape[0] = '\\';
        switch (c) {
        case '"':
        case '\\':
            escape[1] = (char)c;
            break;
        case '\b':
            escape[1] = 'b';
            break;
        case '\f':
            escape[1] = 'f';
            break;
        case '\n':
            escape[1] = 'n';
            break;
        case '\r':
            escape[1] = 'r';
            break;
        case '\t':
            escape[1] = 't';
            break;
        default:
            memcpy(escape + 1, "u00", 3);
            escape[4] = hex[c >> 4];
            escape[5] = hex[c & 0x0f];
            buffer_append(buffer, escape, 6);
            continue;
        }
        buffer_append(buffer, escape, 2);
    }
    buffer_append(buffer, text + run, len - run);
    buffer_append(buffer, "\"", 1);
}

/* Writes json as json_dumps(json, JSON_COMPACT) does: members in insertion
 * order, no spaces. Reals and non-ASCII text set buffer->failed. */
static void
dump_value(struct text_buffer *buffer, const json_t *json)
{
    char number[32];
    const char *separator = "";
    void *iter;

    switch (json_typeof(json)) {
    case JSON_OBJECT:
        buffer_append(buffer, "{", 1);
        for (iter = json_object_iter((json_t *)json);
             iter != NULL && !buffer->failed;
             iter = json_object_iter_next((json_t *)json, iter)) {
            buffer_append(buffer, separator, strlen(separator));
            dump_string(buffer, json_object_iter_key(iter),
                        json_object_iter_key_len(iter));
            buffer_append(buffer, ":", 1);
            dump_value(buffer, json_object_iter_value(iter));
            separator = ",";
        }
        buffer_append(buffer, "}", 1);
        break;
    case JSON_ARRAY:
        buffer_append(buffer, "[", 1);
        for (size_t i = 0; i < json_array_size(json) && !buffer->failed;
             i++) {
            buffer_append(buffer, separator, strlen(separator));
            dump_value(buffer, json_array_get(json, i));
            separator = ",";
        }
        buffer_append(buffer, "]", 1);
        break;
    case JSON_STRING:
        dump_string(buffer, json_string_value(json), json_string_length(json));
        break;
    case JSON_INTEGER:
        snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json));
        buffer_append(buffer, number, strlen(number));
        break;
    case JSON_TRUE:
        buffer_append(buffer, "true", 4);
        break;
    case JSON_FALSE:
        buffer_append(buffer, "false", 5);
        break;
    case JSON_NULL:
        buffer_append(buffer, "null", 4);
        break;
    default:
        buffer->failed = true;
        break;
    }
}

/*
 * Returns json as compact text (free it), or NULL when out of memory or
 * when a string is not valid UTF-8. jansson's json_dumps decodes the UTF-8
 * of every character, which took 22 us for a 2.3 KB certificate response
 * on the benchmark machine, and 6 us here. The text is the same as
 * json_dumps's, because messages with reals or non-ASCII text still go
 * through json_dumps.
 */
static char *
audit_text_of(const json_t *json)
{
    struct text_buffer buffer = {0};

    dump_value(&buffer, json);
    if (!buffer.failed)
        return buffer.data;
    free(buffer.data);
    return json_dumps(json, JSON_COMPACT);
}

/* Response members that carry a secret meant only for the caller. */
static const char *const secret_members[] = {"enrollment_token"};

static void
mask_secret_members(json_t *message)
{
    json_t *body = json_object_get(message, "body");

    if (!json_is_object(body))
        return;
    for (size_t i = 0; i < sizeof(secret_members) / sizeof(*secret_members);
         i++)
        if (json_object_get(body, secret_members[i]) != NULL)
            json_object_set_new(body, secret_members[i], json_string("***"));
}

/* The CA chain is the same in every certificate response, and the log
 * keeps it once per certificate otherwise (a third of a response's
 * entry). When a body's "chain" is the CA's current chain, the entry
 * names it by the root's SHA-256 fingerprint instead. */
static void
replace_ca_chain(const struct service *svc, json_t *message)
{
    json_t *body = json_object_get(message, "body");
    const char *chain = json_string_value(json_object_get(body, "chain"));

    if (chain == NULL || svc->ca.chain_pem == NULL ||
        strcmp(chain, svc->ca.chain_pem) != 0)
        return;
    json_object_del(body, "chain");
    json_object_set_new(body, "chain_root_sha256",
                        json_string(svc->ca.fingerprint));
}

/* Returns whether messages of type go to the audit log. Public reads
 * (health, ca_get, crl_get) need no credentials and change nothing, and
 * anyone may send them at any rate, so they are only logged, as OCSP
 * requests are: otherwise an anonymous client could fill the disk with
 * audit entries. */
static bool
is_audited(enum adcp_type type)
{
    return type != ADCP_TYPE_HEALTH && type != ADCP_TYPE_CA_GET &&
           type != ADCP_TYPE_CRL_GET;
}

void
audit_record(struct service *svc, const struct adcp_msg *msg)
{
    struct store_audit_entry entry;
    struct adcp_error err;
    json_t *json;
    char *text;

    if (!is_audited(msg->header.type))
        return;
    json = adcp_msg_encode(msg);
    if (json == NULL) {
        log_error("audit: cannot encode message id=%s; not recorded",
                  msg->header.message_id);
        return;
    }
    mask_secret_members(json);
    replace_ca_chain(svc, json);
    text = audit_text_of(json);
    json_decref(json);
    if (text == NULL) {
        log_error("audit: cannot serialise message id=%s; not recorded",
                  msg->header.message_id);
        return;
    }

    memset(&entry, 0, sizeof(entry));
    snprintf(entry.message_id, sizeof(entry.message_id), "%s",
             msg->header.message_id);
    snprintf(entry.direction, sizeof(entry.direction), "%s",
             adcp_direction_name(msg->header.direction));
    snprintf(entry.message_type, sizeof(entry.message_type), "%s",
             adcp_type_name(msg->header.type));
    entry.json = text;
    if (store_audit_append(svc->store, &entry, &err) != ADCP_OK)
        log_error("audit: message id=%s type=%s not recorded: %s",
                  entry.message_id, entry.message_type, err.message);
    free(text);
}
