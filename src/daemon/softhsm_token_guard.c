#include "daemon/softhsm_token_guard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fd_write.h"
#include "common/log.h"
#include "common/secret.h"

/* Temporary names of the files being written. Neither ends in ".object",
 * so SoftHSM2 ignores a leftover one. */
#define BACKUP_TEMP_FILE SOFTHSM_TOKEN_BACKUP_FILE ".tmp"
#define RESTORE_TEMP_FILE "token.object.hsm4ssl-restore.tmp"

/* The cause written into the logs of an empty token.object. */
#define INTERRUPTED_WRITE                                                      \
    "most likely because SoftHSM2 was interrupted while rewriting it"

/* A token directory, open for the *at() calls, and its path for logs. */
struct token_dir {
    int fd;
    char path[PATH_MAX];
};

/* The system call of copy_file that failed, the file in the token
 * directory it acted on ("." for the directory) and its errno. */
struct copy_error {
    const char *call;
    const char *name;
    int errnum;
};

typedef void (*token_dir_fn)(const struct token_dir *dir);

static int
copy_failed(struct copy_error *error, const char *call, const char *name)
{
    error->call = call;
    error->name = name;
    error->errnum = errno;
    return -1;
}

/* Opens name in dir for reading. O_NONBLOCK keeps a FIFO planted under
 * that name from blocking the open, and changes nothing for a regular
 * file. Returns the descriptor, or -1 with errno set (EINVAL for
 * anything but a regular file). */
