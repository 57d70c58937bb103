#include "daemon/admin_cmds.h"

#include <signal.h>
#include <stdio.h>

#include "common/log.h"
#include "daemon/config.h"
#include "hal/hal.h"
#include "hal/policy.h"

int
admin_check_config(const char *data_dir)
{
    struct policy_set *policy = NULL;
    struct adcp_error err;
    struct config cfg;
    int rc = 1;

    if (config_load(data_dir, &cfg) != 0)
        return 1;
    if (policy_set_parse(cfg.policies, &policy, &err) != ADCP_OK) {
        fprintf(stderr, "invalid policy set: %s\n", err.message);
        goto out;
    }
    for (size_t i = 0; i < cfg.hsm_count; i++)
        if (policy_set_find(policy, cfg.hsms[i].name) == NULL)
            printf("warning: HSM %s has no policy entry, so no request "
                   "goes to it\n",
                   cfg.hsms[i].name);
    printf("configuration %s/%s is valid: %zu HSM(s), %zu policy "
           "entries\n",
           data_dir, CONFIG_FILE_NAME, cfg.hsm_count, policy->count);
    rc = 0;
out:
    policy_set_free(policy);
    config_free(&cfg);
    return rc;
}

/*
 * The HAL's login hook: blocks the signals that end the process while
 * C_Login runs. SoftHSM2 truncates its token.object on each C_Login
 * before it writes it again, so a process ended in between loses the
 * token. A signal that came meanwhile takes effect when the login has
 * returned. arg is where the signal mask before the login is kept.
 */
static void
block_stop_signals_in_login(void *arg, const char *hsm_name,
                            enum hal_login_step step)
{
    sigset_t *saved = arg;
    sigset_t stop_signals;

    (void)hsm_name;
    if (step != HAL_LOGIN_STARTING) {
        fflush(stdout);
        sigprocmask(SIG_SETMASK, saved, NULL);
        return;
    }
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    sigaddset(&stop_signals, SIGQUIT);
    sigprocmask(SIG_BLOCK, &stop_signals, saved);
}

int
admin_list_hsms(const char *data_dir)
{
    struct hal *hal = NULL;
    struct adcp_error err;
    struct config cfg;
    sigset_t saved_mask;
    int rc = 1;

    if (config_load(data_dir, &cfg) != 0)
        return 1;
    config_apply_env(&cfg);
    if (hal_new(&hal, &err) != ADCP_OK) {
        fprintf(stderr, "cannot start the HAL: %s\n", err.message);
        goto out;
    }
    hal_set_login_hook(hal, block_stop_signals_in_login, &saved_mask);
    printf("%-16s %-6s %-20s %s\n", "NAME", "STATE", "TOKEN", "MODULE");
    for (size_t i = 0; i < cfg.hsm_count; i++) {
        const struct hal_hsm_config *hsm = &cfg.hsms[i];
        const char *state = "error";
        if (hal_add_hsm(hal, hsm, &err) == ADCP_OK)
            state = hal_hsm_is_up(hal_hsm_find(hal, hsm->name)) ? "up"
                                                                 : "down";
        printf("%-16s %-6s %-20s %s\n", hsm->name, state, hsm->token_label,
               hsm->module_path);
    }
    rc = 0;
out:
    hal_free(hal);
    config_free(&cfg);
    return rc;
}
