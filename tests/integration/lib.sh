# shellcheck shell=bash
# Shared helpers for the integration tests; every tests/integration/*.sh
# sources this file first.
#
# A test gets a private temporary directory ($TEST_TMP, removed on exit),
# can start hsm4ssld on a fresh data directory on 127.0.0.1, call the REST
# API with curl, run the ssleverywhere CLI, and assert on the results. Every
# assertion prints what was expected and what came. On exit the trap runs
# the registered cleanup commands in reverse order, stops the server, fails
# the test if the server died on its own, and prints the server log when the
# test failed.
#
# Exit codes follow CTest's convention here: 0 pass, 77 skip, others fail.
#
# Set HSM4SSL_KEEP_TMP=1 to keep $TEST_TMP for inspection after a run.

set -euo pipefail

HSM4SSL_SOURCE_DIR=${HSM4SSL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HSM4SSL_BUILD_DIR=${HSM4SSL_BUILD_DIR:-$HSM4SSL_SOURCE_DIR/build}
HSM4SSLD=$HSM4SSL_BUILD_DIR/hsm4ssld
SSLEVERYWHERE=$HSM4SSL_BUILD_DIR/ssleverywhere
# shellcheck disable=SC2034 # used by the tests that source this file
SOFTHSM2_MODULE=/usr/lib/softhsm/libsofthsm2.so
TEST_NAME=$(basename "$0" .sh)
# shellcheck disable=SC2034
TEST_DATA_DIR=$HSM4SSL_SOURCE_DIR/tests/integration/data

# Seconds to wait for hsm4ssld to respond to /healthz after a start. The first
# start generates the CA keys inside SoftHSM2, which takes a few seconds.
SERVER_START_TIMEOUT=${SERVER_START_TIMEOUT:-60}

# Keep all traffic on loopback: a proxy set in the environment would route
# curl and the CLI's libcurl requests to another host.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY='*' no_proxy='*'

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hsm4ssl-$TEST_NAME.XXXXXX")
chmod 0700 "$TEST_TMP"

# The CLI defaults to ~/.ssleverywhere and reads a passphrase from the
# environment: neither may come from the person running the tests.
mkdir -m 0700 "$TEST_TMP/home"
export HOME=$TEST_TMP/home
unset SSLEVERYWHERE_DIR SSLEVERYWHERE_PASSPHRASE

SERVER_PID=
SERVER_DATA=
SERVER_LOG=
SERVER_PORT=
SERVER_URL=
SERVER_EXIT=
HTTP_STATUS=
HTTP_BODY=
HTTP_BODY_FILE=$TEST_TMP/response.body
LAST_REQUEST=
CLI_STATUS=
CLI_OUT=
CLI_ERR=
# Secrets that must never show up in the server log (admin token,
# enrolment tokens, PINs); see server_check_log_secrets.
LIB_SECRETS=()
LIB_CLEANUP=()

# ---------------------------------------------------------------------------
# Messages, skipping, cleanup

log_step() {
    printf '== %s: %s\n' "$TEST_NAME" "$*"
}

fail() {
    printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

skip() {
    printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*" >&2
    exit 77
}

pass() {
    printf 'PASS: %s\n' "$TEST_NAME"
    exit 0
}

# Skip the test unless every named command is installed.
require_commands() {
    local command
    for command in "$@"; do
        command -v "$command" >/dev/null 2>&1 ||
            skip "command '$command' is not installed" \
                 "(scripts/install-deps.sh installs it)"
    done
}

# require_binaries NAME...: the named programs (hsm4ssld, ssleverywhere)
# are built. They are build products, so their absence is a failure, not a
# reason to skip.
require_binaries() {
    local binary
    for binary in "$@"; do
        binary=$HSM4SSL_BUILD_DIR/$binary
        [ -x "$binary" ] ||
            fail "$binary not found: build the project first" \
                 "(cmake --build $HSM4SSL_BUILD_DIR) or set HSM4SSL_BUILD_DIR"
    done
}

# Register a shell command to run on exit; commands run in reverse order.
on_exit() {
    LIB_CLEANUP+=("$*")
}

_lib_exit() {
    local status=$? i
    set +e
    trap - EXIT

    for ((i = ${#LIB_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${LIB_CLEANUP[i]}"
    done

    if [ -n "$SERVER_PID" ]; then
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID"
            printf 'FAIL: %s: hsm4ssld (pid %s) exited with status %s' \
                   "$TEST_NAME" "$SERVER_PID" "$?" >&2
            printf ' during the test\n' >&2
            SERVER_PID=
            [ "$status" -eq 0 ] && status=1
        else
            server_stop >/dev/null 2>&1
        fi
    fi
    if [ "$status" -eq 0 ] && [ -n "$SERVER_LOG" ]; then
        (server_check_log_secrets) || status=1
    fi

    if [ "$status" -ne 0 ] && [ "$status" -ne 77 ] &&
       [ -n "$SERVER_LOG" ] && [ -f "$SERVER_LOG" ]; then
        printf -- '---- last 80 lines of %s\n' "$SERVER_LOG" >&2
        tail -n 80 "$SERVER_LOG" >&2
        printf -- '---- end of server log\n' >&2
    fi

    if [ "${HSM4SSL_KEEP_TMP:-0}" = 1 ]; then
        printf '%s: kept %s\n' "$TEST_NAME" "$TEST_TMP" >&2
    else
        rm -rf "$TEST_TMP"
    fi
    exit "$status"
}
trap _lib_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Assertions

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
    [ "$1" = "$2" ] ||
        fail "$3: expected '$1', got '$2'"
}

# assert_ne UNEXPECTED ACTUAL WHAT
assert_ne() {
    [ "$1" != "$2" ] ||
        fail "$3: expected anything but '$1'"
}

# assert_contains TEXT NEEDLE WHAT: TEXT contains the fixed string NEEDLE.
assert_contains() {
    case "$1" in
        *"$2"*) ;;
        *) fail "$3: expected to contain '$2', got: $1" ;;
    esac
}

# assert_not_contains TEXT NEEDLE WHAT
assert_not_contains() {
    case "$1" in
        *"$2"*) fail "$3: expected not to contain '$2', got: $1" ;;
        *) ;;
    esac
}

