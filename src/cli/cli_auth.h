/*
 * Credentials of the requests to the server: this host's identity (a
 * certificate from this CA and its encrypted key, over mTLS), the
 * enrolment token of config.json, or an administrator token file.
 */
#ifndef HSM4SSL_CLI_AUTH_H
#define HSM4SSL_CLI_AUTH_H

#include "cli/cli_args.h"
#include "cli/cli_config.h"
#include "cli/cli_http.h"

#include <limits.h>

/* Credentials for one request; http points into the other members. */
struct cli_auth {
    struct cli_http_auth http;
    char cert_path[PATH_MAX];
    char key_path[PATH_MAX];
    char *passphrase;       /* of the identity key: a secret */
    char *token;            /* bearer token: a secret */
    const char *description; /* how it authenticates, for messages */
};

/*
 * Prepares mTLS with the identity of cfg: DIR/certs/IDENTITY.crt and
 * DIR/private/IDENTITY.key, whose passphrase comes from -passin or the
 * usual fallbacks. The key is decrypted once here and matched against
 * the certificate, so a wrong passphrase is reported before any request.
 * Returns CLI_EXIT_OK, or the exit code of the printed error.
 */
int cli_auth_identity(struct cli_auth *auth, const struct cli_layout *layout,
                      const struct cli_config *cfg,
                      const struct cli_options *opts);

/* Prepares a bearer token request with the token read from path, which
 * must not be readable by group or others. Returns CLI_EXIT_OK, or
 * CLI_EXIT_LOCAL after printing an error. */
int cli_auth_admin_token(struct cli_auth *auth, const char *path);

/* Prepares a bearer token request with a copy of token. */
int cli_auth_enrollment_token(struct cli_auth *auth, const char *token);

/* Picks the administrator token when -admin_token_file is given, else
 * this host's identity. command names the command in messages. Returns
 * CLI_EXIT_OK, or the exit code of the printed error. */
int cli_auth_choose(struct cli_auth *auth, const struct cli_options *opts,
                    const char *dir_path, const struct cli_config *cfg,
                    const char *command);

/* Wipes and frees the secrets of auth. Accepts NULL. */
void cli_auth_free(struct cli_auth *auth);

/* Fills trust with the CA file for requests after enrolment: -cafile, or
 * DIR/certs/ca-chain.crt (path receives it). Returns CLI_EXIT_OK, or
 * CLI_EXIT_LOCAL after printing an error when the file is missing. */
int cli_auth_trust(struct cli_http_trust *trust, char *path, size_t size,
                   const struct cli_options *opts, const char *dir_path);

/* The server, trust and credentials of a command that sends one request
 * after enrolment. */
struct cli_auth_context {
    struct cli_config cfg;
    struct cli_auth auth;
    struct cli_http_trust trust;
    char dir_path[PATH_MAX];
    char ca_path[PATH_MAX]; /* trust.ca_file points here */
    const char *server;     /* -server, else the server of cfg */
};

/*
 * Prepares ctx for command. It finds the server (cli_config_load_server),
 * then the CA file to trust (cli_auth_trust) and the credentials
 * (cli_auth_choose). Returns CLI_EXIT_OK, or the exit code of the printed
 * error. The caller calls cli_auth_context_free in either case.
 */
int cli_auth_context_open(struct cli_auth_context *ctx,
                          const struct cli_options *opts,
                          const char *command);

/* Wipes and frees the secrets and the configuration of ctx. */
void cli_auth_context_free(struct cli_auth_context *ctx);

#endif
