#!/bin/bash
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# The product's path: usbp2pd with a USB stick behind one NAT, usbp2p-client behind
# another, usbp2p-relay on the public side between them (network namespaces).
#  1. Refusals: a client not on the allowlist gets nothing (nothing reaches the exporter);
#     a server that is not the pinned one is refused by the client; garbage and a silent
#     connection to usbp2pd and to the relay are closed while others are served.
#  2. The client lists and attaches the stick through the relay; 24 MiB written to it
#     while the client's link is down for 10 s: the session resumes, the data reads back
#     with the same SHA-256, and the stick was never re-enumerated. The relay's traffic,
#     captured with tshark, holds TLS and no plaintext USB/IP or SCSI.
#  3. A cut longer than the grace period: the stick is detached, then attached again when
#     the link returns.
#  4. The label's code carries the relay's address and EndpointId: a (second) laptop with an empty
#     configuration pairs with it through the relay, and lists the stick once root shares it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net.sh"
usb_stick
# The programs' logs go back with the results (USBP2P_KEEP_GUEST_RESULTS=1 keeps them).
trap 'cp $work/*.log "${USBP2P_RESULTS:-/tmp}/" 2>/dev/null; net_down' EXIT
net_up
work=/tmp/session; mkdir -p $work/pi $work/laptop $work/relay $work/stranger

cat > $work/relay.toml <<TOML
state_directory = "$work/relay"
listen = "$relay_address"
TOML
write_configs() {  # write_configs GRACE-SECONDS
  cat > $work/pi.toml <<TOML
state_directory = "$work/pi"
session.listen = "10.1.0.2:7575"
session.grace_seconds = $1
relay.address = "$relay_address"
relay.id = "$relay_id"
TOML
  # On the relay all along: moving to a direct path is the reach scenario's.
  cat > $work/laptop.toml <<TOML
state_directory = "$work/laptop"
session.grace_seconds = $1
relay.address = "$relay_address"
relay.id = "$relay_id"
reach.direct = false
TOML
  sed "s|$work/laptop|$work/stranger|" $work/laptop.toml > $work/stranger.toml
}
relay_id=$("$bin/usbp2p-relay" identity --config $work/relay.toml)
write_configs 30
pi_id=$("$bin/usbp2pd" identity --config $work/pi.toml)
laptop_id=$("$bin/usbp2p-client" identity --config $work/laptop.toml)
"$bin/usbp2pd" allow --config $work/pi.toml "$laptop_id" "test laptop"

ip netns exec wan tshark -q -i any -f "tcp port 443" -w $work/relay.pcap > $work/tshark.log 2>&1 &
tshark_pid=$!
ip netns exec wan "$bin/usbp2p-relay" serve --config $work/relay.toml > $work/relay.log 2>&1 &
start_pi() {
  if [ -f $work/pi.log ]; then mv $work/pi.log $work/pi-earlier.log; fi
  ip netns exec pi "$bin/usbp2pd" serve --config $work/pi.toml --log-level debug > $work/pi.log 2>&1 &
  pi_pid=$!
  wait_for 30 "usbp2pd to register at the relay" grep -q "registered at relay" $work/pi.log
}
start_pi
on_laptop() { ip netns exec laptop "$bin/usbp2p-client" "$@"; }

log "1. refusals"
if out=$(ip netns exec laptop "$bin/usbp2p-client" list --config $work/stranger.toml "$pi_id" 2>&1); then
  fail "a client not on the allowlist listed the devices: $out"
fi
echo "$out"
echo "$out" | grep -q "refused this client" || fail "the stranger was not told it is refused"
grep -q "not on the allowlist" $work/pi.log || fail "usbp2pd did not log the refusal"
grep -qE "listed|imported" $work/pi.log && fail "the stranger's connection reached the exporter"
if out=$(on_laptop list --config $work/laptop.toml "$relay_id" 2>&1); then fail "listing a wrong server succeeded"; fi
echo "$out"
# (from the Pi's LAN, where usbp2pd's own listener is reachable)
ip netns exec pi "$bin/usbp2p-client" list --config $work/laptop.toml "$laptop_id@10.1.0.2:7575" 2>&1 \
  | tee $work/out || true
