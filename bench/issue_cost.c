/*
 * issue_cost: the cost of one certificate issuance in process, without
 * HTTP, storage or the audit log, for counting instructions with
 * callgrind. It makes a SoftHSM2 token in a new temporary directory,
 * generates the CA key in it, creates the root with that key through the
 * project's provider and issues from pre-made CSRs whose keys match the
 * CA's type.
 *
 * Modes:
 *   issue  cert_issue_from_csr on a PEM CSR, as the server runs it
 *   floor  X509_REQ_verify on a decoded CSR, then hal_key_sign over the
 *          SHA-256 digest of its DER: the work no CA can skip
 *
 * Each run first does --warmup iterations, then --count iterations inside
 * measure_iterations, so that callgrind can count that function alone:
 *
 *   valgrind --tool=callgrind --collect-atstart=no \
 *       --toggle-collect=measure_iterations \
 *       build/bench/issue_cost --key ec:256 --mode issue --count 200
 *
 * Instructions per certificate are then the total Ir divided by --count.
 * The program also prints the CPU seconds per iteration (getrusage).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hal/hal.h"
#include "managers/cert_issue.h"

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN_LABEL "issue-cost"
#define CA_KEY_LABEL "issue-cost-ca"
#define SO_PIN "5678"
#define USER_PIN "1234"
#define CSR_COUNT 8
#define COUNT_MAX 1000000UL
#define HOST_NAME "bench"

static char host_dns_name[] = "bench.example.test";
static char host_ip_address[] = "127.0.0.1";
static char *const host_dns_names[] = {host_dns_name};
static char *const host_ip_addresses[] = {host_ip_address};

/* The host and limits that bench/run.sh gives the server. */
static const struct issue_host bench_host = {
    HOST_NAME, host_dns_names, 1, host_ip_addresses, 1,
};
static const struct issue_limits bench_limits = {365, 825, 2048};

enum cost_mode { MODE_ISSUE, MODE_FLOOR };

struct cost_options {
    enum hal_key_type key_type;
    unsigned key_bits;
    enum cost_mode mode;
    unsigned long count;
    unsigned long warmup;
};

struct cost_csr {
    char *pem;
    X509_REQ *req;
    unsigned char *der;
    int der_len;
};

struct cost_run {
    char dir[PATH_MAX];
    struct hal *hal;
    struct hal_key *ca_key;
    EVP_PKEY *ca_evp;
    X509 *root; /* read from PEM, as hsm4ssld serve reads ca/root.crt */
    struct cost_csr csrs[CSR_COUNT];
    enum hal_sign_scheme scheme;
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: issue_cost [--key rsa:2048|ec:256] [--mode issue|floor]"
            "\n                  [--count N] [--warmup N]\n"
            "  --key     CA and CSR key type (default ec:256)\n"
            "  --mode    issue: cert_issue_from_csr on a PEM CSR;\n"
            "            floor: X509_REQ_verify and hal_key_sign only\n"
            "            (default issue)\n"
            "  --count   measured iterations, 1 to %lu (default 200)\n"
            "  --warmup  iterations before the measured ones (default 5)\n",
            COUNT_MAX);
}

static int
parse_count(const char *text, unsigned long min, unsigned long *out)
{
    char *end = NULL;
    unsigned long value;

    errno = 0;
    value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min ||
        value > COUNT_MAX) {
        fprintf(stderr, "issue_cost: '%s' is not a count from %lu to %lu\n",
                text, min, COUNT_MAX);
        return -1;
    }
    *out = value;
    return 0;
}

static int
parse_key(const char *text, struct cost_options *options)
{
    if (strcmp(text, "rsa:2048") == 0) {
        options->key_type = HAL_KEY_RSA;
        options->key_bits = 2048;
    } else if (strcmp(text, "ec:256") == 0) {
        options->key_type = HAL_KEY_EC;
        options->key_bits = 256;
    } else {
        fprintf(stderr, "issue_cost: --key '%s' is not rsa:2048 or "
                        "ec:256\n", text);
        return -1;
    }
    return 0;
}

