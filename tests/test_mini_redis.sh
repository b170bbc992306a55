#!/usr/bin/env bash
# examples/mini_redis against Debian's redis-cli and redis-benchmark, and against a real
# redis-server (started here, on a free loopback port, with persistence off):
#   - redis-cli basics; the same command script (tests/mini_redis/commands.txt: every supported
#     command, its options and its errors) sent to both servers through redis-cli, as inline
#     commands and as RESP arrays, in one write (a pipeline): the replies must be the same, byte
#     for byte;
#   - protocol errors (malformed RESP, a bulk length of 2^40, absurd counts, over-long lines,
#     unbalanced quotes): the same "ERR Protocol error: ..." and the same close;
#   - a pipeline of a thousand commands in one write, compared with redis's answers;
#   - pub/sub with two subscribers; a subscriber that stops reading, disconnected at the output
#     limit (--pubsub-limit) while the server carries on;
#   - expiry: a PX key polled until gone, and active expiry emptying the database (DBSIZE)
#     without any lookup;
#   - bad clients: a 10 MB inline command, half a command and a hang-up, half a command and
#     silence (the idle timeout closes it);
#   - a redis-benchmark smoke run (SET, GET, INCR, unpipelined and -P 16) in which every INCR
#     must have counted once; and a clean exit on SIGTERM.
# Nothing waits a fixed time: every wait polls with a deadline. Under the valgrind build
# ($ASYNCC_RUN_PREFIX set) mini_redis runs under valgrind (exit 99 on a leak or memory error),
# deadlines grow and counts shrink.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
data=$(cd "$(dirname "${BASH_SOURCE[0]}")/mini_redis" && pwd)
if ((${#run_prefix[@]})); then limit=120 requests=300; else limit=30 requests=2000; fi
require 'redis-server, redis-tools and python3' redis-server redis-cli redis-benchmark python3 \
    timeout

# serve_mini <name> <args...>: mini_redis, started by lib.sh's serve (sets $port, $server_pid).
serve_mini() {
    serve "$1" "${run_prefix[@]}" "$examples/mini_redis" "${@:2}"
}

# A real redis-server on a free port: the port is free when we look, so another process may
# take it before redis binds it; then redis exits and we try another. Sets $redis_port.
start_redis() {
    local tries deadline
    for ((tries = 0; tries < 5; tries++)); do
        redis_port=$(free_port)
        redis-server --save "" --appendonly no --port "$redis_port" --bind 127.0.0.1 \
            --dir "$work" --daemonize no >"$work/redis-server.log" 2>&1 &
        redis_pid=$!
        pids+=("$redis_pid")
        deadline=$((SECONDS + limit))
        while kill -0 "$redis_pid" 2>/dev/null && ((SECONDS < deadline)); do
            [[ $(redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]] && return 0
            sleep 0.05
        done
    done
    fail "redis-server did not start"
}

cli() { timeout "$limit" redis-cli -p "$port" "$@"; }

# expect <what> <expected> <command...>: the command's output must be exactly this.
expect() {
    local what=$1 expected=$2 got
    shift 2
    got=$("$@") || fail "$what: exit status $?"
    [[ $got == "$expected" ]] || fail "$what: expected '$expected', got '$got'"
}

# until_output <what> <expected> <command...>: polls the command until it prints this.
until_output() {
    local what=$1 expected=$2 deadline=$((SECONDS + limit))
    shift 2
    until [[ $("$@" 2>/dev/null) == "$expected" ]]; do
        ((SECONDS < deadline)) || fail "$what: never printed '$expected' within ${limit}s"
        sleep 0.05
    done
}

# exchange <port> [options...]: tests/mini_redis/exchange.py (a script in one write, and every
# byte of the answer).
exchange() { timeout "$limit" python3 "$data/exchange.py" "$1" --timeout "$limit" "${@:2}"; }

# same <what> <file>: the file's bytes, sent raw to both servers, get the same answer.
same() {
    local what=$1 file=$2
    shift 2
    exchange "$redis_port" "$@" <"$file" >"$work/redis.reply" || fail "$what: redis-server timed out"
    exchange "$port" "$@" <"$file" >"$work/mini.reply" || fail "$what: mini_redis timed out"
    cmp -s "$work/redis.reply" "$work/mini.reply" ||
        fail "$what: replies differ:$(diff <(od -c "$work/redis.reply") <(od -c "$work/mini.reply") | head -n 20)"
}

start_redis
serve_mini mini --pubsub-limit 262144

echo "mini_redis: active expiry empties the database without a lookup"
for ((i = 0; i < 50; i++)); do printf 'SET volatile:%d x PX 20\r\n' "$i"; done >"$work/volatile"
printf 'QUIT\r\n' >>"$work/volatile"
exchange "$port" <"$work/volatile" >/dev/null
until_output "active expiry" 0 cli dbsize

echo "mini_redis: redis-cli"
expect "ping" PONG cli ping
expect "set" OK cli set greeting "hello world"
expect "get" "hello world" cli get greeting
expect "incr" 1 cli incr visits
expect "del" 2 cli del greeting visits
expect "error" "ERR unknown command 'nosuch', with args beginning with: 'x' " cli nosuch x

echo "mini_redis: the command script, as redis-server answers it"
# redis-cli stays subscribed for ever after a SUBSCRIBE: give it the part before those.
sed '/SUBSCRIBE/,$d' "$data/commands.txt" >"$work/cli_commands"
timeout "$limit" redis-cli -p "$redis_port" <"$work/cli_commands" >"$work/redis.cli" 2>&1
cli <"$work/cli_commands" >"$work/mini.cli" 2>&1
cmp -s "$work/redis.cli" "$work/mini.cli" ||
    fail "redis-cli output differs:$(diff "$work/redis.cli" "$work/mini.cli" | head -n 20)"
same "commands as RESP arrays" "$data/commands.txt" --multibulk
same "commands inline" "$data/commands.txt"

echo "mini_redis: protocol errors, as redis-server answers them"
long=$(head -c 65537 /dev/zero | tr '\0' x) # one byte over redis's 64 KiB
bad_inputs=(
    '*1\r\n$1099511627776\r\n'           # a bulk length of 2^40
    'PING\r\n*2\r\n$4\r\nECHO\r\n$-1\r\n' # answered, then the error
    '*abc\r\n'
    '*3000000000\r\n' # more than INT_MAX arguments
    '*1\r\n:5\r\n'
    '*2\r\n$4\r\nECHO\r\n\r\n'
    'SET a "b\r\n'
    "SET a 'b'c\r\n"
    '\r\n*0\r\n*-1\r\n   \r\nPING\r\nQUIT\r\n' # commands of nothing, skipped
    "$long"                                 # an inline line
    "*$long"                                # a count line
    "*1\r\n\$$long"                        # a bulk length line
)
bad_files=()
for i in "${!bad_inputs[@]}"; do
    printf "${bad_inputs[$i]}" >"$work/bad$i"
    bad_files+=("$work/bad$i")
done
exchange "$redis_port" --save redis "${bad_files[@]}" || fail "redis-server kept a connection open"
exchange "$port" --save mini "${bad_files[@]}" || fail "mini_redis kept a connection open"
for i in "${!bad_inputs[@]}"; do
    cmp -s "$work/bad$i.redis" "$work/bad$i.mini" ||
        fail "protocol error $i: replies differ: $(od -c "$work/bad$i.redis" | head -n 3) vs $(od -c "$work/bad$i.mini" | head -n 3)"
done

echo "mini_redis: a thousand pipelined commands in one write"
for ((i = 0; i < 250; i++)); do
    printf 'SET pipe:%d %d\r\nINCR pipe:%d\r\nGET pipe:%d\r\nPING\r\n' "$i" "$i" "$i" "$i"
done >"$work/pipeline"
printf 'DEL' >>"$work/pipeline"
for ((i = 0; i < 250; i++)); do printf ' pipe:%d' "$i"; done >>"$work/pipeline"
printf '\r\nQUIT\r\n' >>"$work/pipeline"
same "pipeline" "$work/pipeline" --multibulk
replies=$(grep -c $'\r$' "$work/mini.reply") # SET, INCR, GET (2 lines), PING; DEL, QUIT
((replies == 250 * 5 + 2)) || fail "pipeline: $replies reply lines"

echo "mini_redis: pub/sub with two subscribers"
for name in sub1 sub2; do
    timeout "$limit" redis-cli -p "$port" subscribe news >"$work/$name.out" 2>&1 &
    pids+=("$!")
    eval "${name}_pid=$!"
done
until_output "both subscribed" 2 cli publish news probe
for ((i = 1; i <= 20; i++)); do expect "publish $i" 2 cli publish news "item $i"; done
for name in sub1 sub2; do
    until_output "$name received" "item 20" grep -x "item 20" "$work/$name.out"
    got=$(grep -x 'item [0-9]*' "$work/$name.out")
    [[ $got == "$(for ((i = 1; i <= 20; i++)); do echo "item $i"; done)" ]] ||
        fail "$name did not get each item once, in order"
done
kill "$sub1_pid" "$sub2_pid"
until_output "subscribers gone" 0 cli publish news bye

echo "mini_redis: a subscriber that stops reading is disconnected at the output limit"
exec {slow}<>"/dev/tcp/127.0.0.1/$port"
printf 'SUBSCRIBE slow\r\n' >&"$slow"
until_output "slow subscribed" 1 cli publish slow probe
head -c 65536 /dev/zero | tr '\0' m >"$work/message" # a quarter of the limit
for ((i = 0; ; i++)); do
    ((i < 400)) || fail "the slow subscriber was never disconnected"
    [[ $(cli -x publish slow <"$work/message") == 0 ]] && break
done
exec {slow}>&-
expect "still serving" PONG cli ping

echo "mini_redis: expiry"
expect "set px" OK cli set short v px 50
until_output "expired" "" cli get short
expect "ttl of a gone key" -2 cli ttl short

echo "mini_redis: bad clients"
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' x >"$work/huge"
reply=$(exchange "$port" <"$work/huge") || fail "10 MB inline: the connection was not closed"
[[ -z $reply || $reply == $'-ERR Protocol error: too big inline request\r' ]] ||
    fail "10 MB inline: unexpected reply '${reply:0:80}'"
printf '*2\r\n$3\r\nGET\r\n$3\r\nab' | exchange "$port" --hang-up >/dev/null ||
    fail "half a command, then a hang-up"
expect "still serving" PONG cli ping

echo "mini_redis: redis-benchmark"
for pipeline in 1 16; do
    timeout "$limit" redis-benchmark -p "$port" -n "$requests" -c 10 -P "$pipeline" \
        -t set,get,incr --csv >"$work/bench.log" 2>&1 || fail "redis-benchmark -P $pipeline"
    for test in SET GET INCR; do
        grep -q "^\"$test\",\"[0-9.]*\"" "$work/bench.log" || fail "no $test result (-P $pipeline)"
    done
done
# -P 16 sends whole batches of 16: the last may go past -n.
expect "every INCR counted once" $((requests + (requests + 15) / 16 * 16)) \
    cli get 'counter:__rand_int__'

stop "$server_pid" mini_redis

echo "mini_redis: half a command and silence: the idle timeout closes it"
serve_mini idle --idle-timeout 1
exec {half}<>"/dev/tcp/127.0.0.1/$port"
printf '*2\r\n$3\r\nGET\r\n' >&"$half"
timeout "$limit" cat <&"$half" >/dev/null || fail "the idle connection was not closed"
exec {half}>&-
stop "$server_pid" "mini_redis --idle-timeout 1"
echo "mini_redis: ok"
