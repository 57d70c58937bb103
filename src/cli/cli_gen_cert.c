/*
 * -gen_cert: makes a key pair and CSR on this host and has the server
 * issue the certificate.
 *
 * Nothing in DIR changes unless the certificate is issued. The new key is
 * staged under a temporary name in private/ before the request, so that a
 * full disk cannot lose the key of an issued certificate. It is moved into
 * place only after the certificate was checked. When a signal ends the run
 * first, cli_file.c's handler removes the staged key; after SIGKILL, the
 * next run for the same NAME does.
 */
#include "cli/cli_auth.h"
#include "cli/cli_chain.h"
#include "cli/cli_commands.h"
#include "cli/cli_config.h"
#include "cli/cli_exit.h"
#include "cli/cli_file.h"
#include "cli/cli_http.h"
#include "cli/cli_keyfile.h"
#include "cli/cli_keyspec.h"
#include "cli/cli_pass.h"
#include "cli/cli_pem.h"
#include "common/log.h"
#include "common/secret.h"

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Chain files hold a few certificates. */
#define CHAIN_MAX_BYTES (1024 * 1024)
/* A serial of up to 64 bytes in hex, its sign and the NUL; RFC 5280
 * allows 20 bytes. */
#define CERT_SERIAL_TEXT_MAX 132

/* Everything one -gen_cert run holds; released by release_job. */
struct gen_cert_job {
    const struct cli_options *opts;
    struct cli_keyspec spec;
    struct cli_layout layout;
    struct cli_config cfg;
    struct cli_auth auth;
    struct cli_http_trust trust;
    char dir_path[PATH_MAX];
    char ca_path[PATH_MAX];
    char key_name[CLI_NAME_MAX + 8];
    char csr_name[CLI_NAME_MAX + 8];
    char cert_name[CLI_NAME_MAX + 8];
    const char *server;
    X509 *root;             /* the pinned root, from the chain file */
    EVP_PKEY *key;
    char *passphrase;       /* of the new key: a secret */
    char *key_pem;
    size_t key_len;
    char *csr_pem;
    size_t csr_len;
    struct cli_staged_file staged_key;
    json_t *response;
    X509 *cert;
    char *chain_pem;        /* the new content of ca-chain.crt */
    size_t chain_len;
};

static int
check_name(const char *name)
{
    int rc = cli_require(name, "-name NAME", "gen_cert");

    if (rc != CLI_EXIT_OK)
        return rc;
    if (!cli_file_name_valid(name))
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -name %s: use 1 to %d letters, digits, "
                        "'.', '_' or '-', and not . or ..", name,
                        CLI_NAME_MAX);
    return CLI_EXIT_OK;
}

/* Reads the pinned root out of the CA file, so that the issued
 * certificate can be checked against it. */
static int
load_root(struct gen_cert_job *job)
{
    char *pem = NULL;
    size_t len = 0;
    int rc;

    rc = cli_file_read_path(job->ca_path, CHAIN_MAX_BYTES, &pem, &len);
    if (rc != CLI_EXIT_OK)
        return rc;
    job->root = cli_chain_find_root(pem, len, job->cfg.fingerprint);
    free(pem);
    if (job->root == NULL)
        return cli_fail(CLI_EXIT_LOCAL,
                        "%s does not contain the pinned CA root (%s in "
                        "config.json); run ssleverywhere -enroll again",
                        job->ca_path, job->cfg.fingerprint);
    return CLI_EXIT_OK;
}

