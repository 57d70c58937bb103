/*
 * Key objects through PKCS#11: templates for generation, search by label,
 * attribute reads, and the raw sign call. Every function takes a session
 * that the caller borrowed and returns the module's CK_RV; the HAL turns
 * results into messages.
 */
#ifndef HSM4SSL_HAL_PKCS11_KEYS_H
#define HSM4SSL_HAL_PKCS11_KEYS_H

#include <p11-kit/pkcs11.h>
#include <stdbool.h>
#include <stddef.h>

#include "hal/hal.h"

/* Any object class, for pkcs11_object_find. */
#define PKCS11_CLASS_ANY ((CK_OBJECT_CLASS)-1)

/*
 * Finds the first object of class (or any class) whose CKA_LABEL is label
 * and, when id_len > 0, whose CKA_ID is id. Returns CKR_OK with *found
 * set, and *out when found.
 */
CK_RV pkcs11_object_find(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                         CK_OBJECT_CLASS object_class, const char *label,
                         const unsigned char *id, size_t id_len,
                         bool *found, CK_OBJECT_HANDLE *out);

/* Reads one attribute into a heap buffer that the caller frees. */
CK_RV pkcs11_attribute_read(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                            CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                            unsigned char **value, size_t *len);

/* Reads a CK_ULONG attribute (CKA_KEY_TYPE, CKA_VALUE_LEN, ...). */
CK_RV pkcs11_attribute_ulong(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                             CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                             CK_ULONG *out);

/*
 * Generates spec's key as token objects with CKA_LABEL spec->label and
 * CKA_ID id: RSA (e = 65537) and EC pairs, or an AES key (then
 * *public_handle is CK_INVALID_HANDLE). The private or secret key is
 * private and sensitive, extractable only with spec->extractable, and
 * allowed to sign (EC, RSA), decrypt (RSA) or encrypt and decrypt (AES).
 * spec must have been checked with pkcs11_keygen_check.
 */
CK_RV pkcs11_key_generate(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                          const struct hal_keygen *spec,
                          const unsigned char *id, size_t id_len,
                          CK_OBJECT_HANDLE *private_handle,
                          CK_OBJECT_HANDLE *public_handle);

/* Returns NULL when spec is acceptable, else a sentence naming the value
 * and the allowed ones. */
const char *pkcs11_keygen_check(const struct hal_keygen *spec);

/* Sets CKA_ID on an object. */
CK_RV pkcs11_object_set_id(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                           CK_OBJECT_HANDLE object, const unsigned char *id,
                           size_t id_len);

/* DER OID of the named curve for 256, 384 or 521 bits (CKA_EC_PARAMS),
 * NULL for other sizes. */
const unsigned char *pkcs11_ec_params(unsigned bits, size_t *len);

/* Returns 256, 384 or 521 for a known CKA_EC_PARAMS, else 0. */
unsigned pkcs11_ec_bits(const unsigned char *params, size_t len);

/* Returns the OpenSSL group name ("P-256") for 256, 384 or 521 bits. */
const char *pkcs11_ec_group_name(unsigned bits);

/*
 * Runs C_SignInit and C_Sign with mechanism on key over in. *out_len is
 * the size of out on entry and the signature length on return. Sets
 * *discard when the session may be left with an operation active.
 */
CK_RV pkcs11_sign(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE session,
                  CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key,
                  const unsigned char *in, size_t in_len, unsigned char *out,
                  size_t *out_len, bool *discard);

#endif
