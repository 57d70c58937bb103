/*
 * The service manager (hal_route): describes every HSM as the policy set
 * needs it (up, holds the key, live load) and lets policy_select choose.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hal/hal-internal.h"

/* Live utilisation: requests in flight against the pool size. */
static enum policy_utilization
live_utilization(const struct hal_hsm *hsm)
{
    size_t pool = hal_hsm_pool_size(hsm);
    size_t busy = atomic_load(&((struct hal_hsm *)hsm)->in_flight);

    if (pool == 0 || busy * 2 < pool)
        return POLICY_UTIL_LOW;
    if (busy * 10 < pool * 9)
        return POLICY_UTIL_MED;
    return POLICY_UTIL_HIGH;
}

/*
 * Builds the policy set used while none is loaded: every HSM may serve
 * every operation with every algorithm and hash that is not weak, so a
 * fresh installation works and weak algorithms stay rejected.
 */
static struct policy_entry *
default_entries(struct hal *hal)
{
    struct policy_entry *entries = calloc(hal->hsm_count, sizeof(*entries));

    for (size_t i = 0; entries != NULL && i < hal->hsm_count; i++) {
        snprintf(entries[i].hsm, sizeof(entries[i].hsm), "%s",
                 hal->hsms[i]->cfg.name);
        entries[i].capabilities = UINT32_MAX;
        entries[i].algorithms = POLICY_ALG_RSA | POLICY_ALG_ECC |
                                POLICY_ALG_AES;
        entries[i].hash_funcs = POLICY_HASH_SHA224 | POLICY_HASH_SHA256 |
                                POLICY_HASH_SHA384 | POLICY_HASH_SHA512;
    }
    return entries;
}

/* Marks the HSMs whose policy entry permits request (all of them while
 * no policy set is loaded), so that only those are asked for the key. */
static void
mark_permitted(struct hal *hal, const struct policy_request *request,
               bool *permitted)
{
    const struct policy_entry *entry;

    pthread_mutex_lock(&hal->lock);
    for (size_t i = 0; i < hal->hsm_count; i++) {
        if (hal->policy == NULL) {
            permitted[i] = true;
            continue;
        }
        entry = policy_set_find(hal->policy, hal->hsms[i]->cfg.name);
        permitted[i] = entry != NULL && policy_entry_permits(entry, request);
    }
    pthread_mutex_unlock(&hal->lock);
}

/* Fills one candidate per HSM. The key lookups run without hal->lock,
 * because they wait on the modules. */
static void
describe_candidates(struct hal *hal, const struct policy_request *request,
                    const char *key_label, bool *permitted,
                    struct policy_candidate *candidates)
{
    mark_permitted(hal, request, permitted);
    for (size_t i = 0; i < hal->hsm_count; i++) {
        struct hal_hsm *hsm = hal->hsms[i];

        candidates[i].hsm = hsm->cfg.name;
        candidates[i].up = hal_hsm_is_up(hsm);
        /* An HSM that is down or not permitted is not searched, because
         * the result would not change the choice. */
        candidates[i].holds_key =
            key_label == NULL ||
            (candidates[i].up && permitted[i] &&
             hal_hsm_has_key(hsm, key_label));
        candidates[i].live_utilization = live_utilization(hsm);
    }
}

/* Runs policy_select under hal->lock, which guards the policy set and
 * the rotation counter. */
static enum adcp_status
select_inlock(struct hal *hal, const struct policy_request *request,
              const struct policy_candidate *candidates, size_t *chosen,
              struct adcp_error *err)
{
    struct policy_set fallback = {NULL, 0};
    const struct policy_set *set = hal->policy;
    enum adcp_status status;

    if (set == NULL) {
        fallback.entries = default_entries(hal);
        fallback.count = hal->hsm_count;
        if (fallback.entries == NULL)
            return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of "
                                  "memory building the default policy set");
        set = &fallback;
    }
    status = policy_select(set, request, candidates, hal->hsm_count,
                           &hal->rotation, chosen, err);
    free(fallback.entries);
    return status;
}

enum adcp_status
hal_route(struct hal *hal, const struct policy_request *request,
          const char *key_label, struct adcp_header *header,
          struct hal_hsm **out, struct adcp_error *err)
{
    struct policy_candidate *candidates = NULL;
    bool *permitted = NULL;
    enum adcp_status status;
    struct hal_hsm *hsm;
    size_t chosen = 0;

    *out = NULL;
    if (hal->hsm_count == 0)
        return adcp_error_set(err, ADCP_ERR_NO_HSM, "", "no HSM is "
                              "configured; add one to the configuration");
    if (request == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "hal_route needs a request");
    candidates = calloc(hal->hsm_count, sizeof(*candidates));
    permitted = calloc(hal->hsm_count, sizeof(*permitted));
    if (candidates == NULL || permitted == NULL) {
        status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                "out of memory routing a request");
        goto out;
    }
    describe_candidates(hal, request, key_label, permitted, candidates);
    pthread_mutex_lock(&hal->lock);
    status = select_inlock(hal, request, candidates, &chosen, err);
    pthread_mutex_unlock(&hal->lock);
out:
    free(candidates);
    free(permitted);
    if (status != ADCP_OK)
        return status;
    if (chosen >= hal->hsm_count)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "policy_select "
                              "chose candidate %zu of %zu", chosen,
                              hal->hsm_count);
    hsm = hal->hsms[chosen];
    if (header != NULL) {
        snprintf(header->dest_hsm_name, sizeof(header->dest_hsm_name), "%s",
                 hsm->cfg.name);
        snprintf(header->dest_hsm_module, sizeof(header->dest_hsm_module),
                 "%s", hsm->cfg.module_path);
    }
    *out = hsm;
    return ADCP_OK;
}
