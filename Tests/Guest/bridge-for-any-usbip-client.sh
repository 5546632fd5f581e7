#!/bin/bash
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# The laptop's USB/IP bridge (usbp2p-client bridge), as a USB/IP client other than the
# laptop's own vhci attach meets it (usbip-win2 on Windows, through WSL2, speaks the same):
# usbp2pd with the stick and testusb's SourceSink gadget behind one NAT, the laptop's
# service behind another and on the relay, the relay between (network namespaces). On the
# laptop the kernel's own `usbip list` and `usbip attach -r 127.0.0.1` go through the
# bridge and the session:
#  1. a bridge for the gadget only lists the gadget and refuses the stick; a member of the
#     usbp2p group lists it too, a user outside it gets nothing;
#  2. a bridge for every device: testusb's bulk and control cases pass on the gadget, and
#     16 MiB written to the stick read back with the same SHA-256;
#  3. a second importer of the stick is told it is busy; usbip detach, then attach again;
#  4. the bridge listens on loopback only; status shows it; --stop ends it and the
#     imports it passed on (the server lets the devices go).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net.sh"
usb_stick
sourcesink_gadget
ss_busid=$(busid_of $ss_vid $ss_pid)
work=/tmp/bridge; mkdir -p $work/pi $work/relay
trap 'cp $work/*.log "${USBP2P_RESULTS:-/tmp}/" 2>/dev/null; net_down' EXIT
net_up

printf 'state_directory = "%s"\nlisten = "%s"\n' "$work/relay" "$relay_address" > $work/relay.toml
relay_id=$("$bin/usbp2p-relay" identity --config $work/relay.toml)
cat > $work/pi.toml <<TOML
name = "Test Pi"
state_directory = "$work/pi"
session.listen = "10.1.0.2:7575"
relay.address = "$relay_address"
relay.id = "$relay_id"
lan.mdns = false
reach.port_mapping = false
gpio.chip = ""
TOML
ip netns exec wan "$bin/usbp2p-relay" serve --config $work/relay.toml > $work/relay.log 2>&1 &
ip netns exec pi "$bin/usbp2pd" serve --config $work/pi.toml > $work/pi.log 2>&1 &
wait_for 30 "usbp2pd to register at the relay" grep -q "registered at relay" $work/pi.log

log "the laptop's service, on the relay (no direct path), pairs from the label's code"
mkdir -p /etc/usbp2p
printf 'state_directory = "/var/lib/usbp2p-client"\nlan.mdns = false\nreach.direct = false\n' \
  > /etc/usbp2p/client.toml
ip netns exec laptop "$bin/usbp2p-client" serve --config /etc/usbp2p/client.toml > $work/service.log 2>&1 &
wait_for 30 "the client's service to be ready" test -S /run/usbp2p-client/control.sock
client() { ip netns exec laptop "$bin/usbp2p-client" "$@"; }
uri=$("$bin/usbp2pd" pairing-code --config $work/pi.toml | sed -n 's/^as a URI: *//p' | awk '{print $NF}')
"$bin/usbp2pd" pair --open --seconds 120 --config $work/pi.toml
client pair "$uri" | tee $work/pair.log || fail "the laptop could not pair through the relay"

log "1. a bridge for the gadget only"
client bridge "$ss_vid:$ss_pid" | tee $work/bridge-gadget.log || fail "usbp2p-client bridge failed"
grep -q "bridge on 127.0.0.1:3240 for Test Pi" $work/bridge-gadget.log || fail "the bridge did not say where it listens"
grep -q "$ss_busid ($ss_vid:$ss_pid, usbp2p SourceSink test device): usbip attach -r 127.0.0.1 -b $ss_busid" \
  $work/bridge-gadget.log || fail "the bridge did not show the gadget and how to import it"
ip netns exec laptop usbip list -r 127.0.0.1 | tee $work/list-gadget.log
grep -q "$ss_busid: .*($ss_vid:$ss_pid)" $work/list-gadget.log || fail "usbip list through the bridge lacks the gadget"
grep -q "($vid:$pid)" $work/list-gadget.log && fail "usbip list shows the stick, which this bridge does not serve"
ip netns exec laptop usbip attach -r 127.0.0.1 -b "$busid" > $work/refused.log 2>&1 \
  && fail "the stick was imported through a bridge that does not serve it"
log "   the bridge serves the laptop's root and the usbp2p group's members, no other user"
getent group usbp2p > /dev/null || groupadd --system usbp2p
useradd --no-create-home --home-dir /tmp -G usbp2p dana
ip netns exec laptop setpriv --reuid=dana --regid="$(id -g dana)" --init-groups usbip list -r 127.0.0.1 \
  > $work/list-member.log 2>&1
grep -q "$ss_busid: .*($ss_vid:$ss_pid)" $work/list-member.log \
  || fail "a member of the usbp2p group could not list the gadget through the bridge: $(cat $work/list-member.log)"
ip netns exec laptop setpriv --reuid=nobody --regid=nogroup --clear-groups usbip list -r 127.0.0.1 \
  > $work/list-stranger.log 2>&1 && fail "usbip list succeeded for a user outside the usbp2p group"
grep -q "($ss_vid:$ss_pid)" $work/list-stranger.log && fail "a user outside the usbp2p group listed the gadget through the bridge"
grep -q "user nobody may not use it: closed" $work/service.log \
  || fail "the service's log does not say it closed the stranger's connection"
