/*
 * The worker threads of the HTTPS front end. Each runs its own event_base
 * and evhttp, accepting on a duplicate of the one listening socket, and
 * turns each complete request into a struct api_request, calls the
 * handler in the same thread and writes its response.
 */
#include "api/http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adcp/adcp_error.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/thread.h"
#include "common/secret.h"

/* evhttp passes every method it parses to handle_request, so that the
 * methods we do not serve get a JSON 405 instead of libevent's HTML 501. */
#define EVHTTP_ALL_METHODS                                                  \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |  \
     EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |            \
     EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)
/* The Allow header of a 405 whose handler named no methods. */
#define SERVED_METHODS "GET, HEAD, POST"

/* How long a worker stops accepting after accept() failed, for example
 * with EMFILE. Without a pause the level-triggered listener would spin. */
#define ACCEPT_PAUSE_USEC 500000

/* Sent when the response itself cannot be built. */
#define INTERNAL_ERROR_JSON                                                 \
    "{\"error\":{\"code\":\"internal_error\",\"message\":\"the server "    \
    "could not encode its response; report this bug\",\"field\":\"\"}}"

/* The worker whose loop runs in this thread, for libevent callbacks
 * whose argument is the evhttp rather than the worker. */
static _Thread_local struct api_worker *current_worker;

static const char *
method_name(enum evhttp_cmd_type type)
{
    switch (type) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "unknown";
}

static bool
method_is_served(enum evhttp_cmd_type type)
{
    return type == EVHTTP_REQ_GET || type == EVHTTP_REQ_HEAD ||
           type == EVHTTP_REQ_POST;
}

/* ---- responses ---- */

static void
free_text_payload(const void *data, size_t len, void *extra)
{
    (void)data;
    (void)len;
    secret_free_string(extra);
}

static void
free_json_payload(const void *data, size_t len, void *extra)
{
    json_malloc_t json_malloc;
    json_free_t json_free;

    (void)data;
    secret_wipe(extra, len);
    json_get_alloc_funcs(&json_malloc, &json_free);
    json_free(extra);
}

/* Releases a bytes body that is not sent. */
static void
release_bytes(struct api_bytes *bytes)
{
    if (bytes->release != NULL)
        bytes->release(bytes->owner);
    memset(bytes, 0, sizeof(*bytes));
}

/* The evbuffer cleanup of a bytes body: extra is a heap copy of the
 * struct api_bytes. */
static void
free_bytes_payload(const void *data, size_t len, void *extra)
{
    (void)data;
    (void)len;
    release_bytes(extra);
    free(extra);
}

/* Adds a bytes body by reference. Returns 0, or -1 after releasing it. */
static int
add_bytes(struct evbuffer *out, struct api_response *response,
          const char **type)
{
    struct api_bytes *bytes = malloc(sizeof(*bytes));

    if (bytes == NULL) {
        release_bytes(&response->bytes);
        return -1;
    }
    *bytes = response->bytes;
    memset(&response->bytes, 0, sizeof(response->bytes));
    *type = response->content_type != NULL ? response->content_type
                                           : "application/octet-stream";
    if (evbuffer_add_reference(out, bytes->data, bytes->len,
                               free_bytes_payload, bytes) != 0) {
        free_bytes_payload(NULL, 0, bytes);
        return -1;
    }
    return 0;
}

/* Moves the handler's payload into out without copying. libevent calls
 * the cleanup once the bytes are written, and the cleanup wipes them,
 * because responses can carry secrets too (decrypted data, tokens). */
static int
add_payload(struct evbuffer *out, struct api_response *response,
            const char **type)
{
    char *payload;
    evbuffer_ref_cleanup_cb cleanup;

    if (response->bytes.data != NULL)
        return add_bytes(out, response, type);
    if (response->text != NULL) {
        payload = response->text;
        response->text = NULL;
        cleanup = free_text_payload;
        *type = response->content_type != NULL ? response->content_type
                                               : "text/plain; charset=utf-8";
    } else if (response->body != NULL) {
        payload = json_text_compact(response->body);
        if (payload == NULL)
            return -1;
        cleanup = free_json_payload;
        *type = "application/json";
    } else {
        return 0;
    }
    if (evbuffer_add_reference(out, payload, strlen(payload), cleanup,
                               payload) != 0) {
        cleanup(payload, strlen(payload), payload);
        return -1;
    }
    return 0;
}

