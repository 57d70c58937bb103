#include "cli/cli_chain.h"

#include "cli/cli_exit.h"
#include "cli/cli_pem.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Room for a subject in RFC 2253 form in messages. */
#define SUBJECT_TEXT_MAX 256

/* The outcome of one verification. */
struct verify_result {
    int error;              /* X509_V_OK or an X509_V_ERR_* code */
    int depth;              /* where in the chain error was found */
};

X509 *
cli_chain_find_root(const char *pem, size_t len, const char *fingerprint)
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

/*
 * Verifies target up to root, the only trust anchor, with untrusted as
 * candidate intermediates, at the current time. Returns 0 with *result
 * filled in (error X509_V_OK when target verifies), or -1 when the check
 * cannot be set up (the OpenSSL error queue has the reason).
 */
static int
verify_to_root(X509 *target, STACK_OF(X509) *untrusted, X509 *root,
               struct verify_result *result)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1;

    if (store == NULL || ctx == NULL ||
        X509_STORE_add_cert(store, root) != 1 ||
        X509_STORE_CTX_init(ctx, store, target, untrusted) != 1)
        goto out;
    if (X509_verify_cert(ctx) == 1) {
        result->error = X509_V_OK;
    } else {
        result->error = X509_STORE_CTX_get_error(ctx);
        /* Defensive: a failure must never read as success. */
        if (result->error == X509_V_OK)
            result->error = X509_V_ERR_UNSPECIFIED;
    }
    result->depth = X509_STORE_CTX_get_error_depth(ctx);
    rc = 0;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

static bool
contains_cert(STACK_OF(X509) *certs, X509 *cert)
{
    for (int i = 0; i < sk_X509_num(certs); i++)
        if (X509_cmp(sk_X509_value(certs, i), cert) == 0)
            return true;
    return false;
}

/* Checks that cert, a certificate of the server's chain other than the
 * root, is a CA certificate that verifies up to root through chain. */
static int
check_chain_member(X509 *cert, STACK_OF(X509) *chain, X509 *root)
{
    char subject[SUBJECT_TEXT_MAX];
    struct verify_result result;
    const char *reason = NULL;

    if (X509_check_ca(cert) != 1) {
        reason = "it is not a CA certificate (basicConstraints CA:TRUE)";
    } else {
        if (verify_to_root(cert, chain, root, &result) != 0)
            return cli_fail_openssl(CLI_EXIT_LOCAL,
                                    "cannot set up certificate "
                                    "verification");
        if (result.error != X509_V_OK)
            reason = X509_verify_cert_error_string(result.error);
    }
    ERR_clear_error();
    if (reason == NULL)
        return CLI_EXIT_OK;
    cli_pem_subject_format(cert, subject, sizeof(subject));
    return cli_fail(CLI_EXIT_SERVER,
                    "the server sent a chain certificate %s that does not "
                    "lead to the pinned root: %s; nothing was written",
                    subject, reason);
}

/* Appends the certificates of received that pass check_chain_member to
 * kept, in order, skipping the root and repeats. */
static int
keep_chain_members(STACK_OF(X509) *received, X509 *root,
                   STACK_OF(X509) *kept)
{
    for (int i = 0; i < sk_X509_num(received); i++) {
        X509 *cert = sk_X509_value(received, i);
        int rc;

        if (X509_cmp(cert, root) == 0 || contains_cert(kept, cert))
            continue;
        rc = check_chain_member(cert, received, root);
        if (rc != CLI_EXIT_OK)
            return rc;
        if (X509_up_ref(cert) != 1)
            return cli_fail(CLI_EXIT_LOCAL, "out of memory");
        if (sk_X509_push(kept, cert) <= 0) {
            X509_free(cert);
            return cli_fail(CLI_EXIT_LOCAL, "out of memory");
        }
    }
    return CLI_EXIT_OK;
}