static int
parse_mode(const char *text, struct cost_options *options)
{
    if (strcmp(text, "issue") == 0)
        options->mode = MODE_ISSUE;
    else if (strcmp(text, "floor") == 0)
        options->mode = MODE_FLOOR;
    else {
        fprintf(stderr, "issue_cost: --mode '%s' is not issue or floor\n",
                text);
        return -1;
    }
    return 0;
}

static int
parse_args(int argc, char **argv, struct cost_options *options)
{
    options->key_type = HAL_KEY_EC;
    options->key_bits = 256;
    options->mode = MODE_ISSUE;
    options->count = 200;
    options->warmup = 5;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        int rc;

        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (value == NULL) {
            usage(stderr);
            return -1;
        }
        if (strcmp(argv[i], "--key") == 0)
            rc = parse_key(value, options);
        else if (strcmp(argv[i], "--mode") == 0)
            rc = parse_mode(value, options);
        else if (strcmp(argv[i], "--count") == 0)
            rc = parse_count(value, 1, &options->count);
        else if (strcmp(argv[i], "--warmup") == 0)
            rc = parse_count(value, 0, &options->warmup);
        else {
            usage(stderr);
            return -1;
        }
        if (rc != 0)
            return -1;
        i++;
    }
    return 0;
}

/* Writes a SoftHSM2 configuration with its token directory inside dir and
 * points SOFTHSM2_CONF at it. */
static int
write_softhsm_config(const char *dir)
{
    char tokens[PATH_MAX + 16], conf[PATH_MAX + 16];
    FILE *file;

    snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
    if (mkdir(tokens, 0700) != 0)
        return -1;
    file = fopen(conf, "w");
    if (file == NULL)
        return -1;
    fprintf(file, "directories.tokendir = %s\nobjectstore.backend = file\n"
                  "log.level = ERROR\nslots.removable = false\n", tokens);
    if (fclose(file) != 0)
        return -1;
    return setenv("SOFTHSM2_CONF", conf, 1);
}

/*
 * Creates the root with the CA key and reads it back from its PEM. The
 * root's public key is then an ordinary key of the default provider, as
 * in the server, and not the HSM key that cert_root_create set.
 */
static int
make_root(struct cost_run *run)
{
    struct issue_result root;
    struct adcp_error err;
    BIO *bio;

    if (cert_root_create(run->ca_evp, "issue_cost root", "HSM4SSL bench",
                         3650, "sha256", &root, &err) != ADCP_OK) {
        fprintf(stderr, "issue_cost: root: %s\n", err.message);
        return -1;
    }
    bio = BIO_new_mem_buf(root.cert_pem, -1);
    if (bio != NULL)
        run->root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    issue_result_clear(&root);
    if (run->root == NULL) {
        fprintf(stderr, "issue_cost: the root's PEM cannot be parsed\n");
        return -1;
    }
    return 0;
}

/* Initialises the token and generates the CA key in it. */
static int
make_ca_key(struct cost_run *run, const struct cost_options *options)
{
    struct hal_hsm_config cfg;
    struct hal_keygen spec;
    struct adcp_error err;
    struct hal_hsm *hsm;

    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.name, sizeof(cfg.name), "softhsm");
    snprintf(cfg.module_path, sizeof(cfg.module_path), "%s", SOFTHSM_MODULE);
    snprintf(cfg.token_label, sizeof(cfg.token_label), "%s", TOKEN_LABEL);
    memset(&spec, 0, sizeof(spec));
    spec.type = options->key_type;
    spec.bits = options->key_bits;
    snprintf(spec.label, sizeof(spec.label), "%s", CA_KEY_LABEL);
    if (hal_new(&run->hal, &err) != ADCP_OK ||
        hal_add_hsm(run->hal, &cfg, &err) != ADCP_OK ||
        (hsm = hal_hsm_find(run->hal, "softhsm")) == NULL ||
        hal_token_init(hsm, SO_PIN, USER_PIN, &err) != ADCP_OK ||
        hal_key_generate(hsm, &spec, &run->ca_key, &err) != ADCP_OK) {
        fprintf(stderr, "issue_cost: token setup failed: %s\n",
                err.message);
        return -1;
    }
    run->ca_evp = hal_key_evp(run->ca_key);
    if (run->ca_evp == NULL) {
        fprintf(stderr, "issue_cost: the provider has no EVP_PKEY for the "
                        "CA key\n");
        return -1;
    }
    run->scheme = options->key_type == HAL_KEY_RSA ? HAL_SIGN_RSA_PKCS1
                                                   : HAL_SIGN_ECDSA;
    return make_root(run);
}

