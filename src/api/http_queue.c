/*
 * The request queue between the event loops and the handler threads.
 *
 * A worker's loop reads and parses requests, and queues each as a call.
 * Handler threads take calls in the order they were queued and run the
 * handler, which may sign in an HSM and so block. A handler may also
 * hold its response until work on a third thread has finished, such as
 * the commit of a certificate's row (see struct api_hold_ops). When the
 * response is ready, call_ready moves the call to its worker's ready list
 * and wakes the worker, which sends the reply in its own thread, because
 * libevent sends replies only there.
 *
 * One queue for all workers keeps the order fair: no request waits behind
 * a worker that happens to hold many busy connections.
 *
 * Calls that may keep a thread for long, such as RSA-8192 key pair
 * generations, run on a lane of their own with fewer threads: a handler
 * thread that takes one moves it to the slow queue. However many of them
 * arrive, the other requests keep their handler threads.
 */
#include "api/http_internal.h"

#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/thread.h"

/* How long a stopping worker's loop runs on after its last reply, so that
 * libevent writes out the replies still in its buffers. */
#define STOP_FLUSH_USEC 100000

static void
exit_after_flush(struct api_worker *worker)
{
    const struct timeval flush = {0, STOP_FLUSH_USEC};

    event_base_loopexit(worker->base, &flush);
}

/* Moves call to its worker's ready list and wakes the worker. Runs in
 * whichever thread finished the call, as done() of struct api_hold_ops
 * too. */
static void
call_ready(void *arg)
{
    struct api_call *call = arg;
    struct api_worker *worker = call->worker;

    /* event_active stays under the lock, so that api_queue_worker_free,
     * which takes it too, cannot free the event in between. */
    pthread_mutex_lock(&worker->ready_lock);
    call->next = worker->ready;
    worker->ready = call;
    event_active(worker->ready_event, EV_READ, 0);
    pthread_mutex_unlock(&worker->ready_lock);
}

/* The ready_event callback: sends the replies of the ready calls in the
 * worker's thread. */
static void
answer_ready(evutil_socket_t fd, short events, void *arg)
{
    struct api_worker *worker = arg;
    struct api_call *ready, *next;

    (void)fd;
    (void)events;
    pthread_mutex_lock(&worker->ready_lock);
    ready = worker->ready;
    worker->ready = NULL;
    pthread_mutex_unlock(&worker->ready_lock);
    for (; ready != NULL; ready = next) {
        next = ready->next;
        api_call_answer(ready);
        worker->pending--;
    }
    if (atomic_load(&worker->stopping) && worker->pending == 0)
        exit_after_flush(worker);
}

/* Appends call to queue and wakes one of its threads. */
static void
queue_put(struct api_queue *queue, struct api_call *call)
{
    call->next = NULL;
    pthread_mutex_lock(&queue->lock);
    if (queue->tail != NULL)
        queue->tail->next = call;
    else
        queue->head = call;
    queue->tail = call;
    pthread_cond_signal(&queue->queued);
    pthread_mutex_unlock(&queue->lock);
}

void
api_queue_submit(struct api_call *call)
{
    call->worker->pending++;
    queue_put(&call->worker->server->queue, call);
}

/* Takes the oldest call, waiting for one. Returns NULL once the queue is
 * stopping and empty. */
static struct api_call *
queue_take(struct api_queue *queue)
{
    struct api_call *call;

    pthread_mutex_lock(&queue->lock);
    while (queue->head == NULL && !queue->stopping)
        pthread_cond_wait(&queue->queued, &queue->lock);
    call = queue->head;
    if (call != NULL) {
        queue->head = call->next;
        if (queue->head == NULL)
            queue->tail = NULL;
    }
    pthread_mutex_unlock(&queue->lock);
    return call;
}

/* Hands a handled call to its worker, at once or when its hold is
 * released. */
static void
call_handled(struct api_call *call)
{
    if (call->response.hold != NULL)
        call->response.hold_ops->notify(call->response.hold, call_ready,
                                        call);
    else
        call_ready(call);
}

void
api_queue_run_here(struct api_call *call)
{
    api_call_run(call->worker->server, call);
    call_handled(call);
}

static bool
is_slow(const struct api_server *server, const struct api_call *call)
{
    return server->slow != NULL &&
           server->slow(server->ctx, &call->request);
}

static void *
handler_main(void *arg)
{
    struct api_queue *queue = arg;
    struct api_server *server = queue->server;
    struct api_call *call;

    while ((call = queue_take(queue)) != NULL) {
        /* A stopping worker waits only for the calls already running, so
         * the calls still queued for it get the 503 at once. */
        if (atomic_load(&call->worker->stopping)) {
            api_call_refuse(call);
        } else if (queue == &server->queue && is_slow(server, call)) {
            queue_put(&server->slow_queue, call);
            continue;
        } else {
            api_call_run(server, call);
        }
        call_handled(call);
    }
    return NULL;
}

