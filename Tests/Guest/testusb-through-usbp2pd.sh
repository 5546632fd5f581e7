#!/bin/bash
# The kernel's usbtest driver and testusb tool exercise the SourceSink gadget through
# usbp2pd + the kernel's vhci: bulk OUT and IN at fixed and varying sizes, control
# requests (chapter 9 and queued), control OUT, and the unlink and halt cases: reads and
# writes unlinked in flight, unlinks from a queue of 32 writes, endpoint halts set and
# cleared. Each case moves real data through the exporter's libusb transfers and must
# report no error; the unlink cases fail (or hang the importer) if a RET_UNLINK ever
# overtakes the RET_SUBMIT of its URB.
. "$(dirname "$0")/lib.sh"
sourcesink_gadget
busid=$(busid_of $ss_vid $ss_pid)
modprobe vhci-hcd
start_usbp2pd
trap 'echo "-- usbp2pd log (tail)"; tail -n 20 /tmp/usbp2pd.log' EXIT
usbip attach -r 127.0.0.1 -b "$busid"
wait_for 30 "the imported copy to enumerate" at_least 2 $ss_vid $ss_pid
imported=$(busid_of $ss_vid $ss_pid 2)
modprobe usbtest
wait_for 10 "usbtest to bind the imported device" test -e "/sys/bus/usb/devices/$imported:1.0/driver"
node=$(usb_node "$imported")
log "testusb through usbp2pd on $node"
run_testusb "$node" 1 200 4096     # bulk OUT
run_testusb "$node" 2 200 4096     # bulk IN
run_testusb "$node" 3 100 4096     # bulk OUT, varying sizes
run_testusb "$node" 4 100 4096     # bulk IN, varying sizes
run_testusb "$node" 9 20 0         # chapter 9 control requests
run_testusb "$node" 10 20 0        # queued control requests
run_testusb "$node" 14 20 256 31   # control OUT, 1..256 bytes
run_testusb "$node" 11 100 512     # unlink reads in flight
run_testusb "$node" 12 100 512     # unlink writes in flight
run_testusb "$node" 24 20 512      # unlink from a queue of 32 writes
run_testusb "$node" 13 20 0        # set and clear endpoint halts
# (grep reads the whole log: with pipefail, grep -q ending a pipe from dmesg early would
# make a match look like none.)
grep -q "cannot find a urb" <(dmesg) && fail "vhci_hcd met a RET_SUBMIT for a URB it no longer had"
[ -e "/sys/bus/usb/devices/$imported" ] || fail "the imported device was dropped"
echo "PASS: testusb bulk, control, unlink and halt cases through usbp2pd"
