/*
 * Encoding and signing one CRL (RFC 5280, section 5.1) in a single pass
 * over the revoked certificates, without an X509_CRL object. OpenSSL's
 * X509_CRL_add0_revoked keeps every entry as an object and sorts them
 * again, but the store already hands them out in serial order.
 *
 * The entries are appended to one buffer as they arrive. The buffer
 * keeps room in front of them for the fields that precede them in the
 * tbsCertList, whose lengths depend on the entries, so those fields are
 * written backwards once the last entry is in. The tbsCertList is then
 * signed through the CA key's provider and the CertificateList assembled
 * in the same buffer.
 */
#include "managers/cert_crl.h"

#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crl_reason.h"
#include "common/log.h"
#include "managers/cert_internal.h"

#define DER_SEQUENCE 0x30
#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_UTC_TIME 0x17
#define DER_GENERALIZED_TIME 0x18
#define DER_CONTEXT_0 0xa0 /* [0] EXPLICIT, constructed */

/* The maximum length of a tag and length: one tag byte, 0x84 and four
 * length bytes. A CRL is limited to 4 GiB. */
#define DER_HEADER_MAX 6

/* An Extensions SEQUENCE holding one reasonCode extension (OID
 * 2.5.29.21, not critical), without the final ENUMERATED value byte. */
static const unsigned char reason_extension[] = {
    0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d,
    0x15, 0x04, 0x03, 0x0a, 0x01,
};

/* The version field of a v2 CRL: INTEGER 1. */
static const unsigned char version_v2[] = {DER_INTEGER, 0x01, 0x01};

/* A growing buffer with room kept in front of its content. */
struct der_buffer {
    unsigned char *data;
    size_t size;  /* allocated bytes */
    size_t start; /* first byte of the content */
    size_t end;   /* one past the last byte */
};

/* The state of one CRL while its entries are appended. */
struct crl_encoder {
    struct der_buffer buffer;
    size_t entries;
    time_t last_time; /* the time of last_time_der, or -1 */
    unsigned char last_time_der[DER_HEADER_MAX + 15];
    size_t last_time_len;
};

static size_t
der_header_len(size_t len)
{
    if (len < 0x80)
        return 2;
    if (len <= 0xff)
        return 3;
    if (len <= 0xffff)
        return 4;
    if (len <= 0xffffff)
        return 5;
    return 6;
}

/* Writes the tag and the DER length of len; returns the bytes written. */
static size_t
der_header_write(unsigned char *out, unsigned char tag, size_t len)
{
    size_t header_len = der_header_len(len);
    size_t length_bytes = header_len - 2;

    out[0] = tag;
    if (length_bytes == 0) {
        out[1] = (unsigned char)len;
        return header_len;
    }
    out[1] = (unsigned char)(0x80 | length_bytes);
    for (size_t i = 0; i < length_bytes; i++)
        out[2 + i] = (unsigned char)(len >> (8 * (length_bytes - 1 - i)));
    return header_len;
}

/* Makes room for extra more bytes at the end. Returns false when out of
 * memory or when the CRL would exceed 4 GiB. */
static bool
buffer_reserve(struct der_buffer *buffer, size_t extra)
{
    size_t needed = buffer->end + extra;
    size_t size = buffer->size;
    unsigned char *grown;

    if (needed <= size)
        return true;
    if (needed > UINT32_MAX)
        return false;
    while (size < needed)
        size *= 2;
    grown = realloc(buffer->data, size);
    if (grown == NULL)
        return false;
    buffer->data = grown;
    buffer->size = size;
    return true;
}

static bool
buffer_append(struct der_buffer *buffer, const unsigned char *bytes,
              size_t len)
{
    if (!buffer_reserve(buffer, len))
        return false;
    memcpy(buffer->data + buffer->end, bytes, len);
    buffer->end += len;
    return true;
}

/* Writes bytes just before the content. The caller reserved the room when
 * it created the buffer, so running out of it is a bug. */
static bool
buffer_prepend(struct der_buffer *buffer, const unsigned char *bytes,
               size_t len)
{
    if (buffer->start < len)
        return false;
    buffer->start -= len;
    memcpy(buffer->data + buffer->start, bytes, len);
    return true;
}

