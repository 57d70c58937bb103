/*
 * Unit tests of the passphrase sources of ssleverywhere: pass:, env:,
 * file:, fd:, stdin, $SSLEVERYWHERE_PASSPHRASE, the prompt on a
 * pseudo-terminal, the length limits and the error when there is neither
 * a source nor a terminal.
 *
 * The CLI sources under test are included, because unit tests link only
 * hsm4ssl_core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli_exit.c"
#include "cli/cli_pass.c"

/* A temporary directory per test, removed afterwards. */
struct pass_fixture {
    char dir[64];
};

static int
setup(void **state)
{
    struct pass_fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_cli_pass.XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    unsetenv(CLI_PASS_ENV);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct pass_fixture *fx = *state;
    char command[128];

    snprintf(command, sizeof(command), "rm -rf '%s'", fx->dir);
    if (system(command) != 0)
        return -1;
    free(fx);
    return 0;
}

/* Writes text to DIR/name with mode and returns its path in path. */
static void
write_file(const struct pass_fixture *fx, const char *name, const char *text,
           mode_t mode, char *path, size_t size)
{
    int fd;

    snprintf(path, size, "%s/%s", fx->dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void
pass_source_reads_text(void **state)
{
    char *pass = NULL;

    (void)state;
    assert_int_equal(cli_pass_read("pass:correct horse", "-passout", "k",
                                   false, &pass), CLI_EXIT_OK);
    assert_string_equal(pass, "correct horse");
    secret_free_string(pass);
}

static void
env_source_reads_variable(void **state)
{
    char *pass = NULL;

    (void)state;
    setenv("TEST_CLI_PASS_VAR", "from-env", 1);
    assert_int_equal(cli_pass_read("env:TEST_CLI_PASS_VAR", "-passin", "k",
                                   false, &pass), CLI_EXIT_OK);
    assert_string_equal(pass, "from-env");
    secret_free_string(pass);
    unsetenv("TEST_CLI_PASS_VAR");
    assert_int_equal(cli_pass_read("env:TEST_CLI_PASS_VAR", "-passin", "k",
                                   false, &pass), CLI_EXIT_USAGE);
    assert_null(pass);
}

static void
file_source_reads_first_line(void **state)
{
    struct pass_fixture *fx = *state;
    char path[128], source[160];
    char *pass = NULL;

    write_file(fx, "pass.txt", "first-line\nsecond-line\n", 0600, path,
               sizeof(path));
    snprintf(source, sizeof(source), "file:%s", path);
    assert_int_equal(cli_pass_read(source, "-passout", "k", false, &pass),
                     CLI_EXIT_OK);
    assert_string_equal(pass, "first-line");
    secret_free_string(pass);
}

static void
file_source_rejects_wide_mode(void **state)
{
    struct pass_fixture *fx = *state;
    char path[128], source[160];
    char *pass = NULL;

    write_file(fx, "wide.txt", "readable-by-all\n", 0644, path, sizeof(path));
    snprintf(source, sizeof(source), "file:%s", path);
    assert_int_equal(cli_pass_read(source, "-passout", "k", false, &pass),
                     CLI_EXIT_LOCAL);
    assert_null(pass);
    snprintf(source, sizeof(source), "file:%s/missing", fx->dir);
    assert_int_equal(cli_pass_read(source, "-passout", "k", false, &pass),
                     CLI_EXIT_LOCAL);
}

/* Two passphrases on one descriptor: each read takes one line only. */
static void
fd_source_reads_one_line_each(void **state)
{
    char source[32];
    char *first = NULL, *second = NULL;
    int pipe_fds[2];
    const char text[] = "line-one\nline-two\n";

    (void)state;
    assert_int_equal(pipe(pipe_fds), 0);
    assert_int_equal(write(pipe_fds[1], text, strlen(text)),
                     (ssize_t)strlen(text));
    close(pipe_fds[1]);
    snprintf(source, sizeof(source), "fd:%d", pipe_fds[0]);
    assert_int_equal(cli_pass_read(source, "-passin", "k", false, &first),
                     CLI_EXIT_OK);
    assert_int_equal(cli_pass_read(source, "-passout", "k", false, &second),
                     CLI_EXIT_OK);
    assert_string_equal(first, "line-one");
    assert_string_equal(second, "line-two");
    close(pipe_fds[0]);
    secret_free_string(first);
    secret_free_string(second);
}

static void
stdin_source_reads_line(void **state)
{
    char *pass = NULL;
    int pipe_fds[2], saved = dup(STDIN_FILENO);

    (void)state;
    assert_int_equal(pipe(pipe_fds), 0);
    assert_int_equal(write(pipe_fds[1], "from-stdin\r\n", 12), 12);
    close(pipe_fds[1]);
    assert_int_equal(dup2(pipe_fds[0], STDIN_FILENO), STDIN_FILENO);
    close(pipe_fds[0]);
    assert_int_equal(cli_pass_read("stdin", "-passout", "k", false, &pass),
                     CLI_EXIT_OK);
    dup2(saved, STDIN_FILENO);
    close(saved);
    assert_string_equal(pass, "from-stdin");
    secret_free_string(pass);
}

/* Runs cli_pass_read with stderr sent to a temporary file; returns the
 * exit code and copies the message into message. */
static int
read_capturing(const char *source, const char *option, char **pass,
               char *message, size_t size)
{
    FILE *capture = tmpfile();
    int saved = dup(STDERR_FILENO), rc;
    size_t n;

    assert_non_null(capture);
    assert_true(saved >= 0);
    fflush(stderr);
    assert_true(dup2(fileno(capture), STDERR_FILENO) >= 0);
    rc = cli_pass_read(source, option, "k", false, pass);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(capture);
    n = fread(message, 1, size - 1, capture);
    message[n] = '\0';
    fclose(capture);
    return rc;
}

/* The messages name the descriptor and the option, and an input that ran
 * out is not reported as a passphrase of 0 characters. */
static void
fd_source_errors_name_descriptor(void **state)
{
    char source[32], message[512];
    char *first = NULL, *second = NULL;
    int pipe_fds[2];

    (void)state;
    assert_int_equal(read_capturing("fd:250", "-passin", &first, message,
                                    sizeof(message)), CLI_EXIT_LOCAL);
    assert_null(first);
    assert_non_null(strstr(message, "for -passin from file descriptor 250"));

    assert_int_equal(pipe(pipe_fds), 0);
    assert_int_equal(write(pipe_fds[1], "only-line\n", 10), 10);
    close(pipe_fds[1]);
    snprintf(source, sizeof(source), "fd:%d", pipe_fds[0]);
    assert_int_equal(cli_pass_read(source, "-passin", "k", false, &first),
                     CLI_EXIT_OK);
    assert_int_equal(read_capturing(source, "-passout", &second, message,
                                    sizeof(message)), CLI_EXIT_USAGE);
    assert_null(second);
    snprintf(source, sizeof(source), "file descriptor %d", pipe_fds[0]);
    assert_non_null(strstr(message, source));
    assert_non_null(strstr(message, "no passphrase for -passout"));
    assert_non_null(strstr(message, "the input ended before a line"));
    assert_null(strstr(message, "0 characters"));
    close(pipe_fds[0]);
    secret_free_string(first);
}

static void
malformed_sources_are_usage_errors(void **state)
{
    const char *const sources[] = {"hunter22", "fd:", "fd:x", "fd:-1",
                                   "file", "PASS:abcd"};
    char *pass = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        int rc = cli_pass_read(sources[i], "-passout", "k", false, &pass);

        if (rc != CLI_EXIT_USAGE)
            fail_msg("source \"%s\": exit %d, expected %d", sources[i], rc,
                     CLI_EXIT_USAGE);
        assert_null(pass);
    }
}

static void
length_limits_enforced(void **state)
{
    char source[CLI_PASS_MAX + 16];
    char *pass = NULL;

    (void)state;
    assert_int_equal(cli_pass_read("pass:abc", "-passout", "k", false,
                                   &pass), CLI_EXIT_USAGE);
    assert_null(pass);
    assert_int_equal(cli_pass_read("pass:", "-passout", "k", false, &pass),
                     CLI_EXIT_USAGE);
    assert_int_equal(cli_pass_read("pass:abcd", "-passout", "k", false,
                                   &pass), CLI_EXIT_OK);
    secret_clear_string(&pass);

    memcpy(source, "pass:", 5);
    memset(source + 5, 'x', CLI_PASS_MAX);
    source[5 + CLI_PASS_MAX] = '\0';
    assert_int_equal(cli_pass_read(source, "-passout", "k", false, &pass),
                     CLI_EXIT_OK);
    assert_int_equal(strlen(pass), CLI_PASS_MAX);
    secret_clear_string(&pass);
    strcat(source, "x");
    assert_int_equal(cli_pass_read(source, "-passout", "k", false, &pass),
                     CLI_EXIT_USAGE);
    assert_null(pass);
}

static void
environment_fallback_used(void **state)
{
    char *pass = NULL;

    (void)state;
    setenv(CLI_PASS_ENV, "fallback-pass", 1);
    assert_int_equal(cli_pass_read(NULL, "-passout", "k", true, &pass),
                     CLI_EXIT_OK);
    assert_string_equal(pass, "fallback-pass");
    secret_free_string(pass);
    setenv(CLI_PASS_ENV, "ab", 1);
    assert_int_equal(cli_pass_read(NULL, "-passout", "k", true, &pass),
                     CLI_EXIT_USAGE);
    unsetenv(CLI_PASS_ENV);
}

/* Without a source, the variable and a controlling terminal, the read
 * fails. The check runs in a child that setsid() detached from any
 * terminal, so it cannot block on a prompt when run from a shell. */
static void
no_source_no_terminal_fails(void **state)
{
    pid_t pid;
    int status;

    (void)state;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *pass = NULL;
        int devnull = open("/dev/null", O_RDONLY);

        setsid();
        dup2(devnull, STDIN_FILENO);
        _exit(cli_pass_read(NULL, "-passout", "k", true, &pass));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), CLI_EXIT_USAGE);
}

