/*
 * Checks of the names a host may hold certificates for: host names, DNS
 * names (RFC 1123 labels, no wildcards) and IP addresses.
 */
#ifndef HSM4SSL_MANAGERS_NAMES_H
#define HSM4SSL_MANAGERS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* A host name: 1 to 63 of [A-Za-z0-9._-], not "." or "..". */
bool names_host_name_valid(const char *name);

/* A DNS name: labels of [A-Za-z0-9-] (1..63, no leading or trailing '-')
 * separated by dots, at most 253 bytes in all. */
bool names_dns_name_valid(const char *name);

/* Parses an IPv4 or IPv6 address and writes its canonical text (inet_ntop)
 * to out. Returns false when text is not an address. */
bool names_ip_canonical(const char *text, char *out, size_t size);

#endif
