/*
 * Checks of the names a host may hold certificates for: host names, DNS
 * names (RFC 1123 labels, no wildcards) and IP addresses.
 */
#ifndef HSM4SSL_MANAGERS_NAMES_H
#define HSM4SSL_MANAGERS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* The result of names_dns_name_check. */
enum names_dns_check {
    NAMES_DNS_OK,
    /* Not dot-separated labels of [A-Za-z0-9-]. */
    NAMES_DNS_INVALID,
    /* The text form of an IPv4 or IPv6 address. RFC 5280 (section 4.2.1.6)
     * puts addresses in iPAddress and wants a dNSName in the preferred name
     * syntax of RFC 1034 and RFC 1123, which excludes both forms. */
    NAMES_DNS_IP_ADDRESS,
    /* The last (top-level) label is a number, such as "127.1" or "10.0x1".
     * RFC 1123 (section 2.1) keeps that label alphabetic, and URL parsers
     * that follow the WHATWG URL Standard read such a name as an IPv4
     * address. */
    NAMES_DNS_NUMERIC_TLD,
};

/* The result of names_host_ip_check. */
enum names_ip_check {
    NAMES_IP_OK,
    /* Not an IPv4 or IPv6 address in the text form inet_pton accepts. */
    NAMES_IP_INVALID,
    /* 0.0.0.0/8 (this network, RFC 1122) or ::, which name no host. */
    NAMES_IP_UNSPECIFIED,
    /* 255.255.255.255, the limited broadcast address. */
    NAMES_IP_BROADCAST,
    /* 224.0.0.0/4 or ff00::/8. */
    NAMES_IP_MULTICAST,
    /* ::ffff:0:0/96, an IPv4 address in IPv6 form. A mapped address whose
     * IPv4 address is unspecified, broadcast or multicast gets that result
     * instead. */
    NAMES_IP_V4_MAPPED,
    /* ::/96 other than :: and ::1, the IPv4-compatible form that RFC 4291
     * (section 2.5.5.1) deprecates. The check of its IPv4 address applies
     * as for a mapped one. */
    NAMES_IP_V4_COMPATIBLE,
};

/* A host name: 1 to 63 of [A-Za-z0-9._-], not "." or "..". */
bool names_host_name_valid(const char *name);

/* Checks a DNS name: labels of [A-Za-z0-9-] (1..63, no leading or trailing
 * '-') separated by dots, at most 253 bytes in all, that is not an IP
 * address and whose last label is not a number. */
enum names_dns_check names_dns_name_check(const char *name);

/* Returns whether names_dns_name_check accepts name. */
bool names_dns_name_valid(const char *name);

/* Parses an IPv4 or IPv6 address and writes its canonical text (inet_ntop)
 * to out. Returns false when text is not an address. Any address passes,
 * 0.0.0.0 and :: included, so this suits listen addresses. */
bool names_ip_canonical(const char *text, char *out, size_t size);

/*
 * Checks that text is an address a host certificate may name. On
 * NAMES_IP_OK, out receives the canonical text (inet_ntop), and on
 * NAMES_IP_V4_MAPPED the IPv4 address to register instead. On the other
 * results out is "". An out smaller than INET6_ADDRSTRLEN bytes can give
 * NAMES_IP_INVALID for a valid address.
 */
enum names_ip_check names_host_ip_check(const char *text, char *out,
                                        size_t size);

/* Returns a phrase for an address that names_host_ip_check rejected
 * because it names no single host, such as "the limited broadcast
 * address". */
const char *names_ip_check_text(enum names_ip_check result);

#endif
