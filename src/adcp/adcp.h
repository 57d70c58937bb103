/*
 * ADCP, the internal message: every operation is one request message and one
 * response message. This is the in-memory form; adcp_json.c converts it to
 * and from the JSON shape used on the wire and in the audit log:
 *
 *   {"header": {"message_direction", "message_id", "message_type",
 *               "source_mac_address", "source_ip_address", "timestamp",
 *               "dest_hsm_module"},
 *    "body":   {"session_label", "credentials", "key_info", "csr_details",
 *               "cert_details", ...}}
 *
 * Credentials are secrets: adcp_msg_free() and adcp_msg_wipe_credentials()
 * wipe them, and the encoder never writes them.
 */
#ifndef HSM4SSL_ADCP_H
#define HSM4SSL_ADCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adcp/adcp_error.h"

enum adcp_direction {
    ADCP_DIR_REQUEST = 0,
    ADCP_DIR_RESPONSE,
    ADCP_DIR_INTERNAL,
};

/* Operations. Their names (adcp_type_name) are the same in message_type,
 * policy set capabilities, statistics labels and audit entries. */
enum adcp_type {
    ADCP_TYPE_UNKNOWN = 0,
    ADCP_TYPE_INITSESSION,     /* initsession: initialise a token */
    ADCP_TYPE_KEYPAIRGEN,      /* keypairgen: key pair inside an HSM */
    ADCP_TYPE_CERTIFICATE_GEN, /* certificate_gen: sign a CSR */
    ADCP_TYPE_CERTIFICATE_GET, /* certificate_get: one stored certificate */
    ADCP_TYPE_CA_GET,          /* ca_get: root and chain */
    ADCP_TYPE_HOST_REGISTER,   /* host_register: new host, enrolment token */
    ADCP_TYPE_HEALTH,          /* health: liveness */
    ADCP_TYPE_CERTIFICATE_REVOKE, /* certificate_revoke: revoke one */
    ADCP_TYPE_CRL_GET,         /* crl_get: the current CRL */
    ADCP_TYPE_ENCRYPTION,      /* encryption: reserved, not served yet */
    ADCP_TYPE_DECRYPTION,      /* decryption: reserved, not served yet */
    ADCP_TYPE_COUNT
};

/* Returns the wire name of type, "unknown" for ADCP_TYPE_UNKNOWN. */
const char *adcp_type_name(enum adcp_type type);

/* Returns the type for a wire name, ADCP_TYPE_UNKNOWN when there is none. */
enum adcp_type adcp_type_parse(const char *name);

const char *adcp_direction_name(enum adcp_direction direction);

#define ADCP_ID_MAX 32
#define ADCP_MAC_MAX 18      /* "aa:bb:cc:dd:ee:ff" and a NUL */
#define ADCP_IP_MAX 46       /* INET6_ADDRSTRLEN */
#define ADCP_TIMESTAMP_MAX 32
#define ADCP_NAME_MAX 64     /* HSM names, host names, key labels */
#define ADCP_LABEL_MAX 33    /* PKCS#11 token labels are 32 bytes */
#define ADCP_PATH_MAX 512
#define ADCP_SERIAL_MAX 48   /* upper-case hex, up to 20 octets and more */

struct adcp_header {
    enum adcp_direction direction;
    char message_id[ADCP_ID_MAX];
    enum adcp_type type;
    char source_mac[ADCP_MAC_MAX];
    char source_ip[ADCP_IP_MAX];
    char timestamp[ADCP_TIMESTAMP_MAX]; /* ISO 8601, UTC, microseconds */
    char dest_hsm_name[ADCP_NAME_MAX];  /* filled in by the HAL */
    char dest_hsm_module[ADCP_PATH_MAX];
};

/* Token PINs. Heap strings, NULL when absent; secrets. */
struct adcp_credentials {
    char *admin_pin; /* the token's SO PIN */
    char *user_pin;
};

struct adcp_key_info {
    bool present;
    char type[8];        /* "rsa", "ec" or "aes" */
    unsigned length;     /* bits: RSA modulus, EC field (256/384/521), AES */
    char label[ADCP_NAME_MAX];
    char id[ADCP_NAME_MAX]; /* hex CKA_ID; empty lets the HSM side choose */
};

struct adcp_csr_details {
    bool present;
    char *csr;                   /* PEM, heap, NULL when absent */
    char csr_file[ADCP_NAME_MAX]; /* plain file name, never a path */
};

struct adcp_cert_details {
    bool present;
    char hash_algorithm[16]; /* "sha256" when not given */
    int days;                /* 0 when not given: the configured default */
};

