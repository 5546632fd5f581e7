#!/usr/bin/env python3
"""One DNS-SD browse by multicast DNS, as a laptop on the appliance's LAN asks:

    mdns-query.py LOCAL-ADDRESS SERVICE-TYPE [SECONDS]

sends a legacy unicast PTR query for SERVICE-TYPE (e.g. _usbp2p._tcp.local) out of the
interface with LOCAL-ADDRESS, and prints each record of the first answer, a line each:
"PTR name target", "SRV name port target", "TXT name string...", "A name address", and
"from ADDRESS". Exit 1 without an answer within SECONDS (default 5, asked every second).
"""
import socket
import struct
import sys
import time


def encode_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"


def decode_name(data, offset, depth=0):
    labels = []
    while True:
        if depth > 16 or offset >= len(data):
            raise ValueError("bad name")
        length = data[offset]
        if length == 0:
            return ".".join(labels), offset + 1
        if length >= 0xC0:
            pointer = ((length & 0x3F) << 8) | data[offset + 1]
            rest, _ = decode_name(data, pointer, depth + 1)
            labels.append(rest)
            return ".".join(labels), offset + 2
        labels.append(data[offset + 1:offset + 1 + length].decode(errors="replace"))
        offset += 1 + length


def records(data):
    _, _, questions, answers, authority, additional = struct.unpack(">HHHHHH", data[:12])
    offset = 12
    for _ in range(questions):
        _, offset = decode_name(data, offset)
        offset += 4
    for _ in range(answers + authority + additional):
        name, offset = decode_name(data, offset)
        rtype, _, _, length = struct.unpack(">HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        if rtype == 12:
            yield "PTR %s %s" % (name, decode_name(data, offset)[0])
        elif rtype == 33:
            port = struct.unpack(">H", rdata[4:6])[0]
            yield "SRV %s %d %s" % (name, port, decode_name(data, offset + 6)[0])
        elif rtype == 16:
            strings, i = [], 0
            while i < len(rdata):
                strings.append(rdata[i + 1:i + 1 + rdata[i]].decode(errors="replace"))
                i += 1 + rdata[i]
            yield "TXT %s %s" % (name, " ".join(strings))
        elif rtype == 1:
            yield "A %s %s" % (name, socket.inet_ntoa(rdata))
        offset += length


def main():
    local, service = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5
    query = struct.pack(">HHHHHH", 0x5a17, 0, 1, 0, 0, 0) + encode_name(service) + struct.pack(">HH", 12, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
    sock.bind((local, 0))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.sendto(query, ("224.0.0.251", 5353))
        sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
        try:
            data, source = sock.recvfrom(9000)
        except socket.timeout:
            continue
        lines = list(records(data))
        if any(line.startswith("PTR %s " % service) for line in lines):
            print("from %s" % source[0])
            print("\n".join(lines))
            return 0
    print("no mDNS answer for %s within %g s" % (service, seconds), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
