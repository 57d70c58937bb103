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

#endif
