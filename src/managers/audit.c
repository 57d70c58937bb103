#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_text.h"
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
    text = json_text_compact(json);
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
