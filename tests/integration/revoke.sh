#!/usr/bin/env bash
# Revocation through REST and ssleverywhere -revoke: the administrator
# revokes any host certificate and a host only its own, while the CA's
# own certificates cannot be revoked. Bad serials and reasons get 400 naming the value, an
# unknown serial 404, a second revocation 409 with the first one's time,
# and a revoked client certificate no longer authenticates.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq setsid
require_binaries hsm4ssld ssleverywhere

WEB_PASS=web-passphrase-1234
OTHER_PASS=other-passphrase-5678

# enroll_host NAME IP PASS: register NAME, enrol it into $TEST_TMP/NAME
# and get its first certificate, which becomes its identity.
enroll_host() {
    local name=$1 ip=$2 pass=$3
    register_host "$name" "$name.example.test" "$ip"
    cli -dir "$TEST_TMP/$name" -enroll -server "$SERVER_URL" \
        -fingerprint "$(root_fingerprint)" -token "$HOST_TOKEN"
    assert_cli_status 0 "-enroll $name"
    cli -dir "$TEST_TMP/$name" -gen_cert -name "$name" -default \
        -passout "pass:$pass"
    assert_cli_status 0 "-gen_cert $name"
}

# admin_issue NAME HOST: the admin issues a certificate for HOST from a
# new CSR; prints its serial.
admin_issue() {
    admin_issue_for_host "$1" "$2"
    json_get .serial
}

# revoke_rest SERIAL BODY [CURL_ARGS...]: POST .../revoke as the admin
# unless other credentials are given.
revoke_rest() {
    local serial=$1 body=$2
    shift 2
    if [ $# -eq 0 ]; then
        set -- -H "@$TEST_TMP/admin.header"
    fi
    http_json POST "/v1/certificates/$serial/revoke" "$body" "$@"
}

server_start
enroll_host web 127.0.0.1 "$WEB_PASS"
enroll_host other 127.0.0.2 "$OTHER_PASS"
WEB_ID=$(cert_serial "$TEST_TMP/web/certs/web.crt")
OTHER_ID=$(cert_serial "$TEST_TMP/other/certs/other.crt")

log_step "invalid serials and reasons get 400 naming the value"
revoke_rest XYZ '{}'
assert_http 400 invalid_field serial
assert_contains "$(json_get .error.message)" XYZ "bad serial: message"
A=$(admin_issue web-a web)
revoke_rest "$A" '{"reason": "stolen"}'
assert_http 400 invalid_field reason
assert_contains "$(json_get .error.message)" '"stolen"' "bad reason: value"
assert_contains "$(json_get .error.message)" keyCompromise \
    "bad reason: accepted names"
revoke_rest "$A" '{"reason": "removeFromCRL"}'
assert_http 400 invalid_field reason
assert_contains "$(json_get .error.message)" "delta CRL" \
    "removeFromCRL: message"
revoke_rest "$A" '{"reason": 7}'
assert_http 400 invalid_field reason
assert_contains "$(json_get .error.message)" "not assigned" \
    "reason 7: message"
for reason in cACompromise 6 certificateHold aACompromise; do
    revoke_rest "$A" "$(jq -cn --arg r "$reason" '{reason: $r}')"
    assert_http 400 invalid_field reason
    assert_contains "$(json_get .error.message)" privilegeWithdrawn \
        "reason $reason: accepted names"
done
revoke_rest "$A" '{"reson": "keyCompromise"}'
assert_http 400 invalid_field reson
assert_contains "$(json_get .error.message)" '"reason"' \
    "misspelt member: the member to send"
revoke_rest "$A" '{"reason": "superseded", "serial": "0A0B0C"}'
assert_http 400 invalid_field serial
admin_json POST /v1/adcp "$(jq -cn --arg serial "$A" '{
    header: {message_direction: "request", message_id: "1",
             message_type: "certificate_revoke"},
    body: {serial: $serial, reson: "keyCompromise"}}')"
assert_http 400 invalid_field reson
assert_contains "$(json_get .body.error.message)" '"reason"' \
    "misspelt member through POST /v1/adcp: the members to send"
revoke_rest "$A" '{"reason": ["keyCompromise"]}'
assert_http 400 invalid_field reason
revoke_rest "$A" 'not json'
assert_http 400 invalid_json
assert_eq "" "$(db_query "select revoked_at from certificates
                          where serial = '$A'")" \
    "revoked_at after rejected requests"

