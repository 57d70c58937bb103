/*
 * The management layer as one object: the service functions (managers)
 * share the HAL, the store and the CA, and service_dispatch runs one ADCP
 * request through the manager that owns its message_type.
 *
 * A caller is authenticated first (service_authenticate), then each manager
 * decides what that caller may do.
 */
#ifndef HSM4SSL_MANAGERS_SERVICE_H
#define HSM4SSL_MANAGERS_SERVICE_H

#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "adcp/adcp.h"
#include "hal/hal.h"
#include "managers/cert_issue.h"
#include "store/store.h"

/* The CA as the certificate manager uses it. The private key stays in the
 * HSMs that hold key_label; keys[] caches one EVP_PKEY per HSM. */
struct service_ca {
    X509 *root;
    char *root_pem;
    char *chain_pem;     /* the certificates above a leaf, PEM */
    char fingerprint[65]; /* SHA-256 of the root, upper-case hex */
    char key_label[ADCP_NAME_MAX];
    char key_algorithm[8]; /* "rsa" or "ec", for routing */
    /* The hash of the root's own signature, "sha256", "sha384" or
     * "sha512", which CRLs and OCSP responses are signed with too. */
    char digest[8];
};

struct service_key_cache;
struct cert_crl_cache;
struct ocsp_responder;
struct ocsp_reply;

/* Where the user PIN of each HSM lives, so that initsession can store the
 * new PIN for the next start. */
struct service_pin_file {
    char hsm[ADCP_NAME_MAX];
    char path[ADCP_PATH_MAX];
};

struct service {
    struct hal *hal;     /* borrowed */
    struct store *store; /* borrowed */
    struct service_ca ca;
    struct issue_limits limits;
    char csr_dir[ADCP_PATH_MAX]; /* where csr_details.csr_file is stored */
    int enrollment_ttl_seconds;
    unsigned char admin_verifier[STORE_VERIFIER_LEN];
    bool admin_verifier_set;
    struct service_key_cache *key_cache;
    struct policy_set *policy; /* owned copy, for checks on a named HSM */
    struct service_pin_file *pin_files; /* owned */
    size_t pin_file_count;
    struct cert_crl_cache *crl; /* the current CRL; see cert_crl.h */
    /* cRLDistributionPoints URI of new host certificates; "" for none. */
    char crl_url[ADCP_PATH_MAX];
    struct ocsp_responder *ocsp; /* see managers/ocsp.h */
    /* authorityInfoAccess OCSP URI of new host certificates; "" for
     * none. */
    char ocsp_url[ADCP_PATH_MAX];
};

enum service_role {
    SERVICE_ROLE_ANONYMOUS = 0,
    SERVICE_ROLE_ADMIN,
    SERVICE_ROLE_ENROLLMENT, /* bearer of an unused enrolment token */
    SERVICE_ROLE_HOST,       /* client certificate issued by this CA */
};

struct service_caller {
    enum service_role role;
    int64_t host_id; /* ENROLLMENT and HOST */
    char host_name[ADCP_NAME_MAX];
    unsigned char enrollment_verifier[STORE_VERIFIER_LEN];
    char peer_ip[ADCP_IP_MAX];
};

/* Initialises svc around hal and store (borrowed) and root (reference
 * taken), with a CRL lifetime of CERT_CRL_DEFAULT_LIFETIME; see
 * service_set_crl_lifetime. Returns ADCP_OK or the error. */
enum adcp_status service_init(struct service *svc, struct hal *hal,
                              struct store *store, X509 *root,
                              const char *ca_key_label,
                              struct adcp_error *err);
void service_cleanup(struct service *svc);

/* Sets the lifetime of the CRLs built from now on, in seconds. Returns 0,
 * or -1 without memory. */
int service_set_crl_lifetime(struct service *svc, int seconds);

/* Replaces the OCSP responder with one whose responses live lifetime
 * seconds and whose cache takes at most cache_bytes (0: the defaults of
 * managers/ocsp.h), and which signs at most signed_per_address responses
 * per second for one client address (0: no limit). Returns 0, or -1
 * after logging. */
int service_set_ocsp(struct service *svc, int lifetime, size_t cache_bytes,
                     unsigned signed_per_address);

/* Records where hsm's user PIN file is. Returns 0, or -1 without memory. */
int service_add_pin_file(struct service *svc, const char *hsm,
                         const char *path);

