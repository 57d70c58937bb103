/*
 * Which CertIDs name this CA as their issuer. A CertID (RFC 6960,
 * section 4.1.1) contains the hash of the issuer's distinguished name and
 * the hash of its public key. The client chooses the hash algorithm, so
 * the CA's hashes are computed once for each algorithm this responder
 * accepts.
 *
 * SHA-1 stays accepted here although certificates no longer use it: a
 * CertID only has to tell this CA from other issuers, and `openssl ocsp`
 * sends SHA-1 unless an option selects another hash.
 */
#include "managers/ocsp_internal.h"

#include <openssl/objects.h>
#include <string.h>

#include "common/log.h"

static const int issuer_digest_nids[OCSP_ISSUER_DIGESTS] = {
    NID_sha1,
    NID_sha256,
    NID_sha384,
    NID_sha512,
};

/* Hashes the DER of the CA's subject and the subjectPublicKey bits
 * (without tag, length and unused-bits count), as RFC 6960 defines
 * issuerNameHash and issuerKeyHash. */
static bool
hash_issuer(struct ocsp_issuer_hashes *hashes, X509 *ca_cert)
{
    const EVP_MD *md = EVP_get_digestbynid(hashes->digest_nid);
    const ASN1_BIT_STRING *key = X509_get0_pubkey_bitstr(ca_cert);
    unsigned char *name_der = NULL;
    unsigned int name_len = 0, key_len = 0;
    int der_len;
    bool ok;

    der_len = i2d_X509_NAME(X509_get_subject_name(ca_cert), &name_der);
    ok = md != NULL && key != NULL && der_len > 0 &&
         EVP_Digest(name_der, (size_t)der_len, hashes->name_hash, &name_len,
                    md, NULL) == 1 &&
         EVP_Digest(ASN1_STRING_get0_data(key),
                    (size_t)ASN1_STRING_length(key), hashes->key_hash,
                    &key_len, md, NULL) == 1;
    OPENSSL_free(name_der);
    hashes->len = name_len;
    return ok && name_len == key_len;
}

bool
ocsp_issuer_init(struct ocsp_issuer *issuer, X509 *ca_cert)
{
    memset(issuer, 0, sizeof(*issuer));
    for (size_t i = 0; i < OCSP_ISSUER_DIGESTS; i++) {
        issuer->hashes[i].digest_nid = issuer_digest_nids[i];
        if (!hash_issuer(&issuer->hashes[i], ca_cert)) {
            log_openssl_errors(__func__, "hashing the CA's name and key");
            return false;
        }
    }
    return true;
}

static bool
octets_equal(const ASN1_OCTET_STRING *octets, const unsigned char *bytes,
             unsigned int len)
{
    return ASN1_STRING_length(octets) == (int)len &&
           memcmp(ASN1_STRING_get0_data(octets), bytes, len) == 0;
}

enum ocsp_issuer_match
ocsp_issuer_match(const struct ocsp_issuer *issuer, OCSP_CERTID *cert_id)
{
    ASN1_OCTET_STRING *name_hash = NULL, *key_hash = NULL;
    ASN1_OBJECT *algorithm = NULL;
    int nid;

    if (OCSP_id_get0_info(&name_hash, &algorithm, &key_hash, NULL,
                          cert_id) != 1)
        return OCSP_ISSUER_OTHER;
    nid = OBJ_obj2nid(algorithm);
    for (size_t i = 0; i < OCSP_ISSUER_DIGESTS; i++) {
        const struct ocsp_issuer_hashes *hashes = &issuer->hashes[i];

        if (hashes->digest_nid != nid)
            continue;
        if (octets_equal(name_hash, hashes->name_hash, hashes->len) &&
            octets_equal(key_hash, hashes->key_hash, hashes->len))
            return OCSP_ISSUER_THIS_CA;
        return OCSP_ISSUER_OTHER;
    }
    return OCSP_ISSUER_UNSUPPORTED;
}
