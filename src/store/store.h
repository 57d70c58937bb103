/*
 * Storage: the one interface the managers use for durable state (hosts,
 * enrolment tokens, certificates, public keys, the audit log, the admin
 * token verifier). store_sqlite.c is the embedded back end; a PostgreSQL
 * back end implements the same operations table.
 *
 * Every write is committed durably before the function returns, except
 * store_audit_append, which returns once the entry is queued; the entry is
 * durable once a later durable write on the same store has returned, and
 * store_cert_add_queued, whose row is durable once its ticket reports it. All
 * functions are safe to call from several threads on one store.
 * They return ADCP_OK, ADCP_ERR_NOT_FOUND, ADCP_ERR_CONFLICT (a unique
 * value already stored) or ADCP_ERR_STORAGE with err describing it. An
 * argument the schema cannot hold (an empty name, a serial that is not
 * upper-case hex) is ADCP_ERR_MISSING_FIELD or ADCP_ERR_INVALID_FIELD.
 */
#ifndef HSM4SSL_STORE_H
#define HSM4SSL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "adcp/adcp.h"

#define STORE_VERIFIER_LEN 32 /* SHA-256 of a random token */

struct store;

struct store_host {
    int64_t id;
    char name[ADCP_NAME_MAX];
    char **dns_names; /* owned, freed by store_host_clear */
    size_t dns_count;
    char **ip_addresses;
    size_t ip_count;
    time_t created;
};

struct store_cert {
    char serial[ADCP_SERIAL_MAX]; /* upper-case hex, no separators */
    int64_t host_id;              /* 0 for the CA's own certificates */
    char subject[256];            /* RFC 2253 text */
    time_t not_before;
    time_t not_after;
    char *pem;                    /* owned, freed by store_cert_clear */
    char hsm[ADCP_NAME_MAX];      /* HSM whose key signed it */
    time_t revoked_at;            /* 0 while not revoked */
    int revocation_reason;        /* RFC 5280 CRLReason, once revoked */
};

/* One revoked certificate as a CRL lists it. */
struct store_revoked {
    char serial[ADCP_SERIAL_MAX]; /* upper-case hex, no separators */
    time_t revoked_at;
    int reason; /* RFC 5280 CRLReason; 0 (unspecified) when none stored */
};

struct store_key {
    char label[ADCP_NAME_MAX];
    char type[8];
    unsigned bits;
    char hsm[ADCP_NAME_MAX];
    char *public_pem; /* owned, freed by store_key_clear */
    time_t created;
};

struct store_audit_entry {
    char message_id[ADCP_ID_MAX];
    char direction[12];
    char message_type[32];
    const char *json; /* the ADCP message with credentials removed */
};

/* Opens (and creates or migrates) an SQLite database at path. The file is
 * created with mode 0600. */
enum adcp_status store_open_sqlite(const char *path, struct store **out,
                                   struct adcp_error *err);
void store_close(struct store *store);

/* Hosts. host->id is set on success. A name in use is ADCP_ERR_CONFLICT. */
enum adcp_status store_host_add(struct store *store, struct store_host *host,
                                struct adcp_error *err);
enum adcp_status store_host_get_by_name(struct store *store, const char *name,
                                        struct store_host *out,
                                        struct adcp_error *err);
enum adcp_status store_host_get_by_id(struct store *store, int64_t id,
                                      struct store_host *out,
                                      struct adcp_error *err);
void store_host_clear(struct store_host *host);

/*
 * Enrolment tokens are stored as verifiers (SHA-256 of the token), never as
 * the token. store_enrollment_consume marks the token used and returns its
 * host in one transaction, so a token works once: a used, expired or
 * unknown one is ADCP_ERR_UNAUTHENTICATED.
 */
enum adcp_status store_enrollment_add(struct store *store, int64_t host_id,
                                      const unsigned char
                                          verifier[STORE_VERIFIER_LEN],
                                      time_t expires, struct adcp_error *err);
enum adcp_status store_enrollment_consume(struct store *store,
                                          const unsigned char
                                              verifier[STORE_VERIFIER_LEN],
                                          int64_t *host_id,
                                          struct adcp_error *err);

/* Returns the host of an unused, unexpired enrolment token without
 * consuming it; ADCP_ERR_UNAUTHENTICATED otherwise. */
enum adcp_status store_enrollment_lookup(struct store *store,
                                         const unsigned char
                                             verifier[STORE_VERIFIER_LEN],
                                         int64_t *host_id,
                                         struct adcp_error *err);

