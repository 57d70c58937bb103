/*
 * Certificate assembly shared by CSR issuance, the root and the API's server
 * certificate: serial, validity, the extensions the CA sets, signing through
 * any EVP_PKEY (HSM-backed keys included), and the issue_result a caller
 * receives.
 */
#include "managers/cert_issue.h"

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "managers/cert_internal.h"

#define CERT_SERIAL_BYTES 16
#define CERT_SERIAL_ATTEMPTS 3
/* notBefore lies this far in the past so that a relying party whose clock
 * runs a little behind still accepts a certificate issued just now. */
#define CERT_BACKDATE_SECONDS 60
#define SECONDS_PER_DAY 86400

static bool
all_zero(const unsigned char *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (bytes[i] != 0)
            return false;
    return true;
}

ASN1_INTEGER *
cert_serial_random(void)
{
    unsigned char bytes[CERT_SERIAL_BYTES];
    ASN1_INTEGER *serial = NULL;
    BIGNUM *value = NULL;
    int attempt;

    /* A zero serial is not allowed (RFC 5280, section 4.1.2.2). It comes
     * up once in 2^127 draws, so a few attempts only guard against a
     * broken generator that returns zeros. */
    for (attempt = 0; attempt < CERT_SERIAL_ATTEMPTS; attempt++) {
        if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
            log_openssl_errors(__func__, "drawing a serial number");
            return NULL;
        }
        bytes[0] &= 0x7f;
        if (!all_zero(bytes, sizeof(bytes)))
            break;
    }
    if (attempt == CERT_SERIAL_ATTEMPTS) {
        log_error("the random generator returned only zero bytes");
        return NULL;
    }
    value = BN_bin2bn(bytes, sizeof(bytes), NULL);
    if (value != NULL)
        serial = BN_to_ASN1_INTEGER(value, NULL);
    BN_free(value);
    return serial;
}

static void
serial_hex_of(const ASN1_INTEGER *serial, char out[ADCP_SERIAL_MAX])
{
    static const char digits[] = "0123456789ABCDEF";
    const unsigned char *data;
    size_t len, pos = 0;

    out[0] = '\0';
    data = ASN1_STRING_get0_data(serial);
    len = (size_t)ASN1_STRING_length(serial);
    /* The same text as `openssl x509 -serial`: a sign, then two digits
     * per content byte. A serial too long for out (RFC 5280 allows 20
     * bytes, out has room for 23) gives "" rather than a truncated,
     * ambiguous value. */
    if (1 + 2 * len + 1 > ADCP_SERIAL_MAX)
        return;
    if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER)
        out[pos++] = '-';
    if (len == 0) {
        out[pos++] = '0';
        out[pos++] = '0';
    }
    for (size_t i = 0; i < len; i++) {
        out[pos++] = digits[data[i] >> 4];
        out[pos++] = digits[data[i] & 0x0f];
    }
    out[pos] = '\0';
}

void
cert_serial_hex(const X509 *cert, char out[ADCP_SERIAL_MAX])
{
    out[0] = '\0';
    if (cert != NULL)
        serial_hex_of(X509_get0_serialNumber(cert), out);
}

void
cert_fingerprint_sha256(const X509 *cert, char out[65])
{
    static const char digits[] = "0123456789ABCDEF";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    out[0] = '\0';
    if (cert == NULL || !X509_digest(cert, EVP_sha256(), md, &md_len) ||
        md_len != 32)
        return;
    for (unsigned int i = 0; i < md_len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0x0f];
    }
    out[64] = '\0';
}

void
issue_result_clear(struct issue_result *result)
{
    if (result == NULL)
        return;
    X509_free(result->cert);
    free(result->cert_pem);
    memset(result, 0, sizeof(*result));
}

