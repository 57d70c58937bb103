/*
 * Lifecycle of the HTTPS front end: the listening socket, the stop pipe,
 * process-wide libevent setup, and the rate limit on connection errors.
 * The event loops and request handling live in http_worker.c.
 */
#include "api/http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static pthread_once_t libevent_once = PTHREAD_ONCE_INIT;
static int libevent_threads_result;

/* libevent's own messages: its warnings are about single connections
 * (failed accept, a connection it could not set up), so they share the
 * connection error rate limit. */
static void
libevent_log(int severity, const char *message)
{
    switch (severity) {
    case EVENT_LOG_ERR:
        log_error("libevent: %s", message);
        break;
    case EVENT_LOG_WARN:
        api_log_connection_error(__func__, "libevent: %s", message);
        break;
    default:
        log_debug("libevent: %s", message);
        break;
    }
}

static void
setup_libevent(void)
{
    libevent_threads_result = evthread_use_pthreads();
    event_set_log_callback(libevent_log);
}

void
api_log_connection_error(const char *func, const char *fmt, ...)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static time_t last_second = -1;
    static unsigned long suppressed;
    unsigned long dropped;
    struct timespec now;
    char message[1024];
    va_list ap;

    if (log_get_level() < LOG_LEVEL_INFO)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&lock);
    if (now.tv_sec == last_second) {
        suppressed++;
        pthread_mutex_unlock(&lock);
        return;
    }
    last_second = now.tv_sec;
    dropped = suppressed;
    suppressed = 0;
    pthread_mutex_unlock(&lock);

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (dropped > 0)
        log_write(LOG_LEVEL_INFO, func, "%s (%lu similar messages dropped "
                  "in the last second)", message, dropped);
    else
        log_write(LOG_LEVEL_INFO, func, "%s", message);
}

/* Splits "ADDR:PORT" or "[V6]:PORT" into host and port text. Returns 0,
 * or -1 with a reason in *reason. */
static int
split_listen_address(const char *text, char *host, size_t host_size,
                     const char **port, const char **reason)
{
    bool bracketed = text[0] == '[';
    const char *end;
    size_t len;

    if (bracketed) {
        end = strchr(text, ']');
        if (end == NULL || end[1] != ':') {
            *reason = "an IPv6 address needs the form [ADDR]:PORT";
            return -1;
        }
        text++;
        *port = end + 2;
    } else {
        end = strrchr(text, ':');
        if (end == NULL) {
            *reason = "the port is missing";
            return -1;
        }
        *port = end + 1;
    }
    len = (size_t)(end - text);
    if (len == 0 || len >= host_size) {
        *reason = "the address is missing or too long";
        return -1;
    }
    memcpy(host, text, len);
    host[len] = '\0';
    if (!bracketed && strchr(host, ':') != NULL) {
        *reason = "an IPv6 address must be written in brackets";
        return -1;
    }
    return 0;
}

static int
parse_port(const char *text, const char **reason)
{
    char *end;
    unsigned long port;

    if (text[0] < '0' || text[0] > '9') {
        *reason = "the port is not a number";
        return -1;
    }
    errno = 0;
    port = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || port > 65535) {
        *reason = "the port must be a number from 0 to 65535";
        return -1;
    }
    return (int)port;
}

/* Resolves a numeric listen address. Host names are rejected so that
 * the bound address never depends on DNS. Returns the getaddrinfo list
 * (free with freeaddrinfo) or NULL after logging. */
static struct addrinfo *
resolve_listen_address(const char *text)
{
    struct addrinfo hints = {0};
    struct addrinfo *list = NULL;
    char host[INET6_ADDRSTRLEN + 16];
    const char *port_text = NULL;
    const char *reason = NULL;
    int rc;

    if (split_listen_address(text, host, sizeof(host), &port_text,
                             &reason) != 0 ||
        parse_port(port_text, &reason) < 0)
        goto invalid;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port_text, &hints, &list);
    if (rc != 0) {
        reason = "the address is not a numeric IPv4 or IPv6 address";
        goto invalid;
    }
    return list;

