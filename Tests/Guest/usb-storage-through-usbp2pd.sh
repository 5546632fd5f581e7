#!/bin/bash
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick -netdev user,id=usbnet,restrict=on -device usb-net,bus=xhci.0,netdev=usbnet
# A USB stick (qemu's usb-storage) imported with usbp2p-client, first from usbp2pd, then
# from the kernel's usbipd: each time a filesystem is made on it, an 8 MiB file written,
# the disk unmounted and the page cache dropped, and the file read back with the same
# SHA-256. Before that, what the machine uses itself is never offered: its USB network
# adapter (qemu's usb-net) always, and the stick while a filesystem on it is mounted.
. "$(dirname "$0")/lib.sh"
vid=46f4; pid=0001   # qemu's usb-storage
wait_for 30 "the USB stick to enumerate" busid_of $vid $pid
busid=$(busid_of $vid $pid)
modprobe vhci-hcd
modprobe usbip-host

round_trip() {  # round_trip SERVER-NAME
  local disk written read_back
  attach_copy "$1" "$busid" $vid $pid
  disk_of() { ls /sys/bus/usb/devices/$imported:1.0/host*/target*/*/block/ 2>/dev/null | head -n1; }
  wait_for 30 "a disk on the imported stick" disk_of
  disk=/dev/$(disk_of)
  wait_for 10 "$disk" test -b "$disk"
  log "the stick imported from $1 is $disk"
  mkfs.ext4 -q -F "$disk"
  mkdir -p /mnt/stick
  mount "$disk" /mnt/stick
  dd if=/dev/urandom of=/tmp/data bs=1M count=8 status=none
  written=$(sha256sum < /tmp/data)
  cp /tmp/data /mnt/stick/data
  umount /mnt/stick
  echo 3 > /proc/sys/vm/drop_caches
  mount "$disk" /mnt/stick
  read_back=$(sha256sum < /mnt/stick/data)
  umount /mnt/stick
  echo "written   $written"
  echo "read back $read_back"
  [ "$written" = "$read_back" ] || fail "the file read back through $1 differs from the one written"
  detach_copy $vid $pid
}

start_usbp2pd

log "this machine's own devices are never offered: its USB network adapter, the stick while mounted here"
usb_net_busid() {
  local n
  for n in /sys/bus/usb/devices/*:*/net/*; do
    [ -e "$n" ] && { basename "$(dirname "$(dirname "$n")")" | cut -d: -f1; return 0; }
  done
  return 1
}
wait_for 30 "the USB network adapter's interface" usb_net_busid
net_busid=$(usb_net_busid)
offered() { "$bin/usbp2p-client" list --usbip 127.0.0.1 | grep -q "^$1 "; }
"$bin/usbp2pd" devices | tee /tmp/devices.log
grep -A1 "^$net_busid " /tmp/devices.log | grep -q "never offered: it is this machine's network interface" \
  || fail "usbp2pd devices does not say the network adapter is never offered"
offered "$net_busid" && fail "the machine's own network adapter is offered"
offered "$busid" || fail "the stick is not offered before it is mounted"
stick_disk() { ls /sys/bus/usb/devices/$busid:1.0/host*/target*/*/block/ 2>/dev/null | head -n1; }
wait_for 30 "the stick's disk here" stick_disk
mkfs.ext4 -q -F /dev/$(stick_disk)
mkdir -p /mnt/own && mount /dev/$(stick_disk) /mnt/own
offered "$busid" && fail "the stick is offered while its filesystem is mounted here"
"$bin/usbp2pd" devices | grep -A1 "^$busid " | grep -q "never offered: the filesystem mounted at /mnt/own is on it" \
  || fail "usbp2pd devices does not say why the mounted stick is not offered"
"$bin/usbp2p-client" attach --usbip 127.0.0.1 "$busid" 2>&1 && fail "the mounted stick could be imported"
umount /mnt/own
offered "$busid" || fail "the stick is not offered again after the unmount"

round_trip usbp2pd
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
usbipd -D
usbip bind -b "$busid"
round_trip usbipd
echo "PASS: the machine's own network adapter and a mounted stick are never offered; an 8 MiB file survives a round trip to a USB stick through usbp2pd and through usbipd"
