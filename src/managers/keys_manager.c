#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "managers/authz.h"
#include "managers/service.h"

static enum adcp_status
parse_key_spec(const struct adcp_key_info *info, struct hal_keygen *spec,
               unsigned min_rsa_bits, struct adcp_error *err)
{
    memset(spec, 0, sizeof(*spec));
    if (!info->present)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "key_info",
                              "keypairgen needs key_info with type, length "
                              "and label");
    if (info->label[0] == '\0')
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "key_info.label",
                              "key_info.label is missing; name the key pair");
    if (strcmp(info->type, "rsa") == 0) {
        spec->type = HAL_KEY_RSA;
        if (info->length < min_rsa_bits || info->length > 8192)
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD,
                                  "key_info.length",
                                  "RSA key length %u is not accepted; use "
                                  "%u to 8192 bits",
                                  info->length, min_rsa_bits);
    } else if (strcmp(info->type, "ec") == 0) {
        spec->type = HAL_KEY_EC;
        if (info->length != 256 && info->length != 384 &&
            info->length != 521)
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD,
                                  "key_info.length",
                                  "EC key length %u is not accepted; use 256 "
                                  "(P-256), 384 (P-384) or 521 (P-521)",
                                  info->length);
    } else {
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "key_info.type",
                              "key type \"%s\" cannot make a key pair; use "
                              "rsa or ec",
                              info->type[0] ? info->type : "");
    }
    spec->bits = info->length;
    snprintf(spec->label, sizeof(spec->label), "%s", info->label);
    return ADCP_OK;
}

/* Decodes key_info.id (hex) into spec->id; an empty id leaves it to the
 * HAL. */
static enum adcp_status
parse_key_id(const char *hex, struct hal_keygen *spec, struct adcp_error *err)
{
    size_t len = strlen(hex);

    if (len == 0)
        return ADCP_OK;
    if (len % 2 != 0 || len / 2 > sizeof(spec->id))
        goto bad;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
            goto bad;
        spec->id[i] = (unsigned char)byte;
    }
    spec->id_len = len / 2;
    return ADCP_OK;
bad:
    return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "key_info.id",
                          "key_info.id \"%.70s\" must be an even number of "
                          "hex digits, at most %zu bytes",
                          hex, sizeof(spec->id));
}

static char *
public_key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy = NULL;
    long len;

    if (bio == NULL)
        return NULL;
    if (PEM_write_bio_PUBKEY(bio, key) == 1) {
        len = BIO_get_mem_data(bio, &data);
        copy = strndup(data, (size_t)len);
    }
    BIO_free(bio);
    return copy;
}

enum adcp_status
keys_manager_generate(struct service *svc, const struct service_caller *caller,
                      struct adcp_msg *request, struct adcp_msg *response)
{
    const struct adcp_key_info *info = &request->body.key_info;
    struct store_key existing = {0}, row;
    struct policy_request route;
    struct hal_key *key = NULL;
    struct hal_hsm *hsm = NULL;
    EVP_PKEY *public_key = NULL;
    char *pem = NULL;
    struct adcp_error err;
    struct hal_keygen spec;
    enum adcp_status rc;

    rc = authz_require_host_or_admin(caller, "keypairgen", &err);
    if (rc != ADCP_OK)
        goto out;
    rc = parse_key_spec(info, &spec, svc->limits.min_rsa_bits, &err);
    if (rc == ADCP_OK)
        rc = parse_key_id(info->id, &spec, &err);
    if (rc != ADCP_OK)
        goto out;
    if (store_key_get(svc->store, spec.label, &existing, &err) == ADCP_OK) {
        rc = adcp_error_set(&err, ADCP_ERR_CONFLICT, "key_info.label",
                            "a key pair labelled \"%s\" exists already "
                            "(on HSM %s); choose another label",
                            spec.label, existing.hsm);
        goto out;
    }

    route.operation = ADCP_TYPE_KEYPAIRGEN;
    route.algorithm = info->type;
    route.hash = NULL;
    rc = hal_route(svc->hal, &route, NULL, &request->header, &hsm, &err);
    if (rc != ADCP_OK)
        goto out;
    rc = hal_key_generate(hsm, &spec, &key, &err);
    if (rc != ADCP_OK)
        goto out;
    public_key = hal_key_public(key);
    pem = public_key ? public_key_pem(public_key) : NULL;
    if (pem == NULL) {
        rc = adcp_error_set(&err, ADCP_ERR_HSM, "",
                            "key pair %s was generated on HSM %s but its "
                            "public key cannot be read",
                            spec.label, hal_hsm_name(hsm));
        goto out;
    }

    memset(&row, 0, sizeof(row));
    snprintf(row.label, sizeof(row.label), "%s", spec.label);
    snprintf(row.type, sizeof(row.type), "%s", info->type);
    row.bits = spec.bits;
    snprintf(row.hsm, sizeof(row.hsm), "%s", hal_hsm_name(hsm));
    row.public_pem = pem;
    rc = store_key_add(svc->store, &row, &err);
    if (rc != ADCP_OK)
        goto out;
    adcp_msg_succeed(response,
                     json_pack("{s:s, s:s, s:i, s:s, s:s}", "label",
                               spec.label, "type", info->type, "length",
                               (int)spec.bits, "hsm", hal_hsm_name(hsm),
                               "public_key", pem));
    log_info("generated %s-%u key pair %s on HSM %s for %s", info->type,
             spec.bits, spec.label, hal_hsm_name(hsm),
             caller->host_name[0] ? caller->host_name : "admin");
out:
    store_key_clear(&existing);
    EVP_PKEY_free(public_key);
    hal_key_unref(key);
    free(pem);
    if (rc != ADCP_OK)
        adcp_msg_fail(response, &err);
    return rc;
}
