/*
 * ADCP messages in memory: operation and direction names, the life cycle of
 * a message, responses, timestamps and message ids.
 */
#include "adcp/adcp.h"
#include "adcp/adcp_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/secret.h"

static const char *const type_names[ADCP_TYPE_COUNT] = {
    [ADCP_TYPE_UNKNOWN] = "unknown",
    [ADCP_TYPE_INITSESSION] = "initsession",
    [ADCP_TYPE_KEYPAIRGEN] = "keypairgen",
    [ADCP_TYPE_CERTIFICATE_GEN] = "certificate_gen",
    [ADCP_TYPE_CERTIFICATE_GET] = "certificate_get",
    [ADCP_TYPE_CA_GET] = "ca_get",
    [ADCP_TYPE_HOST_REGISTER] = "host_register",
    [ADCP_TYPE_HEALTH] = "health",
    [ADCP_TYPE_CERTIFICATE_REVOKE] = "certificate_revoke",
    [ADCP_TYPE_CRL_GET] = "crl_get",
    [ADCP_TYPE_ENCRYPTION] = "encryption",
    [ADCP_TYPE_DECRYPTION] = "decryption",
};

/* A node id leaves room in ADCP_ID_MAX for "-", 20 digits of a 64-bit
 * counter and the NUL. */
#define NODE_ID_MAX_LEN (ADCP_ID_MAX - 1 - 20 - 1)

static atomic_ullong message_counter;
static pthread_mutex_t node_id_lock = PTHREAD_MUTEX_INITIALIZER;
static char node_id[NODE_ID_MAX_LEN + 1]; /* "" when unset */

const char *
adcp_type_name(enum adcp_type type)
{
    if ((unsigned)type >= ADCP_TYPE_COUNT)
        return type_names[ADCP_TYPE_UNKNOWN];
    return type_names[type];
}

enum adcp_type
adcp_type_parse(const char *name)
{
    if (name == NULL)
        return ADCP_TYPE_UNKNOWN;
    for (int type = ADCP_TYPE_UNKNOWN + 1; type < ADCP_TYPE_COUNT; type++) {
        if (strcmp(name, type_names[type]) == 0)
            return (enum adcp_type)type;
    }
    return ADCP_TYPE_UNKNOWN;
}

const char *
adcp_direction_name(enum adcp_direction direction)
{
    switch (direction) {
    case ADCP_DIR_REQUEST:
        return "request";
    case ADCP_DIR_RESPONSE:
        return "response";
    case ADCP_DIR_INTERNAL:
        return "internal";
    }
    return "request";
}

/*
 * Allocates a message with the given direction, the current timestamp and
 * the body defaults (hash_algorithm "sha256"). The message id stays empty:
 * the receiver assigns its own with adcp_message_id_next, so that decoding
 * a client's message does not use up an id. Returns NULL when out of
 * memory.
 */
struct adcp_msg *
adcp_msg_new(enum adcp_direction direction)
{
    struct adcp_msg *msg = calloc(1, sizeof(*msg));

    if (msg == NULL)
        return NULL;
    msg->header.direction = direction;
    msg->header.type = ADCP_TYPE_UNKNOWN;
    adcp_timestamp_now(msg->header.timestamp);
    adcp_body_reset(&msg->body);
    msg->result.status = ADCP_OK;
    return msg;
}

void
adcp_string_array_free(char **items, size_t count)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(items[i]);
    free(items);
}

void
adcp_body_reset(struct adcp_body *body)
{
    secret_clear_string(&body->credentials.admin_pin);
    secret_clear_string(&body->credentials.user_pin);
    free(body->csr_details.csr);
    adcp_string_array_free(body->host.dns_names, body->host.dns_count);
    adcp_string_array_free(body->host.ip_addresses, body->host.ip_count);
    memset(body, 0, sizeof(*body));
    snprintf(body->cert_details.hash_algorithm,
             sizeof(body->cert_details.hash_algorithm), "sha256");
}

void
adcp_msg_wipe_credentials(struct adcp_msg *msg)
{
    if (msg == NULL)
        return;
    secret_clear_string(&msg->body.credentials.admin_pin);
    secret_clear_string(&msg->body.credentials.user_pin);
}

void
adcp_msg_free(struct adcp_msg *msg)
{
    if (msg == NULL)
        return;
    adcp_body_reset(&msg->body);
    json_decref(msg->result.data);
    adcp_attachment_release(&msg->result.attachment);
    free(msg);
}

void
adcp_attachment_release(struct adcp_attachment *attachment)
{
    if (attachment->release != NULL)
        attachment->release(attachment->owner);
    memset(attachment, 0, sizeof(*attachment));
}

struct adcp_msg *
adcp_msg_response_for(const struct adcp_msg *request)
{
    struct adcp_msg *response;

    if (request == NULL)
        return NULL;
    response = adcp_msg_new(ADCP_DIR_RESPONSE);
    if (response == NULL)
        return NULL;
    memcpy(response->header.message_id, request->header.message_id,
           sizeof(response->header.message_id));
    response->header.type = request->header.type;
    /* The response names the peer of the exchange, so that each audit
     * entry on its own shows whom the server answered. */
    memcpy(response->header.source_ip, request->header.source_ip,
           sizeof(response->header.source_ip));
    memcpy(response->header.source_mac, request->header.source_mac,
           sizeof(response->header.source_mac));
    memcpy(response->header.dest_hsm_name, request->header.dest_hsm_name,
           sizeof(response->header.dest_hsm_name));
    memcpy(response->header.dest_hsm_module, request->header.dest_hsm_module,
           sizeof(response->header.dest_hsm_module));
    return response;
}

