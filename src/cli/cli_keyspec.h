/*
 * What key, key-file cipher and digest a certificate request uses, checked
 * from the -default / -manual options of -gen_cert and from the options
 * of -keypair_gen.
 */
#ifndef HSM4SSL_CLI_KEYSPEC_H
#define HSM4SSL_CLI_KEYSPEC_H

#include "cli/cli_args.h"

enum cli_key_type {
    CLI_KEY_RSA,
    CLI_KEY_EC,
};

/* RSA modulus limits in bits: the minimum this CA accepts, and OpenSSL's
 * OPENSSL_RSA_MAX_MODULUS_BITS. */
#define CLI_RSA_MIN_BITS 2048
#define CLI_RSA_MAX_BITS 16384

struct cli_keyspec {
    enum cli_key_type type;
    int bits;               /* RSA modulus or EC field size: 256/384/521 */
    const char *curve;      /* OpenSSL group name for EC, else NULL */
    const char *cipher;     /* OpenSSL cipher name of the key file */
    const char *cipher_option; /* the -encryption value: aes or des3 */
    const char *digest;     /* sha256, sha384 or sha512 */
    int days;               /* requested validity */
};

/*
 * Fills spec from the -gen_cert options: -default (RSA 2048, aes, sha256)
 * or -manual with all of -key_type, -key_length, -encryption and -hash.
 * -days defaults to 365. Returns CLI_EXIT_OK, or CLI_EXIT_USAGE after
 * printing an error that names the option and the accepted values.
 */
int cli_keyspec_from_gen_cert(const struct cli_options *opts,
                              struct cli_keyspec *spec);

/* Parses a key type ("rsa" or "ec") given as option; returns CLI_EXIT_OK
 * or CLI_EXIT_USAGE after printing an error. */
int cli_keyspec_parse_type(const char *value, const char *option,
                           enum cli_key_type *type);

/* Parses a key length for type: RSA bits, or an EC size or curve name.
 * Sets spec->bits and spec->curve. Returns CLI_EXIT_OK or CLI_EXIT_USAGE
 * after printing an error. */
int cli_keyspec_parse_length(const char *value, const char *option,
                             enum cli_key_type type,
                             struct cli_keyspec *spec);

/* Returns "rsa" or "ec". */
const char *cli_keyspec_type_name(enum cli_key_type type);

#endif
