/*
 * Extensions (RFC 5280, section 4.2) the CA writes into every certificate
 * it builds: the subject and authority key identifiers, and the fixed
 * extensions of host certificates, made once per process. Host
 * certificates also get the OCSP responder's URI when one is configured.
 */
#include "managers/cert_issue.h"

#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>

#include "managers/cert_internal.h"

/* Computes the key identifier of RFC 5280, section 4.2.1.2, method 1:
 * the SHA-1 hash of the subjectPublicKey BIT STRING. */
ASN1_OCTET_STRING *
cert_key_id_of_public_key(const X509_PUBKEY *public_key)
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

ASN1_OCTET_STRING *
cert_key_id_of(X509 *cert)
{
    return cert_key_id_of_public_key(X509_get_X509_PUBKEY(cert));
}

/*
 * Adds subjectKeyIdentifier and authorityKeyIdentifier. The authority's
 * key id is copied from the CA certificate's subjectKeyIdentifier, so that
 * path building matches it. For a CA certificate without one, it is
 * computed from the CA's public key. With ca_cert NULL (self-signed), both
 * ids are equal.
 */
bool
cert_key_ids_add(X509 *cert, X509 *ca_cert)
{
    ASN1_OCTET_STRING *subject_id = cert_key_id_of(cert);
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
        authority->keyid = cert_key_id_of(ca_cert);
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

/* Makes the authorityInfoAccess of RFC 5280, section 4.2.2.1, with one
 * accessDescription: id-ad-ocsp and the URI url. */
X509_EXTENSION *
cert_ocsp_access_extension(const char *url)
{
    AUTHORITY_INFO_ACCESS *access = sk_ACCESS_DESCRIPTION_new_null();
    ACCESS_DESCRIPTION *description = ACCESS_DESCRIPTION_new();
    ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
    X509_EXTENSION *extension = NULL;

    if (access == NULL || description == NULL || uri == NULL ||
        !ASN1_STRING_set(uri, url, -1))
        goto out;
    ASN1_OBJECT_free(description->method);
    description->method = OBJ_nid2obj(NID_ad_OCSP);
    GENERAL_NAME_set0_value(description->location, GEN_URI, uri);
    uri = NULL;
    if (sk_ACCESS_DESCRIPTION_push(access, description) <= 0)
        goto out;
    description = NULL;
    extension = X509V3_EXT_i2d(NID_info_access, 0, access);
out:
    ASN1_IA5STRING_free(uri);
    ACCESS_DESCRIPTION_free(description);
    AUTHORITY_INFO_ACCESS_free(access);
    return extension;
}

static X509_EXTENSION *fixed_extensions[CERT_FIXED_EXTENSION_COUNT];
static pthread_once_t fixed_extensions_once = PTHREAD_ONCE_INIT;

static void
fixed_extensions_init(void)
{
    static const struct {
        int nid;
        const char *value;
    } specs[CERT_FIXED_EXTENSION_COUNT] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, CERT_HOST_EXTENDED_KEY_USAGE},
    };

    for (size_t i = 0; i < CERT_FIXED_EXTENSION_COUNT; i++)
        fixed_extensions[i] =
            X509V3_EXT_nconf_nid(NULL, NULL, specs[i].nid, specs[i].value);
}

bool
cert_fixed_extensions_ready(void)
{
    if (pthread_once(&fixed_extensions_once, fixed_extensions_init) != 0)
        return false;
    for (size_t i = 0; i < CERT_FIXED_EXTENSION_COUNT; i++)
        if (fixed_extensions[i] == NULL)
            return false;
    return true;
}

X509_EXTENSION *
cert_fixed_extension(enum cert_fixed_extension which)
{
    return fixed_extensions[which];
}
