#include "hal/pkcs11_session.h"

#include <stdlib.h>
#include <string.h>

static void
call_begin(const struct pkcs11_pool *pool)
{
    if (pool->call_lock != NULL)
        pthread_mutex_lock(pool->call_lock);
}

static void
call_end(const struct pkcs11_pool *pool)
{
    if (pool->call_lock != NULL)
        pthread_mutex_unlock(pool->call_lock);
}

static CK_RV
session_open(struct pkcs11_pool *pool, CK_SLOT_ID slot,
             CK_SESSION_HANDLE *out)
{
    CK_RV rv;

    call_begin(pool);
    rv = pool->fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                 NULL, NULL, out);
    call_end(pool);
    return rv;
}

static void
session_close(struct pkcs11_pool *pool, CK_SESSION_HANDLE session)
{
    /* The result is ignored: a session of a lost device is gone anyway. */
    call_begin(pool);
    (void)pool->fn->C_CloseSession(session);
    call_end(pool);
}

int
pkcs11_pool_init(struct pkcs11_pool *pool, CK_FUNCTION_LIST *fn,
                 pthread_mutex_t *call_lock, size_t capacity)
{
    memset(pool, 0, sizeof(*pool));
    if (capacity == 0)
        capacity = PKCS11_POOL_DEFAULT_SIZE;
    pool->idle = calloc(capacity, sizeof(*pool->idle));
    if (pool->idle == NULL)
        return -1;
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        free(pool->idle);
        return -1;
    }
    if (pthread_cond_init(&pool->changed, NULL) != 0) {
        pthread_mutex_destroy(&pool->lock);
        free(pool->idle);
        return -1;
    }
    pool->fn = fn;
    pool->call_lock = call_lock;
    pool->capacity = capacity;
    pool->anchor = CK_INVALID_HANDLE;
    return 0;
}

void
pkcs11_pool_destroy(struct pkcs11_pool *pool)
{
    if (pool->idle == NULL)
        return;
    pkcs11_pool_close(pool);
    pthread_cond_destroy(&pool->changed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->idle);
    pool->idle = NULL;
}

CK_RV
pkcs11_pool_open(struct pkcs11_pool *pool, CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE anchor = CK_INVALID_HANDLE;
    CK_RV rv;

    rv = session_open(pool, slot, &anchor);
    if (rv != CKR_OK)
        return rv;
    pthread_mutex_lock(&pool->lock);
    if (pool->open) {
        /* Defensive: the caller serialises open and close, so another
         * anchor should never exist here. Keep the first one. */
        pthread_mutex_unlock(&pool->lock);
        session_close(pool, anchor);
        return CKR_OK;
    }
    pool->slot = slot;
    pool->anchor = anchor;
    pool->open = true;
    pool->logged_in = false;
    pthread_mutex_unlock(&pool->lock);
    return CKR_OK;
}

CK_RV
pkcs11_pool_login(struct pkcs11_pool *pool, const char *pin)
{
    CK_SESSION_HANDLE anchor;
    CK_RV rv;

    pthread_mutex_lock(&pool->lock);
    anchor = pool->anchor;
    pthread_mutex_unlock(&pool->lock);
    if (anchor == CK_INVALID_HANDLE)
        return CKR_SESSION_CLOSED;
    call_begin(pool);
    /* The PKCS#11 prototype takes a non-const PIN but does not change it. */
    rv = pool->fn->C_Login(anchor, CKU_USER, (CK_UTF8CHAR_PTR)pin,
                           (CK_ULONG)strlen(pin));
    call_end(pool);
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        rv = CKR_OK;
    if (rv == CKR_OK) {
        pthread_mutex_lock(&pool->lock);
        pool->logged_in = pool->anchor == anchor;
        pthread_cond_broadcast(&pool->changed);
        pthread_mutex_unlock(&pool->lock);
    }
    return rv;
}