/* Wraps the whole content in a tag and length. */
static bool
buffer_wrap(struct der_buffer *buffer, unsigned char tag)
{
    unsigned char header[DER_HEADER_MAX];
    size_t len = der_header_write(header, tag, buffer->end - buffer->start);

    return buffer_prepend(buffer, header, len);
}

/* Writes t as UTCTime through 2049 and as GeneralizedTime from 2050, as
 * RFC 5280, section 5.1.2.4, requires. Returns the bytes written (at most
 * 17), or 0 for a year outside 1950 to 9999. */
static size_t
der_time_write(unsigned char *out, time_t t)
{
    char text[64];
    struct tm tm;
    int year;

    if (gmtime_r(&t, &tm) == NULL)
        return 0;
    year = tm.tm_year + 1900;
    if (year < 1950 || year > 9999)
        return 0;
    if (year < 2050) {
        snprintf(text, sizeof(text), "%02d%02d%02d%02d%02d%02dZ", year % 100,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        out[0] = DER_UTC_TIME;
    } else {
        snprintf(text, sizeof(text), "%04d%02d%02d%02d%02d%02dZ", year,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        out[0] = DER_GENERALIZED_TIME;
    }
    out[1] = (unsigned char)strlen(text);
    memcpy(out + 2, text, out[1]);
    return 2 + (size_t)out[1];
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Writes the DER INTEGER of a serial in upper-case hex, without leading
 * zero octets and with one 0x00 when the first octet has its top bit set,
 * so the number stays positive. Returns the bytes written (at most
 * ADCP_SERIAL_MAX / 2 + 3), or 0 when hex is empty or not hex. */
static size_t
der_serial_write(unsigned char *out, const char *hex)
{
    unsigned char octets[ADCP_SERIAL_MAX / 2 + 1];
    size_t len = strlen(hex), count = 0, first = 0, i = 0;
    int high, low;

    if (len == 0 || len >= ADCP_SERIAL_MAX)
        return 0;
    if (len % 2 == 1) {
        if ((low = hex_value(hex[0])) < 0)
            return 0;
        octets[count++] = (unsigned char)low;
        i = 1;
    }
    for (; i < len; i += 2) {
        high = hex_value(hex[i]);
        low = hex_value(hex[i + 1]);
        if (high < 0 || low < 0)
            return 0;
        octets[count++] = (unsigned char)(high << 4 | low);
    }
    while (first + 1 < count && octets[first] == 0 &&
           (octets[first + 1] & 0x80) == 0)
        first++;
    len = 0;
    out[len++] = DER_INTEGER;
    out[len++] = (unsigned char)(count - first +
                                 ((octets[first] & 0x80) != 0 ? 1 : 0));
    if ((octets[first] & 0x80) != 0)
        out[len++] = 0x00;
    memcpy(out + len, octets + first, count - first);
    return len + count - first;
}

static enum adcp_status
fail_entry(const struct store_revoked *entry, const char *what,
           struct adcp_error *err)
{
    log_error("revoked certificate %s has an invalid %s in the database",
              entry->serial, what);
    return adcp_error_set(err, ADCP_ERR_STORAGE, "serial",
                          "revoked certificate %s has an invalid %s in the "
                          "database, so no CRL can be built; restore the "
                          "database from a backup",
                          entry->serial, what);
}

/* Writes the revocation date, reusing the encoding of the entry before,
 * which many entries share in a CRL of bulk revocations. */
static size_t
entry_time_write(struct crl_encoder *encoder, unsigned char *out, time_t t)
{
    if (t != encoder->last_time) {
        encoder->last_time_len = der_time_write(encoder->last_time_der, t);
        encoder->last_time = t;
    }
    memcpy(out, encoder->last_time_der, encoder->last_time_len);
    return encoder->last_time_len;
}

/* Appends one revokedCertificates entry: userCertificate, revocationDate
 * and, unless the reason is unspecified, the reasonCode extension. A
 * store_revoked_fn. */
static enum adcp_status
append_entry(void *arg, const struct store_revoked *entry,
             struct adcp_error *err)
{
    struct crl_encoder *encoder = arg;
    unsigned char body[ADCP_SERIAL_MAX / 2 + 3 + 17 + 14];
    unsigned char header[DER_HEADER_MAX];
    size_t len, part;

    len = der_serial_write(body, entry->serial);
    if (len == 0)
        return fail_entry(entry, "serial", err);
    part = entry_time_write(encoder, body + len, entry->revoked_at);
    if (part == 0)
        return fail_entry(entry, "revocation time", err);
    len += part;
    if (!crl_reason_is_revocable(entry->reason))
        return fail_entry(entry, "reason", err);
    if (entry->reason != CRL_REASON_UNSPECIFIED) {
        memcpy(body + len, reason_extension, sizeof(reason_extension));
        len += sizeof(reason_extension);
        body[len++] = (unsigned char)entry->reason;
    }
    part = der_header_write(header, DER_SEQUENCE, len);
    if (!buffer_append(&encoder->buffer, header, part) ||
        !buffer_append(&encoder->buffer, body, len))
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory after %zu CRL entries",
                              encoder->entries);
    encoder->entries++;
    return ADCP_OK;
}

/* The fields of the tbsCertList before revokedCertificates, up to 1 KiB
 * of issuer name included. */
struct crl_head {
    unsigned char data[1024 + 128 + 2 * 17 + sizeof(version_v2)];
    size_t len;
};

static bool
head_append(struct crl_head *head, const unsigned char *bytes, size_t len)
{
    if (len > sizeof(head->data) - head->len)
        return false;
    memcpy(head->data + head->len, bytes, len);
    head->len += len;
    return true;
}

/* Encodes version, signature, issuer, thisUpdate and nextUpdate. */
static enum adcp_status
encode_head(const struct cert_crl_request *request,
            const unsigned char *algorithm, size_t algorithm_len,
            struct crl_head *head, struct adcp_error *err)
{
    unsigned char *issuer = NULL;
    unsigned char times[2 * 17];
    size_t this_len, next_len;
    int issuer_len;
    bool ok;

    head->len = 0;
    issuer_len = i2d_X509_NAME(X509_get_subject_name(request->ca_cert),
                               &issuer);
    this_len = der_time_write(times, request->this_update);
    next_len = der_time_write(times + this_len, request->next_update);
    ok = issuer_len > 0 && this_len > 0 && next_len > 0 &&
         head_append(head, version_v2, sizeof(version_v2)) &&
         head_append(head, algorithm, algorithm_len) &&
         head_append(head, issuer, (size_t)issuer_len) &&
         head_append(head, times, this_len + next_len);
    OPENSSL_free(issuer);
    if (ok)
        return ADCP_OK;
    log_openssl_errors(__func__, "encoding the CRL issuer and times");
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "the CRL's issuer name or update times cannot be "
                          "encoded; see the server log");
}

/* Makes one extension from its value, as the i2d of nid encodes it. */
static bool
push_extension(STACK_OF(X509_EXTENSION) *extensions, int nid, void *value)
{
    X509_EXTENSION *extension = X509V3_EXT_i2d(nid, 0, value);

    if (extension != NULL && sk_X509_EXTENSION_push(extensions, extension))
        return true;
    X509_EXTENSION_free(extension);
    return false;
}

/* Encodes crlExtensions: authorityKeyIdentifier, the CA certificate's
 * subjectKeyIdentifier (or its key's id when it has none), and cRLNumber.
 * Sets *der (OPENSSL_free it) to the Extensions SEQUENCE. */
static int
encode_extensions(const struct cert_crl_request *request, unsigned char **der)
{
    STACK_OF(X509_EXTENSION) *extensions = sk_X509_EXTENSION_new_null();
    AUTHORITY_KEYID *authority = AUTHORITY_KEYID_new();
    ASN1_INTEGER *number = ASN1_INTEGER_new();
    const ASN1_OCTET_STRING *ca_id;
    int len = 0;

    if (extensions == NULL || authority == NULL || number == NULL)
        goto out;
    ca_id = X509_get0_subject_key_id(request->ca_cert);
    authority->keyid = ca_id != NULL ? ASN1_OCTET_STRING_dup(ca_id)
                                     : cert_key_id_of(request->ca_cert);
    if (authority->keyid == NULL ||
        !ASN1_INTEGER_set_int64(number, request->number) ||
        !push_extension(extensions, NID_authority_key_identifier,
                        authority) ||
        !push_extension(extensions, NID_crl_number, number))
        goto out;
    len = i2d_X509_EXTENSIONS(extensions, der);
out:
    sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
    AUTHORITY_KEYID_free(authority);
    ASN1_INTEGER_free(number);
    return len;
}

/* Appends crlExtensions, [0] EXPLICIT, after the entries. */
static enum adcp_status
append_extensions(const struct cert_crl_request *request,
                  struct der_buffer *buffer, struct adcp_error *err)
{
    unsigned char header[DER_HEADER_MAX];
    unsigned char *der = NULL;
    size_t header_len;
    int len;
    bool ok;

    len = encode_extensions(request, &der);
    ok = len > 0;
    if (ok) {
        header_len = der_header_write(header, DER_CONTEXT_0, (size_t)len);
        ok = buffer_append(buffer, header, header_len) &&
             buffer_append(buffer, der, (size_t)len);
    }
    OPENSSL_free(der);
    if (ok)
        return ADCP_OK;
    log_openssl_errors(__func__, "encoding the CRL extensions");
    return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                          "the CRL extensions cannot be encoded; see the "
                          "server log");
}

