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

/* Writes the date and time of second into stamp, reusing the text of the
 * thread's previous line when it fell in the same second. */
static void
format_stamp(time_t second, char stamp[32])
{
    static _Thread_local time_t cached_second = -1;
    static _Thread_local char cached[32];
    struct tm tm;

    if (second != cached_second) {
        if (gmtime_r(&second, &tm) == NULL ||
            strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
            snprintf(cached, sizeof(cached), "@%lld", (long long)second);
        cached_second = second;
    }
    memcpy(stamp, cached, sizeof(cached));
}

void
log_write(enum log_level level, const char *func, const char *fmt, ...)
{
    char line[2048 + 160];
    char stamp[32];
    struct timeval now;
    va_list ap;
    int prefix, len;

    if (level > log_get_level())
        return;
    gettimeofday(&now, NULL);
    format_stamp(now.tv_sec, stamp);
    prefix = snprintf(line, sizeof(line), "%s.%06ldZ %-5s %s: ", stamp,
                      (long)now.tv_usec, level_names[level], func);
    if (prefix < 0 || (size_t)prefix >= sizeof(line) - 2048)
        prefix = 0;
    va_start(ap, fmt);
    len = vsnprintf(line + prefix, 2048, fmt, ap);
    va_end(ap);
    if (len < 0)
        len = 0;
    else if (len > 2047)
        len = 2047;
    escape_controls(line + prefix);
    len += prefix;
    line[len++] = '\n';

    pthread_mutex_lock(&log_lock);
    fwrite(line, 1, (size_t)len, stderr);
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
