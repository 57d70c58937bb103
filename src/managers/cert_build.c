/*
 * The certificates built as OpenSSL X509 objects: the CA's self-signed
 * root (cert_build_root) and the API's own TLS server certificate
 * (cert_build_leaf). Both are signed by cert_build_sign (cert_sign.c).
 * Host certificates for CSRs are encoded without an X509 object
 * (cert_leaf.c).
 */
#include "managers/cert_issue.h"

#include <openssl/x509v3.h>
#include <stdbool.h>

#include "common/log.h"
#include "managers/cert_internal.h"

/*
 * Makes a version 3 certificate with a fresh random serial, the given
 * subject and issuer (NULL: the subject, for a self-signed certificate),
 * and no public key yet. Returns NULL when OpenSSL fails.
 */
static X509 *
new_cert(const X509_NAME *subject, const X509_NAME *issuer)
{
    ASN1_INTEGER *serial = cert_serial_random();
    X509 *cert = X509_new();
    bool ok;

    ok = serial != NULL && cert != NULL &&
         X509_set_version(cert, X509_VERSION_3) &&
         X509_set_serialNumber(cert, serial) &&
         X509_set_subject_name(cert, subject) &&
         X509_set_issuer_name(cert, issuer ? issuer : subject);
    ASN1_INTEGER_free(serial);
    if (!ok) {
        log_openssl_errors(__func__, "making the certificate");
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/*
 * Sets target to the algorithm identifier algorithm (with its parameters
 * exactly as encoded) and the key bits of len bytes, with no unused bits.
 * The key is not decoded, so target has no EVP_PKEY. Returns false when
 * memory runs out.
 */
bool
cert_public_key_copy(X509_PUBKEY *target, const X509_ALGOR *algorithm,
                     const unsigned char *bits, int len)
{
    X509_ALGOR *target_algorithm = NULL;
    unsigned char *bits_copy;

    if (len <= 0)
        return false;
    bits_copy = OPENSSL_memdup(bits, (size_t)len);
    /* set0_param takes bits_copy. The algorithm is copied afterwards,
     * with its parameters. */
    if (bits_copy == NULL ||
        !X509_PUBKEY_set0_param(target, NULL, V_ASN1_UNDEF, NULL, bits_copy,
                                len)) {
        OPENSSL_free(bits_copy);
        return false;
    }
    return X509_PUBKEY_get0_param(NULL, NULL, NULL, &target_algorithm,
                                  target) &&
           X509_ALGOR_copy(target_algorithm, algorithm) == 1;
}

/*
 * Copies the SubjectPublicKeyInfo source into cert byte for byte. The key
 * is not decoded or encoded again, because X509_PUBKEY_set sets up an
 * OpenSSL 3.0 encoder and decoder on each call: 0.17 ms on the benchmark
 * machine of docs/benchmarks.md, more than an EC P-256 signature.
 *
 * NOTE: so cert carries no decoded EVP_PKEY, and X509_get0_pubkey(cert)
 * returns NULL. A caller that needs the key parses the PEM or DER.
 */
static bool
copy_public_key(X509 *cert, const X509_PUBKEY *source)
{
    X509_PUBKEY *target = X509_get_X509_PUBKEY(cert);
    X509_ALGOR *algorithm = NULL;
    const unsigned char *bits = NULL;
    int len = 0;

    return target != NULL &&
           X509_PUBKEY_get0_param(NULL, &bits, &len, &algorithm, source) &&
           cert_public_key_copy(target, algorithm, bits, len);
}

/* Adds an extension written in the openssl.cnf syntax. value is always a
 * constant of the CA's code, never text from a request. */
static bool
add_ext_conf(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    bool ok;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    ok = ext != NULL && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/*
 * Adds subjectAltName with every DNS name and IP address of names, in the
 * order registered. A host with neither gets no SAN extension, because
 * RFC 5280 does not allow an empty one.
 */
static enum adcp_status
add_subject_alt_names(X509 *cert, const struct issue_host *names,
                      struct adcp_error *err)
{
    GENERAL_NAMES *list = NULL;
    enum adcp_status status = cert_alt_names_of(names, &list, err);

    if (list == NULL)
        return status;
    if (status == ADCP_OK &&
        X509_add1_ext_i2d(cert, NID_subject_alt_name, list, 0,
                      X509V3_ADD_DEFAULT) != 1) {
        log_openssl_errors(__func__, "adding subjectAltName");
        status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                "the SAN extension cannot be encoded");
    }
    GENERAL_NAMES_free(list);
    return status;
}

/* Sets the extensions every end-entity certificate of this CA carries.
 * keyEncipherment is only meaningful for RSA keys, so EC keys get
 * digitalSignature alone. */
static enum adcp_status
add_leaf_extensions(X509 *cert, X509 *ca_cert, const struct issue_host *names,
                    const char *extended_key_usage, struct adcp_error *err)
{
    ASN1_OBJECT *algorithm = NULL;
    const char *key_usage = "critical,digitalSignature";

    if (X509_PUBKEY_get0_param(&algorithm, NULL, NULL, NULL,
                               X509_get_X509_PUBKEY(cert)) &&
        OBJ_obj2nid(algorithm) == NID_rsaEncryption)
        key_usage = "critical,digitalSignature,keyEncipherment";
    if (!add_ext_conf(cert, ca_cert, NID_basic_constraints,
                      "critical,CA:FALSE") ||
        !add_ext_conf(cert, ca_cert, NID_key_usage, key_usage) ||
        !add_ext_conf(cert, ca_cert, NID_ext_key_usage,
                      extended_key_usage) ||
        !cert_key_ids_add(cert, ca_cert)) {
        log_openssl_errors(__func__, "adding extensions");
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the certificate extensions cannot be "
                              "encoded");
    }
    return add_subject_alt_names(cert, names, err);
}

/*
 * Builds an unsigned end-entity certificate under ca_cert for the public
 * key subject_key, copied as it is: subject CN=common_name, SANs from
 * names, validity of days clamped to the CA's, extendedKeyUsage in the
 * openssl.cnf syntax ("serverAuth,clientAuth"). On ADCP_OK *out is the
 * caller's.
 */
enum adcp_status
cert_build_leaf(X509 *ca_cert, const X509_PUBKEY *subject_key,
                const char *common_name, const struct issue_host *names,
                int days, const char *extended_key_usage, X509 **out,
                struct adcp_error *err)
{
    enum adcp_status status = ADCP_ERR_INTERNAL;
    X509_NAME *subject = NULL;
    X509 *cert = NULL;

    *out = NULL;
    subject = cert_subject_name_of(common_name, NULL);
    if (subject == NULL) {
        log_openssl_errors(__func__, "encoding the subject");
        status = adcp_error_set(err, ADCP_ERR_NAME_NOT_ALLOWED, "",
                                "the CN '%s' cannot be encoded; a CN holds "
                                "at most 64 characters",
                                common_name);
        goto out;
    }
    cert = new_cert(subject, X509_get_subject_name(ca_cert));
    if (cert == NULL || !copy_public_key(cert, subject_key)) {
        log_openssl_errors(__func__, "copying the public key");
        status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                "the certificate cannot be assembled; see "
                                "the server log");
        goto out;
    }
    status = cert_validity_set(cert, ca_cert, days, err);
    if (status != ADCP_OK)
        goto out;
    status = add_leaf_extensions(cert, ca_cert, names, extended_key_usage,
                                 err);
    if (status != ADCP_OK)
        goto out;
    *out = cert;
    cert = NULL;
out:
    X509_NAME_free(subject);
    X509_free(cert);
    return status;
}