invalid:
    log_error("listen address \"%s\" is invalid: %s; use ADDR:PORT such as "
              "127.0.0.1:8443 or [::1]:8443", text, reason);
    return NULL;
}

/* Formats the bound address with its actual port, for logs. */
static void
format_bound_address(const struct sockaddr_storage *addr, char *text,
                     size_t size, int *port)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        *port = ntohs(in6->sin6_port);
        snprintf(text, size, "[%s]:%d", host, *port);
    } else {
        const struct sockaddr_in *in4 = (const void *)addr;
        inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
        *port = ntohs(in4->sin_port);
        snprintf(text, size, "%s:%d", host, *port);
    }
}

static int
bind_listen_socket(struct api_server *server, const struct addrinfo *ai,
                   const char *text)
{
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    int enable = 1;
    int fd;

    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        log_error("creating a socket for %s failed: %s", text,
                  strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &enable,
                   sizeof(enable)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        log_error("binding %s failed: %s%s", text, strerror(errno),
                  errno == EADDRINUSE
                      ? "; stop the other server or choose another port"
                      : "");
        close(fd);
        return -1;
    }
    /* evhttp writes the headers and the body of a response as two TLS
     * records; with Nagle's algorithm the second waits for the client's
     * delayed ACK, about 40 ms. Linux passes TCP_NODELAY on to every
     * accepted socket. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &enable, sizeof(enable)) !=
        0)
        log_warn("setting TCP_NODELAY on %s failed: %s; responses may be "
                 "delayed",
                 text, strerror(errno));
    if (listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        log_error("listening on %s failed: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    format_bound_address(&bound, server->address, sizeof(server->address),
                         &server->port);
    server->listen_fd = fd;
    return 0;
}

/* The stop pipe is non-blocking on both ends, because api_server_stop
 * may run in a signal handler where it must not block. A full pipe
 * already means that a stop was requested. */
static int
open_stop_pipe(struct api_server *server)
{
    if (pipe2(server->stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        log_error("creating the stop pipe failed: %s", strerror(errno));
        server->stop_pipe[0] = server->stop_pipe[1] = -1;
        return -1;
    }
    return 0;
}

static unsigned
worker_count(unsigned requested)
{
    long cores;

    if (requested > 0)
        return requested < API_MAX_THREADS ? requested : API_MAX_THREADS;
    cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        return 1;
    return cores < API_MAX_THREADS ? (unsigned)cores : API_MAX_THREADS;
}

/* One event loop per core is enough, because the loops only move bytes
 * and parse requests; never more loops than handler threads. */
static unsigned
event_loop_count(unsigned handler_threads)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    if (cores < 1)
        cores = 1;
    return (unsigned)cores < handler_threads ? (unsigned)cores
                                             : handler_threads;
}

/* Returns the default size of the slow lane: a quarter of the handler
 * threads, and at least one. */
static unsigned
slow_lane_count(unsigned handler_threads)
{
    return handler_threads / 4 > 0 ? handler_threads / 4 : 1;
}

static struct api_server *
server_alloc(const struct api_server_config *cfg, api_handler_fn handler,
             void *ctx)
{
    struct api_server *server = calloc(1, sizeof(*server));

    if (server == NULL) {
        log_error("out of memory creating the HTTPS server");
        return NULL;
    }
    server->handler = handler;
    server->quick = cfg->quick;
    server->raw_path_prefix = cfg->raw_path_prefix;
    server->ctx = ctx;
    server->ssl_ctx = cfg->ssl_ctx;
    server->max_body = cfg->max_body > 0 ? cfg->max_body
                                         : API_DEFAULT_MAX_BODY;
    server->header_timeout_ms = cfg->header_timeout_ms > 0
                                    ? cfg->header_timeout_ms
                                    : API_DEFAULT_HEADER_TIMEOUT_MS;
    server->body_timeout_ms = cfg->body_timeout_ms > 0
                                  ? cfg->body_timeout_ms
                                  : API_DEFAULT_BODY_TIMEOUT_MS;
    server->listen_fd = -1;
    server->stop_pipe[0] = server->stop_pipe[1] = -1;
    server->queue.thread_count = worker_count(cfg->threads);
    server->slow = cfg->slow;
    server->slow_queue.thread_count =
        cfg->slow_threads > 0 ? cfg->slow_threads
                              : slow_lane_count(server->queue.thread_count);
    server->worker_count = event_loop_count(server->queue.thread_count);
    if (api_conn_limits_init(&server->limits,
                             cfg->max_connections_per_ip > 0
                                 ? cfg->max_connections_per_ip
                                 : API_DEFAULT_MAX_CONNECTIONS_PER_IP,
                             cfg->max_connections > 0
                                 ? cfg->max_connections
                                 : API_DEFAULT_MAX_CONNECTIONS) != 0) {
        free(server);
        return NULL;
    }
    return server;
}

int
api_server_new(const struct api_server_config *cfg, api_handler_fn handler,
               void *ctx, struct api_server **out)
{
    struct api_server *server = NULL;
    struct addrinfo *ai = NULL;
    int result = -1;

    if (out != NULL)
        *out = NULL;
    if (cfg == NULL || cfg->ssl_ctx == NULL || handler == NULL ||
        out == NULL) {
        log_error("the HTTPS server needs a configuration with a TLS "
                  "context, a handler and an output pointer");
        goto out;
    }
    /* A peer that closes early must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    pthread_once(&libevent_once, setup_libevent);
    if (libevent_threads_result != 0) {
        log_error("libevent has no pthreads support; install libevent "
                  "built with libevent_pthreads");
        goto out;
    }
    ai = resolve_listen_address(cfg->listen);
    if (ai == NULL)
        goto out;
    server = server_alloc(cfg, handler, ctx);
    if (server == NULL || bind_listen_socket(server, ai, cfg->listen) != 0 ||
        open_stop_pipe(server) != 0 || api_workers_create(server) != 0)
        goto out;
    *out = server;
    server = NULL;
    result = 0;

out:
    if (ai != NULL)
        freeaddrinfo(ai);
    api_server_free(server);
    return result;
}

int
api_server_run(struct api_server *server)
{
    int result;

    if (server == NULL || server->running) {
        log_error("the HTTPS server is missing or already running");
        return -1;
    }
    server->running = true;
    log_info("serving HTTPS on %s with %u event loops, %u handler "
             "threads and %u for slow calls",
             server->address, server->worker_count,
             server->queue.thread_count, server->slow_queue.thread_count);
    result = api_workers_run(server);
    server->running = false;
    log_info("HTTPS server on %s stopped", server->address);
    return result;
}

void
api_server_stop(struct api_server *server)
{
    const char byte = 'x';
    ssize_t written;
    int saved_errno = errno;

    if (server == NULL || server->stop_pipe[1] < 0)
        return;
    /* Only write(2): this may run in a signal handler. EAGAIN means the
     * pipe is full of earlier stop requests, which is as good. */
    written = write(server->stop_pipe[1], &byte, 1);
    (void)written;
    errno = saved_errno;
}

void
api_server_free(struct api_server *server)
{
    if (server == NULL)
        return;
    api_workers_free(server);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    if (server->stop_pipe[0] >= 0)
        close(server->stop_pipe[0]);
    if (server->stop_pipe[1] >= 0)
        close(server->stop_pipe[1]);
    /* After the workers, whose connections give their places back. */
    api_conn_limits_free(&server->limits);
    free(server);
}

int
api_server_port(const struct api_server *server)
{
    return server != NULL ? server->port : -1;
}
