/*
 * The working directory (DIR) and its config.json.
 *
 * DIR contains config.json (mode 0600), private/ (0700, key files), csr/
 * and certs/. config.json records the server, the pinned root
 * fingerprint and either the enrolment token (until the first
 * certificate is issued) or the identity: the name of the certificate
 * whose key authenticates this host over mTLS.
 */
#ifndef HSM4SSL_CLI_CONFIG_H
#define HSM4SSL_CLI_CONFIG_H

#include "cli/cli_args.h"
#include "cli/cli_file.h"

#define CLI_CONFIG_FILE "config.json"
#define CLI_CHAIN_FILE "ca-chain.crt"
#define CLI_DIR_ENV "SSLEVERYWHERE_DIR"

/* Length limits of an enrolment token. The server makes tokens of 43
 * characters; the limits leave room for a longer token, not for text
 * that only looks like one. */
#define CLI_TOKEN_MIN 16
#define CLI_TOKEN_MAX 128

/* config.json in memory; strings are heap copies or NULL. */
struct cli_config {
    char *server;           /* https://HOST:PORT */
    char *fingerprint;      /* root SHA-256, 64 upper-case hex digits */
    char *enrollment_token; /* a secret; NULL once identity is set */
    char *identity;         /* a certificate name, or NULL */
};

/* DIR and its three folders, open. */
struct cli_layout {
    struct cli_dir root;
    struct cli_dir private_dir;
    struct cli_dir csr;
    struct cli_dir certs;
};

/* Writes the working directory path to out: -dir, else
 * $SSLEVERYWHERE_DIR, else ~/.ssleverywhere. Returns CLI_EXIT_OK, or
 * CLI_EXIT_USAGE / CLI_EXIT_LOCAL after printing an error. */
int cli_config_dir_path(const struct cli_options *opts, char *out,
                        size_t size);

/* Opens DIR and its folders, creating what is missing when create is set.
 * Returns CLI_EXIT_OK, or CLI_EXIT_LOCAL after printing an error (with
 * everything closed again). */
int cli_layout_open(struct cli_layout *layout, const char *path,
                    bool create);

/* Closes every folder of layout. Accepts a layout that failed to open. */
void cli_layout_close(struct cli_layout *layout);

/* Reads DIR/config.json into cfg (which it clears first). Returns
 * CLI_EXIT_OK, or CLI_EXIT_LOCAL after printing an error: missing (run
 * -enroll), readable by others, or invalid. */
int cli_config_load(const struct cli_dir *root, struct cli_config *cfg);

/* Like cli_config_load for commands that also work without enrolment:
 * when DIR or its config.json does not exist, cfg stays empty and the
 * result is CLI_EXIT_OK. */
int cli_config_load_optional(const char *dir_path, struct cli_config *cfg);

/*
 * Finds DIR as cli_config_dir_path does, loads DIR/config.json into cfg
 * as cli_config_load_optional does, and sets *server to -server, else to
 * the server of config.json. *server may point into cfg. When neither
 * gives a server, the error names command. Returns CLI_EXIT_OK, or the
 * exit code of the printed error. The caller frees cfg in either case.
 */
int cli_config_load_server(const struct cli_options *opts, char *dir_path,
                           size_t size, struct cli_config *cfg,
                           const char **server, const char *command);

/* Writes cfg to DIR/config.json atomically with mode 0600. Returns
 * CLI_EXIT_OK, or CLI_EXIT_LOCAL after printing an error. */
int cli_config_save(const struct cli_dir *root, const struct cli_config *cfg);

/* Returns true when token has the form of an enrolment token:
 * CLI_TOKEN_MIN to CLI_TOKEN_MAX characters of [A-Za-z0-9_-], the URL-safe
 * alphabet the server makes tokens of. Such a token is safe to print and
 * to use in an HTTP header. Accepts NULL (returns false). */
bool cli_config_token_valid(const char *token);

/* Wipes and frees every string of cfg. Accepts NULL. */
void cli_config_free(struct cli_config *cfg);

#endif