/* Leaves the body out of a HEAD response, with the Content-Length that
 * GET would send. evhttp adds no Content-Length to a HEAD response. */
static void
omit_body(struct evkeyvalq *headers, struct evbuffer *out)
{
    size_t len = evbuffer_get_length(out);
    char length[32];

    snprintf(length, sizeof(length), "%zu", len);
    evhttp_add_header(headers, "Content-Length", length);
    /* Draining frees the payload through its wiping cleanup. */
    evbuffer_drain(out, len);
}

/* Sends response and releases what it owns. */
static void
send_response(struct evhttp_request *req, struct api_response *response)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evbuffer_new();
    const char *type = NULL;
    int status = response->http_status;

    if (out == NULL || add_payload(out, response, &type) != 0) {
        log_error("encoding the response to %s (HTTP %d) failed; sending "
                  "500", evhttp_request_get_uri(req), status);
        status = 500;
        type = NULL;
        if (out != NULL) {
            evbuffer_drain(out, evbuffer_get_length(out));
            evbuffer_add(out, INTERNAL_ERROR_JSON,
                         sizeof(INTERNAL_ERROR_JSON) - 1);
            type = "application/json";
        }
    }
    if (type != NULL)
        evhttp_add_header(headers, "Content-Type", type);
    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    /* RFC 9110 requires Allow in a 405. */
    if (status == 405)
        evhttp_add_header(headers, "Allow", response->allow != NULL
                                                ? response->allow
                                                : SERVED_METHODS);
    if (out != NULL && evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        omit_body(headers, out);
    evhttp_send_reply(req, status, NULL, out);
    if (out != NULL)
        evbuffer_free(out);
    json_decref(response->body);
    response->body = NULL;
    secret_clear_string(&response->text);
    release_bytes(&response->bytes);
}

static json_t *
error_body(const struct adcp_error *error)
{
    const char *code = adcp_status_name(error->code);
    json_t *body;

    body = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code,
                     "message", error->message, "field", error->field);
    if (body != NULL)
        return body;
    /* Defensive: a message cut at its buffer size can end inside a UTF-8
     * sequence, which jansson rejects. */
    return json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code,
                     "message", "the request was rejected; see the code",
                     "field", "");
}

static void
set_error_response(const struct adcp_error *error,
                   struct api_response *response)
{
    response->http_status = adcp_status_http(error->code);
    response->body = error_body(error);
}

/* ---- request parsing ---- */

static enum adcp_status
check_tls(struct evhttp_request *req, struct api_call *state)
{
    SSL *ssl = api_tls_of(req);

    if (ssl != NULL) {
        /* A reference of our own, because the connection and its SSL
         * may be freed while a handler thread reads the certificate. */
        state->request.peer_cert = api_tls_verified_peer(ssl);
        if (state->request.peer_cert != NULL)
            X509_up_ref(state->request.peer_cert);
        return ADCP_OK;
    }
    /* This runs only when SSL_new failed in api_tls_bufferevent_new and
     * libevent fell back to plain TCP, and such a connection is never
     * served. */
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                      "close");
    log_error("a connection from %s has no TLS layer; closing it",
              state->request.peer_ip);
    return adcp_error_set(&state->error, ADCP_ERR_INTERNAL, "",
                          "the server could not set up TLS for this "
                          "connection; retry the request");
}

static enum adcp_status
read_method(struct evhttp_request *req, struct api_call *state)
{
    enum evhttp_cmd_type type = evhttp_request_get_command(req);

    /* HEAD reaches the handler as GET, and send_response drops the
     * body. */
    state->request.method = method_name(type == EVHTTP_REQ_HEAD
                                            ? EVHTTP_REQ_GET
                                            : type);
    if (method_is_served(type))
        return ADCP_OK;
    state->request.method = method_name(type);
    return adcp_error_set(&state->error, ADCP_ERR_METHOD, "method",
                          "method %s is not allowed; use one of %s",
                          state->request.method, SERVED_METHODS);
}

/* Returns true when text has no NUL (len counts the decoded bytes) and
 * no control character. */
