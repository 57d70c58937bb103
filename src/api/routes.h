/*
 * REST routes: each request becomes one ADCP request message, goes through
 * service_dispatch, and its ADCP response becomes the HTTP response.
 */
#ifndef HSM4SSL_API_ROUTES_H
#define HSM4SSL_API_ROUTES_H

#include "api/http_server.h"

/* An api_handler_fn; ctx is the struct service. */
void api_routes_handle(void *ctx, const struct api_request *request,
                       struct api_response *response);

/* An api_quick_fn: true for GET /healthz, GET /v1/ca and OCSP requests
 * with a cached response, which need no HSM and no commit, so that they
 * get replies even while every handler thread waits for an HSM. */
bool api_routes_is_quick(void *ctx, const struct api_request *request);

/* An api_slow_fn: true for key pair generation and token initialisation,
 * by REST or as an ADCP message, which run on the slow lane. */
bool api_routes_is_slow(void *ctx, const struct api_request *request);

#endif
