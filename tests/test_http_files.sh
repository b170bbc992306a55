#!/usr/bin/env bash
# examples/http_files against curl and nc: a file with its Content-Type, Content-Length and
# Last-Modified; HEAD; 404 and 403; traversal attempts ("..", encoded "..", a symlink out of
# the directory) refused while a symlink inside is followed; If-Modified-Since (304); single
# ranges (206, 416) and ranges that are ignored; a large file byte for byte, whole and in a
# range that crosses the server's 64 KiB pieces; a client that hangs up mid-body; SIGTERM.
#
# The server prints its address on stdout, which the test waits for (bounded): no fixed
# ports. Everything is on 127.0.0.1; every client runs under `timeout`. Under the
# valgrind build ($ASYNCC_RUN_PREFIX) the server runs under valgrind, which fails it (exit 99)
# on a leak or memory error — the hung-up client's job included.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
require 'curl, netcat-openbsd' curl nc timeout

# The served directory, and a secret beside it that no request may reach.
root=$work/root
mkdir -p "$root/docs" "$root/empty_dir"
printf 'hello, files\n' >"$root/hello.txt"
printf '<p>index</p>\n' >"$root/docs/index.html"
printf '{"a":1}\n' >"$root/data.JSON"
: >"$root/empty.bin"
head -c 5000000 /dev/urandom >"$root/large.bin"
printf 'top secret\n' >"$work/secret.txt"
ln -s ../secret.txt "$root/out_link"
ln -s hello.txt "$root/in_link"
touch -d '2020-01-02 03:04:05 UTC' "$root/hello.txt"

serve server "${run_prefix[@]}" "$examples/http_files" "$root"
base=http://127.0.0.1:$port

run_curl() {
    timeout "$limit" curl --silent --show-error --max-time "$limit" "$@"
}

# status URL [curl options...]: the status code alone.
status() {
    local url=$1
    shift
    run_curl -o /dev/null -w '%{http_code}' "$@" "$url"
}

# head_of URL [curl options...]: the response's head without Date, CRs stripped.
head_of() {
    local url=$1
    shift
    run_curl -D - -o /dev/null "$@" "$url" | tr -d '\r' | sed '/^Date: .* GMT$/d'
}

echo "http_files: a file, its type, length and date"
[[ $(run_curl "$base/hello.txt") == 'hello, files' ]] || fail "GET /hello.txt"
expected=$'HTTP/1.1 200 OK\nLast-Modified: Thu, 02 Jan 2020 03:04:05 GMT\nAccept-Ranges: bytes'
expected+=$'\nContent-Type: text/plain; charset=utf-8\nContent-Length: 13'
[[ $(head_of "$base/hello.txt") == "$expected" ]] ||
    fail "the head of /hello.txt: $(head_of "$base/hello.txt")"
head_of "$base/data.JSON" | grep -qx 'Content-Type: application/json' ||
    fail "an upper-case extension: $(head_of "$base/data.JSON")"
head_of "$base/large.bin" | grep -qx 'Content-Type: application/octet-stream' ||
    fail "an unknown type"
[[ $(run_curl "$base/docs/") == '<p>index</p>' ]] || fail "a directory serves its index.html"
[[ $(run_curl "$base/in_link") == 'hello, files' ]] || fail "a symlink inside is followed"
[[ $(status "$base/h%65llo.txt") == 200 ]] || fail "a percent-encoded path"
[[ $(head_of "$base/empty.bin") == *$'\nContent-Length: 0' ]] || fail "an empty file"

echo "http_files: HEAD"
run_curl -I "$base/hello.txt" | tr -d '\r' | sed '/^Date: .* GMT$/d' >"$work/head.out"
[[ $(cat "$work/head.out") == "$expected" ]] || fail "HEAD /hello.txt: $(cat "$work/head.out")"
# HEAD then GET on one connection: no body bytes followed the HEAD's head, or the GET's
# response would be garbled.
printf '%s' $'HEAD /large.bin HTTP/1.1\r\nHost: a\r\n\r\n' \
    $'GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' |
    timeout "$limit" nc 127.0.0.1 "$port" | tr -d '\r' >"$work/head_get.out" || fail "nc: exit $?"
grep -qx 'Content-Length: 5000000' "$work/head_get.out" || fail "HEAD's Content-Length"
[[ $(tail -n 1 "$work/head_get.out") == 'hello, files' ]] ||
    fail "HEAD then GET: $(cat "$work/head_get.out")"

