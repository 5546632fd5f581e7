#!/bin/bash
# init: systemd
# timeout: 900
# The appliance service as a person meets it, under a real systemd (PID 1 in the guest)
# with gpio-sim standing in for the Pi's LED and button, through the kernel's GPIO
# character device and libgpiod:
#   - usbp2pd is a Type=notify unit: active (running) only after READY=1, STATUS= says
#     what it does; without a network address the LED says "no network", with one "online".
#   - pairing: refused outside the window; a (bouncing) button press opens it once;
#     a mistyped code fails its checksum before any traffic; three wrong secrets close
#     the window and a fourth try is refused, the allowlist unchanged; after another
#     press the right code pairs (allowlist: name and date; client: peers).
#   - attach by the paired server's name: the LED says "attached"; an unpaired client
#     is refused, one the access rules deny sees no devices; the metrics count the
#     pairing attempts.
#   - the Pi's view (usbp2pd ui, in tmux): LED, devices and who has them; 'p' opens the
#     pairing window and the view's QR code (captured, read by zbarimg) is the label's URI;
#     'c' closes it; 'q' leaves the console as it was.
#   - a 10 s press: the LED flickers from 3 s, then the allowlist is cleared and the
#     attached device goes away.
#   - a stalled USB thread: no more watchdog pings, systemd restarts the service.
#   - systemctl stop: a graceful stop.
. "$(dirname "$0")/lib.sh"
work=/tmp/appliance
mkdir -p $work/pi $work/laptop $work/stranger $work/wrong
for who in laptop stranger; do
  printf 'state_directory = "%s"\nlan.mdns = false\nname = "%s"\n' "$work/$who" "$who" > $work/$who.toml
done
log_file=$work/usbp2pd.log
trap 'echo "-- usbp2pd log (tail)"; tail -n 40 $log_file 2>/dev/null; systemctl status usbp2pd --no-pager 2>&1 | head -n 15' EXIT

log "gpio-sim: one chip of 32 lines (LED on 17, button on 27)"
gpio_sim_chip

sourcesink_gadget
modprobe vhci-hcd

stranger_id=$("$bin/usbp2p-client" identity show --config $work/stranger.toml 2>/dev/null | head -n1)
[ -n "$stranger_id" ] || fail "no identity for the second client"
cat > $work/pi.toml <<EOF
name = "Test Pi"
access.rules = ["deny $stranger_id *"]
state_directory = "$work/pi"
session.listen = "127.0.0.1:7575"
lan.mdns = false
reach.port_mapping = false
gpio.chip = "$chip"
control.socket = "$work/control.sock"
metrics.listen = "127.0.0.1:9575"
pairing.window_seconds = 120
EOF
cat > /run/systemd/system/usbp2pd.service <<EOF
[Unit]
Description=usbp2pd under test
DefaultDependencies=no
[Service]
Type=notify
ExecStart=$bin/usbp2pd serve --config $work/pi.toml
WatchdogSec=4
# On a watchdog timeout systemd sends SIGABRT; Swift's backtracer would take long under
# emulation before the process ends (the appliance's unit does the same).
Environment=SWIFT_BACKTRACE=enable=no
TimeoutAbortSec=10
Restart=on-failure
RestartSec=1
Environment=USBP2PD_FAULT_INJECTION=1
StandardOutput=append:$log_file
StandardError=append:$log_file
EOF
systemctl daemon-reload

