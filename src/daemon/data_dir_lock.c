#include "daemon/data_dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

/* Reads the process id that the lock's owner wrote, or "" when the file
 * contains none yet because the owner took the lock a moment ago. */
static void
read_holder(int fd, char holder[32])
{
    ssize_t got = pread(fd, holder, 31, 0);

    holder[got > 0 ? got : 0] = '\0';
    holder[strspn(holder, "0123456789")] = '\0';
}

static void
write_own_pid(int fd, const char *path)
{
    char text[32];
    int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len)
        log_warn("cannot write the process id to %s: %s; the lock is taken "
                 "anyway", path, strerror(errno));
}

int
data_dir_lock(const char *data_dir)
{
    char path[PATH_MAX], holder[32];
    int fd;

    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create data directory %s: %s; create its parent "
                  "directory or give another --data-dir",
                  data_dir, strerror(errno));
        return -1;
    }
    if (snprintf(path, sizeof(path), "%s/%s", data_dir, DATA_DIR_LOCK_FILE) >=
        (int)sizeof(path)) {
        log_error("data directory path %s is too long; give a shorter "
                  "--data-dir", data_dir);
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log_error("cannot open lock file %s: %s; check the owner and mode "
                  "of %s", path, strerror(errno), data_dir);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved_errno = errno;

        read_holder(fd, holder);
        close(fd);
        if (saved_errno == EWOULDBLOCK)
            log_error("data directory %s is locked by another hsm4ssld "
                      "(process %s, lock file %s); stop that process first "
                      "or give another --data-dir",
                      data_dir, holder[0] ? holder : "id not written yet",
                      path);
        else
            log_error("cannot lock %s: %s", path, strerror(saved_errno));
        return -1;
    }
    write_own_pid(fd, path);
    return fd;
}

void
data_dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
