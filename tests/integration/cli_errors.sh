#!/usr/bin/env bash
# ssleverywhere's usage errors and exit codes. A usage error (unknown flag,
# missing option or value, bad value) exits 1, an unreachable server 3, a
# root that does not match -fingerprint 6, and --help of every command 0.
# A rejected command writes no file.
#
# The second half runs the CLI against a lying server: openssl s_server on
# 127.0.0.1 with a CA made here. GET requests get prepared files
# (s_server -HTTP), and each POST gets the output of a shell responder. The
# fake sends foreign chain certificates, expired, CA:TRUE or clientAuth-less
# certificates, escape sequences in every text member, a 307 and a request
# that never ends. The checks: nothing is trusted, written or printed raw.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq setsid ss timeout
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

log_step "URL, descriptor and input errors name the value"
expect_usage_error "-server with port 99999" 'port "99999"' \
    -dir "$ENROLL_DIR" -enroll -server https://127.0.0.1:99999 \
    -fingerprint "$FINGERPRINT" -token "$FAKE_TOKEN"
expect_usage_error "-server with port 0" 'port "0"' \
    -dir "$ENROLL_DIR" -enroll -server https://127.0.0.1:0 \
    -fingerprint "$FINGERPRINT" -token "$FAKE_TOKEN"
expect_usage_error "-token with a space" "-token" \
    -dir "$ENROLL_DIR" -enroll -server "$SERVER_URL" \
    -fingerprint "$FINGERPRINT" -token "bad token $FAKE_TOKEN"
assert_not_contains "$CLI_ERR" "bad token" "-token message quotes no token"
expect_usage_error "-passout stdin at the end of input" \
    "no passphrase for -passout on standard input" \
    -dir "$ENROLL_DIR" -gen_cert -name web -default -passout stdin
cli -dir "$ENROLL_DIR" -gen_cert -name web -default -passout fd:9
assert_cli_status 2 "-passout fd:9 with descriptor 9 closed"
assert_contains "$CLI_ERR" "file descriptor 9" "-passout fd:9: message"
assert_no_file "$ENROLL_DIR/private/web.key"
cli -add_host -name rf -admin_token_file "$TEST_TMP" -server "$SERVER_URL" \
    -cafile "$(server_root_cert)"
assert_cli_status 2 "-admin_token_file naming a directory"
assert_contains "$CLI_ERR" "$TEST_TMP: it is not a regular file" \
    "-admin_token_file naming a directory: message"

# ---------------------------------------------------------------------------
# A lying server

FAKE=$TEST_TMP/fake
FAKE_GET_PID=
FAKE_POST_PID=
mkdir -p "$FAKE/www/v1"

# fake_ca NAME SUBJECT: a self-signed EC CA in $FAKE/NAME.{key,crt}.
fake_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
        -keyout "$FAKE/$1.key" -out "$FAKE/$1.crt" -subj "$2" -days 2 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$FAKE/pki.log" ||
        fail "openssl req for the fake CA $1 failed: $(cat "$FAKE/pki.log")"
}

# fake_sign CSR_FILE OUT EXTENSIONS [DAYS]: sign with the fake root.
fake_sign() {
    printf '%b' "$3" >"$FAKE/sign.ext"
    openssl x509 -req -in "$1" -CA "$FAKE/root.crt" -CAkey "$FAKE/root.key" \
        -days "${4:-30}" -extfile "$FAKE/sign.ext" -out "$2" \
        2>>"$FAKE/pki.log" ||
        fail "openssl x509 -req failed: $(cat "$FAKE/pki.log")"
}

fake_ca root "/CN=Fake Pinned Root"
fake_ca foreign "/CN=Foreign CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
    -keyout "$FAKE/server.key" -out "$FAKE/server.csr" -subj /CN=127.0.0.1 \
    2>>"$FAKE/pki.log" || fail "openssl req for the fake server failed"
fake_sign "$FAKE/server.csr" "$FAKE/server.crt" \
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
FAKE_FP=$(openssl x509 -in "$FAKE/root.crt" -noout -fingerprint -sha256 |
          sed 's/^[^=]*=//')
