#!/usr/bin/env bash
# ssleverywhere commands beyond the main job. Covers -add_host as
# administrator, the working directory from $SSLEVERYWHERE_DIR and
# ~/.ssleverywhere, the passphrase sources (environment, env:, file:, fd:), a
# second certificate over mTLS with the identity from the first, EC keys,
# -force and symbolic links in private/, and -keypair_gen with the identity,
# with the admin token and above the server's RSA limit. It also checks
# that pass:TEXT disappears from the process arguments.
source "$(dirname "$0")/lib.sh"

require_commands openssl curl jq setsid mkfifo
require_binaries hsm4ssld ssleverywhere

WEB_PASS=web-passphrase-1234
WWW_PASS=www-passphrase-5678
NEXT_PASS=next-passphrase-9012

# add_host ARGS...: run -add_host as the admin; sets ADDED_TOKEN.
add_host() {
    cli -add_host -server "$SERVER_URL" \
        -admin_token_file "$SERVER_DATA/admin.token" "$@"
    assert_cli_status 0 "-add_host $*"
    assert_match "$CLI_OUT" '^[^[:space:]]+$' \
        "-add_host stdout: only the enrolment token"
    assert_ne "" "$CLI_ERR" "-add_host: a line on stderr"
    ADDED_TOKEN=$CLI_OUT
    LIB_SECRETS+=("$ADDED_TOKEN")
}

# key_public KEY PASS: the public key of an encrypted key file.
key_public() {
    openssl pkey -in "$1" -passin "pass:$2" -pubout
}

server_start
ROOT=$(server_root_cert)

log_step "-add_host registers hosts and prints their enrolment tokens"
add_host -cafile "$ROOT" -name web -dns web.example.test \
    -dns www.example.test -ip 127.0.0.1
WEB_TOKEN=$ADDED_TOKEN
add_host -fingerprint "$(root_fingerprint)" -name other -dns other.example.test
OTHER_TOKEN=$ADDED_TOKEN
assert_ne "$WEB_TOKEN" "$OTHER_TOKEN" "enrolment tokens of two hosts"
cli -add_host -server "$SERVER_URL" -cafile "$ROOT" \
    -admin_token_file "$SERVER_DATA/admin.token" -name web
assert_cli_status 4 "-add_host of a registered name"
assert_contains "$CLI_ERR" conflict "-add_host of a registered name: message"

log_step "\$SSLEVERYWHERE_DIR and \$SSLEVERYWHERE_PASSPHRASE"
WEB_DIR=$TEST_TMP/web
SSLEVERYWHERE_DIR=$WEB_DIR cli -enroll -server "$SERVER_URL" \
    -fingerprint "$(root_fingerprint)" -token "$WEB_TOKEN"
assert_cli_status 0 "-enroll into \$SSLEVERYWHERE_DIR"
assert_file_mode 600 "$WEB_DIR/config.json"
SSLEVERYWHERE_DIR=$WEB_DIR SSLEVERYWHERE_PASSPHRASE=$WEB_PASS \
    cli -gen_cert -name web -default
assert_cli_status 0 "-gen_cert with \$SSLEVERYWHERE_PASSPHRASE"
assert_eq "$(openssl x509 -in "$WEB_DIR/certs/web.crt" -noout -pubkey)" \
    "$(key_public "$WEB_DIR/private/web.key" "$WEB_PASS")" \
    "web.crt carries the key encrypted with \$SSLEVERYWHERE_PASSPHRASE"
assert_eq web "$(jq -r '.identity // ""' "$WEB_DIR/config.json")" \
    "identity after the first certificate"

assert_no_file "$HOME/.ssleverywhere"

log_step "without -dir and \$SSLEVERYWHERE_DIR the files go to ~/.ssleverywhere"
OTHER_PASS=other-passphrase-3456
cli -enroll -server "$SERVER_URL" -fingerprint "$(root_fingerprint)" \
    -token "$OTHER_TOKEN"
