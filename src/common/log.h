/*
 * Logging for the daemon and the CLI: one line per event on stderr, with
 * a UTC timestamp, the level and the function that logged it.
 *
 * Never pass a secret (PIN, token, passphrase, key bytes) to these
 * functions: callers log the presence of a secret, never its value.
 */
#ifndef HSM4SSL_COMMON_LOG_H
#define HSM4SSL_COMMON_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

/* Sets the most verbose level that is written; the default is INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);

void log_write(enum log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The level check comes first so that arguments of a disabled level are not
 * evaluated. */
#define log_error(...) log_write(LOG_LEVEL_ERROR, __func__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __func__, __VA_ARGS__)
#define log_info(...)                                                        \
    do {                                                                     \
        if (log_get_level() >= LOG_LEVEL_INFO)                               \
            log_write(LOG_LEVEL_INFO, __func__, __VA_ARGS__);                \
    } while (0)
#define log_debug(...)                                                       \
    do {                                                                     \
        if (log_get_level() >= LOG_LEVEL_DEBUG)                              \
            log_write(LOG_LEVEL_DEBUG, __func__, __VA_ARGS__);               \
    } while (0)

/* Drains the OpenSSL error queue into one log line at ERROR level, prefixed
 * with what failed. */
void log_openssl_errors(const char *func, const char *what);

#endif
