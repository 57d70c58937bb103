#!/usr/bin/env bash
# hsm4ssld serve rejects a data directory it would damage or misread: a
# missing or foreign database, a missing configuration beside a database,
# invalid options (checked before anything is created), and a second
# server on a data directory that one already uses. A copied data
# directory uses its own token store, and --api-dns / --api-ip reach the
# API's TLS certificate.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq sqlite3
require_binaries hsm4ssld

# serve_rejected WHAT DATA_DIR EXPECTED_LOG_TEXT [OPTIONS...]: serve must
# exit 1 at once and log EXPECTED_LOG_TEXT.
serve_rejected() {
    local what=$1 dir=$2 expected=$3 status=0
    shift 3
    timeout 60 "$HSM4SSLD" serve --data-dir "$dir" --listen 127.0.0.1:0 \
        "$@" >"$TEST_TMP/refused.log" 2>&1 </dev/null || status=$?
    assert_eq 1 "$status" "$what: exit status"
    assert_contains "$(cat "$TEST_TMP/refused.log")" "$expected" \
        "$what: the reason in the log"
}

# race_start DATA_DIR: start two servers on DATA_DIR at the same moment,
# each on its own free port. Sets RACE_PIDS, RACE_PORTS and RACE_DATA.
race_start() {
    local i
    RACE_DATA=$1
    RACE_PIDS=()
    RACE_PORTS=()
    mkdir -p "$(dirname "$RACE_DATA")"
    for i in 0 1; do
        RACE_PORTS[i]=$(pick_free_port)
    done
    for i in 0 1; do
        "$HSM4SSLD" serve --data-dir "$RACE_DATA" \
            --listen "127.0.0.1:${RACE_PORTS[i]}" \
            >"$TEST_TMP/race.$i.log" 2>&1 </dev/null &
        RACE_PIDS[i]=$!
    done
    on_exit race_stop
}

race_stop() {
    local pid
    for pid in "${RACE_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    RACE_PIDS=()
}

# race_check: exactly one of the two servers exits 1 and names the lock,
# and the other serves the data directory it created.
race_check() {
    local i loser= winner= deadline=$((SECONDS + 60)) status
    while [ -z "$loser" ] && [ "$SECONDS" -lt "$deadline" ]; do
        for i in 0 1; do
            kill -0 "${RACE_PIDS[i]}" 2>/dev/null || loser=$i
        done
        sleep 0.1
    done
    [ -n "$loser" ] || fail "both servers on one data directory still run"
    winner=$((1 - loser))
    status=0
    wait "${RACE_PIDS[loser]}" || status=$?
    assert_eq 1 "$status" "exit status of the server that lost the lock"
    assert_contains "$(cat "$TEST_TMP/race.$loser.log")" \
        "is locked by another hsm4ssld" "the reason of the server that lost"
    for _ in $(seq 300); do
        curl -sf --cacert "$RACE_DATA/ca/root.crt" \
            "https://127.0.0.1:${RACE_PORTS[winner]}/healthz" \
            >/dev/null 2>&1 && break
        kill -0 "${RACE_PIDS[winner]}" 2>/dev/null ||
            fail "the server that holds the lock exited:" \
                 "$(tail -n 5 "$TEST_TMP/race.$winner.log")"
        sleep 0.2
    done
    curl -sf --cacert "$RACE_DATA/ca/root.crt" \
        "https://127.0.0.1:${RACE_PORTS[winner]}/healthz" >/dev/null ||
        fail "the server that holds the lock does not answer /healthz"
    race_stop
}

log_step "invalid options are rejected before anything is created"
status=0
"$HSM4SSLD" serve --data-dir "$TEST_TMP/new" --listen 1.2.3.4.5:80 \
    >"$TEST_TMP/opt.log" 2>&1 || status=$?
assert_eq 2 "$status" "--listen 1.2.3.4.5:80: exit status"
assert_contains "$(cat "$TEST_TMP/opt.log")" "1.2.3.4.5:80" \
    "--listen error names the value"
assert_no_file "$TEST_TMP/new"
status=0
"$HSM4SSLD" serve --data-dir "$TEST_TMP/new" --ca-key rsa:1024 \
    >"$TEST_TMP/opt.log" 2>&1 || status=$?
assert_eq 2 "$status" "--ca-key rsa:1024: exit status"
assert_no_file "$TEST_TMP/new"

log_step "--api-ip values that name no single host are rejected"
for bad in 0.0.0.0 :: 255.255.255.255 224.0.0.1 ff02::1 ::ffff:192.0.2.7 \
           not-an-ip; do
    status=0
    # A server that accepted the value would keep running: timeout ends
    # it, and its exit status 124 fails the check below.
    timeout 20 "$HSM4SSLD" serve --data-dir "$TEST_TMP/new" \
        --listen 127.0.0.1:0 --api-ip "$bad" >"$TEST_TMP/opt.log" 2>&1 ||
        status=$?
    assert_eq 2 "$status" "--api-ip $bad: exit status"
    assert_contains "$(cat "$TEST_TMP/opt.log")" "invalid --api-ip $bad" \
        "--api-ip $bad: message"
    assert_no_file "$TEST_TMP/new"
