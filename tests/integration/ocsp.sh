#!/usr/bin/env bash
# The OCSP responder as relying parties use it: openssl ocsp over HTTPS
# reports good for an issued certificate and, right after the revocation,
# revoked with its reason, although a response for the certificate was
# cached before. Unknown serials, another issuer, nonces, a malformed
# body, the GET form, SHA-256 CertIDs and several CertIDs in one request
# each get the response RFC 6960 requires, and every signed response
# verifies against the root. New certificates carry the configured OCSP URL.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq setsid
require_binaries hsm4ssld

OCSP_URL=http://ocsp.example.test/ocsp

# admin_issue NAME HOST: the admin issues a certificate for HOST from a
# new CSR into $TEST_TMP/NAME.crt.
admin_issue() {
    admin_issue_for_host "$1" "$2"
    json_get .certificate >"$TEST_TMP/$1.crt"
}

# ocsp_query ARGS...: openssl ocsp against the server with the root as
# issuer and trust anchor; sets OCSP_OUT (stdout and stderr).
ocsp_query() {
    local root
    root=$(server_root_cert)
    OCSP_OUT=$(timeout 30 openssl ocsp -issuer "$root" -CAfile "$root" \
        -url "$SERVER_URL/ocsp" "$@" 2>&1) ||
        fail "openssl ocsp $*: exited with $?: $OCSP_OUT"
}

# ocsp_http PATH [CURL_ARGS...]: one request to an OCSP path, whose
# response must be HTTP 200; its DER body goes to $OCSP_RESPONSE. The
# body is binary, so it stays out of shell variables (http_call).
OCSP_RESPONSE=$TEST_TMP/ocsp.resp
ocsp_http() {
    local path=$1 status
    shift
    status=$(curl -sS --noproxy '*' --max-time 30 --cacert "$ROOT" \
        -o "$OCSP_RESPONSE" -w '%{http_code}' "$@" "$SERVER_URL$path") ||
        fail "$path: curl failed"
    assert_eq 200 "$status" "$path: HTTP status"
}

# post_ocsp FILE: POST the DER request in FILE with ocsp_http.
post_ocsp() {
    ocsp_http /ocsp -H 'Content-Type: application/ocsp-request' \
        --data-binary "@$1"
}

# response_status: the OCSPResponseStatus of $OCSP_RESPONSE, as openssl
# ocsp names it.
response_status() {
    openssl ocsp -respin "$OCSP_RESPONSE" -resp_text -noverify 2>&1 |
        sed -n 's/.*OCSP Response Status: \([A-Za-z]*\).*/\1/p;
                s/^Responder Error: \([A-Za-z]*\).*/\1/p' | head -n 1
}

SERVER_ARGS=(--ocsp-url "$OCSP_URL")
server_start
ROOT=$(server_root_cert)
register_host web web.example.test 127.0.0.1
admin_issue web web
admin_issue second web

log_step "new certificates carry the OCSP URL"
assert_contains "$(openssl x509 -in "$TEST_TMP/web.crt" -noout \
    -ext authorityInfoAccess)" "OCSP - URI:$OCSP_URL" "authorityInfoAccess"

log_step "an issued certificate is good; the response verifies"
ocsp_query -cert "$TEST_TMP/web.crt" -resp_text
assert_contains "$OCSP_OUT" "Response verify OK" "good: signature"
assert_contains "$OCSP_OUT" "$TEST_TMP/web.crt: good" "good: status"
assert_contains "$OCSP_OUT" "OCSP Nonce" "good: nonce echoed"
assert_not_contains "$OCSP_OUT" "WARNING" "good: nonce warnings"
assert_match "$OCSP_OUT" "Responder Id: [0-9A-F]{40}" "good: responder ID"
assert_contains "$OCSP_OUT" "Signature Algorithm: sha256WithRSAEncryption" \
    "good: signature algorithm"

log_step "requests without a nonce get the cached response"
ocsp_query -cert "$TEST_TMP/web.crt" -no_nonce \
    -respout "$TEST_TMP/first.resp"
assert_contains "$OCSP_OUT" "$TEST_TMP/web.crt: good" "cached: status"
ocsp_query -cert "$TEST_TMP/web.crt" -no_nonce \
    -respout "$TEST_TMP/second.resp" -resp_text
assert_not_contains "$OCSP_OUT" "OCSP Nonce" "cached: no nonce"
cmp -s "$TEST_TMP/first.resp" "$TEST_TMP/second.resp" ||
    fail "the second request without a nonce got a new response"

log_step "a revocation replaces the cached response at once"
SERIAL=$(cert_serial "$TEST_TMP/web.crt")
admin_json POST "/v1/certificates/$SERIAL/revoke" \
    '{"reason": "keyCompromise"}'
assert_http 200
ocsp_query -cert "$TEST_TMP/web.crt" -no_nonce
assert_contains "$OCSP_OUT" "Response verify OK" "revoked: signature"
assert_contains "$OCSP_OUT" "$TEST_TMP/web.crt: revoked" "revoked: status"
assert_contains "$OCSP_OUT" "Reason: keyCompromise" "revoked: reason"
assert_contains "$OCSP_OUT" "Revocation Time:" "revoked: time"

