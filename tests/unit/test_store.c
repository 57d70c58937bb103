/*
 * Storage tests on a real SQLite file in a temporary directory. Each test
 * gets a fresh directory and database; raw sqlite3 connections check what
 * reached the file. The group commit tests hold SQLite's write lock on a
 * raw connection to keep the writer thread waiting while they queue jobs,
 * so they control which jobs share a batch.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "managers/service.h"
#include "store/store-internal.h"
#include "store/store.h"
#include "store/store_sqlite-internal.h"
#include "store_fixture.h"

static int
setup(void **state)
{
    return store_fixture_setup(state, "test_store");
}

/* Runs one query on a separate raw connection and returns column 0 of the
 * first row as an integer. */
static int64_t
raw_query_int(const struct store_fixture *fx, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t value;

    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

static int64_t
add_host(struct store_fixture *fx, const char *name)
{
    struct store_host host = {0};
    struct adcp_error err = {0};

    snprintf(host.name, sizeof(host.name), "%s", name);
    if (store_host_add(fx->store, &host, &err) != ADCP_OK)
        fail_msg("store_host_add %s: %s", name, err.message);
    assert_true(host.id > 0);
    return host.id;
}

static void
make_cert(struct store_cert *cert, const char *serial, int64_t host_id)
{
    memset(cert, 0, sizeof(*cert));
    snprintf(cert->serial, sizeof(cert->serial), "%s", serial);
    cert->host_id = host_id;
    snprintf(cert->subject, sizeof(cert->subject), "CN=web1.example.test");
    cert->not_before = 1700000000;
    cert->not_after = 1731536000;
    cert->pem = (char *)store_fixture_pem;
    snprintf(cert->hsm, sizeof(cert->hsm), "softhsm-1");
}

static void
make_verifier(unsigned char verifier[STORE_VERIFIER_LEN], unsigned char seed)
{
    for (size_t i = 0; i < STORE_VERIFIER_LEN; i++)
        verifier[i] = (unsigned char)(seed + i * 7);
}

/* Opening. */

static void
open_sets_schema_version(void **state)
{
    struct store_fixture *fx = *state;

    store_fixture_open(fx);
    assert_int_equal(raw_query_int(fx, "PRAGMA user_version"),
                     store_sqlite_schema_version());
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM sqlite_schema"
                                       " WHERE type = 'table' AND name IN"
                                       " ('hosts', 'host_names',"
                                       " 'enrollment_tokens', 'certificates',"
                                       " 'keys', 'audit_log', 'settings')"),
                     7);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM sqlite_schema"
                                       " WHERE type = 'index' AND name IN"
                                       " ('certificates_host',"
                                       " 'certificates_not_after')"),
                     2);
}

static void
open_uses_wal_journal(void **state)
{
    struct store_fixture *fx = *state;

    store_fixture_open(fx);
    assert_int_equal(raw_query_int(fx, "SELECT journal_mode = 'wal'"
                                       " FROM pragma_journal_mode"),
                     1);
}

static void
reopen_keeps_data(void **state)
{
    struct store_fixture *fx = *state;
    struct store_host host = {0};
    struct adcp_error err = {0};
    int64_t id;

    store_fixture_open(fx);
    id = add_host(fx, "web1");
    store_fixture_reopen(fx);
    assert_status(store_host_get_by_name(fx->store, "web1", &host, &err),
                  ADCP_OK, err);
    assert_int_equal(host.id, id);
    assert_int_equal(raw_query_int(fx, "PRAGMA user_version"),
                     store_sqlite_schema_version());
    store_host_clear(&host);
}

static void
write_is_visible_to_other_connection(void **state)
{
    struct store_fixture *fx = *state;

    store_fixture_open(fx);
    add_host(fx, "web1");
    /* The store is still open: the row must already be committed. */
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM hosts"), 1);
}

static void
open_rejects_newer_schema(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};
    struct store *store = NULL;

    store_fixture_open(fx);
    store_close(fx->store);
    fx->store = NULL;
    store_fixture_exec(fx, "PRAGMA user_version = 999");
    assert_status(store_open_sqlite(fx->path, &store, &err), ADCP_ERR_STORAGE,
                  err);
    assert_null(store);
    assert_non_null(strstr(err.message, "999"));
}

static void
open_rejects_missing_directory(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};
    struct store *store = NULL;
    char path[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/missing/hsm4ssl.db", fx->dir);
    assert_status(store_open_sqlite(path, &store, &err), ADCP_ERR_STORAGE, err);
    assert_null(store);
    assert_non_null(strstr(err.message, path));
}

/* File modes. */

static unsigned
file_mode(const struct store_fixture *fx, const char *suffix)
{
    char name[PATH_MAX + 16];
    struct stat st;

    snprintf(name, sizeof(name), "%s%s", fx->path, suffix);
    if (stat(name, &st) != 0)
        fail_msg("stat %s: %s", name, strerror(errno));
    return (unsigned)(st.st_mode & 0777);
}

static void
files_have_mode_0600(void **state)
{
    struct store_fixture *fx = *state;
    mode_t old_umask;

    /* With umask 0 a file created with SQLite's default would be 0666. */
    old_umask = umask(0);
    store_fixture_open(fx);
    add_host(fx, "web1");
    umask(old_umask);
    assert_int_equal(file_mode(fx, ""), 0600);
    assert_int_equal(file_mode(fx, "-wal"), 0600);
    assert_int_equal(file_mode(fx, "-shm"), 0600);
}

static void
open_narrows_wide_mode(void **state)
{
    struct store_fixture *fx = *state;
    FILE *file;

    file = fopen(fx->path, "w");
    assert_non_null(file);
    fclose(file);
    assert_int_equal(chmod(fx->path, 0644), 0);
    store_fixture_open(fx);
    assert_int_equal(file_mode(fx, ""), 0600);
}

/* Hosts. */

