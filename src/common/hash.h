/*
 * A small non-cryptographic hash for spreading keys over the buckets of
 * in-memory tables (client addresses, host names).
 */
#ifndef HSM4SSL_COMMON_HASH_H
#define HSM4SSL_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Returns the 32-bit FNV-1a hash of len bytes at data. */
uint32_t hash_fnv1a(const void *data, size_t len);

#endif
