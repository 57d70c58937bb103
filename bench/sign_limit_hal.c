/*
 * The HAL signers of sign_limit reach the same token and key through the
 * project's HAL. "hal" calls hal_key_sign over a digest. "evp" signs with
 * the HAL key as an EVP_PKEY of the project's provider (EVP_DigestSign),
 * which is the path the server's X509_sign takes to the HSM. "issue" runs
 * the server's whole cert_issue_from_csr with that EVP_PKEY.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal.h"
#include "managers/cert_issue.h"
#include "sign_limit.h"

struct limit_signer {
    struct hal *hal;
    struct hal_key *key;          /* a reference */
    EVP_PKEY *pkey;               /* evp and issue: the provider's key */
    X509 *ca_cert;                /* issue only */
    enum hal_sign_scheme scheme;
};

static int
copy_text(char *out, size_t size, const char *text, const char *what)
{
    if (strlen(text) >= size) {
        fprintf(stderr, "sign_limit: %s \"%s\" is longer than %zu bytes\n",
                what, text, size - 1);
        return -1;
    }
    memcpy(out, text, strlen(text) + 1);
    return 0;
}

static int
fill_hsm_config(const struct limit_options *options,
                struct hal_hsm_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    memcpy(cfg->name, "bench", sizeof("bench"));
    cfg->sessions = options->threads;
    if (copy_text(cfg->module_path, sizeof(cfg->module_path),
                  options->module_path, "--module") != 0 ||
        copy_text(cfg->token_label, sizeof(cfg->token_label),
                  options->token_label, "--token") != 0 ||
        copy_text(cfg->pin_file, sizeof(cfg->pin_file), options->pin_file,
                  "--pin-file") != 0)
        return -1;
    return 0;
}

static void
hal_signer_close(struct limit_signer *s)
{
    if (s == NULL)
        return;
    X509_free(s->ca_cert);
    EVP_PKEY_free(s->pkey);
    hal_key_unref(s->key);
    hal_free(s->hal);
    free(s);
}

static int
find_key(struct limit_signer *s, const struct limit_options *options,
         struct limit_key_info *info)
{
    struct hal_hsm_config cfg;
    struct adcp_error err;
    struct hal_hsm *hsm;

    adcp_error_clear(&err);
    if (fill_hsm_config(options, &cfg) != 0)
        return -1;
    if (hal_new(&s->hal, &err) != ADCP_OK ||
        hal_add_hsm(s->hal, &cfg, &err) != ADCP_OK) {
        fprintf(stderr, "sign_limit: HAL: %s\n", err.message);
        return -1;
    }
    hsm = hal_hsm_find(s->hal, cfg.name);
    if (hsm == NULL || !hal_hsm_is_up(hsm)) {
        fprintf(stderr, "sign_limit: HAL: token \"%s\" is not up; check "
                "--token, --pin-file and SOFTHSM2_CONF\n", cfg.token_label);
        return -1;
    }
    if (hal_key_find(hsm, options->key_label, &s->key, &err) != ADCP_OK) {
        fprintf(stderr, "sign_limit: HAL: %s\n", err.message);
        return -1;
    }
    if (hal_key_type(s->key) == HAL_KEY_RSA) {
        s->scheme = HAL_SIGN_RSA_PKCS1;
        snprintf(info->spec, sizeof(info->spec), "rsa:%u",
                 hal_key_bits(s->key));
    } else if (hal_key_type(s->key) == HAL_KEY_EC) {
        s->scheme = HAL_SIGN_ECDSA;
        snprintf(info->spec, sizeof(info->spec), "ec:%u",
                 hal_key_bits(s->key));
    } else {
        fprintf(stderr, "sign_limit: key \"%s\" is neither RSA nor EC\n",
                options->key_label);
        return -1;
    }
    return 0;
}

static int
hal_signer_open(const struct limit_options *options,
                struct limit_signer **out, struct limit_key_info *info)
{
    struct limit_signer *s = calloc(1, sizeof(*s));
    int ret = -1;

    *out = NULL;
    if (s == NULL || find_key(s, options, info) != 0)
        goto out;
    *out = s;
    s = NULL;
    ret = 0;
out:
    hal_signer_close(s);
    return ret;
}

static int
evp_signer_open(const struct limit_options *options,
                struct limit_signer **out, struct limit_key_info *info)
{
    struct limit_signer *s = NULL;

