/*
 * SQLite back end of the storage interface.
 *
 * Connections: a pool of up to STORE_SQLITE_POOL_MAX connections, opened on
 * demand and handed to one thread at a time under a mutex, so each connection
 * runs in SQLite's multi-thread mode without locks of its own. Each connection
 * keeps its prepared statements for its lifetime.
 *
 * Durability: WAL journal with synchronous=FULL, so a write is in the WAL
 * and fsync'ed before its function returns. The exception is an audit
 * append, which returns once queued (store_sqlite_writer.c). Writes run on
 * the writer thread's own connection, in BEGIN IMMEDIATE transactions that
 * take the write lock at the start and each contain a batch of writes.
 * Waiting for the lock is bounded by BUSY_TIMEOUT_MS. The pool serves
 * reads, which WAL lets run beside the writer.
 *
 * Files: the database is created with mode 0600 before SQLite opens it.
 * SQLite creates the -wal and -shm files with the database file's mode.
 */
#include "store/store_sqlite-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

/* error_hint's message for SQLITE_BUSY states this limit in seconds. */
#define BUSY_TIMEOUT_MS 5000

static const char *const stmt_sql[STMT_ID_COUNT] = {
    [STMT_BEGIN] = "BEGIN",
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT job",
    [STMT_SAVEPOINT_ROLLBACK] = "ROLLBACK TO job",
    [STMT_SAVEPOINT_RELEASE] = "RELEASE job",
    [STMT_HOST_INSERT] = "INSERT INTO hosts (name, created) VALUES (?1, ?2)",
    [STMT_HOST_NAME_INSERT] =
        "INSERT INTO host_names (host_id, kind, value) VALUES (?1, ?2, ?3)",
    [STMT_HOST_BY_NAME] = "SELECT id, name, created FROM hosts WHERE name = ?1",
    [STMT_HOST_BY_ID] = "SELECT id, name, created FROM hosts WHERE id = ?1",
    [STMT_HOST_NAMES] = "SELECT kind, value FROM host_names"
                        " WHERE host_id = ?1 ORDER BY rowid",
    [STMT_TOKEN_INSERT] = "INSERT INTO enrollment_tokens"
                          " (verifier, host_id, expires) VALUES (?1, ?2, ?3)",
    [STMT_TOKEN_CONSUME] =
        "UPDATE enrollment_tokens SET used_at = ?2"
        " WHERE verifier = ?1 AND used_at IS NULL AND expires > ?2",
    [STMT_TOKEN_HOST] =
        "SELECT host_id FROM enrollment_tokens WHERE verifier = ?1",
    [STMT_TOKEN_LOOKUP] =
        "SELECT host_id FROM enrollment_tokens"
        " WHERE verifier = ?1 AND used_at IS NULL AND expires > ?2",
    [STMT_CERT_INSERT] =
        "INSERT INTO certificates (serial, host_id, subject, not_before,"
        " not_after, pem, hsm, revoked_at, created, revocation_reason)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [STMT_CERT_GET] =
        "SELECT serial, host_id, subject, not_before, not_after, pem, hsm,"
        " revoked_at, revocation_reason FROM certificates WHERE serial = ?1",
    [STMT_CERT_REVOKE] =
        "UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3"
        " WHERE serial = ?1 AND revoked_at IS NULL",
    [STMT_CERT_REVOCATION] =
        "SELECT revoked_at, revocation_reason FROM certificates"
        " WHERE serial = ?1",
    /* The ORDER BY and WHERE terms match the certificates_revoked index,
     * which covers the columns, so SQLite walks only that index. */
    [STMT_REVOKED_LIST] =
        "SELECT serial, revoked_at, revocation_reason FROM certificates"
        " WHERE revoked_at IS NOT NULL AND not_after >= ?1"
        " ORDER BY length(serial), serial",
    [STMT_CRL_NUMBER_NEXT] =
        "INSERT INTO settings (name, value) VALUES ('crl_number', '1')"
        " ON CONFLICT (name) DO UPDATE"
        " SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        " RETURNING CAST(value AS INTEGER)",
    [STMT_KEY_INSERT] =
        "INSERT INTO keys (label, type, bits, hsm, public_pem, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_KEY_GET] = "SELECT label, type, bits, hsm, public_pem, created"
                     " FROM keys WHERE label = ?1",
    [STMT_AUDIT_INSERT] =
        "INSERT INTO audit_log (message_id, direction, message_type, at,"
        " json) VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_AUDIT_LAST_ID] =
        "SELECT message_id FROM audit_log ORDER BY seq DESC LIMIT 1",
    [STMT_COUNT_HOSTS] = "SELECT count(*) FROM hosts",
    [STMT_COUNT_CERTIFICATES] = "SELECT count(*) FROM certificates",
    [STMT_COUNT_KEYS] = "SELECT count(*) FROM keys",
    [STMT_COUNT_AUDIT_LOG] = "SELECT count(*) FROM audit_log",
    [STMT_COUNT_ENROLLMENT_TOKENS] = "SELECT count(*) FROM enrollment_tokens",
    [STMT_SETTING_SET] =
        "INSERT INTO settings (name, value) VALUES (?1, ?2)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [STMT_SETTING_GET] = "SELECT value FROM settings WHERE name = ?1",
};

