#!/usr/bin/python3
"""Target side of a test between two guests that talk in steps.

pair-chat.py ADDR PORT: listen on ADDR:PORT, tell the initiator that the
target is ready, then relay lines: each line from the initiator is printed
on stdout (flushed), each line read on stdin is sent to the initiator. The
initiator's line "done RC" ends it: it is answered with "bye", printed as
"initiator RC", and RC is the exit status. Exits 124 when no initiator
reports within 900 s, 1 when it closes without a verdict.
"""
import select
import socket
import sys
import time


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + 900
    srv = socket.create_server((addr, port), backlog=1)
    srv.settimeout(900)
    conn, _ = srv.accept()
    conn.sendall(b"ready\n")
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([conn, sys.stdin], [], [], 1)
        if sys.stdin in ready:
            line = sys.stdin.readline()
            if line:
                conn.sendall(line.encode())
        if conn not in ready:
            continue
        data = conn.recv(256)
        if not data:
            print("initiator closed without a verdict", flush=True)
            return 1
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            words = line.decode().split()
            if words[:1] == ["done"]:
                conn.sendall(b"bye\n")
                print(f"initiator {words[1]}", flush=True)
                return int(words[1])
            print(line.decode(), flush=True)
    print("no verdict from the initiator within 900 s", flush=True)
    return 124


if __name__ == "__main__":
    sys.exit(main())
