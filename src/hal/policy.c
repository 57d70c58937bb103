/*
 * The assignment policy set: parsing with errors that name the entry and
 * the value, the check of one entry against a request, the choice of an
 * HSM among candidates, and the JSON form.
 */
#include "hal/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

_Static_assert(ADCP_TYPE_COUNT <= 32,
               "capabilities keep one bit per operation in a uint32_t");

struct name_bit {
    const char *name;
    uint32_t bit;
};

/* The first name of each bit is the one written back by
 * policy_set_to_json and shown in messages. */
static const struct name_bit algorithm_names[] = {
    {"rsa", POLICY_ALG_RSA},
    {"ecc", POLICY_ALG_ECC},
    {"ec", POLICY_ALG_ECC},
    {"aes", POLICY_ALG_AES},
    {"rc4", POLICY_ALG_RC4},
};

static const struct name_bit hash_names[] = {
    {"md5", POLICY_HASH_MD5},       {"sha1", POLICY_HASH_SHA1},
    {"sha-1", POLICY_HASH_SHA1},    {"sha224", POLICY_HASH_SHA224},
    {"sha-224", POLICY_HASH_SHA224}, {"sha256", POLICY_HASH_SHA256},
    {"sha-256", POLICY_HASH_SHA256}, {"sha384", POLICY_HASH_SHA384},
    {"sha-384", POLICY_HASH_SHA384}, {"sha512", POLICY_HASH_SHA512},
    {"sha-512", POLICY_HASH_SHA512},
};

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

static const uint32_t weak_algorithms = POLICY_ALG_RC4;
static const uint32_t weak_hashes = POLICY_HASH_MD5 | POLICY_HASH_SHA1;

static const char *const utilization_names[] = {
    [POLICY_UTIL_LOW] = "low",
    [POLICY_UTIL_MED] = "med",
    [POLICY_UTIL_HIGH] = "high",
};

static const char *const entry_members[] = {
    "hsm", "capabilities", "algorithms", "hash_funcs", "utilization",
};

/* Keeps the list of reasons in an ADCP_ERR_NO_HSM message short enough to
 * leave room for the sentence around it in struct adcp_error. */
#define REASONS_MAX_LEN 400

static uint32_t
lookup_bit(const struct name_bit *table, size_t count, const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < count; i++) {
        if (strcasecmp(name, table[i].name) == 0)
            return table[i].bit;
    }
    return 0;
}

static const char *
bit_name(const struct name_bit *table, size_t count, uint32_t bit)
{
    for (size_t i = 0; i < count; i++) {
        if (table[i].bit == bit)
            return table[i].name;
    }
    return "unknown";
}

uint32_t
policy_algorithm_bit(const char *name)
{
    return lookup_bit(algorithm_names, COUNT_OF(algorithm_names), name);
}

uint32_t
policy_hash_bit(const char *name)
{
    return lookup_bit(hash_names, COUNT_OF(hash_names), name);
}

bool
policy_is_weak(const char *algorithm_or_hash)
{
    return (policy_algorithm_bit(algorithm_or_hash) & weak_algorithms) != 0 ||
           (policy_hash_bit(algorithm_or_hash) & weak_hashes) != 0;
}

/* Writes value as JSON text for a message, cut to about 40 characters.
 * Jansson escapes control characters, so the text is safe to log. */
static void
describe(const json_t *value, char *out, size_t size)
{
    char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);

    if (text == NULL) {
        snprintf(out, size, "(a value)");
        return;
    }
    if (strlen(text) > 40)
        snprintf(out, size, "%.40s...", text);
    else
        snprintf(out, size, "%s", text);
    free(text);
}

