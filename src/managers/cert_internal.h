/*
 * Steps of certificate issuance shared by cert_issue.c (the entry points),
 * cert_csr_decode.c (reading a CSR), cert_csr_check.c (what a CSR must
 * pass), cert_build.c (building and signing) and cert_sign_check.c (when
 * a signature is checked). Not part of the managers' interface.
 */
#ifndef HSM4SSL_MANAGERS_CERT_INTERNAL_H
#define HSM4SSL_MANAGERS_CERT_INTERNAL_H

#include <stdbool.h>

#include "managers/cert_issue.h"

/* A decoded PKCS#10 request (cert_csr_decode.c). */
struct cert_csr;

enum adcp_status cert_csr_decode(const unsigned char *der, long der_len,
                                 struct cert_csr **out,
                                 struct adcp_error *err);
void cert_csr_free(struct cert_csr *csr);
/* The request's key, or NULL when it does not decode. */
EVP_PKEY *cert_csr_key(const struct cert_csr *csr);
/* The key as sent, not decoded: the certificate copies it. */
const X509_PUBKEY *cert_csr_public_key(const struct cert_csr *csr);
/* Sets the RSA key's modulus and exponent, owned by csr, as decoded.
 * Returns false when the key is not an RSA key that decoded. */
bool cert_csr_rsa_public(const struct cert_csr *csr, const BIGNUM **modulus,
                         const BIGNUM **exponent);
const X509_NAME *cert_csr_subject(const struct cert_csr *csr);
const X509_ALGOR *cert_csr_signature_algorithm(const struct cert_csr *csr);
int cert_csr_verify(const struct cert_csr *csr, EVP_PKEY *key);
STACK_OF(X509_EXTENSION) *cert_csr_extensions(const struct cert_csr *csr);

/* Parses one PEM CSR and checks its signature and key; *out is new. */
enum adcp_status cert_csr_parse(const char *csr_pem, unsigned min_rsa_bits,
                                struct cert_csr **out,
                                struct adcp_error *err);

/* Checks the names and extensions the CSR requests against host; sets
 * *common_name to the CN the certificate gets (owned by host or csr). */
enum adcp_status cert_csr_check_claims(const struct cert_csr *csr,
                                       const struct issue_host *host,
                                       const char **common_name,
                                       struct adcp_error *err);

/* Sets target to algorithm and key bits without decoding the key. */
bool cert_public_key_copy(X509_PUBKEY *target, const X509_ALGOR *algorithm,
                          const unsigned char *bits, int len);

/* Builds an unsigned end-entity certificate for subject_key, whose
 * SubjectPublicKeyInfo it copies unchanged. */
enum adcp_status cert_build_leaf(X509 *ca_cert,
                                 const X509_PUBKEY *subject_key,
                                 const char *common_name,
                                 const struct issue_host *names, int days,
                                 const char *extended_key_usage, X509 **out,
                                 struct adcp_error *err);

/* The extendedKeyUsage of host certificates, in the openssl.cnf syntax. */
#define CERT_HOST_EXTENDED_KEY_USAGE "serverAuth,clientAuth"

/* Builds, signs and checks a host certificate as cert_build_leaf and
 * cert_build_sign do, with CERT_HOST_EXTENDED_KEY_USAGE. It encodes the
 * certificate without an X509 object, so out->cert stays NULL. */
enum adcp_status cert_build_leaf_signed(X509 *ca_cert, EVP_PKEY *ca_key,
                                        const X509_PUBKEY *subject_key,
                                        const char *common_name,
                                        const struct issue_host *names,
                                        int days, const char *digest,
                                        struct issue_result *out,
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
