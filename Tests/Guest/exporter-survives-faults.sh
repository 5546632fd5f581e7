#!/bin/bash
# usbp2pd under faults: garbage, truncated and hostile PDUs close only their connection;
# iso URBs to a missing endpoint get well-formed error replies, iso packets outside their
# buffer close only their connection;
# a silent connection is dropped after the op-phase timeout while others are served; a
# second importer gets "busy"; detaching during a transfer, an importer that dies with
# URBs in flight, and unplugging the device all free the device for a fresh import.
. "$(dirname "$0")/lib.sh"
sourcesink_gadget
busid=$(busid_of $ss_vid $ss_pid)
modprobe vhci-hcd
modprobe usbtest
start_usbp2pd
# Its log, and on a failure where each of its threads waits in the kernel (a USB thread
# that stopped going round once failed an import here).
trap 'status=$?; [ $status -eq 0 ] || { echo "-- usbp2pd threads"; thread_stacks "$server_pid"; }
  echo "-- usbp2pd log (tail)"; tail -n 40 /tmp/usbp2pd.log' EXIT

serving() { usbip list -r 127.0.0.1 2>/dev/null | grep -q "$busid:"; }
alive() { kill -0 "$server_pid" || fail "usbp2pd died"; serving || fail "usbp2pd stopped serving"; }
# send_raw HEX [SECONDS]: sends the bytes on a new connection and waits (5 s unless
# told) for the server to close it.
send_raw() {
  exec 3<>/dev/tcp/127.0.0.1/3240
  printf "$(printf '%s' "$1" | tr -d ' ' | sed 's/../\\x&/g')" >&3
  local rc=0
  timeout "${2:-5}" cat <&3 > /dev/null 2>&1 || rc=$?
  [ $rc -ne 124 ] || fail "the server kept a bad connection open"  # EOF or reset: closed
  exec 3>&-
}
busid_hex=$(printf '%s' "$busid" | od -An -tx1 | tr -d ' \n')
import_request="01118003 00000000 ${busid_hex}$(printf '0%.0s' $(seq 1 $((64 - ${#busid_hex}))))"