int
cli_chain_build(const char *chain, X509 *root, char **pem, size_t *len)
{
    STACK_OF(X509) *received = NULL;
    STACK_OF(X509) *kept = sk_X509_new_null();
    int rc = CLI_EXIT_LOCAL;

    *pem = NULL;
    *len = 0;
    if (chain == NULL)
        chain = "";
    if (kept == NULL) {
        rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    if (cli_pem_read_certs(chain, strlen(chain), &received) < 0) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "invalid response: \"chain\" is not a list of PEM "
                      "certificates; nothing was written");
        goto out;
    }
    rc = keep_chain_members(received, root, kept);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (X509_up_ref(root) != 1) {
        rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    if (sk_X509_push(kept, root) <= 0) {
        X509_free(root);
        rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    if (cli_pem_write_certs(kept, pem, len) != 0) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL, "cannot encode the CA chain");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    ERR_clear_error();
    sk_X509_pop_free(kept, X509_free);
    sk_X509_pop_free(received, X509_free);
    return rc;
}

/* Checks that the issued certificate is an end-entity certificate that
 * TLS clients and servers accept: basicConstraints CA:FALSE, and an
 * extendedKeyUsage extension with both clientAuth and serverAuth. */
static int
check_leaf_extensions(X509 *cert)
{
    uint32_t flags = X509_get_extension_flags(cert);
    uint32_t usage = X509_get_extended_key_usage(cert);
    bool client = (flags & EXFLAG_XKUSAGE) && (usage & XKU_SSL_CLIENT);
    bool server = (flags & EXFLAG_XKUSAGE) && (usage & XKU_SSL_SERVER);

    /* X509_check_ca alone would pass CA:TRUE without keyCertSign. */
    if (!(flags & EXFLAG_BCONS) || (flags & EXFLAG_CA) ||
        X509_check_ca(cert) != 0)
        return cli_fail(CLI_EXIT_SERVER,
                        "the server issued a CA certificate or one without "
                        "basicConstraints (it must have CA:FALSE); nothing "
                        "was written");
    if (!client || !server)
        return cli_fail(CLI_EXIT_SERVER,
                        "the issued certificate lacks the extended key "
                        "usage %s%s%s; nothing was written",
                        client ? "" : "clientAuth",
                        !client && !server ? " and " : "",
                        server ? "" : "serverAuth");
    return CLI_EXIT_OK;
}

/* Prints why the issued certificate cert does not verify. */
static int
report_verify_error(X509 *cert, const struct verify_result *result)
{
    char not_before[32], not_after[32];
    bool time_error = result->error == X509_V_ERR_CERT_HAS_EXPIRED ||
                      result->error == X509_V_ERR_CERT_NOT_YET_VALID;

    if (time_error && result->depth == 0 &&
        cli_pem_time_format(X509_get0_notBefore(cert), not_before) == 0 &&
        cli_pem_time_format(X509_get0_notAfter(cert), not_after) == 0)
        return cli_fail(CLI_EXIT_SERVER,
                        "the issued certificate is not valid now: %s "
                        "(notBefore %s, notAfter %s); nothing was written. "
                        "If this host's clock is wrong, correct it and run "
                        "again", X509_verify_cert_error_string(result->error),
                        not_before, not_after);
    return cli_fail(CLI_EXIT_SERVER,
                    "the issued certificate does not verify up to the "
                    "pinned CA root: %s (at chain depth %d); nothing was "
                    "written", X509_verify_cert_error_string(result->error),
                    result->depth);
}

/* Verifies cert up to root, with the other certificates of chain_file as
 * intermediates, at the current time. */
static int
verify_issued(X509 *cert, const char *chain_file, X509 *root)
{
    STACK_OF(X509) *untrusted = NULL;
    struct verify_result result;
    int rc = CLI_EXIT_LOCAL;

    if (cli_pem_read_certs(chain_file, strlen(chain_file), &untrusted) < 0 ||
        verify_to_root(cert, untrusted, root, &result) != 0) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL,
                              "cannot set up certificate verification");
        goto out;
    }
    if (result.error != X509_V_OK) {
        rc = report_verify_error(cert, &result);
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    sk_X509_pop_free(untrusted, X509_free);
    return rc;
}

int
cli_chain_check_issued(const char *cert_pem, const char *chain_file,
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
                      "certificate; nothing was written");
        goto out;
    }
    issued = sk_X509_shift(certs);
    if (EVP_PKEY_eq(X509_get0_pubkey(issued), key) != 1) {
        rc = cli_fail(CLI_EXIT_SERVER,
                      "the server returned a certificate for another public "
                      "key than the CSR's; nothing was written");
        goto out;
    }
    rc = check_leaf_extensions(issued);
    if (rc == CLI_EXIT_OK)
        rc = verify_issued(issued, chain_file, root);
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
