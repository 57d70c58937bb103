/*
 * Unit tests of the working directory of ssleverywhere: file names,
 * folders opened without following symlinks, atomic writes that replace
 * an existing file only on request, config.json and the directory default.
 *
 * The CLI sources under test are included, because unit tests link only
 * hsm4ssl_core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli_alloc.c"
#include "cli/cli_args.c"
#include "cli/cli_config.c"
#include "cli/cli_exit.c"
#include "cli/cli_file.c"
#include "cli/cli_pem.c"

static const char test_fingerprint[] =
    "E52BBF47FA4B8ED62D3678CD82005FD2D1BA906A5CF10CC99C6DF323B53BAE5F";

struct file_fixture {
    char dir[64];
    struct cli_dir root;
};

static int
setup(void **state)
{
    struct file_fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_cli_file.XXXXXX");
    if (mkdtemp(fx->dir) == NULL ||
        cli_dir_open_root(&fx->root, fx->dir, false) != CLI_EXIT_OK) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct file_fixture *fx = *state;
    char command[128];

    cli_dir_close(&fx->root);
    snprintf(command, sizeof(command), "rm -rf '%s'", fx->dir);
    if (system(command) != 0)
        return -1;
    free(fx);
    return 0;
}

/* Reads DIR/name into buf; returns the length or -1. */
static ssize_t
read_back(const struct file_fixture *fx, const char *name, char *buf,
          size_t size)
{
    char path[160];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    fd = open(path, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static mode_t
mode_of(const struct file_fixture *fx, const char *name)
{
    char path[160];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 0777;
}

/* Counts the entries of DIR, so that a test detects leftover temporary
 * files. */
static int
count_entries(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *entry;
    int count = 0;

    assert_non_null(dir);
    while ((entry = readdir(dir)) != NULL)
        if (strcmp(entry->d_name, ".") != 0 &&
            strcmp(entry->d_name, "..") != 0)
            count++;
    closedir(dir);
    return count;
}

static void
names_checked(void **state)
{
    const char *const good[] = {"SE", "web-1.example.test", "a_b", "x",
                                ".hidden", "...", "0123456789"};
    const char *const bad[] = {"", ".", "..", "a/b", "../x", "a b", "é",
                               "name\n", "a*"};
    char long_name[CLI_NAME_MAX + 2];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!cli_file_name_valid(good[i]))
            fail_msg("name \"%s\" was rejected", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cli_file_name_valid(bad[i]))
            fail_msg("name \"%s\" was accepted", bad[i]);
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[CLI_NAME_MAX + 1] = '\0';
    assert_false(cli_file_name_valid(long_name));
    long_name[CLI_NAME_MAX] = '\0';
    assert_true(cli_file_name_valid(long_name));
}

static void
write_replaces_atomically(void **state)
{
    struct file_fixture *fx = *state;
    char buf[64];

    assert_int_equal(cli_file_write(&fx->root, "a.crt", "one", 3, 0644),
                     CLI_EXIT_OK);
    assert_int_equal(cli_file_write(&fx->root, "a.crt", "second", 6, 0644),
                     CLI_EXIT_OK);
    assert_int_equal(read_back(fx, "a.crt", buf, sizeof(buf)), 6);
    assert_string_equal(buf, "second");
    assert_int_equal(count_entries(fx->dir), 1);
}

static void
secret_file_gets_mode_0600(void **state)
{
    struct file_fixture *fx = *state;

    assert_int_equal(cli_file_write(&fx->root, "k.key", "secret", 6, 0600),
                     CLI_EXIT_OK);
    assert_int_equal(mode_of(fx, "k.key"), 0600);
}

static void
commit_without_replace_keeps_existing(void **state)
{
    struct file_fixture *fx = *state;
    struct cli_staged_file staged;
    char buf[64];

    assert_int_equal(cli_file_write(&fx->root, "k.key", "old", 3, 0600),
                     CLI_EXIT_OK);
    assert_int_equal(cli_file_stage(&staged, &fx->root, "k.key", "new", 3,
                                    0600), CLI_EXIT_OK);
    assert_int_equal(count_entries(fx->dir), 2);
    assert_int_equal(cli_file_commit(&staged, false), CLI_EXIT_LOCAL);
    assert_int_equal(read_back(fx, "k.key", buf, sizeof(buf)), 3);
    assert_string_equal(buf, "old");
    assert_int_equal(count_entries(fx->dir), 1);

    assert_int_equal(cli_file_stage(&staged, &fx->root, "fresh.key", "new",
                                    3, 0600), CLI_EXIT_OK);
    assert_int_equal(cli_file_commit(&staged, false), CLI_EXIT_OK);
    assert_int_equal(read_back(fx, "fresh.key", buf, sizeof(buf)), 3);
    assert_int_equal(count_entries(fx->dir), 2);
}

static void
discard_removes_staged_file(void **state)
{
    struct file_fixture *fx = *state;
    struct cli_staged_file staged;

    assert_int_equal(cli_file_stage(&staged, &fx->root, "k.key", "new", 3,
                                    0600), CLI_EXIT_OK);
    cli_file_discard(&staged);
    cli_file_discard(&staged);
    assert_int_equal(count_entries(fx->dir), 0);
}

/* Enrolment tokens are 16 to 128 characters of the URL-safe alphabet;
 * anything else is refused before it is saved or printed. */
static void
token_form_checked(void **state)
{
    char longest[CLI_TOKEN_MAX + 2];
    const char *const bad[] = {
        "",
        "0123456789abcde",
        "newline-01234567\n",
        "has space 0123456789",
        "dollar$(id)0123456789",
        "esc\033[2J0123456789",
        "slash/0123456789ab",
    };

    (void)state;
    assert_true(cli_config_token_valid(
        "Abc-_0123456789xyzABCDEFGHIJKLMNOPQRSTUVWX"));
    assert_true(cli_config_token_valid("0123456789abcdef"));
    memset(longest, 'a', CLI_TOKEN_MAX);
    longest[CLI_TOKEN_MAX] = '\0';
    assert_true(cli_config_token_valid(longest));
    strcat(longest, "a");
    assert_false(cli_config_token_valid(longest));
    assert_false(cli_config_token_valid(NULL));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cli_config_token_valid(bad[i]))
            fail_msg("token %zu was accepted", i);
}

