#!/usr/bin/env bash
# The private keys hsm4ssld keeps in its SoftHSM2 token (the root CA key,
# the API's TLS key, and key pairs made with POST /v1/keys) are sensitive
# and never extractable. pkcs11-tool reports them so, reading their secret
# value fails with CKR_ATTRIBUTE_SENSITIVE, and wrapping them fails with
# CKR_KEY_UNEXTRACTABLE. The data directory keeps its secrets private
# (mode 0600 files, 0700 directories), and neither the admin token nor any
# PIN, whether from the data directory or from a request, shows up in the
# server log, the database or a response.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq sqlite3 pkcs11-tool cc
require_binaries hsm4ssld

# Print a member of hsm4ssld.json, failing when it is absent.
config_get() {
    local value
    value=$(jq -r "$1 // empty" "$SERVER_DATA/hsm4ssld.json")
    [ -n "$value" ] ||
        fail "$SERVER_DATA/hsm4ssld.json has no $1"
    echo "$value"
}

# Resolve a path from the configuration against the data directory.
data_path() {
    case "$1" in
        /*) echo "$1" ;;
        *) echo "$SERVER_DATA/$1" ;;
    esac
}

pkcs11() {
    SOFTHSM2_CONF=$SOFTHSM2_CONF_FILE pkcs11-tool --module "$HSM_MODULE" \
        --token-label "$TOKEN_LABEL" --login --pin "$(cat "$PIN_FILE")" "$@"
}

# generate_key TYPE LENGTH LABEL: POST /v1/keys as the admin.
generate_key() {
    local body
    # "label" is a jq keyword: it is quoted as a key and not used as a
    # variable name.
    body=$(jq -cn --arg type "$1" --argjson length "$2" --arg name "$3" \
        '{key_info: {type: $type, length: $length, "label": $name}}')
    admin_json POST /v1/keys "$body"
    assert_http 201
    assert_eq "$3" "$(json_get .label)" "POST /v1/keys $3: label"
    assert_eq "$HSM_NAME" "$(json_get .hsm)" "POST /v1/keys $3: hsm"
    json_get .public_key >"$TEST_TMP/$3.pub.pem"
    openssl pkey -pubin -in "$TEST_TMP/$3.pub.pem" -noout ||
        fail "POST /v1/keys $3: public_key is not a PEM public key"
    assert_eq "" "$(json_get '.private_key // ""')" \
        "POST /v1/keys $3: no private key in the response"
}

# ---------------------------------------------------------------------------

server_start

HSM_NAME=$(config_get '.hsms[0].name')
HSM_MODULE=$(config_get '.hsms[0].module')
TOKEN_LABEL=$(config_get '.hsms[0].token_label')
PIN_FILE=$(data_path "$(config_get '.hsms[0].pin_file')")
SOFTHSM2_CONF_FILE=$(data_path "$(config_get '.env.SOFTHSM2_CONF')")
CA_KEY_LABEL=$(config_get '.ca.key_label')
TLS_KEY_LABEL=$(config_get '.api_tls.key_label')
assert_file_exists "$PIN_FILE"
assert_file_exists "$SOFTHSM2_CONF_FILE"
log_step "HSM $HSM_NAME: token '$TOKEN_LABEL' through $HSM_MODULE"

log_step "key pairs generated through the API"
generate_key rsa 2048 itest-rsa
generate_key ec 256 itest-ec

log_step "pkcs11-tool --list-objects"
pkcs11 --list-objects --type privkey >"$TEST_TMP/objects.txt" 2>&1 ||
    fail "pkcs11-tool --list-objects failed: $(cat "$TEST_TMP/objects.txt")"
labels=()
while IFS= read -r label; do
    labels+=("$label")
done < <(sed -n 's/^ *label: *//p' "$TEST_TMP/objects.txt")
for want in "$CA_KEY_LABEL" "$TLS_KEY_LABEL" itest-rsa itest-ec; do
    assert_contains " ${labels[*]} " " $want " \
        "private keys on token $TOKEN_LABEL"
done
access_lines=$(grep -c '^ *Access:' "$TEST_TMP/objects.txt" || true)
assert_eq "${#labels[@]}" "$access_lines" \
    "pkcs11-tool: one Access line per private key"
never=$(grep -c '^ *Access: *sensitive, always sensitive, never extractable' \
            "$TEST_TMP/objects.txt" || true)
assert_eq "${#labels[@]}" "$never" \
    "private keys that are sensitive and never extractable, in:
$(cat "$TEST_TMP/objects.txt")"

log_step "reading and wrapping the private keys"
cc -std=c11 -Wall -Wextra -I/usr/include/p11-kit-1 \
    -o "$TEST_TMP/p11_probe" "$TEST_DATA_DIR/p11_probe.c" -ldl ||
    fail "cannot compile $TEST_DATA_DIR/p11_probe.c"
SOFTHSM2_CONF=$SOFTHSM2_CONF_FILE "$TEST_TMP/p11_probe" "$HSM_MODULE" \
    "$TOKEN_LABEL" "$PIN_FILE" >"$TEST_TMP/probe.txt" ||
    fail "p11_probe failed: $(cat "$TEST_TMP/probe.txt")"
probed=0
while IFS= read -r line; do
    case "$line" in
        key\ *)
            probed=$((probed + 1))
            for want in sensitive=1 extractable=0 always_sensitive=1 \
                        never_extractable=1 read=CKR_ATTRIBUTE_SENSITIVE \
                        wrap=CKR_KEY_UNEXTRACTABLE; do
                assert_contains "$line " "$want " "p11_probe"
            done
            ;;
        control\ *)
            # The probe's own readable key proves that a key whose value
            # can leave the token would be caught.
            assert_contains "$line" "read=CKR_OK" "p11_probe control key"
            assert_contains "$line" "wrap=CKR_OK" "p11_probe control key"
            ;;
    esac
