#include "managers/names.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

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

bool
names_dns_name_valid(const char *name)
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