NOT_CA='basicConstraints=critical,CA:FALSE\n'
BOTH_USAGES='extendedKeyUsage=serverAuth,clientAuth\n'

# wait_listening PORT PID: until a socket listens on PORT, or PID exits.
wait_listening() {
    local deadline=$((SECONDS + 20))
    while [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; do
        kill -0 "$2" 2>/dev/null || fail "the fake server (pid $2) exited"
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "the fake server did not listen on port $1 within 20 s"
        sleep 0.05
    done
}

# fake_get_response STATUS_LINE BODY [HEADER]: the complete response that
# the GET server sends for /v1/ca.
fake_get_response() {
    {
        printf 'HTTP/1.0 %s\r\nContent-Type: application/json\r\n' "$1"
        [ -z "${3:-}" ] || printf '%s\r\n' "$3"
        printf 'Content-Length: %d\r\n\r\n%s' "${#2}" "$2"
    } >"$FAKE/www/v1/ca"
}

# fake_ca_json CHAIN_FILES...: a /v1/ca body with the fake root and the
# concatenated files as "chain".
fake_ca_json() {
    cat "$@" >"$FAKE/chain.pem"
    jq -cn --rawfile root "$FAKE/root.crt" --rawfile chain "$FAKE/chain.pem" \
        '{root: $root, chain: $chain}'
}

FAKE_GET_PORT=$(pick_free_port)
(cd "$FAKE/www" &&
 exec openssl s_server -quiet -HTTP -accept "127.0.0.1:$FAKE_GET_PORT" \
     -cert "$FAKE/server.crt" -key "$FAKE/server.key") \
    >>"$FAKE/get.log" 2>&1 </dev/null &
FAKE_GET_PID=$!
on_exit 'kill "$FAKE_GET_PID" 2>/dev/null; wait "$FAKE_GET_PID" 2>/dev/null'
wait_listening "$FAKE_GET_PORT" "$FAKE_GET_PID"
FAKE_GET_URL=https://127.0.0.1:$FAKE_GET_PORT

# http_response STATUS BODY: print an HTTP/1.1 response that closes.
http_response() {
    printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\n' "$1"
    printf 'Content-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "${#2}" "$2"
}

# certificate_response MODE: sign the CSR of $FAKE/request.json as MODE
# selects and print the response, whose serial and not_after members are
# false.
certificate_response() {
    local ext=$NOT_CA$BOTH_USAGES days=30 chain=("$FAKE/root.crt")
    jq -r .csr_details.csr <"$FAKE/request.json" >"$FAKE/request.csr"
    case $1 in
        expired) days=-1 ;;
        ca) ext='basicConstraints=critical,CA:TRUE\n'$BOTH_USAGES ;;
        server_only) ext=$NOT_CA'extendedKeyUsage=serverAuth\n' ;;
        foreign_chain) chain=("$FAKE/foreign.crt" "$FAKE/root.crt") ;;
    esac
    fake_sign "$FAKE/request.csr" "$FAKE/issued.crt" "$ext" "$days"
    cat "${chain[@]}" >"$FAKE/issued-chain.pem"
    http_response "201 Created" "$(jq -cn \
        --rawfile cert "$FAKE/issued.crt" \
        --rawfile chain "$FAKE/issued-chain.pem" \
        '{certificate: $cert, chain: $chain, serial: "\u001b[2J../../x",
          not_after: "2030-01-01T00:00:00Z\u001b]0;owned\u0007"}')"
}

# fake_respond MODE: print the response to the request in
# $FAKE/request.json.
fake_respond() {
    case $1 in
        hang)
            # Until the test has killed the CLI.
            for _ in $(seq 300); do
                [ -e "$FAKE/release" ] && break
                sleep 0.1
            done ;;
        host_token)
            http_response "201 Created" '{"host": {"id": 7, "name": "h"},
                "enrollment_token": "abc\n$(id)\u001b[2J0123456789",
                "expires_at": "2030-01-01T00:00:00Z"}' ;;
        keypair_garbage)
            http_response "201 Created" \
                '{"public_key": "\u001b[2Jnot a pem", "hsm": "softhsm"}' ;;
        keypair_p384)
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
                2>/dev/null | openssl pkey -pubout >"$FAKE/p384.pub"
            http_response "201 Created" "$(jq -cn \
                --rawfile key "$FAKE/p384.pub" '{public_key: $key}')" ;;
        keypair_p256)
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
                2>/dev/null | openssl pkey -pubout >"$FAKE/p256.pub"
            http_response "201 Created" "$(jq -cn \
                --rawfile key "$FAKE/p256.pub" \
                '{public_key: ("\n" + $key + "\n"),
                  hsm: "soft\u001b[2Jhsm"}')" ;;
        *)
            certificate_response "$1" ;;
    esac
}