    if (hal_signer_open(options, &s, info) != 0)
        return -1;
    s->pkey = hal_key_evp(s->key);
    if (s->pkey == NULL) {
        fprintf(stderr, "sign_limit: the provider has no EVP_PKEY for key "
                "\"%s\"\n", options->key_label);
        hal_signer_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* The HAL picks a session from its pool, so the thread index is unused. */
static int
hal_signer_sign(struct limit_signer *s, unsigned thread,
                const unsigned char *msg, size_t msg_len)
{
    unsigned char digest[32], sig[LIMIT_SIG_MAX];
    size_t sig_len = sizeof(sig);
    struct adcp_error err;

    (void)thread;
    if (EVP_Digest(msg, msg_len, digest, NULL, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "sign_limit: SHA-256 failed\n");
        return -1;
    }
    if (hal_key_sign(s->key, s->scheme, EVP_sha256(), digest, sizeof(digest),
                     sig, &sig_len, &err) != ADCP_OK) {
        fprintf(stderr, "sign_limit: hal_key_sign: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* Signs as the server's cert_build_sign does: a new EVP_MD_CTX and
 * EVP_DigestSignInit_ex per signature. */
static int
evp_signer_sign(struct limit_signer *s, unsigned thread,
                const unsigned char *msg, size_t msg_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[LIMIT_SIG_MAX];
    size_t sig_len = sizeof(sig);
    int ret = -1;

    (void)thread;
    if (ctx == NULL ||
        EVP_DigestSignInit_ex(ctx, NULL, "sha256", NULL, NULL, s->pkey,
                              NULL) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, msg, msg_len) != 1) {
        fprintf(stderr, "sign_limit: EVP_DigestSign with the provider key "
                "failed\n");
        goto out;
    }
    ret = 0;
out:
    EVP_MD_CTX_free(ctx);
    return ret;
}

static int
issue_signer_open(const struct limit_options *options,
                  struct limit_signer **out, struct limit_key_info *info)
{
    struct limit_signer *s = NULL;
    FILE *file;

    if (options->ca_cert_file[0] == '\0') {
        fprintf(stderr, "sign_limit: --signer issue needs --ca-cert\n");
        return -1;
    }
    if (evp_signer_open(options, &s, info) != 0)
        return -1;
    file = fopen(options->ca_cert_file, "r");
    if (file != NULL) {
        s->ca_cert = PEM_read_X509(file, NULL, NULL, NULL);
        fclose(file);
    }
    if (s->ca_cert == NULL) {
        fprintf(stderr, "sign_limit: --ca-cert %s is not a readable PEM "
                "certificate\n", options->ca_cert_file);
        hal_signer_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* Issues a certificate for the PEM CSR msg (CN=bench) to the host that
 * bench/run.sh registers, with the server's default limits. */
static int
issue_signer_sign(struct limit_signer *s, unsigned thread,
                  const unsigned char *msg, size_t msg_len)
{
    static char dns_name[] = "bench.example.test";
    static char ip_address[] = "127.0.0.1";
    static char *const dns_names[] = {dns_name};
    static char *const ip_addresses[] = {ip_address};
    const struct issue_host host = {"bench", dns_names, 1, ip_addresses, 1};
    const struct issue_limits limits = {365, 825, 2048};
    struct issue_request request = {(const char *)msg, "sha256", 365,
                                    NULL};
    struct issue_result result;
    struct adcp_error err;
    enum adcp_status status;

    (void)thread;
    (void)msg_len;
    status = cert_issue_from_csr(s->ca_cert, s->pkey, &host, &request,
                                 &limits, &result, &err);
    issue_result_clear(&result);
    if (status != ADCP_OK) {
        fprintf(stderr, "sign_limit: cert_issue_from_csr: %s\n",
                err.message);
        return -1;
    }
    return 0;
}

const struct limit_signer_ops limit_signer_issue = {
    "issue", true, issue_signer_open, issue_signer_sign, hal_signer_close,
};

const struct limit_signer_ops limit_signer_hal = {
    "hal", false, hal_signer_open, hal_signer_sign, hal_signer_close,
};

const struct limit_signer_ops limit_signer_evp = {
    "evp", false, evp_signer_open, evp_signer_sign, hal_signer_close,
};
