#!/bin/bash
# Runs in the test guest (scripts/bench-e2e): two devices in one session, a HID keyboard
# (configfs gadget on dummy_hcd) and a USB stick (qemu's usb-storage), attached by one
# `usbp2p-client attach` from a laptop namespace over a veth. A key press's report latency
# (written on the gadget, read from the laptop's hidraw node: Benchmarks/e2e/key-latency.py)
# is timed alone, while the stick streams reads (its data runs the same way as the key
# reports, server to laptop) and while it streams writes; each bulk stream's MB/s is
# printed next to it. The session sends control and interrupt traffic first: a stream
# should add at most a few milliseconds.
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
. "$(dirname "$0")/../../Tests/Guest/lib.sh"
. "$(dirname "$0")/../../Tests/Guest/net.sh"
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
work=/tmp/key-latency; rm -rf $work; mkdir -p $work
presses=200
keyboard_gadget
wait_for 30 "the USB stick to enumerate" busid_of 46f4 0001
stick=$(busid_of 46f4 0001)
for m in vhci-hcd veth; do modprobe $m; done
for ns in bpi blap; do ip netns add $ns; ip -n $ns link set lo up; done
link bpi eth0 10.77.0.1/24 blap eth0 10.77.0.2/24

pair_for_bench $work
ip netns exec bpi "$bin/usbp2pd" serve --config $work/pi.toml --log-level warning > $work/pi.log 2>&1 &
pi_pid=$!
wait_for 30 "usbp2pd to listen" ip netns exec bpi bash -c 'exec 3<>/dev/tcp/10.77.0.1/7575'
ip netns exec blap "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id@10.77.0.1:7575" \
  "$keyboard" "$stick" > $work/attach.log 2>&1 &
attach_pid=$!
wait_for 60 "the imported keyboard" at_least 2 1d6b 0104
wait_for 60 "the imported stick" at_least 2 46f4 0001
kbd=$(busid_of 1d6b 0104 2); copy=$(busid_of 46f4 0001 2)
hidraw_of() { ls /sys/bus/usb/devices/$kbd:1.0/*/hidraw/ 2>/dev/null | head -n1; }
wait_for 20 "a hidraw node on the imported keyboard" hidraw_of
node=/dev/$(hidraw_of); wait_for 10 "$node" test -c "$node"
disk_of() { ls /sys/bus/usb/devices/$copy:1.0/host*/target*/*/block/ 2>/dev/null | head -n1; }
wait_for 30 "a disk on the imported stick" disk_of
disk=/dev/$(disk_of); wait_for 10 "$disk" test -b "$disk"
head -c 32M /dev/urandom > $work/pattern

# stream read|write: moves 32 MiB over and over with direct I/O, appending each pass's
# seconds to $work/stream-KIND, until killed.
stream() {
  while true; do
    local t0 t1; t0=$(date +%s.%N)
    if [ "$1" = read ]; then dd if="$disk" of=/dev/null bs=1M count=32 iflag=direct status=none
    else dd if=$work/pattern of="$disk" bs=1M count=32 oflag=direct status=none; fi || exit 1
    t1=$(date +%s.%N); echo "$t0 $t1" | awk '{print $2 - $1}' >> "$work/stream-$1"
  done
}
# measure LABEL: the key latencies into $work/LABEL
measure() {
  python3 "$here/key-latency.py" /dev/hidg0 "$node" $presses > "$work/$1" || fail "$1: key reports failed"
  log "$1: $(sort -n "$work/$1" | awk '{a[NR] = $1} END {print "median", a[int(NR / 2) + 1], "ms"}')"
}
measure alone
for kind in read write; do
  stream $kind & streamer=$!
  wait_for 180 "a first $kind pass to finish" test -s "$work/stream-$kind"
  measure "during-$kind"
  kill $streamer; wait $streamer 2> /dev/null || true
  pkill -x dd || true
done
measure "alone-again"
kill $attach_pid; wait $attach_pid 2> /dev/null || true
kill $pi_pid

stats() {  # stats FILE: median, 90th percentile, max (ms)
  sort -n "$1" | awk '{a[NR] = $1} END {printf "%10.2f %10.2f %10.2f", a[int(NR / 2) + 1], a[int(NR * 0.9)], a[NR]}'
}
printf '%-14s %10s %10s %10s %16s\n' "key report" "median ms" "p90 ms" "max ms" "stream MB/s"
for label in alone during-read during-write alone-again; do
  mbs=""
  case $label in during-*)
    mbs=$(awk '{s += $1} END {printf "%.2f", 33.554432 / (s / NR)}' "$work/stream-${label#during-}") ;;
  esac
  printf '%-14s %s %16s\n' "$label" "$(stats "$work/$label")" "$mbs"
done
echo "$presses presses each; target: a stream adds at most a few ms to the median"
