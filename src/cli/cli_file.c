#include "cli/cli_file.h"

#include "cli/cli_exit.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    unsigned char random_bytes[6];

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

static int
write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
cli_file_stage(struct cli_staged_file *staged, const struct cli_dir *dir,
               const char *name, const void *data, size_t len, mode_t mode)
{
    int fd, rc = CLI_EXIT_LOCAL;

    staged->dir = dir;
    staged->temp_name[0] = '\0';
    if (snprintf(staged->name, sizeof(staged->name), "%s", name) >=
        (int)sizeof(staged->name))
        return cli_fail(CLI_EXIT_LOCAL, "file name %s is too long", name);
    fd = create_temp(staged, mode);
    if (fd < 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot create a file in %s: %s",
                      dir->path, strerror(errno));
        staged->temp_name[0] = '\0';
        return rc;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot write %s/%s: %s", dir->path,
                      staged->temp_name, strerror(errno));
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    close(fd);
    if (rc != CLI_EXIT_OK)
        cli_file_discard(staged);
    return rc;
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

int
cli_file_commit(struct cli_staged_file *staged, bool replace)
{
    int status;
    int rc;

    if (replace)
        status = renameat(staged->dir->fd, staged->temp_name,
                          staged->dir->fd, staged->name);
    else
        status = link_into_place(staged);
    if (status != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot write %s/%s: %s%s",
                      staged->dir->path, staged->name, strerror(errno),
                      errno == EEXIST ? "; give -force to replace it" : "");
        cli_file_discard(staged);
        return rc;
    }
    staged->temp_name[0] = '\0';
    /* Makes the rename durable; a failure here loses nothing written. */
    fsync(staged->dir->fd);
    return CLI_EXIT_OK;
}

void
cli_file_discard(struct cli_staged_file *staged)
{
    if (staged == NULL || staged->temp_name[0] == '\0')
        return;
    unlinkat(staged->dir->fd, staged->temp_name, 0);
    staged->temp_name[0] = '\0';
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
