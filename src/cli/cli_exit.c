#include "cli/cli_exit.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Returns the length of the UTF-8 sequence at text when it is valid
 * (RFC 3629: shortest form, no surrogates, at most U+10FFFF) and encodes
 * no C1 control (U+0080 to U+009F); otherwise 0. */
static size_t
printable_sequence_length(const unsigned char *text)
{
    unsigned char lead = text[0], second = text[1];
    size_t len;

    if (lead < 0x80)
        return 1;
    if (lead >= 0xc2 && lead <= 0xdf)
        len = 2;
    else if (lead >= 0xe0 && lead <= 0xef)
        len = 3;
    else if (lead >= 0xf0 && lead <= 0xf4)
        len = 4;
    else
        return 0;
    if ((second & 0xc0) != 0x80 || (lead == 0xc2 && second < 0xa0) ||
        (lead == 0xe0 && second < 0xa0) || (lead == 0xed && second > 0x9f) ||
        (lead == 0xf0 && second < 0x90) || (lead == 0xf4 && second > 0x8f))
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((text[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* Replaces control characters (C0, DEL and C1) and bytes that are not
 * valid UTF-8 with '?'. Messages quote values from the command line and
 * from the server, and a terminal would act on an escape sequence in
 * them. */
static void
escape_controls(char *text)
{
    unsigned char *cursor = (unsigned char *)text;

    while (*cursor != '\0') {
        size_t len = printable_sequence_length(cursor);

        if (len == 0 || *cursor < 0x20 || *cursor == 0x7f) {
            *cursor++ = '?';
            continue;
        }
        cursor += len;
    }
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
