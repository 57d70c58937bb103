#!/usr/bin/env bash
# `cmake --install` puts hsm4ssld and ssleverywhere into PREFIX/bin, and
# the installed programs run: both print their help, and hsm4ssld prints
# the project version.
source "$(dirname "$0")/lib.sh"

require_commands cmake
require_binaries hsm4ssld ssleverywhere

PREFIX=$TEST_TMP/prefix

log_step "cmake --install into $PREFIX"
cmake --install "$HSM4SSL_BUILD_DIR" --prefix "$PREFIX" \
    >"$TEST_TMP/install.log" 2>&1 ||
    fail "cmake --install failed: $(cat "$TEST_TMP/install.log")"

for program in hsm4ssld ssleverywhere; do
    [ -x "$PREFIX/bin/$program" ] ||
        fail "$PREFIX/bin/$program is missing or not executable;" \
             "installed: $(cat "$TEST_TMP/install.log")"
    status=0
    "$PREFIX/bin/$program" --help >"$TEST_TMP/help.out" 2>&1 ||
        status=$?
    assert_eq 0 "$status" "$program --help exit status"
    assert_contains "$(cat "$TEST_TMP/help.out")" "$program" \
        "$program --help output"
done

version=$(sed -n 's/^project(hsm4ssl VERSION \([0-9.]*\).*/\1/p' \
    "$HSM4SSL_SOURCE_DIR/CMakeLists.txt")
assert_ne "" "$version" "project version in CMakeLists.txt"
assert_contains "$("$PREFIX/bin/hsm4ssld" version 2>&1)" "$version" \
    "installed hsm4ssld version"

pass