/* Writes the fields before the entries in front of them, then the
 * tbsCertList header. An empty revokedCertificates is left out, as RFC
 * 5280, section 5.1.2.6, requires. */
static bool
close_tbs(struct der_buffer *buffer, size_t entries_end, size_t entries,
          const struct crl_head *head)
{
    unsigned char header[DER_HEADER_MAX];
    size_t len;

    if (entries > 0) {
        len = der_header_write(header, DER_SEQUENCE,
                               entries_end - buffer->start);
        if (!buffer_prepend(buffer, header, len))
            return false;
    }
    return buffer_prepend(buffer, head->data, head->len) &&
           buffer_wrap(buffer, DER_SEQUENCE);
}

/* Checks the signature with the CA certificate's public key, which
 * catches a key that does not belong to the certificate and a faulty
 * signature from an HSM. */
static bool
signature_verifies(const struct cert_crl_request *request,
                   const unsigned char *tbs, size_t tbs_len,
                   const unsigned char *signature, size_t signature_len)
{
    EVP_PKEY *public_key = X509_get0_pubkey(request->ca_cert);
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    bool passed;

    passed = public_key != NULL && md_ctx != NULL &&
             EVP_DigestVerifyInit_ex(md_ctx, NULL, request->digest, NULL,
                                     NULL, public_key, NULL) == 1 &&
             EVP_DigestVerify(md_ctx, signature, signature_len, tbs,
                              tbs_len) == 1;
    EVP_MD_CTX_free(md_ctx);
    return passed;
}

