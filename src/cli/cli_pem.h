/* PEM text in memory: certificate lists, BIO contents as strings, and
 * SHA-256 certificate fingerprints. */
#ifndef HSM4SSL_CLI_PEM_H
#define HSM4SSL_CLI_PEM_H

#include <openssl/bio.h>
#include <openssl/x509.h>
#include <stddef.h>

/* Copies what a memory BIO holds into a NUL-terminated heap string
 * (release with free). Returns 0, or -1 when out of memory. */
int cli_pem_bio_to_string(BIO *bio, char **text, size_t *len);

/* Parses every CERTIFICATE block of pem into a new stack (release with
 * OSSL_STACK_OF_X509_free or sk_X509_pop_free). Returns the number of
 * certificates, 0 when there is none, or -1 when a block is invalid. */
int cli_pem_read_certs(const char *pem, size_t len, STACK_OF(X509) **certs);

/* Writes a certificate list as PEM into a heap string (release with
 * free). Returns 0, or -1 on failure. */
int cli_pem_write_certs(STACK_OF(X509) *certs, char **text, size_t *len);

/* Returns the SHA-256 fingerprint of cert's DER encoding as 64 upper-case
 * hex digits in out (65 bytes). Returns 0, or -1 on failure. */
int cli_pem_fingerprint(X509 *cert, char out[65]);

/* Normalises a fingerprint the user typed: 64 hex digits, with colons,
 * spaces and case ignored, into 64 upper-case digits in out (65 bytes).
 * Returns 0, or -1 when text is not such a fingerprint. */
int cli_pem_fingerprint_parse(const char *text, char out[65]);

/* Formats 64 hex digits as "AB:CD:..." into out (96 bytes). */
void cli_pem_fingerprint_format(const char *hex, char out[96]);

#endif
