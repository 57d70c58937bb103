/*
 * Storage dispatch: checks the arguments of each public call once, for
 * every back end, and forwards the call to the back end's operations
 * table. It also contains the helpers that free the records callers
 * receive.
 */
#include "store/store-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/crl_reason.h"

static const char *const table_names[STORE_TABLE_COUNT] = {
    [STORE_TABLE_HOSTS] = "hosts",
    [STORE_TABLE_CERTIFICATES] = "certificates",
    [STORE_TABLE_KEYS] = "keys",
    [STORE_TABLE_AUDIT_LOG] = "audit_log",
    [STORE_TABLE_ENROLLMENT_TOKENS] = "enrollment_tokens",
};

bool
store_copy_field(char *dst, size_t size, const char *src)
{
    size_t len;

    dst[0] = '\0';
    if (src == NULL)
        return false;
    len = strlen(src);
    if (len >= size)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

char *
store_strdup(const char *src)
{
    size_t len;
    char *copy;

    if (src == NULL)
        return NULL;
    len = strlen(src);
    copy = malloc(len + 1);
    if (copy != NULL)
        memcpy(copy, src, len + 1);
    return copy;
}

bool
store_strings_append(char ***items, size_t *count, const char *value)
{
    char **grown;
    char *copy;

    copy = store_strdup(value);
    if (copy == NULL)
        return false;
    grown = realloc(*items, (*count + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(copy);
        return false;
    }
    grown[*count] = copy;
    *items = grown;
    (*count)++;
    return true;
}

void
store_timestamp_now(char out[ADCP_TIMESTAMP_MAX])
{
    struct timeval now;
    struct tm tm;
    char seconds[24];

    gettimeofday(&now, NULL);
    gmtime_r(&now.tv_sec, &tm);
    strftime(seconds, sizeof(seconds), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, ADCP_TIMESTAMP_MAX, "%s.%06ldZ", seconds, (long)now.tv_usec);
}

/* Argument checks shared by all back ends. */

static enum adcp_status
fail_null(struct adcp_error *err, const char *func, const char *what)
{
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "%s was called with a NULL %s; this is a bug in "
                          "the caller",
                          func, what);
}

/* True when the fixed-size field contains a NUL-terminated string. */
static bool
field_terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}

static enum adcp_status
check_text_field(const char *field, size_t size, bool required,
                 const char *name, struct adcp_error *err)
{
    if (!field_terminated(field, size))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, name,
                              "%s is not terminated within %zu bytes; pass "
                              "a string of at most %zu bytes",
                              name, size, size - 1);
    if (required && field[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, name,
                              "%s is empty; pass a value", name);
    return ADCP_OK;
}

static enum adcp_status
check_string(const char *value, const char *name, struct adcp_error *err)
{
    if (value == NULL || value[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, name,
                              "%s is missing; pass a non-empty value", name);
    return ADCP_OK;
}

/* Serial numbers are compared as text, so one spelling is enforced:
 * upper-case hex without separators, as `openssl x509 -serial` prints. */
static enum adcp_status
check_serial(const char *serial, struct adcp_error *err)
{
    size_t len;

    if (serial == NULL || serial[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "serial",
                              "serial is missing; pass the serial number "
                              "in upper-case hex");
    len = strnlen(serial, ADCP_SERIAL_MAX);
    if (len >= ADCP_SERIAL_MAX)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "serial",
                              "serial is longer than %d hex digits; pass "
                              "the serial number as openssl prints it",
                              ADCP_SERIAL_MAX - 1);
    if (strspn(serial, "0123456789ABCDEF") != len)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "serial",
                              "serial \"%s\" is not upper-case hex without "
                              "separators; write it as openssl x509 -serial "
                              "prints it",
                              serial);
    return ADCP_OK;
}

static enum adcp_status
check_names(char *const *names, size_t count, const char *field,
            struct adcp_error *err)
{
    if (count > 0 && names == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, field,
                              "%s has %zu entries but no array; this is a "
                              "bug in the caller",
                              field, count);
    for (size_t i = 0; i < count; i++)
        if (names[i] == NULL || names[i][0] == '\0')
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field,
                                  "%s entry %zu is empty; remove it or "
                                  "give a name",
                                  field, i);
    return ADCP_OK;
}

