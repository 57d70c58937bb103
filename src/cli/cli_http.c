#include "cli/cli_http.h"

#include "cli/cli_alloc.h"
#include "cli/cli_exit.h"
#include "common/log.h"
#include "common/secret.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Responses are a few certificates at most; the cap stops a hostile or
 * broken server from filling memory. */
#define RESPONSE_MAX_BYTES (4 * 1024 * 1024)
#define CONNECT_TIMEOUT_SECONDS 10L
#define TOTAL_TIMEOUT_SECONDS 60L

/* The response body as it arrives; its memory comes from the wiping heap
 * because bodies carry enrolment tokens. */
struct body_buffer {
    char *data;
    size_t len;
    bool too_large;
};

int
cli_http_init(void)
{
    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, cli_alloc_malloc,
                             cli_alloc_free, cli_alloc_realloc,
                             cli_alloc_strdup, cli_alloc_calloc) != CURLE_OK)
        return -1;
    return 0;
}

void
cli_http_cleanup(void)
{
    curl_global_cleanup();
}

/* Returns true when part is present in url; a path of "/" counts as
 * absent. */
static bool
has_part(CURLU *url, CURLUPart part)
{
    char *value = NULL;
    bool present = false;

    if (curl_url_get(url, part, &value, 0) == CURLUE_OK)
        present = !(part == CURLUPART_PATH && strcmp(value, "/") == 0);
    curl_free(value);
    return present;
}

/* Copies the port of an https:// URL as written (after the last ':' of
 * the authority, outside an IPv6 literal) into out, or "" for none. */
static void
copy_port_text(const char *server, char *out, size_t size)
{
    const char *authority = server + strlen("https://");
    size_t len = strcspn(authority, "/?#");
    const char *colon = NULL;

    for (size_t i = 0; i < len; i++)
        if (authority[i] == ':')
            colon = authority + i;
        else if (authority[i] == ']')
            colon = NULL;
    if (colon == NULL)
        snprintf(out, size, "%s", "");
    else
        snprintf(out, size, "%.*s", (int)(authority + len - colon - 1),
                 colon + 1);
}

/* Names what is wrong with a URL that curl_url_set rejected with code. */
static int
report_bad_url(const char *server, const char *option, CURLUcode code)
{
    char port[32];

    if (code == CURLUE_BAD_PORT_NUMBER) {
        copy_port_text(server, port, sizeof(port));
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: port \"%s\" is not a number from 1 "
                        "to 65535", option, server, port);
    }
    if (code == CURLUE_NO_HOST || code == CURLUE_BAD_HOSTNAME)
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: the host name or address is missing "
                        "or invalid; give https://HOST:PORT", option,
                        server);
    return cli_fail(CLI_EXIT_USAGE, "invalid %s %s: %s; give "
                    "https://HOST:PORT", option, server,
                    curl_url_strerror(code));
}

/* Checks the parts of a parsed URL; scheme and host are known good. */
static int
check_parts(CURLU *url, const char *server, const char *option)
{
    char *port = NULL, port_text[32];
    bool port_zero;

    if (has_part(url, CURLUPART_USER) || has_part(url, CURLUPART_PASSWORD))
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: remove the user name; the CLI "
                        "authenticates with tokens and certificates",
                        option, server);
    if (has_part(url, CURLUPART_PATH))
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: remove the path; give only "
                        "https://HOST:PORT", option, server);
    if (has_part(url, CURLUPART_QUERY) || has_part(url, CURLUPART_FRAGMENT))
        return cli_fail(CLI_EXIT_USAGE,
                        "invalid %s %s: remove the query or fragment; give "
                        "only https://HOST:PORT", option, server);
    /* libcurl accepts port 0, which no server listens on. */
    if (curl_url_get(url, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        return CLI_EXIT_OK;
    port_zero = strspn(port, "0") == strlen(port);
    curl_free(port);
    if (!port_zero)
        return CLI_EXIT_OK;
    copy_port_text(server, port_text, sizeof(port_text));
    return cli_fail(CLI_EXIT_USAGE,
                    "invalid %s %s: port \"%s\" is not a number from 1 to "
                    "65535", option, server, port_text);
}

int
cli_http_check_server(const char *server, const char *option)
{
    CURLU *url = curl_url();
    CURLUcode code;
    int rc = CLI_EXIT_USAGE;

    if (url == NULL)
        return cli_fail(CLI_EXIT_LOCAL, "out of memory");
    if (strncasecmp(server, "https://", 8) != 0) {
        rc = cli_fail(CLI_EXIT_USAGE,
                      "invalid %s %s: only https:// URLs are accepted, e.g. "
                      "https://ca.example.test:8443", option, server);
        goto out;
    }
    code = curl_url_set(url, CURLUPART_URL, server, 0);
    if (code != CURLUE_OK) {
        rc = report_bad_url(server, option, code);
        goto out;
    }
    rc = check_parts(url, server, option);
out:
    curl_url_cleanup(url);
    return rc;
}

static size_t
collect_body(char *data, size_t size, size_t count, void *user)
{
    struct body_buffer *body = user;
    size_t len = size * count;
    char *grown;

    if (len > RESPONSE_MAX_BYTES - body->len) {
        body->too_large = true;
        return 0;
    }
    grown = cli_alloc_realloc(body->data, body->len + len + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + body->len, data, len);
    body->data = grown;
    body->len += len;
    body->data[body->len] = '\0';
    return len;
}

static CURLcode
set_transport(CURL *curl, const char *url, char *error_text,
              struct body_buffer *body)
{
    CURLcode res = CURLE_OK;

#define SET(option, value)                                                   \
    if (res == CURLE_OK)                                                     \
    res = curl_easy_setopt(curl, option, value)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECONDS);
    SET(CURLOPT_TIMEOUT, TOTAL_TIMEOUT_SECONDS);
    SET(CURLOPT_NOPROGRESS, 1L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_USERAGENT, "ssleverywhere");
    SET(CURLOPT_ERRORBUFFER, error_text);
    SET(CURLOPT_WRITEFUNCTION, collect_body);
    SET(CURLOPT_WRITEDATA, body);
#undef SET
    return res;
}

