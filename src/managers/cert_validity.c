/*
 * The validity of new certificates (RFC 5280, section 4.1.2.5): notBefore
 * a little in the past, notAfter after the requested days, both within
 * the CA certificate's own validity.
 */
#include "managers/cert_issue.h"

#include <openssl/asn1.h>
#include <stdbool.h>
#include <time.h>

#include "managers/cert_internal.h"

/* notBefore lies this far in the past so that a relying party whose clock
 * runs a little behind still accepts a certificate issued just now. */
#define CERT_BACKDATE_SECONDS 60
#define SECONDS_PER_DAY 86400

/* Converts an ASN1_TIME to seconds since the epoch. */
bool
cert_time_of_asn1(const ASN1_TIME *when, time_t *out)
{
    struct tm tm;

    if (when == NULL || ASN1_TIME_to_tm(when, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

/*
 * Computes notBefore as now minus CERT_BACKDATE_SECONDS and notAfter as
 * now plus days. Under a CA (ca_cert not NULL) neither may leave the CA's
 * own validity, so both are clamped to it, and an expired CA issues
 * nothing.
 */
enum adcp_status
cert_validity_of(const X509 *ca_cert, int days, time_t *not_before_out,
                 time_t *not_after_out, struct adcp_error *err)
{
    time_t now = time(NULL);
    time_t not_before = now - CERT_BACKDATE_SECONDS;
    time_t not_after = now + (time_t)days * SECONDS_PER_DAY;
    time_t ca_not_before, ca_not_after;

    if (ca_cert != NULL) {
        if (!cert_time_of_asn1(X509_get0_notBefore(ca_cert), &ca_not_before) ||
            !cert_time_of_asn1(X509_get0_notAfter(ca_cert), &ca_not_after))
            return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                  "the CA certificate's validity cannot "
                                  "be read; check the CA certificate");
        if (ca_not_after <= now)
            return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                  "the CA certificate expired at %lld; "
                                  "renew the CA before issuing",
                                  (long long)ca_not_after);
        if (not_before < ca_not_before)
            not_before = ca_not_before;
        if (not_after > ca_not_after)
            not_after = ca_not_after;
    }
    *not_before_out = not_before;
    *not_after_out = not_after;
    return ADCP_OK;
}

enum adcp_status
cert_validity_set(X509 *cert, const X509 *ca_cert, int days,
                  struct adcp_error *err)
{
    time_t not_before = 0, not_after = 0;
    enum adcp_status status;

    status = cert_validity_of(ca_cert, days, &not_before, &not_after, err);
    if (status != ADCP_OK)
        return status;
    if (ASN1_TIME_set(X509_getm_notBefore(cert), not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(cert), not_after) == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the certificate's validity cannot be "
                              "encoded for %d days",
                              days);
    return ADCP_OK;
}
