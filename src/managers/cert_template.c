/*
 * The ASN.1 templates of a host certificate (RFC 5280, section 4.1) and
 * their DER encoding. Host certificates for CSRs are encoded from these
 * templates without an X509 object (cert_leaf.c).
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
#include "managers/cert_issue.h"

#include <openssl/asn1t.h>
#include <string.h>

#include "managers/cert_internal.h"

/* The encoding of CERT_LEAF_TBS, whose fields cert_internal.h declares. */
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

ASN1_TYPE *
cert_der_view_of(struct cert_der_view *view, const unsigned char *der,
                 int len)
{
    memset(view, 0, sizeof(*view));
    view->string.type = V_ASN1_SEQUENCE;
    view->string.length = len;
    view->string.data = (unsigned char *)der;
    view->any.type = V_ASN1_SEQUENCE;
    view->any.value.sequence = &view->string;
    return &view->any;
}

int
cert_tbs_encode(const CERT_LEAF_TBS *tbs, unsigned char **der)
{
    return ASN1_item_i2d((const ASN1_VALUE *)tbs, der,
                         ASN1_ITEM_rptr(CERT_LEAF_TBS));
}

int
cert_leaf_encode(const unsigned char *tbs_der, int tbs_len,
                 const struct cert_leaf_signature *sig, unsigned char **der)
{
    struct cert_der_view tbs_view, algorithm_view;
    ASN1_BIT_STRING signature;
    CERT_LEAF leaf;

    memset(&signature, 0, sizeof(signature));
    signature.type = V_ASN1_BIT_STRING;
    signature.data = sig->value;
    signature.length = (int)sig->value_len;
    /* A signature is whole bytes: no unused bits, whatever its last
     * byte, as X509_sign_ctx sets it. */
    signature.flags = ASN1_STRING_FLAG_BITS_LEFT;
    leaf.tbs = cert_der_view_of(&tbs_view, tbs_der, tbs_len);
    leaf.signature_algorithm = cert_der_view_of(&algorithm_view, sig->algorithm,
                                                (int)sig->algorithm_len);
    leaf.signature = &signature;
    return ASN1_item_i2d((const ASN1_VALUE *)&leaf, der,
                         ASN1_ITEM_rptr(CERT_LEAF));
}
