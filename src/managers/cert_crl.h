/*
 * The CRL of the CA (RFC 5280, section 5): an X.509 v2 CRL that lists
 * every revoked certificate, signed with the CA key through its OpenSSL
 * provider, so the HSM signs and no private key is in process memory.
 *
 * cert_crl_build (cert_crl_encode.c) encodes and signs one CRL.
 * cert_crl.c keeps the current CRL in a cache that the service shares
 * between requests, builds a new one after a revocation or when the
 * current one is half way through its lifetime, and serves crl_get.
 */
#ifndef HSM4SSL_MANAGERS_CERT_CRL_H
#define HSM4SSL_MANAGERS_CERT_CRL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "adcp/adcp.h"
#include "store/store.h"

/* The lifetime of a CRL (nextUpdate - thisUpdate) unless configured: 7
 * days, the longest interval between two CRLs that the CA/Browser Forum
 * Baseline Requirements (section 4.9.7) allow for subscriber
 * certificates. */
#define CERT_CRL_DEFAULT_LIFETIME (7 * 24 * 3600)

struct cert_crl_request {
    X509 *ca_cert;      /* issuer name and key identifier */
    EVP_PKEY *ca_key;   /* signs; an HSM key of the provider in service */
    const char *digest; /* "sha256", "sha384" or "sha512" */
    struct store *store; /* lists the revoked certificates */
    int64_t number;      /* cRLNumber */
    time_t this_update;
    time_t next_update;
};

/* One encoded and signed CRL. */
struct cert_crl_der {
    unsigned char *der; /* malloc'ed CertificateList */
    size_t len;
    size_t entries; /* revoked certificates listed */
};

/*
 * Encodes the CRL of request in one pass over the revoked certificates,
 * which the store hands out in serial order, leaving out those that
 * expired more than one CRL lifetime before this_update. Signs its
 * tbsCertList with request->ca_key and checks the signature against
 * ca_cert. Entries carry
 * the reasonCode extension unless their reason is unspecified; the CRL
 * carries authorityKeyIdentifier and cRLNumber. Returns ADCP_OK with out
 * filled (free out->der), or the store's error, ADCP_ERR_HSM when signing
 * fails, or ADCP_ERR_INTERNAL.
 */
enum adcp_status cert_crl_build(const struct cert_crl_request *request,
                                struct cert_crl_der *out,
                                struct adcp_error *err);

/* The signed CRL that the cache serves, shared by the responses that send
 * it; each holds a reference. */
struct cert_crl;

/* The cache of the current CRL. lifetime is in seconds. Returns NULL
 * when out of memory. */
struct cert_crl_cache *cert_crl_cache_new(int lifetime);
void cert_crl_cache_free(struct cert_crl_cache *cache);

/* Marks the cached CRL out of date after a revocation was committed, so
 * that the next request builds a new one that lists it. */
void cert_crl_cache_invalidate(struct cert_crl_cache *cache);

void cert_crl_unref(void *crl);

#endif