/* Output of a prompt child on its terminal, and its exit status. */
struct prompt_run {
    char screen[4096];
    size_t screen_len;
    char pass[64];
    int status;
};

/* Reads the terminal's output into run->screen until it contains needle
 * or 10 s pass. Returns true when needle appeared. */
static bool
read_screen_until(int master, struct prompt_run *run, const char *needle)
{
    struct pollfd pfd = {.fd = master, .events = POLLIN};

    while (strstr(run->screen, needle) == NULL) {
        size_t room = sizeof(run->screen) - 1 - run->screen_len;
        ssize_t got;

        if (room == 0 || poll(&pfd, 1, 10000) <= 0)
            return false;
        got = read(master, run->screen + run->screen_len, room);
        if (got <= 0)
            return false;
        run->screen_len += (size_t)got;
        run->screen[run->screen_len] = '\0';
    }
    return true;
}

/* Waits up to 10 s for the terminal to stop echoing, which the prompt
 * does before it reads. The master shares the slave's termios. */
static bool
wait_echo_off(int master)
{
    struct termios tio;

    for (int i = 0; i < 1000; i++) {
        if (tcgetattr(master, &tio) == 0 && !(tio.c_lflag & ECHO))
            return true;
        usleep(10000);
    }
    return false;
}

/* Types one line at the prompt that ends with prompt_text. */
static void
type_line(int master, struct prompt_run *run, const char *prompt_text,
          const char *line)
{
    size_t len = strlen(line);

    assert_true(read_screen_until(master, run, prompt_text));
    assert_true(wait_echo_off(master));
    assert_int_equal(write(master, line, len), (ssize_t)len);
    assert_int_equal(write(master, "\n", 1), 1);
    /* The next prompt must not match the one just answered. */
    run->screen_len = 0;
    run->screen[0] = '\0';
}

