#!/usr/bin/env bash
# Issuance benchmark of HSM4SSL against its own limit, CFSSL and one
# "openssl x509 -req" process per certificate. See docs/benchmarks.md for
# what each figure means. Not part of the test suite.
#
# All servers listen on 127.0.0.1 and are stopped at exit; every loop is
# bounded in time and count. Results go to bench/results/DATE (or --out).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

KEYS="rsa:2048 rsa:3072 ec:256"
LEVELS="1 10 50 100"
TOOLS="wrk loadtest"
DURATION=3
RUNS=3
CSR_COUNT=32
LIMIT_SECONDS=2
OPENSSL_CERTS=100
WITH_CFSSL=1
PROFILE=0
SOURCE_ADDRESSES=32
STORED=""
IDLE=0
CRL_ENTRIES=0
CRL_ONLY=0
OCSP=0
OCSP_ONLY=0
OCSP_CERTS=8
OCSP_NONCES=64
BUILD_DIR=$ROOT_DIR/build
OUT_DIR=
SERVER_PID=
SERVER_URL=
CFSSL_PID=

usage() {
    cat <<EOF
usage: bench/run.sh [OPTIONS]
  --quick          one key type (rsa:2048), 10 and 100 clients, 5 s,
                   one run of each measurement
  --keys LIST      CA key types, e.g. "rsa:2048 ec:256" (default: $KEYS)
  --levels LIST    concurrent clients (default: $LEVELS)
  --duration S     seconds per HTTP measurement (default: $DURATION)
  --runs N         runs per measurement; the report takes medians
                   (default: $RUNS)
  --csrs N         pre-generated CSRs per key type (default: $CSR_COUNT)
  --no-cfssl       skip CFSSL
  --no-loadtest    measure with wrk only
  --profile        record a perf profile of hsm4ssld (each key type,
                   10 clients)
  --stored LIST    also measure issuance with N more certificates stored,
                   for each N of LIST, e.g. "100000 1000000" (first key
                   type, 10 and 100 clients)
  --idle N         also measure the server's RSS with N idle keep-alive
                   connections (first key type)
  --crl N          also time building and signing a CRL of N revoked
                   certificates (first key type, --runs builds)
  --crl-only       run only the --crl measurement
  --ocsp           also measure OCSP responses/s (first key type, wrk,
                   --levels clients, --runs runs): requests without a
                   nonce, answered from the cache, and requests with a
                   nonce, each signed in the HSM
  --ocsp-only      run only the --ocsp measurement
  --source-addresses N
                   loopback source addresses the load generators spread
                   their connections over, 127.0.0.2 upwards (default:
                   $SOURCE_ADDRESSES; 1 to 253)
  --build DIR      CMake build directory (default: $BUILD_DIR)
  --out DIR        results directory (default: bench/results/DATE)
EOF
}

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --quick)
                KEYS="rsa:2048" LEVELS="10 100" DURATION=5 RUNS=1
                CSR_COUNT=16 LIMIT_SECONDS=2 OPENSSL_CERTS=50 ;;
            --keys) KEYS=$2; shift ;;
            --levels) LEVELS=$2; shift ;;
            --duration) DURATION=$2; shift ;;
            --runs) RUNS=$2; shift ;;
            --csrs) CSR_COUNT=$2; shift ;;
            --no-cfssl) WITH_CFSSL=0 ;;
            --no-loadtest) TOOLS="wrk" ;;
            --profile) PROFILE=1 ;;
            --stored) STORED=$2; shift ;;
            --idle) IDLE=$2; shift ;;
            --crl) CRL_ENTRIES=$2; shift ;;
            --crl-only) CRL_ONLY=1 ;;
            --ocsp) OCSP=1 ;;
            --ocsp-only) OCSP=1 OCSP_ONLY=1 ;;
            --source-addresses) SOURCE_ADDRESSES=$2; shift ;;
            --build) BUILD_DIR=$2; shift ;;
            --out) OUT_DIR=$2; shift ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown option $1" ;;
        esac
        shift
    done
    check_number "$DURATION" 1 600 --duration
    check_number "$RUNS" 1 20 --runs
    check_number "$CSR_COUNT" 1 4096 --csrs
    local stored
    for stored in $STORED; do
        check_number "$stored" 1 10000000 --stored
    done
    check_number "$IDLE" 0 10000 --idle
    check_number "$CRL_ENTRIES" 0 100000000 --crl
    if [ "$CRL_ONLY" = 1 ] && [ "$CRL_ENTRIES" = 0 ]; then
        die "--crl-only needs --crl N"
    fi
    if [ "$CRL_ONLY" = 1 ] && [ "$OCSP_ONLY" = 1 ]; then
        die "--crl-only and --ocsp-only exclude each other"
    fi
    check_number "$SOURCE_ADDRESSES" 1 253 --source-addresses
}