/* Signs the tbsCertList, the whole content of buffer, checks the
 * signature and appends signatureAlgorithm and signatureValue. */
static enum adcp_status
sign_tbs(const struct cert_crl_request *request, EVP_MD_CTX *md_ctx,
         const unsigned char *algorithm, size_t algorithm_len,
         struct der_buffer *buffer, struct adcp_error *err)
{
    const unsigned char *tbs = buffer->data + buffer->start;
    size_t tbs_len = buffer->end - buffer->start;
    unsigned char header[DER_HEADER_MAX + 1];
    size_t signature_len = (size_t)EVP_PKEY_get_size(request->ca_key);
    unsigned char *signature = malloc(signature_len);
    enum adcp_status status = ADCP_OK;
    size_t header_len;

    if (signature == NULL ||
        EVP_DigestSign(md_ctx, signature, &signature_len, tbs, tbs_len) !=
            1) {
        log_openssl_errors(__func__, "signing the CRL");
        status = adcp_error_set(err, ADCP_ERR_HSM, "",
                                "signing the CRL with the CA key failed; "
                                "check that the HSM holding the CA key is "
                                "reachable");
        goto out;
    }
    if (!signature_verifies(request, tbs, tbs_len, signature,
                            signature_len)) {
        log_openssl_errors(__func__, "checking the CRL signature");
        status = adcp_error_set(err, ADCP_ERR_HSM, "",
                                "the CRL signature made with the CA key "
                                "does not verify with the CA certificate; "
                                "check that the key and certificate belong "
                                "together");
        goto out;
    }
    header_len = der_header_write(header, DER_BIT_STRING, signature_len + 1);
    header[header_len++] = 0x00; /* no unused bits */
    if (!buffer_append(buffer, algorithm, algorithm_len) ||
        !buffer_append(buffer, header, header_len) ||
        !buffer_append(buffer, signature, signature_len) ||
        !buffer_wrap(buffer, DER_SEQUENCE))
        status = adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                                "out of memory while assembling the CRL");
out:
    free(signature);
    return status;
}

