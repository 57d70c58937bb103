/*
 * The HTTPS front end against a real OpenSSL client: the server runs on
 * 127.0.0.1 with a port chosen by the kernel, with a fresh RSA key and
 * self-signed certificate, and an echo handler. Requests are written by
 * hand so that each test controls exactly what goes on the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/http_internal.h"
#include "api/http_server.h"
#include "common/log.h"

#define MIB ((size_t)1024 * 1024)

/* ---- certificates ---- */

struct identity {
    EVP_PKEY *key;
    X509 *cert;
};

static long next_serial = 1;

static void
add_extension(X509 *cert, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);

    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* Issues a certificate for key, signed by issuer (self-signed when NULL). */
static X509 *
issue(EVP_PKEY *key, const char *cn, const struct identity *issuer,
      bool is_ca)
{
    X509 *cert = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;

    assert_non_null(cert);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), next_serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    assert_int_equal(X509_set_pubkey(cert, key), 1);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, issuer != NULL
                                   ? X509_get_subject_name(issuer->cert)
                                   : name);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer->cert : cert, cert, NULL,
                   NULL, 0);
    add_extension(cert, &v3, NID_subject_key_identifier, "hash");
    if (is_ca) {
        add_extension(cert, &v3, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert, &v3, NID_key_usage,
                      "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert, &v3, NID_basic_constraints, "CA:FALSE");
        add_extension(cert, &v3, NID_ext_key_usage, "serverAuth,clientAuth");
        add_extension(cert, &v3, NID_subject_alt_name,
                      "DNS:localhost,IP:127.0.0.1,IP:::1");
    }
    assert_true(X509_sign(cert, issuer != NULL ? issuer->key : key,
                          EVP_sha256()) > 0);
    return cert;
}

static void
identity_free(struct identity *id)
{
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    id->key = NULL;
    id->cert = NULL;
}

/* ---- the server under test ---- */

static atomic_int handler_calls;

/* The one response held by the path /held: release_held, called by a
 * test from its own thread, lets the server send it. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool notified;
    void (*done)(void *arg);
    void *arg;
    int finished;
} held_gate = {.lock = PTHREAD_MUTEX_INITIALIZER,
               .changed = PTHREAD_COND_INITIALIZER};

static void
held_notify(void *hold, void (*done)(void *arg), void *arg)
{
    (void)hold;
    pthread_mutex_lock(&held_gate.lock);
    held_gate.notified = true;
    held_gate.done = done;
    held_gate.arg = arg;
    pthread_cond_broadcast(&held_gate.changed);
    pthread_mutex_unlock(&held_gate.lock);
}

static void
held_finish(void *hold, struct api_response *response)
{
    pthread_mutex_lock(&held_gate.lock);
    held_gate.finished++;
    pthread_mutex_unlock(&held_gate.lock);
    response->http_status = 201;
    response->body = json_pack("{s:s}", "held", (const char *)hold);
}

static const struct api_hold_ops held_ops = {held_notify, held_finish};

/* The path /block?NAME keeps its handler thread until unblock_handler is
 * called; every handled /block call appends NAME to handled_order. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int waiting;   /* handlers inside /block */
    int releases;  /* unblock_handler calls not yet used */
    char handled_order[64];
} block_gate = {.lock = PTHREAD_MUTEX_INITIALIZER,
                .changed = PTHREAD_COND_INITIALIZER};

static void
block_handler(const char *name)
{
    pthread_mutex_lock(&block_gate.lock);
    block_gate.waiting++;
    pthread_cond_broadcast(&block_gate.changed);
    while (block_gate.releases == 0)
        pthread_cond_wait(&block_gate.changed, &block_gate.lock);
    block_gate.releases--;
    block_gate.waiting--;
    strncat(block_gate.handled_order, name,
            sizeof(block_gate.handled_order) -
                strlen(block_gate.handled_order) - 1);
    pthread_mutex_unlock(&block_gate.lock);
}

/* Waits up to five seconds until a handler is inside /block. Returns 0,
 * or -1 on timeout. */
static int
wait_blocked(void)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&block_gate.lock);
    while (block_gate.waiting == 0 && rc == 0)
        rc = pthread_cond_timedwait(&block_gate.changed, &block_gate.lock,
                                    &deadline);
    pthread_mutex_unlock(&block_gate.lock);
    return rc == 0 ? 0 : -1;
}

/* Returns the number of handlers inside /block now. */
static int
blocked_now(void)
{
    int waiting;

    pthread_mutex_lock(&block_gate.lock);
    waiting = block_gate.waiting;
    pthread_mutex_unlock(&block_gate.lock);
    return waiting;
}

static void
unblock_handler(void)
{
    pthread_mutex_lock(&block_gate.lock);
    block_gate.releases++;
    pthread_cond_broadcast(&block_gate.changed);
    pthread_mutex_unlock(&block_gate.lock);
}

/* Waits up to five seconds until the server has requested a call when
 * the held response may go. Returns 0, or -1 on timeout. */
static int
wait_held(void)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&held_gate.lock);
    while (!held_gate.notified && rc == 0)
        rc = pthread_cond_timedwait(&held_gate.changed, &held_gate.lock,
                                    &deadline);
    held_gate.notified = false;
    pthread_mutex_unlock(&held_gate.lock);
    return rc == 0 ? 0 : -1;
}

/* Lets the held response go, from the calling thread. */
static void
release_held(void)
{
    held_gate.done(held_gate.arg);
}

static int
held_finished(void)
{
    int finished;

    pthread_mutex_lock(&held_gate.lock);
    finished = held_gate.finished;
    pthread_mutex_unlock(&held_gate.lock);
    return finished;
}

/* Returns the fields of the request as JSON, so tests can check each
 * field of struct api_request. Some paths exercise the other response
 * kinds: /metrics (text), /broken (no status set), and /post-only and
 * /no-allow (405 with and without an Allow value). */
static void
echo_handler(void *ctx, const struct api_request *request,
             struct api_response *response)
{
    char cn[256] = "";

    (void)ctx;
    atomic_fetch_add(&handler_calls, 1);
    if (strcmp(request->path, "/metrics") == 0) {
        response->http_status = 200;
        response->text = strdup("hsm4ssl_requests_total 1\n");
        response->content_type = "text/plain; version=0.0.4";
        return;
    }
    if (strcmp(request->path, "/broken") == 0)
        return;
    if (strcmp(request->path, "/block") == 0)
        block_handler(request->query != NULL ? request->query : "");
    if (strcmp(request->path, "/held") == 0) {
        response->hold = (void *)"released";
        response->hold_ops = &held_ops;
        return;
    }
    if (strcmp(request->path, "/post-only") == 0 ||
        strcmp(request->path, "/no-allow") == 0) {
        response->http_status = 405;
        response->body = json_pack("{s:s}", "method", request->method);
        if (strcmp(request->path, "/post-only") == 0)
            response->allow = "POST";
        return;
    }
    if (request->peer_cert != NULL)
        X509_NAME_get_text_by_NID(X509_get_subject_name(request->peer_cert),
                                  NID_commonName, cn, sizeof(cn));
    response->http_status = 200;
    response->body = json_pack(
        "{s:s, s:s, s:s?, s:I, s:b, s:s, s:s?, s:s, s:s}",
        "method", request->method, "path", request->path,
        "query", request->query,
        "body_length", (json_int_t)request->body_len,
        "body_terminated", request->body[request->body_len] == '\0',
        "peer_cn", cn, "authorization", request->authorization,
        "peer_ip", request->peer_ip, "peer_mac", request->peer_mac);
}

struct running_server {
    struct api_server *server;
    SSL_CTX *ssl_ctx;
    pthread_t thread;
    int run_result;
    atomic_bool run_ended;
};

static struct identity server_id, client_ca, client_id, other_ca, other_id;
static struct running_server main_server;

/* /block?slow... runs on the slow lane. */
static bool
is_slow_block(void *ctx, const struct api_request *request)
{
    (void)ctx;
    return strcmp(request->path, "/block") == 0 && request->query != NULL &&
           strncmp(request->query, "slow", 4) == 0;
}

static void *
run_server(void *arg)
{
    struct running_server *rs = arg;

    rs->run_result = api_server_run(rs->server);
    atomic_store(&rs->run_ended, true);
    return NULL;
}

/* Starts a server; tuning, when not NULL, supplies the timeouts and
 * connection caps. */
