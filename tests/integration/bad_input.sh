#!/usr/bin/env bash
# Malformed and hostile requests to the REST API. Each one must get the
# HTTP status and JSON error code of the API contract (and the offending
# field where there is one). It must leave the database unchanged (no
# host, name or certificate added), and the server must still respond to
# /healthz.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq sqlite3 base64 od dd
require_binaries hsm4ssld

HOST=web1
HOST_DNS=web1.example.test
# TEST-NET-1 (RFC 5737): only ever a string in a certificate here.
HOST_IP=192.0.2.10

# ---------------------------------------------------------------------------

db_snapshot() {
    local table
    for table in hosts host_names certificates; do
        printf '%s=%s ' "$table" "$(db_count "$table")"
    done
    printf 'csr_files=%s' "$(find "$SERVER_DATA" -name '*.csr' | wc -l)"
}

# expect_rejected WHAT STATUS CODE [FIELD_REGEX]
# Check the last response, that the server is alive and that nothing was
# stored.
expect_rejected() {
    local what=$1
    shift
    LAST_REQUEST="$what ($LAST_REQUEST)"
    assert_http "$@"
    server_check_alive "$what"
    assert_eq "$SNAPSHOT" "$(db_snapshot)" "$what: stored rows and files"
    log_step "rejected as expected: $what -> $1 $2"
}

# post_certificate AUTH_HEADER_FILE JSON
post_certificate() {
    http_json POST /v1/certificates "$2" -H "@$1"
}

# post_csr WHAT CSR_FILE [CSR_FILE_NAME [HASH]]: send CSR_FILE with the
# host's enrolment token.
post_csr() {
    post_certificate "$ENROLL_HEADER" \
        "$(certificate_request_json "$2" "${3:-$HOST.csr}" "${4:-sha256}")"
}

# Write a PEM CSR whose signature does not verify: the DER's last byte is
# the last byte of the signature BIT STRING, so flip one bit of it.
make_bad_signature_csr() {
    local der=$TEST_TMP/csr/badsig.der size byte
    openssl req -in "$TEST_TMP/csr/good.csr" -outform DER -out "$der"
    size=$(stat -c %s "$der")
    byte=$(od -An -tu1 -j $((size - 1)) -N 1 "$der" | tr -d ' ')
    # shellcheck disable=SC2059 # the format is the octal escape itself
    printf "\\$(printf %03o $((byte ^ 1)))" |
        dd of="$der" bs=1 seek=$((size - 1)) conv=notrunc status=none
    {
        echo "-----BEGIN CERTIFICATE REQUEST-----"
        base64 -w 64 "$der"
        echo "-----END CERTIFICATE REQUEST-----"
    } >"$TEST_TMP/csr/badsig.csr"
    # openssl req -verify exits 0 even when the signature is bad (3.0),
    # so read its verdict.
    if openssl req -in "$TEST_TMP/csr/badsig.csr" -noout -verify 2>&1 |
           grep -q 'verify OK'; then
        fail "test setup: the CSR with a flipped signature bit still verifies"
    fi
}

# ---------------------------------------------------------------------------

server_start
register_host "$HOST" "$HOST_DNS" "$HOST_IP"
ENROLL_HEADER=$(bearer_header enroll "$HOST_TOKEN")
SNAPSHOT=$(db_snapshot)
log_step "database before the bad requests: $SNAPSHOT"

log_step "malformed bodies"
admin_json POST /v1/hosts '{"name": "x", "dns_names": ['
expect_rejected "truncated JSON" 400 invalid_json
admin_json POST /v1/hosts ''
expect_rejected "empty body" 400 invalid_json
admin_json POST /v1/hosts '["x"]'
expect_rejected "JSON array instead of an object" 400 invalid_json
admin_json POST /v1/hosts '{"name": "dup", "name": "dup2"}'
expect_rejected "duplicate member" 400 invalid_json
printf '{"name": "n\0ul"}' >"$TEST_TMP/nul.json"
http_call POST /v1/hosts -H 'Content-Type: application/json' \
    --data-binary "@$TEST_TMP/nul.json" -H "@$TEST_TMP/admin.header"
expect_rejected "NUL byte in the body" 400 invalid_json
assert_contains "$(json_get .error.message)" "offset 11" "NUL byte: offset"

