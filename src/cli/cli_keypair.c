/*
 * -keypair_gen: has the server generate a key pair inside one of its HSMs
 * and prints the public key.
 */
#include "cli/cli_auth.h"
#include "cli/cli_commands.h"
#include "cli/cli_config.h"
#include "cli/cli_exit.h"
#include "cli/cli_http.h"
#include "cli/cli_keyspec.h"
#include "cli/cli_pem.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum label length in bytes: the server's limit for key labels. */
#define LABEL_MAX 63

static int
check_label(const char *label)
{
    size_t len = strlen(label);

    if (len == 0 || len > LABEL_MAX)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -label: it has %zu characters; use 1 to %d",
                        len, LABEL_MAX);
    for (const char *p = label; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return cli_fail(CLI_EXIT_USAGE,
                            "invalid -label: it contains a control "
                            "character; use printable text such as web-1");
    return CLI_EXIT_OK;
}

static int
check_options(const struct cli_options *opts, struct cli_keyspec *spec)
{
    int rc;

    memset(spec, 0, sizeof(*spec));
    rc = cli_require(opts->label, "-label LABEL", "keypair_gen");
    if (rc == CLI_EXIT_OK)
        rc = cli_require(opts->key_type, "-key_type rsa|ec", "keypair_gen");
    if (rc == CLI_EXIT_OK)
        rc = cli_require(opts->length, "-length N", "keypair_gen");
    if (rc == CLI_EXIT_OK)
        rc = check_label(opts->label);
    if (rc == CLI_EXIT_OK)
        rc = cli_keyspec_parse_type(opts->key_type, "-key_type",
                                    &spec->type);
    if (rc == CLI_EXIT_OK)
        rc = cli_keyspec_parse_length(opts->length, "-length", spec->type,
                                      spec);
    if (rc == CLI_EXIT_OK && opts->server != NULL)
        rc = cli_http_check_server(opts->server, "-server");
    return rc;
}

/* Checks that the server's public key is of the requested type and
 * size. */
static bool
key_matches(EVP_PKEY *key, const struct cli_keyspec *spec)
{
    const char *type = spec->type == CLI_KEY_EC ? "EC" : "RSA";

    return EVP_PKEY_is_a(key, type) && EVP_PKEY_get_bits(key) == spec->bits;
}

/* Prints the public key as OpenSSL encodes it again after parsing the
 * response's PEM, so that stdout never carries text the server chose. */
static int
print_key(json_t *response, const struct cli_keyspec *spec,
          const char *label, const char *server)
{
    const char *pem =
        json_string_value(json_object_get(response, "public_key"));
    const char *hsm = json_string_value(json_object_get(response, "hsm"));
    EVP_PKEY *key = NULL;
    char *encoded = NULL;
    int rc = CLI_EXIT_SERVER;

    if (pem == NULL || cli_pem_public_key_read(pem, &key) != 0) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "invalid response from %s/v1/keys: \"public_key\" "
                      "must hold one PEM public key (a PUBLIC KEY block); "
                      "key pair \"%s\" may exist in the HSM nonetheless",
                      server, label);
        goto out;
    }
    if (!key_matches(key, spec)) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "invalid response from %s/v1/keys: the public key is "
                      "not the %s %d key requested; key pair \"%s\" may "
                      "exist in the HSM nonetheless", server,
                      cli_keyspec_type_name(spec->type), spec->bits, label);
        goto out;
    }
    if (cli_pem_public_key_write(key, &encoded) != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot encode the public key");
        goto out;
    }
    fputs(encoded, stdout);
    cli_note("generated %s %d key pair \"%s\" in HSM %s",
             cli_keyspec_type_name(spec->type), spec->bits, label,
             hsm ? hsm : "(not named)");
    rc = CLI_EXIT_OK;
out:
    free(encoded);
    EVP_PKEY_free(key);
    return rc;
}

static int
send_request(const struct cli_options *opts, const struct cli_keyspec *spec,
             const char *server, const struct cli_http_trust *trust,
             const struct cli_auth *auth)
{
    json_t *body = json_pack("{s:{s:s, s:i, s:s}}", "key_info", "type",
                             cli_keyspec_type_name(spec->type), "length",
                             spec->bits, "label", opts->label);
    json_t *response = NULL;
    int rc;

    if (body == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "cannot encode the request");
    rc = cli_http_request(server, "POST", "/v1/keys", trust, &auth->http,
                          body, &response);
    json_decref(body);
    if (rc == CLI_EXIT_OK)
        rc = print_key(response, spec, opts->label, server);
    json_decref(response);
    return rc;
}

int
cli_keypair_run(const struct cli_options *opts)
{
    struct cli_keyspec spec;
    struct cli_auth_context ctx;
    int rc;

    rc = check_options(opts, &spec);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_auth_context_open(&ctx, opts, "keypair_gen");
    if (rc == CLI_EXIT_OK)
        rc = send_request(opts, &spec, ctx.server, &ctx.trust, &ctx.auth);
    cli_auth_context_free(&ctx);
    return rc;
}
