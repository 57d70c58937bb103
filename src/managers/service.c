#include "managers/service.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/secret.h"
#include "managers/cert_crl.h"
#include "managers/ocsp.h"

#define ADMIN_VERIFIER_SETTING "admin_token_sha256"
#define DEFAULT_ENROLLMENT_TTL (24 * 3600)

/* One HSM-backed EVP_PKEY of the CA key per HSM that holds it. */
struct service_key_entry {
    struct hal_hsm *hsm;
    EVP_PKEY *key;
};

struct service_key_cache {
    pthread_mutex_t lock;
    struct service_key_entry *entries;
    size_t count;
};

static char *
pem_of_cert(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy = NULL;
    long len;

    if (bio == NULL)
        return NULL;
    if (PEM_write_bio_X509(bio, cert) == 1) {
        len = BIO_get_mem_data(bio, &data);
        copy = strndup(data, (size_t)len);
    }
    BIO_free(bio);
    return copy;
}

static int
hex_decode(const char *hex, unsigned char *out, size_t out_len)
{
    if (strlen(hex) != out_len * 2)
        return -1;
    for (size_t i = 0; i < out_len; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
            return -1;
        out[i] = (unsigned char)byte;
    }
    return 0;
}

static void
load_admin_verifier(struct service *svc)
{
    char hex[2 * STORE_VERIFIER_LEN + 1];
    struct adcp_error err;

    if (store_setting_get(svc->store, ADMIN_VERIFIER_SETTING, hex,
                          sizeof(hex), &err) != ADCP_OK) {
        log_warn("no admin token is set: admin calls are rejected (%s)",
                 err.message);
        return;
    }
    if (hex_decode(hex, svc->admin_verifier, STORE_VERIFIER_LEN) != 0) {
        log_error("setting %s is not %d hex digits: admin calls are "
                  "rejected; delete it and restart to make a new token",
                  ADMIN_VERIFIER_SETTING, 2 * STORE_VERIFIER_LEN);
        return;
    }
    svc->admin_verifier_set = true;
}

/* Writes the hash of root's own signature: SHA-384 or SHA-512 where the
 * root uses them (P-384 and P-521 keys), SHA-256 otherwise. */
static void
ca_digest_of(X509 *root, char *out, size_t size)
{
    int md_nid = NID_undef;

    OBJ_find_sigid_algs(X509_get_signature_nid(root), &md_nid, NULL);
    snprintf(out, size, "%s",
             md_nid == NID_sha384   ? "sha384"
             : md_nid == NID_sha512 ? "sha512"
                                    : "sha256");
}

