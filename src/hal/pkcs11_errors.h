/*
 * CK_RV values as text: the constant's name for logs and a sentence for
 * error messages, both read from one table in pkcs11_errors.c.
 */
#ifndef HSM4SSL_HAL_PKCS11_ERRORS_H
#define HSM4SSL_HAL_PKCS11_ERRORS_H

#include <p11-kit/pkcs11.h>
#include <stdbool.h>

/* Returns the constant's name ("CKR_PIN_INCORRECT"), or "CKR_0x..." from a
 * static buffer per thread for a value the table does not list. */
const char *pkcs11_rv_name(CK_RV rv);

/* Returns a short sentence without a final period ("the PIN is wrong"). */
const char *pkcs11_rv_sentence(CK_RV rv);

/* Returns true for the values that mean the token or the module behind it
 * is gone: CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT and
 * CKR_SESSION_HANDLE_INVALID. */
bool pkcs11_rv_is_device_down(CK_RV rv);

#endif
