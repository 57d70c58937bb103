/*
 * Signing a new certificate with the CA key through its OpenSSL provider,
 * so an HSM key signs inside the HSM. Each new signature is then checked
 * against the CA certificate: every one under an RSA CA certificate, a
 * sample under an EC one (cert_sign_check.c). cert_build_sign signs an
 * X509 object, and cert_build_sign_leaf an encoded TBSCertificate.
 */
#include "managers/cert_issue.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdbool.h>

#include "common/log.h"
#include "managers/cert_internal.h"

/* Logs the OpenSSL errors under func's name and sets the error of a new
 * signature that does not verify. */
static enum adcp_status
fail_signature_check(const char *func, struct adcp_error *err)
{
    log_openssl_errors(func, "checking the new signature");
    return adcp_error_set(err, ADCP_ERR_HSM, "",
                          "the signature made with the CA key does not "
                          "verify with the CA certificate; check that the "
                          "key and certificate belong together");
}

/*
 * Checks the new signature of cert against ca_cert's public key (ca_cert
 * NULL: the certificate's own, for a root). The check catches a CA key
 * that does not belong to ca_cert and an HSM that returns a faulty
 * signature. Under an EC CA certificate only a sample of signatures is
 * checked (cert_sign_check.c).
 */
static enum adcp_status
check_signature(X509 *cert, X509 *ca_cert, EVP_PKEY *ca_key,
                struct adcp_error *err)
{
    EVP_PKEY *verify_key;
    bool passed;

    if (ca_cert != NULL && !cert_sign_check_due(ca_key, ca_cert))
        return ADCP_OK;
    verify_key = X509_get0_pubkey(ca_cert ? ca_cert : cert);
    passed = verify_key != NULL && X509_verify(cert, verify_key) == 1;
    if (ca_cert != NULL)
        cert_sign_check_record(ca_key, ca_cert, passed);
    if (passed)
        return ADCP_OK;
    return fail_signature_check(__func__, err);
}

/*
 * Signs *cert with ca_key and digest ("sha256", "sha384" or "sha512"),
 * then checks the signature as check_signature describes. Takes
 * ownership of *cert and sets it to NULL. On ADCP_OK out contains the
 * certificate; otherwise out is unchanged and the certificate freed.
 */
enum adcp_status
cert_build_sign(X509 **cert, X509 *ca_cert, EVP_PKEY *ca_key,
                const char *digest, struct issue_result *out,
                struct adcp_error *err)
{
    enum adcp_status status = ADCP_ERR_INTERNAL;
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    X509 *signed_cert = *cert;

    *cert = NULL;
    if (md_ctx == NULL ||
        EVP_DigestSignInit_ex(md_ctx, NULL, digest, NULL, NULL, ca_key,
                              NULL) != 1 ||
        X509_sign_ctx(signed_cert, md_ctx) <= 0) {
        log_openssl_errors(__func__, "signing the certificate");
        status = adcp_error_set(err, ADCP_ERR_HSM, "",
                                "signing the certificate with the CA key "
                                "and %s failed; check that the HSM holding "
                                "the CA key is reachable",
                                digest);
        goto out;
    }
    status = check_signature(signed_cert, ca_cert, ca_key, err);
    if (status != ADCP_OK)
        goto out;
    status = cert_result_fill(signed_cert, out, err);
    if (status == ADCP_OK)
        signed_cert = NULL;
out:
    EVP_MD_CTX_free(md_ctx);
    X509_free(signed_cert);
    return status;
}

/* Gets the AlgorithmIdentifier of the signature that signing_ctx makes,
 * as X509_sign_ctx does for a provider's key in OpenSSL 3.0. */
bool
cert_signature_algorithm_of(EVP_PKEY_CTX *signing_ctx, unsigned char *out,
                            size_t size, size_t *len)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, out,
                                size),
        OSSL_PARAM_END,
    };

    if (EVP_PKEY_CTX_get_params(signing_ctx, params) != 1 ||
        !OSSL_PARAM_modified(&params[0]))
        return false;
    *len = params[0].return_size;
    return *len > 0;
}

