/*
 * The canonical text of a certificate serial number, shared by the
 * service, which stores serials in it, and the CLI, which compares the
 * serial the server confirms with the one it sent.
 */
#ifndef HSM4SSL_COMMON_SERIAL_HEX_H
#define HSM4SSL_COMMON_SERIAL_HEX_H

#include <stddef.h>

/* Rewrites the len hex digits at hex in the stored form, two digits per
 * byte of the value without leading zero bytes ("0028AB" and "28AB" both
 * become "28AB", "8AB" becomes "08AB"), as the service stores serials.
 * hex must have room for len + 2 bytes. */
void serial_hex_strip_leading_zeros(char *hex, size_t len);

#endif
