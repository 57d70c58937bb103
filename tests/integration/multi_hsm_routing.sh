#!/usr/bin/env bash
# Routing between several HSMs by the assignment policy set, through the
# real server. Four SoftHSM2 tokens share the data directory's token store:
#   softhsm  the CA key; certificate_gen with rsa and sha256 (md5 is listed
#            too, as old policy sets do, and must be rejected when used)
#   hsm-rsa  keypairgen with rsa only
#   hsm-ec   keypairgen with ecc only
#   spare    not initialised; initsession only
# Each request must land on an HSM that may serve it (the response and the
# audit log name it), and a request no HSM may serve gets a clear 503.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq sqlite3 softhsm2-util
require_binaries hsm4ssld

SPARE_SO_PIN=spare-so-pin-2718
SPARE_USER_PIN=spare-user-pin-3141
LIB_SECRETS+=("$SPARE_SO_PIN" "$SPARE_USER_PIN")

# init_token LABEL HSM: initialise a token in the data directory's store and
# write its user PIN file.
init_token() {
    local label=$1 hsm=$2 pin
    pin=$(openssl rand -hex 12)
    LIB_SECRETS+=("$pin")
    SOFTHSM2_CONF=$SERVER_DATA/softhsm2.conf softhsm2-util --init-token \
        --free --label "$label" --so-pin "$(openssl rand -hex 12)" \
        --pin "$pin" >/dev/null ||
        fail "softhsm2-util could not initialise token $label"
    (umask 077 && printf '%s\n' "$pin" >"$SERVER_DATA/pins/$hsm.user.pin")
}

# configure_hsms: add the three HSMs and replace the policy set.
configure_hsms() {
    local config=$SERVER_DATA/hsm4ssld.json module
    module=$(jq -r '.hsms[0].module' "$config")
    jq --arg mod "$module" '
      .hsms += [
        {name: "hsm-rsa", "module": $mod, token_label: "rsa-only",
         pin_file: "pins/hsm-rsa.user.pin"},
        {name: "hsm-ec", "module": $mod, token_label: "ec-only",
         pin_file: "pins/hsm-ec.user.pin"},
        {name: "spare", "module": $mod, token_label: "spare",
         pin_file: "pins/spare.user.pin"}]
      | .policies = [
        {hsm: "softhsm",
         capabilities: ["certificate_gen", "certificate_get", "ca_get",
                        "host_register"],
         algorithms: ["rsa"], hash_funcs: ["sha256", "md5"]},
        {hsm: "hsm-rsa", capabilities: ["keypairgen"],
         algorithms: ["rsa"], hash_funcs: []},
        {hsm: "hsm-ec", capabilities: ["keypairgen"],
         algorithms: ["ecc"], hash_funcs: []},
        {hsm: "spare", capabilities: ["initsession"],
         algorithms: [], hash_funcs: []}]' \
        "$config" >"$config.new"
    chmod 0600 "$config.new"
    mv "$config.new" "$config"
}

# keypairgen TYPE LENGTH LABEL: POST /v1/keys as the admin.
keypairgen() {
    admin_json POST /v1/keys "$(jq -cn --arg type "$1" \
        --argjson length "$2" --arg name "$3" \
        '{key_info: {type: $type, length: $length, "label": $name}}')"
}

