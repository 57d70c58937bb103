/*
 * A fresh SQLite store in a temporary directory for the store unit tests.
 * The directory lives under $TMPDIR (or /tmp) and teardown removes it with
 * the database and its -wal, -shm and -journal files.
 */
#ifndef HSM4SSL_TESTS_STORE_FIXTURE_H
#define HSM4SSL_TESTS_STORE_FIXTURE_H

#include <limits.h>

#include "store/store.h"

/* Checks that call returned want, and otherwise fails the test with the
 * message of err, the struct adcp_error that the call filled. */
#define assert_status(call, want, err)                                         \
    do {                                                                       \
        enum adcp_status got_ = (call);                                        \
        if (got_ != (want))                                                    \
            fail_msg("%s returned %s, expected %s: %s", #call,                 \
                     adcp_status_name(got_), adcp_status_name(want),           \
                     (err).message);                                           \
    } while (0)

struct store_fixture {
    char dir[PATH_MAX];       /* the temporary directory */
    char path[PATH_MAX + 16]; /* dir/hsm4ssl.db */
    struct store *store;      /* NULL until store_fixture_open */
};

/* A PEM block that does not parse as a certificate. The store keeps the
 * text as it is, so the tests need no real one. */
extern const char store_fixture_pem[];

/*
 * Creates the temporary directory name.XXXXXX and sets *state to a new
 * struct store_fixture whose store is not open yet. Returns 0, or -1 when
 * the allocation or mkdtemp fails.
 */
int store_fixture_setup(void **state, const char *name);

/* Closes the store, removes the database files and the directory, and
 * frees the fixture. It is a cmocka teardown function and returns 0. */
int store_fixture_teardown(void **state);

/* Opens fx->store, failing the test with the error's message. */
void store_fixture_open(struct store_fixture *fx);

/* Closes fx->store and opens the same database again. */
void store_fixture_reopen(struct store_fixture *fx);

/* Runs sql on a separate raw connection, failing the test with SQLite's
 * message. */
void store_fixture_exec(const struct store_fixture *fx, const char *sql);

#endif
