#include "cli/cli_config.h"

#include "cli/cli_alloc.h"
#include "cli/cli_exit.h"
#include "cli/cli_pem.h"
#include "common/secret.h"

#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* config.json is a few hundred bytes; anything much larger is not ours. */
#define CONFIG_MAX_BYTES (64 * 1024)

static const char *
home_directory(void)
{
    const char *home = getenv("HOME");
    struct passwd *pw;

    if (home != NULL && home[0] != '\0')
        return home;
    pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_dir : NULL;
}

int
cli_config_dir_path(const struct cli_options *opts, char *out, size_t size)
{
    const char *env = getenv(CLI_DIR_ENV);
    const char *home;
    int n;

    if (opts->dir != NULL && opts->dir[0] == '\0')
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid -dir \"\": give a directory path");
    if (opts->dir != NULL)
        n = snprintf(out, size, "%s", opts->dir);
    else if (env != NULL && env[0] != '\0')
        n = snprintf(out, size, "%s", env);
    else if ((home = home_directory()) != NULL)
        n = snprintf(out, size, "%s/.ssleverywhere", home);
    else
        return cli_fail(CLI_EXIT_LOCAL,
                        "cannot find your home directory; give -dir DIR or "
                        "set %s", CLI_DIR_ENV);
    if (n < 0 || (size_t)n >= size)
        return cli_fail(CLI_EXIT_LOCAL,
                        "the working directory path is too long; give a "
                        "shorter -dir");
    return CLI_EXIT_OK;
}

int
cli_layout_open(struct cli_layout *layout, const char *path, bool create)
{
    int rc;

    layout->root.fd = -1;
    layout->private_dir.fd = -1;
    layout->csr.fd = -1;
    layout->certs.fd = -1;
    rc = cli_dir_open_root(&layout->root, path, create);
    if (rc == CLI_EXIT_OK)
        rc = cli_dir_open_sub(&layout->private_dir, &layout->root,
                              "private", 0700, create, true);
    if (rc == CLI_EXIT_OK)
        rc = cli_dir_open_sub(&layout->csr, &layout->root, "csr", 0755,
                              create, false);
    if (rc == CLI_EXIT_OK)
        rc = cli_dir_open_sub(&layout->certs, &layout->root, "certs", 0755,
                              create, false);
    if (rc != CLI_EXIT_OK)
        cli_layout_close(layout);
    return rc;
}

void
cli_layout_close(struct cli_layout *layout)
{
    if (layout == NULL)
        return;
    cli_dir_close(&layout->certs);
    cli_dir_close(&layout->csr);
    cli_dir_close(&layout->private_dir);
    cli_dir_close(&layout->root);
}

/* Copies member key of object when it is a string; a missing member
 * leaves *out NULL. Returns -1 when the member is not a string. */
static int
copy_member(json_t *object, const char *key, char **out)
{
    json_t *value = json_object_get(object, key);

    *out = NULL;
    if (value == NULL || json_is_null(value))
        return 0;
    if (!json_is_string(value))
        return -1;
    *out = strdup(json_string_value(value));
    return *out != NULL ? 0 : -1;
}

/* Checks the members' values; returns the name of the first bad one. */
static const char *
find_invalid_member(const struct cli_config *cfg)
{
    char hex[65];

    if (cfg->server == NULL || strncasecmp(cfg->server, "https://", 8) != 0)
        return "server";
    if (cfg->fingerprint == NULL ||
        cli_pem_fingerprint_parse(cfg->fingerprint, hex) != 0)
        return "fingerprint";
    if (cfg->identity != NULL && !cli_file_name_valid(cfg->identity))
        return "identity";
    if (cfg->identity == NULL && cfg->enrollment_token == NULL)
        return "enrollment_token";
    return NULL;
}

/* Copies the string members into cfg; returns the name of the first
 * member that is not a string, or NULL. */
static const char *
copy_members(json_t *root, struct cli_config *cfg)
{
    const char *const keys[] = {"server", "fingerprint", "enrollment_token",
                                "identity"};
    char **const slots[] = {&cfg->server, &cfg->fingerprint,
                            &cfg->enrollment_token, &cfg->identity};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (copy_member(root, keys[i], slots[i]) != 0)
            return keys[i];
    return NULL;
}

static int
parse_config(const char *text, size_t len, const char *path,
             struct cli_config *cfg)
{
    json_error_t error;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    const char *bad;
    int rc = CLI_EXIT_LOCAL;

