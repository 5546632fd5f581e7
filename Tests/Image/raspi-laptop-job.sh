#!/bin/bash
# The laptop of the Raspberry Pi boot test (Tests/Image/raspi-boot.sh), a scripts/guest
# job: its only network is qemu's user networking, where the host's loopback port PORT
# (10.0.2.2:PORT here) leads to usbp2pd on the emulated Pi. It pairs with the Pi's code,
# attaches the Pi's USB stick through vhci-hcd and checks what it reads back against the
# SHA-256 of the stick's first BYTES bytes, then detaches.
#   raspi-laptop-job.sh PORT CODE SHA256 BYTES
. "$(dirname "$0")/../Guest/lib.sh"
port=$1 code=$2 expected=$3 bytes=$4
work=/tmp/laptop
mkdir -p $work/state
printf 'state_directory = "%s"\nlan.mdns = false\nname = "laptop"\n' "$work/state" > $work/laptop.toml

modprobe virtio_net
iface=$(basename "$(dirname "$(grep -l 52:54:00:12:34:56 /sys/class/net/*/address | head -n1)")")
ip link set lo up; ip link set "$iface" up
ip addr add 10.0.2.15/24 dev "$iface"; ip route add default via 10.0.2.2
modprobe vhci-hcd
server="10.0.2.2:$port"

log "pairing with the Pi at $server"
"$bin/usbp2p-client" pair --config $work/laptop.toml --address "$server" --json "$code" > $work/pair.json \
  || fail "pairing failed: $(cat $work/pair.json)"
pi_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"]["id"])' $work/pair.json) \
  || fail "pair --json has no server id: $(cat $work/pair.json)"
"$bin/usbp2p-client" list --config $work/laptop.toml "$pi_id@$server" || fail "cannot list the Pi's devices"

log "attaching the Pi's stick (qemu's usb-storage, 46f4:0001)"
t0=$EPOCHREALTIME
"$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id@$server" 46f4:0001 > $work/attach.log 2>&1 &
attach_pid=$!
# (|| true: under lib.sh's errexit a failing command in the trap would change the status.)
trap 'kill $attach_pid 2> /dev/null || true; echo "-- attach log"; tail -n 20 $work/attach.log' EXIT
wait_for 180 "the stick to come up on vhci-hcd" at_least 1 46f4 0001
wait_for 60 "the stick's block device" test -b /dev/sda
echo "measured: attach until the block device exists $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"

log "reading $bytes bytes back through the session"
t0=$EPOCHREALTIME
read_back=$(head -c "$bytes" /dev/sda | sha256sum | cut -d' ' -f1)
seconds=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
echo "measured: $bytes bytes read from the Pi's stick in $seconds s ($(awk -v n="$bytes" -v s="$seconds" 'BEGIN { printf "%.2f", n / s / 1e6 }') MB/s, TCG on both ends)"
[ "$read_back" = "$expected" ] || fail "the stick read back as $read_back, not $expected"
echo "ok: SHA-256 $read_back"

log "detaching"
kill $attach_pid; wait $attach_pid 2> /dev/null || true
trap - EXIT
wait_for 60 "the stick to leave vhci-hcd" exactly 0 46f4 0001
echo "ok: attached, read and detached"