/* Errors. */

/* A sentence telling the operator what to do about an SQLite error. */
static const char *
error_hint(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "another connection held the database lock for more than "
               "5 seconds; retry the request";
    case SQLITE_FULL:
        return "the file system holding the database is full; free space";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH:
        return "check that the service may write the database file and "
               "its directory";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return "the database file is damaged; restore it from a backup";
    case SQLITE_IOERR:
        return "the disk reported an I/O error; check the storage device";
    case SQLITE_NOMEM:
        return "the service ran out of memory; retry the request";
    default:
        return "see the service log";
    }
}

enum adcp_status
store_sqlite_fail(const struct store_sqlite_conn *conn, int rc, const char *op,
                  struct adcp_error *err)
{
    const char *detail = sqlite3_errstr(rc);
    const char *file = "the database";

    if (conn != NULL && conn->db != NULL) {
        detail = sqlite3_errmsg(conn->db);
        file = sqlite3_db_filename(conn->db, "main");
    }
    log_error("failed to %s in %s: %s (SQLite code %d)", op, file, detail, rc);
    return adcp_error_set(err, ADCP_ERR_STORAGE, "",
                          "storage could not %s: %s; %s", op, detail,
                          error_hint(rc));
}

enum adcp_status
store_sqlite_fail_corrupt(const char *column, const char *op,
                          struct adcp_error *err)
{
    log_error("failed to %s: stored %s is missing or too long", op, column);
    return adcp_error_set(err, ADCP_ERR_STORAGE, column,
                          "storage could not %s: the stored %s is missing "
                          "or too long, so the database was changed by "
                          "another program; restore it from a backup",
                          op, column);
}

enum adcp_status
store_sqlite_fail_memory(const char *op, struct adcp_error *err)
{
    log_error("failed to %s: out of memory", op);
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "storage could not %s: out of memory; retry the "
                          "request",
                          op);
}

/* Statements. */