assert_cli_status 0 "-enroll into ~/.ssleverywhere"
assert_file_mode 700 "$HOME/.ssleverywhere"
assert_file_mode 700 "$HOME/.ssleverywhere/private"
assert_file_mode 600 "$HOME/.ssleverywhere/config.json"
cli -gen_cert -name other -default -passout "pass:$OTHER_PASS"
assert_cli_status 0 "-gen_cert into ~/.ssleverywhere"
assert_file_mode 600 "$HOME/.ssleverywhere/private/other.key"
assert_file_exists "$HOME/.ssleverywhere/csr/other.csr"
assert_file_exists "$HOME/.ssleverywhere/certs/ca-chain.crt"
assert_eq "$(openssl x509 -in "$HOME/.ssleverywhere/certs/other.crt" \
                 -noout -pubkey)" \
    "$(key_public "$HOME/.ssleverywhere/private/other.key" "$OTHER_PASS")" \
    "~/.ssleverywhere/certs/other.crt carries the key of private/other.key"

log_step "an existing key is kept unless -force is given"
KEY_SUM=$(sha256sum <"$WEB_DIR/private/web.key")
cli -dir "$WEB_DIR" -gen_cert -name web -default -passout "pass:$WEB_PASS" \
    -passin "pass:$WEB_PASS"
assert_cli_status 2 "-gen_cert over an existing key without -force"
assert_contains "$CLI_ERR" "$WEB_DIR/private/web.key" \
    "existing key: message names the file"
assert_contains "$CLI_ERR" -force "existing key: message names -force"
assert_eq "$KEY_SUM" "$(sha256sum <"$WEB_DIR/private/web.key")" \
    "private/web.key after the refused -gen_cert"

log_step "a second certificate over mTLS; pass:TEXT leaves the arguments"
PASS_FIFO=$TEST_TMP/passin.fifo
mkfifo -m 0600 "$PASS_FIFO"
SECRET_ARG=pass:$NEXT_PASS
"$SSLEVERYWHERE" -dir "$WEB_DIR" -gen_cert -name web.example.test -default \
    -passout "$SECRET_ARG" -passin fd:3 \
    >"$TEST_TMP/fifo.out" 2>"$TEST_TMP/fifo.err" </dev/null 3<"$PASS_FIFO" &
CLI_PID=$!
# Opening the write end lets the CLI start; it then blocks reading fd 3,
# long after its arguments were parsed.
exec 4>"$PASS_FIFO"
sleep 1
if [ -r "/proc/$CLI_PID/cmdline" ]; then
    ARGS=$(tr '\0' ' ' <"/proc/$CLI_PID/cmdline")
    assert_contains "$ARGS" "-gen_cert" "arguments of the running CLI"
    assert_not_contains "$ARGS" "$NEXT_PASS" "arguments of the running CLI"
else
    fail "the CLI exited before it read -passin fd:3:" \
         "$(cat "$TEST_TMP/fifo.err")"
fi
printf '%s\n' "$WEB_PASS" >&4
exec 4>&-
CLI_STATUS=0
wait "$CLI_PID" || CLI_STATUS=$?
CLI_OUT=$(cat "$TEST_TMP/fifo.out")
CLI_ERR=$(cat "$TEST_TMP/fifo.err")
assert_cli_status 0 "-gen_cert -name web.example.test over mTLS"
assert_eq CN=web.example.test \
    "$(cert_subject "$WEB_DIR/certs/web.example.test.crt")" \
    "second certificate subject"
key_public "$WEB_DIR/private/web.example.test.key" "$NEXT_PASS" >/dev/null ||
    fail "web.example.test.key does not open with the -passout passphrase"
assert_eq web "$(jq -r '.identity // ""' "$WEB_DIR/config.json")" \
    "identity after the second certificate"

log_step "a wrong -passin for the identity key is a local error"
cli -dir "$WEB_DIR" -gen_cert -name www.example.test -default \
    -passout "pass:$WWW_PASS" -passin pass:not-the-passphrase
assert_cli_status 2 "-gen_cert with a wrong -passin"
assert_no_file "$WEB_DIR/certs/www.example.test.crt"

