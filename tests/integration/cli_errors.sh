#!/usr/bin/env bash
# ssleverywhere's usage errors and exit codes. A usage error (unknown flag,
# missing option or value, bad value) exits 1, an unreachable server 3, a
# root that does not match -fingerprint 6, and --help of every command 0.
# A rejected command writes no file.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq setsid ss
require_binaries hsm4ssld ssleverywhere

PASS=cli-errors-passphrase
# Shaped like an enrolment token (43 URL-safe characters), known to no
# server.
FAKE_TOKEN=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA

# expect_usage_error WHAT NEEDLE ARGS...: exit 1 and NEEDLE in the message.
expect_usage_error() {
    local what=$1 needle=$2
    shift 2
    cli "$@"
    assert_cli_status 1 "$what"
    assert_contains "$CLI_ERR" "$needle" "$what: error message"
    log_step "usage error as expected: $what"
}

# Fail if DIR contains any file, because a rejected command writes none.
assert_no_files_in() {
    local files
    files=$(find "$1" -type f 2>/dev/null || true)
    assert_eq "" "$files" "$2: files written"
}

# Print a hex fingerprint without colons, in upper case.
normalize_fingerprint() {
    tr -d ':' <<<"$1" | tr 'a-f' 'A-F'
}

GEN_DIR=$TEST_TMP/offline

log_step "--help of every command"
for args in --help -help "-enroll --help" "-gen_cert --help" \
            "-gen_cert -help" "-keypair_gen --help" "-add_host --help"; do
    # shellcheck disable=SC2086 # each entry is a list of arguments
    cli $args
    assert_cli_status 0 "ssleverywhere $args"
    assert_ne "" "$CLI_OUT$CLI_ERR" "ssleverywhere $args output"
done
cli --help
for command in -enroll -gen_cert -keypair_gen -add_host; do
    assert_contains "$CLI_OUT" "$command" "ssleverywhere --help command list"
done
for code in 0 1 2 3 4 5 6; do
    assert_match "$CLI_OUT" "(^|[^0-9])$code([^0-9]|$)" \
        "ssleverywhere --help lists exit code $code"
done
cli -gen_cert --help
for option in -name -default -manual -key_type -key_length -encryption \
              -hash -passout; do
    assert_contains "$CLI_OUT$CLI_ERR" "$option" "-gen_cert --help"
done
cli -enroll --help
for option in -server -fingerprint -token -dir; do
    assert_contains "$CLI_OUT$CLI_ERR" "$option" "-enroll --help"
done

log_step "usage errors without a server"
expect_usage_error "unknown flag" -frobnicate -frobnicate
expect_usage_error "no command" command -dir "$GEN_DIR" -name x
expect_usage_error "-gen_cert without -name" -name \
    -dir "$GEN_DIR" -gen_cert -default -passout "pass:$PASS"
expect_usage_error "-name without its value" -name \
    -dir "$GEN_DIR" -gen_cert -default -passout "pass:$PASS" -name
expect_usage_error "-name given twice" -name \
    -dir "$GEN_DIR" -gen_cert -default -passout "pass:$PASS" -name a -name b
expect_usage_error "two commands" -enroll \
    -dir "$GEN_DIR" -gen_cert -enroll -name web
expect_usage_error "-gen_cert without -default or -manual" -manual \
    -dir "$GEN_DIR" -gen_cert -name web -passout "pass:$PASS"

