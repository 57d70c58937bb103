#!/usr/bin/env bash
# The main job end to end. Two hosts, SE (a server) and CL (a client),
# register and enrol with the ssleverywhere CLI. SE gets its certificate
# with -default, CL with -manual RSA-4096/3DES/SHA-512. Then openssl
# s_server and s_client run mutually authenticated TLS across two network
# namespaces joined by a veth pair, using only those certificates and the
# CA chain. A client without a certificate and a client with a
# certificate from another CA must both be rejected.
#
# Needs root for `ip netns`; skips (77) without it. The addresses
# 198.18.0.1/30 and 198.18.0.2/30 come from the benchmarking range and exist
# only inside the two namespaces this test creates.
source "$(dirname "$0")/lib.sh"

require_commands ip openssl curl jq setsid
require_binaries hsm4ssld ssleverywhere

SE_PASS=se-passphrase-4711
CL_PASS=cl-passphrase-0815
SE_IP=198.18.0.1
CL_IP=198.18.0.2
NS_SE=hsm4ssl-se-$$
NS_CL=hsm4ssl-cl-$$
# Interface names are limited to 15 characters.
VETH_SE=h4se$$
VETH_CL=h4cl$$
TLS_PORT=4433

# ---------------------------------------------------------------------------
# Network namespaces

netns_delete() {
    ip netns del "$NS_SE" 2>/dev/null || true
    ip netns del "$NS_CL" 2>/dev/null || true
}

