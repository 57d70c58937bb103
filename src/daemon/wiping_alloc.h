/*
 * Allocator hooks for jansson and libevent that wipe each block before it
 * is freed. Must be installed before either library allocates anything.
 */
#ifndef HSM4SSL_DAEMON_WIPING_ALLOC_H
#define HSM4SSL_DAEMON_WIPING_ALLOC_H

void wiping_alloc_install(void);

#endif
