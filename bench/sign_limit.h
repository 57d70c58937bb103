/*
 * sign_limit: the cost floor of certificate issuance on one token. Each
 * iteration verifies a CSR's signature with OpenSSL and signs a message
 * with the CA key in the token. An issuing CA cannot avoid this work, so
 * the benchmark compares the server's CPU per request with it.
 *
 * Three signers reach the same key:
 *   raw  PKCS#11 called directly (dlopen, one session per thread)
 *   hal  the project's HAL, hal_key_sign over a SHA-256 digest
 *   evp  the HAL key as an EVP_PKEY through the project's OpenSSL
 *        provider (EVP_DigestSign), the path X509_sign takes in the server
 *
 * A fourth, "issue", is not a floor: each iteration is a whole
 * cert_issue_from_csr on the PEM CSR under --ca-cert, as the server runs
 * it without HTTP, storage and the audit log. It shows what building the
 * certificate adds to the floor.
 */
#ifndef HSM4SSL_BENCH_SIGN_LIMIT_H
#define HSM4SSL_BENCH_SIGN_LIMIT_H

#include <stdbool.h>
#include <stddef.h>

#define LIMIT_TEXT_MAX 256
#define LIMIT_SIG_MAX 1024 /* an RSA-8192 signature */

struct limit_options {
    char module_path[LIMIT_TEXT_MAX];
    char token_label[LIMIT_TEXT_MAX];
    char pin_file[LIMIT_TEXT_MAX];
    char key_label[LIMIT_TEXT_MAX];
    char ca_cert_file[LIMIT_TEXT_MAX]; /* issue only: the CA certificate */
    unsigned threads;
};

/* The key as found in the token, for the report: "rsa:2048", "ec:256". */
struct limit_key_info {
    char spec[32];
};

struct limit_signer;

/*
 * One signer back end. open finds the token and the key and opens one
 * session per thread (the HAL signers size the HAL's pool instead). sign
 * signs msg with the CA key (SHA-256, PKCS#1 v1.5 or ECDSA) on behalf of
 * thread. With issues_from_csr set, msg is a PEM CSR instead, and sign
 * checks it and issues a certificate for it. close frees everything and
 * accepts NULL. open and sign return 0, or -1 after printing what failed
 * to stderr.
 */
struct limit_signer_ops {
    const char *name;
    bool issues_from_csr;
    int (*open)(const struct limit_options *options,
                struct limit_signer **out, struct limit_key_info *info);
    int (*sign)(struct limit_signer *signer, unsigned thread,
                const unsigned char *msg, size_t msg_len);
    void (*close)(struct limit_signer *signer);
};

extern const struct limit_signer_ops limit_signer_raw;
extern const struct limit_signer_ops limit_signer_hal;
extern const struct limit_signer_ops limit_signer_evp;
extern const struct limit_signer_ops limit_signer_issue;

#endif