static enum adcp_status
invalid(struct adcp_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum adcp_status
invalid(struct adcp_error *err, const char *field, const char *fmt, ...)
{
    char message[sizeof(err->message)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field, "%s", message);
}

static void
list_names(const char *const *names, size_t count, char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < count && names[i] != NULL; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i > 0 ? ", " : "",
                         names[i]);

        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static void
list_operations(char *out, size_t size)
{
    const char *names[ADCP_TYPE_COUNT] = {NULL};

    for (int type = ADCP_TYPE_UNKNOWN + 1; type < ADCP_TYPE_COUNT; type++)
        names[type - 1] = adcp_type_name((enum adcp_type)type);
    list_names(names, ADCP_TYPE_COUNT - 1, out, size);
}

static enum adcp_status
check_entry_members(const json_t *object, const char *path,
                    struct adcp_error *err)
{
    const char *key;
    const json_t *value;
    char field[80];

    json_object_foreach((json_t *)object, key, value) {
        bool known = false;

        for (size_t i = 0; i < COUNT_OF(entry_members); i++)
            known = known || strcmp(key, entry_members[i]) == 0;
        if (known)
            continue;
        snprintf(field, sizeof(field), "%s.%.32s", path, key);
        return invalid(err, field,
                       "%s has the unknown member \"%.32s\"; expected hsm, "
                       "capabilities, algorithms, hash_funcs or "
                       "utilization", path, key);
    }
    return ADCP_OK;
}

static enum adcp_status
parse_hsm_name(const json_t *object, const char *path,
               struct policy_entry *entry, struct adcp_error *err)
{
    const json_t *value = json_object_get(object, "hsm");
    char field[80];
    char shown[64];

    snprintf(field, sizeof(field), "%s.hsm", path);
    if (value == NULL)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, field,
                              "%s has no \"hsm\"; name the HSM the entry "
                              "applies to", path);
    describe(value, shown, sizeof(shown));
    if (!json_is_string(value) ||
        !adcp_is_plain_name(json_string_value(value)) ||
        strlen(json_string_value(value)) != json_string_length(value))
        return invalid(err, field,
                       "%s is %s; expected the name of an HSM, such as "
                       "\"HSM1\", of at most %d bytes without '/'",
                       field, shown, ADCP_NAME_MAX - 1);
    snprintf(entry->hsm, sizeof(entry->hsm), "%s", json_string_value(value));
    return ADCP_OK;
}

/* The description of one list member of an entry: its key, the kind of
 * name in it and the function that maps a name to its bit. */
struct list_kind {
    const char *key;
    const char *what;     /* "operation", "algorithm", "hash function" */
    const char *expected; /* the names, for the message */
    uint32_t (*bit)(const char *name);
};

static uint32_t
operation_bit(const char *name)
{
    enum adcp_type type = adcp_type_parse(name);

    return type == ADCP_TYPE_UNKNOWN ? 0 : 1u << type;
}

/* Parses the list kind->key of an entry into the union of its bits. */
static enum adcp_status
parse_name_list(const json_t *object, const char *path,
                const struct policy_entry *entry,
                const struct list_kind *kind, uint32_t *bits,
                struct adcp_error *err)
{
    const json_t *array = json_object_get(object, kind->key);
    char field[80];
    char shown[64];
    size_t i;
    const json_t *item;

    snprintf(field, sizeof(field), "%s.%s", path, kind->key);
    if (array == NULL)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, field,
                              "%s (%s) has no \"%s\"; add it with names "
                              "from %s, or [] for none", path, entry->hsm,
                              kind->key, kind->expected);
    if (!json_is_array(array)) {
        describe(array, shown, sizeof(shown));
        return invalid(err, field, "%s (%s) is %s; expected an array of "
                       "names from %s", field, entry->hsm, shown,
                       kind->expected);
    }
    *bits = 0;
    json_array_foreach(array, i, item) {
        uint32_t bit = json_is_string(item)
                           ? kind->bit(json_string_value(item))
                           : 0;

        if (bit == 0) {
            snprintf(field, sizeof(field), "%s.%s[%zu]", path, kind->key, i);
            describe(item, shown, sizeof(shown));
            return invalid(err, field, "%s (%s) is %s, which is not a "
                           "known %s; expected one of %s", field, entry->hsm,
                           shown, kind->what, kind->expected);
        }
        *bits |= bit;
    }
    return ADCP_OK;
}

