/*
 * One HSM: finding its token by label, logging the session pool in,
 * initialising the token, and running operations with one recovery
 * attempt when the device is lost.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/secret.h"
#include "hal/hal-internal.h"
#include "hal/pkcs11_errors.h"

/* While an HSM stays down, requests try to bring it back at most this
 * often. A request whose own call finds the device lost always tries. */
#define RECOVERY_INTERVAL_SECONDS 2

#define CALL_LOGIN_SO "C_Login as SO"

static void
call_begin(struct hal_hsm *hsm)
{
    if (hsm->cfg.serialize)
        pthread_mutex_lock(&hsm->module->call_lock);
}

static void
call_end(struct hal_hsm *hsm)
{
    if (hsm->cfg.serialize)
        pthread_mutex_unlock(&hsm->module->call_lock);
}

static time_t
monotonic_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec;
}

/* Returns what an operator can do about rv. */
static const char *
call_hint(CK_RV rv)
{
    switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
        return "check the PIN or the HSM's pin_file";
    case CKR_PIN_LOCKED:
    case CKR_PIN_EXPIRED:
        return "reset the user PIN with the SO PIN";
    case CKR_USER_PIN_NOT_INITIALIZED:
        return "initialise the token (initsession) to set a user PIN";
    default:
        break;
    }
    if (pkcs11_rv_is_device_down(rv))
        return "check that the HSM is connected; the next request tries "
               "to recover it";
    return "see the HSM's log for details";
}

enum adcp_status
hal_hsm_call_failed(const struct hal_hsm *hsm, struct adcp_error *err,
                    const char *call, CK_RV rv)
{
    /* These two calls take the SO PIN. Every other call takes the user PIN. */
    bool so_pin = strcmp(call, "C_InitToken") == 0 ||
                  strcmp(call, CALL_LOGIN_SO) == 0;
    enum adcp_status code = ADCP_ERR_HSM;
    const char *field = "";
    const char *hint = call_hint(rv);

    switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_LOCKED:
    case CKR_PIN_EXPIRED:
        code = ADCP_ERR_UNAUTHENTICATED;
        field = so_pin ? "admin_pin" : "user_pin";
        if (so_pin)
            hint = "check the SO PIN (admin_pin)";
        break;
    default:
        break;
    }
    return adcp_error_set(err, code, field,
                          "%s on HSM \"%s\" (token \"%s\") failed: %s (%s); "
                          "%s", call, hsm->cfg.name, hsm->cfg.token_label,
                          pkcs11_rv_name(rv), pkcs11_rv_sentence(rv), hint);
}

void
hal_hsm_mark_down(struct hal_hsm *hsm, const char *call, CK_RV rv)
{
    if (atomic_exchange(&hsm->up, false))
        log_error("HSM \"%s\" (token \"%s\", module \"%s\") is down: %s "
                  "returned %s (%s)", hsm->cfg.name, hsm->cfg.token_label,
                  hsm->cfg.module_path, call, pkcs11_rv_name(rv),
                  pkcs11_rv_sentence(rv));
}

struct hal_hsm *
hal_hsm_new(struct hal *hal, const struct hal_hsm_config *cfg,
            struct pkcs11_module *module)
{
    struct hal_hsm *hsm = calloc(1, sizeof(*hsm));
    pthread_mutex_t *call_lock;

    if (hsm == NULL)
        return NULL;
    hsm->hal = hal;
    hsm->cfg = *cfg;
    hsm->module = module;
    call_lock = cfg->serialize ? &module->call_lock : NULL;
    if (pkcs11_pool_init(&hsm->pool, module->fn, call_lock,
                         cfg->sessions) != 0) {
        free(hsm);
        return NULL;
    }
    pthread_mutex_init(&hsm->state_lock, NULL);
    pthread_mutex_init(&hsm->cache_lock, NULL);
    pthread_mutex_init(&hsm->keygen_lock, NULL);
    atomic_init(&hsm->up, false);
    atomic_init(&hsm->generation, 0);
    atomic_init(&hsm->in_flight, 0);
    return hsm;
}

void
hal_hsm_free(struct hal_hsm *hsm)
{
    if (hsm == NULL)
        return;
    pkcs11_pool_destroy(&hsm->pool);
    pthread_mutex_destroy(&hsm->state_lock);
    pthread_mutex_destroy(&hsm->cache_lock);
    pthread_mutex_destroy(&hsm->keygen_lock);
    free(hsm->key_labels);
    free(hsm);
}

