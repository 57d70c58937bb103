#!/usr/bin/env bash
# The CRL at GET /v1/crl (DER) and GET /v1/crl.pem: anyone may fetch it,
# it verifies against the root and it lists each revoked serial with its
# reason. Its number grows with each revocation and across a restart. A
# TLS server that checks it with -crl_check rejects a revoked host
# certificate and accepts a good one. A P-384 CA signs its CRL and its
# OCSP responses with SHA-384, as it signs itself.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq timeout
require_binaries hsm4ssld

# fetch_crl NAME: GET /v1/crl without credentials into $TEST_TMP/NAME.der
# and /v1/crl.pem into $TEST_TMP/NAME.pem, checking both.
fetch_crl() {
    local name=$1 type
    type=$(curl -sS --noproxy '*' --max-time 60 --cacert "$(server_root_cert)" \
        -o "$TEST_TMP/$name.der" -w '%{http_code} %{content_type}' \
        "$SERVER_URL/v1/crl")
    assert_eq "200 application/pkix-crl" "$type" "GET /v1/crl status and type"
    http_call GET /v1/crl.pem
    assert_http 200
    cp "$HTTP_BODY_FILE" "$TEST_TMP/$name.pem"
    assert_eq \
        "$(openssl crl -inform DER -in "$TEST_TMP/$name.der" -outform PEM)" \
        "$(openssl crl -in "$TEST_TMP/$name.pem" -outform PEM)" \
        "GET /v1/crl.pem holds the same CRL as GET /v1/crl"
    assert_eq "verify OK" \
        "$(openssl crl -inform DER -in "$TEST_TMP/$name.der" -noout \
               -CAfile "$(server_root_cert)" -verify 2>&1)" \
        "openssl crl -verify of $name"
}

# crl_number NAME: the cRLNumber of $TEST_TMP/NAME.der in decimal.
crl_number() {
    openssl crl -inform DER -in "$TEST_TMP/$1.der" -noout -crlnumber |
        sed 's/^crlNumber=0x//' | xargs -I{} printf '%d\n' 0x{}
}

crl_text() {
    openssl crl -inform DER -in "$TEST_TMP/$1.der" -noout -text
}

# issue NAME: the admin issues a certificate for host good from a new
# key; sets ISSUED to its serial.
issue() {
    admin_issue_for_host "$1" good
    json_get .certificate >"$TEST_TMP/$1.crt"
    ISSUED=$(json_get .serial)
}

