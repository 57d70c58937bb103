/*
 * Certificate issuance: the entry points of cert_issue.h. The CSR checks
 * live in cert_csr_check.c, a host certificate's assembly in cert_leaf.c
 * and its signing in cert_sign.c (cert_internal.h lists the other
 * parts). This file checks the request's own fields (hash, days) and runs
 * the steps in order.
 */
#include "managers/cert_issue.h"

#include <openssl/err.h>
#include <string.h>
#include <strings.h>
#include "managers/cert_internal.h"

#define HASH_FIELD "cert_details.hash_algorithm"
#define DAYS_FIELD "cert_details.days"
/* Upper bound on the days of the root and the API's certificate, which
 * take no issue_limits. It keeps notAfter far from time_t overflow. */
#define CERT_DAYS_LIMIT 36500
#define SERVER_EXTENDED_KEY_USAGE "serverAuth"

/*
 * Maps the requested hash to the digest name for signing: sha256 (also for
 * NULL), sha384 or sha512, in any letter case. md5, md4 and sha1 are
 * ADCP_ERR_WEAK_ALGORITHM, any other name ADCP_ERR_INVALID_FIELD.
 */
static enum adcp_status
check_hash(const char *requested, const char **digest,
           struct adcp_error *err)
{
    static const char *const accepted[] = {"sha256", "sha384", "sha512"};
    static const char *const weak[] = {"md5", "sha1", "sha-1", "md4"};

    if (requested == NULL) {
        *digest = "sha256";
        return ADCP_OK;
    }
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        if (strcasecmp(requested, accepted[i]) == 0) {
            *digest = accepted[i];
            return ADCP_OK;
        }
    }
    for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++)
        if (strcasecmp(requested, weak[i]) == 0)
            return adcp_error_set(err, ADCP_ERR_WEAK_ALGORITHM, HASH_FIELD,
                                  "cert_details.hash_algorithm %s is a "
                                  "weak hash; use sha256, sha384 or sha512",
                                  weak[i]);
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, HASH_FIELD,
                          "cert_details.hash_algorithm '%.32s' is not "
                          "supported; use sha256, sha384 or sha512",
                          requested);
}

/* Resolves the requested days: 0 selects the default, and any other value
 * must lie in 1 to max_days. */
static enum adcp_status
check_days(int requested, const struct issue_limits *limits, int *days,
           struct adcp_error *err)
{
    if (requested == 0)
        requested = limits->default_days;
    if (requested < 1 || requested > limits->max_days)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, DAYS_FIELD,
                              "cert_details.days is %d; give 1 to %d days, "
                              "or leave it out for the default of %d",
                              requested, limits->max_days,
                              limits->default_days);
    *days = requested;
    return ADCP_OK;
}

static enum adcp_status
check_fixed_days(int days, struct adcp_error *err)
{
    if (days < 1 || days > CERT_DAYS_LIMIT)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, DAYS_FIELD,
                              "the certificate validity of %d days is out "
                              "of range; give 1 to %d days",
                              days, CERT_DAYS_LIMIT);
    return ADCP_OK;
}

enum adcp_status
cert_issue_from_csr(X509 *ca_cert, EVP_PKEY *ca_key,
                    const struct issue_host *host,
                    const struct issue_request *request,
                    const struct issue_limits *limits,
                    struct issue_result *out, struct adcp_error *err)
{
    enum adcp_status status;
    const char *digest = NULL, *common_name = NULL;
    struct cert_csr *csr = NULL;
    int days = 0;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (ca_cert == NULL || ca_key == NULL || host == NULL ||
        host->name == NULL || request == NULL || limits == NULL ||
        out == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cert_issue_from_csr called without a CA, "
                              "host, request, limits or result");

    status = cert_csr_parse(request->csr_pem, limits->min_rsa_bits, &csr,
                            err);
    if (status != ADCP_OK)
        goto out;
    status = check_hash(request->hash_algorithm, &digest, err);
    if (status != ADCP_OK)
        goto out;
    status = check_days(request->days, limits, &days, err);
    if (status != ADCP_OK)
        goto out;
    status = cert_csr_check_claims(csr, host, &common_name, err);
    if (status != ADCP_OK)
        goto out;
    status = cert_build_leaf_signed(ca_cert, ca_key,
                                    cert_csr_public_key(csr), common_name,
                                    host, days, digest, request->ocsp_url,
                                    out, err);
out:
    cert_csr_free(csr);
    return status;
}

enum adcp_status
cert_root_create(EVP_PKEY *key, const char *common_name,
                 const char *organization, int days,
                 const char *hash_algorithm, struct issue_result *out,
                 struct adcp_error *err)
{
    enum adcp_status status;
    const char *digest = NULL;
    X509 *cert = NULL;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (key == NULL || out == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cert_root_create called without a key or "
                              "result");
    if (common_name == NULL || common_name[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "common_name",
                              "the root certificate needs a common name");

    status = check_hash(hash_algorithm, &digest, err);
    if (status != ADCP_OK)
        goto out;
    status = check_fixed_days(days, err);
    if (status != ADCP_OK)
        goto out;
    status = cert_build_root(key, common_name, organization, days, &cert,
                             err);
    if (status != ADCP_OK)
        goto out;
    status = cert_build_sign(&cert, NULL, key, digest, out, err);
out:
    X509_free(cert);
    return status;
}

enum adcp_status
cert_server_create(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *subject_key,
                   const struct issue_host *names, int days,
                   struct issue_result *out, struct adcp_error *err)
{
    enum adcp_status status;
    X509_PUBKEY *public_key = NULL;
    X509 *cert = NULL;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (ca_cert == NULL || ca_key == NULL || subject_key == NULL ||
        names == NULL || out == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cert_server_create called without a CA, "
                              "subject key, names or result");
    if (names->name == NULL || names->name[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "name",
                              "the API's server certificate needs a name "
                              "for its CN");

    status = check_fixed_days(days, err);
    if (status != ADCP_OK)
        goto out;
    if (X509_PUBKEY_set(&public_key, subject_key) != 1) {
        ERR_clear_error();
        status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                "the public half of the API's TLS key "
                                "cannot be encoded; check the key");
        goto out;
    }
    status = cert_build_leaf(ca_cert, public_key, names->name, names, days,
                             SERVER_EXTENDED_KEY_USAGE, &cert, err);
    if (status != ADCP_OK)
        goto out;
    status = cert_build_sign(&cert, ca_cert, ca_key, "sha256", out, err);
out:
    X509_PUBKEY_free(public_key);
    X509_free(cert);
    return status;
}