static CURLcode
set_trust(CURL *curl, const struct cli_http_trust *trust)
{
    struct curl_blob blob;
    CURLcode res = CURLE_OK;

    if (trust->insecure) {
        res = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        if (res == CURLE_OK)
            res = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
        return res;
    }
    res = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    if (res == CURLE_OK)
        res = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    /* Without this the system CA folder would be trusted as well. */
    if (res == CURLE_OK)
        res = curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
    if (res == CURLE_OK && trust->ca_pem != NULL) {
        blob.data = (void *)trust->ca_pem;
        blob.len = strlen(trust->ca_pem);
        blob.flags = CURL_BLOB_COPY;
        res = curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    } else if (res == CURLE_OK) {
        res = curl_easy_setopt(curl, CURLOPT_CAINFO, trust->ca_file);
    }
    return res;
}

static CURLcode
set_client_cert(CURL *curl, const struct cli_http_auth *auth)
{
    CURLcode res;

    if (auth->client_cert == NULL)
        return CURLE_OK;
    res = curl_easy_setopt(curl, CURLOPT_SSLCERT, auth->client_cert);
    if (res == CURLE_OK)
        res = curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    if (res == CURLE_OK)
        res = curl_easy_setopt(curl, CURLOPT_SSLKEY, auth->client_key);
    if (res == CURLE_OK)
        res = curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    if (res == CURLE_OK && auth->key_passphrase != NULL)
        res = curl_easy_setopt(curl, CURLOPT_KEYPASSWD,
                               auth->key_passphrase);
    return res;
}

/* Builds the request headers; the Authorization line is built in a local
 * buffer that is wiped once libcurl has copied it. */
static struct curl_slist *
build_headers(const struct cli_http_auth *auth, bool has_body)
{
    struct curl_slist *headers = NULL, *next;
    char line[4200];

    headers = curl_slist_append(NULL, "Accept: application/json");
    /* An empty Expect header stops libcurl from waiting for a 100 reply. */
    if (headers != NULL && has_body) {
        next = curl_slist_append(headers, "Content-Type: application/json");
        if (next != NULL)
            next = curl_slist_append(next, "Expect:");
        if (next == NULL)
            goto fail;
    }
    if (headers != NULL && auth->bearer != NULL) {
        if (snprintf(line, sizeof(line), "Authorization: Bearer %s",
                     auth->bearer) >= (int)sizeof(line))
            goto fail;
        next = curl_slist_append(headers, line);
        secret_wipe(line, sizeof(line));
        if (next == NULL)
            goto fail;
    }
    return headers;
fail:
    secret_wipe(line, sizeof(line));
    curl_slist_free_all(headers);
    return NULL;
}

/* Maps a libcurl failure to an exit code and prints it. */
static int
report_transfer_error(CURLcode res, const char *url, const char *detail)
{
    const char *text = detail[0] != '\0' ? detail : curl_easy_strerror(res);

    switch (res) {
    case CURLE_SSL_CERTPROBLEM:
        return cli_fail(CLI_EXIT_LOCAL,
                        "cannot use the client certificate or key for %s: "
                        "%s; check the identity files and -passin", url,
                        text);
    case CURLE_SSL_CACERT_BADFILE:
        return cli_fail(CLI_EXIT_LOCAL,
                        "cannot load the CA certificates for %s: %s; check "
                        "-cafile or DIR/certs/ca-chain.crt", url, text);
    case CURLE_PEER_FAILED_VERIFICATION:
        return cli_fail(CLI_EXIT_NETWORK,
                        "the TLS certificate of %s is not trusted: %s; it "
                        "must chain to the pinned CA root and name the host "
                        "of the URL", url, text);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return cli_fail(CLI_EXIT_USAGE, "cannot request %s: %s; use an "
                        "https:// URL", url, text);
    default:
        return cli_fail(CLI_EXIT_NETWORK, "cannot reach %s: %s", url, text);
    }
}

