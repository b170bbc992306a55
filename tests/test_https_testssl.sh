#!/usr/bin/env bash
# testssl.sh against examples/http_hello --tls: protocols, the standard cipher categories,
# forward secrecy and the known vulnerabilities (-p -s -f -U; the test CA is added, so the
# certificate's own checks pass) must report nothing of severity LOW or worse — in particular
# no HIGH or CRITICAL finding. About a minute; skipped under valgrind, where the handshakes
# testssl makes by the hundred would take far longer.
limit=300
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
here=$(cd "$(dirname "$0")" && pwd)

if ((${#run_prefix[@]})); then
    echo "https_testssl: skipped under $ASYNCC_RUN_PREFIX"
    exit 0
fi

testssl=$(command -v testssl || command -v testssl.sh) ||
    fail "testssl.sh is missing (./run installs the testssl.sh package)"
require python3 python3
bash "$here/tls_make_certs.sh" "$work" >/dev/null 2>&1 || fail "tls_make_certs.sh failed"

mkfifo "$work/server.fifo"
"$examples/http_hello" --tls "$work/server.pem" "$work/server.key" \
    >"$work/server.fifo" 2>"$work/server.err" &
server_pid=$!
pids+=("$server_pid")
exec {server_out}<"$work/server.fifo"
if ! IFS= read -r -t 60 -u "$server_out" line; then
    if grep -q 'not supported' "$work/server.err"; then
        echo "https_testssl: skipped, asyncc was built without TLS (ASYNCC_TLS off)"
        exit 0
    fi
    fail "the server printed no address"
fi
[[ $line =~ ^listening\ on\ (127\.0\.0\.1:[0-9]+)$ ]] || fail "unexpected first line: $line"

echo "https_testssl: testssl -p -s -f -U against ${BASH_REMATCH[1]}"
timeout "$limit" "$testssl" --quiet --color 0 --warnings off --add-ca "$work/ca.pem" \
    -p -s -f -U --jsonfile "$work/testssl.json" "${BASH_REMATCH[1]}" >"$work/testssl.out" 2>&1 ||
    fail "testssl: exit $? ($(tail -5 "$work/testssl.out"))"
python3 - "$work/testssl.json" <<'PY' || fail "testssl reported findings (above)"
import json, sys
findings = json.load(open(sys.argv[1]))
bad = [f for f in findings if f.get("severity") in ("LOW", "MEDIUM", "HIGH", "CRITICAL", "FATAL")]
for f in bad:
    print(f"{f['severity']}: {f['id']}: {f['finding']}", file=sys.stderr)
if not findings:
    print("testssl wrote no findings", file=sys.stderr)
sys.exit(1 if bad or not findings else 0)
PY
stop "$server_pid" http_hello
echo "https_testssl: ok ($(grep -c '"severity"' "$work/testssl.json" || true) checks, none LOW or worse)"
