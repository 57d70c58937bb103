#include "daemon/config.h"
#include "managers/cert_crl.h"
#include "managers/ocsp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* Copies the string member name of obj into out. A missing member keeps
 * fallback; a wrong type or an overlong value is an error. */
static int
get_string(const json_t *obj, const char *section, const char *name,
           char *out, size_t size, const char *fallback)
{
    const json_t *value = json_object_get(obj, name);

    if (value == NULL) {
        if (fallback == NULL) {
            log_error("configuration: %s.%s is missing", section, name);
            return -1;
        }
        snprintf(out, size, "%s", fallback);
        return 0;
    }
    if (!json_is_string(value)) {
        log_error("configuration: %s.%s must be a string", section, name);
        return -1;
    }
    if (strlen(json_string_value(value)) >= size) {
        log_error("configuration: %s.%s is longer than %zu bytes", section,
                  name, size - 1);
        return -1;
    }
    snprintf(out, size, "%s", json_string_value(value));
    return 0;
}

static int
get_int(const json_t *obj, const char *section, const char *name, int *out,
        int fallback, int min, int max)
{
    const json_t *value = json_object_get(obj, name);

    if (value == NULL) {
        *out = fallback;
        return 0;
    }
    if (!json_is_integer(value) || json_integer_value(value) < min ||
        json_integer_value(value) > max) {
        log_error("configuration: %s.%s must be an integer from %d to %d",
                  section, name, min, max);
        return -1;
    }
    *out = (int)json_integer_value(value);
    return 0;
}

