#!/usr/bin/env bash
# SIGTERM or SIGINT while hsm4ssld creates a new data directory lets the
# creation finish and then stops with status 0, so the directory is
# whole and the next start serves from it.
source "$(dirname "$0")/lib.sh"

require_commands curl jq
require_binaries hsm4ssld

# stop_while_creating SIGNAL: start on a new data directory, send SIGNAL
# once the creation has begun, and check the exit status and the log.
stop_while_creating() {
    local signal=$1 data=$TEST_TMP/data-$1 log=$TEST_TMP/server-$1.log
    local pid status=0
    "$HSM4SSLD" serve --data-dir "$data" --listen 127.0.0.1:0 \
        >"$log" 2>&1 </dev/null &
    pid=$!
    # shellcheck disable=SC2016 # on_exit evaluates the command at exit
    on_exit "kill $pid 2>/dev/null || true"
    wait_for_text "$log" 'creating the embedded default'
    kill "-$signal" "$pid"
    wait "$pid" || status=$?
    assert_eq 0 "$status" "exit status after $signal during the creation"
    assert_contains "$(cat "$log")" "signal received while" \
        "the log names the step the $signal came in"
    assert_not_contains "$(cat "$log")" "listening on" \
        "the log after $signal during the creation"
    log_step "$signal during the creation: exit 0"
}

stop_while_creating TERM
stop_while_creating INT

log_step "the directory a stop interrupted serves on the next start"
server_start "$TEST_TMP/data-TERM"
admin_get /v1/ca
assert_http 200
server_stop
pass
