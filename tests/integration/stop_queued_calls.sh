#!/usr/bin/env bash
# SIGTERM stops hsm4ssld within seconds even when many requests wait in
# a queue. With one handler thread, and so one thread for slow calls,
# twenty RSA-4096 key pair requests queue behind each other, and each
# took 0.5 to 2.5 s in SoftHSM2 on the 2-core development container.
# Only the request that a thread has started may delay the stop: the
# queued ones get 503 at once.
source "$(dirname "$0")/lib.sh"

require_commands curl jq
require_binaries hsm4ssld

# Seconds the stop may take: the one running RSA-4096 key generation plus
# margin.
STOP_LIMIT=15
QUEUED_REQUESTS=20

# Start the server with one handler thread, which lib.sh's server_start
# does not set, so that the requests queue in a known order.
SERVER_DATA=$TEST_TMP/data
SERVER_LOG=$TEST_TMP/server.log
SERVER_PORT=$(pick_free_port)
"$HSM4SSLD" serve --data-dir "$SERVER_DATA" \
    --listen "127.0.0.1:$SERVER_PORT" --threads 1 \
    >>"$SERVER_LOG" 2>&1 </dev/null &
SERVER_PID=$!
_server_wait_ready || fail "hsm4ssld did not answer /healthz on port" \
    "$SERVER_PORT (see the server log below)"
SERVER_URL=https://127.0.0.1:$SERVER_PORT
_server_load_admin_token
log_step "hsm4ssld pid $SERVER_PID serves $SERVER_URL with 1 handler thread"

log_step "queue $QUEUED_REQUESTS RSA-4096 key pair requests"
client_pids=()
for i in $(seq "$QUEUED_REQUESTS"); do
    curl -s --noproxy '*' --max-time 60 --cacert "$(server_root_cert)" \
        -H "@$TEST_TMP/admin.header" -H 'Content-Type: application/json' \
        -o /dev/null -w '%{http_code}\n' \
        --data-binary "{\"key_info\": {\"type\": \"rsa\", \"length\": 4096,
                        \"label\": \"queued-$i\"}}" \
        "$SERVER_URL/v1/keys" >"$TEST_TMP/client-$i.status" 2>&1 &
    client_pids+=("$!")
done
# shellcheck disable=SC2016 # on_exit evaluates the command at exit
on_exit 'kill "${client_pids[@]}" 2>/dev/null || true'
# The server reads every request at once, and then they wait for the thread.
sleep 1

log_step "GET /healthz and GET /v1/ca answer while the queue is full"
for path in /healthz /v1/ca; do
    code=$(curl -s --noproxy '*' --max-time 3 --cacert "$(server_root_cert)" \
        -o /dev/null -w '%{http_code}' "$SERVER_URL$path" || true)
    assert_eq 200 "$code" "GET $path behind $QUEUED_REQUESTS queued requests"
done

log_step "SIGTERM with requests in the queue"
pid=$SERVER_PID
SERVER_PID=
start=$SECONDS
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - start)) -le "$STOP_LIMIT" ]; do
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    fail "hsm4ssld still ran ${STOP_LIMIT} s after SIGTERM, because it" \
         "handles every queued request before it stops; answer the" \
         "requests no handler thread has started with 503 instead"
fi
status=0
wait "$pid" || status=$?
assert_eq 0 "$status" "exit status of hsm4ssld after SIGTERM"

log_step "queued requests got 503, the running one its key pair"
for client in "${client_pids[@]}"; do
    wait "$client" 2>/dev/null || true
done
refused=0
for i in $(seq "$QUEUED_REQUESTS"); do
    code=$(tail -n 1 "$TEST_TMP/client-$i.status")
    case $code in
        503) refused=$((refused + 1)) ;;
        201) ;;
        *) fail "key pair request $i got HTTP $code, expected 201 or 503" ;;
    esac
done
[ "$refused" -gt 0 ] ||
    fail "no queued request got 503 service_unavailable"

pass