# sample_led SECONDS: samples the LED line for SECONDS, as fast as bash's builtins go
# (no sleep: forking one would take longer than the 50 ms steps); prints "duty changes/s".
sample_led() {
  local seconds=$1 end now value last="" lit=0 total=0 changes=0
  end=$(awk -v t="$EPOCHREALTIME" -v s="$seconds" 'BEGIN { printf "%.6f", t + s }')
  while :; do
    now=$EPOCHREALTIME
    [ "${now/./}" -lt "${end/./}" ] || break
    read -r value < "$led"
    total=$((total + 1)); [ "$value" = 1 ] && lit=$((lit + 1))
    [ -n "$last" ] && [ "$value" != "$last" ] && changes=$((changes + 1))
    last=$value
  done
  awk -v l=$lit -v t=$total -v c=$changes -v s="$seconds" 'BEGIN { printf "%.2f %.1f\n", l / t, c / s }'
}
# expect_led NAME SECONDS: the LED shows pattern NAME (docs/user-guide.md, "The status LED").
expect_led() {
  local name=$1 seconds=$2 sample duty rate ok=0
  sample=$(sample_led "$seconds"); duty=${sample% *}; rate=${sample#* }
  case $name in
    online) awk -v d="$duty" -v r="$rate" 'BEGIN { exit !(d >= 0.97 && r == 0) }' && ok=1 ;;
    noNetwork) awk -v d="$duty" -v r="$rate" 'BEGIN { exit !(d > 0 && d < 0.25 && r > 0 && r < 2) }' && ok=1 ;;
    pairing) awk -v d="$duty" -v r="$rate" 'BEGIN { exit !(d > 0.3 && d < 0.7 && r >= 5 && r <= 12) }' && ok=1 ;;
    attached) awk -v d="$duty" -v r="$rate" 'BEGIN { exit !(d > 0.65 && d < 0.97 && r >= 1 && r <= 3.5) }' && ok=1 ;;
    clearWarning) awk -v d="$duty" -v r="$rate" 'BEGIN { exit !(d > 0.2 && d < 0.8 && r > 13) }' && ok=1 ;;
  esac
  echo "LED: duty $duty, $rate changes/s: expected $name"
  [ $ok = 1 ] || fail "the LED does not show '$name' (duty $duty, $rate changes/s)"
}
press() {  # press SECONDS: the button to ground for SECONDS, with contact bounce at both ends
  local i
  for i in 1 2 3; do echo pull-down > "$button"; echo pull-up > "$button"; done
  echo pull-down > "$button"
  sleep "$1"
  for i in 1 2 3; do echo pull-up > "$button"; echo pull-down > "$button"; done
  echo pull-up > "$button"
}
control() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall((sys.argv[2]+"\n").encode()); print(s.recv(512).decode().strip())' "$work/control.sock" "$1"; }
# led_is PATTERN: the service says its LED shows PATTERN now (sampling starts after that).
led_is() { control status | grep -q "^ok led=$1 "; }
allowlist_sum() { { grep -v '^#' "$work/pi/allowlist" 2>/dev/null || true; } | sha256sum; }
opened_count() { grep -c "pairing is open for .* (opened by the button)" $log_file || true; }

# since T0: seconds since the EPOCHREALTIME stamp T0 (for the figures in docs/performance.md).
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

log "start: Type=notify, active only after READY=1"
t0=$EPOCHREALTIME
systemctl start usbp2pd || fail "systemctl start usbp2pd failed"
echo "measured: systemctl start until READY=1: $(since $t0) s"
[ "$(systemctl is-active usbp2pd)" = active ] || fail "usbp2pd is not active"
status_text=$(systemctl show -p StatusText --value usbp2pd); echo "$status_text"
grep -q "session" <<< "$status_text" || fail "no STATUS= line"
grep -q "ready: serving" $log_file || fail "usbp2pd did not say it is ready"
grep -q "GPIO on $chip" $log_file || fail "usbp2pd did not take the GPIO lines"

log "no address but loopback: 'no network'; an address: 'online'"
expect_led noNetwork 4.5
ip link add lan0 type dummy && ip addr add 10.99.0.1/24 dev lan0 && ip link set lan0 up
wait_for 30 "the service to see the network" led_is online
expect_led online 2

code=$("$bin/usbp2pd" pairing-code --config $work/pi.toml --text-only | sed -n 's/^pairing code: //p')
[ -n "$code" ] || fail "no pairing code"
uri=$("$bin/usbp2pd" pairing-code --config $work/pi.toml --text-only | sed -n 's/^as a URI: *//p')
pair() { "$bin/usbp2p-client" pair --config $work/$1.toml --address 127.0.0.1:7575 "${@:2}" 2>&1; }

log "outside the pairing window the right code is refused"
before=$(allowlist_sum)
out=$(pair laptop "$code") && fail "paired with the window closed"
echo "$out"; echo "$out" | grep -q "pairing is not open" || fail "no 'not open' message"
[ "$(allowlist_sum)" = "$before" ] || fail "the allowlist changed"

log "a mistyped code fails its checksum, before any connection"
typo=$(python3 -c 'import sys; c=sys.argv[1]; print(("b" if c[0] == "a" else "a") + c[1:])' "$code")
out=$(pair laptop "$typo") && fail "a mistyped code paired"
echo "$out"; echo "$out" | grep -q "checksum" || fail "no checksum message for a typo"

log "a short press (bouncing contacts) opens the window once"
press 0.4
wait_for 10 "the pairing window to open" bash -c "grep -q 'opened by the button' $log_file"
sleep 1  # a second opening would come within the bounce; its absence takes a moment to show
[ "$(opened_count)" = 1 ] || fail "one bouncing press opened the window $(opened_count) times"
expect_led pairing 2