# _fake_post_serve MODE PORT: accept one connection with s_server, read
# one request into $FAKE/request.json and send fake_respond's response.
_fake_post_serve() {
    local line length=0 body=
    coproc FAKE_TLS {
        exec timeout 40 openssl s_server -quiet -naccept 1 \
            -accept "127.0.0.1:$2" -cert "$FAKE/server.crt" \
            -key "$FAKE/server.key"
    }
    exec {from_tls}<&"${FAKE_TLS[0]}" {to_tls}>&"${FAKE_TLS[1]}"
    IFS= read -r line <&"$from_tls" || return 0
    printf '%s\n' "${line%$'\r'}" >"$FAKE/request.line"
    while IFS= read -r line <&"$from_tls"; do
        line=${line%$'\r'}
        [ -n "$line" ] || break
        case ${line,,} in
            content-length:*) length=${line#*:}; length=${length// /} ;;
        esac
    done
    [ "$length" -eq 0 ] || IFS= read -r -N "$length" body <&"$from_tls" || true
    printf '%s' "$body" >"$FAKE/request.json"
    fake_respond "$1" >&"$to_tls"
    exec {to_tls}>&-
    wait "$FAKE_TLS_PID" 2>/dev/null || true
}

# fake_post_start MODE: serve the next POST in the background on a new
# port; sets FAKE_POST_URL.
fake_post_start() {
    local port
    port=$(pick_free_port)
    rm -f "$FAKE/release" "$FAKE/request.json" "$FAKE/request.line"
    _fake_post_serve "$1" "$port" >>"$FAKE/post.log" 2>&1 </dev/null &
    FAKE_POST_PID=$!
    wait_listening "$port" "$FAKE_POST_PID"
    FAKE_POST_URL=https://127.0.0.1:$port
}

fake_post_stop() {
    touch "$FAKE/release"
    wait "$FAKE_POST_PID" 2>/dev/null || true
    FAKE_POST_PID=
}
on_exit 'touch "$FAKE/release"
         [ -z "$FAKE_POST_PID" ] || wait "$FAKE_POST_PID" 2>/dev/null'

# assert_no_controls TEXT WHAT: no ESC, BEL or other C0 control but
# newline and tab in TEXT.
assert_no_controls() {
    if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$1"; then
        fail "$2: control characters in: $(printf '%q' "$1")"
    fi
}

LIE_DIR=$TEST_TMP/lie

log_step "lying server: -enroll with a foreign CA in the chain"
fake_get_response "200 OK" \
    "$(fake_ca_json "$FAKE/foreign.crt" "$FAKE/root.crt")"
cli -dir "$LIE_DIR" -enroll -server "$FAKE_GET_URL" -fingerprint "$FAKE_FP" \
    -token "$FAKE_TOKEN"
assert_cli_status 5 "-enroll with a foreign chain certificate"
assert_contains "$CLI_ERR" \
    "chain certificate CN=Foreign CA that does not lead to the pinned root" \
    "-enroll with a foreign chain certificate: message"
assert_no_files_in "$LIE_DIR" "-enroll with a foreign chain certificate"

log_step "lying server: error text with escape sequences, and a redirect"
fake_get_response "400 Bad Request" '{"error": {"code": "bad\u001b[2J",
    "message": "evil\u001b]0;title\u0007 text\u009b1m"},
    "message_id": "262"}'
cli -dir "$LIE_DIR" -enroll -server "$FAKE_GET_URL" -fingerprint "$FAKE_FP" \
    -token "$FAKE_TOKEN"
