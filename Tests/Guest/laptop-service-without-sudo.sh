#!/bin/bash
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# The laptop as its users meet it: the client's service (usbp2p-client serve, as root)
# holds the laptop's one identity, its peers and its wishes. Users in the usbp2p group
# pair, attach, see the status and detach without sudo and with no configuration of
# their own; a user outside the group is told how to get in. The wish outlives the
# service: after a restart the stick is back with no command, and after the service was
# killed too, once the server has let the dead session go. Detach by VID:PID ends it
# for good. 4 MiB written through the attached stick read back with the same SHA-256, the
# session's records sealed by the kernel (kernel TLS).
# The view (usbp2p-client ui, in tmux): the stick detached and attached again with keys,
# the terminal left as it was after 'q' and after Ctrl-C.
# The identity an earlier 'sudo usbp2p-client' made is taken over at the first start. With
# "every device, new ones too", a keyboard plugged into the server later is left out (and
# the service says why) until it is named.
. "$(dirname "$0")/lib.sh"
usb_stick
work=/tmp/service; mkdir -p $work
trap 'cp $work/*.log "${USBP2P_RESULTS:-/tmp}/" 2>/dev/null' EXIT

log "users: anna and ben in the usbp2p group, carl not"
groupadd --system usbp2p
for user in anna ben carl; do useradd --no-create-home --home-dir /tmp "$user"; done
usermod -aG usbp2p anna; usermod -aG usbp2p ben
# as USER ARGS...: usbp2p-client as that user, with nothing but HOME and USER set.
as() {
  local user=$1; shift
  setpriv --reuid="$user" --regid="$user" --init-groups env -i HOME=/tmp USER="$user" PATH=/usr/bin:/bin \
    "$bin/usbp2p-client" "$@"
}
# status_shows TEXT: anna's status has TEXT. An attach reports what happened within its
# own 20 s ("attached", or "attaching" while the import is under way); with two guests on
# two cores an import has taken longer, so the scenario waits for the attachment itself.
status_shows() { as anna status | grep -q "$1"; }

log "the server: usbp2pd with the stick, on loopback"
cat > $work/pi.toml <<TOML
name = "Test Pi"
state_directory = "$work/pi"
session.listen = "127.0.0.1:7575"
lan.mdns = false
reach.port_mapping = false
gpio.chip = ""
control.socket = "$work/pi-control.sock"
session.grace_seconds = 20
TOML
"$bin/usbp2pd" serve --config $work/pi.toml > $work/pi.log 2>&1 &
wait_for 30 "usbp2pd to be ready" grep -q "ready: serving" $work/pi.log

log "an earlier 'sudo usbp2p-client' left root's identity: the service takes it over"
earlier=$(env -i HOME=/root PATH=/usr/bin:/bin "$bin/usbp2p-client" identity show | head -n1)
[ -f /root/.local/state/usbp2p/identity.key ] || fail "no earlier identity of root's to take over"

log "the laptop's service, as the .deb's unit starts it"
mkdir -p /etc/usbp2p
printf 'state_directory = "/var/lib/usbp2p-client"\nlan.mdns = false\n' > /etc/usbp2p/client.toml
start_service() {
  "$bin/usbp2p-client" serve --config /etc/usbp2p/client.toml >> $work/service.log 2>&1 &
  service_pid=$!
  wait_for 30 "the client's service to be ready" test -S /run/usbp2p-client/control.sock
}
start_service
ls -l /run/usbp2p-client/control.sock
stat -c '%a %G' /run/usbp2p-client/control.sock | grep -qx "660 usbp2p" || fail "the service's socket is not 0660, group usbp2p"
grep -q "took over root's earlier identity $earlier" $work/service.log || fail "the service did not say it took over root's identity"
[ "$("$bin/usbp2p-client" identity show --config /etc/usbp2p/client.toml | head -n1)" = "$earlier" ] || fail "the service's identity is not root's earlier one"

[ "$(as ben identity)" = "$earlier" ] || fail "a user of the group is shown another identity than the laptop's"

log "carl, not in the group, is told how to get in"
out=$(as carl peers 2>&1) && fail "carl used the service"
echo "$out"; echo "$out" | grep -q "usermod -aG usbp2p carl" || fail "no hint to join the group"

