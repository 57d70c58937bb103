#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time_rfc3339.h"
#include "managers/authz.h"
#include "managers/service.h"

/* Finds the host the certificate is for: the caller's own, or for the
 * admin the one named in the body's host object. */
static enum adcp_status
resolve_host(struct service *svc, const struct service_caller *caller,
             const struct adcp_msg *request, struct store_host *host,
             struct adcp_error *err)
{
    const struct adcp_host_info *info = &request->body.host;
    enum adcp_status rc;

    if (caller->role != SERVICE_ROLE_ADMIN)
        return store_host_get_by_id(svc->store, caller->host_id, host, err);
    if (!info->present || info->name[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "host.name",
                              "with the admin token, name the host the "
                              "certificate is for in \"host\": "
                              "{\"name\": ...}");
    rc = store_host_get_by_name(svc->store, info->name, host, err);
    if (rc == ADCP_ERR_NOT_FOUND)
        return adcp_error_set(err, ADCP_ERR_NOT_FOUND, "host.name",
                              "host \"%.80s\" is not registered; register it "
                              "with POST /v1/hosts first",
                              info->name);
    return rc;
}

/* Writes the CSR to a new temporary file in dir and renames it to file.
 * Each writer gets its own temporary name, so that two requests storing
 * the same file at once cannot remove or rename each other's. Returns 0,
 * or -1 with errno set. */
static int
write_csr_file(const char *dir, const char *file, const char *csr)
{
    char temp_path[ADCP_PATH_MAX + 2 * ADCP_NAME_MAX + 16];
    char final_path[sizeof(temp_path)];
    size_t len = strlen(csr);
    int fd, saved_errno;

    snprintf(temp_path, sizeof(temp_path), "%s/%s.tmp.XXXXXX", dir, file);
    snprintf(final_path, sizeof(final_path), "%s/%s", dir, file);
    fd = mkostemp(temp_path, O_CLOEXEC);
    if (fd < 0)
        return -1;
    errno = EIO; /* a short write leaves errno alone */
    if (write(fd, csr, len) != (ssize_t)len || fsync(fd) != 0) {
        saved_errno = errno;
        close(fd);
        goto fail;
    }
    if (close(fd) != 0 || rename(temp_path, final_path) != 0) {
        saved_errno = errno;
        goto fail;
    }
    return 0;

fail:
    unlink(temp_path);
    errno = saved_errno;
    return -1;
}

/* Stores the CSR as csr_dir/HOST/FILE, replacing an older one atomically.
 * Both names were checked to be plain names. */
static enum adcp_status
save_csr(struct service *svc, const char *host_name, const char *file,
         const char *csr, struct adcp_error *err)
{
    char dir[ADCP_PATH_MAX + ADCP_NAME_MAX + 2];

    snprintf(dir, sizeof(dir), "%s/%s", svc->csr_dir, host_name);
    if ((mkdir(dir, 0700) == 0 || errno == EEXIST) &&
        write_csr_file(dir, file, csr) == 0)
        return ADCP_OK;
    log_error("cannot store CSR %s of host %s in %s: %s", file, host_name,
              svc->csr_dir, strerror(errno));
    return adcp_error_set(err, ADCP_ERR_STORAGE, "csr_details.csr_file",
                          "the server cannot store CSR file %s; see the "
                          "server log",
                          file);
}

static json_t *
issued_to_json(struct service *svc, const struct issue_result *issued,
               const char *hsm)
{
    char not_before[32], not_after[32];

    time_rfc3339_format(issued->not_before, not_before);
    time_rfc3339_format(issued->not_after, not_after);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "serial",
                     issued->serial, "certificate", issued->cert_pem, "chain",
                     svc->ca.chain_pem, "subject", issued->subject,
                     "not_before", not_before, "not_after", not_after, "hsm",
                     hsm);
}

/* A stored serial makes store_cert_add report a conflict; the certificate
 * is then signed again with a new random serial, at most this often. */
#define SERIAL_ATTEMPTS 3

/* Stores the certificate's row, or queues it and sets *commit when
 * commit is not NULL. */
static enum adcp_status
store_certificate(struct service *svc, const struct store_host *host,
                  const struct issue_result *issued, const char *hsm,
                  struct store_ticket **commit, struct adcp_error *err)
{
    struct store_cert row;

