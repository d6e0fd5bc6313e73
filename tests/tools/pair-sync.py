#!/usr/bin/python3
"""Target side of a test between two guests (scripts/vm-pair).

pair-sync.py ADDR PORT FILE: listen on ADDR:PORT, tell the initiator that
the target is ready, and wait for its line "done RC". Meanwhile read FILE
(a number, such as p2pmem/available) every 10 ms. Prints "lowest N" and
"initiator RC", and exits with RC; 124 when no initiator reports within
600 s.
"""
import socket
import sys
import time


def main():
    addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    lowest = None
    deadline = time.monotonic() + 600
    srv = socket.create_server((addr, port), backlog=1)
    srv.settimeout(0.01)
    conn = None
    buf = b""
    while time.monotonic() < deadline:
        with open(path) as f:
            value = int(f.read())
        lowest = value if lowest is None else min(lowest, value)
        if conn is None:
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            conn.settimeout(0.01)
            conn.sendall(b"ready\n")
            continue
        try:
            data = conn.recv(64)
        except socket.timeout:
            continue
        if not data:
            print(f"lowest {lowest}\ninitiator closed without a verdict")
            return 1
        buf += data
        if b"\n" in buf:
            line = buf.split(b"\n")[0].decode()
            rc = int(line.split()[1])
            conn.sendall(b"bye\n")
            print(f"lowest {lowest}\ninitiator {rc}")
            return rc
    print(f"lowest {lowest}\nno verdict from the initiator within 600 s")
    return 124


if __name__ == "__main__":
    sys.exit(main())
