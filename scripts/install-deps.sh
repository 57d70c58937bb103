#!/usr/bin/env bash
# Install the Debian packages that building and testing HSM4SSL need.
#
# Run as root. The script is idempotent: when every package is already
# installed it only runs dpkg-query and exits, so CI and scripts/test.sh can
# call it every time. Otherwise it runs apt-get update once and installs
# what is missing.
#
# With --bench it also installs what bench/run.sh needs (load generators,
# CFSSL, gnuplot, perf); the tests never need those. Node.js and npm, for
# the npm loadtest tool, come with this machine image rather than from
# Debian, whose npm package conflicts with that Node.js.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libssl-dev openssl
    libp11-kit-dev p11-kit p11-kit-modules softhsm2 opensc
    libevent-dev libjansson-dev
    libsqlite3-dev sqlite3 libpq-dev
    libcurl4-openssl-dev curl
    libcmocka-dev
    iproute2 jq procps ca-certificates strace
)
bench_packages=(
    wrk gnuplot-nox golang-cfssl python3 linux-perf
)

# Print the packages of the list above that dpkg does not report as
# installed, one per line.
list_missing() {
    local package status
    for package in "${packages[@]}"; do
        status=$(dpkg-query -W -f '${db:Status-Status}' "$package" \
                 2>/dev/null || true)
        if [ "$status" != installed ]; then
            printf '%s\n' "$package"
        fi
    done
}

main() {
    local missing
    case "${1:-}" in
        --bench) packages+=("${bench_packages[@]}") ;;
        "") ;;
        *)
            echo "install-deps: unknown option $1; use --bench or nothing" >&2
            return 2
            ;;
    esac
    mapfile -t missing < <(list_missing)
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "install-deps: all ${#packages[@]} packages are installed"
        return 0
    fi

    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: ${missing[*]}" >&2
        echo "install-deps: run this script as root (sudo $0)" \
             "to install them" >&2
        return 1
    fi

    echo "install-deps: installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"

    mapfile -t missing < <(list_missing)
    if [ "${#missing[@]}" -ne 0 ]; then
        echo "install-deps: still missing after apt-get: ${missing[*]}" >&2
        return 1
    fi
}

main "$@"