static bool
parse_utilization_name(const char *name, enum policy_utilization *out)
{
    if (name == NULL)
        return false;
    for (int level = POLICY_UTIL_LOW; level <= POLICY_UTIL_HIGH; level++) {
        if (strcasecmp(name, utilization_names[level]) == 0) {
            *out = (enum policy_utilization)level;
            return true;
        }
    }
    if (strcasecmp(name, "medium") == 0) {
        *out = POLICY_UTIL_MED;
        return true;
    }
    return false;
}

/* Reads "utilization": ["med"] or "med". Absent or null leaves the level
 * to the live load. */
static enum adcp_status
parse_utilization(const json_t *object, const char *path,
                  struct policy_entry *entry, struct adcp_error *err)
{
    const json_t *value = json_object_get(object, "utilization");
    const json_t *level = value;
    char field[80];
    char shown[64];

    if (value == NULL || json_is_null(value))
        return ADCP_OK;
    if (json_is_array(value))
        level = json_array_size(value) == 1 ? json_array_get(value, 0) : NULL;
    if (level != NULL &&
        parse_utilization_name(json_string_value(level),
                               &entry->utilization)) {
        entry->utilization_fixed = true;
        return ADCP_OK;
    }
    snprintf(field, sizeof(field), "%s.utilization", path);
    describe(value, shown, sizeof(shown));
    return invalid(err, field, "%s (%s) is %s; expected [\"low\"], "
                   "[\"med\"] or [\"high\"], or no member to use the live "
                   "load", field, entry->hsm, shown);
}

static enum adcp_status
parse_entry(const json_t *object, size_t index, struct policy_entry *entry,
            struct adcp_error *err)
{
    char path[32];
    char shown[64];
    char operations[160];
    enum adcp_status rc;

    list_operations(operations, sizeof(operations));
    const struct list_kind kinds[] = {
        {"capabilities", "operation", operations, operation_bit},
        {"algorithms", "algorithm", "rsa, ecc (or ec), aes, rc4",
         policy_algorithm_bit},
        {"hash_funcs", "hash function",
         "md5, sha1, sha224, sha256, sha384, sha512", policy_hash_bit},
    };
    uint32_t *bits[] = {&entry->capabilities, &entry->algorithms,
                        &entry->hash_funcs};

    snprintf(path, sizeof(path), "policies[%zu]", index);
    if (!json_is_object(object)) {
        describe(object, shown, sizeof(shown));
        return invalid(err, path, "%s is %s; expected an object with hsm, "
                       "capabilities, algorithms and hash_funcs", path,
                       shown);
    }
    rc = check_entry_members(object, path, err);
    if (rc == ADCP_OK)
        rc = parse_hsm_name(object, path, entry, err);
    for (size_t i = 0; rc == ADCP_OK && i < COUNT_OF(kinds); i++)
        rc = parse_name_list(object, path, entry, &kinds[i], bits[i], err);
    if (rc == ADCP_OK)
        rc = parse_utilization(object, path, entry, err);
    return rc;
}

/* Returns the array of entries: json itself, or its "policies" member. */
static const json_t *
entries_array(const json_t *json, struct adcp_error *err)
{
    const json_t *array = json;
    char shown[64] = "missing";

    if (json_is_object(json))
        array = json_object_get(json, "policies");
    if (json_is_array(array))
        return array;
    if (json != NULL)
        describe(array != NULL ? array : json, shown, sizeof(shown));
    invalid(err, "policies", "the policy set is %s; expected an array of "
            "entries or an object whose \"policies\" member is one", shown);
    return NULL;
}

enum adcp_status
policy_set_parse(const json_t *json, struct policy_set **out,
                 struct adcp_error *err)
{
    struct policy_set *set = NULL;
    const json_t *array;
    size_t count;
    enum adcp_status rc = ADCP_ERR_INVALID_FIELD;

