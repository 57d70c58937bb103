/*
 * A heap for libcurl and jansson that wipes every block it frees.
 *
 * Both libraries keep copies of secrets: libcurl the Authorization header
 * and the key passphrase, jansson the tokens parsed from config.json and
 * from responses. Routing their allocations here means those copies are
 * zeroed when the libraries release them, not left in freed memory. The
 * TLS library under libcurl (OpenSSL) keeps its own heap, which this does
 * not cover.
 */
#ifndef HSM4SSL_CLI_ALLOC_H
#define HSM4SSL_CLI_ALLOC_H

#include <stddef.h>

/* Installs the wiping heap into jansson. Call once, before any other use
 * of jansson; memory jansson returns (json_dumps) is then released with
 * cli_alloc_free. cli_http_init installs the same heap into libcurl. */
void cli_alloc_init(void);

/* The allocator itself: malloc/free/realloc/calloc/strdup that record
 * each block's size so that free can wipe it. */
void *cli_alloc_malloc(size_t size);
void cli_alloc_free(void *block);
void *cli_alloc_realloc(void *block, size_t size);
void *cli_alloc_calloc(size_t count, size_t size);
char *cli_alloc_strdup(const char *text);

#endif
