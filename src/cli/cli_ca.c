#include "cli/cli_ca.h"

#include "cli/cli_exit.h"
#include "cli/cli_http.h"
#include "cli/cli_pem.h"
#include "common/log.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
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
        rc = cli_ca_build_chain(
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

X509 *
cli_ca_find_root(const char *pem, size_t len, const char *fingerprint)
{
    STACK_OF(X509) *certs = NULL;
    X509 *found = NULL;
    char actual[65];

    if (cli_pem_read_certs(pem, len, &certs) <= 0)
        goto out;
    for (int i = 0; i < sk_X509_num(certs) && found == NULL; i++) {
        X509 *cert = sk_X509_value(certs, i);

        if (cli_pem_fingerprint(cert, actual) == 0 &&
            strcmp(actual, fingerprint) == 0 && X509_up_ref(cert) == 1)
            found = cert;
    }
out:
    sk_X509_pop_free(certs, X509_free);
    return found;
}

int
cli_ca_build_chain(const char *chain, X509 *root, char **pem, size_t *len)
{
    STACK_OF(X509) *certs = NULL;
    int rc = CLI_EXIT_LOCAL;

    *pem = NULL;
    if (chain == NULL)
        chain = "";
    if (cli_pem_read_certs(chain, strlen(chain), &certs) < 0) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "invalid response: \"chain\" is not a list of PEM "
                      "certificates");
        goto out;
    }
    for (int i = sk_X509_num(certs) - 1; i >= 0; i--)
        if (X509_cmp(sk_X509_value(certs, i), root) == 0)
            X509_free(sk_X509_delete(certs, i));
    if (X509_up_ref(root) != 1 || sk_X509_push(certs, root) <= 0 ||
        cli_pem_write_certs(certs, pem, len) != 0) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL,
                              "cannot encode the CA chain");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

/* Verifies cert up to root, with the other certificates of chain_file as
 * intermediates. */
static int
verify_chain(X509 *cert, const char *chain_file, X509 *root)
{
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = CLI_EXIT_SERVER;

    if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, root) != 1
        || cli_pem_read_certs(chain_file, strlen(chain_file),
                              &untrusted) < 0 ||
        X509_STORE_CTX_init(ctx, store, cert, untrusted) != 1) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL,
                              "cannot set up certificate verification");
        goto out;
    }
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx) != 1) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "the issued certificate does not verify up to the "
                      "pinned CA root: %s",
                      X509_verify_cert_error_string(
                          X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(untrusted, X509_free);
    return rc;
}

int
cli_ca_check_issued(const char *cert_pem, const char *chain_file,
                    X509 *root, EVP_PKEY *key, X509 **cert)
{
    STACK_OF(X509) *certs = NULL;
    X509 *issued = NULL;
    int rc = CLI_EXIT_SERVER;

    *cert = NULL;
    if (cert_pem == NULL ||
        cli_pem_read_certs(cert_pem, strlen(cert_pem), &certs) != 1) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "invalid response: \"certificate\" must hold one PEM "
                      "certificate");
        goto out;
    }
    issued = sk_X509_shift(certs);
    if (EVP_PKEY_eq(X509_get0_pubkey(issued), key) != 1) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "the server returned a certificate for another public "
                      "key than the CSR's; nothing was written");
        goto out;
    }
    rc = verify_chain(issued, chain_file, root);
    if (rc != CLI_EXIT_OK)
        goto out;
    *cert = issued;
    issued = NULL;
out:
    ERR_clear_error();
    X509_free(issued);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}