/* Looks the token up by label and records its slot. Needs state_lock. */
static CK_RV
locate_token_inlock(struct hal_hsm *hsm, CK_FLAGS *token_flags)
{
    bool found = false;
    CK_SLOT_ID slot = 0;
    CK_FLAGS flags = 0;
    CK_RV rv;

    rv = pkcs11_module_find_token(hsm->module, hsm->cfg.token_label, &found,
                                  &slot, &flags);
    if (rv != CKR_OK)
        return rv;
    hsm->has_slot = found;
    hsm->slot = slot;
    *token_flags = found ? flags : 0;
    return CKR_OK;
}

static enum adcp_status
token_missing(const struct hal_hsm *hsm, struct adcp_error *err)
{
    return adcp_error_set(err, ADCP_ERR_HSM, "session_label",
                          "HSM \"%s\": module \"%s\" has no token labelled "
                          "\"%s\"; initialise it (initsession) or fix "
                          "token_label", hsm->cfg.name, hsm->cfg.module_path,
                          hsm->cfg.token_label);
}

static void
login_hook(struct hal_hsm *hsm, enum hal_login_step step)
{
    if (hsm->hal != NULL && hsm->hal->login_hook != NULL)
        hsm->hal->login_hook(hsm->hal->login_hook_arg, hsm->cfg.name, step);
}

/*
 * Opens a new pool on the HSM's slot and logs it in with pin. On success
 * the HSM is up with a new generation. Needs state_lock and a slot.
 */
static enum adcp_status
login_inlock(struct hal_hsm *hsm, const char *pin, struct adcp_error *err)
{
    CK_RV rv;

    atomic_store(&hsm->up, false);
    pkcs11_pool_close(&hsm->pool);
    rv = pkcs11_pool_open(&hsm->pool, hsm->slot);
    if (rv != CKR_OK)
        return hal_hsm_call_failed(hsm, err, "C_OpenSession", rv);
    login_hook(hsm, HAL_LOGIN_STARTING);
    rv = pkcs11_pool_login(&hsm->pool, pin);
    if (rv != CKR_OK) {
        login_hook(hsm, HAL_LOGIN_FAILED);
        pkcs11_pool_close(&hsm->pool);
        return hal_hsm_call_failed(hsm, err, "C_Login", rv);
    }
    atomic_fetch_add(&hsm->generation, 1);
    atomic_store(&hsm->up, true);
    log_info("HSM \"%s\" logged in to token \"%s\" (slot %lu, %zu sessions)",
             hsm->cfg.name, hsm->cfg.token_label, (unsigned long)hsm->slot,
             pkcs11_pool_capacity(&hsm->pool));
    login_hook(hsm, HAL_LOGIN_DONE);
    return ADCP_OK;
}

/* Reads the PIN file at the moment of use and wipes the PIN after
 * C_Login. Needs state_lock and a slot. */
