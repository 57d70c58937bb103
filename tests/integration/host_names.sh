#!/usr/bin/env bash
# POST /v1/hosts rejects names that no certificate should carry: an IP
# address given as a DNS name, addresses that name no single host
# (unspecified, broadcast, multicast), and IPv4-mapped IPv6 addresses,
# which would let one IPv4 address belong to two hosts. Each rejection is
# a 400 invalid_field on the list entry with a message that quotes the
# value, the stored hosts stay as they were, and the server keeps serving.
# Issuance then matches CSR IP SANs against the canonical addresses stored.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq sqlite3
require_binaries hsm4ssld

HOST=bench1
HOST_DNS=bench1.example.test
# RFC 2544 benchmarking range: only ever a string in a certificate here.
HOST_IP=198.18.0.1

# ---------------------------------------------------------------------------

# Print the hosts and every stored name, one line.
hosts_snapshot() {
    db_query "select h.name || ' ' || n.kind || ' ' || n.value
              from hosts h left join host_names n on n.host_id = h.id
              order by h.id, n.kind, n.value" | tr '\n' ';'
}

# expect_invalid WHAT FIELD_REGEX VALUE [TEXT...]
# The last response is 400 invalid_field on FIELD_REGEX, its message
# quotes VALUE and contains each TEXT, the server responds to /healthz and
# no host or name was stored.
expect_invalid() {
    local what=$1 field=$2 value=$3 message text
    shift 3
    LAST_REQUEST="$what ($LAST_REQUEST)"
    assert_http 400 invalid_field "$field"
    message=$(json_get '(.error // .body.error).message')
    assert_contains "$message" "\"$value\"" "$what: message quotes the value"
    for text in "$@"; do
        assert_contains "$message" "$text" "$what: message"
    done
    server_check_alive "$what"
    assert_eq "$SNAPSHOT" "$(hosts_snapshot)" "$what: stored hosts"
    log_step "rejected as expected: $what"
}

# post_host NAME DNS_JSON_ARRAY IP_JSON_ARRAY
post_host() {
    admin_json POST /v1/hosts "$(jq -cn --arg name "$1" \
        --argjson dns "$2" --argjson ips "$3" \
        '{name: $name, dns_names: $dns, ip_addresses: $ips}')"
}

# post_csr TOKEN_HEADER_FILE CSR_NAME
post_csr() {
    http_json POST /v1/certificates \
        "$(certificate_request_json "$TEST_TMP/csr/$2.csr" "$2.csr")" \
        -H "@$1"
}

# ---------------------------------------------------------------------------

server_start
register_host "$HOST" "$HOST_DNS" "$HOST_IP"
HOST_HEADER=$(bearer_header bench1 "$HOST_TOKEN")
SNAPSHOT=$(hosts_snapshot)
log_step "stored before the bad requests: $SNAPSHOT"

log_step "IP addresses given as DNS names"
post_host n1 '["127.0.0.5"]' '[]'
expect_invalid "DNS name 127.0.0.5" 'dns_names\[0\]' 127.0.0.5 \
    ip_addresses
post_host n2 '["ok.example.test", "2001:db8::5"]' '[]'
expect_invalid "DNS name 2001:db8::5" 'dns_names\[1\]' 2001:db8::5 \
    ip_addresses
post_host n3 '["::1"]' '[]'
expect_invalid "DNS name ::1" 'dns_names\[0\]' ::1 ip_addresses
post_host n4 "[\"$HOST_IP\"]" '[]'
expect_invalid "DNS name that is another host's address" \
    'dns_names\[0\]' "$HOST_IP" ip_addresses
post_host n5 '["127.1"]' '[]'
expect_invalid "DNS name 127.1" 'dns_names\[0\]' 127.1 "numeric label"
post_host n6 '["ok.example.test", "0x7f.0.0.1"]' '[]'
expect_invalid "DNS name 0x7f.0.0.1" 'dns_names\[1\]' 0x7f.0.0.1 \
    "numeric label"

log_step "addresses that name no single host"
for address in 0.0.0.0 0.1.2.3 :: 0:0:0:0:0:0:0:0 ::ffff:0.0.0.0; do
    post_host n7 '[]' "[\"$address\"]"
    expect_invalid "IP address $address" 'ip_addresses\[0\]' "$address" \
        unspecified "unicast address"
done
for address in 255.255.255.255 ::ffff:255.255.255.255; do
    post_host n8 '[]' "[\"$address\"]"
    expect_invalid "IP address $address" 'ip_addresses\[0\]' "$address" \
        broadcast "unicast address"
