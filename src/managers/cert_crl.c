/*
 * The current CRL: a cache that builds it once and serves the same DER
 * until a revocation or its age makes it out of date, and the crl_get
 * operation.
 *
 * Builds run one at a time under the cache's lock, so requests that
 * arrive during a build wait for it and then get its result.
 * TODO: nodes that share a PostgreSQL database must build under a
 * PostgreSQL advisory lock instead, and learn of each other's
 * revocations from the database rather than from
 * cert_crl_cache_invalidate, which reaches this process only.
 */
#include "managers/cert_crl.h"

#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/time_rfc3339.h"
#include "managers/service.h"


struct cert_crl {
    atomic_uint refs;
    unsigned char *der;
    size_t der_len;
    char *pem; /* made on the first PEM request, under the cache's lock */
    size_t pem_len;
    int64_t number;
    time_t this_update;
    time_t next_update;
    size_t entries;
};

struct cert_crl_cache {
    pthread_mutex_t lock; /* guards the members below and each build */
    struct cert_crl *current; /* a reference, or NULL before the first */
    uint64_t current_generation; /* generation that current was built at */
    int lifetime;                /* seconds from thisUpdate to nextUpdate */
    /* Incremented after each committed revocation; read without the lock
     * by the check of the cached CRL. */
    atomic_uint_least64_t generation;
};

struct cert_crl_cache *
cert_crl_cache_new(int lifetime)
{
    struct cert_crl_cache *cache = calloc(1, sizeof(*cache));

    if (cache == NULL)
        return NULL;
    pthread_mutex_init(&cache->lock, NULL);
    cache->lifetime = lifetime > 0 ? lifetime : CERT_CRL_DEFAULT_LIFETIME;
    atomic_init(&cache->generation, 1);
    return cache;
}

void
cert_crl_unref(void *arg)
{
    struct cert_crl *crl = arg;

    if (crl == NULL || atomic_fetch_sub(&crl->refs, 1) != 1)
        return;
    free(crl->der);
    free(crl->pem);
    free(crl);
}

void
cert_crl_cache_free(struct cert_crl_cache *cache)
{
    if (cache == NULL)
        return;
    cert_crl_unref(cache->current);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

void
cert_crl_cache_invalidate(struct cert_crl_cache *cache)
{
    atomic_fetch_add(&cache->generation, 1);
}

/* True when the cached CRL lists every committed revocation and has at
 * least half of its lifetime left, so relying parties that fetch it
 * near its nextUpdate find a newer one. */
static bool
cache_is_fresh_inlock(const struct cert_crl_cache *cache, time_t now)
{
    const struct cert_crl *crl = cache->current;

    return crl != NULL &&
           cache->current_generation == atomic_load(&cache->generation) &&
           now < crl->this_update + cache->lifetime / 2;
}

/* Builds a new CRL with the next CRL number. */
static enum adcp_status
build_crl(struct service *svc, struct adcp_header *header, time_t now,
          struct cert_crl **out, struct adcp_error *err)
{
    struct cert_crl_request request;
    struct cert_crl_der built;
    struct cert_crl *crl;
    enum adcp_status status;

    memset(&request, 0, sizeof(request));
    request.ca_cert = svc->ca.root;
    request.ca_key = service_ca_signing_key(svc, header, svc->ca.digest,
                                            err);
    if (request.ca_key == NULL)
        return err->code != ADCP_OK ? err->code : ADCP_ERR_HSM;
    request.digest = svc->ca.digest;
    request.store = svc->store;
    request.this_update = now;
    request.next_update = now + svc->crl->lifetime;
    status = store_crl_number_next(svc->store, &request.number, err);
    if (status == ADCP_OK)
        status = cert_crl_build(&request, &built, err);
    if (status != ADCP_OK)
        return status;
    crl = calloc(1, sizeof(*crl));
    if (crl == NULL) {
        free(built.der);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while keeping the CRL");
    }
    atomic_init(&crl->refs, 1);
    crl->der = built.der;
    crl->der_len = built.len;
    crl->entries = built.entries;
    crl->number = request.number;
    crl->this_update = request.this_update;
    crl->next_update = request.next_update;
    *out = crl;
    return ADCP_OK;
}

/*
 * Sets *out to a reference to the current CRL, building a new one first
 * when the cached one is out of date. The generation is read before the
 * build starts, so a revocation committed during the build makes the next
 * request build again.
 */
static enum adcp_status
current_crl(struct service *svc, struct adcp_header *header,
            struct cert_crl **out, struct adcp_error *err)
{
    struct cert_crl_cache *cache = svc->crl;
    struct cert_crl *built = NULL;
    enum adcp_status status = ADCP_OK;
    time_t now = time(NULL);
    uint64_t generation;
    char next_update[32];

    pthread_mutex_lock(&cache->lock);
    if (!cache_is_fresh_inlock(cache, now)) {
        generation = atomic_load(&cache->generation);
        status = build_crl(svc, header, now, &built, err);
        if (status == ADCP_OK) {
            cert_crl_unref(cache->current);
            cache->current = built;
            cache->current_generation = generation;
            time_rfc3339_format(built->next_update, next_update);
            log_info("adcp id=%s built CRL number %lld with %zu entries "
                     "(%zu bytes), next update %s",
                     header->message_id, (long long)built->number,
                     built->entries, built->der_len, next_update);
        }
    }
    if (status == ADCP_OK) {
        atomic_fetch_add(&cache->current->refs, 1);
        *out = cache->current;
    }
    pthread_mutex_unlock(&cache->lock);
    return status;
}

/* Encodes crl as PEM once and keeps the text with it. */
static enum adcp_status
crl_pem(struct cert_crl_cache *cache, struct cert_crl *crl,
        struct adcp_error *err)
{
    BIO *bio = NULL;
    char *data = NULL;
    long len;

    pthread_mutex_lock(&cache->lock);
    if (crl->pem != NULL)
        goto out;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio(bio, "X509 CRL", "", crl->der,
                                     (long)crl->der_len) <= 0)
        goto out;
    len = BIO_get_mem_data(bio, &data);
    crl->pem = malloc((size_t)len);
    if (crl->pem != NULL) {
        memcpy(crl->pem, data, (size_t)len);
        crl->pem_len = (size_t)len;
    }
out:
    pthread_mutex_unlock(&cache->lock);
    BIO_free(bio);
    if (crl->pem != NULL)
        return ADCP_OK;
    log_openssl_errors(__func__, "encoding the CRL as PEM");
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "the CRL cannot be encoded as PEM; see the server "
                          "log");
}