check_number() {
    [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] ||
        die "invalid $4 $1; use $2 to $3"
}

check_tools() {
    local tool
    for tool in cmake openssl curl jq python3 wrk sqlite3; do
        command -v "$tool" >/dev/null ||
            die "$tool is missing; install it (see docs/benchmarks.md)"
    done
    if [ "$WITH_CFSSL" = 1 ] && ! command -v cfssl >/dev/null; then
        log "cfssl is missing (apt-get install golang-cfssl); skipping CFSSL"
        WITH_CFSSL=0
    fi
    if [[ $TOOLS == *loadtest* ]] && ! command -v npm >/dev/null; then
        log "node/npm are missing; measuring with wrk only"
        TOOLS="wrk"
    fi
    if [ "$PROFILE" = 1 ] && ! command -v perf >/dev/null; then
        log "perf is missing (apt-get install linux-perf); no profile"
        PROFILE=0
    fi
}

build() {
    log "building hsm4ssld and sign_limit in $BUILD_DIR"
    cmake -S "$ROOT_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        >"$OUT_DIR/build.log" 2>&1 &&
        cmake --build "$BUILD_DIR" -j2 \
            --target hsm4ssld sign_limit source_spread_preload crl_build \
            >>"$OUT_DIR/build.log" 2>&1 ||
        die "the build failed; see $OUT_DIR/build.log"
}

# Installs loadtest from bench/package-lock.json when it is not there.
setup_loadtest() {
    [[ $TOOLS == *loadtest* ]] || return 0
    [ -f "$BENCH_DIR/node_modules/loadtest/package.json" ] && return 0
    log "installing loadtest under bench/node_modules"
    (cd "$BENCH_DIR" && npm ci --no-audit --no-fund >"$OUT_DIR/npm.log" 2>&1) ||
        die "npm ci failed; see $OUT_DIR/npm.log"
}

describe_machine() {
    local loadtest_version commit node_version
    loadtest_version=$(jq -r .version \
        "$BENCH_DIR/node_modules/loadtest/package.json" 2>/dev/null || true)
    node_version=$(node --version 2>/dev/null || echo -)
    commit=$(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null ||
        echo unknown)
    if ! git -C "$ROOT_DIR" diff --quiet HEAD -- src 2>/dev/null; then
        commit="$commit (src modified)"
    fi
    cat <<EOF
date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)
cpus (nproc): $(nproc)
cpu model: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
memory: $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
kernel: $(uname -srm)
os: $(. /etc/os-release && echo "$PRETTY_NAME")
load average at start: $(cut -d' ' -f1-3 /proc/loadavg)
hsm4ssl commit: $commit
hsm4ssld: $("$BUILD_DIR/hsm4ssld" version 2>&1 | head -n 1)
openssl: $(openssl version)
softhsm2: $(softhsm2-util --version 2>&1)
sqlite3: $(sqlite3 --version | cut -d' ' -f1)
wrk: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)
loadtest: ${loadtest_version:-not installed} (node $node_version)
cfssl: $(cfssl version 2>/dev/null | head -n 1 || echo not installed)
settings: keys "$KEYS", clients "$LEVELS", tools "$TOOLS"
settings: $DURATION s per HTTP run, $RUNS runs, $CSR_COUNT CSRs per key
settings: sign_limit $LIMIT_SECONDS s per run
settings: clients spread over $SOURCE_ADDRESSES source addresses
EOF
}

