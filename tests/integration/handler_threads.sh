#!/usr/bin/env bash
# Without --threads, hsm4ssld runs one handler thread per core while every
# PKCS#11 module signs in its own process, and four per core once an HSM
# is a network HSM, whose calls wait for another machine. The "network"
# flag of an HSM marks it; it is true by default for p11-kit's client
# module.
source "$(dirname "$0")/lib.sh"

require_commands jq
require_binaries hsm4ssld

cores=$(nproc)
[ "$cores" -le 16 ] || skip "the test expects at most 16 cores, not $cores"

# set_network VALUE: set hsms[0].network in the configuration to the JSON
# VALUE.
set_network() {
    local config=$SERVER_DATA/hsm4ssld.json
    jq --argjson v "$1" '.hsms[0].network = $v' "$config" >"$config.new"
    chmod 0600 "$config.new"
    mv "$config.new" "$config"
}

log_step "SoftHSM2 alone: one handler thread per core"
server_start
assert_contains "$(cat "$SERVER_LOG")" \
    "with $cores event loops, $cores handler threads" \
    "the server's start line"
server_stop

log_step "a network HSM: four handler threads per core"
: >"$SERVER_LOG"
set_network true
server_start "$SERVER_DATA"
assert_contains "$(cat "$SERVER_LOG")" "$((4 * cores)) handler threads" \
    "the server's start line"
server_stop

log_step "a network flag that is not a boolean is rejected"
set_network '"yes"'
if "$HSM4SSLD" check-config --data-dir "$SERVER_DATA" \
        >"$TEST_TMP/check.out" 2>&1; then
    fail "check-config accepted hsms[0].network = \"yes\""
fi
assert_contains "$(cat "$TEST_TMP/check.out")" \
    "hsms[0].network must be true or false" "check-config's message"
pass
