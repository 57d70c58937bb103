/*
 * Threads of the service: each starts with every signal blocked, so that
 * the daemon's signal handlers run only in the thread that installed
 * them, and carries a name that ps, top and gdb show.
 */
#ifndef HSM4SSL_COMMON_THREAD_H
#define HSM4SSL_COMMON_THREAD_H

#include <pthread.h>

/* Starts run(arg) in a new thread named name (at most 15 characters).
 * Returns 0, or pthread_create's error number. */
int thread_start(pthread_t *thread, void *(*run)(void *), void *arg,
                 const char *name);

#endif