# tls_with CLIENT: a TLS handshake of openssl s_client with CLIENT's
# certificate against openssl s_server checking the CRL in crl.pem. Sets
# SERVER_OUT and CLIENT_OUT.
tls_with() {
    local port pid
    port=$(pick_free_port)
    openssl s_server -accept "127.0.0.1:$port" -naccept 1 -www \
        -cert "$TEST_TMP/good.crt" -key "$TEST_TMP/csr/good.key" \
        -CAfile "$(server_root_cert)" -Verify 1 -verify_return_error \
        -crl_check -CRL "$TEST_TMP/crl.pem" \
        >"$TEST_TMP/s_server.out" 2>&1 &
    pid=$!
    on_exit "kill $pid 2>/dev/null || true"
    for _ in $(seq 50); do
        [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && break
        sleep 0.1
    done
    printf 'GET / HTTP/1.0\r\n\r\n' |
        timeout 20 openssl s_client -connect "127.0.0.1:$port" -quiet \
            -cert "$TEST_TMP/$1.crt" -key "$TEST_TMP/csr/$1.key" \
            -CAfile "$(server_root_cert)" >"$TEST_TMP/s_client.out" 2>&1 ||
        true
    timeout 20 tail --pid="$pid" -f /dev/null || kill "$pid" 2>/dev/null
    SERVER_OUT=$(cat "$TEST_TMP/s_server.out")
    CLIENT_OUT=$(cat "$TEST_TMP/s_client.out")
}

server_start

log_step "an empty CRL verifies and is served without credentials"
fetch_crl empty
FIRST=$(crl_number empty)
assert_not_contains "$(crl_text empty)" "Revoked Certificates:" \
    "empty CRL: no revokedCertificates"
assert_contains "$(crl_text empty)" "Authority Key Identifier" \
    "empty CRL: authorityKeyIdentifier"
assert_contains "$(crl_text empty)" "Version 2" "CRL version"
fetch_crl again
assert_eq "$FIRST" "$(crl_number again)" \
    "CRL number without a revocation in between"

log_step "a revocation is listed at once, with its reason"
register_host good good.example.test 127.0.0.1
issue good
issue bad
BAD=$ISSUED
issue plain
PLAIN=$ISSUED
admin_json POST "/v1/certificates/$BAD/revoke" '{"reason": "keyCompromise"}'
assert_http 200
fetch_crl one
ONE=$(crl_number one)
[ "$ONE" -gt "$FIRST" ] ||
    fail "CRL number after a revocation: $ONE is not above $FIRST"
TEXT=$(crl_text one)
assert_contains "$TEXT" "Serial Number: $BAD" "CRL lists the revoked serial"
assert_contains "$TEXT" "Key Compromise" "CRL entry reason"
admin_json POST "/v1/certificates/$PLAIN/revoke" ''
assert_http 200
fetch_crl two
TWO=$(crl_number two)
[ "$TWO" -gt "$ONE" ] ||
    fail "CRL number after a second revocation: $TWO is not above $ONE"
TEXT=$(crl_text two)
assert_contains "$TEXT" "Serial Number: $PLAIN" "CRL lists the second serial"
assert_eq 1 "$(grep -c 'CRL Reason Code' <<<"$TEXT")" \
    "reasonCode extensions: only the entry with a reason has one"

log_step "HEAD, methods and the audit log"
http_call HEAD /v1/crl -I
assert_http 200
http_call POST /v1/crl
assert_http 405 method_not_allowed
assert_eq 0 "$(db_count "audit_log where message_type in
                           ('crl_get', 'ca_get', 'health')")" \
    "audit entries of public reads, which anyone may send"

log_step "a TLS server with -crl_check rejects the revoked certificate"
cp "$TEST_TMP/two.pem" "$TEST_TMP/crl.pem"
tls_with bad
assert_contains "$SERVER_OUT" "certificate revoked" "s_server with bad.crt"
assert_not_contains "$CLIENT_OUT" "200 ok" "s_client with bad.crt"
tls_with good
assert_not_contains "$SERVER_OUT" "verify error" "s_server with good.crt"
assert_contains "$CLIENT_OUT" "200 ok" "s_client with good.crt"

log_step "the CRL number continues after a restart"
server_stop
server_start "$SERVER_DATA"
fetch_crl restarted
RESTARTED=$(crl_number restarted)
[ "$RESTARTED" -gt "$TWO" ] ||
    fail "CRL number after the restart: $RESTARTED is not above $TWO"
assert_contains "$(crl_text restarted)" "Serial Number: $BAD" \
    "CRL after the restart lists the revoked serial"

log_step "a P-384 CA signs its CRL and OCSP responses with SHA-384"
server_stop
SERVER_ARGS=(--ca-key ec:384)
server_start "$TEST_TMP/data-p384"
fetch_crl p384
assert_contains "$(crl_text p384)" "Signature Algorithm: ecdsa-with-SHA384" \
    "signature algorithm of a P-384 CA's CRL"
root=$(server_root_cert)
ocsp_text=$(timeout 30 openssl ocsp -issuer "$root" -CAfile "$root" \
    -url "$SERVER_URL/ocsp" -serial 0x1 -resp_text 2>&1) ||
    fail "openssl ocsp against the P-384 CA failed: $ocsp_text"
assert_contains "$ocsp_text" "Signature Algorithm: ecdsa-with-SHA384" \
    "signature algorithm of a P-384 CA's OCSP response"
assert_contains "$ocsp_text" "Response verify OK" \
    "the P-384 CA's OCSP response verifies"

pass
