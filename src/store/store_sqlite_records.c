/*
 * SQLite back end: certificates, public keys, the audit log, row counts
 * and settings. Writes are jobs for the writer thread; reads use the
 * connection pool.
 */
#include "store/store_sqlite-internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const enum store_sqlite_stmt count_stmts[STORE_TABLE_COUNT] = {
    [STORE_TABLE_HOSTS] = STMT_COUNT_HOSTS,
    [STORE_TABLE_CERTIFICATES] = STMT_COUNT_CERTIFICATES,
    [STORE_TABLE_KEYS] = STMT_COUNT_KEYS,
    [STORE_TABLE_AUDIT_LOG] = STMT_COUNT_AUDIT_LOG,
    [STORE_TABLE_ENROLLMENT_TOKENS] = STMT_COUNT_ENROLLMENT_TOKENS,
};

/* Certificates. */

static const char cert_add_op[] = "add certificate";

struct cert_add_job {
    struct store_sqlite_job job; /* first: run receives it */
    const struct store_cert *cert;
};

static enum adcp_status
cert_insert(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
            struct adcp_error *err)
{
    const struct store_cert *cert = ((struct cert_add_job *)job)->cert;
    const char *op = cert_add_op;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_stmt(conn, STMT_CERT_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_text(stmt, 1, cert->serial, &rc);
    bind_int64_or_null(stmt, 2, cert->host_id, &rc);
    bind_text(stmt, 3, cert->subject, &rc);
    bind_int64(stmt, 4, cert->not_before, &rc);
    bind_int64(stmt, 5, cert->not_after, &rc);
    bind_text(stmt, 6, cert->pem, &rc);
    bind_text(stmt, 7, cert->hsm, &rc);
    bind_int64_or_null(stmt, 8, cert->revoked_at, &rc);
    bind_int64(stmt, 9, time(NULL), &rc);
    if (cert->revoked_at != 0)
        bind_int64(stmt, 10, cert->revocation_reason, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        status = store_sqlite_fail_unknown_host(cert->host_id, err);
    else if (is_unique_violation(rc))
        status = adcp_error_set(err, ADCP_ERR_CONFLICT, "serial",
                                "certificate serial %s is already stored; "
                                "issue the certificate with a new random "
                                "serial",
                                cert->serial);
    else if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

enum adcp_status
store_sqlite_cert_add(struct store *base, const struct store_cert *cert,
                      struct adcp_error *err)
{
    struct cert_add_job add = {
        .job = {.run = cert_insert,
                .op = cert_add_op,
                .one_statement = true},
        .cert = cert,
    };

    return store_sqlite_write(store_sqlite_from(base), &add.job, err);
}

/* A certificate write queued by store_cert_add_queued: one block that
 * holds the job, the ticket the caller sees and a copy of the row. */
struct cert_add_ticket {
    struct cert_add_job add; /* first: the writer runs add.job */
    struct store_ticket ticket;
    struct store_cert cert;
};

static struct cert_add_ticket *
cert_ticket_from(struct store_ticket *ticket)
{
    return (struct cert_add_ticket *)((char *)ticket -
                                      offsetof(struct cert_add_ticket,
                                               ticket));
}

enum adcp_status
store_sqlite_cert_add_queued(struct store *base,
                             const struct store_cert *cert,
                             struct store_ticket **ticket,
                             struct adcp_error *err)
{
    struct cert_add_ticket *queued = calloc(1, sizeof(*queued));
    enum adcp_status status;

    if (queued == NULL)
        return store_sqlite_fail_memory(cert_add_op, err);
    queued->cert = *cert;
    queued->cert.pem = store_strdup(cert->pem);
    if (queued->cert.pem == NULL) {
        free(queued);
        return store_sqlite_fail_memory(cert_add_op, err);
    }
    queued->add.job.run = cert_insert;
    queued->add.job.op = cert_add_op;
    queued->add.job.one_statement = true;
    queued->add.cert = &queued->cert;
    queued->ticket.store = base;
    status = store_sqlite_write_queued(store_sqlite_from(base),
                                       &queued->add.job, err);
    if (status != ADCP_OK) {
        store_cert_clear(&queued->cert);
        free(queued);
        return status;
    }
    *ticket = &queued->ticket;
    return ADCP_OK;
}

void
store_sqlite_ticket_notify(struct store_ticket *ticket, store_ticket_fn done,
                           void *arg)
{
    struct cert_add_ticket *queued = cert_ticket_from(ticket);

    store_sqlite_job_notify(store_sqlite_from(ticket->store),
                            &queued->add.job, done, arg);
}

enum adcp_status
store_sqlite_ticket_finish(struct store_ticket *ticket,
                           struct adcp_error *err)
{
    struct cert_add_ticket *queued = cert_ticket_from(ticket);
    enum adcp_status status;

    status = store_sqlite_job_wait(store_sqlite_from(ticket->store),
                                   &queued->add.job, err);
    store_cert_clear(&queued->cert);
    free(queued);
    return status;
}

/* Copies the certificates row under stmt into cert. */
static enum adcp_status
cert_read_row(sqlite3_stmt *stmt, struct store_cert *cert,
              struct adcp_error *err)
{
    static const char op[] = "get certificate";

    if (!column_field(stmt, 0, cert->serial, sizeof(cert->serial)))
        return store_sqlite_fail_corrupt("certificate serial", op, err);
    cert->host_id = sqlite3_column_int64(stmt, 1); /* NULL reads as 0 */
    if (!column_field(stmt, 2, cert->subject, sizeof(cert->subject)))
        return store_sqlite_fail_corrupt("certificate subject", op, err);
    cert->not_before = (time_t)sqlite3_column_int64(stmt, 3);
    cert->not_after = (time_t)sqlite3_column_int64(stmt, 4);
    if (!column_field(stmt, 6, cert->hsm, sizeof(cert->hsm)))
        return store_sqlite_fail_corrupt("certificate HSM name", op, err);
    cert->revoked_at = (time_t)sqlite3_column_int64(stmt, 7);
    cert->revocation_reason = sqlite3_column_int(stmt, 8); /* NULL: 0 */
    if (sqlite3_column_type(stmt, 5) == SQLITE_NULL)
        return store_sqlite_fail_corrupt("certificate PEM", op, err);
    cert->pem = store_strdup((const char *)sqlite3_column_text(stmt, 5));
    if (cert->pem == NULL)
        return store_sqlite_fail_memory(op, err);
    return ADCP_OK;
}

enum adcp_status
store_sqlite_cert_get(struct store *base, const char *serial,
                      struct store_cert *out, struct adcp_error *err)
{
    static const char op[] = "get certificate";
    struct store_sqlite *store = store_sqlite_from(base);
    struct store_sqlite_conn *conn = NULL;
    struct store_cert cert = {0};
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = store_sqlite_stmt(conn, STMT_CERT_GET, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_text(stmt, 1, serial, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        status = cert_read_row(stmt, &cert, err);
    else if (rc == SQLITE_DONE)
        status = adcp_error_set(err, ADCP_ERR_NOT_FOUND, "serial",
                                "no certificate with serial %s is stored; "
                                "check the serial",
                                serial);
    else
        status = store_sqlite_fail(conn, rc, op, err);
    if (status == ADCP_OK) {
        *out = cert;
        memset(&cert, 0, sizeof(cert));
    }
out:
    store_sqlite_stmt_done(stmt);
    store_sqlite_release(store, conn);
    store_cert_clear(&cert);
    return status;
}

/* Keys. */

static const char key_add_op[] = "add key";

struct key_add_job {
    struct store_sqlite_job job; /* first: run receives it */
    const struct store_key *key;
};

static enum adcp_status
key_insert(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
           struct adcp_error *err)
{
    const struct store_key *key = ((struct key_add_job *)job)->key;
    const char *op = key_add_op;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_stmt(conn, STMT_KEY_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_text(stmt, 1, key->label, &rc);
    bind_text(stmt, 2, key->type, &rc);
    bind_int64(stmt, 3, key->bits, &rc);
    bind_text(stmt, 4, key->hsm, &rc);
    bind_text(stmt, 5, key->public_pem, &rc);
    bind_int64(stmt, 6, key->created != 0 ? key->created : time(NULL), &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (is_unique_violation(rc))
        status = adcp_error_set(err, ADCP_ERR_CONFLICT, "label",
                                "key label \"%s\" is already stored; choose "
                                "another label",
                                key->label);
    else if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

enum adcp_status
store_sqlite_key_add(struct store *base, const struct store_key *key,
                     struct adcp_error *err)
{
    struct key_add_job add = {
        .job = {.run = key_insert, .op = key_add_op},
        .key = key,
    };

    return store_sqlite_write(store_sqlite_from(base), &add.job, err);
}

static enum adcp_status
key_read_row(sqlite3_stmt *stmt, struct store_key *key, struct adcp_error *err)
{
    static const char op[] = "get key";
    sqlite3_int64 bits;

    if (!column_field(stmt, 0, key->label, sizeof(key->label)))
        return store_sqlite_fail_corrupt("key label", op, err);
    if (!column_field(stmt, 1, key->type, sizeof(key->type)))
        return store_sqlite_fail_corrupt("key type", op, err);
    bits = sqlite3_column_int64(stmt, 2);
    if (bits < 0 || bits > UINT32_MAX)
        return store_sqlite_fail_corrupt("key length", op, err);
    key->bits = (unsigned)bits;
    if (!column_field(stmt, 3, key->hsm, sizeof(key->hsm)))
        return store_sqlite_fail_corrupt("key HSM name", op, err);
    key->created = (time_t)sqlite3_column_int64(stmt, 5);
    if (sqlite3_column_type(stmt, 4) == SQLITE_NULL)
        return store_sqlite_fail_corrupt("public key PEM", op, err);
    key->public_pem = store_strdup((const char *)sqlite3_column_text(stmt, 4));
    if (key->public_pem == NULL)
        return store_sqlite_fail_memory(op, err);
    return ADCP_OK;
}

enum adcp_status
store_sqlite_key_get(struct store *base, const char *label,
                     struct store_key *out, struct adcp_error *err)
{
    static const char op[] = "get key";
    struct store_sqlite *store = store_sqlite_from(base);
    struct store_sqlite_conn *conn = NULL;
    struct store_key key = {0};
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = store_sqlite_stmt(conn, STMT_KEY_GET, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_text(stmt, 1, label, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        status = key_read_row(stmt, &key, err);
    else if (rc == SQLITE_DONE)
        status = adcp_error_set(err, ADCP_ERR_NOT_FOUND, "label",
                                "no key with label \"%s\" is stored; check "
                                "the label or generate the key pair",
                                label);
    else
        status = store_sqlite_fail(conn, rc, op, err);
    if (status == ADCP_OK) {
        *out = key;
        memset(&key, 0, sizeof(key));
    }
out:
    store_sqlite_stmt_done(stmt);
    store_sqlite_release(store, conn);
    store_key_clear(&key);
    return status;
}

/* Audit log. */

static const char audit_append_op[] = "append to the audit log";

/* A detached job: one block holding a copy of the entry, because the
 * caller returns before the writer runs it. */
struct audit_job {
    struct store_sqlite_job job;    /* first: the writer frees the block */
    struct store_audit_entry entry; /* entry.json points at json below */
    char at[ADCP_TIMESTAMP_MAX];    /* when the entry was queued */
    char json[];
};

static enum adcp_status
audit_insert(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
             struct adcp_error *err)
{
    const struct audit_job *audit = (const struct audit_job *)job;
    const char *op = audit_append_op;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_stmt(conn, STMT_AUDIT_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_text(stmt, 1, audit->entry.message_id, &rc);
    bind_text(stmt, 2, audit->entry.direction, &rc);
    bind_text(stmt, 3, audit->entry.message_type, &rc);
    bind_text(stmt, 4, audit->at, &rc);
    bind_text(stmt, 5, audit->entry.json, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

/*
 * Queues the entry and returns without waiting for its commit, because a
 * request's audit entries need not reach the disk before its response.
 * Jobs commit in queue order, so the entry is durable once a durable write
 * queued after it has returned. A crash can lose the entries queued after
 * the last such write, typically the last response's entry.
 */
enum adcp_status
store_sqlite_audit_append(struct store *base,
                          const struct store_audit_entry *entry,
                          struct adcp_error *err)
{
    size_t json_len = strlen(entry->json);
    struct audit_job *audit;

    audit = malloc(sizeof(*audit) + json_len + 1);
    if (audit == NULL)
        return store_sqlite_fail_memory(audit_append_op, err);
    memset(audit, 0, sizeof(*audit));
    audit->job.run = audit_insert;
    audit->job.op = audit_append_op;
    audit->job.one_statement = true;
    audit->entry = *entry;
    memcpy(audit->json, entry->json, json_len + 1);
    audit->entry.json = audit->json;
    store_timestamp_now(audit->at);
    return store_sqlite_write_detached(store_sqlite_from(base), &audit->job,
                                       err);
}

enum adcp_status
store_sqlite_audit_last_id(struct store *base, char *out, size_t size,
                           struct adcp_error *err)
{
    static const char op[] = "read the newest audit entry";
    struct store_sqlite *store = store_sqlite_from(base);
    struct store_sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc;

    store_sqlite_writer_flush(store);
    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = store_sqlite_stmt(conn, STMT_AUDIT_LAST_ID, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        snprintf(out, size, "%s", id != NULL ? id : "");
    } else if (rc != SQLITE_DONE) {
        status = store_sqlite_fail(conn, rc, op, err);
    }
out:
    store_sqlite_stmt_done(stmt);
    store_sqlite_release(store, conn);
    return status;
}

/* Statistics. */

enum adcp_status
store_sqlite_count(struct store *base, enum store_table table, int64_t *count,
                   struct adcp_error *err)
{
    static const char op[] = "count rows";
    struct store_sqlite *store = store_sqlite_from(base);
    struct store_sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc;

    /* Audit entries are queued without waiting; the count includes those
     * queued before this call. */
    store_sqlite_writer_flush(store);
    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = store_sqlite_stmt(conn, count_stmts[table], &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *count = sqlite3_column_int64(stmt, 0);
    else
        status = store_sqlite_fail(conn, rc, op, err);
out:
    store_sqlite_stmt_done(stmt);
    store_sqlite_release(store, conn);
    return status;
}

/* Settings. */

static const char setting_set_op[] = "store a setting";

struct setting_set_job {
    struct store_sqlite_job job; /* first: run receives it */
    const char *name;
    const char *value;
};

static enum adcp_status
setting_upsert(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
               struct adcp_error *err)
{
    const struct setting_set_job *set = (const struct setting_set_job *)job;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status =
        store_sqlite_stmt(conn, STMT_SETTING_SET, &stmt, setting_set_op, err);
    if (status != ADCP_OK)
        return status;
    bind_text(stmt, 1, set->name, &rc);
    bind_text(stmt, 2, set->value, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, setting_set_op, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

enum adcp_status
store_sqlite_setting_set(struct store *base, const char *name,
                         const char *value, struct adcp_error *err)
{
    struct setting_set_job set = {
        .job = {.run = setting_upsert, .op = setting_set_op},
        .name = name,
        .value = value,
    };

    return store_sqlite_write(store_sqlite_from(base), &set.job, err);
}

/* Copies the value under stmt into the caller's buffer. The value is not
 * logged: a setting may hold a verifier. */
static enum adcp_status
setting_read_value(sqlite3_stmt *stmt, const char *name, char *value,
                   size_t size, struct adcp_error *err)
{
    const char *text = (const char *)sqlite3_column_text(stmt, 0);
    size_t len;

    if (text == NULL)
        return store_sqlite_fail_corrupt("setting value", "read a setting",
                                         err);
    len = strlen(text);
    if (len >= size)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "name",
                              "setting \"%s\" holds %zu bytes but the "
                              "buffer holds %zu; pass a buffer of at least "
                              "%zu bytes",
                              name, len, size, len + 1);
    memcpy(value, text, len + 1);
    return ADCP_OK;
}

enum adcp_status
store_sqlite_setting_get(struct store *base, const char *name, char *value,
                         size_t size, struct adcp_error *err)
{
    static const char op[] = "read a setting";
    struct store_sqlite *store = store_sqlite_from(base);
    struct store_sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = store_sqlite_stmt(conn, STMT_SETTING_GET, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_text(stmt, 1, name, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        status = setting_read_value(stmt, name, value, size, err);
    else if (rc == SQLITE_DONE)
        status = adcp_error_set(err, ADCP_ERR_NOT_FOUND, "name",
                                "setting \"%s\" is not stored", name);
    else
        status = store_sqlite_fail(conn, rc, op, err);
out:
    store_sqlite_stmt_done(stmt);
    store_sqlite_release(store, conn);
    return status;
}
