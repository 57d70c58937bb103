/*
 * Internal interface of the SQLite back end. store_sqlite.c owns the
 * connection pool, statement cache, transactions, schema upgrades and
 * opening. store_sqlite_writer.c owns the writer thread that commits
 * writes in batches. store_sqlite_hosts.c, store_sqlite_records.c and
 * store_sqlite_revoke.c implement the operations on rows with these
 * helpers.
 *
 * A read takes a connection with store_sqlite_acquire, uses its cached
 * statements and gives it back with store_sqlite_release, which also
 * rolls back a transaction left open by a failure. A write is a job that
 * the writer thread runs on its own connection (group commit, below).
 */
#ifndef HSM4SSL_STORE_SQLITE_INTERNAL_H
#define HSM4SSL_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "store/store-internal.h"

/* NOTE: the limit is a guess: one connection per worker thread on a host
 * of up to 16 cores. Threads beyond it wait for a free connection. */
#define STORE_SQLITE_POOL_MAX 16

/* Statements cached per connection; their SQL is in store_sqlite.c. */
enum store_sqlite_stmt {
    STMT_BEGIN = 0,
    STMT_BEGIN_IMMEDIATE,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_SAVEPOINT_ROLLBACK,
    STMT_SAVEPOINT_RELEASE,
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
    STMT_CERT_REVOKE,
    STMT_CERT_REVOCATION,
    STMT_REVOKED_LIST,
    STMT_CRL_NUMBER_NEXT,
    STMT_KEY_INSERT,
    STMT_KEY_GET,
    STMT_AUDIT_INSERT,
    STMT_AUDIT_LAST_ID,
    STMT_COUNT_HOSTS,
    STMT_COUNT_CERTIFICATES,
    STMT_COUNT_KEYS,
    STMT_COUNT_AUDIT_LOG,
    STMT_COUNT_ENROLLMENT_TOKENS,
    STMT_SETTING_SET,
    STMT_SETTING_GET,
    STMT_ID_COUNT
};

/* One connection and its prepared statements, used by one thread at a
 * time. */
struct store_sqlite_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_ID_COUNT]; /* prepared on first use */
};

/*
 * Group commit. Every write is a job that its caller queues. One writer
 * thread per store takes all jobs queued so far and runs them in one
 * BEGIN IMMEDIATE transaction, each job inside a savepoint of its own, so
 * one fsync'ed COMMIT serves the whole batch. A job that fails rolls back
 * its savepoint and reports its own error while the others commit. A
 * batch whose transaction fails reports ADCP_ERR_STORAGE to every job in
 * it. Jobs run in the order they were queued.
 *
 * NOTE: the bound is a chosen size, not a measured one: about a second of
 * audit entries at a few thousand requests per second.
 */
#define STORE_SQLITE_QUEUE_MAX 10000

/* The maximum time a batch waits for writes announced before it began. A
 * signature by a software token takes well under this, so the wait
 * collects the certificates being signed, and a slow HSM costs each
 * batch at most this much latency. */
#define STORE_SQLITE_BATCH_WAIT_USEC 2000

struct store_sqlite_job;

/* Runs one job's statements on the writer's connection, inside the
 * batch's transaction and the job's savepoint. Returns ADCP_OK, or the
 * job's error with err filled; the writer then rolls back the savepoint.
 * Results for the caller go into the job's own struct. */
typedef enum adcp_status (*store_sqlite_job_fn)(struct store_sqlite_conn *conn,
                                                struct store_sqlite_job *job,
                                                struct adcp_error *err);

/*
 * One queued write. It is the first member of an operation's own struct,
 * which contains the arguments and the results, so run converts the
 * pointer back. A job whose caller waits usually lives on that caller's stack. A
 * detached job (nobody waits) is one malloc'ed block that begins with the
 * job, and the writer frees it once its batch has finished.
 */
struct store_sqlite_job {
    store_sqlite_job_fn run;
    const char *op; /* verb phrase for logs, such as "add certificate" */
    /* The job runs one statement. SQLite backs out a failed statement's
     * changes on its own, so the job needs no savepoint of its own. */
    bool one_statement;
    /* Set by the queue functions and the writer, under writer.lock. */
    struct store_sqlite_job *next;
    bool detached;
    bool done; /* the job's batch has committed or failed */
    /* Called by the writer under writer.lock when done is set, for a
     * queued job whose caller does not wait (see store_ticket_notify). */
    store_ticket_fn notify;
    void *notify_arg;
    enum adcp_status status;
    struct adcp_error err;
};

