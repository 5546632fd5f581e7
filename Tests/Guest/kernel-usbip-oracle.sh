#!/bin/bash
# The oracle itself: the kernel's usbipd exports a SourceSink gadget and the kernel's
# `usbip attach` imports it over loopback, so a second copy enumerates on vhci_hcd.
# Proves the guest can run every later test's reference path.
. "$(dirname "$0")/lib.sh"
sourcesink_gadget
busid=$(busid_of $ss_vid $ss_pid)
log "gadget at $busid"
modprobe usbip-host
modprobe vhci-hcd
usbipd -D
usbip bind -b "$busid"
usbip list -r 127.0.0.1
usbip attach -r 127.0.0.1 -b "$busid"
wait_for 20 "the imported copy to enumerate" at_least 2 $ss_vid $ss_pid
lsusb -d $ss_vid:$ss_pid
usbip port
echo "PASS: kernel usbip imports the gadget"