enum adcp_status
store_sqlite_stmt(struct store_sqlite_conn *conn, enum store_sqlite_stmt id,
                  sqlite3_stmt **out, const char *op, struct adcp_error *err)
{
    int rc;

    if (conn->stmts[id] == NULL) {
        rc = sqlite3_prepare_v3(conn->db, stmt_sql[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &conn->stmts[id],
                                NULL);
        if (rc != SQLITE_OK)
            return store_sqlite_fail(conn, rc, op, err);
    }
    *out = conn->stmts[id];
    return ADCP_OK;
}

void
store_sqlite_stmt_done(sqlite3_stmt *stmt)
{
    if (stmt == NULL)
        return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Steps a statement that returns no rows. */
static enum adcp_status
stmt_exec(struct store_sqlite_conn *conn, sqlite3_stmt *stmt, const char *op,
          struct adcp_error *err)
{
    int rc;

    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        return store_sqlite_fail(conn, rc, op, err);
    return ADCP_OK;
}

/* Transactions. */

enum adcp_status
store_sqlite_run(struct store_sqlite_conn *conn, enum store_sqlite_stmt id,
                 const char *op, struct adcp_error *err)
{
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;

    status = store_sqlite_stmt(conn, id, &stmt, op, err);
    if (status == ADCP_OK)
        status = stmt_exec(conn, stmt, op, err);
    store_sqlite_stmt_done(stmt);
    return status;
}

enum adcp_status
store_sqlite_begin_read(struct store_sqlite_conn *conn, const char *op,
                        struct adcp_error *err)
{
    return store_sqlite_run(conn, STMT_BEGIN, op, err);
}

enum adcp_status
store_sqlite_begin_write(struct store_sqlite_conn *conn, const char *op,
                         struct adcp_error *err)
{
    return store_sqlite_run(conn, STMT_BEGIN_IMMEDIATE, op, err);
}

enum adcp_status
store_sqlite_commit(struct store_sqlite_conn *conn, const char *op,
                    struct adcp_error *err)
{
    return store_sqlite_run(conn, STMT_COMMIT, op, err);
}

void
store_sqlite_abandon(struct store_sqlite_conn *conn)
{
    if (sqlite3_get_autocommit(conn->db))
        return;
    if (store_sqlite_run(conn, STMT_ROLLBACK, "roll back a transaction",
                         NULL) != ADCP_OK)
        log_warn("rollback failed: %s", sqlite3_errmsg(conn->db));
}

/* Connections. */

void
store_sqlite_conn_close(struct store_sqlite_conn *conn)
{
    if (conn == NULL)
        return;
    for (size_t i = 0; i < STMT_ID_COUNT; i++)
        sqlite3_finalize(conn->stmts[i]);
    if (sqlite3_close(conn->db) != SQLITE_OK)
        log_warn("closing a database connection failed: %s",
                 sqlite3_errmsg(conn->db));
    free(conn);
}

/* Sets journal_mode=WAL and checks that SQLite kept it: a file system
 * without shared memory support leaves the old mode in place. */
static enum adcp_status
conn_enable_wal(struct store_sqlite_conn *conn, const char *path,
                struct adcp_error *err)
{
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status = ADCP_OK;
    const char *mode;
    int rc;

    rc = sqlite3_prepare_v2(conn->db, "PRAGMA journal_mode = WAL", -1, &stmt,
                            NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        status = store_sqlite_fail(conn, rc, "enable the WAL journal", err);
        goto out;
    }
    mode = (const char *)sqlite3_column_text(stmt, 0);
    if (mode == NULL || strcmp(mode, "wal") != 0) {
        log_error("database %s stayed in journal mode %s", path,
                  mode ? mode : "(none)");
        status = adcp_error_set(err, ADCP_ERR_STORAGE, "",
                                "database %s cannot use the WAL journal "
                                "(journal mode is %s); put it on a local "
                                "file system",
                                path, mode ? mode : "unknown");
    }
out:
    sqlite3_finalize(stmt);
    return status;
}

/* SQLite commit hook: counts the store's write transactions, or rejects
 * the commit while store_sqlite_fail_commits has asked for failures.
 * Returning non-zero makes SQLite roll the transaction back and fail the
 * COMMIT with SQLITE_CONSTRAINT_COMMITHOOK. */
static int
conn_count_commit(void *arg)
{
    struct store_sqlite *store = arg;
    unsigned failing = atomic_load(&store->failing_commits);

    while (failing > 0)
        if (atomic_compare_exchange_weak(&store->failing_commits, &failing,
                                         failing - 1))
            return 1;
    atomic_fetch_add(&store->commits, 1);
    return 0;
}

void
store_sqlite_fail_commits(struct store *base, unsigned count)
{
    atomic_store(&store_sqlite_from(base)->failing_commits, count);
}

/* Applies the settings every connection needs. Foreign keys and
 * synchronous are per connection in SQLite, not stored in the file. */
static enum adcp_status
conn_configure(struct store_sqlite *store, struct store_sqlite_conn *conn,
               struct adcp_error *err)
{
    static const char pragmas[] = "PRAGMA foreign_keys = ON;"
                                  "PRAGMA synchronous = FULL;"
                                  "PRAGMA trusted_schema = OFF;";
    int rc;

    sqlite3_extended_result_codes(conn->db, 1);
    sqlite3_busy_timeout(conn->db, BUSY_TIMEOUT_MS);
    /* Defensive mode stops SQL from corrupting the file on purpose
     * (writable_schema and similar). */
    sqlite3_db_config(conn->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_commit_hook(conn->db, conn_count_commit, store);
    rc = sqlite3_exec(conn->db, pragmas, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_sqlite_fail(conn, rc, "configure the connection", err);
    return conn_enable_wal(conn, store->path, err);
}

/* Opens a connection to an existing file; store_open_sqlite creates it
 * first, so that SQLite never creates it with the umask's mode. */
enum adcp_status
store_sqlite_conn_open(struct store_sqlite *store,
                       struct store_sqlite_conn **out, struct adcp_error *err)
{
    const char *path = store->path;
    struct store_sqlite_conn *conn = NULL;
    enum adcp_status status;
    int rc;

    *out = NULL;
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return store_sqlite_fail_memory("open the database", err);
    rc = sqlite3_open_v2(path, &conn->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                             SQLITE_OPEN_NOFOLLOW,
                         NULL);
    if (rc != SQLITE_OK) {
        log_error("failed to open database %s", path);
        status = store_sqlite_fail(conn, rc, "open the database", err);
        goto out;
    }
    status = conn_configure(store, conn, err);
    if (status != ADCP_OK)
        goto out;
    *out = conn;
    conn = NULL;
out:
    store_sqlite_conn_close(conn);
    return status;
}

/* The pool. */

/*
 * Hands the calling thread a connection of its own: an idle one, a new
 * one while fewer than STORE_SQLITE_POOL_MAX are open, or else the next one
 * released. The caller gives it back with store_sqlite_release.
 */
enum adcp_status
store_sqlite_acquire(struct store_sqlite *store, struct store_sqlite_conn **out,
                     struct adcp_error *err)
{
    enum adcp_status status;

    *out = NULL;
    pthread_mutex_lock(&store->lock);
    while (store->idle_count == 0 && store->open_count >= STORE_SQLITE_POOL_MAX)
        pthread_cond_wait(&store->released, &store->lock);
    if (store->idle_count > 0) {
        *out = store->idle[--store->idle_count];
        pthread_mutex_unlock(&store->lock);
        return ADCP_OK;
    }
    /* Reserve the slot, then open outside the lock: opening reads the
     * file and may wait for another process's lock. */
    store->open_count++;
    pthread_mutex_unlock(&store->lock);

    status = store_sqlite_conn_open(store, out, err);
    if (status != ADCP_OK) {
        pthread_mutex_lock(&store->lock);
        store->open_count--;
        pthread_cond_signal(&store->released);
        pthread_mutex_unlock(&store->lock);
    }
    return status;
}

/* Returns a connection to the pool, rolling back any transaction a failed
 * operation left open. Accepts NULL. */
void
store_sqlite_release(struct store_sqlite *store, struct store_sqlite_conn *conn)
{
    if (conn == NULL)
        return;
    store_sqlite_abandon(conn);
    pthread_mutex_lock(&store->lock);
    store->idle[store->idle_count++] = conn;
    pthread_cond_signal(&store->released);
    pthread_mutex_unlock(&store->lock);
}

/* Files. */

/*
 * Sets a file's mode to 0600 when it exists with another mode. Returns 0,
 * or -1 with errno set. With create set, a missing file is created with
 * mode 0600; without it, a missing file is left missing and returns 0.
 */
static int
file_make_private(const char *path, bool create)
{
    struct stat st;
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
    int fd;
    int result = -1;

    if (create)
        flags |= O_CREAT;
    fd = open(path, flags, 0600);
    if (fd < 0)
        return (!create && errno == ENOENT) ? 0 : -1;
    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    if ((st.st_mode & 077) != 0)
        log_warn("%s was accessible to group or others (mode %03o); "
                 "setting mode 0600",
                 path, (unsigned)(st.st_mode & 0777));
    if ((st.st_mode & 0777) != 0600 && fchmod(fd, 0600) != 0)
        goto out;
    result = 0;
out:
    close(fd);
    return result;
}

/* Creates the database file with mode 0600, and narrows the mode of the
 * file and its -wal and -shm companions when an older copy left them
 * readable by others. */
static enum adcp_status
files_prepare(const char *path, struct adcp_error *err)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char name[ADCP_PATH_MAX + 8];

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
        if (file_make_private(name, i == 0) != 0) {
            log_error("failed to prepare database file %s: %s", name,
                      strerror(errno));
            return adcp_error_set(err, ADCP_ERR_STORAGE, "",
                                  "database file %s cannot be created or "
                                  "opened: %s; check that its directory "
                                  "exists and the service may write it",
                                  name, strerror(errno));
        }
    }
    return ADCP_OK;
}

/* Schema. */

static enum adcp_status
schema_read_version(struct store_sqlite_conn *conn, int *version,
                    struct adcp_error *err)
{
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status = ADCP_OK;
    int rc;

    rc = sqlite3_prepare_v2(conn->db, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(stmt, 0);
    else
        status = store_sqlite_fail(conn, rc, "read the schema version", err);
    sqlite3_finalize(stmt);
    return status;
}

/* Runs the script of one version and records the version. The caller has
 * begun the write transaction. */
static enum adcp_status
schema_apply(struct store_sqlite_conn *conn, int version,
             struct adcp_error *err)
{
    char pragma[48];
    int rc;

    rc = sqlite3_exec(conn->db, store_sqlite_schema_script(version), NULL, NULL,
                      NULL);
    if ((rc & 0xff) == SQLITE_CONSTRAINT && version == 2) {
        log_error("schema version 2 gives each DNS name and IP address to "
                  "one host, but this database lists some for several "
                  "hosts; find them with: SELECT kind, value FROM "
                  "host_names GROUP BY kind, value HAVING count(*) > 1 "
                  "(and hosts whose names differ only in case), remove the "
                  "extra rows, then start again");
        return store_sqlite_fail(conn, rc, "upgrade the schema", err);
    }
    if (rc != SQLITE_OK)
        return store_sqlite_fail(conn, rc, "upgrade the schema", err);
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
    rc = sqlite3_exec(conn->db, pragma, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_sqlite_fail(conn, rc, "record the schema version", err);
    return ADCP_OK;
}

/*
 * Brings the schema to the latest version of this build, in one write
 * transaction, so two processes opening a new file do not both create
 * tables and a failed upgrade leaves the old schema intact. A database
 * newer than this build is rejected rather than used.
 */
static enum adcp_status
schema_migrate(struct store_sqlite_conn *conn, const char *path,
               struct adcp_error *err)
{
    const int latest = store_sqlite_schema_version();
    enum adcp_status status;
    int version = 0;

    status = store_sqlite_begin_write(conn, "upgrade the schema", err);
    if (status == ADCP_OK)
        status = schema_read_version(conn, &version, err);
    if (status != ADCP_OK)
        goto out;
    if (version > latest) {
        log_error("database %s has schema version %d, newer than %d", path,
                  version, latest);
        status = adcp_error_set(err, ADCP_ERR_STORAGE, "",
                                "database %s has schema version %d but this "
                                "build knows versions up to %d; run a newer "
                                "hsm4ssld",
                                path, version, latest);
        goto out;
    }
    for (int next = version + 1; next <= latest && status == ADCP_OK; next++)
        status = schema_apply(conn, next, err);
    if (status == ADCP_OK)
        status = store_sqlite_commit(conn, "upgrade the schema", err);
    if (status == ADCP_OK && version < latest)
        log_info("database %s upgraded from schema version %d to %d", path,
                 version, latest);
out:
    store_sqlite_abandon(conn);
    return status;
}

/* Opening and closing. */

/* Commits the queued writes, stops the writer and closes every pooled
 * connection. The caller guarantees that no thread still uses the store. */
static void
sqlite_close(struct store *base)
{
    struct store_sqlite *store = store_sqlite_from(base);

    store_sqlite_writer_stop(store);
    if (store->open_count != store->idle_count)
        log_error("closing database %s while %zu connections are in use",
                  store->path, store->open_count - store->idle_count);
    for (size_t i = 0; i < store->idle_count; i++)
        store_sqlite_conn_close(store->idle[i]);
    pthread_cond_destroy(&store->released);
    pthread_mutex_destroy(&store->lock);
    store_host_cache_free(store->base.hosts);
    free(store->path);
    free(store);
}

static const struct store_ops sqlite_ops = {
    .close = sqlite_close,
    .host_add = store_sqlite_host_add,
    .host_get_by_name = store_sqlite_host_get_by_name,
    .host_get_by_id = store_sqlite_host_get_by_id,
    .enrollment_add = store_sqlite_enrollment_add,
    .enrollment_consume = store_sqlite_enrollment_consume,
    .enrollment_lookup = store_sqlite_enrollment_lookup,
    .cert_add = store_sqlite_cert_add,
    .expect_write = store_sqlite_expect_write,
    .expect_write_done = store_sqlite_expect_write_done,
    .cert_add_queued = store_sqlite_cert_add_queued,
    .ticket_notify = store_sqlite_ticket_notify,
    .ticket_finish = store_sqlite_ticket_finish,
    .cert_get = store_sqlite_cert_get,
    .cert_revoke = store_sqlite_cert_revoke,
    .revoked_foreach = store_sqlite_revoked_foreach,
    .crl_number_next = store_sqlite_crl_number_next,
    .key_add = store_sqlite_key_add,
    .key_get = store_sqlite_key_get,
    .audit_append = store_sqlite_audit_append,
    .audit_last_id = store_sqlite_audit_last_id,
    .count = store_sqlite_count,
    .setting_set = store_sqlite_setting_set,
    .setting_get = store_sqlite_setting_get,
};

static struct store_sqlite *
sqlite_store_new(const char *path)
{
    struct store_sqlite *store;

    store = calloc(1, sizeof(*store));
    if (store == NULL)
        return NULL;
    store->path = store_strdup(path);
    if (store->path == NULL) {
        free(store);
        return NULL;
    }
    store->base.ops = &sqlite_ops;
    store->base.hosts = store_host_cache_new();
    pthread_mutex_init(&store->lock, NULL);
    pthread_cond_init(&store->released, NULL);
    atomic_init(&store->commits, 0);
    atomic_init(&store->failing_commits, 0);
    store_sqlite_writer_init(store);
    return store;
}

/*
 * Opens the database at path, creating it with mode 0600 if needed,
 * upgrades its schema and starts the writer thread. The first connection
 * is opened here, so a file that cannot be used is reported now rather
 * than on the first request.
 */
enum adcp_status
store_open_sqlite(const char *path, struct store **out, struct adcp_error *err)
{
    struct store_sqlite *store = NULL;
    struct store_sqlite_conn *conn = NULL;
    enum adcp_status status;

    if (out == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "store_open_sqlite was called with a NULL "
                              "out; this is a bug in the caller");
    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "path",
                              "the database path is empty; set the path of "
                              "the SQLite file");
    if (strlen(path) >= ADCP_PATH_MAX)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "path",
                              "the database path is longer than %d bytes; "
                              "choose a shorter path",
                              ADCP_PATH_MAX - 1);
    if (sqlite3_threadsafe() == 0)
        return adcp_error_set(err, ADCP_ERR_STORAGE, "",
                              "the SQLite library was built without thread "
                              "support; install a thread-safe build");
    status = files_prepare(path, err);
    if (status != ADCP_OK)
        return status;
    store = sqlite_store_new(path);
    if (store == NULL)
        return store_sqlite_fail_memory("open the database", err);
    status = store_sqlite_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = schema_migrate(conn, path, err);
    store_sqlite_release(store, conn);
    if (status == ADCP_OK)
        status = store_sqlite_writer_start(store, err);
    if (status != ADCP_OK)
        goto out;
    log_info("database %s opened (SQLite %s, schema version %d)", path,
             sqlite3_libversion(), store_sqlite_schema_version());
    *out = &store->base;
    store = NULL;
out:
    if (store != NULL)
        sqlite_close(&store->base);
    return status;
}
