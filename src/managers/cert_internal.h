/*
 * Steps of certificate issuance, shared by the cert_*.c files and not part
 * of the managers' interface:
 *   cert_issue.c       the entry points of cert_issue.h
 *   cert_csr_decode.c  reading a CSR
 *   cert_csr_check.c   what a CSR must pass
 *   cert_build.c       the root and the API's certificate, as X509 objects
 *   cert_leaf.c        host certificates for CSRs, without an X509 object
 *   cert_serial.c, cert_validity.c, cert_names.c, cert_extensions.c
 *                      the fields and extensions of a new certificate
 *   cert_template.c    ASN.1 templates and DER encoding of host certificates
 *   cert_sign.c        signing, and checking the new signature
 *   cert_sign_check.c  when a new signature is checked
 *   cert_result.c      PEM and the issue_result a caller receives
 * cert_crl_encode.c shares the signing helpers for the CRL.
 */
#ifndef HSM4SSL_MANAGERS_CERT_INTERNAL_H
#define HSM4SSL_MANAGERS_CERT_INTERNAL_H

#include <openssl/asn1.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

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

/* Writes serial as cert_serial_hex does (cert_serial.c). */
void cert_serial_hex_of(const ASN1_INTEGER *serial,
                        char out[ADCP_SERIAL_MAX]);

/* Converts an ASN1_TIME to seconds since the epoch (cert_validity.c). */
bool cert_time_of_asn1(const ASN1_TIME *when, time_t *out);
/* Computes the validity of a certificate valid for days, clamped to
 * ca_cert's validity unless ca_cert is NULL. */
enum adcp_status cert_validity_of(const X509 *ca_cert, int days,
                                  time_t *not_before_out,
                                  time_t *not_after_out,
                                  struct adcp_error *err);
/* Sets that validity on cert. */
enum adcp_status cert_validity_set(X509 *cert, const X509 *ca_cert, int days,
                                   struct adcp_error *err);

/* Builds the subject O=organization (when given), CN=common_name, or
 * returns NULL (cert_names.c). */
X509_NAME *cert_subject_name_of(const char *common_name,
                                const char *organization);
/* Writes subject as RFC 2253 text into out, cut off at size bytes. */
void cert_subject_text_of(const X509_NAME *subject, char *out, size_t size);
/* Sets *out to the SAN entries of names, NULL for a host without any. */
enum adcp_status cert_alt_names_of(const struct issue_host *names,
                                   GENERAL_NAMES **out,
                                   struct adcp_error *err);

/* Computes the key identifier of a public key (cert_extensions.c). */
ASN1_OCTET_STRING *cert_key_id_of_public_key(const X509_PUBKEY *public_key);
ASN1_OCTET_STRING *cert_key_id_of(X509 *cert);
/* Adds subjectKeyIdentifier and authorityKeyIdentifier to cert. */
bool cert_key_ids_add(X509 *cert, X509 *ca_cert);
/* Makes an authorityInfoAccess extension with one id-ad-ocsp URI, or
 * returns NULL. */
X509_EXTENSION *cert_ocsp_access_extension(const char *url);

/* The extensions that are the same in every host certificate, made once
 * with the openssl.cnf syntax. */
enum cert_fixed_extension {
    CERT_FIXED_BASIC_CONSTRAINTS,
    CERT_FIXED_KEY_USAGE_RSA,
    CERT_FIXED_KEY_USAGE_EC,
    CERT_FIXED_EXTENDED_KEY_USAGE,
    CERT_FIXED_EXTENSION_COUNT
};

/* Makes the fixed extensions on the first call. Returns false when one of
 * them could not be made. */
bool cert_fixed_extensions_ready(void);
/* Returns one fixed extension, shared and never freed, after
 * cert_fixed_extensions_ready returned true. */
X509_EXTENSION *cert_fixed_extension(enum cert_fixed_extension which);

/* TBSCertificate of RFC 5280, section 4.1, always version 3 with
 * extensions (cert_template.c). */
