/*
 * Revocation in the SQLite store (store_sqlite_revoke.c): revoking,
 * the conflict of a second revocation, unknown serials, the order of the
 * revoked list, the CRL number and the upgrade of a schema version 2
 * database. Each test gets a fresh temporary directory and database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/crl_reason.h"
#include "store/store-internal.h"
#include "store/store.h"
#include "store_fixture.h"

/* 2023-11-14T22:13:20Z and one day later. */
#define REVOKED_AT 1700000000
#define LATER (REVOKED_AT + 86400)

static int
setup(void **state)
{
    return store_fixture_setup(state, "test_store_revoke");
}

/* 2026-09-21T14:13:20Z, when the certificates of add_cert expire. */
#define NOT_AFTER 1790000000

static void
add_cert_until(struct store_fixture *fx, const char *serial, time_t not_after)
{
    struct store_cert cert;
    struct adcp_error err = {0};

    memset(&cert, 0, sizeof(cert));
    snprintf(cert.serial, sizeof(cert.serial), "%s", serial);
    snprintf(cert.subject, sizeof(cert.subject), "CN=web1.example.test");
    cert.not_before = 1690000000;
    cert.not_after = not_after;
    cert.pem = (char *)store_fixture_pem;
    snprintf(cert.hsm, sizeof(cert.hsm), "softhsm-1");
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_OK, err);
}

static void
add_cert(struct store_fixture *fx, const char *serial)
{
    add_cert_until(fx, serial, NOT_AFTER);
}

/* Checks that the stored certificate serial is revoked at revoked_at for
 * reason. */
static void
assert_revocation(struct store_fixture *fx, const char *serial,
                  time_t revoked_at, int reason)
{
    struct store_cert cert = {0};
    struct adcp_error err = {0};

    assert_status(store_cert_get(fx->store, serial, &cert, &err), ADCP_OK,
                  err);
    assert_int_equal(cert.revoked_at, revoked_at);
    assert_int_equal(cert.revocation_reason, reason);
    store_cert_clear(&cert);
}

/* Collects what store_revoked_foreach hands out. */
struct collected {
    struct store_revoked entries[8];
    size_t count;
    size_t stop_after; /* 0: never stop */
};

static enum adcp_status
collect_entry(void *arg, const struct store_revoked *entry,
              struct adcp_error *err)
{
    struct collected *list = arg;

    if (list->count == sizeof(list->entries) / sizeof(list->entries[0]))
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "too many");
    list->entries[list->count++] = *entry;
    if (list->stop_after != 0 && list->count == list->stop_after)
        return adcp_error_set(err, ADCP_ERR_UNAVAILABLE, "", "stopped");
    return ADCP_OK;
}

static void
revoke_sets_time_and_reason(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};

    store_fixture_open(fx);
    add_cert(fx, "0A1B");
    assert_status(store_cert_revoke(fx->store, "0A1B",
                                    CRL_REASON_KEY_COMPROMISE, REVOKED_AT,
                                    &err),
                  ADCP_OK, err);
    assert_revocation(fx, "0A1B", REVOKED_AT, CRL_REASON_KEY_COMPROMISE);
}

static void
revoke_twice_is_conflict(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};

    store_fixture_open(fx);
    add_cert(fx, "0A1B");
    assert_status(store_cert_revoke(fx->store, "0A1B",
                                    CRL_REASON_SUPERSEDED, REVOKED_AT, &err),
                  ADCP_OK, err);
    assert_status(store_cert_revoke(fx->store, "0A1B",
                                    CRL_REASON_KEY_COMPROMISE, LATER, &err),
                  ADCP_ERR_CONFLICT, err);
    assert_non_null(strstr(err.message, "0A1B"));
    assert_non_null(strstr(err.message, "2023-11-14T22:13:20Z"));
    assert_non_null(strstr(err.message, "superseded"));
    assert_revocation(fx, "0A1B", REVOKED_AT, CRL_REASON_SUPERSEDED);
}

static void
revoke_unknown_serial_not_found(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};

    store_fixture_open(fx);
    add_cert(fx, "0A1B");
    assert_status(store_cert_revoke(fx->store, "0A1C", 0, REVOKED_AT, &err),
                  ADCP_ERR_NOT_FOUND, err);
    assert_non_null(strstr(err.message, "0A1C"));
    assert_string_equal(err.field, "serial");
}

