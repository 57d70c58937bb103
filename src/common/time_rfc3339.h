/*
 * Times as RFC 3339 text in UTC, shared by the service and the store,
 * which must not call into the managers.
 */
#ifndef HSM4SSL_COMMON_TIME_RFC3339_H
#define HSM4SSL_COMMON_TIME_RFC3339_H

#include <time.h>

/* Formats t as RFC 3339 UTC ("2026-12-04T03:11:09Z") into out. */
void time_rfc3339_format(time_t t, char out[32]);

#endif
