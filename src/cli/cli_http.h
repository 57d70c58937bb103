/*
 * HTTPS requests to the HSM4SSL REST API through libcurl.
 *
 * Only https:// URLs are accepted, TLS 1.2 is the minimum, redirects are
 * not followed, connecting times out after 10 s and a whole request after
 * 60 s. Server certificates are verified against the CA given in struct
 * cli_http_trust only (the system trust store is not consulted), with the
 * host name checked.
 */
#ifndef HSM4SSL_CLI_HTTP_H
#define HSM4SSL_CLI_HTTP_H

#include <jansson.h>
#include <stdbool.h>

/* Trust anchors that the server's certificate must chain to. */
struct cli_http_trust {
    bool insecure;          /* no verification: only to fetch a root that
                               is then checked against its fingerprint */
    const char *ca_file;    /* PEM file of trusted CA certificates */
    const char *ca_pem;     /* or the same as PEM text in memory */
};

/* Credentials of a request; members are NULL when unused. */
struct cli_http_auth {
    const char *bearer;         /* Authorization: Bearer token */
    const char *client_cert;    /* PEM certificate file for mTLS */
    const char *client_key;     /* its private key file (PEM) */
    const char *key_passphrase; /* the key file's passphrase */
};

/* Installs the wiping heap into libcurl and initialises it. Call once.
 * Returns 0, or -1 when libcurl cannot start. */
int cli_http_init(void);

void cli_http_cleanup(void);

/* Checks that server is an https:// URL naming a host, optionally a port
 * from 1 to 65535, and nothing else. option names it in messages, and
 * each message names the part that is wrong. Returns CLI_EXIT_OK or
 * CLI_EXIT_USAGE after printing an error. */
int cli_http_check_server(const char *server, const char *option);

/*
 * Sends method (GET or POST) to server + path, with body (a JSON value,
 * or NULL for none), and parses the response.
 *
 * Returns CLI_EXIT_OK with *response set to the JSON object of a 2xx
 * response (release with json_decref). Otherwise it prints an error and
 * returns one of:
 * - CLI_EXIT_NETWORK: no connection, TLS failure, timeout;
 * - CLI_EXIT_LOCAL: a client certificate or CA file that cannot be used;
 * - CLI_EXIT_REJECTED: 4xx, with the server's error code and message;
 * - CLI_EXIT_SERVER: 5xx, a 3xx ("unexpected redirect"), or a body that
 *   is not a JSON object.
 */
int cli_http_request(const char *server, const char *method,
                     const char *path, const struct cli_http_trust *trust,
                     const struct cli_http_auth *auth, json_t *body,
                     json_t **response);

#endif
