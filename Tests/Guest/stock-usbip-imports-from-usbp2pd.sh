#!/bin/bash
# The kernel's own client imports from usbp2pd: `usbip list` shows the SourceSink gadget
# that usbp2pd exports through libusb, `usbip attach` brings it up on vhci_hcd, and the
# kernel enumerates it there (descriptors read through usbp2pd). The USB thread runs on
# the configured CPU.
. "$(dirname "$0")/lib.sh"
sourcesink_gadget
busid=$(busid_of $ss_vid $ss_pid)
modprobe vhci-hcd
"$bin/usbp2pd" devices | tee /tmp/devices
grep -q "^$busid .*$ss_vid:$ss_pid  usbp2p SourceSink test device  high" /tmp/devices || fail "devices does not name the gadget"
start_usbp2pd
trap 'echo "-- usbp2pd log"; cat /tmp/usbp2pd.log' EXIT

log "the USB thread's CPUs (guest has $(nproc), last is $(($(nproc) - 1)))"
cpus=$(thread_cpus "$server_pid" usbp2p-usb) || fail "no thread named usbp2p-usb"
[ "$cpus" = "$(($(nproc) - 1))" ] || fail "USB thread may run on CPUs '$cpus', expected only $(($(nproc) - 1))"
echo "USB thread pinned to CPU $cpus"

usbip list -r 127.0.0.1 | tee /tmp/list
grep -q "$busid: .*($ss_vid:$ss_pid)" /tmp/list || fail "usbip list does not show $busid"
usbip attach -r 127.0.0.1 -b "$busid"
wait_for 30 "the imported copy to enumerate" at_least 2 $ss_vid $ss_pid
imported=$(busid_of $ss_vid $ss_pid 2)
log "imported as $imported"
cat /sys/bus/usb/devices/$imported/product
[ "$(cat /sys/bus/usb/devices/$imported/product)" = "SourceSink test device" ] || fail "product string not read through usbp2pd"
usbip port
echo "PASS: the kernel's usbip imports the SourceSink gadget from usbp2pd"