static bool
get_algorithm_id(EVP_PKEY_CTX *signing_ctx, struct cert_leaf_signature *sig)
{
    return cert_signature_algorithm_of(signing_ctx, sig->algorithm,
                                       sizeof(sig->algorithm),
                                       &sig->algorithm_len);
}

/* Encodes parts->tbs with the signature algorithm of ca_key and digest,
 * signs it and sets *tbs_der (OPENSSL_free it) and sig. */
static enum adcp_status
sign_leaf(struct cert_leaf_parts *parts, EVP_PKEY *ca_key, const char *digest,
          unsigned char **tbs_der, int *tbs_len,
          struct cert_leaf_signature *sig, struct adcp_error *err)
{
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *signing_ctx = NULL;
    bool ok;

    ok = md_ctx != NULL &&
         EVP_DigestSignInit_ex(md_ctx, &signing_ctx, digest, NULL, NULL,
                               ca_key, NULL) == 1 &&
         get_algorithm_id(signing_ctx, sig);
    if (ok) {
        parts->tbs.signature = cert_der_view_of(
            &parts->algorithm_view, sig->algorithm, (int)sig->algorithm_len);
        *tbs_len = cert_tbs_encode(&parts->tbs, tbs_der);
        sig->value_len = (size_t)EVP_PKEY_get_size(ca_key);
        sig->value = OPENSSL_malloc(sig->value_len);
        ok = *tbs_len > 0 && sig->value != NULL &&
             EVP_DigestSign(md_ctx, sig->value, &sig->value_len, *tbs_der,
                            (size_t)*tbs_len) == 1;
    }
    EVP_MD_CTX_free(md_ctx);
    if (ok)
        return ADCP_OK;
    log_openssl_errors(__func__, "signing the certificate");
    return adcp_error_set(err, ADCP_ERR_HSM, "",
                          "signing the certificate with the CA key and %s "
                          "failed; check that the HSM holding the CA key "
                          "is reachable",
                          digest);
}

/*
 * Checks the signature over tbs_der with ca_cert's public key, as
 * check_signature does for an X509: always under an RSA CA certificate,
 * for a sample under an EC one (cert_sign_check.c).
 */
static enum adcp_status
check_leaf_signature(const unsigned char *tbs_der, int tbs_len,
                     const struct cert_leaf_signature *sig, X509 *ca_cert,
                     EVP_PKEY *ca_key, const char *digest,
                     struct adcp_error *err)
{
    EVP_PKEY *verify_key;
    EVP_MD_CTX *md_ctx;
    bool passed;

    if (!cert_sign_check_due(ca_key, ca_cert))
        return ADCP_OK;
    verify_key = X509_get0_pubkey(ca_cert);
    md_ctx = EVP_MD_CTX_new();
    passed = verify_key != NULL && md_ctx != NULL &&
             EVP_DigestVerifyInit_ex(md_ctx, NULL, digest, NULL, NULL,
                                     verify_key, NULL) == 1 &&
             EVP_DigestVerify(md_ctx, sig->value, sig->value_len, tbs_der,
                              (size_t)tbs_len) == 1;
    EVP_MD_CTX_free(md_ctx);
    cert_sign_check_record(ca_key, ca_cert, passed);
    if (passed)
        return ADCP_OK;
    return fail_signature_check(__func__, err);
}

/*
 * Signs parts->tbs with ca_key and digest, as sign_leaf describes, then
 * checks the signature as check_leaf_signature describes. On any status
 * *tbs_der and sig->value may be set, and the caller frees both.
 */
enum adcp_status
cert_build_sign_leaf(struct cert_leaf_parts *parts, X509 *ca_cert,
                     EVP_PKEY *ca_key, const char *digest,
                     unsigned char **tbs_der, int *tbs_len,
                     struct cert_leaf_signature *sig, struct adcp_error *err)
{
    enum adcp_status status;

    status = sign_leaf(parts, ca_key, digest, tbs_der, tbs_len, sig, err);
    if (status == ADCP_OK)
        status = check_leaf_signature(*tbs_der, *tbs_len, sig, ca_cert,
                                      ca_key, digest, err);
    return status;
}
