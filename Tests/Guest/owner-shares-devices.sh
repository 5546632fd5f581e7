#!/bin/bash
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
# The appliance shares only what its owner shares. usbp2pd runs as its own user (as on
# the image); root's 'usbp2pd allow', 'share', 'unshare' and 'owner' leave its files its
# own and the service working, through a restart. The first laptop on the allowlist owns
# the server and sees the stick; the second sees nothing until the owner shares it from
# its laptop; the second laptop's attach ends when root unshares it; another laptop may
# not share; ownership moves with 'usbp2pd owner'. Access rules edited in the running
# service's configuration apply without a restart, and a broken edit keeps the last
# good ones. The audit log has each of these events in order, with who made it.
. "$(dirname "$0")/lib.sh"
usb_stick
work=/tmp/sharing; mkdir -p $work
trap 'cp $work/*.log "${USBP2P_RESULTS:-/tmp}/" 2>/dev/null' EXIT

log "usbp2pd as its own user, with the USB devices its group's (as the image's udev rule makes them)"
useradd --system --no-create-home usbp2p
chgrp usbp2p /dev/bus/usb/*/*; chmod 660 /dev/bus/usb/*/*
mkdir -p $work/pi $work/run $work/anna $work/ben
chown usbp2p:usbp2p $work/pi $work/run; chmod 700 $work/pi
cat > $work/pi.toml <<TOML
state_directory = "$work/pi"
session.listen = "127.0.0.1:7575"
lan.mdns = false
reach.port_mapping = false
gpio.chip = ""
control.socket = "$work/run/usbp2pd.sock"
TOML
for who in anna ben; do
  printf 'state_directory = "%s"\nlan.mdns = false\nreach.direct = false\n' "$work/$who" > $work/$who.toml
done
# start_pi: starts usbp2pd and waits for its own "ready" line: the log is appended to,
# and a restart must not take the last run's line for its own.
start_pi() {
  touch $work/pi.log
  local readies; readies=$(grep -c "ready: serving" $work/pi.log || true)
  setpriv --reuid=usbp2p --regid=usbp2p --init-groups "$bin/usbp2pd" serve --config $work/pi.toml >> $work/pi.log 2>&1 &
  pi_pid=$!
  wait_for 30 "usbp2pd to be ready" more_readies_than "$readies"
}
more_readies_than() { [ "$(grep -c "ready: serving" $work/pi.log)" -gt "$1" ]; }
start_pi
pi_id=$("$bin/usbp2pd" identity --config $work/pi.toml)
anna_id=$("$bin/usbp2p-client" identity --config $work/anna.toml)
ben_id=$("$bin/usbp2p-client" identity --config $work/ben.toml)
server="$pi_id@127.0.0.1:7575"
# client WHO COMMAND ARGS...: usbp2p-client with WHO's configuration, at the server.
client() { local who=$1 command=$2; shift 2; "$bin/usbp2p-client" "$command" --config $work/$who.toml "$server" "$@"; }
owned_by_service() {  # owned_by_service FILE: usbp2p's, mode 600
  [ "$(stat -c %U:%a "$1")" = "usbp2p:600" ] || fail "$1 is $(stat -c %U:%a "$1"), not the service's (usbp2p:600)"
}

log "root allows anna, then ben, while the service runs: anna, the first, is the owner"
"$bin/usbp2pd" allow --config $work/pi.toml "$anna_id" "anna's laptop"
"$bin/usbp2pd" allow --config $work/pi.toml "$ben_id" "ben's laptop"
owned_by_service $work/pi/allowlist
"$bin/usbp2pd" owner --config $work/pi.toml | tee $work/owner.log
grep -q "^$anna_id  anna's laptop" $work/owner.log || fail "anna, the first allowed, is not the owner"
"$bin/usbp2pd" devices --config $work/pi.toml | tee $work/devices.log
grep -q "unshared ($vid:$pid serial=usbp2p-stick)" $work/devices.log || fail "devices does not show the stick unshared"

log "the owner sees the stick; ben sees nothing until it is shared"
client anna list | tee $work/anna-list.log | grep -q "^$busid  $vid:$pid" || fail "the owner does not see the stick"
client ben list | tee $work/ben-list.log
grep -q "^$busid " $work/ben-list.log && fail "ben sees a stick nobody shared with him"
out=$(client ben share "$busid" 2>&1) && fail "ben shared a stick he does not see"
echo "$out"; echo "$out" | grep -q "lists no device $busid to this laptop" || fail "ben was not told why"

log "anna shares it from her laptop (by name); ben sees it and attaches it"
client anna share harddrive | tee $work/share.log
grep -q "shared $busid ($vid:$pid serial=usbp2p-stick) with every paired laptop" $work/share.log || fail "share did not say what it did"
owned_by_service $work/pi/sharing
grep -q "^shared $vid:$pid serial=usbp2p-stick$" $work/pi/sharing || fail "the sharing file does not keep the stick by its serial"
client ben list | grep -q "^$busid  $vid:$pid" || fail "ben does not see the shared stick"
out=$(client ben unshare "$busid" 2>&1) && fail "ben, not the owner, unshared the stick"
echo "$out"; echo "$out" | grep -q "only the owner" || fail "ben was not told only the owner may unshare"
"$bin/usbp2p-client" attach --config $work/ben.toml "$server" "$busid" > $work/ben-attach.log 2>&1 &
attach_pid=$!
wait_for 60 "the stick on ben's vhci_hcd" at_least 2 $vid $pid

