/*
 * The checks a CSR must pass before this CA signs anything for it: one
 * well-formed PEM PKCS#10 request, a valid self-signature, an accepted key
 * and signature hash, no request for CA rights, and only names that the
 * host owns. Every value that came from the CSR is made printable and
 * shortened before it goes into an error message.
 */
#include "managers/cert_issue.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "managers/cert_internal.h"

#define CSR_FIELD "csr_details.csr"
/* A CSR with a 16384-bit RSA key is about 6 KB of PEM, which leaves room
 * for a long SAN list. */
#define CSR_PEM_MAX (64 * 1024)
/* ub-common-name of RFC 5280. */
#define CN_MAX_CHARS 64
/* Room for a value from the CSR in an error message. */
#define QUOTED_MAX 80

/* Copies len bytes of untrusted text into out as printable ASCII: other
 * bytes become '?' and a long value ends in "...". */
static void
quote_value(char *out, size_t size, const void *value, size_t len)
{
    const unsigned char *in = value;
    size_t pos = 0;

    for (size_t i = 0; i < len && pos + 1 < size; i++)
        out[pos++] = (in[i] >= 0x20 && in[i] < 0x7f) ? (char)in[i] : '?';
    out[pos] = '\0';
    if (len >= size && size > 4)
        memcpy(out + size - 4, "...", 3);
}

static bool
only_whitespace(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (strchr(" \t\r\n", text[i]) == NULL)
            return false;
    return true;
}

/*
 * Reads the one PEM block that csr_pem must consist of and returns its
 * DER bytes (OPENSSL_free them). PEM_read_bio_X509_REQ would skip text
 * and other blocks before a request and ignore what follows it, so the
 * block is read with PEM_read_bio_ex and its label and surroundings are
 * checked here.
 */
static enum adcp_status
read_pem_block(const char *csr_pem, unsigned char **der, long *der_len,
               struct adcp_error *err)
{
    enum adcp_status status = ADCP_ERR_INVALID_CSR;
    const char *start = csr_pem + strspn(csr_pem, " \t\r\n");
    char *name = NULL, *header = NULL, *rest = NULL;
    char quoted[QUOTED_MAX];
    BIO *bio = NULL;
    long rest_len;

    *der = NULL;
    if (strncmp(start, "-----BEGIN ", 11) != 0) {
        adcp_error_set(err, status, CSR_FIELD,
                       "csr_details.csr is not PEM; send a block that "
                       "starts with -----BEGIN CERTIFICATE REQUEST-----");
        goto out;
    }
    bio = BIO_new_mem_buf(start, -1);
    if (bio == NULL ||
        !PEM_read_bio_ex(bio, &name, &header, der, der_len, 0)) {
        ERR_clear_error();
        adcp_error_set(err, status, CSR_FIELD,
                       "csr_details.csr is not valid PEM (bad base64 or "
                       "no END line); send the CSR file unchanged");
        goto out;
    }
    if (strcmp(name, PEM_STRING_X509_REQ) != 0 &&
        strcmp(name, PEM_STRING_X509_REQ_OLD) != 0) {
        quote_value(quoted, sizeof(quoted), name, strlen(name));
        adcp_error_set(err, status, CSR_FIELD,
                       "csr_details.csr contains a PEM %s block, not a "
                       "CERTIFICATE REQUEST; send the CSR, not a "
                       "certificate or key",
                       quoted);
        goto out;
    }
    if (header[0] != '\0') {
        adcp_error_set(err, status, CSR_FIELD,
                       "csr_details.csr has PEM headers; send a plain "
                       "CERTIFICATE REQUEST block");
        goto out;
    }
    rest_len = BIO_get_mem_data(bio, &rest);
    if (rest_len > 0 && !only_whitespace(rest, (size_t)rest_len)) {
        adcp_error_set(err, status, CSR_FIELD,
                       "csr_details.csr has %ld bytes after the CERTIFICATE "
                       "REQUEST block; send exactly one CSR",
                       rest_len);
        goto out;
    }
    status = ADCP_OK;
out:
    if (status != ADCP_OK) {
        OPENSSL_free(*der);
        *der = NULL;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(bio);
    return status;
}

static enum adcp_status
check_signature(const struct cert_csr *csr, struct adcp_error *err)
{
    EVP_PKEY *key = cert_csr_key(csr);

    if (key == NULL)
        return adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                              "the CSR's public key cannot be decoded or "
                              "uses an unknown algorithm; use an RSA or EC "
                              "key");
    if (cert_csr_verify(csr, key) != 1) {
        ERR_clear_error();
        return adcp_error_set(err, ADCP_ERR_CSR_SIGNATURE, CSR_FIELD,
                              "the CSR's signature does not verify with "
                              "its own public key; sign the CSR again with "
                              "the private key that belongs to it");
    }
    return ADCP_OK;
}