/* Converts an ASN1_TIME to seconds since the epoch. */
static bool
time_of_asn1(const ASN1_TIME *when, time_t *out)
{
    struct tm tm;

    if (when == NULL || ASN1_TIME_to_tm(when, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

/*
 * Computes notBefore as now minus CERT_BACKDATE_SECONDS and notAfter as
 * now plus days. Under a CA (ca_cert not NULL) neither may leave the CA's
 * own validity, so both are clamped to it, and an expired CA issues
 * nothing.
 */
static enum adcp_status
validity_of(const X509 *ca_cert, int days, time_t *not_before_out,
            time_t *not_after_out, struct adcp_error *err)
{
    time_t now = time(NULL);
    time_t not_before = now - CERT_BACKDATE_SECONDS;
    time_t not_after = now + (time_t)days * SECONDS_PER_DAY;
    time_t ca_not_before, ca_not_after;

    if (ca_cert != NULL) {
        if (!time_of_asn1(X509_get0_notBefore(ca_cert), &ca_not_before) ||
            !time_of_asn1(X509_get0_notAfter(ca_cert), &ca_not_after))
            return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                  "the CA certificate's validity cannot "
                                  "be read; check the CA certificate");
        if (ca_not_after <= now)
            return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                  "the CA certificate expired at %lld; "
                                  "renew the CA before issuing",
                                  (long long)ca_not_after);
        if (not_before < ca_not_before)
            not_before = ca_not_before;
        if (not_after > ca_not_after)
            not_after = ca_not_after;
    }
    *not_before_out = not_before;
    *not_after_out = not_after;
    return ADCP_OK;
}

static enum adcp_status
set_validity(X509 *cert, const X509 *ca_cert, int days,
             struct adcp_error *err)
{
    time_t not_before = 0, not_after = 0;
    enum adcp_status status;

    status = validity_of(ca_cert, days, &not_before, &not_after, err);
    if (status != ADCP_OK)
        return status;
    if (ASN1_TIME_set(X509_getm_notBefore(cert), not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(cert), not_after) == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the certificate's validity cannot be "
                              "encoded for %d days",
                              days);
    return ADCP_OK;
}

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

/* Adds an extension written in the openssl.cnf syntax; value is always a
 * constant of this file, never text from a request. */
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

/* Computes the key identifier of RFC 5280, section 4.2.1.2, method 1:
 * the SHA-1 hash of the subjectPublicKey BIT STRING. */
static ASN1_OCTET_STRING *
key_id_of_public_key(const X509_PUBKEY *public_key)
{
    const unsigned char *key_bits = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ASN1_OCTET_STRING *id;
    int key_len = 0;

    if (public_key == NULL ||
        !X509_PUBKEY_get0_param(NULL, &key_bits, &key_len, NULL,
                                public_key) ||
        !EVP_Digest(key_bits, (size_t)key_len, md, &md_len, EVP_sha1(),
                    NULL))
        return NULL;
    id = ASN1_OCTET_STRING_new();
    if (id != NULL && !ASN1_OCTET_STRING_set(id, md, (int)md_len)) {
        ASN1_OCTET_STRING_free(id);
        id = NULL;
    }
    return id;
}

static ASN1_OCTET_STRING *
key_id_of(X509 *cert)
{
    return key_id_of_public_key(X509_get_X509_PUBKEY(cert));
}

/*
 * Adds subjectKeyIdentifier and authorityKeyIdentifier. The authority's
 * key id is copied from the CA certificate's subjectKeyIdentifier, so that
 * path building matches it. For a CA certificate without one, it is
 * computed from the CA's public key. With ca_cert NULL (self-signed), both
 * ids are equal.
 */
static bool
add_key_ids(X509 *cert, X509 *ca_cert)
{
    ASN1_OCTET_STRING *subject_id = key_id_of(cert);
    AUTHORITY_KEYID *authority = AUTHORITY_KEYID_new();
    const ASN1_OCTET_STRING *ca_id = NULL;
    bool ok = false;

    if (subject_id == NULL || authority == NULL)
        goto out;
    if (ca_cert == NULL)
        authority->keyid = ASN1_OCTET_STRING_dup(subject_id);
    else if ((ca_id = X509_get0_subject_key_id(ca_cert)) != NULL)
        authority->keyid = ASN1_OCTET_STRING_dup(ca_id);
    else
        authority->keyid = key_id_of(ca_cert);
    if (authority->keyid == NULL)
        goto out;
    ok = X509_add1_ext_i2d(cert, NID_subject_key_identifier, subject_id, 0,
                       X509V3_ADD_DEFAULT) == 1 &&
         X509_add1_ext_i2d(cert, NID_authority_key_identifier, authority, 0,
                       X509V3_ADD_DEFAULT) == 1;
out:
    ASN1_OCTET_STRING_free(subject_id);
    AUTHORITY_KEYID_free(authority);
    return ok;
}

/* A DNS name as a SAN: printable ASCII with no spaces. The host manager
 * validates names when they are registered; this is a last check before
 * the name is signed. */
static bool
dns_name_encodable(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return false;
    for (; *name != '\0'; name++)
        if ((unsigned char)*name <= 0x20 || (unsigned char)*name >= 0x7f)
            return false;
    return true;
}

static enum adcp_status
push_dns_name(GENERAL_NAMES *names, const char *dns_name,
              struct adcp_error *err)
{
    GENERAL_NAME *entry = NULL;
    ASN1_IA5STRING *text = NULL;

    if (!dns_name_encodable(dns_name))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "host.dns_names",
                              "the host's DNS name '%s' is not printable "
                              "ASCII; register it in its IDNA (xn--) form",
                              dns_name ? dns_name : "");
    entry = GENERAL_NAME_new();
    text = ASN1_IA5STRING_new();
    if (entry == NULL || text == NULL ||
        !ASN1_STRING_set(text, dns_name, (int)strlen(dns_name))) {
        GENERAL_NAME_free(entry);
        ASN1_IA5STRING_free(text);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    }
    GENERAL_NAME_set0_value(entry, GEN_DNS, text);
    if (!sk_GENERAL_NAME_push(names, entry)) {
        GENERAL_NAME_free(entry);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    }
    return ADCP_OK;
}

