/*
 * Steps of certificate issuance shared by cert_issue.c (the entry points),
 * cert_csr_check.c (what a CSR must pass) and cert_build.c (building and
 * signing). Not part of the managers' interface.
 */
#ifndef HSM4SSL_MANAGERS_CERT_INTERNAL_H
#define HSM4SSL_MANAGERS_CERT_INTERNAL_H

#include <stdbool.h>

#include "managers/cert_issue.h"

/* Parses one PEM CSR and checks its signature and key; *out is new. */
enum adcp_status cert_csr_parse(const char *csr_pem, unsigned min_rsa_bits,
                                X509_REQ **out, struct adcp_error *err);

/* Checks the names and extensions the CSR requests against host; sets
 * *common_name to the CN the certificate gets (owned by host or req). */
enum adcp_status cert_csr_check_claims(X509_REQ *req,
                                       const struct issue_host *host,
                                       const char **common_name,
                                       struct adcp_error *err);

/* Builds an unsigned end-entity certificate for subject_key, whose
 * SubjectPublicKeyInfo it copies unchanged. */
enum adcp_status cert_build_leaf(X509 *ca_cert,
                                 const X509_PUBKEY *subject_key,
                                 const char *common_name,
                                 const struct issue_host *names, int days,
                                 const char *extended_key_usage, X509 **out,
                                 struct adcp_error *err);

/* Builds an unsigned self-signed root for key. */
enum adcp_status cert_build_root(EVP_PKEY *key, const char *common_name,
                                 const char *organization, int days,
                                 X509 **out, struct adcp_error *err);

/* Signs *cert with ca_key and fills out; takes ownership of *cert. */
enum adcp_status cert_build_sign(X509 **cert, X509 *ca_cert,
                                 EVP_PKEY *ca_key, const char *digest,
                                 struct issue_result *out,
                                 struct adcp_error *err);

/* Returns whether cert_build_sign must check the signature that ca_key
 * has just made under ca_cert (cert_sign_check.c). */
bool cert_sign_check_due(EVP_PKEY *ca_key, X509 *ca_cert);

/* Records whether that check passed. */
void cert_sign_check_record(EVP_PKEY *ca_key, X509 *ca_cert, bool passed);

#endif