static json_t *
crl_to_json(const struct cert_crl *crl, const char *format, size_t size)
{
    char this_update[32], next_update[32];

    time_rfc3339_format(crl->this_update, this_update);
    time_rfc3339_format(crl->next_update, next_update);
    return json_pack("{s:I, s:s, s:s, s:I, s:s, s:I}", "crl_number",
                     (json_int_t)crl->number, "this_update", this_update,
                     "next_update", next_update, "entries",
                     (json_int_t)crl->entries, "format", format, "size",
                     (json_int_t)size);
}

/* Attaches the CRL's bytes in the requested format to response, which
 * takes the reference to crl. */
static enum adcp_status
attach_crl(struct service *svc, struct cert_crl *crl, bool pem,
           struct adcp_msg *response, struct adcp_error *err)
{
    struct adcp_attachment *attachment = &response->result.attachment;
    enum adcp_status status = ADCP_OK;

    if (pem)
        status = crl_pem(svc->crl, crl, err);
    if (status != ADCP_OK) {
        cert_crl_unref(crl);
        return status;
    }
    adcp_msg_succeed(response, crl_to_json(crl, pem ? "pem" : "der",
                                           pem ? crl->pem_len
                                               : crl->der_len));
    attachment->data = pem ? (const unsigned char *)crl->pem : crl->der;
    attachment->len = pem ? crl->pem_len : crl->der_len;
    attachment->content_type = pem ? "application/x-pem-file"
                                   : "application/pkix-crl";
    attachment->release = cert_crl_unref;
    attachment->owner = crl;
    return ADCP_OK;
}

enum adcp_status
cert_manager_crl(struct service *svc, struct adcp_msg *request,
                 struct adcp_msg *response)
{
    const char *format = request->body.format;
    struct cert_crl *crl = NULL;
    struct adcp_error err;
    enum adcp_status rc;
    bool pem = strcmp(format, "pem") == 0;

    if (!pem && format[0] != '\0' && strcmp(format, "der") != 0) {
        rc = adcp_error_set(&err, ADCP_ERR_INVALID_FIELD, "format",
                            "format \"%s\" is not a CRL format; use \"der\" "
                            "or \"pem\"",
                            format);
        goto out;
    }
    rc = current_crl(svc, &request->header, &crl, &err);
    if (rc == ADCP_OK)
        rc = attach_crl(svc, crl, pem, response, &err);
out:
    if (rc != ADCP_OK)
        adcp_msg_fail(response, &err);
    return rc;
}