enum adcp_status
service_init(struct service *svc, struct hal *hal, struct store *store,
             X509 *root, const char *ca_key_label, struct adcp_error *err)
{
    EVP_PKEY *root_key;

    memset(svc, 0, sizeof(*svc));
    svc->hal = hal;
    svc->store = store;
    svc->limits.default_days = 365;
    svc->limits.max_days = 825;
    svc->limits.min_rsa_bits = 2048;
    svc->enrollment_ttl_seconds = DEFAULT_ENROLLMENT_TTL;

    svc->key_cache = calloc(1, sizeof(*svc->key_cache));
    if (svc->key_cache == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory");
    pthread_mutex_init(&svc->key_cache->lock, NULL);
    svc->crl = cert_crl_cache_new(CERT_CRL_DEFAULT_LIFETIME);
    if (svc->crl == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory");

    X509_up_ref(root);
    svc->ca.root = root;
    svc->ca.root_pem = pem_of_cert(root);
    svc->ca.chain_pem = pem_of_cert(root);
    if (svc->ca.root_pem == NULL || svc->ca.chain_pem == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cannot encode the root certificate as PEM");
    cert_fingerprint_sha256(root, svc->ca.fingerprint);
    svc->ocsp = ocsp_responder_new(root, 0, 0);
    if (svc->ocsp == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "cannot start the OCSP responder; see the "
                              "server log");
    snprintf(svc->ca.key_label, sizeof(svc->ca.key_label), "%s",
             ca_key_label);

    ca_digest_of(root, svc->ca.digest, sizeof(svc->ca.digest));
    root_key = X509_get0_pubkey(root);
    if (root_key != NULL && EVP_PKEY_is_a(root_key, "EC"))
        snprintf(svc->ca.key_algorithm, sizeof(svc->ca.key_algorithm), "ec");
    else
        snprintf(svc->ca.key_algorithm, sizeof(svc->ca.key_algorithm), "rsa");

    load_admin_verifier(svc);
    return ADCP_OK;
}

void
service_cleanup(struct service *svc)
{
    if (svc->key_cache != NULL) {
        for (size_t i = 0; i < svc->key_cache->count; i++)
            EVP_PKEY_free(svc->key_cache->entries[i].key);
        free(svc->key_cache->entries);
        pthread_mutex_destroy(&svc->key_cache->lock);
        free(svc->key_cache);
    }
    cert_crl_cache_free(svc->crl);
    ocsp_responder_free(svc->ocsp);
    X509_free(svc->ca.root);
    free(svc->ca.root_pem);
    free(svc->ca.chain_pem);
    free(svc->pin_files);
    policy_set_free(svc->policy);
    secret_wipe(svc->admin_verifier, sizeof(svc->admin_verifier));
    memset(svc, 0, sizeof(*svc));
}

int
service_set_crl_lifetime(struct service *svc, int seconds)
{
    struct cert_crl_cache *cache = cert_crl_cache_new(seconds);

    if (cache == NULL)
        return -1;
    cert_crl_cache_free(svc->crl);
    svc->crl = cache;
    return 0;
}

int
service_set_ocsp(struct service *svc, int lifetime, size_t cache_bytes,
                 unsigned signed_per_address)
{
    struct ocsp_responder *responder =
        ocsp_responder_new(svc->ca.root, lifetime, cache_bytes);

    if (responder == NULL)
        return -1;
    if (!ocsp_responder_set_rate(responder, signed_per_address)) {
        log_error("out of memory creating the OCSP rate limit");
        ocsp_responder_free(responder);
        return -1;
    }
    ocsp_responder_free(svc->ocsp);
    svc->ocsp = responder;
    return 0;
}

int
service_add_pin_file(struct service *svc, const char *hsm, const char *path)
{
    struct service_pin_file *grown;

    grown = realloc(svc->pin_files,
                    (svc->pin_file_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    svc->pin_files = grown;
    snprintf(grown[svc->pin_file_count].hsm, ADCP_NAME_MAX, "%s", hsm);
    snprintf(grown[svc->pin_file_count].path, ADCP_PATH_MAX, "%s", path);
    svc->pin_file_count++;
    return 0;
}

EVP_PKEY *
service_ca_key(struct service *svc, struct hal_hsm *hsm,
               struct adcp_error *err)
{
    struct service_key_cache *cache = svc->key_cache;
    struct service_key_entry *grown;
    struct hal_key *key = NULL;
    EVP_PKEY *pkey = NULL;

    pthread_mutex_lock(&cache->lock);
    for (size_t i = 0; i < cache->count; i++) {
        if (cache->entries[i].hsm == hsm) {
            pkey = cache->entries[i].key;
            goto out;
        }
    }
    if (hal_key_find(hsm, svc->ca.key_label, &key, err) != ADCP_OK)
        goto out;
    pkey = hal_key_evp(key);
    if (pkey == NULL) {
        adcp_error_set(err, ADCP_ERR_HSM, "",
                       "cannot use CA key %s of HSM %s through the "
                       "OpenSSL provider; see the server log",
                       svc->ca.key_label, hal_hsm_name(hsm));
        log_openssl_errors(__func__, "hal_key_evp");
        goto out;
    }
    grown = realloc(cache->entries, (cache->count + 1) * sizeof(*grown));
    if (grown == NULL) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        adcp_error_set(err, ADCP_ERR_INTERNAL, "", "out of memory");
        goto out;
    }
    cache->entries = grown;
    cache->entries[cache->count].hsm = hsm;
    cache->entries[cache->count].key = pkey;
    cache->count++;
out:
    pthread_mutex_unlock(&cache->lock);
    hal_key_unref(key);
    return pkey;
}

EVP_PKEY *
service_ca_signing_key(struct service *svc, struct adcp_header *header,
                       const char *digest, struct adcp_error *err)
{
    struct policy_request route;
    struct hal_hsm *hsm = NULL;

    route.operation = ADCP_TYPE_CERTIFICATE_GEN;
    route.algorithm = svc->ca.key_algorithm;
    route.hash = digest;
    if (hal_route(svc->hal, &route, svc->ca.key_label, header, &hsm, err) !=
        ADCP_OK)
        return NULL;
    return service_ca_key(svc, hsm, err);
}

void
service_token_verifier(const char *token,
                       unsigned char out[STORE_VERIFIER_LEN])
{
    unsigned int len = STORE_VERIFIER_LEN;

    EVP_Digest(token, strlen(token), out, &len, EVP_sha256(), NULL);
}

static enum adcp_status
authenticate_bearer(struct service *svc, const char *authorization,
                    struct service_caller *caller, struct adcp_error *err)
{
    unsigned char verifier[STORE_VERIFIER_LEN];
    struct store_host host = {0};
    const char *token;
    enum adcp_status rc;

    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return adcp_error_set(err, ADCP_ERR_UNAUTHENTICATED, "authorization",
                              "the Authorization header must be "
                              "'Bearer <token>'");
    token = authorization + 7;
    while (*token == ' ')
        token++;
    if (*token == '\0')
        return adcp_error_set(err, ADCP_ERR_UNAUTHENTICATED, "authorization",
                              "the Authorization header has no token after "
                              "'Bearer'");
    service_token_verifier(token, verifier);

    if (svc->admin_verifier_set &&
        CRYPTO_memcmp(verifier, svc->admin_verifier, sizeof(verifier)) == 0) {
        caller->role = SERVICE_ROLE_ADMIN;
        rc = ADCP_OK;
        goto out;
    }
    rc = store_enrollment_lookup(svc->store, verifier, &caller->host_id, err);
    if (rc != ADCP_OK) {
        if (rc == ADCP_ERR_UNAUTHENTICATED)
            adcp_error_set(err, rc, "authorization",
                           "the bearer token is neither the admin token nor "
                           "an unused, unexpired enrolment token; ask the "
                           "administrator for a new enrolment token");
        goto out;
    }
    rc = store_host_get_by_id(svc->store, caller->host_id, &host, err);
    if (rc != ADCP_OK)
        goto out;
    caller->role = SERVICE_ROLE_ENROLLMENT;
    memcpy(caller->enrollment_verifier, verifier, sizeof(verifier));
    snprintf(caller->host_name, sizeof(caller->host_name), "%s", host.name);
out:
    store_host_clear(&host);
    secret_wipe(verifier, sizeof(verifier));
    return rc;
}

static enum adcp_status
authenticate_certificate(struct service *svc, X509 *peer_cert,
                         struct service_caller *caller,
                         struct adcp_error *err)
{
    char serial[ADCP_SERIAL_MAX];
    struct store_cert cert = {0};
    struct store_host host = {0};
    enum adcp_status rc;

    cert_serial_hex(peer_cert, serial);
    rc = store_cert_get(svc->store, serial, &cert, err);
    if (rc == ADCP_ERR_NOT_FOUND || (rc == ADCP_OK && cert.host_id <= 0)) {
        rc = adcp_error_set(err, ADCP_ERR_UNAUTHENTICATED, "client_cert",
                            "client certificate %s is not a host "
                            "certificate of this CA", serial);
        goto out;
    }
    if (rc != ADCP_OK)
        goto out;
    if (cert.revoked_at != 0) {
        rc = adcp_error_set(err, ADCP_ERR_UNAUTHENTICATED, "client_cert",
                            "client certificate %s is revoked", serial);
        goto out;
    }
    rc = store_host_get_by_id(svc->store, cert.host_id, &host, err);
    if (rc != ADCP_OK)
        goto out;
    caller->role = SERVICE_ROLE_HOST;
    caller->host_id = cert.host_id;
    snprintf(caller->host_name, sizeof(caller->host_name), "%s", host.name);
out:
    store_cert_clear(&cert);
    store_host_clear(&host);
    return rc;
}

enum adcp_status
service_authenticate(struct service *svc, const char *authorization,
                     X509 *peer_cert, struct service_caller *caller,
                     struct adcp_error *err)
{
    char peer_ip[ADCP_IP_MAX];

    memcpy(peer_ip, caller->peer_ip, sizeof(peer_ip));
    memset(caller, 0, sizeof(*caller));
    memcpy(caller->peer_ip, peer_ip, sizeof(peer_ip));
    caller->role = SERVICE_ROLE_ANONYMOUS;
    if (authorization != NULL)
        return authenticate_bearer(svc, authorization, caller, err);
    if (peer_cert != NULL)
        return authenticate_certificate(svc, peer_cert, caller, err);
    return ADCP_OK;
}

static enum adcp_status
run_manager(struct service *svc, const struct service_caller *caller,
            struct adcp_msg *request, struct adcp_msg *response,
            struct store_ticket **commit)
{
    struct adcp_error err;

    switch (request->header.type) {
    case ADCP_TYPE_HEALTH:
        adcp_msg_succeed(response, NULL);
        return ADCP_OK;
    case ADCP_TYPE_CA_GET:
        return cert_manager_ca(svc, response);
    case ADCP_TYPE_HOST_REGISTER:
        return host_manager_register(svc, caller, request, response);
    case ADCP_TYPE_CERTIFICATE_GEN:
        return cert_manager_issue(svc, caller, request, response, commit);
    case ADCP_TYPE_CERTIFICATE_GET:
        return cert_manager_get(svc, caller, request, response);
    case ADCP_TYPE_CERTIFICATE_REVOKE:
        return cert_manager_revoke(svc, caller, request, response);
    case ADCP_TYPE_CRL_GET:
        return cert_manager_crl(svc, request, response);
    case ADCP_TYPE_KEYPAIRGEN:
        return keys_manager_generate(svc, caller, request, response);
    case ADCP_TYPE_INITSESSION:
        return crypto_manager_initsession(svc, caller, request, response);
    default:
        adcp_error_set(&err, ADCP_ERR_UNKNOWN_TYPE, "header.message_type",
                       "message_type %s is not served by this version; "
                       "use initsession, keypairgen, certificate_gen, "
                       "certificate_get, certificate_revoke, crl_get, "
                       "ca_get or host_register",
                       adcp_type_name(request->header.type));
        return adcp_msg_fail(response, &err);
    }
}

struct service_held {
    struct store_ticket *commit;
    struct adcp_msg *response; /* borrowed: the caller frees it */
    char host_name[ADCP_NAME_MAX];
    struct timespec start;
};

/* Audits the final response and logs one line for the exchange. The
 * response header carries the request's id, type, source and HSM. */
static void
record_outcome(struct service *svc, const struct adcp_msg *response,
               const char *host_name, const struct timespec *start)
{
    const struct adcp_header *header = &response->header;
    struct timespec end;
    long elapsed_us;

    audit_record(svc, response);
    clock_gettime(CLOCK_MONOTONIC, &end);
    elapsed_us = (end.tv_sec - start->tv_sec) * 1000000L +
                 (end.tv_nsec - start->tv_nsec) / 1000L;
    if (response->result.status == ADCP_OK)
        log_info("adcp id=%s type=%s from=%s host=%s hsm=%s status=ok "
                 "us=%ld",
                 header->message_id, adcp_type_name(header->type),
                 header->source_ip, host_name[0] ? host_name : "-",
                 header->dest_hsm_name[0] ? header->dest_hsm_name : "-",
                 elapsed_us);
    else
        log_warn("adcp id=%s type=%s from=%s host=%s status=%s field=%s: %s",
                 header->message_id, adcp_type_name(header->type),
                 header->source_ip, host_name[0] ? host_name : "-",
                 adcp_status_name(response->result.status),
                 response->result.error.field[0]
                     ? response->result.error.field
                     : "-",
                 response->result.error.message);
}

/* Holds response back until commit has finished. Without memory for the
 * hold, waits for the commit here instead. */
static struct service_held *
hold_response(struct service *svc, const struct service_caller *caller,
              struct adcp_msg *response, struct store_ticket *commit,
              const struct timespec *start)
{
    struct service_held *held = malloc(sizeof(*held));
    struct adcp_error err;

    if (held == NULL) {
        if (store_ticket_finish(commit, &err) != ADCP_OK)
            adcp_msg_fail(response, &err);
        record_outcome(svc, response, caller->host_name, start);
        return NULL;
    }
    held->commit = commit;
    held->response = response;
    snprintf(held->host_name, sizeof(held->host_name), "%s",
             caller->host_name);
    held->start = *start;
    return held;
}

struct adcp_msg *
service_dispatch_held(struct service *svc,
                      const struct service_caller *caller,
                      struct adcp_msg *request, struct service_held **held)
{
    struct store_ticket *commit = NULL;
    struct adcp_msg *response;
    struct timespec start;

    *held = NULL;
    clock_gettime(CLOCK_MONOTONIC, &start);
    audit_record(svc, request);
    response = adcp_msg_response_for(request);
    if (response == NULL) {
        adcp_msg_wipe_credentials(request);
        return NULL;
    }
    run_manager(svc, caller, request, response, &commit);
    adcp_msg_wipe_credentials(request);

    memcpy(response->header.dest_hsm_name, request->header.dest_hsm_name,
           sizeof(response->header.dest_hsm_name));
    memcpy(response->header.dest_hsm_module, request->header.dest_hsm_module,
           sizeof(response->header.dest_hsm_module));
    if (commit != NULL)
        *held = hold_response(svc, caller, response, commit, &start);
    else
        record_outcome(svc, response, caller->host_name, &start);
    return response;
}

void
service_held_notify(struct service_held *held, void (*done)(void *),
                    void *arg)
{
    store_ticket_notify(held->commit, done, arg);
}

void
service_held_finish(struct service *svc, struct service_held *held)
{
    struct adcp_msg *response = held->response;
    struct adcp_error err;

    if (store_ticket_finish(held->commit, &err) != ADCP_OK) {
        log_error("adcp id=%s type=%s: the result could not be stored, "
                  "so it is not returned: %s",
                  response->header.message_id,
                  adcp_type_name(response->header.type), err.message);
        adcp_msg_fail(response, &err);
    }
    record_outcome(svc, response, held->host_name, &held->start);
    free(held);
}

struct adcp_msg *
service_dispatch(struct service *svc, const struct service_caller *caller,
                 struct adcp_msg *request)
{
    struct service_held *held;
    struct adcp_msg *response;

    response = service_dispatch_held(svc, caller, request, &held);
    if (held != NULL)
        service_held_finish(svc, held);
    return response;
}
