/* The commands of ssleverywhere. Each takes the parsed command line,
 * prints its result and its errors, and returns the exit code. */
#ifndef HSM4SSL_CLI_COMMANDS_H
#define HSM4SSL_CLI_COMMANDS_H

#include "cli/cli_args.h"

int cli_enroll_run(const struct cli_options *opts);
int cli_gen_cert_run(const struct cli_options *opts);
int cli_keypair_run(const struct cli_options *opts);
int cli_host_run(const struct cli_options *opts);
int cli_revoke_run(const struct cli_options *opts);

#endif
