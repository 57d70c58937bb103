/*
 * TLS for the HTTPS front end: the server's SSL_CTX, one SSL per
 * connection wrapped in an OpenSSL bufferevent, the log lines of failed
 * handshakes, and the response to plain HTTP sent to the HTTPS port.
 */
#include "api/http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "adcp/adcp_error.h"
#include "common/log.h"

/* TLS 1.2 suites: forward secret key exchange and AEAD ciphers only.
 * TLS 1.3 keeps OpenSSL's default suites, which are all AEAD. */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!PSK"

/* Any constant works. OpenSSL does not resume a session that was made
 * with a client certificate unless the context sets one. */
static const unsigned char session_id_context[] = "hsm4ssl-api";

#define CLIENT_VERIFY_DEPTH 2

/* Maximum bytes of a plain HTTP request read and dropped before the
 * response, because closing a socket with unread bytes resets the
 * connection. */
#define PLAIN_HTTP_DRAIN_MAX 65536

static int
set_protocols(SSL_CTX *ctx)
{
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
        log_openssl_errors(__func__, "limiting TLS to 1.2 and 1.3 failed");
        return -1;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        log_openssl_errors(__func__, "setting the TLS 1.2 ciphers failed");
        return -1;
    }
    return 0;
}

static int
set_identity(SSL_CTX *ctx, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key)
{
    if (SSL_CTX_use_certificate(ctx, cert) != 1) {
        log_openssl_errors(__func__, "loading the server certificate failed");
        return -1;
    }
    for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1) {
            log_openssl_errors(__func__, "adding a chain certificate failed");
            return -1;
        }
    }
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        log_openssl_errors(__func__, "loading the server private key failed");
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        log_openssl_errors(__func__, "the server private key does not "
                                     "match the server certificate");
        return -1;
    }
    return 0;
}

/* Makes client_ca the only trust anchor for client certificates. A
 * client certificate is requested but optional, so a client without one
 * still connects, while a certificate that does not verify ends the
 * handshake. PARTIAL_CHAIN lets client_ca be an intermediate CA. */
