#!/bin/bash
# A HID keyboard (configfs usb_f_hid gadget on dummy_hcd) imported with usbp2p-client,
# from usbp2pd and then from the kernel's usbipd: a key report written on the device side
# arrives on the importing side's hidraw node, through the interrupt IN endpoint.
. "$(dirname "$0")/lib.sh"
keyboard_gadget
busid=$keyboard
modprobe vhci-hcd
modprobe usbip-host

key_press() {  # key_press SERVER-NAME: attach, press and release 'a', check, detach
  local node reader
  attach_copy "$1" "$busid" 1d6b 0104
  hidraw_of() { ls /sys/bus/usb/devices/$imported:1.0/*/hidraw/ 2>/dev/null | head -n1; }
  wait_for 20 "a hidraw node on the imported keyboard" hidraw_of
  node=/dev/$(hidraw_of)
  wait_for 10 "$node" test -c "$node"
  log "keyboard imported from $1; its reports arrive on $node"
  timeout 20 head -c 16 "$node" > /tmp/received &
  reader=$!
  # Reports are delivered only while the node is open (usbhid polls then): press once
  # the reader holds it.
  wait_for 10 "the reader to open $node" holds_open "$reader" "$node"
  # Press and release 'a' (usage 0x04) on the device side.
  printf '\x00\x00\x04\x00\x00\x00\x00\x00' > /dev/hidg0
  printf '\x00\x00\x00\x00\x00\x00\x00\x00' > /dev/hidg0
  wait "$reader" || fail "the key reports from $1 did not arrive on $node"
  od -An -tx1 /tmp/received
  [ "$(od -An -tx1 /tmp/received | tr -d ' \n')" = "00000400000000000000000000000000" ] || fail "the reports arrived changed"
  detach_copy 1d6b 0104
}

start_usbp2pd
key_press usbp2pd
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
usbipd -D
usbip bind -b "$busid"
key_press usbipd
echo "PASS: a key press on a HID keyboard reaches the importing side through usbp2pd and through usbipd"
