/*
 * The steps from one OCSPRequest to its OCSPResponse: decode, check the
 * issuer, serve a cached response, or read each certificate's status from
 * the store, sign with the CA key in an HSM and cache the result.
 */
#include "managers/ocsp_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "managers/service.h"


static void
reply_error(int status, struct ocsp_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    reply->der = ocsp_response_error(status, &reply->len);
}

/* Returns OCSP_RESPONSE_STATUS_SUCCESSFUL when every CertID names this
 * CA as its issuer, else UNAUTHORIZED (see ocsp.h for why). */
static int
check_issuers(struct ocsp_responder *responder,
              const struct ocsp_query *query, const char *peer_ip)
{
    for (size_t i = 0; i < query->count; i++) {
        enum ocsp_issuer_match match =
            ocsp_issuer_match(&responder->issuer, query->cert_ids[i]);

        if (match == OCSP_ISSUER_THIS_CA)
            continue;
        log_debug("ocsp from=%s unauthorized: CertID %zu %s", peer_ip, i,
                  match == OCSP_ISSUER_OTHER
                      ? "names another issuer"
                      : "uses a hash algorithm other than SHA-1, SHA-256, "
                        "SHA-384 and SHA-512");
        return OCSP_RESPONSE_STATUS_UNAUTHORIZED;
    }
    return OCSP_RESPONSE_STATUS_SUCCESSFUL;
}

/* Reads the status of single's certificate from the store. */
static enum adcp_status
read_status(struct service *svc, struct ocsp_single *single,
            struct adcp_error *err)
{
    char serial[ADCP_SERIAL_MAX];
    struct store_cert cert = {0};
    enum adcp_status status = ADCP_OK;

    ocsp_cert_id_serial(single->cert_id, serial);
    single->status = V_OCSP_CERTSTATUS_UNKNOWN;
    if (serial[0] != '\0')
        status = store_cert_get(svc->store, serial, &cert, err);
    if (status == ADCP_ERR_NOT_FOUND)
        status = ADCP_OK;
    else if (status == ADCP_OK && serial[0] != '\0')
        single->status = cert.revoked_at != 0 ? V_OCSP_CERTSTATUS_REVOKED
                                              : V_OCSP_CERTSTATUS_GOOD;
    single->revoked_at = cert.revoked_at;
    single->reason = cert.revocation_reason;
    store_cert_clear(&cert);
    return status;
}

/* Finds the CA key in an HSM that may sign now. */
static EVP_PKEY *
signing_key(struct service *svc, const char *peer_ip,
            struct adcp_error *err)
{
    struct adcp_header header;

    memset(&header, 0, sizeof(header));
    snprintf(header.source_ip, sizeof(header.source_ip), "%s", peer_ip);
    return service_ca_signing_key(svc, &header, svc->ca.digest, err);
}

/* Signs the response for singles; sets *out on success. Returns the
 * OCSPResponseStatus to send. */
static int
sign_singles(struct service *svc, const struct ocsp_query *query,
             const struct ocsp_single *singles, time_t now,
             const char *peer_ip, struct ocsp_cached **out)
{
    struct ocsp_sign_request request;
    unsigned char *der = NULL;
    struct adcp_error err;
    size_t len = 0;

    memset(&request, 0, sizeof(request));
    request.ca_cert = svc->ocsp->ca_cert;
    request.digest = svc->ca.digest;
    request.ca_key = signing_key(svc, peer_ip, &err);
    if (request.ca_key == NULL) {
        log_warn("ocsp from=%s tryLater: no HSM can sign with the CA key: "
                 "%s",
                 peer_ip, err.message);
        return OCSP_RESPONSE_STATUS_TRYLATER;
    }
    request.request = query->request;
    request.singles = singles;
    request.count = query->count;
    request.this_update = now;
    request.next_update = now + svc->ocsp->lifetime;
    if (ocsp_response_sign(&request, &der, &len, &err) != ADCP_OK) {
        log_warn("ocsp from=%s %s: %s", peer_ip,
                 err.code == ADCP_ERR_HSM ? "tryLater" : "internalError",
                 err.message);
        return err.code == ADCP_ERR_HSM ? OCSP_RESPONSE_STATUS_TRYLATER
                                        : OCSP_RESPONSE_STATUS_INTERNALERROR;
    }
    *out = ocsp_cached_new(der, len);
    return *out != NULL ? OCSP_RESPONSE_STATUS_SUCCESSFUL
                        : OCSP_RESPONSE_STATUS_INTERNALERROR;
}

