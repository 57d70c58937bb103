/*
 * SQLite back end: hosts with their DNS names and IP addresses, and
 * enrolment tokens. Writes, consuming a token included, are jobs for the
 * writer thread; reads use the connection pool.
 */
#include "store/store_sqlite-internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Hosts. */

/* Reports a DNS name or address, entry index of its list, that is listed
 * twice or that another host holds, naming that host. */
static enum adcp_status
name_conflict(struct store_sqlite_conn *conn, int64_t host_id,
              const char *kind, size_t index, const char *value,
              struct adcp_error *err)
{
    static const char sql[] =
        "SELECT h.id, h.name FROM host_names n JOIN hosts h "
        "ON h.id = n.host_id WHERE n.kind = ?1 AND n.value = ?2";
    char field[48];
    const char *what = strcmp(kind, "dns") == 0 ? "DNS name" : "IP address";
    char holder[ADCP_NAME_MAX] = "";
    int64_t holder_id = 0;
    sqlite3_stmt *stmt = NULL;

    snprintf(field, sizeof(field), "%s[%zu]",
             strcmp(kind, "dns") == 0 ? "dns_names" : "ip_addresses", index);
    if (sqlite3_prepare_v2(conn->db, sql, -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            holder_id = sqlite3_column_int64(stmt, 0);
            snprintf(holder, sizeof(holder), "%s",
                     (const char *)sqlite3_column_text(stmt, 1));
        }
    }
    sqlite3_finalize(stmt);
    if (holder_id == host_id || holder[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_CONFLICT, field,
                              "%s \"%s\" is listed twice; list each name "
                              "once",
                              what, value);
    return adcp_error_set(err, ADCP_ERR_CONFLICT, field,
                          "%s \"%s\" is registered to host \"%s\" "
                          "already; a name belongs to one host only",
                          what, value, holder);
}

static enum adcp_status
host_insert_names(struct store_sqlite_conn *conn, int64_t host_id,
                  const char *kind, char *const *values, size_t count,
                  struct adcp_error *err)
{
    static const char op[] = "add host";
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc;