cleanup() {
    [ -n "$SERVER_PID" ] && stop_process "$SERVER_PID"
    [ -n "$CFSSL_PID" ] && stop_process "$CFSSL_PID"
    [ -n "${WORK_DIR:-}" ] && rm -rf "$WORK_DIR"
    return 0
}

# Runs sign_limit on the token of data directory $2 (server stopped) for
# key $1, appending to RESULTS. $3 is the file of PEM CSRs.
run_limits() {
    local key=$1 data=$2 csrs=$3 signer threads work run json
    local -a csr_arg
    for work in verify+sign sign; do
        csr_arg=()
        [ "$work" = verify+sign ] && csr_arg=(--csr "$csrs")
        for signer in raw hal evp; do
            # The HAL signers only show how much the HAL and the provider
            # add to raw, so one case each (verify+sign, 2 threads, one per
            # core) keeps the run short.
            [ "$signer" != raw ] && [ "$work" = sign ] && continue
            for threads in 1 2; do
                [ "$signer" != raw ] && [ "$threads" = 1 ] && continue
                for ((run = 1; run <= RUNS; run++)); do
                    json=$(SOFTHSM2_CONF=$data/softhsm2.conf \
                        timeout $((LIMIT_SECONDS + 60)) \
                        "$BUILD_DIR/bench/sign_limit" --signer "$signer" \
                        --pin-file "$data/pins/softhsm.user.pin" \
                        --threads "$threads" --seconds "$LIMIT_SECONDS" \
                        "${csr_arg[@]}" 2>>"$OUT_DIR/sign_limit.log") ||
                        die "sign_limit failed; see $OUT_DIR/sign_limit.log"
                    record "$json" --arg system limit --arg key "$key" \
                        --argjson run "$run"
                done
            done
            log "limit $key $signer $work: $(jq -r \
                '"\(.ops_per_s | floor) op/s at \(.threads) threads"' \
                <<<"$json")"
        done
    done
}

# Records a perf profile of hsm4ssld while wrk runs with 10 clients.
profile_server() {
    local tag=$1 url=$2 bodies=$3 auth=$4 perf_pid data=$OUT_DIR/perf.data
    log "profiling hsm4ssld ($tag, 10 clients, $DURATION s)"
    perf record -F 499 --call-graph dwarf -p "$SERVER_PID" -o "$data" \
        -- sleep "$DURATION" >"$OUT_DIR/perf-record.log" 2>&1 &
    perf_pid=$!
    run_wrk "$url" 10 "$bodies" "$auth" >/dev/null || true
    wait "$perf_pid" || log "perf record failed; see $OUT_DIR/perf-record.log"
    perf report -i "$data" --no-children --sort dso,sym --stdio -g none \
        --percent-limit 0.5 >"$OUT_DIR/profile-$tag-self.txt" 2>/dev/null ||
        true
    perf report -i "$data" --children --sort sym --stdio -g none \
        --percent-limit 1.5 >"$OUT_DIR/profile-$tag-children.txt" \
        2>/dev/null || true
    rm -f "$data"
}

# Measures GET /healthz with wrk against the running server, at LEVELS
# clients, RUNS runs: the CPU the server spends on a request that needs
# no HSM, no storage and no handler thread, only TLS, HTTP and the
# event loop. Recorded as system hsm4ssl-healthz.
transport_floor_run() {
    local key=$1 ca=$2 clients run
    export BENCH_METHOD=GET
    for clients in $LEVELS; do
        for ((run = 1; run <= RUNS; run++)); do
            measure_http wrk "$SERVER_PID" hsm4ssl-healthz "$key" \
                "$clients" "$run" "$SERVER_URL/healthz" /dev/null "" "$ca"
        done
    done
    unset BENCH_METHOD
}

