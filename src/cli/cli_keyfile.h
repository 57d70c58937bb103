/*
 * Private keys made on this host and their files: generation, encrypted
 * PKCS#8 PEM (PBES2 with the chosen cipher), the CSR, and reading a key
 * back with its passphrase.
 */
#ifndef HSM4SSL_CLI_KEYFILE_H
#define HSM4SSL_CLI_KEYFILE_H

#include "cli/cli_keyspec.h"

#include <openssl/evp.h>
#include <stddef.h>

/* Generates a key pair as spec says. Returns CLI_EXIT_OK, or
 * CLI_EXIT_LOCAL after printing an error. */
int cli_keyfile_generate(const struct cli_keyspec *spec, EVP_PKEY **key);

/* Encodes key as an "ENCRYPTED PRIVATE KEY" PEM (PKCS#8, PBES2) with the
 * OpenSSL cipher name and passphrase, into a heap string (release with
 * free). Returns CLI_EXIT_OK, or CLI_EXIT_LOCAL after printing an error. */
int cli_keyfile_encrypt(EVP_PKEY *key, const char *cipher,
                        const char *passphrase, char **pem, size_t *len);

/* Builds a CSR with subject CN=name for key, signed with digest, as PEM in
 * a heap string (release with free). Returns CLI_EXIT_OK, or
 * CLI_EXIT_LOCAL after printing an error. */
int cli_keyfile_make_csr(EVP_PKEY *key, const char *name, const char *digest,
                         char **pem, size_t *len);

/* Decrypts a private key PEM with passphrase; path names the file in
 * messages. Returns CLI_EXIT_OK, or CLI_EXIT_LOCAL after printing an
 * error (a wrong passphrase is one). */
int cli_keyfile_decrypt(const char *pem, size_t len, const char *passphrase,
                        const char *path, EVP_PKEY **key);

#endif
