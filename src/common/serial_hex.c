#include "common/serial_hex.h"

#include <string.h>

void
serial_hex_strip_leading_zeros(char *hex, size_t len)
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
