#include "hal/pkcs11_errors.h"

#include <stddef.h>
#include <stdio.h>

struct rv_text {
    CK_RV rv;
    const char *name;
    const char *sentence;
};

#define RV(code, text) {code, #code, text}

/* Sentences follow the PKCS#11 2.40 meanings of each code. */
static const struct rv_text rv_table[] = {
    RV(CKR_OK, "the call succeeded"),
    RV(CKR_CANCEL, "the call was cancelled"),
    RV(CKR_HOST_MEMORY, "the host ran out of memory"),
    RV(CKR_SLOT_ID_INVALID, "the slot ID does not exist"),
    RV(CKR_GENERAL_ERROR, "the module hit an unrecoverable error"),
    RV(CKR_FUNCTION_FAILED, "the module could not perform the request"),
    RV(CKR_ARGUMENTS_BAD, "the module rejected the arguments"),
    RV(CKR_NO_EVENT, "no slot event is pending"),
    RV(CKR_NEED_TO_CREATE_THREADS, "the module needs to create threads"),
    RV(CKR_CANT_LOCK, "the module cannot use the requested locking"),
    RV(CKR_ATTRIBUTE_READ_ONLY, "the attribute cannot be set"),
    RV(CKR_ATTRIBUTE_SENSITIVE, "the attribute is sensitive and cannot be "
                                "read"),
    RV(CKR_ATTRIBUTE_TYPE_INVALID, "the object has no such attribute"),
    RV(CKR_ATTRIBUTE_VALUE_INVALID, "an attribute value is invalid"),
    RV(CKR_ACTION_PROHIBITED, "the action is prohibited by the object's "
                              "attributes"),
    RV(CKR_DATA_INVALID, "the input data is invalid for the mechanism"),
    RV(CKR_DATA_LEN_RANGE, "the input data has the wrong length"),
    RV(CKR_DEVICE_ERROR, "the token or its connection failed"),
    RV(CKR_DEVICE_MEMORY, "the token is out of memory"),
    RV(CKR_DEVICE_REMOVED, "the token was removed"),
    RV(CKR_ENCRYPTED_DATA_INVALID, "the ciphertext is invalid"),
    RV(CKR_ENCRYPTED_DATA_LEN_RANGE, "the ciphertext has the wrong length"),
    RV(CKR_FUNCTION_CANCELED, "the function was cancelled"),
    RV(CKR_FUNCTION_NOT_PARALLEL, "the function cannot run in parallel"),
    RV(CKR_FUNCTION_NOT_SUPPORTED, "the module does not support the "
                                   "function"),
    RV(CKR_KEY_HANDLE_INVALID, "the key handle is not valid"),
    RV(CKR_KEY_SIZE_RANGE, "the key size is outside the supported range"),
    RV(CKR_KEY_TYPE_INCONSISTENT, "the key type does not fit the "
                                  "mechanism"),
    RV(CKR_KEY_FUNCTION_NOT_PERMITTED, "the key's attributes do not allow "
                                       "this use"),
    RV(CKR_MECHANISM_INVALID, "the token does not support the mechanism"),
    RV(CKR_MECHANISM_PARAM_INVALID, "the mechanism parameters are invalid"),
    RV(CKR_OBJECT_HANDLE_INVALID, "the object handle is not valid"),
    RV(CKR_OPERATION_ACTIVE, "another operation is active on the session"),
    RV(CKR_OPERATION_NOT_INITIALIZED, "no operation was initialised on the "
                                      "session"),
    RV(CKR_PIN_INCORRECT, "the PIN is wrong"),
    RV(CKR_PIN_INVALID, "the PIN contains characters the token rejects"),
    RV(CKR_PIN_LEN_RANGE, "the PIN is too long or too short for the "
                          "token"),
    RV(CKR_PIN_EXPIRED, "the PIN has expired"),
    RV(CKR_PIN_LOCKED, "the PIN is locked after too many wrong tries"),
    RV(CKR_SESSION_CLOSED, "the session was closed"),
    RV(CKR_SESSION_COUNT, "the token cannot open more sessions"),
    RV(CKR_SESSION_HANDLE_INVALID, "the session handle is not valid"),
    RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED, "the token does not support "
                                           "parallel sessions"),
    RV(CKR_SESSION_READ_ONLY, "the session is read-only"),
    RV(CKR_SESSION_EXISTS, "sessions with the token are still open"),
    RV(CKR_SESSION_READ_ONLY_EXISTS, "a read-only session is open, so the "
                                     "SO cannot log in"),
    RV(CKR_SESSION_READ_WRITE_SO_EXISTS, "a read-write SO session is open"),
    RV(CKR_SIGNATURE_INVALID, "the signature is invalid"),
    RV(CKR_SIGNATURE_LEN_RANGE, "the signature has the wrong length"),
    RV(CKR_TEMPLATE_INCOMPLETE, "the template lacks a required attribute"),
    RV(CKR_TEMPLATE_INCONSISTENT, "the template has conflicting "
                                  "attributes"),
    RV(CKR_TOKEN_NOT_PRESENT, "no token is present in the slot"),
    RV(CKR_TOKEN_NOT_RECOGNIZED, "the module does not recognise the "
                                 "token"),
    RV(CKR_TOKEN_WRITE_PROTECTED, "the token is write-protected"),
    RV(CKR_USER_ALREADY_LOGGED_IN, "the user is already logged in"),
    RV(CKR_USER_NOT_LOGGED_IN, "the user is not logged in"),
    RV(CKR_USER_PIN_NOT_INITIALIZED, "the user PIN was never set"),
    RV(CKR_USER_TYPE_INVALID, "the user type is invalid"),
    RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "another user is already logged "
                                           "in"),
    RV(CKR_USER_TOO_MANY_TYPES, "too many user types are logged in"),
    RV(CKR_WRAPPED_KEY_INVALID, "the wrapped key is invalid"),
    RV(CKR_WRAPPED_KEY_LEN_RANGE, "the wrapped key has the wrong length"),
    RV(CKR_WRAPPING_KEY_HANDLE_INVALID, "the wrapping key handle is not "
                                        "valid"),
    RV(CKR_RANDOM_SEED_NOT_SUPPORTED, "the token's generator takes no "
                                      "seed"),
    RV(CKR_RANDOM_NO_RNG, "the token has no random number generator"),
    RV(CKR_DOMAIN_PARAMS_INVALID, "the domain parameters (curve) are "
                                  "invalid or unsupported"),
    RV(CKR_CURVE_NOT_SUPPORTED, "the token does not support the curve"),
    RV(CKR_BUFFER_TOO_SMALL, "the output buffer is too small"),
    RV(CKR_SAVED_STATE_INVALID, "the saved state is invalid"),
    RV(CKR_INFORMATION_SENSITIVE, "the information is sensitive"),
    RV(CKR_STATE_UNSAVEABLE, "the state cannot be saved"),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED, "the module was not initialised"),
    RV(CKR_CRYPTOKI_ALREADY_INITIALIZED, "the module was initialised "
                                         "already"),
    RV(CKR_MUTEX_BAD, "the module was given a bad mutex"),
    RV(CKR_MUTEX_NOT_LOCKED, "the mutex was not locked"),
    RV(CKR_FUNCTION_REJECTED, "the token rejected the function"),
};

static const struct rv_text *
rv_lookup(CK_RV rv)
{
    for (size_t i = 0; i < sizeof(rv_table) / sizeof(rv_table[0]); i++) {
        if (rv_table[i].rv == rv)
            return &rv_table[i];
    }
    return NULL;
}

const char *
pkcs11_rv_name(CK_RV rv)
{
    static _Thread_local char unknown[32];
    const struct rv_text *entry = rv_lookup(rv);

    if (entry != NULL)
        return entry->name;
    snprintf(unknown, sizeof(unknown), "CKR_0x%08lx", (unsigned long)rv);
    return unknown;
}

const char *
pkcs11_rv_sentence(CK_RV rv)
{
    const struct rv_text *entry = rv_lookup(rv);

    if (entry != NULL)
        return entry->sentence;
    if (rv >= CKR_VENDOR_DEFINED)
        return "the module returned a vendor-defined error";
    return "the module returned an unknown error";
}

bool
pkcs11_rv_is_device_down(CK_RV rv)
{
    switch (rv) {
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_HANDLE_INVALID:
        return true;
    default:
        return false;
    }
}
