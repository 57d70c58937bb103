/*
 * The HTTPS front end: libevent's evhttp over OpenSSL bufferevents, one
 * event loop per worker thread, all accepting on one listening socket.
 * It knows nothing of ADCP: it hands each complete request to a handler
 * and writes the JSON, text or bytes the handler returns.
 *
 * TLS 1.2 and 1.3 only. A client certificate is requested but not
 * required; when one is presented it must verify against the configured
 * CA, and the handler receives it.
 *
 * Methods: GET, HEAD and POST. A HEAD request reaches the handler as GET,
 * and the server sends the response headers without the body. Any other
 * method gets 405 without calling the handler.
 */
#ifndef HSM4SSL_API_HTTP_SERVER_H
#define HSM4SSL_API_HTTP_SERVER_H

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "adcp/adcp.h"

struct api_request {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* decoded path without the query, with
                                   runs of slashes merged into one; under
                                   the raw_path_prefix of struct
                                   api_server_config, the path as sent */
    const char *query;          /* raw query string or NULL */
    const char *body;           /* copy of the body, which may contain
                                   NUL bytes, with a NUL after it */
    size_t body_len;
    const char *authorization;  /* the Authorization header or NULL */
    X509 *peer_cert;            /* verified client certificate or NULL */
    char peer_ip[ADCP_IP_MAX];
    char peer_mac[ADCP_MAC_MAX]; /* "" unless the neighbour table has it */
};

struct api_response;

/*
 * A handler may hold its response back until work on another thread,
 * such as a durable write, has finished: it sets hold and hold_ops and
 * leaves the rest of the response empty. The server then serves its
 * other connections, calls notify once, and when done(arg) has been
 * called, from any thread, calls finish in the worker's own thread. finish
 * fills the response, which the server sends, and frees hold.
 */
struct api_hold_ops {
    void (*notify)(void *hold, void (*done)(void *arg), void *arg);
    void (*finish)(void *hold, struct api_response *response);
};

/*
 * A body of bytes that the server sends as they are, such as a DER CRL,
 * without copying them. The server calls release(owner) once, after the
 * bytes are written or when the response is dropped; release may be NULL.
 */
struct api_bytes {
    const unsigned char *data; /* NULL: no such body */
    size_t len;
    void (*release)(void *owner);
    void *owner;
};

struct api_response {
    int http_status;
    json_t *body;               /* owned by the server after the handler */
    const char *content_type;   /* of text or bytes; NULL: the default */
    char *text;                 /* non-JSON body (metrics), owned, or NULL */
    struct api_bytes bytes;     /* sent instead of body and text when set;
                                   the default type is
                                   application/octet-stream */
    const char *allow;          /* Allow header of a 405, such as "POST";
                                   NULL: the methods the server serves */
    void *hold;                 /* see struct api_hold_ops, or NULL */
    const struct api_hold_ops *hold_ops;
};

typedef void (*api_handler_fn)(void *ctx, const struct api_request *request,
                               struct api_response *response);

/* Returns true for a request that the handler completes at once, without
 * an HSM or a commit, so the event loop runs it ahead of the queue. */
typedef bool (*api_quick_fn)(void *ctx, const struct api_request *request);

/* Returns true for a request that may keep its handler thread for long,
 * such as a key pair generation. Such calls run on a lane of their own,
 * so that they never take every handler thread. Called from a handler
 * thread, so it may parse the body. */
typedef bool (*api_slow_fn)(void *ctx, const struct api_request *request);

struct api_server_config {
    char listen[ADCP_PATH_MAX]; /* "ADDR:PORT", "[V6]:PORT" */
    SSL_CTX *ssl_ctx;           /* borrowed; see api_tls_context_new */
    size_t max_body;            /* larger bodies get 413; 0: 1 MiB */
    unsigned threads;           /* handler threads, 0: one per core */
    /* header_timeout_ms is the maximum time from the first byte of a TLS
     * handshake to its end, and from the first byte of a request to the
     * end of its headers (0: 10 s). body_timeout_ms is the maximum time
     * from there to the end of the body (0: 60 s). The server closes a
     * connection that exceeds either. Idle connections, before a request
     * starts, are closed after 30 s. */
    unsigned header_timeout_ms;
    unsigned body_timeout_ms;
    /* Open connections from one client address and in total; a new
     * connection over either cap is closed at once. 0: 64 and 4096. */
    unsigned max_connections_per_ip;
    unsigned max_connections;
    /* NULL: every request waits in the queue for a handler thread. */
    api_quick_fn quick;
    /* NULL: no request is slow. slow_threads is the number of threads of
     * the slow lane; 0: a quarter of the handler threads, at least 1. */
    api_slow_fn slow;
    unsigned slow_threads;
    /* Paths that start with this prefix reach the handler as sent: not
     * percent-decoded, slashes not merged, an encoded slash allowed.
     * Control characters, invalid UTF-8 and ".." are still rejected.
     * OCSP's GET form needs this, because its last segment is base64,
     * which may contain "/" and "//". NULL: every path is decoded. */
    const char *raw_path_prefix;
};

struct api_server;

/* Binds the socket and prepares the workers. Returns 0, or -1 after
 * logging why (address in use, bad address). */
int api_server_new(const struct api_server_config *cfg, api_handler_fn handler,
                   void *ctx, struct api_server **out);

/* Serves until api_server_stop; returns 0 on a clean stop. */
int api_server_run(struct api_server *server);

/* Asks the workers to finish; async-signal-safe (writes to a pipe). */
void api_server_stop(struct api_server *server);

void api_server_free(struct api_server *server);

/* Returns the port actually bound (useful with port 0). */
int api_server_port(const struct api_server *server);

/*
 * Builds the TLS context for the server: TLS 1.2 minimum, cert_chain
 * (leaf first) with key (which may be an HSM-backed EVP_PKEY), and
 * client_ca as the only trust anchor for client certificates. Returns
 * NULL after logging the OpenSSL errors.
 */
SSL_CTX *api_tls_context_new(X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
                             X509 *client_ca);

#endif
