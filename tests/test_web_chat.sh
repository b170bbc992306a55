#!/usr/bin/env bash
# examples/web_chat in a real browser and against programs: the page and the HTTP answers over
# curl (200, 404, 405, a plain GET of the WebSocket's path 400, another site's page 403); the
# chat's rules, a slow client told what it missed, a stalled one disconnected, and a shutdown
# with a client that does not answer (tests/web_chat_peer.py, python3-websockets); then two
# pages in headless Chromium exchanging messages, one leaving and the server stopped by SIGTERM
# (tests/web_chat_browser.py, python3-selenium and chromedriver), after which the server must
# exit 0.
#
#   test_web_chat.sh [--screenshot FILE.png]   (the tutorial's image: tutorial/images/web_chat.png)
#
# Servers print their port, which the test waits for (bounded): no fixed ports, no
# sleeps. Everything is on 127.0.0.1; every client runs under `timeout`. The browser runs in a
# session of its own, killed as a whole on every way out. Skipped (exit 77) only when Chromium
# cannot start at all; a missing package is a failure (./run installs them all). Under the
# valgrind build ($ASYNCC_RUN_PREFIX) the server runs under valgrind, which fails it on a leak.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
limit=120 # seconds any single step may take
. "$here/lib.sh"
screenshot=
if (($# == 2)) && [[ $1 == --screenshot ]]; then
    screenshot=$(realpath "$2")
elif (($# != 0)); then
    echo "usage: test_web_chat.sh [--screenshot FILE.png]" >&2
    exit 2
fi

examples=$ASYNCC_EXAMPLES_DIR
browser_session=
# The browser's whole session: the driver script, chromedriver and every Chromium process.
on_exit+=('[[ -z $browser_session ]] || kill -KILL -- "-$browser_session" 2>/dev/null')

# Debian's python3-websockets and python3-selenium are /usr/bin/python3's.
python=/usr/bin/python3
"$python" -c 'import websockets' 2>/dev/null || fail "no python3-websockets (./run installs it)"
"$python" -c 'import selenium' 2>/dev/null || fail "no python3-selenium (./run installs it)"
[[ -x /usr/bin/chromium ]] || fail "no /usr/bin/chromium (./run installs chromium)"
[[ -x /usr/bin/chromedriver ]] || fail "no /usr/bin/chromedriver (./run installs chromium-driver)"
require curl curl

# status PATH [CURL ARGS...]: the HTTP status of a request to the server.
status() {
    local path=$1
    shift
    timeout "$limit" curl -sS -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$port$path"
}

echo "web_chat: bad command lines"
for args in "--port 70000" "--port x" "--write-timeout -1" "--write-timeout 1s" "--port" "--what 1"
do
    # shellcheck disable=SC2086 # split on purpose: each string is a command line
    timeout "$limit" "${run_prefix[@]}" "$examples/web_chat" $args >/dev/null 2>"$work/usage.err" &&
        fail "web_chat $args was accepted"
    code=$?
    ((code == 2)) || fail "web_chat $args: exit status $code, not 2"
done
timeout "$limit" "${run_prefix[@]}" "$examples/web_chat" --help | grep -q '^usage: web_chat ' ||
    fail "web_chat --help"

serve web_chat "${run_prefix[@]}" "$examples/web_chat" --write-timeout 0

echo "web_chat: the page and the HTTP answers (curl)"
page=$(timeout "$limit" curl -sS -D "$work/page.head" "http://127.0.0.1:$port/")
grep -q $'^Content-Type: text/html; charset=utf-8\r$' "$work/page.head" || fail "page's type"
[[ $page == *'<title>asyncc chat</title>'*'new WebSocket('* ]] || fail "the page: $page"
[[ $(status /nowhere) == 404 ]] || fail "an unknown path is not 404"
[[ $(status / -X POST) == 405 ]] || fail "a POST of the page is not 405"
[[ $(status /chat) == 400 ]] || fail "a plain GET of /chat is not 400"
[[ $(status /chat -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Origin: http://elsewhere.example') == \
    403 ]] || fail "a handshake from another site's page is not 403"

echo "web_chat: nicknames, the message limit, binary messages, origins (python3-websockets)"
out=$(timeout "$limit" "$python" "$here/web_chat_peer.py" rules "$port" 2>"$work/rules.err") ||
    fail "the rules failed"
[[ $out == ok ]] || fail "rules: $out"

echo "web_chat: a client that does not read is told what it missed"
out=$(timeout "$limit" "$python" "$here/web_chat_peer.py" lag "$port" 2>"$work/lag.err") ||
    fail "the slow client failed"
[[ $out == ok ]] || fail "lag: $out"
stop "$server_pid" web_chat

echo "web_chat: a client that never reads is disconnected after --write-timeout"
serve web_chat_stalled "${run_prefix[@]}" "$examples/web_chat" --write-timeout 1
out=$(timeout "$limit" "$python" "$here/web_chat_peer.py" stalled "$port" \
    2>"$work/stalled.err") || fail "the stalled client failed"
[[ $out == ok ]] || fail "stalled: $out"
grep -q '^web_chat: slow: timed out$' "$work/web_chat_stalled.log" || fail "no timeout logged"
stop "$server_pid" web_chat_stalled

echo "web_chat: SIGTERM with a client that never answers the close handshake"
serve web_chat_silent "${run_prefix[@]}" "$examples/web_chat"
mkfifo "$work/silent.fifo"
timeout "$limit" "$python" "$here/web_chat_peer.py" silent "$port" >"$work/silent.fifo" \
    2>"$work/silent.err" &
pids+=("$!")
exec {silent_out}<"$work/silent.fifo"
IFS= read -r -t "$limit" -u "$silent_out" line && [[ $line == joined ]] ||
    fail "the silent client did not join: $line"
# Its close handshake times out, or the HTTP server's shutdown deadline cancels it: either way
# the server ends, with everything freed (the sanitizer and valgrind builds check that).
stop "$server_pid" web_chat_silent

echo "web_chat: two pages in headless Chromium"
serve web_chat_browser "${run_prefix[@]}" "$examples/web_chat"
mkfifo "$work/browser.fifo"
# setsid: the driver script leads a new session, so that its id names every process the
# browser starts. TMPDIR: Chromium's and chromedriver's temporary files stay in $work.
TMPDIR=$work setsid timeout "$limit" "$python" "$here/web_chat_browser.py" "$port" \
    "$server_pid" "$work" ${screenshot:+"$screenshot"} >"$work/browser.fifo" \
    2>"$work/browser.err" &
browser_session=$!
exec {browser_out}<"$work/browser.fifo"
IFS= read -r -t "$limit" -u "$browser_out" line || line=
browser_status=0
wait "$browser_session" || browser_status=$?
browser_session=
if ((browser_status == 77)); then
    cat "$work/browser.err" >&2
    exit 77
fi
((browser_status == 0)) && [[ $line == ok ]] || fail "the browser's part failed ($browser_status)"
# The browser script sent SIGTERM and saw every page closed with 1001: the server must be done.
finish "$server_pid" web_chat
((status == 0)) || fail "web_chat exited with $status after SIGTERM"
grep -q '^web_chat: SIGTERM, shutting down$' "$work/web_chat_browser.log" ||
    fail "web_chat did not log the shutdown"
if [[ -z $screenshot ]]; then
    [[ $(head -c 8 "$work/web_chat.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
        fail "the screenshot is not a PNG"
fi
echo "web_chat: ok"
