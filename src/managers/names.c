#include "managers/names.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define DIGITS "0123456789"
#define HEX_DIGITS DIGITS "abcdefABCDEF"

bool
names_host_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > 63)
        return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") == len;
}

static bool
dns_label_valid(const char *label, size_t len)
{
    if (len == 0 || len > 63)
        return false;
    if (label[0] == '-' || label[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = label[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool
dns_labels_valid(const char *name)
{
    size_t len = strlen(name);
    const char *label = name;

    if (len == 0 || len > 253)
        return false;
    for (;;) {
        const char *dot = strchr(label, '.');
        size_t label_len = dot ? (size_t)(dot - label) : strlen(label);
        if (!dns_label_valid(label, label_len))
            return false;
        if (dot == NULL)
            return true;
        label = dot + 1;
    }
}

/* A label that makes the WHATWG URL Standard's "ends in a number" check
 * true: decimal digits, or "0x" followed by zero or more hex digits. Octal
 * ("017") is all digits, so the first test covers it. */
static bool
numeric_label(const char *label)
{
    size_t len = strlen(label);

    if (strspn(label, DIGITS) == len)
        return true;
    return label[0] == '0' && (label[1] == 'x' || label[1] == 'X') &&
           strspn(label + 2, HEX_DIGITS) == len - 2;
}

enum names_dns_check
names_dns_name_check(const char *name)
{
    unsigned char address[16];
    const char *last_dot;

    if (inet_pton(AF_INET, name, address) == 1 ||
        inet_pton(AF_INET6, name, address) == 1)
        return NAMES_DNS_IP_ADDRESS;
    if (!dns_labels_valid(name))
        return NAMES_DNS_INVALID;
    last_dot = strrchr(name, '.');
    if (numeric_label(last_dot ? last_dot + 1 : name))
        return NAMES_DNS_NUMERIC_TLD;
    return NAMES_DNS_OK;
}

bool
names_dns_name_valid(const char *name)
{
    return names_dns_name_check(name) == NAMES_DNS_OK;
}

bool
names_ip_canonical(const char *text, char *out, size_t size)
{
    unsigned char addr[16];

    if (inet_pton(AF_INET, text, addr) == 1)
        return inet_ntop(AF_INET, addr, out, (socklen_t)size) != NULL;
    if (inet_pton(AF_INET6, text, addr) == 1)
        return inet_ntop(AF_INET6, addr, out, (socklen_t)size) != NULL;
    return false;
}

static enum names_ip_check
classify_ipv4(const unsigned char address[4])
{
    static const unsigned char broadcast[4] = {255, 255, 255, 255};

    if (address[0] == 0)
        return NAMES_IP_UNSPECIFIED;
    if (address[0] >= 224 && address[0] <= 239)
        return NAMES_IP_MULTICAST;
    if (memcmp(address, broadcast, sizeof(broadcast)) == 0)
        return NAMES_IP_BROADCAST;
    return NAMES_IP_OK;
}

/* Returns whether address is in ::ffff:0:0/96 (RFC 4291, section
 * 2.5.5.2): 80 zero bits, 16 one bits, then an IPv4 address. */
static bool
ipv4_mapped(const unsigned char address[16])
{
    static const unsigned char zeros[10] = {0};

    return memcmp(address, zeros, sizeof(zeros)) == 0 && address[10] == 0xff &&
           address[11] == 0xff;
}

/* Returns whether address is in ::/96 without being :: or ::1, the
 * loopback address: an IPv4-compatible address (RFC 4291, section
 * 2.5.5.1). */
static bool
ipv4_compatible(const unsigned char address[16])
{
    static const unsigned char zeros[15] = {0};

    return memcmp(address, zeros, 12) == 0 &&
           !(memcmp(address, zeros, sizeof(zeros)) == 0 && address[15] <= 1);
}

/* Classifies an IPv6 address. An IPv4-mapped or IPv4-compatible one gets
 * the result of its IPv4 address, or NAMES_IP_V4_MAPPED or
 * NAMES_IP_V4_COMPATIBLE when that address is usable. */
static enum names_ip_check
classify_ipv6(const unsigned char address[16])
{
    static const unsigned char unspecified[16] = {0};
    enum names_ip_check result, form;

    if (memcmp(address, unspecified, sizeof(unspecified)) == 0)
        return NAMES_IP_UNSPECIFIED;
    if (address[0] == 0xff)
        return NAMES_IP_MULTICAST;
    if (ipv4_mapped(address))
        form = NAMES_IP_V4_MAPPED;
    else if (ipv4_compatible(address))
        form = NAMES_IP_V4_COMPATIBLE;
    else
        return NAMES_IP_OK;
    result = classify_ipv4(address + 12);
    return result == NAMES_IP_OK ? form : result;
}

enum names_ip_check
names_host_ip_check(const char *text, char *out, size_t size)
{
    unsigned char address[16];
    const unsigned char *printed = address;
    enum names_ip_check result;
    int family;

    if (size > 0)
        out[0] = '\0';
    if (inet_pton(AF_INET, text, address) == 1) {
        family = AF_INET;
        result = classify_ipv4(address);
    } else if (inet_pton(AF_INET6, text, address) == 1) {
        family = AF_INET6;
        result = classify_ipv6(address);
    } else {
        return NAMES_IP_INVALID;
    }
    if (result == NAMES_IP_V4_MAPPED || result == NAMES_IP_V4_COMPATIBLE) {
        /* The IPv4 address is the last 4 of the 16 bytes. */
        family = AF_INET;
        printed = address + 12;
    } else if (result != NAMES_IP_OK) {
        return result;
    }
    if (inet_ntop(family, printed, out, (socklen_t)size) == NULL) {
        if (size > 0)
            out[0] = '\0';
        return NAMES_IP_INVALID;
    }
    return result;
}

const char *
names_ip_check_text(enum names_ip_check result)
{
    switch (result) {
    case NAMES_IP_UNSPECIFIED:
        return "an unspecified or this-network address (0.0.0.0/8 or ::)";
    case NAMES_IP_BROADCAST:
        return "the limited broadcast address";
    case NAMES_IP_MULTICAST:
        return "a multicast address (224.0.0.0/4 or ff00::/8)";
    default:
        return "an address that no certificate may name";
    }
}