assert_cli_status 4 "-enroll answered with HTTP 400"
assert_no_controls "$CLI_ERR" "HTTP 400 message"
assert_contains "$CLI_ERR" "message id 262" "HTTP 400 message"
assert_contains "$CLI_ERR" "evil?]0;title? text??1m" "HTTP 400 message"
fake_get_response "307 Temporary Redirect" "" \
    "Location: https://127.0.0.1:1/elsewhere"
cli -dir "$LIE_DIR" -enroll -server "$FAKE_GET_URL" -fingerprint "$FAKE_FP" \
    -token "$FAKE_TOKEN"
assert_cli_status 5 "-enroll answered with HTTP 307"
assert_contains "$CLI_ERR" "unexpected redirect" "HTTP 307 message"
assert_contains "$CLI_ERR" "https://127.0.0.1:1/elsewhere" "HTTP 307 message"
assert_no_files_in "$LIE_DIR" "-enroll answered with an error"

log_step "lying server: enrol with an honest /v1/ca"
fake_get_response "200 OK" "$(fake_ca_json "$FAKE/root.crt")"
cli -dir "$LIE_DIR" -enroll -server "$FAKE_GET_URL" -fingerprint "$FAKE_FP" \
    -token "$FAKE_TOKEN"
assert_cli_status 0 "-enroll with the fake CA"
CHAIN_SUM=$(sha256sum <"$LIE_DIR/certs/ca-chain.crt")
CONFIG_SUM=$(sha256sum <"$LIE_DIR/config.json")

# assert_gen_cert_wrote_nothing WHAT: no key, CSR, certificate or
# temporary file, and ca-chain.crt and config.json unchanged.
assert_gen_cert_wrote_nothing() {
    local stray
    stray=$(find "$LIE_DIR/private" "$LIE_DIR/csr" "$LIE_DIR/certs" \
                -type f ! -name ca-chain.crt)
    assert_eq "" "$stray" "$1: files written"
    assert_eq "$CHAIN_SUM" "$(sha256sum <"$LIE_DIR/certs/ca-chain.crt")" \
        "$1: ca-chain.crt"
    assert_eq "$CONFIG_SUM" "$(sha256sum <"$LIE_DIR/config.json")" \
        "$1: config.json"
}

# lying_gen_cert MODE STATUS NEEDLE: -gen_cert against a fake that
# responds as MODE selects; expects STATUS, NEEDLE on stderr and nothing
# written.
lying_gen_cert() {
    fake_post_start "$1"
    cli -dir "$LIE_DIR" -gen_cert -name web -default -passout "pass:$PASS" \
        -server "$FAKE_POST_URL"
    fake_post_stop
    assert_cli_status "$2" "-gen_cert answered with $1"
    assert_contains "$CLI_ERR" "$3" "-gen_cert answered with $1: message"
    assert_eq "POST /v1/certificates HTTP/1.1" "$(cat "$FAKE/request.line")" \
        "-gen_cert answered with $1: request"
    assert_gen_cert_wrote_nothing "-gen_cert answered with $1"
    log_step "lying server: -gen_cert rejected $1 as expected"
}

lying_gen_cert foreign_chain 5 "chain certificate CN=Foreign CA"
lying_gen_cert expired 5 "is not valid now: certificate has expired"
lying_gen_cert ca 5 "issued a CA certificate"
lying_gen_cert server_only 5 "lacks the extended key usage clientAuth"

log_step "lying server: SIGTERM during the request removes the staged key"
fake_post_start hang
"$SSLEVERYWHERE" -dir "$LIE_DIR" -gen_cert -name web -default \
    -passout "pass:$PASS" -server "$FAKE_POST_URL" \
    >"$TEST_TMP/hang.out" 2>"$TEST_TMP/hang.err" </dev/null &
CLI_PID=$!
for _ in $(seq 100); do
    [ -e "$FAKE/request.line" ] && break
    sleep 0.1
done
assert_file_exists "$FAKE/request.line"
assert_ne "" "$(find "$LIE_DIR/private" -name '.web.key.tmp-*')" \
    "staged key while the request runs"
kill -TERM "$CLI_PID"
CLI_STATUS=0
wait "$CLI_PID" || CLI_STATUS=$?
fake_post_stop
assert_eq 143 "$CLI_STATUS" "exit status of -gen_cert after SIGTERM"
assert_gen_cert_wrote_nothing "-gen_cert ended by SIGTERM"

