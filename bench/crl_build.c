/*
 * crl_build: times the server's CRL build (cert_crl_build: reading the
 * revoked entries from the store, encoding and signing through the HAL's
 * provider) over a fresh SQLite database of N revoked certificates.
 *
 * The fill writes the rows with direct SQL in one transaction, because it
 * only prepares the data, and is timed on its own. Each build takes the
 * next CRL number as the service does. Prints one JSON object: entries,
 * fill seconds, build seconds of each run and their median, DER size and
 * the peak RSS of the process. Not part of the test suite.
 */
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hal/hal.h"
#include "managers/cert_crl.h"
#include "store/store.h"

#define RUNS_MAX 9

struct options {
    char module[ADCP_PATH_MAX];
    char token[ADCP_LABEL_MAX];
    char key_label[ADCP_NAME_MAX];
    char pin_file[ADCP_PATH_MAX];
    const char *ca_cert;
    const char *db;
    const char *out;
    long entries;
    int runs;
};

static double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: crl_build --db NEW.db --ca-cert ROOT.crt --pin-file FILE"
            " [--entries N]\n"
            "                 [--runs N] [--out CRL.der] [--module PATH]"
            " [--token LABEL]\n"
            "                 [--key LABEL]\n"
            "  --db FILE        SQLite database to create (must not exist)\n"
            "  --entries N      revoked certificates (default 1000000)\n"
            "  --runs N         builds, 1 to %d; the median is reported "
            "(default 3)\n"
            "  --out FILE       write the last CRL (DER) here\n"
            "  --module, --token, --key, --pin-file: the HSM and the CA key"
            " (defaults\n"
            "                   /usr/lib/softhsm/libsofthsm2.so, hsm4ssl,"
            " hsm4ssl-root-ca)\n",
            RUNS_MAX);
}

static int
copy_value(char *out, size_t size, const char *value, const char *name)
{
    if (strlen(value) >= size) {
        fprintf(stderr, "crl_build: %s is longer than %zu bytes\n", name,
                size - 1);
        return -1;
    }
    memcpy(out, value, strlen(value) + 1);
    return 0;
}

static int
parse_number(const char *text, long min, long max, long *out,
             const char *name)
{
    char *end;
    long value = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || value < min || value > max) {
        fprintf(stderr, "crl_build: %s %s is not a number from %ld to %ld\n",
                name, text, min, max);
        return -1;
    }
    *out = value;
    return 0;
}

static int
parse_option(struct options *o, const char *name, const char *value)
{
    long runs;

    if (strcmp(name, "--db") == 0)
        o->db = value;
    else if (strcmp(name, "--ca-cert") == 0)
        o->ca_cert = value;
    else if (strcmp(name, "--out") == 0)
        o->out = value;
    else if (strcmp(name, "--entries") == 0)
        return parse_number(value, 0, 100000000, &o->entries, name);
    else if (strcmp(name, "--runs") == 0) {
        if (parse_number(value, 1, RUNS_MAX, &runs, name) != 0)
            return -1;
        o->runs = (int)runs;
    } else if (strcmp(name, "--module") == 0)
        return copy_value(o->module, sizeof(o->module), value, name);
    else if (strcmp(name, "--token") == 0)
        return copy_value(o->token, sizeof(o->token), value, name);
    else if (strcmp(name, "--key") == 0)
        return copy_value(o->key_label, sizeof(o->key_label), value, name);
    else if (strcmp(name, "--pin-file") == 0)
        return copy_value(o->pin_file, sizeof(o->pin_file), value, name);
    else {
        fprintf(stderr, "crl_build: unknown option %s\n", name);
        usage();
        return -1;
    }
    return 0;
}

static int
parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof(*o));
    strcpy(o->module, "/usr/lib/softhsm/libsofthsm2.so");
    strcpy(o->token, "hsm4ssl");
    strcpy(o->key_label, "hsm4ssl-root-ca");
    o->entries = 1000000;
    o->runs = 3;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "crl_build: %s needs a value\n", argv[i]);
            usage();
            return -1;
        }
        if (parse_option(o, argv[i], argv[i + 1]) != 0)
            return -1;
    }
    if (o->db == NULL || o->ca_cert == NULL || o->pin_file[0] == '\0') {
        usage();
        return -1;
    }
    if (access(o->db, F_OK) == 0) {
        fprintf(stderr, "crl_build: %s exists; give a new file\n", o->db);
        return -1;
    }
    return 0;
}

/* Inserts entries revoked rows with random 16-byte serials (top bit
 * clear, as the CA draws them) in one transaction. A quarter of them
 * have the reason unspecified, the rest keyCompromise to superseded. All
 * expire in 2100, so that the CRL lists every one. */
