/*
 * Connection caps and request deadlines of the HTTPS front end. evhttp
 * in libevent 2.1 times out single reads and writes only, so a client
 * that sends one byte at a time could hold a connection for as long as
 * it likes. Here each connection gets a deadline for its TLS handshake,
 * for the headers of each request and for each body, and the number of
 * open connections is capped per client address and in total.
 *
 * The state of a connection is ex_data of its SSL, so it is freed on
 * every path that frees the connection. Three callbacks move it along.
 * One on the socket BIO detects raw bytes after an idle period (a
 * handshake or a request starts), the TLS info callback reports the end
 * of the handshake, and one on the decrypted input finds the blank line
 * that ends the headers. The request handler reports the end of each
 * request, and one timer per worker closes the connections past their
 * deadline.
 */
#include "api/http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <openssl/bio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/hash.h"
#include "common/log.h"

/* Bounds of the deadline timer's period, a quarter of the shorter
 * timeout, so that a connection is closed at most a quarter late. */
#define SWEEP_MIN_MS 50
#define SWEEP_MAX_MS 1000

/* Bytes copied at once while looking for the end of the headers. */
#define SCAN_CHUNK 512

enum conn_phase {
    CONN_NEW,       /* accepted, not counted yet */
    CONN_IDLE,      /* before the handshake or between requests */
    CONN_HANDSHAKE, /* TLS handshake bytes arrived */
    CONN_HEADERS,   /* a request started; its headers are incomplete */
    CONN_BODY,      /* the headers are complete; the body is not */
    CONN_BUSY,      /* a request is read and its reply not yet sent */
    CONN_CLOSING,   /* rejected or too slow, and shut down */
};

/* Position of the header scanner relative to the last line feed. evhttp
 * ends a line at "\n" or "\r\n", so "\n\n" and "\n\r\n" end the
 * headers. */
enum header_scan {
    SCAN_IN_LINE,
    SCAN_AFTER_LF,
    SCAN_AFTER_LF_CR,
};

struct api_conn {
    struct api_worker *worker;
    struct api_conn *prev;
    struct api_conn *next;
    SSL *ssl;
    struct bufferevent *bev;        /* NULL until api_conn_watch_input */
    struct evbuffer_cb_entry *input_cb;
    enum conn_phase phase;
    enum header_scan scan;
    bool handshake_done;
    bool counted;                   /* counted in the limits */
    long long deadline_ms;          /* CLOCK_MONOTONIC */
    struct in6_addr peer;           /* IPv4 as an IPv4-mapped address */
    char peer_text[INET6_ADDRSTRLEN];
};

struct api_peer_count {
    struct api_peer_count *next;
    struct in6_addr addr;
    unsigned count;
};

static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int conn_index = -1;

static long long
now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- counts per client address ---- */

static size_t
peer_bucket(const struct in6_addr *addr)
{
    return hash_fnv1a(addr->s6_addr, sizeof(addr->s6_addr)) %
           API_PEER_BUCKETS;
}

int
api_conn_limits_init(struct api_conn_limits *limits, unsigned max_per_ip,
                     unsigned max_total)
{
    int rc;

    memset(limits, 0, sizeof(*limits));
    limits->max_per_ip = max_per_ip;
    limits->max_total = max_total;
    rc = pthread_mutex_init(&limits->lock, NULL);
    if (rc != 0) {
        log_error("creating the connection count lock failed: %s",
                  strerror(rc));
        return -1;
    }
    return 0;
}

void
api_conn_limits_free(struct api_conn_limits *limits)
{
    for (size_t i = 0; i < API_PEER_BUCKETS; i++) {
        struct api_peer_count *entry = limits->buckets[i];

        while (entry != NULL) {
            struct api_peer_count *next = entry->next;

            free(entry);
            entry = next;
        }
        limits->buckets[i] = NULL;
    }
    pthread_mutex_destroy(&limits->lock);
}

static struct api_peer_count *
find_peer_inlock(struct api_conn_limits *limits, const struct in6_addr *addr,
                 struct api_peer_count ***link)
{
    struct api_peer_count **at = &limits->buckets[peer_bucket(addr)];

    while (*at != NULL && memcmp(&(*at)->addr, addr, sizeof(*addr)) != 0)
        at = &(*at)->next;
    if (link != NULL)
        *link = at;
    return *at;
}

/* Takes a place for a connection from addr. Returns NULL, or the reason
 * the connection is rejected. */
