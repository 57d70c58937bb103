/*
 * Internal interfaces of the HTTPS front end, shared by http_server.c
 * (lifecycle and listening socket), http_worker.c (event loops and
 * requests), http_tls.c (TLS), http_conn.c (connection caps and request
 * deadlines) and peer_mac.c (neighbour table).
 */
#ifndef HSM4SSL_API_HTTP_INTERNAL_H
#define HSM4SSL_API_HTTP_INTERNAL_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/http_server.h"

#define API_DEFAULT_MAX_BODY ((size_t)1024 * 1024) /* bytes */
#define API_MAX_HEADERS_SIZE 16384                  /* bytes, all headers */
#define API_TIMEOUT_SECONDS 30  /* idle read or write on one connection */
#define API_MAX_THREADS 256     /* guard against a mistyped thread count */
#define API_ARP_TABLE "/proc/net/arp"
#define API_DEFAULT_HEADER_TIMEOUT_MS 10000
#define API_DEFAULT_BODY_TIMEOUT_MS 60000
#define API_DEFAULT_MAX_CONNECTIONS_PER_IP 64
#define API_DEFAULT_MAX_CONNECTIONS 4096
#define API_PEER_BUCKETS 1024   /* hash buckets of the per-address counts */

struct api_conn;       /* one connection's state, http_conn.c */
struct api_held;       /* one held response, http_hold.c */
struct api_peer_count; /* open connections of one address, http_conn.c */

/* Open connections per client address and in total, shared by all
 * workers under lock. */
struct api_conn_limits {
    pthread_mutex_t lock;
    unsigned max_per_ip;
    unsigned max_total;
    unsigned total;
    struct api_peer_count *buckets[API_PEER_BUCKETS];
};

/* One event loop with its own evhttp, used only by its own thread. */
struct api_worker {
    struct api_server *server;
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener; /* owned by http */
    struct event *stop_event;        /* read end of the stop pipe */
    struct event *resume_event;      /* re-enables accept after an error */
    struct event *check_event;       /* counts newly accepted connections */
    struct event *sweep_event;       /* closes connections past a deadline */
    struct api_conn *conns;          /* this worker's, newest first */
    struct event *held_event;        /* sends held responses now ready */
    pthread_mutex_t held_lock;       /* guards held_ready */
    bool held_lock_ready;
    struct api_held *held_ready;     /* released, not yet sent */
    unsigned held_count;             /* held and not yet sent */
    bool stopping;                   /* ends once held_count is 0 */
    pthread_t thread;
    bool started;
    int result;                      /* event_base_dispatch's result */
};

struct api_server {
    api_handler_fn handler;
    void *ctx;
    SSL_CTX *ssl_ctx;                /* borrowed from the configuration */
    size_t max_body;
    unsigned header_timeout_ms;
    unsigned body_timeout_ms;
    struct api_conn_limits limits;
    char address[ADCP_PATH_MAX];     /* "ADDR:PORT" with the bound port */
    int port;
    int listen_fd;
    int stop_pipe[2];                /* written by api_server_stop */
    unsigned worker_count;
    struct api_worker *workers;
    bool running;
};

/* http_worker.c */

/* Creates the event loop and evhttp of each worker, each accepting on
 * its own duplicate of server->listen_fd. Returns 0, or -1 after
 * logging. api_workers_free releases what was made in either case. */
int api_workers_create(struct api_server *server);

/* Runs every worker in its own thread until the stop pipe is written.
 * Returns 0 when all loops ended cleanly, else -1. */
int api_workers_run(struct api_server *server);

void api_workers_free(struct api_server *server);

/* Sends response on req and releases what the response owns. */
void api_send_response(struct evhttp_request *req,
                       struct api_response *response);

/* http_hold.c */

/* Creates the worker's lock and event for held responses. Returns 0, or
 * -1 after logging. api_hold_worker_free releases them in either case. */
int api_hold_worker_init(struct api_worker *worker);
void api_hold_worker_free(struct api_worker *worker);

/* Keeps req open until the hold of response is released, then finishes
 * and sends the response; the worker serves other connections meanwhile.
 * Takes over response (see struct api_hold_ops). */
void api_hold_response(struct api_worker *worker, struct evhttp_request *req,
                       struct api_response *response);

/* Stops accepting connections and ends the worker's loop once every
 * held response is sent, with a short pause to write out the replies. */
void api_hold_stop(struct api_worker *worker);

/* http_tls.c */

/* Creates a server-side OpenSSL bufferevent with a fresh SSL, as the
 * evhttp_set_bevcb callback; arg is the struct api_worker. Returns NULL
 * on failure, and libevent then falls back to a plain socket
 * bufferevent, which the request callback rejects (see api_tls_of). */
struct bufferevent *api_tls_bufferevent_new(struct event_base *base,
                                            void *arg);

/* Returns the SSL of a connection, or NULL when it is not TLS. */
SSL *api_tls_of(struct evhttp_request *req);

/* Returns the client certificate when one was presented and verified,
 * else NULL. The SSL keeps ownership. */
X509 *api_tls_verified_peer(SSL *ssl);

/* http_server.c */

/* Logs a connection-level error at INFO, at most once per second for the
 * whole process; the next line that gets through counts the dropped
 * ones. */
void api_log_connection_error(const char *func, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* http_conn.c */

/* Initialises the shared connection counts. Returns 0, or -1 after
 * logging. */
int api_conn_limits_init(struct api_conn_limits *limits, unsigned max_per_ip,
                         unsigned max_total);
void api_conn_limits_free(struct api_conn_limits *limits);

/* Creates the worker's events that count new connections and enforce
 * deadlines. Returns 0, or -1 after logging. */
int api_conn_worker_init(struct api_worker *worker);

/* Frees those events; call it before event_base_free, which frees the
 * remaining connections. */
void api_conn_worker_free(struct api_worker *worker);

/* Attaches a new connection's state to ssl, which then owns it and
 * frees it, and queues the connection for counting. Returns 0, or -1
 * after logging. */
int api_conn_attach(struct api_worker *worker, SSL *ssl);

/* Watches the decrypted input of bev, the bufferevent that owns ssl, to
 * find where each request's headers end. */
void api_conn_watch_input(SSL *ssl, struct bufferevent *bev);

/* Marks the end of the TLS handshake of ssl's connection. */
void api_conn_handshake_done(const SSL *ssl);

/* Marks that the request on ssl's connection was read completely; any
 * input left over is the start of the next request. */
void api_conn_request_done(SSL *ssl);

/* peer_mac.c */

/* Looks up the hardware address of an IPv4 neighbour in a table in the
 * format of /proc/net/arp. Writes "aa:bb:cc:dd:ee:ff" (lower case) to
 * mac and returns 0, or writes "" and returns -1 when ip is not IPv4,
 * has no complete entry or the table cannot be read. */
int api_peer_mac_lookup(const char *table_path, const char *ip, char *mac,
                        size_t mac_size);

#endif