/* Runs cli_pass_read without a source in a child whose controlling
 * terminal is a new pseudo-terminal, and types first and, when confirm
 * is set, second at its prompts. The child sends the passphrase it read
 * back through a pipe. */
static void
run_prompt(bool confirm, const char *first, const char *second,
           struct prompt_run *run)
{
    int pipe_fds[2], master;
    ssize_t got;
    pid_t pid;

    memset(run, 0, sizeof(*run));
    assert_int_equal(pipe(pipe_fds), 0);
    fflush(NULL);
    pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        char *pass = NULL;
        int rc;

        close(pipe_fds[0]);
        rc = cli_pass_read(NULL, "-passout", "key k", confirm, &pass);
        if (rc == CLI_EXIT_OK &&
            write(pipe_fds[1], pass, strlen(pass)) != (ssize_t)strlen(pass))
            rc = 99;
        _exit(rc);
    }
    close(pipe_fds[1]);
    type_line(master, run, confirm ? "New passphrase for key k: "
                                   : "Passphrase for key k: ", first);
    if (confirm)
        type_line(master, run, "for key k: ", second);
    assert_int_equal(waitpid(pid, &run->status, 0), pid);
    read_screen_until(master, run, "\x01never printed");
    got = read(pipe_fds[0], run->pass, sizeof(run->pass) - 1);
    run->pass[got > 0 ? got : 0] = '\0';
    close(pipe_fds[0]);
    close(master);
}

