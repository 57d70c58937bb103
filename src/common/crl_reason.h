/*
 * CRLReason codes of RFC 5280, section 5.3.1, by value and by name, shared
 * by the service (request decoding, storage, CRL entries) and the CLI.
 *
 * Value 7 is not assigned. removeFromCRL (8) belongs to delta CRLs,
 * which this CA does not issue, so a revocation request cannot use it.
 * Nor can it use the reasons that do not apply to a host certificate:
 * cACompromise (2) is for a CA's key, aACompromise (10) for attribute
 * certificates, and certificateHold (6) is a hold that only
 * removeFromCRL could lift.
 */
#ifndef HSM4SSL_COMMON_CRL_REASON_H
#define HSM4SSL_COMMON_CRL_REASON_H

#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stddef.h>

/* OpenSSL names the values: CRL_REASON_UNSPECIFIED (0) to
 * CRL_REASON_AA_COMPROMISE (10). */
#define CRL_REASON_LAST CRL_REASON_AA_COMPROMISE

/* The names a revocation request accepts, comma-separated, for error
 * messages and help text. */
#define CRL_REASON_ACCEPTED                                                 \
    "unspecified, keyCompromise, affiliationChanged, superseded, "          \
    "cessationOfOperation, privilegeWithdrawn (or their values 0, 1, 3, "   \
    "4, 5, 9)"

/* Returns the RFC 5280 name of value, or NULL when value is not assigned
 * (below 0, 7, above 10). */
const char *crl_reason_name(int value);

/* Returns true when value may be stored for a revocation: assigned, and
 * not removeFromCRL. */
bool crl_reason_is_revocable(int value);

/*
 * Parses a reason given as its RFC 5280 name (compared without regard to
 * case) or as its decimal value. Returns 0 with *value set, or -1 when
 * text names no reason a revocation request accepts. On failure, problem
 * receives the end of a sentence that starts with the value, such as "is
 * not assigned in RFC 5280", when problem is not NULL.
 */
int crl_reason_parse(const char *text, int *value, char *problem,
                     size_t size);

#endif
