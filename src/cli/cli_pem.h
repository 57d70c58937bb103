/* PEM text in memory: certificate lists, public keys, BIO contents as
 * strings, SHA-256 certificate fingerprints, and certificate fields as
 * printable text. */
#ifndef HSM4SSL_CLI_PEM_H
#define HSM4SSL_CLI_PEM_H

#include <openssl/bio.h>
#include <openssl/evp.h>
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

/* Parses pem as exactly one PUBLIC KEY block (SubjectPublicKeyInfo),
 * with nothing but whitespace around it. Returns 0 with *key set (release
 * with EVP_PKEY_free), or -1. */
int cli_pem_public_key_read(const char *pem, EVP_PKEY **key);

/* Encodes key as a PUBLIC KEY block into a heap string (release with
 * free). Returns 0, or -1 on failure. */
int cli_pem_public_key_write(EVP_PKEY *key, char **out);

/* Writes the serial number of cert as upper-case hex digits, two per
 * byte, with a leading '-' when negative (as openssl x509 -serial prints
 * serials of up to 35 bytes). Returns 0, or -1 when out is too small. */
int cli_pem_serial_format(X509 *cert, char *out, size_t size);

/* Writes time as RFC 3339 UTC ("2027-12-04T03:31:35Z") into out. Returns
 * 0, or -1 when time cannot be converted. */
int cli_pem_time_format(const ASN1_TIME *time, char out[32]);

/* Writes the subject of cert in RFC 2253 form, with control and non-ASCII
 * characters escaped, into out; longer subjects are cut. */
void cli_pem_subject_format(X509 *cert, char *out, size_t size);

#endif
