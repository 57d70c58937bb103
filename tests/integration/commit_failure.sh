#!/usr/bin/env bash
# A certificate whose row cannot be committed is never returned:
#   - with an SQLite trigger that rejects every new certificates row, a
#     signed certificate gets the storage error (REST and POST /v1/adcp),
#     no row is stored, and the audit log records the error response;
#   - the server goes on serving, and once the trigger is dropped the next
#     certificate is issued and can be read back by its serial.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq sqlite3
require_binaries hsm4ssld

server_start
register_host web web.example.test 127.0.0.1
make_csr web /CN=web.example.test

# admin_issue_json: a POST /v1/certificates body for host web as the admin.
admin_issue_json() {
    jq -cn --rawfile csr "$TEST_TMP/csr/web.csr" \
        '{host: {name: "web"}, csr_details: {csr: $csr},
          cert_details: {hash_algorithm: "sha256", days: 30}}'
}

log_step "a certificate is issued while the database accepts rows"
admin_json POST /v1/certificates "$(admin_issue_json)"
assert_http 201
STORED=$(db_count certificates)

log_step "a certificate whose row is rejected at commit is not returned"
db_query "CREATE TRIGGER reject_certificates BEFORE INSERT ON certificates
          BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END;"
admin_json POST /v1/certificates "$(admin_issue_json)"
assert_http 503 storage_error
assert_eq null "$(json_get '.certificate // null')" \
    "the error response carries no certificate"
MESSAGE_ID=$(json_get .message_id)
assert_ne "" "$MESSAGE_ID" "message_id of the error response"
assert_eq "$STORED" "$(db_count certificates)" "certificates after the error"
AUDITED=$(db_query "SELECT json FROM audit_log WHERE direction = 'response'
                    AND message_id = '$MESSAGE_ID'")
assert_contains "$AUDITED" storage_error \
    "the audit log's response entry for message $MESSAGE_ID"
assert_not_contains "$AUDITED" "BEGIN CERTIFICATE" \
    "the audit log's response entry for message $MESSAGE_ID"
assert_contains "$(cat "$SERVER_LOG")" "could not be stored" "server log"

log_step "the same through POST /v1/adcp"
ADCP=$(jq -cn --rawfile csr "$TEST_TMP/csr/web.csr" \
    '{header: {message_direction: "request",
               message_type: "certificate_gen"},
      body: {host: {name: "web"}, csr_details: {csr: $csr}}}')
admin_json POST /v1/adcp "$ADCP"
assert_http 503 storage_error
assert_eq response "$(json_get .header.message_direction)" \
    "message_direction of the ADCP response"
assert_eq null "$(json_get '.body.certificate // null')" \
    "the ADCP error response carries no certificate"
assert_eq "$STORED" "$(db_count certificates)" "certificates after /v1/adcp"

log_step "the server serves on, and issues again once rows are accepted"
http_call GET /healthz
assert_http 200
db_query "DROP TRIGGER reject_certificates"
admin_json POST /v1/certificates "$(admin_issue_json)"
assert_http 201
SERIAL=$(json_get .serial)
assert_eq $((STORED + 1)) "$(db_count certificates)" "certificates stored"
admin_get "/v1/certificates/$SERIAL"
assert_http 200
assert_eq "$SERIAL" "$(json_get .serial)" "serial read back"

server_check_alive
pass