static int
fill_database(const char *path, long entries)
{
    static const char sql[] =
        "INSERT INTO certificates (serial, subject, not_before, not_after,"
        " pem, hsm, revoked_at, created, revocation_reason)"
        " VALUES (?1, 'CN=bench', 1700000000, 4102444800, 'pem', 'bench',"
        " ?2, 1700000000, ?3)";
    unsigned char serial[16];
    char hex[33];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    for (long i = 0; rc == SQLITE_OK && i < entries; i++) {
        if (RAND_bytes(serial, sizeof(serial)) != 1)
            break;
        serial[0] &= 0x7f;
        serial[0] |= 0x10; /* 32 hex digits, no leading zero octet */
        for (size_t j = 0; j < sizeof(serial); j++)
            snprintf(hex + 2 * j, 3, "%02X", serial[j]);
        sqlite3_bind_text(stmt, 1, hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 2, 1700000000 + i % 86400);
        sqlite3_bind_int(stmt, 3, (int)(i % 4 == 0 ? 0 : 1 + i % 4));
        rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(stmt);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "crl_build: filling %s failed: %s\n", path,
                sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Opens the HSM and returns the CA key as an EVP_PKEY of the provider. */
static EVP_PKEY *
open_ca_key(const struct options *o, struct hal **hal)
{
    struct hal_hsm_config cfg;
    struct hal_key *key = NULL;
    struct adcp_error err;
    EVP_PKEY *pkey = NULL;

    memset(&cfg, 0, sizeof(cfg));
    strcpy(cfg.name, "bench");
    cfg.sessions = 2;
    memcpy(cfg.module_path, o->module, sizeof(o->module));
    memcpy(cfg.token_label, o->token, sizeof(o->token));
    memcpy(cfg.pin_file, o->pin_file, sizeof(o->pin_file));
    adcp_error_clear(&err);
    if (hal_new(hal, &err) != ADCP_OK ||
        hal_add_hsm(*hal, &cfg, &err) != ADCP_OK ||
        hal_key_find(hal_hsm_find(*hal, "bench"), o->key_label, &key,
                     &err) != ADCP_OK)
        fprintf(stderr, "crl_build: HAL: %s\n", err.message);
    else
        pkey = hal_key_evp(key);
    hal_key_unref(key);
    return pkey;
}

static X509 *
read_certificate(const char *path)
{
    FILE *file = fopen(path, "r");
    X509 *cert = NULL;

    if (file != NULL) {
        cert = PEM_read_X509(file, NULL, NULL, NULL);
        fclose(file);
    }
    if (cert == NULL)
        fprintf(stderr, "crl_build: cannot read certificate %s\n", path);
    return cert;
}

static int
compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int
write_file(const char *path, const struct cert_crl_der *crl)
{
    FILE *file = fopen(path, "wb");
    int rc = -1;

    if (file != NULL && fwrite(crl->der, 1, crl->len, file) == crl->len)
        rc = 0;
    if (file != NULL && fclose(file) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "crl_build: cannot write %s\n", path);
    return rc;
}

/* Builds the CRL o->runs times; fills seconds[] and keeps the last CRL. */
static int
run_builds(const struct options *o, struct cert_crl_request *request,
           double *seconds, struct cert_crl_der *last)
{
    struct adcp_error err;
    double start;

    for (int run = 0; run < o->runs; run++) {
        free(last->der);
        memset(last, 0, sizeof(*last));
        adcp_error_clear(&err);
        start = now_seconds();
        if (store_crl_number_next(request->store, &request->number, &err) !=
                ADCP_OK ||
            cert_crl_build(request, last, &err) != ADCP_OK) {
            fprintf(stderr, "crl_build: %s\n", err.message);
            return -1;
        }
        seconds[run] = now_seconds() - start;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct cert_crl_request request;
    struct cert_crl_der crl = {0};
    double seconds[RUNS_MAX], sorted[RUNS_MAX], fill_start, fill;
    struct store *store = NULL;
    struct hal *hal = NULL;
    struct adcp_error err = {0};
    struct options o;
    struct rusage usage_now;
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0)
        return 2;
    memset(&request, 0, sizeof(request));
    request.ca_cert = read_certificate(o.ca_cert);
    if (request.ca_cert == NULL ||
        store_open_sqlite(o.db, &store, &err) != ADCP_OK)
        goto out;
    store_close(store); /* the schema is made; the fill writes directly */
    store = NULL;
    fill_start = now_seconds();
    if (fill_database(o.db, o.entries) != 0)
        goto out;
    fill = now_seconds() - fill_start;
    if (store_open_sqlite(o.db, &store, &err) != ADCP_OK)
        goto out;
    request.ca_key = open_ca_key(&o, &hal);
    if (request.ca_key == NULL)
        goto out;
    request.digest = "sha256";
    request.store = store;
    request.this_update = time(NULL);
    request.next_update = request.this_update + CERT_CRL_DEFAULT_LIFETIME;
    if (run_builds(&o, &request, seconds, &crl) != 0)
        goto out;
    if (o.out != NULL && write_file(o.out, &crl) != 0)
        goto out;
    memcpy(sorted, seconds, sizeof(double) * (size_t)o.runs);
    qsort(sorted, (size_t)o.runs, sizeof(double), compare_doubles);
    getrusage(RUSAGE_SELF, &usage_now);
    printf("{\"entries\": %zu, \"fill_s\": %.3f, \"runs_s\": [", crl.entries,
           fill);
    for (int run = 0; run < o.runs; run++)
        printf("%s%.3f", run > 0 ? ", " : "", seconds[run]);
    printf("], \"median_s\": %.3f, \"der_bytes\": %zu, \"peak_rss_kib\": "
           "%ld}\n",
           sorted[o.runs / 2], crl.len, usage_now.ru_maxrss);
    rc = 0;
out:
    if (rc != 0 && err.message[0] != '\0')
        fprintf(stderr, "crl_build: %s\n", err.message);
    free(crl.der);
    EVP_PKEY_free(request.ca_key);
    X509_free(request.ca_cert);
    store_close(store);
    hal_free(hal);
    return rc;
}
