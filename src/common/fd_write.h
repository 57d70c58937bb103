/*
 * Writing a whole buffer to a file descriptor, shared by the daemon and
 * the CLI.
 */
#ifndef HSM4SSL_COMMON_FD_WRITE_H
#define HSM4SSL_COMMON_FD_WRITE_H

#include <stddef.h>

/* Writes all len bytes of data to fd, retrying after a short write or
 * EINTR. Returns 0, or -1 with errno set. */
int fd_write_all(int fd, const void *data, size_t len);

#endif
