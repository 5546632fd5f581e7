# Shared by the guest benchmarks (sourced after Tests/Guest/lib.sh).

# pair_for_bench WORK [LINE...]: the Pi's and the laptop's configuration files in WORK
# (the Pi's sessions on 10.77.0.1:7575; no mDNS, port mapping, GPIO or metrics; each
# LINE added to the Pi's file), their identities in pi_id and laptop_id, and the laptop
# allowed on the Pi.
pair_for_bench() {
  local dir=$1; shift
  mkdir -p "$dir/pi" "$dir/laptop"
  {
    echo "state_directory = \"$dir/pi\""
    echo 'session.listen = "10.77.0.1:7575"'
    [ $# -eq 0 ] || printf '%s\n' "$@"
    printf 'lan.mdns = false\nreach.port_mapping = false\ngpio.chip = ""\nmetrics.listen = ""\n'
  } > "$dir/pi.toml"
  printf 'state_directory = "%s"\nlan.mdns = false\n' "$dir/laptop" > "$dir/laptop.toml"
  pi_id=$("$bin/usbp2pd" identity --config "$dir/pi.toml")
  laptop_id=$("$bin/usbp2p-client" identity --config "$dir/laptop.toml")
  "$bin/usbp2pd" allow --config "$dir/pi.toml" "$laptop_id" "bench laptop" > /dev/null
}

# bench_network WORK: the server's and the laptop's namespaces (bpi 10.77.0.1, blap
# 10.77.0.2) over a veth, and WireGuard between them (10.78.0.1, 10.78.0.2): what a
# technical user runs the kernel's usbip inside instead of usbp2p.
bench_network() {
  local dir=$1 ns
  for m in veth wireguard; do modprobe $m; done
  for ns in bpi blap; do ip netns add $ns; ip -n $ns link set lo up; done
  link bpi eth0 10.77.0.1/24 blap eth0 10.77.0.2/24
  for ns in bpi blap; do (umask 077; wg genkey > "$dir/$ns.key"); wg pubkey < "$dir/$ns.key" > "$dir/$ns.pub"; done
  wg_up "$dir" bpi 10.78.0.1 blap 10.78.0.2 10.77.0.2
  wg_up "$dir" blap 10.78.0.2 bpi 10.78.0.1 10.77.0.1
}

wg_up() {  # wg_up WORK NS ADDRESS PEER PEER-ADDRESS PEER-ENDPOINT
  ip -n "$2" link add wg0 type wireguard
  ip netns exec "$2" wg set wg0 private-key "$1/$2.key" listen-port 51820 \
    peer "$(cat "$1/$4.pub")" allowed-ips "$5/32" endpoint "$6:51820"
  ip -n "$2" addr add "$3/24" dev wg0; ip -n "$2" link set wg0 up
}

# vhci_free: no vhci_hcd port is in use (a detach is over only when its port is free
# again, after the device copy has gone; usbip attach fails on a port still going).
vhci_free() {
  ! cat /sys/devices/platform/vhci_hcd.*/status* 2> /dev/null | awk '$1 != "hub" && $3 != "004" {found = 1} END {exit !found}'
}

# imported VID PID: waits for the imported copy of a device (the second with those ids);
# prints its bus id.
imported() {
  wait_for 60 "the imported copy of $1:$2" at_least 2 "$1" "$2"
  busid_of "$1" "$2" 2
}

# copy_gone VID PID: waits until the imported copy has gone and its vhci port is free.
copy_gone() {
  wait_for 30 "the copy of $1:$2 to go" exactly 1 "$1" "$2"
  wait_for 30 "vhci's ports to be free" vhci_free
}

# stick_disk COPY: waits for the block device of the imported stick COPY (its bus id);
# sets disk to its /dev path.
stick_block() { ls /sys/bus/usb/devices/$1:1.0/host*/target*/*/block/ 2> /dev/null | head -n1; }
stick_disk() {
  wait_for 30 "a disk on the imported stick" stick_block "$1"
  disk=/dev/$(stick_block "$1"); wait_for 10 "$disk" test -b "$disk"
}