log_step "wrong types and missing fields"
admin_json POST /v1/hosts '{"name": 5, "dns_names": ["five.example.test"]}'
expect_rejected "name is a number" 400 invalid_field name
admin_json POST /v1/hosts '{"name": "six", "dns_names": "six.example.test"}'
expect_rejected "dns_names is a string" 400 invalid_field dns_names
admin_json POST /v1/hosts '{"name": "seven", "ip_addresses": ["no-ip"]}'
expect_rejected "ip_addresses entry is not an address" 400 invalid_field \
    'ip_addresses(\[0\])?'
admin_json POST /v1/hosts '{"dns_names": ["eight.example.test"]}'
expect_rejected "host without a name" 400 missing_field name
post_certificate "$ENROLL_HEADER" \
    '{"cert_details": {"hash_algorithm": "sha256", "days": 30}}'
expect_rejected "certificate request without csr_details" 400 \
    missing_field 'csr_details(\.csr)?'

log_step "names another host holds"
admin_json POST /v1/hosts "$(jq -cn --arg dns "$HOST_DNS" \
    '{name: "thief", dns_names: [$dns]}')"
expect_rejected "a DNS name of another host" 409 conflict 'dns_names\[0\]'
assert_contains "$(json_get .error.message)" "\"$HOST\"" \
    "the conflict names the host that holds the name"
admin_json POST /v1/hosts "$(jq -cn --arg ip "$HOST_IP" \
    '{name: "thief", ip_addresses: [$ip]}')"
expect_rejected "an IP address of another host" 409 conflict 'ip_addresses\[0\]'
admin_json POST /v1/hosts "$(jq -cn --arg name "${HOST^^}" \
    '{name: $name, dns_names: ["upper.example.test"]}')"
expect_rejected "the host name in upper case" 409 conflict name

log_step "paths where a plain name belongs"
admin_json POST /v1/hosts '{"name": "../x", "dns_names": ["x.example.test"]}'
expect_rejected "host name ../x" 400 invalid_field name
admin_json POST /v1/hosts '{"name": "a/b", "dns_names": ["ab.example.test"]}'
expect_rejected "host name a/b" 400 invalid_field name
admin_json POST /v1/hosts '{"name": "..", "dns_names": ["dd.example.test"]}'
expect_rejected "host name .." 400 invalid_field name

make_csr good "/CN=$HOST"
post_csr "csr_file ../x" "$TEST_TMP/csr/good.csr" "../x"
expect_rejected "csr_file ../x" 400 invalid_field csr_details.csr_file
assert_no_file "$SERVER_DATA/x"
post_csr "csr_file a/b" "$TEST_TMP/csr/good.csr" "a/b"
expect_rejected "csr_file a/b" 400 invalid_field csr_details.csr_file

log_step "a body over 1 MiB"
head -c $((1024 * 1024 + 16)) /dev/zero | tr '\0' a |
    jq -Rsc '{name: ., dns_names: ["big.example.test"]}' \
        >"$TEST_TMP/big.json"
http_call POST /v1/hosts -H "@$TEST_TMP/admin.header" \
    -H 'Content-Type: application/json' --data-binary "@$TEST_TMP/big.json"
expect_rejected "body of 1 MiB + 16 bytes" 413 body_too_large

log_step "CSRs that are not CSRs or must not be signed"
post_csr "certificate instead of a CSR" "$(server_root_cert)"
expect_rejected "certificate PEM instead of a CSR" 400 invalid_csr \
    'csr_details(\.csr)?'
head -c 600 /dev/urandom | base64 >"$TEST_TMP/csr/random.txt"
post_csr "random text" "$TEST_TMP/csr/random.txt"
expect_rejected "random text instead of a CSR" 400 invalid_csr \
    'csr_details(\.csr)?'

make_bad_signature_csr
post_csr "bad signature" "$TEST_TMP/csr/badsig.csr"
expect_rejected "CSR whose signature does not verify" 400 \
    csr_signature_invalid

make_csr ca "/CN=$HOST" -addext basicConstraints=critical,CA:TRUE
post_csr "CA:TRUE" "$TEST_TMP/csr/ca.csr"
expect_rejected "CSR asking for CA:TRUE" 403 forbidden

