#!/usr/bin/env bash
# hsm4ssld stops cleanly on SIGTERM, SIGINT and SIGHUP and starts again
# on the same data directory without losing state. It keeps the
# same root (fingerprint), admin token and issued certificates, host
# certificates from before the restart still work for mTLS, and new hosts
# can still enrol.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq
require_binaries hsm4ssld

# issue_with_token NAME DNS: register NAME and get its first certificate
# with the enrolment token; the key and certificate go to $TEST_TMP/csr/.
# Each host gets an address of its own: an address belongs to one host.
HOST_SEQ=0
issue_with_token() {
    local name=$1 dns=$2
    HOST_SEQ=$((HOST_SEQ + 1))
    register_host "$name" "$dns" "127.0.1.$HOST_SEQ"
    make_csr "$name" "/CN=$name"
    http_json POST /v1/certificates \
        "$(certificate_request_json "$TEST_TMP/csr/$name.csr")" \
        -H "@$(bearer_header "$name" "$HOST_TOKEN")"
    assert_http 201
    json_get .certificate >"$TEST_TMP/csr/$name.crt"
    assert_eq "CN=$name" "$(cert_subject "$TEST_TMP/csr/$name.crt")" \
        "$name certificate subject"
    assert_eq "$(cert_serial "$TEST_TMP/csr/$name.crt")" "$(json_get .serial)" \
        "$name: serial in the response"
    assert_eq "$TEST_TMP/csr/$name.crt: OK" \
        "$(openssl verify -CAfile "$(server_root_cert)" \
               "$TEST_TMP/csr/$name.crt" 2>&1)" \
        "openssl verify $name.crt"
}

# ca_fingerprint: fingerprint_sha256 from GET /v1/ca.
ca_fingerprint() {
    http_call GET /v1/ca
    assert_http 200
    json_get .fingerprint_sha256
}

server_start
FINGERPRINT=$(root_fingerprint)
assert_eq "$(tr -d : <<<"$FINGERPRINT")" "$(ca_fingerprint)" \
    "GET /v1/ca fingerprint_sha256 before the restart"
ADMIN_TOKEN_BEFORE=$(admin_token)

log_step "issue certificates before the restart"
issue_with_token alpha alpha.example.test
SERIAL=$(cert_serial "$TEST_TMP/csr/alpha.crt")
issue_with_token beta beta.example.test
BETA_SERIAL=$(cert_serial "$TEST_TMP/csr/beta.crt")
LAST_ID_BEFORE=$(json_get .message_id)

log_step "stop with SIGTERM"
log_lines=$(wc -l <"$SERVER_LOG")
server_stop
assert_eq 0 "$SERVER_EXIT" "hsm4ssld exit status after SIGTERM"
stop_lines=$(tail -n "+$((log_lines + 1))" "$SERVER_LOG")
[[ $stop_lines =~ [Ss]top|[Ss]hut|[Ee]xit ]] ||
    fail "hsm4ssld did not log its stop; it wrote after SIGTERM: $stop_lines"

log_step "start again on the same data directory"
server_start "$SERVER_DATA"
assert_eq "$FINGERPRINT" "$(root_fingerprint)" "root fingerprint on disk"
assert_eq "$(tr -d : <<<"$FINGERPRINT")" "$(ca_fingerprint)" \
    "GET /v1/ca fingerprint_sha256 after the restart"
assert_eq "$ADMIN_TOKEN_BEFORE" "$(admin_token)" "admin token file"

log_step "certificates from before the restart"
admin_get "/v1/certificates/$SERIAL"
assert_http 200
id_after=$(json_get .message_id)
[ "$id_after" -gt "$LAST_ID_BEFORE" ] ||
    fail "message ids restarted: $id_after after the restart," \
         "$LAST_ID_BEFORE before it"
assert_eq good "$(json_get .revocation_status)" \
    "certificate $SERIAL revocation status"
assert_eq "$(cat "$TEST_TMP/csr/alpha.crt")" "$(json_get .certificate)" \
    "certificate $SERIAL as served after the restart"
admin_get "/v1/certificates/$BETA_SERIAL"
assert_http 200
assert_eq CN=beta "$(json_get .subject)" "certificate $BETA_SERIAL subject"

log_step "a host certificate from before the restart still authenticates"
make_csr alpha2 "/CN=alpha"
http_json POST /v1/certificates \
    "$(certificate_request_json "$TEST_TMP/csr/alpha2.csr")" \
    --cert "$TEST_TMP/csr/alpha.crt" --key "$TEST_TMP/csr/alpha.key"
assert_http 201
assert_eq CN=alpha "$(json_get .subject)" "certificate renewed over mTLS"
admin_get "/v1/certificates/$(json_get .serial)"
assert_http 200

log_step "a new host enrols after the restart"
issue_with_token gamma gamma.example.test

log_step "the admin requests a certificate for a registered host"
make_csr gamma2 "/CN=gamma"
admin_json POST /v1/certificates "$(certificate_request_json \
    "$TEST_TMP/csr/gamma2.csr" | jq -c '. + {host: "gamma"}')"
assert_http 201
assert_eq CN=gamma "$(json_get .subject)" "certificate issued by the admin"

# stop_with SIGNAL: stop the running server with SIGNAL, check that it
# exits 0 with its stop line, and start it again.
stop_with() {
    local signal=$1 log_lines pid status=0
    log_step "stop with SIG$signal"
    log_lines=$(wc -l <"$SERVER_LOG")
    pid=$SERVER_PID
    SERVER_PID=
    kill "-$signal" "$pid"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        fail "hsm4ssld (pid $pid) did not stop within 30 s of SIG$signal"
    fi
    wait "$pid" || status=$?
    assert_eq 0 "$status" "hsm4ssld exit status after SIG$signal"
    assert_contains "$(tail -n "+$((log_lines + 1))" "$SERVER_LOG")" \
        "hsm4ssld stopped" "log after SIG$signal"

    log_step "start again after SIG$signal"
    server_start "$SERVER_DATA"
    assert_eq "$(tr -d : <<<"$FINGERPRINT")" "$(ca_fingerprint)" \
        "GET /v1/ca fingerprint_sha256 after the stop by SIG$signal"
}

# Ctrl-C in a terminal sends SIGINT. A shell starts background commands
# with SIGINT ignored, so this also shows that serve installs its handler.
stop_with INT
# A closed terminal sends SIGHUP. (A shell starts background commands
# with SIGQUIT ignored, and serve leaves an ignored SIGHUP or SIGQUIT
# ignored, as nohup expects.)
stop_with HUP

log_step "SIGHUP leaves a server started with nohup running"
server_stop
nohup "$HSM4SSLD" serve --data-dir "$SERVER_DATA" --listen 127.0.0.1:0 \
    >"$TEST_TMP/nohup.log" 2>&1 </dev/null &
nohup_pid=$!
# shellcheck disable=SC2016 # on_exit evaluates the command at exit
on_exit "kill $nohup_pid 2>/dev/null || true"
wait_for_text "$TEST_TMP/nohup.log" "hsm4ssld started"
kill -HUP "$nohup_pid"
sleep 0.5
kill -0 "$nohup_pid" 2>/dev/null ||
    fail "hsm4ssld started with nohup ended on SIGHUP: \
$(cat "$TEST_TMP/nohup.log")"
kill -TERM "$nohup_pid"
status=0
wait "$nohup_pid" || status=$?
assert_eq 0 "$status" "exit status after SIGTERM of the nohup server"

pass
