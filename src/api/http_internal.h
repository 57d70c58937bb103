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
#include <stdatomic.h>
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

/*
 * One request from its parse to its reply. The worker that read it fills
 * the request, a handler thread runs the handler on it, and the worker
 * sends the response. next links it into the queue or a ready list.
 */
struct api_call {
    struct api_call *next;
    struct api_worker *worker;  /* whose loop sends the reply */
    struct evhttp_request *req; /* kept by libevent until the reply */
    struct api_request request; /* peer_cert is a reference of ours */
    struct evhttp_uri *uri;     /* target parsed again (see request_uri) */
    char *path;                 /* decoded path, from evhttp_uridecode */
    char *body;                 /* NUL-terminated copy, wiped before free */
    size_t body_len;
    struct adcp_error error;
    struct api_response response;
};

/* The requests waiting for a handler thread, oldest first, shared by all
 * workers: handlers take them in the order they were read. */
/* A FIFO of calls and the handler threads that take them. */
struct api_queue {
    struct api_server *server;
    const char *thread_name;    /* "api-handler" or "api-slow" */
    pthread_mutex_t lock;
    pthread_cond_t queued;      /* a call was queued, or stopping was set */
    struct api_call *head;
    struct api_call *tail;
    bool stopping;
    bool ready;                 /* lock and queued are initialised */
    unsigned thread_count;
    unsigned started;
    pthread_t *threads;
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
    struct event *ready_event;       /* sends the replies of ready calls */
    pthread_mutex_t ready_lock;      /* guards ready */
    bool ready_lock_made;
    struct api_call *ready;          /* handled, reply not yet sent */
    unsigned pending;                /* calls read, reply not yet sent */
    atomic_bool stopping;            /* ends once pending is 0; handler
                                        threads read it too */
    pthread_t thread;
    bool started;
    int result;                      /* event_base_dispatch's result */
};

struct api_server {
    api_handler_fn handler;
    api_quick_fn quick;              /* or NULL */
    api_slow_fn slow;                /* or NULL */
    const char *raw_path_prefix;     /* or NULL; see api_server_config */
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
    unsigned worker_count;           /* event loops */
    struct api_worker *workers;
    struct api_queue queue;          /* and its handler threads */
    struct api_queue slow_queue;     /* calls for which slow is true */
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

/* Runs the server's handler on call, in a handler thread, and checks the
 * response it set. */
void api_call_run(const struct api_server *server, struct api_call *call);

/* Sets call's response to the 503 of a stopping server, without running
 * the handler; any thread. */
void api_call_refuse(struct api_call *call);

/* Finishes a held response, sends the reply and frees call, in the
 * thread of call's worker. */
void api_call_answer(struct api_call *call);

/* http_queue.c */

/* Initialises the queue of server->queue.thread_count handler threads and
 * the slow lane of server->slow_queue.thread_count. Returns 0, or -1 after
 * logging. api_queue_free releases both in either case, after
 * api_queue_stop. */
int api_queue_init(struct api_server *server);
void api_queue_free(struct api_server *server);

/* Starts the handler threads; returns 0, or -1 after logging with the
 * threads that started still running. */
int api_queue_start(struct api_server *server);

/* Lets the handler threads of both lanes finish every queued call and
 * joins them. */
void api_queue_stop(struct api_server *server);

/* Queues call for a handler thread; its worker sends the reply once the
 * handler, and any hold it set, has finished. Worker thread only. */
void api_queue_submit(struct api_call *call);

/* Runs the handler on call in the worker's own thread, for a quick
 * request, and replies as api_queue_submit's calls are replied to. The
 * caller has counted call in worker->pending. */
void api_queue_run_here(struct api_call *call);

/* Creates the worker's ready list and its event. Returns 0, or -1 after
 * logging. api_queue_worker_free releases them in either case. */
int api_queue_worker_init(struct api_worker *worker);
void api_queue_worker_free(struct api_worker *worker);

/* Stops accepting connections and ends the worker's loop once every call
 * it read has its reply, with a short pause to write out the replies. */
void api_worker_stop(struct api_worker *worker);

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

/* Marks that the request on ssl's connection was read completely. Its
 * deadlines end, and none runs until api_conn_reply_ready. */
void api_conn_request_done(SSL *ssl);

/* Marks that the reply to the request on ssl's connection is being sent.
 * Input left over is the start of the next request, so its deadline
 * starts now. */
void api_conn_reply_ready(SSL *ssl);

/* peer_mac.c */

/* Looks up the hardware address of an IPv4 neighbour in a table in the
 * format of /proc/net/arp. Writes "aa:bb:cc:dd:ee:ff" (lower case) to
 * mac and returns 0, or writes "" and returns -1 when ip is not IPv4,
 * has no complete entry or the table cannot be read. */
int api_peer_mac_lookup(const char *table_path, const char *ip, char *mac,
                        size_t mac_size);

#endif