    memset(&row, 0, sizeof(row));
    snprintf(row.serial, sizeof(row.serial), "%s", issued->serial);
    row.host_id = host->id;
    snprintf(row.subject, sizeof(row.subject), "%s", issued->subject);
    row.not_before = issued->not_before;
    row.not_after = issued->not_after;
    row.pem = issued->cert_pem;
    snprintf(row.hsm, sizeof(row.hsm), "%s", hsm);
    if (commit != NULL)
        return store_cert_add_queued(svc->store, &row, commit, err);
    return store_cert_add(svc->store, &row, err);
}

/* Runs once per request, after the first signature: stores the CSR file
 * and, for an enrolment token, consumes the token so that one token can
 * never yield two certificates. */
static enum adcp_status
commit_request(struct service *svc, const struct service_caller *caller,
               const struct store_host *host, const struct adcp_body *body,
               struct adcp_error *err)
{
    int64_t consumed_host = 0;
    enum adcp_status rc;

    if (body->csr_details.csr_file[0] != '\0') {
        rc = save_csr(svc, host->name, body->csr_details.csr_file,
                      body->csr_details.csr, err);
        if (rc != ADCP_OK)
            return rc;
    }
    if (caller->role != SERVICE_ROLE_ENROLLMENT)
        return ADCP_OK;
    return store_enrollment_consume(svc->store, caller->enrollment_verifier,
                                    &consumed_host, err);
}

/*
 * Signs and stores the certificate, signing again when its serial is
 * already stored. With commit, the row is queued instead, and a stored
 * serial, which 127 random bits make all but impossible, fails the
 * request when the row commits.
 * An enrolment token's certificate is always stored here, so that a
 * failure is logged beside the token it used up.
 */
static enum adcp_status
sign_and_store(struct service *svc, const struct service_caller *caller,
               const struct adcp_body *body, const struct store_host *host,
               EVP_PKEY *ca_key, const char *hsm,
               const struct issue_request *ireq, struct issue_result *issued,
               struct store_ticket **commit, struct adcp_error *err)
{
    struct issue_host names;
    enum adcp_status rc;

    names.name = host->name;
    names.dns_names = host->dns_names;
    names.dns_count = host->dns_count;
    names.ip_addresses = host->ip_addresses;
    names.ip_count = host->ip_count;
    for (int attempt = 1;; attempt++) {
        rc = cert_issue_from_csr(svc->ca.root, ca_key, &names, ireq,
                                 &svc->limits, issued, err);
        if (rc != ADCP_OK)
            return rc;
        if (attempt == 1) {
            rc = commit_request(svc, caller, host, body, err);
            if (rc != ADCP_OK)
                return rc;
        }
        if (caller->role == SERVICE_ROLE_ENROLLMENT)
            commit = NULL;
        rc = store_certificate(svc, host, issued, hsm, commit, err);
        if (rc != ADCP_ERR_CONFLICT || attempt == SERIAL_ATTEMPTS)
            break;
        log_warn("serial %s of a new certificate for host %s is stored "
                 "already; signing again with a new serial",
                 issued->serial, host->name);
        issue_result_clear(issued);
    }
    if (rc != ADCP_OK && caller->role == SERVICE_ROLE_ENROLLMENT)
        log_error("certificate %s for host %s was signed but not stored "
                  "(%s); the enrolment token is used up, so the host needs "
                  "a new one",
                  issued->serial, host->name, err->message);
    return rc;
}

enum adcp_status
cert_manager_issue(struct service *svc, const struct service_caller *caller,
                   struct adcp_msg *request, struct adcp_msg *response,
                   struct store_ticket **commit)
{
    const struct adcp_body *body = &request->body;
    struct issue_result issued = {0};
    struct store_host host = {0};
    struct policy_request route;
    struct issue_request ireq;
    struct hal_hsm *hsm = NULL;
    struct adcp_error err;
    enum adcp_status rc;
    EVP_PKEY *ca_key;
    char not_after[32];
    bool announced;

