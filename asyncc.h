/*
 * asyncc.h — Rust-style async/await for C, on libevent.
 *
 * This header is the manual. Read it top to bottom once; after that, each section stands alone.
 *
 *   1. Overview and a complete example
 *   2. The rules (locals, switch, cleanup, moving frames)
 *   3. Names and conventions, and a quick reference of every awaitable
 *   4. Futures and polling (the protocol every future speaks)
 *   5. The DSL: ASYNC_FN, AWAIT, ASYNC_RETURN, ASYNC_FINALLY, ...
 *   6. Errors
 *   7. The executor
 *   8. Tasks: spawn, join, detach, abort
 *   9. Time: sleep, timeouts
 *  10. Bridges between sync and async code: block_on, spawn_blocking, other threads
 *  11. Diagnostics: the async backtrace, the slow-poll watchdog, misuse checks
 *  12. Writing leaf futures
 *  13. Async I/O: registered file descriptors and readiness
 *  14. Sockets: TCP, UDP and Unix-domain; DNS: resolving names and connecting by name
 *  15. Streams: buffered reads, lines, write-all, buffered writes and flush, copy
 *  16. Combinators: join, try-join, select; interval timers
 *  17. Channels: mpsc (bounded and unbounded), oneshot, broadcast, watch
 *  18. Synchronisation: notify, semaphore, mutex, rwlock, barrier, once cell
 *  19. Task groups: structured concurrency
 *  20. Generators and streams: ASYNC_YIELD and FOR_AWAIT
 *  21. HTTP: an HTTP/1.1 server
 *  22. HTTP: an HTTP/1.1 client
 *  23. TLS: encrypted streams on OpenSSL 3, HTTPS
 *  24. WebSockets: the server's upgrade, a client, messages, ping/pong, the close handshake
 *  25. Signals and child processes
 *  26. Runtimes: one executor per core, spawning and joining across threads
 *  27. Files: whole-file and chunked reads and writes, metadata, directories; stdin/stdout
 *  28. Framing: lines, length-prefixed frames, your own decoder; writing frames
 *
 * ---------------------------------------------------------------------------------------------
 * 1. OVERVIEW
 *
 * An async function is a C function that can stop in the middle (at an AWAIT) and carry on later
 * from exactly that point. asyncc turns it into a *future*: a frame struct holding its parameters,
 * the locals that must survive an await, and the frames of the async functions it calls, plus a
 * poll function that the macros generate. Polling the future runs it until it must wait
 * (AC_PENDING) or until it is finished (ready). This is Rust's `async fn`, `.await`,
 * `Future::poll` and `Waker`, written by hand with macros:
 *
 *     #include <asyncc.h>
 *     #include <stdio.h>
 *
 *     struct countdown {           // the frame: everything that lives across an await
 *         ac_future future;        // header; always the first member
 *         int n;                   // a parameter
 *         ac_sleep_ms_op nap;      // a child future, embedded: awaiting allocates nothing
 *     };
 *
 *     ASYNC_FN(countdown)          // defines the poll function; `self` is the frame
 *         while (self->n > 0) {
 *             printf("%d...\n", self->n--);
 *             AWAIT(ac_sleep_ms(&self->nap, 100));
 *         }
 *         ASYNC_RETURN(0);
 *     ASYNC_END
 *
 *     ac_future *countdown(struct countdown *self, int from)   // the constructor
 *     {
 *         return ASYNC_NEW(self, countdown, .n = from);        // the other fields start at 0
 *     }
 *
 *     int main(void)
 *     {
 *         ac_executor *ex = ac_executor_new();
 *         struct countdown c;
 *         int rc = ac_block_on(ex, countdown(&c, 3));   // runs it to completion
 *         ac_executor_free(ex);
 *         return rc < 0;
 *     }
 *
 * Calling `countdown(&c, 3)` runs nothing: it fills in the frame `c` (in storage the caller
 * provides; nothing is allocated) and returns it as an `ac_future *`. The executor polls it.
 * Spawning it as a task (ac_spawn) copies the frame into one allocation with the task header.
 *
 * ---------------------------------------------------------------------------------------------
 * 2. THE RULES
 *
 * - Locals. Stack variables do NOT survive an AWAIT: the function returns to the executor at an
 *   await and re-enters later. Keep everything that must live across an await in the frame
 *   (`self->x`). Plain locals are fine inside a block that contains no AWAIT:
 *       // fragment: statements of a body whose frame has `name` and `total`
 *       { int len = strlen(self->name); self->total += len; }
 *   Compilers catch only some of these mistakes. gcc's -Wjump-misses-init (C) flags a local
 *   declared with an initialiser at the top level of the body (not inside a block) before an
 *   await; with the default backend it is silent when the local is declared inside a block or
 *   loop that contains the await, or in a `for (int i = ...)` header, and with either backend
 *   when the local is declared without an initialiser and assigned later. clang has no such
 *   warning in C. In C++ jumping over an initialisation is an error, so clang++ rejects every
 *   initialised local that spans an await (g++ misses the inner-block ones with the default
 *   backend). For the rest, run tools/asyncc-lint over your sources, as
 *   `tools/asyncc-lint -I<dir of asyncc.h> [-D...] file.c...`. It parses each file with clang and reports, as file:line with the variable's name, every
 *   local read after an await it was in scope at (before being assigned again), and every
 *   local whose address an awaited operation or the frame keeps while the function is
 *   suspended (`&x` passed to ac_mpsc_recv, a stack buffer to ac_io_read, ASYNC_YIELD(buf)).
 *   Exit status 1 when it reports anything. Its limits (path-insensitive; an array declared
 *   before an await and filled after it is reported; pointers escaping through other calls
 *   are not followed) are listed in the tool's help (--help).
 * - switch. With the default backend (computed goto; gcc and clang) AWAIT may appear anywhere,
 *   including inside a `switch`. With the portable backend (`#define ASYNCC_PORTABLE 1` before
 *   including this header) resume points are `case` labels, so an AWAIT inside a user `switch`
 *   cannot work: it aborts on resume with "AWAIT inside a switch statement" and the file:line.
 * - One await per line. Two AWAITs on one source line fail to compile (duplicate label/case).
 * - Cleanup. ASYNC_FINALLY marks code that runs exactly once when the function ends — on
 *   ASYNC_RETURN, on falling off the end, and when the future is cancelled. It cannot await.
 *   ASYNC_RESULT tells it why it runs (>= 0 value, < 0 error, -ECANCELED when cancelled).
 * - Moving. A frame may be copied (ac_spawn does) before its first poll, never after: a
 *   suspended frame may be pointed to by timers, wakers and its parent. A constructor must not
 *   store pointers into its own frame; take them in the body instead.
 * - Frames start at zero. ASYNC_NEW (section 5) sets the fields it names and zeroes the rest,
 *   so a flag or handle the body never reached reads 0 or NULL in ASYNC_FINALLY.
 * - Results. Every future finishes with an `int`: >= 0 is a value, < 0 a negative errno-style
 *   error (see section 6). Richer outputs live in the frame, where the caller reads them after
 *   the await (`self->child.sum`).
 *
 * ---------------------------------------------------------------------------------------------
 * Threads: an executor and its tasks belong to one thread. The only functions that may be
 * called from other threads are the ones marked "thread-safe" (sections 10 and 26); a runtime
 * (section 26) runs one executor per core.
 */
#ifndef ASYNCC_H
#define ASYNCC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; the library built from the same tree has the same. asyncc follows
 * semantic versioning; while the major version is 0, a minor release may change the API, and
 * CHANGELOG.md says how. */
#define ASYNCC_VERSION_MAJOR 0
#define ASYNCC_VERSION_MINOR 2
#define ASYNCC_VERSION_PATCH 0
#define ASYNCC_VERSION                                                                             \
    (ASYNCC_VERSION_MAJOR * 10000 + ASYNCC_VERSION_MINOR * 100 + ASYNCC_VERSION_PATCH)

/* Misuse checks (section 11) are on unless NDEBUG is defined; define ASYNCC_DEBUG to 0 or 1 to
 * choose explicitly. Struct layouts do not depend on it. */
#ifndef ASYNCC_DEBUG
#ifdef NDEBUG
#define ASYNCC_DEBUG 0
#else
#define ASYNCC_DEBUG 1
#endif
#endif

/* AC_API starts every function declaration the library exports. The library is compiled with
 * hidden visibility, so only these are in the shared library's symbol table: the runtime's own
 * helpers stay private (no program can come to depend on them, and calls between them need no
 * PLT indirection). The `_`-suffixed internals are exported too, because the macros call them
 * from your code. tests/test_exports.sh checks that the exports and these declarations agree. */
#if defined(__GNUC__) || defined(__clang__)
#define AC_API __attribute__((visibility("default")))
#else
#define AC_API
#endif

/* ============================================================================================
 * 3. NAMES AND CONVENTIONS, AND A QUICK REFERENCE
 *
 * Names.
 *   ac_<object>_<verb>   every function: ac_mpsc_send, ac_stream_read_line, ac_task_abort.
 *   <constructor>_op     the storage of an awaitable operation is named after the function that
 *                        starts it: ac_mpsc_send(ac_mpsc_send_op *op, ...),
 *                        ac_socket_accept(ac_socket_accept_op *op, ...). Functions that share a
 *                        layout share the type under each name (ac_stream_flush_op is
 *                        ac_stream_write_all_op), so one frame member may serve several awaits
 *                        that are never pending at the same time.
 *   ASYNC_* / AWAIT*     the DSL macros (section 5). FOR_AWAIT is the loop (section 20).
 *   AC_*                 constants and flags.
 *   ending in `_`        internals the macros expand to: not part of the API.
 *
 * Lifecycle: one pair of words for each kind of object.
 *   _new / _free         a heap object the library allocates, with one owner (ac_executor;
 *                        ac_process, whose _new is ac_process_spawn).
 *   _init / _destroy     plain memory you own and embed (ac_notify, ac_semaphore, ac_mutex,
 *                        ac_rwlock, ac_barrier, ac_once, ac_group, ac_signal); _destroy frees
 *                        nothing.
 *                        ac_interval and ac_frame_reader (_init_lines, _init_length,
 *                        _init_decoder) have nothing to destroy.
 *   _open / _close       a registered file descriptor (ac_io, ac_stream): close deregisters it,
 *                        closes the fd it owns and frees.
 *   handles              a reference-counted object (the channels, ac_remote_waker): _new makes
 *                        the first handles, _clone or _subscribe adds one, _release gives one up;
 *                        the last release frees.
 *   _close on a channel  refuse new values (or, for ac_semaphore, new acquires) while the
 *                        handles stay valid: what was sent can still be received.
 *   finished             the one word for a future or task whose result is final
 *                        (ac_future_is_finished, ac_task_is_finished).
 *
 * Results. Every future finishes with an int: >= 0 a value, < 0 a negative errno value.
 *   receive              1 (or a length) for each item, 0 at the end — no item will ever come
 *                        again — and < 0 for an error. Channel receives, generators and
 *                        ac_stream_read_line all speak it, so FOR_AWAIT consumes any of them.
 *   wait                 0 once what it waited for happened (sleep, lock, acquire, notify).
 *   try_* (no await)     0, or 1 with a received value; -EAGAIN when it would have to wait.
 *   partial progress     an operation that can stop half-way reports op->transferred bytes
 *                        (op->copied for copies), however it ends.
 *
 * Errors that mean the same everywhere (every code is a negative errno value; ac_strerror
 * describes one):
 *   -ECANCELED           the future or task was cancelled. Every awaitable can finish with it.
 *   -EAGAIN              would block: a try_* call that would have to wait.
 *   -EPIPE               closed: the other side is gone or the object was closed (a channel,
 *                        a semaphore, a watch; a write to a socket whose peer has closed).
 *   -ETIMEDOUT           ac_timeout_ms ran out of time.
 *   -EINVAL              an argument out of range; -ENOMEM: out of memory.
 *   -EDEADLK             ac_block_on / ac_executor_run found that nothing can ever wake the
 *                        remaining tasks, or ac_block_on was called from inside a poll.
 *   -ESHUTDOWN           the executor is shutting down (ac_executor_stop).
 *   -EBUSY               refused because something must finish first (ac_stream_shutdown_write
 *                        with unflushed bytes).
 *   -EALREADY, -EEXIST   it already happened (aborting a finished task; setting a set cell).
 * Operation-specific codes are documented with each operation: -ENODATA (end of file before
 * read_exact's count), -EMSGSIZE (a line longer than its maximum), -EOVERFLOW (a broadcast
 * receiver lagged), and the system's own errors for I/O (-ECONNRESET, -EMFILE, ...).
 *
 * Quick reference: every awaitable. "cancel" says what a cancelled operation leaves behind:
 * "yes" = cancel-safe, nothing lost; "partial" = progress is reported in the op (see the
 * operation); "inner" = as the future(s) it awaits. "alloc" says what awaiting it allocates.
 *
 *   operation                  finishes with                   errors            cancel  alloc
 *   ac_task_join               the task's result               task's own        yes     no
 *   ac_sleep_ms                0                               -ENOMEM           yes     no [1]
 *   ac_sleep_until             0                               -ENOMEM           yes     no [1]
 *   ac_timeout_ms              inner's result                  -ETIMEDOUT [7]    inner   no [1]
 *   ac_spawn_blocking          fn's result                     -EINVAL, -ENOMEM  partial one job
 *   ac_spawn_blocking_owned    fn's result; op->arg back       -EINVAL, -ENOMEM  partial one job
 *   ac_io_readable             0                                                 yes     no
 *   ac_io_writable             0                                                 yes     no
 *   ac_io_read                 bytes (> 0), 0 at end of file   I/O               yes     no
 *   ac_io_write                bytes written (> 0)             I/O               yes     no
 *   ac_io_write_all            len                             I/O               partial no
 *   ac_socket_accept           0, op->conn and op->peer        I/O, -EMFILE      yes     the io
 *   ac_socket_connect          0, op->conn                     I/O               yes     the io
 *   ac_socket_connect_host     0, op->conn and op->peer        DNS's, I/O        yes     the io
 *   ac_socket_send_to          bytes sent                      I/O               yes     no
 *   ac_socket_recv_from        datagram length, op->from       I/O               yes     no
 *   ac_dns_resolve             addresses (> 0), op->addrs      DNS's [5]         yes     no [5]
 *   ac_stream_read_some        bytes (> 0), 0 at end of file   I/O               yes     buf [2]
 *   ac_stream_read_exact       len                             -ENODATA, I/O     partial buf [2]
 *   ac_stream_read_until       length, 0 at end of file        -EMSGSIZE, I/O    yes     buf [2]
 *   ac_stream_read_line        length, 0 at end of file        -EMSGSIZE, I/O    yes     buf [2]
 *   ac_stream_fill             bytes buffered, 0 at the end    I/O               yes     buf [2]
 *   ac_stream_write_all        len                             I/O, -EINVAL      partial no
 *   ac_stream_writev_all       total length                    I/O, -EINVAL      partial no
 *   ac_stream_write_buffered   len                             I/O, -EINVAL      partial buf [2]
 *   ac_stream_flush            0                               I/O               yes     no
 *   ac_stream_copy             0 at end of file                I/O               partial buf [2]
 *   ac_stream_copy_bidirectional  0 when both ends finished    I/O               partial buf [2]
 *   ac_join_all                0 (read each branch's result)                     inner   no
 *   ac_try_join_all            0, or the first branch error    branch's own      inner   no
 *   ac_select                  the winner's result, op->winner -EINVAL [4]       inner   no
 *   ac_interval_tick           ticks skipped (>= 0)            -ENOMEM           yes     no [1]
 *   ac_mpsc_send               0                               -EPIPE, -ENOMEM   yes     no [3]
 *   ac_mpsc_recv               1 per value, 0 at the end                         yes     no
 *   ac_mpsc_closed             0 once the receiver closed                        yes     no
 *   ac_oneshot_recv            1 with the value, 0 if none     -ENOMEM [13]      yes     no
 *   ac_oneshot_closed          0 once the receiver closed      -ENOMEM [13]      yes     no
 *   ac_mpsc_shared_send        0                               -EPIPE, -ENOMEM   yes     no [17]
 *   ac_mpsc_shared_recv        1 per value, 0 at the end       -ENOMEM [17]      yes     no
 *   ac_mpsc_shared_closed      0 once the receiver closed      -ENOMEM [17]      yes     no
 *   ac_broadcast_recv          1 per value, 0 at the end       -EOVERFLOW        yes     no
 *   ac_watch_changed           0                               -EPIPE            yes     no
 *   ac_notify_wait             0                                                 yes     no
 *   ac_semaphore_acquire       0                               -EPIPE            yes     no
 *   ac_mutex_lock              0                                                 yes     no
 *   ac_rwlock_read             0                                                 yes     no
 *   ac_rwlock_write            0                                                 yes     no
 *   ac_barrier_wait            1 for the leader, else 0                          yes     no
 *   ac_once_get_or_init        0 once the cell is set          init's own        yes     no
 *   ac_group_next              1 per member, op->member; 0 at the end            yes     no
 *   ac_group_join              0, or the first member error    member's own      yes     no
 *   ac_http_serve              0 once shut down                -EBUSY, I/O       yes [6] conns
 *   ac_http_request_read_body  bytes (> 0), 0 at the end       -EMSGSIZE, I/O    yes     buf [2]
 *   ac_http_response_send      0                               -EALREADY, I/O    partial no
 *   ac_http_response_write     len                             -EINVAL, I/O      partial no
 *   ac_http_response_end       0                               I/O               partial no
 *   ac_http_client_request_send    status (or 0: stream the body)  see 22 [8]  fails   the conn
 *   ac_http_client_request_write   len                             see 22      fails   no
 *   ac_http_client_request_finish  status                          see 22      fails   no
 *   ac_http_client_response_read_body  bytes (> 0), 0 at the end  see 22      yes     buf [2]
 *   ac_tls_connect             0, op->stream                   TLS's [9], I/O    yes     session
 *   ac_tls_accept              0, op->stream                   TLS's [9], I/O    yes     session
 *   ac_tls_shutdown            0                               -EINVAL, -EPIPE   yes     no
 *   ac_http_response_upgrade   0, op->stream                   -EINVAL, I/O      partial no
 *   ac_ws_recv                 1 per message, 0 at the close   -EPROTO, -EILSEQ, yes     message
 *                                                              -EMSGSIZE, I/O
 *   ac_ws_send                 0                               -EPIPE, I/O       queued [10] a copy
 *   ac_ws_send_fragmented      0                               -EPIPE, I/O       queued  a copy
 *   ac_ws_ping                 0                               -EPIPE, I/O       queued  a copy
 *   ac_ws_shutdown             0 once both closes were seen    -ETIMEDOUT, recv  queued  no
 *   ac_ws_accept               0, op->ws                       -EPROTO, I/O      partial the ws
 *   ac_ws_connect              0, op->ws                       -EPROTO, I/O      closes  the ws
 *   ac_signal_recv             deliveries (>= 1)                                 yes     no
 *   ac_process_wait            0; ac_process_exit_code         -ECHILD, -ENOMEM  yes [11] no
 *   ac_runtime_task_join       the task's result               -ECANCELED [12],  yes     no
 *                                                              -ENOMEM
 *   ac_runtime_stopping        0 once shutdown began           -EINVAL           yes     no
 *   ac_fs_read_file            length, op->data                -EFBIG, fs [14]   yes     a job [15]
 *   ac_fs_write_file           0                               fs [14]           runs on a job
 *   ac_fs_metadata             0, op->meta                     fs [14]           yes     a job
 *   ac_fs_read_dir             entries, op->entries            -EFBIG, fs [14]   yes     a job [15]
 *   ac_fs_rename               0                               fs [14]           runs on a job
 *   ac_fs_remove               0                               fs [14]           runs on a job
 *   ac_fs_mkdir                0                               fs [14]           runs on a job
 *   ac_file_open               0, op->file                     fs [14]           yes     a job
 *   ac_file_read_at            bytes (> 0), 0 at end of file   fs [14]           yes     a job [15]
 *   ac_file_write_at           len                             fs [14]           partial a job [15]
 *   ac_file_sync               0                               fs [14]           runs on a job
 *   ac_frame_read              1 per frame, 0 at the end       -EMSGSIZE,        yes     buf [2]
 *                                                              -EPROTO, I/O
 *   ac_frame_write_line        0                               -EINVAL, I/O      partial buf [2]
 *   ac_frame_write_length      0                               -EMSGSIZE, I/O    partial buf [2]
 *   ac_frame_write_encoded     0                               encoder's, I/O    partial [16]
 *   a generator (section 20)   1 per item, 0 at the end        its own           closes  no
 * [1] the executor's timer heap grows to the most timers ever armed at once.
 * [2] the stream's read (or write) buffer, held only while it has bytes (section 15).
 * [3] an unbounded channel's ring grows to the most values ever queued at once.
 * [4] no enabled branch: zero branches, or every one disabled (NULL).
 * [5] the errors of section 14's DNS part (-ENOENT no such name, -ENODATA, -ETIMEDOUT,
 *     -EMSGSIZE, -EIO, -EINVAL); evdns allocates each query, the executor's query table grows
 *     to the most queries ever in flight at once.
 * [6] it stops accepting; the connections, each a task it allocated, stay the server's.
 * [7] and -ENOMEM when its deadline cannot be armed, as for a sleep.
 * [8] the errors of section 22 (-EPROTO, -EMSGSIZE, -ECONNRESET, -EPIPE, -ELOOP, ...; over
 *     https section 23's too); a cancelled send closes its connection and fails the request:
 *     "fails".
 * [9] section 23: -EKEYEXPIRED, -EKEYREJECTED, -EPROTO, -ECONNABORTED, -ETIMEDOUT, -ENOTSUP;
 *     "session" is the TLS state (OpenSSL's and about 50 KiB of buffers) the stream keeps.
 * [10] queued: the frames of a cancelled send still go out, whole, with the connection's next
 *     write (section 24).
 * [11] the child keeps running, unless AC_PROCESS_KILL_ON_CANCEL (section 25).
 * [12] the task was cancelled: by ac_runtime_shutdown, or it cancelled itself (section 26).
 * [13] a shared oneshot's only (ac_oneshot_new_shared): its remote waker could not be had.
 * [14] section 27: the system's errors (-ENOENT, -EACCES, -EISDIR, -ENOSPC, ...), -EINVAL.
 * [15] a job on the blocking pool, and a copy of the data (or a buffer for what is read);
 *     cancelled, a running job runs on ("runs on": the change may still happen) and what it
 *     allocated or opened is released when it ends.
 * [16] the stream's write buffer, and one allocation while an encoding of more than 120
 *     bytes is written (section 28).
 * [17] -ENOMEM: the remote waker (section 10) a waiting operation of a shared mpsc holds could
 *     not be had; nothing was sent or taken.
 * ============================================================================================ */

/* ============================================================================================
 * 4. FUTURES AND POLLING
 *
 * Every future — a coroutine frame made with ASYNC_FN, or a leaf such as a sleep — starts with
 * an `ac_future` header. Polling asks the future to make progress:
 *   - it returns ac_pending() after arranging to be woken (it registered the current task's
 *     waker with whatever it waits for), or
 *   - ac_ready() once it has finished; its result is then in `future.result`.
 * Completion is sticky: a finished future is never run again.
 * ============================================================================================ */

typedef struct ac_future ac_future;
typedef struct ac_cx ac_cx;             /* the poll context: which task is polling */
typedef struct ac_task ac_task;         /* a spawned task; also its join handle */
typedef struct ac_executor ac_executor; /* one per thread, owns a libevent event_base */

/* The typed result of a poll. A struct, so that `return 0;` in an async body does not compile. */
typedef struct ac_poll {
    int is_ready;
} ac_poll;

static inline ac_poll ac_pending(void)
{
    ac_poll p = {0};
    return p;
}

static inline ac_poll ac_ready(void)
{
    ac_poll p = {1};
    return p;
}

/* What every future of one kind shares. ASYNC_FN makes one per async function; leaf futures
 * define theirs by hand (section 12). */
typedef struct ac_future_vtable {
    /* Make progress. `cx` is NULL only when cleanup runs during cancellation. */
    ac_poll (*poll)(ac_future *self, ac_cx *cx);
    /* Drop a future that has not finished: release what it holds (timers, registrations) and
     * leave it finished with result -ECANCELED. Never called on a finished future. */
    void (*cancel)(ac_future *self);
    /* For leaves: write what it waits for ("sleep, 120 ms left") into buf; returns buf.
     * NULL for coroutine frames (the backtrace shows their file:line and name instead). */
    const char *(*describe)(const ac_future *self, char *buf, size_t size);
    const char *name; /* the async function's name, or the leaf's kind ("sleep") */
    const char *file; /* where it is defined */
    size_t size;      /* sizeof the whole frame: what ac_spawn copies */
} ac_future_vtable;

/* The header. `state` is 0 before the first poll, the source line of the current AWAIT while
 * suspended, and negative once finishing or finished. Treat the fields as read-only except
 * through the macros and the leaf API; `result` is the one users read. */
struct ac_future {
    const ac_future_vtable *vtable;
    ac_future *awaiting; /* the child this frame is suspended on, or NULL */
    int32_t state;
    union {
        /* A coroutine frame, goto backend: offset of its resume label (unused by the portable
         * backend). */
        int32_t resume;
        /* A leaf, which has no resume label, may keep a word of its own here: the sleep keeps
         * its timer-heap position, which makes every frame that embeds one 8 bytes smaller. */
        uint32_t leaf_word;
    };
    int32_t result; /* the finished future's value (>= 0) or negative errno-style error */
    uint32_t owner; /* id of the task that first polled it (misuse check) */
};

enum {
    AC_STATE_START = 0,
    AC_STATE_FINALLY = -1, /* running its cleanup */
    AC_STATE_FINISHED = -2,    /* finished: result is final */
};

static inline int ac_future_is_finished(const ac_future *f)
{
    return f->state == AC_STATE_FINISHED;
}

/* Poll `f` on behalf of the task in `cx` (defined in section 5). Leaf writers and
 * combinators call this; async functions use AWAIT. Polling a finished future is a misuse
 * (debug builds abort; otherwise it reports ready again, with the same result). */
static inline ac_poll ac_future_poll(ac_future *f, ac_cx *cx);

/* Drop `f`: if it is pending or not yet started, cancel its awaited children innermost-first,
 * run its cleanup, and leave it finished with result -ECANCELED. A no-op on a finished future
 * and during its own cleanup. Afterwards the storage may be reused or freed. */
AC_API void ac_future_cancel(ac_future *f);

/* ============================================================================================
 * 5. THE DSL
 *
 * An async function has three parts: the frame struct (`struct NAME`, first member
 * `ac_future future`), the body between ASYNC_FN(NAME) and ASYNC_END, and a constructor you
 * write, usually one statement: `return ASYNC_NEW(self, NAME, .param = param, ...);`. Define
 * the constructor after ASYNC_END (it refers to the vtable ASYNC_FN defines); declare its
 * prototype wherever callers need it. In C the constructor may share the struct's name
 * (`countdown()` fills a `struct countdown`); in C++ that name would hide the struct, so call it
 * NAME_init.
 *
 * ASYNC_FN(NAME) — opens the body. It defines `static ac_poll NAME_poll(...)` and the vtable
 *   `NAME_vtable`, and declares `struct NAME *const self` for the body. Each poll re-enters the
 *   body where it last stopped. It checks at compile time that the frame's first member is its
 *   `ac_future future` header: a frame laid out otherwise fails to build with "asyncc: the
 *   ac_future header must be the first member of struct NAME (named `future`)" (a header under
 *   another name fails too, as "no member named 'future'").
 *
 * ASYNC_END — closes the body. Falling off the end finishes the function with result 0
 *   (running the ASYNC_FINALLY section first, if there is one).
 *
 * ASYNC_NEW(self, NAME, .field = value, ...) — the constructor (C): makes `self` a fresh,
 *   not-yet-started NAME whose named fields hold the values given and whose every other field
 *   is zero, and evaluates to `&self->future`:
 *       // fragment: section 1's countdown, whose frame is defined there
 *       ac_future *countdown(struct countdown *self, int from)
 *       {
 *           return ASYNC_NEW(self, countdown, .n = from);
 *       }
 *   It is one assignment of a compound literal, `*self = (struct NAME){.field = value, ...}`,
 *   so any designated initialiser works (`.me.id = id`, `.name = {"x"}`), and a constructor
 *   with no parameters writes just `return ASYNC_NEW(self, NAME);`. The values are computed
 *   before the frame is written, so they must not read the frame; `self` is evaluated twice,
 *   so pass a plain pointer. Zeroing is the point: flags such as "holds the lock" start at 0
 *   and handles at NULL without a line each, so ASYNC_FINALLY finds them right even when the
 *   future is cancelled before its first poll. The whole frame is written: for a frame holding
 *   a large buffer that is a memset of the buffer. When a field needs a call rather than a
 *   value (ac_group_init, snprintf into a buffer), make the call after ASYNC_NEW and then
 *   `return &self->future;`. Constructing a frame again while it is pending is a misuse that
 *   debug builds report when its parent resumes (section 11), as with ASYNC_INIT.
 *   C only: C++ designated initialisers arrive in C++20, in declaration order and not nested,
 *   and g++ warns about every field they leave out. In C++, write ASYNC_INIT and assign each
 *   field (first `*self = NAME{};` if you want the zeroed frame).
 *
 * ASYNC_INIT(self, NAME) — the header alone, for C++: makes `self` a fresh, not-yet-started
 *   NAME and evaluates to `&self->future`, leaving every other field as the storage held it.
 * ============================================================================================ */

#if defined(__GNUC__) || defined(__clang__)
#define AC_FALLTHROUGH_ __attribute__((fallthrough))
#define AC_UNUSED_LABEL_ __attribute__((unused))
#define AC_NORETURN_ __attribute__((noreturn))
#else
#define AC_FALLTHROUGH_ ((void)0)
#define AC_UNUSED_LABEL_
#define AC_NORETURN_
#endif

#define AC_CAT2_(a, b) a##b
#define AC_CAT_(a, b) AC_CAT2_(a, b)

#if !defined(ASYNCC_PORTABLE) || !ASYNCC_PORTABLE
/* Computed-goto backend (gcc, clang). The resume point is stored as the distance from a base
 * label rather than as an address, so it stays valid if the compiler inlines or clones the
 * poll function. */
#define ASYNCC_BACKEND_NAME "goto"
#define AC_SAVE_RESUME_(f)                                                                         \
    ((f)->resume = (int32_t)((char *)&&AC_CAT_(ac_resume_, __LINE__) - (char *)&&ac_base_))
#define AC_RESUME_POINT_ AC_CAT_(ac_resume_, __LINE__) :
#define AC_DISPATCH_RESUME_(f)                                                                     \
    if ((f)->state > 0)                                                                            \
        goto *((char *)&&ac_base_ + (f)->resume);                                                  \
    ac_base_:
#else
/* Portable backend (any C11 compiler): Duff's device. A resume point is a `case __LINE__:` of
 * the dispatch switch, which is why it cannot sit inside a user `switch`. */
#define ASYNCC_BACKEND_NAME "switch"
#define AC_SAVE_RESUME_(f) ((void)0)
#define AC_RESUME_POINT_ case __LINE__:
#define AC_DISPATCH_RESUME_(f)
#endif

/* Compile-time checks the DSL makes on the user's frame: C11 _Static_assert, C++ static_assert.
 * offsetof is valid in C++ on the standard-layout structs a frame is. */
#ifdef __cplusplus
#define AC_STATIC_ASSERT_(condition, message) static_assert(condition, message)
#else
#define AC_STATIC_ASSERT_(condition, message) _Static_assert(condition, message)
#endif

/* The poll function casts the header pointer back to the frame, and everything that holds a
 * frame (ac_spawn, a parent's AWAIT) holds it by its header: so the header must sit at offset 0.
 * A frame whose header is elsewhere would compile and silently corrupt its neighbours. */
#define AC_CHECK_FRAME_(NAME)                                                                      \
    AC_STATIC_ASSERT_(offsetof(struct NAME, future) == 0,                                          \
                      "asyncc: the ac_future header must be the first member of struct " #NAME    \
                      " (named `future`)")

#define ASYNC_FN(NAME)                                                                             \
    AC_CHECK_FRAME_(NAME);                                                                         \
    static ac_poll NAME##_poll(ac_future *ac_frame_, ac_cx *ac_cx_);                               \
    static const ac_future_vtable NAME##_vtable = {NAME##_poll, ac_frame_cancel_, NULL, #NAME,     \
                                                   __FILE__, sizeof(struct NAME)};                 \
    static ac_poll NAME##_poll(ac_future *ac_frame_, ac_cx *ac_cx_)                                \
    {                                                                                              \
        struct NAME *const self = (struct NAME *)(void *)ac_frame_;                                \
        (void)self;                                                                                \
        (void)ac_cx_;                                                                              \
    ac_dispatch_:                                                                                  \
        AC_UNUSED_LABEL_;                                                                          \
        AC_DISPATCH_RESUME_(ac_frame_)                                                             \
        switch (ac_frame_->state) {                                                                \
        case AC_STATE_START:

#define ASYNC_END                                                                                  \
    ac_frame_->state = AC_STATE_FINALLY;                                                           \
    AC_FALLTHROUGH_;                                                                               \
    default:                                                                                       \
        if (ac_frame_->state != AC_STATE_FINALLY)                                                  \
            return ac_frame_bad_state_(ac_frame_, __FILE__);                                       \
        }                                                                                          \
        ac_frame_->awaiting = NULL;                                                                \
        ac_frame_->state = AC_STATE_FINISHED;                                                      \
        return ac_ready();                                                                         \
        }

#define ASYNC_INIT(self, NAME) ac_frame_init_(&(self)->future, &NAME##_vtable)

#ifndef __cplusplus
/* The trailing empty argument lets `ASYNC_NEW(self, NAME)` name no field under -Wpedantic (C11
 * wants at least one argument for `...`); it becomes a trailing comma, which C allows. */