static int
open_regular(const struct token_dir *dir, const char *name)
{
    struct stat st;
    int fd;

    fd = openat(dir->fd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        int saved_errno = errno;

        close(fd);
        errno = saved_errno;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* Copies in to out. An empty input fails with ENODATA, so an empty file
 * never replaces a copy. The buffer is wiped because token.object
 * contains the PIN-wrapped token key. */
static int
copy_contents(int in, int out, const char *from, const char *to,
              struct copy_error *error)
{
    char buf[4096];
    size_t total = 0;
    ssize_t got;
    int rc = -1;

    while ((got = read(in, buf, sizeof(buf))) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            copy_failed(error, "read", from);
            goto out;
        }
        if (fd_write_all(out, buf, (size_t)got) != 0) {
            copy_failed(error, "write", to);
            goto out;
        }
        total += (size_t)got;
    }
    if (total == 0) {
        errno = ENODATA;
        copy_failed(error, "read", from);
        goto out;
    }
    rc = 0;
out:
    secret_wipe(buf, sizeof(buf));
    return rc;
}

/* Writes temp_name (mode 0600) in dir with the rest of in, the open file
 * from, and syncs it. Returns 0, or -1 with error filled in and
 * temp_name removed. */
static int
write_temp_file(const struct token_dir *dir, int in, const char *from,
                const char *temp_name, struct copy_error *error)
{
    int out, rc = -1;

    if (unlinkat(dir->fd, temp_name, 0) != 0 && errno != ENOENT)
        return copy_failed(error, "unlink", temp_name);
    out = openat(dir->fd, temp_name,
                 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0)
        return copy_failed(error, "open", temp_name);
    if (fchmod(out, 0600) != 0) {
        copy_failed(error, "fchmod", temp_name);
        goto out;
    }
    if (copy_contents(in, out, from, temp_name, error) != 0)
        goto out;
    if (fsync(out) != 0) {
        copy_failed(error, "fsync", temp_name);
        goto out;
    }
    rc = 0;
out:
    if (close(out) != 0 && rc == 0)
        rc = copy_failed(error, "close", temp_name);
    if (rc != 0)
        unlinkat(dir->fd, temp_name, 0);
    return rc;
}

/* Copies the regular file from to to in dir through temp_name, then
 * syncs the directory, so that to is either the old file or the whole
 * new one after a crash. Returns 0, or -1 with error filled in. */
static int
copy_file(const struct token_dir *dir, const char *from, const char *temp_name,
          const char *to, struct copy_error *error)
{
    int in, rc = -1;

    in = open_regular(dir, from);
    if (in < 0)
        return copy_failed(error, "open", from);
    if (write_temp_file(dir, in, from, temp_name, error) != 0)
        goto out;
    if (renameat(dir->fd, temp_name, dir->fd, to) != 0) {
        copy_failed(error, "rename", temp_name);
        unlinkat(dir->fd, temp_name, 0);
        goto out;
    }
    if (fsync(dir->fd) != 0) {
        copy_failed(error, "fsync", ".");
        goto out;
    }
    rc = 0;
out:
    close(in);
    return rc;
}

/* Writes when as UTC in the format of the log's timestamps. */
static void
format_utc(time_t when, char out[32])
{
    struct tm tm;

    if (gmtime_r(&when, &tm) == NULL ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld seconds after the epoch", (long long)when);
}

/* State of token.object as restore_token finds it. */
enum token_file_state {
    TOKEN_FILE_KEEP, /* non-empty, or it cannot be checked (logged) */
    TOKEN_FILE_MISSING,
    TOKEN_FILE_EMPTY,
};

static const char *
describe_state(enum token_file_state state)
{
    return state == TOKEN_FILE_EMPTY ? "empty, " INTERRUPTED_WRITE : "missing";
}

static void
log_no_backup(const struct token_dir *dir, enum token_file_state state)
{
    if (state == TOKEN_FILE_MISSING)
        log_warn("token directory %s has no %s and no copy %s of it, so "
                 "SoftHSM2 cannot use it as a token; if it was a token, "
                 "restore the data directory from a backup",
                 dir->path, SOFTHSM_TOKEN_FILE, SOFTHSM_TOKEN_BACKUP_FILE);
    else
        log_error("token metadata %s/%s is %s, and there is no copy %s to "
                  "restore it from; the token and its keys cannot be used. "
                  "Restore the data directory from a backup",
                  dir->path, SOFTHSM_TOKEN_FILE, describe_state(state),
                  SOFTHSM_TOKEN_BACKUP_FILE);
}

/* Returns whether dir contains a non-empty copy of token.object, and
 * stores the copy's status in backup. Logs why not. */
static bool
find_backup(const struct token_dir *dir, enum token_file_state state,
            struct stat *backup)
{
    bool found = fstatat(dir->fd, SOFTHSM_TOKEN_BACKUP_FILE, backup,
                         AT_SYMLINK_NOFOLLOW) == 0;

    if (!found && errno != ENOENT) {
        log_error("token metadata %s/%s is %s, and its copy %s cannot be "
                  "read: %s; fix the owner or mode of the copy and start "
                  "again",
                  dir->path, SOFTHSM_TOKEN_FILE, describe_state(state),
                  SOFTHSM_TOKEN_BACKUP_FILE, strerror(errno));
        return false;
    }
    if (!found || !S_ISREG(backup->st_mode) || backup->st_size == 0) {
        log_no_backup(dir, state);
        return false;
    }
    return true;
}

static enum token_file_state
check_token_file(const struct token_dir *dir)
{
    struct stat st;

    if (fstatat(dir->fd, SOFTHSM_TOKEN_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return TOKEN_FILE_MISSING;
        log_error("cannot check token metadata %s/%s: %s", dir->path,
                  SOFTHSM_TOKEN_FILE, strerror(errno));
        return TOKEN_FILE_KEEP;
    }
    if (!S_ISREG(st.st_mode)) {
        log_error("token metadata %s/%s is not a regular file, so SoftHSM2 "
                  "cannot read the token; move it away and start again to "
                  "restore it from its copy",
                  dir->path, SOFTHSM_TOKEN_FILE);
        return TOKEN_FILE_KEEP;
    }
    return st.st_size == 0 ? TOKEN_FILE_EMPTY : TOKEN_FILE_KEEP;
}

/* How long an empty token.object must stay empty before it is taken for
 * an interrupted write: another process that logs in to the token
 * (hsm4ssld list-hsms) leaves it empty for the microseconds between its
 * truncation and its write. */
#define EMPTY_RECHECKS 10
#define EMPTY_RECHECK_USEC 100000

/* Returns the state of token.object once it has been empty for about a
 * second, or as soon as it is not empty any more. */
static enum token_file_state
check_token_file_settled(const struct token_dir *dir)
{
    enum token_file_state state = check_token_file(dir);

    for (int i = 0; i < EMPTY_RECHECKS && state == TOKEN_FILE_EMPTY; i++) {
        usleep(EMPTY_RECHECK_USEC);
        state = check_token_file(dir);
    }
    return state;
}

static void back_up_token(const struct token_dir *dir);

/* Removes a temporary file that a crash left in dir. It contains the
 * wrapped token key as token.object does. */
static void
remove_leftover(const struct token_dir *dir, const char *name)
{
    if (unlinkat(dir->fd, name, 0) == 0)
        log_info("removed %s/%s, left by an interrupted copy", dir->path,
                 name);
    else if (errno != ENOENT)
        log_warn("cannot remove %s/%s, left by an interrupted copy: %s; "
                 "remove it by hand",
                 dir->path, name, strerror(errno));
}

static void
restore_token(const struct token_dir *dir)
{
    enum token_file_state state = check_token_file_settled(dir);
    struct copy_error error;
    struct stat backup;
    char copied_at[32];
    bool copied;

    remove_leftover(dir, RESTORE_TEMP_FILE);
    remove_leftover(dir, BACKUP_TEMP_FILE);
    if (state == TOKEN_FILE_KEEP) {
        /* A data directory just created, or made before the copies
         * existed, has no copy yet. Make it now, before the first login
         * of this start truncates token.object. */
        if (fstatat(dir->fd, SOFTHSM_TOKEN_BACKUP_FILE, &backup,
                    AT_SYMLINK_NOFOLLOW) != 0 &&
            errno == ENOENT)
            back_up_token(dir);
        return;
    }
    if (!find_backup(dir, state, &backup))
        return;
    copied = copy_file(dir, SOFTHSM_TOKEN_BACKUP_FILE, RESTORE_TEMP_FILE,
                       SOFTHSM_TOKEN_FILE, &error) == 0;
    /* Only the directory's fsync fails after the rename. */
    if (!copied && strcmp(error.call, "fsync") == 0 &&
        strcmp(error.name, ".") == 0) {
        log_error("restored token metadata %s/%s from its copy, but the "
                  "fsync of %s failed: %s; a crash before the next sync may "
                  "undo the restore",
                  dir->path, SOFTHSM_TOKEN_FILE, dir->path,
                  strerror(error.errnum));
        return;
    }
    if (!copied) {
        log_error("cannot restore token metadata %s/%s from its copy: %s "
                  "of %s/%s failed: %s; the copy is kept, so fix the cause "
                  "and start again",
                  dir->path, SOFTHSM_TOKEN_FILE, error.call, dir->path,
                  error.name, strerror(error.errnum));
        return;
    }
    format_utc(backup.st_mtime, copied_at);
    log_warn("token metadata %s/%s was %s; restored it from the copy of %s "
             "(%s)",
             dir->path, SOFTHSM_TOKEN_FILE, describe_state(state), copied_at,
             SOFTHSM_TOKEN_BACKUP_FILE);
}

static void
back_up_token(const struct token_dir *dir)
{
    struct copy_error error;

    if (copy_file(dir, SOFTHSM_TOKEN_FILE, BACKUP_TEMP_FILE,
                  SOFTHSM_TOKEN_BACKUP_FILE, &error) == 0)
        return;
    /* restore_token has logged a missing token.object already. */
    if (strcmp(error.name, SOFTHSM_TOKEN_FILE) == 0 && error.errnum == ENOENT)
        return;
    if (strcmp(error.name, SOFTHSM_TOKEN_FILE) == 0 &&
        error.errnum == ENODATA) {
        log_warn("token metadata %s/%s is empty, so no copy of it was made",
                 dir->path, SOFTHSM_TOKEN_FILE);
        return;
    }
    log_warn("cannot write the copy %s/%s of the token metadata: %s of "
             "%s/%s failed: %s; the service goes on, and the previous copy, "
             "if any, is kept",
             dir->path, SOFTHSM_TOKEN_BACKUP_FILE, error.call, dir->path,
             error.name, strerror(error.errnum));
}

/* Runs fn on the directory name in tokens_fd. Entries that are not
 * directories, symbolic links among them, are skipped. */
static void
visit_token_dir(int tokens_fd, const char *tokens_path, const char *name,
                token_dir_fn fn)
{
    struct token_dir dir;

    if (snprintf(dir.path, sizeof(dir.path), "%s/%s", tokens_path, name) >=
        (int)sizeof(dir.path)) {
        log_error("token directory path %s/%s is too long; it is skipped",
                  tokens_path, name);
        return;
    }
    dir.fd = openat(tokens_fd, name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir.fd < 0) {
        if (errno != ENOTDIR && errno != ELOOP)
            log_error("cannot open token directory %s: %s", dir.path,
                      strerror(errno));
        return;
    }
    fn(&dir);
    close(dir.fd);
}

/* Runs fn on each directory in DATA_DIR/tokens. A data directory without
 * tokens/ keeps its tokens elsewhere, which are left alone. */
static void
for_each_token_dir(const char *data_dir, token_dir_fn fn)
{
    char tokens_path[PATH_MAX];
    struct dirent *entry;
    DIR *tokens;

    if (snprintf(tokens_path, sizeof(tokens_path), "%s/tokens", data_dir) >=
        (int)sizeof(tokens_path)) {
        log_error("data directory path %s is too long; its tokens are not "
                  "checked",
                  data_dir);
        return;
    }
    tokens = opendir(tokens_path);
    if (tokens == NULL) {
        if (errno != ENOENT)
            log_error("cannot read token directory %s: %s", tokens_path,
                      strerror(errno));
        return;
    }
    while ((entry = readdir(tokens)) != NULL)
        if (entry->d_name[0] != '.')
            visit_token_dir(dirfd(tokens), tokens_path, entry->d_name, fn);
    closedir(tokens);
}

void
softhsm_token_guard_restore(const char *data_dir)
{
    for_each_token_dir(data_dir, restore_token);
}

/* Serialises the copies: the login hooks of two HSMs run under different
 * state locks, and both would write the same temporary file. */
static pthread_mutex_t back_up_lock = PTHREAD_MUTEX_INITIALIZER;

void
softhsm_token_guard_back_up(const char *data_dir)
{
    pthread_mutex_lock(&back_up_lock);
    for_each_token_dir(data_dir, back_up_token);
    pthread_mutex_unlock(&back_up_lock);
}
