#include "cli/cli_pass.h"

#include "cli/cli_exit.h"
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ui.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Cuts text at its first CR or LF. */
static void
cut_line(char *text)
{
    text[strcspn(text, "\r\n")] = '\0';
}

static int
copy_secret(const char *text, char **out)
{
    *out = strdup(text);
    if (*out == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "out of memory");
    cut_line(*out);
    return CLI_EXIT_OK;
}

/* Reads up to the first newline of fd, one byte at a time so that nothing
 * after the line is consumed (another passphrase may follow on stdin).
 * what names fd in messages ("standard input", "file descriptor 3"). */
static int
read_line_fd(int fd, const char *what, const char *option, char **out)
{
    char buf[CLI_PASS_MAX + 2];
    size_t used = 0;
    bool at_end = false;
    int rc = CLI_EXIT_OK;

    while (used < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + used, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cli_fail(CLI_EXIT_LOCAL, "cannot read the passphrase for "
                          "%s from %s: %s", option, what, strerror(errno));
            goto out;
        }
        if (n == 0)
            at_end = true;
        if (n == 0 || buf[used] == '\n')
            break;
        used++;
    }
    /* An empty line is a passphrase of 0 characters, which check_length
     * rejects; no line at all means the input ran out. */
    if (at_end && used == 0) {
        rc = cli_fail(CLI_EXIT_USAGE,
                      "no passphrase for %s on %s: the input ended before a "
                      "line; give one line for each option that reads it "
                      "(-passin first, then -passout)", option, what);
        goto out;
    }
    buf[used] = '\0';
    rc = copy_secret(buf, out);
out:
    secret_wipe(buf, sizeof(buf));
    return rc;
}

static int
read_env(const char *name, const char *option, char **out)
{
    const char *value = getenv(name);

    if (value == NULL)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s env:%s: the environment variable is "
                        "not set; export it or choose another source",
                        option, name);
    return copy_secret(value, out);
}

static int
read_file(const char *path, const char *option, char **out)
{
    *out = secret_read_file(path);
    if (*out != NULL)
        return CLI_EXIT_OK;
    if (errno == EPERM)
        return cli_fail(CLI_EXIT_LOCAL,
                        "passphrase file %s (%s) is readable by group or "
                        "others; run chmod 600 %s", path, option, path);
    return cli_fail(CLI_EXIT_LOCAL, "cannot read passphrase file %s (%s): "
                    "%s", path, option, strerror(errno));
}

static int
read_fd_source(const char *number, const char *option, char **out)
{
    char what[48];
    char *end;
    long fd;

    errno = 0;
    fd = strtol(number, &end, 10);
    if (number[0] == '\0' || *end != '\0' || errno != 0 || fd < 0 ||
        fd > INT_MAX)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s fd:%s: expected a file descriptor "
                        "number such as fd:3", option, number);
    snprintf(what, sizeof(what), "file descriptor %ld", fd);
    return read_line_fd((int)fd, what, option, out);
}

/* Dispatches on the prefix of an explicit source. */
static int
read_source(const char *source, const char *option, char **out)
{
    if (strncmp(source, "pass:", 5) == 0)
        return copy_secret(source + 5, out);
    if (strncmp(source, "env:", 4) == 0)
        return read_env(source + 4, option, out);
    if (strncmp(source, "file:", 5) == 0)
        return read_file(source + 5, option, out);
    if (strncmp(source, "fd:", 3) == 0)
        return read_fd_source(source + 3, option, out);
    if (strcmp(source, "stdin") == 0)
        return read_line_fd(STDIN_FILENO, "standard input", option, out);
    /* The value is not quoted: it may be a passphrase typed without
     * its pass: prefix. */
    return cli_fail(CLI_EXIT_USAGE,
                    "invalid %s source: use pass:TEXT, env:VAR, file:PATH, "
                    "fd:N or stdin", option);
}

static bool
have_terminal(void)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/*
 * Prompts on the terminal through OpenSSL's UI, which opens /dev/tty,
 * turns echo off and restores the terminal on signals. Length limits are
 * checked by the caller so that the message names them.
 */
static int
prompt_terminal(const char *prompt, bool confirm, char **out)
{
    char first[CLI_PASS_MAX + 1];
    char second[CLI_PASS_MAX + 1];
    char text[PATH_MAX + 64];
    UI *ui = UI_new();
    int status, rc = CLI_EXIT_LOCAL;

    if (ui == NULL)
        return cli_fail_openssl(CLI_EXIT_LOCAL, "cannot start the prompt");
    snprintf(text, sizeof(text), "%s for %s: ",
             confirm ? "New passphrase" : "Passphrase", prompt);
    if (UI_add_input_string(ui, text, 0, first, 0, CLI_PASS_MAX) < 0 ||
        (confirm && UI_add_verify_string(ui, text, 0, second, 0,
                                         CLI_PASS_MAX, first) < 0)) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL, "cannot start the prompt");
        goto out;
    }
    status = UI_process(ui);
    ERR_clear_error();
    if (status == -2) {
        rc = cli_fail(CLI_EXIT_USAGE, "passphrase prompt interrupted");
        goto out;
    }
    if (status != 0) {
        rc = cli_fail(CLI_EXIT_USAGE,
                      "the passphrase was not read: %s; try again",
                      confirm ? "the two entries differ or the terminal "
                                "failed"
                              : "the terminal failed");
        goto out;
    }
    rc = copy_secret(first, out);
out:
    UI_free(ui);
    secret_wipe(first, sizeof(first));
    secret_wipe(second, sizeof(second));
    return rc;
}

/* Rejects a passphrase outside the length limits; origin names where it
 * came from. */
static int
check_length(const char *origin, char **pass)
{
    size_t len = strlen(*pass);

    if (len >= CLI_PASS_MIN && len <= CLI_PASS_MAX)
        return CLI_EXIT_OK;
    secret_clear_string(pass);
    return cli_fail(CLI_EXIT_USAGE,
                    "invalid passphrase from %s: it has %zu characters; use "
                    "%d to %d", origin, len, CLI_PASS_MIN, CLI_PASS_MAX);
}

int
cli_pass_read(const char *source, const char *option, const char *prompt,
              bool confirm, char **out)
{
    const char *origin = option;
    int rc;

    *out = NULL;
    if (source != NULL) {
        rc = read_source(source, option, out);
    } else if (getenv(CLI_PASS_ENV) != NULL) {
        origin = "$" CLI_PASS_ENV;
        rc = copy_secret(getenv(CLI_PASS_ENV), out);
    } else if (have_terminal()) {
        origin = "the prompt";
        rc = prompt_terminal(prompt, confirm, out);
    } else {
        rc = cli_fail(CLI_EXIT_USAGE,
                      "no passphrase for %s and no terminal to ask on; give "
                      "%s pass:TEXT|env:VAR|file:PATH|fd:N|stdin or set %s",
                      prompt, option, CLI_PASS_ENV);
    }
    if (rc != CLI_EXIT_OK)
        return rc;
    return check_length(origin, out);
}
