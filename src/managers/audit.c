#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "managers/service.h"

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

void
audit_record(struct service *svc, const struct adcp_msg *msg)
{
    struct store_audit_entry entry;
    struct adcp_error err;
    json_t *json;
    char *text;

    json = adcp_msg_encode(msg);
    if (json == NULL) {
        log_error("audit: cannot encode message id=%s; not recorded",
                  msg->header.message_id);
        return;
    }
    mask_secret_members(json);
    text = json_dumps(json, JSON_COMPACT);
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