static bool
text_is_printable(const char *text, size_t len)
{
    if (strlen(text) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return false;
    return true;
}

/* jansson validates UTF-8 when it builds a string; handlers put paths in
 * JSON, so a path it rejects is rejected here. */
static bool
text_is_utf8(const char *text, size_t len)
{
    json_t *string = json_stringn(text, len);
    bool valid = string != NULL;

    json_decref(string);
    return valid;
}

/* Returns the parsed request target. evhttp parses a target that starts
 * with "//" as an authority and a path ("//v1/ca" as host "v1" and path
 * "/ca"), so such a target is parsed again from its last leading slash.
 * Returns NULL when that parse fails. */
static const struct evhttp_uri *
request_uri(struct evhttp_request *req, struct api_call *state)
{
    const char *target = evhttp_request_get_uri(req);

    if (target == NULL || target[0] != '/' || target[1] != '/')
        return evhttp_request_get_evhttp_uri(req);
    while (target[1] == '/')
        target++;
    state->uri = evhttp_uri_parse_with_flags(target, 0);
    return state->uri;
}

/* Merges each run of slashes into one, so that "/v1//ca" finds the same
 * route as "/v1/ca". */
static void
merge_slashes(char *path)
{
    char *out = path;

    for (const char *in = path; *in != '\0'; in++) {
        if (*in == '/' && out > path && out[-1] == '/')
            continue;
        *out++ = *in;
    }
    *out = '\0';
}

/* Returns true when raw starts with the server's raw_path_prefix. */
static bool
path_is_raw(const struct api_server *server, const char *raw)
{
    const char *prefix = server->raw_path_prefix;

    return prefix != NULL && strncmp(raw, prefix, strlen(prefix)) == 0;
}

static enum adcp_status
read_path(struct evhttp_request *req, const struct api_server *server,
          struct api_call *state)
{
    const struct evhttp_uri *uri = request_uri(req, state);
    const char *raw = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    struct adcp_error *err = &state->error;
    size_t len = 0;

    if (raw == NULL || raw[0] != '/')
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "path",
                              "the request target is not an absolute "
                              "path; send a path that starts with /");
    if (path_is_raw(server, raw)) {
        len = strlen(raw);
        if (!text_is_printable(raw, len) || !text_is_utf8(raw, len) ||
            strstr(raw, "..") != NULL)
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "path",
                                  "the request path contains a control "
                                  "character, invalid UTF-8 or \"..\"; "
                                  "remove it");
        state->request.path = raw;
        state->request.query = evhttp_uri_get_query(uri);
        return ADCP_OK;
    }
    /* An encoded slash would let one segment pose as two after
     * decoding. */
    if (strcasestr(raw, "%2f") != NULL)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "path",
                              "the request path contains an encoded slash "
                              "(%%2F); send the path with plain slashes");
    state->path = evhttp_uridecode(raw, 0, &len);
    if (state->path == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "path",
                              "out of memory decoding the request path");
    if (!text_is_printable(state->path, len) ||
        !text_is_utf8(state->path, len))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "path",
                              "the request path contains a NUL, a control "
                              "character or invalid UTF-8; remove it");
    if (strstr(state->path, "..") != NULL)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "path",
                              "the request path \"%s\" contains \"..\"; "
                              "send the path without \"..\"", state->path);
    merge_slashes(state->path);
    state->request.path = state->path;
    state->request.query = evhttp_uri_get_query(uri);
    return ADCP_OK;
}

static enum adcp_status
read_body(struct evhttp_request *req, size_t max_body,
          struct api_call *state)
{
    struct evbuffer *input = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(input);
    struct adcp_error *err = &state->error;

    if (len > max_body)
        return adcp_error_set(err, ADCP_ERR_TOO_LARGE, "",
                              "request body exceeds %zu bytes; send a "
                              "smaller body", max_body);
    state->body = malloc(len + 1);
    if (state->body == NULL ||
        evbuffer_copyout(input, state->body, len) != (ev_ssize_t)len)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cannot copy a request body of %zu bytes",
                              len);
    state->body[len] = '\0';
    state->body_len = len;
    state->request.body = state->body;
    state->request.body_len = len;
    return ADCP_OK;
}

/* Copies the peer address, writing an IPv4-mapped IPv6 address (from a
 * dual-stack socket) in its IPv4 form so that logs and host records see
 * one spelling. */
static void
read_peer(struct evhttp_request *req, struct api_request *request)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    const char *shown;
    struct in_addr v4;
    char *address = NULL;
    ev_uint16_t port = 0;

    if (conn != NULL)
        evhttp_connection_get_peer(conn, &address, &port);
    shown = address != NULL ? address : "";
    if (strncasecmp(shown, "::ffff:", 7) == 0 &&
        inet_pton(AF_INET, shown + 7, &v4) == 1)
        shown += 7;
    snprintf(request->peer_ip, sizeof(request->peer_ip), "%s", shown);
    api_peer_mac_lookup(API_ARP_TABLE, request->peer_ip, request->peer_mac,
                        sizeof(request->peer_mac));
}