log_step "several CertIDs, SHA-256 CertIDs"
ocsp_query -cert "$TEST_TMP/web.crt" -cert "$TEST_TMP/second.crt"
assert_contains "$OCSP_OUT" "$TEST_TMP/web.crt: revoked" "two: first"
assert_contains "$OCSP_OUT" "$TEST_TMP/second.crt: good" "two: second"
ocsp_query -sha256 -cert "$TEST_TMP/second.crt" -resp_text
assert_contains "$OCSP_OUT" "Hash Algorithm: sha256" "sha256: CertID"
assert_contains "$OCSP_OUT" "$TEST_TMP/second.crt: good" "sha256: status"

log_step "a serial this CA never issued is unknown"
ocsp_query -serial 0x0123456789ABCDEF
assert_contains "$OCSP_OUT" "Response verify OK" "unknown: signature"
assert_contains "$OCSP_OUT" "0x0123456789ABCDEF: unknown" "unknown: status"

log_step "another issuer is unauthorized"
openssl req -x509 -newkey rsa:2048 -noenc -days 2 -subj /CN=Other \
    -keyout "$TEST_TMP/other.key" -out "$TEST_TMP/other.crt" 2>/dev/null
OTHER_OUT=$(timeout 30 openssl ocsp -issuer "$TEST_TMP/other.crt" \
    -CAfile "$ROOT" -serial 0x10 -url "$SERVER_URL/ocsp" 2>&1 || true)
assert_contains "$OTHER_OUT" "Responder Error: unauthorized" "other issuer"

log_step "malformed requests get malformedRequest"
printf 'not DER' >"$TEST_TMP/garbage.der"
post_ocsp "$TEST_TMP/garbage.der"
assert_eq malformedrequest "$(response_status)" "garbage body"
: >"$TEST_TMP/empty.der"
post_ocsp "$TEST_TMP/empty.der"
assert_eq malformedrequest "$(response_status)" "empty body"
openssl ocsp -issuer "$ROOT" -cert "$TEST_TMP/second.crt" -no_nonce \
    -reqout "$TEST_TMP/request.der" >/dev/null 2>&1
{ cat "$TEST_TMP/request.der"; printf 'x'; } >"$TEST_TMP/trailing.der"
post_ocsp "$TEST_TMP/trailing.der"
assert_eq malformedrequest "$(response_status)" "bytes after the DER"
ocsp_http /ocsp/not-base64!
assert_eq malformedrequest "$(response_status)" "GET of bad base64"

log_step "the GET form, URL-encoded and not"
ENCODED=$(base64 -w0 "$TEST_TMP/request.der" | jq -sRr @uri)
ocsp_http "/ocsp/$ENCODED" -D "$TEST_TMP/get.headers"
assert_contains "$(tr -d '\r' <"$TEST_TMP/get.headers")" \
    "Content-Type: application/ocsp-response" "GET: content type"
GET_OUT=$(openssl ocsp -respin "$OCSP_RESPONSE" -issuer "$ROOT" \
    -CAfile "$ROOT" -cert "$TEST_TMP/second.crt" 2>&1 || true)
assert_contains "$GET_OUT" "Response verify OK" "GET: signature"
assert_contains "$GET_OUT" "$TEST_TMP/second.crt: good" "GET: status"
cp "$OCSP_RESPONSE" "$TEST_TMP/get.resp"
ocsp_http "/ocsp/$(base64 -w0 "$TEST_TMP/request.der")"
cmp -s "$OCSP_RESPONSE" "$TEST_TMP/get.resp" ||
    fail "GET with a raw base64 path got another response than encoded"

log_step "wrong methods get 405"
http_call GET /ocsp
assert_http 405 method_not_allowed
http_call POST /ocsp/abc --data-binary "@$TEST_TMP/request.der"
assert_http 405 method_not_allowed

log_step "one address gets tryLater past its signed responses per second"
server_stop
CONFIG=$SERVER_DATA/hsm4ssld.json
jq '.ca.ocsp_signed_per_address = 1' "$CONFIG" >"$CONFIG.new"
chmod 0600 "$CONFIG.new"
mv "$CONFIG.new" "$CONFIG"
server_start "$SERVER_DATA"
# Filling the cache costs one of the two signatures of the burst.
post_ocsp "$TEST_TMP/request.der"
assert_eq successful "$(response_status)" "the request without a nonce"
for i in $(seq 6); do
    openssl ocsp -issuer "$ROOT" -cert "$TEST_TMP/second.crt" \
        -reqout "$TEST_TMP/nonce-$i.der" >/dev/null 2>&1
done
refused=0
for i in $(seq 6); do
    post_ocsp "$TEST_TMP/nonce-$i.der"
    cp "$OCSP_RESPONSE" "$TEST_TMP/nonce-$i.resp"
done
for i in $(seq 6); do
    OCSP_RESPONSE=$TEST_TMP/nonce-$i.resp
    [ "$(response_status)" = trylater ] && refused=$((refused + 1))
done
OCSP_RESPONSE=$TEST_TMP/ocsp.resp
# One signature is left in the burst and one comes back each second, so
# at most three of six requests sent within two seconds are signed.
[ "$refused" -ge 3 ] ||
    fail "only $refused of 6 requests with a nonce got tryLater at a" \
         "limit of 1 signed response per second"
assert_contains "$(cat "$SERVER_LOG")" "tryLater: this address asked" \
    "the server log names the limit"
post_ocsp "$TEST_TMP/request.der"
assert_eq successful "$(response_status)" \
    "the cached answer while the address is at its limit"
server_stop

pass
