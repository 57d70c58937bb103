# Helpers for bench/run.sh: servers, load generators and measurements.
# Sourced, not run. Every function that waits is bounded in time, and all
# traffic goes to 127.0.0.1.
#
# Globals set by run.sh: BENCH_DIR (this folder), BUILD_DIR, WORK_DIR,
# OUT_DIR, RESULTS (the JSON lines file), DURATION, CLK_TCK,
# SOURCE_ADDRESSES.

log() {
    printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# Prints a free TCP port on 127.0.0.1. Another process could take it
# before the caller binds it; the servers started here then fail to start
# and the run stops with their log.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# CPU time (user + system) of a process in clock ticks, from fields 14
# and 15 of /proc/PID/stat. The fields are counted after the ")" that
# ends the command name, which may contain spaces.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat")
    stat=${stat##*) }
    # After ") " the state is field 3, so utime and stime are 12 and 13.
    awk '{ print $12 + $13 }' <<<"$stat"
}

# Peak resident set size (VmHWM) of a process in KiB.
peak_rss_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

current_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Resets VmHWM to the current RSS (Linux clear_refs value 5), so that each
# measurement reports its own peak. Needs the right to write the file
# (same user or root); without it the peak covers the process lifetime.
reset_peak_rss() {
    echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true
}

# Waits up to $3 seconds for text matching the extended regex $2 in file
# $1 and prints the first match. Gives up early when process $4 exits.
wait_for_line() {
    local file=$1 pattern=$2 seconds=$3 pid=$4 i line
    for ((i = 0; i < seconds * 10; i++)); do
        line=$(grep -Eo "$pattern" "$file" 2>/dev/null | head -n 1 || true)
        if [ -n "$line" ]; then
            printf '%s\n' "$line"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Stops a process this script started and waits for it (at most 20 s,
# then SIGKILL).
stop_process() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Starts hsm4ssld on data directory $1 (created with CA key $2 when new),
# logging to $3. Sets SERVER_PID and SERVER_URL.
start_hsm4ssld() {
    local data=$1 key=$2 logfile=$3
    "$BUILD_DIR/hsm4ssld" serve --data-dir "$data" \
        --listen 127.0.0.1:0 --ca-key "$key" >"$logfile" 2>&1 &
    SERVER_PID=$!
    SERVER_URL=$(wait_for_line "$logfile" \
        'https://127\.0\.0\.1:[0-9]+' 120 "$SERVER_PID") ||
        die "hsm4ssld did not start; see $logfile"
}

# Runs a load generator (the command in "$@") with its connections spread
# over SOURCE_ADDRESSES loopback source addresses by
# bench/source_spread_preload.c. hsm4ssld caps the open connections per
# client address, and 100 clients from one address would exceed it.
with_spread_sources() {
    LD_PRELOAD=$BUILD_DIR/bench/libsource_spread_preload.so \
        BENCH_SOURCE_ADDRESSES=$SOURCE_ADDRESSES "$@"
}

# Registers the host "bench" (dns bench.example.test, ip 127.0.0.1)
# with the admin token of data directory $1.
register_bench_host() {
    local data=$1 code
    code=$(curl -sS -o "$WORK_DIR/host.json" -w '%{http_code}' \
        --max-time 20 --cacert "$data/ca/root.crt" \
        -H "Authorization: Bearer $(cat "$data/admin.token")" \
        -d '{"name": "bench", "dns_names": ["bench.example.test"],
             "ip_addresses": ["127.0.0.1"]}' "$SERVER_URL/v1/hosts")
    [ "$code" = 201 ] || die "registering host bench returned HTTP" \
        "$code: $(cat "$WORK_DIR/host.json")"
}

# Writes $3 CSRs for key spec $1 (rsa:BITS or ec:256), subject CN=bench,
# into directory $2 as csr-N.pem and all of them into $2/all.pem. Two
# openssl processes run at once.
make_csrs() {
    local key=$1 dir=$2 count=$3 newkey
    case $key in
        rsa:*) newkey="-newkey $key" ;;
        ec:256) newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
        *) die "unsupported key $key; use rsa:BITS or ec:256" ;;
    esac
    mkdir -p "$dir"
    # The placeholder is {}: xargs -I replaces it everywhere in the
    # command, so a letter would also change the subject.
    seq 1 "$count" | xargs -P 2 -I {} sh -c \
        "openssl req -new $newkey -nodes -keyout /dev/null -subj /CN=bench \
         -out '$dir/csr-{}.pem' 2>'$dir/csr-{}.err'" ||
        die "openssl req failed: $(cat "$dir"/csr-*.err)"
    cat "$dir"/csr-*.pem >"$dir/all.pem"
    [ "$(grep -c 'BEGIN CERTIFICATE REQUEST' "$dir/all.pem")" -eq "$count" ] ||
        die "openssl made fewer than $count CSRs in $dir"
}