struct store_sqlite_writer {
    pthread_mutex_t lock;    /* guards the members up to running */
    pthread_cond_t queued;   /* a job was queued, or stopping was set */
    pthread_cond_t space;    /* the queue has room again */
    pthread_cond_t finished; /* a batch finished: waiters check job->done */
    struct store_sqlite_job *head; /* FIFO of jobs not yet taken */
    struct store_sqlite_job *tail;
    size_t length;         /* jobs in the FIFO */
    size_t batch_length;   /* jobs the writer is running now */
    uint64_t queued_total; /* jobs ever queued */
    /* Jobs whose batch has finished. Jobs finish in the order they were
     * queued, so every job numbered up to this one has finished. */
    uint64_t finished_total;
    /* Writes announced by store_expect_write, and how many of them are
     * done (queued, or given up). */
    uint64_t expected_total;
    uint64_t expected_done;
    unsigned batch_wait_usec; /* maximum wait of a batch for them */
    bool stopping; /* store_close has begun; the writer drains and exits */
    bool running;  /* the thread was started and not yet joined */
    pthread_t thread;
    struct store_sqlite_conn *conn; /* used by the writer thread only */
};

struct store_sqlite {
    struct store base; /* first, so a struct store * converts back */
    char *path;
    pthread_mutex_t lock; /* guards idle, idle_count and open_count */
    pthread_cond_t released;
    struct store_sqlite_conn *idle[STORE_SQLITE_POOL_MAX];
    size_t idle_count;
    size_t open_count; /* idle and in use; at most STORE_SQLITE_POOL_MAX */
    struct store_sqlite_writer writer;
    /* Write transactions committed by every connection of this store,
     * counted by an SQLite commit hook; read by store_sqlite_stats. */
    atomic_uint_least64_t commits;
    atomic_uint failing_commits; /* see store_sqlite_fail_commits */
};

static inline struct store_sqlite *
store_sqlite_from(struct store *store)
{
    return (struct store_sqlite *)store;
}

/* Connections. store_sqlite_conn_open opens and configures a connection
 * of store's file; store_sqlite_conn_close accepts NULL. */

enum adcp_status store_sqlite_conn_open(struct store_sqlite *store,
                                        struct store_sqlite_conn **out,
                                        struct adcp_error *err);
void store_sqlite_conn_close(struct store_sqlite_conn *conn);
enum adcp_status store_sqlite_acquire(struct store_sqlite *store,
                                      struct store_sqlite_conn **out,
                                      struct adcp_error *err);
void store_sqlite_release(struct store_sqlite *store,
                          struct store_sqlite_conn *conn);

/* Statements: store_sqlite_stmt prepares on first use and returns the
 * cached statement; store_sqlite_stmt_done resets it and accepts NULL. */

enum adcp_status store_sqlite_stmt(struct store_sqlite_conn *conn,
                                   enum store_sqlite_stmt id,
                                   sqlite3_stmt **out, const char *op,
                                   struct adcp_error *err);
void store_sqlite_stmt_done(sqlite3_stmt *stmt);

/* Transactions. A read transaction sees one snapshot of the database. A
 * write transaction takes the write lock at BEGIN (BEGIN IMMEDIATE),
 * waiting up to the busy timeout, so it cannot fail later because a read
 * lock could not be upgraded. */

enum adcp_status store_sqlite_begin_read(struct store_sqlite_conn *conn,
                                         const char *op,
                                         struct adcp_error *err);
enum adcp_status store_sqlite_begin_write(struct store_sqlite_conn *conn,
                                          const char *op,
                                          struct adcp_error *err);
enum adcp_status store_sqlite_commit(struct store_sqlite_conn *conn,
                                     const char *op, struct adcp_error *err);

/* Steps a cached statement that returns no rows (BEGIN, SAVEPOINT, ...). */
enum adcp_status store_sqlite_run(struct store_sqlite_conn *conn,
                                  enum store_sqlite_stmt id, const char *op,
                                  struct adcp_error *err);

/* Rolls back the connection's open transaction, if any, logging a failure
 * of the rollback itself. */
void store_sqlite_abandon(struct store_sqlite_conn *conn);

