#!/usr/bin/env bash
# A network HSM: a SoftHSM2 token served by `p11-kit server` over a Unix
# socket and reached through p11-kit's client module, as a remote HSM
# would be. hsm4ssld sets P11_KIT_SERVER_ADDRESS from its configuration's
# env, as an address rather than a path in the data directory, and logs
# the value of a variable named like a secret as ***. It treats
# the HSM as a network HSM (four handler threads per core) and routes key
# pair generation to it by the policy set. Certificates are still signed
# with the CA key of its local token.
source "$(dirname "$0")/lib.sh"

require_commands p11-kit softhsm2-util pkcs11-tool jq curl openssl
require_binaries hsm4ssld

CLIENT_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -f "$CLIENT_MODULE" ] ||
    fail "$CLIENT_MODULE is missing; install p11-kit-modules"

log_step "a remote token behind p11-kit server"
REMOTE=$TEST_TMP/remote
mkdir -p "$REMOTE/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' \
    "$REMOTE" >"$REMOTE/softhsm2.conf"
printf 'log.level = ERROR\n' >>"$REMOTE/softhsm2.conf"
SOFTHSM2_CONF=$REMOTE/softhsm2.conf softhsm2-util --init-token --free \
    --label remote --so-pin 5678 --pin 1234 >"$REMOTE/init.log" 2>&1 ||
    fail "softhsm2-util --init-token failed: $(cat "$REMOTE/init.log")"
SOCKET=$TEST_TMP/p11kit.sock
SOFTHSM2_CONF=$REMOTE/softhsm2.conf p11-kit server -f -n "$SOCKET" \
    --provider "$SOFTHSM_MODULE" "pkcs11:token=remote" \
    >"$TEST_TMP/p11kit.log" 2>&1 &
P11KIT_PID=$!
on_exit "kill $P11KIT_PID 2>/dev/null || true"
for _ in $(seq 100); do
    [ -S "$SOCKET" ] && break
    sleep 0.05
done
[ -S "$SOCKET" ] ||
    fail "p11-kit server did not open $SOCKET: $(cat "$TEST_TMP/p11kit.log")"

log_step "configure it as the HSM for key pair generation"
server_start
server_stop
(umask 077 && printf '1234\n' >"$SERVER_DATA/pins/remote.user.pin")
CONFIG=$SERVER_DATA/hsm4ssld.json
jq --arg client "$CLIENT_MODULE" --arg address "unix:path=$SOCKET" '
  .env.P11_KIT_SERVER_ADDRESS = $address
  | .env.HSM4SSL_TEST_VENDOR_PIN = "env-pin-4711"
  | .hsms += [{name: "remote", module: $client, token_label: "remote",
               pin_file: "pins/remote.user.pin"}]
  | (.policies[] | select(.hsm == "softhsm") | .capabilities) -=
        ["keypairgen"]
  | .policies += [{hsm: "remote", capabilities: ["keypairgen"],
                   algorithms: ["rsa", "ecc"], hash_funcs: []}]' \
    "$CONFIG" >"$CONFIG.new"
chmod 0600 "$CONFIG.new"
mv "$CONFIG.new" "$CONFIG"
: >"$SERVER_LOG"
server_start "$SERVER_DATA"
assert_contains "$(cat "$SERVER_LOG")" \
    "set P11_KIT_SERVER_ADDRESS=unix:path=$SOCKET" \
    "the server log: the address is used as given"
assert_contains "$(cat "$SERVER_LOG")" "set HSM4SSL_TEST_VENDOR_PIN=***" \
    "the server log: a variable named like a PIN is set, its value masked"
LIB_SECRETS+=(env-pin-4711)
cores=$(nproc)
if [ "$cores" -le 16 ]; then
    assert_contains "$(cat "$SERVER_LOG")" \
        "$((4 * cores)) handler threads" \
        "the server log: four handler threads per core for a network HSM"
fi

log_step "key pairs are generated in the remote token"
for spec in "rsa 2048 net-rsa" "ec 256 net-ec"; do
    read -r type length label <<<"$spec"
    admin_json POST /v1/keys "$(jq -cn --arg type "$type" \
        --argjson length "$length" --arg name "$label" \
        '{key_info: {type: $type, length: $length, label: $name}}')"
    assert_http 201
    assert_eq remote "$(json_get .hsm)" "POST /v1/keys $label: hsm"
done
objects=$(SOFTHSM2_CONF=$REMOTE/softhsm2.conf pkcs11-tool \
    --module "$SOFTHSM_MODULE" --token-label remote --login --pin 1234 \
    --list-objects --type privkey 2>&1) ||
    fail "pkcs11-tool --list-objects on the remote token failed: $objects"
assert_contains "$objects" "net-rsa" "private keys in the remote token"
assert_contains "$objects" "net-ec" "private keys in the remote token"

log_step "certificates are still signed with the local CA key"
register_host web web.example.test 10.0.0.7
admin_issue_for_host web web
SERIAL=$(json_get .serial)
assert_eq softhsm "$(db_query "select hsm from certificates
                              where serial = '$SERIAL'")" \
    "the HSM that signed certificate $SERIAL"
server_stop
pass