static enum adcp_status
check_host(const struct store_host *host, struct adcp_error *err)
{
    enum adcp_status status;

    status =
        check_text_field(host->name, sizeof(host->name), true, "name", err);
    if (status == ADCP_OK)
        status =
            check_names(host->dns_names, host->dns_count, "dns_names", err);
    if (status == ADCP_OK)
        status = check_names(host->ip_addresses, host->ip_count, "ip_addresses",
                             err);
    return status;
}

static enum adcp_status
check_cert(const struct store_cert *cert, struct adcp_error *err)
{
    enum adcp_status status;

    status = check_text_field(cert->serial, sizeof(cert->serial), true,
                              "serial", err);
    if (status == ADCP_OK)
        status = check_serial(cert->serial, err);
    if (status == ADCP_OK && cert->host_id < 0)
        status = adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "host_id",
                                "host_id %lld is negative; pass a host's id "
                                "or 0 for the CA's own certificates",
                                (long long)cert->host_id);
    if (status == ADCP_OK)
        status = check_text_field(cert->subject, sizeof(cert->subject), true,
                                  "subject", err);
    if (status == ADCP_OK)
        status =
            check_text_field(cert->hsm, sizeof(cert->hsm), false, "hsm", err);
    if (status == ADCP_OK)
        status = check_string(cert->pem, "pem", err);
    if (status == ADCP_OK && cert->revoked_at != 0 &&
        !crl_reason_is_revocable(cert->revocation_reason))
        status = adcp_error_set(err, ADCP_ERR_INVALID_FIELD,
                                "revocation_reason",
                                "revocation_reason %d cannot be stored; use "
                                "one of %s",
                                cert->revocation_reason,
                                CRL_REASON_ACCEPTED);
    return status;
}

static enum adcp_status
check_key(const struct store_key *key, struct adcp_error *err)
{
    enum adcp_status status;

    status =
        check_text_field(key->label, sizeof(key->label), true, "label", err);
    if (status == ADCP_OK)
        status =
            check_text_field(key->type, sizeof(key->type), true, "type", err);
    if (status == ADCP_OK)
        status = check_text_field(key->hsm, sizeof(key->hsm), true, "hsm", err);
    if (status == ADCP_OK)
        status = check_string(key->public_pem, "public_pem", err);
    return status;
}

static enum adcp_status
check_audit(const struct store_audit_entry *entry, struct adcp_error *err)
{
    enum adcp_status status;

    status = check_text_field(entry->message_id, sizeof(entry->message_id),
                              false, "message_id", err);
    if (status == ADCP_OK)
        status = check_text_field(entry->direction, sizeof(entry->direction),
                                  true, "direction", err);
    if (status == ADCP_OK)
        status =
            check_text_field(entry->message_type, sizeof(entry->message_type),
                             true, "message_type", err);
    if (status == ADCP_OK)
        status = check_string(entry->json, "json", err);
    return status;
}

/* Lifecycle. */

void
store_close(struct store *store)
{
    if (store == NULL)
        return;
    store->ops->close(store);
}

/* Hosts. */

enum adcp_status
store_host_add(struct store *store, struct store_host *host,
               struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || host == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "host");
    status = check_host(host, err);
    if (status != ADCP_OK)
        return status;
    return store->ops->host_add(store, host, err);
}

enum adcp_status
store_host_get_by_name(struct store *store, const char *name,
                       struct store_host *out, struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || out == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "out");
    memset(out, 0, sizeof(*out));
    status = check_string(name, "name", err);
    if (status != ADCP_OK)
        return status;
    if (store_host_cache_get_by_name(store->hosts, name, out))
        return ADCP_OK;
    status = store->ops->host_get_by_name(store, name, out, err);
    if (status == ADCP_OK)
        store_host_cache_put(store->hosts, out);
    return status;
}

enum adcp_status
store_host_get_by_id(struct store *store, int64_t id, struct store_host *out,
                     struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || out == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "out");
    memset(out, 0, sizeof(*out));
    if (store_host_cache_get_by_id(store->hosts, id, out))
        return ADCP_OK;
    status = store->ops->host_get_by_id(store, id, out, err);
    if (status == ADCP_OK)
        store_host_cache_put(store->hosts, out);
    return status;
}

