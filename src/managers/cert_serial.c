/*
 * Serial numbers of new certificates (RFC 5280, section 4.1.2.2): a random
 * positive value drawn for each certificate, and its upper-case hex text.
 */
#include "managers/cert_issue.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <ctype.h>
#include <string.h>
#include <stddef.h>

#include "common/log.h"
#include "common/serial_hex.h"
#include "managers/cert_internal.h"

#define CERT_SERIAL_BYTES 16
#define CERT_SERIAL_ATTEMPTS 3

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

void
cert_serial_hex_of(const ASN1_INTEGER *serial, char out[ADCP_SERIAL_MAX])
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
        cert_serial_hex_of(X509_get0_serialNumber(cert), out);
}

enum adcp_status
cert_serial_normalise(const char *text, char out[ADCP_SERIAL_MAX],
                      struct adcp_error *err)
{
    /* One byte more than out, because an odd number of digits gains a
     * leading zero before the zero bytes are stripped. */
    char digits[ADCP_SERIAL_MAX + 1];
    size_t used = 0;

    for (const char *c = text; *c; c++) {
        if (*c == ':')
            continue;
        if (!isxdigit((unsigned char)*c) || used + 1 >= ADCP_SERIAL_MAX)
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "serial",
                                  "serial \"%.60s\" is not a hexadecimal "
                                  "serial number of at most %d digits",
                                  text, ADCP_SERIAL_MAX - 1);
        digits[used++] = (char)toupper((unsigned char)*c);
    }
    digits[used] = '\0';
    if (used == 0)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "serial",
                              "the serial number is missing");
    serial_hex_strip_leading_zeros(digits, used);
    used = strlen(digits);
    if (used >= ADCP_SERIAL_MAX)
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "serial",
                              "serial \"%.60s\" takes %zu digits as whole "
                              "bytes, more than the %d a serial may have",
                              text, used, ADCP_SERIAL_MAX - 1);
    memcpy(out, digits, used + 1);
    return ADCP_OK;
}