# audit_response_hsm SQL_WHERE: the dest_hsm_name of the newest
# audit entry matching SQL_WHERE. The server queues audit entries and
# commits them with the next batch, so the newest one may take a moment.
audit_response_hsm() {
    local row
    for _ in $(seq 50); do
        row=$(db_query "select json from audit_log where $1
            order by seq desc limit 1")
        if [ -n "$row" ]; then
            jq -r '.header.dest_hsm_name' <<<"$row"
            return 0
        fi
        sleep 0.1
    done
    fail "no audit entry where $1"
}

# audit_hsm_of_key KEY_LABEL: the HSM that the audit log records for the
# keypairgen response that made KEY_LABEL.
audit_hsm_of_key() {
    local id
    id=$(db_query "select message_id from audit_log where
        direction = 'request' and message_type = 'keypairgen' and
        json like '%\"label\":\"$1\"%'")
    [ -n "$id" ] || fail "no keypairgen request for $1 in the audit log"
    audit_response_hsm "direction = 'response' and message_id = '$id'"
}

log_step "set up four tokens in one SoftHSM2 store"
server_start
server_stop
init_token rsa-only hsm-rsa
init_token ec-only hsm-ec
configure_hsms
"$HSM4SSLD" check-config --data-dir "$SERVER_DATA" >"$TEST_TMP/check.out" ||
    fail "check-config rejected the test configuration: $(cat "$TEST_TMP/check.out")"
server_start "$SERVER_DATA"

log_step "keypairgen with rsa lands on hsm-rsa, every time"
for i in 1 2 3; do
    keypairgen rsa 2048 "rsa-key-$i"
    assert_http 201
    assert_eq hsm-rsa "$(json_get .hsm)" "rsa-key-$i: response hsm"
    assert_eq hsm-rsa "$(audit_hsm_of_key "rsa-key-$i")" \
        "rsa-key-$i: dest_hsm_name in the audit log"
done
assert_eq hsm-rsa "$(db_query "select hsm from keys where label = 'rsa-key-1'")" \
    "keys table: HSM of rsa-key-1"

log_step "keypairgen with ec lands on hsm-ec"
keypairgen ec 256 ec-key-1
assert_http 201
assert_eq hsm-ec "$(json_get .hsm)" "ec-key-1: response hsm"
assert_contains "$(json_get .public_key)" "BEGIN PUBLIC KEY" \
    "ec-key-1: public key"
assert_eq hsm-ec "$(audit_hsm_of_key ec-key-1)" \
    "ec-key-1: dest_hsm_name in the audit log"

log_step "certificate_gen with sha256 lands on the CA's HSM"
register_host web web.example.test 127.0.0.1
make_csr web /CN=web
certs_before=$(db_count certificates)
admin_json POST /v1/certificates "$(certificate_request_json \
    "$TEST_TMP/csr/web.csr" web.csr sha256 | jq -c '. + {host: "web"}')"
assert_http 201
assert_eq softhsm "$(json_get .hsm)" "certificate_gen: response hsm"

log_step "certificate_gen with sha512: no HSM may serve it"
admin_json POST /v1/certificates "$(certificate_request_json \
    "$TEST_TMP/csr/web.csr" web.csr sha512 | jq -c '. + {host: "web"}')"
assert_http 503 no_hsm_available
assert_contains "$(json_get .error.message)" sha512 \
    "the refusal names the hash"
assert_eq "$((certs_before + 1))" "$(db_count certificates)" \
    "certificates stored after the refusal"

log_step "a weak hash listed in the policy set is rejected when used"
admin_json POST /v1/certificates "$(certificate_request_json \
    "$TEST_TMP/csr/web.csr" web.csr md5 | jq -c '. + {host: "web"}')"
assert_http 400 weak_algorithm
assert_eq "$((certs_before + 1))" "$(db_count certificates)" \
    "certificates stored after the md5 request"

log_step "initsession is refused on an HSM whose policy lacks it"
admin_json POST /v1/tokens "$(jq -cn --arg so "$SPARE_SO_PIN" \
    --arg user "$SPARE_USER_PIN" '{hsm: "hsm-rsa", session_label:
    "rsa-only", credentials: {admin_pin: $so, user_pin: $user}}')"
assert_http 503 no_hsm_available hsm

log_step "initsession initialises the spare token"
admin_json POST /v1/tokens "$(jq -cn --arg so "$SPARE_SO_PIN" \
    --arg user "$SPARE_USER_PIN" '{hsm: "spare", session_label: "spare",
    credentials: {admin_pin: $so, user_pin: $user}}')"
assert_http 200
assert_eq true "$(json_get .initialized)" "initsession: initialized"
assert_file_mode 600 "$SERVER_DATA/pins/spare.user.pin"
assert_eq "$SPARE_USER_PIN" "$(tr -d '\n' <"$SERVER_DATA/pins/spare.user.pin")" \
    "the spare token's PIN file"
assert_eq spare "$(audit_response_hsm "direction = 'response' and
    message_type = 'initsession'")" \
    "initsession: dest_hsm_name in the audit log"

log_step "initialising it again is a conflict, not a wipe"
admin_json POST /v1/tokens "$(jq -cn --arg so "$SPARE_SO_PIN" \
    --arg user "$SPARE_USER_PIN" '{hsm: "spare", session_label: "spare",
    credentials: {admin_pin: $so, user_pin: $user}}')"
assert_http 409 conflict hsm
server_check_log_secrets || fail "a secret appeared in the server log"

log_step "after a stop the audit log has every entry and no PIN"
server_stop
assert_ne 0 "$(db_query "select count(*) from audit_log where
    message_type = 'initsession'")" "initsession entries in the audit log"
assert_eq 0 "$(db_query "select count(*) from audit_log where
    json like '%$SPARE_SO_PIN%' or json like '%$SPARE_USER_PIN%'")" \
    "audit log entries with a PIN in them"

log_step "after a restart the spare token is up with its stored PIN"
"$HSM4SSLD" list-hsms --data-dir "$SERVER_DATA" >"$TEST_TMP/hsms.out" 2>&1 ||
    fail "list-hsms failed: $(cat "$TEST_TMP/hsms.out")"
assert_match "$(grep '^spare ' "$TEST_TMP/hsms.out")" '^spare +up ' \
    "list-hsms: spare"
assert_match "$(grep '^hsm-ec ' "$TEST_TMP/hsms.out")" '^hsm-ec +up ' \
    "list-hsms: hsm-ec"

pass
