#include "common/crl_reason.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static const char *const reason_names[CRL_REASON_LAST + 1] = {
    [CRL_REASON_UNSPECIFIED] = "unspecified",
    [CRL_REASON_KEY_COMPROMISE] = "keyCompromise",
    [CRL_REASON_CA_COMPROMISE] = "cACompromise",
    [CRL_REASON_AFFILIATION_CHANGED] = "affiliationChanged",
    [CRL_REASON_SUPERSEDED] = "superseded",
    [CRL_REASON_CESSATION_OF_OPERATION] = "cessationOfOperation",
    [CRL_REASON_CERTIFICATE_HOLD] = "certificateHold",
    [CRL_REASON_REMOVE_FROM_CRL] = "removeFromCRL",
    [CRL_REASON_PRIVILEGE_WITHDRAWN] = "privilegeWithdrawn",
    [CRL_REASON_AA_COMPROMISE] = "aACompromise",
};

const char *
crl_reason_name(int value)
{
    if (value < 0 || value > CRL_REASON_LAST)
        return NULL;
    return reason_names[value];
}

bool
crl_reason_is_revocable(int value)
{
    return crl_reason_name(value) != NULL &&
           value != CRL_REASON_REMOVE_FROM_CRL;
}

/* Reads text as a decimal value from 0 to 99; returns -1 otherwise. */
static int
parse_decimal(const char *text)
{
    char *end;
    long value;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value > 99)
        return -1;
    return (int)value;
}

static int
parse_name(const char *text)
{
    for (int value = 0; value <= CRL_REASON_LAST; value++)
        if (reason_names[value] != NULL &&
            strcasecmp(text, reason_names[value]) == 0)
            return value;
    return -1;
}

static void
set_problem(char *problem, size_t size, const char *text)
{
    if (problem != NULL && size > 0)
        snprintf(problem, size, "%s", text);
}

int
crl_reason_parse(const char *text, int *value, char *problem, size_t size)
{
    int parsed = parse_decimal(text);

    if (parsed < 0)
        parsed = parse_name(text);
    if (parsed < 0) {
        set_problem(problem, size, "is not an RFC 5280 reason code");
        return -1;
    }
    if (crl_reason_name(parsed) == NULL) {
        set_problem(problem, size, "is not assigned in RFC 5280");
        return -1;
    }
    switch (parsed) {
    case CRL_REASON_REMOVE_FROM_CRL:
        set_problem(problem, size,
                    "is removeFromCRL, which applies only to delta CRLs, "
                    "and this CA issues none");
        return -1;
    case CRL_REASON_CERTIFICATE_HOLD:
        set_problem(problem, size,
                    "is certificateHold, a hold that only removeFromCRL "
                    "in a delta CRL could lift, and this CA issues none");
        return -1;
    case CRL_REASON_CA_COMPROMISE:
        set_problem(problem, size,
                    "is cACompromise, which reports a compromised CA key, "
                    "and host certificates are not CA certificates");
        return -1;
    case CRL_REASON_AA_COMPROMISE:
        set_problem(problem, size,
                    "is aACompromise, which applies to attribute "
                    "certificates, and this CA issues none");
        return -1;
    default:
        *value = parsed;
        return 0;
    }
}
