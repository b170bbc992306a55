#!/usr/bin/env bash
# The static library's global symbols are asyncc's own, so that a program can link libasyncc.a
# next to its own copy of a library asyncc compiles in (llhttp):
#   - `nm` of the archive shows no global llhttp_* symbol (CMakeLists.txt renames asyncc's copy
#     asyncc_llhttp_*), and no defined global outside the ac_ and asyncc_ prefixes;
#   - a program that compiles llhttp's own sources and also uses asyncc's HTTP client links,
#     and each copy of llhttp parses with its own code.
#
# Environment (set by CMake): ASYNCC_LIBRARY, ASYNCC_C_COMPILER, ASYNCC_C_FLAGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
library=${ASYNCC_LIBRARY:?set ASYNCC_LIBRARY to the built libasyncc.a}
read -r -a c_flags <<<"${ASYNCC_C_FLAGS:-}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Defined globals: "T name", "D name", ... (the archive's member headers are skipped). Names the
# compiler makes for its instrumentation (ASan's "__odr_asan.*") start with "__".
nm -g --defined-only "$library" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u >"$work/globals"
count=$(wc -l <"$work/globals")
if ((count < 100)); then
    echo "FAIL: nm found $count defined globals in $library, expected well over 100"
    exit 1
fi
failed=0
while read -r name; do
    echo "FAIL: libasyncc.a defines the global $name: a program with its own llhttp clashes"
    failed=$((failed + 1))
done < <(grep '^llhttp' "$work/globals")
while read -r name; do
    echo "FAIL: libasyncc.a defines the global $name, outside asyncc's prefixes (ac_, asyncc_)"
    failed=$((failed + 1))
done < <(grep -v -e '^ac_' -e '^asyncc_' -e '^__' "$work/globals")
grep -q '^asyncc_llhttp_execute$' "$work/globals" || {
    echo "FAIL: no asyncc_llhttp_execute in $library: is llhttp still compiled in?"
    failed=$((failed + 1))
}
((failed == 0)) || exit 1

# A program with llhttp of its own (Debian's node-llhttp sources, as the build uses them).
llhttp_include=/usr/share/include/llhttp
llhttp_sources=/usr/share/llhttp
cat >"$work/program.c" <<'C'
#include <asyncc.h>
#include <llhttp.h>
#include <stdio.h>
#include <string.h>

/* The program's own llhttp: a response parsed with its settings. */
static int statuses;
static int on_status(llhttp_t *parser, const char *at, size_t len)
{
    (void)parser, (void)at, (void)len;
    statuses++;
    return 0;
}

int main(void)
{
    static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    llhttp_settings_t settings;
    llhttp_t parser;
    ac_executor *ex = ac_executor_new();
    ac_http_client *client;
    ac_http_client_request *req;
    llhttp_settings_init(&settings);
    settings.on_status = on_status;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    if (llhttp_execute(&parser, response, strlen(response)) != HPE_OK || statuses != 1)
        return 1;
    /* asyncc's, through its client: a request needs no server until it is sent */
    if (!ex || ac_http_client_new(ex, NULL, &client) != 0 ||
        ac_http_client_request_new(client, "GET", "http://localhost/", &req) != 0)
        return 2;
    ac_http_client_request_free(req);
    ac_http_client_free(client);
    ac_executor_free(ex);
    puts("ok");
    return 0;
}
C
# shellcheck disable=SC2207 # pkg-config prints several words on purpose
libs=($(pkg-config --libs libevent_core libevent_extra libevent_pthreads openssl) -lwslay)
if ! "${ASYNCC_C_COMPILER:-cc}" "${c_flags[@]}" -I. -I"$llhttp_include" -w -o "$work/program" \
    "$work/program.c" "$llhttp_sources"/api.c "$llhttp_sources"/http.c \
    "$llhttp_sources"/llhttp.c "$library" "${libs[@]}" -lpthread -lm >"$work/log" 2>&1; then
    echo "FAIL: a program with its own llhttp does not link with libasyncc.a:"
    head -20 "$work/log"
    exit 1
fi
output=$("$work/program") || {
    echo "FAIL: the program with its own llhttp exited with $?"
    exit 1
}
[[ $output == ok ]] || {
    echo "FAIL: the program with its own llhttp said: $output"
    exit 1
}
echo "ok: $count globals, none of them llhttp's"