static const char *
take_place(struct api_conn_limits *limits, const struct in6_addr *addr)
{
    struct api_peer_count **link;
    struct api_peer_count *entry;
    const char *reason = NULL;

    pthread_mutex_lock(&limits->lock);
    entry = find_peer_inlock(limits, addr, &link);
    if (limits->total >= limits->max_total) {
        reason = "the server has the maximum number of open connections "
                 "(max_connections)";
    } else if (entry != NULL && entry->count >= limits->max_per_ip) {
        reason = "this address has the maximum number of open connections "
                 "(max_connections_per_ip)";
    } else if (entry == NULL) {
        entry = calloc(1, sizeof(*entry));
        if (entry == NULL) {
            reason = "the server is out of memory";
        } else {
            entry->addr = *addr;
            *link = entry;
        }
    }
    if (reason == NULL) {
        entry->count++;
        limits->total++;
    }
    pthread_mutex_unlock(&limits->lock);
    return reason;
}

static void
release_place(struct api_conn_limits *limits, const struct in6_addr *addr)
{
    struct api_peer_count **link;
    struct api_peer_count *entry;

    pthread_mutex_lock(&limits->lock);
    entry = find_peer_inlock(limits, addr, &link);
    if (entry != NULL && --entry->count == 0) {
        *link = entry->next;
        free(entry);
    }
    if (limits->total > 0)
        limits->total--;
    pthread_mutex_unlock(&limits->lock);
}

/* ---- connection list and lifetime ---- */

static void
unlink_conn(struct api_conn *conn)
{
    struct api_worker *worker = conn->worker;

    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        worker->conns = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    conn->prev = conn->next = NULL;
    /* Without connections the deadline timer has nothing to do. */
    if (worker->conns == NULL && worker->sweep_event != NULL)
        event_del(worker->sweep_event);
}

/* The ex_data free callback: SSL_free runs it, in the worker's thread,
 * when libevent destroys the connection's bufferevent. The input buffer
 * may outlive the state by a moment, so its callback is removed here. */
static void
free_conn(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
          void *argp)
{
    struct api_conn *conn = ptr;
    BIO *rbio;

    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (conn == NULL)
        return;
    rbio = SSL_get_rbio(parent);
    if (rbio != NULL)
        BIO_set_callback_ex(rbio, NULL);
    if (conn->bev != NULL && conn->input_cb != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_input(conn->bev),
                                 conn->input_cb);
    unlink_conn(conn);
    if (conn->counted)
        release_place(&conn->worker->server->limits, &conn->peer);
    free(conn);
}

static void
create_index(void)
{
    conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_conn);
}

static struct api_conn *
conn_of(const SSL *ssl)
{
    if (ssl == NULL || conn_index < 0)
        return NULL;
    return SSL_get_ex_data(ssl, conn_index);
}

int
api_conn_attach(struct api_worker *worker, SSL *ssl)
{
    struct api_conn *conn;

    pthread_once(&index_once, create_index);
    if (conn_index < 0) {
        log_error("registering the connection state with OpenSSL failed");
        return -1;
    }
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        log_error("out of memory for the state of a new connection");
        return -1;
    }
    conn->worker = worker;
    conn->ssl = ssl;
    conn->phase = CONN_NEW;
    if (SSL_set_ex_data(ssl, conn_index, conn) != 1) {
        log_error("attaching the state of a new connection failed");
        free(conn);
        return -1;
    }
    /* New connections stay at the head of the list, so that the check
     * finds all uncounted ones before the first counted one. */
    conn->next = worker->conns;
    if (conn->next != NULL)
        conn->next->prev = conn;
    worker->conns = conn;
    /* evhttp sets the socket after this callback returns, so the count
     * waits for the check event, which runs before any read. */
    event_active(worker->check_event, EV_TIMEOUT, 0);
    return 0;
}

/* ---- phases and deadlines ---- */

static void
start_phase(struct api_conn *conn, enum conn_phase phase, unsigned timeout)
{
    conn->phase = phase;
    conn->deadline_ms = now_ms() + timeout;
}

static void
start_request(struct api_conn *conn)
{
    conn->scan = SCAN_IN_LINE;
    start_phase(conn, CONN_HEADERS, conn->worker->server->header_timeout_ms);
}

/* Feeds bytes to the header scanner. Returns true when they contain the
 * blank line that ends the headers. */
static bool
scan_reaches_blank_line(enum header_scan *scan, const unsigned char *bytes,
                        size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = bytes[i];

        if (c == '\n' && *scan != SCAN_IN_LINE)
            return true;
        if (c == '\n')
            *scan = SCAN_AFTER_LF;
        else if (c == '\r' && *scan == SCAN_AFTER_LF)
            *scan = SCAN_AFTER_LF_CR;
        else
            *scan = SCAN_IN_LINE;
    }
    return false;
}

/* Scans input from offset to its end; on the blank line the body phase
 * starts. */
