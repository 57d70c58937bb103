#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/secret.h"
#include "common/time_rfc3339.h"
#include "managers/authz.h"
#include "managers/names.h"
#include "managers/service.h"

#define ENROLLMENT_TOKEN_LEN 43 /* 258 bits of the 64-symbol alphabet */

/* Fills err for dns_names[index], which names_dns_name_check rejected
 * with result. */
static enum adcp_status
reject_dns_name(struct adcp_error *err, size_t index, const char *name,
                enum names_dns_check result)
{
    char field[48];

    snprintf(field, sizeof(field), "dns_names[%zu]", index);
    if (result == NAMES_DNS_IP_ADDRESS)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field,
                              "%s \"%.80s\" is an IP address, which a "
                              "certificate may not carry as a DNS name; "
                              "list it in ip_addresses instead",
                              field, name);
    if (result == NAMES_DNS_NUMERIC_TLD)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field,
                              "%s \"%.80s\" ends in a numeric label, so "
                              "URL parsers read it as an IPv4 address; use "
                              "a name whose last label contains a letter, "
                              "or list the address in ip_addresses",
                              field, name);
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field,
                          "%s \"%.80s\" is not a DNS name; use letters, "
                          "digits and '-' in dot-separated labels, no "
                          "wildcards",
                          field, name);
}

/* Fills err for ip_addresses[index], which names_host_ip_check rejected
 * with result. ipv4 is the IPv4 form of a mapped address. */
static enum adcp_status
reject_ip_address(struct adcp_error *err, size_t index, const char *text,
                  enum names_ip_check result, const char *ipv4)
{
    char field[48];

    snprintf(field, sizeof(field), "ip_addresses[%zu]", index);
    if (result == NAMES_IP_V4_MAPPED || result == NAMES_IP_V4_COMPATIBLE)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field,
                              "%s \"%.80s\" is an IPv4-%s IPv6 address; "
                              "register it as the IPv4 address \"%s\"",
                              field, text,
                              result == NAMES_IP_V4_MAPPED ? "mapped"
                                                           : "compatible",
                              ipv4);
    if (result == NAMES_IP_INVALID)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field,
                              "%s \"%.80s\" is not an IPv4 or IPv6 "
                              "address; give a numeric address such as "
                              "192.0.2.10 or 2001:db8::10",
                              field, text);
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, field,
                          "%s \"%.80s\" is %s, which names no single "
                          "host; give the host's own unicast address",
                          field, text, names_ip_check_text(result));
}