# Holds IDLE keep-alive connections to the server and records its RSS
# before and while they are open, and the time of one /healthz meanwhile.
idle_run() {
    local key=$1 ca=$2 before during healthz idle_log=$OUT_DIR/idle.log
    local idle_pid hold=$((DURATION + 10))
    before=$(current_rss_kib "$SERVER_PID")
    with_spread_sources node "$BENCH_DIR/idle_conns.mjs" \
        "$SERVER_URL/healthz" "$ca" "$IDLE" \
        "$hold" >"$idle_log" 2>&1 &
    idle_pid=$!
    if ! wait_for_line "$idle_log" '"ready"' 120 "$idle_pid" >/dev/null; then
        log "idle_conns did not open $IDLE connections; see $idle_log"
        stop_process "$idle_pid"
        return 0
    fi
    sleep 1
    during=$(current_rss_kib "$SERVER_PID")
    healthz=$(curl -sS -o /dev/null -w '%{time_total}' --max-time 20 \
        --cacert "$ca" "$SERVER_URL/healthz" || echo null)
    wait "$idle_pid" || true
    record "$(grep '^{' "$idle_log" | jq -cs add)" --arg system idle \
        --arg key "$key" --argjson rss_before_kib "$before" \
        --argjson rss_idle_kib "$during" --argjson healthz_s "$healthz"
    log "idle: RSS $before KiB -> $during KiB with $IDLE connections"
}

# Copies data directory $2 (server stopped), adds $4 rows to its
# certificates table with sqlite3 and measures issuance on the copy.
stored_run() {
    local key=$1 data=$2 bodies=$3 stored=$4 copy=$2-stored now existing
    local clients run
    cp -a "$data" "$copy"
    sed -i "s#$data#$copy#g" "$copy/softhsm2.conf"
    now=$(date +%s)
    existing=$(sqlite3 "$copy/hsm4ssl.db" 'SELECT count(*) FROM certificates')
    log "adding $stored rows to the certificates table ($existing there)"
    # Each row copies the PEM of a real issued certificate, so that rows
    # are as large as real ones; serials are random like the server's.
    sqlite3 "$copy/hsm4ssl.db" <<EOF
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
                        WHERE i < $stored)
INSERT INTO certificates (serial, host_id, subject, not_before, not_after,
                          pem, hsm, revoked_at, created)
SELECT upper(hex(randomblob(16))), host_id, subject, $now - 86400,
       $now + 86400 * 365, pem, hsm, NULL, $now
FROM n, (SELECT host_id, subject, pem, hsm FROM certificates
         WHERE host_id IS NOT NULL LIMIT 1);
EOF
    existing=$(sqlite3 "$copy/hsm4ssl.db" 'SELECT count(*) FROM certificates')
    start_hsm4ssld "$copy" "$key" "$OUT_DIR/hsm4ssld-stored-$stored.log"
    DURATION=2 run_wrk "$SERVER_URL/v1/certificates" 10 "$bodies" \
        "Bearer $(cat "$copy/admin.token")" >/dev/null || true
    for clients in 10 100; do
        for ((run = 1; run <= RUNS; run++)); do
            measure_http wrk "$SERVER_PID" "hsm4ssl-stored-$stored" "$key" \
                "$clients" "$run" "$SERVER_URL/v1/certificates" "$bodies" \
                "Bearer $(cat "$copy/admin.token")" "$copy/ca/root.crt"
        done
    done
    stop_process "$SERVER_PID"
    SERVER_PID=
    record '{}' --arg system stored-count --arg key "$key" \
        --argjson certificates "$existing" --argjson stored "$stored"
    rm -rf "$copy"
}

bench_hsm4ssl() {
    local key=$1 dir=$2 first=$3 tag=${1/:/} data=$2/data auth stored
    log "HSM4SSL $key: creating the data directory"
    start_hsm4ssld "$data" "$key" "$OUT_DIR/hsm4ssld-$tag-init.log"
    register_bench_host "$data"
    stop_process "$SERVER_PID"
    SERVER_PID=

    log "limit $key: sign_limit on the same token"
    run_limits "$key" "$data" "$dir/csr/all.pem"

    start_hsm4ssld "$data" "$key" "$OUT_DIR/hsm4ssld-$tag.log"
    auth="Bearer $(cat "$data/admin.token")"
    measure_matrix "$SERVER_PID" hsm4ssl "$key" "$SERVER_URL/v1/certificates" \
        "$dir/hsm4ssl-bodies.jsonl" "$auth" "$data/ca/root.crt"
    transport_floor_run "$key" "$data/ca/root.crt"
    if [ "$PROFILE" = 1 ]; then
        profile_server "$tag" "$SERVER_URL/v1/certificates" \
            "$dir/hsm4ssl-bodies.jsonl" "$auth"
    fi
    if [ "$first" = 1 ] && [ "$IDLE" -gt 0 ]; then
        idle_run "$key" "$data/ca/root.crt"
    fi
    stop_process "$SERVER_PID"
    SERVER_PID=
    if [ "$first" = 1 ]; then
        for stored in $STORED; do
            stored_run "$key" "$data" "$dir/hsm4ssl-bodies.jsonl" "$stored"
        done
    fi
}

