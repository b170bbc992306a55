#!/usr/bin/env python3
"""Send a request script to a redis server in one write and print every byte it answers.

    exchange.py PORT [--multibulk] [--hang-up] [--timeout SECONDS] < script > replies

The script's bytes go out as they are (inline commands, or raw RESP), or with --multibulk each
line is split like a shell line (quotes group words) and sent as a RESP array of bulk strings.
Everything is sent in one sendall — a pipeline — and the replies are read until the server
closes the connection (the script ends with QUIT, or with a protocol error); with --hang-up the
sending side is shut down after the script, so the server reads end of file after it. A reset after the
server's last bytes counts as a close: those bytes are printed. Exit status 2 when the server
did not close within the timeout.
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


def main():
    port = int(sys.argv[1])
    timeout = 60.0
    if "--timeout" in sys.argv:
        timeout = float(sys.argv[sys.argv.index("--timeout") + 1])
    script = sys.stdin.buffer.read()
    if "--multibulk" in sys.argv:
        script = multibulk(script)
    conn = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    replies = bytearray()
    try:
        conn.sendall(script)
        if "--hang-up" in sys.argv:
            conn.shutdown(socket.SHUT_WR)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            replies += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        sys.stdout.buffer.write(replies)
        return 2
    sys.stdout.buffer.write(replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