manual=(-key_type rsa -key_length 2048 -encryption aes -hash sha256)
for missing in -key_type -key_length -encryption -hash; do
    args=()
    for ((i = 0; i < ${#manual[@]}; i += 2)); do
        [ "${manual[i]}" = "$missing" ] ||
            args+=("${manual[i]}" "${manual[i + 1]}")
    done
    expect_usage_error "-manual without $missing" "$missing" \
        -dir "$GEN_DIR" -gen_cert -name web -manual "${args[@]}" \
        -passout "pass:$PASS"
done

expect_usage_error "-key_length 1024" 1024 \
    -dir "$GEN_DIR" -gen_cert -name web -manual -key_type rsa \
    -key_length 1024 -encryption aes -hash sha256 -passout "pass:$PASS"
assert_contains "$CLI_ERR" 2048 "-key_length 1024: names the minimum"
expect_usage_error "-key_type dsa" dsa \
    -dir "$GEN_DIR" -gen_cert -name web -manual -key_type dsa \
    -key_length 2048 -encryption aes -hash sha256 -passout "pass:$PASS"
expect_usage_error "-key_length P-192 for ec" P-192 \
    -dir "$GEN_DIR" -gen_cert -name web -manual -key_type ec \
    -key_length P-192 -encryption aes -hash sha256 -passout "pass:$PASS"
expect_usage_error "-encryption rc4" rc4 \
    -dir "$GEN_DIR" -gen_cert -name web -manual -key_type rsa \
    -key_length 2048 -encryption rc4 -hash sha256 -passout "pass:$PASS"
expect_usage_error "-hash md5" md5 \
    -dir "$GEN_DIR" -gen_cert -name web -manual -key_type rsa \
    -key_length 2048 -encryption aes -hash md5 -passout "pass:$PASS"
for name in ../x a/b .. .; do
    expect_usage_error "-name $name" "$name" \
        -dir "$GEN_DIR" -gen_cert -name "$name" -default \
        -passout "pass:$PASS"
done
assert_no_files_in "$GEN_DIR" "rejected -gen_cert commands"

log_step "-enroll errors"
ENROLL_DIR=$TEST_TMP/enroll
ZERO_FP=$(printf '0%.0s' $(seq 64))
expect_usage_error "-enroll with an http:// URL" https \
    -dir "$ENROLL_DIR" -enroll -server "http://127.0.0.1:$(pick_free_port)" \
    -fingerprint "$ZERO_FP" -token "$FAKE_TOKEN"
expect_usage_error "-enroll with a short -fingerprint" -fingerprint \
    -dir "$ENROLL_DIR" -enroll -server "https://127.0.0.1:$(pick_free_port)" \
    -fingerprint abcdef -token "$FAKE_TOKEN"
expect_usage_error "-enroll without -token" -token \
    -dir "$ENROLL_DIR" -enroll -server "https://127.0.0.1:$(pick_free_port)" \
    -fingerprint "$ZERO_FP"
cli -dir "$ENROLL_DIR" -enroll -server "https://127.0.0.1:$(pick_free_port)" \
    -fingerprint "$ZERO_FP" -token "$FAKE_TOKEN"
assert_cli_status 3 "-enroll with no server listening"
assert_no_files_in "$ENROLL_DIR" "failed -enroll commands"

server_start
register_host web web.example.test 127.0.0.1
FINGERPRINT=$(normalize_fingerprint "$(root_fingerprint)")

log_step "-enroll with the wrong fingerprint"
cli -dir "$ENROLL_DIR" -enroll -server "$SERVER_URL" \
    -fingerprint "$ZERO_FP" -token "$HOST_TOKEN"
assert_cli_status 6 "-enroll with a wrong -fingerprint"
assert_contains "$(normalize_fingerprint "$CLI_ERR")" "$FINGERPRINT" \
    "fingerprint mismatch message: the server's root fingerprint"
assert_contains "$(normalize_fingerprint "$CLI_ERR")" "$ZERO_FP" \
    "fingerprint mismatch message: the expected fingerprint"
assert_no_files_in "$ENROLL_DIR" "-enroll with a wrong -fingerprint"

log_step "-gen_cert needs a passphrase source when there is no terminal"
cli -dir "$ENROLL_DIR" -enroll -server "$SERVER_URL" \
    -fingerprint "$FINGERPRINT" -token "$HOST_TOKEN"
assert_cli_status 0 "-enroll with the right fingerprint"
cli -dir "$ENROLL_DIR" -gen_cert -name web -default
assert_ne 0 "$CLI_STATUS" "-gen_cert without a passphrase source: exit status"
assert_contains "$CLI_ERR" -passout \
    "-gen_cert without a passphrase source: message"
cli -dir "$ENROLL_DIR" -gen_cert -name web -default -passout pass:abc
assert_ne 0 "$CLI_STATUS" "-gen_cert with a 3-character passphrase"
assert_no_file "$ENROLL_DIR/private/web.key"
assert_no_file "$ENROLL_DIR/certs/web.crt"

log_step "the server's rejection is exit code 4"
cli -dir "$ENROLL_DIR" -gen_cert -name other-host -default \
    -passout "pass:$PASS"
assert_cli_status 4 "-gen_cert for a name the host does not own"
assert_contains "$CLI_ERR" name_not_allowed \
    "-gen_cert for a foreign name: the server's error code"
assert_no_file "$ENROLL_DIR/certs/other-host.crt"

pass
