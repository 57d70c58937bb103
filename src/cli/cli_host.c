/*
 * -add_host (administrator): registers a host and the names it may hold
 * certificates for, and prints its one-time enrolment token.
 */
#include "cli/cli_auth.h"
#include "cli/cli_ca.h"
#include "cli/cli_commands.h"
#include "cli/cli_config.h"
#include "cli/cli_exit.h"
#include "cli/cli_file.h"
#include "cli/cli_http.h"
#include "cli/cli_pem.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest DNS name and label (RFC 1035, section 2.3.4). */
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

/* Checks the LDH syntax of a host name: dot-separated labels of letters,
 * digits and hyphens, no label starting or ending with a hyphen. */
static bool
dns_name_valid(const char *name)
{
    size_t len = strlen(name), label = 0;

    if (len == 0 || len > DNS_NAME_MAX || name[len - 1] == '.')
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = name[i];

        if (c == '.' || c == '\0') {
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-')
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > DNS_LABEL_MAX)
            return false;
    }
    return true;
}

static bool
ip_address_valid(const char *text)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, text, buf) == 1 ||
           inet_pton(AF_INET6, text, buf) == 1;
}

static int
check_options(const struct cli_options *opts)
{
    int rc = cli_require(opts->name, "-name NAME", "add_host");

    if (rc == CLI_EXIT_OK)
        rc = cli_require(opts->admin_token_file, "-admin_token_file FILE",
                         "add_host");
    if (rc != CLI_EXIT_OK)
        return rc;
    if (!cli_file_name_valid(opts->name))
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -name %s: use 1 to %d letters, digits, "
                        "'.', '_' or '-', and not . or ..", opts->name,
                        CLI_NAME_MAX);
    for (size_t i = 0; i < opts->dns.count; i++)
        if (!dns_name_valid(opts->dns.items[i]))
            return cli_fail(CLI_EXIT_USAGE,
                            "invalid -dns %s: give a host name such as "
                            "se.example.test (letters, digits, '-', dots)",
                            opts->dns.items[i]);
    for (size_t i = 0; i < opts->ip.count; i++)
        if (!ip_address_valid(opts->ip.items[i]))
            return cli_fail(CLI_EXIT_USAGE,
                            "invalid -ip %s: give an IPv4 or IPv6 address "
                            "such as 192.0.2.10 or 2001:db8::10",
                            opts->ip.items[i]);
    if (opts->cafile != NULL && opts->fingerprint != NULL)
        return cli_fail(CLI_EXIT_USAGE,
                        "options -cafile and -fingerprint exclude each "
                        "other; give one");
    if (opts->server != NULL)
        return cli_http_check_server(opts->server, "-server");
    return CLI_EXIT_OK;
}

/* Trusts the root pinned by -fingerprint, or the CA file. */
static int
choose_trust(struct cli_http_trust *trust, char **pinned, char *ca_path,
             size_t size, const struct cli_options *opts,
             const char *dir_path, const char *server)
{
    char fingerprint[65];
    size_t len;
    int rc;

    *pinned = NULL;
    if (opts->fingerprint == NULL)
        return cli_auth_trust(trust, ca_path, size, opts, dir_path);
    if (cli_pem_fingerprint_parse(opts->fingerprint, fingerprint) != 0)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -fingerprint %s: give the 64 hex digits of "
                        "the root's SHA-256 fingerprint (colons allowed)",
                        opts->fingerprint);
    rc = cli_ca_pin_root(server, fingerprint, pinned, &len);
    memset(trust, 0, sizeof(*trust));
    trust->ca_pem = *pinned;
    return rc;
}

static json_t *
build_request(const struct cli_options *opts)
{
    json_t *dns = json_array(), *ip = json_array();

    for (size_t i = 0; dns != NULL && i < opts->dns.count; i++)
        json_array_append_new(dns, json_string(opts->dns.items[i]));
    for (size_t i = 0; ip != NULL && i < opts->ip.count; i++)
        json_array_append_new(ip, json_string(opts->ip.items[i]));
    /* "o" takes the references of both arrays, also on failure. */
    return json_pack("{s:s, s:o, s:o}", "name", opts->name, "dns_names",
                     dns, "ip_addresses", ip);
}

static int
send_request(const struct cli_options *opts, const char *server,
             const struct cli_http_trust *trust, const struct cli_auth *auth)
{
    json_t *body = build_request(opts);
    json_t *response = NULL, *host;
    const char *token, *expires;
    int rc;

    if (body == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "cannot encode the request");
    rc = cli_http_request(server, "POST", "/v1/hosts", trust, &auth->http,
                          body, &response);
    json_decref(body);
    if (rc != CLI_EXIT_OK)
        goto out;
    token = json_string_value(json_object_get(response, "enrollment_token"));
    expires = json_string_value(json_object_get(response, "expires_at"));
    host = json_object_get(response, "host");
    if (token == NULL) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "invalid response from %s/v1/hosts: no "
                      "\"enrollment_token\"", server);
        goto out;
    }
    /* Only a token of the expected alphabet reaches stdout, where a
     * script captures it or a terminal shows it. */
    if (!cli_config_token_valid(token)) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "invalid response from %s/v1/hosts: "
                      "\"enrollment_token\" is not %d to %d characters of "
                      "A-Z, a-z, 0-9, '_' and '-', so it is not printed; "
                      "host %s may be registered without a usable token",
                      server, CLI_TOKEN_MIN, CLI_TOKEN_MAX, opts->name);
        goto out;
    }
    printf("%s\n", token);
    cli_note("registered host %s (id %lld); its enrolment token is valid "
             "until %s and works once", opts->name,
             (long long)json_integer_value(json_object_get(host, "id")),
             expires ? expires : "(not given)");
out:
    json_decref(response);
    return rc;
}

int
cli_host_run(const struct cli_options *opts)
{
    struct cli_config cfg = {NULL, NULL, NULL, NULL};
    struct cli_auth auth;
    struct cli_http_trust trust;
    char dir_path[PATH_MAX], ca_path[PATH_MAX];
    char *pinned = NULL;
    const char *server = NULL;
    int rc;

    memset(&auth, 0, sizeof(auth));
    rc = check_options(opts);
    if (rc == CLI_EXIT_OK)
        rc = cli_config_load_server(opts, dir_path, sizeof(dir_path), &cfg,
                                    &server, "add_host");
    if (rc == CLI_EXIT_OK)
        rc = cli_auth_admin_token(&auth, opts->admin_token_file);
    if (rc == CLI_EXIT_OK)
        rc = choose_trust(&trust, &pinned, ca_path, sizeof(ca_path), opts,
                          dir_path, server);
    if (rc == CLI_EXIT_OK)
        rc = send_request(opts, server, &trust, &auth);
    free(pinned);
    cli_auth_free(&auth);
    cli_config_free(&cfg);
    return rc;
}
