#!/bin/bash
# timeout: 1500
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
#  2. Relay first, then direct, then the relay again, during one checksummed write: the
#     direct path is blocked at first, opened while the data flows (the session moves onto
#     the punched path), then cut (back to the relay); every byte reads back and the stick
#     was never re-enumerated.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net.sh"
usb_stick
work=/tmp/reach
net_logs=$work
# On a failure, the logs of the step that failed; always, every log to the results.
watching=()
show_logs() {
  local f
  for f in "${watching[@]}"; do [ -f "$f" ] && { echo "-- $f"; tail -n 40 "$f"; }; done
}
trap 'status=$?; [ $status -eq 0 ] || show_logs; cp $work/*.log "${USBP2P_RESULTS:-/tmp}/" 2>/dev/null; net_down' EXIT

endpoints $work

# start PI-KIND LAPTOP-KIND LOG: fresh homes, the relay, usbp2pd, and usbp2p-client attach
# (its output in LOG); waits until the stick is imported.
start() {
  net_down 2>/dev/null; net_up "$1" "$2"
  ip netns exec wan "$bin/usbp2p-relay" serve --config $work/relay.toml >> $work/relay.log 2>&1 &
  ip netns exec pi "$bin/usbp2pd" serve --config $work/pi.toml --log-level debug > $work/pi-$1-$2.log 2>&1 &
  wait_for 30 "usbp2pd to register at the relay" grep -q "registered at relay" $work/pi-$1-$2.log
  # A router that maps ports: the laptop comes once the mapping is there, so that the
  # cell shows the mapped path rather than racing it against punching.
  if [ "$1" = mapped ]; then
    wait_for 30 "usbp2pd to map its port" grep -q "port mapping: " $work/pi-$1-$2.log
  fi
  watching=("$3" $work/pi-$1-$2.log $work/relay.log $work/natpmp-natpi.log)
  ip netns exec laptop "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id" "$busid" > "$3" 2>&1 &
  attach_pid=$!
  wait_for 60 "the stick imported ($1 / $2)" at_least 2 $vid $pid
  imported=$(busid_of $vid $pid 2)
}

# stop: detaches (Ctrl-C's path) and ends every process in the namespaces; usbp2pd
# first, so that it removes a port mapping while the router still runs.
stop() {
  kill -TERM "$attach_pid"; wait "$attach_pid" || true
  wait_for 20 "the stick to be detached" exactly 1 $vid $pid
  ip netns pids pi | xargs -r kill
  wait_for 15 "usbp2pd to stop" pi_gone
  net_down
}
pi_gone() { [ -z "$(ip netns pids pi)" ]; }