/*
 * Builds the unsigned self-signed root for key: O and CN, CA:TRUE with
 * pathlen:0 (this root signs end-entity certificates only), keyUsage
 * keyCertSign and cRLSign, key identifiers. On ADCP_OK *out is the
 * caller's.
 */
enum adcp_status
cert_build_root(EVP_PKEY *key, const char *common_name,
                const char *organization, int days, X509 **out,
                struct adcp_error *err)
{
    enum adcp_status status = ADCP_ERR_INTERNAL;
    X509_NAME *subject = NULL;
    X509 *cert = NULL;

    *out = NULL;
    subject = cert_subject_name_of(common_name, organization);
    if (subject == NULL) {
        log_openssl_errors(__func__, "encoding the subject");
        status = adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "common_name",
                                "the root subject CN '%s' O '%s' cannot be "
                                "encoded; each holds at most 64 characters",
                                common_name,
                                organization ? organization : "");
        goto out;
    }
    cert = new_cert(subject, NULL);
    if (cert == NULL || !X509_set_pubkey(cert, key)) {
        log_openssl_errors(__func__, "setting the root's public key");
        status = adcp_error_set(err, ADCP_ERR_HSM, "",
                                "the root certificate cannot be assembled "
                                "(is the CA key's public half readable?); "
                                "see the server log");
        goto out;
    }
    status = cert_validity_set(cert, NULL, days, err);
    if (status != ADCP_OK)
        goto out;
    if (!add_ext_conf(cert, cert, NID_basic_constraints,
                      "critical,CA:TRUE,pathlen:0") ||
        !add_ext_conf(cert, cert, NID_key_usage,
                      "critical,keyCertSign,cRLSign") ||
        !cert_key_ids_add(cert, NULL)) {
        log_openssl_errors(__func__, "adding extensions");
        status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                "the root extensions cannot be encoded");
        goto out;
    }
    *out = cert;
    cert = NULL;
out:
    X509_NAME_free(subject);
    X509_free(cert);
    return status;
}