done <"$TEST_TMP/probe.txt"
assert_eq "${#labels[@]}" "$probed" "private keys probed"
grep -q '^control ' "$TEST_TMP/probe.txt" ||
    fail "p11_probe printed no control line: $(cat "$TEST_TMP/probe.txt")"

log_step "data directory permissions"
assert_file_mode 700 "$SERVER_DATA"
assert_file_mode 600 "$SERVER_DATA/admin.token"
assert_file_mode 700 "$SERVER_DATA/pins"
for pin in "$SERVER_DATA"/pins/*; do
    assert_file_mode 600 "$pin"
done
assert_file_mode 600 "$SERVER_DATA/hsm4ssl.db"
for journal in "$SERVER_DATA"/hsm4ssl.db-wal "$SERVER_DATA"/hsm4ssl.db-shm; do
    [ ! -e "$journal" ] || assert_file_mode 600 "$journal"
done
open_files=$(find "$(dirname "$SOFTHSM2_CONF_FILE")/tokens" \
                 -perm /o=rwx 2>/dev/null || true)
assert_eq "" "$open_files" "token files that other users can access"

log_step "PINs in a request stay secret"
SO_PIN=itest-so-$RANDOM$RANDOM$RANDOM
USER_PIN=itest-user-$RANDOM$RANDOM$RANDOM
LIB_SECRETS+=("$SO_PIN" "$USER_PIN")
TOKEN_BODY=$(jq -cn --arg hsm "$HSM_NAME" --arg token "$TOKEN_LABEL" \
    --arg so "$SO_PIN" --arg user "$USER_PIN" \
    '{hsm: $hsm, session_label: $token,
      credentials: {admin_pin: $so, user_pin: $user}}')
admin_json POST /v1/tokens "$TOKEN_BODY"
# The token is in use, so the request may fail; what matters here is
# where the PINs end up.
log_step "POST /v1/tokens on the token in use: HTTP $HTTP_STATUS"
assert_not_contains "$HTTP_BODY" "$SO_PIN" "POST /v1/tokens response"
assert_not_contains "$HTTP_BODY" "$USER_PIN" "POST /v1/tokens response"
# A failed login must not log the token it tried either.
http_json POST /v1/hosts '{"name": "x"}' \
    -H "@$(bearer_header wrong "wrong-$(admin_token)")"
assert_http 401 unauthenticated

log_step "no secret in the log or the database"
secrets=("$(admin_token)" "$SO_PIN" "$USER_PIN")
for pin in "$SERVER_DATA"/pins/*; do
    secrets+=("$(tr -d '\r\n' <"$pin")")
done
db_query .dump >"$TEST_TMP/db.dump"
for secret in "${secrets[@]}"; do
    if grep -qF -- "$secret" "$SERVER_LOG"; then
        fail "a secret (${secret:0:4}...) appears in $SERVER_LOG"
    fi
    if grep -qF -- "$secret" "$TEST_TMP/db.dump"; then
        fail "a secret (${secret:0:4}...) appears in hsm4ssl.db"
    fi
done

pass