static void
host_add_and_get_with_names(void **state)
{
    struct store_fixture *fx = *state;
    char *dns[] = {"web1.example.test", "www.example.test"};
    char *ips[] = {"192.0.2.10"};
    struct store_host host = {0};
    struct store_host got = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    snprintf(host.name, sizeof(host.name), "web1");
    host.dns_names = dns;
    host.dns_count = 2;
    host.ip_addresses = ips;
    host.ip_count = 1;
    assert_status(store_host_add(fx->store, &host, &err), ADCP_OK, err);
    assert_true(host.id > 0);
    assert_true(host.created > 0);

    assert_status(store_host_get_by_name(fx->store, "web1", &got, &err),
                  ADCP_OK, err);
    assert_int_equal(got.id, host.id);
    assert_string_equal(got.name, "web1");
    assert_int_equal(got.created, host.created);
    assert_int_equal(got.dns_count, 2);
    assert_string_equal(got.dns_names[0], "web1.example.test");
    assert_string_equal(got.dns_names[1], "www.example.test");
    assert_int_equal(got.ip_count, 1);
    assert_string_equal(got.ip_addresses[0], "192.0.2.10");
    store_host_clear(&got);

    assert_status(store_host_get_by_id(fx->store, host.id, &got, &err), ADCP_OK,
                  err);
    assert_string_equal(got.name, "web1");
    assert_int_equal(got.dns_count, 2);
    assert_int_equal(got.ip_count, 1);
    store_host_clear(&got);
}

/* A host read once is served from memory afterwards: a change made behind
 * the store's back (hosts are never changed through it) does not show,
 * and each lookup gets a copy of its own. */
static void
host_lookups_served_from_cache(void **state)
{
    struct store_fixture *fx = *state;
    char *dns[] = {"web1.example.test"};
    struct store_host host = {0};
    struct store_host first = {0};
    struct store_host second = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    snprintf(host.name, sizeof(host.name), "web1");
    host.dns_names = dns;
    host.dns_count = 1;
    assert_status(store_host_add(fx->store, &host, &err), ADCP_OK, err);
    assert_status(store_host_get_by_name(fx->store, "web1", &first, &err),
                  ADCP_OK, err);
    store_fixture_exec(fx, "DELETE FROM host_names");

    assert_status(store_host_get_by_name(fx->store, "web1", &second, &err),
                  ADCP_OK, err);
    assert_int_equal(second.id, host.id);
    assert_int_equal(second.dns_count, 1);
    assert_string_equal(second.dns_names[0], "web1.example.test");
    assert_ptr_not_equal(second.dns_names, first.dns_names);
    store_host_clear(&first);
    store_host_clear(&second);

    assert_status(store_host_get_by_id(fx->store, host.id, &second, &err),
                  ADCP_OK, err);
    assert_string_equal(second.name, "web1");
    assert_int_equal(second.dns_count, 1);
    store_host_clear(&second);
}

static void
host_duplicate_name_conflicts(void **state)
{
    struct store_fixture *fx = *state;
    struct store_host host = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    add_host(fx, "web1");
    snprintf(host.name, sizeof(host.name), "web1");
    assert_status(store_host_add(fx->store, &host, &err), ADCP_ERR_CONFLICT,
                  err);
    assert_string_equal(err.field, "name");
    assert_non_null(strstr(err.message, "\"web1\""));
    assert_int_equal(host.id, 0);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM hosts"), 1);
}

static void
host_repeated_dns_name_rolls_back(void **state)
{
    struct store_fixture *fx = *state;
    char *dns[] = {"web1.example.test", "web1.example.test"};
    struct store_host host = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    snprintf(host.name, sizeof(host.name), "web1");
    host.dns_names = dns;
    host.dns_count = 2;
    assert_status(store_host_add(fx->store, &host, &err), ADCP_ERR_CONFLICT,
                  err);
    assert_string_equal(err.field, "dns_names[1]");
    /* The host row was inserted first; the transaction must undo it. */
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM hosts"), 0);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM host_names"), 0);
}

static void
host_unknown_is_not_found(void **state)
{
    struct store_fixture *fx = *state;
    struct store_host got = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    assert_status(store_host_get_by_name(fx->store, "nope", &got, &err),
                  ADCP_ERR_NOT_FOUND, err);
    assert_int_equal(got.id, 0);
    assert_status(store_host_get_by_id(fx->store, 42, &got, &err),
                  ADCP_ERR_NOT_FOUND, err);
}

static void
host_empty_name_rejected(void **state)
{
    struct store_fixture *fx = *state;
    struct store_host host = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    assert_status(store_host_add(fx->store, &host, &err),
                  ADCP_ERR_MISSING_FIELD, err);
    assert_string_equal(err.field, "name");
}

/* Enrolment tokens. */

static void
token_consumed_only_once(void **state)
{
    struct store_fixture *fx = *state;
    unsigned char verifier[STORE_VERIFIER_LEN];
    struct adcp_error err = {0};
    int64_t host_id;
    int64_t got = 0;

    store_fixture_open(fx);
    host_id = add_host(fx, "web1");
    make_verifier(verifier, 1);
    assert_status(store_enrollment_add(fx->store, host_id, verifier,
                                       time(NULL) + 3600, &err),
                  ADCP_OK, err);
    assert_status(store_enrollment_consume(fx->store, verifier, &got, &err),
                  ADCP_OK, err);
    assert_int_equal(got, host_id);
    got = -1;
    assert_status(store_enrollment_consume(fx->store, verifier, &got, &err),
                  ADCP_ERR_UNAUTHENTICATED, err);
    assert_int_equal(got, 0);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM"
                                       " enrollment_tokens"
                                       " WHERE used_at IS NOT NULL"),
                     1);
}

static void
token_expired_rejected(void **state)
{
    struct store_fixture *fx = *state;
    unsigned char verifier[STORE_VERIFIER_LEN];
    struct adcp_error err = {0};
    int64_t host_id;
    int64_t got = 0;

    store_fixture_open(fx);
    host_id = add_host(fx, "web1");
    make_verifier(verifier, 2);
    assert_status(store_enrollment_add(fx->store, host_id, verifier,
                                       time(NULL) - 1, &err),
                  ADCP_OK, err);
    assert_status(store_enrollment_lookup(fx->store, verifier, &got, &err),
                  ADCP_ERR_UNAUTHENTICATED, err);
    assert_status(store_enrollment_consume(fx->store, verifier, &got, &err),
                  ADCP_ERR_UNAUTHENTICATED, err);
    assert_int_equal(got, 0);
}

