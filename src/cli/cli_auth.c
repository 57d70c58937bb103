#include "cli/cli_auth.h"

#include "cli/cli_exit.h"
#include "cli/cli_keyfile.h"
#include "cli/cli_pass.h"
#include "common/secret.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Key and certificate files are a few kilobytes. */
#define CREDENTIAL_MAX_BYTES (256 * 1024)

static void
clear_auth(struct cli_auth *auth)
{
    memset(auth, 0, sizeof(*auth));
}

/* Checks that the certificate file contains a certificate for key. */
static int
match_certificate(const struct cli_dir *certs, const char *name,
                  const char *path, EVP_PKEY *key)
{
    char *pem = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    X509 *cert = NULL;
    int rc;

    rc = cli_file_read_at(certs, name, CREDENTIAL_MAX_BYTES, &pem, &len);
    if (rc != CLI_EXIT_OK)
        goto out;
    bio = BIO_new_mem_buf(pem, (int)len);
    cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (cert == NULL) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL,
                              "cannot read the certificate %s", path);
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        rc = cli_fail(CLI_EXIT_LOCAL,
                      "%s does not belong to the identity key; get a new "
                      "certificate with ssleverywhere -gen_cert -force",
                      path);
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    X509_free(cert);
    BIO_free(bio);
    free(pem);
    return rc;
}

/* Decrypts the identity key with the passphrase, which proves that the
 * passphrase is right before libcurl is given it. */
static int
unlock_key(struct cli_auth *auth, const struct cli_layout *layout,
           const char *key_name, EVP_PKEY **key)
{
    char *pem = NULL;
    size_t len = 0;
    int rc;

    rc = cli_file_read_secret_at(&layout->private_dir, key_name,
                                 CREDENTIAL_MAX_BYTES, &pem, &len);
    if (rc == CLI_EXIT_OK)
        rc = cli_keyfile_decrypt(pem, len, auth->passphrase, auth->key_path,
                                 key);
    free(pem);
    return rc;
}

int
cli_auth_identity(struct cli_auth *auth, const struct cli_layout *layout,
                  const struct cli_config *cfg,
                  const struct cli_options *opts)
{
    char key_name[CLI_NAME_MAX + 8], cert_name[CLI_NAME_MAX + 8];
    EVP_PKEY *key = NULL;
    int rc;

    clear_auth(auth);
    snprintf(key_name, sizeof(key_name), "%s.key", cfg->identity);
    snprintf(cert_name, sizeof(cert_name), "%s.crt", cfg->identity);
    if (snprintf(auth->key_path, sizeof(auth->key_path), "%s/%s",
                 layout->private_dir.path, key_name) >=
            (int)sizeof(auth->key_path) ||
        snprintf(auth->cert_path, sizeof(auth->cert_path), "%s/%s",
                 layout->certs.path, cert_name) >=
            (int)sizeof(auth->cert_path))
        return cli_fail(CLI_EXIT_LOCAL,
                        "the identity file paths in %s are too long; give a "
                        "shorter -dir", layout->root.path);
    rc = cli_pass_read(opts->passin, "-passin", auth->key_path, false,
                       &auth->passphrase);
    if (rc == CLI_EXIT_OK)
        rc = unlock_key(auth, layout, key_name, &key);
    if (rc == CLI_EXIT_OK)
        rc = match_certificate(&layout->certs, cert_name, auth->cert_path,
                               key);
    EVP_PKEY_free(key);
    if (rc != CLI_EXIT_OK) {
        cli_auth_free(auth);
        return rc;
    }
    auth->http.client_cert = auth->cert_path;
    auth->http.client_key = auth->key_path;
    auth->http.key_passphrase = auth->passphrase;
    auth->description = "the identity certificate";
    return CLI_EXIT_OK;
}

