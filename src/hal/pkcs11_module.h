/*
 * PKCS#11 modules: loaded with dlopen by path, initialised once per path
 * with CKF_OS_LOCKING_OK and no mutex callbacks, finalised when freed.
 * Tokens are found by label, because module slot IDs are not stable
 * (SoftHSM2 assigns a new one when a token is initialised).
 */
#ifndef HSM4SSL_HAL_PKCS11_MODULE_H
#define HSM4SSL_HAL_PKCS11_MODULE_H

#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdbool.h>

#include "adcp/adcp.h"

#define PKCS11_LABEL_LEN 32 /* CK_TOKEN_INFO.label, padded with spaces */

struct pkcs11_module {
    char path[ADCP_PATH_MAX];
    char init_args[ADCP_PATH_MAX]; /* pReserved of C_Initialize, or "" */
    void *handle;                  /* from dlopen */
    CK_FUNCTION_LIST *fn;
    bool finalize;                 /* C_Initialize was ours: C_Finalize it */
    /* Taken around every call into the module when its HSMs serialise
     * calls (one that does makes all of the module's HSMs do). Recursive,
     * so that recovery may run inside a serialised call. */
    pthread_mutex_t call_lock;
};

/*
 * Loads and initialises the module at path. init_args ("" for none) goes
 * to C_Initialize as pReserved. A module that another part of the process
 * initialised already (CKR_CRYPTOKI_ALREADY_INITIALIZED) is used but not
 * finalised. Returns ADCP_OK with *out set, or ADCP_ERR_HSM.
 */
enum adcp_status pkcs11_module_load(const char *path, const char *init_args,
                                    struct pkcs11_module **out,
                                    struct adcp_error *err);

/* Finalises (when it was ours) and unloads the module. Accepts NULL. */
void pkcs11_module_free(struct pkcs11_module *module);

/* Writes label into out padded with spaces, as CK_TOKEN_INFO holds it.
 * Returns false when label is longer than PKCS11_LABEL_LEN bytes. */
bool pkcs11_label_pad(unsigned char out[PKCS11_LABEL_LEN], const char *label);

/*
 * Scans the slots that hold a token for the one labelled label. Returns
 * CKR_OK with *found telling whether one was, and then *slot and
 * *token_flags (CK_TOKEN_INFO.flags) set; or the module's error.
 */
CK_RV pkcs11_module_find_token(struct pkcs11_module *module, const char *label,
                               bool *found, CK_SLOT_ID *slot,
                               CK_FLAGS *token_flags);

/* Finds a slot whose token is present but not initialised
 * (CKF_TOKEN_INITIALIZED clear). Same return convention. */
CK_RV pkcs11_module_find_free_slot(struct pkcs11_module *module, bool *found,
                                   CK_SLOT_ID *slot);

#endif
