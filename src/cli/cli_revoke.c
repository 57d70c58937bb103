/*
 * -revoke: has the server revoke one certificate, with this host's
 * identity or the administrator token, and prints what the server
 * recorded.
 */
#include "cli/cli_auth.h"
#include "cli/cli_commands.h"
#include "cli/cli_config.h"
#include "cli/cli_exit.h"
#include "cli/cli_http.h"
#include "common/crl_reason.h"
#include "common/serial_hex.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The maximum length of a serial in hex digits: 20 octets (RFC 5280,
 * section 4.1.2.2) and a sign octet. */
#define SERIAL_HEX_MAX 42

#define REVOKE_PATH_PREFIX "/v1/certificates/"
#define REVOKE_PATH_SUFFIX "/revoke"
/* Room for the request path of the longest serial and its NUL. */
#define REVOKE_PATH_SIZE                                                   \
    (sizeof(REVOKE_PATH_PREFIX) - 1 + SERIAL_HEX_MAX +                     \
     sizeof(REVOKE_PATH_SUFFIX))

/* Copies -serial as upper-case hex without the colons openssl may print
 * between octets, and without leading zero bytes, as the server stores
 * it and names it in its confirmation. */
static int
parse_serial(const char *text, char *out, size_t size)
{
    size_t used = 0;

    for (const char *c = text; *c != '\0'; c++) {
        if (*c == ':')
            continue;
        if (!isxdigit((unsigned char)*c) || used + 1 >= size)
            return cli_fail(CLI_EXIT_USAGE,
                            "invalid -serial \"%.60s\": give the serial "
                            "number in hex, at most %d digits, as openssl "
                            "x509 -serial prints it",
                            text, SERIAL_HEX_MAX);
        out[used++] = (char)toupper((unsigned char)*c);
    }
    out[used] = '\0';
    if (used == 0)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -serial \"%s\": it has no hex digits",
                        text);
    serial_hex_strip_leading_zeros(out, used);
    return CLI_EXIT_OK;
}

static int
parse_reason(const char *text, int *reason)
{
    char problem[128];

    *reason = 0;
    if (text == NULL)
        return CLI_EXIT_OK;
    if (crl_reason_parse(text, reason, problem, sizeof(problem)) == 0)
        return CLI_EXIT_OK;
    return cli_fail(CLI_EXIT_USAGE, "invalid -reason \"%.40s\": it %s; use "
                    "one of %s", text, problem, CRL_REASON_ACCEPTED);
}

static int
check_options(const struct cli_options *opts, char *serial, size_t size,
              int *reason)
{
    int rc;

    rc = cli_require(opts->serial, "-serial HEX", "revoke");
    if (rc == CLI_EXIT_OK)
        rc = parse_serial(opts->serial, serial, size);
    if (rc == CLI_EXIT_OK)
        rc = parse_reason(opts->reason, reason);
    if (rc == CLI_EXIT_OK && opts->server != NULL)
        rc = cli_http_check_server(opts->server, "-server");
    return rc;
}

/* Prints the revocation the server recorded, after checking that it is
 * the one requested. */
static int
print_revocation(json_t *response, const char *serial, const char *server)
{
    const char *got = json_string_value(json_object_get(response, "serial"));
    const char *at =
        json_string_value(json_object_get(response, "revoked_at"));
    const char *reason =
        json_string_value(json_object_get(response, "reason"));

    if (got == NULL || strcmp(got, serial) != 0 || at == NULL ||
        reason == NULL)
        return cli_fail(CLI_EXIT_SERVER,
                        "invalid response from %s: it does not confirm the "
                        "revocation of %s; check it with GET "
                        "/v1/certificates/%s",
                        server, serial, serial);
    printf("revoked %s at %s, reason %s\n", serial, at, reason);
    return CLI_EXIT_OK;
}

static int
send_request(const char *serial, int reason, const char *server,
             const struct cli_http_trust *trust, const struct cli_auth *auth)
{
    char path[REVOKE_PATH_SIZE];
    json_t *body = NULL;
    json_t *response = NULL;
    int len;
    int rc;

    /* Defensive: parse_serial keeps serial within SERIAL_HEX_MAX, so the
     * path always fits. A truncated path would name another endpoint. */
    len = snprintf(path, sizeof(path), REVOKE_PATH_PREFIX "%s"
                   REVOKE_PATH_SUFFIX, serial);
    if (len < 0 || (size_t)len >= sizeof(path))
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -serial \"%.60s\": give at most %d hex "
                        "digits",
                        serial, SERIAL_HEX_MAX);
    body = json_pack("{s:s}", "reason", crl_reason_name(reason));
    if (body == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "cannot encode the request");
    rc = cli_http_request(server, "POST", path, trust, &auth->http, body,
                          &response);
    json_decref(body);
    if (rc == CLI_EXIT_OK)
        rc = print_revocation(response, serial, server);
    json_decref(response);
    return rc;
}

int
cli_revoke_run(const struct cli_options *opts)
{
    struct cli_auth_context ctx;
    char serial[SERIAL_HEX_MAX + 1];
    int reason = 0;
    int rc;

    rc = check_options(opts, serial, sizeof(serial), &reason);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_auth_context_open(&ctx, opts, "revoke");
    if (rc == CLI_EXIT_OK)
        rc = send_request(serial, reason, ctx.server, &ctx.trust, &ctx.auth);
    cli_auth_context_free(&ctx);
    return rc;
}