static void
token_unknown_rejected(void **state)
{
    struct store_fixture *fx = *state;
    unsigned char verifier[STORE_VERIFIER_LEN];
    struct adcp_error err = {0};
    int64_t got = 0;

    store_fixture_open(fx);
    make_verifier(verifier, 3);
    assert_status(store_enrollment_consume(fx->store, verifier, &got, &err),
                  ADCP_ERR_UNAUTHENTICATED, err);
    assert_status(store_enrollment_lookup(fx->store, verifier, &got, &err),
                  ADCP_ERR_UNAUTHENTICATED, err);
}

static void
token_lookup_does_not_consume(void **state)
{
    struct store_fixture *fx = *state;
    unsigned char verifier[STORE_VERIFIER_LEN];
    struct adcp_error err = {0};
    int64_t host_id;
    int64_t got = 0;

    store_fixture_open(fx);
    host_id = add_host(fx, "web1");
    make_verifier(verifier, 4);
    assert_status(store_enrollment_add(fx->store, host_id, verifier,
                                       time(NULL) + 3600, &err),
                  ADCP_OK, err);
    for (int i = 0; i < 2; i++) {
        got = 0;
        assert_status(store_enrollment_lookup(fx->store, verifier, &got, &err),
                      ADCP_OK, err);
        assert_int_equal(got, host_id);
    }
    assert_status(store_enrollment_consume(fx->store, verifier, &got, &err),
                  ADCP_OK, err);
    assert_status(store_enrollment_lookup(fx->store, verifier, &got, &err),
                  ADCP_ERR_UNAUTHENTICATED, err);
}

static void
token_for_unknown_host_not_found(void **state)
{
    struct store_fixture *fx = *state;
    unsigned char verifier[STORE_VERIFIER_LEN];
    struct adcp_error err = {0};

    store_fixture_open(fx);
    make_verifier(verifier, 5);
    assert_status(
        store_enrollment_add(fx->store, 77, verifier, time(NULL) + 3600, &err),
        ADCP_ERR_NOT_FOUND, err);
    assert_non_null(strstr(err.message, "77"));
}

static void
token_duplicate_verifier_conflicts(void **state)
{
    struct store_fixture *fx = *state;
    unsigned char verifier[STORE_VERIFIER_LEN];
    struct adcp_error err = {0};
    int64_t host_id;

    store_fixture_open(fx);
    host_id = add_host(fx, "web1");
    make_verifier(verifier, 6);
    assert_status(store_enrollment_add(fx->store, host_id, verifier,
                                       time(NULL) + 3600, &err),
                  ADCP_OK, err);
    assert_status(store_enrollment_add(fx->store, host_id, verifier,
                                       time(NULL) + 3600, &err),
                  ADCP_ERR_CONFLICT, err);
}

/* Certificates. */

static void
cert_add_and_get(void **state)
{
    struct store_fixture *fx = *state;
    struct store_cert cert;
    struct store_cert got = {0};
    struct adcp_error err = {0};
    int64_t host_id;

    store_fixture_open(fx);
    host_id = add_host(fx, "web1");
    make_cert(&cert, "0A1B2C3D", host_id);
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_OK, err);
    assert_status(store_cert_get(fx->store, "0A1B2C3D", &got, &err), ADCP_OK,
                  err);
    assert_string_equal(got.serial, "0A1B2C3D");
    assert_int_equal(got.host_id, host_id);
    assert_string_equal(got.subject, "CN=web1.example.test");
    assert_int_equal(got.not_before, 1700000000);
    assert_int_equal(got.not_after, 1731536000);
    assert_string_equal(got.pem, store_fixture_pem);
    assert_string_equal(got.hsm, "softhsm-1");
    assert_int_equal(got.revoked_at, 0);
    store_cert_clear(&got);
    assert_null(got.pem);
}

static void
cert_of_ca_has_no_host(void **state)
{
    struct store_fixture *fx = *state;
    struct store_cert cert;
    struct store_cert got = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    make_cert(&cert, "01", 0);
    cert.revoked_at = 1710000000;
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_OK, err);
    assert_int_equal(raw_query_int(fx, "SELECT host_id IS NULL"
                                       " FROM certificates"),
                     1);
    assert_status(store_cert_get(fx->store, "01", &got, &err), ADCP_OK, err);
    assert_int_equal(got.host_id, 0);
    assert_int_equal(got.revoked_at, 1710000000);
    store_cert_clear(&got);
}

static void
cert_duplicate_serial_keeps_first(void **state)
{
    struct store_fixture *fx = *state;
    struct store_cert cert;
    struct store_cert got = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    make_cert(&cert, "ABCDEF", 0);
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_OK, err);
    snprintf(cert.subject, sizeof(cert.subject), "CN=intruder.example.test");
    cert.pem = "-----BEGIN CERTIFICATE-----\nother\n";
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_ERR_CONFLICT,
                  err);
    assert_string_equal(err.field, "serial");
    assert_non_null(strstr(err.message, "ABCDEF"));
    assert_status(store_cert_get(fx->store, "ABCDEF", &got, &err), ADCP_OK,
                  err);
    assert_string_equal(got.subject, "CN=web1.example.test");
    assert_string_equal(got.pem, store_fixture_pem);
    store_cert_clear(&got);
}

static void
cert_for_unknown_host_not_found(void **state)
{
    struct store_fixture *fx = *state;
    struct store_cert cert;
    struct adcp_error err = {0};

    store_fixture_open(fx);
    make_cert(&cert, "02", 99);
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_ERR_NOT_FOUND,
                  err);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM certificates"), 0);
}

static void
cert_lower_case_serial_rejected(void **state)
{
    struct store_fixture *fx = *state;
    struct store_cert cert;
    struct store_cert got = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    make_cert(&cert, "0a1b", 0);
    assert_status(store_cert_add(fx->store, &cert, &err),
                  ADCP_ERR_INVALID_FIELD, err);
    assert_string_equal(err.field, "serial");
    assert_status(store_cert_get(fx->store, "0a:1b", &got, &err),
                  ADCP_ERR_INVALID_FIELD, err);
}

static void
cert_unknown_is_not_found(void **state)
{
    struct store_fixture *fx = *state;
    struct store_cert got = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    assert_status(store_cert_get(fx->store, "FF", &got, &err),
                  ADCP_ERR_NOT_FOUND, err);
    assert_null(got.pem);
}