    adcp_error_clear(err);
    if (out == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "policy_set_parse called without a place "
                              "for the result; report this as a bug");
    *out = NULL;
    array = entries_array(json, err);
    if (array == NULL)
        goto out;
    count = json_array_size(array);
    set = calloc(1, sizeof(*set));
    if (set != NULL)
        set->entries = calloc(count > 0 ? count : 1, sizeof(*set->entries));
    if (set == NULL || set->entries == NULL) {
        rc = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                            "out of memory while reading the policy set");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        struct policy_entry *entry = &set->entries[i];

        rc = parse_entry(json_array_get(array, i), i, entry, err);
        if (rc != ADCP_OK)
            goto out;
        if (policy_set_find(set, entry->hsm) != NULL) {
            rc = invalid(err, "policies", "policies[%zu] names HSM %s, "
                         "which an earlier entry already names; merge the "
                         "two entries", i, entry->hsm);
            goto out;
        }
        set->count++;
    }
    *out = set;
    set = NULL;
    rc = ADCP_OK;
out:
    policy_set_free(set);
    return rc;
}

void
policy_set_free(struct policy_set *set)
{
    if (set == NULL)
        return;
    free(set->entries);
    free(set);
}

const struct policy_entry *
policy_set_find(const struct policy_set *set, const char *hsm)
{
    if (set == NULL || hsm == NULL)
        return NULL;
    for (size_t i = 0; i < set->count; i++) {
        if (strcmp(set->entries[i].hsm, hsm) == 0)
            return &set->entries[i];
    }
    return NULL;
}

static bool
operation_is_valid(enum adcp_type operation)
{
    return operation > ADCP_TYPE_UNKNOWN && operation < ADCP_TYPE_COUNT;
}

bool
policy_entry_permits(const struct policy_entry *entry,
                     const struct policy_request *request)
{
    uint32_t bit;

    if (entry == NULL || request == NULL ||
        !operation_is_valid(request->operation))
        return false;
    if ((entry->capabilities & (1u << request->operation)) == 0)
        return false;
    if (request->algorithm != NULL) {
        bit = policy_algorithm_bit(request->algorithm);
        if (bit == 0 || (bit & weak_algorithms) != 0 ||
            (entry->algorithms & bit) == 0)
            return false;
    }
    if (request->hash != NULL) {
        bit = policy_hash_bit(request->hash);
        if (bit == 0 || (bit & weak_hashes) != 0 ||
            (entry->hash_funcs & bit) == 0)
            return false;
    }
    return true;
}

/* Writes the operation, algorithm and hash of request, as "keypairgen
 * with ec and sha256". */
static void
describe_request(const struct policy_request *request, char *out,
                 size_t size)
{
    const char *operation = adcp_type_name(request->operation);

    if (request->algorithm != NULL && request->hash != NULL)
        snprintf(out, size, "%s with %.16s and %.16s", operation,
                 request->algorithm, request->hash);
    else if (request->algorithm != NULL || request->hash != NULL)
        snprintf(out, size, "%s with %.16s", operation,
                 request->algorithm != NULL ? request->algorithm
                                            : request->hash);
    else
        snprintf(out, size, "%s", operation);
}

/* Rejects requests that no policy could serve: weak or unknown names and
 * unknown operations. */
static enum adcp_status
check_request(const struct policy_request *request, struct adcp_error *err)
{
    const char *alg = request->algorithm;
    const char *hash = request->hash;

    if (alg != NULL && policy_is_weak(alg))
        return adcp_error_set(err, ADCP_ERR_WEAK_ALGORITHM, "key_info.type",
                              "%.16s is a weak algorithm and is rejected "
                              "for use; use aes for ciphers, rsa or ec for "
                              "key pairs", alg);
    if (hash != NULL && policy_is_weak(hash))
        return adcp_error_set(err, ADCP_ERR_WEAK_ALGORITHM,
                              "cert_details.hash_algorithm",
                              "%.16s is a weak hash function and is "
                              "rejected for use; use sha256, sha384 or "
                              "sha512", hash);
    if (!operation_is_valid(request->operation))
        return adcp_error_set(err, ADCP_ERR_NO_HSM, "",
                              "no HSM may serve an unknown operation; "
                              "report this as a bug");
    if (alg != NULL && policy_algorithm_bit(alg) == 0)
        return adcp_error_set(err, ADCP_ERR_NO_HSM, "key_info.type",
                              "no HSM may serve %s with %.16s: the policy "
                              "set knows no such algorithm; use rsa, ec or "
                              "aes", adcp_type_name(request->operation),
                              alg);
    if (hash != NULL && policy_hash_bit(hash) == 0)
        return adcp_error_set(err, ADCP_ERR_NO_HSM,
                              "cert_details.hash_algorithm",
                              "no HSM may serve %s with %.16s: the policy "
                              "set knows no such hash function; use "
                              "sha256, sha384 or sha512",
                              adcp_type_name(request->operation), hash);
    return ADCP_OK;
}

