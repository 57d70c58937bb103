#include "cli/cli_args.h"

#include "cli/cli_exit.h"
#include "common/crl_reason.h"
#include "common/secret.h"

#include <stdlib.h>
#include <string.h>

#define FIELD(member) offsetof(struct cli_options, member)
#define BIT(cmd) CLI_CMD_BIT(CLI_CMD_##cmd)
#define NETWORK_COMMANDS                                                     \
    (BIT(ENROLL) | BIT(GEN_CERT) | BIT(KEYPAIR_GEN) | BIT(ADD_HOST) |     \
     BIT(REVOKE))

static const struct cli_option_spec option_table[] = {
    /* Commands. */
    {"enroll", CLI_OPT_COMMAND, 0, CLI_CMD_ENROLL, CLI_CMD_ALL, false, NULL,
     "pin the CA root and save the server and enrolment token"},
    {"gen_cert", CLI_OPT_COMMAND, 0, CLI_CMD_GEN_CERT, CLI_CMD_ALL, false,
     NULL, "make a key and CSR here and get the certificate issued"},
    {"keypair_gen", CLI_OPT_COMMAND, 0, CLI_CMD_KEYPAIR_GEN, CLI_CMD_ALL,
     false, NULL, "generate a key pair inside an HSM of the server"},
    {"add_host", CLI_OPT_COMMAND, 0, CLI_CMD_ADD_HOST, CLI_CMD_ALL, false,
     NULL, "register a host and print its enrolment token (admin)"},
    {"revoke", CLI_OPT_COMMAND, 0, CLI_CMD_REVOKE, CLI_CMD_ALL, false, NULL,
     "revoke a certificate of this host, or any as administrator"},

    /* Options every command accepts. */
    {"dir", CLI_OPT_VALUE, FIELD(dir), 0, CLI_CMD_ALL, false, "DIR",
     "working directory (default $SSLEVERYWHERE_DIR, else "
     "~/.ssleverywhere)"},
    {"verbose", CLI_OPT_FLAG, FIELD(verbose), 0, CLI_CMD_ALL, false, NULL,
     "log each step on stderr"},

    /* Server and trust. */
    {"server", CLI_OPT_VALUE, FIELD(server), 0, NETWORK_COMMANDS, false,
     "URL", "server base URL, https://HOST:PORT (default: the server "
     "recorded in DIR/config.json by -enroll)"},
    {"fingerprint", CLI_OPT_VALUE, FIELD(fingerprint), 0,
     BIT(ENROLL) | BIT(ADD_HOST), false, "HEX",
     "SHA-256 fingerprint of the CA root, 64 hex digits; colons and case "
     "are ignored"},
    {"token", CLI_OPT_VALUE, FIELD(token), 0, BIT(ENROLL), true, "TOKEN",
     "one-time enrolment token printed by -add_host"},
    {"cafile", CLI_OPT_VALUE, FIELD(cafile), 0,
     BIT(GEN_CERT) | BIT(KEYPAIR_GEN) | BIT(ADD_HOST) | BIT(REVOKE), false,
     "FILE",
     "PEM file of the CA root to verify the server with (default "
     "DIR/certs/ca-chain.crt)"},
    {"admin_token_file", CLI_OPT_VALUE, FIELD(admin_token_file), 0,
     BIT(KEYPAIR_GEN) | BIT(ADD_HOST) | BIT(REVOKE), false, "FILE",
     "file holding the administrator token (mode 0600), e.g. "
     "DATA_DIR/admin.token"},

    /* Certificate requests. */
    {"name", CLI_OPT_VALUE, FIELD(name), 0, BIT(GEN_CERT) | BIT(ADD_HOST),
     false, "NAME",
     "certificate name, also its subject CN=NAME: 1 to 59 letters, digits, "
     "'.', '_' or '-', so that NAME.csr fits the server's 63-byte file "
     "names"},
    {"default", CLI_OPT_FLAG, FIELD(use_default), 0, BIT(GEN_CERT), false,
     NULL, "RSA 2048, key encrypted with AES-256-CBC, SHA-256"},
    {"manual", CLI_OPT_FLAG, FIELD(manual), 0, BIT(GEN_CERT), false, NULL,
     "choose -key_type, -key_length, -encryption and -hash (all required)"},
    {"key_type", CLI_OPT_VALUE, FIELD(key_type), 0,
     BIT(GEN_CERT) | BIT(KEYPAIR_GEN), false, "TYPE", "rsa or ec"},
    {"key_length", CLI_OPT_VALUE, FIELD(key_length), 0, BIT(GEN_CERT), false,
     "BITS|CURVE",
     "RSA modulus in bits (2048 to 16384), or EC curve: 256, 384, 521, "
     "P-256, P-384, P-521, prime256v1, secp384r1, secp521r1"},
    {"encryption", CLI_OPT_VALUE, FIELD(encryption), 0, BIT(GEN_CERT), false,
     "CIPHER",
     "cipher of the PKCS#8 key file: aes (AES-256-CBC) or des3 "
     "(DES-EDE3-CBC)"},
    {"hash", CLI_OPT_VALUE, FIELD(hash), 0, BIT(GEN_CERT), false, "DIGEST",
     "digest of the CSR and certificate signatures: sha256, sha384 or "
     "sha512"},
    {"days", CLI_OPT_VALUE, FIELD(days), 0, BIT(GEN_CERT), false, "DAYS",
     "requested validity in days (default 365; the server may cap it)"},
    {"force", CLI_OPT_FLAG, FIELD(force), 0, BIT(GEN_CERT), false, NULL,
     "replace an existing DIR/private/NAME.key"},
    {"passout", CLI_OPT_VALUE, FIELD(passout), 0, BIT(GEN_CERT), true,
     "SRC", "passphrase source for the new key (see PASSPHRASES)"},
    {"passin", CLI_OPT_VALUE, FIELD(passin), 0,
     BIT(GEN_CERT) | BIT(KEYPAIR_GEN) | BIT(REVOKE), true, "SRC",
     "passphrase source for the identity key used for mTLS"},

    /* HSM key pairs. */
    {"label", CLI_OPT_VALUE, FIELD(label), 0, BIT(KEYPAIR_GEN), false,
     "LABEL", "label the key pair is stored under in the HSM"},
    {"length", CLI_OPT_VALUE, FIELD(length), 0, BIT(KEYPAIR_GEN), false,
     "N", "RSA modulus in bits (2048 to 16384 here; the server's HSMs "
     "generate 2048 to 8192), or EC curve size: 256, 384 or 521"},

    /* Host registration. */
    {"dns", CLI_OPT_LIST, FIELD(dns), 0, BIT(ADD_HOST), false, "NAME",
     "DNS name the host may hold certificates for"},
    {"ip", CLI_OPT_LIST, FIELD(ip), 0, BIT(ADD_HOST), false, "ADDR",
     "IPv4 or IPv6 address the host may hold certificates for"},

    /* Revocation. */
    {"serial", CLI_OPT_VALUE, FIELD(serial), 0, BIT(REVOKE), false, "HEX",
     "serial number of the certificate, as openssl x509 -serial prints "
     "it; colons and case are ignored"},
    {"reason", CLI_OPT_VALUE, FIELD(reason), 0, BIT(REVOKE), false, "NAME",
     "RFC 5280 reason code (default unspecified): " CRL_REASON_ACCEPTED},

    {NULL, CLI_OPT_FLAG, 0, 0, 0, false, NULL, NULL},
};

