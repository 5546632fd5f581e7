#!/usr/bin/python3
# One guest connection to the relay on this machine: qemu's user networking (restrict=on,
# guestfwd=...-cmd:) starts this for each TCP connection a VM opens to the relay's
# address, with that connection on stdin and stdout. It copies both ways to HOST:PORT and
# passes each half-close on, so neither VM reaches anything else of this machine.
#   relay-pipe.py HOST PORT
import os
import selectors
import socket
import sys

guest = socket.socket(fileno=0)
relay = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
relay.settimeout(None)
peer = {guest: relay, relay: guest}
selector = selectors.DefaultSelector()
for side in peer:
    selector.register(side, selectors.EVENT_READ)
open_sides = 2
while open_sides:
    for key, _ in selector.select():
        side = key.fileobj
        try:
            data = side.recv(65536)
        except OSError:
            data = b""
        if data:
            try:
                peer[side].sendall(data)
            except OSError:
                os._exit(0)
        else:
            selector.unregister(side)
            open_sides -= 1
            try:
                peer[side].shutdown(socket.SHUT_WR)
            except OSError:
                pass