/*
 * Returns true when candidate may serve request and sets *level to its
 * utilisation. Otherwise writes why not into reason, as "lacks algorithm
 * ecc" or "is down".
 */
static bool
candidate_qualifies(const struct policy_set *set,
                    const struct policy_request *request,
                    const struct policy_candidate *candidate,
                    enum policy_utilization *level, char *reason,
                    size_t size)
{
    const struct policy_entry *entry = policy_set_find(set, candidate->hsm);
    uint32_t bit;

    if (entry == NULL) {
        snprintf(reason, size, "has no policy entry");
        return false;
    }
    if ((entry->capabilities & (1u << request->operation)) == 0) {
        snprintf(reason, size, "lacks capability %s",
                 adcp_type_name(request->operation));
        return false;
    }
    bit = policy_algorithm_bit(request->algorithm);
    if (request->algorithm != NULL && (entry->algorithms & bit) == 0) {
        snprintf(reason, size, "lacks algorithm %s",
                 bit_name(algorithm_names, COUNT_OF(algorithm_names), bit));
        return false;
    }
    bit = policy_hash_bit(request->hash);
    if (request->hash != NULL && (entry->hash_funcs & bit) == 0) {
        snprintf(reason, size, "lacks hash function %s",
                 bit_name(hash_names, COUNT_OF(hash_names), bit));
        return false;
    }
    if (!candidate->up) {
        snprintf(reason, size, "is down");
        return false;
    }
    if (!candidate->holds_key) {
        snprintf(reason, size, "does not hold the key");
        return false;
    }
    *level = entry->utilization_fixed ? entry->utilization
                                      : candidate->live_utilization;
    return true;
}

/* Appends "NAME reason" to the list, or counts it as left out once the
 * list is full. */
static void
append_reason(char *list, size_t *used, size_t *left_out, const char *hsm,
              const char *reason)
{
    size_t room = REASONS_MAX_LEN - *used;
    int n = snprintf(list + *used, room, "%s%.63s %s", *used > 0 ? ", " : "",
                     hsm, reason);

    if (n < 0 || (size_t)n >= room) {
        list[*used] = '\0';
        (*left_out)++;
        return;
    }
    *used += (size_t)n;
}

