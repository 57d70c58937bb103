#include "cli/cli_help.h"

#include <stdbool.h>
#include <string.h>

/* Option help is indented by HELP_INDENT columns and wrapped to fit in
 * HELP_WIDTH. */
#define HELP_INDENT 6
#define HELP_WIDTH 78

struct command_help {
    enum cli_command command;
    const char *usage;
    const char *description;
    const char *example;
    bool passphrases;       /* takes -passin or -passout */
};

/* Help for an option that means something more specific in one command
 * than the option table's text. */
struct option_override {
    enum cli_command command;
    const char *option;
    const char *help;
};

static const struct option_override option_overrides[] = {
    {CLI_CMD_ENROLL, "server",
     "server base URL, https://HOST:PORT (required); recorded in "
     "DIR/config.json for the other commands"},
    {CLI_CMD_ADD_HOST, "name",
     "name of the host to register: 1 to 59 letters, digits, '.', '_' or "
     "'-'. The server allows 63, but the host's -gen_cert -name NAME "
     "sends NAME.csr, which must fit in 63 bytes"},
};

static const struct command_help command_help[] = {
    {CLI_CMD_ENROLL,
     "ssleverywhere [-dir DIR] -enroll -server https://HOST:PORT "
     "-fingerprint HEX -token TOKEN",
     "Fetches the CA root from the server, checks its SHA-256 fingerprint\n"
     "against -fingerprint, then checks that the server's TLS certificate\n"
     "chains to that root. Writes DIR/certs/ca-chain.crt and\n"
     "DIR/config.json (mode 0600: server, fingerprint, enrolment token)\n"
     "and creates DIR/private (0700), DIR/csr and DIR/certs. Nothing is\n"
     "written when the fingerprint does not match (exit 6), or when the\n"
     "server sends a chain certificate that does not lead to the root\n"
     "(exit 5).",
     "ssleverywhere -enroll -server https://ca.example.test:8443 \\\n"
     "      -fingerprint 3F:A1:...:9C -token \"$TOKEN\"",
     false},
    {CLI_CMD_GEN_CERT,
     "ssleverywhere [-dir DIR] -gen_cert -name NAME -default | -manual "
     "-key_type rsa|ec -key_length BITS|CURVE -encryption aes|des3 "
     "-hash sha256|sha384|sha512",
     "Generates a key pair on this host, writes the private key encrypted\n"
     "(PKCS#8) to DIR/private/NAME.key (0600) and a CSR with subject\n"
     "CN=NAME to DIR/csr/NAME.csr, and has the server issue the\n"
     "certificate, written to DIR/certs/NAME.crt with the chain in\n"
     "DIR/certs/ca-chain.crt. The first certificate authenticates with\n"
     "the enrolment token and becomes this host's identity; later ones\n"
     "authenticate with it over mTLS (its key's passphrase from -passin).\n"
     "Nothing is written when the server rejects the request, or when the\n"
     "certificate is not a valid end-entity certificate (CA:FALSE,\n"
     "clientAuth and serverAuth) for the new key that verifies up to the\n"
     "pinned root now (exit 5). An interrupted run removes its temporary\n"
     "files; after SIGKILL the next run for NAME does.",
     "ssleverywhere -gen_cert -name SE -default\n"
     "  ssleverywhere -gen_cert -name CL -manual -key_type rsa "
     "-key_length 4096 \\\n"
     "      -encryption des3 -hash sha512",
     true},
    {CLI_CMD_KEYPAIR_GEN,
     "ssleverywhere [-dir DIR] -keypair_gen -label LABEL -key_type rsa|ec "
     "-length N [-admin_token_file FILE]",
     "Has the server generate a key pair inside one of its HSMs; the\n"
     "private key never leaves the HSM. Prints the public key (PEM) on\n"
     "stdout. Authenticates with this host's identity over mTLS, or as\n"
     "administrator with -admin_token_file.",
     "ssleverywhere -keypair_gen -label web-1 -key_type ec -length 256 "
     "> web-1.pub",
     true},
    {CLI_CMD_ADD_HOST,
     "ssleverywhere -add_host -name NAME [-dns NAME]... [-ip ADDR]... "
     "-admin_token_file FILE [-server URL] [-cafile FILE | -fingerprint "
     "HEX]",
     "Registers a host and the names it may hold certificates for, and\n"
     "prints its one-time enrolment token on stdout (nothing else). The\n"
     "server comes from -server or the enrolled config.json; its TLS\n"
     "certificate is verified against -cafile, against the root whose\n"
     "fingerprint is -fingerprint, or against DIR/certs/ca-chain.crt.",
     "TOKEN=$(ssleverywhere -add_host -name SE -dns se.example.test \\\n"
     "      -ip 192.0.2.10 -server https://127.0.0.1:8443 \\\n"
     "      -fingerprint 3F:A1:...:9C -admin_token_file DATA_DIR/admin.token)",
     false},
    {CLI_CMD_REVOKE,
     "ssleverywhere [-dir DIR] -revoke -serial HEX [-reason NAME] "
     "[-admin_token_file FILE] [-server URL] [-cafile FILE]",
     "Revokes the certificate with serial number HEX. With this host's\n"
     "identity (over mTLS, its key's passphrase from -passin) only the\n"
     "certificates issued to this host can be revoked; with\n"
     "-admin_token_file, any host certificate. A revocation is final: the\n"
     "certificate is listed in the CRL (GET /v1/crl) from then on. Prints\n"
     "one line with the serial, the time and the reason.",
     "ssleverywhere -revoke -serial 2C63B06A6B6A91D3840607A2FF853A54 \\\n"
     "      -reason keyCompromise",
     true},
};

