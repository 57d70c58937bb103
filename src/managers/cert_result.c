/*
 * The results of issuance for a caller: the PEM text, the issue_result
 * that contains it with the serial, subject and validity, and the SHA-256
 * fingerprint.
 */
#include "managers/cert_issue.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "managers/cert_internal.h"

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

/* Writes der as a PEM CERTIFICATE block with 64 characters a line, the
 * text PEM_write_bio_X509 writes. */
char *
cert_pem_of_der(const unsigned char *der, int len)
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

/* Fills out from the signed cert and takes ownership of it. */
enum adcp_status
cert_result_fill(X509 *cert, struct issue_result *out, struct adcp_error *err)
{
    out->cert_pem = pem_of(cert);
    if (out->cert_pem == NULL ||
        !cert_time_of_asn1(X509_get0_notBefore(cert), &out->not_before) ||
        !cert_time_of_asn1(X509_get0_notAfter(cert), &out->not_after)) {
        free(out->cert_pem);
        out->cert_pem = NULL;
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the signed certificate cannot be encoded "
                              "as PEM");
    }
    cert_serial_hex(cert, out->serial);
    cert_subject_text_of(X509_get_subject_name(cert), out->subject,
                         sizeof(out->subject));
    out->cert = cert;
    return ADCP_OK;
}