/* Keys. */

static void
key_add_and_get(void **state)
{
    struct store_fixture *fx = *state;
    struct store_key key = {0};
    struct store_key got = {0};
    struct adcp_error err = {0};

    store_fixture_open(fx);
    snprintf(key.label, sizeof(key.label), "app-signing");
    snprintf(key.type, sizeof(key.type), "ec");
    key.bits = 384;
    snprintf(key.hsm, sizeof(key.hsm), "softhsm-1");
    key.public_pem = "-----BEGIN PUBLIC KEY-----\nMHYw\n";
    assert_status(store_key_add(fx->store, &key, &err), ADCP_OK, err);
    assert_status(store_key_get(fx->store, "app-signing", &got, &err), ADCP_OK,
                  err);
    assert_string_equal(got.label, "app-signing");
    assert_string_equal(got.type, "ec");
    assert_int_equal(got.bits, 384);
    assert_string_equal(got.hsm, "softhsm-1");
    assert_string_equal(got.public_pem, key.public_pem);
    assert_true(got.created > 0);
    store_key_clear(&got);

    assert_status(store_key_add(fx->store, &key, &err), ADCP_ERR_CONFLICT, err);
    assert_string_equal(err.field, "label");
    assert_status(store_key_get(fx->store, "missing", &got, &err),
                  ADCP_ERR_NOT_FOUND, err);
}

/* Audit log. */

static void
audit_append_and_count(void **state)
{
    struct store_fixture *fx = *state;
    struct store_audit_entry entry = {0};
    struct adcp_error err = {0};
    int64_t count = -1;

    store_fixture_open(fx);
    snprintf(entry.direction, sizeof(entry.direction), "request");
    snprintf(entry.message_type, sizeof(entry.message_type), "keypairgen");
    entry.json = "{\"header\":{\"message_id\":\"1\"},\"body\":{}}";
    for (int i = 1; i <= 3; i++) {
        snprintf(entry.message_id, sizeof(entry.message_id), "%d", i);
        assert_status(store_audit_append(fx->store, &entry, &err), ADCP_OK,
                      err);
    }
    assert_status(store_count(fx->store, "audit_log", &count, &err), ADCP_OK,
                  err);
    assert_int_equal(count, 3);
    assert_int_equal(raw_query_int(fx, "SELECT max(seq) FROM audit_log"), 3);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM audit_log WHERE"
                                       " json = '{\"header\":{\"message_id\""
                                       ":\"1\"},\"body\":{}}'"),
                     3);
    /* at is ISO 8601 UTC with microseconds: 27 characters ending in Z. */
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM audit_log WHERE"
                                       " length(at) = 27 AND at LIKE '%Z'"
                                       " AND substr(at, 11, 1) = 'T'"),
                     3);
}

/* Counting. */

static void
count_each_table(void **state)
{
    static const char *const tables[] = {
        "hosts", "certificates", "keys", "audit_log", "enrollment_tokens",
    };
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};
    int64_t count;

    store_fixture_open(fx);
    add_host(fx, "web1");
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        count = -1;
        assert_status(store_count(fx->store, tables[i], &count, &err), ADCP_OK,
                      err);
        assert_int_equal(count, i == 0 ? 1 : 0);
    }
}

static void
count_unknown_table_rejected(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};
    int64_t count = -1;

    store_fixture_open(fx);
    add_host(fx, "web1");
    assert_status(store_count(fx->store, "settings", &count, &err),
                  ADCP_ERR_INVALID_FIELD, err);
    assert_int_equal(
        store_count(fx->store, "hosts; DROP TABLE hosts", &count, &err),
        ADCP_ERR_INVALID_FIELD);
    assert_string_equal(err.field, "table");
    assert_int_equal(count, 0);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM hosts"), 1);
}

/* Settings. */

static void
setting_set_get_and_replace(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};
    char value[64];

    store_fixture_open(fx);
    assert_status(
        store_setting_get(fx->store, "root_serial", value, sizeof(value), &err),
        ADCP_ERR_NOT_FOUND, err);
    assert_status(store_setting_set(fx->store, "root_serial", "0A", &err),
                  ADCP_OK, err);
    assert_status(
        store_setting_get(fx->store, "root_serial", value, sizeof(value), &err),
        ADCP_OK, err);
    assert_string_equal(value, "0A");
    assert_status(store_setting_set(fx->store, "root_serial", "0B", &err),
                  ADCP_OK, err);
    assert_status(
        store_setting_get(fx->store, "root_serial", value, sizeof(value), &err),
        ADCP_OK, err);
    assert_string_equal(value, "0B");
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM settings"), 1);
}

static void
setting_small_buffer_rejected(void **state)
{
    struct store_fixture *fx = *state;
    struct adcp_error err = {0};
    char value[4];

    store_fixture_open(fx);
    assert_status(store_setting_set(fx->store, "name", "abcdef", &err), ADCP_OK,
                  err);
    assert_status(
        store_setting_get(fx->store, "name", value, sizeof(value), &err),
        ADCP_ERR_INTERNAL, err);
    assert_string_equal(value, "");
}

/* Concurrency. */

#define WORKERS 4
#define ROWS_PER_WORKER 25

struct worker {
    struct store *store;
    int index;
    int failures;
    char message[512];
};

static void *
insert_rows(void *arg)
{
    struct worker *worker = arg;
    struct store_audit_entry entry = {0};
    struct adcp_error err = {0};
    struct store_cert cert;
    char serial[ADCP_SERIAL_MAX];

    snprintf(entry.direction, sizeof(entry.direction), "request");
    snprintf(entry.message_type, sizeof(entry.message_type), "certificate_gen");
    entry.json = "{}";
    for (int i = 0; i < ROWS_PER_WORKER; i++) {
        snprintf(serial, sizeof(serial), "%02X%04X", worker->index, i);
        make_cert(&cert, serial, 0);
        snprintf(entry.message_id, sizeof(entry.message_id), "%d-%d",
                 worker->index, i);
        if (store_cert_add(worker->store, &cert, &err) != ADCP_OK ||
            store_audit_append(worker->store, &entry, &err) != ADCP_OK) {
            worker->failures++;
            snprintf(worker->message, sizeof(worker->message), "%s",
                     err.message);
        }
    }
    return NULL;
}

