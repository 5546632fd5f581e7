#!/bin/bash
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# Time to first byte per path, and the time the session takes to move from the relay to
# a direct path, at 40 ms RTT between the homes (netem, inside the guest): each home
# router delays what it sends towards the internet by 20 ms, so laptop ↔ Pi and
# laptop ↔ relay ↔ Pi are both 40 ms round trips. A guest job (scripts/guest run, as
# scripts/bench-reach does); figures are under software emulation (TCG), so they include
# its slowness, TLS handshakes above all.
#
# Time to first byte: `usbp2p-client list` from start to its answer (a fresh process:
# TCP, TLS, session hellos, and a USB/IP device list), median of 5, per path:
#   LAN      found by mDNS on the Pi's own LAN (no delay on a LAN);
#   mapped   the port the Pi's router forwards (NAT-PMP), given as EndpointId@host:port;
#   relay    through usbp2p-relay (EndpointId alone; mDNS off, so no LAN attempt first);
#   relay+   the same with the default configuration (an mDNS attempt runs first, the
#            relay starts 0.5 s later).
# Upgrade: `attach` through the relay until the session runs on the direct path, as the
# client's own log measures it ("moved to … in N ms"), mapped and hole-punched, 3 each.
. "$(dirname "$0")/../../Tests/Guest/lib.sh"
. "$(dirname "$0")/../../Tests/Guest/net.sh"
vid=46f4; pid=0001
wait_for 30 "the USB stick to enumerate" busid_of $vid $pid
busid=$(busid_of $vid $pid)
modprobe vhci-hcd; modprobe sch_netem
work=/tmp/bench-reach
net_logs=$work
trap 'net_down' EXIT

endpoints $work
cp $work/laptop.toml $work/laptop-default.toml
echo 'lan.mdns = false' >> $work/laptop.toml

homes() {  # homes PI-KIND: the network, 20 ms on each router's way out, the relay and usbp2pd
  net_down 2>/dev/null; net_up "$1" easy
  join_lan natpi lanmate 10.1.0.3
  ip netns exec natpi tc qdisc add dev wan root netem delay 20ms
  ip netns exec natlap tc qdisc add dev wan root netem delay 20ms
  ip netns exec wan "$bin/usbp2p-relay" serve --config $work/relay.toml > $work/relay.log 2>&1 &
  ip netns exec pi "$bin/usbp2pd" serve --config $work/pi.toml > $work/pi.log 2>&1 &
  wait_for 30 "usbp2pd to register at the relay" grep -q "registered at relay" $work/pi.log
  if [ "$1" = mapped ]; then wait_for 30 "the port mapping" grep -q "port mapping: " $work/pi.log; fi
}

# ttfb NAMESPACE CONFIG SERVER: milliseconds of one `list`.
ttfb() {
  local start end
  start=$(date +%s%N)
  ip netns exec "$1" "$bin/usbp2p-client" list --config "$2" "$3" > $work/list.out 2>&1 \
    || fail "list failed: $(cat $work/list.out)"
  end=$(date +%s%N)
  grep -q "$busid" $work/list.out || fail "the stick is not in the list"
  echo $(((end - start) / 1000000))
}

median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# five NAMESPACE CONFIG SERVER: "median (all)".
five() {
  local all="" i
  for i in 1 2 3 4 5; do all+="$(ttfb "$@") "; done
  echo "$(echo $all | median) ms (runs: $all)"
}

# upgrade: one attach through the relay; the client's "moved to … in N ms".
upgrade() {
  ip netns exec laptop "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id" "$busid" \
    > $work/attach.log 2>&1 &
  local attach=$!
  wait_for 90 "the move to a direct path" grep -q "moved to direct" $work/attach.log
  sed -n 's/.*moved to \(.*\) in \([0-9]*\) ms$/\2/p' $work/attach.log | tail -n1
  wait_for 60 "the stick imported" at_least 2 $vid $pid
  kill -TERM $attach; wait $attach || true
  wait_for 20 "the stick to be detached" exactly 1 $vid $pid
}

homes easy
lan=$(five lanmate $work/laptop-default.toml "$pi_id")
relay=$(five laptop $work/laptop.toml "$pi_id")
relay_default=$(five laptop $work/laptop-default.toml "$pi_id")
punched=""; for i in 1 2 3; do punched+="$(upgrade) "; done
homes mapped
mapped=$(five laptop $work/laptop.toml "$pi_id@198.18.1.2:7575")
mapped_up=""; for i in 1 2 3; do mapped_up+="$(upgrade) "; done

echo "path       time to first byte (list), 40 ms RTT"
echo "LAN        $lan"
echo "mapped     $mapped"
echo "relay      $relay"
echo "relay+     $relay_default"
echo "upgrade    relay → mapped: $(echo $mapped_up | median) ms (runs: $mapped_up)"
echo "upgrade    relay → hole-punched: $(echo $punched | median) ms (runs: $punched)"