make_csr other_cn /CN=other.example.test
post_csr "foreign CN" "$TEST_TMP/csr/other_cn.csr"
expect_rejected "CSR for CN=other.example.test" 403 name_not_allowed

make_csr evil_san "/CN=$HOST" -addext subjectAltName=DNS:evil.example.test
post_csr "foreign SAN" "$TEST_TMP/csr/evil_san.csr"
expect_rejected "CSR with SAN DNS:evil.example.test" 403 name_not_allowed

make_csr evil_ip "/CN=$HOST" -addext subjectAltName=IP:192.0.2.99
post_csr "foreign IP SAN" "$TEST_TMP/csr/evil_ip.csr"
expect_rejected "CSR with SAN IP:192.0.2.99" 403 name_not_allowed

log_step "weak algorithms"
openssl req -new -newkey rsa:1024 -noenc -sha256 -subj "/CN=$HOST" \
    -keyout "$TEST_TMP/csr/rsa1024.key" -out "$TEST_TMP/csr/rsa1024.csr" \
    2>/dev/null
post_csr "RSA-1024" "$TEST_TMP/csr/rsa1024.csr"
expect_rejected "RSA-1024 CSR" 400 weak_algorithm
openssl req -new -key "$TEST_TMP/csr/good.key" -sha1 -subj "/CN=$HOST" \
    -out "$TEST_TMP/csr/sha1.csr" 2>/dev/null
post_csr "SHA-1 signed CSR" "$TEST_TMP/csr/sha1.csr"
expect_rejected "CSR signed with SHA-1" 400 weak_algorithm
post_csr "md5 certificate hash" "$TEST_TMP/csr/good.csr" "$HOST.csr" md5
expect_rejected "cert_details.hash_algorithm md5" 400 weak_algorithm

log_step "ADCP messages"
admin_json POST /v1/adcp '{"header": {"message_direction": "request",
    "message_id": "1", "message_type": "no_such_operation"}, "body": {}}'
expect_rejected "ADCP message_type no_such_operation" 400 \
    unknown_message_type 'header\.message_type'

log_step "authentication"
HOST_BODY='{"name": "intruder", "dns_names": ["intruder.example.test"]}'
http_json POST /v1/hosts "$HOST_BODY" \
    -H "@$(bearer_header wrong "wrong-$(admin_token)")"
expect_rejected "wrong admin token" 401 unauthenticated
(umask 077 && printf 'Authorization: %s\n' "$(admin_token)" \
    >"$TEST_TMP/nobearer.header")
http_json POST /v1/hosts "$HOST_BODY" -H "@$TEST_TMP/nobearer.header"
expect_rejected "admin token without 'Bearer'" 401 unauthenticated
http_json POST /v1/hosts "$HOST_BODY" -H 'Authorization: Basic YWRtaW46YWRtaW4='
expect_rejected "Basic authorization" 401 unauthenticated
http_json POST /v1/hosts "$HOST_BODY"
expect_rejected "no Authorization header" 401 unauthenticated
http_json POST /v1/hosts "$HOST_BODY" -H "@$ENROLL_HEADER"
expect_rejected "enrolment token registering a host" 401 unauthenticated

log_step "unknown paths, methods and serials"
http_call GET /v1/nothing-here
expect_rejected "unknown path" 404 not_found
# The error message quotes 100 bytes of the path, which ends inside the
# two bytes of U+00E9 here.
http_call GET "/$(printf 'a%.0s' $(seq 98))%C3%A9"
expect_rejected "unknown path cut inside a character" 404 not_found
http_call DELETE /v1/ca
expect_rejected "DELETE /v1/ca" 405 method_not_allowed
admin_get /v1/certificates/0123456789ABCDEF
expect_rejected "unknown serial" 404 not_found
admin_json POST /v1/hosts "$(jq -cn --arg name "$HOST" \
    '{name: $name, dns_names: ["again.example.test"]}')"
expect_rejected "host name already registered" 409 conflict

log_step "an enrolment token works once"
post_csr "first certificate" "$TEST_TMP/csr/good.csr"
assert_http 201
assert_eq "CN=$HOST" "$(json_get .subject)" "first certificate: subject"
SNAPSHOT=$(db_snapshot)
make_csr second "/CN=$HOST"
post_csr "second certificate" "$TEST_TMP/csr/second.csr"
expect_rejected "used enrolment token" 401 unauthenticated

pass
