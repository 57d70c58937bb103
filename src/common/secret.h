/*
 * Secrets: PINs, bearer tokens, passphrases. Each helper here wipes what it
 * releases, so a secret does not outlive its last use in freed memory.
 */
#ifndef HSM4SSL_COMMON_SECRET_H
#define HSM4SSL_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Overwrites len bytes with zeros in a way the compiler cannot remove. */
void secret_wipe(void *buf, size_t len);

/* Wipes a NUL-terminated string and frees it. Accepts NULL. */
void secret_free_string(char *text);

/* Wipes *text, frees it and sets *text to NULL. Accepts NULL and *NULL. */
void secret_clear_string(char **text);

/* Compares two strings in time that depends only on their lengths.
 * Returns true when both are non-NULL and equal. */
bool secret_equal(const char *a, const char *b);

/* Fills out with a random token of len URL-safe characters and a NUL;
 * out must hold len + 1 bytes. Returns 0, or -1 when the random generator
 * failed. */
int secret_random_token(char *out, size_t len);

/* Reads the first line of a file that must be a regular file not readable
 * by group or others. Returns a heap string the caller frees with
 * secret_free_string, or NULL with errno set (EPERM for wide permissions). */
char *secret_read_file(const char *path);

/* Writes text and a newline to path with mode 0600, replacing the file
 * atomically. Returns 0, or -1 with errno set. */
int secret_write_file(const char *path, const char *text);

/* Stops the process from writing core dumps that could contain secrets.
 * Returns 0, or -1 with errno set. */
int secret_disable_core_dumps(void);

#endif
