#include "daemon/bootstrap.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secret.h"
#include "daemon/config.h"
#include "hal/hal.h"
#include "managers/cert_issue.h"
#include "managers/names.h"
#include "managers/service.h"
#include "store/store.h"

#define HSM_NAME "softhsm"
#define TOKEN_LABEL "hsm4ssl"
#define CA_KEY_LABEL "hsm4ssl-root-ca"
#define TLS_KEY_LABEL "hsm4ssl-api-tls"
#define PIN_LEN 32
#define ADMIN_TOKEN_LEN 43
#define ROOT_DAYS 3650
#define SERVER_DAYS 825
#define SOFTHSM_CONF_MARKER "# SoftHSM2 token store of this HSM4SSL data directory"

struct bootstrap_state {
    const struct bootstrap_options *options;
    char path[ADCP_PATH_MAX];
    struct hal *hal;
    struct hal_hsm *hsm;
    struct hal_key *ca_key;
    struct hal_key *tls_key;
    struct store *store;
    struct issue_result root;
    struct issue_result server;
};

bool
bootstrap_is_initialised(const char *data_dir)
{
    char path[ADCP_PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/%s", data_dir, CONFIG_FILE_NAME);
    return access(path, F_OK) == 0;
}

static const char *
data_path(struct bootstrap_state *st, const char *relative)
{
    snprintf(st->path, sizeof(st->path), "%s/%s", st->options->data_dir,
             relative);
    return st->path;
}

static int
make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create directory %s: %s", path, strerror(errno));
        return -1;
    }
    if (chmod(path, 0700) != 0) {
        log_error("cannot set mode 0700 on %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static bool
dir_is_empty(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *entry;
    bool empty = true;

    if (dir == NULL)
        return true;
    while ((entry = readdir(dir)) != NULL)
        if (strcmp(entry->d_name, ".") != 0 &&
            strcmp(entry->d_name, "..") != 0)
            empty = false;
    closedir(dir);
    return empty;
}

static int
write_softhsm_conf(const char *data_dir)
{
    char conf[ADCP_PATH_MAX * 2], path[ADCP_PATH_MAX + 32];

    snprintf(conf, sizeof(conf),
             SOFTHSM_CONF_MARKER "\n"
             "directories.tokendir = %s/tokens\n"
             "objectstore.backend = file\n"
             "log.level = ERROR\n"
             "slots.removable = false\n",
             data_dir);
    snprintf(path, sizeof(path), "%s/softhsm2.conf", data_dir);
    if (secret_write_file(path, conf) != 0) {
        log_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int
bootstrap_refresh_softhsm_conf(const char *data_dir)
{
    char path[ADCP_PATH_MAX + 32], first[128] = "";
    FILE *file;

    snprintf(path, sizeof(path), "%s/softhsm2.conf", data_dir);
    file = fopen(path, "r");
    if (file == NULL)
        return 0;
    if (fgets(first, sizeof(first), file) == NULL)
        first[0] = '\0';
    fclose(file);
    first[strcspn(first, "\n")] = '\0';
    if (strcmp(first, SOFTHSM_CONF_MARKER) != 0)
        return 0;
    return write_softhsm_conf(data_dir);
}

/* Tells apart a set-up that was cut short (only a token store) from a CA
 * whose configuration file went missing. */
static bool
holds_ca(struct bootstrap_state *st)
{
    return access(data_path(st, "hsm4ssl.db"), F_OK) == 0;
}

static int
make_layout(struct bootstrap_state *st)
{
    static const char *const dirs[] = {"tokens", "pins", "ca", "csr"};
    if (make_dir(st->options->data_dir) != 0)
        return -1;
    if (holds_ca(st)) {
        log_error("%s holds a CA database but no %s; "
                  "restore %s from a backup. Do not remove the directory: "
                  "its token holds the CA key",
                  st->options->data_dir, CONFIG_FILE_NAME, CONFIG_FILE_NAME);
        return -1;
    }
    if (!dir_is_empty(data_path(st, "tokens"))) {
        log_error("%s holds a token store but no %s: an earlier set-up was "
                  "interrupted; remove %s to start again",
                  st->path, CONFIG_FILE_NAME, st->options->data_dir);
        return -1;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (make_dir(data_path(st, dirs[i])) != 0)
            return -1;

    if (write_softhsm_conf(st->options->data_dir) != 0)
        return -1;
    setenv("SOFTHSM2_CONF", data_path(st, "softhsm2.conf"), 1);
    return 0;
}

static int parse_ca_key(const char *spec, struct hal_keygen *keygen);

bool
bootstrap_ca_key_valid(const char *spec)
{
    struct hal_keygen keygen;

    return parse_ca_key(spec, &keygen) == 0;
}

static int
parse_ca_key(const char *spec, struct hal_keygen *keygen)
{
    unsigned bits = 0;

    memset(keygen, 0, sizeof(*keygen));
    if (sscanf(spec, "rsa:%u", &bits) == 1 && bits >= 2048 && bits <= 8192)
        keygen->type = HAL_KEY_RSA;
    else if (sscanf(spec, "ec:%u", &bits) == 1 &&
             (bits == 256 || bits == 384 || bits == 521))
        keygen->type = HAL_KEY_EC;
    else
        return -1;
    keygen->bits = bits;
    return 0;
}

/* Initialises the token with new PINs, which go only to 0600 files. */
static int
init_token(struct bootstrap_state *st)
{
    char so_pin[PIN_LEN + 1], user_pin[PIN_LEN + 1];
    struct hal_hsm_config hsm = {0};
    struct adcp_error err;
    int rc = -1;

    if (secret_random_token(so_pin, PIN_LEN) != 0 ||
        secret_random_token(user_pin, PIN_LEN) != 0) {
        log_error("the random generator failed");
        goto out;
    }
    if (secret_write_file(data_path(st, "pins/" HSM_NAME ".so.pin"),
                          so_pin) != 0 ||
        secret_write_file(data_path(st, "pins/" HSM_NAME ".user.pin"),
                          user_pin) != 0) {
        log_error("cannot write %s: %s", st->path, strerror(errno));
        goto out;
    }
    snprintf(hsm.name, sizeof(hsm.name), HSM_NAME);
    snprintf(hsm.module_path, sizeof(hsm.module_path), "%s",
             st->options->module_path);
    snprintf(hsm.token_label, sizeof(hsm.token_label), TOKEN_LABEL);
    snprintf(hsm.pin_file, sizeof(hsm.pin_file), "%s",
             data_path(st, "pins/" HSM_NAME ".user.pin"));
    if (hal_new(&st->hal, &err) != ADCP_OK ||
        hal_add_hsm(st->hal, &hsm, &err) != ADCP_OK) {
        log_error("cannot load SoftHSM2 from %s: %s", hsm.module_path,
                  err.message);
        goto out;
    }
    st->hsm = hal_hsm_find(st->hal, HSM_NAME);
    if (hal_token_init(st->hsm, so_pin, user_pin, &err) != ADCP_OK) {
        log_error("cannot initialise token %s: %s", TOKEN_LABEL,
                  err.message);
        goto out;
    }
    log_info("initialised SoftHSM2 token %s; PINs are in %s/pins", TOKEN_LABEL,
             st->options->data_dir);
    rc = 0;
out:
    secret_wipe(so_pin, sizeof(so_pin));
    secret_wipe(user_pin, sizeof(user_pin));
    return rc;
}

static int
generate_keys(struct bootstrap_state *st)
{
    struct hal_keygen ca, tls;
    struct adcp_error err;

    if (parse_ca_key(st->options->ca_key, &ca) != 0) {
        log_error("invalid --ca-key %s; use rsa:2048 to rsa:8192, ec:256, "
                  "ec:384 or ec:521",
                  st->options->ca_key);
        return -1;
    }
    snprintf(ca.label, sizeof(ca.label), CA_KEY_LABEL);
    if (hal_key_generate(st->hsm, &ca, &st->ca_key, &err) != ADCP_OK) {
        log_error("cannot generate the root CA key: %s", err.message);
        return -1;
    }
    memset(&tls, 0, sizeof(tls));
    tls.type = HAL_KEY_EC;
    tls.bits = 256;
    snprintf(tls.label, sizeof(tls.label), TLS_KEY_LABEL);
    if (hal_key_generate(st->hsm, &tls, &st->tls_key, &err) != ADCP_OK) {
        log_error("cannot generate the API TLS key: %s", err.message);
        return -1;
    }
    log_info("generated the root CA key (%s) and the API TLS key (EC P-256) "
             "inside token %s, non-extractable",
             st->options->ca_key, TOKEN_LABEL);
    return 0;
}

#define SERVER_NAMES_MAX (4 + BOOTSTRAP_MAX_API_NAMES)

/* The names of the API's TLS certificate. */
struct server_names {
    char *dns[SERVER_NAMES_MAX];
    size_t dns_count;
    char *ips[SERVER_NAMES_MAX];
    size_t ip_count;
    char hostname[ADCP_NAME_MAX + 8];
    char listen_ip[ADCP_IP_MAX];
};

/* Collects localhost, the host name, 127.0.0.1, ::1, the listen address
 * (unless a wildcard) and the names given with --api-dns and --api-ip. */
static void
collect_server_names(const struct bootstrap_options *options,
                     struct server_names *names)
{
    char host[ADCP_IP_MAX + 8] = "";
    const char *colon;

    memset(names, 0, sizeof(*names));
    names->dns[names->dns_count++] = "localhost";
    if (gethostname(names->hostname, ADCP_NAME_MAX) == 0 &&
        names_dns_name_valid(names->hostname) &&
        strcmp(names->hostname, "localhost") != 0)
        names->dns[names->dns_count++] = names->hostname;
    for (size_t i = 0; i < options->api_dns_count; i++)
        names->dns[names->dns_count++] = (char *)options->api_dns[i];
    names->ips[names->ip_count++] = "127.0.0.1";
    names->ips[names->ip_count++] = "::1";
    for (size_t i = 0; i < options->api_ip_count; i++)
        names->ips[names->ip_count++] = (char *)options->api_ips[i];

    colon = strrchr(options->listen, ':');
    if (colon == NULL)
        return;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - options->listen),
             options->listen);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    if (!names_ip_canonical(host, names->listen_ip, ADCP_IP_MAX) ||
        strcmp(names->listen_ip, "0.0.0.0") == 0 ||
        strcmp(names->listen_ip, "::") == 0)
        return;
    for (size_t i = 0; i < names->ip_count; i++)
        if (strcmp(names->ips[i], names->listen_ip) == 0)
            return;
    names->ips[names->ip_count++] = names->listen_ip;
}

/* The root signs with a hash as strong as its key: SHA-384 for P-384,
 * SHA-512 for P-521, SHA-256 otherwise. */
static const char *
root_hash_for(const char *ca_key)
{
    if (strcmp(ca_key, "ec:384") == 0)
        return "sha384";
    if (strcmp(ca_key, "ec:521") == 0)
        return "sha512";
    return "sha256";
}

static int
write_pem(struct bootstrap_state *st, const char *relative, X509 *cert)
{
    FILE *file = fopen(data_path(st, relative), "w");
    int ok;

    if (file == NULL) {
        log_error("cannot write %s: %s", st->path, strerror(errno));
        return -1;
    }
    ok = PEM_write_X509(file, cert) == 1;
    if (fclose(file) != 0)
        ok = 0;
    if (!ok)
        log_error("cannot write %s", st->path);
    return ok ? 0 : -1;
}

static int
make_certificates(struct bootstrap_state *st)
{
    struct server_names names;
    struct issue_host subject = {0};
    EVP_PKEY *ca = NULL, *tls_public = NULL;
    struct adcp_error err;
    int rc = -1;

    ca = hal_key_evp(st->ca_key);
    tls_public = hal_key_public(st->tls_key);
    if (ca == NULL || tls_public == NULL) {
        log_openssl_errors(__func__, "cannot use the keys in the token");
        goto out;
    }
    if (cert_root_create(ca, "HSM4SSL Root CA", "HSM4SSL", ROOT_DAYS,
                         root_hash_for(st->options->ca_key), &st->root,
                         &err) != ADCP_OK) {
        log_error("cannot make the root certificate: %s", err.message);
        goto out;
    }
    collect_server_names(st->options, &names);
    subject.name = "hsm4ssld";
    subject.dns_names = names.dns;
    subject.dns_count = names.dns_count;
    subject.ip_addresses = names.ips;
    subject.ip_count = names.ip_count;
    if (cert_server_create(st->root.cert, ca, tls_public, &subject,
                           SERVER_DAYS, &st->server, &err) != ADCP_OK) {
        log_error("cannot make the API server certificate: %s", err.message);
        goto out;
    }
    if (write_pem(st, "ca/root.crt", st->root.cert) != 0 ||
        write_pem(st, "ca/server.crt", st->server.cert) != 0)
        goto out;
    rc = 0;
out:
    EVP_PKEY_free(ca);
    EVP_PKEY_free(tls_public);
    return rc;
}

static int
record_certificate(struct bootstrap_state *st,
                   const struct issue_result *cert)
{
    struct store_cert row = {0};
    struct adcp_error err;

    snprintf(row.serial, sizeof(row.serial), "%s", cert->serial);
    snprintf(row.subject, sizeof(row.subject), "%s", cert->subject);
    row.not_before = cert->not_before;
    row.not_after = cert->not_after;
    row.pem = cert->cert_pem;
    snprintf(row.hsm, sizeof(row.hsm), HSM_NAME);
    if (store_cert_add(st->store, &row, &err) != ADCP_OK) {
        log_error("cannot store certificate %s: %s", cert->serial,
                  err.message);
        return -1;
    }
    return 0;
}

/* Creates the admin token file and stores only its verifier. */
static int
make_admin_token(struct bootstrap_state *st)
{
    char token[ADMIN_TOKEN_LEN + 1];
    unsigned char verifier[STORE_VERIFIER_LEN];
    char hex[2 * STORE_VERIFIER_LEN + 1];
    struct adcp_error err;
    int rc = -1;

    if (secret_random_token(token, ADMIN_TOKEN_LEN) != 0)
        goto out;
    service_token_verifier(token, verifier);
    for (size_t i = 0; i < STORE_VERIFIER_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", verifier[i]);
    if (store_setting_set(st->store, "admin_token_sha256", hex, &err) !=
        ADCP_OK) {
        log_error("cannot store the admin token verifier: %s", err.message);
        goto out;
    }
    if (secret_write_file(data_path(st, "admin.token"), token) != 0) {
        log_error("cannot write %s: %s", st->path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    secret_wipe(token, sizeof(token));
    secret_wipe(verifier, sizeof(verifier));
    return rc;
}

static int
open_store(struct bootstrap_state *st)
{
    struct adcp_error err;

    if (store_open_sqlite(data_path(st, "hsm4ssl.db"), &st->store, &err) !=
        ADCP_OK) {
        log_error("cannot create the database %s: %s", st->path,
                  err.message);
        return -1;
    }
    if (record_certificate(st, &st->root) != 0 ||
        record_certificate(st, &st->server) != 0)
        return -1;
    return make_admin_token(st);
}

static json_t *
default_config(const struct bootstrap_options *options)
{
    return json_pack(
        "{s:s, s:i, s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:i}],"
        " s:[{s:s, s:[s,s,s,s,s,s], s:[s,s,s], s:[s,s,s]}],"
        " s:{s:s, s:s, s:s, s:i, s:i}, s:{s:s, s:s, s:s}, s:i}",
        "listen", options->listen, "threads", 0, "database", "hsm4ssl.db",
        "csr_dir", "csr", "env", "SOFTHSM2_CONF", "softhsm2.conf", "hsms",
        "name", HSM_NAME, "module", options->module_path, "token_label",
        TOKEN_LABEL, "pin_file", "pins/" HSM_NAME ".user.pin", "sessions", 8,
        "policies", "hsm", HSM_NAME, "capabilities", "initsession",
        "keypairgen", "certificate_gen", "certificate_get", "ca_get",
        "host_register", "algorithms", "rsa", "ecc", "aes", "hash_funcs",
        "sha256", "sha384", "sha512", "ca", "hsm", HSM_NAME, "key_label",
        CA_KEY_LABEL, "certificate", "ca/root.crt", "default_days", 365,
        "max_days", 825, "api_tls", "hsm", HSM_NAME, "key_label",
        TLS_KEY_LABEL, "certificate", "ca/server.crt",
        "enrollment_token_hours", 24);
}

static int
write_config(struct bootstrap_state *st)
{
    json_t *config = default_config(st->options);
    int rc;

    if (config == NULL) {
        log_error("cannot build the default configuration");
        return -1;
    }
    rc = config_write_json(data_path(st, CONFIG_FILE_NAME), config);
    if (rc != 0)
        log_error("cannot write %s: %s", st->path, strerror(errno));
    json_decref(config);
    return rc;
}

int
bootstrap_create(const struct bootstrap_options *options)
{
    struct bootstrap_state st;
    int rc = -1;

    memset(&st, 0, sizeof(st));
    st.options = options;
    log_info("creating the embedded default in %s", options->data_dir);
    if (make_layout(&st) != 0 || init_token(&st) != 0 ||
        generate_keys(&st) != 0 || make_certificates(&st) != 0 ||
        open_store(&st) != 0 || write_config(&st) != 0)
        goto out;
    log_info("embedded default ready: root %s, server certificate %s",
             st.root.serial, st.server.serial);
    rc = 0;
out:
    issue_result_clear(&st.root);
    issue_result_clear(&st.server);
    store_close(st.store);
    hal_key_unref(st.ca_key);
    hal_key_unref(st.tls_key);
    hal_free(st.hal);
    return rc;
}