/* The writer thread (store_sqlite_writer.c). */

/* Initialises the queue; store_sqlite_writer_start opens the writer's
 * connection and starts its thread. */
void store_sqlite_writer_init(struct store_sqlite *store);
enum adcp_status store_sqlite_writer_start(struct store_sqlite *store,
                                           struct adcp_error *err);

/* Runs every job still queued, stops the thread, closes its connection and
 * destroys the queue. Safe to call when the thread was never started. */
void store_sqlite_writer_stop(struct store_sqlite *store);

/* Queues job and waits until its batch has committed or failed. Returns
 * the job's status and copies its error into err. Fails with
 * ADCP_ERR_STORAGE, without running the job, when the store is closing. */
enum adcp_status store_sqlite_write(struct store_sqlite *store,
                                    struct store_sqlite_job *job,
                                    struct adcp_error *err);

/* Queues job, which the caller owns, and returns without waiting.
 * store_sqlite_job_wait, called once, waits for its batch; before that,
 * store_sqlite_job_notify may request a call when the batch finishes. */
enum adcp_status store_sqlite_write_queued(struct store_sqlite *store,
                                           struct store_sqlite_job *job,
                                           struct adcp_error *err);
void store_sqlite_job_notify(struct store_sqlite *store,
                             struct store_sqlite_job *job,
                             store_ticket_fn done, void *arg);
enum adcp_status store_sqlite_job_wait(struct store_sqlite *store,
                                       struct store_sqlite_job *job,
                                       struct adcp_error *err);

/* Queues a detached job and returns without waiting for its commit. Takes
 * ownership of job, a malloc'ed block that begins with the job, and frees
 * it also on failure. Waits only while the queue is full
 * (STORE_SQLITE_QUEUE_MAX jobs). */
enum adcp_status store_sqlite_write_detached(struct store_sqlite *store,
                                             struct store_sqlite_job *job,
                                             struct adcp_error *err);

/* Waits until every job queued before the call has finished, so that a
 * read afterwards sees the writes of detached jobs too. */
void store_sqlite_writer_flush(struct store_sqlite *store);

void store_sqlite_expect_write(struct store *base);
void store_sqlite_expect_write_done(struct store *base);

/* Sets how long a batch may wait for announced writes (default
 * STORE_SQLITE_BATCH_WAIT_USEC); tests lengthen it. */
void store_sqlite_set_batch_wait(struct store *base, unsigned usec);

/* Counters for tests and the database manager's statistics. */
struct store_sqlite_stats {
    uint64_t commits; /* write transactions committed, on every connection */
    size_t queued;    /* jobs waiting for the writer */
    size_t running;   /* jobs in the batch the writer is running now */
};

/* Fills out for base, which must be an SQLite store. */
void store_sqlite_stats(struct store *base, struct store_sqlite_stats *out);

/* Fault injection for tests: the next count commits on any connection of
 * base fail as if the disk had rejected them, and SQLite rolls each of
 * those transactions back. 0 turns it off. */
void store_sqlite_fail_commits(struct store *base, unsigned count);

/*
 * Errors. op is a verb phrase such as "add host", used in the log line
 * and in err's message. store_sqlite_fail maps an SQLite failure to
 * ADCP_ERR_STORAGE and logs it; call it before resetting the statement,
 * which would replace the connection's error message.
 */

enum adcp_status store_sqlite_fail(const struct store_sqlite_conn *conn, int rc,
                                   const char *op, struct adcp_error *err);
enum adcp_status store_sqlite_fail_corrupt(const char *column, const char *op,
                                           struct adcp_error *err);
enum adcp_status store_sqlite_fail_memory(const char *op,
                                          struct adcp_error *err);
enum adcp_status store_sqlite_fail_unknown_host(int64_t host_id,
                                                struct adcp_error *err);

/* True for a UNIQUE or PRIMARY KEY violation, which callers report as
 * ADCP_ERR_CONFLICT naming the value. Needs extended result codes, which
 * every connection enables. */
static inline bool
is_unique_violation(int rc)
{
    return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY;
}

/* Binders that keep the first failure in *rc and skip the rest, so a
 * statement's bindings read as a list followed by one check. Strings are
 * bound without a copy, so they must outlive the statement's step. */
static inline void
bind_text(sqlite3_stmt *stmt, int index, const char *value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_text(stmt, index, value, -1, SQLITE_STATIC);
}