/* Checks the command line and the local state before anything is made. */
static int
prepare(struct gen_cert_job *job)
{
    const struct cli_options *opts = job->opts;
    int rc;

    rc = check_name(opts->name);
    if (rc == CLI_EXIT_OK)
        rc = cli_keyspec_from_gen_cert(opts, &job->spec);
    if (rc == CLI_EXIT_OK && opts->server != NULL)
        rc = cli_http_check_server(opts->server, "-server");
    if (rc == CLI_EXIT_OK)
        rc = cli_config_dir_path(opts, job->dir_path,
                                 sizeof(job->dir_path));
    if (rc == CLI_EXIT_OK)
        rc = cli_layout_open(&job->layout, job->dir_path, false);
    if (rc == CLI_EXIT_OK)
        rc = cli_config_load(&job->layout.root, &job->cfg);
    if (rc != CLI_EXIT_OK)
        return rc;
    job->server = opts->server != NULL ? opts->server : job->cfg.server;
    snprintf(job->key_name, sizeof(job->key_name), "%s.key", opts->name);
    snprintf(job->csr_name, sizeof(job->csr_name), "%s.csr", opts->name);
    snprintf(job->cert_name, sizeof(job->cert_name), "%s.crt", opts->name);
    if (!opts->force && cli_file_exists(&job->layout.private_dir,
                                        job->key_name))
        return cli_fail(CLI_EXIT_LOCAL,
                        "%s/%s exists; give -force to replace it (the old "
                        "key is then lost)", job->layout.private_dir.path,
                        job->key_name);
    rc = cli_auth_trust(&job->trust, job->ca_path, sizeof(job->ca_path),
                        opts, job->dir_path);
    if (rc == CLI_EXIT_OK)
        rc = load_root(job);
    return rc;
}

static int
choose_auth(struct gen_cert_job *job)
{
    if (job->cfg.identity != NULL)
        return cli_auth_identity(&job->auth, &job->layout, &job->cfg,
                                 job->opts);
    return cli_auth_enrollment_token(&job->auth, job->cfg.enrollment_token);
}

/* Generates the key and CSR and stages the encrypted key file. */
static int
make_key(struct gen_cert_job *job)
{
    char key_path[PATH_MAX + CLI_NAME_MAX + 8];
    int rc;

    snprintf(key_path, sizeof(key_path), "%s/%s",
             job->layout.private_dir.path, job->key_name);
    rc = cli_pass_read(job->opts->passout, "-passout", key_path, true,
                       &job->passphrase);
    if (rc == CLI_EXIT_OK)
        rc = cli_keyfile_generate(&job->spec, &job->key);
    if (rc == CLI_EXIT_OK)
        rc = cli_keyfile_encrypt(job->key, job->spec.cipher,
                                 job->passphrase, &job->key_pem,
                                 &job->key_len);
    secret_clear_string(&job->passphrase);
    if (rc == CLI_EXIT_OK)
        rc = cli_keyfile_make_csr(job->key, job->opts->name,
                                  job->spec.digest, &job->csr_pem,
                                  &job->csr_len);
    if (rc == CLI_EXIT_OK)
        rc = cli_file_stage(&job->staged_key, &job->layout.private_dir,
                            job->key_name, job->key_pem, job->key_len,
                            0600);
    return rc;
}

static json_t *
build_request(const struct gen_cert_job *job)
{
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:i}}", "csr_details", "csr",
                     job->csr_pem, "csr_file", job->csr_name, "cert_details",
                     "hash_algorithm", job->spec.digest, "days",
                     job->spec.days);
}

/* Sends the CSR and checks the certificate that comes back. */
static int
request_certificate(struct gen_cert_job *job)
{
    json_t *body = build_request(job);
    const char *chain;
    int rc;

    if (body == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "cannot encode the request");
    log_debug("requesting a certificate for CN=%s with %s",
              job->opts->name, job->auth.description);
    rc = cli_http_request(job->server, "POST", "/v1/certificates",
                          &job->trust, &job->auth.http, body,
                          &job->response);
    json_decref(body);
    if (rc != CLI_EXIT_OK)
        return rc;
    chain = json_string_value(json_object_get(job->response, "chain"));
    rc = cli_chain_build(chain, job->root, &job->chain_pem,
                         &job->chain_len);
    if (rc == CLI_EXIT_OK)
        rc = cli_chain_check_issued(
            json_string_value(json_object_get(job->response, "certificate")),
            job->chain_pem, job->root, job->key, &job->cert);
    return rc;
}

static int
write_certificate(struct gen_cert_job *job)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (bio == NULL || PEM_write_bio_X509(bio, job->cert) != 1 ||
        cli_pem_bio_to_string(bio, &data, &len) != 0)
        rc = cli_fail_openssl(CLI_EXIT_LOCAL,
                              "cannot encode the certificate");
    else
        rc = cli_file_write(&job->layout.certs, job->cert_name, data, len,
                            0644);
    free(data);
    BIO_free(bio);
    return rc;
}

