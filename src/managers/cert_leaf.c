/*
 * Host certificates for CSRs (cert_build_leaf_signed): the fields of the
 * TBSCertificate, made from the CA certificate, the request's key and the
 * host's names, then signed (cert_sign.c) and encoded from the ASN.1
 * templates of cert_template.c without an X509 object.
 */
#include "managers/cert_issue.h"

#include <openssl/x509v3.h>
#include <stdbool.h>
#include <string.h>

#include "common/log.h"
#include "managers/cert_internal.h"

static void
leaf_parts_free(struct cert_leaf_parts *parts)
{
    ASN1_INTEGER_free(parts->version);
    ASN1_INTEGER_free(parts->tbs.serial);
    X509_VAL_free(parts->validity);
    X509_NAME_free(parts->tbs.subject);
    OPENSSL_free(parts->issuer_der);
    OPENSSL_free(parts->public_key_der);
    sk_X509_EXTENSION_free(parts->tbs.extensions);
    for (size_t i = 0; i < 4; i++)
        X509_EXTENSION_free(parts->own_extensions[i]);
}

static bool
rsa_subject_key(const X509_PUBKEY *subject_key)
{
    ASN1_OBJECT *algorithm = NULL;

    return X509_PUBKEY_get0_param(&algorithm, NULL, NULL, NULL,
                                  subject_key) &&
           OBJ_obj2nid(algorithm) == NID_rsaEncryption;
}

/* Makes subjectKeyIdentifier and authorityKeyIdentifier as
 * cert_key_ids_add does. */
static bool
make_key_id_extensions(struct cert_leaf_parts *parts, X509 *ca_cert,
                       const X509_PUBKEY *subject_key)
{
    ASN1_OCTET_STRING *subject_id = cert_key_id_of_public_key(subject_key);
    AUTHORITY_KEYID *authority = AUTHORITY_KEYID_new();
    const ASN1_OCTET_STRING *ca_id = X509_get0_subject_key_id(ca_cert);
    bool ok = false;

    if (subject_id == NULL || authority == NULL)
        goto out;
    authority->keyid = ca_id != NULL ? ASN1_OCTET_STRING_dup(ca_id)
                                     : cert_key_id_of(ca_cert);
    if (authority->keyid == NULL)
        goto out;
    parts->own_extensions[0] =
        X509V3_EXT_i2d(NID_subject_key_identifier, 0, subject_id);
    parts->own_extensions[1] =
        X509V3_EXT_i2d(NID_authority_key_identifier, 0, authority);
    ok = parts->own_extensions[0] != NULL &&
         parts->own_extensions[1] != NULL;
out:
    ASN1_OCTET_STRING_free(subject_id);
    AUTHORITY_KEYID_free(authority);
    return ok;
}

static enum adcp_status
make_alt_names_extension(struct cert_leaf_parts *parts,
                         const struct issue_host *names,
                         struct adcp_error *err)
{
    GENERAL_NAMES *alt_names = NULL;
    enum adcp_status status = cert_alt_names_of(names, &alt_names, err);

    if (status == ADCP_OK && alt_names != NULL) {
        parts->own_extensions[2] =
            X509V3_EXT_i2d(NID_subject_alt_name, 0, alt_names);
        if (parts->own_extensions[2] == NULL) {
            log_openssl_errors(__func__, "encoding subjectAltName");
            status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                    "the SAN extension cannot be encoded");
        }
    }
    GENERAL_NAMES_free(alt_names);
    return status;
}

static enum adcp_status
make_ocsp_access_extension(struct cert_leaf_parts *parts,
                           const char *ocsp_url, struct adcp_error *err)
{
    if (ocsp_url == NULL || ocsp_url[0] == '\0')
        return ADCP_OK;
    parts->own_extensions[3] = cert_ocsp_access_extension(ocsp_url);
    if (parts->own_extensions[3] != NULL)
        return ADCP_OK;
    log_openssl_errors(__func__, "encoding authorityInfoAccess");
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "the authorityInfoAccess extension for OCSP URL "
                          "%.200s cannot be encoded",
                          ocsp_url);
}

/* Lists the extensions in the order cert_build_leaf adds them, and then
 * authorityInfoAccess. The fixed ones are shared, so the list only
 * refers to them. */
static enum adcp_status
make_leaf_extensions(struct cert_leaf_parts *parts, X509 *ca_cert,
                     const X509_PUBKEY *subject_key,
                     const struct issue_host *names, const char *ocsp_url,
                     struct adcp_error *err)
{
    enum adcp_status status = make_alt_names_extension(parts, names, err);
    X509_EXTENSION *listed[CERT_FIXED_EXTENSION_COUNT + 4];
    size_t count = 0;
    bool ok;

    if (status == ADCP_OK)
        status = make_ocsp_access_extension(parts, ocsp_url, err);
    if (status != ADCP_OK)
        return status;
    ok = cert_fixed_extensions_ready() &&
         make_key_id_extensions(parts, ca_cert, subject_key);
    if (ok) {
        listed[count++] = cert_fixed_extension(CERT_FIXED_BASIC_CONSTRAINTS);
        listed[count++] = cert_fixed_extension(rsa_subject_key(subject_key)
                                                   ? CERT_FIXED_KEY_USAGE_RSA
                                                   : CERT_FIXED_KEY_USAGE_EC);
        listed[count++] = cert_fixed_extension(CERT_FIXED_EXTENDED_KEY_USAGE);
        for (size_t i = 0; i < 4; i++)
            if (parts->own_extensions[i] != NULL)
                listed[count++] = parts->own_extensions[i];
        parts->tbs.extensions =
            sk_X509_EXTENSION_new_reserve(NULL, (int)count);
        ok = parts->tbs.extensions != NULL;
    }
    for (size_t i = 0; ok && i < count; i++)
        ok = sk_X509_EXTENSION_push(parts->tbs.extensions, listed[i]) > 0;
    if (ok)
        return ADCP_OK;
    log_openssl_errors(__func__, "encoding the extensions");
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "the certificate extensions cannot be encoded");
}