static inline void
bind_int64(sqlite3_stmt *stmt, int index, int64_t value, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(stmt, index, value);
}

/* Binds value, or NULL when value is 0 (no host, not revoked). */
static inline void
bind_int64_or_null(sqlite3_stmt *stmt, int index, int64_t value, int *rc)
{
    if (*rc != SQLITE_OK)
        return;
    if (value == 0)
        *rc = sqlite3_bind_null(stmt, index);
    else
        *rc = sqlite3_bind_int64(stmt, index, value);
}

static inline void
bind_verifier(sqlite3_stmt *stmt, int index,
              const unsigned char verifier[STORE_VERIFIER_LEN], int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_blob(stmt, index, verifier, STORE_VERIFIER_LEN,
                                SQLITE_STATIC);
}

static inline bool
column_field(sqlite3_stmt *stmt, int column, char *dst, size_t size)
{
    return store_copy_field(dst, size,
                            (const char *)sqlite3_column_text(stmt, column));
}

/* Operations, one per member of struct store_ops. */

enum adcp_status store_sqlite_host_add(struct store *base,
                                       struct store_host *host,
                                       struct adcp_error *err);
enum adcp_status store_sqlite_host_get_by_name(struct store *base,
                                               const char *name,
                                               struct store_host *out,
                                               struct adcp_error *err);
enum adcp_status store_sqlite_host_get_by_id(struct store *base, int64_t id,
                                             struct store_host *out,
                                             struct adcp_error *err);
enum adcp_status
store_sqlite_enrollment_add(struct store *base, int64_t host_id,
                            const unsigned char verifier[STORE_VERIFIER_LEN],
                            time_t expires, struct adcp_error *err);
enum adcp_status store_sqlite_enrollment_consume(
    struct store *base, const unsigned char verifier[STORE_VERIFIER_LEN],
    int64_t *host_id, struct adcp_error *err);
enum adcp_status
store_sqlite_enrollment_lookup(struct store *base,
                               const unsigned char verifier[STORE_VERIFIER_LEN],
                               int64_t *host_id, struct adcp_error *err);
enum adcp_status store_sqlite_cert_add_queued(struct store *base,
                                              const struct store_cert *cert,
                                              struct store_ticket **ticket,
                                              struct adcp_error *err);
void store_sqlite_ticket_notify(struct store_ticket *ticket,
                                store_ticket_fn done, void *arg);
enum adcp_status store_sqlite_ticket_finish(struct store_ticket *ticket,
                                            struct adcp_error *err);
enum adcp_status store_sqlite_cert_add(struct store *base,
                                       const struct store_cert *cert,
                                       struct adcp_error *err);
enum adcp_status store_sqlite_cert_get(struct store *base, const char *serial,
                                       struct store_cert *out,
                                       struct adcp_error *err);
enum adcp_status store_sqlite_cert_revoke(struct store *base,
                                          const char *serial, int reason,
                                          time_t revoked_at,
                                          struct adcp_error *err);
enum adcp_status store_sqlite_revoked_foreach(struct store *base,
                                              time_t expired_before,
                                              store_revoked_fn fn, void *arg,
                                              struct adcp_error *err);
enum adcp_status store_sqlite_crl_number_next(struct store *base,
                                              int64_t *number,
                                              struct adcp_error *err);
enum adcp_status store_sqlite_key_add(struct store *base,
                                      const struct store_key *key,
                                      struct adcp_error *err);
enum adcp_status store_sqlite_key_get(struct store *base, const char *label,
                                      struct store_key *out,
                                      struct adcp_error *err);
enum adcp_status
store_sqlite_audit_append(struct store *base,
                          const struct store_audit_entry *entry,
                          struct adcp_error *err);
enum adcp_status store_sqlite_audit_last_id(struct store *base, char *out,
                                            size_t size,
                                            struct adcp_error *err);
enum adcp_status store_sqlite_count(struct store *base, enum store_table table,
                                    int64_t *count, struct adcp_error *err);
enum adcp_status store_sqlite_setting_set(struct store *base, const char *name,
                                          const char *value,
                                          struct adcp_error *err);
enum adcp_status store_sqlite_setting_get(struct store *base, const char *name,
                                          char *value, size_t size,
                                          struct adcp_error *err);

#endif
