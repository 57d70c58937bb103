#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/secret.h"
#include "managers/authz.h"
#include "managers/service.h"

#define PIN_MIN_LEN 4
#define PIN_MAX_LEN 255

/* Serialises initsession from the check that the token is not in use to
 * the end of C_InitToken. Without it, requests that arrive together all
 * pass the check and each initialises the token again, so the PIN file
 * can end up with the PIN of another request than the token's. */
static pthread_mutex_t initsession_lock = PTHREAD_MUTEX_INITIALIZER;

static enum adcp_status
check_pin(const char *pin, const char *field, struct adcp_error *err)
{
    size_t len;

    if (pin == NULL)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, field,
                              "initsession needs %s", field);
    len = strlen(pin);
    if (len < PIN_MIN_LEN || len > PIN_MAX_LEN)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field,
                              "%s must have %d to %d characters, not %zu",
                              field, PIN_MIN_LEN, PIN_MAX_LEN, len);
    return ADCP_OK;
}

static const char *
pin_file_of(const struct service *svc, const char *hsm)
{
    for (size_t i = 0; i < svc->pin_file_count; i++)
        if (strcmp(svc->pin_files[i].hsm, hsm) == 0)
            return svc->pin_files[i].path;
    return NULL;
}

/* Finds the named HSM and checks that the policy set lets it initialise
 * tokens and that doing so would destroy no key the service relies on. */
static enum adcp_status
choose_hsm(struct service *svc, const struct adcp_body *body,
           struct hal_hsm **out, struct adcp_error *err)
{
    struct policy_request check = {ADCP_TYPE_INITSESSION, NULL, NULL};
    const struct policy_entry *entry;
    struct hal_hsm *hsm;

    if (body->hsm[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "hsm",
                              "initsession needs \"hsm\", the name of a "
                              "configured HSM");
    hsm = hal_hsm_find(svc->hal, body->hsm);
    if (hsm == NULL)
        return adcp_error_set(err, ADCP_ERR_NOT_FOUND, "hsm",
                              "no HSM named \"%s\" is configured", body->hsm);
    entry = policy_set_find(svc->policy, body->hsm);
    if (entry == NULL || !policy_entry_permits(entry, &check))
        return adcp_error_set(err, ADCP_ERR_NO_HSM, "hsm",
                              "the policy set does not allow initsession on "
                              "HSM %s; add \"initsession\" to its "
                              "capabilities",
                              body->hsm);
    if (body->session_label[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "session_label",
                              "initsession needs session_label, the token "
                              "label");
    if (strcmp(body->session_label, hal_hsm_token_label(hsm)) != 0)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "session_label",
                              "session_label \"%s\" is not the token label "
                              "\"%s\" configured for HSM %s",
                              body->session_label, hal_hsm_token_label(hsm),
                              body->hsm);
    if (hal_hsm_is_up(hsm) && hal_hsm_has_key(hsm, svc->ca.key_label))
        return adcp_error_set(err, ADCP_ERR_CONFLICT, "hsm",
                              "HSM %s holds the CA key %s; initialising its "
                              "token would destroy it",
                              body->hsm, svc->ca.key_label);
    if (hal_hsm_is_up(hsm))
        return adcp_error_set(err, ADCP_ERR_CONFLICT, "hsm",
                              "the token of HSM %s is initialised and in "
                              "use; initsession only sets up a new token",
                              body->hsm);
    *out = hsm;
    return ADCP_OK;
}

enum adcp_status
crypto_manager_initsession(struct service *svc,
                           const struct service_caller *caller,
                           struct adcp_msg *request, struct adcp_msg *response)
{
    struct adcp_body *body = &request->body;
    struct hal_hsm *hsm = NULL;
    const char *pin_file;
    struct adcp_error err;
    enum adcp_status rc;
    bool locked = false;

    rc = authz_require_admin(caller, "initsession", &err);
    if (rc != ADCP_OK)
        goto out;
    pthread_mutex_lock(&initsession_lock);
    locked = true;
    rc = choose_hsm(svc, body, &hsm, &err);
    if (rc != ADCP_OK)
        goto out;
    rc = check_pin(body->credentials.admin_pin, "credentials.admin_pin", &err);
    if (rc == ADCP_OK)
        rc = check_pin(body->credentials.user_pin, "credentials.user_pin",
                       &err);
    if (rc != ADCP_OK)
        goto out;
    snprintf(request->header.dest_hsm_name,
             sizeof(request->header.dest_hsm_name), "%s", hal_hsm_name(hsm));
    snprintf(request->header.dest_hsm_module,
             sizeof(request->header.dest_hsm_module), "%s",
             hal_hsm_module_path(hsm));

    /* The PIN file comes first, so a token is never initialised with a PIN
     * the service could not find again at its next start. */
    pin_file = pin_file_of(svc, body->hsm);
    if (pin_file != NULL &&
        secret_write_file(pin_file, body->credentials.user_pin) != 0) {
        rc = adcp_error_set(&err, ADCP_ERR_STORAGE, "hsm",
                            "cannot write the user PIN file of HSM %s; the "
                            "token was not initialised",
                            body->hsm);
        log_error("cannot write PIN file %s: %m", pin_file);
        goto out;
    }
    rc = hal_token_init(hsm, body->credentials.admin_pin,
                        body->credentials.user_pin, &err);
    adcp_msg_wipe_credentials(request);
    if (rc != ADCP_OK)
        goto out;
    adcp_msg_succeed(response,
                     json_pack("{s:s, s:s, s:b}", "hsm", body->hsm,
                               "session_label", body->session_label,
                               "initialized", 1));
    log_info("initialised token \"%s\" of HSM %s", body->session_label,
             body->hsm);
out:
    if (locked)
        pthread_mutex_unlock(&initsession_lock);
    if (rc != ADCP_OK)
        adcp_msg_fail(response, &err);
    return rc;
}
