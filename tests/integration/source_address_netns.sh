#!/usr/bin/env bash
# The ADCP header records where a request came from. hsm4ssld runs in one
# network namespace and curl in another, joined by a veth pair, so the
# server gets the client's address from the socket and, on that shared
# link, its MAC address from the neighbour table. A request from the server's own address has no neighbour
# entry, so its MAC address stays empty. The audit log's request and
# response carry the same header.
#
# Needs root for `ip netns`; skips (77) without it. 198.18.0.1/30 and
# 198.18.0.2/30 come from the benchmarking range and exist only inside
# the two namespaces this test creates.
source "$(dirname "$0")/lib.sh"

require_commands ip openssl curl jq sqlite3
require_binaries hsm4ssld

SRV_IP=198.18.0.1
CLI_IP=198.18.0.2
NS_SRV=hsm4ssl-srv-$$
NS_CLI=hsm4ssl-cli-$$
# Interface names are limited to 15 characters.
VETH_SRV=h4sv$$
VETH_CLI=h4cl$$

netns_delete() {
    ip netns del "$NS_SRV" 2>/dev/null || true
    ip netns del "$NS_CLI" 2>/dev/null || true
}

netns_create() {
    [ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
    if ! ip netns add "$NS_SRV" 2>"$TEST_TMP/netns.err"; then
        skip "ip netns add is not allowed here: $(cat "$TEST_TMP/netns.err")"
    fi
    on_exit netns_delete
    ip netns add "$NS_CLI"
    ip link add "$VETH_SRV" type veth peer name "$VETH_CLI"
    ip link set "$VETH_SRV" netns "$NS_SRV"
    ip link set "$VETH_CLI" netns "$NS_CLI"
    ip -n "$NS_SRV" addr add "$SRV_IP/30" dev "$VETH_SRV"
    ip -n "$NS_CLI" addr add "$CLI_IP/30" dev "$VETH_CLI"
    ip -n "$NS_SRV" link set lo up
    ip -n "$NS_CLI" link set lo up
    ip -n "$NS_SRV" link set "$VETH_SRV" up
    ip -n "$NS_CLI" link set "$VETH_CLI" up
}

# in_ns_curl NAMESPACE PATH [CURL_ARGS...]: a request from NAMESPACE to
# the server, verified against its root. Sets HTTP_STATUS and HTTP_BODY.
in_ns_curl() {
    local ns=$1 path=$2
    shift 2
    LAST_REQUEST="$path from $ns"
    HTTP_STATUS=$(ip netns exec "$ns" curl -sS --noproxy '*' --max-time 30 \
        --cacert "$SERVER_DATA/ca/root.crt" -o "$HTTP_BODY_FILE" \
        -w '%{http_code}' "$@" "$SERVER_URL$path") ||
        fail "$LAST_REQUEST: curl failed"
    HTTP_BODY=$(cat "$HTTP_BODY_FILE")
}

# Start hsm4ssld inside NS_SRV; its API certificate names SRV_IP.
server_start_in_ns() {
    SERVER_DATA=$TEST_TMP/data
    SERVER_LOG=$TEST_TMP/server.log
    SERVER_PORT=$(pick_free_port)
    SERVER_URL=https://$SRV_IP:$SERVER_PORT
    ip netns exec "$NS_SRV" "$HSM4SSLD" serve --data-dir "$SERVER_DATA" \
        --listen "$SRV_IP:$SERVER_PORT" --api-ip "$SRV_IP" \
        >>"$SERVER_LOG" 2>&1 </dev/null &
    SERVER_PID=$!
    for _ in $(seq 300); do
        kill -0 "$SERVER_PID" 2>/dev/null ||
            fail "hsm4ssld exited while starting"
        if [ -f "$SERVER_DATA/ca/root.crt" ] &&
           ip netns exec "$NS_CLI" curl -sf --noproxy '*' --max-time 5 \
               --cacert "$SERVER_DATA/ca/root.crt" \
               "$SERVER_URL/healthz" >/dev/null 2>&1; then
            _server_load_admin_token
            return 0
        fi
        sleep 0.2
    done
    fail "hsm4ssld in $NS_SRV did not answer $SERVER_URL/healthz in 60 s"
}

# audit_header MESSAGE_ID DIRECTION MEMBER: one header member of an
# audit log entry.
audit_header() {
    db_query "select json from audit_log where message_id = '$1'
              and direction = '$2'" | jq -r ".header.$3"
}

# register NAMESPACE NAME: POST /v1/hosts from NAMESPACE; prints the
# message_id of the response.
register() {
    local body
    body=$(jq -cn --arg name "$2" '{name: $name}')
    in_ns_curl "$1" /v1/hosts -H "@$TEST_TMP/admin.header" \
        -H 'Content-Type: application/json' --data-binary "$body"
    assert_http 201
    json_get .message_id
}

netns_create
server_start_in_ns

log_step "a request over the veth link records the peer's IP and MAC"
CLI_MAC=$(ip -n "$NS_CLI" -j link show dev "$VETH_CLI" | jq -r '.[0].address')
assert_match "$CLI_MAC" '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' "MAC of $VETH_CLI"
id=$(register "$NS_CLI" remote)
for direction in request response; do
    assert_eq "$CLI_IP" "$(audit_header "$id" "$direction" source_ip_address)" \
        "$direction $id: source_ip_address"
    assert_eq "$CLI_MAC" \
        "$(audit_header "$id" "$direction" source_mac_address)" \
        "$direction $id: source_mac_address"
    assert_match "$(audit_header "$id" "$direction" timestamp)" \
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$' \
        "$direction $id: timestamp"
done

log_step "a request from the server's own address has no MAC"
id=$(register "$NS_SRV" local)
assert_eq "$SRV_IP" "$(audit_header "$id" request source_ip_address)" \
    "request $id: source_ip_address"
assert_eq "" "$(audit_header "$id" request source_mac_address)" \
    "request $id: source_mac_address"

pass