# assert_match TEXT REGEX WHAT: TEXT matches the extended regular expression.
assert_match() {
    [[ $1 =~ $2 ]] ||
        fail "$3: expected to match /$2/, got: $1"
}

# assert_file_mode MODE PATH: PATH exists, is not a symbolic link and has
# the octal permission bits MODE (e.g. 600).
assert_file_mode() {
    local want=$1 path=$2 got
    [ -e "$path" ] || fail "$path: expected mode $want, but it does not exist"
    [ ! -L "$path" ] || fail "$path: expected a file, got a symbolic link"
    got=$(stat -c %a "$path")
    [ "$got" = "$want" ] ||
        fail "$path: expected mode $want, got $got"
}

assert_file_exists() {
    [ -f "$1" ] || fail "expected file $1 to exist, but it does not"
}

assert_no_file() {
    [ ! -e "$1" ] || fail "expected $1 not to exist, but it does"
}

# wait_for_text FILE TEXT: wait up to 10 s until FILE contains TEXT (a
# grep pattern), then fail with FILE's contents if it does not.
wait_for_text() {
    local file=$1 text=$2
    for _ in $(seq 200); do
        grep -q -- "$text" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "expected '$text' in $file within 10 s: $(cat "$file" 2>&1)"
}

# list_hsms_held_at_truncation TOKEN_OBJECT USEC: run `hsm4ssld list-hsms`
# on $SERVER_DATA under strace, which delays it for USEC microseconds
# after SoftHSM2 has truncated TOKEN_OBJECT in C_Login, and wait until
# the delay begins. Sets LIST_HSMS_PID (strace, which waits for
# list-hsms), LIST_HSMS_TID (list-hsms' thread in the delay) and
# LIST_HSMS_OUT.
list_hsms_held_at_truncation() {
    local token_object=$1 usec=$2 trace=$TEST_TMP/list-hsms.strace
    LIST_HSMS_OUT=$TEST_TMP/list-hsms.out
    : >"$trace"
    strace -f -o "$trace" -P "$token_object" -e trace=ftruncate \
        -e inject=ftruncate:delay_exit="$usec":when=1 \
        "$HSM4SSLD" list-hsms --data-dir "$SERVER_DATA" \
        >"$LIST_HSMS_OUT" 2>&1 </dev/null &
    LIST_HSMS_PID=$!
    # shellcheck disable=SC2016 # on_exit evaluates the command at exit
    on_exit "kill $LIST_HSMS_PID 2>/dev/null || true"
    wait_for_text "$trace" DELAYED
    LIST_HSMS_TID=$(awk '/DELAYED/ { print $1; exit }' "$trace")
    assert_eq 0 "$(stat -c %s "$token_object")" \
        "size of $token_object while list-hsms is held after truncating it"
}