static enum adcp_status
check_curve(EVP_PKEY *key, struct adcp_error *err)
{
    static const int accepted[] = {NID_X9_62_prime256v1, NID_secp384r1,
                                   NID_secp521r1};
    char encoding[32] = "", group[64] = "";
    size_t len = 0;
    int nid;

    /* RFC 5480 requires a named curve; explicit parameters would also be
     * copied into the certificate as they are. */
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING,
                                        encoding, sizeof(encoding), &len) ||
        strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) != 0 ||
        !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, sizeof(group), &len)) {
        ERR_clear_error();
        return adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                              "the CSR's EC key uses explicit curve "
                              "parameters; use a named curve: P-256, P-384 "
                              "or P-521");
    }
    nid = OBJ_sn2nid(group);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(group);
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
        if (nid == accepted[i])
            return ADCP_OK;
    return adcp_error_set(err, ADCP_ERR_WEAK_ALGORITHM, CSR_FIELD,
                          "curve %s is not accepted; use P-256, P-384 or "
                          "P-521",
                          group);
}

/*
 * An RSA key needs a modulus of min_rsa_bits or more and a public exponent
 * of at least 65537, the value common tools generate. These direct checks
 * replace EVP_PKEY_public_check. In OpenSSL 3.0 that runs the SP 800-56B
 * tests on the modulus (a GCD with a product of small primes, then
 * Miller-Rabin rounds), which took 3.1 ms for RSA-2048 on the benchmark
 * machine of docs/benchmarks.md, five times the CA's own signature. Those
 * tests guard against a weak modulus, but the CSR's
 * signature already shows that the requester holds the private key, and
 * a weak key harms only its holder. OpenSSL 3.0's check also lets any odd
 * exponent above 1 pass, so the exponent bound is checked here anyway.
 * The values are the ones cert_csr_decode read, because reading them back
 * with EVP_PKEY_get_bn_param took about 120 000 instructions per CSR
 * (callgrind, bench/issue_cost.c).
 */
static enum adcp_status
check_rsa(const struct cert_csr *csr, unsigned min_rsa_bits,
          struct adcp_error *err)
{
    const BIGNUM *modulus = NULL, *exponent = NULL;
    enum adcp_status status = ADCP_OK;
    char *text = NULL;
    int bits;

    if (!cert_csr_rsa_public(csr, &modulus, &exponent)) {
        status = adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                                "the CSR's RSA modulus or public exponent "
                                "cannot be read; make a new key");
        goto out;
    }
    bits = BN_num_bits(modulus);
    if ((unsigned)bits < min_rsa_bits) {
        status = adcp_error_set(err, ADCP_ERR_WEAK_ALGORITHM, CSR_FIELD,
                                "the CSR's RSA key has %d bits; the minimum "
                                "is %u, so make a new key of at least that "
                                "size",
                                bits, min_rsa_bits);
        goto out;
    }
    /* Defensive: OpenSSL's Montgomery arithmetic rejects an even modulus,
     * so the CSR's signature check has failed already for one. */
    if (!BN_is_odd(modulus)) {
        status = adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                                "the CSR's RSA modulus is even, so it is "
                                "not an RSA modulus; make a new key");
        goto out;
    }
    if (BN_num_bits(exponent) <= 16 || !BN_is_odd(exponent)) {
        text = BN_bn2dec(exponent);
        status = adcp_error_set(err, ADCP_ERR_WEAK_ALGORITHM, CSR_FIELD,
                                "the CSR's RSA key has public exponent %s; "
                                "make a new key with exponent 65537",
                                text ? text : "(unprintable)");
    }