static void
revoke_rejects_bad_arguments(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};

    store_fixture_open(fx);
    add_cert(fx, "0A1B");
    assert_status(store_cert_revoke(fx->store, "0a1b", 0, REVOKED_AT, &err),
                  ADCP_ERR_INVALID_FIELD, err);
    assert_status(store_cert_revoke(fx->store, "0A1B", 7, REVOKED_AT, &err),
                  ADCP_ERR_INVALID_FIELD, err);
    assert_status(store_cert_revoke(fx->store, "0A1B",
                                    CRL_REASON_REMOVE_FROM_CRL, REVOKED_AT,
                                    &err),
                  ADCP_ERR_INVALID_FIELD, err);
    assert_status(store_cert_revoke(fx->store, "0A1B", 11, REVOKED_AT, &err),
                  ADCP_ERR_INVALID_FIELD, err);
    assert_status(store_cert_revoke(fx->store, "0A1B", 0, 0, &err),
                  ADCP_ERR_INVALID_FIELD, err);
}

static void
revoked_list_in_serial_order(void **state)
{
    struct store_fixture *fx = *state;
    struct collected list = {0};
    struct adcp_error err = {0};
    static const char *const serials[] = {"FF01", "0A", "7FFFFF", "0B02",
                                          "0C"};

    store_fixture_open(fx);
    for (size_t i = 0; i < 5; i++)
        add_cert(fx, serials[i]);
    add_cert(fx, "0D"); /* not revoked: not listed */
    for (size_t i = 0; i < 5; i++)
        assert_status(store_cert_revoke(fx->store, serials[i], (int)i,
                                        REVOKED_AT + (time_t)i, &err),
                      ADCP_OK, err);
    assert_status(store_revoked_foreach(fx->store, 0, collect_entry, &list,
                                        &err),
                  ADCP_OK, err);
    assert_int_equal(list.count, 5);
    assert_string_equal(list.entries[0].serial, "0A");
    assert_string_equal(list.entries[1].serial, "0C");
    assert_string_equal(list.entries[2].serial, "0B02");
    assert_string_equal(list.entries[3].serial, "FF01");
    assert_string_equal(list.entries[4].serial, "7FFFFF");
    assert_int_equal(list.entries[3].revoked_at, REVOKED_AT);
    assert_int_equal(list.entries[3].reason, 0);
    assert_int_equal(list.entries[4].reason, 2);
}

/* A certificate that expired before expired_before is left out; one that
 * expires at that second is still listed. */
static void
revoked_list_leaves_out_expired(void **state)
{
    static const char *const serials[] = {"0A", "0B", "0C"};
    struct store_fixture *fx = *state;
    struct collected list = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    add_cert_until(fx, "0A", NOT_AFTER - 1);
    add_cert_until(fx, "0B", NOT_AFTER);
    add_cert_until(fx, "0C", NOT_AFTER + 86400);
    for (size_t i = 0; i < 3; i++)
        assert_status(store_cert_revoke(fx->store, serials[i], 0,
                                        REVOKED_AT, &err),
                      ADCP_OK, err);
    assert_status(store_revoked_foreach(fx->store, NOT_AFTER, collect_entry,
                                        &list, &err),
                  ADCP_OK, err);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.entries[0].serial, "0B");
    assert_string_equal(list.entries[1].serial, "0C");
}

static void
revoked_list_stops_on_callback_error(void **state)
{
    struct store_fixture *fx = *state;
    struct collected list = {.stop_after = 1};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    add_cert(fx, "0A");
    add_cert(fx, "0B");
    assert_status(store_cert_revoke(fx->store, "0A", 0, REVOKED_AT, &err),
                  ADCP_OK, err);
    assert_status(store_cert_revoke(fx->store, "0B", 0, REVOKED_AT, &err),
                  ADCP_OK, err);
    assert_status(store_revoked_foreach(fx->store, 0, collect_entry, &list,
                                        &err),
                  ADCP_ERR_UNAVAILABLE, err);
    assert_string_equal(err.message, "stopped");
    assert_int_equal(list.count, 1);
}

static void
crl_number_grows_across_reopen(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};
    int64_t number = 0;

    store_fixture_open(fx);
    assert_status(store_crl_number_next(fx->store, &number, &err), ADCP_OK,
                  err);
    assert_int_equal(number, 1);
    assert_status(store_crl_number_next(fx->store, &number, &err), ADCP_OK,
                  err);
    assert_int_equal(number, 2);
    store_fixture_reopen(fx);
    assert_status(store_crl_number_next(fx->store, &number, &err), ADCP_OK,
                  err);
    assert_int_equal(number, 3);
}

