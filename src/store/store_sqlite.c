/*
 * SQLite back end of the storage interface.
 *
 * Connections: a pool of up to POOL_MAX connections, opened on demand and
 * handed to one thread at a time under a mutex, so each connection runs in
 * SQLite's multi-thread mode without locks of its own. Each connection
 * keeps its prepared statements for its lifetime.
 *
 * Durability: WAL journal with synchronous=FULL, so a write is in the WAL
 * and fsync'ed before its function returns. Writes that touch several rows
 * run in one BEGIN IMMEDIATE transaction, which takes the write lock at
 * the start; waiting for the lock is bounded by BUSY_TIMEOUT_MS.
 *
 * Files: the database is created with mode 0600 before SQLite opens it.
 * SQLite creates the -wal and -shm files with the database file's mode.
 */
#include "store/store-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

/* NOTE: the limit is a guess: one connection per worker thread on a host
 * of up to 16 cores. Threads beyond it wait for a free connection. */
#define POOL_MAX 16
#define BUSY_TIMEOUT_MS 5000

enum stmt_id {
    STMT_BEGIN = 0,
    STMT_BEGIN_IMMEDIATE,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_HOST_INSERT,
    STMT_HOST_NAME_INSERT,
    STMT_HOST_BY_NAME,
    STMT_HOST_BY_ID,
    STMT_HOST_NAMES,
    STMT_TOKEN_INSERT,
    STMT_TOKEN_CONSUME,
    STMT_TOKEN_HOST,
    STMT_TOKEN_LOOKUP,
    STMT_CERT_INSERT,
    STMT_CERT_GET,
    STMT_KEY_INSERT,
    STMT_KEY_GET,
    STMT_AUDIT_INSERT,
    STMT_COUNT_HOSTS,
    STMT_COUNT_CERTIFICATES,
    STMT_COUNT_KEYS,
    STMT_COUNT_AUDIT_LOG,
    STMT_COUNT_ENROLLMENT_TOKENS,
    STMT_SETTING_SET,
    STMT_SETTING_GET,
    STMT_ID_COUNT
};

static const char *const stmt_sql[STMT_ID_COUNT] = {
    [STMT_BEGIN] = "BEGIN",
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_HOST_INSERT] = "INSERT INTO hosts (name, created) VALUES (?1, ?2)",
    [STMT_HOST_NAME_INSERT] =
        "INSERT INTO host_names (host_id, kind, value) VALUES (?1, ?2, ?3)",
    [STMT_HOST_BY_NAME] =
        "SELECT id, name, created FROM hosts WHERE name = ?1",
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
        " not_after, pem, hsm, revoked_at, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [STMT_CERT_GET] =
        "SELECT serial, host_id, subject, not_before, not_after, pem, hsm,"
        " revoked_at FROM certificates WHERE serial = ?1",
    [STMT_KEY_INSERT] =
        "INSERT INTO keys (label, type, bits, hsm, public_pem, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_KEY_GET] = "SELECT label, type, bits, hsm, public_pem, created"
                     " FROM keys WHERE label = ?1",
    [STMT_AUDIT_INSERT] =
        "INSERT INTO audit_log (message_id, direction, message_type, at,"
        " json) VALUES (?1, ?2, ?3, ?4, ?5)",
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

static const enum stmt_id count_stmts[STORE_TABLE_COUNT] = {
    [STORE_TABLE_HOSTS] = STMT_COUNT_HOSTS,
    [STORE_TABLE_CERTIFICATES] = STMT_COUNT_CERTIFICATES,
    [STORE_TABLE_KEYS] = STMT_COUNT_KEYS,
    [STORE_TABLE_AUDIT_LOG] = STMT_COUNT_AUDIT_LOG,
    [STORE_TABLE_ENROLLMENT_TOKENS] = STMT_COUNT_ENROLLMENT_TOKENS,
};

/* One connection and its prepared statements, used by one thread at a
 * time. */
struct sqlite_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_ID_COUNT]; /* prepared on first use */
};

struct sqlite_store {
    struct store base; /* first, so a struct store * converts back */
    char *path;
    pthread_mutex_t lock; /* guards idle, idle_count and open_count */
    pthread_cond_t released;
    struct sqlite_conn *idle[POOL_MAX];
    size_t idle_count;
    size_t open_count; /* idle and in use; at most POOL_MAX */
};

