/*
 * `hsm4ssld serve`: creates the embedded default in a new data directory,
 * then starts the HAL, the store, the managers and the HTTPS API, and runs
 * until SIGTERM or SIGINT.
 */
#ifndef HSM4SSL_DAEMON_SERVE_H
#define HSM4SSL_DAEMON_SERVE_H

#include <stdbool.h>

#include "daemon/bootstrap.h"

struct serve_options {
    const char *data_dir;  /* absolute */
    const char *listen;    /* NULL: from the configuration */
    unsigned threads;      /* 0: from the configuration */
    const char *ocsp_url;  /* NULL: ca.ocsp_url of the configuration */
    /* Used only when the data directory is new; boot.listen and
     * boot.data_dir are filled in by serve_run. */
    struct bootstrap_options boot;
    bool boot_options_given; /* --ca-key, --module, --api-dns or --api-ip */
};

/* Returns true when text is ADDR:PORT or [V6]:PORT with a numeric address
 * and a port from 0 to 65535. */
bool serve_listen_valid(const char *text);

/* Returns the process exit status: 0 after a clean stop, 1 on failure. */
int serve_run(const struct serve_options *options);

#endif
