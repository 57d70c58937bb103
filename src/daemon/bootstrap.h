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

struct bootstrap_options {
    const char *data_dir;
    const char *listen;       /* written to the configuration */
    const char *module_path;  /* SoftHSM2 module */
    const char *ca_key;       /* "rsa:2048", "rsa:3072", "ec:256", ... */
};

/* Returns true when data_dir holds a configuration already. */
bool bootstrap_is_initialised(const char *data_dir);

/* Creates the embedded default in data_dir (created if missing, which must
 * otherwise be empty of HSM4SSL files). Returns 0, or -1 after logging what
 * failed; a failed run leaves no hsm4ssld.json, so the next start retries
 * from the beginning. */
int bootstrap_create(const struct bootstrap_options *options);

#endif
