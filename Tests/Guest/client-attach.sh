#!/bin/bash
# usbp2p-client attach --usbip imports from the kernel's usbipd (usbip-host) and from
# usbp2pd; through each, testusb's bulk and control cases pass; detach gives the device
# back and a second attach works.
. "$(dirname "$0")/lib.sh"
sourcesink_gadget
busid=$(busid_of $ss_vid $ss_pid)

log "without vhci_hcd, the client says how to load it"
out=$("$bin/usbp2p-client" ports 2>&1) && fail "ports succeeded without vhci_hcd"
echo "$out"; echo "$out" | grep -q "modprobe vhci-hcd" || fail "no hint to load vhci-hcd"

modprobe vhci-hcd
modprobe usbip-host
modprobe usbtest

log "without root, attach says it needs root, and the server gets the device back"
usbipd -D
usbip bind -b "$busid"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp "$bin/usbp2p-client" attach --usbip 127.0.0.1 "$busid" 2>&1) \
  && fail "attach as nobody succeeded"
echo "$out"; echo "$out" | grep -q "needs root" || fail "no 'needs root' for an unprivileged attach"
usbip unbind -b "$busid"
pkill usbipd || true
wait_for 10 "usbipd to stop" bash -c '! pgrep -x usbipd'

check_import() {  # check_import SERVER-NAME PORT-OF-SERVER
  local name=$1 server=$2 line port imported
  line=$("$bin/usbp2p-client" attach --usbip "$server" "$busid") || fail "attach from $name failed"
  echo "$line"
  port=$(echo "$line" | sed -n 's/.* on port \([0-9]*\)$/\1/p')
  [ -n "$port" ] || fail "attach did not say the port"
  wait_for 30 "the copy from $name to enumerate" at_least 2 $ss_vid $ss_pid
  imported=$(busid_of $ss_vid $ss_pid 2)
  wait_for 10 "usbtest to bind the copy from $name" test -e "/sys/bus/usb/devices/$imported:1.0/driver"
  node=$(usb_node "$imported")
  run_testusb "$node" 1 100 4096
  run_testusb "$node" 2 100 4096
  run_testusb "$node" 9 10 0
  run_testusb "$node" 14 10 256 31
  "$bin/usbp2p-client" ports | grep -q "^port $port " || fail "ports does not list port $port"
  "$bin/usbp2p-client" detach "$port"
  wait_for 20 "the copy from $name to go away" exactly 1 $ss_vid $ss_pid
  echo "ok: attach, testusb and detach with $name"
}

log "from the kernel's usbipd"
usbipd -D
usbip bind -b "$busid"
check_import "usbipd" 127.0.0.1
usbip unbind -b "$busid"
pkill usbipd || true
wait_for 10 "usbipd to stop" bash -c '! pgrep -x usbipd'

log "from usbp2pd"
# usbip-host let go of the gadget: the usbtest driver may have bound it meanwhile,
# and usbp2pd detaches it on import.
start_usbp2pd
trap 'echo "-- usbp2pd log (tail)"; tail -n 20 /tmp/usbp2pd.log' EXIT
"$bin/usbp2p-client" list --usbip 127.0.0.1 | tee /tmp/list
grep -q "^$busid  $ss_vid:$ss_pid  high" /tmp/list || fail "list does not show $busid"
check_import "usbp2pd" 127.0.0.1:3240
log "a second import after detach"
check_import "usbp2pd again" 127.0.0.1:3240

log "errors say what is wrong"
out=$("$bin/usbp2p-client" attach --usbip 127.0.0.1 9-9 2>&1) && fail "attach of a missing device succeeded"
echo "$out"; echo "$out" | grep -q "device not found" || fail "no clear message for a missing device"
out=$("$bin/usbp2p-client" attach --usbip 127.0.0.1:1 "$busid" 2>&1) && fail "attach to a closed port succeeded"
echo "$out"; echo "$out" | grep -qi "refused" || fail "no clear message for a refused connection"
echo "PASS: usbp2p-client attaches from usbipd and usbp2pd, testusb passes, detach works"
