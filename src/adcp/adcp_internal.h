/*
 * Helpers shared by the ADCP source files (adcp.c, adcp_json*.c). Not part
 * of the interface that other modules code against.
 */
#ifndef HSM4SSL_ADCP_INTERNAL_H
#define HSM4SSL_ADCP_INTERNAL_H

#include <stddef.h>

#include "adcp/adcp.h"

/* Size of a buffer for adcp_quote_string: 40 characters, the quotes, an
 * ellipsis and the NUL. */
#define ADCP_QUOTE_MAX 48

/* Frees count heap strings and the array. Accepts NULL. */
void adcp_string_array_free(char **items, size_t count);

/* Wipes the credentials, frees every heap member of body and sets it to the
 * defaults of an empty request (hash_algorithm "sha256"). body must be
 * zeroed or have been filled by adcp_body_decode. */
void adcp_body_reset(struct adcp_body *body);

/* Writes text in double quotes for an error message or a log line: at most
 * 40 bytes, control and non-ASCII bytes shown as '?', "..." when cut. */
void adcp_quote_string(const char *text, char *out, size_t size);

#endif