/*
 * Announces a durable write that the caller will queue soon, for example
 * once the HSM has signed the certificate. The writer then keeps its next
 * batch open, briefly, for the writes announced before the batch began,
 * so that one commit covers them. Every store_expect_write is matched by
 * one store_expect_write_done, once the write is queued or when it will
 * not be.
 */
void store_expect_write(struct store *store);
void store_expect_write_done(struct store *store);

/* Certificates. A serial already stored is ADCP_ERR_CONFLICT. */
enum adcp_status store_cert_add(struct store *store,
                                const struct store_cert *cert,
                                struct adcp_error *err);

/*
 * A write queued without waiting for its commit. store_cert_add_queued
 * returns once the row is queued, with a ticket; the row is durable only
 * when store_ticket_finish returns ADCP_OK. store_ticket_notify requests
 * one call of done(arg) when the write's transaction has committed or
 * failed: from the writer's thread, or at once from the caller's when
 * that has happened already. done must not block or call into the store.
 * Every ticket ends with one store_ticket_finish, which waits for the
 * write if needed, returns its result and frees the ticket.
 */
struct store_ticket;
typedef void (*store_ticket_fn)(void *arg);

enum adcp_status store_cert_add_queued(struct store *store,
                                       const struct store_cert *cert,
                                       struct store_ticket **ticket,
                                       struct adcp_error *err);
void store_ticket_notify(struct store_ticket *ticket, store_ticket_fn done,
                         void *arg);
enum adcp_status store_ticket_finish(struct store_ticket *ticket,
                                     struct adcp_error *err);

enum adcp_status store_cert_get(struct store *store, const char *serial,
                                struct store_cert *out,
                                struct adcp_error *err);
void store_cert_clear(struct store_cert *cert);

/*
 * Revokes the certificate with serial at revoked_at for reason (an RFC
 * 5280 CRLReason value other than 7 and removeFromCRL). The change is
 * durable before the function returns. An unknown serial is
 * ADCP_ERR_NOT_FOUND. A certificate revoked before is ADCP_ERR_CONFLICT,
 * with a message that names the serial and the stored time and reason,
 * and its row stays as it was.
 */
enum adcp_status store_cert_revoke(struct store *store, const char *serial,
                                   int reason, time_t revoked_at,
                                   struct adcp_error *err);

/*
 * Calls fn once per revoked certificate whose notAfter is at or after
 * expired_before, ordered by serial number (as numbers: shorter hex
 * first, then by text). The walk reads one snapshot of the database and
 * only the serial, time and reason of each row. fn returns ADCP_OK to go
 * on. Any other status stops the walk, and store_revoked_foreach returns
 * it with fn's err. The entry is valid during the call only.
 */
typedef enum adcp_status (*store_revoked_fn)(void *arg,
                                             const struct store_revoked *entry,
                                             struct adcp_error *err);
enum adcp_status store_revoked_foreach(struct store *store,
                                       time_t expired_before,
                                       store_revoked_fn fn, void *arg,
                                       struct adcp_error *err);

/* Increments the stored CRL number and writes the new value to number:
 * 1 the first time, then one more on each call, across restarts. The
 * change is durable before the function returns. */
enum adcp_status store_crl_number_next(struct store *store, int64_t *number,
                                       struct adcp_error *err);

/* Public keys of key pairs generated in an HSM, by label. */
enum adcp_status store_key_add(struct store *store, const struct store_key *key,
                               struct adcp_error *err);
enum adcp_status store_key_get(struct store *store, const char *label,
                               struct store_key *out, struct adcp_error *err);
void store_key_clear(struct store_key *key);

/* Queues one ADCP message for the audit log without waiting for its
 * commit. Errors found when the writer stores it are logged, not
 * returned. */
enum adcp_status store_audit_append(struct store *store,
                                    const struct store_audit_entry *entry,
                                    struct adcp_error *err);

/* Writes the message_id of the newest audit entry to out, "" when the log
 * is empty, so that a restarted node continues its numbering. Waits for
 * queued entries first. */
enum adcp_status store_audit_last_message_id(struct store *store, char *out,
                                             size_t size,
                                             struct adcp_error *err);

/* Counts rows of a table, for tests and the database manager's statistics:
 * "hosts", "certificates", "keys", "audit_log", "enrollment_tokens". */
enum adcp_status store_count(struct store *store, const char *table,
                             int64_t *count, struct adcp_error *err);

/* Named settings (the admin token verifier, the root's serial, ...). */
enum adcp_status store_setting_set(struct store *store, const char *name,
                                   const char *value, struct adcp_error *err);
enum adcp_status store_setting_get(struct store *store, const char *name,
                                   char *value, size_t size,
                                   struct adcp_error *err);

#endif
