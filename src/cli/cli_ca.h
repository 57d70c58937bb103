/*
 * Trust in the CA: pinning its root by SHA-256 fingerprint, the chain
 * file DIR/certs/ca-chain.crt, and checking an issued certificate.
 */
#ifndef HSM4SSL_CLI_CA_H
#define HSM4SSL_CLI_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

/*
 * Pins the CA of server by the root fingerprint (64 upper-case hex
 * digits). First GET /v1/ca without verifying TLS, since the root is not
 * known yet, and compare the SHA-256 of the returned root with
 * fingerprint. Then GET /v1/ca again, trusting only that root and
 * checking the host name, which proves the server's certificate chains
 * to it. On success *chain_pem is the content for ca-chain.crt (the
 * returned chain, issuer first, then the root; release with free).
 *
 * Returns CLI_EXIT_OK; CLI_EXIT_FINGERPRINT when the root differs (both
 * values are printed); or what cli_http_request returns.
 */
int cli_ca_pin_root(const char *server, const char *fingerprint,
                    char **chain_pem, size_t *chain_len);

/* Finds in pem (a chain file) the certificate whose SHA-256 fingerprint
 * is fingerprint. Returns it (release with X509_free), or NULL. */
X509 *cli_ca_find_root(const char *pem, size_t len, const char *fingerprint);

/* Builds the content of ca-chain.crt from a chain returned by the server
 * (PEM, may be empty) and the pinned root: the chain without copies of
 * the root, then the root. Returns CLI_EXIT_OK with a heap string
 * (release with free), or CLI_EXIT_SERVER / CLI_EXIT_LOCAL after printing
 * an error. */
int cli_ca_build_chain(const char *chain, X509 *root, char **pem,
                       size_t *len);

/*
 * Checks a certificate the server issued: one PEM certificate, for the
 * public key of key, that verifies up to root through the chain file
 * content chain_file (validity times are not checked, so clock skew does
 * not fail it). Returns CLI_EXIT_OK with *cert set (release with
 * X509_free), or CLI_EXIT_SERVER after printing what is wrong.
 */
int cli_ca_check_issued(const char *cert_pem, const char *chain_file,
                        X509 *root, EVP_PKEY *key, X509 **cert);

#endif
