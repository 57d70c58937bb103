/*
 * SQLite back end: the writer thread and its queue (group commit).
 *
 * With synchronous=FULL every COMMIT waits for an fsync of the WAL, so
 * committing each write on its own caps the store at one write per fsync
 * and makes concurrent writers queue for SQLite's write lock. Instead,
 * callers queue jobs, and one thread per store takes every job queued so
 * far and commits them together:
 *
 *   BEGIN IMMEDIATE
 *   SAVEPOINT job; (job 1) RELEASE job
 *   SAVEPOINT job; (job 2 fails) ROLLBACK TO job; RELEASE job
 *   ...
 *   COMMIT
 *
 * A caller of a durable write waits until the COMMIT of its batch has
 * returned, so durability is that of a write committed on its own. A
 * detached job (an audit entry) is not waited for. Because jobs run in
 * queue order, it is durable once a durable write queued after it has
 * returned.
 *
 * Callers that are about to queue a write announce it first
 * (store_expect_write). A batch then waits, at most batch_wait_usec, for
 * the writes announced before it began, so that requests signed at the
 * same time share one commit and its fsync even at low concurrency.
 */
#include "store/store_sqlite-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/thread.h"

void
store_sqlite_writer_init(struct store_sqlite *store)
{
    struct store_sqlite_writer *writer = &store->writer;

    pthread_condattr_t monotonic;

    memset(writer, 0, sizeof(*writer));
    writer->batch_wait_usec = STORE_SQLITE_BATCH_WAIT_USEC;
    pthread_mutex_init(&writer->lock, NULL);
    /* The batch wait has a deadline, which must not move with the wall
     * clock. */
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&writer->queued, &monotonic);
    pthread_condattr_destroy(&monotonic);
    pthread_cond_init(&writer->space, NULL);
    pthread_cond_init(&writer->finished, NULL);
}

/* Running a batch. */

/*
 * Runs one job, inside its own savepoint unless it is one statement, so
 * that a failed job leaves the batch's other writes alone. The job's
 * result goes into job->status and job->err. Returns ADCP_OK while the
 * batch's transaction can go on, or ADCP_ERR_STORAGE with err filled when
 * it cannot: a savepoint statement failed, or SQLite rolled the whole
 * transaction back after an error such as SQLITE_FULL or SQLITE_IOERR.
 */
static enum adcp_status
job_run(struct store_sqlite_conn *conn, struct store_sqlite_job *job,
        struct adcp_error *err)
{
    enum adcp_status status = ADCP_OK;

    if (!job->one_statement)
        status = store_sqlite_run(conn, STMT_SAVEPOINT, "begin a savepoint",
                                  err);
    if (status != ADCP_OK)
        return status;
    job->status = job->run(conn, job, &job->err);
    if (sqlite3_get_autocommit(conn->db)) {
        *err = job->err;
        err->code = ADCP_ERR_STORAGE;
        return ADCP_ERR_STORAGE;
    }
    if (job->one_statement)
        return ADCP_OK;
    if (job->status != ADCP_OK)
        status = store_sqlite_run(conn, STMT_SAVEPOINT_ROLLBACK,
                                  "roll back a savepoint", err);
    if (status == ADCP_OK)
        status = store_sqlite_run(conn, STMT_SAVEPOINT_RELEASE,
                                  "release a savepoint", err);
    return status;
}

static size_t
batch_count_detached(const struct store_sqlite_job *batch)
{
    size_t count = 0;

    for (; batch != NULL; batch = batch->next)
        if (batch->detached)
            count++;
    return count;
}

/* Gives every job of a failed batch the batch's error, because none of
 * the batch's writes reached the file. */
static void
batch_fail(struct store_sqlite_job *batch, size_t count,
           const struct adcp_error *err)
{
    log_error("a batch of %zu writes was rolled back, %zu audit entries "
              "among them are lost: %s",
              count, batch_count_detached(batch), err->message);
    for (; batch != NULL; batch = batch->next) {
        batch->status = ADCP_ERR_STORAGE;
        batch->err = *err;
    }
}

/* Runs the count jobs of batch in one transaction on the writer's
 * connection and sets each job's status. */
static void
batch_run(struct store_sqlite *store, struct store_sqlite_job *batch,
          size_t count)
{
    struct store_sqlite_conn *conn = store->writer.conn;
    struct adcp_error err = {0};
    enum adcp_status status;
    size_t failed = 0;

    status = store_sqlite_begin_write(conn, "begin a batch of writes", &err);
    for (struct store_sqlite_job *job = batch;
         job != NULL && status == ADCP_OK; job = job->next) {
        status = job_run(conn, job, &err);
        if (job->status != ADCP_OK)
            failed++;
    }
    if (status == ADCP_OK)
        status = store_sqlite_commit(conn, "commit a batch of writes", &err);
    if (status != ADCP_OK) {
        store_sqlite_abandon(conn);
        batch_fail(batch, count, &err);
        return;
    }
    log_debug("committed a batch of %zu writes; %zu of them failed and were "
              "rolled back alone",
              count, failed);
}