static enum adcp_status
login_from_file_inlock(struct hal_hsm *hsm, struct adcp_error *err)
{
    enum adcp_status status;
    char *pin;

    if (hsm->cfg.pin_file[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_HSM, "pin_file",
                              "HSM \"%s\" has no pin_file, so it cannot log "
                              "in by itself; set pin_file to a file of mode "
                              "0600 that holds the user PIN", hsm->cfg.name);
    pin = secret_read_file(hsm->cfg.pin_file);
    if (pin == NULL)
        return adcp_error_set(err, ADCP_ERR_HSM, "pin_file",
                              "cannot read the PIN file \"%s\" of HSM \"%s\": "
                              "%s; it must be a regular file of mode 0600",
                              hsm->cfg.pin_file, hsm->cfg.name,
                              errno == EPERM ? "group or others may read it"
                                             : strerror(errno));
    status = login_inlock(hsm, pin, err);
    secret_free_string(pin);
    return status;
}

enum adcp_status
hal_hsm_start(struct hal_hsm *hsm, struct adcp_error *err)
{
    enum adcp_status status = ADCP_OK;
    CK_FLAGS flags = 0;
    CK_RV rv;

    call_begin(hsm);
    pthread_mutex_lock(&hsm->state_lock);
    rv = locate_token_inlock(hsm, &flags);
    if (rv != CKR_OK) {
        log_warn("HSM \"%s\" stays down: C_GetSlotList of \"%s\" returned "
                 "%s", hsm->cfg.name, hsm->cfg.module_path,
                 pkcs11_rv_name(rv));
    } else if (!hsm->has_slot || (flags & CKF_TOKEN_INITIALIZED) == 0) {
        log_warn("HSM \"%s\" stays down: module \"%s\" has no initialised "
                 "token labelled \"%s\" yet", hsm->cfg.name,
                 hsm->cfg.module_path, hsm->cfg.token_label);
    } else if (hsm->cfg.pin_file[0] == '\0') {
        log_info("HSM \"%s\" has no pin_file; it stays down until a login",
                 hsm->cfg.name);
    } else {
        status = login_from_file_inlock(hsm, err);
    }
    hsm->last_recovery = monotonic_seconds();
    pthread_mutex_unlock(&hsm->state_lock);
    call_end(hsm);
    return status;
}

enum adcp_status
hal_hsm_login(struct hal_hsm *hsm, const char *user_pin,
              struct adcp_error *err)
{
    enum adcp_status status;
    CK_FLAGS flags = 0;
    CK_RV rv;

    if (hsm == NULL || user_pin == NULL)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "user_pin",
                              "a user PIN is required to log in");
    call_begin(hsm);
    pthread_mutex_lock(&hsm->state_lock);
    rv = locate_token_inlock(hsm, &flags);
    if (rv != CKR_OK)
        status = hal_hsm_call_failed(hsm, err, "C_GetSlotList", rv);
    else if (!hsm->has_slot)
        status = token_missing(hsm, err);
    else
        status = login_inlock(hsm, user_pin, err);
    pthread_mutex_unlock(&hsm->state_lock);
    call_end(hsm);
    return status;
}

/* Finds the slot C_InitToken should use: the token's own, or one whose
 * token is not initialised. Needs state_lock. */
static enum adcp_status
init_slot_inlock(struct hal_hsm *hsm, CK_SLOT_ID *slot,
                 struct adcp_error *err)
{
    CK_FLAGS flags = 0;
    bool found = false;
    CK_RV rv;

    rv = locate_token_inlock(hsm, &flags);
    if (rv != CKR_OK)
        return hal_hsm_call_failed(hsm, err, "C_GetSlotList", rv);
    if (hsm->has_slot) {
        *slot = hsm->slot;
        return ADCP_OK;
    }
    rv = pkcs11_module_find_free_slot(hsm->module, &found, slot);
    if (rv != CKR_OK)
        return hal_hsm_call_failed(hsm, err, "C_GetSlotList", rv);
    if (!found)
        return adcp_error_set(err, ADCP_ERR_HSM, "session_label",
                              "module \"%s\" has no slot with an "
                              "uninitialised token for \"%s\"; free a slot "
                              "or pick another module",
                              hsm->cfg.module_path, hsm->cfg.token_label);
    return ADCP_OK;
}

/* Sets the user PIN as SO on a fresh session of slot. */
static enum adcp_status
init_user_pin(struct hal_hsm *hsm, CK_SLOT_ID slot, const char *so_pin,
              const char *user_pin, struct adcp_error *err)
{
    CK_FUNCTION_LIST *fn = hsm->module->fn;
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    enum adcp_status status = ADCP_OK;
    CK_RV rv;

    rv = fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
                           NULL, &session);
    if (rv != CKR_OK)
        return hal_hsm_call_failed(hsm, err, "C_OpenSession", rv);
    rv = fn->C_Login(session, CKU_SO, (CK_UTF8CHAR_PTR)so_pin,
                     (CK_ULONG)strlen(so_pin));
    if (rv != CKR_OK) {
        status = hal_hsm_call_failed(hsm, err, CALL_LOGIN_SO, rv);
        goto out;
    }
    rv = fn->C_InitPIN(session, (CK_UTF8CHAR_PTR)user_pin,
                       (CK_ULONG)strlen(user_pin));
    if (rv != CKR_OK)
        status = hal_hsm_call_failed(hsm, err, "C_InitPIN", rv);
    (void)fn->C_Logout(session);
out:
    (void)fn->C_CloseSession(session);
    return status;
}

/* C_InitToken, then a new slot scan: SoftHSM2 (2.6.1) moves an
 * initialised token to a slot ID derived from its serial. Needs state_lock. */