static int
start_tuned_server(struct running_server *rs, const char *listen,
                   unsigned threads, const struct api_server_config *tuning)
{
    struct api_server_config cfg = {0};

    memset(rs, 0, sizeof(*rs));
    if (tuning != NULL) {
        cfg.header_timeout_ms = tuning->header_timeout_ms;
        cfg.body_timeout_ms = tuning->body_timeout_ms;
        cfg.max_connections_per_ip = tuning->max_connections_per_ip;
        cfg.max_connections = tuning->max_connections;
    }
    rs->ssl_ctx = api_tls_context_new(server_id.cert, NULL, server_id.key,
                                      client_ca.cert);
    if (rs->ssl_ctx == NULL)
        return -1;
    snprintf(cfg.listen, sizeof(cfg.listen), "%s", listen);
    cfg.ssl_ctx = rs->ssl_ctx;
    cfg.threads = threads;
    cfg.slow = is_slow_block;
    cfg.raw_path_prefix = "/raw/";
    if (api_server_new(&cfg, echo_handler, NULL, &rs->server) != 0)
        return -1;
    if (pthread_create(&rs->thread, NULL, run_server, rs) != 0)
        return -1;
    return 0;
}

static int
start_server(struct running_server *rs, const char *listen, unsigned threads)
{
    return start_tuned_server(rs, listen, threads, NULL);
}

/* Stops the server and waits at most five seconds for run to end.
 * Returns what api_server_run returned, or -2 when it did not end. */
static int
stop_server(struct running_server *rs)
{
    struct timespec deadline;
    int result;

    api_server_stop(rs->server);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    if (pthread_timedjoin_np(rs->thread, NULL, &deadline) != 0)
        return -2;
    result = rs->run_result;
    api_server_free(rs->server);
    SSL_CTX_free(rs->ssl_ctx);
    rs->server = NULL;
    rs->ssl_ctx = NULL;
    return result;
}

/* ---- a hand-written HTTPS client ---- */

struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

struct reply {
    int status;
    char head[8192];
    char *body;
    size_t body_len;
    json_t *json;
};

static SSL_CTX *
client_ctx_new(int min_version, int max_version, const struct identity *id)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    assert_non_null(ctx);
    if (min_version < TLS1_2_VERSION) {
        /* OpenSSL 3 disables TLS 1.1 above security level 0. */
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
    }
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, min_version), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx),
                                         server_id.cert), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (id != NULL) {
        assert_int_equal(SSL_CTX_use_certificate(ctx, id->cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(ctx, id->key), 1);
    }
    return ctx;
}

/* Connects to the server's port on loopback. source, when not NULL, is
 * the IPv4 loopback address to connect from. */