/* Checks the DNS names and copies them in lower case into host. */
static enum adcp_status
copy_dns_names(const struct adcp_host_info *info, struct store_host *host,
               struct adcp_error *err)
{
    for (size_t i = 0; i < info->dns_count; i++) {
        const char *name = info->dns_names[i];
        enum names_dns_check result = names_dns_name_check(name);

        if (result != NAMES_DNS_OK)
            return reject_dns_name(err, i, name, result);
        host->dns_names[i] = strdup(name);
        if (host->dns_names[i] == NULL)
            return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory");
        for (char *c = host->dns_names[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        host->dns_count++;
    }
    return ADCP_OK;
}

/* Checks the IP addresses and copies them in canonical form into host, so
 * that the store's text comparison finds an address another host holds. */
static enum adcp_status
copy_ip_addresses(const struct adcp_host_info *info, struct store_host *host,
                  struct adcp_error *err)
{
    char canonical[ADCP_IP_MAX];

    for (size_t i = 0; i < info->ip_count; i++) {
        const char *text = info->ip_addresses[i];
        enum names_ip_check result =
            names_host_ip_check(text, canonical, sizeof(canonical));

        if (result != NAMES_IP_OK)
            return reject_ip_address(err, i, text, result, canonical);
        host->ip_addresses[i] = strdup(canonical);
        if (host->ip_addresses[i] == NULL)
            return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory");
        host->ip_count++;
    }
    return ADCP_OK;
}

/* Checks the names and copies them into host. */
static enum adcp_status
copy_host_names(const struct adcp_host_info *info, struct store_host *host,
                struct adcp_error *err)
{
    enum adcp_status rc;

    host->dns_names = calloc(info->dns_count + 1, sizeof(char *));
    host->ip_addresses = calloc(info->ip_count + 1, sizeof(char *));
    if (host->dns_names == NULL || host->ip_addresses == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory");
    rc = copy_dns_names(info, host, err);
    if (rc == ADCP_OK)
        rc = copy_ip_addresses(info, host, err);
    return rc;
}

static json_t *
host_to_json(const struct store_host *host)
{
    json_t *dns = json_array(), *ips = json_array();

    for (size_t i = 0; i < host->dns_count; i++)
        json_array_append_new(dns, json_string(host->dns_names[i]));
    for (size_t i = 0; i < host->ip_count; i++)
        json_array_append_new(ips, json_string(host->ip_addresses[i]));
    return json_pack("{s:I, s:s, s:o, s:o}", "id", (json_int_t)host->id,
                     "name", host->name, "dns_names", dns, "ip_addresses",
                     ips);
}

/* Makes an enrolment token for host_id and stores its verifier. */
static enum adcp_status
issue_enrollment_token(struct service *svc, int64_t host_id,
                       char token[ENROLLMENT_TOKEN_LEN + 1], time_t *expires,
                       struct adcp_error *err)
{
    unsigned char verifier[STORE_VERIFIER_LEN];
    enum adcp_status rc;

    if (secret_random_token(token, ENROLLMENT_TOKEN_LEN) != 0)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the random generator failed");
    service_token_verifier(token, verifier);
    *expires = time(NULL) + svc->enrollment_ttl_seconds;
    rc = store_enrollment_add(svc->store, host_id, verifier, *expires, err);
    secret_wipe(verifier, sizeof(verifier));
    return rc;
}

enum adcp_status
host_manager_register(struct service *svc, const struct service_caller *caller,
                      const struct adcp_msg *request,
                      struct adcp_msg *response)
{
    const struct adcp_host_info *info = &request->body.host;
    char token[ENROLLMENT_TOKEN_LEN + 1] = "";
    char expires_text[32];
    struct store_host host = {0};
    struct adcp_error err;
    enum adcp_status rc;
    time_t expires = 0;
    json_t *data;

    rc = authz_require_admin(caller, "registering a host", &err);
    if (rc != ADCP_OK)
        goto out;
    if (!info->present || info->name[0] == '\0') {
        rc = adcp_error_set(&err, ADCP_ERR_MISSING_FIELD, "name",
                            "the host needs a \"name\"");
        goto out;
    }
    if (!names_host_name_valid(info->name)) {
        rc = adcp_error_set(&err, ADCP_ERR_INVALID_FIELD, "name",
                            "host name \"%.80s\" is invalid; use 1 to 63 "
                            "letters, digits, '.', '_' or '-'",
                            info->name);
        goto out;
    }
    snprintf(host.name, sizeof(host.name), "%s", info->name);
    rc = copy_host_names(info, &host, &err);
    if (rc != ADCP_OK)
        goto out;
    rc = store_host_add(svc->store, &host, &err);
    if (rc != ADCP_OK)
        goto out;
    rc = issue_enrollment_token(svc, host.id, token, &expires, &err);
    if (rc != ADCP_OK)
        goto out;

    time_rfc3339_format(expires, expires_text);
    data = json_pack("{s:o, s:s, s:s}", "host", host_to_json(&host),
                     "enrollment_token", token, "expires_at", expires_text);
    adcp_msg_succeed(response, data);
    log_info("host %s registered with id %lld, %zu DNS names, %zu "
             "addresses; enrolment token expires %s",
             host.name, (long long)host.id, host.dns_count, host.ip_count,
             expires_text);
out:
    secret_wipe(token, sizeof(token));
    store_host_clear(&host);
    if (rc != ADCP_OK)
        adcp_msg_fail(response, &err);
    return rc;
}