/* A database of schema version 2, with one certificate revoked by a
 * direct UPDATE (no reason column yet) and one not revoked. */
static void
make_version_2_database(const struct store_fixture *fx)
{
    char sql[256];

    store_fixture_exec(fx, store_sqlite_schema_script(1));
    store_fixture_exec(fx, store_sqlite_schema_script(2));
    store_fixture_exec(fx, "PRAGMA user_version = 2");
    snprintf(sql, sizeof(sql),
             "INSERT INTO certificates (serial, subject, not_before,"
             " not_after, pem, hsm, revoked_at, created) VALUES"
             " ('0B', 'CN=a', 1, 2, 'pem', 'h', %d, 1),"
             " ('0A', 'CN=b', 1, 2, 'pem', 'h', NULL, 1)",
             REVOKED_AT);
    store_fixture_exec(fx, sql);
}

static void
version_2_database_upgraded(void **state)
{
    struct store_fixture *fx = *state;
    struct collected list = {0};
    struct adcp_error err = {0};

    make_version_2_database(fx);
    store_fixture_open(fx);
    assert_status(store_cert_revoke(fx->store, "0A",
                                    CRL_REASON_CESSATION_OF_OPERATION, LATER,
                                    &err),
                  ADCP_OK, err);
    assert_status(store_cert_revoke(fx->store, "0B", 1, LATER, &err),
                  ADCP_ERR_CONFLICT, err);
    assert_non_null(strstr(err.message, "unspecified"));
    assert_status(store_revoked_foreach(fx->store, 0, collect_entry, &list,
                                        &err),
                  ADCP_OK, err);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.entries[0].serial, "0A");
    assert_int_equal(list.entries[0].reason,
                     CRL_REASON_CESSATION_OF_OPERATION);
    assert_string_equal(list.entries[1].serial, "0B");
    assert_int_equal(list.entries[1].revoked_at, REVOKED_AT);
    assert_int_equal(list.entries[1].reason, CRL_REASON_UNSPECIFIED);
}

static void
reason_parse_names_and_values(void **state)
{
    char problem[128];
    int value = -1;

    (void)state;
    assert_int_equal(crl_reason_parse("keyCompromise", &value, problem,
                                      sizeof(problem)),
                     0);
    assert_int_equal(value, 1);
    assert_int_equal(crl_reason_parse("CESSATIONOFOPERATION", &value,
                                      problem, sizeof(problem)),
                     0);
    assert_int_equal(value, 5);
    assert_int_equal(crl_reason_parse("AACOMPROMISE", &value, problem,
                                      sizeof(problem)),
                     -1);
    assert_non_null(strstr(problem, "attribute certificates"));
    assert_int_equal(crl_reason_parse("2", &value, problem, sizeof(problem)),
                     -1);
    assert_non_null(strstr(problem, "CA key"));
    assert_int_equal(crl_reason_parse("certificateHold", &value, problem,
                                      sizeof(problem)),
                     -1);
    assert_non_null(strstr(problem, "lift"));
    assert_int_equal(crl_reason_parse("9", &value, problem, sizeof(problem)),
                     0);
    assert_int_equal(value, 9);
    assert_int_equal(crl_reason_parse("7", &value, problem, sizeof(problem)),
                     -1);
    assert_non_null(strstr(problem, "not assigned"));
    assert_int_equal(crl_reason_parse("removeFromCRL", &value, problem,
                                      sizeof(problem)),
                     -1);
    assert_non_null(strstr(problem, "delta CRL"));
    assert_int_equal(crl_reason_parse("8", &value, problem, sizeof(problem)),
                     -1);
    assert_int_equal(crl_reason_parse("stolen", &value, problem,
                                      sizeof(problem)),
                     -1);
    assert_int_equal(crl_reason_parse("", &value, problem, sizeof(problem)),
                     -1);
    assert_int_equal(crl_reason_parse("-1", &value, problem,
                                      sizeof(problem)),
                     -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(revoke_sets_time_and_reason, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(revoke_twice_is_conflict, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(revoke_unknown_serial_not_found, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(revoke_rejects_bad_arguments, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(revoked_list_in_serial_order, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(revoked_list_leaves_out_expired,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(revoked_list_stops_on_callback_error,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(crl_number_grows_across_reopen, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(version_2_database_upgraded, setup,
                                        store_fixture_teardown),
        cmocka_unit_test(reason_parse_names_and_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