# add_spare_hsm: add to $SERVER_DATA/hsm4ssld.json (server stopped) an
# HSM "spare" on the first HSM's module, for a token "spare" not made yet,
# with a policy that lets only initsession reach it.
add_spare_hsm() {
    local config=$SERVER_DATA/hsm4ssld.json
    jq '.hsms += [{name: "spare", module: .hsms[0].module,
                   token_label: "spare", pin_file: "pins/spare.user.pin"}]
        | .policies += [{hsm: "spare", capabilities: ["initsession"],
                         algorithms: [], hash_funcs: []}]' \
        "$config" >"$config.new"
    chmod 0600 "$config.new"
    mv "$config.new" "$config"
}

# ---------------------------------------------------------------------------
# The server

# Print a TCP port in 20000-40000 that no socket on this host listens on.
pick_free_port() {
    local port attempt
    for attempt in $(seq 50); do
        port=$((20000 + RANDOM % 20001))
        if [ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then
            echo "$port"
            return 0
        fi
    done
    fail "no free TCP port found in 20000-40000 after 50 attempts"
}

server_root_cert() {
    echo "$SERVER_DATA/ca/root.crt"
}

# Wait until the server responds to GET /healthz over TLS verified against the
# root in the data directory. Returns 1 if the process exits first, 2 on
# timeout.
_server_wait_ready() {
    local deadline=$((SECONDS + SERVER_START_TIMEOUT)) root
    root=$(server_root_cert)
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        if [ -f "$root" ] &&
           curl -sf --noproxy '*' --max-time 5 --cacert "$root" \
                "https://127.0.0.1:$SERVER_PORT/healthz" 2>/dev/null |
               jq -e '.status == "ok"' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 2
}

# Explain why the server did not become ready and fail.
_server_report_not_ready() {
    local root
    root=$(server_root_cert)
    if [ ! -f "$root" ]; then
        fail "hsm4ssld did not create $root within" \
             "${SERVER_START_TIMEOUT}s"
    fi
    if curl -sfk --noproxy '*' --max-time 5 \
            "https://127.0.0.1:$SERVER_PORT/healthz" >/dev/null 2>&1; then
        fail "hsm4ssld answers /healthz on port $SERVER_PORT, but its" \
             "certificate does not verify against $root for 127.0.0.1:" \
             "$(curl -sS --noproxy '*' --max-time 5 --cacert "$root" \
                     "https://127.0.0.1:$SERVER_PORT/healthz" 2>&1 || true)"
    fi
    fail "hsm4ssld did not answer https://127.0.0.1:$SERVER_PORT/healthz" \
         "within ${SERVER_START_TIMEOUT}s"
}

# server_start [DATA_DIR]
# Start `hsm4ssld serve` on DATA_DIR (default $TEST_TMP/data, created by the
# server) on a free loopback port, with stdout and stderr appended to
# DATA_DIR/../server.log, and wait until /healthz responds. Sets SERVER_PID,
# SERVER_PORT, SERVER_URL, SERVER_DATA and SERVER_LOG, and writes the admin
# bearer header to $TEST_TMP/admin.header for curl -H @FILE. The array
# SERVER_ARGS, when set, adds options such as --threads.
server_start() {
    SERVER_DATA=${1:-$TEST_TMP/data}
    SERVER_LOG=$(dirname "$SERVER_DATA")/server.log
    local attempt log_lines ready
    for attempt in 1 2 3 4 5; do
        [ "$attempt" -gt 1 ] && log_step "port busy, start attempt $attempt"
        SERVER_PORT=$(pick_free_port)
        log_lines=$( (wc -l <"$SERVER_LOG") 2>/dev/null || echo 0)
        "$HSM4SSLD" serve --data-dir "$SERVER_DATA" \
            --listen "127.0.0.1:$SERVER_PORT" \
            ${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"} \
            >>"$SERVER_LOG" 2>&1 </dev/null &
        SERVER_PID=$!
        ready=0
        _server_wait_ready || ready=$?
        if [ "$ready" -eq 0 ]; then
            break
        fi
        if [ "$ready" -eq 2 ]; then
            _server_report_not_ready
        fi
        wait "$SERVER_PID" || SERVER_EXIT=$?
        SERVER_PID=
        # Another process may have taken the port between the check and
        # the bind; anything else is a failure.
        if tail -n "+$((log_lines + 1))" "$SERVER_LOG" |
           grep -qi 'in use'; then
            continue
        fi
        fail "hsm4ssld exited with status ${SERVER_EXIT:-0} while starting" \
             "(see the server log below)"
    done
    [ -n "$SERVER_PID" ] ||
        fail "hsm4ssld could not bind a free port after 5 attempts"

    SERVER_URL=https://127.0.0.1:$SERVER_PORT
    _server_load_admin_token
    log_step "hsm4ssld pid $SERVER_PID serves $SERVER_URL" \
             "(data $SERVER_DATA)"
}

_server_load_admin_token() {
    local token_file=$SERVER_DATA/admin.token token
    [ -s "$token_file" ] ||
        fail "hsm4ssld did not write the admin token to $token_file"
    token=$(tr -d '\r\n' <"$token_file")
    LIB_SECRETS+=("$token")
    (umask 077 && printf 'Authorization: Bearer %s\n' "$token" \
        >"$TEST_TMP/admin.header")
}

admin_token() {
    tr -d '\r\n' <"$SERVER_DATA/admin.token"
}

# server_stop: send SIGTERM and wait up to 30 s. Sets SERVER_EXIT to the
# exit status, or fails after SIGKILL if the server does not stop.
server_stop() {
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID deadline=$((SECONDS + 30))
    SERVER_PID=
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fail "hsm4ssld (pid $pid) did not stop within 30 s of SIGTERM"
    fi
    SERVER_EXIT=0
    wait "$pid" || SERVER_EXIT=$?
}

# server_check_alive: the process runs and /healthz responds.
server_check_alive() {
    if [ -z "$SERVER_PID" ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
        fail "hsm4ssld is not running any more${1:+ after $1}"
    fi
    curl -sf --noproxy '*' --max-time 10 --cacert "$(server_root_cert)" \
        "$SERVER_URL/healthz" >/dev/null ||
        fail "hsm4ssld no longer answers /healthz${1:+ after $1}"
}

# Fail if the server log contains the admin token, an enrolment token or
# a PIN from the data directory.
server_check_log_secrets() {
    local secret pin_file
    local secrets=("${LIB_SECRETS[@]}")
    [ -f "$SERVER_LOG" ] || return 0
    if [ -n "$SERVER_DATA" ] && [ -d "$SERVER_DATA/pins" ]; then
        for pin_file in "$SERVER_DATA"/pins/*; do
            [ -f "$pin_file" ] && secrets+=("$(tr -d '\r\n' <"$pin_file")")
        done
    fi
    for secret in "${secrets[@]}"; do
        [ -n "$secret" ] || continue
        if grep -qF -- "$secret" "$SERVER_LOG"; then
            printf 'FAIL: %s: a secret (%s...) appears in %s\n' \
                   "$TEST_NAME" "${secret:0:4}" "$SERVER_LOG" >&2
            return 1
        fi
    done
}

# Print the root's SHA-256 fingerprint as openssl prints it (AB:CD:...).
root_fingerprint() {
    openssl x509 -in "$(server_root_cert)" -noout -fingerprint -sha256 |
        sed 's/^[^=]*=//'
}

# db_query SQL: run one query on the server's SQLite database.
db_query() {
    sqlite3 -batch -noheader -cmd '.timeout 5000' \
        "$SERVER_DATA/hsm4ssl.db" "$1"
}

db_count() {
    db_query "select count(*) from $1"
}

# ---------------------------------------------------------------------------
# HTTP

# http_call METHOD PATH [CURL_ARGS...]
# Send one request to the server, verifying TLS against its root. Sets
# HTTP_STATUS and HTTP_BODY (also in $HTTP_BODY_FILE). Fails if curl itself
# fails (no connection, TLS error).
http_call() {
    local method=$1 path=$2 curl_err=$TEST_TMP/curl.err
    shift 2
    LAST_REQUEST="$method $path"
    : >"$HTTP_BODY_FILE"
    if ! HTTP_STATUS=$(curl -sS --noproxy '*' --max-time 60 \
            --cacert "$(server_root_cert)" -X "$method" \
            -o "$HTTP_BODY_FILE" -w '%{http_code}' "$@" \
            "$SERVER_URL$path" 2>"$curl_err"); then
        fail "$LAST_REQUEST: curl failed: $(cat "$curl_err")"
    fi
    HTTP_BODY=$(cat "$HTTP_BODY_FILE")
}

# http_json METHOD PATH JSON [CURL_ARGS...]: send JSON as the body.
http_json() {
    local method=$1 path=$2 request=$TEST_TMP/request.json
    printf '%s' "$3" >"$request"
    shift 3
    http_call "$method" "$path" -H 'Content-Type: application/json' \
        --data-binary "@$request" "$@"
}

# admin_json METHOD PATH JSON [CURL_ARGS...]: http_json as the admin.
admin_json() {
    http_json "$@" -H "@$TEST_TMP/admin.header"
}

# admin_get PATH [CURL_ARGS...]
admin_get() {
    local path=$1
    shift
    http_call GET "$path" -H "@$TEST_TMP/admin.header" "$@"
}

# json_get FILTER: apply a jq filter to the last response body (raw output).
json_get() {
    jq -r "$1" <"$HTTP_BODY_FILE" 2>/dev/null ||
        fail "$LAST_REQUEST: the response is not JSON: $HTTP_BODY"
}

# assert_http STATUS [CODE [FIELD_REGEX]]
# The last response has HTTP STATUS and, when given, the error code of the
# contract's error object {"error": {"code", "message", "field"}}, a
# non-empty message, and a field that matches the extended regular
# expression FIELD_REGEX as a whole. An ADCP response from POST /v1/adcp
# carries the error object in "body" instead; both places are read.
assert_http() {
    local want_status=$1 want_code=${2:-} want_field=${3:-} error field
    [ "$HTTP_STATUS" = "$want_status" ] ||
        fail "$LAST_REQUEST: expected HTTP $want_status, got" \
             "$HTTP_STATUS with body: $HTTP_BODY"
    [ -n "$want_code" ] || return 0

    error='(.error // .body.error // {})'
    assert_eq "$want_code" "$(json_get "$error.code // \"(none)\"")" \
        "$LAST_REQUEST: error.code in $HTTP_BODY"
    assert_ne "" "$(json_get "$error.message // \"\"")" \
        "$LAST_REQUEST: error.message"
    if [ -n "$want_field" ]; then
        field=$(json_get "$error.field // \"(none)\"")
        [[ $field =~ ^($want_field)$ ]] ||
            fail "$LAST_REQUEST: error.field: expected '$want_field'," \
                 "got '$field' in $HTTP_BODY"
    fi
}

# ---------------------------------------------------------------------------
# Hosts, CSRs and certificates

# bearer_header NAME TOKEN: write "Authorization: Bearer TOKEN" to a file
# for curl -H @FILE (keeps the token out of the process list) and print
# the file name.
bearer_header() {
    local file=$TEST_TMP/$1.header
    (umask 077 && printf 'Authorization: Bearer %s\n' "$2" >"$file")
    echo "$file"
}

# register_host NAME DNS_NAME IP_ADDRESS
# POST /v1/hosts as the admin; sets HOST_TOKEN to the enrolment token.
register_host() {
    local body
    body=$(jq -cn --arg name "$1" --arg dns "$2" --arg ip "$3" \
        '{name: $name, dns_names: [$dns], ip_addresses: [$ip]}')
    admin_json POST /v1/hosts "$body"
    assert_http 201
    assert_eq "$1" "$(json_get .host.name)" "POST /v1/hosts: host.name"
    HOST_TOKEN=$(json_get '.enrollment_token // ""')
    assert_ne "" "$HOST_TOKEN" "POST /v1/hosts: enrollment_token"
    LIB_SECRETS+=("$HOST_TOKEN")
}

# make_csr NAME SUBJECT [OPENSSL_REQ_ARGS...]
# Create an unencrypted RSA-2048 key and a SHA-256 CSR in $TEST_TMP/csr/.
make_csr() {
    local name=$1 subject=$2
    shift 2
    mkdir -p "$TEST_TMP/csr"
    openssl req -new -newkey rsa:2048 -noenc -sha256 -subj "$subject" \
        -keyout "$TEST_TMP/csr/$name.key" -out "$TEST_TMP/csr/$name.csr" \
        "$@" 2>"$TEST_TMP/csr/$name.err" ||
        fail "openssl req for $name failed: $(cat "$TEST_TMP/csr/$name.err")"
}

# admin_issue_for_host NAME HOST
# The admin issues a certificate for the registered host HOST from a new
# CSR with subject CN=HOST.example.test, made by make_csr NAME. Fails
# unless the status is 201. json_get reads the response.
admin_issue_for_host() {
    make_csr "$1" "/CN=$2.example.test"
    admin_json POST /v1/certificates "$(jq -cn --arg host "$2" \
        --rawfile csr "$TEST_TMP/csr/$1.csr" \
        '{csr_details: {csr: $csr}, host: {name: $host}}')"
    assert_http 201
}

# certificate_request_json CSR_FILE [CSR_FILE_NAME [HASH [DAYS]]]
# Print a POST /v1/certificates body for the CSR in CSR_FILE.
certificate_request_json() {
    jq -cn --rawfile csr "$1" --arg file "${2:-$(basename "$1")}" \
        --arg hash "${3:-sha256}" --argjson days "${4:-365}" \
        '{csr_details: {csr: $csr, csr_file: $file},
          cert_details: {hash_algorithm: $hash, days: $days}}'
}

# cert_text FILE: the certificate or CSR as `openssl x509/req -text`.
cert_text() {
    openssl x509 -in "$1" -noout -text
}

cert_subject() {
    openssl x509 -in "$1" -noout -subject -nameopt RFC2253 |
        sed 's/^subject=//'
}

cert_serial() {
    openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'
}

# ---------------------------------------------------------------------------
# The CLI

# cli ARGS...: run ssleverywhere without a controlling terminal (so it can
# never prompt) and with no standard input. Sets CLI_STATUS, CLI_OUT and
# CLI_ERR; never fails by itself.
cli() {
    CLI_STATUS=0
    setsid -w timeout 120 "$SSLEVERYWHERE" "$@" \
        >"$TEST_TMP/cli.out" 2>"$TEST_TMP/cli.err" </dev/null ||
        CLI_STATUS=$?
    CLI_OUT=$(cat "$TEST_TMP/cli.out")
    CLI_ERR=$(cat "$TEST_TMP/cli.err")
}

# assert_cli_status STATUS WHAT: the last cli call exited with STATUS.
assert_cli_status() {
    [ "$CLI_STATUS" = "$1" ] ||
        fail "$2: ssleverywhere exited with $CLI_STATUS, expected $1;" \
             "stdout: '$CLI_OUT' stderr: '$CLI_ERR'"
}

# ---------------------------------------------------------------------------
# Self-test

# Run directly (lib_assertions.sh does so under CTest), this file checks
# that its assertions pass and fail when they should.
_lib_expect_pass() {
    local what=$1
    shift
    ("$@") >/dev/null 2>&1 || fail "self-test: $what failed, expected a pass"
}

_lib_expect_fail() {
    local what=$1 message
    shift
    if message=$("$@" 2>&1); then
        fail "self-test: $what passed, expected a failure"
    fi
    LIB_LAST_FAILURE=$message
}

_lib_self_test() {
    local file=$TEST_TMP/mode-check
    _lib_expect_pass "assert_eq a a" assert_eq a a same
    _lib_expect_fail "assert_eq a b" assert_eq a b different
    assert_contains "$LIB_LAST_FAILURE" "expected 'a', got 'b'" \
        "self-test: assert_eq message"
    _lib_expect_pass "assert_contains" assert_contains "x-needle-y" needle t
    _lib_expect_fail "assert_contains" assert_contains "x-y" needle t
    _lib_expect_fail "assert_not_contains" assert_not_contains "needle" ee t
    _lib_expect_pass "assert_match" assert_match "abc123" '^[a-c]+[0-9]+$' t
    _lib_expect_fail "assert_match" assert_match "abc" '^[0-9]+$' t

    (umask 077 && : >"$file")
    _lib_expect_pass "assert_file_mode 600" assert_file_mode 600 "$file"
    _lib_expect_fail "assert_file_mode 644" assert_file_mode 644 "$file"
    ln -s "$file" "$file.link"
    _lib_expect_fail "assert_file_mode on a link" \
        assert_file_mode 600 "$file.link"
    _lib_expect_fail "assert_file_mode missing" \
        assert_file_mode 600 "$file.none"

    HTTP_STATUS=400
    LAST_REQUEST="POST /self-test"
    printf '%s' '{"error": {"code": "invalid_field", "message": "m",
        "field": "csr_details.csr"}}' >"$HTTP_BODY_FILE"
    HTTP_BODY=$(cat "$HTTP_BODY_FILE")
    _lib_expect_pass "assert_http match" \
        assert_http 400 invalid_field 'csr_details(\.csr)?'
    _lib_expect_fail "assert_http status" assert_http 401
    _lib_expect_fail "assert_http code" assert_http 400 invalid_json
    _lib_expect_fail "assert_http field" assert_http 400 invalid_field csr
    printf '%s' '{"header": {}, "body": {"status": "error",
        "error": {"code": "unknown_message_type", "message": "m"}}}' \
        >"$HTTP_BODY_FILE"
    _lib_expect_pass "assert_http ADCP body" \
        assert_http 400 unknown_message_type

    local port
    port=$(pick_free_port)
    _lib_expect_pass "pick_free_port range" \
        assert_match "$port" '^(2[0-9]{4}|3[0-9]{4}|40000)$' port
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    _lib_self_test
    pass
fi
