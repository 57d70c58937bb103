#include "cli/cli_file.h"

#include "cli/cli_exit.h"
#include "common/fd_write.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Staged files at one time. -gen_cert keeps its key staged and writes one
 * more file at a time; a file beyond this limit is swept by a later run. */
#define CLEANUP_SLOTS 8
/* The random part of a temporary name: 6 bytes in hex. */
#define TEMP_SUFFIX_LEN 12

/*
 * The temporary files the signal handler removes. Slots are written only
 * with the cleanup signals blocked, and in_use is set after the other
 * members and cleared first, so that the handler, which may also run on
 * a libcurl resolver thread, reads complete slots only.
 */
static struct cleanup_slot {
    atomic_int in_use;
    int dir_fd;
    char temp_name[128];
} cleanup_slots[CLEANUP_SLOTS];

static const int cleanup_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
#define CLEANUP_SIGNAL_COUNT                                                 \
    (sizeof(cleanup_signals) / sizeof(cleanup_signals[0]))

/* Removes every registered temporary file, then lets the signal end the
 * process: SA_RESETHAND restored the default action, and the raised
 * signal is delivered as soon as the handler returns. Uses only
 * async-signal-safe calls. */
static void
remove_staged_on_signal(int sig)
{
    int saved = errno;

    for (size_t i = 0; i < CLEANUP_SLOTS; i++)
        if (atomic_load(&cleanup_slots[i].in_use))
            unlinkat(cleanup_slots[i].dir_fd, cleanup_slots[i].temp_name,
                     0);
    errno = saved;
    raise(sig);
}

void
cli_file_cleanup_on_signals(void)
{
    struct sigaction action, previous;

    memset(&action, 0, sizeof(action));
    action.sa_handler = remove_staged_on_signal;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < CLEANUP_SIGNAL_COUNT; i++)
        sigaddset(&action.sa_mask, cleanup_signals[i]);
    for (size_t i = 0; i < CLEANUP_SIGNAL_COUNT; i++)
        if (sigaction(cleanup_signals[i], NULL, &previous) == 0 &&
            previous.sa_handler != SIG_IGN)
            sigaction(cleanup_signals[i], &action, NULL);
}

static void
block_cleanup_signals(sigset_t *previous)
{
    sigset_t set;

    sigemptyset(&set);
    for (size_t i = 0; i < CLEANUP_SIGNAL_COUNT; i++)
        sigaddset(&set, cleanup_signals[i]);
    sigprocmask(SIG_BLOCK, &set, previous);
}

static void
restore_signals(const sigset_t *previous)
{
    sigprocmask(SIG_SETMASK, previous, NULL);
}

/* Records a temporary file for the signal handler; call with the cleanup
 * signals blocked. Returns the slot, or -1 when all are taken. */
static int
register_cleanup(int dir_fd, const char *temp_name)
{
    for (int i = 0; i < CLEANUP_SLOTS; i++) {
        struct cleanup_slot *slot = &cleanup_slots[i];

        if (atomic_load(&slot->in_use))
            continue;
        slot->dir_fd = dir_fd;
        snprintf(slot->temp_name, sizeof(slot->temp_name), "%s",
                 temp_name);
        atomic_store(&slot->in_use, 1);
        return i;
    }
    return -1;
}

static void
unregister_cleanup(int slot)
{
    if (slot >= 0 && slot < CLEANUP_SLOTS)
        atomic_store(&cleanup_slots[slot].in_use, 0);
}

bool
cli_file_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > CLI_NAME_MAX)
        return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") == len;
}

int
cli_dir_open_root(struct cli_dir *dir, const char *path, bool create)
{
    dir->fd = -1;
    if (snprintf(dir->path, sizeof(dir->path), "%s", path) >=
        (int)sizeof(dir->path))
        return cli_fail(CLI_EXIT_LOCAL, "directory path %s is too long",
                        path);
    if (create && mkdir(path, 0700) != 0 && errno != EEXIST)
        return cli_fail(CLI_EXIT_LOCAL,
                        "cannot create directory %s: %s; create its "
                        "parent or choose another -dir", path,
                        strerror(errno));
    dir->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir->fd < 0)
        return cli_fail(CLI_EXIT_LOCAL,
                        "cannot open directory %s: %s%s", path,
                        strerror(errno),
                        errno == ENOENT ? "; run ssleverywhere -enroll "
                                          "first or give -dir" : "");
    return CLI_EXIT_OK;
}

