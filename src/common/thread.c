#include "common/thread.h"

#include <signal.h>

int
thread_start(pthread_t *thread, void *(*run)(void *), void *arg,
             const char *name)
{
    sigset_t all, saved;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    rc = pthread_create(thread, NULL, run, arg);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc == 0)
        pthread_setname_np(*thread, name);
    return rc;
}