static void
scan_input(struct api_conn *conn, struct evbuffer *input, size_t offset)
{
    size_t len = evbuffer_get_length(input);
    unsigned char chunk[SCAN_CHUNK];
    struct evbuffer_ptr pos;

    if (offset >= len ||
        evbuffer_ptr_set(input, &pos, offset, EVBUFFER_PTR_SET) != 0)
        return;
    while (offset < len) {
        size_t want = len - offset < sizeof(chunk) ? len - offset
                                                   : sizeof(chunk);
        ev_ssize_t got = evbuffer_copyout_from(input, &pos, chunk, want);

        if (got <= 0)
            return;
        if (scan_reaches_blank_line(&conn->scan, chunk, (size_t)got)) {
            start_phase(conn, CONN_BODY,
                        conn->worker->server->body_timeout_ms);
            return;
        }
        offset += (size_t)got;
        if (evbuffer_ptr_set(input, &pos, (size_t)got, EVBUFFER_PTR_ADD)
            != 0)
            return;
    }
}

/* The callback on the socket BIO: raw bytes after an idle period start
 * the handshake or the next request. */
static long
on_socket_read(BIO *bio, int oper, const char *argp, size_t len, int argi,
               long argl, int ret, size_t *processed)
{
    struct api_conn *conn;

    (void)argp;
    (void)len;
    (void)argi;
    (void)argl;
    /* Only reads touch the state; BIO_free calls this too, after the
     * state is gone. */
    if (oper != (BIO_CB_READ | BIO_CB_RETURN) || ret <= 0 ||
        processed == NULL || *processed == 0)
        return ret;
    conn = (struct api_conn *)BIO_get_callback_arg(bio);
    if (conn == NULL || conn->phase != CONN_IDLE)
        return ret;
    if (conn->handshake_done)
        start_request(conn);
    else
        start_phase(conn, CONN_HANDSHAKE,
                    conn->worker->server->header_timeout_ms);
    return ret;
}

/* The callback on the decrypted input; it runs when bytes are added,
 * before evhttp parses them. */
static void
on_input(struct evbuffer *input, const struct evbuffer_cb_info *info,
         void *arg)
{
    struct api_conn *conn = arg;

    if (info->n_added == 0)
        return;
    if (conn->phase == CONN_IDLE)
        start_request(conn);
    else if (conn->phase == CONN_HANDSHAKE)
        conn->phase = CONN_HEADERS; /* keeps the handshake's deadline */
    if (conn->phase == CONN_HEADERS)
        scan_input(conn, input, evbuffer_get_length(input) - info->n_added);
}

void
api_conn_watch_input(SSL *ssl, struct bufferevent *bev)
{
    struct api_conn *conn = conn_of(ssl);

    if (conn == NULL)
        return;
    conn->bev = bev;
    conn->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input,
                                     conn);
    if (conn->input_cb == NULL)
        log_error("watching the input of a connection failed; its request "
                  "headers and body have no deadline");
}

void
api_conn_handshake_done(const SSL *ssl)
{
    struct api_conn *conn = conn_of(ssl);

    if (conn == NULL)
        return;
    conn->handshake_done = true;
    if (conn->phase == CONN_HANDSHAKE)
        conn->phase = CONN_IDLE;
}

void
api_conn_request_done(SSL *ssl)
{
    struct api_conn *conn = conn_of(ssl);

    if (conn == NULL || conn->phase == CONN_CLOSING)
        return;
    conn->phase = CONN_BUSY;
}

void
api_conn_reply_ready(SSL *ssl)
{
    struct api_conn *conn = conn_of(ssl);
    struct evbuffer *input;

    if (conn == NULL || conn->phase != CONN_BUSY)
        return;
    conn->phase = CONN_IDLE;
    if (conn->bev == NULL)
        return;
    /* evhttp reads no further than the request just handled, so what is
     * left in the input is the start of a pipelined request. Its
     * deadline starts now, since it could not be served earlier. */
    input = bufferevent_get_input(conn->bev);
    if (evbuffer_get_length(input) > 0) {
        start_request(conn);
        scan_input(conn, input, 0);
    }
}

/* ---- closing connections ---- */

/* Closes the connection through the socket: both directions are shut
 * down, the next read returns EOF, and evhttp frees the connection as
 * it does when a client leaves. */
