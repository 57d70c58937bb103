#!/usr/bin/env bash
# Build HSM4SSL into build/ and run every unit and integration test.
#
# The last line printed is the summary "N passed, N failed", followed by
# ", N skipped" when CTest skipped tests (exit code 77: a tool or a
# privilege the test needs is missing). The script exits non-zero when a
# test failed, when CTest found no tests, or when the build failed.
#
# Environment: HSM4SSL_TEST_JOBS sets the number of tests run in parallel
# (default 2, the number of cores the suite is sized for).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$repo_root/build"
jobs=${HSM4SSL_TEST_JOBS:-2}

# Count the results in CTest's console output (file $1) and print the
# summary line. Returns 1 when a test failed or none ran.
#
# A result line reads "3/9 Test #3: integration/restart ....   Passed".
# CTest writes "***Skipped" for SKIP_RETURN_CODE and "***Not Run
# (Disabled)" for disabled tests; both count as skipped. Every other status
# (***Failed, ***Timeout, ***Exception, ***Not Run) counts as failed.
summarize_results() {
    local log=$1 passed=0 failed=0 skipped=0 line

    while IFS= read -r line; do
        case "$line" in
            *" Passed "*) passed=$((passed + 1)) ;;
            *"***Skipped"* | *"(Disabled)"*) skipped=$((skipped + 1)) ;;
            *) failed=$((failed + 1)) ;;
        esac
    done < <(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" || true)

    local summary="$passed passed, $failed failed"
    if [ "$skipped" -gt 0 ]; then
        summary="$summary, $skipped skipped"
    fi
    if [ $((passed + failed + skipped)) -eq 0 ]; then
        echo "test.sh: CTest reported no results; see the output above" >&2
        echo "$summary"
        return 1
    fi
    echo "$summary"
    [ "$failed" -eq 0 ]
}

main() {
    cd "$repo_root"
    scripts/install-deps.sh

    if ! cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo ||
       ! cmake --build "$build_dir" -j2; then
        echo "test.sh: the build failed, so no tests ran" >&2
        return 2
    fi

    local log
    log=$(mktemp /tmp/hsm4ssl-ctest.XXXXXX)
    # The per-test TIMEOUT properties in tests/CMakeLists.txt win; --timeout
    # only covers a test registered without one.
    local ctest_status=0
    ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" \
        --timeout 600 2>&1 | tee "$log" || ctest_status=$?

    local summary_status=0
    summarize_results "$log" || summary_status=$?
    rm -f "$log"
    if [ "$summary_status" -ne 0 ] || [ "$ctest_status" -ne 0 ]; then
        return 1
    fi
}

main "$@"
