/*
 * api_tls_bufferevent_new, the evhttp callback that wraps each accepted
 * connection in a TLS bufferevent, with real libevent and OpenSSL. The
 * failure case runs with libevent's allocator failing, as when memory
 * runs out under load, and the SSL must then be freed exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/http_internal.h"
#include "api/http_server.h"

/* While set, every allocation libevent makes fails. */
static bool libevent_alloc_fails;

static void *
failing_malloc(size_t size)
{
    return libevent_alloc_fails ? NULL : malloc(size);
}

static void *
failing_realloc(void *block, size_t size)
{
    return libevent_alloc_fails ? NULL : realloc(block, size);
}

static void
plain_free(void *block)
{
    free(block);
}

struct fixture {
    SSL_CTX *ctx;
    struct api_server *server; /* never run: its first worker is used */
};

static void
unused_handler(void *ctx, const struct api_request *request,
               struct api_response *response)
{
    (void)ctx;
    (void)request;
    (void)response;
}

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct api_server_config cfg = {0};

    assert_non_null(fx);
    fx->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(fx->ctx);
    snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
    cfg.ssl_ctx = fx->ctx;
    cfg.threads = 1;
    assert_int_equal(api_server_new(&cfg, unused_handler, NULL,
                                    &fx->server), 0);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    libevent_alloc_fails = false;
    api_server_free(fx->server);
    SSL_CTX_free(fx->ctx);
    free(fx);
    return 0;
}

static void
bufferevent_wraps_new_ssl(void **state)
{
    struct fixture *fx = *state;
    struct api_worker *worker = &fx->server->workers[0];
    struct bufferevent *bev;
    SSL *ssl;

    bev = api_tls_bufferevent_new(worker->base, worker);
    assert_non_null(bev);
    ssl = bufferevent_openssl_get_ssl(bev);
    assert_non_null(ssl);
    assert_ptr_equal(SSL_get_SSL_CTX(ssl), fx->ctx);
    assert_int_equal(SSL_is_server(ssl), 1);
    assert_non_null(SSL_get_info_callback(ssl));
    assert_non_null(worker->conns);
    bufferevent_free(bev);
}

/* libevent frees the SSL itself when the call fails, so a second SSL_free
 * would be a double free, which AddressSanitizer and glibc abort on. */
static void
bufferevent_failure_frees_ssl_once(void **state)
{
    struct fixture *fx = *state;
    struct api_worker *worker = &fx->server->workers[0];
    struct bufferevent *bev;

    libevent_alloc_fails = true;
    bev = api_tls_bufferevent_new(worker->base, worker);
    libevent_alloc_fails = false;
    assert_null(bev);
    /* Freeing the SSL also dropped the connection state attached to it. */
    assert_null(worker->conns);

    /* The context still works, so its reference count stayed sound. */
    bev = api_tls_bufferevent_new(worker->base, worker);
    assert_non_null(bev);
    bufferevent_free(bev);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bufferevent_wraps_new_ssl, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bufferevent_failure_frees_ssl_once,
                                        setup, teardown),
    };

    /* libevent takes its allocator before its first allocation. */
    event_set_mem_functions(failing_malloc, failing_realloc, plain_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
