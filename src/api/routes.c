#include "api/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ocsp_route.h"
#include "common/log.h"
#include "managers/service.h"

/* A REST route and the ADCP message type it becomes. */
struct route {
    const char *method;
    const char *path;     /* exact, or a prefix when prefix is true */
    bool prefix;
    enum adcp_type type;
    bool has_body;
    int success_status;
    /* A prefix route's path ends with suffix after one path segment,
     * which is the serial; NULL: the segment ends the path. */
    const char *suffix;
    bool body_optional; /* an empty body counts as {} */
    const char *format; /* the body's "format", for crl_get */
    /* The members the body may have (see check_members), or NULL when
     * the members the message type does not use are ignored. */
    const char *const *members;
};

static const char *const revoke_members[] = {"reason", NULL};
/* The same through POST /v1/adcp, which has no path for the serial. */
static const char *const adcp_revoke_members[] = {"serial", "reason", NULL};

static const struct route routes[] = {
    {"GET", "/healthz", false, ADCP_TYPE_HEALTH, false, 200, NULL, false, NULL,
     NULL},
    {"GET", "/v1/ca", false, ADCP_TYPE_CA_GET, false, 200, NULL, false, NULL,
     NULL},
    {"POST", "/v1/hosts", false, ADCP_TYPE_HOST_REGISTER, true, 201, NULL,
     false, NULL, NULL},
    {"POST", "/v1/tokens", false, ADCP_TYPE_INITSESSION, true, 200, NULL,
     false, NULL, NULL},
    {"POST", "/v1/keys", false, ADCP_TYPE_KEYPAIRGEN, true, 201, NULL, false,
     NULL, NULL},
    {"POST", "/v1/certificates", false, ADCP_TYPE_CERTIFICATE_GEN, true,
     201, NULL, false, NULL, NULL},
    {"GET", "/v1/certificates/", true, ADCP_TYPE_CERTIFICATE_GET, false,
     200, NULL, false, NULL, NULL},
    {"POST", "/v1/certificates/", true, ADCP_TYPE_CERTIFICATE_REVOKE, true,
     200, "/revoke", true, NULL, revoke_members},
    {"GET", "/v1/crl", false, ADCP_TYPE_CRL_GET, false, 200, NULL, false,
     "der", NULL},
    {"GET", "/v1/crl.pem", false, ADCP_TYPE_CRL_GET, false, 200, NULL,
     false, "pem", NULL},
};

#define ADCP_ROUTE "/v1/adcp"

/* Finds the path segment after a prefix route's path: one or more
 * characters up to the route's suffix or the end, without a '/'. Returns
 * false when path does not have that shape. */
static bool
route_segment(const struct route *route, const char *path,
              const char **segment, size_t *len)
{
    size_t prefix_len = strlen(route->path);
    size_t suffix_len = route->suffix != NULL ? strlen(route->suffix) : 0;
    size_t path_len = strlen(path);

    if (strncmp(path, route->path, prefix_len) != 0 ||
        path_len <= prefix_len + suffix_len)
        return false;
    if (suffix_len > 0 &&
        strcmp(path + path_len - suffix_len, route->suffix) != 0)
        return false;
    *segment = path + prefix_len;
    *len = path_len - prefix_len - suffix_len;
    return memchr(*segment, '/', *len) == NULL;
}

static bool
route_matches_path(const struct route *route, const char *path)
{
    const char *segment;
    size_t len;

    if (route->prefix)
        return route_segment(route, path, &segment, &len);
    return strcmp(path, route->path) == 0;
}

/* The Allow header for a path served with method only: the front end
 * answers HEAD wherever GET is served. */
static const char *
allow_for(const char *method)
{
    return strcmp(method, "GET") == 0 ? "GET, HEAD" : method;
}

/* Finds the route; sets *allow when the path exists with other methods
 * only (every path has one method). */