log "root unshares it: ben loses it at once"
unshared_at=$(date +%s.%N)
"$bin/usbp2pd" unshare --config $work/pi.toml "$busid" | tee $work/unshare.log
grep -q "only the owner uses it now" $work/unshare.log || fail "unshare did not say what it did"
wait_for 10 "the stick to leave ben's vhci_hcd" exactly 1 $vid $pid
echo "measured: usbp2pd unshare until the stick left the laptop $(awk -v a="$unshared_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
grep -q "detached, no longer allowed" $work/pi.log || fail "the service does not say it ended ben's import"
client ben list | grep -q "^$busid " && fail "ben still sees the unshared stick"
wait_for 10 "ben's attach to say the stick left" grep -q "the server no longer offers it to this laptop" $work/ben-attach.log
kill $attach_pid; wait $attach_pid || true

log "root shares it with ben alone, then makes ben the owner; ben unshares it from his laptop"
"$bin/usbp2pd" share --config $work/pi.toml "$vid:$pid" --for "$ben_id" | grep -q "with 1 laptop" || fail "share --for"
grep -q "^shared $vid:$pid serial=usbp2p-stick for $ben_id$" $work/pi/sharing || fail "the sharing file lacks ben's share"
client ben list | grep -q "^$busid " || fail "ben does not see the stick shared with him"
out=$("$bin/usbp2pd" owner --config $work/pi.toml "$pi_id" 2>&1) && fail "a laptop that is not paired became the owner"
echo "$out"; echo "$out" | grep -q "not paired" || fail "no clear error for an owner who is not paired"
"$bin/usbp2pd" owner --config $work/pi.toml "$ben_id" | grep -q "is the owner now" || fail "owner did not move"
owned_by_service $work/pi/sharing
"$bin/usbp2pd" owner --config $work/pi.toml | grep -q "^$ben_id" || fail "ben is not shown as the owner"
client ben unshare "$vid:$pid" | grep -q "only the owner uses it now" || fail "the new owner could not unshare"
client anna list | grep -q "^$busid " && fail "anna, no longer the owner, still sees the unshared stick"

log "access rules edited in the running service's configuration apply at once; a broken edit keeps them"
client ben list | grep -q "^$busid " || fail "the owner does not see the stick"
echo "access.rules = [\"deny $ben_id *\"]" >> $work/pi.toml
wait_for 10 "the service to apply the new rules" grep -q "access rules and sharing.new_devices applied" $work/pi.log
client ben list | grep -q "^$busid " && fail "the rule that denies ben did not apply without a restart"
echo 'sharing.new_devices = "sometimes"' >> $work/pi.toml
wait_for 10 "the service to refuse the broken edit" grep -q "the configuration changed and is not valid" $work/pi.log
grep "the configuration changed and is not valid" $work/pi.log | grep -q "sharing.new_devices" \
  || fail "the error does not name the key"
client ben list | grep -q "^$busid " && fail "the broken edit undid the last good rules"
sed -i '/sharing.new_devices = "sometimes"/d; /^access.rules/d' $work/pi.toml

log "after all of root's changes the files are the service's and it starts again with them"
kill -0 $pi_pid || fail "the service died"
"$bin/usbp2pd" pair --config $work/pi.toml | grep -q "usb-thread=running" || fail "the service does not answer its status"
for file in allowlist sharing identity.key audit.log; do owned_by_service $work/pi/$file; done
kill -TERM $pi_pid; wait $pi_pid || true
start_pi
"$bin/usbp2pd" owner --config $work/pi.toml | grep -q "^$ben_id" || fail "the owner did not outlive the restart"
client ben list | grep -q "^$busid " || fail "the owner does not see the stick after the restart"
client anna list | grep -q "^$busid " && fail "the unshared stick is shared again after the restart"

log "the audit log has every change, in order, with who made it"
"$bin/usbp2pd" audit --config $work/pi.toml | tee $work/audit.log
"$bin/usbp2pd" audit --config $work/pi.toml --json > $work/audit.json
ANNA=$anna_id BEN=$ben_id python3 - $work/audit.json <<'PY' || fail "the audit log lacks an event, or has one out of order"
import json, os, sys
events = [json.loads(line) for line in open(sys.argv[1])]
anna, ben = os.environ["ANNA"], os.environ["BEN"]
def step(kind, **fields):
    return lambda e: e["event"] == kind and all(e.get(k) == v or (v == "*" and k in e) for k, v in fields.items())
want = [
    ("service started", step("service-started")),
    ("anna allowed", step("allowlist-added", peer=anna, name="anna's laptop")),
    ("ben allowed", step("allowlist-added", peer=ben, name="ben's laptop")),
    ("anna shares", step("shared", peer=anna, name="anna's laptop")),
    ("ben refused", step("sharing-refused", peer=ben)),
    ("ben attaches", step("attached", peer=ben, device="*", path="*")),
    ("root unshares", step("unshared", result="*")),
    ("ben's import ends", step("detached", peer=ben, result="no longer allowed")),
    ("owner to ben", step("owner-changed")),
    ("ben unshares", step("unshared", peer=ben)),
    ("rules applied", step("settings-applied")),
    ("broken edit refused", step("settings-refused")),
    ("service stopped", step("service-stopped")),
    ("service started again", step("service-started")),
]
rest = iter(events)
for what, matches in want:
    if not any(matches(e) for e in rest):
        sys.exit(f"not found in order: {what}\n" + "\n".join(json.dumps(e) for e in events))
assert all(e["time"].endswith("Z") for e in events)
print(f"{len(events)} events, each expected one in order")
PY
kill -TERM $pi_pid; wait $pi_pid || true
echo "PASS: the owner shares: ben sees the stick only once shared and loses it when unshared; root's allow, share, unshare and owner leave the service's files its own; access rules apply live"
