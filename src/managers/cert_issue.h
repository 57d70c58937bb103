/*
 * Certificate issuance: the checks a CSR must pass and the certificate the
 * CA builds from it. The CA key is any EVP_PKEY: in the service it is an
 * HSM key from hal_key_evp, so signing happens inside the HSM.
 *
 * What the CA decides, never the CSR: basicConstraints CA:FALSE (critical),
 * keyUsage digitalSignature and keyEncipherment (RSA) or digitalSignature
 * (EC), extendedKeyUsage serverAuth and clientAuth, the SANs (the names the
 * host registered), a random positive serial of 127 bits, and the validity.
 */
#ifndef HSM4SSL_MANAGERS_CERT_ISSUE_H
#define HSM4SSL_MANAGERS_CERT_ISSUE_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

#include "adcp/adcp.h"

/* The names a host may hold certificates for. */
struct issue_host {
    const char *name;
    char *const *dns_names;
    size_t dns_count;
    char *const *ip_addresses;
    size_t ip_count;
};

struct issue_limits {
    int default_days; /* used when the request gives 0 days */
    int max_days;     /* a request above it is rejected */
    unsigned min_rsa_bits;
};

struct issue_request {
    const char *csr_pem;
    const char *hash_algorithm; /* sha256, sha384 or sha512; NULL: sha256 */
    int days;                   /* 0: limits->default_days */
    /* The authorityInfoAccess OCSP URI of the certificate; NULL or ""
     * leaves the extension out. */
    const char *ocsp_url;
};

struct issue_result {
    X509 *cert;                   /* owned; NULL from cert_issue_from_csr */
    char *cert_pem;               /* owned, heap */
    char serial[ADCP_SERIAL_MAX]; /* upper-case hex */
    char subject[256];
    time_t not_before;
    time_t not_after;
};

/*
 * Checks the CSR (PEM parse, signature, key algorithm and size, no CA
 * request, names within host) and builds and signs the certificate with
 * ca_key under ca_cert. The validity starts now and ends after the
 * requested days, but never after ca_cert's notAfter. out->cert stays
 * NULL, because the certificate is encoded without an X509 object: a
 * caller that needs one parses out->cert_pem.
 *
 * Returns ADCP_OK with out filled, or ADCP_ERR_INVALID_CSR,
 * ADCP_ERR_CSR_SIGNATURE, ADCP_ERR_WEAK_ALGORITHM, ADCP_ERR_INVALID_FIELD,
 * ADCP_ERR_NAME_NOT_ALLOWED or ADCP_ERR_HSM (signing failed), with err
 * naming the field and the value.
 */
enum adcp_status cert_issue_from_csr(X509 *ca_cert, EVP_PKEY *ca_key,
                                     const struct issue_host *host,
                                     const struct issue_request *request,
                                     const struct issue_limits *limits,
                                     struct issue_result *out,
                                     struct adcp_error *err);

/* Draws a new serial: 16 random bytes with the top bit cleared, so it is
 * positive and has 127 bits of entropy. Returns NULL when the random
 * generator fails. */
ASN1_INTEGER *cert_serial_random(void);

/*
 * Makes the self-signed root: subject CN=common_name, O=organization,
 * basicConstraints CA:TRUE pathlen:0 (critical), keyUsage keyCertSign and
 * cRLSign (critical), subject key identifier, valid for days.
 */
enum adcp_status cert_root_create(EVP_PKEY *key, const char *common_name,
                                  const char *organization, int days,
                                  const char *hash_algorithm,
                                  struct issue_result *out,
                                  struct adcp_error *err);

/*
 * Issues the API's own TLS server certificate for subject_key (its public
 * half is used): CN=common_name, SANs dns_names and ip_addresses,
 * extendedKeyUsage serverAuth, signed with ca_key.
 */
enum adcp_status cert_server_create(X509 *ca_cert, EVP_PKEY *ca_key,
                                    EVP_PKEY *subject_key,
                                    const struct issue_host *names, int days,
                                    struct issue_result *out,
                                    struct adcp_error *err);

void issue_result_clear(struct issue_result *result);

/* Writes the serial of cert as upper-case hex with no separators. */
void cert_serial_hex(const X509 *cert, char out[ADCP_SERIAL_MAX]);

/* Normalises a serial given by a client to upper-case hex without
 * separators ("0a:1b" becomes "0A1B"). Returns ADCP_OK, or
 * ADCP_ERR_INVALID_FIELD or ADCP_ERR_MISSING_FIELD naming the value. */
enum adcp_status cert_serial_normalise(const char *text,
                                       char out[ADCP_SERIAL_MAX],
                                       struct adcp_error *err);

/* Writes the SHA-256 fingerprint of cert as upper-case hex, 64 digits. */
void cert_fingerprint_sha256(const X509 *cert, char out[65]);

#endif
