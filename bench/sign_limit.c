/*
 * sign_limit: measures how many CSR checks and CA signatures per second
 * one token allows, and the CPU seconds each costs, with N threads (one
 * session each). Prints one JSON object on stdout. See sign_limit.h for
 * the signers and docs/benchmarks.md for how the figures are used.
 */
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sign_limit.h"

#define LIMIT_CSR_MAX 4096
#define LIMIT_THREADS_MAX 64
#define LIMIT_SECONDS_MAX 600
/* Signed when no CSR is given: about the size of a certificate's TBS. */
#define LIMIT_PLAIN_LEN 800

struct limit_csr {
    X509_REQ *req;
    unsigned char *der; /* the message signed after checking req */
    int der_len;
    char *pem;          /* what the issue signer receives */
};

struct limit_run {
    const struct limit_signer_ops *ops;
    struct limit_signer *signer;
    struct limit_csr *csrs;
    size_t csr_count;             /* 0: sign only */
    unsigned char plain[LIMIT_PLAIN_LEN];
    double seconds;
    unsigned long max_ops_per_thread;
    pthread_barrier_t start;
    struct timespec deadline;     /* set before the barrier opens */
    atomic_bool failed;           /* a thread stopped on an error */
};

struct limit_thread {
    struct limit_run *run;
    unsigned index;
    unsigned count;               /* threads in the run */
    pthread_t id;
    unsigned long ops;
};

struct limit_args {
    struct limit_options options;
    const char *signer_name;
    const char *csr_file;         /* NULL: sign only */
    double seconds;
    unsigned long max_ops;
};

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: sign_limit --pin-file FILE [OPTIONS]\n"
        "  --module PATH     PKCS#11 module (default "
        "/usr/lib/softhsm/libsofthsm2.so)\n"
        "  --token LABEL     token label (default hsm4ssl)\n"
        "  --pin-file FILE   user PIN, first line, mode 0600\n"
        "  --key LABEL       CA private key label (default "
        "hsm4ssl-root-ca)\n"
        "  --signer NAME     raw (PKCS#11), hal, evp or issue (default "
        "raw)\n"
        "  --ca-cert FILE    PEM CA certificate of the key (issue only)\n"
        "  --csr FILE        PEM CSRs to verify, one per iteration, before "
        "each\n"
        "                    signature; without it only signatures are "
        "timed\n"
        "  --threads N       threads, one session each, 1 to 64 (default "
        "1)\n"
        "  --seconds S       length of the timed loop, 0.1 to 600 "
        "(default 3)\n"
        "  --max-ops N       stop after N iterations in all (default "
        "10000000)\n"
        "Prints one JSON object: iterations, seconds, ops_per_s, "
        "cpu_s_per_op.\n");
}

static int
copy_option(char *out, const char *value, const char *name)
{
    if (strlen(value) >= LIMIT_TEXT_MAX) {
        fprintf(stderr, "sign_limit: %s is longer than %d bytes\n", name,
                LIMIT_TEXT_MAX - 1);
        return -1;
    }
    memcpy(out, value, strlen(value) + 1);
    return 0;
}

static int
parse_number(const char *value, const char *name, double min, double max,
              double *out)
{
    char *end;
    double number;

    errno = 0;
    number = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || number < min ||
        number > max) {
        fprintf(stderr, "sign_limit: invalid %s %s; use %g to %g\n", name,
                value, min, max);
        return -1;
    }
    *out = number;
    return 0;
}

/* Applies one option and its value; returns 0, or -1 for a bad one. */
static int
parse_option(struct limit_args *args, const char *name, const char *value)
{
    struct limit_options *o = &args->options;
    double number;

    if (strcmp(name, "--module") == 0)
        return copy_option(o->module_path, value, name);
    if (strcmp(name, "--token") == 0)
        return copy_option(o->token_label, value, name);
    if (strcmp(name, "--pin-file") == 0)
        return copy_option(o->pin_file, value, name);
    if (strcmp(name, "--key") == 0)
        return copy_option(o->key_label, value, name);
    if (strcmp(name, "--ca-cert") == 0)
        return copy_option(o->ca_cert_file, value, name);
    if (strcmp(name, "--signer") == 0) {
        args->signer_name = value;
        return 0;
    }
    if (strcmp(name, "--csr") == 0) {
        args->csr_file = value;
        return 0;
    }
    if (strcmp(name, "--threads") == 0) {
        if (parse_number(value, name, 1, LIMIT_THREADS_MAX, &number) != 0)
            return -1;
        o->threads = (unsigned)number;
        return 0;
    }
    if (strcmp(name, "--seconds") == 0)
        return parse_number(value, name, 0.1, LIMIT_SECONDS_MAX,
                            &args->seconds);
    if (strcmp(name, "--max-ops") == 0) {
        if (parse_number(value, name, 1, 1e9, &number) != 0)
            return -1;
        args->max_ops = (unsigned long)number;
        return 0;
    }
    fprintf(stderr, "sign_limit: unknown option %s; see --help\n", name);
    return -1;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error. */
static int
parse_args(int argc, char **argv, struct limit_args *args)
{
    memset(args, 0, sizeof(*args));
    strcpy(args->options.module_path, "/usr/lib/softhsm/libsofthsm2.so");
    strcpy(args->options.token_label, "hsm4ssl");
    strcpy(args->options.key_label, "hsm4ssl-root-ca");
    args->options.threads = 1;
    args->signer_name = "raw";
    args->seconds = 3;
    args->max_ops = 10000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sign_limit: option %s is missing its value\n",
                    argv[i]);
            return -1;
        }
        if (parse_option(args, argv[i], argv[i + 1]) != 0)
            return -1;
        i++;
    }
    if (args->options.pin_file[0] == '\0') {
        fprintf(stderr, "sign_limit: --pin-file is required\n");
        return -1;
    }
    return 0;
}

