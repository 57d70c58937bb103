#!/usr/bin/env bash
# Runs the README's first command, scripts/quickstart.sh, in a temporary
# directory on a free port. It must finish and print the root fingerprint,
# the admin token's path and the mutual TLS handshake between SE and CL.
# It must leave the server running and print "Go on" commands that work
# when pasted into a shell. No secret may appear in what it prints.
#
# Needs root, as the quick start does. It skips without root.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq ip cmake
require_binaries hsm4ssld ssleverywhere
[ "$(id -u)" -eq 0 ] || skip "scripts/quickstart.sh runs as root only"

WORK=$TEST_TMP/quickstart
OUT=$TEST_TMP/quickstart.out

stop_quickstart_server() {
    local pid
    [ -f "$WORK/server.pid" ] || return 0
    pid=$(cat "$WORK/server.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
on_exit stop_quickstart_server

# go_on_commands: the commands under "Go on:" in the output, one per line,
# with continuation lines joined and comments left out.
go_on_commands() {
    sed -n '/^Go on:/,$p' "$OUT" | sed '1d; /^ *#/d' |
        sed -e ':join' -e '/\\$/{N; s/\\\n *//; b join}' |
        sed 's/^ *//' | grep -v ', docs/'
}

log_step "run scripts/quickstart.sh"
PORT=$(pick_free_port)
status=0
HSM4SSL_QUICKSTART_DIR=$WORK HSM4SSL_QUICKSTART_PORT=$PORT \
    timeout 300 "$HSM4SSL_SOURCE_DIR/scripts/quickstart.sh" \
    >"$OUT" 2>&1 </dev/null || status=$?
[ "$status" -eq 0 ] ||
    fail "quickstart.sh exited with $status: $(tail -n 40 "$OUT")"
SERVER_LOG=$WORK/server.log
SERVER_DATA=$WORK/data
TEXT=$(cat "$OUT")

log_step "what it printed"
assert_contains "$TEXT" "root CA SHA-256 fingerprint: $(root_fingerprint)" \
    "fingerprint line"
assert_contains "$TEXT" "admin token: $WORK/data/admin.token (mode 0600)" \
    "admin token line"
assert_file_mode 600 "$WORK/data/admin.token"
assert_contains "$TEXT" "listening on https://127.0.0.1:$PORT" \
    "listen line"
assert_contains "$TEXT" "handshake complete over TLS 1." "handshake line"
assert_contains "$TEXT" "verified CL's certificate: Peer certificate: CN = CL" \
    "SE's view of CL"
assert_contains "$TEXT" "Verify return code: 0 (ok)" "CL's view of SE"
assert_contains "$TEXT" "(rsa 4096, encrypted with DES-EDE3-CBC)" \
    "CL's key"
assert_contains "$TEXT" "(CN=CL, sha512)" "CL's CSR"
assert_not_contains "$TEXT" "$(admin_token)" "output: the admin token"
for pin_file in "$WORK"/data/pins/*; do
    assert_not_contains "$TEXT" "$(cat "$pin_file")" \
        "output: the PIN of $pin_file"
done

log_step "the server still runs"
kill -0 "$(cat "$WORK/server.pid")" ||
    fail "the server of the quick start is not running"
curl -sf --cacert "$WORK/data/ca/root.crt" \
    "https://127.0.0.1:$PORT/healthz" >/dev/null ||
    fail "https://127.0.0.1:$PORT/healthz does not answer"

log_step "the Go on commands work"
mapfile -t commands < <(go_on_commands)
assert_eq 2 "${#commands[@]}" "number of Go on commands"
for command in "${commands[@]}"; do
    status=0
    eval "$command" >"$TEST_TMP/go_on.out" 2>&1 || status=$?
    assert_eq 0 "$status" \
        "exit status of: $command: $(cat "$TEST_TMP/go_on.out")"
done
assert_eq "$WORK/SE/certs/SE.crt: OK" \
    "$(openssl verify -CAfile "$WORK/SE/certs/ca-chain.crt" \
           "$WORK/SE/certs/SE.crt" 2>&1)" "SE's renewed certificate"

pass