log_step "EC P-384 key, file: passphrase, symbolic link replaced with -force"
printf 'keep me\n' >"$TEST_TMP/outside.txt"
ln -sf "$TEST_TMP/outside.txt" "$WEB_DIR/private/www.example.test.key"
(umask 077 && printf '%s\n' "$WWW_PASS" >"$TEST_TMP/www.pass")
EC_ARGS=(-dir "$WEB_DIR" -gen_cert -name www.example.test -manual
         -key_type ec -key_length P-384 -encryption aes -hash sha384
         -passout "file:$TEST_TMP/www.pass" -passin "env:WEB_PASS")
WEB_PASS=$WEB_PASS cli "${EC_ARGS[@]}"
assert_ne 0 "$CLI_STATUS" "-gen_cert onto a symbolic link without -force"
assert_eq "keep me" "$(cat "$TEST_TMP/outside.txt")" \
    "the symbolic link's target after -gen_cert without -force"
WEB_PASS=$WEB_PASS cli "${EC_ARGS[@]}" -force
assert_cli_status 0 "-gen_cert -manual ec P-384 -force"
assert_eq "keep me" "$(cat "$TEST_TMP/outside.txt")" \
    "the symbolic link's target after -gen_cert -force"
assert_file_mode 600 "$WEB_DIR/private/www.example.test.key"
assert_contains "$(openssl pkey -in "$WEB_DIR/private/www.example.test.key" \
                       -passin "pass:$WWW_PASS" -noout -text)" \
    "secp384r1" "www.example.test.key curve"
assert_contains "$(cert_text "$WEB_DIR/certs/www.example.test.crt")" \
    "Signature Algorithm: sha384WithRSAEncryption" \
    "www.example.test.crt signature algorithm"
chmod 0644 "$TEST_TMP/www.pass"
cli -dir "$WEB_DIR" -gen_cert -name web-3 -default \
    -passout "file:$TEST_TMP/www.pass" -passin "pass:$WEB_PASS"
assert_ne 0 "$CLI_STATUS" "-passout file: readable by others"
assert_contains "$CLI_ERR" "$TEST_TMP/www.pass" \
    "-passout file: readable by others: message names the file"

log_step "-keypair_gen with the identity and with the admin token"
cli -dir "$WEB_DIR" -keypair_gen -label web-ec -key_type ec -length 256 \
    -passin "pass:$WEB_PASS"
assert_cli_status 0 "-keypair_gen over mTLS"
printf '%s\n' "$CLI_OUT" >"$TEST_TMP/web-ec.pub"
assert_contains "$(openssl pkey -pubin -in "$TEST_TMP/web-ec.pub" -noout \
                       -text 2>&1)" "prime256v1" "-keypair_gen public key"
assert_ne "" "$CLI_ERR" "-keypair_gen: a line on stderr"
cli -dir "$WEB_DIR" -keypair_gen -label admin-rsa -key_type rsa \
    -length 2048 -admin_token_file "$SERVER_DATA/admin.token"
assert_cli_status 0 "-keypair_gen with -admin_token_file"
printf '%s\n' "$CLI_OUT" >"$TEST_TMP/admin-rsa.pub"
assert_contains "$(openssl pkey -pubin -in "$TEST_TMP/admin-rsa.pub" -noout \
                       -text 2>&1)" "Public-Key: (2048 bit)" \
    "-keypair_gen RSA public key"
cli -dir "$WEB_DIR" -keypair_gen -label web-ec -key_type ec -length 256 \
    -passin "pass:$WEB_PASS"
assert_cli_status 4 "-keypair_gen with a label in use"
# The CLI accepts RSA up to 16384 bits; the server's HSMs stop at 8192.
cli -dir "$WEB_DIR" -keypair_gen -label big-rsa -key_type rsa -length 16384 \
    -admin_token_file "$SERVER_DATA/admin.token"
assert_cli_status 4 "-keypair_gen -length 16384"
assert_contains "$CLI_ERR" 8192 "-keypair_gen -length 16384: the server's limit"

pass
