#!/bin/bash
# timeout: 1200
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# Path selection (network namespaces, usbp2p-relay on the public side): the session starts
# through the relay and moves to a direct path where one exists.
#  0. Same LAN: a laptop beside the Pi finds it by mDNS and connects directly, without a
#     relay at all, and with one configured (the LAN path wins the race).
#  1. A grid over the NAT kinds of the two homes (none, easy, hard, and for the Pi easy with
#     a router that maps ports over NAT-PMP; net.sh): each cell asserts the path the client
#     ends on — direct to a public or port-mapped server, hole-punched where the server's
#     mapping is predictable and the client's too (or the client is public), the relay
#     where a symmetric NAT leaves nothing else — and that the stick attached and reads
#     over it.
# The move between paths during a write is path-moves-during-a-write (the two guests at a
# time share the work).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net.sh"
. "$(dirname "$0")/reach.sh"

log "0. same LAN: found by mDNS"
net_down 2>/dev/null; net_up easy easy
join_lan natpi lanmate 10.1.0.3
sed '/^relay\./d' $work/laptop.toml > $work/lanmate.toml   # no relay: the LAN alone
ip netns exec wan "$bin/usbp2p-relay" serve --config $work/relay.toml >> $work/relay.log 2>&1 &
ip netns exec pi "$bin/usbp2pd" serve --config $work/pi.toml --log-level debug > $work/pi-lan.log 2>&1 &
watching=($work/pi-lan.log $work/list-lan.log $work/attach-lan.log)
wait_for 30 "usbp2pd to answer mDNS" grep -q "mDNS: answering" $work/pi-lan.log
ip netns exec lanmate "$bin/usbp2p-client" list --config $work/lanmate.toml "$pi_id" > $work/list-lan.log 2>&1 \
  || fail "listing over the LAN without a relay failed"
grep -q "$busid  $vid:$pid" $work/list-lan.log || fail "the stick is not in the list found by mDNS"
wait_for 30 "usbp2pd to register at the relay" grep -q "registered at relay" $work/pi-lan.log
ip netns exec lanmate "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id" "$busid" \
  > $work/attach-lan.log 2>&1 &
attach_pid=$!
wait_for 60 "the stick imported over the LAN" at_least 2 $vid $pid
imported=$(busid_of $vid $pid 2)
grep -qE "^path: direct 10.1.0.2:7575 \(LAN, mDNS\)$" $work/attach-lan.log \
  || fail "the LAN path did not carry the session"
reads_back
sed 's/^/    /' $work/attach-lan.log
stop
log "same LAN: $(grep '^path: ' $work/attach-lan.log | tail -n1)"

log "1. the grid"
grid "none easy direct" "none hard direct" "easy none punched" "easy easy punched" "easy hard relay" \
  "hard none relay" "hard easy relay" "hard hard relay" "none none direct" "mapped easy direct" \
  "mapped hard direct"
echo "PASS: the LAN path by mDNS, and paths across NAT kinds ($summary)"