log "anna pairs without sudo"
code=$("$bin/usbp2pd" pairing-code --config $work/pi.toml --text-only | sed -n 's/^pairing code: //p')
"$bin/usbp2pd" pair --open --seconds 120 --config $work/pi.toml
as anna pair --address 127.0.0.1:7575 "$code" || fail "anna could not pair"
grep -q "anna@" $work/pi/allowlist || fail "the server does not know the laptop as anna's"
[ -f /var/lib/usbp2p-client/peers ] && [ ! -e /tmp/.local/state/usbp2p ] || fail "the pairing did not go to the service's state"

log "ben sees the same peer"
as ben peers | tee $work/ben-peers.log | grep -q "^Test Pi " || fail "ben does not see the peer anna paired"

log "anna attaches the stick by VID:PID, without sudo"
as anna attach "$vid:$pid" | tee $work/attach.log
grep -qE "$vid:$pid: (attached: $busid on port|attaching)" $work/attach.log || fail "the service did not report the stick"
wait_for 60 "the service to attach the stick" status_shows "$vid:$pid: attached: $busid on port"
wait_for 30 "the stick on vhci_hcd" at_least 2 $vid $pid
# The direct session's records are the kernel's (kernel TLS), as the logs say and the
# kernel's own count shows.
grep -q "records sealed by the kernel (kernel TLS)" $work/pi.log || fail "usbp2pd does not say the kernel seals the session's records"
awk '/^TlsCurrTxSw|^TlsCurrRxSw/ {n++; if ($2 < 1) bad = 1} END {exit !(n == 2 && !bad)}' /proc/net/tls_stat \
  || fail "no kernel TLS connection in /proc/net/tls_stat: $(cat /proc/net/tls_stat 2>&1 | tr '\n' ' ')"
imported=$(busid_of $vid $pid 2)
stick_roundtrip "$imported" 4 $work

log "ben sees anna's wish and its state"
as ben status | tee $work/status.log
grep -q "Test Pi" $work/status.log && grep -q "$vid:$pid: attached: $busid on port" $work/status.log \
  || fail "status does not show the wish attached"
as ben status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["servers"][0]["wishes"][0]["state"].startswith("attached"), d' \
  || fail "status --json"

log "the service restarts: the stick comes back with no command"
kill -TERM $service_pid; wait $service_pid || true
wait_for 30 "the stick to be detached when the service stopped" exactly 1 $vid $pid
start_service
wait_for 60 "the stick to come back by itself" at_least 2 $vid $pid
as anna status | grep -q "attached" || fail "status after the restart"
grep -q "import of $busid refused: busy" $work/pi.log && fail "the stopped service's goodbye was lost: the server kept the stick"

log "the service is killed (no goodbye): the stick is back once the server has let the old session go"
# The server keeps the dead session's import for its grace (20 s here), so the new
# service is refused "busy" first; the import's release tells it the stick is free.
kill -KILL $service_pid; wait $service_pid || true
wait_for 30 "the stick's copy to go with the killed service" exactly 1 $vid $pid
start_service
wait_for 30 "the server to refuse the stick while the old session holds it" grep -q "import of $busid refused: busy" $work/pi.log
wait_for 60 "the stick to come back once the old session ended" at_least 2 $vid $pid
grep -q "released $busid (the session ended: no reconnection within 20 s)" $work/pi.log || fail "the old session did not end after its grace"
wait_for 30 "the service to show the stick attached" status_shows "attached: $busid on port"

log "the view: anna runs 'usbp2p-client ui' in a terminal (tmux), detaches and attaches the stick with keys"
ui() { tmux -L ui "$@"; }
ui new-session -d -s ui -x 140 -y 30 \
  "setpriv --reuid=anna --regid=anna --init-groups env -i HOME=/tmp USER=anna TERM=xterm PATH=/usr/bin:/bin bash --norc -i"