static enum adcp_status
push_ip_address(GENERAL_NAMES *names, const char *address,
                struct adcp_error *err)
{
    GENERAL_NAME *entry = NULL;
    ASN1_OCTET_STRING *octets = NULL;

    /* a2i_IPADDRESS gives the binary form, 4 or 16 bytes, as iPAddress
     * needs it. */
    octets = address ? a2i_IPADDRESS(address) : NULL;
    if (octets == NULL) {
        ERR_clear_error();
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD,
                              "host.ip_addresses",
                              "the host's IP address '%s' is not an IPv4 or "
                              "IPv6 address; correct the host record",
                              address ? address : "");
    }
    entry = GENERAL_NAME_new();
    if (entry == NULL) {
        ASN1_OCTET_STRING_free(octets);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    }
    GENERAL_NAME_set0_value(entry, GEN_IPADD, octets);
    if (!sk_GENERAL_NAME_push(names, entry)) {
        GENERAL_NAME_free(entry);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    }
    return ADCP_OK;
}

/* Sets *out to every DNS name and IP address of names, in the order
 * registered, or to NULL for a host with neither. */
static enum adcp_status
host_alt_names_of(const struct issue_host *names, GENERAL_NAMES **out,
                  struct adcp_error *err)
{
    enum adcp_status status = ADCP_OK;
    GENERAL_NAMES *list;

