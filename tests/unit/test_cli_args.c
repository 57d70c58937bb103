/*
 * Unit tests of the ssleverywhere command line: the option table, the
 * parser (commands, values, secrets wiped from argv, errors) and the help
 * text built from the table.
 *
 * Unit tests link hsm4ssl_core only, not the CLI, so the CLI sources under
 * test are compiled into this program by including them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_args.c"
#include "cli/cli_exit.c"
#include "cli/cli_help.c"

/* Copies words into a writable argv (the parser overwrites secrets). */
struct test_argv {
    int argc;
    char *argv[32];
};

static void
make_argv(struct test_argv *args, const char *const *words)
{
    args->argc = 0;
    args->argv[args->argc++] = strdup("ssleverywhere");
    for (; *words != NULL; words++)
        args->argv[args->argc++] = strdup(*words);
    args->argv[args->argc] = NULL;
}

static void
free_argv(struct test_argv *args)
{
    for (int i = 0; i < args->argc; i++)
        free(args->argv[i]);
}

/* Parses words and returns the exit code; opts must be freed. */
static int
parse_words(const char *const *words, struct cli_options *opts)
{
    struct test_argv args;
    int rc;

    make_argv(&args, words);
    rc = cli_args_parse(args.argc, args.argv, opts);
    free_argv(&args);
    return rc;
}

static void
gen_cert_default_parses(void **state)
{
    const char *const words[] = {"-gen_cert", "-name", "SE", "-default",
                                 NULL};
    struct cli_options opts;

    (void)state;
    assert_int_equal(parse_words(words, &opts), CLI_EXIT_OK);
    assert_int_equal(opts.command, CLI_CMD_GEN_CERT);
    assert_string_equal(opts.name, "SE");
    assert_true(opts.use_default);
    assert_false(opts.manual);
    assert_null(opts.key_type);
    assert_false(opts.help);
    cli_options_free(&opts);
}

static void
gen_cert_manual_parses_values(void **state)
{
    const char *const words[] = {
        "-dir", "/tmp/d", "-gen_cert", "-name", "CL", "-manual", "-key_type",
        "rsa", "-key_length", "4096", "-encryption", "des3", "-hash",
        "sha512", "-force", NULL};
    struct cli_options opts;

    (void)state;
    assert_int_equal(parse_words(words, &opts), CLI_EXIT_OK);
    assert_string_equal(opts.dir, "/tmp/d");
    assert_string_equal(opts.key_type, "rsa");
    assert_string_equal(opts.key_length, "4096");
    assert_string_equal(opts.encryption, "des3");
    assert_string_equal(opts.hash, "sha512");
    assert_true(opts.manual);
    assert_true(opts.force);
    cli_options_free(&opts);
}

static void
double_dash_accepted(void **state)
{
    const char *const words[] = {"--enroll", "--server", "https://a:1",
                                 NULL};
    struct cli_options opts;

    (void)state;
    assert_int_equal(parse_words(words, &opts), CLI_EXIT_OK);
    assert_int_equal(opts.command, CLI_CMD_ENROLL);
    assert_string_equal(opts.server, "https://a:1");
    cli_options_free(&opts);
}

static void
repeatable_options_collect(void **state)
{
    const char *const words[] = {"-add_host", "-name", "SE", "-dns", "a.test",
                                 "-ip", "127.0.0.1", "-dns", "b.test", NULL};
    struct cli_options opts;

    (void)state;
    assert_int_equal(parse_words(words, &opts), CLI_EXIT_OK);
    assert_int_equal(opts.dns.count, 2);
    assert_string_equal(opts.dns.items[0], "a.test");
    assert_string_equal(opts.dns.items[1], "b.test");
    assert_int_equal(opts.ip.count, 1);
    assert_string_equal(opts.ip.items[0], "127.0.0.1");
    cli_options_free(&opts);
}

static void
secrets_wiped_from_argv(void **state)
{
    const char *const words[] = {"-enroll", "-token", "T0KEN-VALUE",
                                 "-server", "https://a:1", NULL};
    const char *const gen_words[] = {"-gen_cert", "-passout", "pass:hunter22",
                                     "-passin", "env:X", NULL};
    struct test_argv args;
    struct cli_options opts;

    (void)state;
    make_argv(&args, words);
    assert_int_equal(cli_args_parse(args.argc, args.argv, &opts),
                     CLI_EXIT_OK);
    assert_string_equal(opts.token, "T0KEN-VALUE");
    assert_string_equal(args.argv[3], "");
    assert_string_equal(args.argv[5], "https://a:1");
    cli_options_free(&opts);
    free_argv(&args);

    make_argv(&args, gen_words);
    assert_int_equal(cli_args_parse(args.argc, args.argv, &opts),
                     CLI_EXIT_OK);
    assert_string_equal(opts.passout, "pass:hunter22");
    assert_string_equal(args.argv[3], "");
    assert_string_equal(args.argv[5], "");
    cli_options_free(&opts);
    free_argv(&args);
}

