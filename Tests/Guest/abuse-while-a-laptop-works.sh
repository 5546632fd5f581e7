#!/bin/bash
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# timeout: 900
# Abuse: every port usbp2pd and usbp2p-relay open, attacked at once by strangers
# without keys and by a paired laptop gone bad, while an honest laptop keeps a USB stick
# attached through the relay and writes and reads 4 MiB, and a new laptop pairs with
# the button, both while the attacks run. Each attack is bounded in count and time
# (Tests/Abuse, usbp2p-abuse):
#   - 200 handshakes trickled to usbp2pd from 20 addresses on its LAN (more than its 64
#     slots; each byte in time for a per-read timeout);
#   - 60 strangers from the same addresses who complete TLS for pairing at once and then
#     trickle their pairing request (a byte every 2 s);
#   - 1100 trickling connections to the relay from one public host (more than its 1024);
#   - 20 strangers who know only the appliance's EndpointId, trickling their TLS greeting
#     through the relay;
#   - a paired laptop that opens 64 channels it never uses and floods punch requests;
#   - a fake relay that floods a second usbp2pd with 2000 "incoming client" notices
#     naming a paired laptop, and holds every answer open.
# After it: both usbp2pd and the relay alive, their threads and memory back within 10%
# of before (a settling time allowed), the honest attach never dropped (no
# re-enumeration, data intact), the new laptop on the allowlist, the second usbp2pd's
# answers to the fake relay bounded at 8 at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net.sh"
usb_stick
work=/tmp/abuse; mkdir -p $work
trap 'cp $work/*.log "${USBP2P_RESULTS:-/tmp}/" 2>/dev/null; net_down' EXIT

log "gpio-sim: the appliance's button (line 27) and LED (17)"
gpio_sim_chip
press() { echo pull-down > "$button"; sleep "$1"; echo pull-up > "$button"; }

log "networks: the Pi and the honest laptop behind NATs, the relay, and the attackers"
net_up
join_lan natpi lanattacker 10.1.0.3
sources=()
for i in $(seq 10 29); do ip -n lanattacker addr add 10.1.0.$i/24 dev eth0; sources+=(--source 10.1.0.$i); done
join_lan natpi newlap 10.1.0.4
join_lan natpi evil 10.1.0.5
join_lan natpi pi2 10.1.0.6
ip netns add attacker; ip -n attacker link set lo up; net_extra+=" attacker"
link wan w-att 198.18.3.1/24 attacker eth0 198.18.3.2/24
ip -n attacker route add default via 198.18.3.1

endpoints $work   # relay.toml, pi.toml, laptop.toml; relay_id, pi_id, laptop_id
cat >> $work/pi.toml <<TOML
session.listen = "10.1.0.2:7575"
lan.mdns = false
reach.port_mapping = false
reach.direct = false
gpio.chip = "$chip"
control.socket = "$work/control.sock"
pairing.window_seconds = 120
TOML
echo 'reach.direct = false' >> $work/laptop.toml
for who in evil newlap; do
  mkdir -p $work/$who
  printf 'state_directory = "%s"\nname = "%s"\nlan.mdns = false\n' "$work/$who" "$who" > $work/$who.toml
done
evil_id=$("$bin/usbp2p-client" identity --config $work/evil.toml)
newlap_id=$("$bin/usbp2p-client" identity --config $work/newlap.toml)
"$bin/usbp2pd" allow --config $work/pi.toml "$evil_id" "evil laptop" > /dev/null
# The second appliance, registered at the attacker's fake relay (no relay.id pinned).
mkdir -p $work/pi2
cat > $work/pi2.toml <<TOML
state_directory = "$work/pi2"
session.listen = "10.1.0.6:7575"
relay.address = "198.18.3.2:443"
lan.mdns = false
reach.port_mapping = false
reach.direct = false
control.socket = "$work/control2.sock"
gpio.chip = ""
TOML
"$bin/usbp2pd" identity --config $work/pi2.toml > /dev/null
"$bin/usbp2pd" allow --config $work/pi2.toml "$laptop_id" "test laptop" > /dev/null

ip netns exec wan "$bin/usbp2p-relay" serve --config $work/relay.toml > $work/relay.log 2>&1 &
relay_pid=$!
ip netns exec pi "$bin/usbp2pd" serve --config $work/pi.toml > $work/pi.log 2>&1 &
pi_pid=$!
wait_for 30 "usbp2pd to register at the relay" grep -q "registered at relay" $work/pi.log
ip netns exec attacker "$bin/usbp2p-abuse" fake-relay --listen 198.18.3.2:443 --from "$laptop_id" \
  --notices 2000 --seconds 75 > $work/fake-relay.log 2>&1 &