static void
shut_down(struct api_conn *conn)
{
    int fd = SSL_get_fd(conn->ssl);

    conn->phase = CONN_CLOSING;
    if (fd >= 0 && shutdown(fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
        log_debug("shutting down the connection from %s failed: %s",
                  conn->peer_text, strerror(errno));
}

/* Reads the peer address of fd into conn. Returns 0 or -1. */
static int
read_peer(struct api_conn *conn, int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    struct in_addr v4;

    if (getpeername(fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    if (addr.ss_family == AF_INET) {
        v4 = ((const struct sockaddr_in *)&addr)->sin_addr;
    } else if (addr.ss_family == AF_INET6) {
        conn->peer = ((const struct sockaddr_in6 *)&addr)->sin6_addr;
        if (!IN6_IS_ADDR_V4MAPPED(&conn->peer)) {
            inet_ntop(AF_INET6, &conn->peer, conn->peer_text,
                      sizeof(conn->peer_text));
            return 0;
        }
        memcpy(&v4, &conn->peer.s6_addr[12], sizeof(v4));
    } else {
        return -1;
    }
    /* One key and one spelling per IPv4 address, whether it came over
     * IPv4 or a dual-stack socket. */
    memset(&conn->peer, 0, sizeof(conn->peer));
    conn->peer.s6_addr[10] = conn->peer.s6_addr[11] = 0xff;
    memcpy(&conn->peer.s6_addr[12], &v4, sizeof(v4));
    inet_ntop(AF_INET, &v4, conn->peer_text, sizeof(conn->peer_text));
    return 0;
}

static void
check_new_conn(struct api_conn *conn)
{
    int fd = SSL_get_fd(conn->ssl);
    BIO *rbio = SSL_get_rbio(conn->ssl);
    const char *reason;

    snprintf(conn->peer_text, sizeof(conn->peer_text), "unknown");
    if (fd < 0 || rbio == NULL || read_peer(conn, fd) != 0) {
        /* The peer already left, or evhttp failed to set the socket. */
        shut_down(conn);
        return;
    }
    reason = take_place(&conn->worker->server->limits, &conn->peer);
    if (reason != NULL) {
        api_log_connection_error(__func__, "rejected a connection from %s: "
                                 "%s", conn->peer_text, reason);
        shut_down(conn);
        return;
    }
    conn->counted = true;
    conn->phase = CONN_IDLE;
    BIO_set_callback_arg(rbio, (char *)conn);
    BIO_set_callback_ex(rbio, on_socket_read);
}

/* Counts the connections accepted since the last run. They are the
 * head of the list (see api_conn_attach). */
static void
on_check(evutil_socket_t fd, short events, void *arg)
{
    struct api_worker *worker = arg;
    unsigned sweep_ms;

    (void)fd;
    (void)events;
    for (struct api_conn *conn = worker->conns;
         conn != NULL && conn->phase == CONN_NEW; conn = conn->next)
        check_new_conn(conn);
    if (worker->conns != NULL &&
        !event_pending(worker->sweep_event, EV_TIMEOUT, NULL)) {
        sweep_ms = worker->server->header_timeout_ms;
        if (worker->server->body_timeout_ms < sweep_ms)
            sweep_ms = worker->server->body_timeout_ms;
        sweep_ms /= 4;
        if (sweep_ms < SWEEP_MIN_MS)
            sweep_ms = SWEEP_MIN_MS;
        if (sweep_ms > SWEEP_MAX_MS)
            sweep_ms = SWEEP_MAX_MS;
        event_add(worker->sweep_event,
                  &(struct timeval){sweep_ms / 1000,
                                    (sweep_ms % 1000) * 1000});
    }
}

static void
expire(struct api_conn *conn)
{
    const struct api_server *server = conn->worker->server;
    const char *stage = "request headers";
    unsigned timeout = server->header_timeout_ms;

    if (conn->phase == CONN_HANDSHAKE) {
        stage = "TLS handshake";
    } else if (conn->phase == CONN_BODY) {
        stage = "request body";
        timeout = server->body_timeout_ms;
    }
    api_log_connection_error(__func__, "%s from %s timed out after %u ms; "
                             "closing the connection", stage,
                             conn->peer_text, timeout);
    shut_down(conn);
}

static void
on_sweep(evutil_socket_t fd, short events, void *arg)
{
    struct api_worker *worker = arg;
    long long now = now_ms();

    (void)fd;
    (void)events;
    for (struct api_conn *conn = worker->conns; conn != NULL;
         conn = conn->next) {
        bool timed = conn->phase == CONN_HANDSHAKE ||
                     conn->phase == CONN_HEADERS ||
                     conn->phase == CONN_BODY;

        if (timed && now >= conn->deadline_ms)
            expire(conn);
    }
}

int
api_conn_worker_init(struct api_worker *worker)
{
    worker->check_event = event_new(worker->base, -1, 0, on_check, worker);
    worker->sweep_event = event_new(worker->base, -1, EV_PERSIST, on_sweep,
                                    worker);
    if (worker->check_event == NULL || worker->sweep_event == NULL) {
        log_error("creating the connection deadline events of a worker "
                  "for %s failed", worker->server->address);
        return -1;
    }
    return 0;
}

void
api_conn_worker_free(struct api_worker *worker)
{
    /* The connections that event_base_free frees later find NULL here
     * and leave the events alone. */
    if (worker->check_event != NULL)
        event_free(worker->check_event);
    if (worker->sweep_event != NULL)
        event_free(worker->sweep_event);
    worker->check_event = NULL;
    worker->sweep_event = NULL;
}
