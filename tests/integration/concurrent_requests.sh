#!/usr/bin/env bash
# Requests that race each other through the real server's worker threads:
#   - certificates for one host that store the same csr_file at once must
#     all be issued, and the stored CSR must be one of them, whole;
#   - one enrolment token sent in several requests at once yields exactly
#     one certificate;
#   - key pairs with one label requested at once yield exactly one key;
#   - one uninitialised token initialised by several requests at once is
#     initialised once, with the PIN that its PIN file then holds.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq
require_binaries hsm4ssld

PARALLEL=8

# post_parallel NAME HEADER_FILE PATH BODY_FILE...: POST each body at once
# and wait; $TEST_TMP/NAME.N.code and .body hold each response.
post_parallel() {
    local name=$1 header=$2 path=$3 i=0 body
    shift 3
    local pids=()
    for body in "$@"; do
        i=$((i + 1))
        curl -sS --noproxy '*' --max-time 120 --cacert "$(server_root_cert)" \
            -H "@$header" -H 'Content-Type: application/json' \
            --data-binary "@$body" -o "$TEST_TMP/$name.$i.body" \
            -w '%{http_code}' "$SERVER_URL$path" \
            >"$TEST_TMP/$name.$i.code" 2>"$TEST_TMP/$name.$i.err" &
        pids+=("$!")
    done
    for i in "${pids[@]}"; do
        wait "$i" || fail "$name: curl failed: $(cat "$TEST_TMP"/$name.*.err)"
    done
}

# count_codes NAME CODE: how many responses of post_parallel NAME had CODE.
count_codes() {
    grep -lx "$2" "$TEST_TMP/$1".*.code 2>/dev/null | wc -l
}

server_start

log_step "certificates that store the same csr_file at once"
register_host web web.example.test 127.0.0.1
ENROLL_TOKEN=$HOST_TOKEN
BODIES=()
for i in $(seq "$PARALLEL"); do
    make_csr "web$i" /CN=web.example.test
    jq -cn --rawfile csr "$TEST_TMP/csr/web$i.csr" \
        '{host: {name: "web"}, csr_details: {csr: $csr, csr_file: "web.csr"},
          cert_details: {hash_algorithm: "sha256", days: 30}}' \
        >"$TEST_TMP/admin$i.json"
    BODIES+=("$TEST_TMP/admin$i.json")
done
post_parallel admin "$TEST_TMP/admin.header" /v1/certificates "${BODIES[@]}"
for i in $(seq "$PARALLEL"); do
    assert_eq 201 "$(cat "$TEST_TMP/admin.$i.code")" \
        "POST /v1/certificates $i of $PARALLEL: $(cat "$TEST_TMP/admin.$i.body")"
done
STORED=$SERVER_DATA/csr/web/web.csr
assert_file_mode 600 "$STORED"
MATCHED=0
for i in $(seq "$PARALLEL"); do
    cmp -s "$STORED" "$TEST_TMP/csr/web$i.csr" && MATCHED=$((MATCHED + 1))
done
assert_eq 1 "$MATCHED" "submitted CSRs equal to the stored $STORED"
assert_eq "web.csr" "$(ls -A "$SERVER_DATA/csr/web")" \
    "files in $SERVER_DATA/csr/web after the requests"

log_step "one enrolment token in several requests at once"
ENROLL_HEADER=$(bearer_header enroll "$ENROLL_TOKEN")
BODIES=()
for i in $(seq "$PARALLEL"); do
    certificate_request_json "$TEST_TMP/csr/web$i.csr" "enroll$i.csr" \
        >"$TEST_TMP/enroll$i.json"
    BODIES+=("$TEST_TMP/enroll$i.json")
done
post_parallel enroll "$ENROLL_HEADER" /v1/certificates "${BODIES[@]}"
assert_eq 1 "$(count_codes enroll 201)" \
    "certificates issued for one enrolment token"
assert_eq $((PARALLEL - 1)) "$(count_codes enroll 401)" \
    "requests rejected with 401 for the used enrolment token"

log_step "key pairs with one label at once"
BODIES=()
for i in $(seq "$PARALLEL"); do
    printf '%s' '{"key_info": {"type": "ec", "length": 256, "label": "same"}}' \
        >"$TEST_TMP/key$i.json"
    BODIES+=("$TEST_TMP/key$i.json")
done
post_parallel key "$TEST_TMP/admin.header" /v1/keys "${BODIES[@]}"
assert_eq 1 "$(count_codes key 201)" "key pairs created for label same"
assert_eq $((PARALLEL - 1)) "$(count_codes key 409)" \
    "requests rejected with 409 for label same"

server_check_alive "the parallel requests"

log_step "one uninitialised token initialised by several requests at once"
server_stop
add_spare_hsm
server_start "$SERVER_DATA"
BODIES=()
for i in $(seq "$PARALLEL"); do
    PIN=spare-user-pin-$i
    LIB_SECRETS+=("$PIN")
    jq -cn --arg user "$PIN" '{hsm: "spare", session_label: "spare",
        credentials: {admin_pin: "spare-so-pin-0000", user_pin: $user}}' \
        >"$TEST_TMP/token$i.json"
    BODIES+=("$TEST_TMP/token$i.json")
done
LIB_SECRETS+=(spare-so-pin-0000)
post_parallel token "$TEST_TMP/admin.header" /v1/tokens "${BODIES[@]}"
assert_eq 1 "$(count_codes token 200)" "initsession requests that succeeded"
assert_eq $((PARALLEL - 1)) "$(count_codes token 409)" \
    "initsession requests rejected with 409"
WINNER=$(grep -lx 200 "$TEST_TMP"/token.*.code)
WINNER=${WINNER%.code}
WINNER=${WINNER##*.}
assert_eq "spare-user-pin-$WINNER" \
    "$(tr -d '\n' <"$SERVER_DATA/pins/spare.user.pin")" \
    "the PIN file after the initsession of request $WINNER"
server_stop
"$HSM4SSLD" list-hsms --data-dir "$SERVER_DATA" >"$TEST_TMP/hsms.out" 2>&1 ||
    fail "list-hsms failed: $(cat "$TEST_TMP/hsms.out")"
assert_match "$(grep '^spare ' "$TEST_TMP/hsms.out")" '^spare +up ' \
    "the spare HSM logs in with its PIN file after a restart"
pass
