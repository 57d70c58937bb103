#include "cli/cli_ca.h"

#include "cli/cli_chain.h"
#include "cli/cli_exit.h"
#include "cli/cli_http.h"
#include "cli/cli_pem.h"
#include "common/log.h"

#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

/* Parses the "root" member of a /v1/ca response: exactly one
 * certificate. Returns it, or NULL after printing an error. */
static X509 *
read_root_member(json_t *response, const char *server)
{
    const char *pem = json_string_value(json_object_get(response, "root"));
    STACK_OF(X509) *certs = NULL;
    X509 *root = NULL;

    if (pem == NULL ||
        cli_pem_read_certs(pem, strlen(pem), &certs) != 1) {
        cli_fail(CLI_EXIT_SERVER,
                 "invalid response from %s/v1/ca: \"root\" must hold one "
                 "PEM certificate", server);
        goto out;
    }
    root = sk_X509_shift(certs);
out:
    sk_X509_pop_free(certs, X509_free);
    return root;
}

static int
compare_fingerprint(X509 *root, const char *expected, const char *server)
{
    char actual[65];
    char actual_text[96], expected_text[96];

    if (cli_pem_fingerprint(root, actual) != 0)
        return cli_fail_openssl(CLI_EXIT_LOCAL,
                                "cannot hash the root certificate");
    if (strcmp(actual, expected) == 0)
        return CLI_EXIT_OK;
    cli_pem_fingerprint_format(actual, actual_text);
    cli_pem_fingerprint_format(expected, expected_text);
    return cli_fail(CLI_EXIT_FINGERPRINT,
                    "fingerprint mismatch: the CA root of %s has SHA-256 %s, "
                    "but -fingerprint is %s; nothing was written. Check "
                    "-server and the fingerprint that hsm4ssld printed",
                    server, actual_text, expected_text);
}

/* One GET /v1/ca; returns the root in *root and the response. */
static int
fetch_ca(const char *server, const struct cli_http_trust *trust,
         X509 **root, json_t **response)
{
    const struct cli_http_auth no_auth = {NULL, NULL, NULL, NULL};
    int rc;

    *root = NULL;
    rc = cli_http_request(server, "GET", "/v1/ca", trust, &no_auth, NULL,
                          response);
    if (rc != CLI_EXIT_OK)
        return rc;
    *root = read_root_member(*response, server);
    return *root != NULL ? CLI_EXIT_OK : CLI_EXIT_SERVER;
}

static int
root_to_pem(X509 *root, char **pem)
{
    BIO *bio = BIO_new(BIO_s_mem());
    size_t len;
    int rc = -1;

    *pem = NULL;
    if (bio != NULL && PEM_write_bio_X509(bio, root) == 1)
        rc = cli_pem_bio_to_string(bio, pem, &len);
    BIO_free(bio);
    return rc;
}

int
cli_ca_pin_root(const char *server, const char *fingerprint,
                char **chain_pem, size_t *chain_len)
{
    struct cli_http_trust trust = {true, NULL, NULL};
    json_t *first = NULL, *second = NULL;
    X509 *root = NULL, *verified_root = NULL;
    char *root_pem = NULL;
    int rc;

    *chain_pem = NULL;
    rc = fetch_ca(server, &trust, &root, &first);
    if (rc == CLI_EXIT_OK)
        rc = compare_fingerprint(root, fingerprint, server);
    if (rc != CLI_EXIT_OK)
        goto out;
    log_debug("root of %s matches the fingerprint; verifying TLS with it",
              server);
    if (root_to_pem(root, &root_pem) != 0) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL, "cannot encode the root");
        goto out;
    }
    trust.insecure = false;
    trust.ca_pem = root_pem;
    rc = fetch_ca(server, &trust, &verified_root, &second);
    /* The root must not change between the two requests. */
    if (rc == CLI_EXIT_OK)
        rc = compare_fingerprint(verified_root, fingerprint, server);
    if (rc == CLI_EXIT_OK)
        rc = cli_chain_build(
            json_string_value(json_object_get(second, "chain")), root,
            chain_pem, chain_len);
out:
    free(root_pem);
    X509_free(verified_root);
    X509_free(root);
    json_decref(second);
    json_decref(first);
    return rc;
}
