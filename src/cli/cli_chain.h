/*
 * Checks of the certificates a server sends: the CA chain, which goes to
 * DIR/certs/ca-chain.crt and so becomes a trust anchor for TLS peers, and
 * an issued certificate, which becomes a host's identity. Both must lead
 * to the pinned root, so a server that lies cannot make this host trust
 * another CA or install a certificate it cannot use.
 */
#ifndef HSM4SSL_CLI_CHAIN_H
#define HSM4SSL_CLI_CHAIN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

/* Finds in pem (a chain file) the certificate whose SHA-256 fingerprint
 * is fingerprint. Returns it (release with X509_free), or NULL. */
X509 *cli_chain_find_root(const char *pem, size_t len,
                          const char *fingerprint);

/*
 * Builds the content of ca-chain.crt from the "chain" member of a
 * response (PEM; NULL or empty for none) and the pinned root. Copies of
 * the root and repeated certificates are dropped. Every other certificate
 * must be a CA certificate (basicConstraints CA:TRUE), valid now, that
 * verifies up to root with the other chain certificates as intermediates.
 * The result keeps the server's order and ends with the root.
 *
 * Returns CLI_EXIT_OK with a heap string in *pem (release with free).
 * Otherwise prints an error and returns CLI_EXIT_SERVER (invalid PEM, or
 * "the server sent a chain certificate SUBJECT that does not lead to the
 * pinned root") or CLI_EXIT_LOCAL.
 */
int cli_chain_build(const char *chain, X509 *root, char **pem, size_t *len);

/*
 * Checks a certificate the server issued for key: exactly one PEM
 * certificate, for the public key of key, not a CA (CA:FALSE), with the
 * clientAuth and serverAuth extended key usages, valid now, that verifies
 * up to root with the certificates of chain_file (ca-chain.crt content)
 * as intermediates. Returns CLI_EXIT_OK with *cert set (release with
 * X509_free), CLI_EXIT_SERVER after printing what is wrong, or
 * CLI_EXIT_LOCAL.
 */
int cli_chain_check_issued(const char *cert_pem, const char *chain_file,
                           X509 *root, EVP_PKEY *key, X509 **cert);

#endif