# Create both namespaces first, so that a machine which does not allow
# them skips before anything else runs.
netns_create() {
    [ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
    if ! ip netns add "$NS_SE" 2>"$TEST_TMP/netns.err"; then
        skip "ip netns add is not allowed here: $(cat "$TEST_TMP/netns.err")"
    fi
    on_exit netns_delete
    ip netns add "$NS_CL"

    # Deleting a namespace destroys the veth end inside it, and with it
    # the peer, so netns_delete cleans up the link too.
    ip link add "$VETH_SE" type veth peer name "$VETH_CL"
    ip link set "$VETH_SE" netns "$NS_SE"
    ip link set "$VETH_CL" netns "$NS_CL"
    ip -n "$NS_SE" addr add "$SE_IP/30" dev "$VETH_SE"
    ip -n "$NS_CL" addr add "$CL_IP/30" dev "$VETH_CL"
    ip -n "$NS_SE" link set lo up
    ip -n "$NS_CL" link set lo up
    ip -n "$NS_SE" link set "$VETH_SE" up
    ip -n "$NS_CL" link set "$VETH_CL" up
    log_step "namespaces $NS_SE ($SE_IP) and $NS_CL ($CL_IP) are up"
}

# ---------------------------------------------------------------------------
# Enrolment and certificates through the CLI

enroll() {
    local name=$1 dir=$2 token=$3 fingerprint=$4
    cli -dir "$dir" -enroll -server "$SERVER_URL" \
        -fingerprint "$fingerprint" -token "$token"
    assert_cli_status 0 "$name -enroll"
    assert_contains "$CLI_OUT$CLI_ERR" "enrolled with $SERVER_URL" \
        "$name -enroll output"
    assert_contains "$CLI_OUT$CLI_ERR" "$dir/config.json" \
        "$name -enroll output"

    assert_file_mode 600 "$dir/config.json"
    assert_file_mode 700 "$dir/private"
    assert_file_exists "$dir/certs/ca-chain.crt"
    [ -d "$dir/csr" ] || fail "$name -enroll did not create $dir/csr"
    assert_eq "$SERVER_URL" "$(jq -r .server "$dir/config.json")" \
        "$name config.json server"
    assert_eq "$(root_fingerprint)" \
        "$(openssl x509 -in "$dir/certs/ca-chain.crt" -noout \
               -fingerprint -sha256 | sed 's/^[^=]*=//')" \
        "$name ca-chain.crt: first certificate is the server's root"
}

# check_key NAME DIR PASS CIPHER BITS
check_key() {
    local name=$1 dir=$2 pass=$3 cipher=$4 bits=$5 key
    key=$dir/private/$name.key
    assert_file_mode 600 "$key"
    assert_eq "-----BEGIN ENCRYPTED PRIVATE KEY-----" "$(head -n 1 "$key")" \
        "$key: first line"
    # PBES2 names the cipher in its parameters: the OBJECT line
    # ":aes-256-cbc" or ":des-ede3-cbc".
    assert_contains "$(openssl asn1parse -in "$key")" ":$cipher" \
        "$key: PKCS#8 encryption cipher"
    openssl pkey -in "$key" -passin "pass:wrong-$pass" -noout \
        2>/dev/null && fail "$key opens with a wrong passphrase"
    assert_contains "$(openssl pkey -in "$key" -passin "pass:$pass" \
                           -noout -text 2>&1)" \
        "Private-Key: ($bits bit" "$key: key size"
}

# check_certificate NAME DIR DNS IP SIGNATURE PASSPHRASE
check_certificate() {
    local name=$1 dir=$2 dns=$3 ip=$4 signature=$5 cert text
    cert=$dir/certs/$name.crt
    assert_file_exists "$cert"
    text=$(cert_text "$cert")

    assert_eq "CN=$name" "$(cert_subject "$cert")" "$cert: subject"
    assert_contains "$(openssl x509 -in "$cert" -noout -ext subjectAltName)" \
        "DNS:$dns" "$cert: subjectAltName"
    assert_contains "$(openssl x509 -in "$cert" -noout -ext subjectAltName)" \
        "IP Address:$ip" "$cert: subjectAltName"
    assert_contains "$(openssl x509 -in "$cert" -noout -ext basicConstraints)" \
        "CA:FALSE" "$cert: basicConstraints"
    assert_contains "$(openssl x509 -in "$cert" -noout -ext extendedKeyUsage)" \
        "TLS Web Server Authentication" "$cert: extendedKeyUsage"
    assert_contains "$(openssl x509 -in "$cert" -noout -ext extendedKeyUsage)" \
        "TLS Web Client Authentication" "$cert: extendedKeyUsage"
    assert_contains "$text" "Signature Algorithm: $signature" \
        "$cert: signature algorithm"
    assert_eq "$cert: OK" \
        "$(openssl verify -CAfile "$dir/certs/ca-chain.crt" "$cert" 2>&1)" \
        "openssl verify $cert"

    # The certificate must carry the public key of the local private key.
    assert_eq "$(openssl x509 -in "$cert" -noout -pubkey)" \
        "$(openssl pkey -in "$dir/private/$name.key" -passin "pass:$6" \
               -pubout)" \
        "$cert: public key matches private/$name.key"

    # The server recorded it.
    admin_get "/v1/certificates/$(cert_serial "$cert")"
    assert_http 200
    assert_eq "$(cat "$cert")" "$(json_get .certificate)" \
        "$cert: as served by GET /v1/certificates"
    assert_eq good "$(json_get .revocation_status)" \
        "$cert: revocation status on the server"
}

# check_csr NAME DIR DIGEST
check_csr() {
    local csr=$2/csr/$1.csr
    assert_file_exists "$csr"
    # openssl req -verify exits 0 even when the signature is bad (3.0),
    # so read its verdict.
    assert_contains "$(openssl req -in "$csr" -noout -verify 2>&1)" \
        "verify OK" "$csr: self-signature"
    assert_contains "$(openssl req -in "$csr" -noout -subject)" "CN = $1" \
        "$csr: subject"
    assert_contains "$(openssl req -in "$csr" -noout -text)" \
        "Signature Algorithm: $3" "$csr: signature algorithm"
}

# ---------------------------------------------------------------------------
# TLS between the namespaces

SSERVER_PID=

sserver_stop() {
    if [ -n "$SSERVER_PID" ]; then
        kill "$SSERVER_PID" 2>/dev/null || true
        wait "$SSERVER_PID" 2>/dev/null || true
        SSERVER_PID=
    fi
}

# Start s_server in SE's namespace for one connection. With -rev it sends
# each line back reversed, which proves application data flowed.
sserver_start() {
    local port=$1 out=$TEST_TMP/s_server.$1
    ip netns exec "$NS_SE" timeout 60 openssl s_server -rev -naccept 1 \
        -accept "$SE_IP:$port" \
        -cert "$SE_DIR/certs/SE.crt" -key "$SE_DIR/private/SE.key" \
        -pass "pass:$SE_PASS" -CAfile "$SE_DIR/certs/ca-chain.crt" \
        -Verify 1 -verify_return_error >"$out" 2>&1 </dev/null &
    SSERVER_PID=$!
    for _ in $(seq 100); do
        grep -q '^ACCEPT' "$out" && return 0
        kill -0 "$SSERVER_PID" 2>/dev/null ||
            fail "s_server exited before listening: $(cat "$out")"
        sleep 0.1
    done
    fail "s_server did not listen on $SE_IP:$port within 10 s"
}

# sclient PORT [ARGS...]: connect from CL's namespace, send a line, print
# the client's output. Returns s_client's status.
sclient() {
    local port=$1
    shift
    printf 'hello-from-cl\nCLOSE\n' |
        ip netns exec "$NS_CL" timeout 30 openssl s_client -ign_eof \
            -connect "$SE_IP:$port" -servername se.example.test \
            -verify_hostname se.example.test -verify_ip "$SE_IP" \
            -CAfile "$CL_DIR/certs/ca-chain.crt" -verify_return_error \
            "$@" 2>&1
}

mtls_with_cl_certificate() {
    local port=$TLS_PORT out status=0
    sserver_start "$port"
    out=$(sclient "$port" -cert "$CL_DIR/certs/CL.crt" \
              -key "$CL_DIR/private/CL.key" -pass "pass:$CL_PASS") ||
        status=$?
    wait "$SSERVER_PID" || true
    SSERVER_PID=
    local server_out
    server_out=$(cat "$TEST_TMP/s_server.$port")

    assert_eq 0 "$status" "s_client with CL's certificate: exit status"
    assert_contains "$out" "Verify return code: 0 (ok)" \
        "s_client verifying SE's certificate"
    # s_server sends "hello-from-cl" back reversed.
    assert_contains "$out" "lc-morf-olleh" "data echoed by s_server"
    assert_contains "$server_out" "Peer certificate: CN = CL" \
        "s_server's view of the client certificate"
    assert_contains "$server_out" "1 server accepts that finished" \
        "s_server handshake count"
}

# mtls_rejected PORT WHAT [S_CLIENT_ARGS...]
mtls_rejected() {
    local port=$1 what=$2 out server_out
    shift 2
    sserver_start "$port"
    out=$(sclient "$port" "$@") || true
    wait "$SSERVER_PID" || true
    SSERVER_PID=
    server_out=$(cat "$TEST_TMP/s_server.$port")

    assert_not_contains "$out" "lc-morf-olleh" \
        "$what: no data may flow"
    assert_contains "$server_out" "0 server accepts that finished" \
        "$what: s_server must not finish the handshake"
    assert_contains "$server_out" "CONNECTION FAILURE" \
        "$what: s_server output"
}

# Make a CA and a CL look-alike certificate that HSM4SSL never issued.
make_foreign_certificate() {
    local dir=$TEST_TMP/foreign
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -noenc -subj /CN=Foreign-Root \
        -days 2 -keyout "$dir/ca.key" -out "$dir/ca.crt" \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -new -newkey rsa:2048 -noenc -subj /CN=CL \
        -keyout "$dir/cl.key" -out "$dir/cl.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" \
        "extendedKeyUsage=serverAuth,clientAuth" \
        "subjectAltName=DNS:cl.example.test,IP:$CL_IP" >"$dir/cl.ext"
    openssl x509 -req -in "$dir/cl.csr" -CA "$dir/ca.crt" \
        -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
        -extfile "$dir/cl.ext" -out "$dir/cl.crt" 2>/dev/null
}

# ---------------------------------------------------------------------------

netns_create
on_exit sserver_stop
server_start

log_step "register SE and CL"
register_host SE se.example.test "$SE_IP"
SE_TOKEN=$HOST_TOKEN
assert_eq se.example.test "$(json_get '.host.dns_names[0]')" "SE dns_names"
assert_eq "$SE_IP" "$(json_get '.host.ip_addresses[0]')" "SE ip_addresses"
assert_ne "" "$(json_get '.expires_at // ""')" "SE expires_at"
register_host CL cl.example.test "$CL_IP"
CL_TOKEN=$HOST_TOKEN
assert_ne "$SE_TOKEN" "$CL_TOKEN" "CL's enrolment token differs from SE's"

log_step "enrol SE and CL with the CLI"
SE_DIR=$TEST_TMP/se
CL_DIR=$TEST_TMP/cl
FINGERPRINT=$(root_fingerprint)
enroll SE "$SE_DIR" "$SE_TOKEN" "$FINGERPRINT"
# Colons and case in -fingerprint are ignored.
enroll CL "$CL_DIR" "$CL_TOKEN" "$(tr -d : <<<"$FINGERPRINT" |
                                     tr 'A-F' 'a-f')"