/* Fills state from req. On failure state->error contains the error to
 * send. */
static enum adcp_status
parse_request(struct evhttp_request *req, const struct api_server *server,
              struct api_call *state)
{
    enum adcp_status status;

    read_peer(req, &state->request);
    status = check_tls(req, state);
    if (status == ADCP_OK)
        status = read_method(req, state);
    if (status == ADCP_OK)
        status = read_body(req, server->max_body, state);
    if (status == ADCP_OK)
        status = read_path(req, server, state);
    state->request.authorization = evhttp_find_header(
        evhttp_request_get_input_headers(req), "Authorization");
    return status;
}

/* Overwrites the body bytes inside libevent's buffer; they are freed
 * with the request, and may hold PINs. */
static void
wipe_input_body(struct evhttp_request *req)
{
    struct evbuffer *input = evhttp_request_get_input_buffer(req);
    struct evbuffer_iovec *vec;
    int count;

    count = evbuffer_peek(input, -1, NULL, NULL, 0);
    if (count <= 0)
        return;
    vec = calloc((size_t)count, sizeof(*vec));
    if (vec != NULL) {
        count = evbuffer_peek(input, -1, NULL, vec, count);
        for (int i = 0; i < count; i++)
            secret_wipe(vec[i].iov_base, vec[i].iov_len);
        free(vec);
    }
    evbuffer_drain(input, evbuffer_get_length(input));
}

static void
release_request(struct evhttp_request *req, struct api_call *state)
{
    wipe_input_body(req);
    /* The bearer token is a secret in memory that libevent frees without
     * wiping. libevent reads only the Connection header after this. */
    if (state->request.authorization != NULL)
        secret_wipe((char *)state->request.authorization,
                    strlen(state->request.authorization));
    if (state->body != NULL) {
        secret_wipe(state->body, state->body_len);
        free(state->body);
    }
    free(state->path);
    if (state->uri != NULL)
        evhttp_uri_free(state->uri);
    X509_free(state->request.peer_cert);
}

void
api_call_run(const struct api_server *server, struct api_call *state)
{
    struct api_response *response = &state->response;

    server->handler(server->ctx, &state->request, response);
    if (response->hold != NULL ||
        (response->http_status >= 100 && response->http_status <= 599))
        return;
    log_error("the request handler set HTTP status %d for %s %s; "
              "sending 500", response->http_status, state->request.method,
              state->request.path);
    json_decref(response->body);
    secret_clear_string(&response->text);
    release_bytes(&response->bytes);
    memset(response, 0, sizeof(*response));
    adcp_error_set(&state->error, ADCP_ERR_INTERNAL, "",
                   "the server produced no valid response; report this bug");
    set_error_response(&state->error, response);
}

void
api_call_answer(struct api_call *call)
{
    struct api_response *response = &call->response;

    if (response->hold != NULL) {
        response->hold_ops->finish(response->hold, response);
        response->hold = NULL;
        response->hold_ops = NULL;
    }
    /* A stopping server closes each connection after its reply. */
    if (atomic_load(&call->worker->stopping))
        evhttp_add_header(evhttp_request_get_output_headers(call->req),
                          "Connection", "close");
    api_conn_reply_ready(api_tls_of(call->req));
    /* Release first, because libevent may free req once the reply is
     * queued. */
    release_request(call->req, call);
    send_response(call->req, response);
    free(call);
}

void
api_call_refuse(struct api_call *call)
{
    adcp_error_set(&call->error, ADCP_ERR_UNAVAILABLE, "",
                   "the server is stopping; retry on another node or once "
                   "it runs again");
    set_error_response(&call->error, &call->response);
}

static bool
is_quick(const struct api_server *server, const struct api_call *call)
{
    return server->quick != NULL &&
           server->quick(server->ctx, &call->request);
}

/* The evhttp_set_gencb callback: parses the request and queues it for a
 * handler thread, or replies at once when it cannot be served. */