static int
set_client_verification(SSL_CTX *ctx, X509 *client_ca)
{
    X509_STORE *store = NULL;
    int result = -1;

    store = X509_STORE_new();
    if (store == NULL || X509_STORE_add_cert(store, client_ca) != 1 ||
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
        log_openssl_errors(__func__, "building the client CA store failed");
        goto out;
    }
    if (SSL_CTX_set1_verify_cert_store(ctx, store) != 1) {
        log_openssl_errors(__func__, "setting the client CA store failed");
        goto out;
    }
    if (SSL_CTX_add_client_CA(ctx, client_ca) != 1) {
        log_openssl_errors(__func__, "setting the client CA name failed");
        goto out;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_verify_depth(ctx, CLIENT_VERIFY_DEPTH);
    result = 0;

out:
    X509_STORE_free(store);
    return result;
}

static int
set_session_cache(SSL_CTX *ctx)
{
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (SSL_CTX_set_session_id_context(ctx, session_id_context,
                                       sizeof(session_id_context) - 1)
        != 1) {
        log_openssl_errors(__func__, "setting the session id context failed");
        return -1;
    }
    return 0;
}

SSL_CTX *
api_tls_context_new(X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
                    X509 *client_ca)
{
    SSL_CTX *ctx = NULL;
    SSL_CTX *result = NULL;

    if (cert == NULL || key == NULL) {
        log_error("the server certificate or private key is missing; pass "
                  "both to api_tls_context_new");
        goto out;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        log_openssl_errors(__func__, "creating the TLS context failed");
        goto out;
    }
    if (set_protocols(ctx) != 0 || set_identity(ctx, cert, chain, key) != 0)
        goto out;
    if (client_ca != NULL && set_client_verification(ctx, client_ca) != 0)
        goto out;
    if (set_session_cache(ctx) != 0)
        goto out;
    result = ctx;
    ctx = NULL;

out:
    SSL_CTX_free(ctx);
    return result;
}

/* Writes the numeric address of the socket's peer, or "unknown". */
static void
format_peer(int fd, char *text, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);

    snprintf(text, size, "unknown");
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&addr, &len) != 0)
        return;
    if (getnameinfo((struct sockaddr *)&addr, len, text, (socklen_t)size,
                    NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(text, size, "unknown");
}

/* Logs fatal alerts: during the handshake at DEBUG (scanners and
 * clients without a valid certificate cause them all day), afterwards
 * as a rate-limited connection error. */
static void
log_fatal_alert(const SSL *ssl, int where, int value)
{
    char peer[NI_MAXHOST];
    const char *direction = (where & SSL_CB_WRITE) ? "sent" : "received";
    long verify = SSL_get_verify_result(ssl);

    format_peer(SSL_get_fd(ssl), peer, sizeof(peer));
    if (!SSL_is_init_finished(ssl)) {
        log_debug("TLS handshake with %s failed: %s alert \"%s\"%s%s",
                  peer, direction, SSL_alert_desc_string_long(value),
                  verify == X509_V_OK ? "" : "; client certificate: ",
                  verify == X509_V_OK
                      ? ""
                      : X509_verify_cert_error_string(verify));
        return;
    }
    api_log_connection_error(__func__, "TLS connection with %s failed: "
                                       "%s alert \"%s\"",
                             peer, direction,
                             SSL_alert_desc_string_long(value));
}

/* Returns true when the handshake failed because the first bytes were a
 * plain HTTP request line. OpenSSL (ssl3_get_record in 3.0) recognises
 * "GET ", "POST ", "HEAD " and "PUT " and raises SSL_R_HTTP_REQUEST
 * without sending an alert. */
static bool
handshake_got_plain_http(void)
{
    unsigned long err = ERR_peek_last_error();

    return ERR_GET_LIB(err) == ERR_LIB_SSL &&
           ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST;
}

/* Builds the HTTP/1.1 400 response to a plain HTTP request, with the
 * error object every other error uses. Returns a string to free, or
 * NULL. */
static char *
plain_http_response(void)
{
    json_t *body = json_pack(
        "{s:{s:s, s:s, s:s}}", "error", "code",
        adcp_status_name(ADCP_ERR_INVALID_FIELD), "message",
        "this port accepts HTTPS only; send the request again with "
        "https:// instead of http://", "field", "");
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    char *response = NULL;

    if (text != NULL &&
        asprintf(&response, "HTTP/1.1 400 Bad Request\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: %zu\r\n"
                            "Cache-Control: no-store\r\n"
                            "Connection: close\r\n\r\n%s",
                 strlen(text), text) < 0)
        response = NULL;
    free(text);
    json_decref(body);
    return response;
}

/* Sends the 400 response to a plain HTTP request on the raw socket,
 * since TLS never started. The rest of the request is read and dropped
 * first, and the write side is shut down after the response, so that
 * the client reads it before libevent closes the socket. */
static void
respond_to_plain_http(const SSL *ssl)
{
    int fd = SSL_get_fd(ssl);
    char *response = plain_http_response();
    char peer[NI_MAXHOST];
    char scratch[4096];
    size_t drained = 0;
    ssize_t n;

    format_peer(fd, peer, sizeof(peer));
    log_debug("a plain HTTP request from %s reached the HTTPS port; "
              "sending 400", peer);
    while (fd >= 0 && drained < PLAIN_HTTP_DRAIN_MAX &&
           (n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT)) > 0)
        drained += (size_t)n;
    if (fd >= 0 && response != NULL &&
        send(fd, response, strlen(response), MSG_DONTWAIT | MSG_NOSIGNAL)
            < 0)
        log_debug("sending the 400 response to the plain HTTP request "
                  "from %s failed: %s", peer, strerror(errno));
    if (fd >= 0)
        shutdown(fd, SHUT_WR);
    free(response);
}

static void
tls_info_callback(const SSL *ssl, int where, int value)
{
    /* The high byte of value is the alert level, and level 2 is fatal. */
    if ((where & SSL_CB_ALERT) != 0 && (value >> 8) == 2)
        log_fatal_alert(ssl, where, value);
    if ((where & SSL_CB_HANDSHAKE_DONE) != 0)
        api_conn_handshake_done(ssl);
    /* value is SSL_accept's result: <= 0 when it failed or waits. */
    if ((where & SSL_CB_ACCEPT_EXIT) == SSL_CB_ACCEPT_EXIT && value <= 0 &&
        handshake_got_plain_http())
        respond_to_plain_http(ssl);
}

struct bufferevent *
api_tls_bufferevent_new(struct event_base *base, void *arg)
{
    struct api_worker *worker = arg;
    struct bufferevent *bev;
    SSL *ssl;

    ssl = SSL_new(worker->server->ssl_ctx);
    if (ssl == NULL) {
        log_openssl_errors(__func__, "creating a TLS connection failed");
        return NULL;
    }
    if (api_conn_attach(worker, ssl) != 0) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_info_callback(ssl, tls_info_callback);
    /* The descriptor comes later from evhttp through bufferevent_setfd.
     * BEV_OPT_CLOSE_ON_FREE makes the bufferevent free the SSL and
     * close the socket. It also makes a failed call free the SSL (since
     * libevent 2.1.9), so the SSL is not freed here again. */
    bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                         BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        log_error("creating a TLS bufferevent failed");
        return NULL;
    }
    /* A client that closes without close_notify ends the connection as
     * an EOF, not an error. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    api_conn_watch_input(ssl, bev);
    return bev;
}

SSL *
api_tls_of(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev;

    if (conn == NULL)
        return NULL;
    bev = evhttp_connection_get_bufferevent(conn);
    return bufferevent_openssl_get_ssl(bev);
}

X509 *
api_tls_verified_peer(SSL *ssl)
{
    if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return NULL;
    return SSL_get0_peer_certificate(ssl);
}