grep -qF "$SE_TOKEN" "$SE_DIR/config.json" ||
    fail "$SE_DIR/config.json does not contain the enrolment token"

log_step "SE: -gen_cert -default"
cli -dir "$SE_DIR" -gen_cert -name SE -default -passout "pass:$SE_PASS"
assert_cli_status 0 "SE -gen_cert -default"
check_key SE "$SE_DIR" "$SE_PASS" aes-256-cbc 2048
check_csr SE "$SE_DIR" sha256WithRSAEncryption
check_certificate SE "$SE_DIR" se.example.test "$SE_IP" \
    sha256WithRSAEncryption "$SE_PASS"
assert_eq SE "$(jq -r '.identity // ""' "$SE_DIR/config.json")" \
    "SE config.json identity after the first certificate"
grep -qF "$SE_TOKEN" "$SE_DIR/config.json" &&
    fail "$SE_DIR/config.json still contains the used enrolment token"

log_step "CL: -gen_cert -manual rsa 4096 des3 sha512"
cli -dir "$CL_DIR" -gen_cert -name CL -manual -key_type rsa \
    -key_length 4096 -encryption des3 -hash sha512 -passout "pass:$CL_PASS"
assert_cli_status 0 "CL -gen_cert -manual"
check_key CL "$CL_DIR" "$CL_PASS" des-ede3-cbc 4096
check_csr CL "$CL_DIR" sha512WithRSAEncryption
check_certificate CL "$CL_DIR" cl.example.test "$CL_IP" \
    sha512WithRSAEncryption "$CL_PASS"

log_step "mTLS from $NS_CL to $NS_SE with the issued certificates"
mtls_with_cl_certificate

log_step "a client without a certificate is rejected"
mtls_rejected $((TLS_PORT + 1)) "client without a certificate"

log_step "a client with a certificate from another CA is rejected"
make_foreign_certificate
mtls_rejected $((TLS_PORT + 2)) "client with a foreign certificate" \
    -cert "$TEST_TMP/foreign/cl.crt" -key "$TEST_TMP/foreign/cl.key"

pass