/* Checks owner and, for private folders, the mode of an open folder. */
static int
check_sub_dir(const struct cli_dir *dir, bool private_only)
{
    struct stat st;

    if (fstat(dir->fd, &st) != 0)
        return cli_fail(CLI_EXIT_LOCAL, "cannot stat %s: %s", dir->path,
                        strerror(errno));
    if (st.st_uid != geteuid())
        return cli_fail(CLI_EXIT_LOCAL,
                        "%s belongs to user id %u, not to you; remove it or "
                        "choose another -dir", dir->path,
                        (unsigned)st.st_uid);
    if (private_only && (st.st_mode & 077) != 0)
        return cli_fail(CLI_EXIT_LOCAL,
                        "%s is open to group or others (mode %03o); run "
                        "chmod 700 %s", dir->path,
                        (unsigned)(st.st_mode & 0777), dir->path);
    return CLI_EXIT_OK;
}

int
cli_dir_open_sub(struct cli_dir *dir, const struct cli_dir *parent,
                 const char *name, mode_t mode, bool create,
                 bool private_only)
{
    int rc;

    dir->fd = -1;
    if (snprintf(dir->path, sizeof(dir->path), "%s/%s", parent->path,
                 name) >= (int)sizeof(dir->path))
        return cli_fail(CLI_EXIT_LOCAL, "directory path %s/%s is too long",
                        parent->path, name);
    if (create && mkdirat(parent->fd, name, mode) != 0 && errno != EEXIST)
        return cli_fail(CLI_EXIT_LOCAL, "cannot create directory %s: %s",
                        dir->path, strerror(errno));
    dir->fd = openat(parent->fd, name,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir->fd < 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot open directory %s: %s%s",
                      dir->path, strerror(errno),
                      errno == ELOOP || errno == ENOTDIR
                          ? " (it must be a directory, not a symlink)"
                          : errno == ENOENT ? "; run ssleverywhere -enroll "
                                              "first" : "");
        return rc;
    }
    rc = check_sub_dir(dir, private_only);
    if (rc != CLI_EXIT_OK)
        cli_dir_close(dir);
    return rc;
}

void
cli_dir_close(struct cli_dir *dir)
{
    if (dir == NULL || dir->fd < 0)
        return;
    close(dir->fd);
    dir->fd = -1;
}