bool
config_url_valid(const char *url)
{
    size_t len = strlen(url);
    size_t scheme = strncmp(url, "https://", 8) == 0  ? 8
                    : strncmp(url, "http://", 7) == 0 ? 7
                                                      : 0;

    if (scheme == 0 || len == scheme || len >= ADCP_PATH_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (url[i] <= ' ' || url[i] > '~' || url[i] == '"' ||
            url[i] == '\\')
            return false;
    return true;
}

/* Reads the OCSP members of the "ca" section. */
static int
parse_ocsp(struct config *cfg, const json_t *ca)
{
    if (get_int(ca, "ca", "ocsp_lifetime_hours", &cfg->ocsp_lifetime_hours,
                OCSP_DEFAULT_LIFETIME / 3600, 8, 240) != 0 ||
        get_int(ca, "ca", "ocsp_cache_mb", &cfg->ocsp_cache_mb,
                (int)(OCSP_DEFAULT_CACHE_BYTES >> 20), 1, 65536) != 0 ||
        get_int(ca, "ca", "ocsp_signed_per_address",
                &cfg->ocsp_signed_per_address,
                OCSP_DEFAULT_SIGNED_PER_ADDRESS, 0, 1000000) != 0 ||
        get_string(ca, "ca", "ocsp_url", cfg->ocsp_url,
                   sizeof(cfg->ocsp_url), "") != 0)
        return -1;
    if (cfg->ocsp_url[0] != '\0' && !config_url_valid(cfg->ocsp_url)) {
        log_error("configuration: ca.ocsp_url \"%s\" is not an http:// or "
                  "https:// URL of printable ASCII without spaces; fix it "
                  "or remove it",
                  cfg->ocsp_url);
        return -1;
    }
    return 0;
}

void
config_resolve(const struct config *cfg, const char *path, char *out,
               size_t size)
{
    if (path[0] == '/' || path[0] == '\0')
        snprintf(out, size, "%s", path);
    else
        snprintf(out, size, "%s/%s", cfg->data_dir, path);
}

/* Reads the optional boolean member key of item into *out, leaving *out
 * as it is when the member is missing. Returns 0, or -1 after logging. */
static int
get_flag(const json_t *item, const char *section, const char *key,
         bool *out)
{
    const json_t *flag = json_object_get(item, key);

    if (flag == NULL)
        return 0;
    if (!json_is_boolean(flag)) {
        log_error("configuration: %s.%s must be true or false", section,
                  key);
        return -1;
    }
    *out = json_is_true(flag);
    return 0;
}

/* Returns whether module is p11-kit's client module, which forwards every
 * call to a p11-kit server over a socket. */
static bool
is_remote_module(const char *module)
{
    const char *base = strrchr(module, '/');

    return strcmp(base != NULL ? base + 1 : module, "p11-kit-client.so") ==
           0;
}

static int
parse_hsm(struct config *cfg, const json_t *item, size_t index)
{
    struct hal_hsm_config *hsm = &cfg->hsms[index];
    char section[32], pin_file[ADCP_PATH_MAX];
    int sessions;

    snprintf(section, sizeof(section), "hsms[%zu]", index);
    if (!json_is_object(item)) {
        log_error("configuration: %s must be an object", section);
        return -1;
    }
    memset(hsm, 0, sizeof(*hsm));
    if (get_string(item, section, "name", hsm->name, sizeof(hsm->name),
                   NULL) != 0 ||
        get_string(item, section, "module", hsm->module_path,
                   sizeof(hsm->module_path), NULL) != 0 ||
        get_string(item, section, "token_label", hsm->token_label,
                   sizeof(hsm->token_label), NULL) != 0 ||
        get_string(item, section, "pin_file", pin_file, sizeof(pin_file),
                   "") != 0 ||
        get_string(item, section, "init_args", hsm->init_args,
                   sizeof(hsm->init_args), "") != 0 ||
        get_int(item, section, "sessions", &sessions, 0, 0, 256) != 0)
        return -1;
    hsm->network = is_remote_module(hsm->module_path);
    if (get_flag(item, section, "serialize", &hsm->serialize) != 0 ||
        get_flag(item, section, "network", &hsm->network) != 0)
        return -1;
    config_resolve(cfg, pin_file, hsm->pin_file, sizeof(hsm->pin_file));
    hsm->sessions = (unsigned)sessions;
    return 0;
}

static int
parse_hsms(struct config *cfg, const json_t *root)
{
    const json_t *hsms = json_object_get(root, "hsms");
    size_t index;
    const json_t *item;

    if (!json_is_array(hsms) || json_array_size(hsms) == 0) {
        log_error("configuration: \"hsms\" must be a non-empty array");
        return -1;
    }
    if (json_array_size(hsms) > CONFIG_MAX_HSMS) {
        log_error("configuration: at most %d HSMs are supported",
                  CONFIG_MAX_HSMS);
        return -1;
    }
    json_array_foreach(hsms, index, item)
    {
        if (parse_hsm(cfg, item, index) != 0)
            return -1;
        for (size_t j = 0; j < index; j++)
            if (strcmp(cfg->hsms[j].name, cfg->hsms[index].name) == 0) {
                log_error("configuration: HSM name %s appears twice",
                          cfg->hsms[index].name);
                return -1;
            }
        cfg->hsm_count++;
    }
    return 0;
}

/* Writes the value of an env variable: a relative path is taken in the
 * data directory, but a value with ':' or '=' in it, such as p11-kit's
 * P11_KIT_SERVER_ADDRESS=unix:path=/run/p11-kit.sock, is an address or a
 * list rather than a file name, and is used as it is. */
static void
resolve_env_value(const struct config *cfg, const char *value, char *out,
                  size_t size)
{
    if (strchr(value, ':') != NULL || strchr(value, '=') != NULL)
        snprintf(out, size, "%s", value);
    else
        config_resolve(cfg, value, out, size);
}

static int
parse_env(struct config *cfg, const json_t *root)
{
    const json_t *env = json_object_get(root, "env");
    const char *name;
    const json_t *value;

    if (env == NULL)
        return 0;
    if (!json_is_object(env)) {
        log_error("configuration: \"env\" must be an object of strings");
        return -1;
    }
    json_object_foreach((json_t *)env, name, value)
    {
        struct config_env *slot = &cfg->env[cfg->env_count];
        if (cfg->env_count == sizeof(cfg->env) / sizeof(cfg->env[0]) ||
            !json_is_string(value) || strlen(name) >= sizeof(slot->name)) {
            log_error("configuration: env.%s must be a string (at most 8 "
                      "variables)",
                      name);
            return -1;
        }
        snprintf(slot->name, sizeof(slot->name), "%s", name);
        resolve_env_value(cfg, json_string_value(value), slot->value,
                          sizeof(slot->value));
        cfg->env_count++;
    }
    return 0;
}

/* Reads the optional "limits" object of the HTTPS front end. */
static int
parse_limits(struct config *cfg, const json_t *root)
{
    const json_t *limits = json_object_get(root, "limits");
    int header_ms, body_ms, per_ip, total;

    if (limits == NULL)
        return 0;
    if (!json_is_object(limits)) {
        log_error("configuration: \"limits\" must be an object");
        return -1;
    }
    if (get_int(limits, "limits", "header_timeout_ms", &header_ms, 0, 0,
                3600000) != 0 ||
        get_int(limits, "limits", "body_timeout_ms", &body_ms, 0, 0,
                3600000) != 0 ||
        get_int(limits, "limits", "max_connections_per_ip", &per_ip, 0, 0,
                1000000) != 0 ||
        get_int(limits, "limits", "max_connections", &total, 0, 0,
                1000000) != 0)
        return -1;
    cfg->header_timeout_ms = (unsigned)header_ms;
    cfg->body_timeout_ms = (unsigned)body_ms;
    cfg->max_connections_per_ip = (unsigned)per_ip;
    cfg->max_connections = (unsigned)total;
    return 0;
}

static int
parse_sections(struct config *cfg, const json_t *root)
{
    const json_t *ca = json_object_get(root, "ca");
    const json_t *tls = json_object_get(root, "api_tls");
    char path[ADCP_PATH_MAX];
    int threads;

    if (!json_is_object(ca) || !json_is_object(tls)) {
        log_error("configuration: \"ca\" and \"api_tls\" must be objects");
        return -1;
    }
    if (get_string(root, "config", "listen", cfg->listen,
                   sizeof(cfg->listen), "127.0.0.1:8443") != 0 ||
        get_int(root, "config", "threads", &threads, 0, 0, 64) != 0 ||
        get_string(root, "config", "database", path, sizeof(path),
                   "hsm4ssl.db") != 0)
        return -1;
    cfg->threads = (unsigned)threads;
    config_resolve(cfg, path, cfg->database, sizeof(cfg->database));
    if (get_string(root, "config", "csr_dir", path, sizeof(path), "csr") !=
        0)
        return -1;
    config_resolve(cfg, path, cfg->csr_dir, sizeof(cfg->csr_dir));

    if (get_string(ca, "ca", "hsm", cfg->ca_hsm, sizeof(cfg->ca_hsm),
                   NULL) != 0 ||
        get_string(ca, "ca", "key_label", cfg->ca_key_label,
                   sizeof(cfg->ca_key_label), NULL) != 0 ||
        get_string(ca, "ca", "certificate", path, sizeof(path), NULL) != 0 ||
        get_int(ca, "ca", "default_days", &cfg->default_days, 365, 1,
                36500) != 0 ||
        get_int(ca, "ca", "max_days", &cfg->max_days, 825, 1, 36500) != 0 ||
        get_int(root, "config", "enrollment_token_hours",
                &cfg->enrollment_token_hours, 24, 1, 24 * 365) != 0 ||
        get_int(ca, "ca", "crl_lifetime_hours", &cfg->crl_lifetime_hours,
                CERT_CRL_DEFAULT_LIFETIME / 3600, 1, 24 * 366) != 0 ||
        parse_ocsp(cfg, ca) != 0)
        return -1;
    config_resolve(cfg, path, cfg->ca_cert, sizeof(cfg->ca_cert));
    if (cfg->default_days > cfg->max_days) {
        log_error("configuration: ca.default_days %d is above ca.max_days "
                  "%d",
                  cfg->default_days, cfg->max_days);
        return -1;
    }
    if (get_string(tls, "api_tls", "hsm", cfg->tls_hsm, sizeof(cfg->tls_hsm),
                   cfg->ca_hsm) != 0 ||
        get_string(tls, "api_tls", "key_label", cfg->tls_key_label,
                   sizeof(cfg->tls_key_label), NULL) != 0 ||
        get_string(tls, "api_tls", "certificate", path, sizeof(path),
                   NULL) != 0)
        return -1;
    config_resolve(cfg, path, cfg->tls_cert, sizeof(cfg->tls_cert));
    return 0;
}

int
config_load(const char *data_dir, struct config *cfg)
{
    char path[ADCP_PATH_MAX + 32];
    json_error_t jerr;
    json_t *root;
    int rc = -1;

    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", data_dir);
    snprintf(path, sizeof(path), "%s/%s", data_dir, CONFIG_FILE_NAME);
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        log_error("cannot read configuration %s: %s (line %d)", path,
                  jerr.text, jerr.line);
        return -1;
    }
    if (!json_is_object(root)) {
        log_error("configuration %s must be a JSON object", path);
        goto out;
    }
    if (parse_env(cfg, root) != 0 || parse_hsms(cfg, root) != 0 ||
        parse_sections(cfg, root) != 0 || parse_limits(cfg, root) != 0)
        goto out;
    cfg->policies = json_incref(json_object_get(root, "policies"));
    if (!json_is_array(cfg->policies)) {
        log_error("configuration: \"policies\" must be an array with one "
                  "entry per HSM");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        config_free(cfg);
    return rc;
}

void
config_free(struct config *cfg)
{
    json_decref(cfg->policies);
    cfg->policies = NULL;
}

int
config_write_json(const char *path, const json_t *json)
{
    char tmp[ADCP_PATH_MAX + 8];
    char *text;
    size_t len;
    int fd, rc = -1;

    text = json_dumps(json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return -1;
    len = strlen(text);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0)
        goto out;
    if (write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
        fsync(fd) == 0)
        rc = 0;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0)
        unlink(tmp);
out:
    free(text);
    return rc;
}

/* Returns whether an environment variable's name suggests a secret
 * value: some vendors' PKCS#11 modules read PINs, passphrases or API keys
 * from the environment. */
static bool
env_name_is_secret(const char *name)
{
    static const char *const words[] = {"PIN", "PASS", "SECRET", "TOKEN",
                                        "KEY", "CRED", "AUTH"};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(name, words[i]) != NULL)
            return true;
    return false;
}

void
config_apply_env(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->env_count; i++) {
        setenv(cfg->env[i].name, cfg->env[i].value, 1);
        log_info("set %s=%s for the PKCS#11 modules", cfg->env[i].name,
                 env_name_is_secret(cfg->env[i].name) ? "***"
                                                      : cfg->env[i].value);
    }
}