done
for address in 224.0.0.1 239.255.255.255 ff02::1 ff00:: ::ffff:224.0.0.1
do
    post_host n9 '[]' "[\"$address\"]"
    expect_invalid "IP address $address" 'ip_addresses\[0\]' "$address" \
        multicast "unicast address"
done
post_host n10 '["n10.example.test"]' '["192.0.2.20", "0.0.0.0"]'
expect_invalid "second IP address 0.0.0.0" 'ip_addresses\[1\]' 0.0.0.0 \
    unspecified
post_host n11 '[]' '["no-ip"]'
expect_invalid "IP address no-ip" 'ip_addresses\[0\]' no-ip \
    "not an IPv4 or IPv6 address"

log_step "IPv4-mapped IPv6 addresses"
post_host thief '[]' "[\"::ffff:$HOST_IP\"]"
expect_invalid "::ffff: form of another host's address" \
    'ip_addresses\[0\]' "::ffff:$HOST_IP" IPv4-mapped "\"$HOST_IP\""
post_host thief '[]' '["::FFFF:c612:1"]'
expect_invalid "hex ::ffff: form of another host's address" \
    'ip_addresses\[0\]' "::FFFF:c612:1" IPv4-mapped "\"$HOST_IP\""
post_host thief '[]' "[\"::$HOST_IP\"]"
expect_invalid ":: (IPv4-compatible) form of another host's address" \
    'ip_addresses\[0\]' "::$HOST_IP" IPv4-compatible "\"$HOST_IP\""
post_host n12 '[]' '["::ffff:192.0.2.30"]'
expect_invalid "::ffff: form of a free address" 'ip_addresses\[0\]' \
    ::ffff:192.0.2.30 IPv4-mapped '"192.0.2.30"'
admin_json POST /v1/adcp "$(jq -cn --arg ip "::ffff:$HOST_IP" '{
    header: {message_direction: "request", message_id: "1",
             message_type: "host_register"},
    body: {host: {name: "thief", ip_addresses: [$ip]}}}')"
expect_invalid "::ffff: form through POST /v1/adcp" \
    '(host\.)?ip_addresses\[0\]' "::ffff:$HOST_IP" "\"$HOST_IP\""
admin_json POST /v1/hosts "$(jq -cn --arg ip "$HOST_IP" \
    '{name: "thief", ip_addresses: [$ip]}')"
assert_http 409 conflict 'ip_addresses\[0\]'
assert_contains "$(json_get .error.message)" "\"$HOST\"" \
    "the IPv4 form is still a conflict that names the holder"

log_step "IPv6 addresses are stored in canonical form"
post_host v6host '["v6host.example.test"]' '["2001:DB8:0:0::10"]'
assert_http 201
assert_eq 2001:db8::10 "$(json_get '.host.ip_addresses[0]')" \
    "stored IPv6 address"
V6_TOKEN=$(json_get .enrollment_token)
LIB_SECRETS+=("$V6_TOKEN")
V6_HEADER=$(bearer_header v6host "$V6_TOKEN")
SNAPSHOT=$(hosts_snapshot)
post_host v6copy '[]' '["2001:db8:0:0:0:0:0:10"]'
assert_http 409 conflict 'ip_addresses\[0\]'
assert_contains "$(json_get .error.message)" '"v6host"' \
    "another spelling of the address is a conflict"
assert_eq "$SNAPSHOT" "$(hosts_snapshot)" "stored hosts after the conflict"

log_step "issuance matches IP SANs against the stored addresses"
make_csr mapped "/CN=$HOST" -addext "subjectAltName=IP:::ffff:$HOST_IP"
post_csr "$HOST_HEADER" mapped
assert_http 403 name_not_allowed
assert_contains "$(json_get .error.message)" "::ffff:$HOST_IP" \
    "the rejected SAN is named"
make_csr ipv4 "/CN=$HOST" -addext "subjectAltName=IP:$HOST_IP"
post_csr "$HOST_HEADER" ipv4
assert_http 201
json_get .certificate >"$TEST_TMP/ipv4.crt"
assert_contains "$(cert_text "$TEST_TMP/ipv4.crt")" \
    "IP Address:$HOST_IP" "certificate SAN of $HOST"
make_csr ipv6 /CN=v6host -addext "subjectAltName=IP:2001:db8:0:0:0:0:0:10"
post_csr "$V6_HEADER" ipv6
assert_http 201
json_get .certificate >"$TEST_TMP/ipv6.crt"
assert_contains "$(cert_text "$TEST_TMP/ipv6.crt")" \
    "IP Address:2001:DB8:0:0:0:0:0:10" "certificate SAN of v6host"

pass