static int
lane_init(struct api_server *server, struct api_queue *queue,
          const char *thread_name)
{
    queue->server = server;
    queue->thread_name = thread_name;
    queue->threads = calloc(queue->thread_count, sizeof(*queue->threads));
    if (queue->threads == NULL) {
        log_error("out of memory creating %u %s threads for %s",
                  queue->thread_count, thread_name, server->address);
        return -1;
    }
    pthread_mutex_init(&queue->lock, NULL);
    pthread_cond_init(&queue->queued, NULL);
    queue->ready = true;
    return 0;
}

int
api_queue_init(struct api_server *server)
{
    if (lane_init(server, &server->queue, "api-handler") != 0)
        return -1;
    return lane_init(server, &server->slow_queue, "api-slow");
}

static void
lane_free(struct api_queue *queue)
{
    if (queue->ready) {
        pthread_cond_destroy(&queue->queued);
        pthread_mutex_destroy(&queue->lock);
    }
    free(queue->threads);
    queue->threads = NULL;
    queue->ready = false;
    queue->head = queue->tail = NULL;
    queue->started = 0;
}

void
api_queue_free(struct api_server *server)
{
    lane_free(&server->queue);
    lane_free(&server->slow_queue);
}

static int
lane_start(struct api_queue *queue)
{
    int rc = 0;

    queue->stopping = false;
    for (; queue->started < queue->thread_count; queue->started++) {
        rc = thread_start(&queue->threads[queue->started], handler_main,
                          queue, queue->thread_name);
        if (rc != 0) {
            log_error("starting %s thread %u of %s failed: %s",
                      queue->thread_name, queue->started,
                      queue->server->address, strerror(rc));
            break;
        }
    }
    return rc == 0 ? 0 : -1;
}

int
api_queue_start(struct api_server *server)
{
    /* The slow lane starts first: handler threads move calls to it. */
    if (lane_start(&server->slow_queue) != 0)
        return -1;
    return lane_start(&server->queue);
}

static void
lane_stop(struct api_queue *queue)
{
    if (!queue->ready)
        return;
    pthread_mutex_lock(&queue->lock);
    queue->stopping = true;
    pthread_cond_broadcast(&queue->queued);
    pthread_mutex_unlock(&queue->lock);
    for (; queue->started > 0; queue->started--)
        pthread_join(queue->threads[queue->started - 1], NULL);
}

void
api_queue_stop(struct api_server *server)
{
    /* The slow lane stops last, once no handler thread can move a call
     * to it. */
    lane_stop(&server->queue);
    lane_stop(&server->slow_queue);
}

int
api_queue_worker_init(struct api_worker *worker)
{
    pthread_mutex_init(&worker->ready_lock, NULL);
    worker->ready_lock_made = true;
    worker->ready_event = event_new(worker->base, -1, 0, answer_ready,
                                    worker);
    if (worker->ready_event == NULL) {
        log_error("creating the reply event of a worker for %s failed",
                  worker->server->address);
        return -1;
    }
    return 0;
}

void
api_queue_worker_free(struct api_worker *worker)
{
    if (worker->ready_lock_made)
        pthread_mutex_lock(&worker->ready_lock);
    if (worker->ready_event != NULL)
        event_free(worker->ready_event);
    worker->ready_event = NULL;
    if (worker->ready_lock_made) {
        pthread_mutex_unlock(&worker->ready_lock);
        pthread_mutex_destroy(&worker->ready_lock);
    }
    worker->ready_lock_made = false;
}

/* Takes worker's calls out of queue and replies to each with 503 at once,
 * so that none waits for a free thread of its lane only to be rejected. */
static void
reject_queued(struct api_queue *queue, struct api_worker *worker)
{
    struct api_call *call, *next, *rejected = NULL, *kept = NULL;
    struct api_call **kept_tail = &kept;

    if (!queue->ready)
        return;
    pthread_mutex_lock(&queue->lock);
    for (call = queue->head; call != NULL; call = next) {
        next = call->next;
        if (call->worker == worker) {
            call->next = rejected;
            rejected = call;
            continue;
        }
        *kept_tail = call;
        queue->tail = call;
        kept_tail = &call->next;
    }
    *kept_tail = NULL;
    queue->head = kept;
    if (kept == NULL)
        queue->tail = NULL;
    pthread_mutex_unlock(&queue->lock);
    for (call = rejected; call != NULL; call = next) {
        next = call->next;
        api_call_refuse(call);
        call_ready(call);
    }
}

void
api_worker_stop(struct api_worker *worker)
{
    atomic_store(&worker->stopping, true);
    if (worker->listener != NULL)
        evconnlistener_disable(worker->listener);
    reject_queued(&worker->server->queue, worker);
    reject_queued(&worker->server->slow_queue, worker);
    if (worker->pending == 0) {
        exit_after_flush(worker);
        return;
    }
    log_info("a worker of %s stops once its %u requests in progress are "
             "answered",
             worker->server->address, worker->pending);
}