static void
free_strings(char **items, size_t count)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(items[i]);
    free(items);
}

void
store_host_clear(struct store_host *host)
{
    if (host == NULL)
        return;
    free_strings(host->dns_names, host->dns_count);
    free_strings(host->ip_addresses, host->ip_count);
    memset(host, 0, sizeof(*host));
}

/* Enrolment tokens. */

enum adcp_status
store_enrollment_add(struct store *store, int64_t host_id,
                     const unsigned char verifier[STORE_VERIFIER_LEN],
                     time_t expires, struct adcp_error *err)
{
    if (store == NULL || verifier == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "verifier");
    if (host_id <= 0)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "host_id",
                              "host_id %lld is not a stored host's id; "
                              "register the host first",
                              (long long)host_id);
    return store->ops->enrollment_add(store, host_id, verifier, expires, err);
}

enum adcp_status
store_enrollment_consume(struct store *store,
                         const unsigned char verifier[STORE_VERIFIER_LEN],
                         int64_t *host_id, struct adcp_error *err)
{
    if (store == NULL || verifier == NULL || host_id == NULL)
        return fail_null(err, __func__,
                         store == NULL      ? "store"
                         : verifier == NULL ? "verifier"
                                            : "host_id");
    *host_id = 0;
    return store->ops->enrollment_consume(store, verifier, host_id, err);
}

enum adcp_status
store_enrollment_lookup(struct store *store,
                        const unsigned char verifier[STORE_VERIFIER_LEN],
                        int64_t *host_id, struct adcp_error *err)
{
    if (store == NULL || verifier == NULL || host_id == NULL)
        return fail_null(err, __func__,
                         store == NULL      ? "store"
                         : verifier == NULL ? "verifier"
                                            : "host_id");
    *host_id = 0;
    return store->ops->enrollment_lookup(store, verifier, host_id, err);
}

/* Certificates. */

enum adcp_status
store_cert_add(struct store *store, const struct store_cert *cert,
               struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || cert == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "cert");
    status = check_cert(cert, err);
    if (status != ADCP_OK)
        return status;
    return store->ops->cert_add(store, cert, err);
}

void
store_expect_write(struct store *store)
{
    if (store != NULL)
        store->ops->expect_write(store);
}

void
store_expect_write_done(struct store *store)
{
    if (store != NULL)
        store->ops->expect_write_done(store);
}

enum adcp_status
store_cert_add_queued(struct store *store, const struct store_cert *cert,
                      struct store_ticket **ticket, struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || cert == NULL || ticket == NULL)
        return fail_null(err, __func__,
                         store == NULL  ? "store"
                         : cert == NULL ? "cert"
                                        : "ticket");
    *ticket = NULL;
    status = check_cert(cert, err);
    if (status != ADCP_OK)
        return status;
    return store->ops->cert_add_queued(store, cert, ticket, err);
}

void
store_ticket_notify(struct store_ticket *ticket, store_ticket_fn done,
                    void *arg)
{
    ticket->store->ops->ticket_notify(ticket, done, arg);
}

enum adcp_status
store_ticket_finish(struct store_ticket *ticket, struct adcp_error *err)
{
    if (ticket == NULL)
        return fail_null(err, __func__, "ticket");
    return ticket->store->ops->ticket_finish(ticket, err);
}

enum adcp_status
store_cert_get(struct store *store, const char *serial, struct store_cert *out,
               struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || out == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "out");
    memset(out, 0, sizeof(*out));
    status = check_serial(serial, err);
    if (status != ADCP_OK)
        return status;
    return store->ops->cert_get(store, serial, out, err);
}

enum adcp_status
store_cert_revoke(struct store *store, const char *serial, int reason,
                  time_t revoked_at, struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL)
        return fail_null(err, __func__, "store");
    status = check_serial(serial, err);
    if (status != ADCP_OK)
        return status;
    if (!crl_reason_is_revocable(reason))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "reason",
                              "reason %d cannot be stored for a revocation; "
                              "use one of %s",
                              reason, CRL_REASON_ACCEPTED);
    if (revoked_at <= 0)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "revoked_at",
                              "revocation time %lld is not after 1970; "
                              "pass the time of the revocation",
                              (long long)revoked_at);
    return store->ops->cert_revoke(store, serial, reason, revoked_at, err);
}

