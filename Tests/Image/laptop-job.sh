#!/bin/bash
# init: systemd
# The laptop in the end-to-end test (Tests/Image/appliance-image.sh): a scripts/guest
# machine (--machine: its own disk keeps what it writes, it reboots, systemd starts what
# was enabled on it), on one Ethernet with the appliance VM. It is also the LAN's router:
# a DHCP server (dnsmasq) hands the appliance its address. In each boot it runs the test
# agent (Tests/Image/agent), through which the test drives it, until /tmp/laptop-done
# appears. vhci-hcd is not loaded here: the .deb the test installs loads it.
. "$(dirname "$0")/../Guest/lib.sh"
state=/var/lib/usbp2p-test
mkdir -p $state
boot=$(($(cat $state/boots 2> /dev/null || echo 0) + 1))
echo $boot > $state/boots
if [ "$boot" = 1 ]; then
  echo laptop > /etc/hostname
  # man-db rebuilds its whole index after every package install: minutes of emulated CPU
  # spent on nothing this test looks at.
  rm -f /var/lib/man-db/auto-update
fi
hostname laptop
modprobe virtio_net; modprobe virtio_console
# The interfaces, whatever udev named them (their MACs are the test's): the LAN, and
# qemu's user networking, on which the relay at 10.0.2.100 is all there is.
iface_of() { grep -l "$1" /sys/class/net/*/address 2> /dev/null | head -n1 | xargs -r dirname | xargs -r basename; }
has_interfaces() { [ -n "$(iface_of 52:54:00:77:00:01)" ] && [ -n "$(iface_of 52:54:00:77:01:01)" ]; }
wait_for 20 "the LAN and relay interfaces" has_interfaces
udevadm settle --timeout=20 2> /dev/null || true # udev may still be renaming them
iface=$(iface_of 52:54:00:77:00:01) wan=$(iface_of 52:54:00:77:01:01)
ip link set lo up; ip link set "$iface" up; ip link set "$wan" up
ip addr add 198.18.77.1/24 dev "$iface"
ip addr add 10.0.2.30/24 dev "$wan"
# (The leases on the machine's disk: the appliance keeps its address across a reboot.)
dnsmasq --interface="$iface" --bind-interfaces --port=0 --dhcp-range=198.18.77.50,198.18.77.99,10m \
  --dhcp-leasefile=$state/dnsmasq.leases --pid-file=/run/dnsmasq-lan.pid --log-dhcp --log-facility=$state/dnsmasq.log
bash "$project/Tests/Image/agent" &
log "laptop ready (boot $boot): 198.18.77.1 on $iface, DHCP for the appliance, 10.0.2.30 on $wan, agent on usbp2p.test"
while [ ! -f /tmp/laptop-done ]; do sleep 0.5; done
log "laptop done"