/* Records the first certificate as this host's identity; the enrolment
 * token was used up by its issue. */
static int
record_identity(struct gen_cert_job *job)
{
    if (job->cfg.identity != NULL)
        return CLI_EXIT_OK;
    job->cfg.identity = strdup(job->opts->name);
    if (job->cfg.identity == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "out of memory");
    secret_clear_string(&job->cfg.enrollment_token);
    return cli_config_save(&job->layout.root, &job->cfg);
}

/* Puts key, CSR, certificate and chain in place, key first: without it
 * the rest is of no use. */
static int
store_results(struct gen_cert_job *job)
{
    bool first = job->cfg.identity == NULL;
    int rc;

    rc = cli_file_commit(&job->staged_key, job->opts->force);
    if (rc == CLI_EXIT_OK)
        rc = cli_file_write(&job->layout.csr, job->csr_name, job->csr_pem,
                            job->csr_len, 0644);
    if (rc == CLI_EXIT_OK)
        rc = write_certificate(job);
    if (rc == CLI_EXIT_OK)
        rc = cli_file_write(&job->layout.certs, CLI_CHAIN_FILE,
                            job->chain_pem, job->chain_len, 0644);
    if (rc == CLI_EXIT_OK)
        rc = record_identity(job);
    if (rc == CLI_EXIT_OK && first)
        cli_note("%s is now this host's identity for mTLS; the enrolment "
                 "token was removed from config.json", job->opts->name);
    return rc;
}

/* Prints what was written. The serial and expiry come from the checked
 * certificate, not from the response's JSON members, so that a server
 * cannot make this output differ from the file. */
static void
print_results(const struct gen_cert_job *job)
{
    char serial[CERT_SERIAL_TEXT_MAX], not_after[32];

    if (cli_pem_serial_format(job->cert, serial, sizeof(serial)) != 0)
        snprintf(serial, sizeof(serial), "(serial too long)");
    if (cli_pem_time_format(X509_get0_notAfter(job->cert), not_after) != 0)
        snprintf(not_after, sizeof(not_after), "(invalid time)");
    printf("private key written to %s/%s (%s %d, encrypted with %s)\n",
           job->layout.private_dir.path, job->key_name,
           cli_keyspec_type_name(job->spec.type), job->spec.bits,
           job->spec.cipher);
    printf("CSR written to %s/%s (CN=%s, %s)\n", job->layout.csr.path,
           job->csr_name, job->opts->name, job->spec.digest);
    printf("certificate %s valid until %s written to %s/%s\n", serial,
           not_after, job->layout.certs.path, job->cert_name);
    printf("CA chain written to %s/%s\n", job->layout.certs.path,
           CLI_CHAIN_FILE);
}

static void
release_job(struct gen_cert_job *job)
{
    cli_file_discard(&job->staged_key);
    free(job->chain_pem);
    X509_free(job->cert);
    json_decref(job->response);
    free(job->csr_pem);
    free(job->key_pem);
    secret_clear_string(&job->passphrase);
    EVP_PKEY_free(job->key);
    X509_free(job->root);
    cli_auth_free(&job->auth);
    cli_config_free(&job->cfg);
    cli_layout_close(&job->layout);
}

int
cli_gen_cert_run(const struct cli_options *opts)
{
    struct gen_cert_job job;
    int rc;

    memset(&job, 0, sizeof(job));
    job.opts = opts;
    job.layout.root.fd = job.layout.private_dir.fd = -1;
    job.layout.csr.fd = job.layout.certs.fd = -1;
    rc = prepare(&job);
    if (rc == CLI_EXIT_OK)
        rc = choose_auth(&job);
    if (rc == CLI_EXIT_OK)
        rc = make_key(&job);
    if (rc == CLI_EXIT_OK)
        rc = request_certificate(&job);
    if (rc == CLI_EXIT_OK)
        rc = store_results(&job);
    if (rc == CLI_EXIT_OK)
        print_results(&job);
    release_job(&job);
    return rc;
}
