#!/usr/bin/env bash
# A stop signal while hsm4ssld logs in to its SoftHSM2 token waits for the
# login to finish. On each C_Login SoftHSM2 truncates the token's
# token.object and then writes it again. A process ended in between
# leaves the file empty, and the token with the CA key is lost. strace
# delays the start at that point for 3 s while the test sends the signal:
#   - the first SIGTERM (or SIGHUP) stops the server with status 0 once
#     the login is done, token.object is whole and the next start serves;
#   - a second signal during the login ends the process once the login
#     has returned;
#   - a second signal during a later step of the start ends the process
#     at once, so that a start that hangs can still be stopped;
#   - `hsm4ssld list-hsms`, which logs in too, ends on SIGTERM only after
#     its login.
source "$(dirname "$0")/lib.sh"

require_commands curl jq strace
require_binaries hsm4ssld

log_step "a first start makes the data directory"
server_start
server_stop
TOKEN_OBJECT=$(echo "$SERVER_DATA"/tokens/*/token.object)
assert_file_exists "$TOKEN_OBJECT"
TOKEN_BYTES=$(stat -c %s "$TOKEN_OBJECT")
assert_ne 0 "$TOKEN_BYTES" "size of $TOKEN_OBJECT after the first start"

# start_held LOG STRACE_OPTION...: start hsm4ssld under strace, which
# delays the thread for 3 s after the system call the options select, and
# wait until the delay begins. Sets HELD_PID (hsm4ssld) and STRACE_PID.
start_held() {
    local log=$1 trace=$TEST_TMP/held.strace
    shift
    : >"$trace"
    strace -f -o "$trace" "$@" "$HSM4SSLD" serve --data-dir "$SERVER_DATA" \
        --listen 127.0.0.1:0 >"$log" 2>&1 </dev/null &
    STRACE_PID=$!
    # shellcheck disable=SC2016 # on_exit evaluates the command at exit
    on_exit "kill $STRACE_PID 2>/dev/null || true"
    wait_for_text "$trace" DELAYED
    HELD_PID=$(awk '/DELAYED/ { print $1; exit }' "$trace")
}

# start_held_at_login LOG: start_held at the truncation of token.object.
# The first ftruncate is hsm4ssld's own lock file, the second the
# token.object rewrite of C_Login, checked here.
start_held_at_login() {
    start_held "$1" -e trace=openat,ftruncate \
        -e inject=ftruncate:delay_exit=3000000:when=2
    grep -B3 'DELAYED' "$TEST_TMP/held.strace" |
        grep -q 'token.object", O_RDWR' ||
        fail "the held truncation is not token.object's:" \
            "$(cat "$TEST_TMP/held.strace")"
    assert_eq 0 "$(stat -c %s "$TOKEN_OBJECT")" \
        "size of token.object while the start is held after truncating it"
}

# stop_at_login SIGNAL: send SIGNAL while the start is held after the
# truncation of token.object, and check the start stopped cleanly.
stop_at_login() {
    local signal=$1 log=$TEST_TMP/held-$1.log status=0
    log_step "SIG$signal during the login stops the start once it is done"
    start_held_at_login "$log"
    kill "-$signal" "$HELD_PID"
    wait "$STRACE_PID" || status=$?
    assert_eq 0 "$status" "exit status after SIG$signal during the login"
    assert_contains "$(cat "$log")" \
        "signal received while starting the HSMs" "the log after SIG$signal"
    assert_not_contains "$(cat "$log")" "listening on" \
        "the log after SIG$signal"
    assert_eq "$TOKEN_BYTES" "$(stat -c %s "$TOKEN_OBJECT")" \
        "size of token.object after SIG$signal during the login"
}

stop_at_login TERM
stop_at_login HUP

# signal_twice SIGNAL: send SIGTERM and then SIGNAL to the held start,
# and set STATUS to the exit status of strace, which is hsm4ssld's.
signal_twice() {
    kill -TERM "$HELD_PID"
    sleep 0.2
    kill "-$1" "$HELD_PID"
    STATUS=0
    wait "$STRACE_PID" || STATUS=$?
}

log_step "a second signal during the login ends the start after it"
start_held_at_login "$TEST_TMP/held-two.log"
signal_twice HUP
assert_eq 129 "$STATUS" "exit status after SIGTERM and SIGHUP in the login"
assert_eq "$TOKEN_BYTES" "$(stat -c %s "$TOKEN_OBJECT")" \
    "size of token.object after two signals during the login"

log_step "a second signal while the database opens ends the start at once"
start_held "$TEST_TMP/held-twice.log" -P "$SERVER_DATA/hsm4ssl.db" \
    -e trace=openat -e inject=openat:delay_exit=3000000:when=1
grep -q 'logged in to token' "$TEST_TMP/held-twice.log" ||
    fail "the start was held before the login: \
$(cat "$TEST_TMP/held-twice.log")"
signal_twice INT
assert_eq 130 "$STATUS" "exit status after SIGTERM and SIGINT in the start"
assert_not_contains "$(cat "$TEST_TMP/held-twice.log")" "listening on" \
    "the log of the start ended by a second signal"
assert_eq "$TOKEN_BYTES" "$(stat -c %s "$TOKEN_OBJECT")" \
    "size of token.object after two signals during the start"

log_step "SIGTERM during the login of list-hsms takes effect after it"
list_hsms_held_at_truncation "$TOKEN_OBJECT" 3000000
kill -TERM "$LIST_HSMS_TID"
status=0
wait "$LIST_HSMS_PID" || status=$?
assert_eq 143 "$status" "exit status of list-hsms after SIGTERM"
assert_eq "$TOKEN_BYTES" "$(stat -c %s "$TOKEN_OBJECT")" \
    "size of token.object after SIGTERM during list-hsms"

log_step "the token serves on the next start"
server_start "$SERVER_DATA"
admin_get /v1/ca
assert_http 200
server_stop
pass