out:
    OPENSSL_free(text);
    return status;
}

/* Accepts RSA keys (rsaEncryption) that pass check_rsa and EC keys on
 * P-256, P-384 or P-521. cert_csr_decode has already rejected EC points
 * that are off the curve, out of range or at infinity. */
static enum adcp_status
check_key(const struct cert_csr *csr, unsigned min_rsa_bits,
          struct adcp_error *err)
{
    EVP_PKEY *key = cert_csr_key(csr);
    const char *type;

    if (EVP_PKEY_is_a(key, "RSA"))
        return check_rsa(csr, min_rsa_bits, err);
    if (EVP_PKEY_is_a(key, "EC"))
        return check_curve(key, err);
    type = EVP_PKEY_get0_type_name(key);
    return adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                          "the CSR's key type %s is not accepted; use RSA "
                          "of %u bits or more, or EC on P-256, P-384 or "
                          "P-521",
                          type ? type : "(unknown)", min_rsa_bits);
}

/* Returns the hash of an RSASSA-PSS signature, whose algorithm identifier
 * carries it as a parameter: SHA-1 when the parameter leaves it out
 * (RFC 4055), NID_undef when the parameters do not decode. */
static int
pss_hash_nid(const X509_ALGOR *alg)
{
    const void *value = NULL;
    RSA_PSS_PARAMS *pss;
    int type = V_ASN1_UNDEF, nid;

    X509_ALGOR_get0(NULL, &type, &value, alg);
    if (type != V_ASN1_SEQUENCE)
        return NID_undef;
    pss = ASN1_item_unpack((const ASN1_STRING *)value,
                           ASN1_ITEM_rptr(RSA_PSS_PARAMS));
    if (pss == NULL) {
        ERR_clear_error();
        return NID_undef;
    }
    nid = pss->hashAlgorithm ? OBJ_obj2nid(pss->hashAlgorithm->algorithm)
                             : NID_sha1;
    RSA_PSS_PARAMS_free(pss);
    return nid;
}

static bool
strong_hash(int nid)
{
    static const int accepted[] = {NID_sha224,   NID_sha256,   NID_sha384,
                                   NID_sha512,   NID_sha3_224, NID_sha3_256,
                                   NID_sha3_384, NID_sha3_512};

    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
        if (nid == accepted[i])
            return true;
    return false;
}

/* The CSR's own signature must use SHA-2 or SHA-3. Collisions can be
 * computed for MD5 and SHA-1, so a signature over either proves little. */
static enum adcp_status
check_signature_hash(const struct cert_csr *csr, struct adcp_error *err)
{
    const X509_ALGOR *alg = cert_csr_signature_algorithm(csr);
    const ASN1_OBJECT *oid = NULL;
    int sig_nid, md_nid = NID_undef, key_nid;
    char name[QUOTED_MAX];

    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    sig_nid = OBJ_obj2nid(oid);
    if (sig_nid == NID_rsassaPss)
        md_nid = pss_hash_nid(alg);
    else if (!OBJ_find_sigid_algs(sig_nid, &md_nid, &key_nid))
        md_nid = NID_undef;
    if (strong_hash(md_nid))
        return ADCP_OK;
    OBJ_obj2txt(name, sizeof(name), oid, 0);
    return adcp_error_set(err, ADCP_ERR_WEAK_ALGORITHM, CSR_FIELD,
                          "the CSR is signed with %s (hash %s); sign it "
                          "with SHA-256 or stronger",
                          name,
                          md_nid == NID_undef ? "unknown"
                                              : OBJ_nid2ln(md_nid));
}

