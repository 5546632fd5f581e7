#!/usr/bin/env python3
"""Runs a bash script in a test machine through its agent (Tests/Image/agent).

    agent.py SOCKET TIMEOUT SCRIPT

SOCKET is the host end of the machine's "usbp2p.test" virtio-serial port (a qemu
chardev socket). Prints the script's output and exits with its status; 124 when no
answer came within TIMEOUT seconds, 125 when the machine could not be reached.
"""
import base64
import os
import socket
import sys
import time


def main() -> int:
    path, timeout, script = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError as error:
            if time.monotonic() > deadline:
                print(f"agent.py: cannot reach {path}: {error}", file=sys.stderr)
                return 125
            time.sleep(0.5)
    request_id = os.urandom(8).hex().encode()
    s.sendall(request_id + b" " + base64.b64encode(script.encode()) + b"\n")
    pending = b""
    while True:
        if b"\n" in pending:
            line, _, pending = pending.partition(b"\n")
            answer_id, _, answer = line.strip().partition(b" ")
            if answer_id == request_id:
                break
            continue  # the answer to a request whose client gave up
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"agent.py: no answer within {timeout:.0f} s", file=sys.stderr)
            return 124
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            print("agent.py: the machine closed the port", file=sys.stderr)
            return 125
        pending += chunk
    status, _, output = answer.partition(b" ")
    sys.stdout.write(base64.b64decode(output).decode(errors="replace"))
    if output:
        sys.stdout.write("\n")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