/* Starts the buffer with room in front for the head and three headers:
 * revokedCertificates, tbsCertList and CertificateList. */
static bool
encoder_init(struct crl_encoder *encoder, const struct crl_head *head)
{
    size_t room = head->len + 3 * DER_HEADER_MAX;

    memset(encoder, 0, sizeof(*encoder));
    encoder->last_time = -1;
    encoder->buffer.size = room + 64 * 1024;
    encoder->buffer.data = malloc(encoder->buffer.size);
    encoder->buffer.start = room;
    encoder->buffer.end = room;
    return encoder->buffer.data != NULL;
}

/* Moves the CertificateList to the start of the buffer and hands the
 * buffer to out. */
static void
encoder_finish(struct crl_encoder *encoder, struct cert_crl_der *out)
{
    struct der_buffer *buffer = &encoder->buffer;

    out->len = buffer->end - buffer->start;
    memmove(buffer->data, buffer->data + buffer->start, out->len);
    out->der = buffer->data;
    out->entries = encoder->entries;
    buffer->data = NULL;
}

/* Returns the notAfter before which a revoked certificate is left out:
 * one lifetime of a CRL before thisUpdate. RFC 5280, section 5.1, lets
 * an entry go once one scheduled CRL issued after the certificate expired
 * has listed it, and every CRL issued within a lifetime after that does. */
static time_t
expired_before(const struct cert_crl_request *request)
{
    return request->this_update -
           (request->next_update - request->this_update);
}

/* Encodes the tbsCertList into encoder's buffer. */
static enum adcp_status
encode_tbs(const struct cert_crl_request *request, struct crl_head *head,
           struct crl_encoder *encoder, struct adcp_error *err)
{
    enum adcp_status status;
    size_t entries_end;

    if (!encoder_init(encoder, head))
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while starting the CRL");
    status = store_revoked_foreach(request->store, expired_before(request),
                                   append_entry, encoder, err);
    if (status != ADCP_OK)
        return status;
    entries_end = encoder->buffer.end;
    status = append_extensions(request, &encoder->buffer, err);
    if (status != ADCP_OK)
        return status;
    if (!close_tbs(&encoder->buffer, entries_end, encoder->entries, head))
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "the CRL header does not fit its reserved "
                              "room; this is a bug");
    return ADCP_OK;
}

/* Starts signing with request->ca_key and gets the AlgorithmIdentifier
 * that the signature and the tbsCertList name. */
static enum adcp_status
start_signing(const struct cert_crl_request *request, EVP_MD_CTX *md_ctx,
              unsigned char *algorithm, size_t size, size_t *algorithm_len,
              struct adcp_error *err)
{
    EVP_PKEY_CTX *signing_ctx = NULL;

    if (md_ctx != NULL &&
        EVP_DigestSignInit_ex(md_ctx, &signing_ctx, request->digest, NULL,
                              NULL, request->ca_key, NULL) == 1 &&
        cert_signature_algorithm_of(signing_ctx, algorithm, size,
                                    algorithm_len))
        return ADCP_OK;
    log_openssl_errors(__func__, "starting the CRL signature");
    return adcp_error_set(err, ADCP_ERR_HSM, "",
                          "the CA key cannot sign the CRL with %s; check "
                          "that the HSM holding the CA key is reachable",
                          request->digest);
}

enum adcp_status
cert_crl_build(const struct cert_crl_request *request,
               struct cert_crl_der *out, struct adcp_error *err)
{
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    struct crl_encoder encoder;
    struct crl_head head;
    unsigned char algorithm[128];
    size_t algorithm_len = 0;
    enum adcp_status status;

    memset(out, 0, sizeof(*out));
    memset(&encoder, 0, sizeof(encoder));
    status = start_signing(request, md_ctx, algorithm, sizeof(algorithm),
                           &algorithm_len, err);
    if (status == ADCP_OK)
        status = encode_head(request, algorithm, algorithm_len, &head, err);
    if (status == ADCP_OK)
        status = encode_tbs(request, &head, &encoder, err);
    if (status == ADCP_OK)
        status = sign_tbs(request, md_ctx, algorithm, algorithm_len,
                          &encoder.buffer, err);
    if (status == ADCP_OK)
        encoder_finish(&encoder, out);
    free(encoder.buffer.data);
    EVP_MD_CTX_free(md_ctx);
    return status;
}