static const struct limit_signer_ops *
signer_by_name(const char *name)
{
    static const struct limit_signer_ops *const all[] = {
        &limit_signer_raw, &limit_signer_hal, &limit_signer_evp,
        &limit_signer_issue,
    };

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    }
    fprintf(stderr, "sign_limit: unknown --signer %s; use raw, hal, evp or "
            "issue\n", name);
    return NULL;
}

static void
free_csrs(struct limit_csr *csrs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        X509_REQ_free(csrs[i].req);
        OPENSSL_free(csrs[i].der);
        free(csrs[i].pem);
    }
    free(csrs);
}

static char *
pem_of_req(X509_REQ *req)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy = NULL;
    long len;

    if (bio != NULL && PEM_write_bio_X509_REQ(bio, req) == 1) {
        len = BIO_get_mem_data(bio, &data);
        if (len > 0)
            copy = strndup(data, (size_t)len);
    }
    BIO_free(bio);
    return copy;
}

/* Reads every CSR of a PEM file and checks each once, so that the timed
 * loop only meets CSRs that verify. */
static int
load_csrs(const char *path, struct limit_csr **out, size_t *count)
{
    struct limit_csr *csrs = calloc(LIMIT_CSR_MAX, sizeof(*csrs));
    FILE *file = fopen(path, "r");
    size_t n = 0;
    int ret = -1;
    X509_REQ *req;

    if (csrs == NULL || file == NULL) {
        fprintf(stderr, "sign_limit: cannot read --csr %s: %s\n", path,
                strerror(errno));
        goto out;
    }
    while (n < LIMIT_CSR_MAX &&
           (req = PEM_read_X509_REQ(file, NULL, NULL, NULL)) != NULL) {
        csrs[n].req = req;
        csrs[n].der = NULL;
        csrs[n].der_len = i2d_X509_REQ(req, &csrs[n].der);
        csrs[n].pem = pem_of_req(req);
        n++;
        if (csrs[n - 1].der_len <= 0 || csrs[n - 1].pem == NULL ||
            X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
            fprintf(stderr, "sign_limit: CSR %zu of %s does not verify\n",
                    n, path);
            goto out;
        }
    }
    if (n == 0) {
        fprintf(stderr, "sign_limit: %s contains no PEM CSR\n", path);
        goto out;
    }
    *out = csrs;
    *count = n;
    csrs = NULL;
    ret = 0;
out:
    if (file != NULL)
        fclose(file);
    if (csrs != NULL)
        free_csrs(csrs, n);
    return ret;
}

static bool
before_deadline(const struct timespec *deadline)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec < deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec &&
            now.tv_nsec < deadline->tv_nsec);
}

/* One iteration: check the next CSR (when there are CSRs) and sign. */
static int
run_iteration(struct limit_run *run, unsigned thread, size_t csr_index)
{
    const struct limit_csr *csr;

    if (run->csr_count == 0)
        return run->ops->sign(run->signer, thread, run->plain,
                              sizeof(run->plain));
    csr = &run->csrs[csr_index % run->csr_count];
    if (run->ops->issues_from_csr)
        return run->ops->sign(run->signer, thread,
                              (const unsigned char *)csr->pem,
                              strlen(csr->pem));
    if (X509_REQ_verify(csr->req, X509_REQ_get0_pubkey(csr->req)) != 1) {
        fprintf(stderr, "sign_limit: X509_REQ_verify failed in the loop\n");
        return -1;
    }
    return run->ops->sign(run->signer, thread, csr->der,
                          (size_t)csr->der_len);
}