static void
handle_request(struct evhttp_request *req, void *arg)
{
    struct api_worker *worker = arg;
    struct api_call *call;

    /* The request is read completely, so its deadlines end here and not
     * after the handler, which may wait for the HSM. */
    api_conn_request_done(api_tls_of(req));
    call = calloc(1, sizeof(*call));
    if (call == NULL) {
        log_error("out of memory for a request from a connection of %s; "
                  "sending 500", worker->server->address);
        /* The reply ends this request, so a pipelined request after it
         * gets its deadlines, as in api_call_answer. */
        api_conn_reply_ready(api_tls_of(req));
        evhttp_send_error(req, 500, NULL);
        return;
    }
    call->worker = worker;
    call->req = req;
    if (parse_request(req, worker->server, call) != ADCP_OK) {
        log_debug("rejected %s %.200s from %s: %s: %s",
                  method_name(evhttp_request_get_command(req)),
                  evhttp_request_get_uri(req), call->request.peer_ip,
                  adcp_status_name(call->error.code), call->error.message);
        set_error_response(&call->error, &call->response);
        api_call_answer(call);
    } else if (atomic_load(&worker->stopping)) {
        api_call_refuse(call);
        api_call_answer(call);
    } else if (is_quick(worker->server, call)) {
        worker->pending++;
        api_queue_run_here(call);
    } else {
        api_queue_submit(call);
    }
}

/* ---- event loops ---- */

static void
on_stop(evutil_socket_t fd, short events, void *arg)
{
    struct api_worker *worker = arg;

    (void)fd;
    (void)events;
    api_worker_stop(worker);
}

static void
on_accept_resume(evutil_socket_t fd, short events, void *arg)
{
    struct api_worker *worker = arg;

    (void)fd;
    (void)events;
    if (worker->stopping)
        return;
    if (evconnlistener_enable(worker->listener) != 0)
        log_error("resuming accept on %s failed; new connections wait "
                  "until the server restarts", worker->server->address);
}

static void
on_accept_error(struct evconnlistener *listener, void *arg)
{
    struct api_worker *worker = current_worker;
    const struct timeval pause = {0, ACCEPT_PAUSE_USEC};
    int err = EVUTIL_SOCKET_ERROR();

    (void)arg;
    if (worker == NULL || worker->listener != listener) {
        api_log_connection_error(__func__, "accept failed: %s",
                                 strerror(err));
        return;
    }
    api_log_connection_error(__func__, "accept on %s failed: %s; pausing "
                             "new connections for %d ms",
                             worker->server->address, strerror(err),
                             ACCEPT_PAUSE_USEC / 1000);
    evconnlistener_disable(listener);
    event_add(worker->resume_event, &pause);
}

/* libevent responds to a body over its own limit with an HTML 413 page
 * that no callback can replace. Its limit is twice ours, so that a body
 * up to that size is read and read_body sends the JSON error. */
static ev_ssize_t
libevent_body_limit(size_t max_body)
{
    if (max_body > (size_t)EV_SSIZE_MAX / 2)
        return EV_SSIZE_MAX;
    return (ev_ssize_t)(max_body * 2);
}

static void
configure_http(struct api_worker *worker)
{
    struct evhttp *http = worker->http;
    struct api_server *server = worker->server;

    evhttp_set_bevcb(http, api_tls_bufferevent_new, worker);
    evhttp_set_gencb(http, handle_request, worker);
    evhttp_set_max_body_size(http, libevent_body_limit(server->max_body));
    evhttp_set_max_headers_size(http, API_MAX_HEADERS_SIZE);
    evhttp_set_timeout(http, API_TIMEOUT_SECONDS);
    evhttp_set_allowed_methods(http, EVHTTP_ALL_METHODS);
    /* Without this, evhttp labels a response without payload as HTML. */
    evhttp_set_default_content_type(http, NULL);
    /* NOTE: a body over libevent's limit still gets libevent's HTML 413.
     * Lingering close reads and drops the rest of it first, so that the
     * client, which may still be sending, receives that response. */
    evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
}

/* Attaches a duplicate of the listening socket, since evhttp closes the
 * socket it accepts on when it is freed. */
static int
attach_listener(struct api_worker *worker)
{
    struct evhttp_bound_socket *bound;
    int fd;

    fd = fcntl(worker->server->listen_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        log_error("duplicating the listening socket of %s failed: %s",
                  worker->server->address, strerror(errno));
        return -1;
    }
    bound = evhttp_accept_socket_with_handle(worker->http, fd);
    if (bound == NULL) {
        log_error("setting up accept on %s failed",
                  worker->server->address);
        close(fd);
        return -1;
    }
    worker->listener = evhttp_bound_socket_get_listener(bound);
    evconnlistener_set_error_cb(worker->listener, on_accept_error);
    return 0;
}