# (set -e holds in the trap too: a server already gone, or no capture yet, is no failure.)
trap 'tmux -L ui kill-server 2>/dev/null || true; cp $work/*.log $work/*.txt "${USBP2P_RESULTS:-/tmp}/" 2>/dev/null || true' EXIT
pane_has() { ui capture-pane -p -t ui | grep -q -- "$1"; }
view_running() { pgrep -x -f "$bin/usbp2p-client ui" > /dev/null; }
view_gone() { ! view_running; }
modes_restored() {  # the shell's terminal is cooked again: canonical input, echo
  ui send-keys -t ui "stty -a | tr ' ' '\n' | grep -x -e icanon -e echo | tr '\n' ' '; echo modes-shown" Enter
  # (Shown on the shell's own screen: the view's alternate screen is gone.)
  wait_for 10 "stty's answer" pane_has "^icanon echo modes-shown"
  ui send-keys -t ui "clear" Enter
  wait_for 10 "the shell's screen cleared" eval '! pane_has modes-shown'
}
ui send-keys -t ui "$bin/usbp2p-client ui" Enter
wait_for 30 "the view to show the stick attached" pane_has "$busid .*attached on port"
wait_for 30 "the view to show the server's path and round trip" pane_has "Test Pi (.*): connected, direct 127.0.0.1:7575.*RTT"
ui capture-pane -p -t ui > $work/ui-attached.txt
ui send-keys -t ui d
wait_for 30 "the stick to leave vhci_hcd ('d' in the view)" exactly 1 $vid $pid
wait_for 30 "the view to show the stick offered" pane_has "$busid .*offered"
ui send-keys -t ui a
wait_for 60 "the stick back on vhci_hcd ('a' in the view)" at_least 2 $vid $pid
wait_for 30 "the view to show it attached again" pane_has "$busid .*attached on port"
wait_for 10 "the stick's own throughput in the view" pane_has "$busid .*attached on port [0-9]*   out .* in "
ui capture-pane -p -t ui > $work/ui-again.txt
ui send-keys -t ui q
wait_for 10 "the view to end on 'q'" view_gone
modes_restored
ui send-keys -t ui "$bin/usbp2p-client ui" Enter
wait_for 30 "the view again" pane_has "$busid .*attached on port"
ui send-keys -t ui C-c
wait_for 10 "the view to end on Ctrl-C" view_gone
modes_restored
ui kill-server
as anna status | grep -q "$busid: attached: $busid on port" || fail "the view's attach is not kept by the service"

log "every device, new ones too: a keyboard plugged into the server later is left out until named"
as anna attach --including-new | tee $work/attach-new.log
keyboard_gadget
wait_for 60 "the service to leave the keyboard out" \
  grep -q "not attaching $keyboard (1d6b:0104.*a keyboard is attached only when named" $work/service.log
exactly 1 1d6b 0104 || fail "the keyboard was attached by 'every device'"
as anna attach 1d6b:0104 | tee -a $work/attach-new.log
wait_for 30 "the named keyboard on vhci_hcd" at_least 2 1d6b 0104
as ben status | tee $work/status-keyboard.log
grep -q "1d6b:0104: attached: $keyboard on port" $work/status-keyboard.log || fail "status does not show the keyboard"

log "anna detaches the stick by VID:PID (its wishes go, 'every device' too), then the keyboard"
as anna detach "$vid:$pid" | tee $work/detach.log
grep -q "no longer kept attached: every device, new ones too" $work/detach.log \
  || fail "the wish for every device, which takes in the stick, stayed"
wait_for 30 "the stick to leave vhci_hcd" exactly 1 $vid $pid
at_least 2 1d6b 0104 || fail "the named keyboard went with the stick"
as anna detach 1d6b:0104 | tee -a $work/detach.log
wait_for 30 "the keyboard to leave vhci_hcd" exactly 1 1d6b 0104

log "every device offered now, with the keyboard plugged in: the stick comes, the keyboard is named as left out"
as anna attach | tee $work/attach-every.log
grep -q "not attaching $keyboard (1d6b:0104): a keyboard is attached only when named (attach 1d6b:0104)" $work/attach-every.log \
  || fail "attach did not say it left the keyboard out"
grep -qE "$busid: (attached: $busid on port|attaching)" $work/attach-every.log || fail "attach did not take the stick"
wait_for 60 "the stick attached as one of every device offered" status_shows "$busid: attached: $busid on port"
wait_for 30 "the stick on vhci_hcd" at_least 2 $vid $pid
exactly 1 1d6b 0104 || fail "the keyboard was attached by 'every device'"
as anna detach --all | tee -a $work/detach.log
wait_for 30 "the stick to leave vhci_hcd" exactly 1 $vid $pid

log "nothing is kept: not back after another restart"
# (The stick's wish is by bus id since the view attached it again.)
grep -q "no longer kept attached: $busid of Test Pi" $work/detach.log || fail "detach did not say what it ended"
as anna status | grep -q "nothing is kept attached" || fail "a wish is left after detach"
kill -TERM $service_pid; wait $service_pid || true
start_service
as anna status | grep -q "nothing is kept attached" || fail "a wish came back after a restart"
exactly 1 $vid $pid && exactly 1 1d6b 0104 || fail "a device was attached again after detach"
kill -TERM $service_pid; wait $service_pid || true
echo "PASS: the laptop's service: a group member pairs, attaches, sees the status and detaches without sudo; an outsider gets the hint; the wish survives a restart"