    rc = authz_require_enrolled(caller, "certificate_gen", &err);
    if (rc != ADCP_OK)
        goto out;
    if (!body->csr_details.present || body->csr_details.csr == NULL) {
        rc = adcp_error_set(&err, ADCP_ERR_MISSING_FIELD, "csr_details.csr",
                            "certificate_gen needs the PEM CSR in "
                            "csr_details.csr");
        goto out;
    }
    rc = resolve_host(svc, caller, request, &host, &err);
    if (rc != ADCP_OK)
        goto out;

    memset(&ireq, 0, sizeof(ireq));
    ireq.csr_pem = body->csr_details.csr;
    ireq.hash_algorithm = body->cert_details.hash_algorithm[0]
                              ? body->cert_details.hash_algorithm
                              : "sha256";
    ireq.days = body->cert_details.days;
    ireq.ocsp_url = svc->ocsp_url;

    route.operation = ADCP_TYPE_CERTIFICATE_GEN;
    route.algorithm = svc->ca.key_algorithm;
    route.hash = ireq.hash_algorithm;
    rc = hal_route(svc->hal, &route, svc->ca.key_label, &request->header,
                   &hsm, &err);
    if (rc != ADCP_OK)
        goto out;
    ca_key = service_ca_key(svc, hsm, &err);
    if (ca_key == NULL) {
        rc = err.code;
        goto out;
    }

    /* A queued row is announced while the HSM signs, so that the
     * writer's batch can wait for it. */
    announced = commit != NULL && caller->role != SERVICE_ROLE_ENROLLMENT;
    if (announced)
        store_expect_write(svc->store);
    rc = sign_and_store(svc, caller, body, &host, ca_key, hal_hsm_name(hsm),
                        &ireq, &issued, commit, &err);
    if (announced)
        store_expect_write_done(svc->store);
    if (rc != ADCP_OK)
        goto out;

    adcp_msg_succeed(response,
                     issued_to_json(svc, &issued, hal_hsm_name(hsm)));
    time_rfc3339_format(issued.not_after, not_after);
    log_info("issued certificate %s (%s) to host %s, valid until %s, "
             "signed on HSM %s%s",
             issued.serial, issued.subject, host.name, not_after,
             hal_hsm_name(hsm),
             commit != NULL && *commit != NULL
                 ? "; it is returned once its row is committed"
                 : "");
out:
    issue_result_clear(&issued);
    store_host_clear(&host);
    if (rc != ADCP_OK)
        adcp_msg_fail(response, &err);
    return rc;
}

enum adcp_status
cert_manager_get(struct service *svc, const struct service_caller *caller,
                 const struct adcp_msg *request, struct adcp_msg *response)
{
    char serial[ADCP_SERIAL_MAX], not_before[32], not_after[32];
    struct store_cert cert = {0};
    struct adcp_error err;
    enum adcp_status rc;

    rc = authz_require_host_or_admin(caller, "certificate_get", &err);
    if (rc != ADCP_OK)
        goto out;
    rc = cert_serial_normalise(request->body.serial, serial, &err);
    if (rc != ADCP_OK)
        goto out;
    rc = store_cert_get(svc->store, serial, &cert, &err);
    /* A host sees only its own certificates; others look absent. */
    if (rc == ADCP_OK && caller->role == SERVICE_ROLE_HOST &&
        cert.host_id != caller->host_id)
        rc = ADCP_ERR_NOT_FOUND;
    if (rc == ADCP_ERR_NOT_FOUND)
        adcp_error_set(&err, rc, "serial",
                       "no certificate with serial %s is stored", serial);
    if (rc != ADCP_OK)
        goto out;
    time_rfc3339_format(cert.not_before, not_before);
    time_rfc3339_format(cert.not_after, not_after);
    adcp_msg_succeed(response,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "serial",
                               cert.serial, "certificate", cert.pem,
                               "subject", cert.subject, "not_before",
                               not_before, "not_after", not_after,
                               "revocation_status",
                               cert.revoked_at ? "revoked" : "good"));
out:
    store_cert_clear(&cert);
    if (rc != ADCP_OK)
        adcp_msg_fail(response, &err);
    return rc;
}

enum adcp_status
cert_manager_ca(struct service *svc, struct adcp_msg *response)
{
    adcp_msg_succeed(response,
                     json_pack("{s:s, s:s, s:s}", "root", svc->ca.root_pem,
                               "chain", svc->ca.chain_pem,
                               "fingerprint_sha256", svc->ca.fingerprint));
    return ADCP_OK;
}
