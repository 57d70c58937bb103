#!/usr/bin/env bash
# POST /v1/adcp takes a whole ADCP request message in the published shape
# (strings for numbers, as the original system sent them) and returns the
# ADCP response message. The server, not the client, sets message_id,
# timestamp and the source address, the HAL fills in dest_hsm_module, and
# both messages reach the audit log without credentials.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq sqlite3
require_binaries hsm4ssld

server_start

# adcp_request TYPE BODY_JSON: a request message as a client would send it.
adcp_request() {
    jq -cn --arg type "$1" --argjson body "$2" '{
      header: {message_direction: "request", message_id: "999",
               message_type: $type, source_mac_address: "00:11:22:33:44:55",
               source_ip_address: "203.0.113.9",
               timestamp: "2023-11-14T16:00:36.937948",
               dest_hsm_module: "/not/used.so"},
      body: $body}'
}

log_step "keypairgen as a whole ADCP message"
admin_json POST /v1/adcp "$(adcp_request keypairgen '{
    "session_label": "hsm4ssl",
    "key_info": {"type": "rsa", "length": "2048", "label": "adcp-rsa",
                 "id": "0a0b"}}')"
assert_http 200
assert_eq response "$(json_get .header.message_direction)" \
    "message_direction"
assert_eq keypairgen "$(json_get .header.message_type)" "message_type"
assert_ne 999 "$(json_get .header.message_id)" \
    "message_id is the server's, not the client's"
assert_match "$(json_get .header.message_id)" '^[0-9]+$' "message_id"
assert_eq 127.0.0.1 "$(json_get .header.source_ip_address)" \
    "source_ip_address is the peer seen on the socket"
assert_match "$(json_get .header.timestamp)" \
    '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z$' \
    "timestamp with microseconds in UTC"
assert_eq "$SOFTHSM2_MODULE" "$(json_get .header.dest_hsm_module)" \
    "dest_hsm_module names the module that ran it"
assert_eq softhsm "$(json_get .header.dest_hsm_name)" "dest_hsm_name"
assert_eq ok "$(json_get .body.status)" "body.status"
assert_contains "$(json_get .body.public_key)" "BEGIN PUBLIC KEY" \
    "body.public_key"
assert_eq 2048 "$(json_get .body.length)" "body.length"
ID=$(json_get .header.message_id)

log_step "ca_get as a whole ADCP message needs no credentials"
http_json POST /v1/adcp "$(adcp_request ca_get '{}')"
assert_http 200
assert_contains "$(json_get .body.root)" "BEGIN CERTIFICATE" "body.root"

# assert_adcp_error_response: the last response is an ADCP response
# message that carries an error.
assert_adcp_error_response() {
    assert_eq response "$(json_get .header.message_direction)" \
        "$LAST_REQUEST: header.message_direction"
    assert_eq error "$(json_get .body.status)" "$LAST_REQUEST: body.status"
    assert_ne "" "$(json_get '.header.message_id // ""')" \
        "$LAST_REQUEST: header.message_id"
    assert_eq null "$(json_get '.error // null')" \
        "$LAST_REQUEST: a REST error object beside the ADCP message"
}

log_step "an error comes back as an ADCP response"
admin_json POST /v1/adcp "$(adcp_request keypairgen '{
    "key_info": {"type": "rsa", "length": "1024", "label": "weak"}}')"
assert_http 400 invalid_field key_info.length
assert_eq response "$(json_get .header.message_direction)" \
    "message_direction of the error"
assert_eq error "$(json_get .body.status)" "body.status of the error"

log_step "a response message is not accepted as a request"
admin_json POST /v1/adcp "$(adcp_request ca_get '{}' |
    jq -c '.header.message_direction = "response"')"
assert_http 400 invalid_field header.message_direction
assert_adcp_error_response

log_step "messages that fail to decode or authenticate get ADCP responses"
admin_json POST /v1/adcp '{"header": {"message_type": "certificate_gen"'
assert_http 400 invalid_json
assert_adcp_error_response
admin_json POST /v1/adcp '{"header": {"message_type": "KEYPAIRGEN"},
                           "body": {}}'
assert_http 400
assert_adcp_error_response
admin_json POST /v1/adcp "$(adcp_request keypairgen '{
    "key_info": {"type": "rsa", "length": 2048, "label": 7}}')"
assert_http 400 invalid_field key_info.label
assert_adcp_error_response
http_json POST /v1/adcp "$(adcp_request keypairgen '{
    "key_info": {"type": "rsa", "length": 2048, "label": "x"}}')" \
    -H 'Authorization: Bearer not-a-token'
assert_http 401 unauthenticated authorization
assert_adcp_error_response

log_step "the audit entry of a certificate names the CA chain by its root"
register_host web web.example.test 127.0.0.1
admin_issue_for_host web web
ISSUED_ID=$(json_get .message_id)
ISSUED_SERIAL=$(json_get .serial)

log_step "initsession credentials never reach the audit log"
admin_json POST /v1/adcp "$(adcp_request initsession '{
    "session_label": "hsm4ssl", "hsm": "softhsm",
    "credentials": {"admin_pin": "adcp-so-pin-7777",
                    "user_pin": "adcp-user-pin-8888"}}')"
assert_http 409 conflict hsm
server_stop
assert_eq 0 "$(db_query "select count(*) from audit_log where
    json like '%adcp-so-pin-7777%' or json like '%adcp-user-pin-8888%'")" \
    "audit entries with a PIN"
request=$(db_query "select json from audit_log where direction = 'request'
    and message_id = '$ID'")
assert_eq keypairgen "$(jq -r .header.message_type <<<"$request")" \
    "audit: the keypairgen request"
assert_eq adcp-rsa "$(jq -r .body.key_info.label <<<"$request")" \
    "audit: the request body"
response=$(db_query "select json from audit_log where direction = 'response'
    and message_id = '$ID'")
assert_eq softhsm "$(jq -r .header.dest_hsm_name <<<"$response")" \
    "audit: the HSM that ran it"
issued=$(db_query "select json from audit_log where direction = 'response'
    and message_id = '$ISSUED_ID'")
assert_eq "$ISSUED_SERIAL" "$(jq -r .body.serial <<<"$issued")" \
    "audit: the serial of certificate $ISSUED_ID"
assert_contains "$(jq -r .body.certificate <<<"$issued")" \
    "BEGIN CERTIFICATE" "audit: the certificate of message $ISSUED_ID"
assert_eq null "$(jq -c '.body.chain // null' <<<"$issued")" \
    "audit: the CA chain in the entry of message $ISSUED_ID"
assert_eq "$(root_fingerprint | tr -d :)" \
    "$(jq -r .body.chain_root_sha256 <<<"$issued")" \
    "audit: chain_root_sha256 of message $ISSUED_ID"

pass