static void
concurrent_inserts_all_stored(void **state)
{
    struct store_fixture *fx = *state;
    struct worker workers[WORKERS] = {0};
    pthread_t threads[WORKERS];
    struct adcp_error err = {0};
    int64_t count = 0;

    store_fixture_open(fx);
    for (int i = 0; i < WORKERS; i++) {
        workers[i].store = fx->store;
        workers[i].index = i;
        assert_int_equal(
            pthread_create(&threads[i], NULL, insert_rows, &workers[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < WORKERS; i++)
        if (workers[i].failures != 0)
            fail_msg("worker %d: %d failures, last: %s", i, workers[i].failures,
                     workers[i].message);
    assert_status(store_count(fx->store, "certificates", &count, &err), ADCP_OK,
                  err);
    assert_int_equal(count, WORKERS * ROWS_PER_WORKER);
    assert_status(store_count(fx->store, "audit_log", &count, &err), ADCP_OK,
                  err);
    assert_int_equal(count, WORKERS * ROWS_PER_WORKER);
}

struct consumer {
    struct store *store;
    const unsigned char *verifier;
    enum adcp_status status;
    int64_t host_id;
};

static void *
consume_token(void *arg)
{
    struct consumer *consumer = arg;
    struct adcp_error err = {0};

    consumer->status = store_enrollment_consume(
        consumer->store, consumer->verifier, &consumer->host_id, &err);
    return NULL;
}

static void
concurrent_consume_succeeds_once(void **state)
{
    struct store_fixture *fx = *state;
    unsigned char verifier[STORE_VERIFIER_LEN];
    struct consumer consumers[WORKERS] = {0};
    pthread_t threads[WORKERS];
    struct adcp_error err = {0};
    int64_t host_id;
    int succeeded = 0;

    store_fixture_open(fx);
    host_id = add_host(fx, "web1");
    make_verifier(verifier, 7);
    assert_status(store_enrollment_add(fx->store, host_id, verifier,
                                       time(NULL) + 3600, &err),
                  ADCP_OK, err);
    for (int i = 0; i < WORKERS; i++) {
        consumers[i].store = fx->store;
        consumers[i].verifier = verifier;
        assert_int_equal(
            pthread_create(&threads[i], NULL, consume_token, &consumers[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < WORKERS; i++) {
        if (consumers[i].status == ADCP_OK) {
            succeeded++;
            assert_int_equal(consumers[i].host_id, host_id);
        } else {
            assert_int_equal(consumers[i].status, ADCP_ERR_UNAUTHENTICATED);
        }
    }
    assert_int_equal(succeeded, 1);
}


/* Group commit. */

#define GROUP_WORKERS 8
#define GROUP_CERTS_PER_WORKER 200

static void *
insert_certs(void *arg)
{
    struct worker *worker = arg;
    struct adcp_error err = {0};
    struct store_cert cert;
    char serial[ADCP_SERIAL_MAX];

    for (int i = 0; i < GROUP_CERTS_PER_WORKER; i++) {
        snprintf(serial, sizeof(serial), "%02X%04X", worker->index, i);
        make_cert(&cert, serial, 0);
        if (store_cert_add(worker->store, &cert, &err) != ADCP_OK) {
            worker->failures++;
            snprintf(worker->message, sizeof(worker->message), "%s",
                     err.message);
        }
    }
    return NULL;
}

static uint64_t
commit_count(const struct store_fixture *fx)
{
    struct store_sqlite_stats stats;

    store_sqlite_stats(fx->store, &stats);
    return stats.commits;
}

static void
group_commit_batches_inserts(void **state)
{
    const int total = GROUP_WORKERS * GROUP_CERTS_PER_WORKER;
    struct store_fixture *fx = *state;
    struct worker workers[GROUP_WORKERS] = {0};
    pthread_t threads[GROUP_WORKERS];
    struct adcp_error err = {0};
    int64_t count = 0;
    uint64_t commits;

    store_fixture_open(fx);
    commits = commit_count(fx);
    for (int i = 0; i < GROUP_WORKERS; i++) {
        workers[i].store = fx->store;
        workers[i].index = i;
        assert_int_equal(
            pthread_create(&threads[i], NULL, insert_certs, &workers[i]), 0);
    }
    for (int i = 0; i < GROUP_WORKERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    commits = commit_count(fx) - commits;
    for (int i = 0; i < GROUP_WORKERS; i++)
        if (workers[i].failures != 0)
            fail_msg("worker %d: %d failures, last: %s", i, workers[i].failures,
                     workers[i].message);
    assert_status(store_count(fx->store, "certificates", &count, &err), ADCP_OK,
                  err);
    assert_int_equal(count, total);
    assert_int_equal(raw_query_int(fx, "SELECT count(DISTINCT serial)"
                                       " FROM certificates"),
                     total);
    /* One commit per insert would be 1600. A writer that has just woken
     * queues behind the batch being committed, so a batch contains about
     * half the writers: about 400 commits, measured on a 2-core machine. */
    if (commits == 0 || commits > (uint64_t)total / 2)
        fail_msg("%d inserts took %llu commits, expected 1 to %d", total,
                 (unsigned long long)commits, total / 2);
}

/* A queued certificate write and whether its batch has finished. */
struct queued_write {
    struct store_ticket *ticket;
    atomic_bool finished;
};

static void
mark_finished(void *arg)
{
    atomic_store(&((struct queued_write *)arg)->finished, true);
}

static void
queue_cert(struct store_fixture *fx, struct queued_write *write,
           const char *serial)
{
    struct adcp_error err = {0};
    struct store_cert cert;

    make_cert(&cert, serial, 0);
    atomic_store(&write->finished, false);
    assert_status(store_cert_add_queued(fx->store, &cert, &write->ticket,
                                        &err),
                  ADCP_OK, err);
    store_ticket_notify(write->ticket, mark_finished, write);
}

/* Waits up to 5 s for write's batch; returns the milliseconds waited. */
static long
wait_finished(struct queued_write *write)
{
    struct timespec start, now;
    long elapsed_ms = 0;

    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!atomic_load(&write->finished) && elapsed_ms < 5000) {
        usleep(1000);
        clock_gettime(CLOCK_MONOTONIC, &now);
        elapsed_ms = (now.tv_sec - start.tv_sec) * 1000L +
                     (now.tv_nsec - start.tv_nsec) / 1000000L;
    }
    if (!atomic_load(&write->finished))
        fail_msg("a queued write did not commit within 5 s");
    return elapsed_ms;
}

static void
finish_queued(struct queued_write *write)
{
    struct adcp_error err = {0};

    assert_status(store_ticket_finish(write->ticket, &err), ADCP_OK, err);
}

static void
batch_waits_for_announced_write(void **state)
{
    struct store_fixture *fx = *state;
    struct queued_write first, second;
    uint64_t commits;

    store_fixture_open(fx);
    store_sqlite_set_batch_wait(fx->store, 5 * 1000 * 1000);
    commits = commit_count(fx);
    store_expect_write(fx->store);
    store_expect_write(fx->store);
    queue_cert(fx, &first, "0A01");
    store_expect_write_done(fx->store);

    /* The second announced write has not come, so the batch waits. */
    usleep(200 * 1000);
    assert_false(atomic_load(&first.finished));
    queue_cert(fx, &second, "0A02");
    store_expect_write_done(fx->store);
    wait_finished(&first);
    wait_finished(&second);
    finish_queued(&first);
    finish_queued(&second);
    assert_int_equal(commit_count(fx) - commits, 1);
}

static void
batch_wait_is_bounded(void **state)
{
    struct store_fixture *fx = *state;
    struct queued_write write;

    store_fixture_open(fx);
    store_sqlite_set_batch_wait(fx->store, 300 * 1000);
    store_expect_write(fx->store);
    store_expect_write(fx->store);
    queue_cert(fx, &write, "0B01");
    store_expect_write_done(fx->store);
    /* The other announced write never comes; the batch commits once
     * the wait is over. */
    assert_true(wait_finished(&write) >= 250);
    finish_queued(&write);
    store_expect_write_done(fx->store);
}

static void
batch_without_announcement_commits_at_once(void **state)
{
    struct store_fixture *fx = *state;
    struct queued_write write;

    store_fixture_open(fx);
    store_sqlite_set_batch_wait(fx->store, 60 * 1000 * 1000);
    queue_cert(fx, &write, "0C01");
    wait_finished(&write);
    finish_queued(&write);
}

/* Takes SQLite's write lock on a raw connection, so that the store's
 * writer waits in BEGIN IMMEDIATE (for up to its 5 s busy timeout). */
static sqlite3 *
raw_lock(const struct store_fixture *fx)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

static void
raw_unlock(sqlite3 *db)
{
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

/* Waits up to 4 s, less than the writer's busy timeout, until the writer
 * runs a batch of running jobs and queued more wait behind it. */
static void
wait_for_writer(const struct store_fixture *fx, size_t running, size_t queued)
{
    struct store_sqlite_stats stats = {0};

    for (int i = 0; i < 4000; i++) {
        store_sqlite_stats(fx->store, &stats);
        if (stats.running == running && stats.queued == queued)
            return;
        usleep(1000);
    }
    fail_msg("writer runs %zu jobs with %zu queued, expected %zu and %zu",
             stats.running, stats.queued, running, queued);
}

/* One write on a thread of its own: a certificate, or a host when
 * host.name is set. */
struct write_call {
    struct store *store;
    struct store_cert cert;
    struct store_host host;
    enum adcp_status status;
    struct adcp_error err;
    pthread_t thread;
};

static void *
run_write_call(void *arg)
{
    struct write_call *call = arg;

    if (call->host.name[0] != '\0')
        call->status = store_host_add(call->store, &call->host, &call->err);
    else
        call->status = store_cert_add(call->store, &call->cert, &call->err);
    return NULL;
}

static void
start_write_call(struct store_fixture *fx, struct write_call *call)
{
    call->store = fx->store;
    call->status = ADCP_ERR_INTERNAL;
    assert_int_equal(pthread_create(&call->thread, NULL, run_write_call, call),
                     0);
}

/* Runs the count write calls as one batch: the first one waits while the
 * database is locked, so the writer takes the others with it once the
 * lock is gone. Returns the commits the batch took. */
static uint64_t
run_shared_batch(struct store_fixture *fx, struct write_call *calls,
                 size_t count)
{
    sqlite3 *lock = raw_lock(fx);
    uint64_t commits;

    start_write_call(fx, &calls[0]);
    wait_for_writer(fx, 1, 0);
    for (size_t i = 1; i < count; i++) {
        start_write_call(fx, &calls[i]);
        wait_for_writer(fx, 1, i);
    }
    commits = commit_count(fx);
    raw_unlock(lock);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(pthread_join(calls[i].thread, NULL), 0);
    return commit_count(fx) - commits;
}

static void
batch_conflict_fails_only_its_job(void **state)
{
    static char *repeated_dns[] = {"web1.example.test", "web1.example.test"};
    struct store_fixture *fx = *state;
    struct write_call calls[5] = {0};
    struct adcp_error err = {0};
    struct store_cert cert;

    store_fixture_open(fx);
    make_cert(&cert, "AA", 0);
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_OK, err);
    make_cert(&calls[0].cert, "01", 0);
    make_cert(&calls[1].cert, "02", 0);
    /* A host whose second name fails after its row was inserted: only the
     * job's savepoint can undo the row inside the shared transaction. */
    snprintf(calls[2].host.name, sizeof(calls[2].host.name), "web1");
    calls[2].host.dns_names = repeated_dns;
    calls[2].host.dns_count = 2;
    make_cert(&calls[3].cert, "AA", 0);
    make_cert(&calls[4].cert, "03", 0);

    assert_int_equal(run_shared_batch(fx, calls, 5), 2);
    assert_status(calls[0].status, ADCP_OK, calls[0].err);
    assert_status(calls[1].status, ADCP_OK, calls[1].err);
    assert_status(calls[2].status, ADCP_ERR_CONFLICT, calls[2].err);
    assert_string_equal(calls[2].err.field, "dns_names[1]");
    assert_int_equal(calls[2].host.id, 0);
    assert_status(calls[3].status, ADCP_ERR_CONFLICT, calls[3].err);
    assert_string_equal(calls[3].err.field, "serial");
    assert_status(calls[4].status, ADCP_OK, calls[4].err);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM certificates"
                                       " WHERE serial IN"
                                       " ('AA', '01', '02', '03')"),
                     4);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM hosts"), 0);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM host_names"), 0);
}

static void
batch_fk_failure_fails_only_its_job(void **state)
{
    struct store_fixture *fx = *state;
    struct write_call calls[4] = {0};
    struct adcp_error err = {0};
    struct store_cert cert;

    store_fixture_open(fx);
    make_cert(&cert, "AA", 0);
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_OK, err);
    make_cert(&calls[0].cert, "01", 0);
    make_cert(&calls[1].cert, "02", 0);
    make_cert(&calls[2].cert, "BAD", 987654);
    make_cert(&calls[3].cert, "03", 0);

    run_shared_batch(fx, calls, 4);
    assert_status(calls[0].status, ADCP_OK, calls[0].err);
    assert_status(calls[1].status, ADCP_OK, calls[1].err);
    assert_status(calls[2].status, ADCP_ERR_NOT_FOUND, calls[2].err);
    assert_string_equal(calls[2].err.field, "host_id");
    assert_status(calls[3].status, ADCP_OK, calls[3].err);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM certificates"), 4);
}

static void
make_audit_entry(struct store_audit_entry *entry, int id)
{
    memset(entry, 0, sizeof(*entry));
    snprintf(entry->message_id, sizeof(entry->message_id), "%d", id);
    snprintf(entry->direction, sizeof(entry->direction), "response");
    snprintf(entry->message_type, sizeof(entry->message_type),
             "certificate_gen");
    entry->json = "{\"header\":{},\"body\":{}}";
}

struct audit_call {
    struct store *store;
    int first_id;
    int count;
    atomic_bool returned; /* every append has returned */
    int failures;
    struct adcp_error err;
};

static void *
run_audit_appends(void *arg)
{
    struct audit_call *call = arg;
    struct store_audit_entry entry;

    for (int i = 0; i < call->count; i++) {
        make_audit_entry(&entry, call->first_id + i);
        if (store_audit_append(call->store, &entry, &call->err) != ADCP_OK)
            call->failures++;
    }
    atomic_store(&call->returned, true);
    return NULL;
}

static void
audit_durable_when_later_cert_returns(void **state)
{
    struct store_fixture *fx = *state;
    struct audit_call audit = {.first_id = 1, .count = 1};
    struct write_call cert_call = {0};
    pthread_t thread;
    sqlite3 *lock;

    store_fixture_open(fx);
    audit.store = fx->store;
    lock = raw_lock(fx);
    /* The append returns although the writer cannot commit it yet. */
    assert_int_equal(pthread_create(&thread, NULL, run_audit_appends, &audit),
                     0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (audit.failures != 0)
        fail_msg("store_audit_append: %s", audit.err.message);
    wait_for_writer(fx, 1, 0);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM audit_log"), 0);

    make_cert(&cert_call.cert, "0A", 0);
    start_write_call(fx, &cert_call);
    wait_for_writer(fx, 1, 1);
    raw_unlock(lock);
    assert_int_equal(pthread_join(cert_call.thread, NULL), 0);
    assert_status(cert_call.status, ADCP_OK, cert_call.err);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM certificates"
                                       " WHERE serial = '0A'"),
                     1);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM audit_log"
                                       " WHERE message_id = '1'"),
                     1);
}

