#!/bin/bash
# timeout: 900
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# A session that moves between paths while a write goes on (network namespaces; the homes
# behind easy NATs, so a hole-punched path exists once the wan lets it through): relay
# first, then direct, then the relay again, during one checksummed write. The direct path
# is blocked at first, opened while the data flows (the session moves onto the punched
# path), then cut (back to the relay); every byte reads back and the stick was never
# re-enumerated.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net.sh"
. "$(dirname "$0")/reach.sh"

log "relay, then direct, then the relay again, during a checksummed write"
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
echo "PASS: a checksummed write across relay → direct → relay moves, every byte read back, the stick never re-enumerated"
