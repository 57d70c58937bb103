/*
 * certificate_revoke: the administrator revokes any host certificate, and
 * a host (authenticated with its client certificate) revokes the
 * certificates issued to its own host record. The CA's own certificates,
 * the root and the API's TLS certificate, are not revoked this way: their
 * rows have no host.
 *
 * The revocation is committed before the response. The cached CRL is
 * then marked out of date and the certificate's cached OCSP responses
 * are removed, so the next CRL or OCSP request reports the revocation.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/crl_reason.h"
#include "common/log.h"
#include "common/time_rfc3339.h"
#include "managers/authz.h"
#include "managers/cert_crl.h"
#include "managers/ocsp.h"
#include "managers/service.h"

/* Checks that caller may revoke cert. */
static enum adcp_status
check_owner(const struct service_caller *caller, const struct store_cert *cert,
            struct adcp_error *err)
{
    if (cert->host_id == 0)
        return adcp_error_set(err, ADCP_ERR_FORBIDDEN, "serial",
                              "certificate %s is one of the CA's own "
                              "certificates (the root or the API's TLS "
                              "certificate), which certificate_revoke does "
                              "not revoke; replace the CA or its API "
                              "certificate instead",
                              cert->serial);
    if (caller->role == SERVICE_ROLE_HOST && cert->host_id != caller->host_id)
        return adcp_error_set(err, ADCP_ERR_FORBIDDEN, "serial",
                              "host %s may revoke only the certificates "
                              "issued to it, and certificate %s was issued "
                              "to another host; ask the administrator",
                              caller->host_name, cert->serial);
    return ADCP_OK;
}

static json_t *
revoked_to_json(const char *serial, time_t revoked_at, int reason)
{
    char when[32];

    time_rfc3339_format(revoked_at, when);
    return json_pack("{s:s, s:s, s:s, s:s}", "serial", serial,
                     "revocation_status", "revoked", "revoked_at", when,
                     "reason", crl_reason_name(reason));
}

enum adcp_status
cert_manager_revoke(struct service *svc, const struct service_caller *caller,
                    const struct adcp_msg *request, struct adcp_msg *response)
{
    const struct adcp_body *body = &request->body;
    char serial[ADCP_SERIAL_MAX];
    struct store_cert cert = {0};
    time_t now = time(NULL);
    struct adcp_error err;
    enum adcp_status rc;

    rc = authz_require_host_or_admin(caller, "certificate_revoke", &err);
    if (rc == ADCP_OK)
        rc = cert_serial_normalise(body->serial, serial, &err);
    if (rc == ADCP_OK)
        rc = store_cert_get(svc->store, serial, &cert, &err);
    if (rc == ADCP_OK)
        rc = check_owner(caller, &cert, &err);
    if (rc == ADCP_OK)
        rc = store_cert_revoke(svc->store, serial, body->reason, now, &err);
    if (rc != ADCP_OK)
        goto out;
    cert_crl_cache_invalidate(svc->crl);
    ocsp_responder_forget(svc->ocsp, serial);
    adcp_msg_succeed(response, revoked_to_json(serial, now, body->reason));
    log_info("adcp id=%s revoked certificate %s (%s) of host id %lld, "
             "reason %s, requested by %s",
             request->header.message_id, serial, cert.subject,
             (long long)cert.host_id, crl_reason_name(body->reason),
             caller->role == SERVICE_ROLE_ADMIN ? "the administrator"
                                                : caller->host_name);
out:
    store_cert_clear(&cert);
    if (rc != ADCP_OK)
        adcp_msg_fail(response, &err);
    return rc;
}