log "three wrong secrets lock that laptop out of this window; the window stays open"
cp $work/pi/identity.key $work/wrong/identity.key
printf 'state_directory = "%s"\ngpio.chip = ""\n' "$work/wrong" > $work/wrong.toml
wrong=$("$bin/usbp2pd" pairing-code --config $work/wrong.toml --text-only | sed -n 's/^pairing code: //p')
[ "$wrong" != "$code" ] && [ "${wrong:0:20}" = "${code:0:20}" ] || fail "the wrong code is not for the same server"
for try in 1 2 3; do
  out=$(pair laptop "$wrong") && fail "a wrong secret paired"
  echo "$out"; echo "$out" | grep -q "wrong pairing secret" || fail "no 'wrong pairing secret' message"
done
echo "$out" | grep -q "may not try again" || fail "the third wrong secret did not lock the laptop out"
out=$(pair laptop "$uri") && fail "a fourth try paired"
echo "$out"; echo "$out" | grep -q "may not try again" || fail "the fourth try was not refused"
[ "$(allowlist_sum)" = "$before" ] || fail "the allowlist changed after wrong tries"
expect_led pairing 2

log "another press, the right code (the URI form): paired"
press 0.3
wait_for 10 "the pairing window to open again" bash -c "[ \$(grep -c 'opened by the button' $log_file) = 2 ]"
t0=$EPOCHREALTIME
pair laptop "$uri" --json | tee $work/pair.json
echo "measured: usbp2p-client pair (TCP, TLS, proof, both lists written): $(since $t0) s"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["paired"] and d["server"]["name"] == "Test Pi", d' $work/pair.json \
  || fail "pair --json did not report the pairing"
grep -q "laptop  # added $(date -u +%F)" $work/pi/allowlist || fail "the allowlist has no named, dated entry"
"$bin/usbp2p-client" peers --config $work/laptop.toml | grep -q "^Test Pi " || fail "the client's peers lack the server"
"$bin/usbp2p-client" peers --config $work/laptop.toml --json | python3 -c 'import json,sys; assert json.load(sys.stdin)["peers"][0]["name"] == "Test Pi"' \
  || fail "peers --json"
expect_led online 2

log "an unpaired client is refused"
pi_id=$("$bin/usbp2pd" identity show --config $work/pi.toml | head -n1)
out=$("$bin/usbp2p-client" list --config $work/stranger.toml "$pi_id@127.0.0.1:7575" 2>&1) \
  && fail "an unpaired client listed the devices"
echo "$out"; echo "$out" | grep -q "Is it paired" || fail "no hint to pair"

log "a client the access rules deny everything sees no devices and cannot import one"
"$bin/usbp2pd" allow --config $work/pi.toml "$stranger_id" stranger
"$bin/usbp2p-client" list --config $work/stranger.toml "$pi_id@127.0.0.1:7575" | tee $work/stranger-list
grep -q "exports no devices" $work/stranger-list || fail "a denied client was listed devices"
ss_busid=$(busid_of $ss_vid $ss_pid)
out=$(timeout 60 "$bin/usbp2p-client" attach --config $work/stranger.toml "$pi_id@127.0.0.1:7575" "$ss_busid" 2>&1) \
  && fail "a denied client attached"
echo "$out"; echo "$out" | grep -q "offers no device $ss_busid" || fail "no clear refusal for a denied device"
"$bin/usbp2pd" allow --config $work/pi.toml --remove "$stranger_id"

log "attach by the server's name and the device's: it comes up, the LED says 'attached'"
"$bin/usbp2p-client" list --config $work/laptop.toml --json "Test Pi@127.0.0.1:7575" | tee $work/list.json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert any(x["vid"] == sys.argv[2] and x["name"] == "usbp2p SourceSink test device" for x in d["devices"]), d' $work/list.json $ss_vid \
  || fail "list --json does not show the SourceSink device by its name"
