#!/bin/bash
# Runs in the test guest (scripts/bench-e2e): two devices imported together, a HID keyboard
# (configfs gadget on dummy_hcd) and a USB stick (qemu's usb-storage), from a laptop
# namespace over a veth, by two paths in one run:
#   session     one `usbp2p-client attach` of both: one session, both devices in it
#   kernel+wg   the kernel's usbip-host and `usbip attach` inside WireGuard
# A key press's report latency (written on the gadget, read from the laptop's hidraw node:
# Benchmarks/e2e/key-latency.py) is timed alone, while the stick streams reads (its data
# runs the same way as the key reports, server to laptop), while it streams writes, and
# alone again; each bulk stream's MB/s is printed next to it. Each path is measured twice,
# in the order session, kernel+wg, kernel+wg, session. The session sends the frames of a
# channel with little queued (the keyboard's) before a backlogged one's, and while several
# devices share it writes one TLS record at a time: a stream should add at most a few
# milliseconds. Under emulation the stream also takes the guest's CPUs, which the kernel's
# path shows on its own.
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
for m in vhci-hcd usbip-host; do modprobe $m; done
bench_network $work
pair_for_bench $work
ip netns exec bpi "$bin/usbp2pd" serve --config $work/pi.toml --log-level warning > $work/pi.log 2>&1 &
pi_pid=$!
wait_for 30 "usbp2pd to listen" ip netns exec bpi bash -c 'exec 3<>/dev/tcp/10.77.0.1/7575'
ip netns exec bpi usbipd -D
head -c 32M /dev/urandom > $work/pattern

# attach PATH / detach PATH: both devices imported over a path, and let go. Sets kbd and
# copy (the imported copies' bus ids), node (the keyboard's hidraw) and disk.
attach() {
  local busid
  case $1 in
    session)
      for busid in "$keyboard" "$stick"; do usbip unbind -b "$busid" > /dev/null 2>&1 || true; done
      ip netns exec blap "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id@10.77.0.1:7575" \
        "$keyboard" "$stick" > $work/attach.log 2>&1 &
      attach_pid=$! ;;
    kernel+wg)
      for busid in "$keyboard" "$stick"; do
        usbip bind -b "$busid" > /dev/null 2>&1 || true  # (fails when it is bound already)
        ip netns exec blap usbip attach -r 10.78.0.1 -b "$busid" || fail "usbip attach of $busid failed"
      done ;;
  esac
  kbd=$(imported 1d6b 0104); copy=$(imported 46f4 0001)
  hidraw_of() { ls /sys/bus/usb/devices/$kbd:1.0/*/hidraw/ 2>/dev/null | head -n1; }
  wait_for 20 "a hidraw node on the imported keyboard" hidraw_of
  node=/dev/$(hidraw_of); wait_for 10 "$node" test -c "$node"
  stick_disk "$copy"
}
detach() {
  case $1 in
    session) kill $attach_pid; wait $attach_pid 2> /dev/null || true ;;
    kernel+wg)
      local port
      for port in $(usbip port | sed -n 's/^Port \([0-9]*\):.*/\1/p'); do usbip detach -p "$port" > /dev/null; done ;;
  esac
  copy_gone 1d6b 0104; copy_gone 46f4 0001
}

# stream PATH read|write: moves 32 MiB over and over with direct I/O, appending each
# pass's seconds to $work/PATH-stream-KIND, until killed.
stream() {
  while true; do
    local t0 t1; t0=$(date +%s.%N)
    if [ "$2" = read ]; then dd if="$disk" of=/dev/null bs=1M count=32 iflag=direct status=none
    else dd if=$work/pattern of="$disk" bs=1M count=32 oflag=direct status=none; fi || exit 1
    t1=$(date +%s.%N); echo "$t0 $t1" | awk '{print $2 - $1}' >> "$work/$1-stream-$2"
  done
}
# measure PATH LABEL: the key latencies, appended to $work/PATH-LABEL
measure() {
  python3 "$here/key-latency.py" /dev/hidg0 "$node" $presses > "$work/last" || fail "$1 $2: key reports failed"
  cat "$work/last" >> "$work/$1-$2"
  log "$1 $2: $(sort -n "$work/last" | awk '{a[NR] = $1} END {print "median", a[int(NR / 2) + 1], "ms"}')"
}
passes() { if [ -f "$work/$1-stream-$2" ]; then wc -l < "$work/$1-stream-$2"; else echo 0; fi; }
passes_over() { [ "$(passes "$1" "$2")" -gt "$3" ]; }
# run PATH: one pass of the four measurements over PATH
run() {
  attach "$1"
  measure "$1" alone
  local kind streamer before
  for kind in read write; do
    before=$(passes "$1" $kind)
    stream "$1" $kind & streamer=$!
    wait_for 180 "a first $kind pass to finish" passes_over "$1" $kind "$before"
    measure "$1" "during-$kind"
    kill $streamer; wait $streamer 2> /dev/null || true
    pkill -x dd || true
  done
  measure "$1" alone-again
  detach "$1"
}
for path in session kernel+wg kernel+wg session; do run $path; done
kill $pi_pid; pkill usbipd

stats() {  # stats FILE: median, 90th percentile, max (ms)
  sort -n "$1" | awk '{a[NR] = $1} END {printf "%8.2f %8.2f %8.2f", a[int(NR / 2) + 1], a[int(NR * 0.9)], a[NR]}'
}
median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int(NR / 2) + 1]}'; }
printf '%-10s %-12s %8s %8s %8s %12s %12s\n' path "key report" "median" "p90" "max" "stream MB/s" "added ms"
for path in session kernel+wg; do
  for label in alone during-read during-write alone-again; do
    mbs="" added=""
    case $label in during-*)
      mbs=$(awk '{s += $1} END {printf "%.2f", 33.554432 / (s / NR)}' "$work/$path-stream-${label#during-}")
      added=$(awk -v d="$(median "$work/$path-$label")" -v a="$(median "$work/$path-alone")" 'BEGIN {printf "%.2f", d - a}') ;;
    esac
    printf '%-10s %-12s %s %12s %12s\n' "$path" "$label" "$(stats "$work/$path-$label")" "$mbs" "$added"
  done
done
echo "ms; $((2 * presses)) presses per row, two passes per path; added: the median during a stream less the median alone"
echo "target: a stream adds at most a few ms to the session's median"