static void
help_anywhere_sets_help(void **state)
{
    const char *const words[] = {"-gen_cert", "-help", NULL};
    const char *const dash_words[] = {"--help", NULL};
    const char *const short_words[] = {"-keypair_gen", "-h", NULL};
    struct cli_options opts;

    (void)state;
    assert_int_equal(parse_words(words, &opts), CLI_EXIT_OK);
    assert_true(opts.help);
    assert_int_equal(opts.command, CLI_CMD_GEN_CERT);
    cli_options_free(&opts);
    assert_int_equal(parse_words(dash_words, &opts), CLI_EXIT_OK);
    assert_true(opts.help);
    assert_int_equal(opts.command, CLI_CMD_NONE);
    cli_options_free(&opts);
    assert_int_equal(parse_words(short_words, &opts), CLI_EXIT_OK);
    assert_true(opts.help);
    cli_options_free(&opts);
}

/* Each malformed command line is a usage error. */
static void
malformed_lines_are_usage_errors(void **state)
{
    const char *const unknown[] = {"-gen_cert", "-frobnicate", NULL};
    const char *const no_value[] = {"-gen_cert", "-name", NULL};
    const char *const twice[] = {"-gen_cert", "-name", "a", "-name", "b",
                                 NULL};
    const char *const two_commands[] = {"-gen_cert", "-enroll", NULL};
    const char *const wrong_command[] = {"-gen_cert", "-label", "x", NULL};
    const char *const no_command[] = {"-name", "x", NULL};
    const char *const positional[] = {"-gen_cert", "SE", NULL};
    const char *const option_as_value[] = {"-gen_cert", "-name", "-default",
                                           NULL};
    const char *const *const cases[] = {unknown, no_value, twice,
                                        two_commands, wrong_command,
                                        no_command, positional,
                                        option_as_value};
    struct cli_options opts;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = parse_words(cases[i], &opts);

        if (rc != CLI_EXIT_USAGE)
            fail_msg("case %zu (%s ...): exit %d, expected %d", i,
                     cases[i][0], rc, CLI_EXIT_USAGE);
        cli_options_free(&opts);
    }
}

static void
same_command_twice_accepted(void **state)
{
    const char *const words[] = {"-gen_cert", "-gen_cert", NULL};
    struct cli_options opts;

    (void)state;
    assert_int_equal(parse_words(words, &opts), CLI_EXIT_OK);
    assert_int_equal(opts.command, CLI_CMD_GEN_CERT);
    cli_options_free(&opts);
}

static void
table_rows_are_complete(void **state)
{
    (void)state;
    for (const struct cli_option_spec *spec = cli_args_table();
         spec->name != NULL; spec++) {
        assert_non_null(spec->help);
        assert_true(spec->help[0] != '\0');
        if (spec->kind == CLI_OPT_VALUE || spec->kind == CLI_OPT_LIST)
            assert_non_null(spec->metavar);
        assert_true(spec->commands != 0);
        for (const struct cli_option_spec *other = spec + 1;
             other->name != NULL; other++)
            if (strcmp(spec->name, other->name) == 0)
                fail_msg("option -%s is in the table twice", spec->name);
    }
}

/* Prints help into memory and returns it (free it). */
static char *
help_text(enum cli_command command)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    cli_help_print(out, command);
    fclose(out);
    return text;
}

/* Every command's help names each option the command accepts. */
static void
command_help_lists_its_options(void **state)
{
    (void)state;
    for (enum cli_command command = CLI_CMD_ENROLL; command < CLI_CMD_COUNT;
         command++) {
        char *text = help_text(command);

        assert_non_null(strstr(text, "Example:"));
        for (const struct cli_option_spec *spec = cli_args_table();
             spec->name != NULL; spec++) {
            char needle[64];

            if (spec->kind == CLI_OPT_COMMAND ||
                (spec->commands & CLI_CMD_BIT(command)) == 0)
                continue;
            snprintf(needle, sizeof(needle), "  -%s", spec->name);
            if (strstr(text, needle) == NULL)
                fail_msg("help of -%s lacks -%s",
                         cli_args_command_name(command), spec->name);
        }
        free(text);
    }
}