const struct cli_option_spec *
cli_args_table(void)
{
    return option_table;
}

const char *
cli_args_command_name(enum cli_command command)
{
    for (const struct cli_option_spec *spec = option_table;
         spec->name != NULL; spec++)
        if (spec->kind == CLI_OPT_COMMAND && spec->command == command)
            return spec->name;
    return "";
}

static bool
is_help_word(const char *arg)
{
    return strcmp(arg, "-help") == 0 || strcmp(arg, "--help") == 0 ||
           strcmp(arg, "-h") == 0;
}

/* Finds the table row of "-name" or "--name"; NULL for anything else. */
static const struct cli_option_spec *
find_option(const char *arg)
{
    if (arg[0] != '-')
        return NULL;
    arg += (arg[1] == '-') ? 2 : 1;
    for (const struct cli_option_spec *spec = option_table;
         spec->name != NULL; spec++)
        if (strcmp(arg, spec->name) == 0)
            return spec;
    return NULL;
}

static int
append_item(struct cli_string_list *list, const char *value)
{
    char **items;
    char *copy = strdup(value);

    if (copy == NULL)
        return -1;
    items = realloc(list->items, (list->count + 1) * sizeof(*items));
    if (items == NULL) {
        free(copy);
        return -1;
    }
    items[list->count++] = copy;
    list->items = items;
    return 0;
}

/* Stores the value of a CLI_OPT_VALUE or CLI_OPT_LIST option; wipes it in
 * argv afterwards when the option is secret. */
