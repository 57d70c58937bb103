/*
 * The HAL's life cycle and registry: modules loaded once per path, the
 * HSMs on them, and the policy set that hal_route applies.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hal/hal-internal.h"

enum adcp_status
hal_new(struct hal **out, struct adcp_error *err)
{
    struct hal *hal;

    *out = NULL;
    hal = calloc(1, sizeof(*hal));
    if (hal == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory creating the HAL");
    if (pthread_mutex_init(&hal->lock, NULL) != 0) {
        free(hal);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cannot create the HAL's mutex");
    }
    if (hal_provider_load() != 0) {
        log_openssl_errors(__func__, "loading the hsm4ssl provider");
        hal_free(hal);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cannot load the hsm4ssl OpenSSL provider; "
                              "see the log for OpenSSL's reason");
    }
    *out = hal;
    return ADCP_OK;
}

void
hal_set_login_hook(struct hal *hal, hal_login_fn fn, void *arg)
{
    hal->login_hook = fn;
    hal->login_hook_arg = arg;
}

/* HSMs go first: closing their sessions needs the modules, which are
 * finalised afterwards. */
void
hal_free(struct hal *hal)
{
    if (hal == NULL)
        return;
    for (size_t i = 0; i < hal->hsm_count; i++)
        hal_hsm_free(hal->hsms[i]);
    for (size_t i = 0; i < hal->module_count; i++)
        pkcs11_module_free(hal->modules[i]);
    free(hal->hsms);
    free(hal->modules);
    policy_set_free(hal->policy);
    pthread_mutex_destroy(&hal->lock);
    free(hal);
}

/* Returns the loaded module for path, loading it the first time. HSMs on
 * one module share its C_Initialize, so they must agree on init_args. */
static enum adcp_status
module_get(struct hal *hal, const struct hal_hsm_config *cfg,
           struct pkcs11_module **out, struct adcp_error *err)
{
    struct pkcs11_module *module = NULL, **grown;
    enum adcp_status status;

    for (size_t i = 0; i < hal->module_count; i++) {
        module = hal->modules[i];
        if (strcmp(module->path, cfg->module_path) != 0)
            continue;
        if (strcmp(module->init_args, cfg->init_args) != 0)
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "init_args",
                                  "HSM \"%s\" sets init_args different from "
                                  "an earlier HSM on module \"%s\"; one "
                                  "module is initialised once, so give "
                                  "them the same init_args", cfg->name,
                                  cfg->module_path);
        *out = module;
        return ADCP_OK;
    }
    grown = realloc(hal->modules, (hal->module_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory adding module \"%s\"",
                              cfg->module_path);
    hal->modules = grown;
    status = pkcs11_module_load(cfg->module_path, cfg->init_args, &module,
                                err);
    if (status != ADCP_OK)
        return status;
    hal->modules[hal->module_count++] = module;
    *out = module;
    return ADCP_OK;
}

static enum adcp_status
config_check(const struct hal *hal, const struct hal_hsm_config *cfg,
             struct adcp_error *err)
{
    if (cfg->name[0] == '\0' || memchr(cfg->name, '\0', sizeof(cfg->name))
                                    == NULL)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "name",
                              "an HSM needs a name of 1 to %d bytes",
                              ADCP_NAME_MAX - 1);
    if (hal_hsm_find((struct hal *)hal, cfg->name) != NULL)
        return adcp_error_set(err, ADCP_ERR_CONFLICT, "name",
                              "HSM name \"%s\" is used twice; give each HSM "
                              "its own name", cfg->name);
    if (cfg->module_path[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "module_path",
                              "HSM \"%s\" needs module_path, the PKCS#11 "
                              "module to load", cfg->name);
    if (cfg->token_label[0] == '\0' ||
        memchr(cfg->token_label, '\0', sizeof(cfg->token_label)) == NULL)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "token_label",
                              "HSM \"%s\" needs a token_label of 1 to %d "
                              "bytes", cfg->name, ADCP_LABEL_MAX - 1);
    for (size_t i = 0; i < hal->hsm_count; i++) {
        const struct hal_hsm_config *other = &hal->hsms[i]->cfg;

        if (strcmp(other->module_path, cfg->module_path) == 0 &&
            strcmp(other->token_label, cfg->token_label) == 0)
            return adcp_error_set(err, ADCP_ERR_CONFLICT, "token_label",
                                  "HSMs \"%s\" and \"%s\" name the same token "
                                  "\"%s\"; each HSM needs its own token",
                                  other->name, cfg->name, cfg->token_label);
    }
    return ADCP_OK;
}