static struct sqlite_store *
to_sqlite(struct store *store)
{
    return (struct sqlite_store *)store;
}

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

/*
 * Logs an SQLite failure of op (a verb phrase such as "add host") and sets
 * err to ADCP_ERR_STORAGE with SQLite's message. Call it before resetting
 * the statement, which would replace the connection's error message.
 */
static enum adcp_status
fail_sqlite(const struct sqlite_conn *conn, int rc, const char *op,
            struct adcp_error *err)
{
    const char *detail;

    if (conn != NULL && conn->db != NULL)
        detail = sqlite3_errmsg(conn->db);
    else
        detail = sqlite3_errstr(rc);
    log_error("cannot %s: %s (SQLite code %d)", op, detail, rc);
    return adcp_error_set(err, ADCP_ERR_STORAGE, "",
                          "storage could not %s: %s; %s", op, detail,
                          error_hint(rc));
}

static enum adcp_status
fail_corrupt(const char *column, const char *op, struct adcp_error *err)
{
    log_error("cannot %s: stored %s is missing or too long", op, column);
    return adcp_error_set(err, ADCP_ERR_STORAGE, column,
                          "storage could not %s: the stored %s is missing "
                          "or too long, so the database was changed by "
                          "another program; restore it from a backup",
                          op, column);
}

static enum adcp_status
fail_memory(const char *op, struct adcp_error *err)
{
    log_error("cannot %s: out of memory", op);
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "storage could not %s: out of memory; retry the "
                          "request",
                          op);
}

static bool
is_unique_violation(int rc)
{
    return rc == SQLITE_CONSTRAINT_UNIQUE ||
           rc == SQLITE_CONSTRAINT_PRIMARYKEY;
}

/* Statements. */