/* A host registration (host_register). Arrays of heap strings. */
struct adcp_host_info {
    bool present;
    char name[ADCP_NAME_MAX];
    char **dns_names;
    size_t dns_count;
    char **ip_addresses;
    size_t ip_count;
};

struct adcp_body {
    char session_label[ADCP_LABEL_MAX];
    char hsm[ADCP_NAME_MAX]; /* initsession: the HSM that holds the token */
    struct adcp_credentials credentials;
    struct adcp_key_info key_info;
    struct adcp_csr_details csr_details;
    struct adcp_cert_details cert_details;
    struct adcp_host_info host;
    char serial[ADCP_SERIAL_MAX]; /* certificate_get, certificate_revoke */
    /* certificate_revoke: the RFC 5280 CRLReason value, which the decoder
     * has checked; 0 (unspecified) unless reason_given. */
    bool reason_given;
    int reason;
    char format[8]; /* crl_get: "der" or "pem"; "" means "der" */
};

/*
 * A non-JSON payload of a response, such as a DER CRL, which the REST
 * layer sends as the HTTP body. The JSON encoder never writes it. data
 * stays valid until release(owner) is called, once: by adcp_msg_free, or
 * by the code that takes the attachment out of the message.
 */
struct adcp_attachment {
    const unsigned char *data; /* NULL: no attachment */
    size_t len;
    const char *content_type;     /* a static string */
    void (*release)(void *owner); /* NULL: nothing to release */
    void *owner;
};

/* A response: status "ok" with a result object, or an error. */
struct adcp_result {
    enum adcp_status status;
    struct adcp_error error;
    json_t *data; /* owned; the operation's result members, or NULL */
    struct adcp_attachment attachment; /* owned; see above */
};

struct adcp_msg {
    struct adcp_header header;
    struct adcp_body body;     /* requests */
    struct adcp_result result; /* responses */
};

struct adcp_msg *adcp_msg_new(enum adcp_direction direction);

/* Wipes the credentials and frees the message. Accepts NULL. */
void adcp_msg_free(struct adcp_msg *msg);

/* Wipes and frees the PINs; called as soon as the HSM has used them. */
void adcp_msg_wipe_credentials(struct adcp_msg *msg);

/* Makes the response for request: the same message_id, message_type and
 * source addresses, direction "response", a new timestamp, dest_hsm
 * copied. */
struct adcp_msg *adcp_msg_response_for(const struct adcp_msg *request);

/* Sets the response to an error; returns code. */
enum adcp_status adcp_msg_fail(struct adcp_msg *response,
                               const struct adcp_error *error);

/* Sets the response to success and takes ownership of data (may be NULL). */
void adcp_msg_succeed(struct adcp_msg *response, json_t *data);

/* Releases the response's attachment, if any, and clears it. */
void adcp_attachment_release(struct adcp_attachment *attachment);

/* Writes the current time as ISO 8601 UTC with microseconds. */
void adcp_timestamp_now(char out[ADCP_TIMESTAMP_MAX]);

/* Message ids: "1" for the first message of the process, then +1. A node
 * id, when set, prefixes each id as "NODE-N". Thread-safe. */
void adcp_message_id_set_node(const char *node_id);
void adcp_message_id_next(char out[ADCP_ID_MAX]);

/* Makes the next id one more than last, the id of this node's newest
 * message before a restart ("17" or "NODE-17"; other text is ignored).
 * Never moves the counter back. */
void adcp_message_id_continue(const char *last);

/*
 * JSON conversion (adcp_json.c).
 *
 * adcp_msg_decode parses a whole ADCP message (header and body) as a client
 * sends it to POST /v1/adcp. adcp_body_decode parses only a body object, as
 * the REST endpoints receive it. Both check every member's type, reject
 * unknown message types and plain file names that are paths, and return
 * ADCP_OK or the error, with err naming the field.
 *
 * adcp_msg_encode writes the message as JSON: a request without its
 * credentials (they are never serialised), a response with "status" and
 * the result members or "error". The caller frees the result with
 * json_decref.
 */
enum adcp_status adcp_msg_decode(const json_t *root, struct adcp_msg *msg,
                                 struct adcp_error *err);
enum adcp_status adcp_body_decode(const json_t *body, struct adcp_body *out,
                                  struct adcp_error *err);
json_t *adcp_msg_encode(const struct adcp_msg *msg);

/* Returns true when name is a plain file name: not empty, no '/', not "."
 * or "..", no control characters, at most ADCP_NAME_MAX - 1 bytes. */
bool adcp_is_plain_name(const char *name);

#endif
