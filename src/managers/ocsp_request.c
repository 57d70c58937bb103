/*
 * Decoding an OCSPRequest (RFC 6960, section 4.1.1) and checking its
 * Nonce extension (RFC 8954). A request signature, when present, is not
 * checked, because the responder serves every client.
 */
#include "managers/ocsp_internal.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <string.h>

#include "managers/cert_internal.h"

/* RFC 8954: Nonce ::= OCTET STRING (SIZE(1..32)). */
#define OCSP_NONCE_MAX 32

void
ocsp_query_clear(struct ocsp_query *query)
{
    OCSP_REQUEST_free(query->request);
    memset(query, 0, sizeof(*query));
}

/* Checks that the extnValue of nonce contains exactly one DER OCTET
 * STRING of 1 to 32 bytes. */
static bool
nonce_is_valid(X509_EXTENSION *nonce)
{
    ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(nonce);
    const unsigned char *next = ASN1_STRING_get0_data(value);
    long len = ASN1_STRING_length(value);
    ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &next, len);
    bool valid;

    valid = inner != NULL &&
            next == ASN1_STRING_get0_data(value) + len &&
            ASN1_STRING_length(inner) >= 1 &&
            ASN1_STRING_length(inner) <= OCSP_NONCE_MAX;
    ASN1_OCTET_STRING_free(inner);
    return valid;
}

/* Sets query->has_nonce. Returns false with *problem set when the
 * request has an invalid nonce, or two. */
static bool
read_nonce(struct ocsp_query *query, const char **problem)
{
    int at = OCSP_REQUEST_get_ext_by_NID(query->request,
                                         NID_id_pkix_OCSP_Nonce, -1);

    if (at < 0)
        return true;
    if (OCSP_REQUEST_get_ext_by_NID(query->request, NID_id_pkix_OCSP_Nonce,
                                    at) >= 0) {
        *problem = "the request has two Nonce extensions";
        return false;
    }
    if (!nonce_is_valid(OCSP_REQUEST_get_ext(query->request, at))) {
        *problem = "the Nonce is not an OCTET STRING of 1 to 32 bytes";
        return false;
    }
    query->has_nonce = true;
    return true;
}

/* Returns whether ext is critical and not the Nonce, so that this
 * responder would have to understand it to respond (RFC 5280, section
 * 4.2, applied to OCSP's extensions). */
static bool
is_unknown_critical(X509_EXTENSION *ext)
{
    return X509_EXTENSION_get_critical(ext) &&
           OBJ_obj2nid(X509_EXTENSION_get_object(ext)) !=
               NID_id_pkix_OCSP_Nonce;
}

/* Rejects a request with a critical extension it does not know, in its
 * requestExtensions or in a Request's singleRequestExtensions. */
static bool
check_critical(struct ocsp_query *query, const char **problem)
{
    OCSP_REQUEST *request = query->request;

    for (int i = 0; i < OCSP_REQUEST_get_ext_count(request); i++)
        if (is_unknown_critical(OCSP_REQUEST_get_ext(request, i))) {
            *problem = "the request has a critical extension that this "
                       "responder does not support";
            return false;
        }
    for (int r = 0; r < OCSP_request_onereq_count(request); r++) {
        OCSP_ONEREQ *single = OCSP_request_onereq_get0(request, r);

        for (int i = 0; i < OCSP_ONEREQ_get_ext_count(single); i++)
            if (is_unknown_critical(OCSP_ONEREQ_get_ext(single, i))) {
                *problem = "a Request has a critical extension that this "
                           "responder does not support";
                return false;
            }
    }
    return true;
}

/* Collects the CertIDs of the requestList. */
static bool
read_cert_ids(struct ocsp_query *query, const char **problem)
{
    int count = OCSP_request_onereq_count(query->request);

    if (count < 1) {
        *problem = "the requestList is empty";
        return false;
    }
    if (count > OCSP_MAX_CERT_IDS) {
        *problem = "the requestList has more than 16 CertIDs";
        return false;
    }
    for (int i = 0; i < count; i++)
        query->cert_ids[i] = OCSP_onereq_get0_id(
            OCSP_request_onereq_get0(query->request, i));
    query->count = (size_t)count;
    return true;
}

bool
ocsp_query_decode(const unsigned char *der, size_t len,
                  struct ocsp_query *query, const char **problem)
{
    const unsigned char *next = der;

    memset(query, 0, sizeof(*query));
    if (len == 0 || len > OCSP_MAX_REQUEST_BYTES) {
        *problem = len == 0 ? "the request is empty"
                            : "the request is longer than 8192 bytes";
        return false;
    }
    query->request = d2i_OCSP_REQUEST(NULL, &next, (long)len);
    /* d2i leaves errors on the thread's queue for bad input; they are
     * the client's, not the server's, so they are dropped. */
    ERR_clear_error();
    if (query->request == NULL || next != der + len) {
        *problem = query->request == NULL
                       ? "the request is not a DER OCSPRequest"
                       : "bytes follow the DER OCSPRequest";
        return false;
    }
    return read_cert_ids(query, problem) && read_nonce(query, problem) &&
           check_critical(query, problem);
}

void
ocsp_cert_id_serial(OCSP_CERTID *cert_id, char out[ADCP_SERIAL_MAX])
{
    ASN1_INTEGER *serial = NULL;

    out[0] = '\0';
    if (OCSP_id_get0_info(NULL, NULL, NULL, &serial, cert_id) != 1 ||
        serial == NULL || ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER)
        return;
    cert_serial_hex_of(serial, out);
}