bool
cli_file_exists(const struct cli_dir *dir, const char *name)
{
    struct stat st;

    return fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Creates ".NAME.tmp-RANDOM" in dir; returns the descriptor or -1. */
static int
create_temp(struct cli_staged_file *staged, mode_t mode)
{
    unsigned char random_bytes[TEMP_SUFFIX_LEN / 2];

    for (int attempt = 0; attempt < 8; attempt++) {
        int fd;

        if (RAND_bytes(random_bytes, sizeof(random_bytes)) != 1) {
            errno = EIO;
            return -1;
        }
        snprintf(staged->temp_name, sizeof(staged->temp_name),
                 ".%s.tmp-%02x%02x%02x%02x%02x%02x", staged->name,
                 random_bytes[0], random_bytes[1], random_bytes[2],
                 random_bytes[3], random_bytes[4], random_bytes[5]);
        fd = openat(staged->dir->fd, staged->temp_name,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/*
 * Creates the temporary file of staged, takes its lock and registers it
 * for the signal handler, all with the cleanup signals blocked. Another
 * run's sweep can lock and remove the file between its creation and the
 * lock. The link count is then 0, so a new file is made. Where the file
 * system has no flock, the file stays unlocked, and sweeps, which cannot
 * lock it either, leave it alone. Returns 0, or -1 with errno set.
 */
static int
create_locked_temp(struct cli_staged_file *staged, mode_t mode)
{
    sigset_t previous;
    struct stat st;
    int fd = -1, saved = 0;

    block_cleanup_signals(&previous);
    for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
        fd = create_temp(staged, mode);
        if (fd < 0) {
            saved = errno;
            break;
        }
        if (flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0 &&
            st.st_nlink == 0) {
            close(fd);
            fd = -1;
            saved = EAGAIN;
        }
    }
    if (fd >= 0) {
        staged->fd = fd;
        staged->slot = register_cleanup(staged->dir->fd, staged->temp_name);
    }
    restore_signals(&previous);
    if (fd < 0) {
        staged->temp_name[0] = '\0';
        errno = saved;
        return -1;
    }
    return 0;
}

/* Returns true when entry is a temporary name create_temp makes for name:
 * ".NAME.tmp-" and TEMP_SUFFIX_LEN lower-case hex digits. */
static bool
is_temp_name_of(const char *entry, const char *name)
{
    size_t len = strlen(name);
    const char *suffix;

    if (entry[0] != '.' || strncmp(entry + 1, name, len) != 0 ||
        strncmp(entry + 1 + len, ".tmp-", 5) != 0)
        return false;
    suffix = entry + 1 + len + 5;
    return strlen(suffix) == TEMP_SUFFIX_LEN &&
           strspn(suffix, "0123456789abcdef") == TEMP_SUFFIX_LEN;
}

/* Removes the temporary file entry of dir when its lock is free, which
 * means that the run that made it has ended without removing it. The
 * name must still lead to the locked file, so that nothing else is
 * removed. */
static void
remove_if_abandoned(const struct cli_dir *dir, const char *entry)
{
    struct stat opened, named;
    int fd = openat(dir->fd, entry,
                    O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &opened) == 0 &&
        fstatat(dir->fd, entry, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(opened.st_mode) && opened.st_dev == named.st_dev &&
        opened.st_ino == named.st_ino && unlinkat(dir->fd, entry, 0) == 0)
        cli_note("removed %s/%s, a temporary file that an interrupted run "
                 "left behind", dir->path, entry);
    close(fd);
}

/* Removes the abandoned temporary files of name in dir. A failure only
 * leaves them for a later run. */
static void
sweep_abandoned(const struct cli_dir *dir, const char *name)
{
    struct dirent *entry;
    DIR *listing;
    int fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return;
    listing = fdopendir(fd);
    if (listing == NULL) {
        close(fd);
        return;
    }
    while ((entry = readdir(listing)) != NULL)
        if (is_temp_name_of(entry->d_name, name))
            remove_if_abandoned(dir, entry->d_name);
    closedir(listing);
}

int
cli_file_stage(struct cli_staged_file *staged, const struct cli_dir *dir,
               const char *name, const void *data, size_t len, mode_t mode)
{
    int rc = CLI_EXIT_LOCAL;

    staged->dir = dir;
    staged->fd = -1;
    staged->slot = -1;
    staged->temp_name[0] = '\0';
    if (snprintf(staged->name, sizeof(staged->name), "%s", name) >=
        (int)sizeof(staged->name))
        return cli_fail(CLI_EXIT_LOCAL, "file name %s is too long", name);
    sweep_abandoned(dir, staged->name);
    if (create_locked_temp(staged, mode) != 0)
        return cli_fail(CLI_EXIT_LOCAL, "cannot create a file in %s: %s",
                        dir->path, strerror(errno));
    if (fd_write_all(staged->fd, data, len) != 0 || fsync(staged->fd) != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot write %s/%s: %s", dir->path,
                      staged->temp_name, strerror(errno));
        cli_file_discard(staged);
        return rc;
    }
    return CLI_EXIT_OK;
}

/* Puts the staged file at its name without replacing an existing entry:
 * linkat fails with EEXIST when the name is taken, even by a symlink. */
static int
link_into_place(struct cli_staged_file *staged)
{
    int saved;

    if (linkat(staged->dir->fd, staged->temp_name, staged->dir->fd,
               staged->name, 0) != 0)
        return -1;
    if (unlinkat(staged->dir->fd, staged->temp_name, 0) != 0) {
        saved = errno;
        unlinkat(staged->dir->fd, staged->name, 0);
        errno = saved;
        return -1;
    }
    return 0;
}

/* Forgets the temporary file of staged once it is renamed or removed;
 * call with the cleanup signals blocked. Closing the descriptor drops the
 * lock. */
static void
release_staged(struct cli_staged_file *staged)
{
    unregister_cleanup(staged->slot);
    staged->slot = -1;
    staged->temp_name[0] = '\0';
    close(staged->fd);
    staged->fd = -1;
}

int
cli_file_commit(struct cli_staged_file *staged, bool replace)
{
    sigset_t previous;
    int status, saved;
    int rc;

    block_cleanup_signals(&previous);
    if (replace)
        status = renameat(staged->dir->fd, staged->temp_name,
                          staged->dir->fd, staged->name);
    else
        status = link_into_place(staged);
    saved = errno;
    if (status == 0)
        release_staged(staged);
    restore_signals(&previous);
    if (status != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot write %s/%s: %s%s",
                      staged->dir->path, staged->name, strerror(saved),
                      saved == EEXIST ? "; give -force to replace it" : "");
        cli_file_discard(staged);
        return rc;
    }
    /* Makes the rename durable; a failure here loses nothing written. */
    fsync(staged->dir->fd);
    return CLI_EXIT_OK;
}

void
cli_file_discard(struct cli_staged_file *staged)
{
    sigset_t previous;

    if (staged == NULL || staged->temp_name[0] == '\0')
        return;
    block_cleanup_signals(&previous);
    unlinkat(staged->dir->fd, staged->temp_name, 0);
    release_staged(staged);
    restore_signals(&previous);
}

int
cli_file_write(const struct cli_dir *dir, const char *name,
               const void *data, size_t len, mode_t mode)
{
    struct cli_staged_file staged;
    int rc;

    rc = cli_file_stage(&staged, dir, name, data, len, mode);
    if (rc != CLI_EXIT_OK)
        return rc;
    return cli_file_commit(&staged, true);
}

/* Reads all of an open regular file; fails beyond max bytes. Returns 0,
 * or -1 with errno set (EFBIG when too large, EINVAL when not regular). */
static int
read_fd(int fd, size_t max, char **data, size_t *len)
{
    struct stat st;
    char *buf;
    size_t used = 0;

    if (fstat(fd, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return -1;
    }
    if ((unsigned long long)st.st_size > max) {
        errno = EFBIG;
        return -1;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        return -1;
    while (used < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return 0;
}

static int
read_error(const char *path, const char *name)
{
    const char *hint = "";

    if (errno == EFBIG)
        hint = " (file too large)";
    else if (errno == EINVAL)
        hint = " (not a regular file)";
    else if (errno == ELOOP)
        hint = " (a symlink; replace it with the file)";
    return cli_fail(CLI_EXIT_LOCAL, "cannot read %s%s%s: %s%s", path,
                    name ? "/" : "", name ? name : "", strerror(errno),
                    hint);
}

int
cli_file_read_at(const struct cli_dir *dir, const char *name, size_t max,
                 char **data, size_t *len)
{
    int fd, rc = CLI_EXIT_OK;

    *data = NULL;
    *len = 0;
    fd = openat(dir->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || read_fd(fd, max, data, len) != 0)
        rc = read_error(dir->path, name);
    if (fd >= 0)
        close(fd);
    return rc;
}

int
cli_file_read_secret_at(const struct cli_dir *dir, const char *name,
                        size_t max, char **data, size_t *len)
{
    struct stat st;
    int fd, rc = CLI_EXIT_OK;

    *data = NULL;
    *len = 0;
    fd = openat(dir->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = read_error(dir->path, name);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL,
                      "%s/%s is open to group or others (mode %03o) and "
                      "holds a secret; run chmod 600 %s/%s", dir->path,
                      name, (unsigned)(st.st_mode & 0777), dir->path, name);
        goto out;
    }
    if (read_fd(fd, max, data, len) != 0)
        rc = read_error(dir->path, name);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int
cli_file_read_path(const char *path, size_t max, char **data, size_t *len)
{
    int fd, rc = CLI_EXIT_OK;

    *data = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read_fd(fd, max, data, len) != 0)
        rc = read_error(path, NULL);
    if (fd >= 0)
        close(fd);
    return rc;
}