# By part of the name the server gives it (any case).
"$bin/usbp2p-client" attach --config $work/laptop.toml "test pi@127.0.0.1:7575" sourcesink > $work/attach.log 2>&1 &
attach_pid=$!
wait_for 60 "the attached copy to enumerate" at_least 2 $ss_vid $ss_pid
cat $work/attach.log
wait_for 30 "the service to count the attached device" led_is attached
expect_led attached 3
metrics=$(python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9575/metrics").read().decode())')
echo "$metrics" | grep -E '^usbp2p_(pairing_attempts_total|devices_attached|sessions)'
echo "$metrics" | grep -q '^usbp2p_pairing_attempts_total{result="wrong_secret"} 2$' || fail "metrics: 2 wrong secrets"
echo "$metrics" | grep -q '^usbp2p_pairing_attempts_total{result="too_many_wrong"} 2$' || fail "metrics: the third wrong secret and the locked-out fourth try"
echo "$metrics" | grep -q '^usbp2p_pairing_attempts_total{result="paired"} 1$' || fail "metrics: 1 pairing"
echo "$metrics" | grep -q '^usbp2p_devices_attached 1$' || fail "metrics: 1 device attached"

log "the Pi's view (usbp2pd ui on a console, tmux): the LED, the device attached by the laptop; 'p' opens the window and shows the pairing QR code, which decodes to the label's URI"
ui() { tmux -L piui "$@"; }
ui new-session -d -s ui -x 150 -y 70 "env TERM=xterm bash --norc -i"
pane_has() { ui capture-pane -p -t ui | grep -q -- "$1"; }
view_gone() { ! pgrep -x -f "$bin/usbp2pd ui --config $work/pi.toml" > /dev/null; }
ui send-keys -t ui "$bin/usbp2pd ui --config $work/pi.toml" Enter
wait_for 30 "the Pi's view" pane_has "LED: attached"
pane_has "usbp2p SourceSink test device .*attached by" || fail "the Pi's view does not show who has the device"
pane_has "Pairing: closed" || fail "the Pi's view does not show the pairing window closed"
ui send-keys -t ui p
wait_for 30 "the pairing window open in the view" pane_has "Pairing: open for"
ui capture-pane -p -t ui > $work/pi-view.txt
python3 "$(dirname "$0")/qr-from-pane.py" $work/pi-view.txt $work/pi-view-qr.png || fail "no QR code in the Pi's view"
scanned=$(zbarimg -q --raw $work/pi-view-qr.png 2>/dev/null)
label_uri=$("$bin/usbp2pd" pairing-code --config $work/pi.toml | sed -n 's/^as a URI: *//p')
echo "scanned from the view: $scanned"
[ "${scanned,,}" = "${label_uri,,}" ] || fail "the view's QR code reads '$scanned', not the label's '$label_uri'"
ui send-keys -t ui c
wait_for 30 "the pairing window closed in the view" pane_has "Pairing: closed"
led_is attached || fail "the LED is not back to 'attached' after the window closed"
ui send-keys -t ui q
wait_for 10 "the Pi's view to end" view_gone
ui send-keys -t ui "stty -a | tr ' ' '\n' | grep -x -e icanon -e echo | tr '\n' ' '; echo modes-shown" Enter
wait_for 10 "the console's modes back after the view" pane_has "^icanon echo modes-shown"
ui kill-server

log "holding the button 10 s: a fast flicker from 3 s, then the allowlist is cleared"
# (How long the button is held is the subject here: these pauses are the user's hand.)
echo pull-down > "$button"
sleep 4
expect_led clearWarning 2
sleep 5
echo pull-up > "$button"
wait_for 10 "the allowlist to be cleared" bash -c "grep -q 'cleared the allowlist (1 client' $log_file"
[ -z "$(grep -v '^#' $work/pi/allowlist)" ] || fail "the allowlist is not empty"
wait_for 30 "the attached copy to go" exactly 1 $ss_vid $ss_pid
kill $attach_pid 2>/dev/null; wait $attach_pid 2>/dev/null

log "a stalled USB thread: the watchdog pings stop and systemd restarts the service"
pid=$(systemctl show -p MainPID --value usbp2pd)
t0=$EPOCHREALTIME
control "fault usb-stall" | grep -q "^ok" || fail "fault injection refused"
wait_for 30 "systemd to restart usbp2pd" bash -c "[ \$(systemctl show -p NRestarts --value usbp2pd) -ge 1 ]"
wait_for 30 "usbp2pd to be active again" bash -c "[ \$(systemctl is-active usbp2pd) = active ]"
echo "measured: USB thread stalled until active again (WatchdogSec=4): $(since $t0) s"
[ "$(systemctl show -p MainPID --value usbp2pd)" != "$pid" ] || fail "the same process is still running"
grep -q "the USB thread has not run" $log_file || fail "no log line about the stalled USB thread"

log "systemctl stop: a graceful stop"
systemctl stop usbp2pd
[ "$(systemctl is-active usbp2pd)" != active ] || fail "usbp2pd still active"
tail -n 5 $log_file | grep -q "stopping (signal 15)" || fail "no graceful stop"
[ "$(systemctl show -p Result --value usbp2pd)" = success ] || fail "the stop was not clean: $(systemctl show -p Result --value usbp2pd)"
trap - EXIT
echo "ok: appliance service, button, LED and pairing"