static EVP_PKEY *
make_subject_key(const struct cost_options *options)
{
    if (options->key_type == HAL_KEY_RSA)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                 (size_t)options->key_bits);
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* Adds the host's DNS name as a requested subjectAltName, as
 * `openssl req -addext` would. */
static bool
add_requested_san(X509_REQ *req)
{
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *ext;
    bool ok;

    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
                              "DNS:bench.example.test");
    ok = exts != NULL && ext != NULL && sk_X509_EXTENSION_push(exts, ext) &&
         X509_REQ_add_extensions(req, exts);
    if (!ok || sk_X509_EXTENSION_num(exts) == 0)
        X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_free(exts);
    return ok;
}

static char *
pem_of_req(X509_REQ *req)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy = NULL;
    long len;

    if (bio != NULL && PEM_write_bio_X509_REQ(bio, req) == 1) {
        len = BIO_get_mem_data(bio, &data);
        copy = strndup(data, (size_t)len);
    }
    BIO_free(bio);
    return copy;
}

/* Makes a CSR for CN=bench with a new key, signed with SHA-256. */
static int
make_csr(struct cost_csr *csr, const struct cost_options *options)
{
    EVP_PKEY *key = make_subject_key(options);
    X509_NAME *name;
    int rc = -1;

    csr->req = X509_REQ_new();
    if (key == NULL || csr->req == NULL)
        goto out;
    name = X509_REQ_get_subject_name(csr->req);
    if (!X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
                                    (const unsigned char *)HOST_NAME, -1,
                                    -1, 0) ||
        !X509_REQ_set_pubkey(csr->req, key) || !add_requested_san(csr->req) ||
        X509_REQ_sign(csr->req, key, EVP_sha256()) <= 0)
        goto out;
    csr->pem = pem_of_req(csr->req);
    csr->der_len = i2d_X509_REQ(csr->req, &csr->der);
    if (csr->pem != NULL && csr->der_len > 0)
        rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "issue_cost: making a CSR failed\n");
    EVP_PKEY_free(key);
    return rc;
}

static int
remove_entry(const char *path, const struct stat *st, int type,
             struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "issue_cost: cannot remove %s: %s\n", path,
                strerror(errno));
    return 0;
}

