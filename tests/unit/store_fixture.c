/*
 * The temporary database shared by test_store.c and test_store_revoke.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"

const char store_fixture_pem[] = "-----BEGIN CERTIFICATE-----\n"
                                 "MIIBtest\n"
                                 "-----END CERTIFICATE-----\n";

int
store_fixture_setup(void **state, const char *name)
{
    struct store_fixture *fx = calloc(1, sizeof(*fx));
    const char *tmp = getenv("TMPDIR");

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "%s/%s.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name);
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/hsm4ssl.db", fx->dir);
    *state = fx;
    return 0;
}

static void
remove_file(const struct store_fixture *fx, const char *suffix)
{
    char name[PATH_MAX + 32];

    snprintf(name, sizeof(name), "%s%s", fx->path, suffix);
    if (unlink(name) != 0 && errno != ENOENT)
        fprintf(stderr, "cannot remove %s: %s\n", name, strerror(errno));
}

int
store_fixture_teardown(void **state)
{
    struct store_fixture *fx = *state;

    store_close(fx->store);
    remove_file(fx, "");
    remove_file(fx, "-wal");
    remove_file(fx, "-shm");
    remove_file(fx, "-journal");
    if (rmdir(fx->dir) != 0)
        fprintf(stderr, "cannot remove %s: %s\n", fx->dir, strerror(errno));
    free(fx);
    return 0;
}

void
store_fixture_open(struct store_fixture *fx)
{
    struct adcp_error err = {0};
    enum adcp_status status;

    status = store_open_sqlite(fx->path, &fx->store, &err);
    if (status != ADCP_OK)
        fail_msg("store_open_sqlite: %s", err.message);
    assert_non_null(fx->store);
}

void
store_fixture_reopen(struct store_fixture *fx)
{
    store_close(fx->store);
    fx->store = NULL;
    store_fixture_open(fx);
}

void
store_fixture_exec(const struct store_fixture *fx, const char *sql)
{
    sqlite3 *db = NULL;
    char *message = NULL;

    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
        fail_msg("%s: %s", sql, message);
    sqlite3_close(db);
}