/*
 * Checks 1 to 3 of issuance: csr_pem is exactly one PEM CERTIFICATE
 * REQUEST, its self-signature verifies, its key is accepted and its
 * signature hash is not weak. On ADCP_OK *out is the caller's request;
 * otherwise the code is ADCP_ERR_MISSING_FIELD, ADCP_ERR_INVALID_CSR,
 * ADCP_ERR_CSR_SIGNATURE or ADCP_ERR_WEAK_ALGORITHM.
 */
enum adcp_status
cert_csr_parse(const char *csr_pem, unsigned min_rsa_bits,
               struct cert_csr **out, struct adcp_error *err)
{
    enum adcp_status status;
    struct cert_csr *csr = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    size_t pem_len;

    *out = NULL;
    if (csr_pem == NULL)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, CSR_FIELD,
                              "csr_details.csr is missing; send the PEM "
                              "CSR");
    pem_len = strlen(csr_pem);
    if (pem_len > CSR_PEM_MAX)
        return adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                              "csr_details.csr has %zu bytes; a CSR is at "
                              "most %d",
                              pem_len, CSR_PEM_MAX);
    status = read_pem_block(csr_pem, &der, &der_len, err);
    if (status == ADCP_OK)
        status = cert_csr_decode(der, der_len, &csr, err);
    if (status == ADCP_OK)
        status = check_signature(csr, err);
    if (status == ADCP_OK)
        status = check_key(csr, min_rsa_bits, err);
    if (status == ADCP_OK)
        status = check_signature_hash(csr, err);
    if (status == ADCP_OK) {
        *out = csr;
        csr = NULL;
    }
    OPENSSL_free(der);
    cert_csr_free(csr);
    return status;
}

/* Rejects a CSR that requests basicConstraints CA:TRUE. Every other
 * requested extension is ignored, because the CA sets its own. */
static enum adcp_status
check_not_ca(const STACK_OF(X509_EXTENSION) *exts, struct adcp_error *err)
{
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        BASIC_CONSTRAINTS *bc;
        bool ca;

        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) !=
            NID_basic_constraints)
            continue;
        bc = X509V3_EXT_d2i(ext);
        if (bc == NULL) {
            ERR_clear_error();
            return adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                                  "the CSR's basicConstraints extension "
                                  "does not decode; leave it out, the CA "
                                  "sets its own");
        }
        ca = bc->ca != 0;
        BASIC_CONSTRAINTS_free(bc);
        if (ca)
            return adcp_error_set(err, ADCP_ERR_FORBIDDEN, CSR_FIELD,
                                  "the CSR requests CA:TRUE; this CA "
                                  "issues only end-entity certificates");
    }
    return ADCP_OK;
}

/* ASCII case-insensitive comparison of a DNS name of len bytes with a
 * NUL-terminated one; DNS names compare without regard to case (RFC
 * 4343). */
