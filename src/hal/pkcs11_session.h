/*
 * The session pool of one HSM. An anchor session holds the user login and
 * is never lent: PKCS#11 logs a token out when its last session closes, so
 * the anchor keeps the login alive while lent sessions are closed and
 * replaced. Lent sessions are read-write and opened on demand up to the
 * pool's capacity; borrowers wait on a condition variable when all are out.
 *
 * Closing the pool (for recovery or token initialisation) closes every
 * session of the slot, lent ones included, and starts a new generation:
 * a session of an older generation is dropped when it is returned.
 */
#ifndef HSM4SSL_HAL_PKCS11_SESSION_H
#define HSM4SSL_HAL_PKCS11_SESSION_H

#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define PKCS11_POOL_DEFAULT_SIZE 4

/* A lent session and the pool generation it belongs to. */
struct pkcs11_session {
    CK_SESSION_HANDLE handle;
    unsigned generation;
};

struct pkcs11_pool {
    pthread_mutex_t lock;      /* guards every field below */
    pthread_cond_t changed;    /* a session came back or the pool closed */
    CK_FUNCTION_LIST *fn;
    pthread_mutex_t *call_lock; /* module call lock, NULL when unserialised */
    CK_SLOT_ID slot;
    bool open;                 /* the anchor session exists */
    bool logged_in;            /* C_Login(CKU_USER) succeeded on the anchor */
    CK_SESSION_HANDLE anchor;
    CK_SESSION_HANDLE *idle;   /* open sessions ready to lend */
    size_t idle_count;
    size_t capacity;           /* max sessions lent at once */
    size_t opened;             /* lendable sessions open: idle and lent */
    size_t lent;
    unsigned generation;
};

/* Prepares an empty, closed pool of capacity sessions (0: the default).
 * call_lock, when not NULL, is taken around each module call the pool
 * makes. Returns 0, or -1 when out of memory. */
int pkcs11_pool_init(struct pkcs11_pool *pool, CK_FUNCTION_LIST *fn,
                     pthread_mutex_t *call_lock, size_t capacity);

/* Closes every session and releases the pool. Lent sessions must have
 * been returned. */
void pkcs11_pool_destroy(struct pkcs11_pool *pool);

/* Opens the anchor session on slot. The pool must be closed. */
CK_RV pkcs11_pool_open(struct pkcs11_pool *pool, CK_SLOT_ID slot);

/* Logs the user in on the anchor; CKR_USER_ALREADY_LOGGED_IN counts as
 * success. The PIN is only read. */
CK_RV pkcs11_pool_login(struct pkcs11_pool *pool, const char *pin);

/* Closes all sessions of the slot (C_CloseAllSessions, or the anchor and
 * the idle ones where the module lacks it) and starts a new generation.
 * Waiting borrowers wake up and get CKR_SESSION_CLOSED. */
void pkcs11_pool_close(struct pkcs11_pool *pool);

/*
 * Lends a session, opening one when none is idle and fewer than capacity
 * are open, else waiting for one. Returns CKR_OK with *out set,
 * CKR_SESSION_CLOSED when the pool is closed or not logged in, or the
 * error of C_OpenSession.
 */
CK_RV pkcs11_pool_borrow(struct pkcs11_pool *pool, struct pkcs11_session *out);

/* Takes a session back. With discard (it failed a multi-step operation or
 * reported CKR_OPERATION_ACTIVE) it is closed, so that the next borrower
 * gets a fresh one. */
void pkcs11_pool_return(struct pkcs11_pool *pool,
                        const struct pkcs11_session *session, bool discard);

bool pkcs11_pool_is_logged_in(struct pkcs11_pool *pool);
size_t pkcs11_pool_capacity(const struct pkcs11_pool *pool);

#endif
