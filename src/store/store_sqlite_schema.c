/*
 * The SQLite schema as migration scripts. PRAGMA user_version records the
 * last script a database has run; store_sqlite.c runs the missing ones in
 * one transaction when it opens the file. A released script is never
 * edited: a change of schema is a new script at the end of the list.
 *
 * Times are INTEGER seconds since the Unix epoch, except audit_log.at,
 * which is ISO 8601 UTC text with microseconds. A PostgreSQL back end
 * keeps its own scripts, because types and key generation differ.
 */
#include "store/store-internal.h"

#include <stddef.h>

/* Version 1: hosts, enrolment tokens, certificates, keys, audit log and
 * settings. */
static const char schema_v1[] =
    "CREATE TABLE hosts ("
    "    id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "    name TEXT NOT NULL UNIQUE,"
    "    created INTEGER NOT NULL"
    ");"
    /* The DNS names and IP addresses a host may hold certificates for. */
    "CREATE TABLE host_names ("
    "    host_id INTEGER NOT NULL"
    "        REFERENCES hosts(id) ON DELETE CASCADE,"
    "    kind TEXT NOT NULL CHECK (kind IN ('dns', 'ip')),"
    "    value TEXT NOT NULL,"
    "    UNIQUE (host_id, kind, value)"
    ");"
    /* verifier is SHA-256 of the token; the token itself is never stored.
     * used_at stays NULL until the token is consumed. */
    "CREATE TABLE enrollment_tokens ("
    "    verifier BLOB NOT NULL UNIQUE CHECK (length(verifier) = 32),"
    "    host_id INTEGER NOT NULL"
    "        REFERENCES hosts(id) ON DELETE CASCADE,"
    "    expires INTEGER NOT NULL,"
    "    used_at INTEGER"
    ");"
    "CREATE INDEX enrollment_tokens_host ON enrollment_tokens(host_id);"
    /* host_id is NULL for the CA's own certificates. There is no cascade:
     * a host with certificates cannot be deleted, so that every issued
     * certificate stays findable and revocable. */
    "CREATE TABLE certificates ("
    "    serial TEXT NOT NULL PRIMARY KEY,"
    "    host_id INTEGER REFERENCES hosts(id),"
    "    subject TEXT NOT NULL,"
    "    not_before INTEGER NOT NULL,"
    "    not_after INTEGER NOT NULL,"
    "    pem TEXT NOT NULL,"
    "    hsm TEXT NOT NULL,"
    "    revoked_at INTEGER,"
    "    created INTEGER NOT NULL"
    ");"
    "CREATE INDEX certificates_host ON certificates(host_id);"
    "CREATE INDEX certificates_not_after ON certificates(not_after);"
    "CREATE TABLE keys ("
    "    label TEXT NOT NULL UNIQUE,"
    "    type TEXT NOT NULL,"
    "    bits INTEGER NOT NULL,"
    "    hsm TEXT NOT NULL,"
    "    public_pem TEXT NOT NULL,"
    "    created INTEGER NOT NULL"
    ");"
    /* AUTOINCREMENT so that a sequence number is never reused, even after
     * old entries are deleted. */
    "CREATE TABLE audit_log ("
    "    seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "    message_id TEXT NOT NULL,"
    "    direction TEXT NOT NULL,"
    "    message_type TEXT NOT NULL,"
    "    at TEXT NOT NULL,"
    "    json TEXT NOT NULL"
    ");"
    "CREATE TABLE settings ("
    "    name TEXT NOT NULL PRIMARY KEY,"
    "    value TEXT NOT NULL"
    ");";

/* Version 2: a DNS name or IP address belongs to one host only, and host
 * names are unique without regard to case, as X.509 name matching treats
 * them. */
static const char schema_v2[] =
    "CREATE UNIQUE INDEX hosts_name_nocase ON hosts(name COLLATE NOCASE);"
    "CREATE UNIQUE INDEX host_names_owner ON host_names(kind, value);";

/* Version 3: revocation. revocation_reason is the RFC 5280 CRLReason
 * value of a revoked certificate; rows revoked before version 3 keep NULL,
 * which reads as unspecified. The partial index lists revoked rows only,
 * in the CRL's order (serial numbers as numbers: shorter hex first). It
 * contains every column the CRL needs, notAfter included to leave out the
 * long expired, so the CRL is read from the index alone, without the rows
 * and their PEM text. */
static const char schema_v3[] =
    "ALTER TABLE certificates ADD COLUMN revocation_reason INTEGER"
    "    CHECK (revocation_reason BETWEEN 0 AND 10"
    "           AND revocation_reason NOT IN (7, 8));"
    "CREATE INDEX certificates_revoked"
    "    ON certificates(length(serial), serial, revoked_at,"
    "                    revocation_reason, not_after)"
    "    WHERE revoked_at IS NOT NULL;";

static const char *const scripts[] = {
    schema_v1,
    schema_v2,
    schema_v3,
};

int
store_sqlite_schema_version(void)
{
    return (int)(sizeof(scripts) / sizeof(scripts[0]));
}

const char *
store_sqlite_schema_script(int version)
{
    if (version < 1 || version > store_sqlite_schema_version())
        return NULL;
    return scripts[version - 1];
}