/* Returns the json column of the audit entry with sequence number seq. */
static char *
raw_audit_json(const struct store_fixture *fx, int seq)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *json;

    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT json FROM audit_log"
                                        " WHERE seq = ?",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_int(stmt, 1, seq), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    json = strdup((const char *)sqlite3_column_text(stmt, 0));
    assert_non_null(json);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return json;
}

/* The audit log writes each message as json_dumps would: escapes, nested
 * members, numbers and the non-ASCII text that json_dumps writes itself
 * (jansson 2.14, compact). */
static void
audit_text_matches_json_dumps(void **state)
{
    static const char *const texts[] = {
        "plain",
        "-----BEGIN CERTIFICATE-----\nMIIB/+x==\n-----END CERTIFICATE-----\n",
        "quote \" backslash \\ slash / tab \t cr \r",
        "controls \001\002\b\f\037 and delete \177",
        "caf\xc3\xa9 \xe2\x82\xac",
        "",
    };
    struct store_fixture *fx = *state;
    struct service svc;
    struct adcp_error err = {0};
    int64_t count = 0;
    int seq = 0;

    store_fixture_open(fx);
    memset(&svc, 0, sizeof(svc));
    svc.store = fx->store;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct adcp_msg *request = adcp_msg_new(ADCP_DIR_REQUEST);
        struct adcp_msg *response;
        json_t *expected[2];

        assert_non_null(request);
        snprintf(request->header.message_id, ADCP_ID_MAX, "%zu", i + 1);
        request->header.type = ADCP_TYPE_CERTIFICATE_GEN;
        request->body.csr_details.present = true;
        request->body.csr_details.csr = strdup(texts[i]);
        request->body.cert_details.present = true;
        request->body.cert_details.days = (int)i + 1;
        response = adcp_msg_response_for(request);
        assert_non_null(response);
        adcp_msg_succeed(response,
                         json_pack("{s:s, s:[s, I, b, n], s:{}, s:[]}",
                                   "certificate", texts[i], "list",
                                   texts[i], (json_int_t)-7 * (json_int_t)i,
                                   (int)(i % 2), "empty", "none"));
        /* A real goes through json_dumps, as non-ASCII text does. */
        if (i == 0)
            json_object_set_new(response->result.data, "real",
                                json_real(1.5));
        expected[0] = adcp_msg_encode(request);
        expected[1] = adcp_msg_encode(response);
        audit_record(&svc, request);
        audit_record(&svc, response);
        assert_status(store_count(fx->store, "audit_log", &count, &err),
                      ADCP_OK, err);
        for (int j = 0; j < 2; j++) {
            char *want = json_dumps(expected[j], JSON_COMPACT);
            char *got = raw_audit_json(fx, ++seq);

            assert_non_null(want);
            assert_string_equal(got, want);
            free(want);
            free(got);
            json_decref(expected[j]);
        }
        adcp_msg_free(request);
        adcp_msg_free(response);
    }
}

