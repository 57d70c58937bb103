#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine (run as root):
# install the packages, build, start hsm4ssld on the embedded default
# (SQLite and a SoftHSM2 token of its own), enroll two hosts SE and CL,
# get their certificates and complete a mutual TLS handshake between them.
#
# Everything goes into ./quickstart (made anew on each run). The server is
# left running at the end so that you can go on; the last lines say how.
# HSM4SSL_QUICKSTART_DIR sets another directory, HSM4SSL_QUICKSTART_PORT
# another port for the API (default 8443) and HSM4SSL_BUILD_DIR another
# build directory (default ./build).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
work=${HSM4SSL_QUICKSTART_DIR:-$top/quickstart}
port=${HSM4SSL_QUICKSTART_PORT:-8443}
bin=${HSM4SSL_BUILD_DIR:-$top/build}
pass=quickstart-passphrase

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs packages): sudo $0"

step "Installing the Debian packages HSM4SSL needs"
"$top/scripts/install-deps.sh"

step "Building hsm4ssld and ssleverywhere"
# An existing build directory keeps its build type, so that running the
# quick start never rebuilds everything in another configuration.
if [ -f "$bin/CMakeCache.txt" ]; then
    cmake -S "$top" -B "$bin" >/dev/null
else
    cmake -S "$top" -B "$bin" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$bin" -j"$(nproc)" >/dev/null
echo "built $bin/hsm4ssld and $bin/ssleverywhere"

if [ -f "$work/server.pid" ] && kill -0 "$(cat "$work/server.pid")" 2>/dev/null; then
    step "Stopping the server of the previous quick start"
    kill "$(cat "$work/server.pid")"
    sleep 1
fi
# The namespaces carry this run's process id, so two quick starts on one
# machine never remove each other's.
ns_se=hsm4ssl-qs-se-$$
ns_cl=hsm4ssl-qs-cl-$$
cleanup_netns() {
    ip netns del "$ns_se" 2>/dev/null || true
    ip netns del "$ns_cl" 2>/dev/null || true
}
trap cleanup_netns EXIT
rm -rf "$work"
mkdir -p "$work"
# The passphrase goes to openssl through a file, not the command line.
(umask 077 && printf '%s\n' "$pass" >"$work/passphrase")

step "Starting hsm4ssld on a new data directory (embedded default)"
"$bin/hsm4ssld" serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
    >"$work/server.out" 2>"$work/server.log" &
echo $! >"$work/server.pid"
for _ in $(seq 100); do
    grep -q '^listening on' "$work/server.out" 2>/dev/null && break
    kill -0 "$(cat "$work/server.pid")" 2>/dev/null ||
        { cat "$work/server.log" >&2
          fail "hsm4ssld did not start (its log is above); if port $port" \
               "is taken, run again with HSM4SSL_QUICKSTART_PORT=PORT"; }
    sleep 0.2
done
grep -q '^listening on' "$work/server.out" ||
    { cat "$work/server.log" >&2; fail "hsm4ssld did not start in 20 s"; }
cat "$work/server.out"
fingerprint=$(sed -n 's/^root CA SHA-256 fingerprint: //p' "$work/server.out")
url=https://127.0.0.1:$port
admin_token_file=$work/data/admin.token

# Two hosts in network namespaces of their own when the kernel allows it,
# else both on loopback.
# An address belongs to one host, so on loopback CL gets 127.0.0.2.
se_ip=127.0.0.1 cl_ip=127.0.0.2 netns=no
if ip netns add "$ns_se" 2>/dev/null; then
    ip netns add "$ns_cl"
    ip link add "qs-se-$$" type veth peer name "qs-cl-$$"
    ip link set "qs-se-$$" netns "$ns_se"
    ip link set "qs-cl-$$" netns "$ns_cl"
    ip -n "$ns_se" addr add 198.18.0.1/30 dev "qs-se-$$"
    ip -n "$ns_cl" addr add 198.18.0.2/30 dev "qs-cl-$$"
    for ns in "$ns_se" "$ns_cl"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$ns_se" link set "qs-se-$$" up
    ip -n "$ns_cl" link set "qs-cl-$$" up
    se_ip=198.18.0.1 cl_ip=198.18.0.2 netns=yes
fi

step "Registering hosts SE ($se_ip) and CL ($cl_ip) with the admin token"
cli() { "$bin/ssleverywhere" "$@"; }
se_token=$(cli -dir "$work/SE" -add_host -name SE -dns se.example.test \
    -ip "$se_ip" -server "$url" -cafile "$work/data/ca/root.crt" \
    -admin_token_file "$admin_token_file")