/*
 * Sets response to the error and drops any result data. Returns the code
 * stored. A NULL error or one with code ADCP_OK is a bug in the caller, so
 * it is stored as ADCP_ERR_INTERNAL and never reported as success.
 */
enum adcp_status
adcp_msg_fail(struct adcp_msg *response, const struct adcp_error *error)
{
    struct adcp_result *result;

    if (response == NULL)
        return error != NULL ? error->code : ADCP_ERR_INTERNAL;
    result = &response->result;
    json_decref(result->data);
    result->data = NULL;
    adcp_attachment_release(&result->attachment);
    if (error == NULL || error->code == ADCP_OK ||
        (unsigned)error->code >= ADCP_STATUS_COUNT) {
        adcp_error_set(&result->error, ADCP_ERR_INTERNAL, "",
                       "the operation failed without naming an error; "
                       "report this as a bug");
    } else {
        result->error = *error;
    }
    result->status = result->error.code;
    return result->status;
}

/* Takes ownership of data, also when response is NULL. */
void
adcp_msg_succeed(struct adcp_msg *response, json_t *data)
{
    if (response == NULL) {
        json_decref(data);
        return;
    }
    json_decref(response->result.data);
    response->result.data = data;
    response->result.status = ADCP_OK;
    adcp_error_clear(&response->result.error);
}

void
adcp_timestamp_now(char out[ADCP_TIMESTAMP_MAX])
{
    struct timespec now;
    struct tm utc;
    size_t len;

    if (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
        gmtime_r(&now.tv_sec, &utc) == NULL) {
        /* Defensive: neither fails for the real-time clock on Linux. */
        snprintf(out, ADCP_TIMESTAMP_MAX, "1970-01-01T00:00:00.000000Z");
        return;
    }
    len = strftime(out, ADCP_TIMESTAMP_MAX, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(out + len, ADCP_TIMESTAMP_MAX - len, ".%06uZ",
             (unsigned)(now.tv_nsec / 1000) % 1000000u);
}

static bool
is_valid_node_id(const char *id)
{
    size_t len = strlen(id);

    if (len > NODE_ID_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/*
 * Sets the prefix of later message ids; NULL or "" removes it. A node id
 * must be at most NODE_ID_MAX_LEN letters, digits, '_', '.' or '-', so that
 * every id fits ADCP_ID_MAX. An invalid one is logged and ignored, and the
 * previous prefix stays.
 */
void
adcp_message_id_set_node(const char *id)
{
    if (id == NULL)
        id = "";
    if (!is_valid_node_id(id)) {
        char shown[ADCP_QUOTE_MAX];

        adcp_quote_string(id, shown, sizeof(shown));
        log_error("node id %s is invalid: use at most %d letters, digits, "
                  "'_', '.' or '-'; message ids keep their previous prefix",
                  shown, NODE_ID_MAX_LEN);
        return;
    }
    pthread_mutex_lock(&node_id_lock);
    snprintf(node_id, sizeof(node_id), "%s", id);
    pthread_mutex_unlock(&node_id_lock);
}

void
adcp_message_id_next(char out[ADCP_ID_MAX])
{
    unsigned long long number = atomic_fetch_add(&message_counter, 1) + 1;

    pthread_mutex_lock(&node_id_lock);
    if (node_id[0] != '\0')
        snprintf(out, ADCP_ID_MAX, "%s-%llu", node_id, number);
    else
        snprintf(out, ADCP_ID_MAX, "%llu", number);
    pthread_mutex_unlock(&node_id_lock);
}

void
adcp_message_id_continue(const char *last)
{
    const char *digits = strrchr(last, '-');
    unsigned long long value, current;
    char *end;

    digits = digits != NULL ? digits + 1 : last;
    if (*digits < '0' || *digits > '9')
        return;
    errno = 0;
    value = strtoull(digits, &end, 10);
    if (errno != 0 || *end != '\0')
        return;
    current = atomic_load(&message_counter);
    while (current < value &&
           !atomic_compare_exchange_weak(&message_counter, &current, value))
        ;
}

bool
adcp_is_plain_name(const char *name)
{
    size_t len;

    if (name == NULL || name[0] == '\0')
        return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    len = strlen(name);
    if (len > ADCP_NAME_MAX - 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c == '/' || c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

void
adcp_quote_string(const char *text, char *out, size_t size)
{
    const size_t shown_max = 40;
    size_t len, pos = 0;

    if (size < ADCP_QUOTE_MAX) {
        if (size > 0)
            out[0] = '\0';
        return;
    }
    if (text == NULL)
        text = "";
    len = strlen(text);
    out[pos++] = '"';
    for (size_t i = 0; i < len && i < shown_max; i++) {
        unsigned char c = (unsigned char)text[i];

        out[pos++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (len > shown_max) {
        memcpy(out + pos, "...", 3);
        pos += 3;
    }
    out[pos++] = '"';
    out[pos] = '\0';
}
