/*
 * Building OCSPResponses (RFC 6960, section 4.2.1): the signed
 * BasicOCSPResponse of a request, and the unsigned responses that carry
 * only an error status.
 */
#include "managers/ocsp_internal.h"

#include <openssl/err.h>
#include <stdint.h>

#include "common/log.h"
#include "managers/cert_internal.h"


/* An OCSPResponse without responseBytes: SEQUENCE { ENUMERATED status }.
 * The last byte is the status. */
static const unsigned char error_responses[][5] = {
    {0x30, 0x03, 0x0a, 0x01, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST},
    {0x30, 0x03, 0x0a, 0x01, OCSP_RESPONSE_STATUS_INTERNALERROR},
    {0x30, 0x03, 0x0a, 0x01, OCSP_RESPONSE_STATUS_TRYLATER},
    {0x30, 0x03, 0x0a, 0x01, OCSP_RESPONSE_STATUS_UNAUTHORIZED},
};

const unsigned char *
ocsp_response_error(int status, size_t *len)
{
    size_t count = sizeof(error_responses) / sizeof(error_responses[0]);

    *len = sizeof(error_responses[0]);
    for (size_t i = 0; i < count; i++)
        if (error_responses[i][4] == status)
            return error_responses[i];
    /* Defensive: every caller passes one of the statuses above. */
    return error_responses[1];
}

/* Adds the SingleResponse of single. */
static bool
add_single(OCSP_BASICRESP *basic, const struct ocsp_single *single,
           ASN1_TIME *this_update, ASN1_TIME *next_update)
{
    ASN1_TIME *revoked_at = NULL;
    int reason = -1;
    bool ok;

    if (single->status == V_OCSP_CERTSTATUS_REVOKED) {
        revoked_at = ASN1_TIME_set(NULL, single->revoked_at);
        if (revoked_at == NULL)
            return false;
        /* As in the CRL, an unspecified reason is left out (RFC 5280,
         * section 5.3.1). */
        if (single->reason != OCSP_REVOKED_STATUS_UNSPECIFIED)
            reason = single->reason;
    }
    ok = OCSP_basic_add1_status(basic, single->cert_id, single->status,
                                reason, revoked_at, this_update,
                                next_update) != NULL;
    ASN1_TIME_free(revoked_at);
    return ok;
}

/* Fills the responses and the nonce of the tbsResponseData. */
static bool
fill_basic(OCSP_BASICRESP *basic, const struct ocsp_sign_request *request)
{
    ASN1_TIME *this_update = ASN1_TIME_set(NULL, request->this_update);
    ASN1_TIME *next_update = ASN1_TIME_set(NULL, request->next_update);
    bool ok = this_update != NULL && next_update != NULL;

    for (size_t i = 0; ok && i < request->count; i++)
        ok = add_single(basic, &request->singles[i], this_update,
                        next_update);
    /* OCSP_copy_nonce returns 2 when the request has no nonce. */
    if (ok && request->request != NULL)
        ok = OCSP_copy_nonce(basic, request->request) > 0;
    ASN1_TIME_free(this_update);
    ASN1_TIME_free(next_update);
    return ok;
}

/* Signs basic with the CA key: responderID byKey, producedAt now, and no
 * certificates, since the signer is the issuer itself. */
static bool
sign_basic(OCSP_BASICRESP *basic, const struct ocsp_sign_request *request)
{
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    bool ok;

    ok = md_ctx != NULL &&
         EVP_DigestSignInit_ex(md_ctx, NULL, request->digest, NULL, NULL,
                               request->ca_key, NULL) == 1 &&
         OCSP_basic_sign_ctx(basic, request->ca_cert, md_ctx, NULL,
                             OCSP_NOCERTS | OCSP_RESPID_KEY) == 1;
    EVP_MD_CTX_free(md_ctx);
    return ok;
}

/* Checks the new signature with the CA certificate's public key, as
 * every certificate signature under an RSA CA is checked, and a sample
 * under an EC one (cert_sign_check.c). */
static bool
check_signature(OCSP_BASICRESP *basic, X509 *ca_cert, EVP_PKEY *ca_key)
{
    bool passed;

    if (!cert_sign_check_due(ca_key, ca_cert))
        return true;
    passed = ASN1_item_verify(ASN1_ITEM_rptr(OCSP_RESPDATA),
                              OCSP_resp_get0_tbs_sigalg(basic),
                              OCSP_resp_get0_signature(basic),
                              OCSP_resp_get0_respdata(basic),
                              X509_get0_pubkey(ca_cert)) == 1;
    cert_sign_check_record(ca_key, ca_cert, passed);
    return passed;
}

/* Wraps basic into a successful OCSPResponse and encodes it. */
static bool
encode_response(OCSP_BASICRESP *basic, unsigned char **der, size_t *len)
{
    OCSP_RESPONSE *response =
        OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
    int der_len = response != NULL ? i2d_OCSP_RESPONSE(response, der) : 0;

    OCSP_RESPONSE_free(response);
    if (der_len <= 0)
        return false;
    *len = (size_t)der_len;
    return true;
}

enum adcp_status
ocsp_response_sign(const struct ocsp_sign_request *request,
                   unsigned char **der, size_t *len, struct adcp_error *err)
{
    OCSP_BASICRESP *basic = OCSP_BASICRESP_new();
    enum adcp_status status = ADCP_ERR_INTERNAL;

    *der = NULL;
    if (basic == NULL || !fill_basic(basic, request)) {
        log_openssl_errors(__func__, "building the OCSP response");
        adcp_error_set(err, status, "",
                       "the OCSP response cannot be built; see the server "
                       "log");
        goto out;
    }
    if (!sign_basic(basic, request) ||
        !check_signature(basic, request->ca_cert, request->ca_key)) {
        log_openssl_errors(__func__, "signing the OCSP response");
        status = adcp_error_set(err, ADCP_ERR_HSM, "",
                                "signing the OCSP response with the CA key "
                                "failed; check that the HSM holding the CA "
                                "key is reachable");
        goto out;
    }
    if (!encode_response(basic, der, len)) {
        log_openssl_errors(__func__, "encoding the OCSP response");
        adcp_error_set(err, status, "",
                       "the OCSP response cannot be encoded; see the "
                       "server log");
        goto out;
    }
    status = ADCP_OK;
out:
    OCSP_BASICRESP_free(basic);
    return status;
}
