#!/bin/bash
# The guest boots Debian's kernel and sees the project: a first check of the harness.
set -eu
uname -r
test -x "$(dirname "$0")/../../.build/debug/usbp2pd" && echo "project binaries visible"
modprobe vhci-hcd && ls -d /sys/devices/platform/vhci_hcd.0 && echo "vhci_hcd loaded"