done
assert_contains "$(cat "$TEST_TMP/opt.log")" "give a numeric IPv4" \
    "--api-ip not-an-ip: what to give"
timeout 20 "$HSM4SSLD" serve --data-dir "$TEST_TMP/new" \
    --listen 127.0.0.1:0 --api-ip ::ffff:192.0.2.7 >"$TEST_TMP/opt.log" \
    2>&1 || true
assert_contains "$(cat "$TEST_TMP/opt.log")" "give 192.0.2.7 instead" \
    "--api-ip ::ffff:192.0.2.7: the IPv4 form"

log_step "a new data directory with extra API names"
mkdir -p "$TEST_TMP/first"
SERVER_PORT=$(pick_free_port)
"$HSM4SSLD" serve --data-dir "$TEST_TMP/first/data" \
    --listen "127.0.0.1:$SERVER_PORT" --api-dns ca.example.test \
    --api-ip 192.0.2.7 >"$TEST_TMP/first/server.log" 2>&1 </dev/null &
SERVER_PID=$!
SERVER_DATA=$TEST_TMP/first/data
SERVER_LOG=$TEST_TMP/first/server.log
SERVER_URL=https://127.0.0.1:$SERVER_PORT
for _ in $(seq 300); do
    curl -sf --cacert "$SERVER_DATA/ca/root.crt" "$SERVER_URL/healthz" \
        >/dev/null 2>&1 && break
    sleep 0.2
done
server_check_alive "the first start"
sans=$(openssl x509 -in "$SERVER_DATA/ca/server.crt" -noout \
    -ext subjectAltName)
assert_contains "$sans" "DNS:ca.example.test" "API certificate DNS names"
assert_contains "$sans" "IP Address:192.0.2.7" "API certificate addresses"
curl -sf --cacert "$SERVER_DATA/ca/root.crt" \
    --resolve "ca.example.test:$SERVER_PORT:127.0.0.1" \
    "https://ca.example.test:$SERVER_PORT/healthz" >/dev/null ||
    fail "the API does not verify as ca.example.test"
server_stop
assert_eq 0 "$SERVER_EXIT" "exit status after SIGTERM"

log_step "bootstrap options on an existing data directory are ignored aloud"
"$HSM4SSLD" serve --data-dir "$SERVER_DATA" --listen 127.0.0.1:0 \
    --ca-key ec:256 >"$TEST_TMP/again.log" 2>&1 </dev/null &
again_pid=$!
for _ in $(seq 100); do
    grep -q '^listening on' "$TEST_TMP/again.log" && break
    sleep 0.1
done
kill "$again_pid" 2>/dev/null || true
wait "$again_pid" || true
assert_contains "$(cat "$TEST_TMP/again.log")" \
    "apply only to a new data directory" "warning for --ca-key"
assert_contains "$(openssl x509 -in "$SERVER_DATA/ca/root.crt" -noout \
    -text)" "rsaEncryption" "the root keeps its RSA key"

log_step "a copied data directory uses its own token store"
cp -a "$SERVER_DATA" "$TEST_TMP/copy"
rm -rf "$TEST_TMP/first"
server_start "$TEST_TMP/copy"
assert_contains "$(grep tokendir "$TEST_TMP/copy/softhsm2.conf")" \
    "$TEST_TMP/copy/tokens" "tokendir of the copy"

log_step "a second server on a data directory in use is rejected"
serve_rejected "second server on a running data directory" \
    "$TEST_TMP/copy" "is locked by another hsm4ssld (process $SERVER_PID,"
server_check_alive "a second server was rejected"
server_stop

log_step "two servers started at once on a new data directory"
race_start "$TEST_TMP/race/data"
race_check

log_step "a CA key label that names no key is rejected"
cp -a "$TEST_TMP/copy" "$TEST_TMP/badlabel"
jq '.ca.key_label = "no-such-key"' "$TEST_TMP/badlabel/hsm4ssld.json" \
    >"$TEST_TMP/badlabel.json"
install -m 0600 "$TEST_TMP/badlabel.json" "$TEST_TMP/badlabel/hsm4ssld.json"
serve_rejected "unknown ca.key_label" "$TEST_TMP/badlabel" \
    "the CA key no-such-key is not on HSM"

log_step "a missing database is rejected"
cp -a "$TEST_TMP/copy" "$TEST_TMP/nodb"
rm -f "$TEST_TMP/nodb"/hsm4ssl.db*
serve_rejected "missing database" "$TEST_TMP/nodb" "is missing; restore it"
assert_no_file "$TEST_TMP/nodb/hsm4ssl.db"

log_step "an empty database is rejected"
: >"$TEST_TMP/nodb/hsm4ssl.db"
serve_rejected "empty database" "$TEST_TMP/nodb" \
    "does not record the root certificate"

log_step "a database beside a missing configuration is not a new CA"
cp -a "$TEST_TMP/copy" "$TEST_TMP/noconf"
rm "$TEST_TMP/noconf/hsm4ssld.json"
serve_rejected "missing hsm4ssld.json" "$TEST_TMP/noconf" \
    "restore hsm4ssld.json from a backup"
assert_file_exists "$TEST_TMP/noconf/hsm4ssl.db"

pass
