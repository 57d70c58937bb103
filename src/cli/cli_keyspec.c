#include "cli/cli_keyspec.h"

#include "cli/cli_exit.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct curve_name {
    const char *name;       /* as the user may write it */
    int bits;
    const char *group;      /* OpenSSL group name */
};

static const struct curve_name curve_names[] = {
    {"256", 256, "prime256v1"},     {"384", 384, "secp384r1"},
    {"521", 521, "secp521r1"},      {"P-256", 256, "prime256v1"},
    {"P-384", 384, "secp384r1"},    {"P-521", 521, "secp521r1"},
    {"prime256v1", 256, "prime256v1"}, {"secp384r1", 384, "secp384r1"},
    {"secp521r1", 521, "secp521r1"},
};

struct named_value {
    const char *option;     /* the value on the command line */
    const char *openssl;    /* OpenSSL's name for it */
};

static const struct named_value ciphers[] = {
    {"aes", "AES-256-CBC"},
    {"des3", "DES-EDE3-CBC"},
};

static const char *const digests[] = {"sha256", "sha384", "sha512"};

const char *
cli_keyspec_type_name(enum cli_key_type type)
{
    return type == CLI_KEY_EC ? "ec" : "rsa";
}

int
cli_keyspec_parse_type(const char *value, const char *option,
                       enum cli_key_type *type)
{
    if (strcasecmp(value, "rsa") == 0)
        *type = CLI_KEY_RSA;
    else if (strcasecmp(value, "ec") == 0)
        *type = CLI_KEY_EC;
    else
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: use rsa or ec", option, value);
    return CLI_EXIT_OK;
}

/* Parses a decimal integer in [min, max]; returns -1 when it is not one. */
static int
parse_int(const char *value, long min, long max, int *out)
{
    char *end;
    long number;

    errno = 0;
    number = strtol(value, &end, 10);
    if (value[0] == '\0' || *end != '\0' || errno != 0 || number < min ||
        number > max)
        return -1;
    *out = (int)number;
    return 0;
}

static int
parse_rsa_bits(const char *value, const char *option,
               struct cli_keyspec *spec)
{
    int bits;

    if (parse_int(value, 1, INT_MAX, &bits) != 0)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: RSA key length is a number of bits "
                        "such as 2048, 3072 or 4096", option, value);
    if (bits < CLI_RSA_MIN_BITS)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: RSA keys must be at least %d bits",
                        option, value, CLI_RSA_MIN_BITS);
    if (bits > CLI_RSA_MAX_BITS)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: RSA keys can be at most %d bits",
                        option, value, CLI_RSA_MAX_BITS);
    spec->bits = bits;
    spec->curve = NULL;
    return CLI_EXIT_OK;
}

static int
parse_curve(const char *value, const char *option, struct cli_keyspec *spec)
{
    for (size_t i = 0; i < sizeof(curve_names) / sizeof(curve_names[0]);
         i++) {
        if (strcasecmp(value, curve_names[i].name) == 0) {
            spec->bits = curve_names[i].bits;
            spec->curve = curve_names[i].group;
            return CLI_EXIT_OK;
        }
    }
    return cli_fail(CLI_EXIT_USAGE,
                    "invalid %s %s: EC keys use curve 256, 384 or 521 (also "
                    "written P-256, P-384, P-521, prime256v1, secp384r1, "
                    "secp521r1)", option, value);
}

int
cli_keyspec_parse_length(const char *value, const char *option,
                         enum cli_key_type type, struct cli_keyspec *spec)
{
    if (type == CLI_KEY_EC)
        return parse_curve(value, option, spec);
    return parse_rsa_bits(value, option, spec);
}

static int
parse_cipher(const char *value, struct cli_keyspec *spec)
{
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
        if (strcasecmp(value, ciphers[i].option) == 0) {
            spec->cipher = ciphers[i].openssl;
            spec->cipher_option = ciphers[i].option;
            return CLI_EXIT_OK;
        }
    }
    return cli_fail(CLI_EXIT_USAGE,
                    "invalid -encryption %s: use aes (AES-256-CBC) or des3 "
                    "(DES-EDE3-CBC)", value);
}

static int
parse_digest(const char *value, struct cli_keyspec *spec)
{
    for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
        if (strcasecmp(value, digests[i]) == 0) {
            spec->digest = digests[i];
            return CLI_EXIT_OK;
        }
    }
    return cli_fail(CLI_EXIT_USAGE,
                    "invalid -hash %s: use sha256, sha384 or sha512", value);
}

static int
parse_days(const char *value, struct cli_keyspec *spec)
{
    spec->days = 365;
    if (value == NULL)
        return CLI_EXIT_OK;
    if (parse_int(value, 1, INT_MAX, &spec->days) != 0)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -days %s: give a whole number of days such "
                        "as 365", value);
    return CLI_EXIT_OK;
}

/* Returns the first of the -manual options that is not given, or NULL. */
static const char *
first_missing_manual(const struct cli_options *opts)
{
    if (opts->key_type == NULL)
        return "-key_type rsa|ec";
    if (opts->key_length == NULL)
        return "-key_length BITS|CURVE";
    if (opts->encryption == NULL)
        return "-encryption aes|des3";
    if (opts->hash == NULL)
        return "-hash sha256|sha384|sha512";
    return NULL;
}

static int
from_manual(const struct cli_options *opts, struct cli_keyspec *spec)
{
    const char *missing = first_missing_manual(opts);
    int rc;

    if (missing != NULL)
        return cli_fail(CLI_EXIT_USAGE,
                        "missing %s: -manual needs -key_type, -key_length, "
                        "-encryption and -hash", missing);
    rc = cli_keyspec_parse_type(opts->key_type, "-key_type", &spec->type);
    if (rc == CLI_EXIT_OK)
        rc = cli_keyspec_parse_length(opts->key_length, "-key_length",
                                      spec->type, spec);
    if (rc == CLI_EXIT_OK)
        rc = parse_cipher(opts->encryption, spec);
    if (rc == CLI_EXIT_OK)
        rc = parse_digest(opts->hash, spec);
    return rc;
}

static int
from_default(const struct cli_options *opts, struct cli_keyspec *spec)
{
    const char *extra = opts->key_type     ? "-key_type"
                        : opts->key_length ? "-key_length"
                        : opts->encryption ? "-encryption"
                        : opts->hash       ? "-hash"
                                           : NULL;

    if (extra != NULL)
        return cli_fail(CLI_EXIT_USAGE,
                        "option %s applies only with -manual; drop it or "
                        "replace -default with -manual", extra);
    spec->type = CLI_KEY_RSA;
    spec->bits = 2048;
    spec->curve = NULL;
    spec->cipher = "AES-256-CBC";
    spec->cipher_option = "aes";
    spec->digest = "sha256";
    return CLI_EXIT_OK;
}

int
cli_keyspec_from_gen_cert(const struct cli_options *opts,
                          struct cli_keyspec *spec)
{
    int rc;

    memset(spec, 0, sizeof(*spec));
    if (opts->use_default && opts->manual)
        return cli_fail(CLI_EXIT_USAGE,
                        "options -default and -manual exclude each other; "
                        "give one");
    if (!opts->use_default && !opts->manual)
        return cli_fail(CLI_EXIT_USAGE,
                        "missing -default or -manual: -gen_cert needs one "
                        "of them");
    if (opts->use_default)
        rc = from_default(opts, spec);
    else
        rc = from_manual(opts, spec);
    if (rc == CLI_EXIT_OK)
        rc = parse_days(opts->days, spec);
    return rc;
}