int
cli_auth_admin_token(struct cli_auth *auth, const char *path)
{
    clear_auth(auth);
    auth->token = secret_read_file(path);
    if (auth->token == NULL && errno == EPERM)
        return cli_fail(CLI_EXIT_LOCAL,
                        "invalid -admin_token_file %s: it is readable by "
                        "group or others; run chmod 600 %s", path, path);
    /* secret_read_file reports a directory or device as EINVAL. */
    if (auth->token == NULL && errno == EINVAL)
        return cli_fail(CLI_EXIT_LOCAL,
                        "invalid -admin_token_file %s: it is not a regular "
                        "file; give the token file, e.g. "
                        "DATA_DIR/admin.token", path);
    if (auth->token == NULL)
        return cli_fail(CLI_EXIT_LOCAL,
                        "cannot read -admin_token_file %s: %s", path,
                        strerror(errno));
    if (auth->token[0] == '\0') {
        cli_auth_free(auth);
        return cli_fail(CLI_EXIT_LOCAL,
                        "invalid -admin_token_file %s: the file is empty",
                        path);
    }
    auth->http.bearer = auth->token;
    auth->description = "the administrator token";
    return CLI_EXIT_OK;
}

int
cli_auth_enrollment_token(struct cli_auth *auth, const char *token)
{
    clear_auth(auth);
    auth->token = strdup(token);
    if (auth->token == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "out of memory");
    auth->http.bearer = auth->token;
    auth->description = "the enrolment token";
    return CLI_EXIT_OK;
}

void
cli_auth_free(struct cli_auth *auth)
{
    if (auth == NULL)
        return;
    secret_clear_string(&auth->passphrase);
    secret_clear_string(&auth->token);
    clear_auth(auth);
}

int
cli_auth_trust(struct cli_http_trust *trust, char *path, size_t size,
               const struct cli_options *opts, const char *dir_path)
{
    memset(trust, 0, sizeof(*trust));
    if (opts->cafile != NULL)
        snprintf(path, size, "%s", opts->cafile);
    else
        snprintf(path, size, "%s/certs/ca-chain.crt", dir_path);
    if (access(path, R_OK) != 0)
        return cli_fail(CLI_EXIT_LOCAL,
                        "cannot read the CA file %s: %s; give -cafile FILE "
                        "or run ssleverywhere -enroll first", path,
                        strerror(errno));
    trust->ca_file = path;
    return CLI_EXIT_OK;
}

int
cli_auth_choose(struct cli_auth *auth, const struct cli_options *opts,
                const char *dir_path, const struct cli_config *cfg,
                const char *command)
{
    struct cli_layout layout;
    int rc;

    if (opts->admin_token_file != NULL)
        return cli_auth_admin_token(auth, opts->admin_token_file);
    if (cfg->identity == NULL)
        return cli_fail(CLI_EXIT_USAGE,
                        "no credentials for -%s: get this host's "
                        "first certificate with -gen_cert, or give "
                        "-admin_token_file FILE", command);
    rc = cli_layout_open(&layout, dir_path, false);
    if (rc == CLI_EXIT_OK)
        rc = cli_auth_identity(auth, &layout, cfg, opts);
    cli_layout_close(&layout);
    return rc;
}

int
cli_auth_context_open(struct cli_auth_context *ctx,
                      const struct cli_options *opts, const char *command)
{
    int rc;

    memset(ctx, 0, sizeof(*ctx));
    rc = cli_config_load_server(opts, ctx->dir_path, sizeof(ctx->dir_path),
                                &ctx->cfg, &ctx->server, command);
    if (rc == CLI_EXIT_OK)
        rc = cli_auth_trust(&ctx->trust, ctx->ca_path, sizeof(ctx->ca_path),
                            opts, ctx->dir_path);
    if (rc == CLI_EXIT_OK)
        rc = cli_auth_choose(&ctx->auth, opts, ctx->dir_path, &ctx->cfg,
                             command);
    return rc;
}

void
cli_auth_context_free(struct cli_auth_context *ctx)
{
    cli_auth_free(&ctx->auth);
    cli_config_free(&ctx->cfg);
}