fake_pid=$!
wait_for 15 "the fake relay" grep -q "fake relay" $work/fake-relay.log

log "the honest laptop attaches the stick through the relay"
ip netns exec laptop "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id" "$busid" > $work/attach.log 2>&1 &
attach_pid=$!
wait_for 90 "the stick imported through the relay" at_least 2 $vid $pid
imported=$(busid_of $vid $pid 2)
devnum=$(cat /sys/bus/usb/devices/$imported/devnum)
disk_of() { ls /sys/bus/usb/devices/$imported:1.0/host*/target*/*/block/ 2>/dev/null | head -n1; }
wait_for 30 "a disk on the imported stick" disk_of
disk=/dev/$(disk_of)
wait_for 10 "$disk" test -b "$disk"

threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
settled() {  # settled PID THREADS RSS: within 10% of those (and 2 MiB of allocator slack)
  [ "$(threads "$1")" -le $(($2 + $2 / 10)) ] && [ "$(rss "$1")" -le $(($3 + $3 / 10 + 2048)) ]
}
settle() {  # settle NAME PID THREADS RSS: waits up to 60 s, saying where it stands
  local i
  for i in $(seq 60); do
    settled "$2" "$3" "$4" && return 0
    [ $((i % 10)) = 1 ] && echo "$1 settling: $(threads "$2") threads (before $3), $(rss "$2") KiB (before $4)"
    sleep 1
  done
  fail "$1 did not come back within 10%: $(threads "$2") threads (before $3), $(rss "$2") KiB (before $4)"
}
# Let the fake relay's first notices be answered, then take the baseline of all three.
ip netns exec pi2 "$bin/usbp2pd" serve --config $work/pi2.toml > $work/pi2.log 2>&1 &
pi2_pid=$!
wait_for 30 "the second usbp2pd to register at the fake relay" grep -q "registered at relay" $work/pi2.log
pi_threads=$(threads $pi_pid); pi_rss=$(rss $pi_pid)
relay_threads=$(threads $relay_pid); relay_rss=$(rss $relay_pid)
echo "before: usbp2pd $pi_threads threads, $pi_rss KiB; relay $relay_threads threads, $relay_rss KiB"
pi2_most=$(threads $pi2_pid)

log "the attacks, all at once, bounded (40 s)"
abuse() {  # abuse NAMESPACE NAME ARGS...: one attack in the background, its result in NAME.log
  local ns=$1 name=$2; shift 2
  ip netns exec "$ns" "$bin/usbp2p-abuse" "$@" > $work/$name.log 2>&1 &
  attacks+=($!)
}
attacks=()
abuse lanattacker trickle-pi trickle --target 10.1.0.2:7575 --connections 200 "${sources[@]}" --interval 1 --seconds 40
# A byte every 2 s: a request takes 66 s to arrive, longer than the attack; only the
# whole-exchange deadline closes these.
abuse lanattacker trickle-pairing trickle --target 10.1.0.2:7575 --connections 60 "${sources[@]}" --interval 2 \
  --seconds 40 --pairing-server "$pi_id" --overdue-after 12
abuse attacker trickle-relay trickle --target 198.18.0.1:443 --connections 1100 --interval 2 --seconds 40
abuse attacker strangers relay-trickle --relay 198.18.0.1:443 --target-id "$pi_id" --count 20 --seconds 30
abuse evil hoard hoard --key $work/evil/identity.key --server-id "$pi_id" --address 10.1.0.2:7575 --channels 64 \
  --punches 100000 --seconds 30

# Both at once, so that both happen while the attacks run (until 2026-12-07 the pairing
# came after a 16 MiB write, which outlasted the attacks' 40 s under emulation).
log "meanwhile: 4 MiB written and read back through the relay"
head -c 4194304 /dev/urandom > $work/data
written=$(sha256sum < $work/data | cut -d' ' -f1)
(
  dd if=$work/data of="$disk" bs=256k oflag=direct status=none || { echo "writing to the stick failed" >&2; exit 1; }
  echo 3 > /proc/sys/vm/drop_caches
  dd if="$disk" bs=256k count=16 iflag=direct status=none | sha256sum | cut -d' ' -f1
) > $work/read-back.sum 2> $work/write.err &
writer=$!

log "meanwhile: a new laptop pairs with the button"
kill -0 "${attacks[0]}" 2> /dev/null || fail "the attacks ended before the pairing began"
code=$("$bin/usbp2pd" pairing-code --config $work/pi.toml --text-only | sed -n 's/^pairing code: //p')
press 0.3
wait_for 15 "the pairing window to open" grep -q "opened by the button" $work/pi.log
ip netns exec newlap "$bin/usbp2p-client" pair --config $work/newlap.toml --address 10.1.0.2:7575 "$code" \
  > $work/pair.log 2>&1 || { cat $work/pair.log; fail "the new laptop could not pair under attack"; }
grep -q "$newlap_id" $work/pi/allowlist || fail "the new laptop is not on the allowlist"
during=$(kill -0 "${attacks[0]}" 2> /dev/null && echo "the attacks still running" || echo "the attacks over by then")
log "the new laptop paired under attack ($during)"

wait $writer || fail "under attack: $(cat $work/write.err)"
[ "$written" = "$(cat $work/read-back.sum)" ] || fail "the data read back under attack differs from what was written"
log "4 MiB written and read back intact under attack"

while kill -0 "${attacks[0]}" 2>/dev/null; do  # the fake relay's answers, sampled until the trickles end
  now=$(threads $pi2_pid 2>/dev/null || echo 0); [ "$now" -gt "$pi2_most" ] && pi2_most=$now
  sleep 1
done
for attack in "${attacks[@]}"; do wait "$attack" || true; done
for name in trickle-pi trickle-pairing trickle-relay strangers hoard; do echo "$name: $(grep '^result:' $work/$name.log || tail -n 3 $work/$name.log)"; done

log "after: everything alive, the attach never dropped, threads and memory back"
kill -0 $pi_pid || fail "usbp2pd died"
kill -0 $relay_pid || fail "usbp2p-relay died"
kill -0 $pi2_pid || fail "the second usbp2pd (fake relay's target) died"
kill -0 $attach_pid || fail "the honest laptop's attach ended"
[ "$(busid_of $vid $pid 2)" = "$imported" ] && [ "$(cat /sys/bus/usb/devices/$imported/devnum)" = "$devnum" ] \
  || fail "the stick was re-enumerated on the laptop"
grep -qE "session ended|detached" $work/attach.log && fail "the honest session dropped: $(cat $work/attach.log)"
grep -q "^result: trickle opened" $work/trickle-pi.log || fail "the trickle against usbp2pd did not run"
# Every pairing connection is cut by the 10 s deadline: none is still open 12 s after it
# was made (with only a per-read timeout, all of them are).
cut_pairings=$(sed -n 's/.*closed-by-server \([0-9]*\).*/\1/p' $work/trickle-pairing.log)
overdue_pairings=$(sed -n 's/.* overdue \([0-9]*\).*/\1/p' $work/trickle-pairing.log)
[ "${cut_pairings:-0}" -ge 1 ] && [ "${overdue_pairings:-1}" = 0 ] \
  || fail "usbp2pd left trickled pairing requests open (closed ${cut_pairings:-none}, open past 12 s: ${overdue_pairings:-?})"
grep -q "^result: hoard" $work/hoard.log || fail "the hoarding laptop did not run"
ip netns exec laptop "$bin/usbp2p-client" list --config $work/laptop.toml "$pi_id" > $work/list.log 2>&1 \
  || fail "usbp2pd no longer lists its devices after the abuse"
settle usbp2pd $pi_pid "$pi_threads" "$pi_rss"
settle usbp2p-relay $relay_pid "$relay_threads" "$relay_rss"
echo "after: usbp2pd $(threads $pi_pid) threads, $(rss $pi_pid) KiB; relay $(threads $relay_pid) threads, $(rss $relay_pid) KiB"
wait "$fake_pid" || true
echo "fake relay: $(grep '^result:' $work/fake-relay.log)"
most=$(sed -n 's/.*most-at-once \([0-9]*\).*/\1/p' $work/fake-relay.log)
[ -n "$most" ] && [ "$most" -le 8 ] || fail "the second usbp2pd answered the fake relay $most times at once (bound: 8)"
echo "the second usbp2pd: at most $pi2_most threads under the notice flood"
[ "$pi2_most" -le 64 ] || fail "the second usbp2pd grew to $pi2_most threads under the notice flood"
grep -q "at most\|left out before this\|not answering" $work/pi2.log || true
kill -TERM "$attach_pid"; wait "$attach_pid" || true
echo "measured: abuse: usbp2pd $pi_threads -> $(threads $pi_pid) threads, $pi_rss -> $(rss $pi_pid) KiB;" \
  "relay $relay_threads -> $(threads $relay_pid) threads, $relay_rss -> $(rss $relay_pid) KiB;" \
  "fake relay answered at most $most at once"
echo "PASS: under abuse on every port: both services alive, the honest attach kept with its data intact, a new laptop paired, threads and memory back"