log_step "lying server: after SIGKILL the next run removes the staged key"
fake_post_start hang
"$SSLEVERYWHERE" -dir "$LIE_DIR" -gen_cert -name web -default \
    -passout "pass:$PASS" -server "$FAKE_POST_URL" \
    >"$TEST_TMP/hang.out" 2>"$TEST_TMP/hang.err" </dev/null &
CLI_PID=$!
for _ in $(seq 100); do
    [ -e "$FAKE/request.line" ] && break
    sleep 0.1
done
kill -KILL "$CLI_PID"
wait "$CLI_PID" || true
fake_post_stop
STALE=$(find "$LIE_DIR/private" -name '.web.key.tmp-*' -printf '%f\n')
assert_ne "" "$STALE" "staged key left by SIGKILL"

log_step "lying server: an honest certificate, with lying serial and not_after"
fake_post_start good
cli -dir "$LIE_DIR" -gen_cert -name web -default -passout "pass:$PASS" \
    -server "$FAKE_POST_URL"
fake_post_stop
assert_cli_status 0 "-gen_cert with a valid certificate"
assert_contains "$CLI_ERR" "removed $LIE_DIR/private/$STALE" \
    "-gen_cert after SIGKILL: the stale key is named"
assert_eq "" "$(find "$LIE_DIR/private" -name '.web.key.tmp-*')" \
    "staged keys after the next run"
assert_no_controls "$CLI_OUT" "-gen_cert output"
assert_not_contains "$CLI_OUT" "../../x" "-gen_cert output: the JSON serial"
assert_not_contains "$CLI_OUT" "2030-01-01" "-gen_cert output: the JSON expiry"
SERIAL=$(cert_serial "$LIE_DIR/certs/web.crt")
END_DATE=$(openssl x509 -in "$LIE_DIR/certs/web.crt" -noout -enddate |
           sed 's/^notAfter=//')
NOT_AFTER=$(date -u -d "$END_DATE" +%Y-%m-%dT%H:%M:%SZ)
assert_contains "$CLI_OUT" "certificate $SERIAL valid until $NOT_AFTER" \
    "-gen_cert output: serial and notAfter of the certificate"

log_step "lying server: -add_host with a token that is not one"
fake_post_start host_token
(umask 077 && printf '%s\n' "$FAKE_TOKEN" >"$TEST_TMP/fake-admin.token")
cli -add_host -name h -server "$FAKE_POST_URL" -cafile "$FAKE/root.crt" \
    -admin_token_file "$TEST_TMP/fake-admin.token"
fake_post_stop
assert_cli_status 5 "-add_host answered with a malformed token"
assert_eq "" "$CLI_OUT" "-add_host stdout with a malformed token"
assert_contains "$CLI_ERR" "not printed" "-add_host malformed token: message"
assert_no_controls "$CLI_ERR" "-add_host malformed token: message"

log_step "lying server: -keypair_gen with a public key that is not one"
for mode in keypair_garbage keypair_p384; do
    fake_post_start "$mode"
    cli -dir "$LIE_DIR" -keypair_gen -label k1 -key_type ec -length 256 \
        -server "$FAKE_POST_URL" -admin_token_file "$TEST_TMP/fake-admin.token"
    fake_post_stop
    assert_cli_status 5 "-keypair_gen answered with $mode"
    assert_eq "" "$CLI_OUT" "-keypair_gen stdout with $mode"
    assert_no_controls "$CLI_ERR" "-keypair_gen answered with $mode: message"
done
fake_post_start keypair_p256
cli -dir "$LIE_DIR" -keypair_gen -label k1 -key_type ec -length 256 \
    -server "$FAKE_POST_URL" -admin_token_file "$TEST_TMP/fake-admin.token"
fake_post_stop
assert_cli_status 0 "-keypair_gen answered with a padded P-256 key"
assert_eq "$(cat "$FAKE/p256.pub")" "$CLI_OUT" \
    "-keypair_gen stdout: the key as OpenSSL writes it"
assert_no_controls "$CLI_ERR" "-keypair_gen: the HSM name"

pass
