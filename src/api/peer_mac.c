/*
 * The peer's hardware address for the ADCP header, read from the kernel's
 * IPv4 neighbour table. Only hosts on a directly attached link appear
 * there; every other peer gets "".
 */
#include "api/http_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAC_TEXT_LEN 17 /* "aa:bb:cc:dd:ee:ff" */

/* Returns true for six colon-separated hex pairs that are not all zero
 * (the kernel shows an unresolved entry as 00:00:00:00:00:00). */
static bool
mac_is_valid(const char *text)
{
    bool nonzero = false;

    if (strlen(text) != MAC_TEXT_LEN)
        return false;
    for (size_t i = 0; i < MAC_TEXT_LEN; i++) {
        if (i % 3 == 2) {
            if (text[i] != ':')
                return false;
        } else if (!isxdigit((unsigned char)text[i])) {
            return false;
        } else if (text[i] != '0') {
            nonzero = true;
        }
    }
    return nonzero;
}

/* Parses one table line. Returns true when it is a complete entry for
 * want, with its address copied to mac in lower case. */
static bool
match_line(const char *line, const struct in_addr *want, char *mac,
           size_t mac_size)
{
    char ip[64], hw_type[32], flags[32], hw[32];
    struct in_addr addr;
    unsigned long flag_bits;

    if (sscanf(line, "%63s %31s %31s %31s", ip, hw_type, flags, hw) != 4)
        return false;
    if (inet_pton(AF_INET, ip, &addr) != 1 ||
        addr.s_addr != want->s_addr)
        return false;
    flag_bits = strtoul(flags, NULL, 16);
    if ((flag_bits & ATF_COM) == 0 || !mac_is_valid(hw))
        return false;
    if (mac_size <= MAC_TEXT_LEN)
        return false;
    for (size_t i = 0; i <= MAC_TEXT_LEN; i++)
        mac[i] = (char)tolower((unsigned char)hw[i]);
    return true;
}

int
api_peer_mac_lookup(const char *table_path, const char *ip, char *mac,
                    size_t mac_size)
{
    struct in_addr want;
    char line[256];
    FILE *table = NULL;
    int result = -1;

    if (mac == NULL || mac_size == 0)
        return -1;
    mac[0] = '\0';
    if (ip == NULL || inet_pton(AF_INET, ip, &want) != 1)
        goto out;
    /* Loopback peers never have a neighbour entry. */
    if ((ntohl(want.s_addr) >> 24) == 127)
        goto out;
    table = fopen(table_path, "re");
    if (table == NULL)
        goto out;
    while (fgets(line, sizeof(line), table) != NULL) {
        if (match_line(line, &want, mac, mac_size)) {
            result = 0;
            goto out;
        }
    }

out:
    if (table != NULL)
        fclose(table);
    return result;
}
