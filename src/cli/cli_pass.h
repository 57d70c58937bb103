/*
 * Passphrases of private key files, from the sources OpenSSL's tools
 * accept (pass:, env:, file:, fd:, stdin), from $SSLEVERYWHERE_PASSPHRASE
 * or from a prompt on the controlling terminal.
 */
#ifndef HSM4SSL_CLI_PASS_H
#define HSM4SSL_CLI_PASS_H

#include <stdbool.h>

/* Shortest and longest accepted passphrase, in bytes. The maximum is
 * OpenSSL's PEM_BUFSIZE less the terminating NUL. */
#define CLI_PASS_MIN 4
#define CLI_PASS_MAX 1023

/* The environment variable used when no -passin/-passout is given. */
#define CLI_PASS_ENV "SSLEVERYWHERE_PASSPHRASE"

/*
 * Reads one passphrase into *out (a heap string; release it with
 * secret_free_string).
 *
 * source is the value of option ("-passin" or "-passout", used in
 * messages), or NULL to fall back to $SSLEVERYWHERE_PASSPHRASE and then
 * to a prompt on /dev/tty with echo off. prompt names the key file; with
 * confirm set the prompt asks twice and the two entries must match. A
 * passphrase is one line: the first newline ends it.
 *
 * Returns CLI_EXIT_OK; CLI_EXIT_USAGE for a malformed source, a
 * passphrase shorter than CLI_PASS_MIN, or no source and no terminal;
 * CLI_EXIT_LOCAL when the source cannot be read. Errors are printed.
 */
int cli_pass_read(const char *source, const char *option,
                  const char *prompt, bool confirm, char **out);

#endif