/* A new key's passphrase is asked twice on the terminal, without echo. */
static void
prompt_reads_confirmed_passphrase(void **state)
{
    struct prompt_run run;

    (void)state;
    run_prompt(true, "typed-at-the-prompt", "typed-at-the-prompt", &run);
    assert_true(WIFEXITED(run.status));
    assert_int_equal(WEXITSTATUS(run.status), CLI_EXIT_OK);
    assert_string_equal(run.pass, "typed-at-the-prompt");
    assert_null(strstr(run.screen, "typed-at-the-prompt"));
}

/* An existing key's passphrase is asked once. */
static void
prompt_reads_passphrase_once(void **state)
{
    struct prompt_run run;

    (void)state;
    run_prompt(false, "asked-once", NULL, &run);
    assert_true(WIFEXITED(run.status));
    assert_int_equal(WEXITSTATUS(run.status), CLI_EXIT_OK);
    assert_string_equal(run.pass, "asked-once");
}

/* Two different entries for a new key are a usage error. */
static void
prompt_rejects_mismatched_entries(void **state)
{
    struct prompt_run run;

    (void)state;
    run_prompt(true, "first-entry", "second-entry", &run);
    assert_true(WIFEXITED(run.status));
    assert_int_equal(WEXITSTATUS(run.status), CLI_EXIT_USAGE);
    assert_string_equal(run.pass, "");
}

/* A passphrase typed at the prompt obeys the length limits too. */
static void
prompt_rejects_short_passphrase(void **state)
{
    struct prompt_run run;

    (void)state;
    run_prompt(false, "abc", NULL, &run);
    assert_true(WIFEXITED(run.status));
    assert_int_equal(WEXITSTATUS(run.status), CLI_EXIT_USAGE);
    assert_string_equal(run.pass, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pass_source_reads_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(env_source_reads_variable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(file_source_reads_first_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(file_source_rejects_wide_mode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(fd_source_reads_one_line_each, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stdin_source_reads_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(fd_source_errors_name_descriptor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_sources_are_usage_errors,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(length_limits_enforced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(environment_fallback_used, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(no_source_no_terminal_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(prompt_reads_confirmed_passphrase,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(prompt_reads_passphrase_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(prompt_rejects_mismatched_entries,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(prompt_rejects_short_passphrase,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