static void *
run_store_close(void *arg)
{
    store_close(arg);
    return NULL;
}

static void
close_commits_queued_audit_entries(void **state)
{
    struct store_fixture *fx = *state;
    struct audit_call audit = {.first_id = 2, .count = 499};
    struct store_audit_entry entry;
    struct adcp_error err = {0};
    pthread_t thread;
    sqlite3 *lock;

    store_fixture_open(fx);
    audit.store = fx->store;
    lock = raw_lock(fx);
    /* Entry 1 keeps the writer waiting, so the other 499 stay queued. */
    make_audit_entry(&entry, 1);
    assert_status(store_audit_append(fx->store, &entry, &err), ADCP_OK, err);
    wait_for_writer(fx, 1, 0);
    run_audit_appends(&audit);
    if (audit.failures != 0)
        fail_msg("store_audit_append: %s", audit.err.message);
    wait_for_writer(fx, 1, 499);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM audit_log"), 0);
    assert_int_equal(pthread_create(&thread, NULL, run_store_close, fx->store),
                     0);
    /* Let store_close begin while the writer still waits for the lock. */
    usleep(50000);
    raw_unlock(lock);
    assert_int_equal(pthread_join(thread, NULL), 0);
    fx->store = NULL;
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM audit_log"), 500);
    assert_int_equal(raw_query_int(fx, "SELECT count(DISTINCT message_id)"
                                       " FROM audit_log"),
                     500);
}