# Times bench/crl_build.c: a CRL of $1 revoked certificates, built RUNS
# times with the CA key in the token of a new data directory (first key
# type), and checks the last CRL with openssl crl -verify. Writes the
# result to OUT_DIR/crl.json.
crl_run() {
    local entries=$1 key=${KEYS%% *} dir=$WORK_DIR/crl json
    mkdir -p "$dir"
    log "CRL: creating a data directory with a $key CA"
    start_hsm4ssld "$dir/data" "$key" "$OUT_DIR/hsm4ssld-crl.log"
    stop_process "$SERVER_PID"
    SERVER_PID=
    log "CRL: filling $entries revoked certificates, then $RUNS builds"
    json=$(SOFTHSM2_CONF=$dir/data/softhsm2.conf \
        "$BUILD_DIR/bench/crl_build" --db "$dir/crl.db" \
        --ca-cert "$dir/data/ca/root.crt" \
        --pin-file "$dir/data/pins/softhsm.user.pin" \
        --entries "$entries" --runs "$RUNS" --out "$dir/crl.der" \
        2>>"$OUT_DIR/crl_build.log") ||
        die "crl_build failed; see $OUT_DIR/crl_build.log"
    openssl crl -inform DER -in "$dir/crl.der" -noout \
        -CAfile "$dir/data/ca/root.crt" -verify 2>&1 | grep -q 'verify OK' ||
        die "the CRL in $dir/crl.der does not verify against its root"
    jq -c --arg key "$key" '. + {key: $key}' <<<"$json" >"$OUT_DIR/crl.json"
    log "CRL: $(jq -r '"\(.entries) entries, median \(.median_s) s of" +
        " \(.runs_s), \(.der_bytes) bytes, peak RSS \(.peak_rss_kib) KiB," +
        " fill \(.fill_s) s"' "$OUT_DIR/crl.json")"
    rm -rf "$dir"
}

# Issues OCSP_CERTS certificates for host bench through the server of
# data directory $1, into directory $2 as cert-N.pem, from CSRs made there.
ocsp_issue_certs() {
    local data=$1 dir=$2 i code
    make_csrs "${KEYS%% *}" "$dir/csr" "$OCSP_CERTS"
    make_hsm4ssl_bodies "$dir/csr" "$dir/bodies.jsonl"
    i=0
    while IFS= read -r body; do
        i=$((i + 1))
        code=$(curl -sS -o "$dir/issued.json" -w '%{http_code}' \
            --max-time 30 --cacert "$data/ca/root.crt" \
            -H "Authorization: Bearer $(cat "$data/admin.token")" \
            -d "$body" "$SERVER_URL/v1/certificates")
        [ "$code" = 201 ] || die "issuing certificate $i returned HTTP" \
            "$code: $(cat "$dir/issued.json")"
        jq -r .certificate "$dir/issued.json" >"$dir/cert-$i.pem"
    done <"$dir/bodies.jsonl"
}

# Writes the hex of DER OCSP requests made with openssl ocsp -reqout to
# $3: one per certificate in directory $2 without a nonce when $4 is
# "cached", else OCSP_NONCES requests with a nonce each. $1 is the root.
ocsp_requests() {
    local root=$1 dir=$2 out=$3 kind=$4 i count=$OCSP_NONCES
    local -a nonce=()
    [ "$kind" = cached ] && count=$OCSP_CERTS nonce=(-no_nonce)
    : >"$out"
    for ((i = 1; i <= count; i++)); do
        openssl ocsp -issuer "$root" \
            -cert "$dir/cert-$(( (i - 1) % OCSP_CERTS + 1 )).pem" \
            "${nonce[@]}" -reqout "$dir/request.der" >/dev/null 2>&1 ||
            die "openssl ocsp -reqout failed for certificate $i"
        od -An -v -tx1 "$dir/request.der" | tr -d ' \n' >>"$out"
        echo >>"$out"
    done
}