/* Wakes the callers of a finished batch and frees its detached jobs. A
 * waiting caller may return and free its job as soon as the lock is
 * dropped, so the writer reads job->next before marking the job done. */
static void
batch_finish_inlock(struct store_sqlite_writer *writer,
                    struct store_sqlite_job *batch, size_t count)
{
    struct store_sqlite_job *next;

    for (struct store_sqlite_job *job = batch; job != NULL; job = next) {
        next = job->next;
        if (job->detached) {
            free(job);
        } else {
            job->done = true;
            if (job->notify != NULL)
                job->notify(job->notify_arg);
        }
    }
    writer->batch_length = 0;
    writer->finished_total += count;
    pthread_cond_broadcast(&writer->finished);
}

/* Waits, at most writer->batch_wait_usec, until as many announced writes
 * are done as had been announced when the batch began. */
static void
wait_for_announced_inlock(struct store_sqlite_writer *writer)
{
    uint64_t announced = writer->expected_total;
    struct timespec deadline;
    long nsec;

    if (writer->expected_done >= announced || writer->batch_wait_usec == 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    nsec = deadline.tv_nsec + (long)writer->batch_wait_usec * 1000L;
    deadline.tv_sec += nsec / 1000000000L;
    deadline.tv_nsec = nsec % 1000000000L;
    while (writer->expected_done < announced && !writer->stopping &&
           writer->length < STORE_SQLITE_QUEUE_MAX)
        if (pthread_cond_timedwait(&writer->queued, &writer->lock,
                                   &deadline) == ETIMEDOUT)
            break;
}

/* The writer thread: takes the whole queue as one batch, runs it without
 * the lock, and repeats until store_close has set stopping and the queue
 * is empty. */
static void *
writer_main(void *arg)
{
    struct store_sqlite *store = arg;
    struct store_sqlite_writer *writer = &store->writer;
    struct store_sqlite_job *batch;
    size_t count;

    pthread_mutex_lock(&writer->lock);
    for (;;) {
        while (writer->head == NULL && !writer->stopping)
            pthread_cond_wait(&writer->queued, &writer->lock);
        if (writer->head == NULL)
            break;
        wait_for_announced_inlock(writer);
        batch = writer->head;
        count = writer->length;
        writer->head = NULL;
        writer->tail = NULL;
        writer->length = 0;
        writer->batch_length = count;
        pthread_cond_broadcast(&writer->space);
        pthread_mutex_unlock(&writer->lock);

        batch_run(store, batch, count);

        pthread_mutex_lock(&writer->lock);
        batch_finish_inlock(writer, batch, count);
    }
    pthread_mutex_unlock(&writer->lock);
    return NULL;
}

/* Starting and stopping. */

enum adcp_status
store_sqlite_writer_start(struct store_sqlite *store, struct adcp_error *err)
{
    struct store_sqlite_writer *writer = &store->writer;
    enum adcp_status status;
    int rc;

    status = store_sqlite_conn_open(store, &writer->conn, err);
    if (status != ADCP_OK)
        return status;
    rc = thread_start(&writer->thread, writer_main, store, "store-writer");
    if (rc != 0) {
        log_error("failed to start the writer thread of %s: %s", store->path,
                  strerror(rc));
        store_sqlite_conn_close(writer->conn);
        writer->conn = NULL;
        return adcp_error_set(err, ADCP_ERR_STORAGE, "",
                              "the writer thread of database %s could not "
                              "be started: %s; check the process's thread "
                              "limit (ulimit -u)",
                              store->path, strerror(rc));
    }
    writer->running = true;
    return ADCP_OK;
}

void
store_sqlite_writer_stop(struct store_sqlite *store)
{
    struct store_sqlite_writer *writer = &store->writer;

    pthread_mutex_lock(&writer->lock);
    writer->stopping = true;
    pthread_cond_broadcast(&writer->queued);
    pthread_cond_broadcast(&writer->space);
    pthread_mutex_unlock(&writer->lock);
    if (writer->running) {
        pthread_join(writer->thread, NULL);
        writer->running = false;
    }
    store_sqlite_conn_close(writer->conn);
    writer->conn = NULL;
    pthread_cond_destroy(&writer->finished);
    pthread_cond_destroy(&writer->space);
    pthread_cond_destroy(&writer->queued);
    pthread_mutex_destroy(&writer->lock);
}

/* Queueing. */

/* Appends job to the queue, waiting while the queue is full. Fails when
 * the store is closing or its writer never started. */
static enum adcp_status
queue_push_inlock(struct store_sqlite *store, struct store_sqlite_job *job,
                  struct adcp_error *err)
{
    struct store_sqlite_writer *writer = &store->writer;

    while (writer->length >= STORE_SQLITE_QUEUE_MAX && !writer->stopping)
        pthread_cond_wait(&writer->space, &writer->lock);
    if (writer->stopping || !writer->running) {
        log_error("failed to %s: database %s is closing", job->op,
                  store->path);
        return adcp_error_set(err, ADCP_ERR_STORAGE, "",
                              "storage could not %s: database %s is "
                              "closing; retry the request when the service "
                              "runs again",
                              job->op, store->path);
    }
    job->next = NULL;
    job->done = false;
    job->notify = NULL;
    job->status = ADCP_ERR_INTERNAL;
    adcp_error_clear(&job->err);
    if (writer->tail != NULL)
        writer->tail->next = job;
    else
        writer->head = job;
    writer->tail = job;
    writer->length++;
    writer->queued_total++;
    pthread_cond_signal(&writer->queued);
    return ADCP_OK;
}

enum adcp_status
store_sqlite_write_queued(struct store_sqlite *store,
                          struct store_sqlite_job *job,
                          struct adcp_error *err)
{
    struct store_sqlite_writer *writer = &store->writer;
    enum adcp_status status;

    job->detached = false;
    pthread_mutex_lock(&writer->lock);
    status = queue_push_inlock(store, job, err);
    pthread_mutex_unlock(&writer->lock);
    return status;
}

void
store_sqlite_job_notify(struct store_sqlite *store,
                        struct store_sqlite_job *job, store_ticket_fn done,
                        void *arg)
{
    struct store_sqlite_writer *writer = &store->writer;
    bool finished;

    pthread_mutex_lock(&writer->lock);
    finished = job->done;
    if (!finished) {
        job->notify = done;
        job->notify_arg = arg;
    }
    pthread_mutex_unlock(&writer->lock);
    if (finished)
        done(arg);
}

enum adcp_status
store_sqlite_job_wait(struct store_sqlite *store, struct store_sqlite_job *job,
                      struct adcp_error *err)
{
    struct store_sqlite_writer *writer = &store->writer;

    pthread_mutex_lock(&writer->lock);
    while (!job->done)
        pthread_cond_wait(&writer->finished, &writer->lock);
    pthread_mutex_unlock(&writer->lock);
    if (job->status != ADCP_OK && err != NULL)
        *err = job->err;
    return job->status;
}

enum adcp_status
store_sqlite_write(struct store_sqlite *store, struct store_sqlite_job *job,
                   struct adcp_error *err)
{
    enum adcp_status status;

    status = store_sqlite_write_queued(store, job, err);
    if (status != ADCP_OK)
        return status;
    return store_sqlite_job_wait(store, job, err);
}

enum adcp_status
store_sqlite_write_detached(struct store_sqlite *store,
                            struct store_sqlite_job *job,
                            struct adcp_error *err)
{
    struct store_sqlite_writer *writer = &store->writer;
    enum adcp_status status;

    job->detached = true;
    pthread_mutex_lock(&writer->lock);
    status = queue_push_inlock(store, job, err);
    pthread_mutex_unlock(&writer->lock);
    if (status != ADCP_OK)
        free(job);
    return status;
}

void
store_sqlite_expect_write(struct store *base)
{
    struct store_sqlite_writer *writer = &store_sqlite_from(base)->writer;

    pthread_mutex_lock(&writer->lock);
    writer->expected_total++;
    pthread_mutex_unlock(&writer->lock);
}

void
store_sqlite_expect_write_done(struct store *base)
{
    struct store_sqlite_writer *writer = &store_sqlite_from(base)->writer;

    pthread_mutex_lock(&writer->lock);
    writer->expected_done++;
    pthread_cond_signal(&writer->queued);
    pthread_mutex_unlock(&writer->lock);
}

void
store_sqlite_set_batch_wait(struct store *base, unsigned usec)
{
    struct store_sqlite_writer *writer = &store_sqlite_from(base)->writer;

    pthread_mutex_lock(&writer->lock);
    writer->batch_wait_usec = usec;
    pthread_mutex_unlock(&writer->lock);
}

void
store_sqlite_writer_flush(struct store_sqlite *store)
{
    struct store_sqlite_writer *writer = &store->writer;
    uint64_t target;

    pthread_mutex_lock(&writer->lock);
    target = writer->queued_total;
    while (writer->running && writer->finished_total < target)
        pthread_cond_wait(&writer->finished, &writer->lock);
    pthread_mutex_unlock(&writer->lock);
}

void
store_sqlite_stats(struct store *base, struct store_sqlite_stats *out)
{
    struct store_sqlite *store = store_sqlite_from(base);
    struct store_sqlite_writer *writer = &store->writer;

    memset(out, 0, sizeof(*out));
    out->commits = atomic_load(&store->commits);
    pthread_mutex_lock(&writer->lock);
    out->queued = writer->length;
    out->running = writer->batch_length;
    pthread_mutex_unlock(&writer->lock);
}