static enum adcp_status
init_token_inlock(struct hal_hsm *hsm, const char *so_pin,
                  const char *user_pin, struct adcp_error *err)
{
    unsigned char label[PKCS11_LABEL_LEN];
    enum adcp_status status;
    CK_FLAGS flags = 0;
    CK_SLOT_ID slot = 0;
    CK_RV rv;

    if ((status = init_slot_inlock(hsm, &slot, err)) != ADCP_OK)
        return status;
    atomic_store(&hsm->up, false);
    pkcs11_pool_close(&hsm->pool);
    hal_hsm_cache_clear(hsm);
    pkcs11_label_pad(label, hsm->cfg.token_label);
    rv = hsm->module->fn->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin,
                                      (CK_ULONG)strlen(so_pin), label);
    if (rv != CKR_OK)
        return hal_hsm_call_failed(hsm, err, "C_InitToken", rv);
    rv = locate_token_inlock(hsm, &flags);
    if (rv != CKR_OK)
        return hal_hsm_call_failed(hsm, err, "C_GetSlotList", rv);
    if (!hsm->has_slot)
        return token_missing(hsm, err);
    status = init_user_pin(hsm, hsm->slot, so_pin, user_pin, err);
    if (status != ADCP_OK)
        return status;
    log_info("HSM \"%s\": initialised token \"%s\" in slot %lu",
             hsm->cfg.name, hsm->cfg.token_label, (unsigned long)hsm->slot);
    return login_inlock(hsm, user_pin, err);
}

enum adcp_status
hal_token_init(struct hal_hsm *hsm, const char *so_pin, const char *user_pin,
               struct adcp_error *err)
{
    struct adcp_error restore_err;
    enum adcp_status status;
    bool was_up;

