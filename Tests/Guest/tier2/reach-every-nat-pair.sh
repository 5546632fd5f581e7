#!/bin/bash
# timeout: 1500
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# Tier 2 (scripts/test-tier2): the cells of the grid over the NAT kinds of the two homes
# (none, easy, hard, and for the Pi easy with a router that maps ports over NAT-PMP;
# net.sh) that the first tier's reach-paths-across-nats leaves out for time. Each asserts
# the path the client ends on: direct to a public or port-mapped server, hole-punched
# where the server's mapping is predictable and the client's too (or the client is
# public), the relay where a symmetric NAT leaves nothing else; and that the stick
# attached and reads over it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../net.sh"
. "$(dirname "$0")/../reach.sh"

grid "none hard direct" "none none direct" "easy none punched" "hard none relay" "hard easy relay" \
  "mapped hard direct"
echo "PASS: the other cells of the grid across NAT kinds ($summary)"
