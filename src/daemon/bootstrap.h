/*
 * The embedded default: what `hsm4ssld serve` creates in a new data
 * directory. A SoftHSM2 token store with its own softhsm2.conf, a token
 * with generated SO and user PINs (files of mode 0600, never printed), the
 * root CA key and the API's TLS key generated inside the token, the
 * self-signed root, the API's server certificate, the SQLite database, the
 * admin token and hsm4ssld.json describing all of it.
 */
#ifndef HSM4SSL_DAEMON_BOOTSTRAP_H
#define HSM4SSL_DAEMON_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>

#define BOOTSTRAP_MAX_API_NAMES 8

struct bootstrap_options {
    const char *data_dir;
    const char *listen;       /* written to the configuration */
    const char *module_path;  /* SoftHSM2 module */
    const char *ca_key;       /* "rsa:2048", "rsa:3072", "ec:256", ... */
    /* Extra names of the API's TLS certificate, beside localhost, the host
     * name, 127.0.0.1, ::1 and the listen address. */
    const char *api_dns[BOOTSTRAP_MAX_API_NAMES];
    size_t api_dns_count;
    const char *api_ips[BOOTSTRAP_MAX_API_NAMES];
    size_t api_ip_count;
};

/* Returns true when spec names a root key bootstrap_create can make:
 * rsa:2048 to rsa:8192, ec:256, ec:384 or ec:521. */
bool bootstrap_ca_key_valid(const char *spec);

/* Rewrites the token directory in DATA_DIR/softhsm2.conf to
 * DATA_DIR/tokens when the file is the embedded default's, so a data
 * directory that was copied or moved uses its own tokens. Returns 0, or -1
 * after logging why. */
int bootstrap_refresh_softhsm_conf(const char *data_dir);

/* Returns true when data_dir holds a configuration already. */
bool bootstrap_is_initialised(const char *data_dir);

/* Creates the embedded default in data_dir (created if missing, which must
 * otherwise be empty of HSM4SSL files). Returns 0, or -1 after logging what
 * failed; a failed run leaves no hsm4ssld.json, so the next start retries
 * from the beginning. */
int bootstrap_create(const struct bootstrap_options *options);

#endif
