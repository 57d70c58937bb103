/*
 * The assignment policy set: one entry per HSM that says which operations,
 * algorithms and hash functions it may serve and how loaded it is.
 *
 *   {"hsm": "HSM1", "capabilities": ["initsession", "keypairgen"],
 *    "algorithms": ["rsa", "ecc"], "hash_funcs": ["sha256", "sha512"],
 *    "utilization": ["med"]}
 *
 * Weak algorithms (md5, sha1, rc4) are accepted in the file so that old
 * policy sets still load, and rejected when a request would use them.
 */
#ifndef HSM4SSL_HAL_POLICY_H
#define HSM4SSL_HAL_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adcp/adcp.h"

enum policy_algorithm {
    POLICY_ALG_RSA = 1u << 0,
    POLICY_ALG_ECC = 1u << 1,
    POLICY_ALG_AES = 1u << 2,
    POLICY_ALG_RC4 = 1u << 3, /* weak: accepted in the file only */
};

enum policy_hash {
    POLICY_HASH_MD5 = 1u << 0,  /* weak */
    POLICY_HASH_SHA1 = 1u << 1, /* weak */
    POLICY_HASH_SHA224 = 1u << 2,
    POLICY_HASH_SHA256 = 1u << 3,
    POLICY_HASH_SHA384 = 1u << 4,
    POLICY_HASH_SHA512 = 1u << 5,
};

enum policy_utilization {
    POLICY_UTIL_LOW = 0,
    POLICY_UTIL_MED = 1,
    POLICY_UTIL_HIGH = 2,
};

struct policy_entry {
    char hsm[ADCP_NAME_MAX];
    uint32_t capabilities; /* bit (1u << enum adcp_type) per operation */
    uint32_t algorithms;   /* enum policy_algorithm bits */
    uint32_t hash_funcs;   /* enum policy_hash bits */
    bool utilization_fixed; /* true when the file sets "utilization" */
    enum policy_utilization utilization;
};

struct policy_set {
    struct policy_entry *entries;
    size_t count;
};

/* What one request needs. algorithm is "rsa", "ec"/"ecc" or "aes", or NULL
 * when the operation uses no key; hash is NULL when none applies. */
struct policy_request {
    enum adcp_type operation;
    const char *algorithm;
    const char *hash;
};

/* One HSM as the flow manager sees it at the moment of the decision. */
struct policy_candidate {
    const char *hsm;
    bool up;
    bool holds_key; /* true when the request needs no key, or it holds it */
    enum policy_utilization live_utilization;
};

/* Parses a policy set: a JSON array of entries, or an object whose
 * "policies" member is that array. Unknown capability, algorithm or hash
 * names are errors that name the entry and the value. */
enum adcp_status policy_set_parse(const json_t *json, struct policy_set **out,
                                  struct adcp_error *err);
void policy_set_free(struct policy_set *set);

const struct policy_entry *policy_set_find(const struct policy_set *set,
                                           const char *hsm);

/* Returns the bit for an algorithm or hash name, 0 when unknown. "ec" and
 * "ecc" are the same algorithm. */
uint32_t policy_algorithm_bit(const char *name);
uint32_t policy_hash_bit(const char *name);
bool policy_is_weak(const char *algorithm_or_hash);

/* Returns true when entry allows the request's operation, algorithm and
 * hash. Does not look at state or load. */
bool policy_entry_permits(const struct policy_entry *entry,
                          const struct policy_request *request);

/*
 * Chooses the HSM for a request among candidates: it must have a policy
 * entry that permits the request, be up and hold the key; among those the
 * lowest utilisation wins (the fixed one, else the live one), and ties go
 * round robin by *rotation, which the function advances.
 *
 * Returns ADCP_OK with *chosen set to the candidate's index, or
 * ADCP_ERR_WEAK_ALGORITHM, ADCP_ERR_NO_HSM (no HSM may or can serve it, the
 * message says which and why).
 */
enum adcp_status policy_select(const struct policy_set *set,
                               const struct policy_request *request,
                               const struct policy_candidate *candidates,
                               size_t count, unsigned *rotation,
                               size_t *chosen, struct adcp_error *err);

/* Returns the policy set as JSON, for GET requests and the config file. */
json_t *policy_set_to_json(const struct policy_set *set);

#endif