static enum adcp_status
no_hsm_error(const struct policy_request *request, const char *reasons,
             size_t left_out, struct adcp_error *err)
{
    char wanted[96];

    describe_request(request, wanted, sizeof(wanted));
    if (reasons[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_NO_HSM, "",
                              "no HSM may serve %s: no HSM is configured; "
                              "add one to the configuration", wanted);
    if (left_out > 0)
        return adcp_error_set(err, ADCP_ERR_NO_HSM, "",
                              "no HSM may serve %s: %s and %zu more",
                              wanted, reasons, left_out);
    return adcp_error_set(err, ADCP_ERR_NO_HSM, "", "no HSM may serve %s: %s",
                          wanted, reasons);
}

enum adcp_status
policy_select(const struct policy_set *set,
              const struct policy_request *request,
              const struct policy_candidate *candidates, size_t count,
              unsigned *rotation, size_t *chosen, struct adcp_error *err)
{
    char reasons[REASONS_MAX_LEN] = "";
    char reason[64];
    size_t used = 0, left_out = 0, ties = 0, pick;
    enum policy_utilization best = POLICY_UTIL_HIGH, level;
    enum adcp_status rc;

    adcp_error_clear(err);
    if (request == NULL || chosen == NULL || (count > 0 && candidates == NULL))
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "policy_select called without a request, "
                              "candidates or result; report this as a bug");
    rc = check_request(request, err);
    if (rc != ADCP_OK)
        return rc;
    for (size_t i = 0; i < count; i++) {
        const char *name = candidates[i].hsm ? candidates[i].hsm : "(unnamed)";

        if (!candidate_qualifies(set, request, &candidates[i], &level,
                                 reason, sizeof(reason))) {
            append_reason(reasons, &used, &left_out, name, reason);
        } else if (ties == 0 || level < best) {
            best = level;
            ties = 1;
        } else if (level == best) {
            ties++;
        }
    }
    if (ties == 0)
        return no_hsm_error(request, reasons, left_out, err);

    /* Round robin among the candidates that share the lowest level. */
    pick = rotation != NULL ? *rotation % ties : 0;
    if (rotation != NULL)
        (*rotation)++;
    for (size_t i = 0; i < count; i++) {
        if (!candidate_qualifies(set, request, &candidates[i], &level, reason,
                                 sizeof(reason)) ||
            level != best)
            continue;
        if (pick == 0) {
            *chosen = i;
            return ADCP_OK;
        }
        pick--;
    }
    /* Defensive: the second pass finds the same candidates as the first. */
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "policy_select lost its choice; report this as a "
                          "bug");
}

static json_t *
bits_to_names(const struct name_bit *table, size_t count, uint32_t bits)
{
    json_t *array = json_array();
    uint32_t written = 0;

    for (size_t i = 0; array != NULL && i < count; i++) {
        if ((bits & table[i].bit) == 0 || (written & table[i].bit) != 0)
            continue;
        written |= table[i].bit;
        if (json_array_append_new(array, json_string(table[i].name)) != 0) {
            json_decref(array);
            array = NULL;
        }
    }
    return array;
}

static json_t *
capabilities_to_json(uint32_t capabilities)
{
    json_t *array = json_array();

    for (int type = ADCP_TYPE_UNKNOWN + 1; array != NULL &&
         type < ADCP_TYPE_COUNT; type++) {
        if ((capabilities & (1u << type)) == 0)
            continue;
        if (json_array_append_new(
                array, json_string(adcp_type_name((enum adcp_type)type))) !=
            0) {
            json_decref(array);
            array = NULL;
        }
    }
    return array;
}

/* json_pack steals each "o" reference even when it fails (jansson 2.11
 * and later), so a NULL list from an allocation failure leaks nothing. */
static json_t *
entry_to_json(const struct policy_entry *entry)
{
    json_t *object = json_pack(
        "{s:s, s:o, s:o, s:o}", "hsm", entry->hsm, "capabilities",
        capabilities_to_json(entry->capabilities), "algorithms",
        bits_to_names(algorithm_names, COUNT_OF(algorithm_names),
                      entry->algorithms),
        "hash_funcs",
        bits_to_names(hash_names, COUNT_OF(hash_names), entry->hash_funcs));

    if (object == NULL || !entry->utilization_fixed)
        return object;
    if (json_object_set_new(
            object, "utilization",
            json_pack("[s]", utilization_names[entry->utilization])) != 0) {
        json_decref(object);
        return NULL;
    }
    return object;
}

/* Returns {"policies": [...]}, which policy_set_parse reads back, or NULL
 * when out of memory. */
json_t *
policy_set_to_json(const struct policy_set *set)
{
    json_t *array = json_array();

    for (size_t i = 0; set != NULL && array != NULL && i < set->count; i++) {
        if (json_array_append_new(array, entry_to_json(&set->entries[i])) !=
            0) {
            json_decref(array);
            array = NULL;
        }
    }
    if (array == NULL)
        return NULL;
    return json_pack("{s:o}", "policies", array);
}
