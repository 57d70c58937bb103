#include "daemon/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/http_server.h"
#include "api/ocsp_route.h"
#include "api/routes.h"
#include "common/log.h"
#include "daemon/bootstrap.h"
#include "daemon/config.h"
#include "daemon/data_dir_lock.h"
#include "daemon/softhsm_token_guard.h"
#include "hal/hal.h"
#include "managers/service.h"
#include "store/store.h"

/* Everything one running service holds, released by runtime_release. */
struct runtime {
    struct config cfg;
    bool cfg_loaded;
    struct hal *hal;
    struct store *store;
    struct service svc;
    bool svc_ready;
    X509 *root;
    X509 *tls_cert;
    EVP_PKEY *tls_key;
    SSL_CTX *ssl_ctx;
    struct api_server *server;
};

static struct api_server *volatile running_server;
static volatile sig_atomic_t creating_data_dir;
static volatile sig_atomic_t starting;
static volatile sig_atomic_t stop_requested;
/* Set while a login to an HSM runs, and the stop signal that came before
 * the server ran and is to end the process once that login returns. */
static volatile sig_atomic_t logging_in;
static volatile sig_atomic_t stop_after_login;

/*
 * Handles SIGTERM, SIGINT, SIGHUP and SIGQUIT. A running server stops
 * cleanly. While a new data directory is being created, the stop waits
 * until it is whole, so it is never left half made.
 *
 * During the rest of the start the first signal waits for the end of the
 * step under way. That step may be C_Login, for which SoftHSM2 truncates
 * its token.object and then writes it again: a process ended in between
 * loses the token and every key in it. A second signal ends the process
 * as it would without a handler, so that a start that hangs (on a network
 * HSM, for example) can still be stopped. During a login it does so once
 * C_Login has returned.
 */
static void
on_stop_signal(int signo)
{
    if (running_server != NULL) {
        api_server_stop(running_server);
    } else if (creating_data_dir || (starting && !stop_requested)) {
        stop_requested = 1;
    } else if (logging_in) {
        stop_after_login = signo;
    } else {
        signal(signo, SIG_DFL);
        raise(signo);
    }
}