/*
 * Serialising calls protects a module that is not thread-safe, which is a
 * property of the module, not of one token. So when one HSM of a module
 * serialises, every HSM of that module does. Runs during configuration,
 * before any HSM is used from several threads.
 */
static void
serialize_share(struct hal *hal, struct hal_hsm *hsm)
{
    bool serialize = hsm->cfg.serialize;

    for (size_t i = 0; i < hal->hsm_count; i++) {
        if (hal->hsms[i]->module == hsm->module)
            serialize = serialize || hal->hsms[i]->cfg.serialize;
    }
    if (!serialize)
        return;
    hsm->cfg.serialize = true;
    hsm->pool.call_lock = &hsm->module->call_lock;
    for (size_t i = 0; i < hal->hsm_count; i++) {
        if (hal->hsms[i]->module != hsm->module)
            continue;
        hal->hsms[i]->cfg.serialize = true;
        hal->hsms[i]->pool.call_lock = &hsm->module->call_lock;
    }
}

enum adcp_status
hal_add_hsm(struct hal *hal, const struct hal_hsm_config *cfg,
            struct adcp_error *err)
{
    struct pkcs11_module *module = NULL;
    struct hal_hsm *hsm = NULL, **grown;
    enum adcp_status status;

    pthread_mutex_lock(&hal->lock);
    if ((status = config_check(hal, cfg, err)) != ADCP_OK)
        goto out;
    if ((status = module_get(hal, cfg, &module, err)) != ADCP_OK)
        goto out;
    status = ADCP_ERR_INTERNAL;
    grown = realloc(hal->hsms, (hal->hsm_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        adcp_error_set(err, status, "", "out of memory adding HSM \"%s\"",
                       cfg->name);
        goto out;
    }
    hal->hsms = grown;
    hsm = hal_hsm_new(hal, cfg, module);
    if (hsm == NULL) {
        adcp_error_set(err, status, "", "out of memory adding HSM \"%s\"",
                       cfg->name);
        goto out;
    }
    serialize_share(hal, hsm);
    if ((status = hal_hsm_start(hsm, err)) != ADCP_OK)
        goto out;
    hal->hsms[hal->hsm_count++] = hsm;
    hsm = NULL;
    status = ADCP_OK;
out:
    pthread_mutex_unlock(&hal->lock);
    hal_hsm_free(hsm);
    return status;
}

void
hal_set_policy(struct hal *hal, struct policy_set *set)
{
    struct policy_set *old;

    pthread_mutex_lock(&hal->lock);
    old = hal->policy;
    hal->policy = set;
    pthread_mutex_unlock(&hal->lock);
    policy_set_free(old);
}

size_t
hal_hsm_count(const struct hal *hal)
{
    return hal->hsm_count;
}

struct hal_hsm *
hal_hsm_at(struct hal *hal, size_t index)
{
    return index < hal->hsm_count ? hal->hsms[index] : NULL;
}

struct hal_hsm *
hal_hsm_find(struct hal *hal, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < hal->hsm_count; i++) {
        if (strcmp(hal->hsms[i]->cfg.name, name) == 0)
            return hal->hsms[i];
    }
    return NULL;
}

const char *
hal_hsm_name(const struct hal_hsm *hsm)
{
    return hsm->cfg.name;
}

const char *
hal_hsm_module_path(const struct hal_hsm *hsm)
{
    return hsm->cfg.module_path;
}

const char *
hal_hsm_token_label(const struct hal_hsm *hsm)
{
    return hsm->cfg.token_label;
}

bool
hal_hsm_is_up(const struct hal_hsm *hsm)
{
    return atomic_load(&((struct hal_hsm *)hsm)->up);
}
