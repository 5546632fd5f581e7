#!/bin/bash
# The laptop in the end-to-end test (Tests/Image/appliance-image.sh): a scripts/guest job
# with vhci_hcd, on one Ethernet with the appliance VM. It is also the LAN's router: a
# DHCP server (dnsmasq) hands the appliance its address. Then it runs the test agent
# (Tests/Image/agent), through which the test drives it, until /tmp/laptop-done appears.
. "$(dirname "$0")/../Guest/lib.sh"
modprobe virtio_net; modprobe virtio_console; modprobe vhci-hcd
# The LAN's interface, whatever udev named it (its MAC is the test's).
lan_iface() { grep -l 52:54:00:77:00:01 /sys/class/net/*/address 2>/dev/null | head -n1 | xargs -r dirname | xargs -r basename; }
has_lan() { [ -n "$(lan_iface)" ]; }
wait_for 20 "the LAN interface" has_lan
udevadm settle --timeout=20 2>/dev/null || true  # udev may still be renaming it
iface=$(lan_iface)
ip link set lo up; ip link set "$iface" up
ip addr add 198.18.77.1/24 dev "$iface"
dnsmasq --interface="$iface" --bind-interfaces --port=0 --dhcp-range=198.18.77.50,198.18.77.99,10m \
  --dhcp-leasefile=/tmp/dnsmasq.leases --pid-file=/tmp/dnsmasq.pid --log-dhcp --log-facility=/tmp/dnsmasq.log
bash "$project/Tests/Image/agent" &
log "laptop ready: 198.18.77.1 on $iface, DHCP for the appliance, agent on usbp2p.test"
while [ ! -f /tmp/laptop-done ]; do sleep 0.5; done
log "laptop done"