log_step "unknown serial, no credentials, the CA's own certificates"
revoke_rest 0A0B0C '{}'
assert_http 404 not_found serial
revoke_rest "$A" '{}' -H 'X-None: 1'
assert_http 401 unauthenticated
ROOT_SERIAL=$(cert_serial "$(server_root_cert)")
revoke_rest "$ROOT_SERIAL" '{"reason": "keyCompromise"}'
assert_http 403 forbidden serial
assert_contains "$(json_get .error.message)" "CA's own" "root: message"
API_SERIAL=$(db_query "select serial from certificates
                       where host_id is null and serial != '$ROOT_SERIAL'")
revoke_rest "$API_SERIAL" '{}'
assert_http 403 forbidden serial
assert_eq 0 "$(db_count "certificates where revoked_at is not null")" \
    "revoked rows after the refusals"

log_step "a serial with leading zero bytes or an odd length names the same"
admin_get "/v1/certificates/0000$A"
assert_http 200
assert_eq "$A" "$(json_get .serial)" "GET with leading zero bytes: serial"

log_step "the admin revokes; a second revocation is a conflict"
revoke_rest "00$(tr 'A-F' 'a-f' <<<"$A")" '{"reason": "keyCompromise"}'
assert_http 200
assert_eq "$A" "$(json_get .serial)" "revoke: serial"
assert_eq revoked "$(json_get .revocation_status)" "revoke: status"
assert_eq keyCompromise "$(json_get .reason)" "revoke: reason"
REVOKED_AT=$(json_get .revoked_at)
assert_match "$REVOKED_AT" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' \
    "revoke: revoked_at"
assert_eq 1 "$(db_query "select revocation_reason from certificates
                         where serial = '$A'")" "stored reason"
revoke_rest "$A" '{"reason": "superseded"}'
assert_http 409 conflict serial
assert_contains "$(json_get .error.message)" "$REVOKED_AT" \
    "second revocation: first time"
assert_contains "$(json_get .error.message)" keyCompromise \
    "second revocation: first reason"
assert_eq 1 "$(db_query "select revocation_reason from certificates
                         where serial = '$A'")" \
    "stored reason after the conflict"
admin_get "/v1/certificates/$A"
assert_http 200
assert_eq revoked "$(json_get .revocation_status)" "GET after revoke"
assert_contains "$(grep "revoked certificate $A" "$SERVER_LOG")" \
    "keyCompromise" "server log line of the revocation"

log_step "the ADCP message carries the type, serial and reason"
assert_eq 1 "$(db_count "audit_log where message_type =
    'certificate_revoke' and direction = 'request' and json like
    '%$A%keyCompromise%'")" "audited request of the revocation"

log_step "a host revokes its own certificate with -revoke"
cli -dir "$TEST_TMP/web" -gen_cert -name web.example.test -default \
    -passout "pass:$WEB_PASS" -passin "pass:$WEB_PASS"
assert_cli_status 0 "-gen_cert web.example.test"
WEB2=$(cert_serial "$TEST_TMP/web/certs/web.example.test.crt")
cli -dir "$TEST_TMP/web" -revoke -serial "$WEB2" -reason superseded \
    -passin "pass:$WEB_PASS"
assert_cli_status 0 "-revoke own certificate"
assert_match "$CLI_OUT" "^revoked $WEB2 at [0-9T:Z-]+, reason superseded$" \
    "-revoke output"

log_step "-revoke takes a serial with a leading zero byte and colons"
# The server stores and returns the serial without the zero byte, and
# -revoke must still recognise the confirmation as its own.
B=$(admin_issue web-b web)
cli -dir "$TEST_TMP/web" -revoke \
    -serial "00:$(sed 's/../&:/g; s/:$//' <<<"$B" | tr 'A-F' 'a-f')" \
    -admin_token_file "$SERVER_DATA/admin.token"
assert_cli_status 0 "-revoke -serial 00:..."
assert_match "$CLI_OUT" "^revoked $B at [0-9T:Z-]+, reason unspecified$" \
    "-revoke -serial 00:...: output"

log_step "a host cannot revoke another host's certificate"
cli -dir "$TEST_TMP/other" -revoke -serial "$WEB_ID" \
    -passin "pass:$OTHER_PASS"
assert_cli_status 4 "-revoke another host's certificate"
assert_contains "$CLI_ERR" forbidden "-revoke another host's: code"
assert_eq "" "$(db_query "select revoked_at from certificates
                          where serial = '$WEB_ID'")" \
    "revoked_at of the other host's certificate"

log_step "-revoke rejects bad input before any request"
cli -dir "$TEST_TMP/web" -revoke -serial "12:G4" -passin "pass:$WEB_PASS"
assert_cli_status 1 "-revoke -serial 12:G4"
assert_contains "$CLI_ERR" "12:G4" "-revoke bad serial: value"
cli -dir "$TEST_TMP/web" -revoke -serial "$WEB_ID" -reason removeFromCRL \
    -passin "pass:$WEB_PASS"
assert_cli_status 1 "-revoke -reason removeFromCRL"
assert_contains "$CLI_ERR" "delta CRL" "-revoke removeFromCRL: message"
cli -dir "$TEST_TMP/web" -revoke -serial "$ROOT_SERIAL" \
    -passin "pass:$WEB_PASS"
assert_cli_status 4 "-revoke the root"

log_step "-revoke sends the longest serials it accepts whole"
# 20 octets (RFC 5280's maximum), and 21 with a sign octet: the server
# must get the whole path and report the serial as unknown.
for SERIAL in "$(printf '7F%.0s' {1..20})" "00$(printf '8F%.0s' {1..20})"; do
    cli -dir "$TEST_TMP/web" -revoke -serial "$SERIAL" \
        -passin "pass:$WEB_PASS"
    assert_cli_status 4 "-revoke -serial of ${#SERIAL} digits"
    # The server names the serial without its leading zero byte.
    assert_contains "$CLI_ERR" "no certificate with serial ${SERIAL#00}" \
        "-revoke -serial of ${#SERIAL} digits: message"
done

log_step "the admin revokes a host's identity, which then stops working"
cli -dir "$TEST_TMP/web" -revoke -serial "$OTHER_ID" -reason 5 \
    -admin_token_file "$SERVER_DATA/admin.token"
assert_cli_status 0 "-revoke with -admin_token_file"
assert_contains "$CLI_OUT" "reason cessationOfOperation" \
    "-revoke -reason 5: output"
cli -dir "$TEST_TMP/other" -revoke -serial "$A" -passin "pass:$OTHER_PASS"
assert_cli_status 4 "request with a revoked client certificate"
assert_contains "$CLI_ERR" "$OTHER_ID is revoked" \
    "revoked client certificate: message"

pass