/* Fills every field of the TBSCertificate but the signature algorithm. */
static enum adcp_status
make_leaf_parts(struct cert_leaf_parts *parts, X509 *ca_cert,
                const X509_PUBKEY *subject_key, const char *common_name,
                const struct issue_host *names, int days,
                const char *ocsp_url, struct adcp_error *err)
{
    enum adcp_status status;
    int issuer_len, public_key_len;

    parts->tbs.subject = cert_subject_name_of(common_name, NULL);
    if (parts->tbs.subject == NULL) {
        log_openssl_errors(__func__, "encoding the subject");
        return adcp_error_set(err, ADCP_ERR_NAME_NOT_ALLOWED, "",
                              "the CN '%s' cannot be encoded; a CN holds "
                              "at most 64 characters",
                              common_name);
    }
    status = cert_validity_of(ca_cert, days, &parts->not_before,
                              &parts->not_after, err);
    if (status != ADCP_OK)
        return status;
    status = make_leaf_extensions(parts, ca_cert, subject_key, names,
                                  ocsp_url, err);
    if (status != ADCP_OK)
        return status;
    parts->version = ASN1_INTEGER_new();
    parts->tbs.serial = cert_serial_random();
    parts->validity = X509_VAL_new();
    issuer_len = i2d_X509_NAME(X509_get_subject_name(ca_cert),
                               &parts->issuer_der);
    public_key_len = i2d_X509_PUBKEY(subject_key, &parts->public_key_der);
    if (parts->version == NULL || parts->tbs.serial == NULL ||
        parts->validity == NULL || issuer_len <= 0 || public_key_len <= 0 ||
        !ASN1_INTEGER_set(parts->version, X509_VERSION_3) ||
        ASN1_TIME_set(parts->validity->notBefore, parts->not_before) ==
            NULL ||
        ASN1_TIME_set(parts->validity->notAfter, parts->not_after) == NULL) {
        log_openssl_errors(__func__, "assembling the certificate");
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the certificate cannot be assembled; see "
                              "the server log");
    }
    parts->tbs.version = parts->version;
    parts->tbs.validity = parts->validity;
    parts->tbs.issuer =
        cert_der_view_of(&parts->issuer_view, parts->issuer_der, issuer_len);
    parts->tbs.public_key = cert_der_view_of(
        &parts->public_key_view, parts->public_key_der, public_key_len);
    return ADCP_OK;
}

/* Encodes the signed certificate and fills out. */
static enum adcp_status
fill_leaf_result(struct cert_leaf_parts *parts, const unsigned char *tbs_der,
                 int tbs_len, const struct cert_leaf_signature *sig,
                 struct issue_result *out, struct adcp_error *err)
{
    unsigned char *der = NULL;
    int len;

    len = cert_leaf_encode(tbs_der, tbs_len, sig, &der);
    out->cert_pem = len > 0 ? cert_pem_of_der(der, len) : NULL;
    OPENSSL_free(der);
    if (out->cert_pem == NULL) {
        log_openssl_errors(__func__, "encoding the certificate");
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the signed certificate cannot be encoded "
                              "as PEM");
    }
    cert_serial_hex_of(parts->tbs.serial, out->serial);
    cert_subject_text_of(parts->tbs.subject, out->subject,
                         sizeof(out->subject));
    out->not_before = parts->not_before;
    out->not_after = parts->not_after;
    return ADCP_OK;
}

/*
 * Builds, signs and checks the end-entity certificate that cert_build_leaf
 * and cert_build_sign would make, with the same profile, errors and
 * signature check, but encodes it without an X509 object, so out->cert
 * stays NULL.
 */
enum adcp_status
cert_build_leaf_signed(X509 *ca_cert, EVP_PKEY *ca_key,
                       const X509_PUBKEY *subject_key,
                       const char *common_name,
                       const struct issue_host *names, int days,
                       const char *digest, const char *ocsp_url,
                       struct issue_result *out, struct adcp_error *err)
{
    struct cert_leaf_signature sig;
    struct cert_leaf_parts parts;
    unsigned char *tbs_der = NULL;
    enum adcp_status status;
    int tbs_len = 0;

    memset(&parts, 0, sizeof(parts));
    memset(&sig, 0, sizeof(sig));
    status = make_leaf_parts(&parts, ca_cert, subject_key, common_name,
                             names, days, ocsp_url, err);
    if (status == ADCP_OK)
        status = cert_build_sign_leaf(&parts, ca_cert, ca_key, digest, &tbs_der,
                                      &tbs_len, &sig, err);
    if (status == ADCP_OK)
        status = fill_leaf_result(&parts, tbs_der, tbs_len, &sig, out, err);
    OPENSSL_free(sig.value);
    OPENSSL_free(tbs_der);
    leaf_parts_free(&parts);
    return status;
}
