#!/usr/bin/env python3
"""Send request scripts to a redis server, each in one write, and keep every byte it answers.

    exchange.py PORT [--multibulk] [--hang-up] [--timeout SECONDS] < script > replies
    exchange.py PORT [options] --save SUFFIX FILE...      (replies to FILE.SUFFIX)

A script's bytes go out as they are (inline commands, or raw RESP), or with --multibulk each
line is split like a shell line (quotes group words) and sent as a RESP array of bulk strings.
Each script goes out in one sendall — a pipeline — on a connection of its own, and the replies
are read until the server closes it (the script ends with QUIT, or with a protocol error); with
--hang-up the sending side is shut down after the script, so the server reads end of file after
it. A reset after the server's last bytes counts as a close: those bytes are kept. Exit status
2 when the server did not close within the timeout (default 60 s).
"""
import shlex
import socket
import sys


def multibulk(script):
    out = bytearray()
    for line in script.decode().splitlines():
        words = shlex.split(line)
        out += b"*%d\r\n" % len(words)
        for word in words:
            data = word.encode()
            out += b"$%d\r\n%s\r\n" % (len(data), data)
    return bytes(out)


def exchange(port, script, hang_up, timeout):
    """The replies, and whether the server closed the connection in time."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    replies = bytearray()
    try:
        conn.sendall(script)
        if hang_up:
            conn.shutdown(socket.SHUT_WR)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            replies += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        return bytes(replies), False
    finally:
        conn.close()
    return bytes(replies), True


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main():
    port = int(sys.argv[1])
    timeout = float(option("--timeout", 60))
    suffix = option("--save", None)
    files = sys.argv[sys.argv.index("--save") + 2:] if suffix else [None]
    closed_all = True
    for name in files:
        with open(name, "rb") if name else sys.stdin.buffer as source:
            script = source.read()
        if "--multibulk" in sys.argv:
            script = multibulk(script)
        replies, closed = exchange(port, script, "--hang-up" in sys.argv, timeout)
        closed_all = closed_all and closed
        if name:
            with open(name + "." + suffix, "wb") as out:
                out.write(replies)
        else:
            sys.stdout.buffer.write(replies)
    return 0 if closed_all else 2


if __name__ == "__main__":
    sys.exit(main())