static const struct route *
find_route(const char *method, const char *path, const char **allow)
{
    *allow = NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!route_matches_path(&routes[i], path))
            continue;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
        *allow = allow_for(routes[i].method);
    }
    if (strcmp(path, ADCP_ROUTE) == 0 && strcmp(method, "POST") != 0)
        *allow = "POST";
    return NULL;
}

static void
respond_error(struct api_response *response, const struct adcp_error *err,
              const char *message_id)
{
    json_t *error = json_pack("{s:s, s:s, s:s}", "code",
                              adcp_status_name(err->code), "message",
                              err->message, "field", err->field);

    response->http_status = adcp_status_http(err->code);
    response->body = json_pack("{s:o, s:s}", "error", error, "message_id",
                               message_id);
}

/* Parses the body as one JSON object, rejecting duplicate members. */
static json_t *
parse_body(const struct api_request *request, struct adcp_error *err)
{
    const char *nul = memchr(request->body, '\0', request->body_len);
    json_error_t jerr;
    json_t *root;

    if (request->body_len == 0) {
        adcp_error_set(err, ADCP_ERR_INVALID_JSON, "",
                       "the request body is empty; send a JSON object");
        return NULL;
    }
    if (nul != NULL) {
        adcp_error_set(err, ADCP_ERR_INVALID_JSON, "",
                       "the request body contains a NUL byte at offset "
                       "%zu; send JSON text without NUL bytes",
                       (size_t)(nul - request->body));
        return NULL;
    }
    root = json_loadb(request->body, request->body_len,
                      JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        adcp_error_set(err, ADCP_ERR_INVALID_JSON, "",
                       "the request body is not valid JSON: %s at line %d "
                       "column %d",
                       jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        adcp_error_set(err, ADCP_ERR_INVALID_JSON, "",
                       "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Sets the header members that the server, not the client, decides. */
static void
stamp_header(struct adcp_msg *msg, enum adcp_type type,
             const struct api_request *request)
{
    msg->header.direction = ADCP_DIR_REQUEST;
    msg->header.type = type;
    adcp_message_id_next(msg->header.message_id);
    adcp_timestamp_now(msg->header.timestamp);
    snprintf(msg->header.source_ip, sizeof(msg->header.source_ip), "%s",
             request->peer_ip);
    snprintf(msg->header.source_mac, sizeof(msg->header.source_mac), "%s",
             request->peer_mac);
    msg->header.dest_hsm_name[0] = '\0';
    msg->header.dest_hsm_module[0] = '\0';
}

/* Copies the serial in the path of a prefix route into the body, where
 * it replaces a serial the body may have given. */
static enum adcp_status
copy_path_serial(const struct route *route, const char *path,
                 struct adcp_msg *msg, struct adcp_error *err)
{
    const char *serial = "";
    size_t len = 0;

    route_segment(route, path, &serial, &len);
    if (len >= sizeof(msg->body.serial))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "serial",
                              "the serial in the path is longer than %zu "
                              "characters",
                              sizeof(msg->body.serial) - 1);
    snprintf(msg->body.serial, sizeof(msg->body.serial), "%.*s", (int)len,
             serial);
    return ADCP_OK;
}

/* Rejects a body member that members, a NULL-terminated list, does not
 * name. Such lists are kept for requests that cannot be undone, so that a
 * misspelt member is not ignored. */
static enum adcp_status
check_members(const char *const *members, json_t *body,
              struct adcp_error *err)
{
    char accepted[64] = "";
    const char *key;
    json_t *value;
    size_t i;

    json_object_foreach(body, key, value) {
        for (i = 0; members[i] != NULL; i++)
            if (strcmp(key, members[i]) == 0)
                break;
        if (members[i] != NULL)
            continue;
        for (i = 0; members[i] != NULL; i++)
            snprintf(accepted + strlen(accepted),
                     sizeof(accepted) - strlen(accepted), "%s\"%s\"",
                     i > 0 ? ", " : "", members[i]);
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, key,
                              "member \"%.64s\" is not part of this "
                              "request, which cannot be undone; send only "
                              "%s",
                              key, accepted);
    }
    return ADCP_OK;
}

/*
 * Builds the ADCP request for a REST route into *out. The header is
 * stamped first, so that even a request whose body fails to decode is one
 * ADCP message that can be audited. Returns ADCP_OK, or the decoding error
 * with *out still set (NULL only when memory ran out).
 */
static enum adcp_status
build_rest_request(const struct route *route,
                   const struct api_request *request, struct adcp_msg **out,
                   struct adcp_error *err)
{
    struct adcp_msg *msg = adcp_msg_new(ADCP_DIR_REQUEST);
    json_t *body = NULL;
    enum adcp_status rc = ADCP_OK;

    *out = msg;
    if (msg == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory");
    stamp_header(msg, route->type, request);
    if (route->has_body &&
        !(route->body_optional && request->body_len == 0)) {
        body = parse_body(request, err);
        if (body == NULL)
            return err->code;
        if (route->members != NULL)
            rc = check_members(route->members, body, err);
        if (rc == ADCP_OK)
            rc = adcp_body_decode(body, &msg->body, err);
        json_decref(body);
        if (rc != ADCP_OK)
            return rc;
    }
    if (route->format != NULL)
        snprintf(msg->body.format, sizeof(msg->body.format), "%s",
                 route->format);
    if (route->prefix)
        return copy_path_serial(route, request->path, msg, err);
    return ADCP_OK;
}

/* Rejects a message that is not a request before its body is decoded,
 * since a response's body has another shape. A missing direction means a
 * request. */
static enum adcp_status
check_direction(const json_t *root, struct adcp_error *err)
{
    const json_t *direction =
        json_object_get(json_object_get(root, "header"), "message_direction");

    if (direction == NULL || json_is_null(direction) ||
        (json_is_string(direction) &&
         strcmp(json_string_value(direction), "request") == 0))
        return ADCP_OK;
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD,
                          "header.message_direction",
                          "message_direction must be \"request\" in a "
                          "message sent to the server");
}

/* Builds the ADCP request from a whole ADCP message (POST /v1/adcp), with
 * the same contract as build_rest_request. */
static enum adcp_status
build_adcp_request(const struct api_request *request, struct adcp_msg **out,
                   struct adcp_error *err)
{
    struct adcp_msg *msg = adcp_msg_new(ADCP_DIR_REQUEST);
    enum adcp_status rc;
    json_t *root;

    *out = msg;
    if (msg == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory");
    root = parse_body(request, err);
    rc = root == NULL ? err->code : check_direction(root, err);
    if (rc == ADCP_OK)
        rc = adcp_msg_decode(root, msg, err);
    if (rc == ADCP_OK && msg->header.type == ADCP_TYPE_CERTIFICATE_REVOKE)
        rc = check_members(adcp_revoke_members,
                           json_object_get(root, "body"), err);
    json_decref(root);
    stamp_header(msg, msg->header.type, request);
    return rc;
}

/* Audits a request that never reached a manager and its error response,
 * and returns that response (NULL when memory ran out). */
static struct adcp_msg *
audit_rejected(struct service *svc, const struct adcp_msg *msg,
               const struct adcp_error *err)
{
    struct adcp_msg *reply;

    audit_record(svc, msg);
    reply = adcp_msg_response_for(msg);
    if (reply == NULL)
        return NULL;
    adcp_msg_fail(reply, err);
    audit_record(svc, reply);
    return reply;
}

/* Copies the result members beside "status" and "message_id". */
static json_t *
rest_body_of(const struct adcp_msg *response)
{
    json_t *body = json_object();

    if (response->result.data != NULL)
        json_object_update(body, response->result.data);
    json_object_set_new(body, "status", json_string("ok"));
    json_object_set_new(body, "message_id",
                        json_string(response->header.message_id));
    return body;
}

/* Moves the reply's attachment into the HTTP response as its body. */
static void
respond_with_attachment(struct adcp_msg *reply, struct api_response *response)
{
    struct adcp_attachment *attachment = &reply->result.attachment;

    response->content_type = attachment->content_type;
    response->bytes.data = attachment->data;
    response->bytes.len = attachment->len;
    response->bytes.release = attachment->release;
    response->bytes.owner = attachment->owner;
    memset(attachment, 0, sizeof(*attachment));
}

/* Turns the ADCP response into the HTTP response: the whole message for
 * POST /v1/adcp, else the REST body or error. A REST reply with an
 * attachment (a CRL) sends the attachment instead of JSON. */
static void
respond_with(const struct route *route, struct adcp_msg *reply,
             struct api_response *response)
{
    if (route == NULL) {
        response->http_status = adcp_status_http(reply->result.status);
        response->body = adcp_msg_encode(reply);
    } else if (reply->result.status != ADCP_OK) {
        respond_error(response, &reply->result.error,
                      reply->header.message_id);
    } else if (reply->result.attachment.data != NULL) {
        response->http_status = route->success_status;
        respond_with_attachment(reply, response);
    } else {
        response->http_status = route->success_status;
        response->body = rest_body_of(reply);
    }
}

/* A response that waits for its certificate's row to commit. */
struct route_hold {
    struct service *svc;
    struct service_held *held;
    const struct route *route; /* NULL for POST /v1/adcp */
    struct adcp_msg *reply;
};

static void
hold_notify(void *hold, void (*done)(void *arg), void *arg)
{
    struct route_hold *route_hold = hold;

    service_held_notify(route_hold->held, done, arg);
}

static void
hold_finish(void *hold, struct api_response *response)
{
    struct route_hold *route_hold = hold;

    service_held_finish(route_hold->svc, route_hold->held);
    respond_with(route_hold->route, route_hold->reply, response);
    adcp_msg_free(route_hold->reply);
    free(route_hold);
}

static const struct api_hold_ops route_hold_ops = {
    .notify = hold_notify,
    .finish = hold_finish,
};

/* Hands a held reply to the front end, or finishes it here when there
 * is no memory to hold it. Takes ownership of reply. */
static void
respond_later(struct service *svc, struct service_held *held,
              const struct route *route, struct adcp_msg *reply,
              struct api_response *response)
{
    struct route_hold *hold = malloc(sizeof(*hold));

    if (hold == NULL) {
        service_held_finish(svc, held);
        respond_with(route, reply, response);
        adcp_msg_free(reply);
        return;
    }
    hold->svc = svc;
    hold->held = held;
    hold->route = route;
    hold->reply = reply;
    response->hold = hold;
    response->hold_ops = &route_hold_ops;
}

bool
api_routes_is_quick(void *ctx, const struct api_request *request)
{
    if (api_ocsp_route_matches(request))
        return api_ocsp_route_is_quick(ctx, request);
    return strcmp(request->method, "GET") == 0 &&
           (strcmp(request->path, "/healthz") == 0 ||
            strcmp(request->path, "/v1/ca") == 0);
}

/* Key pair generation and token initialisation can keep an HSM busy for
 * seconds (RSA-8192 takes tens). */
static bool
is_slow_type(enum adcp_type type)
{
    return type == ADCP_TYPE_KEYPAIRGEN || type == ADCP_TYPE_INITSESSION;
}

/* The type an ADCP message names in header.message_type, or
 * ADCP_TYPE_UNKNOWN; errors are left to the handler. */
static enum adcp_type
adcp_body_type(const struct api_request *request)
{
    enum adcp_type type = ADCP_TYPE_UNKNOWN;
    json_t *root, *name;

    root = json_loadb(request->body, request->body_len, 0, NULL);
    name = json_object_get(json_object_get(root, "header"), "message_type");
    if (json_is_string(name))
        type = adcp_type_parse(json_string_value(name));
    json_decref(root);
    return type;
}

bool
api_routes_is_slow(void *ctx, const struct api_request *request)
{
    const struct route *route;
    const char *allow;

    (void)ctx;
    if (strcmp(request->path, ADCP_ROUTE) == 0)
        return strcmp(request->method, "POST") == 0 &&
               is_slow_type(adcp_body_type(request));
    route = find_route(request->method, request->path, &allow);
    return route != NULL && is_slow_type(route->type);
}

void
api_routes_handle(void *ctx, const struct api_request *request,
                  struct api_response *response)
{
    struct service *svc = ctx;
    struct service_caller caller;
    struct adcp_msg *msg = NULL, *reply = NULL;
    struct service_held *held;
    const struct route *route;
    struct adcp_error err;
    const char *allow = NULL;
    bool is_adcp;
    char id_for_errors[ADCP_ID_MAX] = "";
    enum adcp_status rc;

    if (api_ocsp_route_matches(request)) {
        api_ocsp_route_handle(svc, request, response);
        return;
    }
    adcp_error_clear(&err);
    is_adcp = strcmp(request->path, ADCP_ROUTE) == 0 &&
              strcmp(request->method, "POST") == 0;
    route = is_adcp ? NULL
                    : find_route(request->method, request->path, &allow);
    if (!is_adcp && route == NULL) {
        if (allow != NULL) {
            adcp_error_set(&err, ADCP_ERR_METHOD, "",
                           "%s is not allowed on %.100s; use %s",
                           request->method, request->path, allow);
            response->allow = allow;
        } else {
            adcp_error_set(&err, ADCP_ERR_NOT_FOUND, "",
                           "no such endpoint: %s %.100s", request->method,
                           request->path);
        }
        adcp_message_id_next(id_for_errors);
        goto fail;
    }

    rc = is_adcp ? build_adcp_request(request, &msg, &err)
                 : build_rest_request(route, request, &msg, &err);
    if (msg == NULL) {
        adcp_message_id_next(id_for_errors);
        goto fail;
    }
    snprintf(id_for_errors, sizeof(id_for_errors), "%s",
             msg->header.message_id);
    if (rc != ADCP_OK) {
        log_warn("adcp id=%s type=%s from=%s rejected: %s field=%s: %s",
                 msg->header.message_id, adcp_type_name(msg->header.type),
                 request->peer_ip, adcp_status_name(err.code),
                 err.field[0] ? err.field : "-", err.message);
        goto rejected;
    }

    memset(&caller, 0, sizeof(caller));
    snprintf(caller.peer_ip, sizeof(caller.peer_ip), "%s", request->peer_ip);
    if (service_authenticate(svc, request->authorization, request->peer_cert,
                             &caller, &err) != ADCP_OK) {
        log_warn("adcp id=%s type=%s from=%s authentication failed: %s",
                 msg->header.message_id, adcp_type_name(msg->header.type),
                 request->peer_ip, err.message);
        goto rejected;
    }

    reply = service_dispatch_held(svc, &caller, msg, &held);
    adcp_msg_free(msg);
    msg = NULL;
    if (reply == NULL) {
        adcp_error_set(&err, ADCP_ERR_INTERNAL, "", "out of memory");
        goto fail;
    }
    if (held != NULL) {
        respond_later(svc, held, route, reply, response);
        return;
    }
    respond_with(route, reply, response);
    adcp_msg_free(reply);
    return;
rejected:
    /* The error goes out as an ADCP response message on POST /v1/adcp,
     * and as the REST error body on the other routes. */
    reply = audit_rejected(svc, msg, &err);
    if (reply != NULL) {
        respond_with(route, reply, response);
        adcp_msg_free(reply);
        adcp_msg_free(msg);
        return;
    }
fail:
    adcp_msg_free(msg);
    respond_error(response, &err, id_for_errors);
}