# Checks that the server responds to the first request of $3 with a
# response that verifies against root $1 and reports good. $2 is a work
# directory.
ocsp_check() {
    local root=$1 dir=$2 requests=$3
    head -n 1 "$requests" | python3 -c \
        'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read()))' \
        >"$dir/check.der"
    curl -sS --max-time 30 --cacert "$root" --data-binary "@$dir/check.der" \
        -H 'Content-Type: application/ocsp-request' -o "$dir/check.resp" \
        "$SERVER_URL/ocsp" || die "POST /ocsp failed"
    openssl ocsp -respin "$dir/check.resp" -reqin "$dir/check.der" \
        -issuer "$root" -CAfile "$root" -resp_text >"$dir/check.txt" 2>&1 ||
        die "the OCSP response does not verify; see $dir/check.txt"
    grep -q 'Cert Status: good' "$dir/check.txt" ||
        die "the OCSP response does not say good; see $dir/check.txt"
}

# Measures OCSP responses/s against hsm4ssld with wrk: cached (no nonce)
# and signed (a nonce each), LEVELS clients, RUNS runs, with the server's
# CPU per response. Rows go to OUT_DIR/ocsp.jsonl and their medians to
# OUT_DIR/ocsp.json.
ocsp_run() {
    local key=${KEYS%% *} dir=$WORK_DIR/ocsp root kind clients run
    local RESULTS=$OUT_DIR/ocsp.jsonl
    mkdir -p "$dir"
    : >"$RESULTS"
    log "OCSP: creating a data directory with a $key CA"
    start_hsm4ssld "$dir/data" "$key" "$OUT_DIR/hsm4ssld-ocsp.log"
    root=$dir/data/ca/root.crt
    register_bench_host "$dir/data"
    ocsp_issue_certs "$dir/data" "$dir"
    # The signed responses are measured, not the limit per client
    # address (ca.ocsp_signed_per_address), which would reply to most of
    # them with tryLater.
    stop_process "$SERVER_PID"
    jq '.ca.ocsp_signed_per_address = 0' "$dir/data/hsm4ssld.json" \
        >"$dir/hsm4ssld.json"
    install -m 0600 "$dir/hsm4ssld.json" "$dir/data/hsm4ssld.json"
    start_hsm4ssld "$dir/data" "$key" "$OUT_DIR/hsm4ssld-ocsp.log"

    for kind in cached nonce; do
        ocsp_requests "$root" "$dir" "$dir/$kind.hex" "$kind"
        ocsp_check "$root" "$dir" "$dir/$kind.hex"
        export BENCH_CONTENT_TYPE=application/ocsp-request
        export BENCH_HEX_BODIES=1
        DURATION=2 run_wrk "$SERVER_URL/ocsp" 10 "$dir/$kind.hex" "" \
            >/dev/null || true
        for clients in $LEVELS; do
            for ((run = 1; run <= RUNS; run++)); do
                measure_http wrk "$SERVER_PID" "ocsp-$kind" "$key" \
                    "$clients" "$run" "$SERVER_URL/ocsp" "$dir/$kind.hex" \
                    "" "$root"
            done
        done
        unset BENCH_CONTENT_TYPE BENCH_HEX_BODIES
    done
    stop_process "$SERVER_PID"
    SERVER_PID=

    jq -s -c 'group_by([.system, .clients]) | map({
        system: .[0].system, key: .[0].key, clients: .[0].clients,
        runs: length,
        median_rps: (map(.rps) | sort | .[(length - 1) / 2 | floor]),
        median_cpu_us_per_response: (map(.server_cpu_s * 1e6 / .requests)
            | sort | .[(length - 1) / 2 | floor]),
        median_p99_ms: (map(.p99_ms) | sort | .[(length - 1) / 2 | floor]),
        errors: (map(.errors) | add)})' "$RESULTS" >"$OUT_DIR/ocsp.json"
    jq -r '.[] | "OCSP \(.system) c=\(.clients): \(.median_rps | floor)" +
        " responses/s, \(.median_cpu_us_per_response | floor) us CPU" +
        " per response, p99 \(.median_p99_ms) ms, \(.errors) errors"' \
        "$OUT_DIR/ocsp.json" | while IFS= read -r line; do log "$line"; done
    rm -rf "$dir"
}

