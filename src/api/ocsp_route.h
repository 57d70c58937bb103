/*
 * The OCSP endpoints of RFC 6960, appendix A: POST /ocsp with a DER
 * OCSPRequest as the body, and GET /ocsp/ followed by the URL-encoded
 * base64 of the DER request. Both are unauthenticated, because relying
 * parties query them, and the body of every reply is a DER OCSPResponse
 * (application/ocsp-response), an error status included.
 */
#ifndef HSM4SSL_API_OCSP_ROUTE_H
#define HSM4SSL_API_OCSP_ROUTE_H

#include <stdbool.h>

#include "api/http_server.h"
#include "managers/service.h"

/* The path of POST, and with a '/' the prefix of GET. The server passes
 * paths under API_OCSP_GET_PREFIX undecoded (raw_path_prefix). */
#define API_OCSP_PATH "/ocsp"
#define API_OCSP_GET_PREFIX "/ocsp/"

/* Returns true when request's path is an OCSP path. */
bool api_ocsp_route_matches(const struct api_request *request);

/* Returns true when the cache contains the response to request, or the
 * request has the wrong method, so the event loop can send the reply
 * without a handler thread. */
bool api_ocsp_route_is_quick(struct service *svc,
                             const struct api_request *request);

/* Sets response to a 405 for a method the path does not serve, else to
 * the DER OCSPResponse to request. */
void api_ocsp_route_handle(struct service *svc,
                           const struct api_request *request,
                           struct api_response *response);

#endif
