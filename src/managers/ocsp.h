/*
 * The OCSP responder (RFC 6960): the CA key signs each BasicOCSPResponse
 * through its OpenSSL provider, so the HSM signs and no private key is in
 * process memory. The responder ID is the CA key's hash (byKey), and the
 * response carries no certificates, because the signer is the issuer
 * that relying parties already hold.
 *
 * Files:
 *   ocsp_request.c   decoding an OCSPRequest and checking its nonce
 *   ocsp_issuer.c    which CertIDs name this CA as their issuer
 *   ocsp_response.c  building and signing responses
 *   ocsp_cache.c     signed responses kept for requests without a nonce
 *   ocsp_manager.c   the steps from a request to its response
 *
 * A request whose CertIDs are all this CA's gets good, revoked (with
 * revocationTime and, unless unspecified, the reason) or unknown for a
 * serial the CA never issued. A request that names another issuer, or a
 * hash algorithm the responder cannot match, gets the unsigned
 * unauthorized status. RFC 6960, section 2.3, defines that status for a
 * server that is not capable of responding authoritatively, and an
 * unsigned reply costs no HSM signature for a certificate this CA did
 * not issue.
 *
 * NOTE: OCSP requests do not become ADCP messages and are not audited,
 * because they are public, read only and far more frequent than other
 * requests. Errors the server causes are logged.
 */
#ifndef HSM4SSL_MANAGERS_OCSP_H
#define HSM4SSL_MANAGERS_OCSP_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The default response lifetime (nextUpdate - thisUpdate): 24 hours,
 * inside the 8 hours to 10 days that the CA/Browser Forum Baseline
 * Requirements (section 4.9.10) allow for subscriber certificates. */
#define OCSP_DEFAULT_LIFETIME (24 * 3600)
/* The memory that cached responses may take by default, in bytes. */
#define OCSP_DEFAULT_CACHE_BYTES ((size_t)64 * 1024 * 1024)
/* The responses one client address may have signed per second by
 * default, with a burst of twice as many; cached responses are not
 * counted. */
#define OCSP_DEFAULT_SIGNED_PER_ADDRESS 100
/* The most CertIDs one request may ask about; more is malformedRequest. */
#define OCSP_MAX_CERT_IDS 16
/* The longest OCSPRequest accepted, in bytes: 16 CertIDs with SHA-512
 * hashes and 20-byte serials need about 3 KiB. */
#define OCSP_MAX_REQUEST_BYTES 8192

/* The responder's state: the CA's issuer hashes and the cache. */
struct ocsp_responder;

/* Creates the responder for ca_cert (a reference is taken). lifetime is
 * in seconds and cache_bytes bounds the cache; 0 picks the defaults.
 * Each client address may have OCSP_DEFAULT_SIGNED_PER_ADDRESS responses
 * signed per second; see ocsp_responder_set_rate. Returns NULL after
 * logging when memory runs out or ca_cert cannot be hashed. */
struct ocsp_responder *ocsp_responder_new(X509 *ca_cert, int lifetime,
                                          size_t cache_bytes);

/* Sets the responses one client address may have signed per second (0:
 * no limit); more get tryLater. Returns false, with the limit as it was,
 * when memory runs out. */
bool ocsp_responder_set_rate(struct ocsp_responder *responder,
                             unsigned per_second);
void ocsp_responder_free(struct ocsp_responder *responder);

/* The DER OCSPResponse of one request, which the caller sends and then
 * releases with release(owner) when release is not NULL. */
struct ocsp_reply {
    const unsigned char *der;
    size_t len;
    void (*release)(void *owner);
    void *owner;
};

/* Sets *reply to the cached response to the DER OCSPRequest der and
 * returns true, or returns false when there is none. Never signs and
 * never reads the store, so an event loop may call it. */
bool ocsp_responder_cached(struct ocsp_responder *responder,
                           const unsigned char *der, size_t len,
                           struct ocsp_reply *reply);

/*
 * Removes every cached response for the certificate with serial (upper
 * case hex, as the store keeps it). The certificate manager calls it
 * after a revocation is committed and before the revocation's response is
 * sent, so the next request for serial gets a new response. A response
 * being signed at that moment is not cached either.
 */
void ocsp_responder_forget(struct ocsp_responder *responder,
                           const char *serial);

#endif