/* Creates DIR/name empty; returns its descriptor. */
static int
plant_file(const struct file_fixture *fx, const char *name)
{
    int fd = openat(fx->root.fd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

    assert_true(fd >= 0);
    return fd;
}

static bool
entry_exists(const struct file_fixture *fx, const char *name)
{
    struct stat st;

    return fstatat(fx->root.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A temporary file that no process has locked was left by a dead run, so
 * staging the same name again removes it. Locked ones, and files of other
 * names, stay. */
static void
stage_sweeps_abandoned_temp_files(void **state)
{
    struct file_fixture *fx = *state;
    const char *const kept[] = {".k.key.tmp-0123456789a",
                                ".k.key.tmp-0123456789AB",
                                ".other.key.tmp-0123456789ab", "k.key"};
    struct cli_staged_file staged;
    int live;

    close(plant_file(fx, ".k.key.tmp-0123456789ab"));
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        close(plant_file(fx, kept[i]));
    /* The lock of a run that is still staging its key. */
    live = plant_file(fx, ".k.key.tmp-aaaaaaaaaaaa");
    assert_int_equal(flock(live, LOCK_EX), 0);

    assert_int_equal(cli_file_stage(&staged, &fx->root, "k.key", "new", 3,
                                    0600), CLI_EXIT_OK);
    assert_false(entry_exists(fx, ".k.key.tmp-0123456789ab"));
    assert_true(entry_exists(fx, ".k.key.tmp-aaaaaaaaaaaa"));
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (!entry_exists(fx, kept[i]))
            fail_msg("the sweep removed %s", kept[i]);
    assert_true(entry_exists(fx, staged.temp_name));
    cli_file_discard(&staged);

    close(live);
    assert_int_equal(cli_file_write(&fx->root, "k.key", "x", 1, 0600),
                     CLI_EXIT_OK);
    assert_false(entry_exists(fx, ".k.key.tmp-aaaaaaaaaaaa"));
}

/* A file this process staged and still has open survives a second
 * staging of the same name, as with two runs at once. */
static void
stage_keeps_files_staged_by_others(void **state)
{
    struct file_fixture *fx = *state;
    struct cli_staged_file first, second;

    assert_int_equal(cli_file_stage(&first, &fx->root, "k.key", "one", 3,
                                    0600), CLI_EXIT_OK);
    assert_int_equal(cli_file_stage(&second, &fx->root, "k.key", "two", 3,
                                    0600), CLI_EXIT_OK);
    assert_true(entry_exists(fx, first.temp_name));
    assert_true(entry_exists(fx, second.temp_name));
    assert_int_equal(count_entries(fx->dir), 2);
    cli_file_discard(&second);
    assert_int_equal(cli_file_commit(&first, false), CLI_EXIT_OK);
    assert_int_equal(count_entries(fx->dir), 1);
}

/* In a child: stage a file, report on the pipe, raise SIGHUP (ignored
 * before the handlers were installed), report again and wait for a
 * signal. */
static void
run_staging_child(struct file_fixture *fx, int report)
{
    struct cli_staged_file staged;

    signal(SIGHUP, SIG_IGN);
    cli_file_cleanup_on_signals();
    if (cli_file_stage(&staged, &fx->root, "k.key", "new", 3, 0600) !=
        CLI_EXIT_OK)
        _exit(2);
    if (write(report, "s", 1) != 1)
        _exit(3);
    raise(SIGHUP);
    if (write(report, "h", 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

static void
signal_removes_staged_file(void **state)
{
    struct file_fixture *fx = *state;
    int report[2], status = 0;
    char seen[2];
    pid_t child;

    assert_int_equal(pipe(report), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(report[0]);
        run_staging_child(fx, report[1]);
    }
    close(report[1]);
    assert_int_equal(read(report[0], seen, 1), 1);
    assert_int_equal(read(report[0], seen + 1, 1), 1);
    assert_memory_equal(seen, "sh", 2);
    /* SIGHUP stayed ignored, so the staged file is still there. */
    assert_int_equal(count_entries(fx->dir), 1);
    assert_int_equal(kill(child, SIGTERM), 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    close(report[0]);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
    assert_int_equal(count_entries(fx->dir), 0);
}

/* A symlink planted at the target is replaced, and the file it points to
 * is left alone. */
static void
write_does_not_follow_symlink(void **state)
{
    struct file_fixture *fx = *state;
    char target[128], link_path[128], buf[64];
    struct stat st;

    snprintf(target, sizeof(target), "%s/victim", fx->dir);
    snprintf(link_path, sizeof(link_path), "%s/a.crt", fx->dir);
    assert_int_equal(cli_file_write(&fx->root, "victim", "keep", 4, 0644),
                     CLI_EXIT_OK);
    assert_int_equal(symlink(target, link_path), 0);
    assert_int_equal(cli_file_write(&fx->root, "a.crt", "cert", 4, 0644),
                     CLI_EXIT_OK);
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(read_back(fx, "victim", buf, sizeof(buf)), 4);
    assert_string_equal(buf, "keep");
}

static void
symlink_key_blocks_commit(void **state)
{
    struct file_fixture *fx = *state;
    char link_path[128];
    struct cli_staged_file staged;

    snprintf(link_path, sizeof(link_path), "%s/k.key", fx->dir);
    assert_int_equal(symlink("/nonexistent/target", link_path), 0);
    assert_true(cli_file_exists(&fx->root, "k.key"));
    assert_int_equal(cli_file_stage(&staged, &fx->root, "k.key", "x", 1,
                                    0600), CLI_EXIT_OK);
    assert_int_equal(cli_file_commit(&staged, false), CLI_EXIT_LOCAL);
}

static void
read_refuses_symlink(void **state)
{
    struct file_fixture *fx = *state;
    char target[128], link_path[128];
    char *data = NULL;
    size_t len = 0;

    snprintf(target, sizeof(target), "%s/real", fx->dir);
    snprintf(link_path, sizeof(link_path), "%s/link", fx->dir);
    assert_int_equal(cli_file_write(&fx->root, "real", "data", 4, 0600),
                     CLI_EXIT_OK);
    assert_int_equal(symlink(target, link_path), 0);
    assert_int_equal(cli_file_read_at(&fx->root, "real", 100, &data, &len),
                     CLI_EXIT_OK);
    assert_int_equal(len, 4);
    assert_string_equal(data, "data");
    free(data);
    assert_int_equal(cli_file_read_at(&fx->root, "link", 100, &data, &len),
                     CLI_EXIT_LOCAL);
    assert_null(data);
    assert_int_equal(cli_file_read_at(&fx->root, "real", 3, &data, &len),
                     CLI_EXIT_LOCAL);
}

static void
read_secret_refuses_wide_mode(void **state)
{
    struct file_fixture *fx = *state;
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(cli_file_write(&fx->root, "token", "t", 1, 0644),
                     CLI_EXIT_OK);
    assert_int_equal(cli_file_read_secret_at(&fx->root, "token", 100, &data,
                                             &len), CLI_EXIT_LOCAL);
    assert_null(data);
    assert_int_equal(fchmodat(fx->root.fd, "token", 0600, 0), 0);
    assert_int_equal(cli_file_read_secret_at(&fx->root, "token", 100, &data,
                                             &len), CLI_EXIT_OK);
    assert_string_equal(data, "t");
    free(data);
}

static void
layout_created_with_modes(void **state)
{
    struct file_fixture *fx = *state;
    struct cli_layout layout;
    char path[128];

    snprintf(path, sizeof(path), "%s/home", fx->dir);
    assert_int_equal(cli_layout_open(&layout, path, false), CLI_EXIT_LOCAL);
    assert_int_equal(cli_layout_open(&layout, path, true), CLI_EXIT_OK);
    cli_layout_close(&layout);
    assert_int_equal(mode_of(fx, "home"), 0700);
    assert_int_equal(mode_of(fx, "home/private"), 0700);
    assert_int_equal(mode_of(fx, "home/csr") & 0700, 0700);
    assert_int_equal(mode_of(fx, "home/certs") & 0700, 0700);
    assert_int_equal(cli_layout_open(&layout, path, false), CLI_EXIT_OK);
    cli_layout_close(&layout);
}

static void
layout_refuses_symlinked_or_open_private(void **state)
{
    struct file_fixture *fx = *state;
    struct cli_layout layout;
    char path[128], private_path[160];

    snprintf(path, sizeof(path), "%s/home", fx->dir);
    snprintf(private_path, sizeof(private_path), "%s/private", path);
    assert_int_equal(cli_layout_open(&layout, path, true), CLI_EXIT_OK);
    cli_layout_close(&layout);

    assert_int_equal(chmod(private_path, 0755), 0);
    assert_int_equal(cli_layout_open(&layout, path, false), CLI_EXIT_LOCAL);
    assert_int_equal(rmdir(private_path), 0);
    assert_int_equal(symlink(fx->dir, private_path), 0);
    assert_int_equal(cli_layout_open(&layout, path, true), CLI_EXIT_LOCAL);
    assert_int_equal(layout.root.fd, -1);
}

static void
config_round_trip(void **state)
{
    struct file_fixture *fx = *state;
    struct cli_config cfg = {"https://127.0.0.1:8443",
                             (char *)test_fingerprint, "enrol-token", NULL};
    struct cli_config back;

    assert_int_equal(cli_config_save(&fx->root, &cfg), CLI_EXIT_OK);
    assert_int_equal(mode_of(fx, CLI_CONFIG_FILE), 0600);
    assert_int_equal(cli_config_load(&fx->root, &back), CLI_EXIT_OK);
    assert_string_equal(back.server, cfg.server);
    assert_string_equal(back.fingerprint, test_fingerprint);
    assert_string_equal(back.enrollment_token, "enrol-token");
    assert_null(back.identity);
    cli_config_free(&back);
    assert_null(back.enrollment_token);

    cfg.enrollment_token = NULL;
    cfg.identity = "SE";
    assert_int_equal(cli_config_save(&fx->root, &cfg), CLI_EXIT_OK);
    assert_int_equal(cli_config_load(&fx->root, &back), CLI_EXIT_OK);
    assert_null(back.enrollment_token);
    assert_string_equal(back.identity, "SE");
    cli_config_free(&back);
}

/* Writes text as config.json with mode 0600 and loads it. */
static int
load_text(struct file_fixture *fx, const char *text)
{
    struct cli_config cfg;
    int rc;

    assert_int_equal(cli_file_write(&fx->root, CLI_CONFIG_FILE, text,
                                    strlen(text), 0600), CLI_EXIT_OK);
    rc = cli_config_load(&fx->root, &cfg);
    cli_config_free(&cfg);
    return rc;
}

/* Copies template to out with each "%s" replaced by test_fingerprint. */
static void
fill_fingerprint(const char *template, char *out, size_t size)
{
    const char *mark;
    size_t used = 0;

    while ((mark = strstr(template, "%s")) != NULL) {
        used += (size_t)snprintf(out + used, size - used, "%.*s%s",
                                 (int)(mark - template), template,
                                 test_fingerprint);
        template = mark + 2;
    }
    snprintf(out + used, size - used, "%s", template);
}

static void
config_rejects_bad_content(void **state)
{
    struct file_fixture *fx = *state;
    char text[512];
    const char *const bad[] = {
        "not json",
        "[1, 2]",
        "{\"server\": \"http://a:1\", \"fingerprint\": \"%s\", "
        "\"enrollment_token\": \"t\"}",
        "{\"server\": \"https://a:1\", \"fingerprint\": \"ABCD\", "
        "\"enrollment_token\": \"t\"}",
        "{\"server\": \"https://a:1\", \"fingerprint\": \"%s\"}",
        "{\"server\": \"https://a:1\", \"fingerprint\": \"%s\", "
        "\"identity\": \"../x\"}",
        "{\"server\": 7, \"fingerprint\": \"%s\", \"identity\": \"SE\"}",
        "{\"server\": \"https://a:1\", \"server\": \"https://b:1\", "
        "\"fingerprint\": \"%s\", \"identity\": \"SE\"}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fill_fingerprint(bad[i], text, sizeof(text));
        if (load_text(fx, text) != CLI_EXIT_LOCAL)
            fail_msg("config %zu was accepted: %s", i, text);
    }
    fill_fingerprint("{\"server\": \"https://a:1\", \"fingerprint\": \"%s\", "
                     "\"identity\": \"SE\", \"future_member\": 1}",
                     text, sizeof(text));
    assert_int_equal(load_text(fx, text), CLI_EXIT_OK);
}

static void
config_missing_or_readable_rejected(void **state)
{
    struct file_fixture *fx = *state;
    struct cli_config cfg = {"https://a:1", (char *)test_fingerprint, "t",
                             NULL};
    struct cli_config back;

    assert_int_equal(cli_config_load(&fx->root, &back), CLI_EXIT_LOCAL);
    assert_int_equal(cli_config_save(&fx->root, &cfg), CLI_EXIT_OK);
    assert_int_equal(fchmodat(fx->root.fd, CLI_CONFIG_FILE, 0640, 0), 0);
    assert_int_equal(cli_config_load(&fx->root, &back), CLI_EXIT_LOCAL);
    assert_null(back.server);
}

static void
config_optional_load_without_dir(void **state)
{
    struct file_fixture *fx = *state;
    struct cli_config cfg;
    char path[128];

    snprintf(path, sizeof(path), "%s/absent", fx->dir);
    assert_int_equal(cli_config_load_optional(path, &cfg), CLI_EXIT_OK);
    assert_null(cfg.server);
}

static void
dir_path_precedence(void **state)
{
    struct cli_options opts = {0};
    char path[256];

    (void)state;
    setenv("HOME", "/home/tester", 1);
    unsetenv(CLI_DIR_ENV);
    assert_int_equal(cli_config_dir_path(&opts, path, sizeof(path)),
                     CLI_EXIT_OK);
    assert_string_equal(path, "/home/tester/.ssleverywhere");
    setenv(CLI_DIR_ENV, "/srv/ssl", 1);
    assert_int_equal(cli_config_dir_path(&opts, path, sizeof(path)),
                     CLI_EXIT_OK);
    assert_string_equal(path, "/srv/ssl");
    opts.dir = "/opt/given";
    assert_int_equal(cli_config_dir_path(&opts, path, sizeof(path)),
                     CLI_EXIT_OK);
    assert_string_equal(path, "/opt/given");
    opts.dir = "";
    assert_int_equal(cli_config_dir_path(&opts, path, sizeof(path)),
                     CLI_EXIT_USAGE);
    unsetenv(CLI_DIR_ENV);
}

int
main(void)
{
#define CASE(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        CASE(names_checked),
        CASE(write_replaces_atomically),
        CASE(secret_file_gets_mode_0600),
        CASE(commit_without_replace_keeps_existing),
        CASE(discard_removes_staged_file),
        CASE(token_form_checked),
        CASE(stage_sweeps_abandoned_temp_files),
        CASE(stage_keeps_files_staged_by_others),
        CASE(signal_removes_staged_file),
        CASE(write_does_not_follow_symlink),
        CASE(symlink_key_blocks_commit),
        CASE(read_refuses_symlink),
        CASE(read_secret_refuses_wide_mode),
        CASE(layout_created_with_modes),
        CASE(layout_refuses_symlinked_or_open_private),
        CASE(config_round_trip),
        CASE(config_rejects_bad_content),
        CASE(config_missing_or_readable_rejected),
        CASE(config_optional_load_without_dir),
        CASE(dir_path_precedence),
    };
#undef CASE

    /* config.c frees json_dumps output with cli_alloc_free. */
    cli_alloc_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