    *out = NULL;
    if (names->dns_count == 0 && names->ip_count == 0)
        return ADCP_OK;
    list = sk_GENERAL_NAME_new_null();
    if (list == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    for (size_t i = 0; status == ADCP_OK && i < names->dns_count; i++)
        status = push_dns_name(list, names->dns_names[i], err);
    for (size_t i = 0; status == ADCP_OK && i < names->ip_count; i++)
        status = push_ip_address(list, names->ip_addresses[i], err);
    *out = list;
    return status;
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
    enum adcp_status status = host_alt_names_of(names, &list, err);

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

/* Builds the subject O=organization (when given), CN=common_name. */
static X509_NAME *
subject_name_of(const char *common_name, const char *organization)
{
    X509_NAME *name = X509_NAME_new();

    if (name == NULL)
        return NULL;
    /* A DN runs from the top of the directory tree down, so O precedes
     * CN. */
    if ((organization != NULL && organization[0] != '\0' &&
         !X509_NAME_add_entry_by_NID(name, NID_organizationName,
                                     MBSTRING_UTF8,
                                     (const unsigned char *)organization,
                                     -1, -1, 0)) ||
        !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)common_name, -1,
                                    -1, 0)) {
        X509_NAME_free(name);
        return NULL;
    }
    return name;
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
        !add_key_ids(cert, ca_cert)) {
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
    subject = subject_name_of(common_name, NULL);
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
    status = set_validity(cert, ca_cert, days, err);
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
    subject = subject_name_of(common_name, organization);
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
    status = set_validity(cert, NULL, days, err);
    if (status != ADCP_OK)
        goto out;
    if (!add_ext_conf(cert, cert, NID_basic_constraints,
                      "critical,CA:TRUE,pathlen:0") ||
        !add_ext_conf(cert, cert, NID_key_usage,
                      "critical,keyCertSign,cRLSign") ||
        !add_key_ids(cert, NULL)) {
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

static char *
pem_of(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy = NULL;
    long len;

    if (bio != NULL && PEM_write_bio_X509(bio, cert) == 1) {
        len = BIO_get_mem_data(bio, &data);
        if (len > 0)
            copy = strndup(data, (size_t)len);
    }
    BIO_free(bio);
    return copy;
}

/* Writes the subject as RFC 2253 text. NOTE: a subject longer than the
 * 255 bytes of out is cut off. The subjects this CA writes (one CN, or an
 * O and a CN, each at most 64 ASCII characters) fit. */
static void
subject_text_of(const X509_NAME *subject, char *out, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len = 0;

    out[0] = '\0';
    if (bio != NULL &&
        X509_NAME_print_ex(bio, subject, 0, XN_FLAG_RFC2253) >= 0)
        len = BIO_get_mem_data(bio, &data);
    if (len > 0)
        snprintf(out, size, "%.*s", (int)len, data);
    BIO_free(bio);
}

/* Fills out from the signed cert and takes ownership of it. */
static enum adcp_status
fill_result(X509 *cert, struct issue_result *out, struct adcp_error *err)
{
    out->cert_pem = pem_of(cert);
    if (out->cert_pem == NULL ||
        !time_of_asn1(X509_get0_notBefore(cert), &out->not_before) ||
        !time_of_asn1(X509_get0_notAfter(cert), &out->not_after)) {
        free(out->cert_pem);
        out->cert_pem = NULL;
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the signed certificate cannot be encoded "
                              "as PEM");
    }
    cert_serial_hex(cert, out->serial);
    subject_text_of(X509_get_subject_name(cert), out->subject,
                    sizeof(out->subject));
    out->cert = cert;
    return ADCP_OK;
}

/*
 * Checks the new signature of cert against ca_cert's public key (ca_cert
 * NULL: the certificate's own, for a root). The check catches a CA key
 * that does not belong to ca_cert and an HSM that returns a faulty
 * signature. Under an EC CA certificate only a sample of signatures is
 * checked (cert_sign_check.c).
 */
static enum adcp_status
check_signature(X509 *cert, X509 *ca_cert, EVP_PKEY *ca_key,
                struct adcp_error *err)
{
    EVP_PKEY *verify_key;
    bool passed;

    if (ca_cert != NULL && !cert_sign_check_due(ca_key, ca_cert))
        return ADCP_OK;
    verify_key = X509_get0_pubkey(ca_cert ? ca_cert : cert);
    passed = verify_key != NULL && X509_verify(cert, verify_key) == 1;
    if (ca_cert != NULL)
        cert_sign_check_record(ca_key, ca_cert, passed);
    if (passed)
        return ADCP_OK;
    log_openssl_errors(__func__, "checking the new signature");
    return adcp_error_set(err, ADCP_ERR_HSM, "",
                          "the signature made with the CA key does not "
                          "verify with the CA certificate; check that the "
                          "key and certificate belong together");
}

/*
 * Signs *cert with ca_key and digest ("sha256", "sha384" or "sha512"),
 * then checks the signature as check_signature describes. Takes
 * ownership of *cert and sets it to NULL. On ADCP_OK out contains the
 * certificate; otherwise out is unchanged and the certificate freed.
 */
enum adcp_status
cert_build_sign(X509 **cert, X509 *ca_cert, EVP_PKEY *ca_key,
                const char *digest, struct issue_result *out,
                struct adcp_error *err)
{
    enum adcp_status status = ADCP_ERR_INTERNAL;
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    X509 *signed_cert = *cert;

    *cert = NULL;
    if (md_ctx == NULL ||
        EVP_DigestSignInit_ex(md_ctx, NULL, digest, NULL, NULL, ca_key,
                              NULL) != 1 ||
        X509_sign_ctx(signed_cert, md_ctx) <= 0) {
        log_openssl_errors(__func__, "signing the certificate");
        status = adcp_error_set(err, ADCP_ERR_HSM, "",
                                "signing the certificate with the CA key "
                                "and %s failed; check that the HSM holding "
                                "the CA key is reachable",
                                digest);
        goto out;
    }
    status = check_signature(signed_cert, ca_cert, ca_key, err);
    if (status != ADCP_OK)
        goto out;
    status = fill_result(signed_cert, out, err);
    if (status == ADCP_OK)
        signed_cert = NULL;
out:
    EVP_MD_CTX_free(md_ctx);
    X509_free(signed_cert);
    return status;
}

/*
 * End-entity certificates for CSRs, encoded without an X509 object.
 *
 * Through X509 the TBSCertificate is encoded twice (to sign it and again
 * for i2d_X509), the issuer name is copied with a decode and re-encode,
 * and each extension goes through the openssl.cnf parser. Encoding as
 * below saved about 200 000 of 1 930 000 instructions per EC P-256
 * certificate under callgrind (bench/issue_cost.c). Here
 * OpenSSL's ASN.1 encoder writes the certificate from templates once. The
 * signature algorithm, the issuer and the public key are ANY fields that
 * hold DER encoded elsewhere (by the signing provider, in the CA
 * certificate and in the CSR), so they are copied, not rebuilt.
 */

/* TBSCertificate of RFC 5280, section 4.1, always version 3 with
 * extensions. */
typedef struct {
    ASN1_INTEGER *version;
    ASN1_INTEGER *serial;
    ASN1_TYPE *signature;
    ASN1_TYPE *issuer;
    X509_VAL *validity;
    X509_NAME *subject;
    ASN1_TYPE *public_key;
    STACK_OF(X509_EXTENSION) *extensions;
} CERT_LEAF_TBS;

ASN1_SEQUENCE(CERT_LEAF_TBS) = {
    ASN1_EXP(CERT_LEAF_TBS, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(CERT_LEAF_TBS, serial, ASN1_INTEGER),
    ASN1_SIMPLE(CERT_LEAF_TBS, signature, ASN1_ANY),
    ASN1_SIMPLE(CERT_LEAF_TBS, issuer, ASN1_ANY),
    ASN1_SIMPLE(CERT_LEAF_TBS, validity, X509_VAL),
    ASN1_SIMPLE(CERT_LEAF_TBS, subject, X509_NAME),
    ASN1_SIMPLE(CERT_LEAF_TBS, public_key, ASN1_ANY),
    ASN1_EXP_SEQUENCE_OF(CERT_LEAF_TBS, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(CERT_LEAF_TBS)

/* Certificate of RFC 5280, section 4.1, with the TBSCertificate as
 * encoded and signed. */
typedef struct {
    ASN1_TYPE *tbs;
    ASN1_TYPE *signature_algorithm;
    ASN1_BIT_STRING *signature;
} CERT_LEAF;

ASN1_SEQUENCE(CERT_LEAF) = {
    ASN1_SIMPLE(CERT_LEAF, tbs, ASN1_ANY),
    ASN1_SIMPLE(CERT_LEAF, signature_algorithm, ASN1_ANY),
    ASN1_SIMPLE(CERT_LEAF, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CERT_LEAF)

/* An ANY value that refers to the DER of a SEQUENCE held elsewhere. The
 * encoder writes such a value as it is. Nothing in it is freed. */
struct der_view {
    ASN1_STRING string;
    ASN1_TYPE any;
};

static ASN1_TYPE *
der_view_of(struct der_view *view, const unsigned char *der, int len)
{
    memset(view, 0, sizeof(*view));
    view->string.type = V_ASN1_SEQUENCE;
    view->string.length = len;
    view->string.data = (unsigned char *)der;
    view->any.type = V_ASN1_SEQUENCE;
    view->any.value.sequence = &view->string;
    return &view->any;
}

/* The extensions that are the same in every host certificate, made once
 * with the openssl.cnf syntax. */
enum fixed_extension {
    FIXED_BASIC_CONSTRAINTS,
    FIXED_KEY_USAGE_RSA,
    FIXED_KEY_USAGE_EC,
    FIXED_EXTENDED_KEY_USAGE,
    FIXED_EXTENSION_COUNT
};

static X509_EXTENSION *fixed_extensions[FIXED_EXTENSION_COUNT];
static pthread_once_t fixed_extensions_once = PTHREAD_ONCE_INIT;

static void
fixed_extensions_init(void)
{
    static const struct {
        int nid;
        const char *value;
    } specs[FIXED_EXTENSION_COUNT] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, CERT_HOST_EXTENDED_KEY_USAGE},
    };

    for (size_t i = 0; i < FIXED_EXTENSION_COUNT; i++)
        fixed_extensions[i] =
            X509V3_EXT_nconf_nid(NULL, NULL, specs[i].nid, specs[i].value);
}

/* The parts of a leaf certificate that are freed after encoding. */
struct leaf_parts {
    CERT_LEAF_TBS tbs;
    ASN1_INTEGER *version;
    X509_VAL *validity;
    unsigned char *issuer_der;
    unsigned char *public_key_der;
    struct der_view issuer_view;
    struct der_view public_key_view;
    struct der_view algorithm_view;
    X509_EXTENSION *own_extensions[3]; /* SKI, AKI and SAN */
    time_t not_before;
    time_t not_after;
};

static void
leaf_parts_free(struct leaf_parts *parts)
{
    ASN1_INTEGER_free(parts->version);
    ASN1_INTEGER_free(parts->tbs.serial);
    X509_VAL_free(parts->validity);
    X509_NAME_free(parts->tbs.subject);
    OPENSSL_free(parts->issuer_der);
    OPENSSL_free(parts->public_key_der);
    sk_X509_EXTENSION_free(parts->tbs.extensions);
    for (size_t i = 0; i < 3; i++)
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

/* Makes subjectKeyIdentifier and authorityKeyIdentifier as add_key_ids
 * does. */
static bool
make_key_id_extensions(struct leaf_parts *parts, X509 *ca_cert,
                       const X509_PUBKEY *subject_key)
{
    ASN1_OCTET_STRING *subject_id = key_id_of_public_key(subject_key);
    AUTHORITY_KEYID *authority = AUTHORITY_KEYID_new();
    const ASN1_OCTET_STRING *ca_id = X509_get0_subject_key_id(ca_cert);
    bool ok = false;

    if (subject_id == NULL || authority == NULL)
        goto out;
    authority->keyid = ca_id != NULL ? ASN1_OCTET_STRING_dup(ca_id)
                                     : key_id_of(ca_cert);
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
make_alt_names_extension(struct leaf_parts *parts,
                         const struct issue_host *names,
                         struct adcp_error *err)
{
    GENERAL_NAMES *alt_names = NULL;
    enum adcp_status status = host_alt_names_of(names, &alt_names, err);

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

static bool
fixed_extensions_ready(void)
{
    if (pthread_once(&fixed_extensions_once, fixed_extensions_init) != 0)
        return false;
    for (size_t i = 0; i < FIXED_EXTENSION_COUNT; i++)
        if (fixed_extensions[i] == NULL)
            return false;
    return true;
}

/* Lists the extensions in the order cert_build_leaf adds them. The fixed
 * ones are shared, so the list only refers to them. */
static enum adcp_status
make_leaf_extensions(struct leaf_parts *parts, X509 *ca_cert,
                     const X509_PUBKEY *subject_key,
                     const struct issue_host *names, struct adcp_error *err)
{
    enum adcp_status status = make_alt_names_extension(parts, names, err);
    X509_EXTENSION *listed[FIXED_EXTENSION_COUNT + 3];
    size_t count = 0;
    bool ok;

    if (status != ADCP_OK)
        return status;
    ok = fixed_extensions_ready() &&
         make_key_id_extensions(parts, ca_cert, subject_key);
    if (ok) {
        listed[count++] = fixed_extensions[FIXED_BASIC_CONSTRAINTS];
        listed[count++] = fixed_extensions[rsa_subject_key(subject_key)
                                               ? FIXED_KEY_USAGE_RSA
                                               : FIXED_KEY_USAGE_EC];
        listed[count++] = fixed_extensions[FIXED_EXTENDED_KEY_USAGE];
        for (size_t i = 0; i < 3; i++)
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
make_leaf_parts(struct leaf_parts *parts, X509 *ca_cert,
                const X509_PUBKEY *subject_key, const char *common_name,
                const struct issue_host *names, int days,
                struct adcp_error *err)
{
    enum adcp_status status;
    int issuer_len, public_key_len;

    parts->tbs.subject = subject_name_of(common_name, NULL);
    if (parts->tbs.subject == NULL) {
        log_openssl_errors(__func__, "encoding the subject");
        return adcp_error_set(err, ADCP_ERR_NAME_NOT_ALLOWED, "",
                              "the CN '%s' cannot be encoded; a CN holds "
                              "at most 64 characters",
                              common_name);
    }
    status = validity_of(ca_cert, days, &parts->not_before,
                         &parts->not_after, err);
    if (status != ADCP_OK)
        return status;
    status = make_leaf_extensions(parts, ca_cert, subject_key, names, err);
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
    parts->tbs.issuer = der_view_of(&parts->issuer_view, parts->issuer_der,
                                    issuer_len);
    parts->tbs.public_key = der_view_of(
        &parts->public_key_view, parts->public_key_der, public_key_len);
    return ADCP_OK;
}

/* A signature made over an encoded TBSCertificate. */
struct leaf_signature {
    unsigned char algorithm[128]; /* AlgorithmIdentifier DER */
    size_t algorithm_len;
    unsigned char *value;
    size_t value_len;
};

/* Gets the AlgorithmIdentifier of the signature that signing_ctx makes,
 * as X509_sign_ctx does for a provider's key in OpenSSL 3.0. */
static bool
get_algorithm_id(EVP_PKEY_CTX *signing_ctx, struct leaf_signature *sig)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID,
                                sig->algorithm, sizeof(sig->algorithm)),
        OSSL_PARAM_END,
    };

    if (EVP_PKEY_CTX_get_params(signing_ctx, params) != 1 ||
        !OSSL_PARAM_modified(&params[0]))
        return false;
    sig->algorithm_len = params[0].return_size;
    return sig->algorithm_len > 0;
}

/* Encodes parts->tbs with the signature algorithm of ca_key and digest,
 * signs it and sets *tbs_der (OPENSSL_free it) and sig. */
static enum adcp_status
sign_leaf(struct leaf_parts *parts, EVP_PKEY *ca_key, const char *digest,
          unsigned char **tbs_der, int *tbs_len, struct leaf_signature *sig,
          struct adcp_error *err)
{
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *signing_ctx = NULL;
    bool ok;

    ok = md_ctx != NULL &&
         EVP_DigestSignInit_ex(md_ctx, &signing_ctx, digest, NULL, NULL,
                               ca_key, NULL) == 1 &&
         get_algorithm_id(signing_ctx, sig);
    if (ok) {
        parts->tbs.signature = der_view_of(
            &parts->algorithm_view, sig->algorithm, (int)sig->algorithm_len);
        *tbs_len = ASN1_item_i2d((const ASN1_VALUE *)&parts->tbs, tbs_der,
                                 ASN1_ITEM_rptr(CERT_LEAF_TBS));
        sig->value_len = (size_t)EVP_PKEY_get_size(ca_key);
        sig->value = OPENSSL_malloc(sig->value_len);
        ok = *tbs_len > 0 && sig->value != NULL &&
             EVP_DigestSign(md_ctx, sig->value, &sig->value_len, *tbs_der,
                            (size_t)*tbs_len) == 1;
    }
    EVP_MD_CTX_free(md_ctx);
    if (ok)
        return ADCP_OK;
    log_openssl_errors(__func__, "signing the certificate");
    return adcp_error_set(err, ADCP_ERR_HSM, "",
                          "signing the certificate with the CA key and %s "
                          "failed; check that the HSM holding the CA key "
                          "is reachable",
                          digest);
}

/*
 * Checks the signature over tbs_der with ca_cert's public key, as
 * check_signature does for an X509: always under an RSA CA certificate,
 * for a sample under an EC one (cert_sign_check.c).
 */
static enum adcp_status
check_leaf_signature(const unsigned char *tbs_der, int tbs_len,
                     const struct leaf_signature *sig, X509 *ca_cert,
                     EVP_PKEY *ca_key, const char *digest,
                     struct adcp_error *err)
{
    EVP_PKEY *verify_key;
    EVP_MD_CTX *md_ctx;
    bool passed;

    if (!cert_sign_check_due(ca_key, ca_cert))
        return ADCP_OK;
    verify_key = X509_get0_pubkey(ca_cert);
    md_ctx = EVP_MD_CTX_new();
    passed = verify_key != NULL && md_ctx != NULL &&
             EVP_DigestVerifyInit_ex(md_ctx, NULL, digest, NULL, NULL,
                                     verify_key, NULL) == 1 &&
             EVP_DigestVerify(md_ctx, sig->value, sig->value_len, tbs_der,
                              (size_t)tbs_len) == 1;
    EVP_MD_CTX_free(md_ctx);
    cert_sign_check_record(ca_key, ca_cert, passed);
    if (passed)
        return ADCP_OK;
    log_openssl_errors(__func__, "checking the new signature");
    return adcp_error_set(err, ADCP_ERR_HSM, "",
                          "the signature made with the CA key does not "
                          "verify with the CA certificate; check that the "
                          "key and certificate belong together");
}

/* Writes der as a PEM CERTIFICATE block with 64 characters a line, the
 * text PEM_write_bio_X509 writes. */
static char *
pem_of_der(const unsigned char *der, int len)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----\n";
    static const char end[] = "-----END CERTIFICATE-----\n";
    size_t lines = ((size_t)len + 47) / 48;
    char *pem = malloc(sizeof(begin) + lines * 65 + sizeof(end));
    size_t pos = sizeof(begin) - 1;

    if (pem == NULL)
        return NULL;
    memcpy(pem, begin, pos);
    for (int offset = 0; offset < len; offset += 48) {
        int chunk = len - offset < 48 ? len - offset : 48;

        pos += (size_t)EVP_EncodeBlock((unsigned char *)pem + pos,
                                       der + offset, chunk);
        pem[pos++] = '\n';
    }
    memcpy(pem + pos, end, sizeof(end));
    return pem;
}

/* Encodes the signed certificate and fills out. */
static enum adcp_status
fill_leaf_result(struct leaf_parts *parts, const unsigned char *tbs_der,
                 int tbs_len, const struct leaf_signature *sig,
                 struct issue_result *out, struct adcp_error *err)
{
    struct der_view tbs_view, algorithm_view;
    ASN1_BIT_STRING signature;
    unsigned char *der = NULL;
    CERT_LEAF leaf;
    int len;

    memset(&signature, 0, sizeof(signature));
    signature.type = V_ASN1_BIT_STRING;
    signature.data = sig->value;
    signature.length = (int)sig->value_len;
    /* A signature is whole bytes: no unused bits, whatever its last
     * byte, as X509_sign_ctx sets it. */
    signature.flags = ASN1_STRING_FLAG_BITS_LEFT;
    leaf.tbs = der_view_of(&tbs_view, tbs_der, tbs_len);
    leaf.signature_algorithm = der_view_of(&algorithm_view, sig->algorithm,
                                           (int)sig->algorithm_len);
    leaf.signature = &signature;
    len = ASN1_item_i2d((const ASN1_VALUE *)&leaf, &der,
                        ASN1_ITEM_rptr(CERT_LEAF));
    out->cert_pem = len > 0 ? pem_of_der(der, len) : NULL;
    OPENSSL_free(der);
    if (out->cert_pem == NULL) {
        log_openssl_errors(__func__, "encoding the certificate");
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the signed certificate cannot be encoded "
                              "as PEM");
    }
    serial_hex_of(parts->tbs.serial, out->serial);
    subject_text_of(parts->tbs.subject, out->subject, sizeof(out->subject));
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
                       const char *digest, struct issue_result *out,
                       struct adcp_error *err)
{
    struct leaf_signature sig;
    struct leaf_parts parts;
    unsigned char *tbs_der = NULL;
    enum adcp_status status;
    int tbs_len = 0;

    memset(&parts, 0, sizeof(parts));
    memset(&sig, 0, sizeof(sig));
    status = make_leaf_parts(&parts, ca_cert, subject_key, common_name,
                             names, days, err);
    if (status == ADCP_OK)
        status = sign_leaf(&parts, ca_key, digest, &tbs_der, &tbs_len, &sig,
                           err);
    if (status == ADCP_OK)
        status = check_leaf_signature(tbs_der, tbs_len, &sig, ca_cert,
                                      ca_key, digest, err);
    if (status == ADCP_OK)
        status = fill_leaf_result(&parts, tbs_der, tbs_len, &sig, out, err);
    OPENSSL_free(sig.value);
    OPENSSL_free(tbs_der);
    leaf_parts_free(&parts);
    return status;
}
