/*
 * Steps of the OCSP responder, shared by the ocsp_*.c files and not part
 * of its interface (ocsp.h).
 */
#ifndef HSM4SSL_MANAGERS_OCSP_INTERNAL_H
#define HSM4SSL_MANAGERS_OCSP_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "adcp/adcp.h"
#include "managers/ocsp.h"

/* ---- ocsp_request.c ---- */

/* A decoded OCSPRequest. The CertIDs belong to request. */
struct ocsp_query {
    OCSP_REQUEST *request; /* owned */
    OCSP_CERTID *cert_ids[OCSP_MAX_CERT_IDS];
    size_t count;          /* 1 to OCSP_MAX_CERT_IDS */
    bool has_nonce;        /* a valid Nonce extension of RFC 8954 */
};

/*
 * Decodes the DER OCSPRequest der into query. Returns true, or false with
 * *problem set to a phrase for the log when der is not one DER
 * OCSPRequest, lists no CertID or more than OCSP_MAX_CERT_IDS, or carries
 * a Nonce that RFC 8954 rejects (empty, over 32 bytes, not an OCTET
 * STRING, or twice). Call ocsp_query_clear in either case.
 */
bool ocsp_query_decode(const unsigned char *der, size_t len,
                       struct ocsp_query *query, const char **problem);
void ocsp_query_clear(struct ocsp_query *query);

/* Writes the serial of cert_id as the store writes serials, upper-case
 * hex. Writes "" for a negative serial or one too long for any stored
 * certificate: this CA never issued either. */
void ocsp_cert_id_serial(OCSP_CERTID *cert_id, char out[ADCP_SERIAL_MAX]);

/* ---- ocsp_issuer.c ---- */

/* The hashes of one CertID hash algorithm for the CA. */
struct ocsp_issuer_hashes {
    int digest_nid;
    unsigned char name_hash[EVP_MAX_MD_SIZE]; /* of the issuer's DN */
    unsigned char key_hash[EVP_MAX_MD_SIZE];  /* of its public key bits */
    unsigned int len;
};

/* SHA-1 (what `openssl ocsp` sends by default), SHA-256, SHA-384 and
 * SHA-512. */
#define OCSP_ISSUER_DIGESTS 4

struct ocsp_issuer {
    struct ocsp_issuer_hashes hashes[OCSP_ISSUER_DIGESTS];
};

enum ocsp_issuer_match {
    OCSP_ISSUER_THIS_CA,
    OCSP_ISSUER_OTHER,       /* hashes of another issuer */
    OCSP_ISSUER_UNSUPPORTED, /* a hash algorithm this responder lacks */
};

/* Computes the issuer hashes of ca_cert. Returns false after logging the
 * OpenSSL errors. */
bool ocsp_issuer_init(struct ocsp_issuer *issuer, X509 *ca_cert);

/* Compares the issuerNameHash and issuerKeyHash of cert_id with the CA's
 * under the CertID's hash algorithm. */
enum ocsp_issuer_match ocsp_issuer_match(const struct ocsp_issuer *issuer,
                                         OCSP_CERTID *cert_id);

/* ---- ocsp_response.c ---- */

/* The status of one CertID, as the response reports it. */
struct ocsp_single {
    OCSP_CERTID *cert_id; /* as requested; borrowed */
    int status;           /* V_OCSP_CERTSTATUS_GOOD, _REVOKED, _UNKNOWN */
    time_t revoked_at;    /* REVOKED only */
    int reason;           /* REVOKED only: RFC 5280 CRLReason */
};

struct ocsp_sign_request {
    X509 *ca_cert;
    EVP_PKEY *ca_key;       /* signs; an HSM key of the provider */
    const char *digest;     /* "sha256", "sha384" or "sha512" */
    OCSP_REQUEST *request;  /* its nonce, if any, is echoed; or NULL */
    const struct ocsp_single *singles;
    size_t count;
    time_t this_update;
    time_t next_update;
};

/*
 * Builds the BasicOCSPResponse of request, signs it with its digest and
 * the CA key, checks the signature against ca_cert as certificate signatures
 * are checked, and encodes the successful OCSPResponse into *der (free
 * with OPENSSL_free). Returns ADCP_OK, ADCP_ERR_HSM when signing or the
 * check fails, or ADCP_ERR_INTERNAL.
 */
enum adcp_status ocsp_response_sign(const struct ocsp_sign_request *request,
                                    unsigned char **der, size_t *len,
                                    struct adcp_error *err);

/* Returns the DER of an unsigned OCSPResponse with status, one of the
 * error statuses of RFC 6960, section 4.2.1 (OCSP_RESPONSE_STATUS_*), in
 * static memory, and sets *len. */
const unsigned char *ocsp_response_error(int status, size_t *len);

/* ---- ocsp_cache.c ---- */

/* One signed response, shared by the cache and the replies sending it. */
struct ocsp_cached;