grep -q "refusing the server" $work/out || fail "the client accepted a server that is not the pinned one"
# Garbage and slowloris, to usbp2pd (through the LAN side) and to the relay.
for target in "pi 10.1.0.2 7575" "wan 198.18.0.1 443"; do
  set -- $target
  ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3; head -c 70000 /dev/urandom >&3; cat <&3 >/dev/null" \
    || true
  start=$SECONDS
  ip netns exec "$1" timeout 30 bash -c "exec 3<>/dev/tcp/$2/$3; cat <&3 >/dev/null" || true
  [ $((SECONDS - start)) -le 15 ] || fail "a silent connection to $2:$3 was held $((SECONDS - start)) s"
  log "garbage and a silent connection to $2:$3 were closed (the silent one after $((SECONDS - start)) s)"
done

log "2. list and attach through the relay"
on_laptop list --config $work/laptop.toml "$pi_id" > $work/list || fail "listing through the relay failed (status $?)"
cat $work/list
grep -q "$busid  $vid:$pid" $work/list || fail "the stick is not in the list through the relay"
ip netns exec laptop "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id" "$busid" > $work/attach.log 2>&1 &
attach_pid=$!
wait_for 60 "the stick imported through the relay" at_least 2 $vid $pid
cat $work/attach.log
grep -q "splicing" $work/relay.log || fail "the relay did not splice the session"
imported=$(busid_of $vid $pid 2)
devnum=$(cat /sys/bus/usb/devices/$imported/devnum)
disk_of() { ls /sys/bus/usb/devices/$imported:1.0/host*/target*/*/block/ 2>/dev/null | head -n1; }
wait_for 30 "a disk on the imported stick" disk_of
disk=/dev/$(disk_of)
wait_for 10 "$disk" test -b "$disk"
# Text that must never cross the relay in the clear: in the data, and the SCSI inquiry.
head -c 25165824 < <(yes "usbp2p plaintext marker") > $work/data
written=$(sha256sum < $work/data | cut -d' ' -f1)
dd if=$work/data of="$disk" bs=256k oflag=direct status=none &
dd_pid=$!
# written_past PID BYTES: the process has written more than BYTES.
written_past() { [ "$(sed -n 's/^wchar: //p' /proc/$1/io 2>/dev/null || echo 0)" -gt "$2" ]; }
wait_for 60 "the write to be under way" written_past $dd_pid $((2 << 20))
log "cutting the laptop's link for 10 s"
ip -n laptop link set eth0 down
sleep 10  # the outage itself (time is the subject here)
ip -n laptop link set eth0 up
ip -n laptop route replace default via 10.2.0.1
wait "$dd_pid" || fail "writing to the stick failed across the cut"
echo 3 > /proc/sys/vm/drop_caches
read_back=$(dd if="$disk" bs=256k count=96 iflag=direct status=none | sha256sum | cut -d' ' -f1)
echo "written   $written"; echo "read back $read_back"
[ "$written" = "$read_back" ] || fail "the data read back differs from what was written"
cat $work/attach.log
grep -q "resumed" $work/pi.log || fail "usbp2pd did not resume the session"
grep -q "resumed" $work/attach.log || fail "the client did not say it resumed"
[ "$(busid_of $vid $pid 2)" = "$imported" ] && [ "$(cat /sys/bus/usb/devices/$imported/devnum)" = "$devnum" ] \
  || fail "the stick was re-enumerated"
grep -q "session ended" $work/attach.log && fail "the session ended instead of resuming"
# The cut is the only loss: a listing once waited on the session's reader for the kernel's
# lock on the device being imported, and the connection dropped ~7 s after every attach.
losses=$(grep -c "^connection lost" $work/attach.log)
[ "$losses" -eq 1 ] || fail "the session lost its connection $losses times; only the cut should cost one"
log "the session resumed; the stick kept bus id $imported, device $devnum"

kill "$tshark_pid"; wait "$tshark_pid" 2>/dev/null || true
records=$(tshark -r $work/relay.pcap -Y tls.record -T fields -e tls.record.content_type 2>/dev/null | wc -l)
[ "$records" -gt 100 ] || fail "the capture holds $records TLS records"
# Plaintext that must not appear in any captured frame (searched in the capture's raw
# bytes, as tshark's "frame contains" would, in one pass): the data, the stick's SCSI
# inquiry, USB/IP's OP_REQ_IMPORT with the bus id and an OP_REP_DEVLIST header.
for pattern in "usbp2p plaintext marker" "QEMU HARDDISK" '\x01\x11\x80\x03\x00\x00\x00\x00'"$busid" \
  '\x01\x11\x00\x05\x00\x00\x00\x00\x00\x00\x00'; do
  if LC_ALL=C grep -qaP "$pattern" $work/relay.pcap; then fail "the relay's traffic holds $pattern in the clear"; fi
done
log "the relay carried $records TLS records and no plaintext"

log "3. a cut longer than the grace period"
kill -TERM "$attach_pid"; wait "$attach_pid" || true
wait_for 20 "the stick to be detached" exactly 1 $vid $pid
kill "$pi_pid"; wait "$pi_pid" 2>/dev/null || true
write_configs 4
start_pi
ip netns exec laptop "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id" "$busid" > $work/attach2.log 2>&1 &
attach_pid=$!
wait_for 60 "the stick imported again" at_least 2 $vid $pid
ip -n laptop link set eth0 down
wait_for 40 "the stick to be detached when the grace period passed" exactly 1 $vid $pid
grep -q "session ended" $work/attach2.log || fail "the client did not say the session ended"
ip -n laptop link set eth0 up
ip -n laptop route replace default via 10.2.0.1
wait_for 60 "the stick to be attached again" at_least 2 $vid $pid
cat $work/attach2.log
kill -TERM "$attach_pid"; wait "$attach_pid" || true
wait_for 20 "the stick to be detached at the end" exactly 1 $vid $pid

log "4. a label's code with the relay's hints pairs a laptop with an empty configuration, through the relay"
uri=$("$bin/usbp2pd" pairing-code --config $work/pi.toml | sed -n 's/^as a URI: *//p' | awk '{print $NF}')
case "$uri" in *"?relay=$relay_address&relay-id=$relay_id&h="*) ;; *) fail "the label's URI carries no relay hints: $uri" ;; esac
"$bin/usbp2pd" pair --open --seconds 120 --config $work/pi.toml
: > $work/empty.toml
mkdir -p $work/labelled-home
labelled() { HOME=$work/labelled-home ip netns exec laptop "$bin/usbp2p-client" "$@"; }
labelled pair --config $work/empty.toml "$uri" | tee $work/labelled-pair.log || fail "pairing with the label's hints failed"
grep -q "relay $relay_address" $work/labelled-pair.log || fail "the pairing did not go through the relay"
# A second laptop: it sees the stick once it is shared (the first laptop paired owns it).
labelled list --config $work/empty.toml > $work/labelled-list.log || fail "the labelled laptop could not list (status $?)"
grep -q "$busid  $vid:$pid" $work/labelled-list.log && fail "the second laptop sees a stick nobody shared"
"$bin/usbp2pd" share --config $work/pi.toml "$busid" || fail "root could not share the stick"
labelled list --config $work/empty.toml > $work/labelled-list.log || fail "the labelled laptop could not list (status $?)"
cat $work/labelled-list.log
grep -q "$busid  $vid:$pid" $work/labelled-list.log || fail "the stick is not in the labelled laptop's list once shared"
echo "PASS: through two NATs and the relay: refusals, list, attach, a 10 s cut survived with the data intact and no re-enumeration, no plaintext on the relay, detach/re-attach after a long cut, and a label's code with relay hints pairing a laptop that has no configuration"
