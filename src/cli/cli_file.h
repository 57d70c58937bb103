/*
 * Files of the working directory: DIR and its private/, csr/ and certs/
 * folders, opened once as directory descriptors, and files written
 * atomically inside them.
 *
 * Every write goes to a new temporary file in the same folder (created
 * with O_EXCL | O_NOFOLLOW), is flushed with fsync and then renamed into
 * place. rename replaces a symlink at the target instead of following it,
 * so no write lands outside the folder.
 *
 * A temporary file is removed on every error path, and by the handler
 * that cli_file_cleanup_on_signals installs for SIGHUP, SIGINT, SIGQUIT
 * and SIGTERM. After SIGKILL, a crash or a power loss, the next write of
 * the same name removes it. Each run keeps an flock on the temporary
 * files it made, so a file that can be locked belongs to no live run.
 */
#ifndef HSM4SSL_CLI_FILE_H
#define HSM4SSL_CLI_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* An open folder: its descriptor for the *at calls and its path for
 * messages. */
struct cli_dir {
    int fd;                 /* -1 when closed */
    char path[PATH_MAX];
};

/* A file written under a temporary name and not yet in place. */
struct cli_staged_file {
    const struct cli_dir *dir;
    int fd;                 /* the open, locked temporary file */
    int slot;               /* its entry for the signal handler, or -1 */
    char temp_name[128];    /* "" when nothing is staged; fd and slot are
                               valid only while it is set */
    char name[80];
};

/* Maximum NAME length in bytes. The server accepts names and file names
 * of up to 63 bytes, and the CSR is sent as "NAME.csr". */
#define CLI_NAME_MAX 59

/* Installs the handlers that remove staged temporary files on SIGHUP,
 * SIGINT, SIGQUIT and SIGTERM and then end the process by the same
 * signal. A signal the caller's parent set to be ignored stays ignored.
 * Call once, at start. */
void cli_file_cleanup_on_signals(void);

/* Returns true when name is 1 to CLI_NAME_MAX characters of [A-Za-z0-9._-]
 * and is neither "." nor "..", so it is safe as a file name. */
bool cli_file_name_valid(const char *name);

/* Opens path as the working directory, creating it with mode 0700 when
 * create is set and it is missing. A symlink to a directory is accepted
 * here (the user chose the path). Returns CLI_EXIT_OK or CLI_EXIT_LOCAL
 * after printing an error. */
int cli_dir_open_root(struct cli_dir *dir, const char *path, bool create);

/*
 * Opens the folder name inside parent, creating it with mode when create
 * is set. It must be a real directory (not a symlink) owned by this user;
 * with private_only it must also grant nothing to group and others.
 * Returns CLI_EXIT_OK or CLI_EXIT_LOCAL after printing an error.
 */
int cli_dir_open_sub(struct cli_dir *dir, const struct cli_dir *parent,
                     const char *name, mode_t mode, bool create,
                     bool private_only);

/* Closes dir. Accepts a closed dir. */
void cli_dir_close(struct cli_dir *dir);

/* Returns true when an entry name exists in dir, symlinks included. */
bool cli_file_exists(const struct cli_dir *dir, const char *name);

/* Writes data to a new temporary file ".NAME.tmp-RANDOM" in dir, created
 * with mode (less the umask), and flushes it. Temporary files of name
 * left in dir by a run that no longer lives are removed first (with a
 * note on stderr). Returns CLI_EXIT_OK or CLI_EXIT_LOCAL after printing
 * an error; on success cli_file_commit or cli_file_discard must
 * follow. */
int cli_file_stage(struct cli_staged_file *staged, const struct cli_dir *dir,
                   const char *name, const void *data, size_t len,
                   mode_t mode);

/* Moves a staged file into place. With replace unset an existing entry
 * is kept and the commit fails. Returns CLI_EXIT_OK or CLI_EXIT_LOCAL
 * after printing an error (the staged file is then removed). */
int cli_file_commit(struct cli_staged_file *staged, bool replace);

/* Removes a staged file that will not be committed. Accepts an empty
 * one. */
void cli_file_discard(struct cli_staged_file *staged);

/* Stages and commits in one step, replacing any existing file. */
int cli_file_write(const struct cli_dir *dir, const char *name,
                   const void *data, size_t len, mode_t mode);

/* Reads the regular file name in dir (not through a symlink), at most max
 * bytes, into a NUL-terminated heap buffer. Returns CLI_EXIT_OK or
 * CLI_EXIT_LOCAL after printing an error. */
int cli_file_read_at(const struct cli_dir *dir, const char *name,
                     size_t max, char **data, size_t *len);

/* Like cli_file_read_at, and also fails when the file grants any access
 * to group or others, naming the chmod that fixes it. For files that
 * hold secrets. */
int cli_file_read_secret_at(const struct cli_dir *dir, const char *name,
                            size_t max, char **data, size_t *len);

/* Like cli_file_read_at for a path the user gave; symlinks are followed. */
int cli_file_read_path(const char *path, size_t max, char **data,
                       size_t *len);

#endif