static void
run_free(struct cost_run *run)
{
    for (size_t i = 0; i < CSR_COUNT; i++) {
        free(run->csrs[i].pem);
        X509_REQ_free(run->csrs[i].req);
        OPENSSL_free(run->csrs[i].der);
    }
    X509_free(run->root);
    EVP_PKEY_free(run->ca_evp);
    hal_key_unref(run->ca_key);
    hal_free(run->hal);
    if (run->dir[0] != '\0')
        nftw(run->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
run_setup(struct cost_run *run, const struct cost_options *options)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(run->dir, sizeof(run->dir), "%s/issue_cost.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(run->dir) == NULL) {
        fprintf(stderr, "issue_cost: cannot make a directory in %s: %s\n",
                tmp != NULL ? tmp : "/tmp", strerror(errno));
        run->dir[0] = '\0';
        return -1;
    }
    if (write_softhsm_config(run->dir) != 0) {
        fprintf(stderr, "issue_cost: cannot write the SoftHSM2 "
                        "configuration in %s\n", run->dir);
        return -1;
    }
    if (make_ca_key(run, options) != 0)
        return -1;
    for (size_t i = 0; i < CSR_COUNT; i++)
        if (make_csr(&run->csrs[i], options) != 0)
            return -1;
    return 0;
}

static int
issue_once(struct cost_run *run, const struct cost_csr *csr)
{
    struct issue_request request = {csr->pem, "sha256", 365, NULL};
    struct issue_result result;
    struct adcp_error err;
    enum adcp_status status;

    status = cert_issue_from_csr(run->root, run->ca_evp, &bench_host,
                                 &request, &bench_limits, &result, &err);
    issue_result_clear(&result);
    if (status != ADCP_OK) {
        fprintf(stderr, "issue_cost: cert_issue_from_csr: %s\n",
                err.message);
        return -1;
    }
    return 0;
}

static int
floor_once(struct cost_run *run, const struct cost_csr *csr)
{
    unsigned char digest[32], signature[512];
    size_t signature_len = sizeof(signature);
    struct adcp_error err;
    EVP_PKEY *key = X509_REQ_get0_pubkey(csr->req);

    if (key == NULL || X509_REQ_verify(csr->req, key) != 1) {
        fprintf(stderr, "issue_cost: X509_REQ_verify failed\n");
        return -1;
    }
    if (EVP_Digest(csr->der, (size_t)csr->der_len, digest, NULL,
                   EVP_sha256(), NULL) != 1 ||
        hal_key_sign(run->ca_key, run->scheme, EVP_sha256(), digest,
                     sizeof(digest), signature, &signature_len,
                     &err) != ADCP_OK) {
        fprintf(stderr, "issue_cost: hal_key_sign failed\n");
        return -1;
    }
    return 0;
}

static int
run_iterations(struct cost_run *run, enum cost_mode mode,
               unsigned long count)
{
    for (unsigned long i = 0; i < count; i++) {
        const struct cost_csr *csr = &run->csrs[i % CSR_COUNT];
        int rc = mode == MODE_ISSUE ? issue_once(run, csr)
                                    : floor_once(run, csr);

        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The function that callgrind's --toggle-collect names. noinline keeps it
 * a function of its own in the profile. */
__attribute__((noinline)) int
measure_iterations(struct cost_run *run, enum cost_mode mode,
                   unsigned long count);

__attribute__((noinline)) int
measure_iterations(struct cost_run *run, enum cost_mode mode,
                   unsigned long count)
{
    return run_iterations(run, mode, count);
}

static double
cpu_seconds(void)
{
    struct rusage usage;

    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
           (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
    struct cost_options options;
    struct cost_run run;
    double cpu_start;
    int rc = 1;

    memset(&run, 0, sizeof(run));
    if (parse_args(argc, argv, &options) != 0)
        return 2;
    if (access(SOFTHSM_MODULE, R_OK) != 0) {
        fprintf(stderr, "issue_cost: %s is missing; install softhsm2\n",
                SOFTHSM_MODULE);
        return 1;
    }
    if (run_setup(&run, &options) != 0 ||
        run_iterations(&run, options.mode, options.warmup) != 0)
        goto out;
    cpu_start = cpu_seconds();
    if (measure_iterations(&run, options.mode, options.count) != 0)
        goto out;
    printf("{\"key\": \"%s:%u\", \"mode\": \"%s\", \"count\": %lu, "
           "\"cpu_s_per_op\": %.9f}\n",
           options.key_type == HAL_KEY_RSA ? "rsa" : "ec", options.key_bits,
           options.mode == MODE_ISSUE ? "issue" : "floor", options.count,
           (cpu_seconds() - cpu_start) / (double)options.count);
    rc = 0;
out:
    run_free(&run);
    return rc;
}
