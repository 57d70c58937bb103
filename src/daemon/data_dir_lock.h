/*
 * The lock that lets one `hsm4ssld serve` at a time use a data directory.
 * Two processes that create the embedded default at once initialise the
 * token twice and leave PIN files that no longer open it, and two that
 * serve one directory hand out the same ADCP message ids.
 */
#ifndef HSM4SSL_DAEMON_DATA_DIR_LOCK_H
#define HSM4SSL_DAEMON_DATA_DIR_LOCK_H

/* Name of the lock file inside the data directory. */
#define DATA_DIR_LOCK_FILE "hsm4ssld.lock"

/*
 * Creates data_dir (mode 0700) when it is missing and takes an exclusive
 * flock on DATA_DIR/hsm4ssld.lock, into which it writes this process id.
 * Returns the descriptor of the lock, or -1 after logging why: the
 * directory cannot be created, or another process has the lock.
 * The lock lasts until data_dir_unlock or the end of the process.
 */
int data_dir_lock(const char *data_dir);

/* Releases a lock taken by data_dir_lock; -1 is ignored. */
void data_dir_unlock(int fd);

#endif