static int
store_value(const struct cli_option_spec *spec, struct cli_options *opts,
            char *value)
{
    char *base = (char *)opts;
    int rc = CLI_EXIT_OK;

    if (spec->kind == CLI_OPT_LIST) {
        if (append_item((struct cli_string_list *)(base + spec->offset),
                        value) != 0)
            rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
    } else {
        char **slot = (char **)(base + spec->offset);

        if (*slot != NULL)
            return cli_fail(CLI_EXIT_USAGE,
                            "option -%s given twice; give it once",
                            spec->name);
        *slot = strdup(value);
        if (*slot == NULL)
            rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
    }
    if (spec->secret)
        secret_wipe(value, strlen(value));
    return rc;
}

static int
set_command(const struct cli_option_spec *spec, struct cli_options *opts)
{
    if (opts->command != CLI_CMD_NONE && opts->command != spec->command)
        return cli_fail(CLI_EXIT_USAGE,
                        "options -%s and -%s select two commands; give one",
                        cli_args_command_name(opts->command), spec->name);
    opts->command = spec->command;
    return CLI_EXIT_OK;
}

/* Handles argv[*index] and, for options with a value, the next word. */
static int
parse_one(int argc, char **argv, int *index, struct cli_options *opts)
{
    const char *arg = argv[*index];
    const struct cli_option_spec *spec;

    if (is_help_word(arg)) {
        opts->help = true;
        return CLI_EXIT_OK;
    }
    spec = find_option(arg);
    if (spec == NULL && arg[0] == '-')
        return cli_fail(CLI_EXIT_USAGE,
                        "unknown option %s; run ssleverywhere --help for "
                        "the list", arg);
    if (spec == NULL)
        return cli_fail(CLI_EXIT_USAGE,
                        "unexpected argument \"%s\": each value must follow "
                        "its option; run ssleverywhere --help", arg);

    switch (spec->kind) {
    case CLI_OPT_COMMAND:
        return set_command(spec, opts);
    case CLI_OPT_FLAG:
        *(bool *)((char *)opts + spec->offset) = true;
        return CLI_EXIT_OK;
    case CLI_OPT_VALUE:
    case CLI_OPT_LIST:
        break;
    }
    if (*index + 1 >= argc)
        return cli_fail(CLI_EXIT_USAGE, "option -%s needs a value: -%s %s",
                        spec->name, spec->name, spec->metavar);
    /* "-name -default" almost always means a forgotten value. */
    if (find_option(argv[*index + 1]) != NULL ||
        is_help_word(argv[*index + 1]))
        return cli_fail(CLI_EXIT_USAGE,
                        "option -%s needs a value before %s: -%s %s",
                        spec->name, argv[*index + 1], spec->name,
                        spec->metavar);
    (*index)++;
    return store_value(spec, opts, argv[*index]);
}

/* Checks, once the command is known, that each given option belongs to
 * it. Walks argv again so that the message names the first offender. */
static int
check_applicable(int argc, char **argv, const struct cli_options *opts)
{
    unsigned bit = CLI_CMD_BIT(opts->command);

    for (int i = 1; i < argc; i++) {
        const struct cli_option_spec *spec = find_option(argv[i]);

        if (spec == NULL)
            continue;
        if (spec->kind == CLI_OPT_VALUE || spec->kind == CLI_OPT_LIST)
            i++;
        if ((spec->commands & bit) != 0)
            continue;
        if (opts->command == CLI_CMD_NONE)
            return cli_fail(CLI_EXIT_USAGE,
                            "option -%s needs a command such as -gen_cert; "
                            "run ssleverywhere --help", spec->name);
        return cli_fail(CLI_EXIT_USAGE,
                        "option -%s does not apply to -%s; run "
                        "ssleverywhere -%s --help", spec->name,
                        cli_args_command_name(opts->command),
                        cli_args_command_name(opts->command));
    }
    return CLI_EXIT_OK;
}

int
cli_args_parse(int argc, char **argv, struct cli_options *opts)
{
    int rc = CLI_EXIT_OK;

    memset(opts, 0, sizeof(*opts));
    for (int i = 1; i < argc && rc == CLI_EXIT_OK; i++)
        rc = parse_one(argc, argv, &i, opts);
    if (rc == CLI_EXIT_OK && !opts->help)
        rc = check_applicable(argc, argv, opts);
    return rc;
}

static void
free_list(struct cli_string_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

void
cli_options_free(struct cli_options *opts)
{
    if (opts == NULL)
        return;
    for (const struct cli_option_spec *spec = option_table;
         spec->name != NULL; spec++) {
        if (spec->kind == CLI_OPT_VALUE)
            secret_clear_string((char **)((char *)opts + spec->offset));
        else if (spec->kind == CLI_OPT_LIST)
            free_list((struct cli_string_list *)((char *)opts +
                                                 spec->offset));
    }
}
