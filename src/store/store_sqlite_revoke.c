/*
 * SQLite back end: revocation and what the CRL reads. A revocation is a
 * job for the writer thread; the list of revoked certificates is read on
 * a pooled connection, inside one read transaction.
 */
#include "store/store_sqlite-internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/crl_reason.h"
#include "common/time_rfc3339.h"

static const char cert_revoke_op[] = "revoke certificate";

struct cert_revoke_job {
    struct store_sqlite_job job; /* first: run receives it */
    const char *serial;
    int reason;
    time_t revoked_at;
};

/* Explains why the UPDATE changed no row: the serial is unknown, or the
 * certificate was revoked before, at the stored time and reason. */
static enum adcp_status
revoke_unchanged(struct store_sqlite_conn *conn, const char *serial,
                 struct adcp_error *err)
{
    const char *op = cert_revoke_op;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    const char *reason;
    char when[32];
    int rc = SQLITE_OK;

    status = store_sqlite_stmt(conn, STMT_CERT_REVOCATION, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_text(stmt, 1, serial, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        status = adcp_error_set(err, ADCP_ERR_NOT_FOUND, "serial",
                                "no certificate with serial %s is stored; "
                                "check the serial",
                                serial);
    } else if (rc == SQLITE_ROW) {
        time_rfc3339_format((time_t)sqlite3_column_int64(stmt, 0), when);
        reason = crl_reason_name(sqlite3_column_int(stmt, 1));
        status = adcp_error_set(err, ADCP_ERR_CONFLICT, "serial",
                                "certificate %s was already revoked at %s "
                                "(reason %s); the first revocation stands "
                                "and was not changed",
                                serial, when,
                                reason != NULL ? reason : "unknown");
    } else {
        status = store_sqlite_fail(conn, rc, op, err);
    }
    store_sqlite_stmt_done(stmt);
    return status;
}

/* Sets revoked_at and the reason only on a row that is not revoked yet,
 * so a second revocation never changes the first one's time or reason. */
static enum adcp_status
cert_revoke_run(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
                struct adcp_error *err)
{
    const struct cert_revoke_job *revoke = (struct cert_revoke_job *)job;
    const char *op = cert_revoke_op;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = store_sqlite_stmt(conn, STMT_CERT_REVOKE, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_text(stmt, 1, revoke->serial, &rc);
    bind_int64(stmt, 2, revoke->revoked_at, &rc);
    bind_int64(stmt, 3, revoke->reason, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    else if (sqlite3_changes(conn->db) == 0)
        status = revoke_unchanged(conn, revoke->serial, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

enum adcp_status
store_sqlite_cert_revoke(struct store *base, const char *serial, int reason,
                         time_t revoked_at, struct adcp_error *err)
{
    struct cert_revoke_job revoke = {
        .job = {.run = cert_revoke_run, .op = cert_revoke_op},
        .serial = serial,
        .reason = reason,
        .revoked_at = revoked_at,
    };

    return store_sqlite_write(store_sqlite_from(base), &revoke.job, err);
}

/* Copies the row under stmt into entry. */
static enum adcp_status
revoked_read_row(sqlite3_stmt *stmt, struct store_revoked *entry,
                 struct adcp_error *err)
{
    static const char op[] = "list revoked certificates";

    if (!column_field(stmt, 0, entry->serial, sizeof(entry->serial)))
        return store_sqlite_fail_corrupt("certificate serial", op, err);
    entry->revoked_at = (time_t)sqlite3_column_int64(stmt, 1);
    entry->reason = sqlite3_column_int(stmt, 2); /* NULL reads as 0 */
    return ADCP_OK;
}

/*
 * Steps through the revoked rows in one read transaction, so the walk
 * reads one snapshot however long fn takes. Each row costs one step of the
 * certificates_revoked index, and only one entry is in memory at a time.
 */
enum adcp_status
store_sqlite_revoked_foreach(struct store *base, time_t expired_before,
                             store_revoked_fn fn, void *arg,
                             struct adcp_error *err)
{
    static const char op[] = "list revoked certificates";
    struct store_sqlite *store = store_sqlite_from(base);
    struct store_sqlite_conn *conn = NULL;
    struct store_revoked entry;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_ROW;

    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = store_sqlite_begin_read(conn, op, err);
    if (status == ADCP_OK)
        status = store_sqlite_stmt(conn, STMT_REVOKED_LIST, &stmt, op, err);
    if (status == ADCP_OK &&
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)expired_before) !=
            SQLITE_OK)
        status = store_sqlite_fail(conn, sqlite3_errcode(conn->db), op, err);
    while (status == ADCP_OK) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
            break;
        memset(&entry, 0, sizeof(entry));
        status = revoked_read_row(stmt, &entry, err);
        if (status == ADCP_OK)
            status = fn(arg, &entry, err);
    }
    if (status == ADCP_OK && rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    store_sqlite_stmt_done(stmt);
    /* store_sqlite_release ends the read transaction. */
    store_sqlite_release(store, conn);
    return status;
}

static const char crl_number_op[] = "take the next CRL number";

struct crl_number_job {
    struct store_sqlite_job job; /* first: run receives it */
    int64_t number;              /* the result */
};

static enum adcp_status
crl_number_run(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
               struct adcp_error *err)
{
    struct crl_number_job *next = (struct crl_number_job *)job;
    const char *op = crl_number_op;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc;

    status = store_sqlite_stmt(conn, STMT_CRL_NUMBER_NEXT, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        next->number = sqlite3_column_int64(stmt, 0);
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_DONE)
        status = store_sqlite_fail(conn, rc, op, err);
    else if (next->number < 1)
        status = store_sqlite_fail_corrupt("CRL number", op, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

enum adcp_status
store_sqlite_crl_number_next(struct store *base, int64_t *number,
                             struct adcp_error *err)
{
    struct crl_number_job next = {
        .job = {.run = crl_number_run, .op = crl_number_op},
    };
    enum adcp_status status;

    status = store_sqlite_write(store_sqlite_from(base), &next.job, err);
    if (status == ADCP_OK)
        *number = next.number;
    return status;
}
