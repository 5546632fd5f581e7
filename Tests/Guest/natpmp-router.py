#!/usr/bin/env python3
"""A home router's NAT-PMP service (RFC 6886) for the reach scenario, run in the router's
network namespace: answers on LAN-ADDRESS:5351, and for each TCP mapping asked of it adds
real nftables rules (a DNAT from WAN-ADDRESS:port to the asking host, and a forward
accept) to the tables that net.sh's nat() creates; a lifetime of 0 removes them.
Debian's miniupnpd does NAT-PMP too, but refuses to serve a WAN address in 198.18.0.0/15,
the range these tests use.

Usage: natpmp-router.py LAN-ADDRESS WAN-ADDRESS
"""
import socket
import struct
import subprocess
import sys
import time

lan, wan = sys.argv[1], sys.argv[2]
started = time.monotonic()
mappings = {}  # (client, internal port) -> (external port, [rule handles])


def nft(*args):
    out = subprocess.run(["nft", "--echo", "--handle", *args], check=True, capture_output=True, text=True).stdout
    return out.rsplit("# handle ", 1)[1].split()[0]


def remove(key):
    external, handles = mappings.pop(key)
    for table, chain, handle in handles:
        subprocess.run(["nft", "delete", "rule", "ip", table, chain, "handle", handle], check=False)
    print(f"natpmp: removed {wan}:{external} -> {key[0]}:{key[1]}", flush=True)


def add(client, internal, external):
    handles = [
        ("nat", "prerouting", nft("add", "rule", "ip", "nat", "prerouting", "iifname", "wan", "tcp", "dport",
                                  str(external), "dnat", "to", f"{client}:{internal}")),
        ("filter", "forward", nft("add", "rule", "ip", "filter", "forward", "ip", "daddr", client, "tcp", "dport",
                                  str(internal), "ct", "status", "dnat", "accept")),
    ]
    mappings[(client, internal)] = (external, handles)
    print(f"natpmp: mapped {wan}:{external} -> {client}:{internal}", flush=True)


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((lan, 5351))
print(f"natpmp: serving on {lan}:5351 for {wan}", flush=True)
while True:
    data, (client, port) = sock.recvfrom(64)
    epoch = int(time.monotonic() - started)
    if len(data) < 2 or data[0] != 0:
        sock.sendto(struct.pack("!BBHI", 0, 128 + (data[1] if len(data) > 1 else 0), 1, epoch), (client, port))
        continue
    op = data[1]
    if op == 0 and len(data) == 2:
        sock.sendto(struct.pack("!BBHI", 0, 128, 0, epoch) + socket.inet_aton(wan), (client, port))
    elif op == 2 and len(data) == 12:
        _, _, _, internal, suggested, lifetime = struct.unpack("!BBHHHI", data)
        key = (client, internal)
        if key in mappings:
            external = mappings[key][0]
            if lifetime == 0:
                remove(key)
                external = 0
        elif lifetime == 0:
            external = 0
        else:
            external = suggested or internal
            add(client, internal, external)
        sock.sendto(struct.pack("!BBHIHHI", 0, 130, 0, epoch, internal, external, lifetime), (client, port))
    else:
        sock.sendto(struct.pack("!BBHI", 0, 128 + op, 5, epoch), (client, port))  # unsupported opcode