#define ASYNC_NEW(...) AC_NEW_(__VA_ARGS__, )
#define AC_NEW_(self, NAME, ...)                                                                   \
    (*(self) = (struct NAME){.future = {.vtable = NULL}, __VA_ARGS__},                             \
     ac_frame_init_(&(self)->future, &NAME##_vtable))
#endif

/* ASYNC_FINALLY — starts the cleanup section, between the body and ASYNC_END. It runs once,
 * after the body ends for any reason: ASYNC_RETURN, ASYNC_TRY/AWAIT_TRY propagating an error,
 * falling off the end, or cancellation (the awaited child has already been cancelled then).
 * Read ASYNC_RESULT to learn why; you may change it with ASYNC_SET_RESULT. It may not AWAIT,
 * ASYNC_RETURN or yield: in every build that aborts, naming the line. Write it so that it also
 * works when the function was cancelled before its first poll: it then runs with only what the
 * constructor set. */
#define ASYNC_FINALLY                                                                              \
    ac_frame_->state = AC_STATE_FINALLY;                                                           \
    AC_FALLTHROUGH_;                                                                               \
    case AC_STATE_FINALLY:

/* ASYNC_RESULT — the function's result so far: what ASYNC_RETURN set, or -ECANCELED. */
#define ASYNC_RESULT (ac_frame_->result)
#define ASYNC_SET_RESULT(value) ((void)(ac_frame_->result = (int32_t)(value)))

/* ASYNC_RETURN(value) — finish: store `value` (an int: >= 0 a value, < 0 an error) as the
 * result, run ASYNC_FINALLY if present, and complete. Does not return to the caller in the C
 * sense until cleanup has run. */
#define ASYNC_RETURN(value)                                                                        \
    do {                                                                                           \
        if (ac_frame_->state == AC_STATE_FINALLY)                                                  \
            ac_misuse_(ac_frame_, __FILE__, __LINE__, "ASYNC_RETURN inside ASYNC_FINALLY");        \
        ac_frame_->result = (int32_t)(value);                                                      \
        ac_frame_->state = AC_STATE_FINALLY;                                                       \
        goto ac_dispatch_;                                                                         \
    } while (0)

/* ASYNC_TRY(expr) — `?` for plain expressions: evaluate `expr` (an int); if it is negative,
 * ASYNC_RETURN it. */
#define ASYNC_TRY(expr)                                                                            \
    do {                                                                                           \
        int ac_try_rc_ = (expr);                                                                   \
        if (ac_try_rc_ < 0)                                                                        \
            ASYNC_RETURN(ac_try_rc_);                                                              \
    } while (0)

/* AWAIT_INTO(dest, future_expr) — the await. In steps:
 *   1. evaluate `future_expr` once (normally a constructor filling storage in the frame, such
 *      as `ac_sleep_ms(&self->nap, 10)`), which yields an `ac_future *`, the child;
 *   2. record the child and this line as the resume point (for cancellation and backtraces);
 *   3. poll the child. If it is pending, return AC_PENDING to our own poller; the next poll of
 *      this function jumps straight back to step 3.
 *   4. once the child is ready, assign its result (an int) to `dest` and continue.
 * The child's frame stays readable after the await (its outputs live there). Awaiting allocates
 * nothing. Cancellation while suspended here cancels the child first, then runs ASYNC_FINALLY.
 */
#define AWAIT_INTO(dest, future_expr)                                                              \
    do {                                                                                           \
        ac_frame_->awaiting = (future_expr);                                                       \
        ac_await_begin_(ac_frame_, __LINE__);                                                      \
        AC_SAVE_RESUME_(ac_frame_);                                                                \
        if (0) {                                                                                   \
            AC_RESUME_POINT_                                                                       \
            ac_await_resumed_(ac_frame_, __LINE__);                                                \
        }                                                                                          \
        if (!ac_future_poll(ac_frame_->awaiting, ac_cx_).is_ready)                                 \
            return ac_pending();                                                                   \
        (dest) = ac_frame_->awaiting->result;                                                      \
        ac_frame_->awaiting = NULL;                                                                \
    } while (0)

/* AWAIT(future_expr) — AWAIT_INTO, discarding the result. */
#define AWAIT(future_expr)                                                                         \
    do {                                                                                           \
        int32_t ac_discard_;                                                                       \
        AWAIT_INTO(ac_discard_, future_expr);                                                      \
        (void)ac_discard_;                                                                         \
    } while (0)

/* AWAIT_TRY(dest, future_expr) — `?`: await; if the result is negative, ASYNC_RETURN it
 * (cleanup runs); otherwise store it in `dest` (an lvalue in the frame, or a variable you only
 * use before the next await). */
#define AWAIT_TRY(dest, future_expr)                                                               \
    do {                                                                                           \
        AWAIT_INTO(dest, future_expr);                                                             \
        if ((dest) < 0)                                                                            \
            ASYNC_RETURN(dest);                                                                    \
    } while (0)

/* ASYNC_YIELD_NOW() — cooperative yield: put this task at the back of the run queue, so every
 * task that is ready now runs before this one continues. libevent's I/O and timers get their
 * turn when the current batch ends, at most `budget` polls later (ac_executor_set_budget). Use
 * it inside long computations that never await anything pending. */
#define ASYNC_YIELD_NOW()                                                                          \
    do {                                                                                           \
        ac_await_begin_(ac_frame_, __LINE__);                                                      \
        AC_SAVE_RESUME_(ac_frame_);                                                                \
        ac_yield_now_(ac_cx_);                                                                     \
        return ac_pending();                                                                       \
        if (0) {                                                                                   \
            AC_RESUME_POINT_;                                                                      \
        }                                                                                          \
    } while (0)

/* Internals the macros expand to. Not part of the API. */
AC_API void ac_frame_cancel_(ac_future *f);
AC_API AC_NORETURN_ ac_poll ac_frame_bad_state_(ac_future *f, const char *file);
AC_API AC_NORETURN_ void ac_misuse_(const ac_future *f, const char *file, int line,
                                    const char *what);
AC_API void ac_yield_now_(ac_cx *cx);

static inline ac_future *ac_frame_init_(ac_future *f, const ac_future_vtable *vtable)
{
    f->vtable = vtable;
    f->awaiting = NULL;
    f->state = AC_STATE_START;
    f->resume = 0;
    f->result = 0;
    f->owner = 0;
    return f;
}

AC_API void ac_poll_finished_(ac_future *f);
AC_API void ac_check_owner_(ac_future *f, ac_cx *cx);

static inline ac_poll ac_future_poll(ac_future *f, ac_cx *cx)
{
    ac_poll p;
    if (f->state == AC_STATE_FINISHED) {
        ac_poll_finished_(f);
        return ac_ready();
    }
    if (ASYNCC_DEBUG)
        ac_check_owner_(f, cx);
    p = f->vtable->poll(f, cx);
    if (!p.is_ready && f->state == AC_STATE_START)
        f->state = 1; /* a pending leaf: started, so re-initialising it now is detectable */
    return p;
}

/* On the resume path of an AWAIT: the child must still be the one we left pending. */
static inline void ac_await_resumed_(ac_future *f, int line)
{
    if (ASYNCC_DEBUG && f->awaiting->state == AC_STATE_START)
        ac_misuse_(f, f->vtable->file, line,
                   "the awaited future was re-initialised while it was pending");
}

static inline void ac_await_begin_(ac_future *f, int line)
{
    /* Checked in every build: during cancellation cleanup runs without a task to wake. */
    if (f->state == AC_STATE_FINALLY)
        ac_misuse_(f, f->vtable->file, line, "AWAIT inside ASYNC_FINALLY (cleanup cannot await)");
    f->state = line;
}

/* ============================================================================================
 * 6. ERRORS
 *
 * Every fallible function returns an int: >= 0 on success, a negative errno value on failure.
 * Section 3 lists the codes whose meaning is the same everywhere; each operation documents its
 * own. Errors travel as return values and results, never through `errno`, which an await would
 * not preserve.
 * ============================================================================================ */

/* A static, human-readable description of `err` (negative or positive errno value). */
AC_API const char *ac_strerror(int err);

/* ============================================================================================
 * 7. THE EXECUTOR
 *
 * One executor per thread. It owns a run queue of woken tasks and drives them from a libevent
 * event_base: libevent callbacks (timers, I/O, other threads) only *wake* tasks; a single
 * libevent event, activated when the run queue becomes non-empty, polls them in FIFO order, at
 * most `budget` polls per turn before letting libevent look for I/O again.
 * ============================================================================================ */

struct event_base;

/* Create an executor with its own event_base, bound to the calling thread. Returns NULL when
 * out of memory, or when this thread already has an executor (one per thread). */
AC_API ac_executor *ac_executor_new(void);

/* Create an executor on an event_base the caller owns (to live inside an existing libevent
 * program). The caller keeps driving the base with event_base_dispatch()/loop(); tasks run
 * from its callbacks. The base must outlive the executor. */
AC_API ac_executor *ac_executor_new_with_base(struct event_base *base);

/* Cancel every remaining task (their cleanup runs, joiners see -ECANCELED), wait for blocking
 * jobs in flight to return (their results are discarded, the args of ac_spawn_blocking_owned
 * dropped), and free everything, including the event_base if the executor created it. Must not
 * be called from inside a poll. NULL is a no-op. */
AC_API void ac_executor_free(ac_executor *ex);

/* The executor of the calling thread, or NULL. */
AC_API ac_executor *ac_executor_current(void);

/* The event_base the executor runs on (to add your own libevent events). */
AC_API struct event_base *ac_executor_base(ac_executor *ex);

/* Run the loop until every task has finished (joined or not) and no request from another
 * thread waits in the inbox, or until ac_executor_stop() is called. So tasks that other threads
 * spawned (ac_spawn_remote, section 10) before or during the run are run too, even on an
 * executor that had no task of its own; a spawn posted after run has returned waits for the
 * next run (to keep the loop waiting for spawns still to come, let a task hold a remote waker
 * until they are done, or use a runtime: section 26). Returns 0, -EDEADLK when called from inside a poll, or -EDEADLK when tasks remain that
 * nothing can ever wake. Before every turn the loop looks for a wake source, and finds none
 * when all of these hold:
 *   - no task is ready to run;
 *   - no sleep or timeout is armed;
 *   - no task waits on an fd (an ac_io operation pending). A registered ac_io that nobody
 *     waits on wakes no one, however much traffic it gets, and does not count;
 *   - no remote waker is held (each blocking job holds one while it is queued or running),
 *     and no drop of an ac_spawn_blocking_owned job cancelled while running is still to run;
 *   - no request from another thread (a wake, an ac_spawn_remote) waits in the inbox;
 *   - no libevent event of your own is added to or active on the base (ac_executor_base, or
 *     the base given to ac_executor_new_with_base; including events libevent adds for you,
 *     such as evdns's).
 * Each of those is counted without asking whether it will ever fire: a task waiting on a pipe
 * nobody will write to, a remote waker its thread forgot, a persistent event of yours whose
 * callback never wakes a task — each keeps the loop waiting instead of returning -EDEADLK.
 * A task that waits for work another thread will ac_spawn_remote later must hold a remote
 * waker meanwhile (and so must any waiter in block_on), or the loop cannot know that a wake is
 * still coming. When you drive the base yourself (event_base_dispatch), nothing is checked.
 *
 * Cost: when no task is ready and the base holds no libevent event of yours, a turn of run or
 * block_on waits in the readiness driver alone (with the epoll backend: one epoll_wait, which
 * a libevent turn needs two for — libevent's, then the driver's). A task waiting in
 * ac_signal_recv (section 25) keeps it so: to stop a server on SIGTERM, await the signal. An
 * event of yours on the base, a libevent signal event included, sends every turn through
 * libevent's loop, the only one that sees it. */
AC_API int ac_executor_run(ac_executor *ex);

/* Make ac_executor_run / ac_block_on return after the current turn (block_on returns
 * -ESHUTDOWN). Callable from tasks and libevent callbacks on the executor's thread. */
AC_API void ac_executor_stop(ac_executor *ex);

/* Maximum task polls per turn before libevent checks for I/O (default 128, minimum 1). */
AC_API void ac_executor_set_budget(ac_executor *ex, unsigned polls_per_turn);

/* ============================================================================================
 * 8. TASKS
 *
 * A task is a future the executor drives on its own, like a green thread. Spawning copies the
 * (not yet started) future into one allocation together with the task header; nothing else is
 * allocated for the task's whole life. The returned `ac_task *` is the join handle. Release
 * it exactly once, by one of:
 *   - awaiting ac_task_join() to completion (the result is delivered, the task freed), or
 *   - ac_task_detach() (the task frees itself when it finishes).
 * ac_task_abort() does not release the handle. After release the handle must not be used
 * (debug builds catch use after detach while the task is alive; ASan catches it after).
 * ac_executor_free() frees tasks whose handles were never released.
 * ============================================================================================ */

/* Spawn `future` (not yet started; its frame is copied, so its storage may be reused at once)
 * on `ex`. `name` (may be NULL) is copied and shown in task dumps. Returns the handle, or NULL
 * when out of memory (the future is then cancelled so that its cleanup runs). The task first
 * runs on a later turn of the loop, never inside this call. */
#define ac_spawn(ex, future) ac_spawn_at_((ex), (future), NULL, __FILE__, __LINE__)
#define ac_spawn_named(ex, future, name) ac_spawn_at_((ex), (future), (name), __FILE__, __LINE__)
AC_API ac_task *ac_spawn_at_(ac_executor *ex, ac_future *future, const char *name, const char *file,
                             int line);

/* Release the handle: the task keeps running and frees itself when it finishes. Detaching a
 * finished task frees it now. */
AC_API void ac_task_detach(ac_task *task);

/* Cancel the task: its pending await is dropped (innermost first), its cleanup runs, and its
 * result becomes -ECANCELED. If the task is running right now (it aborts itself, or a task it
 * polls does), the cancellation happens as soon as the current poll returns — unless that poll
 * finishes the task, which then keeps its result. Returns 0 when
 * cancelled, -EALREADY when the task had already finished (the result is kept). Aborting twice
 * is harmless. The handle stays valid: join or detach it as usual. */
AC_API int ac_task_abort(ac_task *task);

/* Inspection: the id (unique per executor, from 1), name (never NULL: the root function's name
 * if none was given), whether it finished, and its result once finished. */
AC_API uint32_t ac_task_id(const ac_task *task);
AC_API const char *ac_task_name(const ac_task *task);
AC_API int ac_task_is_finished(const ac_task *task);
AC_API int ac_task_result(const ac_task *task);

/* The join future: finishes with the task's result (or -ECANCELED if it was aborted), then
 * frees the task and releases the handle. One joiner per task: a second concurrent ac_task_join on
 * the same handle is a misuse (debug builds abort naming it; other builds finish the second join
 * with -EBUSY, and the first keeps waiting). Cancelling a pending join leaves the task running and the handle
 * unreleased: join, detach or abort it later. */
typedef struct ac_task_join_op {
    ac_future future;
    ac_task *task;
    /* The runtime's, while the join waits: the task to wake, and the task's spawn file, whose
     * place in the task's header holds this op meanwhile (the header stays 48 bytes). */
    ac_task *joiner;
    const char *spawn_file;
} ac_task_join_op;
AC_API ac_future *ac_task_join(ac_task_join_op *join, ac_task *task);

/* ============================================================================================
 * 9. TIME
 *
 * Time is measured on the monotonic clock in nanoseconds (ac_instant). Sleeping allocates
 * nothing: the sleep's op is the timer (a node in the executor's timer heap), so a million
 * sleeping tasks cost a million small frames and nothing else.
 * ============================================================================================ */

typedef uint64_t ac_instant; /* nanoseconds on CLOCK_MONOTONIC */

AC_API ac_instant ac_now(void);

#define AC_MSEC ((ac_instant)1000000)
#define AC_SEC ((ac_instant)1000000000)

/* Finishes with result 0 once the deadline has passed. A deadline that has already passed
 * (zero or past) finishes on the first poll. Cancel-safe: cancelling removes the timer.
 * ac_sleep_ms saturates: a duration that would reach past the largest ac_instant (UINT64_MAX,
 * some 584 years after boot) sleeps until it, i.e. forever, never wrapping round to fire at
 * once; ac_sleep_until(op, UINT64_MAX) likewise never finishes. */
typedef struct ac_sleep_ms_op {
    ac_future future; /* future.leaf_word: position in the executor's timer heap; 0: not armed */
    ac_instant deadline;
    ac_task *waiter; /* the task to wake when the timer fires; NULL until the first poll */
} ac_sleep_ms_op;
typedef ac_sleep_ms_op ac_sleep_until_op;

AC_API ac_future *ac_sleep_ms(ac_sleep_ms_op *op, uint64_t ms);
AC_API ac_future *ac_sleep_until(ac_sleep_until_op *op, ac_instant deadline);

/* Await `inner` for at most `ms` milliseconds. Finishes with inner's result if it finishes in
 * time; otherwise cancels inner (its cleanup runs) and finishes with -ETIMEDOUT. `inner` is
 * usually a child frame stored next to the ac_timeout_ms_op in the parent's frame; it is not
 * copied. Cancelling the timeout cancels inner too. Its deadline saturates as ac_sleep_ms's
 * does: a timeout of UINT64_MAX ms never fires. When the deadline cannot be armed (the timer
 * heap cannot grow) it cancels inner and finishes with -ENOMEM, never a false -ETIMEDOUT. */
typedef struct ac_timeout_ms_op {
    ac_future future;
    ac_future *inner;
    ac_sleep_until_op timer;
} ac_timeout_ms_op;

AC_API ac_future *ac_timeout_ms(ac_timeout_ms_op *timeout, uint64_t ms, ac_future *inner);

/* ============================================================================================
 * 10. BRIDGES BETWEEN SYNC AND ASYNC CODE
 * ============================================================================================ */

/* Run `future` to completion from plain synchronous code, driving `ex`'s loop (other tasks
 * make progress meanwhile), and return its result. The future stays in the caller's storage,
 * so its outputs can be read afterwards. Returns -EDEADLK (and prints why) when called from
 * inside a poll — debug builds abort instead — or, with the future cancelled, when nothing can
 * ever wake it or the tasks it waits for (the same check as ac_executor_run's, section 7);
 * -ESHUTDOWN if ac_executor_stop() was called (the future is then cancelled); -ENOMEM, with
 * the future cancelled unpolled (as ac_spawn does), when the call's own task record cannot be
 * allocated. */
AC_API int ac_block_on(ac_executor *ex, ac_future *future);

/* Run `fn(arg)` on the executor's bounded pool of blocking threads (default 8 threads,
 * created on demand) and finish with its return value (an int, >= 0 or negative errno). One
 * allocation per job. Errors of its own: -EINVAL when `fn` is NULL, -ENOMEM (or -EAGAIN: no
 * thread could be started) when the job cannot be queued; `fn` has not run then.
 *
 * When `fn` runs. Always, unless the future is cancelled while the job is still queued (all
 * threads busy): then it never runs. Cancelled while `fn` runs, `fn` runs to its end on its
 * thread and its result is discarded. The canceller cannot tell which of the two happened.
 *
 * Who owns `arg`.
 * - ac_spawn_blocking borrows it: `arg` (and whatever `fn` touches) must stay valid until `fn`
 *   returns, which, after a cancel, may be later than the future's end — so a borrowed `arg`
 *   must not live in a frame that can be cancelled (nor be freed by its cleanup) unless `fn`
 *   never touches it. When that is a problem — a heap argument, a frame that may be
 *   cancelled — hand it over instead:
 * - ac_spawn_blocking_owned takes `arg` and `drop`, the function that releases it (e.g. free).
 *   The future owns `arg` from this call on, and:
 *     - finishing with fn's result (whatever its sign), it gives `arg` back: op->arg is yours
 *       again, to read the outputs `fn` left in it and then release;
 *     - ending any other way — cancelled before `fn` ran, while it ran or after; -EINVAL,
 *       -ENOMEM or -EAGAIN before it started; the executor freed — it calls drop(arg) exactly
 *       once and sets op->arg to NULL. drop runs on the executor's thread: at once, or, when
 *       `fn` is still running, after it returns (during a later turn of the loop, at the latest
 *       in ac_executor_free). So drop may release loop-owned objects (ac_io_close, a channel
 *       handle), but must not await or poll.
 *   After the await, then, op->arg != NULL exactly when `arg` is yours. A NULL `drop` means
 *   there is nothing to release (ac_spawn_blocking is ac_spawn_blocking_owned with NULL drop).
 *   Awaiting the op, or cancelling it, is what ends it: an op constructed and never polled nor
 *   cancelled keeps `arg` forever.
 *
 *     // fragment: <netdb.h> declarations; the last lines are statements of an async function
 *     struct lookup { char host[64]; struct addrinfo *res; };
 *     static int resolve(void *arg)                // on a blocking thread
 *     {
 *         struct lookup *l = arg;
 *         return getaddrinfo(l->host, "80", NULL, &l->res) == 0 ? 0 : -EHOSTUNREACH;
 *     }
 *     static void lookup_free(void *arg)           // on the executor's thread
 *     {
 *         struct lookup *l = arg;
 *         if (l->res)
 *             freeaddrinfo(l->res);
 *         free(l);
 *     }
 *     ...in an async fn, `l` calloc'ed and filled in before the await:
 *         AWAIT_INTO(self->rc, ac_spawn_blocking_owned(&self->resolve, resolve, l, lookup_free));
 *         if (self->resolve.arg) {                 // resolve ran to its end: `l` is ours again
 *             if (self->rc == 0)
 *                 use(((struct lookup *)self->resolve.arg)->res);
 *             lookup_free(self->resolve.arg);
 *         }
 *
 * ac_executor_free cancels the futures of jobs still queued (they never run) and waits for
 * running jobs to return. */
typedef int (*ac_blocking_fn)(void *arg);
typedef void (*ac_blocking_drop_fn)(void *arg);
typedef struct ac_spawn_blocking_op {
    ac_future future;
    ac_blocking_fn fn;
    void *arg;                   /* owned form: yours again if not NULL once finished */
    ac_blocking_drop_fn drop;    /* NULL for ac_spawn_blocking */
    struct ac_blocking_job *job; /* allocated on first poll, owned by the pool once queued */
} ac_spawn_blocking_op;
typedef ac_spawn_blocking_op ac_spawn_blocking_owned_op;

AC_API ac_future *ac_spawn_blocking(ac_spawn_blocking_op *blocking, ac_blocking_fn fn, void *arg);
AC_API ac_future *ac_spawn_blocking_owned(ac_spawn_blocking_owned_op *blocking, ac_blocking_fn fn,
                                          void *arg, ac_blocking_drop_fn drop);
/* Maximum blocking threads (default 8, minimum 1). */
AC_API void ac_executor_set_blocking_threads(ac_executor *ex, unsigned max_threads);

/* Other threads. A remote waker lets any thread wake a task of this executor; it keeps the
 * task's memory alive until released. Take it during a poll, hand it to the other thread,
 * call ac_remote_wake as often as needed, and release it exactly once. All remote wakers must
 * be released before the executor is freed (debug builds check). Taking one reserves the
 * memory its wakes and its release will need, so those never fail (a lost wake would stall
 * the task); it returns NULL when that memory cannot be had, or when the task already holds
 * 65,535 remote wakers. */
typedef struct ac_remote_waker ac_remote_waker;
AC_API ac_remote_waker *ac_cx_remote_waker(ac_cx *cx);
AC_API void ac_remote_wake(ac_remote_waker *waker);          /* thread-safe */
AC_API void ac_remote_waker_release(ac_remote_waker *waker); /* thread-safe */

/* Spawn onto `ex` from any thread (thread-safe): the future is copied now and started on the
 * executor's thread, detached. Returns 0 or -ENOMEM (the future is then cancelled on the
 * calling thread). */
#define ac_spawn_remote(ex, future, name)                                                          \
    ac_spawn_remote_at_((ex), (future), (name), __FILE__, __LINE__)
AC_API int ac_spawn_remote_at_(ac_executor *ex, ac_future *future, const char *name,
                               const char *file, int line);

/* ============================================================================================
 * 11. DIAGNOSTICS
 * ============================================================================================ */

/* The async backtrace: write every live task, one line each, as
 *   task 42 "conn#42" (spawned at server.c:31) -> server.c:57 handle_conn -> sleep, 120 ms left
 * Tasks that finished but were not joined show their result. Always available. Safe to call
 * from a task, a libevent callback or plain code on the executor's thread — not from a signal
 * handler; use ac_dump_tasks_on_signal for that. It writes through `out`'s stdio and flushes
 * it, so it waits while `out` cannot take the text (the signal dump never does). Returns the
 * number of tasks. */
AC_API int ac_dump_tasks(ac_executor *ex, FILE *out);

/* Dump the tasks to `out` whenever the process receives `signo` (e.g. SIGUSR1: `kill -USR1
 * <pid>` shows where every task is waiting). The hook is an ac_signal listener (section 25) of
 * the executor's own, so the dump runs on the loop, between polls; deliveries that come
 * together make one dump. While the hook is set asyncc's handler for `signo` is in place, and
 * an ac_signal of the same signal sees every delivery too. The hook is no wake source: it does
 * not keep ac_executor_run from returning. Returns 0, -EINVAL (`out` NULL, or a signal
 * ac_signal_init refuses) or ac_signal_init's error. Replaces an earlier hook; `signo` 0
 * removes it (ac_executor_free does too). `out` must stay open until the hook is removed.
 *
 * The dump never blocks the loop, whatever `out` is — a pipe or terminal nobody reads, a full
 * socket. It is formatted into a 64 KiB buffer (tasks beyond it are left out, and a last line
 * "asyncc: dump truncated: N more tasks not shown" says so) and written straight to `out`'s
 * file descriptor, bypassing its stdio buffer (so it may come before text still buffered
 * there), only as far as the destination takes it at once: a socket with MSG_DONTWAIT; a pipe,
 * FIFO or terminal through a private non-blocking open of the same file (/proc/self/fd/N; where
 * that fails, only while poll() says it is writable, PIPE_BUF bytes at a time); a regular file
 * plainly. What is not taken is dropped, and the next dump starts with a line "asyncc: dump
 * truncated: N earlier dumps were cut short ...". The flags of `out`'s file description, which
 * other processes may share, are never changed. A FILE without a descriptor (open_memstream)
 * is written through stdio. */
AC_API int ac_dump_tasks_on_signal(ac_executor *ex, int signo, FILE *out);

/* The chain of one task as a string (same format as a dump line, without the newline).
 * Returns the length it needed, like snprintf. */
AC_API int ac_task_backtrace(const ac_task *task, char *buf, size_t size);

/* The slow-poll watchdog: when one poll of a task keeps the loop busy longer than
 * `threshold_ms`, call `report` (or print to stderr when NULL) with the task and the poll's
 * duration, naming the await the task resumed from. 0 turns it off (and so, in effect, does a
 * threshold too long to count in nanoseconds: it saturates). Default: 100 ms. Called from a
 * task, it applies from the task's next poll on: the poll that made the change is not
 * reported, by the old settings or the new. */
typedef void (*ac_slow_poll_fn)(ac_task *task, uint64_t elapsed_ms, const char *resumed_at,
                                void *user);
AC_API void ac_executor_set_slow_poll(ac_executor *ex, uint64_t threshold_ms,
                                      ac_slow_poll_fn report, void *user);

/* Misuse checks (ASYNCC_DEBUG): each prints "asyncc: misuse: <what>" followed by where — the
 * future's file:line, or the task's async backtrace — and aborts. They catch: polling a
 * finished future; one future polled by two tasks; block_on inside a poll; a task returning
 * pending with no waker registered (a lost wake-up); a frame re-initialised while it was
 * pending; AWAIT or ASYNC_RETURN in ASYNC_FINALLY (checked in every build); using a handle
 * after detach; the I/O, channel, lock and task-group misuses their sections list. */

/* ============================================================================================
 * 12. WRITING LEAF FUTURES
 *
 * A leaf future talks to the outside world (a timer, a socket, another thread). It is a struct
 * that starts with an ac_future header, a vtable (section 4) written by hand, and a constructor
 * that fills the struct in and returns ac_leaf_init(&op->future, &vtable). The constructor
 * starts nothing: the first poll does, because a future may be copied (ac_spawn) or dropped
 * before it is ever polled.
 *
 * Poll. Its poll function checks whether what it waits for has happened, and if so finishes
 * with ac_leaf_finish. If not, it takes the waker from cx, stores it where the event source will
 * find it, and returns ac_pending(). Every poll that returns pending registers, even when a
 * waker stored by an earlier poll is still in place: call ac_cx_waker(cx) again (a future's
 * waker never changes, since one task polls it). Debug builds check each pending poll (section
 * 11, "lost wake-up"). A leaf may instead poll futures embedded in it with ac_future_poll (an
 * ac_io_readable_op, section 13): a child that returns pending has registered for it. Write the
 * waker down before testing readiness if readiness can change concurrently, or test and store
 * under one lock. Any poll may be spurious — woken with nothing new — so a poll tests again and
 * never assumes the event happened; a wake that is never made, in contrast, is a task that
 * hangs.
 *
 * Wake. When the event happens, call ac_wake(waker), on the executor's thread: it schedules the
 * task (once, however often it is called) and never polls inline. Another thread needs a remote
 * waker (ac_cx_remote_waker, section 10).
 *
 * Cancel. Its cancel function unregisters the waker (releases a remote one), cancels the
 * futures it polls, and sets state AC_STATE_FINISHED with result -ECANCELED (use
 * ac_leaf_finish). An event source that may still call back afterwards (a library's callback)
 * must find nothing of the future there: give it a record of its own on the heap, which the
 * last of the two to let go frees.
 *
 * Describe. The vtable's describe function writes what the leaf waits for ("sleep, 120 ms left")
 * for task dumps and backtraces (section 11). It runs on the executor's thread between polls,
 * and must not wait. Chapter 18 of the tutorial works through two leaves and their tests.
 * ============================================================================================ */

typedef ac_task *ac_waker;
AC_API ac_waker ac_cx_waker(ac_cx *cx);
AC_API void ac_wake(ac_waker waker);
AC_API ac_executor *ac_cx_executor(ac_cx *cx);

static inline ac_future *ac_leaf_init(ac_future *f, const ac_future_vtable *vtable)
{
    return ac_frame_init_(f, vtable);
}

/* Mark a leaf finished with `result` and report ready. */
static inline ac_poll ac_leaf_finish(ac_future *f, int result)
{
    f->result = (int32_t)result;
    f->state = AC_STATE_FINISHED;
    return ac_ready();
}

/* A waiter's link in a wait list: the channels' and the synchronisation primitives' waiting
 * operations (sections 17 and 18) queue through it. It lives inside the waiting future; the
 * fields belong to the library. */
typedef struct ac_wait_node ac_wait_node;
struct ac_wait_node {
    ac_wait_node *prev, *next;
    ac_task *task;   /* the task to wake */
    size_t wanted;   /* semaphore: permits requested */
    uint32_t status; /* sync.c: idle, queued, or what it was handed */
};

typedef struct ac_wait_list {
    ac_wait_node *head, *tail;
    uint32_t len;
} ac_wait_list;

/* ============================================================================================
 * 13. ASYNC I/O: REGISTERED FILE DESCRIPTORS AND READINESS
 *
 * An ac_io is a non-blocking file descriptor registered with the executor once that remembers
 * whether the fd is readable and writable (mio's model). An operation first tries the system
 * call; only when it says EAGAIN does it forget that readiness and wait for the fd to become
 * ready again. So there is no allocation per operation (its state lives in a small future in
 * your frame) and, with an edge-triggered driver, no system call per await beyond its own.
 *
 * The readiness driver is chosen when asyncc is built (ac_io_backend_name() says which):
 * "epoll" on Linux — the fd joins the executor's epoll set, edge-triggered, and that set is one
 * libevent event — or "libevent" everywhere else — one libevent event per fd, edge-triggered
 * where the event_base supports it (epoll, kqueue); on a poll or select base, level-triggered
 * and added only while a task waits (one event_add per wait). Behaviour, results and task dumps
 * are the same with either.
 *
 * One reader and one writer at a time: a read and a write may be pending together (two tasks
 * can each own one direction), two reads may not (debug builds abort). Operations are
 * cancel-safe: a cancelled read has consumed nothing, a cancelled write has written nothing
 * beyond what a finished write reported. Writes to sockets never raise SIGPIPE: a closed peer
 * is -EPIPE (or -ECONNRESET).
 * ============================================================================================ */

typedef struct ac_io ac_io;

enum {
    AC_IO_OWN_FD = 1 << 0, /* ac_io_close also closes the fd */
};
enum {
    AC_IO_READ = 1 << 0,
    AC_IO_WRITE = 1 << 1,
};

/* Register `fd` (made non-blocking) with `ex`. Returns 0 and sets *out, or a negative errno
 * value (-EBADF, -ENOMEM, -EEXIST when the fd is already registered). The ac_io is allocated
 * here and freed by ac_io_close. Files the driver cannot watch (regular files, /dev/null) are
 * accepted and never wait: their calls never say EAGAIN. */
AC_API int ac_io_open(ac_executor *ex, int fd, unsigned flags, ac_io **out);

/* The readiness driver this build of asyncc uses: "epoll" or "libevent" (a static string). For
 * diagnostics and tests; nothing else depends on it. */
AC_API const char *ac_io_backend_name(void);

/* Deregister and free; with AC_IO_OWN_FD also close the fd. No operation may be pending on it
 * (cancel or finish them first; debug builds abort otherwise). NULL is a no-op. */
AC_API void ac_io_close(ac_io *io);

AC_API int ac_io_fd(const ac_io *io);

/* After your own system call on the fd said EAGAIN: forget that direction's readiness, so the
 * next ac_io_readable/ac_io_writable suspends until libevent reports a new edge. */
AC_API void ac_io_clear_ready(ac_io *io, unsigned direction);

/* Wait until the fd is readable (or writable) — or in error or hung up, which the next system
 * call will report. Finishes with 0. For wrapping your own non-blocking fds (tokio's AsyncFd):
 * wait, try the call, on EAGAIN ac_io_clear_ready and wait again. A new registration starts out
 * ready in both directions (the first call finds out), so the first wait finishes at once. */
typedef struct ac_io_readable_op {
    ac_future future;
    ac_io *io;
    unsigned direction;
} ac_io_readable_op;
typedef ac_io_readable_op ac_io_writable_op;
AC_API ac_future *ac_io_readable(ac_io_readable_op *op, ac_io *io);
AC_API ac_future *ac_io_writable(ac_io_writable_op *op, ac_io *io);

/* Read at most `len` bytes into `buf` (which must stay valid until the future finishes).
 * Finishes with the byte count (> 0), 0 at end of file, or a negative errno value. */
typedef struct ac_io_read_op {
    ac_future future;
    ac_io *io;
    void *buf;
    size_t len;
} ac_io_read_op;
AC_API ac_future *ac_io_read(ac_io_read_op *op, ac_io *io, void *buf, size_t len);

/* ac_io_write: write some of `buf` — finishes with the count written (> 0) or a negative errno.
 * ac_io_write_all: write all of it — finishes with `len` or a negative errno;
 * `op->transferred` says how much had been written when it failed or was cancelled. `len` is at
 * most INT32_MAX. */
typedef struct ac_io_write_op {
    ac_future future;
    ac_io *io;
    const void *buf;
    size_t len;
    size_t transferred;
    int all;
} ac_io_write_op;
typedef ac_io_write_op ac_io_write_all_op;
AC_API ac_future *ac_io_write(ac_io_write_op *op, ac_io *io, const void *buf, size_t len);
AC_API ac_future *ac_io_write_all(ac_io_write_all_op *op, ac_io *io, const void *buf, size_t len);

/* ============================================================================================
 * 14. SOCKETS: TCP, UDP AND UNIX-DOMAIN
 *
 * Addresses are numeric (IPv4 "127.0.0.1", IPv6 "::1") or Unix paths; names are resolved, and
 * connected to, by the DNS part at the end of this section. Every socket is created
 * non-blocking and close-on-exec and registered as an ac_io that owns its fd: release it with
 * ac_io_close.
 * ============================================================================================ */

typedef struct ac_sockaddr {
    struct sockaddr_storage storage;
    socklen_t len;
} ac_sockaddr;

/* Fill `addr` from a numeric IPv4/IPv6 address and a port: 0 or -EINVAL. */
AC_API int ac_sockaddr_ip(ac_sockaddr *addr, const char *ip, uint16_t port);
/* Fill `addr` with a Unix-domain path: 0 or -ENAMETOOLONG. */
AC_API int ac_sockaddr_unix(ac_sockaddr *addr, const char *path);
/* "127.0.0.1:8080", "[::1]:80" or the Unix path; returns the length like snprintf. */
AC_API int ac_sockaddr_format(const ac_sockaddr *addr, char *buf, size_t size);
/* The port of an IP address (0 for Unix-domain). */
AC_API uint16_t ac_sockaddr_port(const ac_sockaddr *addr);

enum {
    AC_LISTEN_REUSEPORT = 1 << 0, /* SO_REUSEPORT: several listeners (threads) share the port */
};

/* A listening stream socket (TCP when addr is IP — with SO_REUSEADDR — or Unix-domain) with the
 * given backlog (<= 0: SOMAXCONN). Port 0 picks a free port: read it with ac_io_local_address.
 * Returns 0 or a negative errno (-EADDRINUSE, -EACCES, ...). */
AC_API int ac_socket_listen(ac_executor *ex, const ac_sockaddr *addr, int backlog, unsigned flags,
                            ac_io **listener);
AC_API int ac_io_local_address(const ac_io *io, ac_sockaddr *out);
AC_API int ac_io_peer_address(const ac_io *io, ac_sockaddr *out);

/* Accept one connection: finishes with 0 and `op->conn` (a registered ac_io you now own) and
 * `op->peer`, or a negative errno. -EMFILE/-ENFILE (out of file descriptors) leave the
 * connection queued: the listener stays usable, so back off (sleep) and accept again.
 * Cancel-safe: a cancelled accept has accepted nothing. */
typedef struct ac_socket_accept_op {
    ac_future future;
    ac_io *listener;
    ac_io *conn;
    ac_sockaddr peer;
} ac_socket_accept_op;
AC_API ac_future *ac_socket_accept(ac_socket_accept_op *op, ac_io *listener);

/* Connect a stream socket (TCP or Unix-domain) to `addr`: finishes with 0 and `op->conn` (yours
 * to close), or a negative errno (-ECONNREFUSED, -ENETUNREACH, ...). Wrap it in ac_timeout_ms
 * for a deadline; cancelling closes the half-open socket. */
typedef struct ac_socket_connect_op {
    ac_future future;
    ac_executor *ex;
    ac_sockaddr addr;
    ac_io *conn;
} ac_socket_connect_op;
AC_API ac_future *ac_socket_connect(ac_socket_connect_op *op, ac_executor *ex,
                                    const ac_sockaddr *addr);

/* Shut down the write direction (the peer reads end of file) — or AC_IO_READ, or both. */
AC_API int ac_socket_shutdown(ac_io *io, unsigned directions);

/* A UDP socket bound to `addr` (port 0: any free port). 0 or a negative errno. */
AC_API int ac_udp_bind(ac_executor *ex, const ac_sockaddr *addr, ac_io **out);

/* Send one datagram to `to`: finishes with the byte count or a negative errno. Cancel-safe: a
 * datagram goes out whole or not at all, and a cancelled send (still waiting for room in the
 * socket buffer) sent nothing. */
typedef struct ac_socket_send_to_op {
    ac_future future;
    ac_io *io;
    const void *buf;
    size_t len;
    ac_sockaddr to;
} ac_socket_send_to_op;
AC_API ac_future *ac_socket_send_to(ac_socket_send_to_op *op, ac_io *io, const void *buf,
                                    size_t len, const ac_sockaddr *to);

/* Receive one datagram into `buf`: finishes with its length (truncated to `len`) and the sender
 * in `op->from`, or a negative errno. Cancel-safe: a cancelled receive took no datagram. */
typedef struct ac_socket_recv_from_op {
    ac_future future;
    ac_io *io;
    void *buf;
    size_t len;
    ac_sockaddr from;
} ac_socket_recv_from_op;
AC_API ac_future *ac_socket_recv_from(ac_socket_recv_from_op *op, ac_io *io, void *buf, size_t len);

/* --------------------------------------------------------------------------------------------
 * DNS: resolving names and connecting by name
 *
 * ac_dns_resolve looks a host name up (A and AAAA records) and ac_socket_connect_host connects
 * to it, trying its addresses the way RFC 8305 ("Happy Eyeballs") says. Both run on the
 * executor's own loop, on libevent's resolver (evdns): no thread, no blocking getaddrinfo.
 *
 * Where answers come from, in this order:
 *   1. a numeric address ("127.0.0.1", "::1") is its own answer: no query;
 *   2. the hosts file (/etc/hosts unless configured): every entry for the name, in file order;
 *   3. the nameservers of /etc/resolv.conf (its `search`, `ndots`, `timeout` and `attempts`
 *      too, as evdns reads them), or the ones ac_dns_configure gives.
 * Each executor has its own resolver, created on first use from the system's configuration and
 * freed by ac_executor_free. ac_dns_configure replaces it (tests, embedded systems, a program
 * with its own servers).
 *
 * Errors (a lookup's, and ac_socket_connect_host's when no address could even be tried):
 *   -ENOENT     no such name: the server said NXDOMAIN, or no nameserver is configured and the
 *               name is neither numeric nor in the hosts file (getaddrinfo's EAI_NONAME).
 *   -ENODATA    the name exists but has no address of the family asked for (EAI_NODATA).
 *   -ETIMEDOUT  no answer in time: the lookup's timeout, or every attempt of evdns went
 *               unanswered (a nameserver that says SERVFAIL is retried like a silent one).
 *   -EMSGSIZE   the answer was truncated (TC bit): evdns has no TCP fallback (see below).
 *   -EIO        the server answered with an error of its own (refused, not implemented,
 *               malformed), or an answer evdns could not read.
 *   -EINVAL     a bad argument, found before any query: host NULL or empty, longer than
 *               AC_DNS_MAX_NAME characters (plus an optional final dot), a label (the text
 *               between dots) empty or longer than 63, a control character or space in it;
 *               a family other than AF_UNSPEC, AF_INET or AF_INET6.
 *   -ENOMEM     out of memory; -ECANCELED when cancelled, as always.
 *
 * Limits, honestly: evdns speaks UDP only, so an answer too big for one datagram (hundreds of
 * addresses) fails with -EMSGSIZE where glibc or c-ares would retry over TCP; it does not
 * speak DNSSEC, DNS over TLS or mDNS (".local"); the hosts file and resolv.conf are read when
 * the resolver is created, not watched. docs/ARCHITECTURE.md says why evdns and not c-ares.
 * -------------------------------------------------------------------------------------------- */

enum {
    AC_DNS_MAX_ADDRS = 8,  /* addresses one lookup keeps (with AF_UNSPEC: up to 4 per family) */
    AC_DNS_MAX_NAME = 253, /* the longest host name DNS carries, without the final dot */
};

/* The resolver of one executor. Every field may be 0 (or NULL) for its default. */
typedef struct ac_dns_config {
    /* Nameservers as "IP" or "IP:port" ("127.0.0.1:5353", "[::1]:53"), ending with a NULL
     * entry; an empty list (just NULL) means none: numeric names and the hosts file only.
     * NULL: take them from resolv_conf. */
    const char *const *nameservers;
    /* Read for nameservers, search domains and options when `nameservers` is NULL.
     * NULL: /etc/resolv.conf (if it is missing, evdns asks 127.0.0.1, as glibc does). */
    const char *resolv_conf;
    /* NULL: /etc/hosts (none if it is missing); "": no hosts file. */
    const char *hosts_file;
    /* A lookup's timeout when ac_dns_resolve is given 0. Default 5000 ms. */
    uint64_t timeout_ms;
    /* How many times a query is sent before giving up (each try waits timeout_ms / attempts
     * for its answer). Default 2, as glibc's; overrides resolv.conf's `attempts` and `timeout`. */
    unsigned attempts;
    /* Happy Eyeballs (ac_socket_connect_host): how long to wait for the AAAA answer once the A
     * answer is in (default 50 ms, RFC 8305's "Resolution Delay"), and between the starts of two
     * connection attempts (default 250 ms, the "Connection Attempt Delay"; at least 10 ms). */
    uint64_t resolution_delay_ms;
    uint64_t connection_attempt_delay_ms;
} ac_dns_config;

/* Replace `ex`'s resolver by one configured from `config` (NULL: the system's configuration,
 * as on first use). Returns 0, or a negative errno with the resolver unchanged: -EINVAL (a
 * nameserver that is not "IP" or "IP:port", or a resolv_conf that evdns cannot parse), the
 * errno of a named resolv_conf or hosts_file that cannot be read (-ENOENT, -EACCES, ...),
 * -ENOMEM, or -EBUSY while a lookup (or ac_socket_connect_host) of `ex` is pending. Call it on
 * the executor's thread; the strings are read during the call, not kept. */
AC_API int ac_dns_configure(ac_executor *ex, const ac_dns_config *config);

/* Look `host` up: finishes with the number of addresses found (1 .. AC_DNS_MAX_ADDRS), stored
 * in op->addrs[0 .. n) with `port` in each, or a negative errno (see the list above).
 *   family      AF_INET (A records), AF_INET6 (AAAA) or AF_UNSPEC (both, asked at once; IPv6
 *               addresses first, at most 4 of each family). With AF_UNSPEC, one family's
 *               failure is not the lookup's: it finishes with what the other found.
 *   timeout_ms  for the whole lookup, from its first poll (0: the configured default; it
 *               saturates, so UINT64_MAX leaves only evdns's own retries to end it). When it
 *               runs out, the lookup finishes with the addresses of the family that did answer
 *               (AF_UNSPEC), or -ETIMEDOUT.
 * `host` is copied: it need not outlive the call. Nothing of asyncc's is allocated per lookup
 * (evdns allocates its request); the executor keeps a table of the queries in flight, which
 * grows to the most ever in flight at once. Cancel-safe: cancelling cancels the queries
 * (evdns_cancel_request); an answer that arrives later is dropped. */
struct ac_dns_query;
typedef struct ac_dns_resolve_op {
    ac_future future;
    ac_executor *ex;
    struct ac_dns_query *queries[2]; /* in flight: [0] AAAA, [1] A */
    ac_task *waiter;
    ac_sleep_until_op timer;
    uint64_t timeout_ms;
    int family;
    int errors[2];    /* each query's error, 0 if none */
    uint8_t found[2]; /* addresses each query found so far */
    uint8_t in_flight; /* queries were sent: the lookup counts as a wake source */
    uint16_t port;
    int count; /* the result: addresses in addrs */
    ac_sockaddr addrs[AC_DNS_MAX_ADDRS];
    char host[AC_DNS_MAX_NAME + 2]; /* the name and an optional final dot */
} ac_dns_resolve_op;
AC_API ac_future *ac_dns_resolve(ac_dns_resolve_op *op, ac_executor *ex, const char *host,
                                 uint16_t port, int family, uint64_t timeout_ms);

/* Connect a TCP socket to `host`:`port`: finishes with 0, op->conn (a registered ac_io you now
 * own: ac_io_close it) and op->peer (the address that answered), or a negative errno.
 *
 * How (RFC 8305, Happy Eyeballs): the AAAA and A lookups start together. Connecting starts as
 * soon as the AAAA answer is in, or the A answer and then the resolution delay (50 ms) without
 * an AAAA answer. Attempts alternate between the families, IPv6 first, and start one
 * connection attempt delay (250 ms) apart — or at once when the attempt before failed; up to
 * AC_CONNECT_HOST_MAX_ATTEMPTS run at the same time. The first connection made wins; the other
 * attempts are cancelled and their sockets closed. ac_dns_configure sets both delays.
 *
 * `timeout_ms` bounds everything, lookups included (0: the resolver's default lookup timeout;
 * UINT64_MAX: none); when it runs out: -ETIMEDOUT. Other errors: the last connection attempt's
 * (-ECONNREFUSED, -ENETUNREACH, ...), or, when no address was found to try, the lookup's
 * (-ENOENT, -ENODATA, ...; an IPv6 "no data" gives way to the IPv4 error). A numeric host
 * ("::1") skips the lookup. `host` is copied. Cancel-safe: cancelling cancels the lookups and
 * every attempt, closing every half-open socket. Nothing of asyncc's is allocated beyond the
 * sockets (and the lookups' evdns requests): the whole state is in the op (about 4 KiB). */
enum { AC_CONNECT_HOST_MAX_ATTEMPTS = 4 };
typedef struct ac_socket_connect_host_op {
    ac_future future;
    ac_executor *ex;
    ac_io *conn;      /* the result: the connected socket */
    ac_sockaddr peer; /* the result: the address it is connected to */
    ac_dns_resolve_op lookups[2]; /* [0] AAAA, [1] A */
    ac_socket_connect_op attempts[AC_CONNECT_HOST_MAX_ATTEMPTS];
    ac_sleep_until_op next_attempt; /* when another attempt may start */
    ac_sleep_until_op deadline;
    ac_instant start_at; /* the earliest the next attempt may start */
    uint64_t timeout_ms;
    int error;          /* the last attempt's error */
    uint8_t tried[2];    /* addresses of each family tried so far */
    uint8_t next_family; /* the family the next attempt prefers: 0 IPv6, 1 IPv4 */
    uint8_t started;     /* attempts started so far */
    uint8_t running;     /* bit i: attempts[i] is in progress */
} ac_socket_connect_host_op;
AC_API ac_future *ac_socket_connect_host(ac_socket_connect_host_op *op, ac_executor *ex,
                                         const char *host, uint16_t port, uint64_t timeout_ms);

/* ============================================================================================
 * 15. STREAMS
 *
 * An ac_stream is a connected byte stream — a TCP or Unix-domain socket, a pipe, a terminal:
 * anything ac_io accepts — with a read buffer, for reading lines, delimited records and exact
 * sizes, plus write-all, vectored writes, half-close and copying between streams.
 *
 * Memory. The stream itself is one small allocation. Its read buffer is allocated only while it
 * holds unread bytes or a read needs room: it starts at 4 KiB, doubles as a long line needs,
 * up to the stream's buffer limit (default 64 KiB, see ac_stream_set_buffer_limit), and is freed
 * as soon as it is empty when a read must wait for the peer, or when a read_some/read_exact
 * leaves it empty. So an idle connection — its task parked in a read with nothing buffered —
 * costs the ac_stream and its ac_io: about 160 bytes of heap in all (64-bit glibc). (The
 * executor keeps up to 16 freed 4 KiB buffers of its streams for the next read that needs one,
 * 64 KiB at most however many connections it has, freed by ac_executor_free.)
 *
 * Writes. write_all and writev_all hand the bytes to the kernel before they finish. To send a
 * reply made of pieces in one system call, gather them with ac_stream_writev_all — or write the
 * pieces with ac_stream_write_buffered, which copies small writes into a write buffer (tokio's
 * BufWriter), and send them all with ac_stream_flush. The write buffer follows the read buffer's
 * rules: allocated on the first buffered write (default capacity 8 KiB, see
 * ac_stream_set_write_buffer), freed whenever it is empty and a write finishes or waits — after
 * every completed flush — so an idle connection holds none. Bytes never overtake each other:
 * write_all, writev_all and copy into the stream send the unflushed bytes first. Unflushed bytes
 * are never sent by themselves: flush before you wait for the peer's answer, and before
 * ac_stream_shutdown_write (which refuses with -EBUSY) or ac_stream_close (which drops them).
 *
 * Split. Like ac_io, a stream has one reader and one writer at a time: one task may read (the
 * buffer belongs to the read side) while another writes or half-closes. That is the split into
 * a read half and a write half; two reads (or two writes) at once are a misuse that debug
 * builds catch.
 *
 * Cancellation (dropping the future, e.g. by ac_timeout_ms or ac_task_abort):
 *   read_some, read_until, read_line,  cancel-safe: nothing is consumed; bytes received so far
 *   fill                               stay buffered for the next read.
 *   read_exact                         bytes already copied into your buffer are counted in
 *                                      op->transferred; the rest stays buffered.
 *   write_all, writev_all              op->transferred bytes were written; the rest were not.
 *                                      Of the unflushed bytes sent first, those not yet written
 *                                      stay buffered.
 *   write_buffered                     op->transferred of your bytes were accepted — written, or
 *                                      copied into the write buffer, where they stay and go out
 *                                      with the next flush or write; the rest were not.
 *   flush                              cancel-safe: what was not written stays buffered, and a
 *                                      later flush sends it.
 *   copy, copy_bidirectional           op->copied bytes were written; bytes read but not yet
 *                                      written stay in the source's read buffer.
 * Results are negative errno values: -ECONNRESET (peer reset), -EPIPE (writing to a closed
 * peer; never SIGPIPE), -ENODATA (end of file before read_exact's count), -EMSGSIZE (a line
 * longer than its maximum), -ENOMEM, -ECANCELED.
 *
 *     struct session { ac_future future; ac_stream *s; ac_stream_read_line_op line;
 *                      ac_stream_write_all_op w; int n; };
 *     ASYNC_FN(session)                                // a line-echo connection
 *         for (;;) {
 *             AWAIT_TRY(self->n, ac_stream_read_line(&self->line, self->s, 1024));
 *             if (self->n == 0)
 *                 break;                               // end of file
 *             AWAIT_TRY(self->n, ac_stream_write_all(&self->w, self->s, self->line.data,
 *                                                   (size_t)self->n));
 *         }
 *     ASYNC_FINALLY
 *         ac_stream_close(self->s);
 *     ASYNC_END
 * ============================================================================================ */

typedef struct ac_stream ac_stream;
struct iovec; /* <sys/uio.h> */

/* Open a stream on a connected fd, registering it with `ex`. Takes ownership of `fd` whatever
 * happens: on failure (-ENOMEM, -EBADF, -EEXIST) it is closed. 0 and *out on success. */
AC_API int ac_stream_open(ac_executor *ex, int fd, ac_stream **out);

/* A stream that reads from `read_fd` and writes to `write_fd` (e.g. stdin and stdout, or the
 * two ends of two pipes; the same fd twice is ac_stream_open). With flags AC_IO_OWN_FD it takes
 * ownership of both as above, and half-closing it closes write_fd. With flags 0 it borrows them
 * (to wrap STDIN_FILENO and STDOUT_FILENO, say): they are never closed, not even on failure,
 * and half-closing only stops the stream's writing (the reader sees end of file once you close
 * the fd). Either way both are made non-blocking (see ac_io_open) and left so. */
AC_API int ac_stream_open_pair(ac_executor *ex, int read_fd, int write_fd, unsigned flags,
                               ac_stream **out);

/* A stream on an ac_io, e.g. the `conn` of ac_socket_accept or ac_socket_connect. Takes
 * ownership of `io` whatever happens (on -ENOMEM it is closed). No operation may be pending on
 * the io; afterwards use it only through the stream (ac_stream_io reads it back). */
AC_API int ac_stream_from_io(ac_io *io, ac_stream **out);

/* An in-memory connected pair (tokio::io::duplex): what is written to *a is read from *b and
 * the other way round, each direction through a ring of `capacity` bytes (1 .. INT32_MAX).
 * Every stream operation works on them as on a socket: a write waits while the ring is full, a
 * read while it is empty; ac_stream_shutdown_write or closing one end gives the other end of
 * file once it has read what was written, and closing one end makes the other's writes fail
 * with -EPIPE (bytes still in the ring are dropped). For tests of protocol code (the HTTP server
 * runs over it) and for plumbing two parts of one program; both ends must be used on one
 * executor's thread. A task waiting on one end is woken by the other end's task, like a channel
 * wait: when the only tasks left wait on each other, ac_executor_run reports -EDEADLK. Returns
 * 0 with both ends (close each with ac_stream_close), -EINVAL or -ENOMEM (then both are NULL).
 * ac_stream_io is NULL for them. Memory: one allocation of about 2 x capacity bytes. */
AC_API int ac_stream_open_duplex(size_t capacity, ac_stream **a, ac_stream **b);

/* Close the ac_io(s) (which closes the fds they own) and free the buffers and the stream. No
 * operation may be pending on it. Unflushed bytes (ac_stream_unflushed) are dropped, unsent,
 * like a BufWriter dropped without a flush: flush first. NULL is a no-op. */
AC_API void ac_stream_close(ac_stream *stream);

/* The read side's ac_io, for ac_io_peer_address and the like (for a TLS stream, its TCP
 * connection's; NULL for a duplex stream). Do not read from or write to it directly. */
AC_API ac_io *ac_stream_io(const ac_stream *stream);

/* The maximum size of the read buffer (default 65536, minimum 1): the longest line
 * read_until can return. Lowering it below what is buffered takes effect once drained. To tell
 * a last piece of exactly `limit` bytes from a longer line, read_until may take one byte more. */
AC_API void ac_stream_set_buffer_limit(ac_stream *stream, size_t limit);

/* Bytes allocated for the read buffer right now (0 when none is held). */
AC_API size_t ac_stream_buffer_capacity(const ac_stream *stream);

/* The unread bytes held in the read buffer: their count, and in *data (if not NULL) where they
 * start. Valid until the next read operation starts. With ac_stream_consume this is the way
 * to look at raw input, e.g. to skip an over-long line. */
AC_API size_t ac_stream_buffered(const ac_stream *stream, const void **data);

/* Drop the first `count` unread bytes (at most what is buffered); returns how many it dropped.
 * Must not be called while a read is pending. */
AC_API size_t ac_stream_consume(ac_stream *stream, size_t count);

/* ---- reading ---- */

/* ac_stream_read_some: read at most `len` bytes into `buf`: buffered bytes first (without a
 *   system call), otherwise one read from the fd straight into `buf`. Finishes with the count
 *   (> 0), 0 at end of file (or when len is 0), or a negative errno. Cancel-safe.
 * ac_stream_read_exact: read exactly `len` bytes. Finishes with `len`; -ENODATA at end of file
 *   before that, with `op->transferred` bytes (fewer than len) in `buf` — nothing is lost; or
 *   another negative errno, again with op->transferred bytes delivered. Large reads bypass the
 *   buffer.
 * `buf` must stay valid until the future finishes; `len` is at most INT32_MAX. */
typedef struct ac_stream_read_some_op {
    ac_future future;
    ac_stream *stream;
    void *buf;
    size_t len;
    size_t transferred;
    int exact;
} ac_stream_read_some_op;
typedef ac_stream_read_some_op ac_stream_read_exact_op;
AC_API ac_future *ac_stream_read_some(ac_stream_read_some_op *op, ac_stream *stream, void *buf,
                                      size_t len);
AC_API ac_future *ac_stream_read_exact(ac_stream_read_exact_op *op, ac_stream *stream, void *buf,
                                       size_t len);

/* ac_stream_read_until: read up to and including the byte `delimiter`. Finishes with the
 * length including the delimiter; the bytes are at `op->data`, inside the stream's buffer, valid
 * until the next read operation on the stream starts (copy them if you need them longer). They
 * are already consumed: the next read continues after them.
 *   - End of file: a last piece without the delimiter is returned as it is (its final byte is
 *     not the delimiter, and op->eof is 1); the next read finishes with 0. 0 = end of file with
 *     nothing buffered.
 *   - More than `max` bytes without the delimiter: -EMSGSIZE, and nothing is consumed (exactly
 *     `max` bytes then end of file are a last piece, returned as above). Recover by skipping (ac_stream_buffered + ac_stream_consume), by reading the raw bytes with
 *     read_some, or by reading again with a larger max. `max` (> 0) is capped at the buffer
 *     limit.
 *   - An error (-ECONNRESET, ...): what was received stays buffered (ac_stream_buffered).
 * Cancel-safe. ac_stream_read_line is read_until with '\n'. */
typedef struct ac_stream_read_until_op {
    ac_future future;
    ac_stream *stream;
    const char *data; /* the result, when it is > 0 */
    size_t max;
    size_t scanned; /* buffered bytes already searched for the delimiter */
    int delimiter;
    int eof;
} ac_stream_read_until_op;
typedef ac_stream_read_until_op ac_stream_read_line_op;
AC_API ac_future *ac_stream_read_until(ac_stream_read_until_op *op, ac_stream *stream,
                                       int delimiter, size_t max);
AC_API ac_future *ac_stream_read_line(ac_stream_read_line_op *op, ac_stream *stream, size_t max);

/* ac_stream_fill: make sure the read buffer holds unread bytes (tokio's BufReader::fill_buf).
 * With bytes already buffered it finishes at once; otherwise it reads once, waiting for
 * readability first if need be. Finishes with the number of unread bytes buffered (> 0; look at
 * them with ac_stream_buffered, drop what you used with ac_stream_consume), 0 at end of file,
 * or a negative errno. For a streaming parser that works on the buffer in place (as the HTTP
 * server does with llhttp): parse what is buffered, consume all it used, and fill again —
 * which waits for the peer once the buffer is empty. A parser that needs a whole frame at once
 * reads it with read_until or read_exact instead. Cancel-safe: nothing is consumed. */
typedef struct ac_stream_fill_op {
    ac_future future;
    ac_stream *stream;
} ac_stream_fill_op;
AC_API ac_future *ac_stream_fill(ac_stream_fill_op *op, ac_stream *stream);

/* ---- writing ---- */

/* ac_stream_write_all: write all `len` bytes of `buf`. ac_stream_writev_all: write all the bytes
 * of `iovcnt` buffers, in order, using writev/sendmsg (partial writes resume mid-buffer). Both
 * finish with the total (at most INT32_MAX, otherwise -EINVAL) or a negative errno (-EPIPE,
 * -ECONNRESET, ...); `op->transferred` says how many bytes were written before an error or a
 * cancel.
 * The buffers (and the iovec array) must stay valid until the future finishes; neither is
 * modified. */
typedef struct ac_stream_write_all_op {
    ac_future future;
    ac_stream *stream;
    const struct iovec *iov; /* NULL for write_all: then buf and len */
    const void *buf;
    size_t len; /* the total */
    size_t transferred;
    size_t offset; /* into iov[index] */
    int iovcnt;
    int index;
} ac_stream_write_all_op;
typedef ac_stream_write_all_op ac_stream_writev_all_op;
typedef ac_stream_write_all_op ac_stream_write_buffered_op;
typedef ac_stream_write_all_op ac_stream_flush_op;
AC_API ac_future *ac_stream_write_all(ac_stream_write_all_op *op, ac_stream *stream,
                                      const void *buf, size_t len);
AC_API ac_future *ac_stream_writev_all(ac_stream_writev_all_op *op, ac_stream *stream,
                                       const struct iovec *iov, int iovcnt);

/* Buffered writing (see "Writes" above).
 * ac_stream_write_buffered: write `len` bytes through the write buffer. What fits is copied
 *   there and the future finishes at once, without a system call. A write that does not fit, or
 *   of the buffer's capacity or more, goes out together with the unflushed bytes in one writev
 *   (awaiting writability as needed); what the kernel leaves of it is buffered once it fits.
 *   Finishes with `len` or a negative errno; `op->transferred` counts your bytes accepted so far
 *   (written or buffered). `buf` must stay valid until the future finishes, not longer (the
 *   buffer keeps copies); `len` is at most INT32_MAX, otherwise -EINVAL.
 * ac_stream_flush: write out every unflushed byte, then free the write buffer. Finishes with 0
 *   or a negative errno (-EPIPE, ...), which leaves the unsent bytes buffered;
 *   `op->transferred` counts the bytes it wrote. Nothing buffered: 0 at once.
 * For the cancellation of both see the table above. */
AC_API ac_future *ac_stream_write_buffered(ac_stream_write_buffered_op *op, ac_stream *stream,
                                           const void *buf, size_t len);
AC_API ac_future *ac_stream_flush(ac_stream_flush_op *op, ac_stream *stream);

/* The write buffer's capacity (default 8192, at most INT32_MAX; 0 counts as 1, which makes
 * write_buffered write straight through). A buffer already held keeps its size until freed,
 * except that raising the capacity lets it grow. */
AC_API void ac_stream_set_write_buffer(ac_stream *stream, size_t capacity);

/* Bytes allocated for the write buffer right now (0 when none is held). */
AC_API size_t ac_stream_write_buffer_capacity(const ac_stream *stream);

/* Bytes buffered by write_buffered and not yet written. */
AC_API size_t ac_stream_unflushed(const ac_stream *stream);

/* Half-close: the peer reads end of file; reading continues. A socket is shut down for writing;
 * a stream from ac_stream_open_pair closes its write fd; a TLS stream sends close_notify first
 * (-EAGAIN if the alert cannot go at once: await ac_tls_shutdown, section 23); a duplex end
 * gives the other end of file. Later writes fail with -EPIPE. Returns
 * 0 or a negative errno (-ENOTSOCK for a single fd that is not a socket; -EBUSY, doing nothing,
 * while the write buffer holds unflushed bytes: await ac_stream_flush first). No write may be
 * pending. */
AC_API int ac_stream_shutdown_write(ac_stream *stream);

/* ---- copying ---- */

/* Copy from `from` to `to` until `from` reaches end of file: finishes with 0 (then `to` is left
 * open: half-close it yourself if the peer should see end of file) or the first negative errno
 * of either side. `op->copied` counts the bytes written to `to`. Uses from's read buffer, so
 * buffered bytes go first and nothing is lost on cancel or error. `from` and `to` may be the
 * same stream (an echo). Takes from's read side and to's write side. Does not use the write
 * buffer: unflushed bytes in `to` are written first, then the copy writes straight through. */
typedef struct ac_stream_copy_op {
    ac_future future;
    ac_stream *from, *to;
    uint64_t copied;
} ac_stream_copy_op;
AC_API ac_future *ac_stream_copy(ac_stream_copy_op *op, ac_stream *from, ac_stream *to);

/* Copy a → b and b → a at once (netcat, a proxy) until both reach end of file, half-closing
 * each destination as its source ends. Finishes with 0, or with the first error of either
 * direction (the other direction is then dropped). Byte counts: op->a_to_b.copied and
 * op->b_to_a.copied. Takes both sides of both streams. */
typedef struct ac_stream_copy_bidirectional_op {
    ac_future future;
    ac_stream_copy_op a_to_b, b_to_a;
} ac_stream_copy_bidirectional_op;
AC_API ac_future *ac_stream_copy_bidirectional(ac_stream_copy_bidirectional_op *op, ac_stream *a,
                                               ac_stream *b);

/* ============================================================================================
 * 16. COMBINATORS: JOIN AND SELECT
 *
 * Run several futures — the branches — concurrently inside one task, and finish when all of them
 * have finished (join), when all succeed or one fails (try-join), or when the first one finishes
 * (select). Like ac_timeout_ms's inner future, the branches are frames in your own frame and the
 * array of pointers to them is yours too; the combinator copies and allocates nothing, and reads
 * both until it finishes or is cancelled.
 *
 *     // fragment: struct fetch and fetch() stand for an async function of yours
 *     struct fetch_both { ac_future future; struct fetch a, b; ac_future *branches[2];
 *                         ac_join_all_op all; };
 *     ASYNC_FN(fetch_both)
 *         self->branches[0] = fetch(&self->a, "alpha");   // in the body, not the constructor:
 *         self->branches[1] = fetch(&self->b, "beta");    // the frame must not move any more
 *         AWAIT(ac_join_all(&self->all, self->branches, 2));
 *         printf("%d %d\n", self->a.future.result, self->b.future.result);
 *     ASYNC_END
 *
 * Each branch keeps its own result in `branch->result` and its outputs in its frame.
 *
 * Cost. There is one waker per task, so a wake does not say which branch it was for: every poll
 * of a combinator polls each unfinished branch again (a branch that is not ready just registers
 * its waker once more). That is O(branches) per wake, which is fine for the handful of branches
 * these are meant for; for hundreds of concurrent operations spawn tasks instead. (Per-branch
 * wakers would remove the re-polls; they are a possible future improvement.) So a branch must
 * tolerate being polled when it was not woken: every asyncc future does, and a leaf you write
 * (section 12) must too.
 *
 * Cancellation. Cancelling a pending join or select cancels every unfinished branch, in index
 * order (their cleanup runs), and finishes it with -ECANCELED. Finished branches keep their
 * results; a select's disabled (NULL) branches are left alone. In the async backtrace a pending
 * combinator shows as "join (2 of 3 pending)", "select of 3" or "select of 3, 1 disabled", and
 * the chain continues into its first unfinished branch.
 *
 * Timeouts: wrap anything in ac_timeout_ms (section 9), or select against an ac_sleep_ms.
 * ============================================================================================ */

/* ac_join_all: poll every branch until all have finished; finishes with 0. Errors do not stop
 *   it: read each branch's result.
 * ac_try_join_all: the same, but the first branch to finish with a negative result stops it: the
 *   other unfinished branches are cancelled (their cleanup runs, in index order) and the error
 *   is the result; `op->failed` is that branch's index (-1 when none failed, and after a cancel).
 * Zero branches finish at once with 0. Branches are polled in index order. `branches` and the
 * frames it points to must stay valid, and unmoved, until the combinator finishes or is
 * cancelled; a branch that has already finished counts as finished and is not polled again.
 * Every branch of a join is required: debug builds abort on a NULL branch (only a select can
 * disable one). */
typedef struct ac_join_all_op {
    ac_future future;
    ac_future **branches;
    size_t count;
    size_t pending; /* branches not finished yet (known after the first poll) */
    int fail_fast;
    int failed;
} ac_join_all_op;
typedef ac_join_all_op ac_try_join_all_op;
AC_API ac_future *ac_join_all(ac_join_all_op *op, ac_future **branches, size_t count);
AC_API ac_future *ac_try_join_all(ac_try_join_all_op *op, ac_future **branches, size_t count);

enum {
    /* Poll the branches from index 0 every time: when several are ready at once, the lowest
     * index wins. Use it for priorities (a shutdown signal listed first). */
    AC_SELECT_BIASED = 1 << 0,
};

/* ac_select: the first branch to finish wins. Before the select finishes, every other branch
 * is cancelled (its cleanup runs, in index order), so a loser's side effects stop at its last
 * await. Finishes with the winner's result; `op->winner` is its index (-1 while pending, after
 * a cancel, or on error).
 *
 * Disabled branches (tokio's `, if condition` guard). A NULL entry in `branches` is a disabled
 * branch: it is never polled, never cancelled and cannot win, and its index keeps its place, so
 * op->winner still names the array slot. Decide each guard as you fill the array:
 *     // fragment: one statement of a body whose frame has these fields
 *     self->branches[1] = self->jobs_open ? ac_mpsc_recv(&self->recv, self->jobs, &self->job)
 *                                         : NULL;
 * The entries are read when ac_select is called and must not change until it finishes; to
 * enable a branch later, finish this select (or cancel it) and start a new one, as a loop does.
 * When no branch is enabled — zero branches, or every entry NULL — the select finishes with
 * -EINVAL on its first poll, op->winner -1 (tokio's `else` branch: a loop whose guards have
 * all closed ends there). A branch's own -EINVAL comes with op->winner >= 0.
 *
 * Fairness. By default (flags 0) the branch polled first rotates: each select starts one index
 * later than the previous one made on this thread, and each further poll of the same select
 * moves on by one more. So when several branches are ready together, none is always preferred:
 * in a loop that selects over always-ready branches, each wins in turn. The rotation counts
 * enabled branches only, so disabling one does not favour its neighbour. With
 * AC_SELECT_BIASED the order is always 0, 1, 2, ...: an always-ready early branch starves the
 * later ones.
 *
 * Cancel safety is the losers': a loser that was a cancel-safe operation (read_line, accept,
 * recv_from) lost nothing; a loser that was half-way through a write_all reports
 * op->transferred. */
typedef struct ac_select_op {
    ac_future future;
    ac_future **branches;
    size_t count;
    size_t start; /* the branch polled first on the next poll; count when none is enabled */
    unsigned flags;
    int winner;
} ac_select_op;
AC_API ac_future *ac_select(ac_select_op *op, ac_future **branches, size_t count, unsigned flags);

/* Interval timers: ticks at a fixed rate — start + period, start + 2 * period, ... — however
 * long each tick's work takes, without drift (the schedule is not reset by late ticks).
 *
 * Missed ticks are skipped, and counted. When the task comes back to await a tick after more
 * than a whole period of work, the ticks whose time passed meanwhile are not delivered in a
 * burst: the next tick finishes at once, with the number of ticks it skipped as its result,
 * and the schedule continues on the original grid. So a tick finishes with 0 when it was on
 * time, with n > 0 when n ticks were missed just before it. `interval->ticks` counts the ticks
 * delivered and `interval->missed` the ticks skipped in all.
 *
 * The ac_interval is plain memory that you own (no allocation, nothing to free). The first
 * tick is one period after ac_interval_init. Awaiting a tick allocates nothing (its op is the
 * timer). Cancel-safe: a cancelled tick consumes no tick, and the next one is awaited as
 * if it had never started. One tick may be pending per interval at a time. */
typedef struct ac_interval {
    ac_instant period;
    ac_instant next; /* when the next tick is due */
    uint64_t ticks;
    uint64_t missed;
} ac_interval;

/* `period_ms` > 0; returns 0, or -EINVAL for 0. A tick finishes with the number of ticks it
 * skipped (>= 0), or -ENOMEM when the timer heap cannot grow. The period and every tick's due
 * time saturate at the largest ac_instant: a period too long for the clock never ticks. */
AC_API int ac_interval_init(ac_interval *interval, uint64_t period_ms);

typedef struct ac_interval_tick_op {
    ac_future future;
    ac_interval *interval;
    ac_sleep_until_op timer;
} ac_interval_tick_op;
AC_API ac_future *ac_interval_tick(ac_interval_tick_op *op, ac_interval *interval);

/* ============================================================================================
 * 17. CHANNELS: MPSC, ONESHOT, BROADCAST, WATCH
 *
 * Channels carry values between tasks of one executor. A value is a fixed number of bytes —
 * the element size given at creation — copied in by a send and copied out by a receive, so the
 * channel never points into your memory. To pass ownership of a heap object, send its pointer
 * (element size sizeof(void *)): whoever receives it owns it.
 *
 * ac_mpsc: many senders, one receiver, first in first out. Bounded (capacity > 0: a fixed ring;
 *   a send waits while it is full — backpressure) or unbounded (capacity 0: the ring doubles as
 *   needed and keeps its peak size; a send never waits).
 * ac_oneshot: exactly one value from one sender to one receiver (a reply, as tokio's oneshot).
 *   A shared oneshot (ac_oneshot_new_shared) takes its value from any thread.
 * ac_mpsc_shared: a bounded mpsc whose senders may be on any thread (ac_mpsc_new_shared,
 *   below the oneshot).
 * Broadcast (every receiver sees every value) and watch (the latest value) follow below.
 *
 * Handles. A channel is one heap object, reference-counted by its handles: it starts with one
 * sender handle and the receiver handle, and is freed when the last handle is released. There
 * is no separate handle type: every handle is the channel pointer, and what you may do with it
 * depends on which reference you hold.
 *   - sender:   ac_mpsc_sender_clone adds one (give it to another task); ac_mpsc_sender_release
 *               gives one up. When the last sender is released, the receiver drains what is
 *               queued and then sees end of stream.
 *   - receiver: ac_mpsc_close refuses new values while the receiver keeps draining: senders
 *               fail with -EPIPE from then on (waiting sends wake and fail, the value still
 *               theirs), and the receiver receives what was queued, then 0 (end). This is how a
 *               consumer shuts down without losing work (tokio's Receiver::close).
 *               ac_mpsc_receiver_release gives the handle up: it closes, and values still
 *               queued are discarded (close and drain first if they own resources).
 * A sender learns that the receiver is gone from a failing send, from ac_mpsc_is_closed, or by
 * awaiting ac_mpsc_closed — e.g. in an ac_select beside the work that produces the next value,
 * to stop producing for nobody (tokio's Sender::closed).
 * Release a handle only when no operation using it is pending (debug builds catch the last
 * sender or the receiver going away under a pending operation).
 *
 * Waiting is intrusive: a pending send or receive links its own future into the channel, so an
 * operation allocates nothing (only an unbounded channel's ring grows). Waiting senders are
 * served first come, first served: when room appears it is reserved for the oldest waiting
 * send, which copies its value in when its task next runs; try_send never takes a reserved
 * slot or jumps the queue.
 *
 * Cancellation (dropping the future, e.g. by ac_timeout_ms, select or ac_task_abort):
 *   ac_mpsc_send      a send that has not finished has not sent: the value is copied on the
 *                     executor's thread at the moment the send finishes with 0, never earlier,
 *                     so a cancelled send (result -ECANCELED) left nothing in the channel.
 *                     Room it had reserved passes to the next waiting sender.
 *   ac_mpsc_recv,     cancel-safe: the value is copied out only when the receive finishes, so
 *   ac_oneshot_recv   a cancelled receive took nothing; the next receive gets the value.
 *   ac_mpsc_closed,   cancel-safe: they only wait; a cancelled one consumed nothing, and a new
 *   ac_oneshot_closed one finishes at once if the close happened meanwhile.
 *
 *     struct consumer { ac_future future; ac_mpsc *rx; ac_mpsc_recv_op recv; int value, n; };
 *     ASYNC_FN(consumer)
 *         for (;;) {
 *             AWAIT_TRY(self->n, ac_mpsc_recv(&self->recv, self->rx, &self->value));
 *             if (self->n == 0)
 *                 break;                           // every sender is gone: end of stream
 *             printf("got %d\n", self->value);
 *         }
 *     ASYNC_FINALLY
 *         ac_mpsc_receiver_release(self->rx);
 *     ASYNC_END
 * ============================================================================================ */

typedef struct ac_mpsc ac_mpsc;

/* Create a channel of `elem_size`-byte values (> 0) holding at most `capacity` of them, or
 * unbounded when `capacity` is 0. Sets *out to a channel with one sender handle and the
 * receiver handle, and returns 0; or -EINVAL (elem_size 0, or the ring's size overflows) or
 * -ENOMEM. A bounded channel allocates its ring here; an unbounded one on its first value. */
AC_API int ac_mpsc_new(size_t elem_size, size_t capacity, ac_mpsc **out);

/* Add a sender handle (the caller must hold one) and return `ch`, to hand to another task. */
AC_API ac_mpsc *ac_mpsc_sender_clone(ac_mpsc *ch);

/* Give up one sender handle. The last one ends the stream: a waiting receiver wakes, drains
 * what is queued and then sees end of stream. Frees the channel if the receiver is closed. */
AC_API void ac_mpsc_sender_release(ac_mpsc *ch);

/* For the receiver: refuse new values, keep the queue. Pending and later sends fail with
 * -EPIPE (the value not sent), every ac_mpsc_closed finishes, and receives drain what is queued
 * and then finish with 0 — even while sender handles remain. Closing again does nothing. The
 * receiver handle stays valid: release it as usual (debug builds abort on a close after it). */
AC_API void ac_mpsc_close(ac_mpsc *ch);

/* Give up the receiver handle: it closes the channel (as ac_mpsc_close) and discards what is
 * still queued. Frees the channel if no sender handle remains. No receive may be pending. */
AC_API void ac_mpsc_receiver_release(ac_mpsc *ch);

/* For senders: 1 once the receiver closed or released the channel (sends can only fail), else
 * 0. */
AC_API int ac_mpsc_is_closed(const ac_mpsc *ch);

/* The number of values queued now. */
AC_API size_t ac_mpsc_len(const ac_mpsc *ch);

/* Send without waiting: copy `*value` in and return 0; or -EAGAIN (bounded and full, or
 * senders are already waiting for room), -EPIPE (the receiver is closed), -ENOMEM (an
 * unbounded ring could not grow). On any error the value was not sent. */
AC_API int ac_mpsc_try_send(ac_mpsc *ch, const void *value);

/* Receive without waiting: copy the oldest value to `*out` and return 1; 0 at end of stream
 * (nothing queued, and every sender released or the channel closed); -EAGAIN when empty while
 * values may still come. */
AC_API int ac_mpsc_try_recv(ac_mpsc *ch, void *out);

/* The send future: copies elem_size bytes from `value` into the channel, waiting while a
 * bounded channel is full. Finishes with 0 once sent; otherwise with -EPIPE (the receiver is
 * closed, now or while waiting), -ENOMEM (unbounded ring) or -ECANCELED, and then the value
 * was NOT sent: the bytes at `value` are untouched, still yours to retry, reroute or free.
 * `value` must stay valid until the future finishes (keep it in the frame). */
typedef struct ac_mpsc_send_op {
    ac_future future;
    ac_mpsc *ch;
    const void *value;
    ac_wait_node node; /* the channel's queue of sends waiting for room */
} ac_mpsc_send_op;
AC_API ac_future *ac_mpsc_send(ac_mpsc_send_op *op, ac_mpsc *ch, const void *value);

/* The receive future: waits for a value and copies it to `out` (elem_size bytes; must stay
 * valid until the future finishes). Finishes with 1 when a value was received, 0 at end of
 * stream (the queue drained, and every sender released or the channel closed; later receives
 * finish with 0 again), or -ECANCELED. One receiver: two receives pending at once is a misuse
 * (debug builds abort). */
typedef struct ac_mpsc_recv_op {
    ac_future future;
    ac_mpsc *ch;
    void *out;
    ac_task *waiter; /* the task to wake when a value or end of stream arrives */
} ac_mpsc_recv_op;
AC_API ac_future *ac_mpsc_recv(ac_mpsc_recv_op *op, ac_mpsc *ch, void *out);

/* For a sender: wait until the receiver closes or releases the channel, then finish with 0 (at
 * once if it already has); -ECANCELED. Any number may wait (one per sender task, typically);
 * the caller must hold a sender handle until this finishes (debug builds abort when it is
 * started without one, or when the last sender handle is released under a pending one).
 * Cancel-safe.
 *
 *     // fragment: in a loop of a body; compute() stands for an async function of yours
 *     // stop computing values that nobody will read
 *     self->branches[0] = compute(&self->work);
 *     self->branches[1] = ac_mpsc_closed(&self->closed, self->tx);
 *     AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 2, 0));
 *     if (self->race.winner == 1)
 *         break;                                 // the receiver is gone: compute was dropped
 */
typedef struct ac_mpsc_closed_op {
    ac_future future;
    ac_mpsc *ch;
    ac_wait_node node; /* the channel's list of senders waiting for the close */
} ac_mpsc_closed_op;
AC_API ac_future *ac_mpsc_closed(ac_mpsc_closed_op *op, ac_mpsc *ch);

/* ---- oneshot ---- */

typedef struct ac_oneshot ac_oneshot;

/* Create a oneshot channel for one `elem_size`-byte value (> 0), with its sender handle and its
 * receiver handle. 0 and *out, or -EINVAL / -ENOMEM. */
AC_API int ac_oneshot_new(size_t elem_size, ac_oneshot **out);

/* The same, for a sender on another thread (section 26: a task of another executor, or a plain
 * thread): the sender's calls — ac_oneshot_send, ac_oneshot_sender_release,
 * ac_oneshot_is_closed, awaiting ac_oneshot_closed — may be made on any thread, the receiver's
 * on its executor's thread; each handle from one thread at a time. The value is copied under a
 * lock, so it is complete when the receive sees it. The cost: a pending receive (and a pending
 * ac_oneshot_closed) holds a remote waker (section 10) while it waits, so it counts as a wake
 * source — the deadlock check of ac_executor_run cannot tell that nobody will ever send — and
 * either may also finish with -ENOMEM when that waker cannot be had. A plain oneshot is bound
 * to one executor: debug builds abort when its waiter is woken from another thread. */
AC_API int ac_oneshot_new_shared(size_t elem_size, ac_oneshot **out);

/* Send the value (never waits) and give up the sender handle: 0, or -EPIPE when the receiver
 * closed or released the oneshot — the value was not sent and `*value` is untouched. Either way
 * the sender handle is gone: call this or ac_oneshot_sender_release, exactly once. */
AC_API int ac_oneshot_send(ac_oneshot *os, const void *value);

/* Give up the sender handle without sending: the receiver's recv finishes with 0 (no value). */
AC_API void ac_oneshot_sender_release(ac_oneshot *os);

/* For the receiver: refuse the value from now on (tokio's oneshot Receiver::close). A later
 * send fails with -EPIPE and every ac_oneshot_closed finishes; a value sent before the close
 * can still be received, and otherwise a receive finishes with 0. Closing again does nothing;
 * the receiver handle stays valid (release it as usual; debug builds abort on a close after
 * it). Use it to tell the sender its work is no longer wanted, then drain what may have come. */
AC_API void ac_oneshot_close(ac_oneshot *os);

/* For the sender: 1 once the receiver closed or released the oneshot (a send would fail). */
AC_API int ac_oneshot_is_closed(const ac_oneshot *os);

/* Give up the receiver handle — after receiving, or instead of it (it closes first, so a later
 * send fails with -EPIPE). Exactly once; no receive may be pending. */
AC_API void ac_oneshot_receiver_release(ac_oneshot *os);

/* Wait for the value and copy it to `out`. Finishes like every receive: 1 when the value was
 * received; 0 when none will come (the sender was released without sending, or the value was
 * already received); -ECANCELED. Cancel-safe. */
typedef struct ac_oneshot_recv_op {
    ac_future future;
    ac_oneshot *os;
    void *out;
    ac_task *waiter; /* the task to wake when the value or the sender's release arrives */
} ac_oneshot_recv_op;
AC_API ac_future *ac_oneshot_recv(ac_oneshot_recv_op *op, ac_oneshot *os, void *out);

/* For the sender: wait until the receiver closes or releases the oneshot, then finish with 0 (at
 * once if it already has); -ECANCELED. Race it against the work that computes the value
 * (ac_select), so that a request whose requester gave up stops early. The sender handle must
 * stay held until this finishes (debug builds abort when it is started after the send or
 * release, or when the handle is given up under a pending one). Cancel-safe. */
typedef struct ac_oneshot_closed_op {
    ac_future future;
    ac_oneshot *os;
    ac_wait_node node; /* the oneshot's list of waits for the close */
} ac_oneshot_closed_op;
AC_API ac_future *ac_oneshot_closed(ac_oneshot_closed_op *op, ac_oneshot *os);

/* ---- shared mpsc: senders on any thread ----
 *
 * ac_mpsc_shared is a bounded mpsc channel whose senders may be anywhere (section 26): tasks of
 * any executor of any runtime, or plain threads; its receiver belongs to one executor (the one
 * of its first receive; debug builds abort on a receive from another thread). It speaks the
 * same results and errors as ac_mpsc (0 sent, -EAGAIN full, -EPIPE closed; receives 1 per
 * value, 0 at the end), with the same handles, close and release, and values of a fixed size
 * copied in and out; only bounded (capacity > 0). Each sender's values arrive in the order it
 * sent them; waiting senders get room first come, first served, as with ac_mpsc.
 *
 * Which call from where:
 *   any thread         ac_mpsc_shared_sender_clone, ac_mpsc_shared_sender_release,
 *                      ac_mpsc_shared_try_send, ac_mpsc_shared_is_closed, ac_mpsc_shared_len;
 *   a task (any        awaiting ac_mpsc_shared_send and ac_mpsc_shared_closed;
 *   executor)
 *   a plain thread     ac_mpsc_shared_send_blocking (-EDEADLK on an executor's thread, which it
 *                      would stall, as ac_runtime_task_wait);
 *   the receiver's     awaiting ac_mpsc_shared_recv, ac_mpsc_shared_try_recv,
 *   executor           ac_mpsc_shared_close, ac_mpsc_shared_receiver_release.
 * Each handle is used by one thread at a time: clone a sender handle for each thread or task.
 *
 * Costs. A value is copied under the channel's lock; a pending receive, send or closed wait
 * holds a remote waker (section 10) while it waits, so it counts as a wake source (the deadlock
 * check of ac_executor_run cannot tell that nobody will ever send) and may finish with -ENOMEM
 * when that waker cannot be had. Wakes are batched: a receive that waits is woken once, by the
 * first value (or the end) that comes, however many follow before it runs; a send waiting for
 * room is woken once, when room is reserved for it. No lock is held while a task of another
 * executor is woken.
 *
 * Cancellation: as for ac_mpsc. A cancelled send sent nothing (the value is copied when it
 * finishes with 0) and passes room reserved for it on; a cancelled receive took nothing.
 *
 *     // fragment: a plain thread's loop, `tx` a sender handle cloned for it
 *     for (int i = 0; i < n; i++)
 *         if (ac_mpsc_shared_send_blocking(tx, &i) < 0)
 *             break;                                // -EPIPE: the receiver is gone
 *     ac_mpsc_shared_sender_release(tx);            // the last one ends the receiver's stream
 */

typedef struct ac_mpsc_shared ac_mpsc_shared;

/* Create a channel of `elem_size`-byte values (> 0) holding at most `capacity` (> 0) of them,
 * its ring allocated here. Sets *out to a channel with one sender handle and the receiver
 * handle, and returns 0; or -EINVAL (a size is 0, or the ring's size overflows) or -ENOMEM. */
AC_API int ac_mpsc_new_shared(size_t elem_size, size_t capacity, ac_mpsc_shared **out);

/* Add a sender handle (the caller must hold one) and return `ch`. Any thread. */
AC_API ac_mpsc_shared *ac_mpsc_shared_sender_clone(ac_mpsc_shared *ch);

/* Give up one sender handle. Any thread. The last one ends the stream: the receiver drains what
 * is queued, then receives 0. Frees the channel if the receiver handle is gone too. No send may
 * be pending on the handle (debug builds abort when the last one goes under a pending send). */
AC_API void ac_mpsc_shared_sender_release(ac_mpsc_shared *ch);

/* For the receiver: refuse new values, keep the queue (as ac_mpsc_close). Pending and later
 * sends, on every thread, fail with -EPIPE (the value not sent); receives drain what is queued,
 * then finish with 0. Closing again does nothing. */
AC_API void ac_mpsc_shared_close(ac_mpsc_shared *ch);

/* Give up the receiver handle: it closes the channel and discards what is still queued. Frees
 * the channel if no sender handle remains. No receive may be pending. */
AC_API void ac_mpsc_shared_receiver_release(ac_mpsc_shared *ch);

/* 1 once the receiver closed or released the channel (sends can only fail), else 0. Any
 * thread. */
AC_API int ac_mpsc_shared_is_closed(const ac_mpsc_shared *ch);

/* The number of values queued now (another thread may change it at once). Any thread. */
AC_API size_t ac_mpsc_shared_len(const ac_mpsc_shared *ch);

/* Send without waiting, from any thread: copy `*value` in and return 0; or -EAGAIN (full, or
 * senders are already waiting for room), -EPIPE (the receiver is closed); the value was not
 * sent then. */
AC_API int ac_mpsc_shared_try_send(ac_mpsc_shared *ch, const void *value);

/* Send from a plain thread, blocking it while the channel is full: 0 once sent; -EPIPE when the
 * receiver is closed, now or while it blocks (the value not sent); -EDEADLK, nothing done, when
 * called on an executor's thread (await ac_mpsc_shared_send there). */
AC_API int ac_mpsc_shared_send_blocking(ac_mpsc_shared *ch, const void *value);

/* Receive without waiting, on the receiver's executor: 1 and the oldest value in `*out`; 0 at
 * the end (nothing queued, and every sender released or the channel closed); -EAGAIN when empty
 * while values may still come. */
AC_API int ac_mpsc_shared_try_recv(ac_mpsc_shared *ch, void *out);

/* The send future, awaited by a task of any executor: copies elem_size bytes from `value` into
 * the channel, waiting while it is full. Finishes with 0 once sent; otherwise with -EPIPE (the
 * receiver is closed, now or while waiting), -ENOMEM (no remote waker could be had) or
 * -ECANCELED, and then the value was NOT sent: the bytes at `value` are untouched. `value` must
 * stay valid until the future finishes. Cancel-safe. */
typedef struct ac_mpsc_shared_send_op {
    ac_future future;
    ac_mpsc_shared *ch;
    const void *value;
    ac_wait_node node; /* the channel's queue of sends waiting for room; .task: a remote waker */
} ac_mpsc_shared_send_op;
AC_API ac_future *ac_mpsc_shared_send(ac_mpsc_shared_send_op *op, ac_mpsc_shared *ch,
                                      const void *value);

/* The receive future, on the receiver's executor: waits for a value and copies it to `out`
 * (elem_size bytes; valid until the future finishes). Finishes with 1 when a value was
 * received, 0 at the end (the queue drained, and every sender released or the channel closed),
 * -ENOMEM (no remote waker could be had; nothing was taken) or -ECANCELED. One receive pending
 * at a time (debug builds abort on a second). Cancel-safe. */
typedef struct ac_mpsc_shared_recv_op {
    ac_future future;
    ac_mpsc_shared *ch;
    void *out;
    ac_remote_waker *waker; /* held while it waits */
} ac_mpsc_shared_recv_op;
AC_API ac_future *ac_mpsc_shared_recv(ac_mpsc_shared_recv_op *op, ac_mpsc_shared *ch, void *out);

/* For a sender, awaited by a task of any executor: wait until the receiver closes or releases
 * the channel, then finish with 0 (at once if it already has); -ENOMEM (no remote waker could
 * be had) or -ECANCELED. As ac_mpsc_closed: race it against the work that produces the next
 * value. The caller must hold a sender handle until this finishes (debug builds abort when it
 * is started without one, or when the last one is released under a pending one). Cancel-safe.
 */
typedef struct ac_mpsc_shared_closed_op {
    ac_future future;
    ac_mpsc_shared *ch;
    ac_wait_node node; /* the channel's list of waits for the close; .task: a remote waker */
} ac_mpsc_shared_closed_op;
AC_API ac_future *ac_mpsc_shared_closed(ac_mpsc_shared_closed_op *op, ac_mpsc_shared *ch);

/* --------------------------------------------------------------------------------------------
 * Broadcast and watch
 *
 * ac_broadcast: many senders, many receivers; every receiver sees every value sent after it
 *   subscribed, in order (tokio::sync::broadcast). The channel keeps the last `capacity` values
 *   in a ring; a send never waits: when the ring is full it overwrites the oldest value, and a
 *   receiver that had not read it yet has *lagged* — its next receive reports how many values
 *   it missed and carries on from the oldest value still kept.
 * ac_watch: senders publish a value; receivers read the latest one and can wait until it
 *   changes (tokio::sync::watch). Only the newest value is kept: a receiver that is slower than
 *   the sender skips intermediate values, by design (configuration, state, "latest reading").
 *
 * Values are copied, as with ac_mpsc (above): the element size is fixed at creation. For
 * broadcast every receiver gets its OWN copy of the bytes. To share a heap object, send a pointer
 * to a reference-counted object holding one reference per receiver (ac_broadcast_send returns how
 * many receivers it reached): each receiver drops its reference when done with it. Copies that
 * no receiver will ever get — overwritten before a lagging receiver read them, or unread when a
 * receiver closes — are handed to the drop function (ac_broadcast_set_drop) with their count,
 * so such references are released too, never silently lost. A watch holds one copy: borrowing
 * copies it out; a receiver that keeps a shared object takes its own reference right after
 * borrowing (no await in between), and the sender drops the old value's reference after
 * replacing it.
 *
 * Handles. A channel is one heap object freed when its last handle is given up. Sender handles
 * are the channel pointer, cloned and released as for ac_mpsc; the last sender's release ends
 * the stream. A receiver is its own small allocation made by ac_*_subscribe — call it while you
 * hold any handle of the channel (a sender handle or a receiver) — and is given up with
 * ac_*_receiver_release. Neither has a close or a closed(): ac_broadcast_send reports -EPIPE
 * and ac_watch_send the receiver count, and a sender handle can subscribe a new receiver at any
 * time, so "no receiver now" is a state to check, not an end to wait for.
 * Give up a handle only when no operation using it is pending (debug builds abort with
 * "asyncc: misuse: ..." on a receiver closed under a pending receive, on two receives pending on
 * one receiver, and on a broadcast/watch sender used after its release).
 *
 * Waiting is intrusive and allocates nothing: a pending receive links its future into the
 * channel's list of waiting receivers, and a send wakes them all. Sending, receiving and
 * borrowing allocate nothing; only subscribing does (the receiver).
 *
 * Cancellation:
 *   ac_broadcast_recv  cancel-safe: the value is copied out, and the receiver's position moves,
 *                      only when the receive finishes (1 with a value, or -EOVERFLOW on lag); a
 *                      cancelled receive took nothing and the next receive gets that value.
 *   ac_watch_changed   cancel-safe: the newest version is marked seen only when it finishes
 *                      with 0; a cancelled wait leaves the change unseen for the next one.
 *
 * Seen, for watch (as in tokio): ac_watch_changed, when it finishes with 0, and
 * ac_watch_borrow_and_update mark the newest version seen; ac_watch_borrow only reads. Borrow
 * right after a wait; borrow_and_update when you poll with ac_watch_has_changed, so that the
 * value you read and the version you mark are the same one.
 *
 *     struct listener { ac_future future; ac_broadcast_receiver *rx; ac_broadcast_recv_op recv;
 *                       int value, n; };
 *     ASYNC_FN(listener)
 *         for (;;) {
 *             AWAIT_INTO(self->n, ac_broadcast_recv(&self->recv, self->rx, &self->value));
 *             if (self->n == 0)
 *                 break;                                  // every sender is gone, all read
 *             if (self->n == -EOVERFLOW)
 *                 printf("missed %llu\n", (unsigned long long)self->recv.missed);
 *             else if (self->n == 1)
 *                 printf("got %d\n", self->value);
 *         }
 *     ASYNC_FINALLY
 *         ac_broadcast_receiver_release(self->rx);
 *     ASYNC_END
 *     // elsewhere: ac_broadcast_subscribe(ch, &l.rx) before spawning it; ac_broadcast_send(ch, &v)
 *
 *     // fragment: in a body; struct config and apply() are yours
 *     // watch: apply every new configuration until the sender goes away
 *     for (;;) {
 *         AWAIT_INTO(self->rc, ac_watch_changed(&self->changed, self->rx));
 *         if (self->rc < 0)
 *             break;                                      // -EPIPE: no sender, nothing newer
 *         ac_watch_borrow(self->rx, &self->config);       // the latest; earlier ones skipped
 *         apply(&self->config);
 *     }
 * -------------------------------------------------------------------------------------------- */

/* ---- broadcast ---- */

typedef struct ac_broadcast ac_broadcast;
typedef struct ac_broadcast_receiver ac_broadcast_receiver;

/* Called with a value (in the ring; do not keep the pointer) and the number of copies of it
 * that no receiver will receive: it was overwritten before `copies` lagging receivers read it,
 * or a receiver closed before reading it (copies 1). */
typedef void (*ac_broadcast_drop_fn)(void *value, size_t copies, void *user);

/* Create a channel of `elem_size`-byte values (> 0) keeping the last `capacity` (> 0) of them.
 * Sets *out to a channel with one sender handle and no receivers, and returns 0; or -EINVAL
 * (a size is 0, or the ring's size overflows) or -ENOMEM. The ring is allocated here, once. */
AC_API int ac_broadcast_new(size_t elem_size, size_t capacity, ac_broadcast **out);

/* Add a sender handle (the caller must hold one) and return `ch`. */
AC_API ac_broadcast *ac_broadcast_sender_clone(ac_broadcast *ch);

/* Give up one sender handle. After the last one, each receiver reads what it has not read yet
 * and then sees end of stream; waiting receivers wake. Frees the channel if no receiver is
 * left. */
AC_API void ac_broadcast_sender_release(ac_broadcast *ch);

/* Install the drop function (NULL: none, the default) for copies no receiver will get. */
AC_API void ac_broadcast_set_drop(ac_broadcast *ch, ac_broadcast_drop_fn drop, void *user);

/* Make a receiver that sees every value sent from now on: 0 and *out, or -ENOMEM. */
AC_API int ac_broadcast_subscribe(ac_broadcast *ch, ac_broadcast_receiver **out);

/* Give up a receiver: the values it had not read are dropped for it (the drop function sees
 * each once, copies 1). Frees the channel if it was the last handle. No receive may be pending.
 */
AC_API void ac_broadcast_receiver_release(ac_broadcast_receiver *rx);

/* Send without ever waiting: copy `*value` into the ring, overwriting the oldest value when it
 * is full, wake the waiting receivers, and return the number of receivers it reached (>= 1).
 * -EPIPE when there are no receivers: the value was not sent and `*value` is untouched. */
AC_API int ac_broadcast_send(ac_broadcast *ch, const void *value);

/* Receivers subscribed now. */
AC_API size_t ac_broadcast_receivers(const ac_broadcast *ch);

/* Values this receiver can still read (0 .. capacity); after a lag, the ones kept. */
AC_API size_t ac_broadcast_receiver_len(const ac_broadcast_receiver *rx);

/* Receive without waiting: 1 and the next value in `*out`; 0 at end of stream (every sender
 * released and everything read); -EAGAIN when nothing is new; -EOVERFLOW when the receiver
 * lagged: `*missed` (if not NULL) is set to how many values it missed, and the next receive
 * returns the oldest value kept. */
AC_API int ac_broadcast_try_recv(ac_broadcast_receiver *rx, void *out, uint64_t *missed);

/* The receive future: waits for the next value and copies it to `out` (elem_size bytes; valid
 * until the future finishes). Finishes with 1 and a value, 0 at end of stream, -EOVERFLOW when
 * the receiver lagged (op->missed says by how many; the next receive continues from the oldest
 * value kept), or -ECANCELED. One pending receive per receiver. */
typedef struct ac_broadcast_recv_op {
    ac_future future;
    ac_broadcast_receiver *rx;
    void *out;
    uint64_t missed;    /* set when it finishes with -EOVERFLOW */
    ac_wait_node node;  /* the channel's list of waiting receivers */
} ac_broadcast_recv_op;
AC_API ac_future *ac_broadcast_recv(ac_broadcast_recv_op *op, ac_broadcast_receiver *rx, void *out);

/* ---- watch ---- */

typedef struct ac_watch ac_watch;
typedef struct ac_watch_receiver ac_watch_receiver;

/* Create a watch holding a copy of `*initial` (`elem_size` > 0 bytes) as version 0, with one
 * sender handle and no receivers: 0 and *out, or -EINVAL / -ENOMEM. */
AC_API int ac_watch_new(size_t elem_size, const void *initial, ac_watch **out);

/* Add a sender handle (the caller must hold one; debug builds abort otherwise) and return `w`,
 * to hand to another task. Every sender publishes into the same value and version. */
AC_API ac_watch *ac_watch_sender_clone(ac_watch *w);

/* Replace the value with a copy of `*value` (never waits), make it a new version and wake every
 * waiting ac_watch_changed. The value is stored even when nobody is subscribed (a later
 * subscriber sees it). Returns the number of receivers now (>= 0). */
AC_API int ac_watch_send(ac_watch *w, const void *value);

/* Give up one sender handle. After the last one, receivers can still borrow the last value;
 * their waits finish with -EPIPE once they have seen it. Frees the watch if no receiver is left.
 * Debug builds abort when no sender handle is left to release. */
AC_API void ac_watch_sender_release(ac_watch *w);

/* Make a receiver; the current value counts as seen. 0 and *out, or -ENOMEM. */
AC_API int ac_watch_subscribe(ac_watch *w, ac_watch_receiver **out);

/* Give up a receiver. No ac_watch_changed may be pending on it. */
AC_API void ac_watch_receiver_release(ac_watch_receiver *rx);

/* Copy the latest value to `*out` without marking it seen (tokio's borrow): a pending change
 * stays pending for ac_watch_changed. Always works, even after every sender is gone. */
AC_API void ac_watch_borrow(const ac_watch_receiver *rx, void *out);

/* Copy the latest value to `*out` and mark it seen (tokio's borrow_and_update): the next
 * ac_watch_changed waits for a version newer than this one. Always works. */
AC_API void ac_watch_borrow_and_update(ac_watch_receiver *rx, void *out);

/* 1 when a version newer than the last one seen exists; 0 when not; -EPIPE when not and every
 * sender is gone (none ever will). */
AC_API int ac_watch_has_changed(const ac_watch_receiver *rx);

/* The number of versions sent so far (0 for the initial value). */
AC_API uint64_t ac_watch_version(const ac_watch *w);

/* Wait until a version newer than the last one seen exists, then mark it seen and finish with
 * 0 (read it with ac_watch_borrow). Finishes at once if one exists already; -EPIPE when every
 * sender is gone and nothing newer exists; -ECANCELED. Changes made while nobody waited are not
 * queued: one wait covers all of them. One pending wait per receiver. */
typedef struct ac_watch_changed_op {
    ac_future future;
    ac_watch_receiver *rx;
    ac_wait_node node; /* the watch's list of waiting receivers */
} ac_watch_changed_op;
AC_API ac_future *ac_watch_changed(ac_watch_changed_op *op, ac_watch_receiver *rx);

/* ============================================================================================
 * 18. SYNCHRONISATION: NOTIFY, SEMAPHORE, MUTEX, RWLOCK, BARRIER, ONCE CELL
 *
 * Async counterparts of condition variables, counting semaphores and mutexes, for tasks of ONE
 * executor (they use no atomics: every call must come from the executor's thread). Waiting
 * suspends only the waiting task, never the thread.
 *
 * Memory. Each primitive is a small struct you embed or allocate and initialise with
 * ac_notify_init / ac_semaphore_init / ac_mutex_init; nothing is allocated, then or later. A
 * waiting operation is a leaf future in the waiter's frame that links itself into the
 * primitive's FIFO wait list: waiting costs no allocation. So a primitive must stay where it is
 * (not be copied or moved) while anything waits on it, and must outlive its waiters.
 *
 * Fairness: every wait list is strict FIFO. A waiter is woken in the order it started waiting,
 * and what it waits for (a notification, permits, the lock) is handed to it at wake-up time,
 * before it runs again: nobody can barge in between, so nobody starves.
 *
 * Cancellation (ac_future_cancel, ac_task_abort, a losing select branch, ac_timeout_ms): every
 * wait is cancel-safe. A cancelled wait holds nothing and loses nothing for the others: if the
 * notification, the permits or the lock had already been handed to it but it was cancelled
 * before it ran, they are passed on to the next waiter (or given back) at once.
 *
 * Destroying (ac_*_destroy) a primitive that still has waiters — or a mutex still held — is a
 * misuse: debug builds abort with "asyncc: misuse: ...". The destroy functions do nothing
 * else; there is nothing to free.
 *
 * Task dumps (ac_dump_tasks) show a waiting task's leaf as "notify", "semaphore (0 permits,
 * 3 waiting)" or "mutex (held by task 7)".
 * ============================================================================================ */

/* ---- Notify: wake one task, or every waiting task (tokio::sync::Notify) ----
 *
 * ac_notify_one(n): wakes the task that has waited longest. If no task is waiting, it stores
 *   ONE permit instead (several calls still store one): the next ac_notify_wait then finishes
 *   at once, consuming it, and the wait after that waits. So a notification sent just before
 *   the receiver starts waiting is not lost — the usual "check state, then wait" race is
 *   safe with one waiter:
 *       // fragment: in a body; the queue q is yours
 *       for (;;) { if (queue_has_work(q)) break; AWAIT(ac_notify_wait(&self->w, &q->ready)); }
 * ac_notify_all(n): wakes every task waiting right now (ones that start waiting later are not
 *   woken) and stores no permit.
 * ac_notify_wait: finishes with 0 when notified (or -ECANCELED). A wait counts as waiting from
 *   its first poll (the AWAIT), not from its constructor. Cancel-safe: a wait cancelled after
 *   notify_one picked it, but before it ran, passes that notification on to the next waiter
 *   (or stores it as the permit), so notify_one is never lost; a notify_all wake is simply
 *   dropped. */
typedef struct ac_notify {
    ac_wait_list waiters;
    uint32_t permit; /* 1: a notify_one found nobody waiting */
} ac_notify;

typedef struct ac_notify_wait_op {
    ac_future future;
    ac_notify *notify;
    ac_wait_node node;
} ac_notify_wait_op;

AC_API void ac_notify_init(ac_notify *notify);
AC_API void ac_notify_destroy(ac_notify *notify);
AC_API void ac_notify_one(ac_notify *notify);
AC_API void ac_notify_all(ac_notify *notify);
AC_API ac_future *ac_notify_wait(ac_notify_wait_op *op, ac_notify *notify);

/* ---- Semaphore: a count of permits (tokio::sync::Semaphore) ----
 *
 * ac_semaphore_acquire(op, s, n): finishes with 0 once it holds `n` permits (n = 0 finishes at
 *   once), -EPIPE if the semaphore is closed, or
 *   -ECANCELED. Policy: strict FIFO. An acquire succeeds at once only when no one is waiting
 *   and enough permits are free; otherwise it queues, and permits released later go to the
 *   queue's head first. A large request at the head is never overtaken by small ones behind it
 *   (they wait with it), so it cannot starve. Cancel-safe: a cancelled acquire holds no permits;
 *   permits handed to it before it ran are released again (to the next waiters).
 * ac_semaphore_try_acquire(s, n): takes `n` permits now and returns 0 (always for n = 0);
 *   -EAGAIN when fewer are free or someone is waiting (it never jumps the queue); -EPIPE when
 *   closed.
 * ac_semaphore_release(s, n): gives back (or adds) `n` permits and hands them to the waiters
 *   at the head of the queue, in order, while they fit. Works after close too (the count
 *   still goes up; acquires still fail). Nothing checks that you release only what you took:
 *   releasing more than acquired raises the capacity, like tokio's add_permits.
 * ac_semaphore_close(s): from now on every acquire, waiting or new, and try_acquire fail with
 *   -EPIPE. Waiters are woken at once. An acquire that had already been handed its permits
 *   finishes with 0 and holds them. Closing twice is harmless.
 * The releasing side is your code: release the permits in ASYNC_FINALLY (see the mutex
 * pattern below) so that an aborted task gives them back. */
typedef struct ac_semaphore {
    ac_wait_list waiters;
    size_t permits; /* free now */
    uint32_t closed;
} ac_semaphore;

typedef struct ac_semaphore_acquire_op {
    ac_future future;
    ac_semaphore *semaphore;
    ac_wait_node node;
} ac_semaphore_acquire_op;

AC_API void ac_semaphore_init(ac_semaphore *semaphore, size_t permits);
AC_API void ac_semaphore_destroy(ac_semaphore *semaphore);
AC_API ac_future *ac_semaphore_acquire(ac_semaphore_acquire_op *op, ac_semaphore *semaphore,
                                       size_t n);
AC_API int ac_semaphore_try_acquire(ac_semaphore *semaphore, size_t n);
AC_API void ac_semaphore_release(ac_semaphore *semaphore, size_t n);
AC_API void ac_semaphore_close(ac_semaphore *semaphore);
AC_API size_t ac_semaphore_available(const ac_semaphore *semaphore); /* free permits */
AC_API uint32_t ac_semaphore_waiting(const ac_semaphore *semaphore); /* queued acquires */
AC_API int ac_semaphore_is_closed(const ac_semaphore *semaphore);

/* ---- Mutex: FIFO-fair mutual exclusion between tasks (tokio::sync::Mutex) ----
 *
 * ac_mutex_lock(op, m): finishes with 0 once the calling task holds the lock (or -ECANCELED).
 *   Waiters get the lock in the order they asked for it: ac_mutex_unlock hands it straight to
 *   the first waiter, so a task that unlocks and locks again at once queues behind the others.
 *   Cancel-safe: a cancelled lock wait does not hold the lock (if it had just been handed the
 *   lock, it passes it on to the next waiter or unlocks).
 * ac_mutex_try_lock(m): 0 and the lock now, or -EAGAIN when it is held or someone waits.
 * ac_mutex_unlock(m): a plain call. Unlocking a mutex that is not locked is a misuse (debug
 *   builds abort).
 * ac_mutex_holder(m): the id of the task that holds it (or that it was handed to), 0 when
 *   unlocked — or when it was taken by try_lock outside any task.
 *
 * Holding the lock across an AWAIT is allowed (that is what an async mutex is for): the holder
 * sleeps with it and every other task that wants it waits meanwhile — keep such sections short.
 *
 * There is no guard object that unlocks when it goes out of scope, as in Rust: you unlock. So
 * that a lock is never left held by accident — by a task that returned early, failed, or was
 * aborted — pair each lock with an unlock in the same async function, and put the unlock in
 * ASYNC_FINALLY behind a flag in the frame (ASYNC_FINALLY runs on return, on error and on
 * abort, so it is the only unlock needed):
 *
 *     struct deposit { ac_future future; ac_mutex *m; ac_mutex_lock_op lock; ac_sleep_ms_op io;
 *                      int held; long *balance; };
 *     ASYNC_FN(deposit)
 *         AWAIT(ac_mutex_lock(&self->lock, self->m));
 *         self->held = 1;                              // from here on we must unlock
 *         AWAIT(ac_sleep_ms(&self->io, 1));            // other tasks wait for the lock
 *         *self->balance += 10;
 *     ASYNC_FINALLY
 *         if (self->held)
 *             ac_mutex_unlock(self->m);
 *     ASYNC_END
 *     // ASYNC_NEW leaves held = 0 (the frame may be cancelled before its first poll)
 *
 * Cancelling the lock wait itself needs no cleanup (held is still 0). Locking in one task and
 * unlocking in another is possible when done on purpose (hand the duty over explicitly and say
 * so); nothing tracks it for you, and dumps keep naming the task that took the lock. A waiting
 * task shows as "mutex (held by task 7)", or "mutex (held)" when the holder is not a task. */
typedef struct ac_mutex {
    ac_wait_list waiters;
    uint32_t locked;
    uint32_t holder; /* task id, 0 when unknown or unlocked */
} ac_mutex;

typedef struct ac_mutex_lock_op {
    ac_future future;
    ac_mutex *mutex;
    ac_wait_node node;
} ac_mutex_lock_op;

AC_API void ac_mutex_init(ac_mutex *mutex);
AC_API void ac_mutex_destroy(ac_mutex *mutex);
AC_API ac_future *ac_mutex_lock(ac_mutex_lock_op *op, ac_mutex *mutex);
AC_API int ac_mutex_try_lock(ac_mutex *mutex);
AC_API void ac_mutex_unlock(ac_mutex *mutex);
AC_API int ac_mutex_is_locked(const ac_mutex *mutex);
AC_API uint32_t ac_mutex_holder(const ac_mutex *mutex);

/* --------------------------------------------------------------------------------------------
 * RwLock, barrier, once cell
 *
 * Three more primitives built like the ones above (read the section's introduction first): for
 * the tasks of ONE executor, no atomics, nothing allocated. Each is a struct you embed and
 * initialise; each wait is a leaf future in the waiter's frame holding an ac_wait_node, linked
 * into the primitive's strict FIFO list, and what it waits for is handed to it when it is
 * woken, so nobody barges in. A primitive must not move while anything waits on it, and must
 * outlive its waiters. Destroying one that has waiters (or, for the rwlock, holders; for the
 * once cell, an initialisation in progress) is a misuse: debug builds abort with
 * "asyncc: misuse: ...".
 *
 * Cancellation: every wait below is cancel-safe; the sentence for each operation says exactly
 * what a cancelled one leaves behind.
 *
 * Task dumps show a waiting task's leaf as "rwlock write (3 readers, 1 waiting)", "barrier
 * (2 of 5 arrived)" or "once cell (another task initialises, 2 waiting)".
 * -------------------------------------------------------------------------------------------- */

/* ---- RwLock: many readers or one writer (tokio::sync::RwLock) ----
 *
 * ac_rwlock_read(op, rw) / ac_rwlock_write(op, rw): finish with 0 once the calling task holds a
 *   read lock (shared with other readers) or the write lock (alone), or with -ECANCELED.
 *   Policy: strict FIFO, readers and writers in one queue. A lock is taken at once only when
 *   nobody is queued and it is compatible with the holders; otherwise the caller queues. So a
 *   waiting writer blocks every reader that arrives after it (writers cannot starve), and when
 *   the lock is released, the readers at the head of the queue are admitted together, up to the
 *   next queued writer. Cancel-safe like the mutex's lock: a cancelled wait holds nothing; if
 *   the lock had been handed to it before it ran, it is released at once, which passes it on;
 *   and a cancelled waiting writer lets the readers queued behind it in if the lock is read-held.
 * ac_rwlock_try_read(rw) / ac_rwlock_try_write(rw): 0 and the lock now, or -EAGAIN (held
 *   incompatibly, or — for try_read — a writer is queued: it never jumps the queue).
 * ac_rwlock_read_unlock(rw) / ac_rwlock_write_unlock(rw): plain calls that give back one read
 *   lock / the write lock. Unlocking what is not held (a read unlock of an unlocked or
 *   write-locked rwlock, a write unlock of an unlocked or read-locked one) is a misuse (debug
 *   builds abort). Nothing records which task holds a read lock.
 * ac_rwlock_readers(rw): read locks held now (counting ones handed to waiters not yet run);
 * ac_rwlock_is_write_locked(rw): 1 while the write lock is held or handed to a writer;
 * ac_rwlock_waiting(rw): queued read and write waits.
 *
 * As with ac_mutex there is no guard: pair every lock with its unlock in ASYNC_FINALLY behind a
 * flag in the frame, which is 0 in the constructor ("Mutex" above shows the pattern):
 *
 *     struct lookup { ac_future future; ac_rwlock *rw; ac_rwlock_read_op lock; int held; };
 *     ASYNC_FN(lookup)
 *         AWAIT(ac_rwlock_read(&self->lock, self->rw));
 *         self->held = 1;                 // other readers may hold it too; writers wait
 *         // read the shared table, awaiting if need be
 *     ASYNC_FINALLY
 *         if (self->held)
 *             ac_rwlock_read_unlock(self->rw);
 *     ASYNC_END */
typedef struct ac_rwlock {
    ac_wait_list waiters; /* readers and writers; node.wanted is 0 for read, 1 for write */
    uint32_t readers;     /* read locks held */
    uint32_t writer;      /* 1 while write-locked */
} ac_rwlock;

typedef struct ac_rwlock_read_op {
    ac_future future;
    ac_rwlock *rwlock;
    ac_wait_node node;
} ac_rwlock_read_op;
typedef ac_rwlock_read_op ac_rwlock_write_op;

AC_API void ac_rwlock_init(ac_rwlock *rwlock);
AC_API void ac_rwlock_destroy(ac_rwlock *rwlock);
AC_API ac_future *ac_rwlock_read(ac_rwlock_read_op *op, ac_rwlock *rwlock);
AC_API ac_future *ac_rwlock_write(ac_rwlock_write_op *op, ac_rwlock *rwlock);
AC_API int ac_rwlock_try_read(ac_rwlock *rwlock);
AC_API int ac_rwlock_try_write(ac_rwlock *rwlock);
AC_API void ac_rwlock_read_unlock(ac_rwlock *rwlock);
AC_API void ac_rwlock_write_unlock(ac_rwlock *rwlock);
AC_API uint32_t ac_rwlock_readers(const ac_rwlock *rwlock);
AC_API int ac_rwlock_is_write_locked(const ac_rwlock *rwlock);
AC_API uint32_t ac_rwlock_waiting(const ac_rwlock *rwlock);

/* ---- Barrier: wait until `parties` tasks have arrived (tokio::sync::Barrier) ----
 *
 * ac_barrier_init(b, parties): a barrier for `parties` tasks (0 is taken as 1, as tokio does).
 * ac_barrier_wait(op, b): arrive and wait until `parties` tasks have arrived. In each
 *   generation exactly one wait finishes with 1 — the leader, which is the last to arrive and
 *   never waits (tokio's is_leader) — and the others with 0, or with -ECANCELED. Then the
 *   barrier is ready for the next generation: the same tasks may wait again at once. A task
 *   counts as arrived from its first poll (the AWAIT), not from the constructor.
 *   Cancel-safe, and stricter than tokio: a wait cancelled before the barrier tripped takes its
 *   arrival back, so the barrier still needs `parties` live arrivals (a timed-out task never
 *   lets the others through short-handed). Once the barrier has tripped, cancelling a wait that
 *   has not run yet changes nothing for the others: their generation is over.
 * ac_barrier_waiting(b): tasks arrived and waiting in this generation (always < parties);
 * ac_barrier_generation(b): how many times it has tripped.
 *
 *     // fragment: compute_phase() and publish_phase() are yours
 *     struct phase_worker { ac_future future; ac_barrier *b; ac_barrier_wait_op arrive;
 *                           int i, leader; };
 *     ASYNC_FN(phase_worker)
 *         for (self->i = 0; self->i < 3; self->i++) {
 *             compute_phase(self->i);
 *             AWAIT_INTO(self->leader, ac_barrier_wait(&self->arrive, self->b));
 *             if (self->leader)
 *                 publish_phase(self->i);       // one task per phase
 *         }
 *     ASYNC_END */
typedef struct ac_barrier {
    ac_wait_list waiters; /* the tasks that have arrived in this generation */
    uint32_t parties;
    uint32_t generation;
} ac_barrier;

typedef struct ac_barrier_wait_op {
    ac_future future;
    ac_barrier *barrier;
    ac_wait_node node;
} ac_barrier_wait_op;

AC_API void ac_barrier_init(ac_barrier *barrier, uint32_t parties);
AC_API void ac_barrier_destroy(ac_barrier *barrier);
AC_API ac_future *ac_barrier_wait(ac_barrier_wait_op *op, ac_barrier *barrier);
AC_API uint32_t ac_barrier_waiting(const ac_barrier *barrier);
AC_API uint32_t ac_barrier_generation(const ac_barrier *barrier);

/* ---- Once cell: initialise something exactly once, asynchronously (tokio::sync::OnceCell) ----
 *
 * The cell guards an initialisation; the value itself lives wherever you keep it (next to the
 * cell, typically), and is written by your init future. Once the cell is set it stays set, and
 * readers need no lock: ac_once_is_set, or a get_or_init that finishes at once.
 *
 * ac_once_get_or_init(op, cell, init): finishes with 0 once the cell is set — by this caller's
 *   `init` or by another task's. `init` is a future in the caller's frame (required) that
 *   produces the value and finishes >= 0 on success. If the cell is not set and nobody is
 *   initialising it, this caller polls its own `init` as part of this op; callers that come
 *   meanwhile wait, in FIFO order. If `init` fails (< 0), this op finishes with that error — the
 *   error goes to this caller only, and the cell stays unset — and the first waiter becomes the
 *   initialiser, running its own init future. An init future that the op did not run to the end
 *   (because the cell was set by someone else, or the op was cancelled) is cancelled with
 *   ac_future_cancel before the op finishes, so its ASYNC_FINALLY always runs; after the op,
 *   `init` is always finished. An init future must not wait for the cell it initialises (it
 *   would wait for itself: ac_executor_run reports -EDEADLK).
 *   Cancel-safe: a cancelled waiter leaves the queue; a cancelled initialiser's init future is
 *   cancelled (its cleanup runs) and the turn passes to the first waiter, exactly as on failure;
 *   a waiter cancelled after being handed the turn, before it ran, passes it on likewise. The
 *   cancelled op finishes with -ECANCELED and the cell is never left half-set.
 * ac_once_set(cell): set it without an init future (you wrote the value yourself): 0, or -EEXIST
 *   when it is already set or being initialised.
 * ac_once_is_set(cell): 1 once set.
 *
 *     // fragment: struct config, use() and the async function load_config are yours
 *     struct config_cell { ac_once once; struct config cfg; };      // ac_once_init(&c.once)
 *     struct use_config { ac_future future; struct config_cell *c;
 *                         struct load_config load; ac_once_get_or_init_op get; int rc; };
 *     ASYNC_FN(use_config)
 *         AWAIT_TRY(self->rc, ac_once_get_or_init(&self->get, &self->c->once,
 *                                                 load_config(&self->load, &self->c->cfg)));
 *         use(&self->c->cfg);                  // set: by our load_config or by another task's
 *     ASYNC_END */
typedef struct ac_once {
    ac_wait_list waiters; /* callers waiting while another initialises */
    uint32_t state;       /* once.c's: unset, being initialised, set */
} ac_once;

typedef struct ac_once_get_or_init_op {
    ac_future future;
    ac_once *cell;
    ac_future *init; /* the caller's init future */
    ac_wait_node node;
} ac_once_get_or_init_op;

AC_API void ac_once_init(ac_once *cell);
AC_API void ac_once_destroy(ac_once *cell);
AC_API ac_future *ac_once_get_or_init(ac_once_get_or_init_op *op, ac_once *cell, ac_future *init);
AC_API int ac_once_set(ac_once *cell);
AC_API int ac_once_is_set(const ac_once *cell);

/* ============================================================================================
 * 19. TASK GROUPS: STRUCTURED CONCURRENCY
 *
 * A task group owns the tasks spawned into it (as a Trio nursery, a libdill bundle, or tokio's
 * JoinSet): they run as ordinary tasks, concurrently with the owner, but they have no join
 * handle of their own and cannot outlive the group. The owner collects them one at a time as
 * they finish (ac_group_next, or ac_group_try_next without waiting), reading each one's result
 * and outputs in its frame, or all at once (ac_group_join); cancelling or destroying the
 * group cancels every member, and their cleanup (ASYNC_FINALLY) has run by the time the call
 * returns. So concurrency has a shape: when the function that owns the group is over, so is
 * everything it started.
 *
 * Memory. An ac_group is plain memory you own — usually a field of the owner's frame —
 * initialised by ac_group_init. Nothing is allocated for the group itself; each member is one
 * task allocation, 24 bytes larger than a plain task (its link into the group). The group must
 * stay where it is, and outlive its members: destroy it in the owner's ASYNC_FINALLY, which runs
 * on return, on error and on abort, so the members cannot outlive the owner either:
 *
 *     // fragment: struct fetch and fetch() stand for an async function of yours
 *     struct crawl { ac_future future; ac_group group; struct fetch fetch; ac_group_next_op next;
 *                    const char **urls; size_t i, n; int got; };
 *     ASYNC_FN(crawl)
 *         for (self->i = 0; self->i < self->n; self->i++)
 *             if (!ac_group_spawn(&self->group, fetch(&self->fetch, self->urls[self->i])))
 *                 ASYNC_RETURN(-ENOMEM);                // FINALLY cancels what was started
 *         for (;;) {
 *             AWAIT_INTO(self->got, ac_group_next(&self->next, &self->group));
 *             if (self->got == 0)
 *                 break;                                // every member collected
 *             {                                     // no await in here: a local is fine
 *                 struct fetch *done = ac_group_member(&self->next, fetch); // member's frame
 *                 printf("%s: %d, %zu bytes\n", done->url, self->next.result, done->length);
 *             }
 *         }
 *     ASYNC_FINALLY
 *         ac_group_destroy(&self->group);               // cancels and frees whatever is left
 *     ASYNC_END
 *
 *     ac_future *crawl(struct crawl *self, const char **urls, size_t n)
 *     {
 *         ASYNC_NEW(self, crawl, .urls = urls, .n = n);
 *         ac_group_init(&self->group, AC_GROUP_FAIL_FAST);  // here, so FINALLY always finds
 *         return &self->future;                              // it initialised
 *     }
 *
 * Initialise the group in the owner's constructor: an empty group may be copied with its frame
 * (ac_spawn copies the frame), and ASYNC_FINALLY then finds it initialised even if the owner is
 * cancelled before its first poll. Once it has members it must not move. The group binds to
 * the executor of its first spawn.
 *
 * Policies, chosen at init:
 *   AC_GROUP_COLLECT_ALL  members run to the end whatever the others do; each result is
 *                         delivered by ac_group_next; ac_group_join returns the first error.
 *   AC_GROUP_FAIL_FAST    the first member to finish with an error (a negative result other
 *                         than -ECANCELED) cancels every other member at once, and the group
 *                         accepts no more tasks. The cancelled ones are still delivered by
 *                         ac_group_next, with -ECANCELED; ac_group_join returns the error.
 *
 * A member is an ordinary task while it runs: it is scheduled, dumped and aborted like any
 * other (ac_task_abort on it finishes it with -ECANCELED, which does not trip fail-fast). The
 * ac_task pointer ac_group_spawn returns is valid until the group releases the member (see
 * ac_group_next below); never ac_task_join or ac_task_detach it (debug builds abort).
 *
 * One executor: spawn, next, try_next, join, cancel and destroy are called on its thread, and the
 * members run on it. One task at a time may await ac_group_next or ac_group_join.
 * ============================================================================================ */

enum ac_group_policy {
    AC_GROUP_COLLECT_ALL = 0,
    AC_GROUP_FAIL_FAST = 1,
};

typedef struct ac_group {
    ac_executor *ex;
    ac_task *running;               /* members whose root has not finished (a list) */
    ac_task *done_head, *done_tail; /* finished, not yet delivered, in finish order */
    ac_task *waiter;                /* the task awaiting next or join */
    ac_task *delivered;             /* the member next/try_next delivered last, still held */
    uint32_t running_count, done_count;
    int policy;
    int first_error; /* the first member error (< 0, not -ECANCELED), or 0 */
    uint32_t flags;  /* group.c's: initialised, cancelled */
} ac_group;

/* Initialise an empty group with a policy (above). Any thread; nothing is allocated. */
AC_API void ac_group_init(ac_group *group, int policy);

/* Spawn `future` (not yet started, copied as by ac_spawn) as a member. Returns the member's
 * task, or NULL when out of memory or when the group accepts no more tasks (cancelled, failed
 * fast, or destroyed: ac_group_is_cancelled tells) — in both cases the future is cancelled so
 * that its cleanup runs. */
#define ac_group_spawn(group, future)                                                              \
    ac_group_spawn_at_((group), (future), NULL, __FILE__, __LINE__)
#define ac_group_spawn_named(group, future, name)                                                  \
    ac_group_spawn_at_((group), (future), (name), __FILE__, __LINE__)
AC_API ac_task *ac_group_spawn_at_(ac_group *group, ac_future *future, const char *name,
                                   const char *file, int line);

/* Wait for the next member to finish (or take one that already has, in finish order) and hand it
 * over. Finishes with 1, setting op->member, op->task_id and op->result (the member's result,
 * -ECANCELED if it was cancelled); with 0 when the group has no member left, running or
 * undelivered (at once, not waiting for a spawn that may come); or -ECANCELED. op->member is
 * NULL unless it finished with 1. Cancel-safe: a member is delivered only by a next that
 * finishes with 1, so a cancelled next took nothing.
 *
 * The member's outputs. op->member is the finished member's frame — the future that was spawned,
 * copied into the task — so its fields are its outputs, as after an AWAIT of the same frame:
 * read them with ac_group_member(op, NAME) (below), or cast op->member to `struct NAME *`.
 * Ownership: the group keeps the member, and the frame stays valid, until the group is asked
 * for a member again — the next ac_group_next or ac_group_join on the group finishes, whatever
 * its result (even -ECANCELED), or ac_group_try_next returns, whatever it returns — or until
 * ac_group_destroy. Then the group frees it; no code of the member runs at that point (its
 * ASYNC_FINALLY ran when it finished). So: read or move out what you need before asking for
 * the next member. You may write to the frame (take a buffer it allocated and set the field to
 * NULL, say), but never cancel, free or spawn it. A member that hands over a resource (heap
 * memory, a descriptor) leaks it if it is never delivered — destroyed or joined undelivered
 * (fail-fast, an early return) — unless its own cleanup frees it when ASYNC_RESULT < 0 or the
 * owner takes every member with next before destroying the group. The ac_task pointer that
 * ac_group_spawn returned stays valid exactly as long as the frame.
 *
 * ac_group_member(op, NAME): op->member as a `struct NAME *`, where NAME is an async function
 * defined with ASYNC_FN in this file (the macro uses its vtable); NULL when op holds no member
 * or when the member is another async function (so a group that mixes kinds can ask each
 * one). Debug builds abort with "ac_group_member on a member the group has released" when the
 * delivery is over (see ownership above); a raw op->member read then is a use after free,
 * which ASan and valgrind report because freed task memory is poisoned. */
typedef struct ac_group_next_op {
    ac_future future;
    ac_group *group;
    ac_future *member; /* the delivered member's frame (see above), or NULL */
    uint32_t task_id;
    int result;
} ac_group_next_op;
AC_API ac_future *ac_group_next(ac_group_next_op *op, ac_group *group);
#define ac_group_member(op, NAME) ((struct NAME *)ac_group_member_((op), &NAME##_vtable))
AC_API void *ac_group_member_(const ac_group_next_op *op, const ac_future_vtable *vtable);

/* ac_group_try_next: ac_group_next without waiting (tokio's JoinSet::try_join_next). Returns 1
 * and fills `op` exactly as a next that finishes with 1 (the member's frame is held on the same
 * terms); 0 when the group has no member left, running or finished; -EAGAIN when members are
 * running but none has finished yet. `op` is only an output here: it needs no initialisation,
 * is not a future to await, and must not be a next that is pending. A plain call, from a task
 * or from plain code, on the group's executor thread. */
AC_API int ac_group_try_next(ac_group *group, ac_group_next_op *op);

/* Wait until every member has finished, free them all (undelivered results are dropped, and the
 * member a next delivered last is released too), and finish with 0, or with the group's first
 * error (the first member, in finish order, to return a negative result other than
 * -ECANCELED). A group with no members finishes at once.
 * Cancel-safe: a cancelled join leaves the members running and owned by the group. */
typedef struct ac_group_join_op {
    ac_future future;
    ac_group *group;
} ac_group_join_op;
AC_API ac_future *ac_group_join(ac_group_join_op *op, ac_group *group);

/* Cancel every running member now — each one's cleanup runs before this returns; a member that
 * is itself running (it cancels its own group) is cancelled as soon as its poll returns — and
 * refuse further spawns. Members stay in the group, to be delivered (-ECANCELED) or joined.
 * Cancelling twice is harmless. */
AC_API void ac_group_cancel(ac_group *group);

/* Cancel every running member (as ac_group_cancel) and free every member. The group is then
 * empty and accepts no more tasks; the memory is yours again. No next or join may be pending,
 * and it may not be called from inside one of the group's own members (debug builds abort). */
AC_API void ac_group_destroy(ac_group *group);

/* Inspection: running members, finished members not yet delivered, whether it is cancelled
 * (by ac_group_cancel, ac_group_destroy or fail-fast), and its first error (0 if none). */
AC_API uint32_t ac_group_running(const ac_group *group);
AC_API uint32_t ac_group_finished(const ac_group *group);
AC_API int ac_group_is_cancelled(const ac_group *group);
AC_API int ac_group_error(const ac_group *group);

/* ============================================================================================
 * 20. GENERATORS AND STREAMS: ASYNC_YIELD AND FOR_AWAIT
 *
 * A generator is an async function that produces a sequence: each ASYNC_YIELD(value) hands one
 * item to its consumer and suspends the generator until the consumer asks for the next one. It
 * may await anything between items (read a socket, sleep, receive from a channel). Its frame
 * declares a field named `item`, of the items' type; the consumer reads it after each step:
 *
 *     struct lines_of { ac_future future; ac_stream *s; ac_stream_read_line_op line; int n;
 *                       const char *item; };                     // the items: lines
 *     ASYNC_FN(lines_of)
 *         for (;;) {
 *             AWAIT_TRY(self->n, ac_stream_read_line(&self->line, self->s, 4096));
 *             if (self->n == 0)
 *                 break;                                         // end of file: the end
 *             ASYNC_YIELD(self->line.data);
 *         }
 *     ASYNC_END
 *
 * The stream protocol. Awaiting a generator runs it to its next ASYNC_YIELD, and the await
 * finishes with 1: an item is in `item`. Awaiting the same frame again resumes it after that
 * yield. When the generator ends (falls off ASYNC_END, or ASYNC_RETURN(0)), the await finishes
 * with 0; with an error (ASYNC_RETURN(-EIO), AWAIT_TRY, ASYNC_TRY) it finishes with that
 * negative result. A finished generator is not awaited again. So a generator must not
 * ASYNC_RETURN a positive value: that would read as an item.
 *
 * The same protocol — > 0: an item; 0: the end; < 0: an error — is what ac_mpsc_recv (1 per
 * value, 0 once every sender is gone and the channel is drained), ac_broadcast_recv and
 * ac_stream_read_line (the line's length, 0 at end of file) already follow, one fresh
 * operation per item. FOR_AWAIT consumes any of them:
 *
 * FOR_AWAIT(dest, future_expr) statement — the `for await` loop. Before each round it
 * evaluates `future_expr` and awaits it into `dest`; a result > 0 runs the statement (the loop
 * body), anything else leaves the loop with `dest` = 0 at the end or < 0 on error. `break` and
 * `continue` work as in any loop. For a generator, `future_expr` is the pointer to its frame,
 * built once before the loop; for a channel or a line reader, the call that starts one
 * receive or one read:
 *
 *     // fragment: in a body; lines_of is the generator above, the rest are frame fields
 *     lines_of(&self->lines, self->stream);                      // build the generator once
 *     FOR_AWAIT(self->n, &self->lines.future)                    // ...and resume it per item
 *         printf("line: %s", self->lines.item);
 *     FOR_AWAIT(self->n, ac_mpsc_recv(&self->recv, self->rx, &self->value))
 *         self->total += self->value;                            // in the frame: locals die
 *     if (self->n < 0) ...                                       // an error ended the loop
 *
 * Like AWAIT, it may not share a line with another AWAIT or FOR_AWAIT, and with the portable
 * backend it may not sit inside a `switch`.
 *
 * Composition. map, filter and take are generators that FOR_AWAIT another one and
 * ASYNC_YIELD what they choose (examples/pipeline.c builds a pipeline of them); the library
 * ships no generic adapters, because in C a typed five-line generator is clearer than a
 * callback with void pointers.
 *
 * Closing early. While its consumer runs the loop body, a generator is suspended at an
 * ASYNC_YIELD and nobody awaits it: if the consumer leaves the loop before the end (break,
 * return, an error) or is cancelled in the body, the generator's ASYNC_FINALLY has not run.
 * Close it with ac_future_cancel(&gen.future) — in the consumer's ASYNC_FINALLY, so that every
 * way out closes it; cancelling a generator that has finished does nothing. A generator the
 * consumer is awaiting when the consumer is cancelled is cancelled with it, as any awaited
 * future.
 *
 * Allocation: none. A generator is a frame in its consumer's frame, and each step is an AWAIT.
 * Generators are not tasks: to produce items concurrently with the consumer (ahead of it, or
 * for several consumers), run the generator in a task that sends its items into a channel.
 * Cancellation inside a combinator (ac_select, ac_timeout_ms) closes the generator for good:
 * it is cancelled, not paused. For a timeout per item, put the generator in its own task
 * feeding an ac_mpsc and time out the receives, which are cancel-safe.
 *
 * Misuse: spawning a generator, or passing it to ac_block_on, makes the executor see a root
 * future that is ready but not finished; debug builds abort naming it. ASYNC_YIELD inside
 * ASYNC_FINALLY aborts in every build.
 * ============================================================================================ */

/* ASYNC_YIELD(value) — in a generator: store `value` in self->item, suspend, and make the
 * consumer's await finish with 1. The consumer's next await resumes after it. */
#define ASYNC_YIELD(value)                                                                         \
    do {                                                                                           \
        self->item = (value);                                                                      \
        ac_await_begin_(ac_frame_, __LINE__);                                                      \
        AC_SAVE_RESUME_(ac_frame_);                                                                \
        ac_frame_->result = 1;                                                                     \
        return ac_ready();                                                                         \
        if (0) {                                                                                   \
            AC_RESUME_POINT_;                                                                      \
            ac_frame_->result = 0; /* falling off ASYNC_END after this is the end: 0 */            \
        }                                                                                          \
    } while (0)

/* FOR_AWAIT(dest, future_expr) statement — see above. The loop body is entered through a goto
 * into the else branch, so that the await can sit in the loop before the body. */
#define FOR_AWAIT(dest, future_expr)                                                               \
    for (;;)                                                                                       \
        if (1) {                                                                                   \
            AWAIT_INTO(dest, future_expr);                                                         \
            if ((dest) <= 0)                                                                       \
                break;                                                                             \
            goto AC_CAT_(ac_for_await_body_, __LINE__);                                            \
        } else                                                                                     \
            AC_CAT_(ac_for_await_body_, __LINE__) :

/* ============================================================================================
 * 21. HTTP: AN HTTP/1.1 SERVER
 *
 * An HTTP/1.1 server whose request handlers are ordinary async functions: a handler awaits its
 * request body, a timer, a channel or another service, and writes its response through
 * awaitable operations. Requests are parsed by llhttp (Node.js's parser, compiled into the
 * library and not exported) in strict mode; nothing here parses HTTP by hand.
 *
 * Model. An ac_http_server holds the configuration (limits and timeouts), the handler and the
 * connections. ac_http_serve runs an accept loop on a listener you own and starts one task per
 * connection ("http#1", "http#2", ... in task dumps); ac_http_server_add_connection hands over
 * one connected ac_stream instead (a socketpair or ac_stream_open_duplex in tests, a TLS
 * stream). HTTPS: with config.tls (section 23) every connection, accepted or handed over,
 * first completes a TLS server handshake within header_timeout_ms. A connection
 * reads one request head, runs the handler, makes sure the response is complete, and only then
 * parses the next request: pipelined requests are answered in order, one at a time. HTTP runs
 * on the public ac_stream API only, so any transport a stream can carry carries it.
 *
 * Handlers. A handler is a constructor, called once per request with storage for its frame:
 *     typedef ac_future *(*ac_http_handler_fn)(void *frame, ac_http_request *req,
 *                                              ac_http_response *res, void *user);
 * `frame` is `frame_size` bytes (given to ac_http_server_new), aligned for any type, inside the
 * connection task's own allocation: a request allocates nothing for its handler. The
 * constructor builds its frame there, usually `return ASYNC_NEW((struct NAME *)frame, NAME,
 * .req = req, .res = res);`, and the connection awaits it. `req` and `res` stay valid until the
 * handler finishes; `user` is the pointer given to ac_http_server_new.
 *
 *     struct hello { ac_future future; ac_http_response *res; ac_http_response_send_op send; };
 *     ASYNC_FN(hello)
 *         ac_http_response_add_header(self->res, "Content-Type", "text/plain");
 *         AWAIT(ac_http_response_send(&self->send, self->res, "hello\n", 6));
 *     ASYNC_END
 *     static ac_future *hello_new(void *frame, ac_http_request *req, ac_http_response *res,
 *                                 void *user)
 *     {
 *         (void)req, (void)user;
 *         return ASYNC_NEW((struct hello *)frame, hello, .res = res);
 *     }
 *
 *     // fragment: statements of main, with an executor `ex` and a listener
 *     ac_http_server *server;
 *     if (ac_http_server_new(NULL, hello_new, sizeof(struct hello), NULL, &server) == 0)
 *         ac_block_on(ex, ac_http_serve(&serve, server, listener));
 *
 * How a handler ends decides what the client sees:
 *   - it finishes (>= 0) having sent a complete response: nothing more happens;
 *   - it finishes (>= 0) without a response: the status it set (200 by default) and its headers
 *     go out with an empty body; a streamed response it left open is ended for it;
 *   - it fails (< 0) before the response started: the client gets 500 — or 400, 408 or 413 when
 *     the failure was its body read's (a malformed body, too slow, too large) — and the
 *     connection closes; after the response started, the connection just closes (the response
 *     cannot be repaired);
 *   - the client goes away while the handler runs: the handler is cancelled (its ASYNC_FINALLY
 *     runs) and the connection closes. The server notices end of file or an error on the
 *     connection once the request body has been read to its end (or when there is none) — while
 *     the body is unread, the socket is the handler's to read, and its next body read reports
 *     the end as an error. A client that half-closes its side after a request counts as gone.
 *
 * What the server does for you, with the status it answers (then it closes the connection):
 *   - limits: a request target longer than max_request_line (414); a head (request line and
 *     headers) of more than max_request_line + max_header_bytes bytes, or more than max_headers
 *     header fields (431); a body longer than max_body_bytes, announced by Content-Length (413
 *     before the handler runs) or found while reading a chunked body (the read fails with
 *     -EMSGSIZE; 413 unless the response started);
 *   - timeouts: the head not complete within header_timeout_ms of its first byte — or of the
 *     accept, for a connection's first request — (408: slowloris); no new request within
 *     idle_timeout_ms on a kept-alive connection (closed, no response); a body read waiting more
 *     than body_timeout_ms (-ETIMEDOUT, 408); a response write waiting more than
 *     write_timeout_ms (-ETIMEDOUT; closed);
 *   - malformed and ambiguous requests, including the request-smuggling shapes: Content-Length
 *     together with Transfer-Encoding, two Content-Length fields, a Transfer-Encoding whose last
 *     coding is not chunked, obs-fold (a header line starting with a space), whitespace between
 *     a field name and its colon, a bad chunk size, an HTTP/1.1 request without exactly one Host
 *     (400);
 *   - keep-alive (HTTP/1.1 by default, HTTP/1.0 when asked), "Connection: close" both ways;
 *   - the framing fields (Content-Length or Transfer-Encoding) and a Date field in every
 *     response;
 *   - HEAD: the response's headers, Content-Length included, without its body;
 *   - "Expect: 100-continue": "100 Continue" is sent when the handler first reads the body; a
 *     handler that answers without reading it gets the connection closed after its response;
 *   - an unread body is read and discarded after the response (up to max_body_bytes), so the
 *     next request on the connection is found;
 *   - protocol upgrades (Upgrade: websocket, say): a handler accepts one with
 *     ac_http_response_upgrade (below), or answers it as any request, after which the
 *     connection closes. CONNECT is not supported: the connection closes after the response.
 * A limit, a timeout or a malformed request closes only its own connection; the server goes on.
 * So does running out of memory: a head that cannot be stored, or a handler that fails with
 * -ENOMEM (a body read or ac_http_response_add_header could not allocate) before its response
 * started, is answered 500; a connection whose read buffer cannot be allocated closes without
 * a response.
 * After an error response the server half-closes and reads (and drops) what the client still
 * sends for up to 2 seconds or 64 KiB before closing, so that the client sees the response
 * rather than a reset.
 *
 * Shutdown. ac_http_server_shutdown(server, deadline_ms) stops ac_http_serve accepting, closes
 * connections waiting for a request, lets requests in flight finish (their responses say
 * "Connection: close") and cancels the handlers still running when the deadline passes. The
 * serve future finishes with 0 once every connection has ended. The connections belong to the
 * server, not to the serve future: cancelling ac_http_serve only stops accepting; freeing the
 * server cancels every connection (each handler's cleanup runs).
 *
 * One executor: the server and its connections live on the executor of the thread that calls
 * ac_http_serve or ac_http_server_add_connection; free the server before that executor.
 * ============================================================================================ */

typedef struct ac_http_server ac_http_server;
typedef struct ac_http_request ac_http_request;   /* one request, owned by its connection */
typedef struct ac_http_response ac_http_response; /* its response, owned by its connection */

/* Limits and timeouts. Start from ac_http_server_config_default and change what you need;
 * every field must be > 0. Durations saturate as ac_sleep_ms's do: UINT64_MAX never expires. */
typedef struct ac_tls_context ac_tls_context; /* section 23 */

typedef struct ac_http_server_config {
    size_t max_request_line;    /* the request target's length (default 8192): 414 */
    size_t max_header_bytes;    /* the header fields' bytes (default 16384): 431 */
    uint32_t max_headers;       /* header fields (default 100): 431 */
    uint64_t max_body_bytes;    /* a request body (default 1 MiB): 413 */
    uint64_t header_timeout_ms; /* a request head, from its first byte (default 10000): 408 */
    uint64_t idle_timeout_ms;   /* between kept-alive requests (default 60000): closed */
    uint64_t body_timeout_ms;   /* each body read (default 30000): 408 */
    uint64_t write_timeout_ms;  /* each response write (default 30000): closed */
    uint32_t max_connections;   /* open at once (default 10000); at the limit accept waits */
    ac_tls_context *tls;        /* HTTPS: each connection first completes a TLS server
                                 * handshake within header_timeout_ms (failures close it).
                                 * Default NULL: plain HTTP. Not owned: it must outlive the
                                 * server. Section 23. */
} ac_http_server_config;

AC_API void ac_http_server_config_default(ac_http_server_config *config);

typedef ac_future *(*ac_http_handler_fn)(void *frame, ac_http_request *req, ac_http_response *res,
                                         void *user);

/* Create a server (config NULL: the defaults; it is copied) that answers every request with
 * `handler`, whose frames are `frame_size` bytes. Returns 0 and *out, -EINVAL (no handler, a
 * zero frame_size or config field) or -ENOMEM. A handler that builds a larger frame than
 * `frame_size` at `frame` is a misuse: every build aborts, naming it and both sizes, as soon
 * as its constructor returns. */
AC_API int ac_http_server_new(const ac_http_server_config *config, ac_http_handler_fn handler,
                              size_t frame_size, void *user, ac_http_server **out);

/* Cancel every connection (each running handler's cleanup runs, each stream is closed) and
 * free the server. No ac_http_serve may be pending on it (every build aborts, naming the
 * mistake: cancel or finish it first), and it may not be called from one of its own handlers
 * (debug builds abort). NULL is a no-op. */
AC_API void ac_http_server_free(ac_http_server *server);

/* Serve HTTP on one connected stream, in a new connection task. Takes ownership of `stream`
 * whatever happens. Returns 0, -ESHUTDOWN (the server is shutting down) or -ENOMEM; on failure
 * the stream is closed. Call it on the thread of the executor that is to run the connection. */
AC_API int ac_http_server_add_connection(ac_http_server *server, ac_stream *stream);

/* Begin a graceful shutdown (see above): 0, or -EALREADY when one has begun (the first deadline
 * stays). Connections waiting for a request are closed now (their tasks aborted); later
 * ac_http_server_add_connection calls fail with -ESHUTDOWN. The deadline is kept by
 * ac_http_serve: await the pending one — or start one, which then only waits for the
 * connections — to see the shutdown end; deadline_ms 0 cancels the handlers in flight on its
 * next turn. Without a serve, ac_http_server_free ends what is left. */
AC_API int ac_http_server_shutdown(ac_http_server *server, uint64_t deadline_ms);

/* Connections open now. */
AC_API uint32_t ac_http_server_connections(const ac_http_server *server);

/* The accept loop: accept connections on `listener` (yours: it stays open) and serve each in a
 * task, at most max_connections at once, backing off for 100 ms when the process is out of
 * descriptors. Finishes with 0 once a shutdown has ended every connection, or with the
 * listener's error (-EBADF, -EINVAL, ...; the connections go on), -EBUSY when another
 * ac_http_serve on this server is pending. Cancelling it stops accepting and leaves the
 * connections running. */
typedef struct ac_http_serve_op {
    ac_future future;
    ac_http_server *server;
    ac_io *listener;
    int rc;
    int serving; /* this op is the server's accept loop (not one refused with -EBUSY) */
    int backoff; /* accept failed for want of descriptors: sleep before the next */
    ac_future *branches[3];
    ac_select_op select;
    ac_notify_wait_op stop;
    ac_group_next_op next;
    ac_socket_accept_op accept;
    ac_sleep_ms_op sleep;
} ac_http_serve_op;
AC_API ac_future *ac_http_serve(ac_http_serve_op *op, ac_http_server *server, ac_io *listener);

/* ---- the request ----
 *
 * Every string is NUL-terminated and lives until the handler finishes. */

/* "GET", "POST", ... */
AC_API const char *ac_http_request_method(const ac_http_request *req);
/* The request target as sent: "/search?q=x". */
AC_API const char *ac_http_request_target(const ac_http_request *req);
/* The target up to '?': "/search". */
AC_API const char *ac_http_request_path(const ac_http_request *req);
/* The target after '?': "q=x"; "" when there is none. Not decoded. */
AC_API const char *ac_http_request_query(const ac_http_request *req);
/* 11 for HTTP/1.1, 10 for HTTP/1.0. */
AC_API int ac_http_request_version(const ac_http_request *req);
/* The header fields in the order received, with names as sent. ac_http_request_header_at sets
 * *name and *value (either may be NULL) and returns 0, or -EINVAL when index >= the count. */
AC_API size_t ac_http_request_header_count(const ac_http_request *req);
AC_API int ac_http_request_header_at(const ac_http_request *req, size_t index, const char **name,
                                     const char **value);
/* The value of the first field named `name` (compared ignoring ASCII case), without the
 * whitespace around it, or NULL when there is none. */
AC_API const char *ac_http_request_header(const ac_http_request *req, const char *name);
/* The body's length from Content-Length (0 when the request has no body), or -1 when it is
 * chunked (ac_http_request_is_chunked) and its length is known only at its end. */
AC_API int64_t ac_http_request_content_length(const ac_http_request *req);
AC_API int ac_http_request_is_chunked(const ac_http_request *req);

/* Read the next piece of the body into `buf` (at most `len` bytes, len at most INT32_MAX): the
 * receive convention — finishes with the bytes read (> 0), 0 at the end of the body (at once
 * for a request without one), or an error, which is sticky: -EMSGSIZE (longer than
 * max_body_bytes), -EPROTO (malformed chunked framing), -ETIMEDOUT (body_timeout_ms passed
 * without a byte), -EPIPE (the client closed mid-body), -ENOMEM (the connection's read buffer
 * could not be allocated: a handler that gives up answers 500), another I/O error. Nothing is
 * read from the connection before the handler asks, so a slow handler slows its client down
 * (TCP backpressure). The first read answers "Expect: 100-continue". Cancel-safe: a cancelled read
 * took no body bytes. One read at a time, from the handler's task. */
typedef struct ac_http_request_read_body_op {
    ac_future future;
    ac_http_request *req;
    char *buf;
    size_t len;
    size_t transferred;
    int rc;
    ac_stream_fill_op fill;
    ac_stream_write_all_op write;
    ac_timeout_ms_op timeout;
} ac_http_request_read_body_op;
AC_API ac_future *ac_http_request_read_body(ac_http_request_read_body_op *op, ac_http_request *req,
                                            void *buf, size_t len);

/* ---- the response ----
 *
 * A response is started — its status line and headers sent — by its first send or write; what
 * shapes it must be set before that: -EALREADY afterwards. */

/* The status, 200 to 999 (default 200); -EINVAL outside. The server sends 100 Continue itself;
 * a 101 is ac_http_response_upgrade's; other 1xx responses are not supported. A 204 or 304
 * response has no body: sending one is -EINVAL. */
AC_API int ac_http_response_set_status(ac_http_response *res, int status);

/* Add a header field (copied). -EINVAL for a name that is not an HTTP token or a value with a
 * CR, LF or NUL (a response cannot be split); -EINVAL for Content-Length and
 * Transfer-Encoding, which the server writes itself (ac_http_response_set_content_length);
 * -ENOMEM, or -EMSGSIZE past 64 KiB of fields. "Connection: close" closes the connection
 * after this response. */
AC_API int ac_http_response_add_header(ac_http_response *res, const char *name, const char *value);

/* Announce the body's length for ac_http_response_write: the body is sent as is, with this
 * Content-Length, instead of chunked. Writes past it fail with -EINVAL; ending short of it
 * closes the connection. */
AC_API int ac_http_response_set_content_length(ac_http_response *res, uint64_t length);

/* Whether the status line and headers have gone out. */
AC_API int ac_http_response_is_started(const ac_http_response *res);

/* ac_http_response_send: the whole response — status line, headers, Content-Length and `len`
 *   bytes of `body` — in one write. Finishes with 0. -EALREADY when the response has started.
 * ac_http_response_write: stream a piece of the body: the first write sends the head, each
 *   write a chunk (Transfer-Encoding: chunked) or, with a length set, the bytes as they are.
 *   Finishes with `len`. A write of 0 bytes sends the head alone. To an HTTP/1.0 client a
 *   body without a length goes out as it is, and the connection closes after it.
 * ac_http_response_end: end a streamed body (the last chunk), or send a response not started
 *   yet with an empty body. Finishes with 0. Ending twice is harmless.
 * For HEAD requests the body bytes are not sent (send still writes their Content-Length).
 * `body`/`data` must stay valid until the future finishes; `len` is at most INT32_MAX. Errors:
 * -EALREADY, -EINVAL (see above, or a larger len), -EBUSY (another response operation is
 * pending), -ETIMEDOUT (write_timeout_ms), -EPIPE or -ECONNRESET (the client is gone). A failed
 * or cancelled write leaves the response broken: the connection closes when the handler
 * finishes, and later writes fail with -EPIPE. One operation at a time, from the handler's
 * task (or one it hands the response to). */
typedef struct ac_http_response_send_op {
    ac_future future;
    ac_http_response *res;
    const void *data;
    size_t len;
    int kind; /* send, write or end */
    int rc;
    ac_stream_writev_all_op write;
    ac_timeout_ms_op timeout;
} ac_http_response_send_op;
typedef ac_http_response_send_op ac_http_response_write_op;
typedef ac_http_response_send_op ac_http_response_end_op;
AC_API ac_future *ac_http_response_send(ac_http_response_send_op *op, ac_http_response *res,
                                        const void *body, size_t len);
AC_API ac_future *ac_http_response_write(ac_http_response_write_op *op, ac_http_response *res,
                                         const void *data, size_t len);
AC_API ac_future *ac_http_response_end(ac_http_response_end_op *op, ac_http_response *res);

/* ============================================================================================
 * 22. HTTP: AN HTTP/1.1 CLIENT
 *
 * Requests by URL over a keep-alive connection pool, with a timeout for every phase, bodies
 * streamed both ways and redirects followed. Responses are parsed by llhttp in strict mode (the
 * server's parser, section 21); names are resolved and connected by ac_socket_connect_host
 * (section 14, Happy Eyeballs). "http://" and "https://" URLs.
 *
 * Model. An ac_http_client (one per executor, or several) holds the configuration and the pool:
 * idle connections per origin (scheme, host and port). An ac_http_client_request is one exchange:
 * you create it with a method and a URL, add header fields and a body, send it, read the response's
 * head and body, and free it. Freeing a request whose response was read to its end on a kept-alive
 * connection gives the connection back to the pool; otherwise the connection is closed.
 *
 *     struct get { ac_future future; ac_http_client *client; ac_http_client_request *req;
 *                  ac_http_client_request_send_op send;
 *                  ac_http_client_response_read_body_op read; char buf[4096]; int n; };
 *     ASYNC_FN(get)
 *         AWAIT_TRY(self->n, ac_http_client_request_send(&self->send, self->req));
 *         printf("status %d\n", self->n);
 *         for (;;) {
 *             AWAIT_TRY(self->n, ac_http_client_response_read_body(&self->read, self->req,
 *                                                                  self->buf, sizeof self->buf));
 *             if (self->n == 0)
 *                 break;
 *             fwrite(self->buf, 1, (size_t)self->n, stdout);
 *         }
 *     ASYNC_FINALLY
 *         ac_http_client_request_free(self->req);
 *     ASYNC_END
 *
 *     // fragment: statements of main, with an executor `ex`
 *     ac_http_client *client;
 *     struct get g = {0};
 *     ac_http_client_new(ex, NULL, &client);
 *     if (ac_http_client_request_new(client, "GET", "http://example.com/", &g.req) == 0)
 *         ac_block_on(ex, ASYNC_NEW(&g, get, .client = client, .req = g.req));
 *     ac_http_client_free(client);
 *
 * What the client does for you:
 *   - the request line, Host, and the framing: Content-Length for a buffered body (and 0 for a
 *     POST, PUT or PATCH without one), Transfer-Encoding: chunked for a streamed body without a
 *     length; "Connection: close" when the pool keeps nothing (max_idle_per_host 0);
 *   - HTTPS: a new connection to an "https://" URL is handshaken with ac_tls_connect (section 23)
 *     before the request goes out, with config.tls or, when that is NULL, a context the client
 *     makes on its first https connection and frees with itself: the system's CA store, ALPN
 *     "http/1.1" (made on a blocking thread, section 10: OpenSSL reads the store for about 100 ms,
 *     which the loop does not wait for). The server's certificate is verified and checked against
 *     the URL's host (or IP address), which is also sent as SNI. connect_timeout_ms covers the
 *     lookup, the connection and the handshake together. A refused certificate fails the send with
 *     -EKEYREJECTED or -EKEYEXPIRED, and ac_http_client_request_tls_verify_error tells why;
 *   - keep-alive: a connection goes back to the pool when its response was read to the end and
 *     the server did not ask to close; at most max_idle_per_host stay idle per origin, none
 *     longer than idle_timeout_ms (idle ones are checked, and the expired closed, whenever the
 *     pool is used, and all closed by ac_http_client_free). Before a pooled connection is
 *     reused it is checked without waiting: one the server closed (or that has stray bytes) is
 *     closed instead. If a request on a reused connection still fails before any byte of the
 *     response (the server closed it meanwhile), it is sent once more on a new connection — for
 *     the idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) with no streamed body;
 *   - responses: 1xx responses (100 Continue, 103) are skipped; HEAD, 204 and 304 responses have
 *     no body; a body is framed by Content-Length, chunked, or the end of the connection;
 *   - redirects: 301, 302 and 303 are followed with GET and no body (HEAD stays HEAD); 307 and
 *     308 with the same method and body, when the body is a buffer (a streamed body cannot be
 *     sent again: the 3xx is the response). A Location that is absolute ("http://h/p",
 *     "https://h/p": either scheme, both ways), relative to the scheme ("//h/p"), the host
 *     ("/p") or the path ("p", "?q") is followed; the redirect's body is read and dropped (more
 *     than 64 KiB of it: the connection is closed instead). Authorization, Proxy-Authorization
 *     and Cookie fields are not sent to another origin: another host, port or scheme (from
 *     https to http, or the reverse). max_redirects 0 follows none.
 *
 * Errors (every operation's, besides its own):
 *   -EINVAL           a malformed URL or argument (found by the call, before any I/O);
 *   -EPROTONOSUPPORT  a URL (or a redirect's Location) whose scheme is neither http nor https;
 *   -ENOTSUP          an https URL, and asyncc was built without OpenSSL (section 23);
 *   DNS's and connect's (section 14: -ENOENT no such name, -ECONNREFUSED, ...);
 *   TLS's (section 23), for https: -EKEYREJECTED (an untrusted or self-signed certificate, or
 *                     one for another host), -EKEYEXPIRED (an expired or not yet valid one),
 *                     -EPROTO (not TLS, or the server refused the handshake), -ECONNABORTED
 *                     (closed mid-handshake, or a response truncated without close_notify);
 *   -ETIMEDOUT        a phase's timeout or the deadline ran out (see the configuration);
 *   -EPROTO           the response is not acceptable HTTP: a bad status line, a bad chunk size,
 *                     Content-Length with Transfer-Encoding, two Content-Lengths, whitespace
 *                     before a field's colon, a 101 Switching Protocols nobody asked for, a
 *                     redirect with an empty Location;
 *   -EMSGSIZE         the response head is longer than max_head_bytes or has more than
 *                     max_headers fields;
 *   -ECONNRESET       the connection closed (or was reset) before any byte of the response;
 *   -EPIPE            the connection closed in the middle of the response head or body;
 *   -ELOOP            more than max_redirects redirects in a row;
 *   -EBUSY            another operation on the request is pending;
 *   -EALREADY         the request was sent already (a setter after the send, a second send);
 *   -ENOMEM           out of memory (the request's texts, its connection, its deadlines).
 * An error is sticky: the request's later operations fail with it, and freeing the request
 * closes its connection.
 *
 * Cancellation. Cancelling a send or finish closes the request's connection (a request in
 * flight is never given back to the pool) and leaves the request failed with -ECANCELED;
 * cancelling a connect cancels the lookups and attempts (section 14), and cancelling it during
 * an https handshake drops the handshake and closes its connection. A body read is
 * cancel-safe: a cancelled read took no body bytes, and the next read goes on (so wrapping it in
 * your own ac_timeout_ms loses nothing; the configured read timeout, however, fails the
 * request). A cancelled streamed write fails the request (part of it may be out).
 *
 * One executor: the client and its requests belong to the executor given to ac_http_client_new
 * and its thread. Free every request, then the client, then the executor.
 * ============================================================================================ */

typedef struct ac_http_client ac_http_client;
typedef struct ac_http_client_request ac_http_client_request;

/* Timeouts and limits. Start from ac_http_client_config_default and change what you need. Every
 * duration must be > 0 and saturates as ac_sleep_ms's does: UINT64_MAX never expires. */
typedef struct ac_http_client_config {
    uint64_t connect_timeout_ms;  /* the lookup, the connection and an https handshake
                                     (default 10000) */
    uint64_t write_timeout_ms;    /* each write of the request (default 30000) */
    uint64_t response_timeout_ms; /* from the request's end to its response head (default 30000) */
    uint64_t read_timeout_ms;     /* each body read waiting for bytes (default 30000) */
    uint64_t deadline_ms;         /* the whole exchange, from the send to the end of the body,
                                     redirects included (default UINT64_MAX: none) */
    uint64_t idle_timeout_ms;     /* a pooled connection idle longer is closed (default 30000) */
    uint32_t max_idle_per_host;   /* idle connections kept per host:port (default 4; 0: none) */
    uint32_t max_redirects;       /* redirects followed (default 10; 0: none, the 3xx is it) */
    uint32_t max_headers;         /* fields in a response head (default 100): -EMSGSIZE */
    size_t max_head_bytes;        /* a response head's bytes (default 65536): -EMSGSIZE */
    ac_tls_context *tls;          /* https: an AC_TLS_CLIENT context (section 23: a CA file,
                                     ALPN), not owned: it must outlive the client. NULL (the
                                     default): the client's own, made on first use */
} ac_http_client_config;

AC_API void ac_http_client_config_default(ac_http_client_config *config);

/* Create a client on `ex` (config NULL: the defaults; it is copied). Returns 0 and *out,
 * -EINVAL (no executor, a zero duration, max_headers or max_head_bytes) or -ENOMEM. */
AC_API int ac_http_client_new(ac_executor *ex, const ac_http_client_config *config,
                              ac_http_client **out);

/* Close the pool's connections and free the client. Every request of the client must have been
 * freed (every build aborts, naming the mistake, when one is left). NULL is a no-op. */
AC_API void ac_http_client_free(ac_http_client *client);

/* Idle connections in the pool now (for tests and monitoring). */
AC_API uint32_t ac_http_client_idle_connections(const ac_http_client *client);

/* ---- a request ---- */

/* Create a request: `method` an HTTP token ("GET", "POST", ...), `url` "http[s]://host[:port]
 * [/path][?query][#fragment]" where host is a name, an IPv4 address or an [IPv6] literal, the
 * port 1-65535 (default 80, or 443 for https), the path defaults to "/", the fragment is not
 * sent, and neither a user ("user@") nor a space or control byte is accepted. Both strings are
 * copied. Returns 0 and *out, -EINVAL (a malformed method or URL), -EPROTONOSUPPORT (another
 * scheme), -ENOTSUP (https in a build without OpenSSL) or -ENOMEM. */
AC_API int ac_http_client_request_new(ac_http_client *client, const char *method, const char *url,
                                      ac_http_client_request **out);

/* Close the request's connection, or give it back to the pool (see above), and free the
 * request. No operation may be pending on it (every build aborts, naming the mistake). NULL is a
 * no-op. */
AC_API void ac_http_client_request_free(ac_http_client_request *req);

/* Add a request header field (copied; sent with every redirect, see above). -EINVAL for a name
 * that is not a token or a value with a CR, LF or NUL, and for Host, Content-Length and
 * Transfer-Encoding, which the client writes itself; -EALREADY once sent; -ENOMEM. */
AC_API int ac_http_client_request_add_header(ac_http_client_request *req, const char *name,
                                             const char *value);

/* A body in one buffer, sent with Content-Length (and again on a 307 or 308 redirect): `body`
 * is not copied and must stay valid until the request is freed. -EALREADY once sent. */
AC_API int ac_http_client_request_set_body(ac_http_client_request *req, const void *body,
                                           size_t len);

/* A streamed body, written after the send with ac_http_client_request_write and ended with
 * ac_http_client_request_finish: `length` bytes with Content-Length, or chunked when length is
 * -1. -EINVAL for another negative length, -EALREADY once sent. */
AC_API int ac_http_client_request_stream_body(ac_http_client_request *req, int64_t length);

/* Send the request on `stream` (a connected stream you hand over: a socketpair, a Unix-domain
 * socket) instead of connecting to the URL's host, which still names the Host field. The
 * stream is used as it is: for an https URL hand over a TLS stream (ac_tls_connect). Takes
 * ownership whatever happens (on -EALREADY the stream is closed); the stream is never pooled
 * and is closed with the request, and redirects are not followed. */
AC_API int ac_http_client_request_set_stream(ac_http_client_request *req, ac_stream *stream);

/* The URL the request is sent to now: the one it was made with, or the last redirect's. */
AC_API const char *ac_http_client_request_url(const ac_http_client_request *req);

/* Why the last https handshake refused the server's certificate: OpenSSL's X509_V_ERR_* code
 * (ac_tls_verify_error_string gives its text), 0 when it was verified or not checked yet. */
AC_API int ac_http_client_request_tls_verify_error(const ac_http_client_request *req);

/* ac_http_client_request_send: connect (or take a pooled connection), write the request head
 *   and a buffered body, and wait for the response head, following redirects. Finishes with
 *   the final response's status (200 ...), or with 0 for a streamed body: then write it and
 *   end it with ac_http_client_request_finish. The deadline starts with the send.
 * ac_http_client_request_write: write a piece of a streamed body (a chunk, or the bytes as they
 *   are with a length). Finishes with `len` (at most INT32_MAX). -EINVAL past the length.
 * ac_http_client_request_finish: end a streamed body (the last chunk; -EINVAL when fewer bytes
 *   than its length were written) and wait for the response head. Finishes with the status.
 * `data` must stay valid until the write finishes. Errors: see above. Cancelling fails the
 * request (see Cancellation). */
typedef struct ac_http_client_request_send_op {
    ac_future future;
    ac_http_client_request *req;
    const void *data;
    size_t len;
    int kind; /* send, write or finish */
    int rc;
    int holds; /* this op marked the request busy */
    ac_timeout_ms_op timeout;
    union {
        ac_socket_connect_host_op connect;
        ac_stream_writev_all_op write;
        ac_stream_fill_op fill;
    };
} ac_http_client_request_send_op;
typedef ac_http_client_request_send_op ac_http_client_request_write_op;
typedef ac_http_client_request_send_op ac_http_client_request_finish_op;
AC_API ac_future *ac_http_client_request_send(ac_http_client_request_send_op *op,
                                              ac_http_client_request *req);
AC_API ac_future *ac_http_client_request_write(ac_http_client_request_write_op *op,
                                               ac_http_client_request *req, const void *data,
                                               size_t len);
AC_API ac_future *ac_http_client_request_finish(ac_http_client_request_finish_op *op,
                                                ac_http_client_request *req);

/* ---- its response ----
 *
 * Valid once the send (or finish) finished with a status, until the request is freed; before
 * that the status is 0 and there are no fields. Strings are NUL-terminated. */

/* The status (200 ... 999: interim 1xx responses are skipped). */
AC_API int ac_http_client_response_status(const ac_http_client_request *req);
/* 11 for HTTP/1.1, 10 for HTTP/1.0. */
AC_API int ac_http_client_response_version(const ac_http_client_request *req);
/* The header fields as received; as ac_http_request_header_at and ac_http_request_header. */
AC_API size_t ac_http_client_response_header_count(const ac_http_client_request *req);
AC_API int ac_http_client_response_header_at(const ac_http_client_request *req, size_t index,
                                             const char **name, const char **value);
AC_API const char *ac_http_client_response_header(const ac_http_client_request *req,
                                                  const char *name);
/* The value of Content-Length as sent — a HEAD, 204 or 304 response has no body whatever it
 * says (for HEAD and 304 it is the length a GET would get) — else 0 for a response without a
 * body, or -1 when the body is chunked or ends with the connection. */
AC_API int64_t ac_http_client_response_content_length(const ac_http_client_request *req);

/* Read the next piece of the response body into `buf` (at most `len` bytes, len at most
 * INT32_MAX): the receive convention — the bytes read (> 0), 0 at the end of the body (at once
 * for a response without one), or an error: -EPIPE (the connection closed mid-body), -EPROTO
 * (malformed chunked framing), -ETIMEDOUT (read_timeout_ms without a byte, or the deadline),
 * -EINVAL (no response yet, or buf NULL with len > 0), I/O errors. Cancel-safe (see above).
 * One read at a time. */
typedef struct ac_http_client_response_read_body_op {
    ac_future future;
    ac_http_client_request *req;
    char *buf;
    size_t len;
    int rc;
    int holds; /* this op marked the request busy */
    ac_stream_fill_op fill;
    ac_timeout_ms_op timeout;
} ac_http_client_response_read_body_op;
AC_API ac_future *ac_http_client_response_read_body(ac_http_client_response_read_body_op *op,
                                                    ac_http_client_request *req, void *buf,
                                                    size_t len);

/* ---- protocol upgrades ----
 *
 * ac_http_response_upgrade: accept the request's protocol upgrade. It answers "101 Switching
 * Protocols" with "Upgrade: <protocol>", "Connection: Upgrade", Date and the fields the handler
 * added, and hands the connection's stream over: op->stream. Finishes with 0, or -EINVAL (the
 * request asked for no upgrade — no Upgrade field with "Connection: upgrade" — or has a body,
 * or `protocol` is not protocol-name["/"version]), -EALREADY (the response has started), or a
 * write error as ac_http_response_send's (the stream then stays the connection's, and closes).
 * Section 24's ac_ws_accept does all this for WebSockets.
 *
 * Ownership. From its finish with 0 the stream is the handler's, with whatever the client sent
 * after the request head still in its read buffer (ac_stream_buffered): close it on every
 * path, including the handler's ASYNC_FINALLY. The server forgets the connection: it is not
 * counted (ac_http_server_connections), a shutdown does not close it, and nothing more of
 * HTTP happens on it. The handler's task is still the server's until the handler finishes, so
 * a graceful shutdown waits for it — until the deadline, when it is cancelled like any handler
 * in flight — and ac_http_server_free cancels it: its cleanup closes what it took, and nothing
 * leaks. To run the new protocol beyond the server's life, spawn a task of your own with the
 * stream and let the handler finish. For the handler to take it over, an upgrade request is
 * not watched for the client going away while its handler runs (the handler's own reads see
 * it). Cancelling the op: as a cancelled send (the response is broken; the stream stays the
 * connection's). */
typedef struct ac_http_response_upgrade_op {
    ac_future future;
    ac_http_response *res;
    const char *protocol;
    ac_stream *stream; /* the result: the connection's stream, now the caller's */
    int rc;
    ac_http_response_send_op send;
} ac_http_response_upgrade_op;
AC_API ac_future *ac_http_response_upgrade(ac_http_response_upgrade_op *op, ac_http_response *res,
                                           const char *protocol);

/* ============================================================================================
 * 23. TLS
 *
 * TLS 1.2 and 1.3 on OpenSSL 3, as a stream layer: a handshake turns a connected ac_stream
 * (plain TCP from ac_stream_open or ac_stream_from_io, or any other stream) into a new
 * ac_stream that encrypts. Every stream operation of section 15 works on it unchanged, and so
 * does everything built on streams: ac_http_server_add_connection serves HTTPS over it, and
 * ac_http_server_config.tls makes ac_http_serve do the handshakes itself (section 21).
 *
 *     // fragment: the names come from the surrounding program
 *     ac_tls_config cfg = {.ca_file = NULL, .alpn = "http/1.1"};   // the system's CAs
 *     rc = ac_tls_context_new(AC_TLS_CLIENT, &cfg, &ctx);
 *     ...
 *     AWAIT_TRY(self->rc, ac_tls_connect(&self->hs, ctx, tcp, "example.org", 10000));
 *     self->s = self->hs.stream;                       // read and write it like any stream
 *     ...
 *     AWAIT(ac_tls_shutdown(&self->bye, self->s));     // close_notify, then half-close
 *
 * Contexts. An ac_tls_context holds the settings and certificates; one serves any number of
 * handshakes (it must outlive those in progress; the streams they made may outlive it). Both
 * roles use TLS 1.2 or newer, refuse renegotiation (SSL_OP_NO_RENEGOTIATION) and compression,
 * and offer TLS 1.2 only forward-secret AEAD suites.
 *   client  verifies the server's certificate chain against `ca_file` (PEM) or, when it is
 *           NULL, the system's CA store; checks the certificate against the host name given
 *           to ac_tls_connect (or the IP address, if it is one) and sends the name as SNI;
 *           offers `alpn`.
 *   server  presents `cert_file` (PEM chain, leaf first) with `key_file` (PEM); with
 *           ac_tls_context_add_server_name, another certificate for a client that asks for
 *           that name (SNI; exact, case-insensitive match, else the default one); selects the
 *           first of its `alpn` protocols the client offers (none in common: no ALPN). Client
 *           certificates are not requested.
 *
 * Errors: every function returns (or finishes with) 0 or a negative errno value.
 *   -EKEYEXPIRED     the peer's certificate (or one of its chain) expired or is not yet valid
 *   -EKEYREJECTED    any other verification failure: an untrusted or self-signed chain, a
 *                    certificate for another host name. op->verify_error holds OpenSSL's
 *                    X509_V_ERR_* code, ac_tls_verify_error_string(code) its text.
 *   -EPROTO          a TLS protocol failure: the peer does not speak TLS, sent garbage (a bad
 *                    record after the handshake too), or refused the handshake with an alert
 *                    (no common version or cipher, or it rejected our certificate)
 *   -ECONNABORTED    the peer closed the connection without close_notify: during the
 *                    handshake, or in the middle of the stream — a truncation, never reported
 *                    as end of file. Reads finish with 0 only after the peer's close_notify.
 *   -ETIMEDOUT       the handshake took longer than its timeout (when its deadline cannot
 *                    be armed for want of memory: -ENOMEM)
 *   -ENOTSUP         asyncc was built without OpenSSL (ASYNCC_TLS off): every function
 *                    fails with it (ac_tls_available() says which build this is)
 *   and the lower stream's own (-ECONNRESET, -EPIPE ...), -EINVAL, -ENOMEM.
 *
 * Closing. ac_tls_shutdown sends close_notify and then half-closes the lower stream: the peer
 * reads end of file. ac_stream_shutdown_write does the same without waiting (-EAGAIN when the
 * lower stream cannot take the alert now: await ac_tls_shutdown then). The peer's close_notify
 * is a read finishing with 0. ac_stream_close without either still sends close_notify if it
 * can at once (never after an error) and closes the lower stream.
 *
 * Cancellation and the split. As section 15, with one difference: a write encrypts up to
 * 32 KiB at a time, and once encrypted those records go out even if the write is cancelled
 * before it reports them (before the next write's bytes, so the order holds); op->transferred
 * may undercount by that much. A TLS stream has one reader and one writer like any stream; a
 * read that must send (OpenSSL answering a TLS 1.3 key update) does so without waiting, except
 * when 32 KiB of the writer's records are still unsent: then it waits for them, and a reader
 * and a writer in two tasks are reported as two writers of the TCP stream (debug builds).
 * Memory: about 50 KiB per connection for the ciphertext buffers (OpenSSL's own record buffers
 * are released while idle).
 * ============================================================================================ */

enum { AC_TLS_CLIENT = 0, AC_TLS_SERVER = 1 };

typedef struct ac_tls_config {
    const char *ca_file;   /* client: CAs to trust (PEM); NULL: the system's store */
    const char *cert_file; /* server: the certificate chain (PEM, leaf first) */
    const char *key_file;  /* server: the leaf's private key (PEM) */
    const char *alpn;      /* protocols by preference, comma-separated ("h2,http/1.1"); NULL:
                            * no ALPN */
} ac_tls_config;

/* Create a context for `role` (AC_TLS_CLIENT or AC_TLS_SERVER) from `config` (read during the
 * call; NULL for a client with the system's CAs and no ALPN). Returns 0 and *out, or -EINVAL
 * (a bad role, no certificate or key for a server, a file that is not PEM, a key that does not
 * match its certificate, an empty or over-long ALPN name), -ENOENT/-EACCES (a file that cannot
 * be read), -ENOMEM, -ENOTSUP. Free it with ac_tls_context_free. */
AC_API int ac_tls_context_new(int role, const ac_tls_config *config, ac_tls_context **out);

/* Server: present `cert_file`/`key_file` to clients that ask for `host` by SNI. 0, -EINVAL (not
 * a server context, no host, or a certificate problem as above), -ENOENT, -EACCES, -ENOMEM. */
AC_API int ac_tls_context_add_server_name(ac_tls_context *context, const char *host,
                                          const char *cert_file, const char *key_file);

/* NULL is a no-op. No handshake may be in progress with it. */
AC_API void ac_tls_context_free(ac_tls_context *context);

/* 1 if asyncc was built with OpenSSL (ASYNCC_TLS), else 0 and every TLS function fails with
 * -ENOTSUP. */
AC_API int ac_tls_available(void);

/* Handshake as a client (ac_tls_connect, checking `host`, which is read during the call) or a
 * server (ac_tls_accept) over `lower`, a connected stream with nothing unflushed, which the
 * operation takes whatever happens. Finishes with 0 and op->stream, the TLS stream (close it
 * with ac_stream_close, which closes `lower` too), or a negative errno (see above; op->stream
 * is NULL and `lower` has been closed). Bytes already buffered in `lower` are the first bytes
 * of the handshake (STARTTLS after a plain-text exchange works). `timeout_ms` bounds the whole
 * handshake (0: no limit): a peer that stops half-way is -ETIMEDOUT. Cancel: the handshake is
 * dropped and `lower` closed. */
typedef struct ac_tls_connect_op {
    ac_future future;
    ac_stream *stream; /* the result */
    int verify_error;  /* OpenSSL's X509_V_ERR_* code: 0 when verified or unchecked */
    /* the library's: */
    int setup_error;
    ac_stream *lower;
    struct ac_tls_session *session;
    uint64_t timeout_ms;
    ac_sleep_ms_op timer;
} ac_tls_connect_op;
typedef ac_tls_connect_op ac_tls_accept_op;
AC_API ac_future *ac_tls_connect(ac_tls_connect_op *op, ac_tls_context *context,
                                 ac_stream *lower, const char *host, uint64_t timeout_ms);
AC_API ac_future *ac_tls_accept(ac_tls_accept_op *op, ac_tls_context *context, ac_stream *lower,
                                uint64_t timeout_ms);

/* Send close_notify (once, however often called) and half-close the lower stream. Finishes
 * with 0, -EINVAL (not a TLS stream), -EPIPE (after a TLS error), or the lower stream's error.
 * No write may be pending on the stream. Cancel-safe: the alert, once queued, goes out with
 * the next write or shutdown. */
typedef struct ac_tls_shutdown_op {
    ac_future future;
    ac_stream *stream;
} ac_tls_shutdown_op;
AC_API ac_future *ac_tls_shutdown(ac_tls_shutdown_op *op, ac_stream *stream);

/* The protocol ALPN agreed on ("http/1.1"), or NULL (none, or not a TLS stream). */
AC_API const char *ac_tls_alpn(const ac_stream *stream);

/* The host name of SNI: on a server what the client asked for, on a client what it sent; NULL
 * if none (or not a TLS stream). Valid while the stream is open. */
AC_API const char *ac_tls_server_name(const ac_stream *stream);

/* OpenSSL's text for an X509_V_ERR_* code (op->verify_error): "certificate has expired", ... */
AC_API const char *ac_tls_verify_error_string(int verify_error);

/* ============================================================================================
 * 24. WEBSOCKETS
 *
 * WebSockets (RFC 6455) over any ac_stream: a server side that an HTTP handler enters by
 * accepting the upgrade (ac_ws_accept), a client side over a connected stream (ac_ws_connect),
 * and then one connection object, ac_ws, with awaitable operations for whole messages. Frames
 * are parsed and built by wslay (Debian's libwslay), which also enforces the protocol: masking
 * (a client masks every frame, a server none), control frames (at most 125 bytes, never
 * fragmented), valid close codes, continuation order, UTF-8 in text messages and close
 * reasons, and the maximum message size. asyncc adds the awaiting, backpressure and
 * cancellation. A WebSocket uses only the public ac_stream API, so it runs over TCP, a
 * Unix-domain socket, a socketpair in tests, or any stream layer later (TLS).
 *
 * Server, inside an HTTP handler (section 21):
 *     // fragment: the body of an HTTP handler whose frame has `accept`, `recv`, `send` and `n`
 *     AWAIT_TRY(self->n, ac_ws_accept(&self->accept, self->req, self->res, NULL, NULL));
 *     for (;;) {                                  // an echo
 *         AWAIT_TRY(self->n, ac_ws_recv(&self->recv, self->accept.ws));
 *         if (self->n == 0)
 *             break;                              // the client closed; its close was answered
 *         AWAIT_TRY(self->n, ac_ws_send(&self->send, self->accept.ws, self->recv.type,
 *                                       self->recv.data, self->recv.len));
 *     }
 *   and in its ASYNC_FINALLY: ac_ws_close(self->accept.ws);  (NULL until accepted: a no-op)
 * examples/ws_echo.c is the whole program; examples/web_chat.c is a chat that browsers join.
 *
 * Messages. ac_ws_recv delivers one whole message at a time, text or binary, reassembled from
 * its fragments; ping frames are answered with pongs automatically (while a receive runs), pongs
 * are counted (ac_ws_pongs), and the peer's close is answered. ac_ws_send sends a message in one
 * frame, ac_ws_send_fragmented in frames of a given size, ac_ws_ping a ping. Results follow
 * section 3: a receive finishes with 1 per message and 0 at the end (the peer's close frame was
 * received and answered); sends finish with 0.
 *
 * Errors. The peer breaking the protocol fails the connection: a close frame with the code says
 * why (1002 protocol error, 1007 a text message that is not UTF-8, 1009 a message longer than
 * max_message; a malformed frame head — a fragmented or over-long control frame, a bad length —
 * gets a close frame without a code, as wslay sends it), and the receive finishes with -EPROTO,
 * -EILSEQ or -EMSGSIZE. A peer that goes
 * away without a close frame (end of file, even mid-frame) is -EPIPE, and ac_ws_close_code says
 * 1006. I/O errors are the stream's (-ECONNRESET, ...); a received message that cannot be
 * stored for want of memory is -ENOMEM. These errors are sticky: later receives finish with
 * the same; later sends fail with -EPIPE once a close frame has gone out.
 *
 * Backpressure. Nothing reads the socket unless a receive is pending: a peer that sends faster
 * than its messages are received fills the kernel's buffers and is slowed by TCP. (While
 * reassembling a message, wslay reads at most 4 KiB ahead of it, and keeps what it read.) A
 * send finishes once its frames are written to the stream, waiting for writability as needed.
 *
 * One reader and one writer at a time, as on a stream: one task may receive while another
 * sends. Writes are serialised inside: a receive that must answer a ping or a close writes only
 * when no send is writing (the send writes the answer too), and a send waits for the write a
 * receive has begun.
 *
 * Cancellation. ac_ws_recv is cancel-safe: a message is delivered once, by a receive that
 * finishes with 1; what a cancelled receive read stays with the connection. A send that was
 * cancelled was queued when it started: its frames still go out, in order, with the next write
 * on the connection (a send, a ping, a shutdown, or a receive's pong), so the framing is never
 * broken; the data is copied when the send starts, so the caller's buffer may go. Cancelling
 * ac_ws_shutdown leaves the close frame queued like a send; cancelling ac_ws_accept or
 * ac_ws_connect is as the HTTP operation or the stream read they await.
 *
 * Ownership. An ac_ws owns its stream from ac_ws_open (or the handshake's success) on:
 * ac_ws_close closes both. Messages received are the connection's, valid until the next
 * receive starts or the connection is closed.
 * ============================================================================================ */

typedef struct ac_ws ac_ws;

/* Message types, ac_ws_recv_op.type and the `type` of ac_ws_send. */
enum { AC_WS_TEXT = 1, AC_WS_BINARY = 2 };

/* Which end of the connection this is: a client masks its frames, a server must not. */
enum { AC_WS_SERVER = 0, AC_WS_CLIENT = 1 };

/* Limits. Start from ac_ws_config_default; every field must be > 0. */
typedef struct ac_ws_config {
    uint64_t max_message;      /* a received message's bytes (default 1 MiB): close 1009 */
    uint64_t close_timeout_ms; /* ac_ws_shutdown waits this long for the peer's close
                                  (default 5000) */
} ac_ws_config;

AC_API void ac_ws_config_default(ac_ws_config *config);

/* A WebSocket connection on `stream`, whose opening handshake is done (the handshake helpers
 * below call it; call it yourself for a handshake of your own). `role` is AC_WS_SERVER or
 * AC_WS_CLIENT; config NULL: the defaults (copied). Takes ownership of `stream` whatever
 * happens: 0 and *out, or -EINVAL (a bad role or config field) or -ENOMEM, with the stream
 * closed. Bytes already in the stream's read buffer are the first of the WebSocket's. */
AC_API int ac_ws_open(ac_stream *stream, int role, const ac_ws_config *config, ac_ws **out);

/* Close the stream and free the connection, without a close handshake (see ac_ws_shutdown):
 * the peer sees the connection end (code 1006). No operation may be pending on it. NULL is a
 * no-op. */
AC_API void ac_ws_close(ac_ws *ws);

/* The stream under the connection (for ac_stream_io, ac_io_peer_address). Do not read or write
 * it directly. */
AC_API ac_stream *ac_ws_stream(const ac_ws *ws);

/* The peer's close code: 0 while none has come, 1005 for a close frame without a code, 1006
 * when the peer went away without one; and its reason (UTF-8, NUL-terminated, "" when none). */
AC_API int ac_ws_close_code(const ac_ws *ws);
AC_API const char *ac_ws_close_reason(const ac_ws *ws);

/* Pong frames received so far (the answers to ac_ws_ping, or unsolicited ones). */
AC_API uint64_t ac_ws_pongs(const ac_ws *ws);

/* The write side's internals, embedded in the operations that write: not part of the API. */
struct ac_ws_flush_ {
    ac_future future;
    ac_ws *ws;
    int wait; /* wait for the write lock (a send), or write only if it is free (a receive) */
    int locked;
    int rc;
    ac_mutex_lock_op lock;
    ac_stream_write_all_op write;
};

/* Receive the next message: the receive convention — 1 with a message at op->data (op->len
 * bytes; a text message is also NUL-terminated there, not counted), op->type AC_WS_TEXT or
 * AC_WS_BINARY; 0 once the peer's close frame has been received and answered (ac_ws_close_code
 * and ac_ws_close_reason say what it sent); or an error (see Errors above). op->data belongs to
 * the connection and stays valid until the next receive starts. Cancel-safe. */
typedef struct ac_ws_recv_op {
    ac_future future;
    ac_ws *ws;
    const char *data; /* the result */
    size_t len;
    int type;
    int rc;
    ac_stream_fill_op fill;
    struct ac_ws_flush_ flush;
} ac_ws_recv_op;
AC_API ac_future *ac_ws_recv(ac_ws_recv_op *op, ac_ws *ws);

/* ac_ws_send: send a message of `len` bytes, `type` AC_WS_TEXT (which must be UTF-8: the peer
 *   fails the connection otherwise) or AC_WS_BINARY, in one frame.
 * ac_ws_send_fragmented: the same in frames of at most `fragment` bytes (> 0; a first frame and
 *   continuations).
 * ac_ws_ping: send a ping with `len` (at most 125) bytes of application data; the peer's pong
 *   shows in ac_ws_pongs once a receive has read it.
 * All copy the data when they start and finish with 0 once their frames are written, or with
 * -EINVAL (a bad type, size or fragment), -EPIPE (a close frame has gone out, or the stream
 * failed before), -ENOMEM, or the stream's write error (-EPIPE, -ECONNRESET, ...). */
typedef struct ac_ws_send_op {
    ac_future future;
    ac_ws *ws;
    const void *data;
    size_t len;
    size_t fragment; /* 0: one frame */
    int type;        /* AC_WS_TEXT, AC_WS_BINARY, or a ping */
    int rc;
    struct ac_ws_flush_ flush;
} ac_ws_send_op;
typedef ac_ws_send_op ac_ws_send_fragmented_op;
typedef ac_ws_send_op ac_ws_ping_op;
AC_API ac_future *ac_ws_send(ac_ws_send_op *op, ac_ws *ws, int type, const void *data, size_t len);
AC_API ac_future *ac_ws_send_fragmented(ac_ws_send_fragmented_op *op, ac_ws *ws, int type,
                                        const void *data, size_t len, size_t fragment);
AC_API ac_future *ac_ws_ping(ac_ws_ping_op *op, ac_ws *ws, const void *data, size_t len);

/* The close handshake, from this side: send a close frame with `code` (1000 normal, 1001 going
 * away, 3000-4999 your own; 0 sends none, and then no reason) and `reason` (NULL or UTF-8, at
 * most 123 bytes), then receive — dropping any messages still coming — until the peer's close
 * frame arrives, for at most close_timeout_ms. Finishes with 0 after a complete handshake (also
 * when the peer had closed first: its close was received, and this answers it), -ETIMEDOUT,
 * -EINVAL (a bad code or reason), or a receive's error. The stream stays open: ac_ws_close it.
 * It receives, so no ac_ws_recv may be pending. */
typedef struct ac_ws_shutdown_op {
    ac_future future;
    ac_ws *ws;
    int code;
    const char *reason;
    int rc;
    ac_instant deadline;
    struct ac_ws_flush_ flush;
    ac_ws_recv_op recv;
    ac_timeout_ms_op timeout;
} ac_ws_shutdown_op;
AC_API ac_future *ac_ws_shutdown(ac_ws_shutdown_op *op, ac_ws *ws, int code, const char *reason);

/* ---- the opening handshake ---- */

/* The server side, inside an HTTP handler: check that the request is a WebSocket opening
 * handshake — GET, HTTP/1.1, "Upgrade: websocket" and "Connection: Upgrade" (as tokens, in any
 * case), a Sec-WebSocket-Key of 16 bytes in base64, Sec-WebSocket-Version 13 — and answer it:
 * "101 Switching Protocols" with Sec-WebSocket-Accept, then op->ws is the connection (config
 * NULL: the defaults), and the handler owns it (ac_ws_close it on every path). `protocols` is
 * NULL or a NULL-terminated list of the subprotocols the server speaks, in its order of
 * preference: the first one the client also offers (Sec-WebSocket-Protocol) is chosen —
 * op->protocol, NULL when none matched (the handler may then refuse: ac_ws_shutdown with
 * 1002, say). Finishes with 0, or:
 *   -EPROTO  the request is not an acceptable handshake: answered with 400, or 426 with
 *            "Sec-WebSocket-Version: 13" for another version (the HTTP connection then closes);
 *   -EALREADY the response had started; -EINVAL a config field is 0 (nothing was answered);
 *   -ENOMEM; a write error as ac_http_response_upgrade's.
 * See section 21 on what the upgrade means for the HTTP server. */
typedef struct ac_ws_accept_op {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    const ac_ws_config *config;
    const char *const *protocols;
    ac_ws *ws;            /* the result */
    const char *protocol; /* the subprotocol chosen, one of `protocols`, or NULL */
    int rc;
    char accept[32]; /* Sec-WebSocket-Accept's value */
    ac_http_response_upgrade_op upgrade;
    ac_http_response_send_op send;
} ac_ws_accept_op;
AC_API ac_future *ac_ws_accept(ac_ws_accept_op *op, ac_http_request *req, ac_http_response *res,
                               const ac_ws_config *config, const char *const *protocols);

/* The client side, over a connected stream: send "GET target" to `host` (the Host field's
 * value, with the port when it is not the default) with a fresh random key and, unless NULL,
 * "Sec-WebSocket-Protocol: <protocols>" (a comma-separated list), then read and check the
 * response (parsed by llhttp): 101, "Upgrade: websocket", "Connection: Upgrade" and the right
 * Sec-WebSocket-Accept, and a Sec-WebSocket-Protocol only if one was offered, naming one of
 * them (op->protocol, NUL-terminated; "" when none). Takes ownership of `stream` whatever
 * happens: on 0, op->ws owns it; on an error it is closed. Errors: -EPROTO (not an acceptable
 * answer; op->status holds the HTTP status when there was one), -EMSGSIZE (a response head over
 * 16 KiB), -EPIPE (end of file first), -EINVAL (host or target empty or with a CR, LF or space),
 * -ENOMEM, or the stream's I/O error. Bytes that follow the response head are kept for the
 * connection. Give it a deadline with ac_timeout_ms; cancelling it closes the stream. */
typedef struct ac_ws_connect_op {
    ac_future future;
    ac_stream *stream;
    const char *host, *target, *protocols;
    const ac_ws_config *config;
    ac_ws *ws;         /* the result */
    int status;        /* the response's HTTP status, 0 before one was read */
    char protocol[64]; /* the subprotocol the server chose, or "" */
    int rc;
    struct ac_ws_handshake_ *handshake; /* the request and the response's parser */
    ac_stream_write_all_op write;
    ac_stream_fill_op fill;
} ac_ws_connect_op;
AC_API ac_future *ac_ws_connect(ac_ws_connect_op *op, ac_stream *stream, const char *host,
                                const char *target, const char *protocols,
                                const ac_ws_config *config);

/* ============================================================================================
 * 25. SIGNALS AND CHILD PROCESSES
 *
 * Signals (tokio::signal's model). An ac_signal is a listener for one signal number on one
 * executor: plain memory you own and embed (in a frame: initialise it in the body, not in the
 * constructor). ac_signal_recv waits for the signal's next delivery:
 *
 *     // fragment: statements of an async fn whose frame has `ac_signal stop`,
 *     // `ac_signal_recv_op recv` and `int rc`; `ex` is its executor
 *     self->rc = ac_signal_init(&self->stop, ex, SIGINT);   // from now on, SIGINT is counted
 *     if (self->rc < 0)
 *         ASYNC_RETURN(self->rc);
 *     AWAIT_INTO(self->rc, ac_signal_recv(&self->recv, &self->stop)); // Ctrl-C
 *     ...graceful shutdown...
 *   ASYNC_FINALLY
 *     ac_signal_destroy(&self->stop);                      // the old disposition returns
 *
 * Deliveries and coalescing. Each listener counts every delivery of its signal from its
 * ac_signal_init on, whether or not a recv is pending at that moment: a delivery is never lost
 * between two recvs. A recv finishes as soon as the listener has deliveries it has not
 * reported, with their number (>= 1), and reports each one once. So two deliveries before
 * (or during) one recv finish that recv with 2, not two recvs with 1 — that is the coalescing,
 * and the count tells you it happened. The kernel coalesces too, before asyncc sees anything:
 * a standard signal sent while the same signal is already pending (not yet handled) is merged
 * with it, so N kill()s in a burst may count fewer than N; real-time signals are queued, not
 * merged. Several listeners of the same signal — in one task or many, on one executor or
 * several — each see every delivery. A recv never finishes with 0 (a signal has no end).
 *
 * Handlers. The first ac_signal_init of a signal number in the process installs asyncc's
 * handler for it (sigaction, SA_RESTART; it only counts the delivery and writes a byte to each
 * listening executor's self-pipe — async-signal-safe — and the executor wakes the waiting
 * tasks between polls); the ac_signal_destroy of its last listener in the process restores the
 * disposition found at the first init (the default action, an ignore, or your own handler). So
 * while an ac_signal for SIGINT exists, Ctrl-C no longer kills the program: it is a message.
 * Do not install another handler for the same signal while asyncc's is in place (your own
 * sigaction, or libevent's evsignal_new): the last one installed wins. (ac_dump_tasks_on_signal,
 * section 11, is a listener like the others: it shares asyncc's handler.)
 * Threads: a signal may be handled on any thread of the process; asyncc's blocking pool blocks
 * every signal on its threads, so that a blocking job never takes one (nor sees EINTR).
 *
 * ac_signal_init: 0, or -EINVAL (not a signal number, SIGKILL and SIGSTOP, which cannot be
 * caught, and SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGTRAP, which report a fault of the thread
 * that raised it and cannot wait), -ENOMEM or the system's error (-EMFILE: its self-pipe).
 * On the executor's thread only. Every listener must be destroyed before its executor is freed
 * (debug builds abort otherwise), and none may be destroyed while its recv is pending (cancel
 * or finish it first). ac_signal_destroy of a listener whose init failed, or of a
 * zero-filled one, does nothing.
 *
 * ac_signal_recv: one pending recv per listener (debug builds abort on a second). Cancel-safe:
 * a cancelled recv reports nothing, and the deliveries it would have reported are the next
 * recv's. Errors: -ECANCELED, and -ENOMEM (or the system's error, e.g. -ENOSPC: the epoll
 * watch limit) when the executor cannot watch its self-pipe.
 * ============================================================================================ */

typedef struct ac_signal ac_signal;
struct ac_signal {
    ac_executor *ex;
    ac_signal *prev, *next; /* the executor's listeners */
    ac_task *waiter;        /* the task in ac_signal_recv, or NULL */
    unsigned long seen;     /* the process's count of deliveries when this one last reported */
    int signo;              /* 0 until ac_signal_init succeeds */
};

AC_API int ac_signal_init(ac_signal *sig, ac_executor *ex, int signo);
AC_API void ac_signal_destroy(ac_signal *sig);

typedef struct ac_signal_recv_op {
    ac_future future;
    ac_signal *sig;
} ac_signal_recv_op;
AC_API ac_future *ac_signal_recv(ac_signal_recv_op *op, ac_signal *sig);

/* Child processes (tokio::process's model). ac_process_spawn starts a program and returns its
 * handle, which ac_process_free releases; ac_process_wait awaits its end.
 *
 *     // fragment: statements of an async fn whose frame has `ac_process *p`,
 *     // `ac_process_wait_op wait`, `ac_timeout_ms_op timeout` and `int rc`
 *     static const char *const argv[] = {"sh", "-c", "make test", NULL};
 *     ac_process_options o = {.argv = argv, .stdout_mode = AC_PROCESS_NULL,
 *                             .flags = AC_PROCESS_KILL_ON_CANCEL};
 *     self->rc = ac_process_spawn(ex, &o, &self->p);      // -ENOENT: no such program
 *     if (self->rc < 0)
 *         ASYNC_RETURN(self->rc);
 *     AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, 60000,
 *                                         ac_process_wait(&self->wait, self->p)));
 *     if (self->rc == 0 && ac_process_exit_code(self->p) == 0)
 *         puts("passed");                                 // else failed, killed, timed out
 *   ASYNC_FINALLY
 *     ac_process_free(self->p);
 *
 * The program. argv[0] names it: a path when it contains a slash, else it is looked for in
 * the directories of the parent's PATH (or "/bin:/usr/bin" without one), as execvp does. The
 * look-up, the working directory (cwd; NULL keeps the parent's) and the exec itself are checked
 * before ac_process_spawn returns: a program that does not exist is -ENOENT (not a child that
 * exits with 127), one that may not be run -EACCES, a bad cwd -ENOENT or -ENOTDIR; no child is
 * left behind then. The environment is the parent's (AC_PROCESS_ENV_INHERIT, the default),
 * exactly `env` (AC_PROCESS_ENV_REPLACE; NULL means empty), or the parent's with each entry
 * of `env` added or replacing the variable of the same name (AC_PROCESS_ENV_ADD). `env` holds
 * "NAME=value" strings, NULL-terminated (-EINVAL without '='). The child starts with no signal
 * blocked, SIGPIPE at its default action, and no descriptor of the parent's but 0, 1 and 2
 * (asyncc makes every descriptor it opens close-on-exec; yours should be too).
 *
 * Standard streams: each of stdin_mode, stdout_mode and stderr_mode is
 *   AC_PROCESS_INHERIT (0)  the parent's own;
 *   AC_PROCESS_PIPE         a pipe, whose parent end is an ac_stream (ac_process_stdin,
 *                           ac_process_stdout, ac_process_stderr) owned by the process handle;
 *   AC_PROCESS_NULL         /dev/null;
 *   AC_PROCESS_CLOSE        closed: the child's first open() takes that number.
 * Read a piped stdout while you wait for the exit: a child that fills the pipe (64 KiB on
 * Linux) blocks until someone reads. ac_process_close_stdin closes the stdin pipe, so the child
 * reads end of file (cat exits). ac_process_free closes the streams that are still open; no
 * operation may be pending on them then.
 *
 * Waiting. ac_process_wait finishes with 0 once the child has ended and been reaped; then
 * ac_process_exit_code is the code it passed to exit() (0 .. 255) or -1 when a signal ended it,
 * and ac_process_exit_signal is that signal or 0. (Both are -1 and 0 until then.) Awaiting an
 * already reaped process finishes at once. One wait at a time per process. Where the kernel
 * has pidfd_open (Linux 5.3), the wait is a readiness wait on the child's pidfd (an ac_io);
 * elsewhere, or when pidfd_open fails, or with the environment variable
 * ASYNCC_FORCE_FALLBACKS=1 (or a build with -DASYNCC_FORCE_FALLBACKS=ON), it is an ac_signal
 * listener on SIGCHLD (so asyncc's SIGCHLD handler is in place while a wait is pending). Either
 * way only this pid is reaped, with waitpid: other children are left alone. Errors: -ECHILD
 * (someone else reaped the child: a waitpid(-1, ...) of yours, or SIGCHLD set to SIG_IGN),
 * -ENOMEM, -ECANCELED.
 *
 * Cancellation. By default a cancelled wait leaves the child running (wait again later), and
 * ac_process_free of a child still running leaves it running too; asyncc then reaps it, so
 * that no zombie stays, at a later ac_process_spawn or ac_process_free of this process. With
 * AC_PROCESS_KILL_ON_CANCEL in flags, both send it SIGKILL and reap it before they return:
 * SIGKILL cannot be caught, so this takes the kernel a few microseconds — unless the child is
 * stuck in an uninterruptible sleep (a dead NFS mount), for which the loop then waits. A
 * timeout is ac_timeout_ms around the wait; with the flag the child is gone when it says
 * -ETIMEDOUT.
 *
 * ac_process_spawn reads `options` and what it points to (argv, env, cwd) only during the
 * call: they may be stack memory. It runs on the loop, through the fork and until the exec has
 * succeeded or failed: a millisecond or less on an idle machine, more for a parent with a large
 * address space (fork copies its page tables) or on a loaded one. It returns 0 and *out, or -EINVAL (no options, no argv[0],
 * a mode or env entry out of range), -ENOENT, -EACCES, -ENOTDIR, -ENOMEM, -EMFILE, -EAGAIN
 * (fork's limit).
 * ac_process_kill sends `signo` (0, or -ESRCH once the child has been reaped). Everything here
 * runs on the executor's thread. */
enum {
    AC_PROCESS_INHERIT = 0,
    AC_PROCESS_PIPE,
    AC_PROCESS_NULL,
    AC_PROCESS_CLOSE,
};
enum {
    AC_PROCESS_ENV_INHERIT = 0,
    AC_PROCESS_ENV_REPLACE,
    AC_PROCESS_ENV_ADD,
};
enum {
    AC_PROCESS_KILL_ON_CANCEL = 1 << 0,
};

typedef struct ac_process_options {
    const char *const *argv; /* the program and its arguments, NULL-terminated */
    const char *const *env;  /* "NAME=value" entries, NULL-terminated */
    int env_mode;            /* AC_PROCESS_ENV_* */
    const char *cwd;         /* the child's working directory; NULL: the parent's */
    int stdin_mode, stdout_mode, stderr_mode; /* AC_PROCESS_INHERIT, _PIPE, _NULL, _CLOSE */
    unsigned flags;                           /* AC_PROCESS_KILL_ON_CANCEL */
} ac_process_options;

typedef struct ac_process ac_process;

AC_API int ac_process_spawn(ac_executor *ex, const ac_process_options *options,
                            ac_process **out);
AC_API void ac_process_free(ac_process *process);
AC_API int ac_process_pid(const ac_process *process);
AC_API ac_stream *ac_process_stdin(const ac_process *process);  /* NULL unless piped */
AC_API ac_stream *ac_process_stdout(const ac_process *process); /* NULL unless piped */
AC_API ac_stream *ac_process_stderr(const ac_process *process); /* NULL unless piped */
AC_API void ac_process_close_stdin(ac_process *process);
AC_API int ac_process_kill(ac_process *process, int signo);
AC_API int ac_process_exit_code(const ac_process *process);
AC_API int ac_process_exit_signal(const ac_process *process);

typedef struct ac_process_wait_op {
    ac_future future;
    ac_process *process;
    ac_signal sigchld; /* the fallback's listener, while it waits */
} ac_process_wait_op;
AC_API ac_future *ac_process_wait(ac_process_wait_op *op, ac_process *process);

/* ============================================================================================
 * 26. RUNTIMES: ONE EXECUTOR PER CORE
 *
 * An ac_runtime is N executors, each on a thread of its own (thread-per-core, as Seastar and
 * glommio: no work stealing; docs/ARCHITECTURE.md says why). A task stays on the executor it
 * was spawned on for its whole life; what it shares with tasks of other executors it shares
 * through the thread-safe calls below.
 *
 * What may cross threads, and what may not.
 *   - Thread-safe (any thread, an executor of this runtime or a plain one): ac_runtime_spawn,
 *     ac_runtime_executors, ac_runtime_task_detach, ac_runtime_task_abort,
 *     ac_runtime_task_join's handle (the join
 *     itself is awaited on any executor, of this runtime or another), ac_remote_wake and
 *     ac_remote_waker_release (section 10), ac_spawn_remote onto ac_runtime_executor(rt, i),
 *     and the sender's side of a shared oneshot (ac_oneshot_new_shared, section 17): the way
 *     to have a task of another executor, or a plain thread, hand a value to a task.
 *     Likewise the senders of a shared mpsc (ac_mpsc_new_shared, section 17): try_send and
 *     the handles anywhere, the awaited send on any executor, the blocking send on plain
 *     threads — a stream of values into one executor.
 *   - Plain threads only (they block, so never on an executor's thread; -EDEADLK there):
 *     ac_runtime_task_wait, ac_mpsc_shared_send_blocking, ac_runtime_listen, ac_runtime_dump,
 *     ac_runtime_shutdown, ac_runtime_free.
 *   - Bound to one executor, never to be touched from another's thread: a task and its
 *     ac_task handle; an ac_io and everything on it (streams, listeners, TLS, WebSockets,
 *     HTTP); timers, intervals, signals, processes; the channels and synchronisation
 *     primitives of sections 17-19 (they use no atomics; the shared oneshot's sender and the
 *     shared mpsc's senders excepted).
 *     Debug builds abort with "asyncc: misuse: ... from the wrong thread" when a task is
 *     woken, spawned, aborted, detached or joined, or an ac_io waited on or closed, from a
 *     thread other than its executor's; release builds do not check.
 *   To pass a value to a task of another executor, spawn a task there (the future's frame is
 *   copied: put the value in it) and join it for the answer, or give the other side the sender
 *   of a shared oneshot (one value) or of a shared mpsc (a stream of them).
 *
 *     // fragment: a plain main(); square() stands for an async function of yours
 *     ac_runtime *rt;
 *     ac_runtime_task *h;
 *     struct square sq;
 *     if (ac_runtime_new(2, 0, &rt) < 0)
 *         return 1;
 *     if (ac_runtime_spawn(rt, AC_RUNTIME_LEAST_LOADED, square(&sq, 7), "square", &h) == 0)
 *         printf("%d\n", ac_runtime_task_wait(h));     // 49, computed on an executor thread
 *     ac_runtime_free(rt);
 * ============================================================================================ */

typedef struct ac_runtime ac_runtime;
typedef struct ac_runtime_task ac_runtime_task;

enum {
    AC_RUNTIME_PIN = 1 << 0, /* pin executor i to CPU i (modulo the CPUs this process may use) */
};

/* Start `executors` executors (0: one per CPU this process may run on; at most 1024), each
 * on a new thread, and return once all of them run: 0 and *out, or -EINVAL (too many, an
 * unknown flag), -ENOMEM, -EAGAIN (no thread could be started), or the error of pinning
 * (-EINVAL: no such CPU); nothing is left running then. The threads block every signal, so
 * that a signal reaches the program's own threads (sigwait in main, say) or an ac_signal. */
AC_API int ac_runtime_new(unsigned executors, unsigned flags, ac_runtime **out);

/* The number of executors, and executor `index` (< that number; else NULL): to hand to
 * ac_spawn_remote, or to compare with ac_executor_current(). Thread-safe. */
AC_API unsigned ac_runtime_executors(const ac_runtime *rt);
AC_API ac_executor *ac_runtime_executor(const ac_runtime *rt, unsigned index);

/* Which executor ac_runtime_spawn puts a task on: an index, or the one with the fewest tasks
 * spawned by ac_runtime_spawn still running (the first of them on a tie). */
#define AC_RUNTIME_LEAST_LOADED (-1)

/* Spawn `future` (not started; its frame is copied now, as ac_spawn does) on executor `index`
 * of `rt`, from any thread. It starts on a later turn of that executor's loop. `name` (may be
 * NULL) is copied. With `handle` NULL the task is detached; otherwise *handle is its
 * cross-thread join handle, to release exactly once: by ac_runtime_task_join to completion, by
 * ac_runtime_task_wait, or by ac_runtime_task_detach. Returns 0; -EINVAL (no executor
 * `index`), -ESHUTDOWN (ac_runtime_shutdown has begun) or -ENOMEM — and then the future was
 * cancelled on the calling thread (its cleanup ran) and *handle is NULL. A task still queued or
 * running when the runtime shuts down is cancelled on its executor: its handle sees
 * -ECANCELED. */
#define ac_runtime_spawn(rt, index, future, name, handle)                                          \
    ac_runtime_spawn_at_((rt), (index), (future), (name), (handle), __FILE__, __LINE__)
AC_API int ac_runtime_spawn_at_(ac_runtime *rt, int index, ac_future *future, const char *name,
                                ac_runtime_task **handle, const char *file, int line);

/* Await the task behind `handle` from a task of any executor (of any runtime): finishes with
 * the task's result (-ECANCELED if it was cancelled) and releases the handle. Holds a remote
 * waker (section 10) while it waits; -ENOMEM, the handle kept, when that cannot be had.
 * Cancel-safe: a cancelled join leaves the task running and the handle valid (join, wait or
 * detach it later). One join or wait per handle at a time: debug builds abort on a second. */
typedef struct ac_runtime_task_join_op {
    ac_future future;
    ac_runtime_task *handle;
} ac_runtime_task_join_op;
AC_API ac_future *ac_runtime_task_join(ac_runtime_task_join_op *op, ac_runtime_task *handle);

/* Block the calling plain thread until the task finishes; return its result and release the
 * handle. -EDEADLK (the handle kept) when called on an executor's thread, which it would
 * stall: await ac_runtime_task_join there instead. A wait that finds the task unfinished
 * sleeps until the task's finish wakes it (a futex wake and a thread switch, ~8 us of CPU on
 * a VM): a plain thread waiting for many short tasks in turn pays that per task, on a core an
 * executor may need. Join a fan-out from a task instead (bench/bench_runtime: 2 executors ran
 * it 1.4x faster than 1 joined from main(), 1.95x joined from a task). */
AC_API int ac_runtime_task_wait(ac_runtime_task *handle);

/* Release the handle without waiting: the task runs on, and its result is discarded. */
AC_API void ac_runtime_task_detach(ac_runtime_task *handle);

/* Cancel the task behind `handle`, from any thread (tokio's JoinHandle::abort): the task is
 * cancelled on its own executor, on a later turn of its loop — its pending await dropped, its
 * cleanup run there — unless it finishes first. Returns 0 once the request is on its way (a
 * join or wait then sees -ECANCELED, or the result of a task that finished first); -EALREADY
 * when the task had already finished (its result kept); -ESHUTDOWN once ac_runtime_shutdown has
 * begun (the shutdown cancels what is left); -ENOMEM, nothing done. The handle stays valid:
 * join, wait or detach it as usual. Aborting twice is harmless. */
AC_API int ac_runtime_task_abort(ac_runtime_task *handle);

/* Finishes with 0 once ac_runtime_shutdown has begun, at once if it has: await it (in a
 * select beside an accept, say) to finish a task's work gracefully within the grace period.
 * -EINVAL when the awaiting task's executor is not one of `rt`'s. Cancel-safe. */
typedef struct ac_runtime_stopping_op {
    ac_future future;
    ac_runtime *rt;
    ac_wait_node node; /* its executor's list of stopping waiters */
} ac_runtime_stopping_op;
AC_API ac_future *ac_runtime_stopping(ac_runtime_stopping_op *op, ac_runtime *rt);

/* Open a listening socket per executor on one address, with SO_REUSEPORT (the kernel spreads
 * incoming connections over them): listeners[i] (an array of ac_runtime_executors(rt)) is
 * registered on executor i and may only be accepted on, and closed, by tasks of executor i.
 * Port 0 picks a free port, the same for every listener. 0, or the first error of
 * ac_socket_listen (-EADDRINUSE, ...), -ESHUTDOWN, -ENOMEM; then none is left open. Plain
 * threads only (-EDEADLK on an executor's thread). The listeners are yours: close each from a
 * task of its executor (ac_io_close; the accept loop's ASYNC_FINALLY is the place). */
AC_API int ac_runtime_listen(ac_runtime *rt, const ac_sockaddr *addr, int backlog,
                             ac_io **listeners);

/* Write every executor's task dump (ac_dump_tasks) to `out`, each under a line "executor I:".
 * Each executor writes its own part on its own thread, one after the other (so the dump of
 * each executor is a moment of its own, not one moment of all); the part is a task spawned
 * for it, which the part lists, beside the executor's anchor ("runtime", waiting for the
 * shutdown).
 * Returns the number of tasks, or -EDEADLK on an executor's thread, -ESHUTDOWN after shutdown
 * began. Plain threads only. */
AC_API int ac_runtime_dump(ac_runtime *rt, FILE *out);

/* Stop every executor as one. New spawns fail with -ESHUTDOWN from now on; every
 * ac_runtime_stopping finishes; the tasks then have `grace_ms` milliseconds, on the monotonic
 * clock and for all executors together, to finish by themselves. Those left at the deadline
 * (or at once when grace_ms is 0, or as soon as nothing can wake them) are cancelled on their
 * executor, innermost first, their cleanup running there, and the executors are freed
 * (ac_executor_free) and their threads joined. Returns 0 when every task finished by itself,
 * -ETIMEDOUT when some had to be cancelled, -EDEADLK on an executor's thread (nothing done),
 * -EALREADY when it was already done. Plain threads only. */
AC_API int ac_runtime_shutdown(ac_runtime *rt, uint64_t grace_ms);

/* ac_runtime_shutdown(rt, 0) unless it was done, then free the runtime. Handles not yet
 * released stay valid until they are (their tasks finished with -ECANCELED). NULL is a no-op.
 * No other call on `rt` may run or follow (a spawn racing with the free would touch freed
 * memory; one racing with ac_runtime_shutdown is safely refused). Plain threads only: debug
 * builds abort on an executor's thread. */
AC_API void ac_runtime_free(ac_runtime *rt);

/* ============================================================================================
 * 27. FILES
 *
 * Files the way tokio::fs does them: every operation is one job on the executor's blocking
 * pool (section 10), because the kernel has no readiness for regular files (epoll refuses
 * them, and a read from a cold disk or an NFS mount blocks whatever thread makes it). The loop
 * keeps running other tasks meanwhile; up to the pool's size (8 threads by default,
 * ac_executor_set_blocking_threads) file operations run at once, and more queue.
 *
 *     // fragment: statements of an async fn whose frame has `ac_fs_read_file_op read`,
 *     // `ac_fs_write_file_op write` and `int rc`
 *     AWAIT_INTO(self->rc, ac_fs_read_file(&self->read, "config.ini", 1 << 20));
 *     if (self->rc < 0)
 *         ASYNC_RETURN(self->rc);                 // -ENOENT, -EFBIG (over 1 MiB), ...
 *     printf("%zu bytes: %s\n", self->read.len, self->read.data);
 *     free(self->read.data);
 *     AWAIT_INTO(self->rc, ac_fs_write_file(&self->write, "state.json", "{}", 2,
 *                                            AC_FS_ATOMIC));
 *
 * The operations (each takes its op, then its arguments):
 *   ac_fs_read_file(path, max)        the whole file into op->data (op->len bytes, plus a NUL
 *                                     after them so text can be used as a string); finishes
 *                                     with the length, -EFBIG when the file holds more than
 *                                     `max` bytes (max is at most INT_MAX: -EINVAL beyond).
 *                                     op->data is malloc'ed and yours: free() it. NULL unless
 *                                     the read succeeded.
 *   ac_fs_write_file(path, data, len, flags)
 *                                     creates or truncates the file (mode 0666 less the umask)
 *                                     and writes `len` bytes; 0. With AC_FS_ATOMIC it writes a
 *                                     temporary file in the same directory, fsyncs it and
 *                                     renames it over `path`, so a reader (or a crash) sees the
 *                                     old contents or the new, never a part; on failure the
 *                                     temporary file is removed. (The rename itself reaches the
 *                                     disk when the file system writes the directory.)
 *   ac_fs_metadata(path, flags)       0, op->meta: size, mode (permission bits), type
 *                                     (AC_FS_FILE, AC_FS_DIR, AC_FS_SYMLINK, AC_FS_OTHER) and
 *                                     modification time. It follows a symbolic link unless
 *                                     flags has AC_FS_NOFOLLOW.
 *   ac_fs_read_dir(path, max)         the directory's entries but "." and "..", sorted by name
 *                                     (byte order), in op->entries; finishes with their number;
 *                                     -EFBIG when there are more than `max`. op->entries is one
 *                                     malloc'ed block (the names live in it): free() it. NULL
 *                                     unless it succeeded (or the directory is empty).
 *   ac_fs_rename(from, to)            rename(2): 0. Replaces `to` if it exists.
 *   ac_fs_remove(path)                a file, a symbolic link (not its target) or an empty
 *                                     directory: 0.
 *   ac_fs_mkdir(path, mode)           one directory (its parent must exist): 0, -EEXIST.
 *
 * Open files, for chunked reads and writes at explicit offsets (pread/pwrite: there is no
 * file position, so several operations on one file may be pending at once):
 *   ac_file_open(path, flags, mode)   open(2) with O_RDONLY, O_WRONLY or O_RDWR and O_CREAT,
 *                                     O_TRUNC, O_EXCL, O_APPEND as you choose (close-on-exec is
 *                                     added); 0 and op->file, an ac_file you release with
 *                                     ac_file_close. -EISDIR for a directory opened to write.
 *   ac_file_read_at(file, buf, len, offset)   bytes read (> 0), 0 at the end of the file.
 *   ac_file_write_at(file, data, len, offset) len once all of it is written; op->transferred
 *                                     says how much was, however it ends.
 *   ac_file_sync(file)                fsync(2): 0 once the data is on the disk.
 *   ac_file_close(file)               not an await: releases the handle (NULL does nothing).
 *                                     It returns close's error, or 0. The descriptor is closed
 *                                     now, or — when a cancelled operation's job is still
 *                                     running on it — when that job ends (0 is returned then).
 *                                     No operation may be pending on the file (debug builds
 *                                     abort otherwise); cancel or finish them first.
 *
 * Paths, data and buffers. Every operation copies what it is given — the paths, the data to
 * write — into its job when it is first polled, and a read lands in the job's own buffer and
 * is copied to `buf` when the op finishes. So a thread never touches memory of yours after
 * the op has ended, and the paths and buffers need only stay valid while the op is pending.
 * The price is one allocation and one copy of the data per operation.
 *
 * Cancellation (each op is an ac_spawn_blocking_owned job, section 10). A cancelled op
 * finishes with -ECANCELED at once. If its job was still queued it never runs; if it was
 * running it runs to its end on its thread: the file is then read, written, renamed or
 * removed all the same — you cannot tell whether it was — and its results (the data read, the
 * listing, a descriptor opened) are freed or closed on the executor's thread when it ends.
 * Nothing leaks, and nothing lands in your buffers. An atomic write is atomic however it
 * ends: its job either renames the complete temporary file or removes it.
 *
 * Errors: the system's, as negative errno values (-ENOENT, -EACCES, -ENOTDIR, -EISDIR,
 * -ENOSPC, -EEXIST, -ENOTEMPTY, -EXDEV for a rename across file systems, ...), -EFBIG as
 * above, -EINVAL for a NULL path, file or buffer (with len > 0), -ENOMEM, -ECANCELED, and the
 * pool's -EAGAIN when it could not start a thread.
 *
 * Cost. Each operation is a hop to a pool thread and back (a lock, a condition signal, two
 * thread switches and a wake through the executor's inbox) on top of the system call.
 * bench/bench_fs.c measures it, one operation awaited at a time, from the page cache: on the
 * shared 2-core development VM (load average ~15) ac_fs_metadata took a median of 21-25 us
 * (best run 10 us) where stat(2) on the loop's thread took 1.1 us, and a 4 KiB
 * ac_file_read_at 24-29 us where pread(2) took 0.7-0.9 us: 20-35 times the system call, the
 * thread switches dominating. So batch: read a file whole rather than in small chunks, and
 * keep several operations in flight (a task each) when there are many files. For a small file
 * known to be in the page cache a plain synchronous call on the loop is cheaper — and stalls
 * every task while it runs, by milliseconds when the disk is cold.
 * Everything here is called on the executor's thread.
 * ============================================================================================ */

enum {
    AC_FS_ATOMIC = 1 << 0,   /* ac_fs_write_file: write a temporary file and rename it */
    AC_FS_NOFOLLOW = 1 << 1, /* ac_fs_metadata: describe a symbolic link, not its target */
};

enum { AC_FS_FILE = 1, AC_FS_DIR, AC_FS_SYMLINK, AC_FS_OTHER };

typedef struct ac_fs_meta {
    uint64_t size;       /* bytes */
    unsigned mode;       /* the permission bits (07777) */
    int type;            /* AC_FS_FILE, AC_FS_DIR, AC_FS_SYMLINK, AC_FS_OTHER */
    int64_t mtime_sec;   /* last modification, seconds since the epoch ... */
    long mtime_nsec;     /* ... and nanoseconds */
} ac_fs_meta;

typedef struct ac_fs_dir_entry {
    const char *name; /* in the same block as the entries */
    int type;         /* as ac_fs_meta's, without following links; AC_FS_OTHER if unknown */
} ac_fs_dir_entry;

typedef struct ac_file ac_file;
struct ac_fs_job_;

typedef struct ac_fs_read_file_op {
    ac_future future;
    const char *path;
    size_t max;
    char *data; /* the result: malloc'ed, NUL-terminated, yours to free() */
    size_t len;
    struct ac_fs_job_ *job;
    ac_spawn_blocking_owned_op blocking;
} ac_fs_read_file_op;
AC_API ac_future *ac_fs_read_file(ac_fs_read_file_op *op, const char *path, size_t max);

typedef struct ac_fs_write_file_op {
    ac_future future;
    const char *path;
    const void *data;
    size_t len;
    unsigned flags;
    struct ac_fs_job_ *job;
    ac_spawn_blocking_owned_op blocking;
} ac_fs_write_file_op;
AC_API ac_future *ac_fs_write_file(ac_fs_write_file_op *op, const char *path, const void *data,
                                   size_t len, unsigned flags);

typedef struct ac_fs_metadata_op {
    ac_future future;
    const char *path;
    unsigned flags;
    ac_fs_meta meta; /* the result */
    struct ac_fs_job_ *job;
    ac_spawn_blocking_owned_op blocking;
} ac_fs_metadata_op;
AC_API ac_future *ac_fs_metadata(ac_fs_metadata_op *op, const char *path, unsigned flags);

typedef struct ac_fs_read_dir_op {
    ac_future future;
    const char *path;
    size_t max;
    ac_fs_dir_entry *entries; /* the result: one malloc'ed block, yours to free() */
    struct ac_fs_job_ *job;
    ac_spawn_blocking_owned_op blocking;
} ac_fs_read_dir_op;
AC_API ac_future *ac_fs_read_dir(ac_fs_read_dir_op *op, const char *path, size_t max);

/* rename, remove and mkdir share a layout (`to` and `mode` are unused where they do not
 * apply). */
typedef struct ac_fs_rename_op {
    ac_future future;
    const char *path, *to;
    unsigned mode;
    int kind;
    struct ac_fs_job_ *job;
    ac_spawn_blocking_owned_op blocking;
} ac_fs_rename_op;
typedef ac_fs_rename_op ac_fs_remove_op;
typedef ac_fs_rename_op ac_fs_mkdir_op;
AC_API ac_future *ac_fs_rename(ac_fs_rename_op *op, const char *from, const char *to);
AC_API ac_future *ac_fs_remove(ac_fs_remove_op *op, const char *path);
AC_API ac_future *ac_fs_mkdir(ac_fs_mkdir_op *op, const char *path, unsigned mode);

typedef struct ac_file_open_op {
    ac_future future;
    const char *path;
    int flags;
    unsigned mode;
    ac_file *file; /* the result: release it with ac_file_close */
    struct ac_fs_job_ *job;
    ac_spawn_blocking_owned_op blocking;
} ac_file_open_op;
AC_API ac_future *ac_file_open(ac_file_open_op *op, const char *path, int flags, unsigned mode);

/* read_at, write_at and sync share a layout. */
typedef struct ac_file_read_at_op {
    ac_future future;
    ac_file *file;
    void *buf;
    const void *data;
    size_t len;
    uint64_t offset;
    size_t transferred; /* write_at: bytes written, however it ended */
    int kind;
    int rc_;
    int counted_; /* the file counts this op as pending */
    struct ac_fs_job_ *job;
    ac_spawn_blocking_owned_op blocking;
} ac_file_read_at_op;
typedef ac_file_read_at_op ac_file_write_at_op;
typedef ac_file_read_at_op ac_file_sync_op;
AC_API ac_future *ac_file_read_at(ac_file_read_at_op *op, ac_file *file, void *buf, size_t len,
                                  uint64_t offset);
AC_API ac_future *ac_file_write_at(ac_file_write_at_op *op, ac_file *file, const void *data,
                                   size_t len, uint64_t offset);
AC_API ac_future *ac_file_sync(ac_file_sync_op *op, ac_file *file);
AC_API int ac_file_close(ac_file *file);

/* Standard streams. ac_stream_open_stdio makes an ac_stream (section 15) of a descriptor the
 * program does not own — STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, or one inherited — that
 * works whatever the descriptor is:
 *   a pipe, a FIFO, a terminal  readiness, as for a socket. The stream works on a private
 *                               open of the same file (/proc/self/fd/N, with the descriptor's
 *                               access mode), so the non-blocking mode it needs does not reach
 *                               the file description the shell, a pipe's other end's process
 *                               or your own stdio share: printf to the same terminal still
 *                               blocks as it did. Where that open fails (no /proc, a pipe whose
 *                               reader is gone) it uses `fd` itself, made non-blocking, as
 *                               ac_stream_open_pair with flags 0 does.
 *   a socket                    `fd` itself, made non-blocking (a socket cannot be reopened).
 *   a regular file, a block     no readiness (epoll refuses them, and the disk may make a read
 *   device (`< in.txt`,         wait): each read or write is a job on the blocking pool, at
 *   `> out.log`)                most 64 KiB, one per direction at a time. Reads and writes go
 *                               through `fd`'s own file offset, as redirects expect.
 * `fd` is borrowed: ac_stream_close never closes it (nor does a failure), and
 * ac_stream_shutdown_write only stops the stream's writing. Returns 0 and *out, -EINVAL (no
 * executor, a negative fd), -EBADF, -ENOMEM, or -EEXIST when `fd` is a socket already
 * registered with the executor. ac_stream_io of a file stream is NULL.
 *
 * Mixing it with stdio on the same descriptor: write through one of them only (or fflush
 * stdout before the stream's first write), else their buffers interleave in no useful order;
 * and read stdin through one only (stdio's buffer may hold what the stream never sees).
 *
 * Cancellation of a file stream's operations: a read cancelled while its job runs loses
 * nothing — the bytes the job read are the next read's. A write cancelled while its job runs
 * still writes that job's bytes (up to 64 KiB; op->transferred does not count them), as a
 * cancelled socket write whose bytes the kernel took. Closing the stream with a job in flight
 * is allowed: the job finishes on its own and frees its request. */
AC_API int ac_stream_open_stdio(ac_executor *ex, int fd, ac_stream **out);

/* ============================================================================================
 * 28. FRAMING
 *
 * A frame reader cuts a stream (section 15: TCP, TLS, a duplex pair, a pipe) into messages, and
 * the frame writers put messages on it — tokio-util's codec module. Three kinds of reader:
 *
 *   lines      ac_frame_reader_init_lines: text lines ending in "\n" or "\r\n" (both are
 *              stripped), at most `max` bytes each without the terminator (tokio's LinesCodec).
 *   length     ac_frame_reader_init_length: a length field of 1, 2, 4 or 8 bytes, big- or
 *              little-endian, then that many bytes of payload (LengthDelimitedCodec).
 *   decoder    ac_frame_reader_init_decoder: your function decides where a frame ends (RESP,
 *              netstrings, ...); the reader does the buffering and the waiting.
 *
 * and one awaitable, ac_frame_read, for all three. A frame reader is plain memory you own
 * (embed it in the frame of the task that reads) with nothing to destroy; it holds no buffer of
 * its own: frames are cut from the stream's read buffer, so a frame is never copied, and an
 * idle connection costs what section 15 says. The stream's buffer grows to hold the largest
 * frame the reader allows (its `max` plus the length field), whatever the stream's buffer
 * limit — and never further: a peer that announces a huge length gets -EMSGSIZE before a byte
 * of it is stored.
 *
 * ac_frame_read finishes with (the receive convention of section 3, so FOR_AWAIT consumes it):
 *   1          a frame: op->frame.data and op->frame.len (0 for an empty line or frame). The
 *              bytes are in the stream's buffer (or where your decoder pointed), valid until the
 *              next read operation on the stream starts: copy what you keep.
 *   0          a clean end: end of file between two frames.
 *   -EPROTO    end of file in the middle of a frame (a length or decoder frame cut short: its
 *              bytes stay buffered, see ac_stream_buffered); or a length field whose adjusted
 *              value is negative. A last line without "\n" is not an error: it is a frame, as
 *              read_line and LinesCodec have it. (-EPIPE is a write to a closed peer, never a
 *              read.)
 *   -EMSGSIZE  a frame longer than the reader's max: see the line policies below; a length or
 *              decoder reader is failed by it.
 *   < 0        your decoder's error; the stream's I/O errors (-ECONNRESET, ...), -ENOMEM,
 *              -ECANCELED.
 * A failed reader finishes every later read at once with the error that failed it, consuming
 * nothing: the stream is out of step with the peer, so the only sane move is to answer and
 * close (the bytes are still there for ac_stream_buffered if you want to look).
 *
 * Over-long lines: the policy is chosen per reader (flags of ac_frame_reader_init_lines).
 *   AC_FRAME_LINES_FAIL     (0) the reader fails with -EMSGSIZE, as above.
 *   AC_FRAME_LINES_DISCARD  the read finishes with -EMSGSIZE as soon as the line has more than
 *                           max bytes, once for that line; the reader then drops its bytes as
 *                           they arrive, up to and including its "\n", and the next read returns
 *                           the line after it. However long the line, the buffer holds no more
 *                           of it than one read brings. LinesCodec's max_length behaves so.
 *
 * Cancellation: cancel-safe. A cancelled ac_frame_read consumed no frame: bytes received stay
 * buffered and the next read returns the frame they begin. (The discard policy drops the bytes
 * of a line already reported with -EMSGSIZE as they arrive, cancelled or not.)
 *
 * Your decoder: called with every unread byte, `buf` and `len` (len >= 1), each time more
 * arrived; it returns
 *   AC_FRAME_NEED_MORE   no whole frame yet: it consumed nothing and will see these bytes again,
 *                        with more after them. More than `max` bytes without a frame: -EMSGSIZE.
 *   AC_FRAME_READY       a frame: *out is it (usually pointing into buf) and *consumed the bytes
 *                        it took (1 .. len); the next call starts after them.
 *   < 0                  an error (-EPROTO for a malformed frame, say): the read finishes with
 *                        it and the reader is failed.
 * Any other return, or a *consumed out of range, fails the read with -EINVAL and the reader
 * with it. It must not call into the stream. It runs inside ac_frame_read's poll: keep it
 * quick (it sees the buffer again from its start on each call; a decoder that must scan a lot
 * keeps its progress in `user`, reset on each AC_FRAME_READY).
 *
 * Writing. ac_frame_write_line, ac_frame_write_length and ac_frame_write_encoded put one frame
 * into the stream's write buffer (ac_stream_write_buffered): many frames batch into one system
 * call, and nothing is sent until ac_stream_flush (or the buffer fills, when the bytes go out
 * in order). They finish with 0, or -EINVAL (a line containing "\n"), -EMSGSIZE (a length frame
 * larger than format->max or than its field holds), your encoder's error, or the stream's
 * errors. Cancellation: partial, like write_buffered — a frame that did not fit in the write
 * buffer may be half written, which breaks the framing: close the stream after cancelling one.
 *
 *     struct echo { ac_future future; ac_stream *s; ac_frame_reader lines;
 *                   ac_frame_read_op read; ac_frame_write_line_op w; ac_stream_flush_op f;
 *                   int rc; };
 *     ASYNC_FN(echo)                                   // a line echo that survives long lines
 *         ac_frame_reader_init_lines(&self->lines, self->s, 80, AC_FRAME_LINES_DISCARD);
 *         for (;;) {
 *             AWAIT_INTO(self->rc, ac_frame_read(&self->read, &self->lines));
 *             if (self->rc == 0)
 *                 break;                               // end of file
 *             if (self->rc == -EMSGSIZE)
 *                 continue;                            // that line was dropped
 *             if (self->rc < 0)
 *                 ASYNC_RETURN(self->rc);
 *             AWAIT_TRY(self->rc, ac_frame_write_line(&self->w, self->s,
 *                                                    self->read.frame.data,
 *                                                    self->read.frame.len));
 *             AWAIT_TRY(self->rc, ac_stream_flush(&self->f, self->s));
 *         }
 *     ASYNC_FINALLY
 *         ac_stream_close(self->s);
 *     ASYNC_END
 * ============================================================================================ */

/* A frame: `len` bytes at `data`. */
typedef struct ac_frame {
    const void *data;
    size_t len;
} ac_frame;

enum { AC_FRAME_NEED_MORE = 0, AC_FRAME_READY = 1 };
typedef int (*ac_frame_decode_fn)(void *user, const void *buf, size_t len, size_t *consumed,
                                  ac_frame *out);

/* Flags of ac_frame_reader_init_lines: what an over-long line does (see above). */
enum { AC_FRAME_LINES_FAIL = 0, AC_FRAME_LINES_DISCARD = 1 };

/* A length-prefixed format, for the reader and ac_frame_write_length. The payload length is the
 * field's value plus `adjustment` (tokio's length_adjustment: -4 when the field counts itself
 * and is 4 bytes wide, say); the writer stores the payload length minus `adjustment`. */
typedef struct ac_frame_length {
    unsigned width;       /* bytes in the length field: 1, 2, 4 or 8 */
    int little_endian;    /* 0: big-endian (network order), 1: little-endian */
    size_t max;           /* the largest payload accepted, 0 .. INT32_MAX - 8 */
    int64_t adjustment;   /* added to the field's value to give the payload length */
} ac_frame_length;

/* The reader's state. Its fields belong to the library. */
typedef struct ac_frame_reader {
    ac_stream *stream;
    int kind;
    unsigned flags;
    int failed;     /* the error that failed it, or 0 */
    int discarding; /* the discard policy is dropping an over-long line */
    size_t max;
    ac_frame_length format;
    ac_frame_decode_fn decode;
    void *user;
} ac_frame_reader;

/* Initialise a reader of lines of at most `max` bytes (1 .. INT32_MAX - 2, not counting the
 * "\n" or "\r\n") from `stream`, with flags AC_FRAME_LINES_FAIL or AC_FRAME_LINES_DISCARD.
 * 0, or -EINVAL for a max or flags out of range. */
AC_API int ac_frame_reader_init_lines(ac_frame_reader *reader, ac_stream *stream, size_t max,
                                      unsigned flags);

/* Initialise a reader of length-prefixed frames in `format` (copied). 0, or -EINVAL for a width
 * other than 1, 2, 4 or 8 or a max out of range. */
AC_API int ac_frame_reader_init_length(ac_frame_reader *reader, ac_stream *stream,
                                       const ac_frame_length *format);

/* Initialise a reader of frames cut by `decode`, called with `user`, holding at most `max`
 * unread bytes (1 .. INT32_MAX) while it needs more. 0, or -EINVAL. */
AC_API int ac_frame_reader_init_decoder(ac_frame_reader *reader, ac_stream *stream, size_t max,
                                        ac_frame_decode_fn decode, void *user);

/* Read the next frame (see above for the results). One read at a time per stream. A reader
 * that was never initialised (or NULL) finishes the read with -EINVAL. */
typedef struct ac_frame_read_op {
    ac_future future;
    ac_frame_reader *reader;
    ac_frame frame; /* the result, when it is 1 */
} ac_frame_read_op;
AC_API ac_future *ac_frame_read(ac_frame_read_op *op, ac_frame_reader *reader);

/* An encoder for ac_frame_write_encoded: write the encoding of `item` into `buf` if it fits in
 * `room` bytes, and return its length either way (>= 0, at most INT32_MAX), or a negative
 * errno. Called twice when the first `room` was too small: it must then give the same bytes. */
typedef int (*ac_frame_encode_fn)(void *user, const void *item, void *buf, size_t room);

/* ac_frame_write_line: `len` bytes of `data` and "\n" (-EINVAL if data contains "\n").
 * ac_frame_write_length: the length field of `format` (copied), then the payload.
 * ac_frame_write_encoded: what `encode` makes of `item` (small encodings are made in the op;
 *   larger ones in one allocation, freed when the write finishes).
 * Into the stream's write buffer; flush with ac_stream_flush. `data` and `item` must stay valid
 * until the write finishes. See "Writing" above. */
typedef struct ac_frame_write_line_op {
    ac_future future;
    ac_stream *stream;
    const void *data;
    size_t len;
    ac_frame_encode_fn encode;
    void *user;
    const void *item;
    unsigned char *encoded; /* the encoder's allocation, if it needed one */
    size_t header_len, trailer_len;
    unsigned char header[8];
    unsigned char small[120]; /* the encoding, when it fits */
    int rc;
    ac_stream_write_buffered_op write;
} ac_frame_write_line_op;
typedef ac_frame_write_line_op ac_frame_write_length_op;
typedef ac_frame_write_line_op ac_frame_write_encoded_op;
AC_API ac_future *ac_frame_write_line(ac_frame_write_line_op *op, ac_stream *stream,
                                      const void *data, size_t len);
AC_API ac_future *ac_frame_write_length(ac_frame_write_length_op *op, ac_stream *stream,
                                        const ac_frame_length *format, const void *data,
                                        size_t len);
AC_API ac_future *ac_frame_write_encoded(ac_frame_write_encoded_op *op, ac_stream *stream,
                                         ac_frame_encode_fn encode, void *user, const void *item);

#ifdef __cplusplus
}
#endif

#endif /* ASYNCC_H */
