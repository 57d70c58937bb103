#include "managers/authz.h"

static enum adcp_status
reject(const struct service_caller *caller, const char *operation,
       const char *needed, struct adcp_error *err)
{
    /* An enrolment token gets the same 401 as a wrong token wherever it
     * is not accepted, so a caller cannot tell an unused token apart from
     * a bad one without spending it. */
    enum adcp_status code = caller->role == SERVICE_ROLE_ANONYMOUS ||
                                    caller->role == SERVICE_ROLE_ENROLLMENT
                                ? ADCP_ERR_UNAUTHENTICATED
                                : ADCP_ERR_FORBIDDEN;

    return adcp_error_set(err, code, "authorization", "%s needs %s",
                          operation, needed);
}

enum adcp_status
authz_require_admin(const struct service_caller *caller,
                    const char *operation, struct adcp_error *err)
{
    if (caller->role == SERVICE_ROLE_ADMIN)
        return ADCP_OK;
    return reject(caller, operation,
                  "the admin token ('Authorization: Bearer <admin token>')",
                  err);
}

enum adcp_status
authz_require_host_or_admin(const struct service_caller *caller,
                            const char *operation, struct adcp_error *err)
{
    if (caller->role == SERVICE_ROLE_ADMIN ||
        caller->role == SERVICE_ROLE_HOST)
        return ADCP_OK;
    return reject(caller, operation,
                  "a client certificate issued by this CA or the admin token",
                  err);
}

enum adcp_status
authz_require_enrolled(const struct service_caller *caller,
                       const char *operation, struct adcp_error *err)
{
    if (caller->role != SERVICE_ROLE_ANONYMOUS)
        return ADCP_OK;
    return reject(caller, operation,
                  "an enrolment token, a client certificate issued by this "
                  "CA or the admin token",
                  err);
}
