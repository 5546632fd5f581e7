#!/bin/bash
# timeout: 1200
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# Path selection (network namespaces, usbp2p-relay on the public side): the session starts
# through the relay and moves to a direct path where one exists.
#  0. Same LAN: a laptop beside the Pi finds it by mDNS and connects directly, without a
#     relay at all, and with one configured (the LAN path wins the race).
#  1. One cell of the grid over the NAT kinds of the two homes (net.sh) per kind of path
#     the client can end on, each asserting that path and that the stick attached and
#     reads over it: direct to a public server, hole-punched between two easy NATs, the
#     relay where the client's symmetric NAT defeats punching and where both are
#     symmetric, direct to the port a router mapped over NAT-PMP. The grid's other six
#     cells are the second tier's (Tests/Guest/tier2/reach-every-nat-pair.sh); the move
#     between paths during a write is path-moves-during-a-write (the two guests at a time
#     share them).
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

log "1. the grid: a cell per kind of path"
grid "none easy direct" "easy easy punched" "easy hard relay" "hard hard relay" "mapped easy direct"
echo "PASS: the LAN path by mDNS, and each kind of path across NAT kinds ($summary)"