static enum adcp_status
stmt_get(struct sqlite_conn *conn, enum stmt_id id, sqlite3_stmt **out,
         const char *op, struct adcp_error *err)
{
    int rc;

    if (conn->stmts[id] == NULL) {
        rc = sqlite3_prepare_v3(conn->db, stmt_sql[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &conn->stmts[id],
                                NULL);
        if (rc != SQLITE_OK)
            return fail_sqlite(conn, rc, op, err);
    }
    *out = conn->stmts[id];
    return ADCP_OK;
}

/* Makes a cached statement ready for its next use. Accepts NULL. */
static void
stmt_done(sqlite3_stmt *stmt)
{
    if (stmt == NULL)
        return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Binders that keep the first failure in *rc and skip the rest, so a
 * statement's bindings read as a list followed by one check. Strings are
 * bound without a copy, so they must outlive the statement's step. */
static void
bind_text(sqlite3_stmt *stmt, int index, const char *value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_text(stmt, index, value, -1, SQLITE_STATIC);
}

static void
bind_int64(sqlite3_stmt *stmt, int index, int64_t value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(stmt, index, value);
}

/* Binds value, or NULL when value is 0 (no host, not revoked). */
static void
bind_int64_or_null(sqlite3_stmt *stmt, int index, int64_t value, int *rc)
{
    if (*rc != SQLITE_OK)
        return;
    if (value == 0)
        *rc = sqlite3_bind_null(stmt, index);
    else
        *rc = sqlite3_bind_int64(stmt, index, value);
}

static void
bind_verifier(sqlite3_stmt *stmt, int index,
              const unsigned char verifier[STORE_VERIFIER_LEN], int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_blob(stmt, index, verifier, STORE_VERIFIER_LEN,
                                SQLITE_STATIC);
}

static bool
column_field(sqlite3_stmt *stmt, int column, char *dst, size_t size)
{
    return store_copy_field(dst, size,
                            (const char *)sqlite3_column_text(stmt, column));
}

/* Steps a statement that returns no rows. */
static enum adcp_status
stmt_exec(struct sqlite_conn *conn, sqlite3_stmt *stmt, const char *op,
          struct adcp_error *err)
{
    int rc;

    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        return fail_sqlite(conn, rc, op, err);
    return ADCP_OK;
}

/* Transactions. */

static enum adcp_status
txn_run(struct sqlite_conn *conn, enum stmt_id id, const char *op,
        struct adcp_error *err)
{
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;

    status = stmt_get(conn, id, &stmt, op, err);
    if (status == ADCP_OK)
        status = stmt_exec(conn, stmt, op, err);
    stmt_done(stmt);
    return status;
}

/* Starts a read transaction, which sees one snapshot of the database. */
static enum adcp_status
txn_begin_read(struct sqlite_conn *conn, const char *op,
               struct adcp_error *err)
{
    return txn_run(conn, STMT_BEGIN, op, err);
}

/* Starts a write transaction. IMMEDIATE takes the write lock now, waiting
 * up to the busy timeout, so the transaction cannot fail later because a
 * read lock could not be upgraded. */
static enum adcp_status
txn_begin_write(struct sqlite_conn *conn, const char *op,
                struct adcp_error *err)
{
    return txn_run(conn, STMT_BEGIN_IMMEDIATE, op, err);
}

static enum adcp_status
txn_commit(struct sqlite_conn *conn, const char *op, struct adcp_error *err)
{
    return txn_run(conn, STMT_COMMIT, op, err);
}

/* Rolls back a transaction left open by a failed operation. */
static void
txn_abandon(struct sqlite_conn *conn)
{
    if (sqlite3_get_autocommit(conn->db))
        return;
    if (txn_run(conn, STMT_ROLLBACK, "roll back a transaction", NULL) !=
        ADCP_OK)
        log_warn("rollback failed: %s", sqlite3_errmsg(conn->db));
}

/* Connections. */

static void
conn_close(struct sqlite_conn *conn)
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
conn_enable_wal(struct sqlite_conn *conn, const char *path,
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
        status = fail_sqlite(conn, rc, "enable the WAL journal", err);
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

/* Applies the settings every connection needs. Foreign keys and
 * synchronous are per connection in SQLite, not stored in the file. */
static enum adcp_status
conn_configure(struct sqlite_conn *conn, const char *path,
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
    rc = sqlite3_exec(conn->db, pragmas, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_sqlite(conn, rc, "configure the connection", err);
    return conn_enable_wal(conn, path, err);
}

/* Opens a connection to an existing file; store_open_sqlite creates it
 * first, so that SQLite never creates it with the umask's mode. */
static enum adcp_status
conn_open(const char *path, struct sqlite_conn **out, struct adcp_error *err)
{
    struct sqlite_conn *conn = NULL;
    enum adcp_status status;
    int rc;

    *out = NULL;
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return fail_memory("open the database", err);
    rc = sqlite3_open_v2(path, &conn->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                             SQLITE_OPEN_NOFOLLOW,
                         NULL);
    if (rc != SQLITE_OK) {
        log_error("cannot open database %s", path);
        status = fail_sqlite(conn, rc, "open the database", err);
        goto out;
    }
    status = conn_configure(conn, path, err);
    if (status != ADCP_OK)
        goto out;
    *out = conn;
    conn = NULL;
out:
    conn_close(conn);
    return status;
}

/* The pool. */

/*
 * Hands the calling thread a connection of its own: an idle one, a new
 * one while fewer than POOL_MAX are open, or else the next one released.
 * The caller gives it back with pool_release.
 */
static enum adcp_status
pool_acquire(struct sqlite_store *store, struct sqlite_conn **out,
             struct adcp_error *err)
{
    enum adcp_status status;

    *out = NULL;
    pthread_mutex_lock(&store->lock);
    while (store->idle_count == 0 && store->open_count >= POOL_MAX)
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

    status = conn_open(store->path, out, err);
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
static void
pool_release(struct sqlite_store *store, struct sqlite_conn *conn)
{
    if (conn == NULL)
        return;
    txn_abandon(conn);
    pthread_mutex_lock(&store->lock);
    store->idle[store->idle_count++] = conn;
    pthread_cond_signal(&store->released);
    pthread_mutex_unlock(&store->lock);
}

/* Files. */

/*
 * Sets a file's mode to 0600 when it exists with another mode. Returns 0,
 * or -1 with errno set; a missing file is not an error unless create is
 * set, in which case it is created with mode 0600.
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
            log_error("cannot prepare database file %s: %s", name,
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
schema_read_version(struct sqlite_conn *conn, int *version,
                    struct adcp_error *err)
{
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status = ADCP_OK;
    int rc;

    rc = sqlite3_prepare_v2(conn->db, "PRAGMA user_version", -1, &stmt,
                            NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(stmt, 0);
    else
        status = fail_sqlite(conn, rc, "read the schema version", err);
    sqlite3_finalize(stmt);
    return status;
}

/* Runs the script of one version and records the version; the caller
 * holds the write transaction. */
static enum adcp_status
schema_apply(struct sqlite_conn *conn, int version, struct adcp_error *err)
{
    char pragma[48];
    int rc;

    rc = sqlite3_exec(conn->db, store_sqlite_schema_script(version), NULL,
                      NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_sqlite(conn, rc, "upgrade the schema", err);
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
    rc = sqlite3_exec(conn->db, pragma, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_sqlite(conn, rc, "record the schema version", err);
    return ADCP_OK;
}

/*
 * Brings the schema to the version this build knows, in one write
 * transaction, so two processes opening a new file do not both create
 * tables and a failed upgrade leaves the old schema intact. A database
 * newer than this build is rejected rather than used.
 */
static enum adcp_status
schema_migrate(struct sqlite_conn *conn, const char *path,
               struct adcp_error *err)
{
    const int latest = store_sqlite_schema_version();
    enum adcp_status status;
    int version = 0;

    status = txn_begin_write(conn, "upgrade the schema", err);
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
        status = txn_commit(conn, "upgrade the schema", err);
    if (status == ADCP_OK && version < latest)
        log_info("database %s upgraded from schema version %d to %d", path,
                 version, latest);
out:
    txn_abandon(conn);
    return status;
}

/* Hosts. */

static enum adcp_status
host_insert_names(struct sqlite_conn *conn, int64_t host_id,
                  const char *kind, char *const *values, size_t count,
                  struct adcp_error *err)
{
    static const char op[] = "add host";
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc;

    status = stmt_get(conn, STMT_HOST_NAME_INSERT, &stmt, op, err);
    for (size_t i = 0; i < count && status == ADCP_OK; i++) {
        rc = SQLITE_OK;
        bind_int64(stmt, 1, host_id, &rc);
        bind_text(stmt, 2, kind, &rc);
        bind_text(stmt, 3, values[i], &rc);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(stmt);
        if (is_unique_violation(rc))
            status = adcp_error_set(err, ADCP_ERR_CONFLICT,
                                    strcmp(kind, "dns") == 0
                                        ? "dns_names"
                                        : "ip_addresses",
                                    "%s name \"%s\" is listed twice; list "
                                    "each name once",
                                    kind, values[i]);
        else if (rc != SQLITE_DONE)
            status = fail_sqlite(conn, rc, op, err);
        stmt_done(stmt);
    }
    return status;
}

static enum adcp_status
host_insert_row(struct sqlite_conn *conn, const struct store_host *host,
                time_t created, int64_t *id, struct adcp_error *err)
{
    static const char op[] = "add host";
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = stmt_get(conn, STMT_HOST_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_text(stmt, 1, host->name, &rc);
    bind_int64(stmt, 2, created, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (is_unique_violation(rc))
        status = adcp_error_set(err, ADCP_ERR_CONFLICT, "name",
                                "host name \"%s\" is already registered; "
                                "choose another name",
                                host->name);
    else if (rc != SQLITE_DONE)
        status = fail_sqlite(conn, rc, op, err);
    else
        *id = sqlite3_last_insert_rowid(conn->db);
    stmt_done(stmt);
    return status;
}

static enum adcp_status
sqlite_host_add(struct store *base, struct store_host *host,
                struct adcp_error *err)
{
    static const char op[] = "add host";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    enum adcp_status status;
    time_t now = time(NULL);
    int64_t id = 0;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = txn_begin_write(conn, op, err);
    if (status == ADCP_OK)
        status = host_insert_row(conn, host, now, &id, err);
    if (status == ADCP_OK)
        status = host_insert_names(conn, id, "dns", host->dns_names,
                                   host->dns_count, err);
    if (status == ADCP_OK)
        status = host_insert_names(conn, id, "ip", host->ip_addresses,
                                   host->ip_count, err);
    if (status == ADCP_OK)
        status = txn_commit(conn, op, err);
    if (status == ADCP_OK) {
        host->id = id;
        host->created = now;
    }
    pool_release(store, conn);
    return status;
}

/* Reads the names of host->id into host's arrays. */
static enum adcp_status
host_read_names(struct sqlite_conn *conn, struct store_host *host,
                struct adcp_error *err)
{
    static const char op[] = "get host";
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    const char *kind;
    const char *value;
    bool stored;
    int rc = SQLITE_OK;

    status = stmt_get(conn, STMT_HOST_NAMES, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_int64(stmt, 1, host->id, &rc);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        kind = (const char *)sqlite3_column_text(stmt, 0);
        value = (const char *)sqlite3_column_text(stmt, 1);
        if (kind == NULL || value == NULL) {
            status = fail_corrupt("host name", op, err);
            break;
        }
        if (strcmp(kind, "dns") == 0)
            stored = store_strings_append(&host->dns_names, &host->dns_count,
                                          value);
        else
            stored = store_strings_append(&host->ip_addresses,
                                          &host->ip_count, value);
        if (!stored) {
            status = fail_memory(op, err);
            break;
        }
    }
    if (status == ADCP_OK && rc != SQLITE_DONE)
        status = fail_sqlite(conn, rc, op, err);
    stmt_done(stmt);
    return status;
}

/* Reads the hosts row that stmt, already bound, selects. */
static enum adcp_status
host_read_row(struct sqlite_conn *conn, sqlite3_stmt *stmt,
              struct store_host *host, bool *found, struct adcp_error *err)
{
    int rc;

    *found = false;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return ADCP_OK;
    if (rc != SQLITE_ROW)
        return fail_sqlite(conn, rc, "get host", err);
    host->id = sqlite3_column_int64(stmt, 0);
    if (!column_field(stmt, 1, host->name, sizeof(host->name)))
        return fail_corrupt("host name", "get host", err);
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
host_get(struct sqlite_store *store, const char *name, int64_t id,
         struct store_host *out, struct adcp_error *err)
{
    static const char op[] = "get host";
    struct sqlite_conn *conn = NULL;
    struct store_host host = {0};
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    bool found = false;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = txn_begin_read(conn, op, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, name ? STMT_HOST_BY_NAME : STMT_HOST_BY_ID,
                          &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    if (name != NULL)
        bind_text(stmt, 1, name, &rc);
    else
        bind_int64(stmt, 1, id, &rc);
    if (rc != SQLITE_OK) {
        status = fail_sqlite(conn, rc, op, err);
        goto out;
    }
    status = host_read_row(conn, stmt, &host, &found, err);
    stmt_done(stmt);
    stmt = NULL;
    if (status == ADCP_OK && !found) {
        if (name != NULL)
            status = adcp_error_set(err, ADCP_ERR_NOT_FOUND, "name",
                                    "host \"%s\" is not registered; "
                                    "register it first",
                                    name);
        else
            status = adcp_error_set(err, ADCP_ERR_NOT_FOUND, "host_id",
                                    "host id %lld is not registered",
                                    (long long)id);
    }
    if (status == ADCP_OK)
        status = host_read_names(conn, &host, err);
    if (status == ADCP_OK)
        status = txn_commit(conn, op, err);
    if (status == ADCP_OK) {
        *out = host;
        memset(&host, 0, sizeof(host));
    }
out:
    stmt_done(stmt);
    pool_release(store, conn);
    store_host_clear(&host);
    return status;
}

static enum adcp_status
sqlite_host_get_by_name(struct store *base, const char *name,
                        struct store_host *out, struct adcp_error *err)
{
    return host_get(to_sqlite(base), name, 0, out, err);
}

static enum adcp_status
sqlite_host_get_by_id(struct store *base, int64_t id, struct store_host *out,
                      struct adcp_error *err)
{
    return host_get(to_sqlite(base), NULL, id, out, err);
}

/* Enrolment tokens. */

static enum adcp_status
fail_unknown_host(int64_t host_id, struct adcp_error *err)
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

static enum adcp_status
sqlite_enrollment_add(struct store *base, int64_t host_id,
                      const unsigned char verifier[STORE_VERIFIER_LEN],
                      time_t expires, struct adcp_error *err)
{
    static const char op[] = "add enrolment token";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_TOKEN_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_verifier(stmt, 1, verifier, &rc);
    bind_int64(stmt, 2, host_id, &rc);
    bind_int64(stmt, 3, expires, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        status = fail_unknown_host(host_id, err);
    else if (is_unique_violation(rc))
        /* The verifier is not printed: it is derived from a secret. */
        status = adcp_error_set(err, ADCP_ERR_CONFLICT, "token",
                                "an enrolment token with the same verifier "
                                "is already stored; generate a new token");
    else if (rc != SQLITE_DONE)
        status = fail_sqlite(conn, rc, op, err);
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
}

/* Marks the token used if it is unused and unexpired; *consumed tells
 * whether it was. The caller holds the write transaction. */
static enum adcp_status
token_mark_used(struct sqlite_conn *conn,
                const unsigned char verifier[STORE_VERIFIER_LEN], time_t now,
                bool *consumed, struct adcp_error *err)
{
    static const char op[] = "consume enrolment token";
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    *consumed = false;
    status = stmt_get(conn, STMT_TOKEN_CONSUME, &stmt, op, err);
    if (status != ADCP_OK)
        return status;
    bind_verifier(stmt, 1, verifier, &rc);
    bind_int64(stmt, 2, now, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = fail_sqlite(conn, rc, op, err);
    else
        *consumed = sqlite3_changes(conn->db) == 1;
    stmt_done(stmt);
    return status;
}

/* Steps a bound statement whose one row holds a host id in column 0;
 * *found is false when it returns no row. */
static enum adcp_status
token_read_host(struct sqlite_conn *conn, sqlite3_stmt *stmt,
                int64_t *host_id, bool *found, const char *op,
                struct adcp_error *err)
{
    int rc;

    *found = false;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return ADCP_OK;
    if (rc != SQLITE_ROW)
        return fail_sqlite(conn, rc, op, err);
    *host_id = sqlite3_column_int64(stmt, 0);
    *found = true;
    return ADCP_OK;
}

/*
 * Consumes a token: the UPDATE succeeds for at most one caller because it
 * requires used_at IS NULL, and the write transaction keeps the host id
 * read afterwards consistent with it.
 */
static enum adcp_status
sqlite_enrollment_consume(struct store *base,
                          const unsigned char verifier[STORE_VERIFIER_LEN],
                          int64_t *host_id, struct adcp_error *err)
{
    static const char op[] = "consume enrolment token";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    bool consumed = false;
    bool found = false;
    int64_t id = 0;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = txn_begin_write(conn, op, err);
    if (status == ADCP_OK)
        status = token_mark_used(conn, verifier, time(NULL), &consumed, err);
    if (status != ADCP_OK)
        goto out;
    if (!consumed) {
        status = fail_token(err);
        goto out;
    }
    status = stmt_get(conn, STMT_TOKEN_HOST, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_verifier(stmt, 1, verifier, &rc);
    if (rc != SQLITE_OK)
        status = fail_sqlite(conn, rc, op, err);
    else
        status = token_read_host(conn, stmt, &id, &found, op, err);
    stmt_done(stmt);
    stmt = NULL;
    if (status == ADCP_OK && !found)
        status = fail_corrupt("enrolment token", op, err);
    if (status == ADCP_OK)
        status = txn_commit(conn, op, err);
    if (status == ADCP_OK)
        *host_id = id;
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
}

static enum adcp_status
sqlite_enrollment_lookup(struct store *base,
                         const unsigned char verifier[STORE_VERIFIER_LEN],
                         int64_t *host_id, struct adcp_error *err)
{
    static const char op[] = "look up enrolment token";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    bool found = false;
    int64_t id = 0;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_TOKEN_LOOKUP, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_verifier(stmt, 1, verifier, &rc);
    bind_int64(stmt, 2, time(NULL), &rc);
    if (rc != SQLITE_OK)
        status = fail_sqlite(conn, rc, op, err);
    else
        status = token_read_host(conn, stmt, &id, &found, op, err);
    if (status == ADCP_OK && !found)
        status = fail_token(err);
    if (status == ADCP_OK)
        *host_id = id;
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
}

/* Certificates. */

static enum adcp_status
sqlite_cert_add(struct store *base, const struct store_cert *cert,
                struct adcp_error *err)
{
    static const char op[] = "add certificate";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_CERT_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_text(stmt, 1, cert->serial, &rc);
    bind_int64_or_null(stmt, 2, cert->host_id, &rc);
    bind_text(stmt, 3, cert->subject, &rc);
    bind_int64(stmt, 4, cert->not_before, &rc);
    bind_int64(stmt, 5, cert->not_after, &rc);
    bind_text(stmt, 6, cert->pem, &rc);
    bind_text(stmt, 7, cert->hsm, &rc);
    bind_int64_or_null(stmt, 8, cert->revoked_at, &rc);
    bind_int64(stmt, 9, time(NULL), &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        status = fail_unknown_host(cert->host_id, err);
    else if (is_unique_violation(rc))
        status = adcp_error_set(err, ADCP_ERR_CONFLICT, "serial",
                                "certificate serial %s is already stored; "
                                "issue the certificate with a new random "
                                "serial",
                                cert->serial);
    else if (rc != SQLITE_DONE)
        status = fail_sqlite(conn, rc, op, err);
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
}

/* Copies the certificates row under stmt into cert. */
static enum adcp_status
cert_read_row(sqlite3_stmt *stmt, struct store_cert *cert,
              struct adcp_error *err)
{
    static const char op[] = "get certificate";

    if (!column_field(stmt, 0, cert->serial, sizeof(cert->serial)))
        return fail_corrupt("certificate serial", op, err);
    cert->host_id = sqlite3_column_int64(stmt, 1); /* NULL reads as 0 */
    if (!column_field(stmt, 2, cert->subject, sizeof(cert->subject)))
        return fail_corrupt("certificate subject", op, err);
    cert->not_before = (time_t)sqlite3_column_int64(stmt, 3);
    cert->not_after = (time_t)sqlite3_column_int64(stmt, 4);
    if (!column_field(stmt, 6, cert->hsm, sizeof(cert->hsm)))
        return fail_corrupt("certificate HSM name", op, err);
    cert->revoked_at = (time_t)sqlite3_column_int64(stmt, 7);
    if (sqlite3_column_type(stmt, 5) == SQLITE_NULL)
        return fail_corrupt("certificate PEM", op, err);
    cert->pem = store_strdup((const char *)sqlite3_column_text(stmt, 5));
    if (cert->pem == NULL)
        return fail_memory(op, err);
    return ADCP_OK;
}

static enum adcp_status
sqlite_cert_get(struct store *base, const char *serial,
                struct store_cert *out, struct adcp_error *err)
{
    static const char op[] = "get certificate";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    struct store_cert cert = {0};
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_CERT_GET, &stmt, op, err);
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
        status = fail_sqlite(conn, rc, op, err);
    if (status == ADCP_OK) {
        *out = cert;
        memset(&cert, 0, sizeof(cert));
    }
out:
    stmt_done(stmt);
    pool_release(store, conn);
    store_cert_clear(&cert);
    return status;
}

/* Keys. */

static enum adcp_status
sqlite_key_add(struct store *base, const struct store_key *key,
               struct adcp_error *err)
{
    static const char op[] = "add key";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_KEY_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
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
        status = fail_sqlite(conn, rc, op, err);
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
}

static enum adcp_status
key_read_row(sqlite3_stmt *stmt, struct store_key *key,
             struct adcp_error *err)
{
    static const char op[] = "get key";
    sqlite3_int64 bits;

    if (!column_field(stmt, 0, key->label, sizeof(key->label)))
        return fail_corrupt("key label", op, err);
    if (!column_field(stmt, 1, key->type, sizeof(key->type)))
        return fail_corrupt("key type", op, err);
    bits = sqlite3_column_int64(stmt, 2);
    if (bits < 0 || bits > UINT32_MAX)
        return fail_corrupt("key length", op, err);
    key->bits = (unsigned)bits;
    if (!column_field(stmt, 3, key->hsm, sizeof(key->hsm)))
        return fail_corrupt("key HSM name", op, err);
    key->created = (time_t)sqlite3_column_int64(stmt, 5);
    if (sqlite3_column_type(stmt, 4) == SQLITE_NULL)
        return fail_corrupt("public key PEM", op, err);
    key->public_pem = store_strdup(
        (const char *)sqlite3_column_text(stmt, 4));
    if (key->public_pem == NULL)
        return fail_memory(op, err);
    return ADCP_OK;
}

static enum adcp_status
sqlite_key_get(struct store *base, const char *label, struct store_key *out,
               struct adcp_error *err)
{
    static const char op[] = "get key";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    struct store_key key = {0};
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_KEY_GET, &stmt, op, err);
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
        status = fail_sqlite(conn, rc, op, err);
    if (status == ADCP_OK) {
        *out = key;
        memset(&key, 0, sizeof(key));
    }
out:
    stmt_done(stmt);
    pool_release(store, conn);
    store_key_clear(&key);
    return status;
}

/* Audit log. */

static enum adcp_status
sqlite_audit_append(struct store *base, const struct store_audit_entry *entry,
                    struct adcp_error *err)
{
    static const char op[] = "append to the audit log";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    char at[ADCP_TIMESTAMP_MAX];
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    store_timestamp_now(at);
    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_AUDIT_INSERT, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_text(stmt, 1, entry->message_id, &rc);
    bind_text(stmt, 2, entry->direction, &rc);
    bind_text(stmt, 3, entry->message_type, &rc);
    bind_text(stmt, 4, at, &rc);
    bind_text(stmt, 5, entry->json, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = fail_sqlite(conn, rc, op, err);
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
}

/* Statistics. */

static enum adcp_status
sqlite_count(struct store *base, enum store_table table, int64_t *count,
             struct adcp_error *err)
{
    static const char op[] = "count rows";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, count_stmts[table], &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *count = sqlite3_column_int64(stmt, 0);
    else
        status = fail_sqlite(conn, rc, op, err);
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
}

/* Settings. */

static enum adcp_status
sqlite_setting_set(struct store *base, const char *name, const char *value,
                   struct adcp_error *err)
{
    static const char op[] = "store a setting";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_SETTING_SET, &stmt, op, err);
    if (status != ADCP_OK)
        goto out;
    bind_text(stmt, 1, name, &rc);
    bind_text(stmt, 2, value, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = fail_sqlite(conn, rc, op, err);
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
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
        return fail_corrupt("setting value", "read a setting", err);
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

static enum adcp_status
sqlite_setting_get(struct store *base, const char *name, char *value,
                   size_t size, struct adcp_error *err)
{
    static const char op[] = "read a setting";
    struct sqlite_store *store = to_sqlite(base);
    struct sqlite_conn *conn = NULL;
    sqlite3_stmt *stmt = NULL;
    enum adcp_status status;
    int rc = SQLITE_OK;

    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = stmt_get(conn, STMT_SETTING_GET, &stmt, op, err);
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
        status = fail_sqlite(conn, rc, op, err);
out:
    stmt_done(stmt);
    pool_release(store, conn);
    return status;
}

/* Opening and closing. */

/* Closes every pooled connection. The caller guarantees that no thread
 * still holds one. */
static void
sqlite_close(struct store *base)
{
    struct sqlite_store *store = to_sqlite(base);

    if (store->open_count != store->idle_count)
        log_error("closing database %s while %zu connections are in use",
                  store->path, store->open_count - store->idle_count);
    for (size_t i = 0; i < store->idle_count; i++)
        conn_close(store->idle[i]);
    pthread_cond_destroy(&store->released);
    pthread_mutex_destroy(&store->lock);
    free(store->path);
    free(store);
}

static const struct store_ops sqlite_ops = {
    .close = sqlite_close,
    .host_add = sqlite_host_add,
    .host_get_by_name = sqlite_host_get_by_name,
    .host_get_by_id = sqlite_host_get_by_id,
    .enrollment_add = sqlite_enrollment_add,
    .enrollment_consume = sqlite_enrollment_consume,
    .enrollment_lookup = sqlite_enrollment_lookup,
    .cert_add = sqlite_cert_add,
    .cert_get = sqlite_cert_get,
    .key_add = sqlite_key_add,
    .key_get = sqlite_key_get,
    .audit_append = sqlite_audit_append,
    .count = sqlite_count,
    .setting_set = sqlite_setting_set,
    .setting_get = sqlite_setting_get,
};

static struct sqlite_store *
sqlite_store_new(const char *path)
{
    struct sqlite_store *store;

    store = calloc(1, sizeof(*store));
    if (store == NULL)
        return NULL;
    store->path = store_strdup(path);
    if (store->path == NULL) {
        free(store);
        return NULL;
    }
    store->base.ops = &sqlite_ops;
    pthread_mutex_init(&store->lock, NULL);
    pthread_cond_init(&store->released, NULL);
    return store;
}

/*
 * Opens the database at path, creating it with mode 0600 if needed, and
 * upgrades its schema. The first connection is opened here, so a file that
 * cannot be used is reported now rather than on the first request.
 */
enum adcp_status
store_open_sqlite(const char *path, struct store **out,
                  struct adcp_error *err)
{
    struct sqlite_store *store = NULL;
    struct sqlite_conn *conn = NULL;
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
        return fail_memory("open the database", err);
    status = pool_acquire(store, &conn, err);
    if (status == ADCP_OK)
        status = schema_migrate(conn, path, err);
    pool_release(store, conn);
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