/* Returns the help text below option "-name" in text, up to the next
 * option line, as a heap string. */
static char *
option_help_text(const char *text, const char *name)
{
    char needle[64];
    const char *start, *end;

    snprintf(needle, sizeof(needle), "\n  -%s", name);
    start = strstr(text, needle);
    assert_non_null(start);
    start += strlen(needle);
    end = strstr(start, "\n  -");
    assert_non_null(end);
    return strndup(start, (size_t)(end - start));
}

/* Only commands that read a passphrase explain the sources. */
static void
passphrase_section_only_where_used(void **state)
{
    const enum cli_command with[] = {CLI_CMD_GEN_CERT, CLI_CMD_KEYPAIR_GEN};
    const enum cli_command without[] = {CLI_CMD_ENROLL, CLI_CMD_ADD_HOST};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        char *text = help_text(with[i]);

        if (strstr(text, "PASSPHRASES") == NULL)
            fail_msg("help of -%s lacks PASSPHRASES",
                     cli_args_command_name(with[i]));
        free(text);
        text = help_text(without[i]);
        if (strstr(text, "PASSPHRASES") != NULL)
            fail_msg("help of -%s has PASSPHRASES",
                     cli_args_command_name(without[i]));
        assert_non_null(strstr(text, "EXIT CODES"));
        free(text);
    }
}

static void
option_help_matches_command(void **state)
{
    char *text, *option;

    (void)state;
    text = help_text(CLI_CMD_ENROLL);
    option = option_help_text(text, "server");
    assert_non_null(strstr(option, "required"));
    assert_null(strstr(option, "default"));
    free(option);
    free(text);

    text = help_text(CLI_CMD_GEN_CERT);
    option = option_help_text(text, "server");
    assert_non_null(strstr(option, "default"));
    free(option);
    option = option_help_text(text, "name");
    assert_non_null(strstr(option, "59"));
    free(option);
    free(text);

    text = help_text(CLI_CMD_KEYPAIR_GEN);
    option = option_help_text(text, "length");
    assert_non_null(strstr(option, "8192"));
    free(option);
    free(text);

    text = help_text(CLI_CMD_ADD_HOST);
    option = option_help_text(text, "name");
    assert_non_null(strstr(option, "59"));
    free(option);
    for (const char *p = text; (p = strstr(p, "repeatable")) != NULL; p++)
        assert_true(strncmp(p, "repeatable)\n", 12) == 0);
    free(text);
}

/* Help fits a terminal of 80 columns. */
static void
help_lines_fit_80_columns(void **state)
{
    (void)state;
    for (enum cli_command command = CLI_CMD_NONE; command < CLI_CMD_COUNT;
         command++) {
        char *text = help_text(command);
        const char *line = text;

        while (*line != '\0') {
            size_t len = strcspn(line, "\n");

            /* The usage line names every option and may be longer. */
            if (len > 80 && strncmp(line, "Usage: ", 7) != 0)
                fail_msg("help of command %d has a line of %zu columns: "
                         "%.*s", (int)command, len, (int)len, line);
            line += len + (line[len] == '\n');
        }
        free(text);
    }
}

static void
general_help_lists_commands_and_exit_codes(void **state)
{
    char *text = help_text(CLI_CMD_NONE);

    (void)state;
    assert_non_null(strstr(text, "-enroll"));
    assert_non_null(strstr(text, "-gen_cert"));
    assert_non_null(strstr(text, "-keypair_gen"));
    assert_non_null(strstr(text, "-add_host"));
    assert_non_null(strstr(text, "EXIT CODES"));
    for (char code = '0'; code <= '6'; code++) {
        char needle[8];

        snprintf(needle, sizeof(needle), "\n  %c  ", code);
        if (strstr(text, needle) == NULL)
            fail_msg("general help lacks exit code %c", code);
    }
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gen_cert_default_parses),
        cmocka_unit_test(gen_cert_manual_parses_values),
        cmocka_unit_test(double_dash_accepted),
        cmocka_unit_test(repeatable_options_collect),
        cmocka_unit_test(secrets_wiped_from_argv),
        cmocka_unit_test(help_anywhere_sets_help),
        cmocka_unit_test(malformed_lines_are_usage_errors),
        cmocka_unit_test(same_command_twice_accepted),
        cmocka_unit_test(table_rows_are_complete),
        cmocka_unit_test(command_help_lists_its_options),
        cmocka_unit_test(general_help_lists_commands_and_exit_codes),
        cmocka_unit_test(passphrase_section_only_where_used),
        cmocka_unit_test(option_help_matches_command),
        cmocka_unit_test(help_lines_fit_80_columns),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