static bool
dns_equal(const char *name, size_t len, const char *registered)
{
    if (registered == NULL || strlen(registered) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char a = (unsigned char)name[i];
        unsigned char b = (unsigned char)registered[i];

        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

/* Parses an IPv4 or IPv6 address into out; returns its length (4 or 16),
 * or 0 when text is not an address. */
static size_t
parse_ip(const char *text, unsigned char out[16])
{
    if (text == NULL)
        return 0;
    if (inet_pton(AF_INET, text, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, text, out) == 1)
        return 16;
    return 0;
}

/* Returns the host's IP address, as registered, that has the binary value
 * of address, or NULL. */
static const char *
host_ip_match(const struct issue_host *host, const unsigned char *address,
              size_t len)
{
    unsigned char registered[16];

    for (size_t i = 0; i < host->ip_count; i++)
        if (parse_ip(host->ip_addresses[i], registered) == len &&
            memcmp(registered, address, len) == 0)
            return host->ip_addresses[i];
    return NULL;
}

static const char *
host_dns_match(const struct issue_host *host, const char *name, size_t len)
{
    for (size_t i = 0; i < host->dns_count; i++)
        if (dns_equal(name, len, host->dns_names[i]))
            return host->dns_names[i];
    return NULL;
}

static const char *
san_type_name(int type)
{
    switch (type) {
    case GEN_OTHERNAME:
        return "otherName";
    case GEN_EMAIL:
        return "rfc822Name (email)";
    case GEN_X400:
        return "x400Address";
    case GEN_DIRNAME:
        return "directoryName";
    case GEN_EDIPARTY:
        return "ediPartyName";
    case GEN_URI:
        return "URI";
    case GEN_RID:
        return "registeredID";
    default:
        return "unknown";
    }
}

static enum adcp_status
check_requested_san(const GENERAL_NAME *entry, const struct issue_host *host,
                    struct adcp_error *err)
{
    char quoted[QUOTED_MAX], text[INET6_ADDRSTRLEN];
    const unsigned char *data;
    ASN1_STRING *value;
    size_t len;
    int type;

    value = GENERAL_NAME_get0_value(entry, &type);
    if (type != GEN_DNS && type != GEN_IPADD)
        return adcp_error_set(err, ADCP_ERR_NAME_NOT_ALLOWED, CSR_FIELD,
                              "the CSR requests a %s subject alternative "
                              "name; this CA issues only DNS names and IP "
                              "addresses, so remove it",
                              san_type_name(type));
    data = ASN1_STRING_get0_data(value);
    len = (size_t)ASN1_STRING_length(value);
    if (type == GEN_IPADD) {
        if ((len == 4 || len == 16) && host_ip_match(host, data, len))
            return ADCP_OK;
        if (len != 4 && len != 16)
            snprintf(text, sizeof(text), "(%zu bytes)", len);
        else
            inet_ntop(len == 4 ? AF_INET : AF_INET6, data, text,
                      sizeof(text));
        return adcp_error_set(err, ADCP_ERR_NAME_NOT_ALLOWED, CSR_FIELD,
                              "the CSR requests the IP address %s, which "
                              "is not registered to host %s; remove it "
                              "from the CSR or register it for the host",
                              text, host->name);
    }
    if (memchr(data, '\0', len) == NULL &&
        host_dns_match(host, (const char *)data, len))
        return ADCP_OK;
    quote_value(quoted, sizeof(quoted), data, len);
    return adcp_error_set(err, ADCP_ERR_NAME_NOT_ALLOWED, CSR_FIELD,
                          "the CSR requests the DNS name %s, which is not "
                          "registered to host %s; remove it from the CSR "
                          "or register it for the host",
                          quoted, host->name);
}

/* Every SAN in every requested subjectAltName extension must belong to the
 * host. The certificate gets all of the host's names, whatever the CSR
 * requests. */
static enum adcp_status
check_requested_sans(const STACK_OF(X509_EXTENSION) *exts,
                     const struct issue_host *host, struct adcp_error *err)
{
    enum adcp_status status = ADCP_OK;

    for (int i = 0; status == ADCP_OK && i < sk_X509_EXTENSION_num(exts);
         i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        GENERAL_NAMES *names;

        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) !=
            NID_subject_alt_name)
            continue;
        names = X509V3_EXT_d2i(ext);
        if (names == NULL) {
            ERR_clear_error();
            return adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                                  "the CSR's subjectAltName extension "
                                  "does not decode; create the CSR again");
        }
        for (int j = 0; status == ADCP_OK && j < sk_GENERAL_NAME_num(names);
             j++)
            status =
                check_requested_san(sk_GENERAL_NAME_value(names, j), host,
                                    err);
        GENERAL_NAMES_free(names);
    }
    return status;
}