    status = store_sqlite_stmt(conn, STMT_HOST_NAME_INSERT, &stmt, op, err);
    for (size_t i = 0; i < count && status == ADCP_OK; i++) {
        rc = SQLITE_OK;
        bind_int64(stmt, 1, host_id, &rc);
        bind_text(stmt, 2, kind, &rc);
        bind_text(stmt, 3, values[i], &rc);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(stmt);
        if (is_unique_violation(rc))
            status = name_conflict(conn, host_id, kind, i, values[i], err);
        else if (rc != SQLITE_DONE)
            status = store_sqlite_fail(conn, rc, op, err);
        store_sqlite_stmt_done(stmt);
    }
    return status;
}

static enum adcp_status
host_insert_row(struct store_sqlite_conn *conn, const struct store_host *host,
                time_t created, int64_t *id, struct adcp_error *err)
{
    static const char op[] = "add host";
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_stmt(conn, STMT_HOST_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_text(stmt, 1, host->name, &rc);
    bind_int64(stmt, 2, created, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (is_unique_violation(rc))
        status = adcp_error_set(err, ADCP_ERR_CONFLICT, "name",
                                "host name \"%s\" is already registered "
                                "(names are compared without regard to "
                                "case); choose another name",
                                host->name);
    else if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    else
        *id = sqlite3_last_insert_rowid(conn->db);
    store_sqlite_stmt_done(stmt);
    return status;
}

struct host_add_job {
    struct store_sqlite_job job; /* first: run receives it */
    const struct store_host *host;
    time_t created;
    int64_t id; /* set by host_insert */
};

/* Inserts the host row and its names; the job's savepoint undoes the row
 * when a name fails. */
static enum adcp_status
host_insert(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
            struct adcp_error *err)
{
    struct host_add_job *add = (struct host_add_job *)job;
    const struct store_host *host = add->host;
    enum adcp_status status;

    status = host_insert_row(conn, host, add->created, &add->id, err);
    if (status == ADCP_OK)
        status = host_insert_names(conn, add->id, "dns", host->dns_names,
                                   host->dns_count, err);
    if (status == ADCP_OK)
        status = host_insert_names(conn, add->id, "ip", host->ip_addresses,
                                   host->ip_count, err);
    return status;
}

/* Sets host->id and host->created only once the row is committed. */
enum adcp_status
store_sqlite_host_add(struct store *base, struct store_host *host,
                      struct adcp_error *err)
{
    struct host_add_job add = {
        .job = {.run = host_insert, .op = "add host"},
        .host = host,
        .created = time(NULL),
    };
    enum adcp_status status;

    status = store_sqlite_write(store_sqlite_from(base), &add.job, err);
    if (status == ADCP_OK) {
        host->id = add.id;
        host->created = add.created;
    }
    return status;
}

/* Reads the names of host->id into host's arrays. */
static enum adcp_status
host_read_names(struct store_sqlite_conn *conn, struct store_host *host,
                struct adcp_error *err)
{
    static const char op[] = "get host";
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    const char *kind;
    const char *value;
    bool stored;
    int rc = SQLITE_OK;

    status = store_sqlite_stmt(conn, STMT_HOST_NAMES, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_int64(stmt, 1, host->id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(stmt)) {
        kind = (const char *)sqlite3_column_text(stmt, 0);
        value = (const char *)sqlite3_column_text(stmt, 1);
        if (kind == NULL || value == NULL) {
            status = store_sqlite_fail_corrupt("host name", op, err);
            break;
        }
        if (strcmp(kind, "dns") == 0)
            stored =
                store_strings_append(&host->dns_names, &host->dns_count, value);
        else
            stored = store_strings_append(&host->ip_addresses, &host->ip_count,
                                          value);
        if (!stored) {
            status = store_sqlite_fail_memory(op, err);
            break;
        }
    }
    if (status == ADCP_OK && rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

/* Reads the hosts row that stmt, already bound, selects. */
static enum adcp_status
host_read_row(struct store_sqlite_conn *conn, sqlite3_stmt *stmt,
              struct store_host *host, bool *found, struct adcp_error *err)
{
    int rc;

    *found = false;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return ADCP_OK;
    if (rc != SQLITE_ROW)
        return store_sqlite_fail(conn, rc, "get host", err);
    host->id = sqlite3_column_int64(stmt, 0);
    if (!column_field(stmt, 1, host->name, sizeof(host->name)))
        return store_sqlite_fail_corrupt("host name", "get host", err);
    host->created = (time_t)sqlite3_column_int64(stmt, 2);
    *found = true;
    return ADCP_OK;
}

/*
 * Reads one host and its names in one read transaction. Exactly one of
 * name and id selects the host: name when it is not NULL. On failure
 * *out is left cleared.
 */
static enum adcp_status
host_get(struct store_sqlite *store, const char *name, int64_t id,
         struct store_host *out, struct adcp_error *err)
{
    static const char op[] = "get host";
    struct store_sqlite_conn *conn = NULL;
    struct store_host host = {0};
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    bool found = false;
    int rc = SQLITE_OK;

    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = store_sqlite_begin_read(conn, op, err);
    if (status == ADCP_OK)
        status = store_sqlite_stmt(
            conn, name ? STMT_HOST_BY_NAME : STMT_HOST_BY_ID, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    if (name != NULL)
        bind_text(stmt, 1, name, &rc);
    else
        bind_int64(stmt, 1, id, &rc);
    if (rc != SQLITE_OK) {
        status = store_sqlite_fail(conn, rc, op, err);
        goto out;
    }
    status = host_read_row(conn, stmt, &host, &found, err);
    store_sqlite_stmt_done(stmt);
    stmt = NULL;
    if (status == ADCP_OK && !found) {
        if (name != NULL)
            status = adcp_error_set(err, ADCP_ERR_NOT_FOUND, "name",
                                    "host \"%s\" is not registered; "
                                    "register it first",
                                    name);
        else
            status =
                adcp_error_set(err, ADCP_ERR_NOT_FOUND, "host_id",
                               "host id %lld is not registered", (long long)id);
    }
    if (status == ADCP_OK)
        status = host_read_names(conn, &host, err);
    if (status == ADCP_OK)
        status = store_sqlite_commit(conn, op, err);
    if (status == ADCP_OK) {
        *out = host;
        memset(&host, 0, sizeof(host));
    }
out:
    store_sqlite_stmt_done(stmt);
    store_sqlite_release(store, conn);
    store_host_clear(&host);
    return status;
}

enum adcp_status
store_sqlite_host_get_by_name(struct store *base, const char *name,
                              struct store_host *out, struct adcp_error *err)
{
    return host_get(store_sqlite_from(base), name, 0, out, err);
}

enum adcp_status
store_sqlite_host_get_by_id(struct store *base, int64_t id,
                            struct store_host *out, struct adcp_error *err)
{
    return host_get(store_sqlite_from(base), NULL, id, out, err);
}

/* Enrolment tokens. */

enum adcp_status
store_sqlite_fail_unknown_host(int64_t host_id, struct adcp_error *err)
{
    return adcp_error_set(err, ADCP_ERR_NOT_FOUND, "host_id",
                          "host id %lld is not registered; register the "
                          "host first",
                          (long long)host_id);
}

/* The same error for unknown, used and expired tokens, so the response
 * does not tell a guesser which tokens exist. */
static enum adcp_status
fail_token(struct adcp_error *err)
{
    return adcp_error_set(err, ADCP_ERR_UNAUTHENTICATED, "token",
                          "the enrolment token is unknown, used or "
                          "expired; ask an administrator for a new token");
}

static const char token_add_op[] = "add enrolment token";

struct token_add_job {
    struct store_sqlite_job job; /* first: run receives it */
    int64_t host_id;
    const unsigned char *verifier; /* STORE_VERIFIER_LEN bytes */
    time_t expires;
};

static enum adcp_status
token_insert(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
             struct adcp_error *err)
{
    const struct token_add_job *add = (const struct token_add_job *)job;
    const char *op = token_add_op;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_stmt(conn, STMT_TOKEN_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_verifier(stmt, 1, add->verifier, &rc);
    bind_int64(stmt, 2, add->host_id, &rc);
    bind_int64(stmt, 3, add->expires, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        status = store_sqlite_fail_unknown_host(add->host_id, err);
    else if (is_unique_violation(rc))
        /* The verifier is not printed: it is derived from a secret. */
        status = adcp_error_set(err, ADCP_ERR_CONFLICT, "token",
                                "an enrolment token with the same verifier "
                                "is already stored; generate a new token");
    else if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

enum adcp_status
store_sqlite_enrollment_add(struct store *base, int64_t host_id,
                            const unsigned char verifier[STORE_VERIFIER_LEN],
                            time_t expires, struct adcp_error *err)
{
    struct token_add_job add = {
        .job = {.run = token_insert, .op = token_add_op},
        .host_id = host_id,
        .verifier = verifier,
        .expires = expires,
    };

    return store_sqlite_write(store_sqlite_from(base), &add.job, err);
}

/* Marks the token used if it is unused and unexpired, and sets *consumed
 * when it was. Runs inside the writer's transaction. */
static enum adcp_status
token_mark_used(struct store_sqlite_conn *conn,
                const unsigned char verifier[STORE_VERIFIER_LEN], time_t now,
                bool *consumed, struct adcp_error *err)
{
    static const char op[] = "consume enrolment token";
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    *consumed = false;
    status = store_sqlite_stmt(conn, STMT_TOKEN_CONSUME, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_verifier(stmt, 1, verifier, &rc);
    bind_int64(stmt, 2, now, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    else
        *consumed = sqlite3_changes(conn->db) == 1;
    store_sqlite_stmt_done(stmt);
    return status;
}

/* Steps a bound statement whose one row contains a host id in column 0.
 * *found is false when it returns no row. */
static enum adcp_status
token_read_host(struct store_sqlite_conn *conn, sqlite3_stmt *stmt,
                int64_t *host_id, bool *found, const char *op,
                struct adcp_error *err)
{
    int rc;

    *found = false;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return ADCP_OK;
    if (rc != SQLITE_ROW)
        return store_sqlite_fail(conn, rc, op, err);
    *host_id = sqlite3_column_int64(stmt, 0);
    *found = true;
    return ADCP_OK;
}

static const char token_consume_op[] = "consume enrolment token";

struct token_consume_job {
    struct store_sqlite_job job; /* first: run receives it */
    const unsigned char *verifier; /* STORE_VERIFIER_LEN bytes */
    int64_t host_id;               /* set by token_consume */
};

/*
 * Consumes a token: the UPDATE succeeds for at most one job because it
 * requires used_at IS NULL, and the writer runs one job at a time, so the
 * host id read afterwards belongs to the token this job marked used.
 */
static enum adcp_status
token_consume(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
              struct adcp_error *err)
{
    struct token_consume_job *consume = (struct token_consume_job *)job;
    const char *op = token_consume_op;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    bool consumed = false;
    bool found = false;
    int rc = SQLITE_OK;

    status = token_mark_used(conn, consume->verifier, time(NULL), &consumed,
                             err);
    if (status != ADCP_OK)
        return status;
    if (!consumed)
        return fail_token(err);
    status = store_sqlite_stmt(conn, STMT_TOKEN_HOST, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_verifier(stmt, 1, consume->verifier, &rc);
    if (rc != SQLITE_OK)
        status = store_sqlite_fail(conn, rc, op, err);
    else
        status = token_read_host(conn, stmt, &consume->host_id, &found, op,
                                 err);
    store_sqlite_stmt_done(stmt);
    if (status == ADCP_OK && !found)
        status = store_sqlite_fail_corrupt("enrolment token", op, err);
    return status;
}

/* Sets *host_id only once the token's use is committed. */
enum adcp_status
store_sqlite_enrollment_consume(
    struct store *base, const unsigned char verifier[STORE_VERIFIER_LEN],
    int64_t *host_id, struct adcp_error *err)
{
    struct token_consume_job consume = {
        .job = {.run = token_consume, .op = token_consume_op},
        .verifier = verifier,
    };
    enum adcp_status status;

    status = store_sqlite_write(store_sqlite_from(base), &consume.job, err);
    if (status == ADCP_OK)
        *host_id = consume.host_id;
    return status;
}

enum adcp_status
store_sqlite_enrollment_lookup(struct store *base,
                               const unsigned char verifier[STORE_VERIFIER_LEN],
                               int64_t *host_id, struct adcp_error *err)
{
    static const char op[] = "look up enrolment token";
    struct store_sqlite *store = store_sqlite_from(base);
    struct store_sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    bool found = false;
    int64_t id = 0;
    int rc = SQLITE_OK;

    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = store_sqlite_stmt(conn, STMT_TOKEN_LOOKUP, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_verifier(stmt, 1, verifier, &rc);
    bind_int64(stmt, 2, time(NULL), &rc);
    if (rc != SQLITE_OK)
        status = store_sqlite_fail(conn, rc, op, err);
    else
        status = token_read_host(conn, stmt, &id, &found, op, err);
    if (status == ADCP_OK && !found)
        status = fail_token(err);
    if (status == ADCP_OK)
        *host_id = id;
out:
    store_sqlite_stmt_done(stmt);
    store_sqlite_release(store, conn);
    return status;
}