void
pkcs11_pool_close(struct pkcs11_pool *pool)
{
    CK_SESSION_HANDLE *idle = NULL;
    CK_SESSION_HANDLE anchor;
    size_t idle_count;
    CK_SLOT_ID slot;
    bool was_open;
    CK_RV rv;

    pthread_mutex_lock(&pool->lock);
    idle_count = pool->idle_count;
    if (idle_count > 0) {
        idle = malloc(idle_count * sizeof(*idle));
        if (idle != NULL)
            memcpy(idle, pool->idle, idle_count * sizeof(*idle));
    }
    anchor = pool->anchor;
    slot = pool->slot;
    was_open = pool->open;
    pool->idle_count = 0;
    pool->opened = 0;
    pool->anchor = CK_INVALID_HANDLE;
    pool->open = false;
    pool->logged_in = false;
    pool->generation++;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);

    if (!was_open)
        goto out;
    /* C_CloseAllSessions also closes the sessions lent out now, so their
     * handles are dropped, never closed, when they come back: a module
     * may have given the same number to a new session by then. */
    call_begin(pool);
    rv = pool->fn->C_CloseAllSessions(slot);
    call_end(pool);
    if (rv != CKR_FUNCTION_NOT_SUPPORTED)
        goto out;
    for (size_t i = 0; idle != NULL && i < idle_count; i++)
        session_close(pool, idle[i]);
    session_close(pool, anchor);
out:
    free(idle);
}

CK_RV
pkcs11_pool_borrow(struct pkcs11_pool *pool, struct pkcs11_session *out)
{
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_SLOT_ID slot;
    unsigned generation;
    CK_RV rv;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (!pool->open || !pool->logged_in) {
            pthread_mutex_unlock(&pool->lock);
            return CKR_SESSION_CLOSED;
        }
        if (pool->idle_count > 0) {
            out->handle = pool->idle[--pool->idle_count];
            out->generation = pool->generation;
            pool->lent++;
            pthread_mutex_unlock(&pool->lock);
            return CKR_OK;
        }
        if (pool->opened < pool->capacity)
            break;
        pthread_cond_wait(&pool->changed, &pool->lock);
    }

    /* Reserve the place, then open outside the lock: C_OpenSession may
     * be slow on a network HSM. */
    pool->opened++;
    pool->lent++;
    slot = pool->slot;
    generation = pool->generation;
    pthread_mutex_unlock(&pool->lock);

    rv = session_open(pool, slot, &session);

    pthread_mutex_lock(&pool->lock);
    if (rv != CKR_OK || generation != pool->generation) {
        pool->lent--;
        if (generation == pool->generation)
            pool->opened--;
        pthread_cond_broadcast(&pool->changed);
        pthread_mutex_unlock(&pool->lock);
        if (rv == CKR_OK) {
            session_close(pool, session);
            rv = CKR_SESSION_CLOSED;
        }
        return rv;
    }
    pthread_mutex_unlock(&pool->lock);
    out->handle = session;
    out->generation = generation;
    return CKR_OK;
}

void
pkcs11_pool_return(struct pkcs11_pool *pool,
                   const struct pkcs11_session *session, bool discard)
{
    bool current;

    pthread_mutex_lock(&pool->lock);
    pool->lent--;
    current = session->generation == pool->generation;
    if (current && !discard && pool->idle_count < pool->capacity) {
        pool->idle[pool->idle_count++] = session->handle;
        pthread_cond_signal(&pool->changed);
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    if (!current) {
        /* pkcs11_pool_close closed it already. */
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    pool->opened--;
    /* The place is free again, so a waiter may open a new session. */
    pthread_cond_signal(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
    session_close(pool, session->handle);
}

bool
pkcs11_pool_is_logged_in(struct pkcs11_pool *pool)
{
    bool logged_in;

    pthread_mutex_lock(&pool->lock);
    logged_in = pool->open && pool->logged_in;
    pthread_mutex_unlock(&pool->lock);
    return logged_in;
}

size_t
pkcs11_pool_capacity(const struct pkcs11_pool *pool)
{
    return pool->capacity;
}
