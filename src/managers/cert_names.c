/*
 * The names a new certificate carries: the subject DN, built from a CN and
 * an optional O and printed as RFC 2253 text, and the subjectAltName
 * entries (RFC 5280, section 4.2.1.6) made from a host's DNS names and IP
 * addresses.
 */
#include "managers/cert_issue.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "managers/cert_internal.h"

/* Builds the subject O=organization (when given), CN=common_name. */
X509_NAME *
cert_subject_name_of(const char *common_name, const char *organization)
{
    X509_NAME *name = X509_NAME_new();

    if (name == NULL)
        return NULL;
    /* A DN runs from the top of the directory tree down, so O precedes
     * CN. */
    if ((organization != NULL && organization[0] != '\0' &&
         !X509_NAME_add_entry_by_NID(name, NID_organizationName,
                                     MBSTRING_UTF8,
                                     (const unsigned char *)organization,
                                     -1, -1, 0)) ||
        !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)common_name, -1,
                                    -1, 0)) {
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}

/* Writes the subject as RFC 2253 text. NOTE: a subject longer than the
 * 255 bytes of out is cut off. The subjects this CA writes (one CN, or an
 * O and a CN, each at most 64 ASCII characters) fit. */
void
cert_subject_text_of(const X509_NAME *subject, char *out, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len = 0;

    out[0] = '\0';
    if (bio != NULL &&
        X509_NAME_print_ex(bio, subject, 0, XN_FLAG_RFC2253) >= 0)
        len = BIO_get_mem_data(bio, &data);
    if (len > 0)
        snprintf(out, size, "%.*s", (int)len, data);
    BIO_free(bio);
}

/* A DNS name as a SAN: printable ASCII with no spaces. The host manager
 * validates names when they are registered; this is a last check before
 * the name is signed. */
static bool
dns_name_encodable(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return false;
    for (; *name != '\0'; name++)
        if ((unsigned char)*name <= 0x20 || (unsigned char)*name >= 0x7f)
            return false;
    return true;
}

static enum adcp_status
push_dns_name(GENERAL_NAMES *names, const char *dns_name,
              struct adcp_error *err)
{
    GENERAL_NAME *entry = NULL;
    ASN1_IA5STRING *text = NULL;

    if (!dns_name_encodable(dns_name))
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD, "host.dns_names",
                              "the host's DNS name '%s' is not printable "
                              "ASCII; register it in its IDNA (xn--) form",
                              dns_name ? dns_name : "");
    entry = GENERAL_NAME_new();
    text = ASN1_IA5STRING_new();
    if (entry == NULL || text == NULL ||
        !ASN1_STRING_set(text, dns_name, (int)strlen(dns_name))) {
        GENERAL_NAME_free(entry);
        ASN1_IA5STRING_free(text);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    }
    GENERAL_NAME_set0_value(entry, GEN_DNS, text);
    if (!sk_GENERAL_NAME_push(names, entry)) {
        GENERAL_NAME_free(entry);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    }
    return ADCP_OK;
}

static enum adcp_status
push_ip_address(GENERAL_NAMES *names, const char *address,
                struct adcp_error *err)
{
    GENERAL_NAME *entry = NULL;
    ASN1_OCTET_STRING *octets = NULL;

    /* a2i_IPADDRESS gives the binary form, 4 or 16 bytes, as iPAddress
     * needs it. */
    octets = address ? a2i_IPADDRESS(address) : NULL;
    if (octets == NULL) {
        ERR_clear_error();
        return adcp_error_set(err, ADCP_ERR_INVALID_FIELD,
                              "host.ip_addresses",
                              "the host's IP address '%s' is not an IPv4 or "
                              "IPv6 address; correct the host record",
                              address ? address : "");
    }
    entry = GENERAL_NAME_new();
    if (entry == NULL) {
        ASN1_OCTET_STRING_free(octets);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    }
    GENERAL_NAME_set0_value(entry, GEN_IPADD, octets);
    if (!sk_GENERAL_NAME_push(names, entry)) {
        GENERAL_NAME_free(entry);
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    }
    return ADCP_OK;
}

/* Sets *out to every DNS name and IP address of names, in the order
 * registered, or to NULL for a host with neither. */
enum adcp_status
cert_alt_names_of(const struct issue_host *names, GENERAL_NAMES **out,
                  struct adcp_error *err)
{
    enum adcp_status status = ADCP_OK;
    GENERAL_NAMES *list;

    *out = NULL;
    if (names->dns_count == 0 && names->ip_count == 0)
        return ADCP_OK;
    list = sk_GENERAL_NAME_new_null();
    if (list == NULL)
        return adcp_error_set(err, ADCP_ERR_INTERNAL, "",
                              "out of memory while encoding a SAN");
    for (size_t i = 0; status == ADCP_OK && i < names->dns_count; i++)
        status = push_dns_name(list, names->dns_names[i], err);
    for (size_t i = 0; status == ADCP_OK && i < names->ip_count; i++)
        status = push_ip_address(list, names->ip_addresses[i], err);
    *out = list;
    return status;
}
