/* Help text of ssleverywhere, built from the option table. */
#ifndef HSM4SSL_CLI_HELP_H
#define HSM4SSL_CLI_HELP_H

#include "cli/cli_args.h"

#include <stdio.h>

/* Prints the help of command to out: what it does, each option it takes
 * and an example; for CLI_CMD_NONE, the list of commands, the passphrase
 * sources and the exit codes. */
void cli_help_print(FILE *out, enum cli_command command);

#endif