disk_of() { ls /sys/bus/usb/devices/$imported:1.0/host*/target*/*/block/ 2>/dev/null | head -n1; }

# reads_back: the imported stick's first MiB can be read (over whatever path is in use).
reads_back() {
  wait_for 30 "a disk on the imported stick" disk_of
  dd if=/dev/$(disk_of) of=/dev/null bs=64k count=16 iflag=direct status=none || fail "reading the stick failed"
}

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
summary=""
for cell in "none easy direct" "none hard direct" "easy none punched" "easy easy punched" "easy hard relay" \
  "hard none relay" "hard easy relay" "hard hard relay" "none none direct" "mapped easy direct" \
  "mapped hard direct"; do
  set -- $cell
  out=$work/attach-$1-$2.log
  log "pi behind '$1', laptop behind '$2': expecting $3"
  start "$1" "$2" "$out"
  case $3 in
    direct)
      wait_for 60 "a direct path" grep -qE "^path: direct [0-9.]+:7575$" "$out" ;;
    punched)
      wait_for 60 "a hole-punched path" grep -qE "^path: direct .*\(hole-punched\)$" "$out" ;;
    relay)
      wait_for 90 "the search for a direct path to end" grep -q "staying on the relay" "$out"
      grep -q "^path: direct" "$out" && fail "a direct path was used behind '$1' / '$2'" ;;
  esac
  if [ "$1" = mapped ]; then
    # The router may answer after usbp2pd gave up on its first exchange (under
    # emulation, on a loaded machine): the next try comes 5 s later.
    wait_for 30 "usbp2pd to map its port on the router" \
      grep -q "port mapping: 198.18.1.2:7575 → port 7575 (NAT-PMP" $work/pi-$1-$2.log
  fi
  reads_back
  path=$(grep "^path: " "$out" | tail -n1)
  sed 's/^/    /' "$out"
  log "$1 / $2: $path"
  summary+="$1/$2: ${path#path: }; "
  stop
  if [ "$1" = mapped ]; then
    grep -q "removed 198.18.1.2:7575" $work/natpmp-natpi.log || fail "usbp2pd did not remove its port mapping at stop"
  fi
done
log "grid: $summary"

log "2. relay, then direct, then the relay again, during a checksummed write"
block() { ip netns exec wan nft add table ip block \; add chain ip block forward \
  '{ type filter hook forward priority -10; }' \; add rule ip block forward \
  ip saddr . ip daddr '{ 198.18.1.2 . 198.18.2.2, 198.18.2.2 . 198.18.1.2 }' drop; }
unblock() { ip netns exec wan nft delete table ip block; }
out=$work/attach-move.log
net_down 2>/dev/null; net_up easy easy; block
# start() builds the network anew: do its other steps here, with the direct path blocked.
ip netns exec wan "$bin/usbp2p-relay" serve --config $work/relay.toml >> $work/relay.log 2>&1 &
ip netns exec pi "$bin/usbp2pd" serve --config $work/pi.toml --log-level debug > $work/pi-move.log 2>&1 &
wait_for 30 "usbp2pd to register at the relay" grep -q "registered at relay" $work/pi-move.log
watching=($out $work/pi-move.log $work/relay.log)
ip netns exec laptop "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id" "$busid" > $out 2>&1 &
attach_pid=$!
wait_for 60 "the stick imported through the relay" at_least 2 $vid $pid
imported=$(busid_of $vid $pid 2)
devnum=$(cat /sys/bus/usb/devices/$imported/devnum)
wait_for 30 "a disk on the imported stick" disk_of
disk=/dev/$(disk_of)
wait_for 60 "the first search to give up (direct path blocked)" grep -q "staying on the relay" $out
# 128 KiB at a time with pauses, until told to stop: the write spans every move.
head -c $((64 << 20)) < <(yes "usbp2p reach marker") > $work/data
rm -f $work/stop $work/chunks
(
  i=0
  while [ ! -e $work/stop ] && [ $i -lt 500 ]; do
    dd if=$work/data of="$disk" bs=128k skip=$i seek=$i count=1 oflag=direct conv=notrunc status=none \
      || { echo "write $i failed"; exit 1; }
    i=$((i + 1)); echo $i > $work/chunks; sleep 0.2
  done
) &
writer=$!
# chunks_past N: the writer has written more than N chunks.
chunks_past() { [ "$(cat $work/chunks 2>/dev/null || echo 0)" -gt "$1" ]; }
wait_for 60 "the first chunks on the relay" chunks_past 8
log "opening the direct path"
unblock
wait_for 60 "the session to move to the punched path" grep -qE "^path: direct .*\(hole-punched\)$" $out
kill -0 $writer 2>/dev/null || fail "the write ended before the session moved"
moved_at=$(cat $work/chunks)
log "moved after $moved_at chunks; cutting the direct path once more have gone"
wait_for 60 "chunks on the direct path" chunks_past $((moved_at + 8))
block
wait_for 60 "the session to resume through the relay" grep -qE "^resumed: .*path: relay" $out
kill -0 $writer 2>/dev/null || fail "the write ended before the session went back to the relay"
back_at=$(cat $work/chunks)
wait_for 60 "chunks on the relay again" chunks_past $((back_at + 8))
touch $work/stop
wait $writer || fail "writing to the stick failed across the moves"
chunks=$(cat $work/chunks)
echo 3 > /proc/sys/vm/drop_caches
written=$(head -c $((chunks * 131072)) $work/data | sha256sum | cut -d' ' -f1)
read_back=$(dd if="$disk" bs=128k count=$chunks iflag=direct status=none | sha256sum | cut -d' ' -f1)
echo "written   $written ($chunks chunks of 128 KiB)"; echo "read back $read_back"
[ "$written" = "$read_back" ] || fail "the data read back differs from what was written"
[ "$(busid_of $vid $pid 2)" = "$imported" ] && [ "$(cat /sys/bus/usb/devices/$imported/devnum)" = "$devnum" ] \
  || fail "the stick was re-enumerated"
grep -q "session ended" $out && fail "the session ended instead of moving"
cat $out
stop
echo "PASS: paths across NAT kinds ($summary) and a checksummed write across relay → direct → relay moves"
