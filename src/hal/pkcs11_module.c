#include "hal/pkcs11_module.h"

#include <dlfcn.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hal/pkcs11_errors.h"

static int
call_lock_init(pthread_mutex_t *lock)
{
    pthread_mutexattr_t attr;
    int rc;

    if (pthread_mutexattr_init(&attr) != 0)
        return -1;
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    rc = pthread_mutex_init(lock, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

static enum adcp_status
module_open(struct pkcs11_module *module, struct adcp_error *err)
{
    CK_C_GetFunctionList get_function_list;
    CK_RV rv;

    module->handle = dlopen(module->path, RTLD_NOW | RTLD_LOCAL);
    if (module->handle == NULL)
        return adcp_error_set(err, ADCP_ERR_HSM, "module_path",
                              "cannot load PKCS#11 module \"%s\": %s; check "
                              "the path and that the package is installed",
                              module->path, dlerror());
    /* POSIX allows converting dlsym's result to a function pointer. */
    *(void **)&get_function_list =
        dlsym(module->handle, "C_GetFunctionList");
    if (get_function_list == NULL)
        return adcp_error_set(err, ADCP_ERR_HSM, "module_path",
                              "\"%s\" exports no C_GetFunctionList, so it is "
                              "not a PKCS#11 module", module->path);
    rv = get_function_list(&module->fn);
    if (rv != CKR_OK || module->fn == NULL)
        return adcp_error_set(err, ADCP_ERR_HSM, "module_path",
                              "C_GetFunctionList of \"%s\" failed: %s (%s)",
                              module->path, pkcs11_rv_name(rv),
                              pkcs11_rv_sentence(rv));
    return ADCP_OK;
}

/* One C_Initialize per module path: OS locking and no mutex callbacks is
 * the only mode that SoftHSM2, NSS, openCryptoki, the p11-kit client and
 * tpm2-pkcs11 all accept. NSS requires its configuration in pReserved. */
static enum adcp_status
module_initialize(struct pkcs11_module *module, struct adcp_error *err)
{
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    if (module->init_args[0] != '\0')
        args.pReserved = module->init_args;
    rv = module->fn->C_Initialize(&args);
    /* SoftHSM2 2.6.1 uses OpenSSL too, and its C_Initialize leaves the
     * errors of a failed ENGINE load in this thread's queue. They would
     * head the next log line about a failed OpenSSL call of ours. */
    ERR_clear_error();
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        log_warn("PKCS#11 module \"%s\" was initialised already by another "
                 "part of the process; it will not be finalised",
                 module->path);
        return ADCP_OK;
    }
    if (rv != CKR_OK)
        return adcp_error_set(err, ADCP_ERR_HSM, "init_args",
                              "C_Initialize of \"%s\" failed: %s (%s); check "
                              "the module's configuration and init_args",
                              module->path, pkcs11_rv_name(rv),
                              pkcs11_rv_sentence(rv));
    module->finalize = true;
    return ADCP_OK;
}

enum adcp_status
pkcs11_module_load(const char *path, const char *init_args,
                   struct pkcs11_module **out, struct adcp_error *err)
{
    struct pkcs11_module *module = NULL;
    enum adcp_status status = ADCP_ERR_INTERNAL;

    *out = NULL;
    if (strlen(path) >= sizeof(module->path) ||
        strlen(init_args) >= sizeof(module->init_args))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "module_path",
                              "the module path or init_args is longer than "
                              "%d bytes", ADCP_PATH_MAX - 1);
    module = calloc(1, sizeof(*module));
    if (module == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory loading \"%s\"", path);
    if (call_lock_init(&module->call_lock) != 0) {
        free(module);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cannot create a mutex for \"%s\"", path);
    }
    strcpy(module->path, path);
    strcpy(module->init_args, init_args);
    if ((status = module_open(module, err)) != ADCP_OK)
        goto out;
    if ((status = module_initialize(module, err)) != ADCP_OK)
        goto out;
    log_info("loaded PKCS#11 module \"%s\"", module->path);
    *out = module;
    module = NULL;
    status = ADCP_OK;
out:
    pkcs11_module_free(module);
    return status;
}

void
pkcs11_module_free(struct pkcs11_module *module)
{
    CK_RV rv;

    if (module == NULL)
        return;
    if (module->finalize) {
        rv = module->fn->C_Finalize(NULL);
        if (rv != CKR_OK)
            log_warn("C_Finalize of \"%s\" failed: %s", module->path,
                     pkcs11_rv_name(rv));
    }
    if (module->handle != NULL)
        dlclose(module->handle);
    pthread_mutex_destroy(&module->call_lock);
    free(module);
}

bool
pkcs11_label_pad(unsigned char out[PKCS11_LABEL_LEN], const char *label)
{
    size_t len = strlen(label);

    if (len > PKCS11_LABEL_LEN)
        return false;
    memset(out, ' ', PKCS11_LABEL_LEN);
    memcpy(out, label, len);
    return true;
}

/* Returns the slots that hold a token, in a heap array, or the error. */
static CK_RV
token_slots(struct pkcs11_module *module, CK_SLOT_ID **slots,
            CK_ULONG *count)
{
    CK_SLOT_ID *list = NULL;
    CK_ULONG n = 0;
    CK_RV rv;

    *slots = NULL;
    *count = 0;
    /* The count may grow between the two calls (a token appeared), so a
     * short buffer is retried with the new size. */
    for (;;) {
        rv = module->fn->C_GetSlotList(CK_TRUE, NULL, &n);
        if (rv != CKR_OK || n == 0)
            break;
        free(list);
        list = calloc(n, sizeof(*list));
        if (list == NULL)
            return CKR_HOST_MEMORY;
        rv = module->fn->C_GetSlotList(CK_TRUE, list, &n);
        if (rv != CKR_BUFFER_TOO_SMALL)
            break;
    }
    if (rv != CKR_OK) {
        free(list);
        return rv;
    }
    *slots = list;
    *count = n;
    return CKR_OK;
}

CK_RV
pkcs11_module_find_token(struct pkcs11_module *module, const char *label,
                         bool *found, CK_SLOT_ID *slot,
                         CK_FLAGS *token_flags)
{
    unsigned char padded[PKCS11_LABEL_LEN];
    CK_TOKEN_INFO info;
    CK_SLOT_ID *slots = NULL;
    CK_ULONG count = 0;
    CK_RV rv;

    *found = false;
    if (!pkcs11_label_pad(padded, label))
        return CKR_ARGUMENTS_BAD;
    rv = token_slots(module, &slots, &count);
    for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
        /* A token removed since the slot list was read is skipped. */
        if (module->fn->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue;
        if (memcmp(info.label, padded, PKCS11_LABEL_LEN) != 0)
            continue;
        if (*found) {
            log_warn("module \"%s\" has several tokens labelled \"%s\"; "
                     "using slot %lu", module->path, label,
                     (unsigned long)*slot);
            break;
        }
        *found = true;
        *slot = slots[i];
        *token_flags = info.flags;
    }
    free(slots);
    return rv;
}

CK_RV
pkcs11_module_find_free_slot(struct pkcs11_module *module, bool *found,
                             CK_SLOT_ID *slot)
{
    CK_TOKEN_INFO info;
    CK_SLOT_ID *slots = NULL;
    CK_ULONG count = 0;
    CK_RV rv;

    *found = false;
    rv = token_slots(module, &slots, &count);
    for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
        if (module->fn->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue;
        if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) {
            *found = true;
            *slot = slots[i];
            break;
        }
    }
    free(slots);
    return rv;
}