/*
 * Identifies the caller from the Authorization header value (may be NULL)
 * and the verified TLS client certificate (may be NULL). No credentials at
 * all gives the anonymous role; credentials that do not check out are
 * ADCP_ERR_UNAUTHENTICATED.
 */
enum adcp_status service_authenticate(struct service *svc,
                                      const char *authorization,
                                      X509 *peer_cert,
                                      struct service_caller *caller,
                                      struct adcp_error *err);

/*
 * Runs request through its manager and returns the response message (never
 * NULL unless memory runs out). Wipes the request's credentials once the
 * HSM has used them. Appends request and response to the audit log.
 */
struct adcp_msg *service_dispatch(struct service *svc,
                                  const struct service_caller *caller,
                                  struct adcp_msg *request);

/*
 * A response held back until the durable write it reports has committed.
 * service_dispatch_held works as service_dispatch, but where a manager
 * can queue its write without waiting (certificate_gen), it returns the
 * response at once with *held set, not yet audited. The caller may request
 * a call when the write has finished (service_held_notify, with the
 * contract of store_ticket_notify) and must then call service_held_finish
 * once: it waits for the write if needed, turns the response into the
 * storage error when the write failed, audits and logs the response and
 * frees held. The response stays the caller's to free.
 */
struct service_held;

struct adcp_msg *service_dispatch_held(struct service *svc,
                                       const struct service_caller *caller,
                                       struct adcp_msg *request,
                                       struct service_held **held);
void service_held_notify(struct service_held *held, void (*done)(void *),
                         void *arg);
void service_held_finish(struct service *svc, struct service_held *held);

/* Returns the CA key of hsm as an HSM-backed EVP_PKEY (cached; the caller
 * does not free it), or NULL with err set. */
EVP_PKEY *service_ca_key(struct service *svc, struct hal_hsm *hsm,
                         struct adcp_error *err);

/* Returns the CA key, as service_ca_key does, of an HSM that the policy
 * set allows to sign certificates (certificate_gen) with digest. CRLs and
 * OCSP responses are signed by the same key, so the same HSMs can sign
 * them. Fills in header's destination HSM. */
EVP_PKEY *service_ca_signing_key(struct service *svc,
                                 struct adcp_header *header,
                                 const char *digest, struct adcp_error *err);

/* Managers, one per concern; each returns the response status.
 * cert_manager_issue queues the certificate's row and sets *commit when
 * commit is not NULL, and stores the row before it returns otherwise. */
enum adcp_status host_manager_register(struct service *svc,
                                       const struct service_caller *caller,
                                       const struct adcp_msg *request,
                                       struct adcp_msg *response);
enum adcp_status cert_manager_issue(struct service *svc,
                                    const struct service_caller *caller,
                                    struct adcp_msg *request,
                                    struct adcp_msg *response,
                                    struct store_ticket **commit);
enum adcp_status cert_manager_get(struct service *svc,
                                  const struct service_caller *caller,
                                  const struct adcp_msg *request,
                                  struct adcp_msg *response);
enum adcp_status cert_manager_ca(struct service *svc,
                                 struct adcp_msg *response);
enum adcp_status cert_manager_revoke(struct service *svc,
                                     const struct service_caller *caller,
                                     const struct adcp_msg *request,
                                     struct adcp_msg *response);
/* Attaches the current CRL to response (cert_crl.c). */
enum adcp_status cert_manager_crl(struct service *svc,
                                  struct adcp_msg *request,
                                  struct adcp_msg *response);
/* Sets *reply to the DER OCSPResponse to the DER OCSPRequest der: a
 * signed response, or an unsigned error status (malformedRequest,
 * unauthorized, tryLater, internalError). The caller sends it and calls
 * reply->release when it is not NULL (ocsp_manager.c). */
void ocsp_manager_respond(struct service *svc, const unsigned char *der,
                          size_t len, const char *peer_ip,
                          struct ocsp_reply *reply);
enum adcp_status keys_manager_generate(struct service *svc,
                                       const struct service_caller *caller,
                                       struct adcp_msg *request,
                                       struct adcp_msg *response);
enum adcp_status crypto_manager_initsession(struct service *svc,
                                            const struct service_caller *caller,
                                            struct adcp_msg *request,
                                            struct adcp_msg *response);

/* Appends msg to the audit log; credentials are never written. */
void audit_record(struct service *svc, const struct adcp_msg *msg);

/* Computes the SHA-256 verifier of a bearer token. */
void service_token_verifier(const char *token,
                            unsigned char out[STORE_VERIFIER_LEN]);

#endif