    if (root == NULL || !json_is_object(root)) {
        rc = cli_fail(CLI_EXIT_LOCAL,
                      "invalid %s: %s (line %d); fix it or run "
                      "ssleverywhere -enroll again", path,
                      root == NULL ? error.text : "not a JSON object",
                      root == NULL ? error.line : 1);
        goto out;
    }
    bad = copy_members(root, cfg);
    if (bad == NULL)
        bad = find_invalid_member(cfg);
    if (bad != NULL) {
        rc = cli_fail(CLI_EXIT_LOCAL,
                      "invalid %s: member \"%s\" is missing or wrong; run "
                      "ssleverywhere -enroll again", path, bad);
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    json_decref(root);
    return rc;
}

int
cli_config_load(const struct cli_dir *root, struct cli_config *cfg)
{
    char path[PATH_MAX + 16];
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    snprintf(path, sizeof(path), "%s/%s", root->path, CLI_CONFIG_FILE);
    if (!cli_file_exists(root, CLI_CONFIG_FILE))
        return cli_fail(CLI_EXIT_LOCAL,
                        "%s not found: run ssleverywhere -enroll first (or "
                        "give the -dir it used)", path);
    rc = cli_file_read_secret_at(root, CLI_CONFIG_FILE, CONFIG_MAX_BYTES,
                                 &text, &len);
    if (rc == CLI_EXIT_OK)
        rc = parse_config(text, len, path, cfg);
    if (text != NULL)
        secret_wipe(text, len);
    free(text);
    if (rc != CLI_EXIT_OK)
        cli_config_free(cfg);
    return rc;
}

int
cli_config_load_optional(const char *dir_path, struct cli_config *cfg)
{
    char path[PATH_MAX + 16];
    struct cli_dir root;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    snprintf(path, sizeof(path), "%s/%s", dir_path, CLI_CONFIG_FILE);
    if (access(path, F_OK) != 0)
        return CLI_EXIT_OK;
    rc = cli_dir_open_root(&root, dir_path, false);
    if (rc == CLI_EXIT_OK)
        rc = cli_config_load(&root, cfg);
    cli_dir_close(&root);
    return rc;
}

int
cli_config_load_server(const struct cli_options *opts, char *dir_path,
                       size_t size, struct cli_config *cfg,
                       const char **server, const char *command)
{
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    *server = NULL;
    rc = cli_config_dir_path(opts, dir_path, size);
    if (rc == CLI_EXIT_OK)
        rc = cli_config_load_optional(dir_path, cfg);
    if (rc != CLI_EXIT_OK)
        return rc;
    *server = opts->server != NULL ? opts->server : cfg->server;
    return cli_require(*server, "-server https://HOST:PORT (no enrolled "
                       "config.json found)", command);
}

/* Adds key: value to object unless value is NULL; returns 0 or -1. */
static int
set_member(json_t *object, const char *key, const char *value)
{
    if (value == NULL)
        return 0;
    return json_object_set_new(object, key, json_string(value));
}

int
cli_config_save(const struct cli_dir *root, const struct cli_config *cfg)
{
    json_t *object = json_object();
    char *text = NULL;
    int rc = CLI_EXIT_LOCAL;

    if (object == NULL || set_member(object, "server", cfg->server) != 0 ||
        set_member(object, "fingerprint", cfg->fingerprint) != 0 ||
        set_member(object, "enrollment_token",
                   cfg->enrollment_token) != 0 ||
        set_member(object, "identity", cfg->identity) != 0 ||
        (text = json_dumps(object, JSON_INDENT(2) | JSON_SORT_KEYS)) ==
            NULL) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot encode %s/%s: out of memory",
                      root->path, CLI_CONFIG_FILE);
        goto out;
    }
    rc = cli_file_write(root, CLI_CONFIG_FILE, text, strlen(text), 0600);
out:
    /* json_dumps allocates through jansson, which uses the wiping heap
     * that cli_alloc_init installed. */
    cli_alloc_free(text);
    json_decref(object);
    return rc;
}

bool
cli_config_token_valid(const char *token)
{
    size_t len;

    if (token == NULL)
        return false;
    len = strlen(token);
    if (len < CLI_TOKEN_MIN || len > CLI_TOKEN_MAX)
        return false;
    return strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789_-") == len;
}

void
cli_config_free(struct cli_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->server);
    free(cfg->fingerprint);
    secret_clear_string(&cfg->enrollment_token);
    free(cfg->identity);
    memset(cfg, 0, sizeof(*cfg));
}