cat $work/refused.log
exactly 1 $vid $pid || fail "a copy of the stick appeared"

log "2. a bridge for every device: testusb on the gadget, 16 MiB through the stick"
client bridge --stop | tee $work/stop.log
grep -q "stopped the bridge on 127.0.0.1:3240" $work/stop.log || fail "bridge --stop did not say what it stopped"
client bridge | tee $work/bridge.log || fail "usbp2p-client bridge (every device) failed"
grep -q "serving every device but keyboards" $work/bridge.log && grep -q "usbip attach -r 127.0.0.1 -b $busid" $work/bridge.log \
  || fail "the bridge for every device does not show the stick"
ip netns exec laptop usbip attach -r 127.0.0.1 -b "$ss_busid" || fail "usbip attach of the gadget through the bridge failed"
wait_for 60 "the gadget's copy to enumerate" at_least 2 $ss_vid $ss_pid
gadget_copy=$(busid_of $ss_vid $ss_pid 2)
modprobe usbtest
wait_for 20 "usbtest to bind the imported gadget" test -e "/sys/bus/usb/devices/$gadget_copy:1.0/driver"
node=$(usb_node "$gadget_copy")
run_testusb "$node" 1 100 4096     # bulk OUT
run_testusb "$node" 2 100 4096     # bulk IN
run_testusb "$node" 3 50 4096      # bulk OUT, varying sizes
run_testusb "$node" 4 50 4096      # bulk IN, varying sizes
run_testusb "$node" 9 10 0         # chapter 9 control requests
run_testusb "$node" 10 10 0        # queued control requests
run_testusb "$node" 14 10 256 31   # control OUT, 1..256 bytes

ip netns exec laptop usbip attach -r 127.0.0.1 -b "$busid" || fail "usbip attach of the stick through the bridge failed"
wait_for 60 "the stick's copy to enumerate" at_least 2 $vid $pid
stick_copy=$(busid_of $vid $pid 2)
stick_roundtrip "$stick_copy" 16 $work
client status | tee $work/status-relay.log
grep -q "relay 198.18.0.1:443" $work/status-relay.log || fail "the session is not on the relay"

log "3. a second importer of the stick is told it is busy; detach and attach again"
ip netns exec laptop usbip attach -r 127.0.0.1 -b "$busid" > $work/busy.log 2>&1 \
  && fail "a second import of the stick succeeded"
cat $work/busy.log
grep -qi "busy" $work/busy.log || fail "the second importer was not told the stick is busy"
port_of() {  # the vhci port importing remote bus id $1 through the bridge
  ip netns exec laptop usbip port 2>/dev/null | awk -v b="$1" '/^Port/ {p = $2} $0 ~ "usbip://127.0.0.1:3240/" b "$" {sub(":", "", p); print p + 0}'
}
port=$(port_of "$busid")
[ -n "$port" ] || fail "usbip port does not show the stick's import"
ip netns exec laptop usbip detach -p "$port" || fail "usbip detach failed"
wait_for 30 "the stick's copy to go" exactly 1 $vid $pid
# The server lets the device go once the channel has ended: until then it is busy.
wait_for 30 "the stick imported again" bash -c \
  "ip netns exec laptop usbip attach -r 127.0.0.1 -b $busid > /dev/null 2>&1 || true; [ \$(grep -lx $vid /sys/bus/usb/devices/*/idVendor | wc -l) -ge 2 ]"

log "4. loopback only, the status, and --stop"
ip netns exec laptop ss -Hltn | tee $work/listening.log
grep -q "127.0.0.1:3240 " $work/listening.log || fail "the bridge does not listen on 127.0.0.1:3240"
grep -q "0.0.0.0:3240 \|\*:3240 " $work/listening.log && fail "the bridge listens beyond loopback"
client status | tee $work/status.log
grep -qE "bridge on 127.0.0.1:3240 for Test Pi: [3-9][0-9]* imports passed on" $work/status.log \
  || fail "status does not show the bridge and its imports"
client status --json | tee $work/status.json | python3 -c '
import json, sys
bridge = json.load(sys.stdin)["bridges"][0]
assert bridge["listen"] == "127.0.0.1:3240" and bridge["name"] == "Test Pi" and bridge["imported"] >= 3, bridge
' || fail "status --json does not show the bridge"
client bridge --stop | tee $work/stop-all.log
grep -q "its imports ended" $work/stop-all.log || fail "bridge --stop did not say the imports end"
ip netns exec laptop usbip list -r 127.0.0.1 > /dev/null 2>&1 && fail "the bridge still answers after --stop"
wait_for 30 "the imports to end with the bridge" bash -c \
  "[ \$(grep -lx $vid /sys/bus/usb/devices/*/idVendor | wc -l) -eq 1 ] && [ \$(grep -lx $ss_vid /sys/bus/usb/devices/*/idVendor | wc -l) -eq 1 ]"
grep -q "released $busid\|$busid: detached" $work/pi.log || fail "usbp2pd did not let the stick go"
echo "PASS: the bridge: the kernel's usbip lists and imports through the session and the relay only what it serves; testusb bulk and control pass, 16 MiB through the stick intact, a second importer is told busy, detach and attach again, loopback only, a member of the usbp2p group served and nobody refused, status --json shows it, --stop ends its imports"
