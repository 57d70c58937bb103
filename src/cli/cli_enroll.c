/*
 * -enroll: pins the CA root by its fingerprint and records the server and
 * the enrolment token, so that -gen_cert can get the first certificate.
 */
#include "cli/cli_ca.h"
#include "cli/cli_commands.h"
#include "cli/cli_config.h"
#include "cli/cli_exit.h"
#include "cli/cli_http.h"
#include "cli/cli_pem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
check_options(const struct cli_options *opts, char fingerprint[65])
{
    int rc = cli_require(opts->server, "-server https://HOST:PORT",
                         "enroll");

    if (rc == CLI_EXIT_OK)
        rc = cli_require(opts->fingerprint, "-fingerprint HEX", "enroll");
    if (rc == CLI_EXIT_OK)
        rc = cli_require(opts->token, "-token TOKEN", "enroll");
    if (rc == CLI_EXIT_OK)
        rc = cli_http_check_server(opts->server, "-server");
    if (rc != CLI_EXIT_OK)
        return rc;
    if (cli_pem_fingerprint_parse(opts->fingerprint, fingerprint) != 0)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -fingerprint %s: give the 64 hex digits of "
                        "the root's SHA-256 fingerprint (colons allowed)",
                        opts->fingerprint);
    /* The token is a secret, so the message does not quote it. */
    if (!cli_config_token_valid(opts->token))
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -token: an enrolment token is %d to %d "
                        "characters of A-Z, a-z, 0-9, '_' and '-' (this one "
                        "has %zu characters); give the token that -add_host "
                        "printed", CLI_TOKEN_MIN, CLI_TOKEN_MAX,
                        strlen(opts->token));
    return CLI_EXIT_OK;
}

/* Writes ca-chain.crt, then config.json, so that a config never names a
 * server whose chain is missing. */
static int
write_enrolment(const struct cli_layout *layout,
                const struct cli_options *opts, char *fingerprint,
                const char *chain, size_t chain_len)
{
    struct cli_config cfg;
    size_t server_len = strlen(opts->server);
    bool replacing = cli_file_exists(&layout->root, CLI_CONFIG_FILE);
    int rc;

    rc = cli_file_write(&layout->certs, CLI_CHAIN_FILE, chain, chain_len,
                        0644);
    if (rc != CLI_EXIT_OK)
        return rc;
    while (server_len > 0 && opts->server[server_len - 1] == '/')
        server_len--;
    memset(&cfg, 0, sizeof(cfg));
    cfg.server = strndup(opts->server, server_len);
    if (cfg.server == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "out of memory");
    cfg.fingerprint = fingerprint;
    cfg.enrollment_token = opts->token;
    rc = cli_config_save(&layout->root, &cfg);
    free(cfg.server);
    if (rc == CLI_EXIT_OK && replacing)
        cli_note("replaced the previous %s/%s; an identity it recorded is "
                 "no longer used", layout->root.path, CLI_CONFIG_FILE);
    return rc;
}

int
cli_enroll_run(const struct cli_options *opts)
{
    struct cli_layout layout = {{-1, ""}, {-1, ""}, {-1, ""}, {-1, ""}};
    char fingerprint[65], fingerprint_text[96];
    char dir_path[PATH_MAX];
    char *chain = NULL;
    size_t chain_len = 0;
    int rc;

    rc = check_options(opts, fingerprint);
    if (rc == CLI_EXIT_OK)
        rc = cli_config_dir_path(opts, dir_path, sizeof(dir_path));
    if (rc == CLI_EXIT_OK)
        rc = cli_ca_pin_root(opts->server, fingerprint, &chain, &chain_len);
    if (rc == CLI_EXIT_OK)
        rc = cli_layout_open(&layout, dir_path, true);
    if (rc == CLI_EXIT_OK)
        rc = write_enrolment(&layout, opts, fingerprint, chain, chain_len);
    if (rc == CLI_EXIT_OK) {
        cli_pem_fingerprint_format(fingerprint, fingerprint_text);
        printf("enrolled with %s (root SHA-256 %s), configuration written "
               "to %s/%s\n", opts->server, fingerprint_text,
               layout.root.path, CLI_CONFIG_FILE);
    }
    free(chain);
    cli_layout_close(&layout);
    return rc;
}
