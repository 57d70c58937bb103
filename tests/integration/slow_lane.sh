#!/usr/bin/env bash
# Key pair generations run on a lane of their own, so that however many
# an enrolled host or the admin sends, certificates are still issued.
# With --threads 1 the server has one handler thread and one thread for
# slow calls. Four RSA-4096 generations, two by REST and two as ADCP
# messages, queue on the slow lane. Each took 0.5 to 2.5 s in SoftHSM2 on
# the 2-core development container. A certificate request sent after
# them must get its reply while at least one of them still waits.
source "$(dirname "$0")/lib.sh"

require_commands curl jq openssl
require_binaries hsm4ssld

SERVER_ARGS=(--threads 1)
server_start
grep -q '1 handler threads and 1 for slow calls' "$SERVER_LOG" ||
    fail "the server log does not report one thread for slow calls"

register_host web web.example.test 10.0.0.7
make_csr web /CN=web.example.test

# keygen_body KIND N: a REST or ADCP key pair request for label slow-N.
keygen_body() {
    local key_info
    key_info=$(jq -cn --arg name "slow-$2" \
        '{type: "rsa", length: 4096, label: $name}')
    if [ "$1" = rest ]; then
        jq -cn --argjson k "$key_info" '{key_info: $k}'
        return
    fi
    jq -cn --argjson k "$key_info" '{
      header: {message_direction: "request", message_id: "1",
               message_type: "keypairgen",
               timestamp: "2026-12-04T16:00:36.937948"},
      body: {key_info: $k}}'
}

log_step "queue four RSA-4096 key pair generations"
client_pids=()
for i in 1 2 3 4; do
    kind=rest path=/v1/keys
    if [ "$i" -gt 2 ]; then
        kind=adcp path=/v1/adcp
    fi
    curl -s --noproxy '*' --max-time 120 --cacert "$(server_root_cert)" \
        -H "@$TEST_TMP/admin.header" -H 'Content-Type: application/json' \
        -o "$TEST_TMP/keygen-$i.json" -w '%{http_code}\n' \
        --data-binary "$(keygen_body "$kind" "$i")" \
        "$SERVER_URL$path" >"$TEST_TMP/keygen-$i.status" 2>&1 &
    client_pids+=("$!")
done
# shellcheck disable=SC2016 # on_exit evaluates the command at exit
on_exit 'kill "${client_pids[@]}" 2>/dev/null || true'
sleep 0.5

log_step "a certificate is issued while the generations wait"
body=$(certificate_request_json "$TEST_TMP/csr/web.csr" |
    jq -c '. + {host: {name: "web"}}')
admin_json POST /v1/certificates "$body"
assert_http 201
still_waiting=0
for i in 1 2 3 4; do
    [ -s "$TEST_TMP/keygen-$i.status" ] ||
        still_waiting=$((still_waiting + 1))
done
[ "$still_waiting" -gt 0 ] ||
    fail "every key pair generation finished before the certificate;" \
         "the certificate request waited behind them"
log_step "$still_waiting generations still waited when it was issued"

log_step "every generation finishes with its key pair"
for pid in "${client_pids[@]}"; do
    wait "$pid" || fail "a key pair request's curl failed"
done
# REST replies 201 Created, POST /v1/adcp 200 with an ADCP response.
for i in 1 2 3 4; do
    want=201
    [ "$i" -gt 2 ] && want=200
    assert_eq "$want" "$(cat "$TEST_TMP/keygen-$i.status")" \
        "key pair request $i: $(cat "$TEST_TMP/keygen-$i.json")"
    assert_eq "slow-$i" "$(jq -r '.label // .body.label' \
        "$TEST_TMP/keygen-$i.json")" "label of key pair request $i"
done
server_check_alive
pass
