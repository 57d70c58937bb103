/*
 * Exit codes of ssleverywhere and the helpers that print its messages.
 *
 * Scripts rely on the exit codes, so their numbers never change. Every
 * error is printed once, where it is understood, as one line on stderr
 * that names the value and the fix. Callers only pass the code up.
 */
#ifndef HSM4SSL_CLI_EXIT_H
#define HSM4SSL_CLI_EXIT_H

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 1,       /* unknown option, missing or bad value */
    CLI_EXIT_LOCAL = 2,       /* file, key or crypto failure on this host */
    CLI_EXIT_NETWORK = 3,     /* server unreachable or TLS check failed */
    CLI_EXIT_REJECTED = 4,    /* the server responded with 4xx */
    CLI_EXIT_SERVER = 5,      /* 5xx or an invalid response */
    CLI_EXIT_FINGERPRINT = 6, /* the root does not match -fingerprint */
};

/* Prints "ssleverywhere: MESSAGE" on stderr and returns code, so that a
 * caller can write `return cli_fail(CLI_EXIT_USAGE, "...", ...);`. */
int cli_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like cli_fail, and appends the OpenSSL error queue (which it empties)
 * to the message. */
int cli_fail_openssl(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints one informational line "ssleverywhere: MESSAGE" on stderr. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Returns CLI_EXIT_OK when value is given; otherwise prints "missing
 * OPTION: -COMMAND needs it" and returns CLI_EXIT_USAGE. option is shown
 * as written, e.g. "-server https://HOST:PORT". */
int cli_require(const char *value, const char *option, const char *command);

#endif