static int
worker_init(struct api_worker *worker, struct api_server *server)
{
    worker->server = server;
    worker->base = event_base_new();
    if (worker->base == NULL) {
        log_error("creating an event loop for %s failed", server->address);
        return -1;
    }
    worker->http = evhttp_new(worker->base);
    if (worker->http == NULL) {
        log_error("creating an evhttp for %s failed", server->address);
        return -1;
    }
    if (api_conn_worker_init(worker) != 0 ||
        api_queue_worker_init(worker) != 0)
        return -1;
    configure_http(worker);
    if (attach_listener(worker) != 0)
        return -1;
    worker->stop_event = event_new(worker->base, server->stop_pipe[0],
                                   EV_READ, on_stop, worker);
    worker->resume_event = evtimer_new(worker->base, on_accept_resume,
                                       worker);
    if (worker->stop_event == NULL || worker->resume_event == NULL) {
        log_error("creating the events of a worker for %s failed",
                  server->address);
        return -1;
    }
    return 0;
}

int
api_workers_create(struct api_server *server)
{
    server->workers = calloc(server->worker_count, sizeof(*server->workers));
    if (server->workers == NULL) {
        log_error("out of memory creating %u workers", server->worker_count);
        return -1;
    }
    for (unsigned i = 0; i < server->worker_count; i++)
        if (worker_init(&server->workers[i], server) != 0)
            return -1;
    return api_queue_init(server);
}

static void *
worker_main(void *arg)
{
    struct api_worker *worker = arg;

    current_worker = worker;
    /* The stop event is not persistent, so each run adds it again. */
    if (event_add(worker->stop_event, NULL) != 0) {
        log_error("watching the stop pipe of %s failed",
                  worker->server->address);
        worker->result = -1;
        return NULL;
    }
    worker->result = event_base_dispatch(worker->base);
    return NULL;
}

/* Empties the stop pipe after all workers ended, so that a later
 * api_server_run does not stop at once. */
static void
drain_stop_pipe(struct api_server *server)
{
    char bytes[64];

    while (read(server->stop_pipe[0], bytes, sizeof(bytes)) > 0)
        continue;
}

static int
start_workers(struct api_server *server)
{
    int result = 0;

    for (unsigned i = 0; i < server->worker_count; i++) {
        struct api_worker *worker = &server->workers[i];
        int rc = thread_start(&worker->thread, worker_main, worker,
                              "api-loop");

        if (rc != 0) {
            log_error("starting event loop thread %u of %s failed: %s", i,
                      server->address, strerror(rc));
            api_server_stop(server);
            result = -1;
            break;
        }
        worker->started = true;
    }
    return result;
}

int
api_workers_run(struct api_server *server)
{
    int result = 0;

    /* Without every handler thread the workers would still serve, so
     * the server stops and logs why instead. */
    if (api_queue_start(server) != 0) {
        api_queue_stop(server);
        return -1;
    }
    result = start_workers(server);
    for (unsigned i = 0; i < server->worker_count; i++) {
        struct api_worker *worker = &server->workers[i];

        if (!worker->started)
            continue;
        pthread_join(worker->thread, NULL);
        worker->started = false;
        if (worker->result < 0)
            result = -1;
    }
    api_queue_stop(server);
    drain_stop_pipe(server);
    return result;
}

void
api_workers_free(struct api_server *server)
{
    if (server->workers == NULL)
        return;
    for (unsigned i = 0; i < server->worker_count; i++) {
        struct api_worker *worker = &server->workers[i];

        /* evhttp_free closes the connections and the duplicate socket.
         * event_base_free then runs libevent's pending finalizers, which
         * free each connection's SSL. */
        if (worker->http != NULL)
            evhttp_free(worker->http);
        api_conn_worker_free(worker);
        api_queue_worker_free(worker);
        if (worker->stop_event != NULL)
            event_free(worker->stop_event);
        if (worker->resume_event != NULL)
            event_free(worker->resume_event);
        if (worker->base != NULL)
            event_base_free(worker->base);
    }
    free(server->workers);
    server->workers = NULL;
    api_queue_free(server);
}
