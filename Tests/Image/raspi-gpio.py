#!/usr/bin/env python3
"""Reads the emulated BCM2837 GPIO controller of a qemu raspi3b machine through QMP.

    raspi-gpio.py QMP-SOCKET config LINE...       each line's function
    raspi-gpio.py QMP-SOCKET sample LINE SECONDS  the line's level, every 10 ms:
                                                  "duty D, N changes, M samples"

The registers (Broadcom, "BCM2835 ARM Peripherals", section 6.1, the same in the BCM2837):
GPFSELn, 3 bits per line (0 input, 1 output); GPLEV0, the level of lines 0-31. The pulls
(GPPUD, GPPUDCLKn) cannot be read back, on the chip as in qemu. The controller is at
0x7e200000 on the SoC's bus, 0x3f200000 in the ARM's physical map, where raspi3b puts it.
They are read with the monitor's `xp` (a physical read, as the CPU would make it).
"""
import json
import re
import socket
import sys
import time

BASE = 0x3F200000
GPLEV0 = 0x34


class Monitor:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        self._reply()  # the greeting
        self._command({"execute": "qmp_capabilities"})

    def _reply(self) -> dict:
        while True:
            line = self.file.readline()
            if not line:
                raise OSError("qemu closed the monitor")
            message = json.loads(line)
            if "event" not in message:
                return message

    def _command(self, command: dict) -> object:
        self.file.write(json.dumps(command).encode() + b"\n")
        self.file.flush()
        reply = self._reply()
        if "error" in reply:
            raise OSError(f"{command}: {reply['error']}")
        return reply["return"]

    def read32(self, address: int) -> int:
        text = self._command(
            {"execute": "human-monitor-command", "arguments": {"command-line": f"xp /1wx {address:#x}"}}
        )
        match = re.search(r":\s*0x([0-9a-fA-F]+)", str(text))
        if not match:
            raise OSError(f"unexpected answer to xp: {text!r}")
        return int(match.group(1), 16)


def config(monitor: Monitor, lines: list[int]) -> str:
    described = []
    for line in lines:
        function = (monitor.read32(BASE + 4 * (line // 10)) >> (3 * (line % 10))) & 7
        name = {0: "input", 1: "output"}.get(function, f"alternate function {function}")
        described.append(f"line {line}: {name}")
    return "; ".join(described)


def sample(monitor: Monitor, line: int, seconds: float) -> str:
    levels = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        levels.append((monitor.read32(BASE + GPLEV0) >> line) & 1)
        time.sleep(0.01)
    changes = sum(1 for a, b in zip(levels, levels[1:]) if a != b)
    return f"duty {sum(levels) / len(levels):.2f}, {changes} changes, {len(levels)} samples"


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] not in ("config", "sample"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        monitor = Monitor(sys.argv[1])
        if sys.argv[2] == "config":
            print(config(monitor, [int(x) for x in sys.argv[3:]]))
        else:
            print(sample(monitor, int(sys.argv[3]), float(sys.argv[4])))
    except (OSError, ValueError, IndexError) as error:
        print(f"raspi-gpio.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