static int
tcp_connect_from(int family, int port, const char *source)
{
    struct sockaddr_storage addr = {0};
    struct timeval timeout = {10, 0};
    socklen_t len;
    int fd = socket(family, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (source != NULL) {
        struct sockaddr_in from = {0};

        from.sin_family = AF_INET;
        if (inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0) {
            close(fd);
            return -1;
        }
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        in6->sin6_addr = in6addr_loopback;
        len = sizeof(*in6);
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&addr;
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*in4);
    }
    if (connect(fd, (struct sockaddr *)&addr, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int
tcp_connect(int family, int port)
{
    return tcp_connect_from(family, port, NULL);
}

/* Connects and runs the handshake. Returns SSL_connect's result, and
 * the OpenSSL error queue keeps the reason of a failure. */
static int
client_open_at(struct client *c, int family, int port, int min_version,
               int max_version, const struct identity *id)
{
    memset(c, 0, sizeof(*c));
    c->fd = tcp_connect(family, port);
    assert_true(c->fd >= 0);
    c->ctx = client_ctx_new(min_version, max_version, id);
    c->ssl = SSL_new(c->ctx);
    assert_non_null(c->ssl);
    SSL_set_fd(c->ssl, c->fd);
    ERR_clear_error();
    return SSL_connect(c->ssl);
}

static int
client_open(struct client *c, int min_version, int max_version,
            const struct identity *id)
{
    return client_open_at(c, AF_INET, api_server_port(main_server.server),
                          min_version, max_version, id);
}

static void
client_close(struct client *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static int
client_write(struct client *c, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        int chunk = len > 65536 ? 65536 : (int)len;
        int n = SSL_write(c->ssl, p, chunk);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
client_send(struct client *c, const char *method, const char *target,
            const char *headers, const void *body, size_t body_len)
{
    char head[32768];

    snprintf(head, sizeof(head),
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Length: %zu\r\n%s\r\n",
             method, target, body_len, headers != NULL ? headers : "");
    if (client_write(c, head, strlen(head)) != 0)
        return -1;
    return body_len > 0 ? client_write(c, body, body_len) : 0;
}

static const char *
reply_header(const struct reply *r, const char *name, char *value,
             size_t size)
{
    size_t name_len = strlen(name);
    const char *line = strstr(r->head, "\r\n");

    while (line != NULL && line[2] != '\0') {
        line += 2;
        if (strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *start = line + name_len + 1;
            const char *end = strstr(start, "\r\n");
            while (*start == ' ')
                start++;
            snprintf(value, size, "%.*s", (int)(end - start), start);
            return value;
        }
        line = strstr(line, "\r\n");
    }
    return NULL;
}

/* Reads the head of one response byte by byte up to the blank line.
 * Returns 0, or -1 when the connection failed or closed first. */
static int
client_read_head(struct client *c, struct reply *r)
{
    size_t used = 0;

    memset(r, 0, sizeof(*r));
    while (used + 1 < sizeof(r->head)) {
        if (SSL_read(c->ssl, r->head + used, 1) != 1)
            return -1;
        used++;
        r->head[used] = '\0';
        if (used >= 4 && strcmp(r->head + used - 4, "\r\n\r\n") == 0)
            break;
    }
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
        return -1;
    return 0;
}

/* Reads one response: the head, then Content-Length bytes of body.
 * Returns 0, or -1 when the connection failed or closed first. */
static int
client_read_reply(struct client *c, struct reply *r)
{
    char length[32];

    if (client_read_head(c, r) != 0)
        return -1;
    if (reply_header(r, "Content-Length", length, sizeof(length)) != NULL)
        r->body_len = strtoul(length, NULL, 10);
    r->body = calloc(1, r->body_len + 1);
    assert_non_null(r->body);
    for (size_t got = 0; got < r->body_len;) {
        int n = SSL_read(c->ssl, r->body + got, (int)(r->body_len - got));
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    r->json = json_loads(r->body, 0, NULL);
    return 0;
}

static void
reply_free(struct reply *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* One request on a fresh TLS 1.3 connection without a client
 * certificate. */
static void
exchange(const char *method, const char *target, const char *headers,
         const void *body, size_t body_len, struct reply *r)
{
    struct client c;

    assert_int_equal(client_open(&c, TLS1_3_VERSION, TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&c, method, target, headers, body,
                                 body_len), 0);
    assert_int_equal(client_read_reply(&c, r), 0);
    client_close(&c);
}

static const char *
json_text(const struct reply *r, const char *key)
{
    return json_string_value(json_object_get(r->json, key));
}

static const char *
error_text(const struct reply *r, const char *key)
{
    json_t *error = json_object_get(r->json, "error");

    return json_string_value(json_object_get(error, key));
}

/* ---- group setup ---- */

static int
setup_server(void **state)
{
    (void)state;
    server_id.key = EVP_RSA_gen(2048);
    client_ca.key = EVP_EC_gen("P-256");
    client_id.key = EVP_EC_gen("P-256");
    other_ca.key = EVP_EC_gen("P-256");
    other_id.key = EVP_EC_gen("P-256");
    if (server_id.key == NULL || client_ca.key == NULL ||
        client_id.key == NULL || other_ca.key == NULL ||
        other_id.key == NULL)
        return -1;
    server_id.cert = issue(server_id.key, "localhost", NULL, false);
    client_ca.cert = issue(client_ca.key, "Test Client CA", NULL, true);
    client_id.cert = issue(client_id.key, "host1.example", &client_ca,
                           false);
    other_ca.cert = issue(other_ca.key, "Other CA", NULL, true);
    other_id.cert = issue(other_id.key, "intruder.example", &other_ca,
                          false);
    return start_server(&main_server, "127.0.0.1:0", 2);
}

static int
teardown_server(void **state)
{
    int result = stop_server(&main_server);

    (void)state;

    identity_free(&server_id);
    identity_free(&client_ca);
    identity_free(&client_id);
    identity_free(&other_ca);
    identity_free(&other_id);
    return result == 0 ? 0 : -1;
}

/* ---- requests ---- */

/* Returns true when c has bytes to read within wait_ms. */
static bool
client_readable(struct client *c, int wait_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

    return SSL_pending(c->ssl) > 0 || poll(&pfd, 1, wait_ms) > 0;
}

static void
held_response_serves_others(void **state)
{
    struct running_server one;
    struct client held, other;
    struct reply r;
    int port, finished = held_finished();

    (void)state;
    assert_int_equal(start_server(&one, "127.0.0.1:0", 1), 0);
    port = api_server_port(one.server);
    /* TLS 1.2, because TLS 1.3 session tickets arrive after the handshake
     * and would make the socket readable before any reply. */
    assert_int_equal(client_open_at(&held, AF_INET, port, TLS1_2_VERSION,
                                    TLS1_2_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&held, "POST", "/held", NULL, NULL, 0), 0);
    assert_int_equal(wait_held(), 0);

    /* The server's only worker serves another connection meanwhile. */
    assert_int_equal(client_open_at(&other, AF_INET, port, TLS1_2_VERSION,
                                    TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&other, "GET", "/v1/status", NULL, NULL, 0),
                     0);
    assert_int_equal(client_read_reply(&other, &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    client_close(&other);
    assert_false(client_readable(&held, 100));
    assert_int_equal(held_finished(), finished);

    release_held();
    assert_int_equal(client_read_reply(&held, &r), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_text(&r, "held"), "released");
    assert_int_equal(held_finished(), finished + 1);
    reply_free(&r);
    client_close(&held);
    assert_int_equal(stop_server(&one), 0);
}

/* Opens a TLS 1.2 connection to port and sends GET target on it. */
static void
open_and_send(struct client *c, int port, const char *target)
{
    assert_int_equal(client_open_at(c, AF_INET, port, TLS1_2_VERSION,
                                    TLS1_2_VERSION, NULL),
                     1);
    assert_int_equal(client_send(c, "GET", target, NULL, NULL, 0), 0);
}

/* Reads the next reply on c and returns its status, -1 when none came. */
static int
reply_status(struct client *c)
{
    struct reply r;
    int status;

    if (client_read_reply(c, &r) != 0)
        return -1;
    status = r.status;
    reply_free(&r);
    return status;
}

static void
queue_keeps_arrival_order(void **state)
{
    struct running_server one;
    struct client first, second, third;
    int port;

    (void)state;
    block_gate.handled_order[0] = '\0';
    assert_int_equal(start_server(&one, "127.0.0.1:0", 1), 0);
    port = api_server_port(one.server);
    open_and_send(&first, port, "/block?a");
    assert_int_equal(wait_blocked(), 0);
    /* The only handler thread is busy, so these two wait in the queue. */
    open_and_send(&second, port, "/block?b");
    usleep(100 * 1000);
    open_and_send(&third, port, "/block?c");
    usleep(100 * 1000);
    for (int i = 0; i < 3; i++)
        unblock_handler();
    assert_int_equal(reply_status(&first), 200);
    assert_int_equal(reply_status(&third), 200);
    assert_int_equal(reply_status(&second), 200);
    assert_string_equal(block_gate.handled_order, "abc");
    client_close(&first);
    client_close(&second);
    client_close(&third);
    assert_int_equal(stop_server(&one), 0);
}

static void
slow_calls_leave_handler_threads_free(void **state)
{
    struct running_server one;
    struct client slow1, slow2, quick;
    int port;

    (void)state;
    block_gate.handled_order[0] = '\0';
    /* One handler thread, so one thread on the slow lane too. */
    assert_int_equal(start_server(&one, "127.0.0.1:0", 1), 0);
    port = api_server_port(one.server);
    open_and_send(&slow1, port, "/block?slow1");
    assert_int_equal(wait_blocked(), 0);
    open_and_send(&slow2, port, "/block?slow2");
    usleep(200 * 1000);
    /* The second slow call waits for the slow lane's only thread. */
    assert_false(client_readable(&slow2, 100));
    assert_int_equal(blocked_now(), 1);

    /* The handler thread is free for other requests meanwhile. */
    assert_int_equal(client_open_at(&quick, AF_INET, port, TLS1_2_VERSION,
                                    TLS1_2_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&quick, "GET", "/v1/status", NULL, NULL, 0),
                     0);
    assert_int_equal(reply_status(&quick), 200);
    assert_false(client_readable(&slow1, 0));

    unblock_handler();
    assert_int_equal(reply_status(&slow1), 200);
    assert_int_equal(wait_blocked(), 0);
    unblock_handler();
    assert_int_equal(reply_status(&slow2), 200);
    assert_string_equal(block_gate.handled_order, "slow1slow2");
    client_close(&slow1);
    client_close(&slow2);
    client_close(&quick);
    assert_int_equal(stop_server(&one), 0);
}

static void
stop_refuses_queued_slow_calls(void **state)
{
    struct running_server one;
    struct client running, queued;
    int port;

    (void)state;
    block_gate.handled_order[0] = '\0';
    assert_int_equal(start_server(&one, "127.0.0.1:0", 1), 0);
    port = api_server_port(one.server);
    open_and_send(&running, port, "/block?slowA");
    assert_int_equal(wait_blocked(), 0);
    open_and_send(&queued, port, "/block?slowB");
    usleep(200 * 1000);
    api_server_stop(one.server);

    /* The queued slow call is rejected at once and never run, while the
     * running one still occupies the slow lane's only thread. */
    assert_int_equal(reply_status(&queued), 503);
    assert_false(client_readable(&running, 0));
    unblock_handler();
    assert_int_equal(reply_status(&running), 200);
    assert_string_equal(block_gate.handled_order, "slowA");
    client_close(&running);
    client_close(&queued);
    assert_int_equal(stop_server(&one), 0);
}

static void
stopping_server_refuses_new_requests(void **state)
{
    struct running_server one;
    struct client busy, late;
    struct reply r;
    int port;

    (void)state;
    assert_int_equal(start_server(&one, "127.0.0.1:0", 1), 0);
    port = api_server_port(one.server);
    open_and_send(&busy, port, "/block?s");
    assert_int_equal(wait_blocked(), 0);
    assert_int_equal(client_open_at(&late, AF_INET, port, TLS1_2_VERSION,
                                    TLS1_2_VERSION, NULL),
                     1);
    api_server_stop(one.server);
    usleep(200 * 1000);

    /* The worker waits for the busy request and refuses new ones. */
    assert_int_equal(client_send(&late, "GET", "/v1/status", NULL, NULL, 0),
                     0);
    assert_int_equal(client_read_reply(&late, &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(error_text(&r, "code"), "service_unavailable");
    reply_free(&r);
    unblock_handler();
    assert_int_equal(client_read_reply(&busy, &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    client_close(&busy);
    client_close(&late);
    assert_int_equal(stop_server(&one), 0);
}

static void *
release_held_later(void *arg)
{
    (void)arg;
    usleep(200 * 1000);
    release_held();
    return NULL;
}

static void
stop_sends_held_response(void **state)
{
    struct running_server one;
    struct client held;
    pthread_t releaser;
    struct reply r;

    (void)state;
    assert_int_equal(start_server(&one, "127.0.0.1:0", 1), 0);
    assert_int_equal(client_open_at(&held, AF_INET,
                                    api_server_port(one.server),
                                    TLS1_2_VERSION, TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&held, "POST", "/held", NULL, NULL, 0), 0);
    assert_int_equal(wait_held(), 0);
    assert_int_equal(pthread_create(&releaser, NULL, release_held_later,
                                    NULL),
                     0);
    /* The worker ends only after the released response is written. */
    assert_int_equal(stop_server(&one), 0);
    pthread_join(releaser, NULL);
    assert_int_equal(client_read_reply(&held, &r), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_text(&r, "held"), "released");
    reply_free(&r);
    client_close(&held);
}

static void
get_over_tls13(void **state)
{
    struct client c;
    struct reply r;
    char value[256];

    (void)state;
    assert_int_equal(client_open(&c, TLS1_2_VERSION, TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(SSL_version(c.ssl), TLS1_3_VERSION);
    assert_int_equal(client_send(&c, "GET", "/v1/status?limit=5", NULL,
                                 NULL, 0), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    assert_string_equal(json_text(&r, "method"), "GET");
    assert_string_equal(json_text(&r, "path"), "/v1/status");
    assert_string_equal(json_text(&r, "query"), "limit=5");
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "body_length")), 0);
    assert_true(json_is_true(json_object_get(r.json, "body_terminated")));
    assert_string_equal(json_text(&r, "peer_cn"), "");
    assert_string_equal(json_text(&r, "peer_ip"), "127.0.0.1");
    assert_string_equal(json_text(&r, "peer_mac"), "");
    assert_true(json_is_null(json_object_get(r.json, "authorization")));
    assert_non_null(reply_header(&r, "Content-Type", value, sizeof(value)));
    assert_string_equal(value, "application/json");
    assert_non_null(reply_header(&r, "Cache-Control", value, sizeof(value)));
    assert_string_equal(value, "no-store");
    reply_free(&r);
    client_close(&c);
}

static void
post_over_tls12(void **state)
{
    static const char body[] = "{\"label\": \"k1\"}";
    const char *cipher;
    struct client c;
    struct reply r;

    (void)state;
    assert_int_equal(client_open(&c, TLS1_2_VERSION, TLS1_2_VERSION, NULL),
                     1);
    assert_int_equal(SSL_version(c.ssl), TLS1_2_VERSION);
    cipher = SSL_get_cipher_name(c.ssl);
    assert_non_null(strstr(cipher, "ECDHE"));
    assert_true(strstr(cipher, "GCM") != NULL ||
                strstr(cipher, "CHACHA20") != NULL);
    assert_int_equal(client_send(&c, "POST", "/v1/keys", NULL, body,
                                 strlen(body)), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "method"), "POST");
    assert_string_equal(json_text(&r, "path"), "/v1/keys");
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "body_length")),
                     strlen(body));
    assert_true(json_is_true(json_object_get(r.json, "body_terminated")));
    reply_free(&r);
    client_close(&c);
}

static void
put_and_delete_get_405(void **state)
{
    int before = atomic_load(&handler_calls);
    char value[64];
    struct reply r;

    (void)state;
    exchange("PUT", "/v1/hosts/h1", NULL, "{}", 2, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(error_text(&r, "code"), "method_not_allowed");
    assert_non_null(strstr(error_text(&r, "message"), "method PUT"));
    assert_non_null(reply_header(&r, "Allow", value, sizeof(value)));
    assert_string_equal(value, "GET, HEAD, POST");
    reply_free(&r);
    exchange("DELETE", "/v1/hosts/h1", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(error_text(&r, "message"), "method DELETE"));
    reply_free(&r);
    assert_int_equal(atomic_load(&handler_calls), before);
}

/* HEAD reaches the handler as GET and gets GET's headers without the
 * body. The GET after it on the same connection reads correctly only if
 * no body bytes followed the HEAD response. */
static void
head_gets_headers_only(void **state)
{
    int before = atomic_load(&handler_calls);
    char get_length[32], head_length[32], value[64];
    struct client c;
    struct reply r;

    (void)state;
    assert_int_equal(client_open(&c, TLS1_3_VERSION, TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&c, "GET", "/v1/ca", NULL, NULL, 0), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(reply_header(&r, "Content-Length", get_length,
                                 sizeof(get_length)));
    reply_free(&r);

    assert_int_equal(client_send(&c, "HEAD", "/v1/ca", NULL, NULL, 0), 0);
    assert_int_equal(client_read_head(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(reply_header(&r, "Content-Length", head_length,
                                 sizeof(head_length)));
    assert_string_equal(head_length, get_length);
    assert_non_null(reply_header(&r, "Content-Type", value, sizeof(value)));
    assert_string_equal(value, "application/json");
    reply_free(&r);

    assert_int_equal(client_send(&c, "GET", "/after-head", NULL, NULL, 0),
                     0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "path"), "/after-head");
    reply_free(&r);
    client_close(&c);
    assert_int_equal(atomic_load(&handler_calls), before + 3);
}

static void
handler_405_sends_allow(void **state)
{
    char value[64];
    struct reply r;

    (void)state;
    exchange("GET", "/post-only", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    assert_non_null(reply_header(&r, "Allow", value, sizeof(value)));
    assert_string_equal(value, "POST");
    reply_free(&r);
    exchange("GET", "/no-allow", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    assert_non_null(reply_header(&r, "Allow", value, sizeof(value)));
    assert_string_equal(value, "GET, HEAD, POST");
    reply_free(&r);
}

static void
duplicate_slashes_merged(void **state)
{
    static const struct {
        const char *target, *path, *query;
    } cases[] = {
        {"//v1/ca", "/v1/ca", NULL},
        {"///v1/ca?x=1", "/v1/ca", "x=1"},
        {"/v1//certificates///AB", "/v1/certificates/AB", NULL},
        {"//", "/", NULL},
    };
    struct reply r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        exchange("GET", cases[i].target, NULL, NULL, 0, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_text(&r, "path"), cases[i].path);
        if (cases[i].query != NULL)
            assert_string_equal(json_text(&r, "query"), cases[i].query);
        else
            assert_null(json_text(&r, "query"));
        reply_free(&r);
    }
}

/* Sends text on a plain TCP connection and reads until the server
 * closes it. Returns the text read, to free. */
static char *
plain_exchange(const char *text)
{
    size_t size = 16384, used = 0;
    char *got = calloc(1, size);
    int fd = tcp_connect(AF_INET, api_server_port(main_server.server));
    ssize_t n;

    assert_non_null(got);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    while (used + 1 < size &&
           (n = recv(fd, got + used, size - used - 1, 0)) > 0)
        used += (size_t)n;
    got[used] = '\0';
    close(fd);
    return got;
}

static void
plain_http_gets_json_400(void **state)
{
    static const char *const requests[] = {
        "GET /v1/ca HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "POST /v1/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Length: 2\r\n\r\n{}",
    };
    int before = atomic_load(&handler_calls);

    (void)state;
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        char *got = plain_exchange(requests[i]);
        struct reply r = {0};
        const char *body = strstr(got, "\r\n\r\n");
        char value[64];

        assert_int_equal(strncmp(got, "HTTP/1.1 400 ", 13), 0);
        assert_non_null(body);
        snprintf(r.head, sizeof(r.head), "%.*s", (int)(body + 4 - got), got);
        assert_non_null(reply_header(&r, "Content-Type", value,
                                     sizeof(value)));
        assert_string_equal(value, "application/json");
        assert_non_null(reply_header(&r, "Connection", value,
                                     sizeof(value)));
        assert_string_equal(value, "close");
        r.json = json_loads(body + 4, 0, NULL);
        assert_non_null(r.json);
        assert_string_equal(error_text(&r, "code"), "invalid_field");
        assert_non_null(strstr(error_text(&r, "message"), "https://"));
        reply_free(&r);
        free(got);
    }
    assert_int_equal(atomic_load(&handler_calls), before);
}

static void
tls11_client_rejected(void **state)
{
    struct client c;
    int before = atomic_load(&handler_calls);

    (void)state;
    assert_true(client_open(&c, TLS1_1_VERSION, TLS1_1_VERSION, NULL) <= 0);
    /* The server's alert, not a local refusal of the client. */
    assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()),
                     SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
    ERR_clear_error();
    client_close(&c);
    assert_int_equal(atomic_load(&handler_calls), before);
}

static void
body_at_limit_accepted(void **state)
{
    char *body = malloc(MIB);
    struct reply r;

    (void)state;
    assert_non_null(body);
    memset(body, 'a', MIB);
    exchange("POST", "/v1/blob", NULL, body, MIB, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "body_length")),
                     MIB);
    reply_free(&r);
    free(body);
}

static void
body_over_limit_gets_json_413(void **state)
{
    char *body = malloc(MIB + 1);
    int before = atomic_load(&handler_calls);
    char value[256];
    struct reply r;

    (void)state;
    assert_non_null(body);
    memset(body, 'a', MIB + 1);
    exchange("POST", "/v1/blob", NULL, body, MIB + 1, &r);
    assert_int_equal(r.status, 413);
    assert_non_null(r.json);
    assert_string_equal(error_text(&r, "code"), "body_too_large");
    assert_string_equal(error_text(&r, "message"),
                        "request body exceeds 1048576 bytes; send a "
                        "smaller body");
    assert_string_equal(error_text(&r, "field"), "");
    assert_non_null(reply_header(&r, "Content-Type", value, sizeof(value)));
    assert_string_equal(value, "application/json");
    assert_int_equal(atomic_load(&handler_calls), before);
    reply_free(&r);
    free(body);
}

/* Past twice the limit libevent sends its own 413 response. */
static void
body_far_over_limit_gets_413(void **state)
{
    size_t len = 3 * MIB;
    char *body = malloc(len);
    int before = atomic_load(&handler_calls);
    char value[64];
    struct reply r;

    (void)state;
    assert_non_null(body);
    memset(body, 'a', len);
    exchange("POST", "/v1/blob", NULL, body, len, &r);
    assert_int_equal(r.status, 413);
    assert_non_null(reply_header(&r, "Connection", value, sizeof(value)));
    assert_string_equal(value, "close");
    assert_int_equal(atomic_load(&handler_calls), before);
    reply_free(&r);
    free(body);
}

static void
chunked_body_read(void **state)
{
    static const char request[] =
        "POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "5\r\n{\"a\":\r\n3\r\n12}\r\n0\r\n\r\n";
    struct client c;
    struct reply r;

    (void)state;
    assert_int_equal(client_open(&c, TLS1_3_VERSION, TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(client_write(&c, request, strlen(request)), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "body_length")), 8);
    reply_free(&r);
    client_close(&c);
}

static void
dot_dot_path_rejected(void **state)
{
    static const char *const targets[] = {
        "/v1/../etc/passwd", "/v1/%2e%2e/keys", "/v1/certs/..",
    };
    int before = atomic_load(&handler_calls);
    struct reply r;

    (void)state;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        exchange("GET", targets[i], NULL, NULL, 0, &r);
        assert_int_equal(r.status, 400);
        assert_string_equal(error_text(&r, "code"), "invalid_field");
        assert_string_equal(error_text(&r, "field"), "path");
        assert_non_null(strstr(error_text(&r, "message"), "\"..\""));
        reply_free(&r);
    }
    assert_int_equal(atomic_load(&handler_calls), before);
}

static void
encoded_slash_rejected(void **state)
{
    int before = atomic_load(&handler_calls);
    struct reply r;

    (void)state;
    exchange("GET", "/v1/certs/a%2Fb", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_text(&r, "code"), "invalid_field");
    assert_non_null(strstr(error_text(&r, "message"), "%2F"));
    reply_free(&r);
    exchange("GET", "/v1/certs/a%2fb", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
    exchange("GET", "/v1/certs/a%00b", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_text(&r, "field"), "path");
    reply_free(&r);
    assert_int_equal(atomic_load(&handler_calls), before);
}

/* Binary bodies, such as DER OCSP requests, reach the handler whole;
 * the JSON routes reject a NUL themselves (routes.c). */
static void
nul_in_body_passed_whole(void **state)
{
    static const char body[] = "\x30\x03\x0a\x01\x00 tail";
    int before = atomic_load(&handler_calls);
    struct reply r;

    (void)state;
    exchange("POST", "/v1/binary", NULL, body, sizeof(body) - 1, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "body_length")),
                     sizeof(body) - 1);
    assert_true(json_is_true(json_object_get(r.json, "body_terminated")));
    assert_int_equal(atomic_load(&handler_calls), before + 1);
    reply_free(&r);
}

static void
raw_path_kept_as_sent(void **state)
{
    static const char *const targets[] = {
        "/raw/MEow%2FAB//cd+ef%3D",
        "/raw/a%20b",
    };
    struct reply r;

    (void)state;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        exchange("GET", targets[i], NULL, NULL, 0, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.json,
                                                              "path")),
                            targets[i]);
        reply_free(&r);
    }
    exchange("GET", "/raw/a/../b", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_text(&r, "field"), "path");
    reply_free(&r);
    /* Outside the prefix the encoded slash is still rejected. */
    exchange("GET", "/rawx/MEow%2FAB", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    reply_free(&r);
}

static void
method_not_allowed_gets_json_405(void **state)
{
    int before = atomic_load(&handler_calls);
    char value[64];
    struct reply r;

    (void)state;
    exchange("PATCH", "/v1/hosts/h1", NULL, "{}", 2, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(error_text(&r, "code"), "method_not_allowed");
    assert_non_null(reply_header(&r, "Allow", value, sizeof(value)));
    assert_string_equal(value, "GET, HEAD, POST");
    reply_free(&r);
    exchange("OPTIONS", "/v1/hosts", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    assert_int_equal(atomic_load(&handler_calls), before);
}

static void
oversized_headers_rejected(void **state)
{
    size_t len = 17 * 1024;
    char *headers = malloc(len + 32);
    int before = atomic_load(&handler_calls);
    struct reply r;

    (void)state;
    assert_non_null(headers);
    strcpy(headers, "X-Padding: ");
    memset(headers + strlen(headers), 'p', len);
    strcpy(headers + 11 + len, "\r\n");
    exchange("GET", "/v1/status", headers, NULL, 0, &r);
    assert_true(r.status >= 400 && r.status < 500);
    assert_int_equal(atomic_load(&handler_calls), before);
    reply_free(&r);
    free(headers);
}

static void
authorization_reaches_handler(void **state)
{
    struct reply r;

    (void)state;
    exchange("GET", "/v1/status", "Authorization: Bearer t0ken\r\n", NULL,
             0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "authorization"), "Bearer t0ken");
    reply_free(&r);
}

static void
text_response_keeps_content_type(void **state)
{
    char value[128];
    struct reply r;

    (void)state;
    exchange("GET", "/metrics", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hsm4ssl_requests_total 1\n");
    assert_non_null(reply_header(&r, "Content-Type", value, sizeof(value)));
    assert_string_equal(value, "text/plain; version=0.0.4");
    assert_non_null(reply_header(&r, "Cache-Control", value, sizeof(value)));
    assert_string_equal(value, "no-store");
    reply_free(&r);
}

static void
missing_status_gets_500(void **state)
{
    struct reply r;

    (void)state;
    exchange("GET", "/broken", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(error_text(&r, "code"), "internal_error");
    reply_free(&r);
}

static void
keep_alive_serves_two_requests(void **state)
{
    int before = atomic_load(&handler_calls);
    struct client c;
    struct reply r;
    char value[64];

    (void)state;
    assert_int_equal(client_open(&c, TLS1_3_VERSION, TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&c, "GET", "/first", NULL, NULL, 0), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "path"), "/first");
    assert_null(reply_header(&r, "Connection", value, sizeof(value)));
    reply_free(&r);
    assert_int_equal(client_send(&c, "POST", "/second", NULL, "{}", 2), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "path"), "/second");
    reply_free(&r);
    client_close(&c);
    assert_int_equal(atomic_load(&handler_calls), before + 2);
}

static void
many_connections_at_once(void **state)
{
    enum { COUNT = 32 };
    struct client clients[COUNT];
    struct reply r;
    char target[32];

    (void)state;
    for (int i = 0; i < COUNT; i++)
        assert_int_equal(client_open(&clients[i], TLS1_3_VERSION,
                                     TLS1_3_VERSION, NULL), 1);
    for (int i = 0; i < COUNT; i++) {
        snprintf(target, sizeof(target), "/conn/%d", i);
        assert_int_equal(client_send(&clients[i], "GET", target, NULL, NULL,
                                     0), 0);
    }
    for (int i = 0; i < COUNT; i++) {
        snprintf(target, sizeof(target), "/conn/%d", i);
        assert_int_equal(client_read_reply(&clients[i], &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_text(&r, "path"), target);
        reply_free(&r);
        client_close(&clients[i]);
    }
}

/* ---- client certificates ---- */

static void
client_cert_reaches_handler(void **state)
{
    static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    struct client c;
    struct reply r;

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(client_open(&c, versions[i], versions[i],
                                     &client_id), 1);
        assert_int_equal(client_send(&c, "GET", "/v1/whoami", NULL, NULL,
                                     0), 0);
        assert_int_equal(client_read_reply(&c, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_text(&r, "peer_cn"), "host1.example");
        reply_free(&r);
        client_close(&c);
    }
}

/* Reads what the server wrote to stderr while fn ran with DEBUG logs,
 * waiting up to two seconds for a line that contains expected. */
static char *
capture_stderr(void (*fn)(void), const char *expected)
{
    char path[] = "/tmp/test_http_server_log_XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    char *text = calloc(1, 65536);
    ssize_t n = 0;

    assert_true(fd >= 0);
    assert_true(saved >= 0);
    assert_non_null(text);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    log_set_level(LOG_LEVEL_DEBUG);
    fn();
    for (int i = 0; i < 40 && strstr(text, expected) == NULL; i++) {
        usleep(50000);
        n = pread(fd, text, 65535, 0);
        text[n > 0 ? n : 0] = '\0';
    }
    log_set_level(LOG_LEVEL_INFO);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    unlink(path);
    return text;
}

/* Sleeps into the next second of CLOCK_MONOTONIC, so that the next
 * connection error is not dropped by the once-per-second log limit
 * after another test's message. */
static void
wait_for_log_limit(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    usleep((useconds_t)((1000000000L - now.tv_nsec) / 1000 + 10000));
}

static void
connect_with_other_ca_tls12(void)
{
    struct client c;

    assert_true(client_open(&c, TLS1_2_VERSION, TLS1_2_VERSION, &other_id)
                <= 0);
    assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()),
                     SSL_R_TLSV1_ALERT_UNKNOWN_CA);
    ERR_clear_error();
    client_close(&c);
}

static void
client_cert_from_other_ca_fails(void **state)
{
    int before = atomic_load(&handler_calls);
    struct client c;
    struct reply r;
    char *log_text;

    (void)state;
    log_text = capture_stderr(connect_with_other_ca_tls12, "handshake");
    assert_non_null(strstr(log_text, "TLS handshake with 127.0.0.1 failed"));
    assert_non_null(strstr(log_text, "unknown CA"));
    free(log_text);

    /* In TLS 1.3 the client finishes the handshake first and gets the
     * alert when it reads the response. */
    assert_int_equal(client_open(&c, TLS1_3_VERSION, TLS1_3_VERSION,
                                 &other_id), 1);
    client_send(&c, "GET", "/v1/whoami", NULL, NULL, 0);
    assert_int_equal(client_read_reply(&c, &r), -1);
    assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()),
                     SSL_R_TLSV1_ALERT_UNKNOWN_CA);
    ERR_clear_error();
    reply_free(&r);
    client_close(&c);
    assert_int_equal(atomic_load(&handler_calls), before);
}

static long long
elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000LL +
           (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* A server with one worker, so that the worker whose accept() failed is
 * the only one that could take the connection. With more workers, one
 * that wakes up after the descriptors are free accepts at once. */
static struct running_server one_worker_server;

/* Waits up to max_ms for text in what capture_stderr has captured so
 * far. It opens no descriptor, so it works while none is free. */
static bool
stderr_shows(const char *text, int max_ms)
{
    static char captured[65536];
    ssize_t n;

    for (int waited = 0; waited <= max_ms; waited += 10) {
        fflush(stderr);
        n = pread(STDERR_FILENO, captured, sizeof(captured) - 1, 0);
        captured[n > 0 ? n : 0] = '\0';
        if (strstr(captured, text) != NULL)
            return true;
        usleep(10000);
    }
    return false;
}

/* Connects while the process has no free descriptor, so the server's
 * accept() fails with EMFILE. Then frees the descriptors and finishes
 * the request, which succeeds only after the listener resumed. */
static void
connect_while_out_of_fds(void)
{
    struct rlimit saved, low;
    struct timespec start;
    static int fds[256];
    bool paused;
    int count = 0;
    struct client c;
    struct reply r;

    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (count < 256 && (fds[count] = open("/dev/null", O_RDONLY)) >= 0)
        count++;
    assert_int_equal(errno, EMFILE);
    assert_true(count > 0);
    close(fds[--count]);
    memset(&c, 0, sizeof(c));
    c.fd = tcp_connect(AF_INET, api_server_port(one_worker_server.server));
    assert_true(c.fd >= 0);
    /* Waiting for the failure, not a fixed time: on a loaded machine
     * the worker may try to accept only after the descriptors are
     * free. */
    paused = stderr_shows("pausing new connections", 5000);
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (count > 0)
        close(fds[--count]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_true(paused);

    c.ctx = client_ctx_new(TLS1_3_VERSION, TLS1_3_VERSION, NULL);
    c.ssl = SSL_new(c.ctx);
    assert_non_null(c.ssl);
    SSL_set_fd(c.ssl, c.fd);
    assert_int_equal(SSL_connect(c.ssl), 1);
    /* The listener stays off for 500 ms after the failure, and the
     * failure was seen at most about 10 ms after it was logged. */
    assert_true(elapsed_ms(&start) >= 250);
    assert_int_equal(client_send(&c, "GET", "/after-emfile", NULL, NULL, 0),
                     0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    client_close(&c);
}

static void
accept_pauses_when_out_of_fds(void **state)
{
    char *log_text;

    (void)state;
    assert_int_equal(start_server(&one_worker_server, "127.0.0.1:0", 1), 0);
    wait_for_log_limit();
    log_text = capture_stderr(connect_while_out_of_fds,
                              "pausing new connections");
    assert_int_equal(stop_server(&one_worker_server), 0);
    assert_non_null(strstr(log_text, "Too many open files"));
    free(log_text);
}

/* ---- slow clients ---- */

/* Deadlines of the server in these tests, and how often a slow client
 * sends its next byte. */
#define TEST_HEADER_TIMEOUT_MS 1000
#define TEST_BODY_TIMEOUT_MS 2000
#define DRIP_MS 250

static struct running_server slow_server;

static void
start_slow_server(void)
{
    struct api_server_config tuning = {0};

    tuning.header_timeout_ms = TEST_HEADER_TIMEOUT_MS;
    tuning.body_timeout_ms = TEST_BODY_TIMEOUT_MS;
    assert_int_equal(start_tuned_server(&slow_server, "127.0.0.1:0", 2,
                                        &tuning), 0);
}

/* Returns true when the server closed the connection within wait_ms.
 * Data from the server fails the test, since no response is expected. */
static bool
closed_within(struct client *c, int wait_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char byte;
    int n;

    if (poll(&pfd, 1, wait_ms) == 0)
        return false;
    if (c->ssl == NULL)
        n = (int)recv(c->fd, &byte, 1, 0);
    else
        n = SSL_read(c->ssl, &byte, 1);
    assert_true(n <= 0);
    ERR_clear_error();
    return true;
}

/* Sends data one byte every DRIP_MS, over TLS when c has an SSL, until
 * the server closes the connection, then waits up to max_ms from the
 * first byte. Returns the milliseconds from the first byte to the
 * close, or -1 when the connection stayed open. */
static long long
drip_until_closed(struct client *c, const char *data, size_t len,
                  long long max_ms)
{
    struct timespec start;
    bool closed = false;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t i = 0; i < len && !closed; i++) {
        int sent = c->ssl != NULL
                       ? SSL_write(c->ssl, data + i, 1)
                       : (int)send(c->fd, data + i, 1, MSG_NOSIGNAL);

        if (sent != 1) {
            ERR_clear_error();
            closed = true;
            break;
        }
        closed = closed_within(c, DRIP_MS);
        if (elapsed_ms(&start) > max_ms)
            break;
    }
    while (!closed && elapsed_ms(&start) < max_ms)
        closed = closed_within(c, DRIP_MS);
    return closed ? elapsed_ms(&start) : -1;
}

static long long header_close_ms;

static void
drip_headers(void)
{
    static const char request[] =
        "GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: b\r\n"
        "X-b: c\r\nX-c: d\r\nX-d: e\r\n\r\n";
    struct client c;

    assert_int_equal(client_open_at(&c, AF_INET,
                                    api_server_port(slow_server.server),
                                    TLS1_2_VERSION, TLS1_2_VERSION, NULL),
                     1);
    header_close_ms = drip_until_closed(&c, request, strlen(request), 5000);
    client_close(&c);
}

static void
slow_headers_closed(void **state)
{
    int before = atomic_load(&handler_calls);
    char *log_text;

    (void)state;
    start_slow_server();
    wait_for_log_limit();
    log_text = capture_stderr(drip_headers, "timed out");
    assert_int_equal(stop_server(&slow_server), 0);
    /* Each byte came well within the 30 s idle timeout, so only the
     * header deadline can have closed the connection. */
    assert_true(header_close_ms >= TEST_HEADER_TIMEOUT_MS - 50);
    assert_true(header_close_ms <= TEST_HEADER_TIMEOUT_MS + 1000);
    assert_non_null(strstr(log_text, "request headers from 127.0.0.1 timed "
                                     "out after 1000 ms"));
    free(log_text);
    assert_int_equal(atomic_load(&handler_calls), before);
}

static void
slow_body_closed(void **state)
{
    static const char head[] =
        "POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Length: 100\r\n\r\n";
    static const char body[100] = "{\"label\": \"slow\"";
    int before = atomic_load(&handler_calls);
    struct client c;
    long long closed_ms;

    (void)state;
    start_slow_server();
    assert_int_equal(client_open_at(&c, AF_INET,
                                    api_server_port(slow_server.server),
                                    TLS1_2_VERSION, TLS1_2_VERSION, NULL),
                     1);
    assert_int_equal(client_write(&c, head, strlen(head)), 0);
    closed_ms = drip_until_closed(&c, body, sizeof(body), 6000);
    client_close(&c);
    assert_int_equal(stop_server(&slow_server), 0);
    /* The body deadline is longer than the header deadline, so the
     * connection outlived the latter. */
    assert_true(closed_ms >= TEST_BODY_TIMEOUT_MS - 50);
    assert_true(closed_ms <= TEST_BODY_TIMEOUT_MS + 1000);
    assert_int_equal(atomic_load(&handler_calls), before);
}

/* Writes the ClientHello of a fresh TLS client to hello and returns its
 * length. */
static size_t
make_client_hello(char *hello, size_t size)
{
    SSL_CTX *ctx = client_ctx_new(TLS1_2_VERSION, TLS1_3_VERSION, NULL);
    SSL *ssl = SSL_new(ctx);
    BIO *in = BIO_new(BIO_s_mem());
    BIO *out = BIO_new(BIO_s_mem());
    int len;

    assert_non_null(ssl);
    assert_non_null(in);
    assert_non_null(out);
    SSL_set_bio(ssl, in, out);
    assert_int_equal(SSL_connect(ssl), -1);
    assert_int_equal(SSL_get_error(ssl, -1), SSL_ERROR_WANT_READ);
    len = BIO_read(out, hello, (int)size);
    assert_true(len > 0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return (size_t)len;
}

static void
slow_handshake_closed(void **state)
{
    char hello[4096];
    size_t len = make_client_hello(hello, sizeof(hello));
    struct client c = {0};
    long long closed_ms;

    (void)state;
    start_slow_server();
    c.fd = tcp_connect(AF_INET, api_server_port(slow_server.server));
    assert_true(c.fd >= 0);
    closed_ms = drip_until_closed(&c, hello, len, 5000);
    close(c.fd);
    assert_int_equal(stop_server(&slow_server), 0);
    assert_true(closed_ms >= TEST_HEADER_TIMEOUT_MS - 50);
    assert_true(closed_ms <= TEST_HEADER_TIMEOUT_MS + 1000);
}

/* The deadlines count from a request's first byte, so connections may
 * rest longer than them before the first request and between
 * requests. */
static void
idle_outlives_deadlines(void **state)
{
    struct client c;
    struct reply r;

    (void)state;
    start_slow_server();
    assert_int_equal(client_open_at(&c, AF_INET,
                                    api_server_port(slow_server.server),
                                    TLS1_2_VERSION, TLS1_2_VERSION, NULL),
                     1);
    assert_false(closed_within(&c, TEST_BODY_TIMEOUT_MS + 500));
    assert_int_equal(client_send(&c, "GET", "/first", NULL, NULL, 0), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_false(closed_within(&c, TEST_BODY_TIMEOUT_MS + 500));
    assert_int_equal(client_send(&c, "POST", "/second", NULL, "{}", 2), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "path"), "/second");
    reply_free(&r);
    client_close(&c);
    assert_int_equal(stop_server(&slow_server), 0);
}

/* Two requests in one write, and then the start of a third that never
 * ends: the first two are served, and the header deadline of the third
 * closes the connection. */
static void
pipelined_requests_keep_deadlines(void **state)
{
    static const char requests[] =
        "GET /one HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        "POST /two HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
        "\r\n{}"
        "GET /three HTTP/1.1\r\nHost: 12";
    struct timespec start;
    struct client c;
    struct reply r;
    long long closed_ms;

    (void)state;
    start_slow_server();
    assert_int_equal(client_open_at(&c, AF_INET,
                                    api_server_port(slow_server.server),
                                    TLS1_2_VERSION, TLS1_2_VERSION, NULL),
                     1);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(client_write(&c, requests, strlen(requests)), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_string_equal(json_text(&r, "path"), "/one");
    reply_free(&r);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_string_equal(json_text(&r, "path"), "/two");
    reply_free(&r);
    assert_true(closed_within(&c, TEST_HEADER_TIMEOUT_MS + 1000));
    closed_ms = elapsed_ms(&start);
    assert_true(closed_ms >= TEST_HEADER_TIMEOUT_MS - 50);
    client_close(&c);
    assert_int_equal(stop_server(&slow_server), 0);
}

/* A complete request pipelined behind one whose handler runs longer than
 * the header deadline is still served: its deadline starts when the
 * reply before it is sent. */
static void
pipelined_request_waits_for_slow_handler(void **state)
{
    static const char requests[] =
        "GET /block?p HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        "GET /two HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    struct client c;
    struct reply r;

    (void)state;
    block_gate.handled_order[0] = '\0';
    start_slow_server();
    assert_int_equal(client_open_at(&c, AF_INET,
                                    api_server_port(slow_server.server),
                                    TLS1_2_VERSION, TLS1_2_VERSION, NULL),
                     1);
    assert_int_equal(client_write(&c, requests, strlen(requests)), 0);
    assert_int_equal(wait_blocked(), 0);
    /* Longer than both deadlines and a sweep of them. */
    usleep((TEST_BODY_TIMEOUT_MS + 1000) * 1000);
    unblock_handler();
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "path"), "/block");
    reply_free(&r);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "path"), "/two");
    reply_free(&r);
    client_close(&c);
    assert_int_equal(stop_server(&slow_server), 0);
}

/* ---- connection caps ---- */

#define TEST_MAX_PER_IP 3
#define TEST_MAX_TOTAL 4

static struct running_server capped_server;

static void
start_capped_server(void)
{
    struct api_server_config tuning = {0};

    tuning.max_connections_per_ip = TEST_MAX_PER_IP;
    tuning.max_connections = TEST_MAX_TOTAL;
    assert_int_equal(start_tuned_server(&capped_server, "127.0.0.1:0", 2,
                                        &tuning), 0);
}

/* Connects from source (NULL: 127.0.0.1) and runs the handshake.
 * Returns SSL_connect's result, or -2 when the source address cannot
 * be used. */
static int
capped_open(struct client *c, const char *source)
{
    memset(c, 0, sizeof(*c));
    c->fd = tcp_connect_from(AF_INET, api_server_port(capped_server.server),
                             source);
    if (c->fd < 0)
        return -2;
    c->ctx = client_ctx_new(TLS1_3_VERSION, TLS1_3_VERSION, NULL);
    c->ssl = SSL_new(c->ctx);
    assert_non_null(c->ssl);
    SSL_set_fd(c->ssl, c->fd);
    ERR_clear_error();
    return SSL_connect(c->ssl);
}

static void
get_on(struct client *c, const char *target)
{
    struct reply r;

    assert_int_equal(client_send(c, "GET", target, NULL, NULL, 0), 0);
    assert_int_equal(client_read_reply(c, &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

/* Opens a connection from 127.0.0.1 again and again until the server,
 * which frees closed connections in its own time, accepts it. */
static void
reopen_after_close(struct client *c)
{
    for (int i = 0; i < 40; i++) {
        if (capped_open(c, NULL) == 1)
            return;
        client_close(c);
        ERR_clear_error();
        usleep(50000);
    }
    fail_msg("the server still rejects connections after one closed");
}

static struct client capped_clients[TEST_MAX_PER_IP];
static int over_cap_result;

static void
connect_over_cap(void)
{
    struct client extra;

    for (int i = 0; i < TEST_MAX_PER_IP; i++) {
        assert_int_equal(capped_open(&capped_clients[i], NULL), 1);
        get_on(&capped_clients[i], "/capped");
    }
    over_cap_result = capped_open(&extra, NULL);
    ERR_clear_error();
    client_close(&extra);
}

static void
connections_capped_per_address(void **state)
{
    struct timespec start;
    struct client c;
    char *log_text;

    (void)state;
    start_capped_server();
    wait_for_log_limit();
    clock_gettime(CLOCK_MONOTONIC, &start);
    log_text = capture_stderr(connect_over_cap, "rejected a connection");
    /* Closed right after accept, not after the idle timeout. */
    assert_true(over_cap_result <= 0);
    assert_true(elapsed_ms(&start) < 5000);
    assert_non_null(strstr(log_text, "rejected a connection from "
                                     "127.0.0.1"));
    assert_non_null(strstr(log_text, "max_connections_per_ip"));
    free(log_text);

    /* A closed connection gives its place back. */
    client_close(&capped_clients[0]);
    reopen_after_close(&c);
    get_on(&c, "/after-close");
    client_close(&c);
    for (int i = 1; i < TEST_MAX_PER_IP; i++)
        client_close(&capped_clients[i]);
    assert_int_equal(stop_server(&capped_server), 0);
}

/* 127.0.0.2 is a second loopback address, so the total cap can be
 * reached with fewer connections per address than that address's cap. */
static void
connections_capped_in_total(void **state)
{
    struct client from_one[TEST_MAX_PER_IP], from_two[2];
    int rc;

    (void)state;
    start_capped_server();
    rc = capped_open(&from_two[0], "127.0.0.2");
    if (rc == -2) {
        assert_int_equal(stop_server(&capped_server), 0);
        skip(); /* 127.0.0.2 is not usable on this host */
    }
    assert_int_equal(rc, 1);
    get_on(&from_two[0], "/two");
    for (int i = 0; i < TEST_MAX_PER_IP; i++) {
        assert_int_equal(capped_open(&from_one[i], NULL), 1);
        get_on(&from_one[i], "/one");
    }
    /* 127.0.0.2 has one connection of its three, but the server has
     * TEST_MAX_TOTAL. */
    assert_true(capped_open(&from_two[1], "127.0.0.2") <= 0);
    ERR_clear_error();
    client_close(&from_two[1]);
    for (int i = 0; i < TEST_MAX_PER_IP; i++)
        client_close(&from_one[i]);
    client_close(&from_two[0]);
    assert_int_equal(stop_server(&capped_server), 0);
}

/* ---- lifecycle ---- */

static void
bad_listen_addresses_rejected(void **state)
{
    static const char *const addresses[] = {
        "localhost:8443", "127.0.0.1", "127.0.0.1:70000", "127.0.0.1:x",
        "::1:8443", "[::1]8443", ":8443", "[::1:8443", "300.1.1.1:80",
    };
    struct api_server_config cfg = {0};
    struct api_server *server;
    SSL_CTX *ctx = api_tls_context_new(server_id.cert, NULL, server_id.key,
                                       NULL);

    (void)state;
    assert_non_null(ctx);
    cfg.ssl_ctx = ctx;
    cfg.threads = 1;
    for (size_t i = 0; i < sizeof(addresses) / sizeof(addresses[0]); i++) {
        snprintf(cfg.listen, sizeof(cfg.listen), "%s", addresses[i]);
        server = (struct api_server *)&cfg; /* any non-NULL value */
        assert_int_equal(api_server_new(&cfg, echo_handler, NULL, &server),
                         -1);
        assert_null(server);
    }
    SSL_CTX_free(ctx);
}

static void
address_in_use_rejected(void **state)
{
    struct api_server_config cfg = {0};
    struct api_server *server = NULL;

    (void)state;
    snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:%d",
             api_server_port(main_server.server));
    cfg.ssl_ctx = main_server.ssl_ctx;
    cfg.threads = 1;
    assert_int_equal(api_server_new(&cfg, echo_handler, NULL, &server), -1);
    assert_null(server);
}

static void
key_not_matching_cert_rejected(void **state)
{
    (void)state;
    assert_null(api_tls_context_new(server_id.cert, NULL, client_id.key,
                                    client_ca.cert));
    ERR_clear_error();
}

static void
ipv6_loopback_served(void **state)
{
    struct running_server rs;
    struct client c;
    struct reply r;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);

    (void)state;
    if (probe < 0)
        skip();
    close(probe);
    if (start_server(&rs, "[::1]:0", 1) != 0)
        skip(); /* no ::1 on this host */
    assert_true(api_server_port(rs.server) > 0);
    assert_int_equal(client_open_at(&c, AF_INET6, api_server_port(rs.server),
                                    TLS1_3_VERSION, TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&c, "GET", "/v6", NULL, NULL, 0), 0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_text(&r, "peer_ip"), "::1");
    reply_free(&r);
    client_close(&c);
    assert_int_equal(stop_server(&rs), 0);
}

static void
stop_ends_run(void **state)
{
    struct running_server rs;
    struct reply r;
    struct client c;

    (void)state;
    assert_int_equal(start_server(&rs, "127.0.0.1:0", 0), 0);
    assert_true(api_server_port(rs.server) > 0);
    assert_int_equal(client_open_at(&c, AF_INET, api_server_port(rs.server),
                                    TLS1_3_VERSION, TLS1_3_VERSION, NULL),
                     1);
    assert_int_equal(client_send(&c, "GET", "/before-stop", NULL, NULL, 0),
                     0);
    assert_int_equal(client_read_reply(&c, &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    /* An idle keep-alive connection must not hold up the stop. */
    assert_false(atomic_load(&rs.run_ended));
    assert_int_equal(stop_server(&rs), 0);
    client_close(&c);
}

static void
stop_before_run_returns_at_once(void **state)
{
    struct api_server_config cfg = {0};
    struct api_server *server = NULL;
    SSL_CTX *ctx = api_tls_context_new(server_id.cert, NULL, server_id.key,
                                       NULL);

    (void)state;
    assert_non_null(ctx);
    snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
    cfg.ssl_ctx = ctx;
    cfg.threads = 3;
    assert_int_equal(api_server_new(&cfg, echo_handler, NULL, &server), 0);
    api_server_stop(server);
    assert_int_equal(api_server_run(server), 0);
    api_server_free(server);
    SSL_CTX_free(ctx);
}

/* ---- neighbour table ---- */

static char *
write_arp_table(const char *content)
{
    char *path = strdup("/tmp/test_http_server_arp_XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    close(fd);
    return path;
}

static void
peer_mac_lookup_reads_table(void **state)
{
    static const char table[] =
        "IP address       HW type     Flags       HW address            "
        "Mask     Device\n"
        "192.0.2.10       0x1         0x2         52:54:00:AB:cd:01     "
        "*        eth0\n"
        "192.0.2.11       0x1         0x0         00:00:00:00:00:00     "
        "*        eth0\n"
        "192.0.2.12       0x1         0x6         52:54:00:00:00:02     "
        "*        eth1\n";
    char *path = write_arp_table(table);
    char mac[ADCP_MAC_MAX];

    (void)state;
    assert_int_equal(api_peer_mac_lookup(path, "192.0.2.10", mac,
                                         sizeof(mac)), 0);
    assert_string_equal(mac, "52:54:00:ab:cd:01");
    assert_int_equal(api_peer_mac_lookup(path, "192.0.2.12", mac,
                                         sizeof(mac)), 0);
    assert_string_equal(mac, "52:54:00:00:00:02");
    /* An incomplete entry, an absent address, IPv6 and loopback. */
    assert_int_equal(api_peer_mac_lookup(path, "192.0.2.11", mac,
                                         sizeof(mac)), -1);
    assert_string_equal(mac, "");
    assert_int_equal(api_peer_mac_lookup(path, "192.0.2.99", mac,
                                         sizeof(mac)), -1);
    assert_int_equal(api_peer_mac_lookup(path, "::1", mac, sizeof(mac)), -1);
    assert_int_equal(api_peer_mac_lookup(path, "127.0.0.1", mac,
                                         sizeof(mac)), -1);
    assert_string_equal(mac, "");
    unlink(path);
    free(path);
}

static void
peer_mac_lookup_without_table(void **state)
{
    char mac[ADCP_MAC_MAX] = "x";

    (void)state;
    assert_int_equal(api_peer_mac_lookup("/nonexistent/arp", "192.0.2.10",
                                         mac, sizeof(mac)), -1);
    assert_string_equal(mac, "");
}

int
main(void)
{
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test(get_over_tls13),
        cmocka_unit_test(held_response_serves_others),
        cmocka_unit_test(stop_sends_held_response),
        cmocka_unit_test(queue_keeps_arrival_order),
        cmocka_unit_test(stopping_server_refuses_new_requests),
        cmocka_unit_test(post_over_tls12),
        cmocka_unit_test(put_and_delete_get_405),
        cmocka_unit_test(head_gets_headers_only),
        cmocka_unit_test(handler_405_sends_allow),
        cmocka_unit_test(duplicate_slashes_merged),
        cmocka_unit_test(plain_http_gets_json_400),
        cmocka_unit_test(tls11_client_rejected),
        cmocka_unit_test(body_at_limit_accepted),
        cmocka_unit_test(body_over_limit_gets_json_413),
        cmocka_unit_test(body_far_over_limit_gets_413),
        cmocka_unit_test(chunked_body_read),
        cmocka_unit_test(dot_dot_path_rejected),
        cmocka_unit_test(encoded_slash_rejected),
        cmocka_unit_test(nul_in_body_passed_whole),
        cmocka_unit_test(raw_path_kept_as_sent),
        cmocka_unit_test(method_not_allowed_gets_json_405),
        cmocka_unit_test(oversized_headers_rejected),
        cmocka_unit_test(authorization_reaches_handler),
        cmocka_unit_test(text_response_keeps_content_type),
        cmocka_unit_test(missing_status_gets_500),
        cmocka_unit_test(keep_alive_serves_two_requests),
        cmocka_unit_test(many_connections_at_once),
        cmocka_unit_test(client_cert_reaches_handler),
        cmocka_unit_test(client_cert_from_other_ca_fails),
        cmocka_unit_test(accept_pauses_when_out_of_fds),
        cmocka_unit_test(slow_headers_closed),
        cmocka_unit_test(slow_body_closed),
        cmocka_unit_test(slow_handshake_closed),
        cmocka_unit_test(idle_outlives_deadlines),
        cmocka_unit_test(pipelined_requests_keep_deadlines),
        cmocka_unit_test(pipelined_request_waits_for_slow_handler),
        cmocka_unit_test(connections_capped_per_address),
        cmocka_unit_test(connections_capped_in_total),
        cmocka_unit_test(bad_listen_addresses_rejected),
        cmocka_unit_test(address_in_use_rejected),
        cmocka_unit_test(key_not_matching_cert_rejected),
        cmocka_unit_test(ipv6_loopback_served),
        cmocka_unit_test(slow_calls_leave_handler_threads_free),
        cmocka_unit_test(stop_refuses_queued_slow_calls),
        cmocka_unit_test(stop_ends_run),
        cmocka_unit_test(stop_before_run_returns_at_once),
    };
    const struct CMUnitTest table_tests[] = {
        cmocka_unit_test(peer_mac_lookup_reads_table),
        cmocka_unit_test(peer_mac_lookup_without_table),
    };
    int failures;

    failures = cmocka_run_group_tests_name("http_server", server_tests,
                                           setup_server, teardown_server);
    failures += cmocka_run_group_tests_name("peer_mac", table_tests, NULL,
                                            NULL);
    return failures;
}
