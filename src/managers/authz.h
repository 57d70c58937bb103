/*
 * Authorization manager: what each kind of caller may do. Each check
 * returns ADCP_OK, ADCP_ERR_UNAUTHENTICATED (no credentials) or
 * ADCP_ERR_FORBIDDEN (credentials that do not allow the operation), with a
 * message that names the operation and the credential it needs.
 */
#ifndef HSM4SSL_MANAGERS_AUTHZ_H
#define HSM4SSL_MANAGERS_AUTHZ_H

#include "managers/service.h"

enum adcp_status authz_require_admin(const struct service_caller *caller,
                                     const char *operation,
                                     struct adcp_error *err);

/* Admin or a host with its client certificate. */
enum adcp_status authz_require_host_or_admin(
    const struct service_caller *caller, const char *operation,
    struct adcp_error *err);

/* Admin, a host with its client certificate, or an enrolment token. */
enum adcp_status authz_require_enrolled(const struct service_caller *caller,
                                        const char *operation,
                                        struct adcp_error *err);

#endif
