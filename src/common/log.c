#include "common/log.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Atomic because worker threads read the level while another thread may
 * set it (the unit tests raise it around a server that is running). */
static _Atomic int current_level = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
log_set_level(enum log_level level)
{
    atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

enum log_level
log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&current_level,
                                                memory_order_relaxed);
}

int
log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

/* Replaces control characters so that a peer-supplied value cannot forge a
 * log line. */
static void
escape_controls(char *text)
{
    for (; *text != '\0'; text++)
        if ((unsigned char)*text < 0x20 || *text == 0x7f)
            *text = '?';
}

void
log_write(enum log_level level, const char *func, const char *fmt, ...)
{
    char message[2048];
    char stamp[32];
    struct timeval now;
    struct tm tm;
    va_list ap;

    if (level > log_get_level())
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    escape_controls(message);

    gettimeofday(&now, NULL);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s.%06ldZ %-5s %s: %s\n", stamp, (long)now.tv_usec,
            level_names[level], func, message);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void
log_openssl_errors(const char *func, const char *what)
{
    char text[1024] = "";
    char line[256];
    size_t used = 0;
    unsigned long code;

    while ((code = ERR_get_error()) != 0) {
        ERR_error_string_n(code, line, sizeof(line));
        int n = snprintf(text + used, sizeof(text) - used, "%s%s",
                         used ? "; " : "", line);
        if (n < 0 || (size_t)n >= sizeof(text) - used)
            break;
        used += (size_t)n;
    }
    log_write(LOG_LEVEL_ERROR, func, "%s: %s", what,
              used ? text : "no OpenSSL error recorded");
}