# Writes one HSM4SSL POST /v1/certificates body per CSR of directory $1
# to $2. The admin names the host, so no single-use enrolment token is
# needed; csr_file is left out, so the server stores no CSR file.
make_hsm4ssl_bodies() {
    local dir=$1 out=$2 csr
    : >"$out"
    for csr in "$dir"/csr-*.pem; do
        jq -cn --rawfile csr "$csr" '{host: {name: "bench"},
            csr_details: {csr: $csr},
            cert_details: {hash_algorithm: "sha256", days: 365}}' >>"$out"
    done
}

# Writes one CFSSL /api/v1/cfssl/sign body per CSR of directory $1 to $2,
# with the same SANs HSM4SSL puts in (the host's registered names).
make_cfssl_bodies() {
    local dir=$1 out=$2 csr
    : >"$out"
    for csr in "$dir"/csr-*.pem; do
        jq -cn --rawfile csr "$csr" '{certificate_request: $csr,
            hosts: ["bench.example.test", "127.0.0.1"]}' >>"$out"
    done
}

# Appends one JSON line to RESULTS: the object $1 merged with the
# members given as jq --arg/--argjson pairs after it.
record() {
    local json=$1
    shift
    jq -c "$@" '. + $ARGS.named' <<<"$json" >>"$RESULTS"
}

# Runs wrk for DURATION seconds with $2 connections against URL $1,
# posting the bodies of file $3 with Authorization value $4; prints the
# JSON line of wrk_post.lua with rps, p50_ms, p99_ms and errors added.
run_wrk() {
    local url=$1 clients=$2 bodies=$3 auth=$4 threads=2 out
    if [ "$clients" -lt 2 ]; then
        threads=1
    fi
    out=$(BENCH_BODIES=$bodies BENCH_AUTH=$auth with_spread_sources \
        timeout $((DURATION + 30)) \
        wrk -t "$threads" -c "$clients" -d "${DURATION}s" --timeout 10s \
        -s "$BENCH_DIR/wrk_post.lua" "$url" | grep '^{' | tail -n 1) ||
        return 1
    jq -c '. + {rps: (.requests / (.duration_us / 1e6)),
        p50_ms: (.p50_us / 1000), p99_ms: (.p99_us / 1000),
        errors: (.errors_connect + .errors_read + .errors_write +
                 .errors_status + .errors_timeout)}' <<<"$out"
}

# Same contract as run_wrk, with loadtest; $5 is the CA certificate.
run_loadtest() {
    local url=$1 clients=$2 bodies=$3 auth=$4 ca=$5
    BENCH_AUTH=$auth with_spread_sources timeout $((DURATION + 30)) \
        node "$BENCH_DIR/loadtest_post.mjs" "$url" "$bodies" "$ca" \
        "$clients" "$DURATION" | grep '^{' | tail -n 1
}

# Measures one run of tool $1 ("wrk" or "loadtest") against server
# process $2 and records it with the server's CPU seconds and peak RSS.
# $3 system, $4 key, $5 clients, $6 run number, $7 URL, $8 bodies,
# $9 Authorization value, ${10} CA certificate.
measure_http() {
    local tool=$1 pid=$2 system=$3 key=$4 clients=$5 run=$6 url=$7
    local bodies=$8 auth=$9 ca=${10} before after json
    reset_peak_rss "$pid"
    before=$(cpu_ticks "$pid")
    if [ "$tool" = wrk ]; then
        json=$(run_wrk "$url" "$clients" "$bodies" "$auth") || json=
    else
        json=$(run_loadtest "$url" "$clients" "$bodies" "$auth" "$ca") ||
            json=
    fi
    after=$(cpu_ticks "$pid")
    if [ -z "$json" ]; then
        log "$tool against $system ($key, $clients clients) gave no result"
        return 0
    fi
    record "$json" --arg system "$system" --arg key "$key" \
        --arg tool "$tool" --argjson clients "$clients" \
        --argjson run "$run" \
        --argjson server_cpu_s "$(awk -v t=$((after - before)) \
            -v hz="$CLK_TCK" 'BEGIN { print t / hz }')" \
        --argjson server_peak_rss_kib "$(peak_rss_kib "$pid")"
    log "$system $key $tool c=$clients run $run: $(jq -r \
        '"\(.rps | floor) req/s, p99 \(.p99_ms) ms, \(.errors) errors"' \
        <<<"$json")"
}

# Runs the measurement matrix against one server: for each tool in TOOLS,
# each client count in LEVELS and RUNS runs. Arguments as measure_http
# from $2 on, without clients and run.
measure_matrix() {
    local pid=$1 system=$2 key=$3 url=$4 bodies=$5 auth=$6 ca=$7
    local tool clients run
    # Warm-up, not recorded: the first requests pay for TLS sessions,
    # SQLite's page cache and the session pool.
    DURATION=2 run_wrk "$url" 10 "$bodies" "$auth" >/dev/null || true
    for tool in $TOOLS; do
        for clients in $LEVELS; do
            for ((run = 1; run <= RUNS; run++)); do
                measure_http "$tool" "$pid" "$system" "$key" "$clients" \
                    "$run" "$url" "$bodies" "$auth" "$ca"
            done
        done
    done
}
