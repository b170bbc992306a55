// Node.js peers of asyncc's micro-benchmarks (bench/peers/micro.sh). One benchmark per run:
// `node micro.js BENCHMARK COUNT`. Each prints `benchmark<TAB>node<TAB>value<TAB>unit` after
// checking that the work was done (a sum or a count), or exits non-zero.
'use strict';

const fs = require('fs');

// A field of /proc/self/status ('VmRSS', 'VmHWM') in bytes.
function statusBytes(field) {
    const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return parseInt(line.slice(field.length + 1), 10) * 1024;
}

const rssBytes = () => statusBytes('VmRSS');

function nowNs() {
    return process.hrtime.bigint();
}

function fail(message) {
    process.stderr.write(`node micro: ${message}\n`);
    process.exit(1);
}

// await: `await` of an already-resolved value inside an async function (in V8 every await
// suspends to the microtask queue, even of a plain value).
async function awaitReady(count) {
    const readyChild = (input) => input + 1;
    let sum = 0, want = 0;
    const start = nowNs();
    for (let i = 0; i < count; i++)
        sum += await readyChild(i & 0xffff);
    const ns = Number(nowNs() - start) / count;
    for (let i = 0; i < count; i++)
        want += (i & 0xffff) + 1;
    if (sum !== want)
        fail(`await: sum ${sum}, want ${want}`);
    return ns;
}

// spawn: call an async function that only returns a value, await its promise (the join).
async function spawn(count) {
    const trivial = async (value) => value;
    let sum = 0, want = 0;
    const start = nowNs();
    for (let i = 0; i < count; i++)
        sum += await trivial(i & 0xff);
    const ns = Number(nowNs() - start) / count;
    for (let i = 0; i < count; i++)
        want += i & 0xff;
    if (sum !== want)
        fail(`spawn: sum ${sum}, want ${want}`);
    return ns;
}

// bytes_per_task: async functions pending on one unresolved promise, resolved at the end.
async function idle(count) {
    let release, finished = 0;
    const gate = new Promise((resolve) => { release = resolve; });
    const task = async () => {
        await gate;
        finished++;
    };
    global.gc?.();
    const before = rssBytes();
    for (let i = 0; i < count; i++)
        task(); // the promise is dropped: the task is detached
    global.gc?.();
    const parked = rssBytes();
    release();
    while (finished < count)
        await new Promise((resolve) => setImmediate(resolve));
    return (parked - before) / count;
}

// timers: task i awaits a setTimeout promise firing at start + 1 s + i/count s; wall from first
// spawn to last finish, and peak RSS growth (VmHWM at the end minus VmRSS before) per task: where
// spawning is slow, the first tasks finish before the last are armed, so the RSS at any one
// moment would undercount.
async function timers(count) {
    let finished = 0;
    const task = async (deadlineMs) => {
        await new Promise((resolve) => setTimeout(resolve, deadlineMs - performance.now()));
        finished++;
    };
    global.gc?.();
    const before = rssBytes();
    const start = nowNs(), startMs = performance.now();
    for (let i = 0; i < count; i++)
        task(startMs + 1000 + (1000 * i) / count);
    while (finished < count)
        await new Promise((resolve) => setTimeout(resolve, 1));
    return [Number(nowNs() - start) / 1e9, (statusBytes('VmHWM') - before) / count];
}

// A capacity-1 queue: send waits while full, recv while empty.
class Channel {
    constructor() {
        this.full = false;
        this.value = undefined;
        this.waitingSender = null;
        this.waitingReceiver = null;
    }

    async send(value) {
        while (this.full)
            await new Promise((resolve) => { this.waitingSender = resolve; });
        this.full = true;
        this.value = value;
        const receiver = this.waitingReceiver;
        this.waitingReceiver = null;
        receiver?.();
    }

    async recv() {
        while (!this.full)
            await new Promise((resolve) => { this.waitingReceiver = resolve; });
        this.full = false;
        const sender = this.waitingSender;
        this.waitingSender = null;
        sender?.();
        return this.value;
    }
}

// channel_pingpong: two async functions, two capacity-1 channels; ns per round trip.
async function pingpong(count) {
    const there = new Channel(), back = new Channel();
    const ponger = async () => {
        for (let i = 0; i < count; i++)
            await back.send((await there.recv()) + 1);
    };
    const start = nowNs();
    const ponging = ponger();
    for (let i = 0; i < count; i++) {
        await there.send(i);
        const reply = await back.recv();
        if (reply !== i + 1)
            fail(`pingpong: got ${reply}, want ${i + 1}`);
    }
    await ponging;
    return Number(nowNs() - start) / count;
}

async function main() {
    const [name, countText] = process.argv.slice(2);
    const count = Number(countText);
    if (!Number.isInteger(count) || count <= 0)
        fail('usage: node micro.js await|spawn|idle|timers|pingpong COUNT');
    const line = (benchmark, value, unit) => process.stdout.write(`${benchmark}\tnode\t${value.toFixed(6)}\t${unit}\n`);
    switch (name) {
    case 'await': line('await', await awaitReady(count), 'ns'); break;
    case 'spawn': line('spawn', await spawn(count), 'ns'); break;
    case 'idle': line('bytes_per_task', await idle(count), 'B'); break;
    case 'timers': {
        const [wall, bytes] = await timers(count);
        line('timers_1m_wall', wall, 's');
        line('timers_1m_bytes', bytes, 'B');
        break;
    }
    case 'pingpong': line('channel_pingpong', await pingpong(count), 'ns'); break;
    default: fail(`unknown benchmark ${name}`);
    }
}

main();
