/*
 * The HTTP side of the OCSP responder: finding the DER request in a POST
 * body or a GET path, and sending the DER response.
 */
#include "api/ocsp_route.h"

#include <event2/http.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "managers/ocsp.h"

#define OCSP_RESPONSE_TYPE "application/ocsp-response"

/* A DER request, borrowed from the request body or decoded from the
 * path into owned. */
struct ocsp_der {
    const unsigned char *data;
    size_t len;
    unsigned char *owned;
};

bool
api_ocsp_route_matches(const struct api_request *request)
{
    return strcmp(request->path, API_OCSP_PATH) == 0 ||
           strncmp(request->path, API_OCSP_GET_PREFIX,
                   strlen(API_OCSP_GET_PREFIX)) == 0;
}

/* Decodes base64 text of len bytes into out, which has room for len
 * bytes. Accepts the URL-safe alphabet too, and missing padding. Returns
 * the decoded length, or -1 when text is not base64. */
static long
decode_base64(char *text, size_t len, unsigned char *out)
{
    size_t padding = 0;
    int decoded;

    for (size_t i = 0; i < len; i++) {
        if (text[i] == '-')
            text[i] = '+';
        else if (text[i] == '_')
            text[i] = '/';
    }
    while (len > 0 && text[len - 1] == '=') {
        len--;
        padding++;
    }
    if (len == 0 || padding > 2 || len % 4 == 1 || len > INT32_MAX)
        return -1;
    /* EVP_DecodeBlock needs whole groups of four characters. */
    padding = (4 - len % 4) % 4;
    memset(text + len, '=', padding);
    decoded = EVP_DecodeBlock(out, (unsigned char *)text,
                              (int)(len + padding));
    if (decoded < 0)
        return -1;
    return decoded - (long)padding;
}

/* Decodes the GET form's last segment: percent-encoding, then base64. */
static bool
der_from_path(const char *path, struct ocsp_der *der)
{
    const char *encoded = path + strlen(API_OCSP_GET_PREFIX);
    size_t len = 0;
    char *text = evhttp_uridecode(encoded, 0, &len);
    char *padded = NULL;
    long decoded = -1;

    /* A copy with room for the padding that decode_base64 may add. A
     * decoded NUL (%00) makes strlen differ from len. */
    if (text != NULL && strlen(text) == len) {
        padded = malloc(len + 3);
        der->owned = malloc(len + 3);
    }
    if (padded != NULL && der->owned != NULL) {
        memcpy(padded, text, len);
        decoded = decode_base64(padded, len, der->owned);
    }
    free(text);
    free(padded);
    if (decoded <= 0)
        return false;
    der->data = der->owned;
    der->len = (size_t)decoded;
    return true;
}

/* Finds the DER request. Returns false for a method the path does not
 * serve, with response set to the 405. */
static bool
find_der(const struct api_request *request, struct ocsp_der *der,
         struct api_response *response)
{
    bool post = strcmp(request->path, API_OCSP_PATH) == 0;
    const char *method = post ? "POST" : "GET";

    memset(der, 0, sizeof(*der));
    if (strcmp(request->method, method) != 0) {
        response->http_status = 405;
        response->allow = post ? "POST" : "GET, HEAD";
        response->body = json_pack(
            "{s:{s:s, s:s, s:s}}", "error", "code", "method_not_allowed",
            "message",
            post ? "send an OCSP request to /ocsp with POST, or to "
                   "/ocsp/BASE64 with GET"
                 : "send an OCSP request to /ocsp/BASE64 with GET, or to "
                   "/ocsp with POST",
            "field", "method");
        return false;
    }
    if (post) {
        der->data = (const unsigned char *)request->body;
        der->len = request->body_len;
    } else if (!der_from_path(request->path, der)) {
        /* The empty request is malformed for ocsp_manager_respond. */
        der->data = NULL;
        der->len = 0;
    }
    return true;
}

/* NOTE: every reply carries the server's Cache-Control: no-store, so
 * HTTP caches between relying parties and the server do not keep the
 * responses to GET requests. */
static void
respond_with_reply(const struct ocsp_reply *reply,
                   struct api_response *response)
{
    response->http_status = 200;
    response->content_type = OCSP_RESPONSE_TYPE;
    response->bytes.data = reply->der;
    response->bytes.len = reply->len;
    response->bytes.release = reply->release;
    response->bytes.owner = reply->owner;
}

/* NOTE: the handler then looks the response up again. Should it be gone
 * by then, because a revocation removed it or the cache evicted it in
 * the microseconds between, the handler signs in the event loop, which
 * blocks the loop for one signature. */
bool
api_ocsp_route_is_quick(struct service *svc,
                        const struct api_request *request)
{
    struct api_response ignored = {0};
    struct ocsp_reply reply;
    struct ocsp_der der;
    bool cached;

    if (!find_der(request, &der, &ignored)) {
        json_decref(ignored.body);
        return true;
    }
    cached = der.len > 0 &&
             ocsp_responder_cached(svc->ocsp, der.data, der.len, &reply);
    free(der.owned);
    if (cached && reply.release != NULL)
        reply.release(reply.owner);
    return cached;
}

void
api_ocsp_route_handle(struct service *svc, const struct api_request *request,
                      struct api_response *response)
{
    struct ocsp_reply reply;
    struct ocsp_der der;

    if (!find_der(request, &der, response))
        return;
    ocsp_manager_respond(svc, der.data, der.len, request->peer_ip, &reply);
    free(der.owned);
    respond_with_reply(&reply, response);
}