log "garbage, truncated and hostile PDUs"
send_raw "474554202f20485454502f312e310d0a0d0a"                 # an HTTP request
send_raw "01118003 00000000 31" 15  # OP_REQ_IMPORT cut short: closed at the op-phase timeout
send_raw "00000001 00000001 00010002 00000000 00000001 00000000 ffffffff 00000000 ffffffff 00000000 0000000000000000"  # CMD_SUBMIT before import
send_raw "01118005 00000000 01118005"                            # devlist, then more
alive
log "isochronous error replies: a URB to an endpoint the device lacks, packets outside the buffer"
# An iso CMD_SUBMIT (IN, endpoint 5, 2 packets of 192 bytes) after a real import: the
# reply must be a whole RET_SUBMIT carrying both descriptors (once a codec trap that took
# the daemon down), and the connection stays up.
devid=$(printf '%08x' $(( $(cat "/sys/bus/usb/devices/$busid/busnum") << 16 | $(cat "/sys/bus/usb/devices/$busid/devnum") )))
hexbytes() { printf "$(printf '%s' "$1" | tr -d ' ' | sed 's/../\\x&/g')"; }
iso_head="00000001 00000001 $devid 00000001 00000005 00000000 00000180 00000000 00000002 00000001 0000000000000000"
exec 3<>/dev/tcp/127.0.0.1/3240
hexbytes "$import_request" >&3
[ "$(timeout 10 head -c 320 <&3 | od -An -tx1 | tr -d ' \n' | cut -c9-16)" = 00000000 ] || fail "the import was refused"
hexbytes "$iso_head 00000000 000000c0 00000000 00000000 000000c0 000000c0 00000000 00000000" >&3
reply=$(timeout 10 head -c 80 <&3 | od -An -tx1 | tr -d ' \n')
echo "RET_SUBMIT: $reply"
[ ${#reply} -eq 160 ] || fail "no whole RET_SUBMIT (48 + 2 x 16 bytes) for the iso URB to a missing endpoint"
[ "${reply:0:8}" = 00000003 ] || fail "the reply is not a RET_SUBMIT"
[ "${reply:40:8}" = fffffffe ] || fail "status ${reply:40:8}, not -ENOENT"
[ "${reply:64:8}" = 00000002 ] || fail "number_of_packets ${reply:64:8}, not 2"
[ "${reply:120:8}${reply:152:8}" = fffffffefffffffe ] || fail "the packets' status is not -ENOENT"
exec 3>&-
alive
# Packets outside the URB's buffer (offset 0, 4096 bytes of a 384-byte buffer): refused,
# that connection closed, the server serving on.
send_raw "$import_request $iso_head 00000000 00001000 00000000 00000000 000000c0 000000c0 00000000 00000000"
alive
grep -q "iso packet 0" /tmp/usbp2pd.log || fail "no log line for the out-of-bounds iso packet"

# After a real import: a CMD_SUBMIT of length 0x7fffffff (the one that wedges the kernel's
# usbip-host) closes the import and frees the device.
send_raw "$import_request 00000001 00000001 00010002 00000000 00000001 00000000 7fffffff 00000000 ffffffff 00000000 0000000000000000"
alive
grep -q "transfer_buffer_length 2147483647 exceeds" /tmp/usbp2pd.log || fail "no log line for the hostile length"

log "a silent connection is dropped after the op-phase timeout; others are served meanwhile"
exec 4<>/dev/tcp/127.0.0.1/3240
alive
start=$SECONDS
rc=0; timeout 20 cat <&4 > /dev/null 2>&1 || rc=$?
[ $rc -ne 124 ] || fail "the silent connection was not closed within 20 s"
echo "closed after $((SECONDS - start)) s"
exec 4>&-

attach() {  # attach: imports with usbp2p-client; sets port and node
  local line
  line=$("$bin/usbp2p-client" attach --usbip 127.0.0.1 "$busid") || fail "attach failed"
  port=$(echo "$line" | sed -n 's/.* on port \([0-9]*\)$/\1/p')
  wait_for 30 "the imported copy" at_least 2 $ss_vid $ss_pid
  local imported; imported=$(busid_of $ss_vid $ss_pid 2)
  wait_for 10 "usbtest on the copy" test -e "/sys/bus/usb/devices/$imported:1.0/driver"
  node=$(usb_node "$imported")
}
gone() { wait_for 20 "the copy to go away" exactly 1 $ss_vid $ss_pid; }
released() { wait_for 20 "usbp2pd to release the device" grep -q "released $busid" /tmp/usbp2pd.log; }

log "a second importer is told the device is busy"
attach
out=$("$bin/usbp2p-client" attach --usbip 127.0.0.1 "$busid" 2>&1) && fail "a second import succeeded"
echo "$out"; echo "$out" | grep -q "device busy" || fail "no 'device busy' for the second importer"

log "detach during a bulk transfer"
"$testusb" -D "$node" -t 2 -c 100000 -s 4096 > /dev/null 2>&1 &
reader=$!
wait_for 20 "testusb to open $node" holds_open "$reader" "$node"
"$bin/usbp2p-client" detach "$port"
wait "$reader" || true  # (a bare wait would also wait for usbp2pd)
gone; released; alive
attach
run_testusb "$node" 2 50 4096
"$bin/usbp2p-client" detach "$port"; gone
: > /tmp/usbp2pd.log.mark

log "an importer that dies with URBs in flight"
# Imports by hand, queues bulk IN URBs on ep 1 and is killed without a word.
(
  exec 5<>/dev/tcp/127.0.0.1/3240
  printf "$(printf '%s' "$import_request" | tr -d ' ' | sed 's/../\\x&/g')" >&5
  head -c 320 <&5 > /dev/null
  for s in 1 2 3 4 5 6 7 8; do
    printf "$(printf '00000001 %08x 00010002 00000001 00000001 00000000 00001000 00000000 ffffffff 00000000 0000000000000000' $s | tr -d ' ' | sed 's/../\\x&/g')" >&5
  done
  : > /tmp/importer-queued
  sleep 60  # holds the connection until killed
) &
importer=$!
wait_for 20 "the importer to queue its URBs" test -e /tmp/importer-queued
kill -9 "$importer"
wait "$importer" 2>/dev/null || true
wait_for 20 "usbp2pd to release the device after the importer died" bash -c "grep -c 'released $busid' /tmp/usbp2pd.log | grep -q '^[3-9]'"
alive
attach
run_testusb "$node" 1 50 4096
log "unplug during an import"
"$testusb" -D "$node" -t 2 -c 100000 -s 4096 > /dev/null 2>&1 &
reader=$!
wait_for 20 "testusb to open $node" holds_open "$reader" "$node"
remove_gadget
wait "$reader" || true
wait_for 30 "usbp2pd to notice the device is gone" grep -q "$busid is gone" /tmp/usbp2pd.log
wait_for 30 "the hotplug event for the unplugged device" grep -q "USB device left: $busid ($ss_vid:$ss_pid)" /tmp/usbp2pd.log
wait_for 30 "the vhci port to be freed" bash -c '! "$0" ports | grep -q "^port"' "$bin/usbp2p-client"
kill -0 "$server_pid" || fail "usbp2pd died on unplug"
log "plug it in again: a fresh import works"
ls /sys/class/udc | head -n1 > /sys/kernel/config/usb_gadget/sourcesink/UDC
wait_for 20 "the gadget to come back" busid_of $ss_vid $ss_pid
busid=$(busid_of $ss_vid $ss_pid)
wait_for 30 "the hotplug event for the returning device" grep -q "USB device arrived: $busid ($ss_vid:$ss_pid)" /tmp/usbp2pd.log
attach
run_testusb "$node" 2 50 4096
echo "PASS: usbp2pd survives hostile input, timeouts, busy, detach, a dying importer and unplugging"