static const char passphrase_text[] =
    "PASSPHRASES\n"
    "  -passout (new key) and -passin (existing key) take:\n"
    "    pass:TEXT   the passphrase itself (kept in shell history; avoid)\n"
    "    env:VAR     the value of environment variable VAR\n"
    "    file:PATH   the first line of PATH (mode 0600 or stricter)\n"
    "    fd:N        the first line read from file descriptor N\n"
    "    stdin       the first line of standard input\n"
    "  Without the option: $SSLEVERYWHERE_PASSPHRASE, else a prompt on the\n"
    "  terminal (twice for a new key). At least 4 characters.\n"
    "\n";

static const char exit_code_text[] =
    "EXIT CODES\n"
    "  0  success\n"
    "  1  usage error: unknown option, missing or invalid value\n"
    "  2  local error: file, key or cryptography on this host\n"
    "  3  the server cannot be reached or its TLS certificate is not "
    "trusted\n"
    "  4  the server rejected the request (HTTP 4xx)\n"
    "  5  server error (HTTP 5xx or an invalid response)\n"
    "  6  the CA root does not match -fingerprint\n";

static const struct command_help *
find_command_help(enum cli_command command)
{
    for (size_t i = 0; i < sizeof(command_help) / sizeof(command_help[0]);
         i++)
        if (command_help[i].command == command)
            return &command_help[i];
    return NULL;
}

/* Returns the help text of spec in command: an override, or the table's
 * text. */
static const char *
option_help(const struct cli_option_spec *spec, enum cli_command command)
{
    for (size_t i = 0;
         i < sizeof(option_overrides) / sizeof(option_overrides[0]); i++)
        if (option_overrides[i].command == command &&
            strcmp(option_overrides[i].option, spec->name) == 0)
            return option_overrides[i].help;
    return spec->help;
}

/* Prints text indented by HELP_INDENT and wrapped before HELP_WIDTH
 * columns; a word longer than a line gets a line of its own. */
static void
print_wrapped(FILE *out, const char *text)
{
    size_t column = 0;

    while (*text != '\0') {
        size_t word = strcspn(text, " ");

        if (column > 0 && column + 1 + word > HELP_WIDTH - HELP_INDENT) {
            fputc('\n', out);
            column = 0;
        }
        fprintf(out, "%s%.*s", column > 0 ? " " : "      ", (int)word,
                text);
        column += (column > 0 ? 1 : 0) + word;
        text += word;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

/* Prints one option as "  -name VALUE" and its help text below it. */
static void
print_option(FILE *out, const struct cli_option_spec *spec,
             enum cli_command command)
{
    fprintf(out, "  -%s%s%s%s\n", spec->name, spec->metavar ? " " : "",
            spec->metavar ? spec->metavar : "",
            spec->kind == CLI_OPT_LIST ? " (repeatable)" : "");
    print_wrapped(out, option_help(spec, command));
}

static void
print_command_help(FILE *out, const struct command_help *help)
{
    unsigned bit = CLI_CMD_BIT(help->command);

    fprintf(out, "Usage: %s\n\n%s\n\nOptions:\n", help->usage,
            help->description);
    for (const struct cli_option_spec *spec = cli_args_table();
         spec->name != NULL; spec++)
        if (spec->kind != CLI_OPT_COMMAND && (spec->commands & bit) != 0)
            print_option(out, spec, help->command);
    fprintf(out, "  -help\n      print this help\n\nExample:\n  %s\n\n",
            help->example);
    if (help->passphrases)
        fputs(passphrase_text, out);
    fputs(exit_code_text, out);
}

static void
print_general_help(FILE *out)
{
    fputs("Usage: ssleverywhere [-dir DIR] COMMAND [OPTIONS]\n\n"
          "Client of the HSM4SSL certificate authority: enrols this host,\n"
          "gets certificates for it and key pairs from the CA's HSMs.\n\n"
          "Commands:\n", out);
    for (const struct cli_option_spec *spec = cli_args_table();
         spec->name != NULL; spec++)
        if (spec->kind == CLI_OPT_COMMAND)
            fprintf(out, "  -%-13s %s\n", spec->name, spec->help);
    fputs("\nRun ssleverywhere -COMMAND -help for its options.\n\n"
          "Common options:\n", out);
    for (const struct cli_option_spec *spec = cli_args_table();
         spec->name != NULL; spec++)
        if (spec->kind != CLI_OPT_COMMAND && spec->commands == CLI_CMD_ALL)
            print_option(out, spec, CLI_CMD_NONE);
    fputs("\nFiles (in DIR):\n"
          "  config.json         server, fingerprint, enrolment token or "
          "identity (0600)\n"
          "  private/NAME.key    encrypted PKCS#8 private keys (0600, "
          "folder 0700)\n"
          "  csr/NAME.csr        certificate signing requests\n"
          "  certs/NAME.crt      issued certificates\n"
          "  certs/ca-chain.crt  CA certificates, issuer first, root last\n\n",
          out);
    fputs(passphrase_text, out);
    fputs(exit_code_text, out);
}

void
cli_help_print(FILE *out, enum cli_command command)
{
    const struct command_help *help = find_command_help(command);

    if (help == NULL)
        print_general_help(out);
    else
        print_command_help(out, help);
}