enum adcp_status
store_revoked_foreach(struct store *store, time_t expired_before,
                      store_revoked_fn fn, void *arg, struct adcp_error *err)
{
    if (store == NULL || fn == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "fn");
    return store->ops->revoked_foreach(store, expired_before, fn, arg, err);
}

enum adcp_status
store_crl_number_next(struct store *store, int64_t *number,
                      struct adcp_error *err)
{
    if (store == NULL || number == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "number");
    *number = 0;
    return store->ops->crl_number_next(store, number, err);
}

void
store_cert_clear(struct store_cert *cert)
{
    if (cert == NULL)
        return;
    free(cert->pem);
    memset(cert, 0, sizeof(*cert));
}

/* Keys. */

enum adcp_status
store_key_add(struct store *store, const struct store_key *key,
              struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || key == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "key");
    status = check_key(key, err);
    if (status != ADCP_OK)
        return status;
    return store->ops->key_add(store, key, err);
}

enum adcp_status
store_key_get(struct store *store, const char *label, struct store_key *out,
              struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || out == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "out");
    memset(out, 0, sizeof(*out));
    status = check_string(label, "label", err);
    if (status != ADCP_OK)
        return status;
    return store->ops->key_get(store, label, out, err);
}

void
store_key_clear(struct store_key *key)
{
    if (key == NULL)
        return;
    free(key->public_pem);
    memset(key, 0, sizeof(*key));
}

/* Audit log. */

enum adcp_status
store_audit_append(struct store *store, const struct store_audit_entry *entry,
                   struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || entry == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "entry");
    status = check_audit(entry, err);
    if (status != ADCP_OK)
        return status;
    return store->ops->audit_append(store, entry, err);
}

enum adcp_status
store_audit_last_message_id(struct store *store, char *out, size_t size,
                            struct adcp_error *err)
{
    if (store == NULL || out == NULL || size == 0)
        return fail_null(err, __func__, store == NULL ? "store" : "out");
    out[0] = '\0';
    return store->ops->audit_last_id(store, out, size, err);
}

/* Statistics. */

/* Maps a caller's table name to the closed set the back ends count, so
 * the name itself never reaches SQL. */
static bool
parse_table(const char *name, enum store_table *table)
{
    for (unsigned i = 0; i < STORE_TABLE_COUNT; i++) {
        if (strcmp(name, table_names[i]) == 0) {
            *table = (enum store_table)i;
            return true;
        }
    }
    return false;
}

enum adcp_status
store_count(struct store *store, const char *table, int64_t *count,
            struct adcp_error *err)
{
    enum store_table which;

    if (store == NULL || table == NULL || count == NULL)
        return fail_null(err, __func__,
                         store == NULL   ? "store"
                         : table == NULL ? "table"
                                         : "count");
    *count = 0;
    if (!parse_table(table, &which))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "table",
                              "table \"%s\" cannot be counted; use hosts, "
                              "certificates, keys, audit_log or "
                              "enrollment_tokens",
                              table);
    return store->ops->count(store, which, count, err);
}

/* Settings. */

enum adcp_status
store_setting_set(struct store *store, const char *name, const char *value,
                  struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || value == NULL)
        return fail_null(err, __func__, store == NULL ? "store" : "value");
    status = check_string(name, "name", err);
    if (status != ADCP_OK)
        return status;
    return store->ops->setting_set(store, name, value, err);
}

enum adcp_status
store_setting_get(struct store *store, const char *name, char *value,
                  size_t size, struct adcp_error *err)
{
    enum adcp_status status;

    if (store == NULL || value == NULL || size == 0)
        return fail_null(err, __func__,
                         store == NULL ? "store" : "value buffer");
    value[0] = '\0';
    status = check_string(name, "name", err);
    if (status != ADCP_OK)
        return status;
    return store->ops->setting_get(store, name, value, size, err);
}