typedef struct {
    ASN1_INTEGER *version;
    ASN1_INTEGER *serial;
    ASN1_TYPE *signature;
    ASN1_TYPE *issuer;
    X509_VAL *validity;
    X509_NAME *subject;
    ASN1_TYPE *public_key;
    STACK_OF(X509_EXTENSION) *extensions;
} CERT_LEAF_TBS;

/* An ANY value that refers to the DER of a SEQUENCE held elsewhere. The
 * encoder writes such a value as it is. Nothing in it is freed. */
struct cert_der_view {
    ASN1_STRING string;
    ASN1_TYPE any;
};

/* Points view at the len bytes of der and returns its ANY value. */
ASN1_TYPE *cert_der_view_of(struct cert_der_view *view,
                            const unsigned char *der, int len);

/* The parts of a leaf certificate that are freed after encoding. */
struct cert_leaf_parts {
    CERT_LEAF_TBS tbs;
    ASN1_INTEGER *version;
    X509_VAL *validity;
    unsigned char *issuer_der;
    unsigned char *public_key_der;
    struct cert_der_view issuer_view;
    struct cert_der_view public_key_view;
    struct cert_der_view algorithm_view;
    X509_EXTENSION *own_extensions[4]; /* SKI, AKI, SAN and AIA */
    time_t not_before;
    time_t not_after;
};

/* A signature made over an encoded TBSCertificate. */
struct cert_leaf_signature {
    unsigned char algorithm[128]; /* AlgorithmIdentifier DER */
    size_t algorithm_len;
    unsigned char *value;
    size_t value_len;
};

/* Encodes tbs as DER into *der, as i2d functions do. Returns the length,
 * or a value below 1 on failure. */
int cert_tbs_encode(const CERT_LEAF_TBS *tbs, unsigned char **der);
/* Encodes the Certificate SEQUENCE of tbs_der, the DER of a signed
 * TBSCertificate, and sig. Returns as cert_tbs_encode does. */
int cert_leaf_encode(const unsigned char *tbs_der, int tbs_len,
                     const struct cert_leaf_signature *sig,
                     unsigned char **der);

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
 * cert_build_sign do, with CERT_HOST_EXTENDED_KEY_USAGE, and with an
 * authorityInfoAccess OCSP URI when ocsp_url is neither NULL nor "". It
 * encodes the certificate without an X509 object, so out->cert stays
 * NULL. */
enum adcp_status cert_build_leaf_signed(X509 *ca_cert, EVP_PKEY *ca_key,
                                        const X509_PUBKEY *subject_key,
                                        const char *common_name,
                                        const struct issue_host *names,
                                        int days, const char *digest,
                                        const char *ocsp_url,
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

/* Encodes and signs parts->tbs and checks the signature as
 * cert_build_sign does. Sets *tbs_der and sig->value, which the caller
 * frees on any status. */
enum adcp_status cert_build_sign_leaf(struct cert_leaf_parts *parts,
                                      X509 *ca_cert, EVP_PKEY *ca_key,
                                      const char *digest,
                                      unsigned char **tbs_der, int *tbs_len,
                                      struct cert_leaf_signature *sig,
                                      struct adcp_error *err);

/* Writes the DER AlgorithmIdentifier of the signatures signing_ctx makes
 * to out (size bytes) and its length to *len. Returns false when the
 * provider does not report one. */
bool cert_signature_algorithm_of(EVP_PKEY_CTX *signing_ctx,
                                 unsigned char *out, size_t size,
                                 size_t *len);

/* Returns whether cert_build_sign must check the signature that ca_key
 * has just made under ca_cert (cert_sign_check.c). */
bool cert_sign_check_due(EVP_PKEY *ca_key, X509 *ca_cert);

/* Records whether that check passed. */
void cert_sign_check_record(EVP_PKEY *ca_key, X509 *ca_cert, bool passed);

/* Fills out from the signed cert and takes ownership of it
 * (cert_result.c). */
enum adcp_status cert_result_fill(X509 *cert, struct issue_result *out,
                                  struct adcp_error *err);
/* Writes der as a PEM CERTIFICATE block into a new heap string, or
 * returns NULL. */
char *cert_pem_of_der(const unsigned char *der, int len);

#endif
