#!/usr/bin/python3
"""sample-min.py FILE PID: read the number in FILE every 10 ms until
process PID is gone (one last read after), and print the lowest value.
The tests use it on p2pmem/available to see P2P memory taken during I/O:
in the guest every exec costs about half a second, far too coarse."""
import os
import sys
import time


def main():
    path, pid = sys.argv[1], int(sys.argv[2])
    lowest = None
    while True:
        alive = os.path.exists(f"/proc/{pid}")
        with open(path) as f:
            value = int(f.read())
        lowest = value if lowest is None else min(lowest, value)
        if not alive:
            break
        time.sleep(0.01)
    print(lowest)


if __name__ == "__main__":
    main()
