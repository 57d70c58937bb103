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

void
api_queue_submit(struct api_call *call)
{
    struct api_queue *queue = &call->worker->server->queue;

    call->worker->pending++;
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

static void *
handler_main(void *arg)
{
    struct api_server *server = arg;
    struct api_call *call;

    while ((call = queue_take(&server->queue)) != NULL) {
        /* A stopping worker waits only for the calls already running, so
         * the calls still queued for it get the 503 at once. */
        if (atomic_load(&call->worker->stopping))
            api_call_refuse(call);
        else
            api_call_run(server, call);
        call_handled(call);
    }
    return NULL;
}

int
api_queue_init(struct api_server *server)
{
    struct api_queue *queue = &server->queue;

    queue->threads = calloc(queue->thread_count, sizeof(*queue->threads));
    if (queue->threads == NULL) {
        log_error("out of memory creating %u handler threads for %s",
                  queue->thread_count, server->address);
        return -1;
    }
    pthread_mutex_init(&queue->lock, NULL);
    pthread_cond_init(&queue->queued, NULL);
    queue->ready = true;
    return 0;
}

void
api_queue_free(struct api_server *server)
{
    struct api_queue *queue = &server->queue;

    if (queue->ready) {
        pthread_cond_destroy(&queue->queued);
        pthread_mutex_destroy(&queue->lock);
    }
    free(queue->threads);
    memset(queue, 0, sizeof(*queue));
}

int
api_queue_start(struct api_server *server)
{
    struct api_queue *queue = &server->queue;
    int rc = 0;

    queue->stopping = false;
    for (; queue->started < queue->thread_count; queue->started++) {
        rc = thread_start(&queue->threads[queue->started], handler_main,
                          server, "api-handler");
        if (rc != 0) {
            log_error("starting handler thread %u of %s failed: %s",
                      queue->started, server->address, strerror(rc));
            break;
        }
    }
    return rc == 0 ? 0 : -1;
}

void
api_queue_stop(struct api_server *server)
{
    struct api_queue *queue = &server->queue;

    pthread_mutex_lock(&queue->lock);
    queue->stopping = true;
    pthread_cond_broadcast(&queue->queued);
    pthread_mutex_unlock(&queue->lock);
    for (; queue->started > 0; queue->started--)
        pthread_join(queue->threads[queue->started - 1], NULL);
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

void
api_worker_stop(struct api_worker *worker)
{
    atomic_store(&worker->stopping, true);
    if (worker->listener != NULL)
        evconnlistener_disable(worker->listener);
    if (worker->pending == 0) {
        exit_after_flush(worker);
        return;
    }
    log_info("a worker of %s stops once its %u requests in progress are "
             "answered",
             worker->server->address, worker->pending);
}