    if (hsm == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "hal_token_init needs an HSM");
    if (so_pin == NULL || so_pin[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "admin_pin",
                              "initialising a token needs the SO PIN "
                              "(admin_pin)");
    if (user_pin == NULL || user_pin[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "user_pin",
                              "initialising a token needs a user PIN "
                              "(user_pin)");
    call_begin(hsm);
    pthread_mutex_lock(&hsm->state_lock);
    was_up = atomic_load(&hsm->up);
    status = init_token_inlock(hsm, so_pin, user_pin, err);
    if (status != ADCP_OK && was_up && !atomic_load(&hsm->up)) {
        /* A rejected SO PIN leaves the old token as it was, so bring it
         * back instead of leaving it down. */
        if (login_from_file_inlock(hsm, &restore_err) != ADCP_OK)
            log_warn("HSM \"%s\" stays down after the failed "
                     "initialisation: %s", hsm->cfg.name,
                     restore_err.message);
    }
    pthread_mutex_unlock(&hsm->state_lock);
    call_end(hsm);
    return status;
}

/*
 * Brings hsm back: new sessions on the token found by label again, login
 * with the PIN file. seen is the generation the caller saw fail. When it
 * has moved on, another thread recovered already. rate_limited skips the
 * attempt when the last one is recent.
 *
 * NOTE: the module is not finalised and initialised again, so a p11-kit
 * client whose server restarted stays down until the service restarts.
 */
static enum adcp_status
recover(struct hal_hsm *hsm, unsigned seen, bool rate_limited,
        struct adcp_error *err)
{
    enum adcp_status status = ADCP_ERR_HSM;
    time_t now = monotonic_seconds();
    CK_FLAGS flags = 0;
    CK_RV rv;

    call_begin(hsm);
    pthread_mutex_lock(&hsm->state_lock);
    if (atomic_load(&hsm->up) && atomic_load(&hsm->generation) != seen) {
        status = ADCP_OK;
        goto out;
    }
    if (rate_limited && now - hsm->last_recovery < RECOVERY_INTERVAL_SECONDS) {
        adcp_error_set(err, ADCP_ERR_HSM, "", "HSM \"%s\" is down; the "
                       "service retries within %d seconds", hsm->cfg.name,
                       RECOVERY_INTERVAL_SECONDS);
        goto out;
    }
    hsm->last_recovery = now;
    rv = locate_token_inlock(hsm, &flags);
    if (rv != CKR_OK) {
        status = hal_hsm_call_failed(hsm, err, "C_GetSlotList", rv);
        goto out;
    }
    if (!hsm->has_slot) {
        status = token_missing(hsm, err);
        goto out;
    }
    status = login_from_file_inlock(hsm, err);
    if (status == ADCP_OK)
        log_warn("HSM \"%s\" recovered", hsm->cfg.name);
out:
    pthread_mutex_unlock(&hsm->state_lock);
    call_end(hsm);
    return status;
}

/* Runs fn once on a borrowed session. Sets *lost when the device is gone,
 * so that the caller recovers and tries again. */
static enum adcp_status
run_once(struct hal_hsm *hsm, hal_op_fn fn, void *ctx, bool *lost,
         struct adcp_error *err)
{
    struct pkcs11_session session;
    struct hal_op op = {CKR_OK, false};
    enum adcp_status status;
    CK_RV rv;

    *lost = false;
    rv = pkcs11_pool_borrow(&hsm->pool, &session);
    if (rv == CKR_SESSION_CLOSED || pkcs11_rv_is_device_down(rv)) {
        hal_hsm_mark_down(hsm, "C_OpenSession", rv);
        *lost = true;
        return hal_hsm_call_failed(hsm, err, "C_OpenSession", rv);
    }
    if (rv != CKR_OK)
        return hal_hsm_call_failed(hsm, err, "C_OpenSession", rv);
    call_begin(hsm);
    status = fn(hsm, session.handle, ctx, &op, err);
    call_end(hsm);
    if (op.rv == CKR_OPERATION_ACTIVE)
        op.discard = true;
    /* CKR_USER_NOT_LOGGED_IN means the token dropped the pool's login (it
     * was reset, or every session was closed), which a recovery repairs
     * just as it does a lost device. */
    if (pkcs11_rv_is_device_down(op.rv) || op.rv == CKR_USER_NOT_LOGGED_IN) {
        op.discard = true;
        hal_hsm_mark_down(hsm, "an operation", op.rv);
        *lost = true;
    }
    pkcs11_pool_return(&hsm->pool, &session, op.discard);
    return status;
}

enum adcp_status
hal_hsm_run(struct hal_hsm *hsm, hal_op_fn fn, void *ctx,
            struct adcp_error *err)
{
    enum adcp_status status = ADCP_ERR_HSM;
    bool lost = false;
    unsigned seen;

    atomic_fetch_add(&hsm->in_flight, 1);
    for (int attempt = 0; attempt < 2; attempt++) {
        seen = atomic_load(&hsm->generation);
        if (!atomic_load(&hsm->up)) {
            /* On the first attempt the HSM was down before this request,
             * so the retry interval applies. After this request's own
             * failure, recovery is always tried once. */
            status = recover(hsm, seen, attempt == 0, err);
            if (status != ADCP_OK)
                break;
        }
        status = run_once(hsm, fn, ctx, &lost, err);
        if (!lost)
            break;
    }
    atomic_fetch_sub(&hsm->in_flight, 1);
    return status;
}

size_t
hal_hsm_pool_size(const struct hal_hsm *hsm)
{
    return pkcs11_pool_capacity(&hsm->pool);
}

bool
hal_hsm_cache_has(struct hal_hsm *hsm, const char *label)
{
    bool found = false;

    pthread_mutex_lock(&hsm->cache_lock);
    for (size_t i = 0; i < hsm->key_label_count && !found; i++)
        found = strcmp(hsm->key_labels[i], label) == 0;
    pthread_mutex_unlock(&hsm->cache_lock);
    return found;
}

void
hal_hsm_cache_add(struct hal_hsm *hsm, const char *label)
{
    char (*grown)[ADCP_NAME_MAX];
    size_t capacity;

    if (strlen(label) >= ADCP_NAME_MAX || hal_hsm_cache_has(hsm, label))
        return;
    pthread_mutex_lock(&hsm->cache_lock);
    if (hsm->key_label_count == hsm->key_label_capacity) {
        capacity = hsm->key_label_capacity ? hsm->key_label_capacity * 2 : 16;
        grown = realloc(hsm->key_labels, capacity * sizeof(*grown));
        if (grown == NULL)
            goto out; /* a cache miss later costs one search, no more */
        hsm->key_labels = grown;
        hsm->key_label_capacity = capacity;
    }
    strcpy(hsm->key_labels[hsm->key_label_count++], label);
out:
    pthread_mutex_unlock(&hsm->cache_lock);
}

void
hal_hsm_cache_clear(struct hal_hsm *hsm)
{
    pthread_mutex_lock(&hsm->cache_lock);
    hsm->key_label_count = 0;
    pthread_mutex_unlock(&hsm->cache_lock);
}