# Makes a software CA of key type $1 in directory $2: ca-key.pem, ca.pem,
# and an EC P-256 TLS key and certificate for 127.0.0.1 (the key type of
# HSM4SSL's own API TLS key).
make_software_ca() {
    local key=$1 dir=$2
    mkdir -p "$dir"
    case $key in
        rsa:*) openssl genrsa -traditional -out "$dir/ca-key.pem" \
                   "${key#rsa:}" 2>/dev/null ;;
        ec:256) openssl ecparam -name prime256v1 -genkey -noout \
                    -out "$dir/ca-key.pem" ;;
    esac
    openssl req -x509 -new -key "$dir/ca-key.pem" -days 3650 -sha256 \
        -subj "/O=HSM4SSL bench/CN=Software bench root" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/ca.pem" 2>/dev/null
    cat >"$dir/leaf.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:bench.example.test,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/tls-key.pem"
    openssl req -new -key "$dir/tls-key.pem" -subj /CN=127.0.0.1 2>/dev/null |
        openssl x509 -req -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
            -CAserial "$dir/ca.srl" -CAcreateserial -days 30 -sha256 \
            -extfile "$dir/leaf.ext" -out "$dir/tls.pem" 2>/dev/null
}

bench_cfssl() {
    local key=$1 dir=$2 ca=$2/soft port url code i
    cat >"$ca/cfssl.json" <<'EOF'
{"signing": {"default": {"expiry": "8760h",
  "usages": ["digital signature", "key encipherment", "server auth",
             "client auth"]}}}
EOF
    port=$(free_port)
    url=https://127.0.0.1:$port/api/v1/cfssl/sign
    cfssl serve -address 127.0.0.1 -port "$port" -ca "$ca/ca.pem" \
        -ca-key "$ca/ca-key.pem" -config "$ca/cfssl.json" \
        -tls-cert "$ca/tls.pem" -tls-key "$ca/tls-key.pem" \
        >"$OUT_DIR/cfssl-${key/:/}.log" 2>&1 &
    CFSSL_PID=$!
    for ((i = 0; i < 300; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
            --cacert "$ca/ca.pem" -d "$(head -n 1 "$dir/cfssl-bodies.jsonl")" \
            "$url" || true)
        [ "$code" = 200 ] && break
        kill -0 "$CFSSL_PID" 2>/dev/null ||
            die "cfssl serve stopped; see $OUT_DIR/cfssl-${key/:/}.log"
        sleep 0.1
    done
    [ "$code" = 200 ] || die "cfssl serve did not respond on $url"
    log "CFSSL $key: serving on $url"
    measure_matrix "$CFSSL_PID" cfssl "$key" "$url" \
        "$dir/cfssl-bodies.jsonl" "" "$ca/ca.pem"
    stop_process "$CFSSL_PID"
    CFSSL_PID=
}

# Issues OPENSSL_CERTS certificates with one "openssl x509 -req" process
# each, and prints a JSON object with the time and the CPU of the
# processes (cutime + cstime of the subshell that waited for them).
openssl_sequence() {
    local csr_dir=$1 ca=$2
    (
        start=$(date +%s.%N)
        csrs=("$csr_dir"/csr-*.pem)
        for ((i = 0; i < OPENSSL_CERTS; i++)); do
            openssl x509 -req -in "${csrs[i % ${#csrs[@]}]}" \
                -CA "$ca/ca.pem" -CAkey "$ca/ca-key.pem" \
                -CAserial "$ca/ca.srl" -days 365 -sha256 \
                -extfile "$ca/leaf.ext" -out /dev/null 2>/dev/null ||
                exit 1
        done
        end=$(date +%s.%N)
        # Read into a variable first: inside $(...) BASHPID would be the
        # command substitution's own process.
        pid=$BASHPID
        stat=$(cat "/proc/$pid/stat")
        stat=${stat##*) }
        awk -v n="$OPENSSL_CERTS" -v s="$start" -v e="$end" \
            -v hz="$CLK_TCK" '{
            printf "{\"certificates\": %d, \"seconds\": %.3f, " \
                   "\"rps\": %.2f, \"cpu_s\": %.3f}\n",
                   n, e - s, n / (e - s), ($14 + $15) / hz }' <<<"$stat"
    )
}

bench_openssl() {
    local key=$1 dir=$2 run json
    for ((run = 1; run <= RUNS; run++)); do
        json=$(openssl_sequence "$dir/csr" "$dir/soft") ||
            die "openssl x509 -req failed for $key"
        record "$json" --arg system openssl-x509 --arg key "$key" \
            --argjson run "$run"
    done
    log "openssl x509 -req $key: $(jq -r '"\(.rps) certificates/s"' \
        <<<"$json")"
}

bench_key() {
    local key=$1 first=$2 dir=$WORK_DIR/${1/:/}
    log "== $key: making $CSR_COUNT CSRs"
    make_csrs "$key" "$dir/csr" "$CSR_COUNT"
    make_hsm4ssl_bodies "$dir/csr" "$dir/hsm4ssl-bodies.jsonl"
    make_cfssl_bodies "$dir/csr" "$dir/cfssl-bodies.jsonl"
    bench_hsm4ssl "$key" "$dir" "$first"
    make_software_ca "$key" "$dir/soft"
    if [ "$WITH_CFSSL" = 1 ]; then
        bench_cfssl "$key" "$dir"
    fi
    bench_openssl "$key" "$dir"
}

main() {
    local key first=1 started
    parse_args "$@"

    started=$(date +%s)
    OUT_DIR=${OUT_DIR:-$BENCH_DIR/results/$(date -u +%Y%m%d-%H%M%S)}
    mkdir -p "$OUT_DIR"
    OUT_DIR=$(cd "$OUT_DIR" && pwd)
    RESULTS=$OUT_DIR/results.jsonl
    : >"$RESULTS"
    CLK_TCK=$(getconf CLK_TCK)

    if [ "$CRL_ONLY" = 1 ]; then
        TOOLS="" WITH_CFSSL=0 PROFILE=0
    else
        check_tools
    fi
    if [ "$OCSP_ONLY" = 1 ]; then
        TOOLS="wrk" WITH_CFSSL=0 PROFILE=0
    fi
    build
    setup_loadtest
    WORK_DIR=$(mktemp -d /tmp/hsm4ssl-bench.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    describe_machine >"$OUT_DIR/machine.txt"
    if [ "$CRL_ONLY" = 1 ]; then
        crl_run "$CRL_ENTRIES"
        log "done in $(( $(date +%s) - started )) s: $OUT_DIR/crl.json"
        return 0
    fi
    if [ "$OCSP_ONLY" = 1 ]; then
        ocsp_run
        log "done in $(( $(date +%s) - started )) s: $OUT_DIR/ocsp.json"
        return 0
    fi

    for key in $KEYS; do
        bench_key "$key" "$first"
        first=0
    done
    if [ "$CRL_ENTRIES" -gt 0 ]; then
        crl_run "$CRL_ENTRIES"
    fi
    if [ "$OCSP" = 1 ]; then
        ocsp_run
    fi
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" \
        >>"$OUT_DIR/machine.txt"
    echo "run time: $(( $(date +%s) - started )) s" >>"$OUT_DIR/machine.txt"

    python3 "$BENCH_DIR/report.py" "$OUT_DIR" "$LEVELS"
    if command -v gnuplot >/dev/null; then
        gnuplot -e "dir='$OUT_DIR'; keys='${KEYS//:/}'" \
            "$BENCH_DIR/plot.gp" || log "gnuplot failed"
    else
        log "gnuplot is missing (apt-get install gnuplot-nox); no PNG"
    fi
    log "done in $(( $(date +%s) - started )) s; report: $OUT_DIR/report.md"
}

main "$@"