/* Prints the error object of an error response and returns the exit
 * code: CLI_EXIT_REJECTED for 4xx, CLI_EXIT_SERVER for anything else.
 * cli_fail replaces the control characters the server's text may hold. */
static int
report_http_error(long status, const char *url, json_t *body)
{
    json_t *error = json_object_get(body, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message =
        json_string_value(json_object_get(error, "message"));
    const char *field = json_string_value(json_object_get(error, "field"));
    const char *id = json_string_value(json_object_get(body, "message_id"));
    bool rejected = status >= 400 && status < 500;

    return cli_fail(rejected ? CLI_EXIT_REJECTED : CLI_EXIT_SERVER,
                    "%s %s (HTTP %ld %s%s%s%s%s): %s",
                    rejected ? "the server rejected" : "server error on",
                    url, status, code ? code : "no error code",
                    field && field[0] ? ", field " : "",
                    field && field[0] ? field : "", id ? ", message id " : "",
                    id ? id : "", message ? message : "no message");
}

/* The API never redirects, and redirects are not followed: a 3xx means
 * that -server names something other than the API. */
static int
report_redirect(long status, const char *url, const char *location)
{
    return cli_fail(CLI_EXIT_SERVER,
                    "unexpected redirect: %s responded with HTTP %ld to %s; "
                    "redirects are not followed, so give the server's own "
                    "https://HOST:PORT as -server", url, status,
                    location != NULL ? location : "(no Location header)");
}

/* Turns a finished transfer into the return value of cli_http_request. */
static int
read_response(long status, const char *url, const char *location,
              const struct body_buffer *body, json_t **response)
{
    json_error_t error;
    json_t *json = NULL;
    int rc;

    if (status >= 300 && status < 400)
        return report_redirect(status, url, location);
    if (body->len > 0)
        json = json_loadb(body->data, body->len, 0, &error);
    if (status < 200 || status >= 300) {
        rc = report_http_error(status, url, json);
        json_decref(json);
        return rc;
    }
    if (!json_is_object(json)) {
        json_decref(json);
        return cli_fail(CLI_EXIT_SERVER,
                        "invalid response from %s (HTTP %ld): the body is "
                        "not a JSON object", url, status);
    }
    *response = json;
    return CLI_EXIT_OK;
}

static int
perform(CURL *curl, const char *url, const char *error_text,
        const struct body_buffer *body, json_t **response)
{
    long status = 0;
    char *location = NULL;
    CURLcode res = curl_easy_perform(curl);

    if (body->too_large)
        return cli_fail(CLI_EXIT_SERVER,
                        "invalid response from %s: larger than %d bytes",
                        url, RESPONSE_MAX_BYTES);
    if (res != CURLE_OK)
        return report_transfer_error(res, url, error_text);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    /* location stays owned by the handle. */
    curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
    log_debug("%s responded with HTTP %ld and %zu bytes", url, status,
              body->len);
    return read_response(status, url, location, body, response);
}

int
cli_http_request(const char *server, const char *method, const char *path,
                 const struct cli_http_trust *trust,
                 const struct cli_http_auth *auth, json_t *body,
                 json_t **response)
{
    char url[2048];
    char error_text[CURL_ERROR_SIZE] = "";
    struct body_buffer received = {NULL, 0, false};
    struct curl_slist *headers = NULL;
    char *payload = NULL;
    size_t server_len = strlen(server);
    CURL *curl = NULL;
    int rc = CLI_EXIT_LOCAL;

    *response = NULL;
    while (server_len > 0 && server[server_len - 1] == '/')
        server_len--;
    if (snprintf(url, sizeof(url), "%.*s%s", (int)server_len, server,
                 path) >= (int)sizeof(url)) {
        rc = cli_fail(CLI_EXIT_USAGE, "server URL %s is too long", server);
        goto out;
    }
    if (body != NULL && (payload = json_dumps(body, JSON_COMPACT)) == NULL) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot encode the request to %s",
                      url);
        goto out;
    }
    curl = curl_easy_init();
    headers = build_headers(auth, payload != NULL);
    if (curl == NULL || headers == NULL ||
        set_transport(curl, url, error_text, &received) != CURLE_OK ||
        set_trust(curl, trust) != CURLE_OK ||
        set_client_cert(curl, auth) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        (payload != NULL &&
         curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload) != CURLE_OK) ||
        (strcmp(method, "GET") != 0 && payload == NULL &&
         curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)) {
        rc = cli_fail(CLI_EXIT_LOCAL,
                      "cannot prepare the request to %s: %s", url,
                      error_text[0] ? error_text
                                    : "libcurl lacks a required feature");
        goto out;
    }
    log_debug("%s %s", method, url);
    rc = perform(curl, url, error_text, &received, response);
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    cli_alloc_free(payload);
    cli_alloc_free(received.data);
    return rc;
}