echo "http_files: 404, 403, 405, 400"
[[ $(status "$base/missing.txt") == 404 ]] || fail "a missing file is not 404"
[[ $(status "$base/hello.txt/x") == 404 ]] || fail "a path through a file is not 404"
[[ $(status "$base/empty_dir/") == 404 ]] || fail "a directory without index.html is not 404"
[[ $(status "$base/" -X POST) == 405 ]] || fail "POST is not 405"
head_of "$base/" -X DELETE | grep -qx 'Allow: GET, HEAD' || fail "405 without Allow"
[[ $(status "$base/a%00b") == 400 ]] || fail "%00 is not 400"
[[ $(status "$base/a%zz") == 400 ]] || fail "a bad escape is not 400"

echo "http_files: traversal refused"
[[ $(status "$base/../secret.txt" --path-as-is) == 403 ]] || fail "/../ is not 403"
[[ $(status "$base/docs/../../secret.txt" --path-as-is) == 403 ]] || fail "/docs/../../"
[[ $(status "$base/%2e%2e/secret.txt" --path-as-is) == 403 ]] || fail "an encoded .."
[[ $(status "$base/docs%2f..%2f..%2fsecret.txt" --path-as-is) == 403 ]] ||
    fail "an encoded slash and .."
[[ $(status "$base/out_link") == 403 ]] || fail "a symlink out of the directory is not 403"
! run_curl "$base/out_link" | grep -q secret || fail "the secret leaked"

echo "http_files: If-Modified-Since"
[[ $(status "$base/hello.txt" -H 'If-Modified-Since: Thu, 02 Jan 2020 03:04:05 GMT') == 304 ]] ||
    fail "the same date is not 304"
[[ $(status "$base/hello.txt" -H 'If-Modified-Since: Fri, 03 Jan 2020 00:00:00 GMT') == 304 ]] ||
    fail "a later date is not 304"
[[ $(status "$base/hello.txt" -H 'If-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT') == 200 ]] ||
    fail "an earlier date is not 200"
[[ $(status "$base/hello.txt" -H 'If-Modified-Since: yesterday') == 200 ]] ||
    fail "a date that does not parse is not ignored"
[[ $(run_curl "$base/hello.txt" -H 'If-Modified-Since: Thu, 02 Jan 2020 03:04:05 GMT' |
    wc -c) == 0 ]] || fail "a 304 with a body"

echo "http_files: ranges"
[[ $(run_curl -r 0-4 "$base/hello.txt") == hello ]] || fail "bytes=0-4"
head_of "$base/hello.txt" -r 0-4 | grep -qx 'Content-Range: bytes 0-4/13' || fail "Content-Range"
[[ $(status "$base/hello.txt" -r 0-4) == 206 ]] || fail "bytes=0-4 is not 206"
[[ $(run_curl -r 7- "$base/hello.txt") == files ]] || fail "bytes=7-"
[[ $(run_curl -r -6 "$base/hello.txt") == files ]] || fail "bytes=-6"
[[ $(run_curl -r 7-1000 "$base/hello.txt") == files ]] || fail "a range past the end is cut"
[[ $(status "$base/hello.txt" -r 13-20) == 416 ]] || fail "a range past the end is not 416"
head_of "$base/hello.txt" -r 13-20 | grep -qx 'Content-Range: bytes \*/13' ||
    fail "416 without Content-Range"
[[ $(status "$base/hello.txt" -r 0-1,4-5) == 200 ]] || fail "several ranges are not ignored"
[[ $(status "$base/hello.txt" -H 'Range: bytes=5-2') == 200 ]] ||
    fail "a malformed range is not ignored"
[[ $(status "$base/hello.txt" -H 'Range: lines=1-2') == 200 ]] || fail "another unit"

echo "http_files: a large file, whole and in a range, byte for byte"
run_curl "$base/large.bin" -o "$work/large.got" || fail "GET /large.bin: exit $?"
cmp "$root/large.bin" "$work/large.got" >&2 || fail "the large file came back different"
run_curl -r 65000-300000 "$base/large.bin" -o "$work/range.got" || fail "a range: exit $?"
dd if="$root/large.bin" of="$work/range.expected" iflag=skip_bytes,count_bytes skip=65000 \
    count=235001 status=none
cmp "$work/range.expected" "$work/range.got" >&2 || fail "the range came back different"

echo "http_files: a client that hangs up mid-body"
# 64 KiB of a 5 MB body, then the connection is gone: the handler is cancelled with the job
# handed to a blocking thread or held between writes; the server goes on.
printf '%s' $'GET /large.bin HTTP/1.1\r\nHost: a\r\n\r\n' |
    timeout "$limit" nc 127.0.0.1 "$port" | head -c 65536 >/dev/null || true
[[ $(run_curl "$base/hello.txt") == 'hello, files' ]] || fail "the server after a hang-up"

echo "http_files: SIGTERM"
stop "$server_pid" http_files
echo "http_files: ok"
