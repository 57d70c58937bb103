/*
 * The daemon's configuration file, DATA_DIR/hsm4ssld.json. Relative paths
 * in it are relative to the data directory. See docs/configuration.md.
 */
#ifndef HSM4SSL_DAEMON_CONFIG_H
#define HSM4SSL_DAEMON_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "adcp/adcp.h"
#include "hal/hal.h"
#include "hal/policy.h"

#define CONFIG_FILE_NAME "hsm4ssld.json"
#define CONFIG_MAX_HSMS 16
#define CONFIG_MAX_NAMES 16

struct config_env {
    char name[ADCP_NAME_MAX];
    char value[ADCP_PATH_MAX];
};

struct config {
    char data_dir[ADCP_PATH_MAX];
    char listen[ADCP_PATH_MAX];
    unsigned threads;
    /* "limits": request deadlines and connection caps; 0 picks the HTTPS
     * front end's default. */
    unsigned header_timeout_ms;
    unsigned body_timeout_ms;
    unsigned max_connections_per_ip;
    unsigned max_connections;
    char database[ADCP_PATH_MAX]; /* SQLite file */
    char csr_dir[ADCP_PATH_MAX];

    /* Set in the process environment before any module loads. */
    struct config_env env[8];
    size_t env_count;

    struct hal_hsm_config hsms[CONFIG_MAX_HSMS];
    size_t hsm_count;
    json_t *policies; /* the "policies" array, owned */

    char ca_hsm[ADCP_NAME_MAX];
    char ca_key_label[ADCP_NAME_MAX];
    char ca_cert[ADCP_PATH_MAX];
    int default_days;
    int max_days;
    int enrollment_token_hours;
    int crl_lifetime_hours; /* nextUpdate - thisUpdate of each CRL */
    int ocsp_lifetime_hours; /* nextUpdate - thisUpdate of OCSP responses */
    int ocsp_cache_mb;       /* memory of cached OCSP responses */
    int ocsp_signed_per_address; /* signed responses per second, 0: any */
    char ocsp_url[ADCP_PATH_MAX]; /* AIA OCSP URI of host certificates */

    char tls_hsm[ADCP_NAME_MAX];
    char tls_key_label[ADCP_NAME_MAX];
    char tls_cert[ADCP_PATH_MAX];
};

/* Loads DATA_DIR/hsm4ssld.json. Returns 0, or -1 after logging which
 * member is wrong and how to fix it. */
int config_load(const char *data_dir, struct config *cfg);
void config_free(struct config *cfg);

/* Makes an absolute path of path relative to the data directory. */
void config_resolve(const struct config *cfg, const char *path, char *out,
                    size_t size);

/* Returns true when url is an http or https URL that an
 * authorityInfoAccess extension can hold: printable ASCII without spaces,
 * quotes or backslashes, shorter than ADCP_PATH_MAX. */
bool config_url_valid(const char *url);

/* Writes json to path with mode 0600, replacing it atomically. */
int config_write_json(const char *path, const json_t *json);

/* Applies the "env" members with setenv. */
void config_apply_env(const struct config *cfg);

#endif