/* Caches a response to a request without a nonce about one certificate
 * this CA issued. An unknown serial is not cached, so a certificate
 * issued later is never reported unknown from the cache. */
static void
cache_response(struct ocsp_responder *responder,
               const struct ocsp_query *query,
               const struct ocsp_single *single, uint64_t generation,
               struct ocsp_cached *cached, time_t now)
{
    struct ocsp_cache_key key;

    if (query->count != 1 || query->has_nonce ||
        single->status == V_OCSP_CERTSTATUS_UNKNOWN ||
        !ocsp_cache_key_of(single->cert_id, &key))
        return;
    ocsp_cache_put(responder->cache, generation, key.der, key.der_len,
                   key.serial, key.serial_len, cached,
                   ocsp_responder_refresh_at(responder, now));
}

/* Returns the time on the monotonic clock, in seconds. */
static double
monotonic_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Builds the response to a query whose CertIDs are all this CA's.
 * Returns the OCSPResponseStatus, and on success sets *out to the signed
 * response. */
static int
respond_to_query(struct service *svc, const struct ocsp_query *query,
             const char *peer_ip, struct ocsp_cached **out)
{
    struct ocsp_single singles[OCSP_MAX_CERT_IDS];
    struct ocsp_responder *responder = svc->ocsp;
    time_t now = time(NULL);
    struct adcp_error err;
    uint64_t generation;
    int status;

    *out = ocsp_responder_lookup(responder, query, now);
    if (*out != NULL)
        return OCSP_RESPONSE_STATUS_SUCCESSFUL;
    if (!ocsp_rate_take(responder->rate, peer_ip, monotonic_seconds())) {
        log_warn("ocsp from=%s tryLater: this address asked for more "
                 "signed responses than its limit per second (not cached: "
                 "a nonce, several CertIDs or an unknown serial)",
                 peer_ip);
        return OCSP_RESPONSE_STATUS_TRYLATER;
    }
    /* Read before the store, so that a revocation committed after the
     * read below keeps this response out of the cache. */
    generation = ocsp_cache_generation(responder->cache);
    memset(singles, 0, sizeof(singles));
    for (size_t i = 0; i < query->count; i++) {
        singles[i].cert_id = query->cert_ids[i];
        if (read_status(svc, &singles[i], &err) != ADCP_OK) {
            log_warn("ocsp from=%s internalError: reading a status: %s",
                     peer_ip, err.message);
            return OCSP_RESPONSE_STATUS_INTERNALERROR;
        }
    }
    status = sign_singles(svc, query, singles, now, peer_ip, out);
    if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL)
        cache_response(responder, query, &singles[0], generation, *out,
                       now);
    return status;
}

void
ocsp_manager_respond(struct service *svc, const unsigned char *der,
                     size_t len, const char *peer_ip,
                     struct ocsp_reply *reply)
{
    struct ocsp_cached *cached = NULL;
    struct ocsp_query query;
    const char *problem = "";
    int status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;

    if (ocsp_query_decode(der, len, &query, &problem))
        status = check_issuers(svc->ocsp, &query, peer_ip);
    else
        log_debug("ocsp from=%s malformedRequest: %s", peer_ip, problem);
    if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL)
        status = respond_to_query(svc, &query, peer_ip, &cached);
    ocsp_query_clear(&query);
    if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL)
        ocsp_cached_to_reply(cached, reply);
    else
        reply_error(status, reply);
}
