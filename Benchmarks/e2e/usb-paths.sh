#!/bin/bash
# Runs in the test guest (scripts/bench-e2e): the same SourceSink gadget imported through
# the kernel's usbip-host + vhci and through usbp2pd + vhci, measured with the kernel's
# usbtest/testusb in one run:
#   bulk OUT / IN throughput: testusb 27 / 28, 8 URBs of 16 KiB queued, 16 MiB per run
#   small-URB round trip:     testusb 1 / 2, one 512-byte URB (one packet) at a time, 500 per run
# Each figure is the median of 3 runs. Prints a table and usbp2pd's ratio to the kernel.
. "$(dirname "$0")/../../Tests/Guest/lib.sh"
sourcesink_gadget
busid=$(busid_of $ss_vid $ss_pid)
modprobe vhci-hcd
modprobe usbip-host
modprobe usbtest

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
secs() {  # secs NODE TEST COUNT SIZE [SGLEN]: seconds testusb reports
  "$testusb" -D "$1" -t "$2" -c "$3" -s "$4" ${5:+-g "$5"} 2>&1 | sed -n 's/.*test [0-9]*, *\([0-9.]*\) secs.*/\1/p'
}
measure() {  # measure NAME NODE: prints "NAME out_MBps in_MBps out_us in_us"
  local node=$2 out in lo li
  out=$(for i in 1 2 3; do secs "$node" 27 128 16384 8; done | median)
  in=$(for i in 1 2 3; do secs "$node" 28 128 16384 8; done | median)
  lo=$(for i in 1 2 3; do secs "$node" 1 500 512; done | median)
  li=$(for i in 1 2 3; do secs "$node" 2 500 512; done | median)
  awk -v n="$1" -v o="$out" -v i="$in" -v lo="$lo" -v li="$li" \
    'BEGIN { mb = 128 * 8 * 16384 / 1e6; printf "%s %.2f %.2f %.0f %.0f\n", n, mb / o, mb / i, lo / 500 * 1e6, li / 500 * 1e6 }'
}
copy_node() {
  wait_for 30 "the imported copy" at_least 2 $ss_vid $ss_pid
  local imported; imported=$(busid_of $ss_vid $ss_pid 2)
  wait_for 10 "usbtest on the copy" test -e "/sys/bus/usb/devices/$imported:1.0/driver"
  usb_node "$imported"
}

usbipd -D
usbip bind -b "$busid"
usbip attach -r 127.0.0.1 -b "$busid"
kernel=$(measure kernel "$(copy_node)")
usbip detach -p 0
wait_for 20 "the kernel's copy to go" test "$(count_devices $ss_vid $ss_pid)" -eq 1
usbip unbind -b "$busid"; pkill usbipd

start_usbp2pd --log-level warning
line=$("$bin/usbp2p-client" attach --usbip 127.0.0.1 "$busid")
ours=$(measure usbp2pd "$(copy_node)")

printf '%-10s %14s %14s %18s %18s\n' path "bulk OUT MB/s" "bulk IN MB/s" "512 B OUT RTT µs" "512 B IN RTT µs"
for row in "$kernel" "$ours"; do
  set -- $row; printf '%-10s %14s %14s %18s %18s\n' "$1" "$2" "$3" "$4" "$5"
done
set -- $kernel; k=("$@"); set -- $ours; o=("$@")
awk -v ko="${k[1]}" -v ki="${k[2]}" -v klo="${k[3]}" -v kli="${k[4]}" -v oo="${o[1]}" -v oi="${o[2]}" -v olo="${o[3]}" -v oli="${o[4]}" \
  'BEGIN { printf "%-10s %14.2f %14.2f %18.2f %18.2f\n", "ratio", oo / ko, oi / ki, olo / klo, oli / kli }'
echo "(ratio: usbp2pd / kernel; above 1 is faster for throughput, slower for round trips)"
