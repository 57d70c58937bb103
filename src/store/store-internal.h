/*
 * Internal interface between the storage dispatch (store.c) and its back
 * ends. A back end allocates a structure that starts with struct store,
 * points ops at its operations table and returns a pointer to that first
 * member. store.c checks the arguments of every public call and then calls
 * the operation. A new back end (store_pg.c for PostgreSQL) adds one ops
 * table and one open function and needs no change in callers.
 */
#ifndef HSM4SSL_STORE_INTERNAL_H
#define HSM4SSL_STORE_INTERNAL_H

#include "store/store.h"

/* Tables that store_count may count. The back end maps each to its own
 * statement, so a table name from a caller never becomes SQL text. */
enum store_table {
    STORE_TABLE_HOSTS = 0,
    STORE_TABLE_CERTIFICATES,
    STORE_TABLE_KEYS,
    STORE_TABLE_AUDIT_LOG,
    STORE_TABLE_ENROLLMENT_TOKENS,
    STORE_TABLE_COUNT
};

/*
 * Operations of one back end. Arguments are checked by store.c before
 * the call: pointers are non-NULL, strings are NUL-terminated within their
 * arrays and non-empty where the schema requires a value. Out-parameters
 * are cleared by store.c and set by the back end only on success.
 */
struct store_ops {
    void (*close)(struct store *store);

    enum adcp_status (*host_add)(struct store *store, struct store_host *host,
                                 struct adcp_error *err);
    enum adcp_status (*host_get_by_name)(struct store *store, const char *name,
                                         struct store_host *out,
                                         struct adcp_error *err);
    enum adcp_status (*host_get_by_id)(struct store *store, int64_t id,
                                       struct store_host *out,
                                       struct adcp_error *err);

    enum adcp_status (*enrollment_add)(
        struct store *store, int64_t host_id,
        const unsigned char verifier[STORE_VERIFIER_LEN], time_t expires,
        struct adcp_error *err);
    enum adcp_status (*enrollment_consume)(
        struct store *store, const unsigned char verifier[STORE_VERIFIER_LEN],
        int64_t *host_id, struct adcp_error *err);
    enum adcp_status (*enrollment_lookup)(
        struct store *store, const unsigned char verifier[STORE_VERIFIER_LEN],
        int64_t *host_id, struct adcp_error *err);

    enum adcp_status (*cert_add)(struct store *store,
                                 const struct store_cert *cert,
                                 struct adcp_error *err);
    void (*expect_write)(struct store *store);
    void (*expect_write_done)(struct store *store);
    enum adcp_status (*cert_add_queued)(struct store *store,
                                        const struct store_cert *cert,
                                        struct store_ticket **ticket,
                                        struct adcp_error *err);
    void (*ticket_notify)(struct store_ticket *ticket, store_ticket_fn done,
                          void *arg);
    enum adcp_status (*ticket_finish)(struct store_ticket *ticket,
                                      struct adcp_error *err);
    enum adcp_status (*cert_get)(struct store *store, const char *serial,
                                 struct store_cert *out,
                                 struct adcp_error *err);
    enum adcp_status (*cert_revoke)(struct store *store, const char *serial,
                                    int reason, time_t revoked_at,
                                    struct adcp_error *err);
    enum adcp_status (*revoked_foreach)(struct store *store,
                                        time_t expired_before,
                                        store_revoked_fn fn, void *arg,
                                        struct adcp_error *err);
    enum adcp_status (*crl_number_next)(struct store *store,
                                        int64_t *number,
                                        struct adcp_error *err);

    enum adcp_status (*key_add)(struct store *store,
                                const struct store_key *key,
                                struct adcp_error *err);
    enum adcp_status (*key_get)(struct store *store, const char *label,
                                struct store_key *out, struct adcp_error *err);

    enum adcp_status (*audit_append)(struct store *store,
                                     const struct store_audit_entry *entry,
                                     struct adcp_error *err);
    enum adcp_status (*audit_last_id)(struct store *store, char *out,
                                      size_t size, struct adcp_error *err);
    enum adcp_status (*count)(struct store *store, enum store_table table,
                              int64_t *count, struct adcp_error *err);

    enum adcp_status (*setting_set)(struct store *store, const char *name,
                                    const char *value, struct adcp_error *err);
    enum adcp_status (*setting_get)(struct store *store, const char *name,
                                    char *value, size_t size,
                                    struct adcp_error *err);
};

struct store_host_cache;

struct store {
    const struct store_ops *ops;
    /* Host records read before, or NULL to read every lookup from the
     * back end. The back end creates and frees it. */
    struct store_host_cache *hosts;
};

/* Host record cache (store_host_cache.c). A lookup copies the entry into
 * *out and returns true, or returns false when the host is not cached;
 * put stores a copy. All of them accept a NULL cache and are safe to call
 * from several threads. */
struct store_host_cache *store_host_cache_new(void);
void store_host_cache_free(struct store_host_cache *cache);
bool store_host_cache_get_by_name(struct store_host_cache *cache,
                                  const char *name, struct store_host *out);
bool store_host_cache_get_by_id(struct store_host_cache *cache, int64_t id,
                                struct store_host *out);
void store_host_cache_put(struct store_host_cache *cache,
                          const struct store_host *host);

/* The start of a back end's ticket, so that store.c can find the store
 * whose operations end it. */
struct store_ticket {
    struct store *store;
};

/*
 * Copies a stored string into a fixed-size field of an output struct.
 * Returns false, leaving dst empty, when src is NULL or does not fit. A
 * back end reports that as a storage error, because store.c never accepts
 * such a value.
 */
bool store_copy_field(char *dst, size_t size, const char *src);

/* Duplicates a string with malloc; returns NULL when src is NULL or memory
 * is exhausted. */
char *store_strdup(const char *src);

/* Appends a copy of value to the heap array *items of *count strings.
 * Returns false, leaving the array as it was, when memory is exhausted. */
bool store_strings_append(char ***items, size_t *count, const char *value);

/* Writes the current time as ISO 8601 UTC with microseconds, the form the
 * audit log records ("2024-05-01T12:00:00.123456Z"). */
void store_timestamp_now(char out[ADCP_TIMESTAMP_MAX]);

/* SQLite schema (store_sqlite_schema.c). Version N of the schema is reached
 * by running the scripts of versions 1 to N in order. */
int store_sqlite_schema_version(void);

/* Returns the script that upgrades schema version - 1 to version, or NULL
 * when version is outside 1 .. store_sqlite_schema_version(). */
const char *store_sqlite_schema_script(int version);

#endif
