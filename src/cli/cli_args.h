/*
 * The command line of ssleverywhere: one table of single-dash options
 * (the published interface) and a parser that fills struct cli_options.
 *
 * The parser checks only the shape of the command line: a known option,
 * a value where one is needed, an option that belongs to the command.
 * Each command checks the meaning of its values.
 */
#ifndef HSM4SSL_CLI_ARGS_H
#define HSM4SSL_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

enum cli_command {
    CLI_CMD_NONE = 0,
    CLI_CMD_ENROLL,
    CLI_CMD_GEN_CERT,
    CLI_CMD_KEYPAIR_GEN,
    CLI_CMD_ADD_HOST,
    CLI_CMD_REVOKE,
    CLI_CMD_COUNT
};

/* Bit of a command in cli_option_spec.commands. */
#define CLI_CMD_BIT(cmd) (1u << (cmd))
#define CLI_CMD_ALL                                                          \
    (CLI_CMD_BIT(CLI_CMD_NONE) | CLI_CMD_BIT(CLI_CMD_ENROLL) |               \
     CLI_CMD_BIT(CLI_CMD_GEN_CERT) | CLI_CMD_BIT(CLI_CMD_KEYPAIR_GEN) |      \
     CLI_CMD_BIT(CLI_CMD_ADD_HOST) | CLI_CMD_BIT(CLI_CMD_REVOKE))

/* A repeatable option's values, in command-line order. */
struct cli_string_list {
    char **items;
    size_t count;
};

/* The parsed command line. Strings are heap copies owned by the struct
 * (NULL when the option was not given); cli_options_free releases them. */
struct cli_options {
    enum cli_command command;
    bool help;
    bool verbose;
    char *dir;
    char *server;
    char *fingerprint;
    char *token;            /* enrolment token: a secret */
    char *name;
    bool use_default;
    bool manual;
    char *key_type;
    char *key_length;
    char *encryption;
    char *hash;
    char *days;
    bool force;
    char *passin;           /* passphrase source, may hold a secret */
    char *passout;          /* passphrase source, may hold a secret */
    char *label;
    char *length;
    char *admin_token_file;
    char *cafile;
    char *serial;
    char *reason;
    struct cli_string_list dns;
    struct cli_string_list ip;
};

enum cli_option_kind {
    CLI_OPT_COMMAND,        /* selects the command */
    CLI_OPT_FLAG,           /* sets a bool */
    CLI_OPT_VALUE,          /* takes one value, at most once */
    CLI_OPT_LIST,           /* takes one value, may repeat */
};

/* One row of the option table. */
struct cli_option_spec {
    const char *name;       /* without the leading dash */
    enum cli_option_kind kind;
    size_t offset;          /* of the field in struct cli_options */
    enum cli_command command; /* for CLI_OPT_COMMAND only */
    unsigned commands;      /* CLI_CMD_BIT set of commands accepting it */
    bool secret;            /* the value is wiped from argv once copied */
    const char *metavar;    /* the value's placeholder in help text */
    const char *help;       /* what it sets, in what unit or format */
};

/* Returns the option table, terminated by a row whose name is NULL. */
const struct cli_option_spec *cli_args_table(void);

/* Returns the option name of a command ("gen_cert"), or "" for none. */
const char *cli_args_command_name(enum cli_command command);

/*
 * Parses argv into opts (which it clears first). Accepts "-name" and
 * "--name" alike, and "-help", "--help" or "-h" anywhere. Values of
 * secret options are copied and then overwritten in argv, so they do not
 * show in ps. Returns CLI_EXIT_OK, or CLI_EXIT_USAGE after printing an
 * error; opts must be freed in both cases.
 */
int cli_args_parse(int argc, char **argv, struct cli_options *opts);

/* Wipes and frees every string of opts. Accepts NULL. */
void cli_options_free(struct cli_options *opts);

#endif