static void
audit_append_waits_when_queue_full(void **state)
{
    const int total = STORE_SQLITE_QUEUE_MAX + 2;
    struct store_fixture *fx = *state;
    struct audit_call audit = {.first_id = 2, .count = total - 1};
    struct store_audit_entry entry;
    struct adcp_error err = {0};
    int64_t count = 0;
    pthread_t thread;
    sqlite3 *lock;

    store_fixture_open(fx);
    audit.store = fx->store;
    lock = raw_lock(fx);
    make_audit_entry(&entry, 1);
    assert_status(store_audit_append(fx->store, &entry, &err), ADCP_OK, err);
    wait_for_writer(fx, 1, 0);
    assert_int_equal(pthread_create(&thread, NULL, run_audit_appends, &audit),
                     0);
    /* One entry is in the writer's waiting batch and the queue is full,
     * so the last append cannot return. */
    wait_for_writer(fx, 1, STORE_SQLITE_QUEUE_MAX);
    usleep(50000);
    assert_false(atomic_load(&audit.returned));
    wait_for_writer(fx, 1, STORE_SQLITE_QUEUE_MAX);
    raw_unlock(lock);
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (audit.failures != 0)
        fail_msg("store_audit_append: %s", audit.err.message);
    assert_status(store_count(fx->store, "audit_log", &count, &err), ADCP_OK,
                  err);
    assert_int_equal(count, total);
}

static void
commit_failure_fails_whole_batch(void **state)
{
    struct store_fixture *fx = *state;
    struct write_call calls[3] = {0};
    struct store_audit_entry entry;
    struct adcp_error err = {0};
    struct store_cert cert;
    sqlite3 *lock;

    store_fixture_open(fx);
    make_cert(&calls[0].cert, "01", 0);
    make_cert(&calls[1].cert, "02", 0);
    make_cert(&calls[2].cert, "03", 0);
    lock = raw_lock(fx);
    start_write_call(fx, &calls[0]);
    wait_for_writer(fx, 1, 0);
    start_write_call(fx, &calls[1]);
    wait_for_writer(fx, 1, 1);
    make_audit_entry(&entry, 1);
    assert_status(store_audit_append(fx->store, &entry, &err), ADCP_OK, err);
    wait_for_writer(fx, 1, 2);
    start_write_call(fx, &calls[2]);
    wait_for_writer(fx, 1, 3);
    /* Both batches, [01] and [02, audit entry, 03], fail at COMMIT. */
    store_sqlite_fail_commits(fx->store, 2);
    raw_unlock(lock);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(calls[i].thread, NULL), 0);
        assert_status(calls[i].status, ADCP_ERR_STORAGE, calls[i].err);
        assert_non_null(strstr(calls[i].err.message, "commit"));
    }
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM certificates"), 0);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM audit_log"), 0);

    /* The writer goes on with the next batch. */
    make_cert(&cert, "04", 0);
    assert_status(store_cert_add(fx->store, &cert, &err), ADCP_OK, err);
    assert_int_equal(raw_query_int(fx, "SELECT count(*) FROM certificates"), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_sets_schema_version, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(open_uses_wal_journal, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(reopen_keeps_data, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(write_is_visible_to_other_connection,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(open_rejects_newer_schema, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(open_rejects_missing_directory, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(files_have_mode_0600, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(open_narrows_wide_mode, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(host_add_and_get_with_names, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(host_lookups_served_from_cache, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(host_duplicate_name_conflicts, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(host_repeated_dns_name_rolls_back,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(host_unknown_is_not_found, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(host_empty_name_rejected, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(token_consumed_only_once, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(token_expired_rejected, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(token_unknown_rejected, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(token_lookup_does_not_consume, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(token_for_unknown_host_not_found, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(token_duplicate_verifier_conflicts,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(cert_add_and_get, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(cert_of_ca_has_no_host, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(cert_duplicate_serial_keeps_first,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(cert_for_unknown_host_not_found, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(cert_lower_case_serial_rejected, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(cert_unknown_is_not_found, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(key_add_and_get, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(audit_append_and_count, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(count_each_table, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(count_unknown_table_rejected, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(setting_set_get_and_replace, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(setting_small_buffer_rejected, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(concurrent_inserts_all_stored, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(concurrent_consume_succeeds_once, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(batch_waits_for_announced_write, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(batch_wait_is_bounded, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            batch_without_announcement_commits_at_once, setup,
            store_fixture_teardown),
        cmocka_unit_test_setup_teardown(group_commit_batches_inserts, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(batch_fk_failure_fails_only_its_job, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(batch_conflict_fails_only_its_job,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(audit_durable_when_later_cert_returns,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(audit_text_matches_json_dumps, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(close_commits_queued_audit_entries,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(audit_append_waits_when_queue_full,
                                        setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(commit_failure_fails_whole_batch, setup,
                                        store_fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
