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

/* Rewrites hex digits of length len in the stored form, two digits per
 * byte of the value without leading zero bytes ("0028AB" and "28AB" both
 * become "28AB", "8AB" becomes "08AB"), as cert_serial_hex_of writes. */
static void
strip_leading_zeros(char *hex, size_t len)
{
    size_t skip = 0;

    if (len % 2 == 1) {
        memmove(hex + 1, hex, len + 1);
        hex[0] = '0';
        len++;
    }
    while (len - skip > 2 && hex[skip] == '0' && hex[skip + 1] == '0')
        skip += 2;
    memmove(hex, hex + skip, len - skip + 1);
}

enum adcp_status
cert_serial_normalise(const char *text, char out[ADCP_SERIAL_MAX],
                      struct adcp_error *err)
{
    size_t used = 0;

    for (const char *c = text; *c; c++) {
        if (*c == ':')
            continue;
        if (!isxdigit((unsigned char)*c) || used + 1 >= ADCP_SERIAL_MAX)
            return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "serial",
                                  "serial \"%.60s\" is not a hexadecimal "
                                  "serial number of at most %d digits",
                                  text, ADCP_SERIAL_MAX - 1);
        out[used++] = (char)toupper((unsigned char)*c);
    }
    out[used] = '\0';
    if (used == 0)
        return adcp_error_set(err, ADCP_ERR_MISSING_FIELD, "serial",
                              "the serial number is missing");
    strip_leading_zeros(out, used);
    return ADCP_OK;
}