cl_token=$(cli -dir "$work/CL" -add_host -name CL -dns cl.example.test \
    -ip "$cl_ip" -server "$url" -cafile "$work/data/ca/root.crt" \
    -admin_token_file "$admin_token_file")

step "Enrolling each host (the root is checked against its fingerprint)"
cli -dir "$work/SE" -enroll -server "$url" -fingerprint "$fingerprint" \
    -token "$se_token"
cli -dir "$work/CL" -enroll -server "$url" -fingerprint "$fingerprint" \
    -token "$cl_token"

step "SE: ssleverywhere -gen_cert -name SE -default"
cli -dir "$work/SE" -gen_cert -name SE -default -passout "file:$work/passphrase"

step "CL: ssleverywhere -gen_cert -name CL -manual -key_type rsa -key_length 4096 -encryption des3 -hash sha512"
cli -dir "$work/CL" -gen_cert -name CL -manual -key_type rsa \
    -key_length 4096 -encryption des3 -hash sha512 -passout "file:$work/passphrase"

step "Mutual TLS between SE (openssl s_server -Verify) and CL (s_client)"
in_ns() { if [ "$netns" = yes ]; then ip netns exec "$1" "${@:2}"; else "${@:2}"; fi; }
tls_port=9443
# s_server -rev sends each line back reversed, proving data crossed over.
in_ns "$ns_se" timeout 60 openssl s_server -rev -naccept 1 \
    -accept "$se_ip:$tls_port" \
    -cert "$work/SE/certs/SE.crt" -key "$work/SE/private/SE.key" \
    -pass "file:$work/passphrase" -CAfile "$work/SE/certs/ca-chain.crt" \
    -Verify 1 -verify_return_error >"$work/s_server.out" 2>&1 </dev/null &
server_pid=$!
for _ in $(seq 100); do
    grep -q '^ACCEPT' "$work/s_server.out" && break
    sleep 0.1
done
printf 'hello-from-CL\nCLOSE\n' | in_ns "$ns_cl" timeout 30 \
    openssl s_client -ign_eof -connect "$se_ip:$tls_port" \
    -servername se.example.test -verify_hostname se.example.test \
    -cert "$work/CL/certs/CL.crt" -key "$work/CL/private/CL.key" \
    -pass "file:$work/passphrase" -CAfile "$work/CL/certs/ca-chain.crt" \
    -verify_return_error >"$work/s_client.out" 2>&1 || true
wait "$server_pid" 2>/dev/null || true
if grep -q 'LC-morf-olleh' "$work/s_client.out" &&
   grep -q 'Peer certificate: CN = CL' "$work/s_server.out"; then
    echo "handshake complete over TLS $(sed -n 's/^ *Protocol *: TLSv//p' "$work/s_client.out" | head -1):"
    echo "  SE ($se_ip) verified CL's certificate: $(grep 'Peer certificate' "$work/s_server.out")"
    echo "  CL verified SE's certificate for se.example.test: $(grep -m1 'Verify return code' "$work/s_client.out")"
    echo "  CL sent \"hello-from-CL\"; SE sent back \"LC-morf-olleh\""
else
    cat "$work/s_client.out" "$work/s_server.out" >&2
    fail "the mutual TLS handshake failed"
fi
cleanup_netns

step "Done"
cat <<EOF
Certificates:  $work/SE/certs/SE.crt, $work/CL/certs/CL.crt
Private keys:  $work/SE/private/SE.key, $work/CL/private/CL.key
               (encrypted; the passphrase is in $work/passphrase)
Server:        $url, data in $work/data, log in $work/server.log
               running as PID $(cat "$work/server.pid"); stop it with
               kill \$(cat $work/server.pid)
Admin token:   $admin_token_file

Go on:
  # register a third host and print its enrolment token
  $bin/ssleverywhere -add_host -name WEB -dns web.example.test \\
      -server $url -cafile $work/data/ca/root.crt \\
      -admin_token_file $admin_token_file
  # renew SE's certificate over mTLS with its current one
  $bin/ssleverywhere -dir $work/SE -gen_cert -name SE -default -force \\
      -passout file:$work/passphrase -passin file:$work/passphrase
  $bin/ssleverywhere --help, docs/cli.md, docs/api.md
EOF