/* Takes ownership of der (OPENSSL_malloc'ed) and returns a response with
 * one reference, or NULL after freeing der when memory runs out. */
struct ocsp_cached *ocsp_cached_new(unsigned char *der, size_t len);

/* Drops a reference; the last one frees the response. Accepts NULL. */
void ocsp_cached_unref(void *cached);

/* Points reply at cached and hands it the caller's reference. */
void ocsp_cached_to_reply(struct ocsp_cached *cached,
                          struct ocsp_reply *reply);

struct ocsp_cache;

/* Creates a cache whose responses take at most max_bytes. Returns NULL
 * when memory runs out. */
struct ocsp_cache *ocsp_cache_new(size_t max_bytes);
void ocsp_cache_free(struct ocsp_cache *cache);

/* Returns the number of ocsp_cache_forget calls so far. Read it before
 * the store, and pass it to ocsp_cache_put. */
uint64_t ocsp_cache_generation(struct ocsp_cache *cache);

/*
 * Returns a new reference to the response cached for the CertID whose
 * DER is key, or NULL when there is none or it is due for a refresh at
 * now. serial is the CertID's serial content bytes.
 */
struct ocsp_cached *ocsp_cache_get(struct ocsp_cache *cache,
                                   const unsigned char *key, size_t key_len,
                                   const unsigned char *serial,
                                   size_t serial_len, time_t now);

/*
 * Caches cached (a reference is taken) for key until refresh_at, unless
 * ocsp_cache_forget ran after generation was read, because the response
 * may then predate a revocation. Evicts the oldest responses while the
 * cache is over its size.
 */
void ocsp_cache_put(struct ocsp_cache *cache, uint64_t generation,
                    const unsigned char *key, size_t key_len,
                    const unsigned char *serial, size_t serial_len,
                    struct ocsp_cached *cached, time_t refresh_at);

/* Removes the responses for the serial with these content bytes. */
void ocsp_cache_forget(struct ocsp_cache *cache, const unsigned char *serial,
                       size_t serial_len);

/* Returns the responses cached and the bytes they take, for tests. */
void ocsp_cache_usage(struct ocsp_cache *cache, size_t *entries,
                      size_t *bytes);

/* Empties the cache, as ocsp_cache_forget does for every serial. */
void ocsp_cache_forget_all(struct ocsp_cache *cache);

/* ---- ocsp_responder.c ---- */

/* The maximum time a response is served from the cache, in seconds: 4
 * days, the maximum that the CA/Browser Forum Baseline Requirements
 * (section 4.9.10) allow between thisUpdate and the next update. */
#define OCSP_MAX_REFRESH (4 * 24 * 3600)

struct ocsp_responder {
    X509 *ca_cert;        /* a reference */
    struct ocsp_issuer issuer;
    int lifetime;         /* seconds from thisUpdate to nextUpdate */
    struct ocsp_cache *cache;
    struct ocsp_rate *rate; /* signatures per address, or NULL */
};

/* ocsp_rate.c: the signed responses one client address may cause. */
struct ocsp_rate;

/* Creates a limit of per_second signed responses per address, with a
 * burst of two seconds' worth; 0 gives NULL, no limit. Returns NULL
 * when memory runs out too. */
struct ocsp_rate *ocsp_rate_new(unsigned per_second);
void ocsp_rate_free(struct ocsp_rate *rate);

/* Takes one signature from address's bucket at time now (seconds on a
 * monotonic clock). Returns false when the bucket is empty; a NULL rate
 * always gives true. Safe to call from several threads. */
bool ocsp_rate_take(struct ocsp_rate *rate, const char *address,
                    double now);

/* A CertID as the cache files it. */
struct ocsp_cache_key {
    unsigned char der[512];      /* the CertID's DER */
    size_t der_len;
    const unsigned char *serial; /* content bytes, borrowed */
    size_t serial_len;
};

/* Fills key from cert_id. Returns false when the CertID does not encode
 * or is longer than key->der, and is then not cached. */
bool ocsp_cache_key_of(OCSP_CERTID *cert_id, struct ocsp_cache_key *key);

/* Returns the time at which a response made at this_update is signed
 * again: half its lifetime later, at most OCSP_MAX_REFRESH later. That
 * meets section 4.9.10 of the Baseline Requirements: an update before
 * half the lifetime has passed, so at least 8 hours before nextUpdate
 * for lifetimes from 16 hours, and within 4 days of thisUpdate. */
time_t ocsp_responder_refresh_at(const struct ocsp_responder *responder,
                                 time_t this_update);

/* Returns a reference to the cached response to query, or NULL when it
 * has none or is not cacheable (a nonce, or several CertIDs). */
struct ocsp_cached *ocsp_responder_lookup(struct ocsp_responder *responder,
                                          const struct ocsp_query *query,
                                          time_t now);

#endif
