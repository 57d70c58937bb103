/*
 * Trust in the CA: pinning its root by SHA-256 fingerprint. The chain the
 * server sends with it is checked by cli_chain.h.
 */
#ifndef HSM4SSL_CLI_CA_H
#define HSM4SSL_CLI_CA_H

#include <stddef.h>

/*
 * Pins the CA of server by the root fingerprint (64 upper-case hex
 * digits). First GET /v1/ca without verifying TLS, since the root is not
 * known yet, and compare the SHA-256 of the returned root with
 * fingerprint. Then GET /v1/ca again, trusting only that root and
 * checking the host name, which proves the server's certificate chains
 * to it. On success *chain_pem is the content for ca-chain.crt, built by
 * cli_chain_build from the returned chain and the root (release with
 * free).
 *
 * Returns CLI_EXIT_OK; CLI_EXIT_FINGERPRINT when the root differs (both
 * values are printed); CLI_EXIT_SERVER when a chain certificate does not
 * lead to the root; or what cli_http_request returns.
 */
int cli_ca_pin_root(const char *server, const char *fingerprint,
                    char **chain_pem, size_t *chain_len);

#endif
