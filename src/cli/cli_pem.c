#include "cli/cli_pem.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <limits.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
cli_pem_bio_to_string(BIO *bio, char **text, size_t *len)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);

    *text = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (*text == NULL)
        return -1;
    if (n > 0)
        memcpy(*text, data, (size_t)n);
    (*text)[n > 0 ? n : 0] = '\0';
    *len = (size_t)(n > 0 ? n : 0);
    return 0;
}

int
cli_pem_read_certs(const char *pem, size_t len, STACK_OF(X509) **certs)
{
    BIO *bio = NULL;
    STACK_OF(X509) *list = sk_X509_new_null();
    X509 *cert;
    int count = -1;

    *certs = NULL;
    if (len > INT_MAX)
        goto out;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL || list == NULL)
        goto out;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(list, cert) <= 0) {
            X509_free(cert);
            goto out;
        }
    }
    /* The loop ends at the first block that is not a certificate; only
     * "no start line" after the last block means the text is clean. */
    if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE)
        goto out;
    ERR_clear_error();
    count = sk_X509_num(list);
    *certs = list;
    list = NULL;
out:
    sk_X509_pop_free(list, X509_free);
    BIO_free(bio);
    return count;
}

int
cli_pem_write_certs(STACK_OF(X509) *certs, char **text, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = -1;

    *text = NULL;
    if (bio == NULL)
        goto out;
    for (int i = 0; i < sk_X509_num(certs); i++)
        if (PEM_write_bio_X509(bio, sk_X509_value(certs, i)) != 1)
            goto out;
    rc = cli_pem_bio_to_string(bio, text, len);
out:
    BIO_free(bio);
    return rc;
}

int
cli_pem_fingerprint(X509 *cert, char out[65])
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (X509_digest(cert, EVP_sha256(), digest, &digest_len) != 1 ||
        digest_len != 32)
        return -1;
    for (unsigned int i = 0; i < digest_len; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    out[64] = '\0';
    return 0;
}

int
cli_pem_fingerprint_parse(const char *text, char out[65])
{
    size_t used = 0;

    for (; *text != '\0'; text++) {
        if (*text == ':' || *text == ' ')
            continue;
        if (!isxdigit((unsigned char)*text) || used == 64)
            return -1;
        out[used++] = (char)toupper((unsigned char)*text);
    }
    out[used] = '\0';
    return used == 64 ? 0 : -1;
}

void
cli_pem_fingerprint_format(const char *hex, char out[96])
{
    size_t used = 0;

    for (size_t i = 0; i + 1 < 65 && hex[i] != '\0' && hex[i + 1] != '\0';
         i += 2) {
        if (used > 0)
            out[used++] = ':';
        out[used++] = hex[i];
        out[used++] = hex[i + 1];
    }
    out[used] = '\0';
}

/* Returns true when nothing but whitespace follows in bio. */
static bool
only_space_left(BIO *bio)
{
    char rest[64];
    int n;

    while ((n = BIO_read(bio, rest, sizeof(rest))) > 0)
        for (int i = 0; i < n; i++)
            if (!isspace((unsigned char)rest[i]))
                return false;
    return true;
}

int
cli_pem_public_key_read(const char *pem, EVP_PKEY **key)
{
    size_t len = strlen(pem);
    BIO *bio = NULL;
    int rc = -1;

    *key = NULL;
    if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
        goto out;
    *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (*key == NULL || !only_space_left(bio)) {
        EVP_PKEY_free(*key);
        *key = NULL;
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    BIO_free(bio);
    return rc;
}

int
cli_pem_public_key_write(EVP_PKEY *key, char **out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    size_t len;
    int rc = -1;

    *out = NULL;
    if (bio != NULL && PEM_write_bio_PUBKEY(bio, key) == 1)
        rc = cli_pem_bio_to_string(bio, out, &len);
    ERR_clear_error();
    BIO_free(bio);
    return rc;
}

int
cli_pem_serial_format(X509 *cert, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    const unsigned char *bytes = ASN1_STRING_get0_data(serial);
    int count = ASN1_STRING_length(serial);
    size_t used = 0;

    if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER && used + 1 < size)
        out[used++] = '-';
    /* A zero serial has no content bytes but prints as "00". */
    if (count == 0 && used + 2 < size) {
        out[used++] = '0';
        out[used++] = '0';
    }
    for (int i = 0; i < count; i++) {
        if (used + 2 >= size)
            return -1;
        out[used++] = hex[bytes[i] >> 4];
        out[used++] = hex[bytes[i] & 0xf];
    }
    if (used >= size)
        return -1;
    out[used] = '\0';
    return 0;
}

int
cli_pem_time_format(const ASN1_TIME *time, char out[32])
{
    struct tm tm;

    if (ASN1_TIME_to_tm(time, &tm) != 1 ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

void
cli_pem_subject_format(X509 *cert, char *out, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    long len;

    out[0] = '\0';
    if (bio != NULL &&
        X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
                           XN_FLAG_RFC2253) >= 0) {
        len = BIO_get_mem_data(bio, &text);
        snprintf(out, size, "%.*s", (int)(len > 0 ? len : 0), text);
    }
    if (out[0] == '\0')
        snprintf(out, size, "(no subject)");
    BIO_free(bio);
}
