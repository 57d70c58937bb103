/*
 * Held responses: a handler that must wait for work on another thread
 * (the commit of a certificate's row) returns with its response held
 * (see struct api_hold_ops). The worker then serves its other
 * connections meanwhile, instead of sleeping until the commit, so that
 * one commit covers the requests of every connection in flight.
 *
 * The thread that finishes the work calls on_ready, which moves the held
 * response to the worker's ready list and activates the worker's
 * held_event. answer_ready then finishes and sends each response in the
 * worker's own thread, because libevent sends replies only there.
 */
#include "api/http_internal.h"

#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* How long a stopping worker's loop runs on after its last response,
 * so that libevent writes out the replies still in its buffers. */
#define STOP_FLUSH_USEC 100000

/* A response waiting until its hold is released. */
struct api_held {
    struct api_held *next; /* in worker->held_ready */
    struct api_worker *worker;
    struct evhttp_request *req; /* kept by libevent until the reply */
    struct api_response response;
};

static void
exit_after_flush(struct api_worker *worker)
{
    const struct timeval flush = {0, STOP_FLUSH_USEC};

    event_base_loopexit(worker->base, &flush);
}

/* Finishes the hold and sends the response. Frees held. */
static void
answer(struct api_held *held)
{
    struct api_response *response = &held->response;

    response->hold_ops->finish(response->hold, response);
    response->hold = NULL;
    response->hold_ops = NULL;
    api_send_response(held->req, response);
    free(held);
}

/* done(arg) of struct api_hold_ops: runs in whichever thread finished the
 * work, so it only queues held for its worker. */
static void
on_ready(void *arg)
{
    struct api_held *held = arg;
    struct api_worker *worker = held->worker;

    pthread_mutex_lock(&worker->held_lock);
    held->next = worker->held_ready;
    worker->held_ready = held;
    pthread_mutex_unlock(&worker->held_lock);
    event_active(worker->held_event, EV_READ, 0);
}

/* The held_event callback, in the worker's thread. */
static void
answer_ready(evutil_socket_t fd, short events, void *arg)
{
    struct api_worker *worker = arg;
    struct api_held *ready, *next;

    (void)fd;
    (void)events;
    pthread_mutex_lock(&worker->held_lock);
    ready = worker->held_ready;
    worker->held_ready = NULL;
    pthread_mutex_unlock(&worker->held_lock);
    for (; ready != NULL; ready = next) {
        next = ready->next;
        answer(ready);
        worker->held_count--;
    }
    if (worker->stopping && worker->held_count == 0)
        exit_after_flush(worker);
}

void
api_hold_response(struct api_worker *worker, struct evhttp_request *req,
                  struct api_response *response)
{
    struct api_held *held;

    /* A stopping worker waits here, so that its count only falls. */
    held = worker->stopping ? NULL : calloc(1, sizeof(*held));
    if (held == NULL) {
        response->hold_ops->finish(response->hold, response);
        response->hold = NULL;
        response->hold_ops = NULL;
        api_send_response(req, response);
        return;
    }
    held->worker = worker;
    held->req = req;
    held->response = *response;
    memset(response, 0, sizeof(*response));
    worker->held_count++;
    held->response.hold_ops->notify(held->response.hold, on_ready, held);
}

void
api_hold_stop(struct api_worker *worker)
{
    worker->stopping = true;
    if (worker->listener != NULL)
        evconnlistener_disable(worker->listener);
    if (worker->held_count == 0) {
        exit_after_flush(worker);
        return;
    }
    log_info("a worker of %s stops once its %u held responses are sent",
             worker->server->address, worker->held_count);
}

int
api_hold_worker_init(struct api_worker *worker)
{
    pthread_mutex_init(&worker->held_lock, NULL);
    worker->held_lock_ready = true;
    worker->held_event = event_new(worker->base, -1, 0, answer_ready, worker);
    if (worker->held_event == NULL) {
        log_error("creating the held-response event of a worker for %s "
                  "failed", worker->server->address);
        return -1;
    }
    return 0;
}

void
api_hold_worker_free(struct api_worker *worker)
{
    if (worker->held_event != NULL)
        event_free(worker->held_event);
    worker->held_event = NULL;
    if (worker->held_lock_ready)
        pthread_mutex_destroy(&worker->held_lock);
    worker->held_lock_ready = false;
}