static void *
thread_main(void *arg)
{
    struct limit_thread *t = arg;
    struct limit_run *run = t->run;

    pthread_barrier_wait(&run->start);
    while (t->ops < run->max_ops_per_thread &&
           !atomic_load(&run->failed) && before_deadline(&run->deadline)) {
        /* Thread i takes CSRs i, i + count, ... so all are used. */
        if (run_iteration(run, t->index, t->ops * t->count + t->index) !=
            0) {
            atomic_store(&run->failed, true);
            break;
        }
        t->ops++;
    }
    return NULL;
}

static double
seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) +
           (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static double
cpu_seconds(void)
{
    struct rusage usage;

    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
           (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static void
print_result(const struct limit_args *args, const struct limit_key_info *key,
             unsigned long ops, double wall, double cpu)
{
    printf("{\"signer\": \"%s\", \"work\": \"%s\", \"key\": \"%s\", "
           "\"threads\": %u, \"iterations\": %lu, \"seconds\": %.3f, "
           "\"ops_per_s\": %.1f, \"cpu_s_per_op\": %.9f}\n",
           args->signer_name,
           strcmp(args->signer_name, "issue") == 0 ? "issue"
           : args->csr_file                        ? "verify+sign"
                                                   : "sign",
           key->spec, args->options.threads, ops, wall,
           wall > 0 ? (double)ops / wall : 0.0,
           ops > 0 ? cpu / (double)ops : 0.0);
}

/* Starts the threads, opens the barrier with the deadline set, joins them
 * and prints the figures. Returns 0, or -1 when an iteration failed. */
static int
run_threads(struct limit_run *run, const struct limit_args *args,
            const struct limit_key_info *key)
{
    unsigned count = args->options.threads;
    struct limit_thread threads[LIMIT_THREADS_MAX];
    struct timespec start, end;
    unsigned long ops = 0;
    double cpu_start;

    pthread_barrier_init(&run->start, NULL, count + 1);
    for (unsigned i = 0; i < count; i++) {
        threads[i] = (struct limit_thread){run, i, count, 0, 0};
        if (pthread_create(&threads[i].id, NULL, thread_main,
                           &threads[i]) != 0) {
            /* The threads already started wait at a barrier that can no
             * longer fill, so the process ends here. */
            fprintf(stderr, "sign_limit: cannot start thread %u\n", i);
            exit(1);
        }
    }
    cpu_start = cpu_seconds();
    clock_gettime(CLOCK_MONOTONIC, &start);
    run->deadline = start;
    run->deadline.tv_sec += (time_t)run->seconds;
    run->deadline.tv_nsec += (long)((run->seconds - (double)(time_t)
                                     run->seconds) * 1e9);
    if (run->deadline.tv_nsec >= 1000000000L) {
        run->deadline.tv_sec++;
        run->deadline.tv_nsec -= 1000000000L;
    }
    pthread_barrier_wait(&run->start);
    for (unsigned i = 0; i < count; i++) {
        pthread_join(threads[i].id, NULL);
        ops += threads[i].ops;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_barrier_destroy(&run->start);
    if (atomic_load(&run->failed))
        return -1;
    print_result(args, key, ops, seconds_between(&start, &end),
                 cpu_seconds() - cpu_start);
    return 0;
}

int
main(int argc, char **argv)
{
    struct limit_run run;
    struct limit_args args;
    struct limit_key_info key = {""};
    int ret = 1;

    memset(&run, 0, sizeof(run));
    switch (parse_args(argc, argv, &args)) {
    case 1:
        return 0;
    case -1:
        return 2;
    default:
        break;
    }
    run.ops = signer_by_name(args.signer_name);
    if (run.ops == NULL)
        return 2;
    run.seconds = args.seconds;
    run.max_ops_per_thread = args.max_ops / args.options.threads;
    if (run.max_ops_per_thread == 0)
        run.max_ops_per_thread = 1;
    memset(run.plain, 0x5a, sizeof(run.plain));
    atomic_init(&run.failed, false);
    if (run.ops->issues_from_csr && args.csr_file == NULL) {
        fprintf(stderr, "sign_limit: --signer issue needs --csr\n");
        goto out;
    }
    if (args.csr_file != NULL &&
        load_csrs(args.csr_file, &run.csrs, &run.csr_count) != 0)
        goto out;
    if (run.ops->open(&args.options, &run.signer, &key) != 0)
        goto out;
    if (run_threads(&run, &args, &key) == 0)
        ret = 0;
out:
    run.ops->close(run.signer);
    free_csrs(run.csrs, run.csr_count);
    return ret;
}
