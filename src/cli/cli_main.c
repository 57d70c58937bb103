/*
 * ssleverywhere: the client of the HSM4SSL certificate authority. Parses
 * the command line and runs one command; see cli_help.c for the text and
 * cli_exit.h for the exit codes.
 */
#include "cli/cli_alloc.h"
#include "cli/cli_args.h"
#include "cli/cli_commands.h"
#include "cli/cli_exit.h"
#include "cli/cli_file.h"
#include "cli/cli_help.h"
#include "cli/cli_http.h"
#include "common/log.h"
#include "common/secret.h"

#include <stdio.h>
#include <sys/stat.h>

static int
run_command(const struct cli_options *opts)
{
    switch (opts->command) {
    case CLI_CMD_ENROLL:
        return cli_enroll_run(opts);
    case CLI_CMD_GEN_CERT:
        return cli_gen_cert_run(opts);
    case CLI_CMD_KEYPAIR_GEN:
        return cli_keypair_run(opts);
    case CLI_CMD_ADD_HOST:
        return cli_host_run(opts);
    case CLI_CMD_REVOKE:
        return cli_revoke_run(opts);
    case CLI_CMD_NONE:
    case CLI_CMD_COUNT:
        break;
    }
    return cli_fail(CLI_EXIT_USAGE,
                    "no command given: use -enroll, -gen_cert, -keypair_gen, "
                    "-add_host or -revoke (ssleverywhere --help lists "
                    "them)");
}

int
main(int argc, char **argv)
{
    struct cli_options opts;
    int rc;

    /* Files made here hold keys and tokens: nothing is group- or
     * world-writable, whatever umask the caller had. */
    umask(umask(0) | 022);
    secret_disable_core_dumps();
    cli_file_cleanup_on_signals();
    cli_alloc_init();
    log_set_level(LOG_LEVEL_WARN);
    rc = cli_args_parse(argc, argv, &opts);
    if (rc == CLI_EXIT_OK && opts.help) {
        cli_help_print(stdout, opts.command);
        goto out;
    }
    if (rc != CLI_EXIT_OK)
        goto out;
    if (opts.verbose)
        log_set_level(LOG_LEVEL_DEBUG);
    if (cli_http_init() != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot initialise libcurl");
        goto out;
    }
    rc = run_command(&opts);
    cli_http_cleanup();
out:
    cli_options_free(&opts);
    fflush(stdout);
    return rc;
}
