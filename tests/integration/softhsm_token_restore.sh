#!/usr/bin/env bash
# hsm4ssld keeps a copy of the SoftHSM2 token's token.object (mode 0600)
# and restores it at the next start when the file is empty or missing.
# SoftHSM2 2.6.1 truncates token.object and writes it again on every
# C_Login, so SIGKILL between the two steps leaves it empty. The test
# makes that loss for real: strace delays the return of SoftHSM2's
# ftruncate of the file while the test kills hsm4ssld. The restored token
# signs with the same root. A non-empty token.object is never replaced, a
# symbolic link under tokens/ is left alone, a token that initsession
# makes gets its copy at once, and an empty token.object without a copy
# is reported and left as it is.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq strace
require_binaries hsm4ssld

strace -f -o /dev/null -e trace=none true 2>/dev/null ||
    skip "strace cannot trace a process here (ptrace is not permitted)"

BACKUP_NAME=token.object.hsm4ssl-backup
TOKEN_FILE=
BACKUP_FILE=
FINGERPRINT=
LOG_MARK=0
HOST_SEQ=0

# find_token: set TOKEN_FILE and BACKUP_FILE to the paths, as hsm4ssld
# logs them, of the data directory's only token.
find_token() {
    local dirs=("$SERVER_DATA"/tokens/*/)
    assert_eq 1 "${#dirs[@]}" "token directories in $SERVER_DATA/tokens"
    TOKEN_FILE=$(realpath "${dirs[0]}")/token.object
    BACKUP_FILE=$TOKEN_FILE.hsm4ssl-backup
}

# check_backup WHAT: the copy has mode 0600 and equals token.object.
check_backup() {
    assert_file_mode 600 "$BACKUP_FILE"
    cmp -s "$TOKEN_FILE" "$BACKUP_FILE" ||
        fail "$1: $BACKUP_FILE differs from $TOKEN_FILE"
}

# mark_log: remember the length of the server log, so log_since_mark
# prints only what the next start writes.
mark_log() {
    LOG_MARK=$( (wc -l <"$SERVER_LOG") 2>/dev/null || echo 0)
}

log_since_mark() {
    tail -n "+$((LOG_MARK + 1))" "$SERVER_LOG"
}

# issue_certificate NAME: register host NAME, issue it a certificate as
# the admin and check that the root on disk verifies it.
issue_certificate() {
    local name=$1 cert=$TEST_TMP/csr/$1.crt
    HOST_SEQ=$((HOST_SEQ + 1))
    register_host "$name" "$name.example.test" "127.0.1.$HOST_SEQ"
    admin_issue_for_host "$name" "$name"
    json_get .certificate >"$cert"
    assert_eq "$cert: OK" \
        "$(openssl verify -CAfile "$(server_root_cert)" "$cert" 2>&1)" \
        "openssl verify $name.crt"
}

# check_token_serves WHAT: GET /v1/ca returns the root of the first
# start, and the token signs a new certificate.
check_token_serves() {
    http_call GET /v1/ca
    assert_http 200
    assert_eq "$FINGERPRINT" "$(json_get .fingerprint_sha256)" \
        "$1: GET /v1/ca fingerprint_sha256"
    issue_certificate "host$((HOST_SEQ + 1))"
    [ -s "$TOKEN_FILE" ] || fail "$1: $TOKEN_FILE is empty while serving"
}

# check_restored WHAT STATE: the last start restored token.object, which
# was STATE (the log's words, such as "missing"), logged it and serves.
check_restored() {
    local log
    log=$(log_since_mark)
    assert_contains "$log" "token metadata $TOKEN_FILE was $2" \
        "$1: the warning names the file and its state"
    assert_contains "$log" "restored it from the copy of" \
        "$1: the warning names the copy"
    assert_not_contains "$log" "stays down" "$1: the HSM after the restore"
    check_token_serves "$1"
}

# The strace process of kill_during_login and the hsm4ssld it runs, set
# only while they run, so that the cleanup never signals a reused pid.
TRACER_PID=
TRACED_PID=

stop_traced() {
    local pid
    for pid in $TRACED_PID $TRACER_PID; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    [ -z "$TRACER_PID" ] || wait "$TRACER_PID" 2>/dev/null || true
    TRACER_PID=
    TRACED_PID=
}
on_exit stop_traced

# kill_during_login: start hsm4ssld under strace, which delays the return
# of SoftHSM2's ftruncate of token.object by 10 s, and SIGKILL hsm4ssld
# while the file is empty. The kill follows as soon as the file is empty,
# so the 10 s are only an upper bound.
kill_during_login() {
    local log=$TEST_TMP/killed.log trace=$TEST_TMP/strace.out status=0
    strace -f -o "$trace" -P "$TOKEN_FILE" -e trace=ftruncate \
        -e inject=ftruncate:delay_exit=10000000 \
        "$HSM4SSLD" serve --data-dir "$SERVER_DATA" --listen 127.0.0.1:0 \
        >"$log" 2>&1 </dev/null &
    TRACER_PID=$!

    for _ in $(seq 600); do
        [ -s "$TOKEN_FILE" ] || break
        kill -0 "$TRACER_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ ! -s "$TOKEN_FILE" ] ||
        fail "SoftHSM2 did not truncate $TOKEN_FILE within 30 s of the" \
             "start; strace wrote: $(cat "$trace") hsm4ssld wrote:" \
             "$(cat "$log")"

    TRACED_PID=$(pgrep -P "$TRACER_PID")
    [ -n "$TRACED_PID" ] ||
        fail "no hsm4ssld process under strace (pid $TRACER_PID)"
    kill -KILL "$TRACED_PID"
    # strace would wait for the rest of the delay before it exits.
    kill -KILL "$TRACER_PID"
    wait "$TRACER_PID" 2>/dev/null || status=$?
    TRACER_PID=
    TRACED_PID=

    assert_not_contains "$(cat "$log")" "listening on" \
        "the log of the start killed during its login"
    assert_eq 0 "$(stat -c %s "$TOKEN_FILE")" \
        "size of token.object after SIGKILL during the login"
    log_step "SIGKILL during the login left token.object empty" \
             "(strace exit status $status)"
}

log_step "first start: the copy is made after the login"
server_start
FINGERPRINT=$(tr -d : <<<"$(root_fingerprint)")
issue_certificate host1
find_token
server_stop
assert_eq 0 "$SERVER_EXIT" "exit status of the first stop"
check_backup "after the first stop"

log_step "SIGKILL while SoftHSM2 rewrites token.object"
# As in a data directory made before the copies existed: the start makes
# the copy before its own login truncates token.object.
rm "$BACKUP_FILE"
kill_during_login
assert_file_exists "$BACKUP_FILE"
mark_log
server_start "$SERVER_DATA"
check_restored "after SIGKILL during the login" \
    "empty, most likely because SoftHSM2 was interrupted"
server_stop
check_backup "after the start that restored the file"

log_step "an emptied token.object is restored"
: >"$TOKEN_FILE"
# A temporary file that an interrupted restore left behind.
LEFTOVER=$(dirname "$TOKEN_FILE")/token.object.hsm4ssl-restore.tmp
printf 'left over\n' >"$LEFTOVER"
mark_log
server_start "$SERVER_DATA"
check_restored "after truncating token.object" "empty"
assert_no_file "$LEFTOVER"
assert_contains "$(log_since_mark)" "left by an interrupted copy" \
    "log of the start that removed the leftover temporary file"
server_stop

log_step "a missing token.object is restored"
rm "$TOKEN_FILE"
mark_log
server_start "$SERVER_DATA"
check_restored "after removing token.object" "missing"
assert_file_mode 600 "$TOKEN_FILE"
server_stop

log_step "a non-empty token.object is kept although its copy differs"
printf 'not a token\n' >"$BACKUP_FILE"
mark_log
server_start "$SERVER_DATA"
assert_not_contains "$(log_since_mark)" "restored it" \
    "log of a start with a non-empty token.object"
check_token_serves "with a differing copy"
server_stop
check_backup "after the start that replaced the differing copy"

log_step "a start waits while list-hsms rewrites token.object"
# strace delays list-hsms for 0.5 s after SoftHSM2 has truncated the
# file. The start must not take the file for an empty one and restore it.
list_hsms_held_at_truncation "$TOKEN_FILE" 500000
mark_log
server_start "$SERVER_DATA"
wait "$LIST_HSMS_PID" || fail "list-hsms failed: $(cat "$LIST_HSMS_OUT")"
assert_not_contains "$(log_since_mark)" "restored it" \
    "log of a start while list-hsms rewrote token.object"
check_token_serves "after a start beside list-hsms"
server_stop
check_backup "after the start beside list-hsms"

log_step "a symbolic link under tokens/ is left alone"
mkdir -p "$TEST_TMP/elsewhere/token"
: >"$TEST_TMP/elsewhere/token/token.object"
printf 'copy\n' >"$TEST_TMP/elsewhere/token/$BACKUP_NAME"
ln -s "$TEST_TMP/elsewhere/token" "$SERVER_DATA/tokens/linked"
server_start "$SERVER_DATA"
check_token_serves "with a linked token directory"
server_stop
assert_eq 0 "$(stat -c %s "$TEST_TMP/elsewhere/token/token.object")" \
    "size of token.object in the linked directory"
assert_eq copy "$(cat "$TEST_TMP/elsewhere/token/$BACKUP_NAME")" \
    "copy in the linked directory"
rm "$SERVER_DATA/tokens/linked"

log_step "a token made by initsession gets its copy at once"
CONFIG=$SERVER_DATA/hsm4ssld.json
cp -p "$CONFIG" "$TEST_TMP/hsm4ssld.json.saved"
add_spare_hsm
server_start "$SERVER_DATA"
LIB_SECRETS+=(spare-so-pin-0000 spare-user-pin-0000)
admin_json POST /v1/tokens '{"hsm": "spare", "session_label": "spare",
    "credentials": {"admin_pin": "spare-so-pin-0000",
                    "user_pin": "spare-user-pin-0000"}}'
assert_http 200
SPARE_TOKEN=
for dir in "$SERVER_DATA"/tokens/*/; do
    [ "$(realpath "$dir")/token.object" = "$TOKEN_FILE" ] ||
        SPARE_TOKEN=$(realpath "$dir")/token.object
done
assert_ne "" "$SPARE_TOKEN" "token.object of the token made by initsession"
assert_file_mode 600 "$SPARE_TOKEN.hsm4ssl-backup"
cmp -s "$SPARE_TOKEN" "$SPARE_TOKEN.hsm4ssl-backup" ||
    fail "the copy of $SPARE_TOKEN differs from it while the server runs"
server_stop
mv "$TEST_TMP/hsm4ssld.json.saved" "$CONFIG"

log_step "an empty token.object without a copy is reported"
rm "$BACKUP_FILE"
: >"$TOKEN_FILE"
status=0
timeout 60 "$HSM4SSLD" serve --data-dir "$SERVER_DATA" \
    --listen 127.0.0.1:0 >"$TEST_TMP/no-copy.log" 2>&1 </dev/null ||
    status=$?
no_copy_log=$(cat "$TEST_TMP/no-copy.log")
assert_eq 1 "$status" "exit status of a start without the token"
assert_contains "$no_copy_log" \
    "token metadata $TOKEN_FILE is empty, most likely because SoftHSM2" \
    "the error names the empty file"
assert_contains "$no_copy_log" "there is no copy $BACKUP_NAME" \
    "the error says that no copy exists"
assert_contains "$no_copy_log" "Restore the data directory from a backup" \
    "the error says what to do"
assert_contains "$no_copy_log" "stays down" "the HSM without its token"
assert_file_exists "$TOKEN_FILE"
assert_eq 0 "$(stat -c %s "$TOKEN_FILE")" \
    "size of token.object after a start without a copy"
assert_no_file "$BACKUP_FILE"

pass
