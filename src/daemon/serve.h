/*
 * `hsm4ssld serve`: creates the embedded default in a new data directory,
 * then starts the HAL, the store, the managers and the HTTPS API, and runs
 * until SIGTERM or SIGINT.
 */
#ifndef HSM4SSL_DAEMON_SERVE_H
#define HSM4SSL_DAEMON_SERVE_H

struct serve_options {
    const char *data_dir;    /* absolute */
    const char *listen;      /* NULL: from the configuration */
    const char *module_path; /* SoftHSM2, for a new data directory */
    const char *ca_key;      /* key of a new root, "rsa:2048" */
    unsigned threads;        /* 0: from the configuration */
};

/* Returns the process exit status: 0 after a clean stop, 1 on failure. */
int serve_run(const struct serve_options *options);

#endif
