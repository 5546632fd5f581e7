#!/usr/bin/env python3
"""Key report latency: writes a key press on the keyboard gadget (/dev/hidgN) and times
until the report arrives on the importing side's hidraw node, COUNT times, after a few
presses to warm up. Both ends are in one machine, so one monotonic clock times both.
Prints the latencies in ms, one per line. Exits 1 if a report does not arrive within
10 s or arrives changed."""
import os
import select
import sys
import time

gadget, hidraw, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
PRESS = bytes([0, 0, 0x04, 0, 0, 0, 0, 0])   # 'a' (usage 0x04), boot keyboard report
RELEASE = bytes(8)

reader = os.open(hidraw, os.O_RDONLY)        # usbhid polls the device only while open
writer = os.open(gadget, os.O_WRONLY)


def report(expected):
    ready, _, _ = select.select([reader], [], [], 10)
    if not ready:
        sys.exit("no report within 10 s")
    got = os.read(reader, 64)
    if got != expected:
        sys.exit(f"a report arrived changed: {got.hex()}")


for i in range(5 + count):
    start = time.monotonic()
    os.write(writer, PRESS)
    report(PRESS)
    took = time.monotonic() - start
    os.write(writer, RELEASE)
    report(RELEASE)
    if i >= 5:
        print(f"{took * 1000:.3f}", flush=True)
