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
#include <stdlib.h>

#include "api/http_internal.h"

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
    struct event_base *base;
    SSL_CTX *ctx;
};

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->base = event_base_new();
    assert_non_null(fx->base);
    fx->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(fx->ctx);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    libevent_alloc_fails = false;
    SSL_CTX_free(fx->ctx);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

static void
bufferevent_wraps_new_ssl(void **state)
{
    struct fixture *fx = *state;
    struct bufferevent *bev;
    SSL *ssl;

    bev = api_tls_bufferevent_new(fx->base, fx->ctx);
    assert_non_null(bev);
    ssl = bufferevent_openssl_get_ssl(bev);
    assert_non_null(ssl);
    assert_ptr_equal(SSL_get_SSL_CTX(ssl), fx->ctx);
    assert_int_equal(SSL_is_server(ssl), 1);
    assert_non_null(SSL_get_info_callback(ssl));
    bufferevent_free(bev);
}

/* libevent frees the SSL itself when the call fails, so a second SSL_free
 * would be a double free, which AddressSanitizer and glibc abort on. */
static void
bufferevent_failure_frees_ssl_once(void **state)
{
    struct fixture *fx = *state;
    struct bufferevent *bev;

    libevent_alloc_fails = true;
    bev = api_tls_bufferevent_new(fx->base, fx->ctx);
    libevent_alloc_fails = false;
    assert_null(bev);

    /* The context still works, so its reference count stayed sound. */
    bev = api_tls_bufferevent_new(fx->base, fx->ctx);
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