/* Returns the host's own spelling of cn when cn is the host's name, one of
 * its DNS names or (by binary value) one of its IP addresses, else NULL. */
static const char *
host_cn_match(const struct issue_host *host, const char *cn, size_t len)
{
    unsigned char address[16];
    size_t address_len = parse_ip(cn, address);

    if (address_len != 0)
        return host_ip_match(host, address, address_len);
    if (dns_equal(cn, len, host->name))
        return host->name;
    return host_dns_match(host, cn, len);
}

/*
 * Finds the CN the certificate gets: the host's spelling of the CSR's one
 * CN, or the host name when the CSR has none. Every other attribute of the
 * CSR's subject (O, OU, ...) is ignored.
 */
static enum adcp_status
choose_common_name(const struct cert_csr *csr, const struct issue_host *host,
                   const char **common_name, struct adcp_error *err)
{
    const X509_NAME *subject = cert_csr_subject(csr);
    enum adcp_status status = ADCP_OK;
    unsigned char *cn = NULL;
    char quoted[QUOTED_MAX];
    int index, len;

    index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index < 0) {
        *common_name = host->name;
        return ADCP_OK;
    }
    if (X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0)
        return adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                              "the CSR's subject has more than one CN; give "
                              "exactly one");
    len = ASN1_STRING_to_UTF8(
        &cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
    if (len < 0 || memchr(cn, '\0', (size_t)len) != NULL) {
        ERR_clear_error();
        status = adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                                "the CSR's CN is not a valid string; give "
                                "the host's name");
        goto out;
    }
    quote_value(quoted, sizeof(quoted), cn, (size_t)len);
    *common_name = host_cn_match(host, (const char *)cn, (size_t)len);
    if (*common_name == NULL) {
        status = adcp_error_set(err, ADCP_ERR_NAME_NOT_ALLOWED, CSR_FIELD,
                                "the CSR's CN %s is not the name, a DNS "
                                "name or an IP address of host %s; use one "
                                "of the host's names",
                                quoted, host->name);
    } else if (strlen(*common_name) > CN_MAX_CHARS) {
        status = adcp_error_set(err, ADCP_ERR_NAME_NOT_ALLOWED, CSR_FIELD,
                                "the CSR's CN %s is longer than the %d "
                                "characters a CN may hold; use a shorter "
                                "name of the host as CN",
                                quoted, CN_MAX_CHARS);
    }
out:
    if (status != ADCP_OK)
        *common_name = NULL;
    OPENSSL_free(cn);
    return status;
}

/*
 * Checks 6 and 7 of issuance: the CSR must not request CA:TRUE, and each
 * name it requests must belong to host. Sets *common_name to the CN the
 * certificate gets, a string of host. Returns ADCP_OK, or
 * ADCP_ERR_FORBIDDEN, ADCP_ERR_NAME_NOT_ALLOWED or ADCP_ERR_INVALID_CSR.
 */
enum adcp_status
cert_csr_check_claims(const struct cert_csr *csr,
                      const struct issue_host *host, const char **common_name,
                      struct adcp_error *err)
{
    STACK_OF(X509_EXTENSION) *exts = cert_csr_extensions(csr);
    enum adcp_status status;

    *common_name = NULL;
    /* OpenSSL 3.0 returns an empty stack for a request without
     * extensions, so NULL means the extension request did not decode. */
    if (exts == NULL) {
        ERR_clear_error();
        return adcp_error_set(err, ADCP_ERR_INVALID_CSR, CSR_FIELD,
                              "the CSR's extension request does not "
                              "decode; create the CSR again");
    }
    status = check_not_ca(exts, err);
    if (status == ADCP_OK)
        status = check_requested_sans(exts, host, err);
    if (status == ADCP_OK)
        status = choose_common_name(csr, host, common_name, err);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return status;
}
