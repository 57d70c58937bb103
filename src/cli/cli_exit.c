#include "cli/cli_exit.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>

/* Replaces control characters, because messages quote values that come
 * from the command line or from the server. */
static void
escape_controls(char *text)
{
    for (; *text != '\0'; text++)
        if ((unsigned char)*text < 0x20 || *text == 0x7f)
            *text = '?';
}

static void
print_line(const char *message, const char *detail)
{
    fprintf(stderr, "ssleverywhere: %s%s%s\n", message,
            detail[0] != '\0' ? ": " : "", detail);
    fflush(stderr);
}

int
cli_fail(int code, const char *fmt, ...)
{
    char message[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    escape_controls(message);
    print_line(message, "");
    return code;
}

/* Joins the reason strings of the queued OpenSSL errors with "; ". */
static void
drain_openssl_errors(char *text, size_t size)
{
    size_t used = 0;
    unsigned long code;

    text[0] = '\0';
    while ((code = ERR_get_error()) != 0) {
        const char *reason = ERR_reason_error_string(code);
        char fallback[32];
        int n;

        if (reason == NULL) {
            snprintf(fallback, sizeof(fallback), "error %lx", code);
            reason = fallback;
        }
        n = snprintf(text + used, size - used, "%s%s", used ? "; " : "",
                     reason);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

int
cli_fail_openssl(int code, const char *fmt, ...)
{
    char message[1024];
    char detail[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    drain_openssl_errors(detail, sizeof(detail));
    escape_controls(message);
    escape_controls(detail);
    print_line(message, detail);
    return code;
}

void
cli_note(const char *fmt, ...)
{
    char message[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    escape_controls(message);
    print_line(message, "");
}

int
cli_require(const char *value, const char *option, const char *command)
{
    if (value != NULL)
        return CLI_EXIT_OK;
    return cli_fail(CLI_EXIT_USAGE,
                    "missing %s: -%s needs it (see ssleverywhere -%s -help)",
                    option, command, command);
}
