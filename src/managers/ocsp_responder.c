/*
 * The responder's state (the CA certificate, its issuer hashes, the
 * response lifetime and the cache), the cache look-up that an event loop
 * may run, and the invalidation after a revocation.
 */
#include "managers/ocsp_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct ocsp_responder *
ocsp_responder_new(X509 *ca_cert, int lifetime, size_t cache_bytes)
{
    struct ocsp_responder *responder = calloc(1, sizeof(*responder));

    if (responder == NULL) {
        log_error("out of memory creating the OCSP responder");
        return NULL;
    }
    responder->lifetime = lifetime > 0 ? lifetime : OCSP_DEFAULT_LIFETIME;
    responder->cache = ocsp_cache_new(cache_bytes > 0
                                          ? cache_bytes
                                          : OCSP_DEFAULT_CACHE_BYTES);
    if (responder->cache == NULL) {
        log_error("out of memory creating the OCSP response cache");
        free(responder);
        return NULL;
    }
    responder->rate = ocsp_rate_new(OCSP_DEFAULT_SIGNED_PER_ADDRESS);
    if (responder->rate == NULL ||
        !ocsp_issuer_init(&responder->issuer, ca_cert)) {
        log_error("out of memory creating the OCSP responder");
        ocsp_responder_free(responder);
        return NULL;
    }
    X509_up_ref(ca_cert);
    responder->ca_cert = ca_cert;
    return responder;
}

void
ocsp_responder_free(struct ocsp_responder *responder)
{
    if (responder == NULL)
        return;
    ocsp_cache_free(responder->cache);
    ocsp_rate_free(responder->rate);
    X509_free(responder->ca_cert);
    free(responder);
}

bool
ocsp_responder_set_rate(struct ocsp_responder *responder,
                        unsigned per_second)
{
    struct ocsp_rate *rate = ocsp_rate_new(per_second);

    if (per_second > 0 && rate == NULL)
        return false;
    ocsp_rate_free(responder->rate);
    responder->rate = rate;
    return true;
}

time_t
ocsp_responder_refresh_at(const struct ocsp_responder *responder,
                          time_t this_update)
{
    int refresh = responder->lifetime / 2;

    if (refresh > OCSP_MAX_REFRESH)
        refresh = OCSP_MAX_REFRESH;
    return this_update + refresh;
}

bool
ocsp_cache_key_of(OCSP_CERTID *cert_id, struct ocsp_cache_key *key)
{
    ASN1_INTEGER *serial = NULL;
    unsigned char *next = key->der;
    int len = i2d_OCSP_CERTID(cert_id, NULL);

    if (len <= 0 || (size_t)len > sizeof(key->der) ||
        OCSP_id_get0_info(NULL, NULL, NULL, &serial, cert_id) != 1 ||
        serial == NULL)
        return false;
    key->der_len = (size_t)i2d_OCSP_CERTID(cert_id, &next);
    key->serial = ASN1_STRING_get0_data(serial);
    key->serial_len = (size_t)ASN1_STRING_length(serial);
    return key->der_len == (size_t)len;
}

struct ocsp_cached *
ocsp_responder_lookup(struct ocsp_responder *responder,
                      const struct ocsp_query *query, time_t now)
{
    struct ocsp_cache_key key;

    if (query->count != 1 || query->has_nonce ||
        !ocsp_cache_key_of(query->cert_ids[0], &key))
        return NULL;
    return ocsp_cache_get(responder->cache, key.der, key.der_len,
                          key.serial, key.serial_len, now);
}

bool
ocsp_responder_cached(struct ocsp_responder *responder,
                      const unsigned char *der, size_t len,
                      struct ocsp_reply *reply)
{
    struct ocsp_cached *cached = NULL;
    struct ocsp_query query;
    const char *problem;

    if (ocsp_query_decode(der, len, &query, &problem))
        cached = ocsp_responder_lookup(responder, &query, time(NULL));
    ocsp_query_clear(&query);
    if (cached == NULL)
        return false;
    ocsp_cached_to_reply(cached, reply);
    return true;
}

/* Converts the upper-case hex of a stored serial into its content bytes.
 * Returns the number of bytes, or 0 when hex is not pairs of digits. */
static size_t
serial_bytes_of(const char *hex, unsigned char *out, size_t size)
{
    size_t len = strlen(hex);

    if (len == 0 || len % 2 != 0 || len / 2 > size)
        return 0;
    for (size_t i = 0; i < len / 2; i++) {
        char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'};

        if (!isxdigit((unsigned char)pair[0]) ||
            !isxdigit((unsigned char)pair[1]))
            return 0;
        out[i] = (unsigned char)strtoul(pair, NULL, 16);
    }
    return len / 2;
}

void
ocsp_responder_forget(struct ocsp_responder *responder, const char *serial)
{
    unsigned char bytes[ADCP_SERIAL_MAX / 2];
    size_t len = serial_bytes_of(serial, bytes, sizeof(bytes));

    /* Defensive: the store holds only serials of hex digit pairs. Any
     * other text empties the whole cache, so no response can outlive
     * the revocation. */
    if (len == 0) {
        log_error("serial \"%.60s\" is not hex digit pairs; emptying the "
                  "OCSP response cache",
                  serial);
        ocsp_cache_forget_all(responder->cache);
        return;
    }
    ocsp_cache_forget(responder->cache, bytes, len);
}