static void
catch_unless_ignored(int signo, const struct sigaction *action)
{
    struct sigaction old;

    if (sigaction(signo, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
        return;
    sigaction(signo, action, NULL);
}

static void
catch_stop_signals(void)
{
    struct sigaction action;

    memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    /* A closed terminal (SIGHUP) or Ctrl-\ (SIGQUIT) would otherwise end
     * the process at any point, a login included. A signal that the parent
     * process ignored (nohup, or a shell's background job) stays
     * ignored. */
    catch_unless_ignored(SIGHUP, &action);
    catch_unless_ignored(SIGQUIT, &action);
}

/* Returns whether a stop signal came during the start, after logging it
 * with step, the part of the start it came in. */
static bool
stopped_while(const char *step)
{
    if (!stop_requested)
        return false;
    log_info("hsm4ssld stopping: signal received while %s", step);
    return true;
}

static X509 *
read_certificate(const char *path)
{
    FILE *file = fopen(path, "r");
    X509 *cert;

    if (file == NULL) {
        log_error("cannot open certificate %s: %s", path, strerror(errno));
        return NULL;
    }
    cert = PEM_read_X509(file, NULL, NULL, NULL);
    fclose(file);
    if (cert == NULL)
        log_openssl_errors(__func__, path);
    return cert;
}

/*
 * The HAL's login hook. It keeps the copies of the SoftHSM2 token
 * metadata under the data directory arg up to date after every login: at
 * the start, when an HSM comes back, and after initsession has made a new
 * token. A stop signal that came during a login of the start ends the
 * process here, once the login has written token.object again.
 */
static void
on_login(void *arg, const char *hsm_name, enum hal_login_step step)
{
    int signo;

    (void)hsm_name;
    if (step == HAL_LOGIN_STARTING) {
        logging_in = 1;
        return;
    }
    logging_in = 0;
    if (step == HAL_LOGIN_DONE)
        softhsm_token_guard_back_up(arg);
    signo = stop_after_login;
    if (signo != 0) {
        signal(signo, SIG_DFL);
        raise(signo);
    }
}

static int
start_hal(struct runtime *rt)
{
    struct policy_set *policy = NULL, *copy = NULL;
    struct adcp_error err;

    config_apply_env(&rt->cfg);
    if (hal_new(&rt->hal, &err) != ADCP_OK) {
        log_error("cannot start the HAL: %s", err.message);
        return -1;
    }
    hal_set_login_hook(rt->hal, on_login, rt->cfg.data_dir);
    for (size_t i = 0; i < rt->cfg.hsm_count; i++) {
        const struct hal_hsm_config *hsm = &rt->cfg.hsms[i];
        if (hal_add_hsm(rt->hal, hsm, &err) != ADCP_OK) {
            log_error("cannot add HSM %s (%s): %s", hsm->name,
                      hsm->module_path, err.message);
            return -1;
        }
        log_info("HSM %s: module %s, token %s, %s", hsm->name,
                 hsm->module_path, hsm->token_label,
                 hal_hsm_is_up(hal_hsm_find(rt->hal, hsm->name))
                     ? "up"
                     : "down");
    }
    if (policy_set_parse(rt->cfg.policies, &policy, &err) != ADCP_OK ||
        policy_set_parse(rt->cfg.policies, &copy, &err) != ADCP_OK) {
        log_error("invalid policy set in %s: %s", CONFIG_FILE_NAME,
                  err.message);
        policy_set_free(policy);
        return -1;
    }
    hal_set_policy(rt->hal, policy);
    rt->svc.policy = copy;
    return 0;
}

/* Refuses a database that is missing or is not this CA's: starting on an
 * empty one would lose every host and certificate record and lock the
 * administrator out. */
static int
check_database(struct runtime *rt)
{
    char serial[ADCP_SERIAL_MAX];
    struct store_cert root = {0};
    struct adcp_error err;
    enum adcp_status status;

    cert_serial_hex(rt->root, serial);
    status = store_cert_get(rt->store, serial, &root, &err);
    store_cert_clear(&root);
    if (status == ADCP_OK)
        return 0;
    log_error("database %s does not record the root certificate %s of this "
              "CA (%s); restore the database from a backup, or move the "
              "data directory away to start a new CA",
              rt->cfg.database, serial,
              status == ADCP_ERR_NOT_FOUND ? "no such row" : err.message);
    return -1;
}

/* Continues message ids after the newest audit entry, so ids stay unique
 * in the audit log across restarts. */
static int
continue_message_ids(struct runtime *rt)
{
    char last[ADCP_ID_MAX];
    struct adcp_error err;

    if (store_audit_last_message_id(rt->store, last, sizeof(last), &err) !=
        ADCP_OK) {
        log_error("cannot read the audit log of %s: %s", rt->cfg.database,
                  err.message);
        return -1;
    }
    adcp_message_id_continue(last);
    if (last[0] != '\0')
        log_info("message ids continue after %s, the newest in the audit "
                 "log",
                 last);
    return 0;
}

/* A CA key label that names no key is a configuration error, so the start
 * stops. An HSM that is down only gets a warning because it may come back. */
static int
check_ca_key(struct runtime *rt)
{
    struct hal_hsm *hsm = hal_hsm_find(rt->hal, rt->cfg.ca_hsm);
    struct adcp_error err;

    if (hsm == NULL) {
        log_error("ca.hsm %s is not a configured HSM; name one of \"hsms\"",
                  rt->cfg.ca_hsm);
        return -1;
    }
    if (!hal_hsm_is_up(hsm)) {
        log_warn("HSM %s, which holds the CA key, is down; certificates "
                 "cannot be issued until it is back",
                 rt->cfg.ca_hsm);
        return 0;
    }
    if (service_ca_key(&rt->svc, hsm, &err) == NULL) {
        log_error("the CA key %s is not on HSM %s: %s; fix ca.key_label or "
                  "ca.hsm in %s",
                  rt->cfg.ca_key_label, rt->cfg.ca_hsm, err.message,
                  CONFIG_FILE_NAME);
        return -1;
    }
    return 0;
}

static int
start_service(struct runtime *rt)
{
    struct policy_set *policy = rt->svc.policy;
    struct adcp_error err;

    if (access(rt->cfg.database, F_OK) != 0) {
        log_error("database %s is missing; restore it from a backup, or "
                  "move the data directory away to start a new CA",
                  rt->cfg.database);
        return -1;
    }
    if (store_open_sqlite(rt->cfg.database, &rt->store, &err) != ADCP_OK) {
        log_error("cannot open database %s: %s", rt->cfg.database,
                  err.message);
        return -1;
    }
    rt->root = read_certificate(rt->cfg.ca_cert);
    if (rt->root == NULL || check_database(rt) != 0)
        return -1;
    if (continue_message_ids(rt) != 0)
        return -1;
    rt->svc.policy = NULL;
    if (service_init(&rt->svc, rt->hal, rt->store, rt->root,
                     rt->cfg.ca_key_label, &err) != ADCP_OK) {
        policy_set_free(policy);
        log_error("cannot start the managers: %s", err.message);
        return -1;
    }
    rt->svc_ready = true;
    rt->svc.policy = policy;
    if (check_ca_key(rt) != 0)
        return -1;
    rt->svc.limits.default_days = rt->cfg.default_days;
    rt->svc.limits.max_days = rt->cfg.max_days;
    rt->svc.enrollment_ttl_seconds = rt->cfg.enrollment_token_hours * 3600;
    if (service_set_crl_lifetime(&rt->svc,
                                 rt->cfg.crl_lifetime_hours * 3600) != 0 ||
        service_set_ocsp(&rt->svc, rt->cfg.ocsp_lifetime_hours * 3600,
                         (size_t)rt->cfg.ocsp_cache_mb << 20,
                         (unsigned)rt->cfg.ocsp_signed_per_address) != 0)
        return -1;
    snprintf(rt->svc.ocsp_url, sizeof(rt->svc.ocsp_url), "%s",
             rt->cfg.ocsp_url);
    if (rt->svc.ocsp_url[0] != '\0')
        log_info("host certificates carry the OCSP URL %s",
                 rt->svc.ocsp_url);
    snprintf(rt->svc.csr_dir, sizeof(rt->svc.csr_dir), "%s",
             rt->cfg.csr_dir);
    if (mkdir(rt->cfg.csr_dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create CSR directory %s: %s", rt->cfg.csr_dir,
                  strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < rt->cfg.hsm_count; i++)
        if (service_add_pin_file(&rt->svc, rt->cfg.hsms[i].name,
                                 rt->cfg.hsms[i].pin_file) != 0)
            return -1;
    return 0;
}

static int
start_tls(struct runtime *rt)
{
    struct hal_hsm *hsm = hal_hsm_find(rt->hal, rt->cfg.tls_hsm);
    struct hal_key *key = NULL;
    STACK_OF(X509) *chain = NULL;
    struct adcp_error err;
    int rc = -1;

    if (hsm == NULL) {
        log_error("api_tls.hsm %s is not a configured HSM", rt->cfg.tls_hsm);
        return -1;
    }
    if (hal_key_find(hsm, rt->cfg.tls_key_label, &key, &err) != ADCP_OK) {
        log_error("cannot find the API TLS key %s on HSM %s: %s",
                  rt->cfg.tls_key_label, rt->cfg.tls_hsm, err.message);
        return -1;
    }
    rt->tls_key = hal_key_evp(key);
    rt->tls_cert = read_certificate(rt->cfg.tls_cert);
    chain = sk_X509_new_null();
    if (rt->tls_key == NULL || rt->tls_cert == NULL || chain == NULL)
        goto out;
    sk_X509_push(chain, rt->root);
    rt->ssl_ctx = api_tls_context_new(rt->tls_cert, chain, rt->tls_key,
                                      rt->root);
    if (rt->ssl_ctx != NULL)
        rc = 0;
out:
    sk_X509_free(chain);
    hal_key_unref(key);
    return rc;
}

static void
print_fingerprint(const char *hex)
{
    char spaced[65 * 3] = "";
    size_t used = 0;

    for (size_t i = 0; hex[i] != '\0' && hex[i + 1] != '\0'; i += 2)
        used += (size_t)snprintf(spaced + used, sizeof(spaced) - used,
                                 "%s%c%c", i ? ":" : "", hex[i], hex[i + 1]);
    printf("root CA SHA-256 fingerprint: %s\n", spaced);
}

static void
print_banner(struct runtime *rt)
{
    char token_path[ADCP_PATH_MAX + 16];

    snprintf(token_path, sizeof(token_path), "%s/admin.token",
             rt->cfg.data_dir);
    print_fingerprint(rt->svc.ca.fingerprint);
    if (access(token_path, F_OK) == 0)
        printf("admin token: %s (mode 0600)\n", token_path);
    printf("listening on https://%s\n", rt->cfg.listen);
    fflush(stdout);
}

/* Returns the default number of handler threads. A module in this
 * process signs on the CPU, so one thread per core keeps the cores busy
 * and completes requests in arrival order. A network HSM keeps its
 * threads waiting, so it gets four per core. */
static unsigned
default_worker_threads(const struct config *cfg)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned per_core = 1;

    if (cores < 1)
        cores = 1;
    for (size_t i = 0; i < cfg->hsm_count; i++)
        if (cfg->hsms[i].network)
            per_core = 4;
    return cores > 16 ? 16 * per_core : (unsigned)cores * per_core;
}

static int
run_server(struct runtime *rt)
{
    struct api_server_config server_cfg;
    int rc;

    memset(&server_cfg, 0, sizeof(server_cfg));
    snprintf(server_cfg.listen, sizeof(server_cfg.listen), "%s",
             rt->cfg.listen);
    server_cfg.ssl_ctx = rt->ssl_ctx;
    server_cfg.max_body = 1024 * 1024;
    server_cfg.quick = api_routes_is_quick;
    server_cfg.slow = api_routes_is_slow;
    server_cfg.raw_path_prefix = API_OCSP_GET_PREFIX;
    server_cfg.threads = rt->cfg.threads ? rt->cfg.threads
                                          : default_worker_threads(&rt->cfg);
    server_cfg.header_timeout_ms = rt->cfg.header_timeout_ms;
    server_cfg.body_timeout_ms = rt->cfg.body_timeout_ms;
    server_cfg.max_connections_per_ip = rt->cfg.max_connections_per_ip;
    server_cfg.max_connections = rt->cfg.max_connections;
    if (api_server_new(&server_cfg, api_routes_handle, &rt->svc,
                       &rt->server) != 0)
        return -1;
    {
        /* Port 0 picks a free port; report the real one. */
        char *colon = strrchr(rt->cfg.listen, ':');
        if (colon != NULL && strcmp(colon, ":0") == 0)
            snprintf(colon + 1,
                     sizeof(rt->cfg.listen) -
                         (size_t)(colon + 1 - rt->cfg.listen),
                     "%d", api_server_port(rt->server));
    }

    running_server = rt->server;
    starting = 0;
    /* A signal that came after the last check finds the server already
     * stopped when it begins. */
    if (stop_requested)
        api_server_stop(rt->server);

    print_banner(rt);
    log_info("hsm4ssld started: data directory %s, %zu HSM(s), listening on "
             "%s",
             rt->cfg.data_dir, rt->cfg.hsm_count, rt->cfg.listen);
    rc = api_server_run(rt->server);
    running_server = NULL;
    log_info("hsm4ssld stopping: %s", rc == 0 ? "signal received"
                                              : "server loop failed");
    return rc;
}

static void
runtime_release(struct runtime *rt)
{
    api_server_free(rt->server);
    SSL_CTX_free(rt->ssl_ctx);
    EVP_PKEY_free(rt->tls_key);
    X509_free(rt->tls_cert);
    if (rt->svc_ready)
        service_cleanup(&rt->svc);
    else
        policy_set_free(rt->svc.policy);
    X509_free(rt->root);
    store_close(rt->store);
    hal_free(rt->hal);
    if (rt->cfg_loaded)
        config_free(&rt->cfg);
}

bool
serve_listen_valid(const char *text)
{
    char host[ADCP_IP_MAX + 2];
    unsigned char addr[16];
    const char *colon = strrchr(text, ':');
    char *end;
    long port;

    if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
        return false;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
    if (host[0] == '[') {
        size_t len = strlen(host);
        if (len < 3 || host[len - 1] != ']')
            return false;
        memmove(host, host + 1, len - 2);
        host[len - 2] = '\0';
        if (inet_pton(AF_INET6, host, addr) != 1)
            return false;
    } else if (inet_pton(AF_INET, host, addr) != 1) {
        return false;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    return colon[1] != '\0' && *end == '\0' && errno == 0 && port >= 0 &&
           port <= 65535;
}

static int
create_default(const struct serve_options *options)
{
    struct bootstrap_options boot = options->boot;

    boot.data_dir = options->data_dir;
    boot.listen = options->listen ? options->listen : "127.0.0.1:8443";
    return bootstrap_create(&boot);
}

/* Creates the embedded default, with stop signals held back until the
 * data directory is whole. */
static int
create_data_dir(const struct serve_options *options)
{
    int rc;

    creating_data_dir = 1;
    rc = create_default(options);
    creating_data_dir = 0;
    return rc;
}

int
serve_run(const struct serve_options *options)
{
    struct runtime rt;
    int rc = 1;
    int lock_fd;

    memset(&rt, 0, sizeof(rt));
    starting = 1;
    catch_stop_signals();
    lock_fd = data_dir_lock(options->data_dir);
    if (lock_fd < 0)
        return 1;
    if (!bootstrap_is_initialised(options->data_dir)) {
        if (create_data_dir(options) != 0)
            goto out;
        if (stopped_while("creating the data directory")) {
            rc = 0;
            goto out;
        }
    } else if (options->boot_options_given) {
        log_warn("--ca-key, --module, --api-dns and --api-ip apply only to a "
                 "new data directory; %s exists, so they are ignored",
                 options->data_dir);
    }
    if (bootstrap_refresh_softhsm_conf(options->data_dir) != 0 ||
        config_load(options->data_dir, &rt.cfg) != 0)
        goto out;
    rt.cfg_loaded = true;
    if (options->listen != NULL)
        snprintf(rt.cfg.listen, sizeof(rt.cfg.listen), "%s", options->listen);
    if (options->threads > 0)
        rt.cfg.threads = options->threads;
    if (options->ocsp_url != NULL)
        snprintf(rt.cfg.ocsp_url, sizeof(rt.cfg.ocsp_url), "%s",
                 options->ocsp_url);

    if (stopped_while("loading the configuration")) {
        rc = 0;
        goto out;
    }
    softhsm_token_guard_restore(rt.cfg.data_dir);
    if (start_hal(&rt) != 0)
        goto out;
    if (stopped_while("starting the HSMs")) {
        rc = 0;
        goto out;
    }
    if (start_service(&rt) != 0 || start_tls(&rt) != 0)
        goto out;
    if (stopped_while("starting the service")) {
        rc = 0;
        goto out;
    }
    if (run_server(&rt) == 0)
        rc = 0;
out:
    runtime_release(&rt);
    data_dir_unlock(lock_fd);
    log_info("hsm4ssld stopped");
    return rc;
}
