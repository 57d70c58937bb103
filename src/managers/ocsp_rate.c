/*
 * A limit on the OCSP responses that one client address makes the HSM
 * sign. Responses from the cache cost no signature and are not counted.
 * Requests with a nonce, several CertIDs or an unknown serial are signed
 * every time, and anyone may send them. Without a limit, one address
 * could keep the CA's HSM busy.
 *
 * Each address has a token bucket that contains up to two seconds' worth
 * of signatures and refills at the configured rate. The buckets live in
 * a fixed table of OCSP_RATE_SLOTS, filed by a hash of the address. An
 * address that lands on another address's slot takes it over with a full
 * bucket, so a collision errs towards signing.
 */
#include "managers/ocsp_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

#define OCSP_RATE_SLOTS 4096 /* a power of two */
#define OCSP_RATE_BURST_SECONDS 2

struct rate_slot {
    char address[ADCP_IP_MAX];
    double tokens;
    double last; /* seconds, on the clock the caller uses */
};

struct ocsp_rate {
    pthread_mutex_t lock;
    double per_second;
    struct rate_slot slots[OCSP_RATE_SLOTS];
};

struct ocsp_rate *
ocsp_rate_new(unsigned per_second)
{
    struct ocsp_rate *rate;

    if (per_second == 0)
        return NULL;
    rate = calloc(1, sizeof(*rate));
    if (rate == NULL)
        return NULL;
    pthread_mutex_init(&rate->lock, NULL);
    rate->per_second = per_second;
    return rate;
}

void
ocsp_rate_free(struct ocsp_rate *rate)
{
    if (rate == NULL)
        return;
    pthread_mutex_destroy(&rate->lock);
    free(rate);
}

static size_t
slot_of(const char *address)
{
    return hash_fnv1a(address, strlen(address)) & (OCSP_RATE_SLOTS - 1);
}

bool
ocsp_rate_take(struct ocsp_rate *rate, const char *address, double now)
{
    double burst, refilled;
    struct rate_slot *slot;
    bool allowed;

    if (rate == NULL)
        return true;
    burst = rate->per_second * OCSP_RATE_BURST_SECONDS;
    pthread_mutex_lock(&rate->lock);
    slot = &rate->slots[slot_of(address)];
    if (strcmp(slot->address, address) != 0) {
        snprintf(slot->address, sizeof(slot->address), "%s", address);
        slot->tokens = burst;
        slot->last = now;
    }
    refilled = slot->tokens + (now - slot->last) * rate->per_second;
    slot->tokens = refilled < burst ? refilled : burst;
    slot->last = now;
    allowed = slot->tokens >= 1;
    if (allowed)
        slot->tokens -= 1;
    pthread_mutex_unlock(&rate->lock);
    return allowed;
}
