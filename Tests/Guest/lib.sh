# Helpers for jobs that run in the test guest (scripts/guest). Sourced.
set -euo pipefail
project=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The binaries under test: .build/debug, or the folder given as "--bin DIR" to the job.
bin="$project/.build/debug"
if [ "${1:-}" = --bin ] && [ -n "${2:-}" ]; then bin=$2; fi

log() { printf '== %s %s\n' "$(date +%T.%2N)" "$*"; }
# Fails the job, with what the kernel said and the vhci ports' state to explain it.
fail() {
  printf 'FAIL: %s\n' "$*"
  echo "-- dmesg (last 30 lines)"; dmesg | tail -n 30
  echo "-- vhci ports in use"
  cat /sys/devices/platform/vhci_hcd.*/status* 2>/dev/null | awk '$1 != "hub" && $3 != "004"' || true
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.2
  done
}

# holds_open PID PATH: process PID (or a child of it) has PATH open.
holds_open() {
  local p
  for p in "$1" $(pgrep -P "$1"); do
    ls -l /proc/$p/fd 2>/dev/null | grep -q -- "-> $2\$" && return 0
  done
  return 1
}

# busid_of VID PID [NTH]: the bus id (e.g. 1-1) of the NTH device (1 = first) with those
# ids, from sysfs; empty if none. Bus numbers depend on module load order: look them up.
busid_of() {
  local vid=$1 pid=$2 nth=${3:-1} d n=0
  for d in /sys/bus/usb/devices/*; do
    [ -f "$d/idVendor" ] || continue
    if [ "$(cat "$d/idVendor")" = "$vid" ] && [ "$(cat "$d/idProduct")" = "$pid" ]; then
      n=$((n + 1)); [ $n -eq "$nth" ] && { basename "$d"; return 0; }
    fi
  done
  return 1
}

# at_least N VID PID: whether N or more devices with those ids are present (for wait_for,
# which re-runs its command; a $(count_devices) argument would be expanded only once).
at_least() { [ "$(count_devices "$2" "$3")" -ge "$1" ]; }
exactly() { [ "$(count_devices "$2" "$3")" -eq "$1" ]; }

count_devices() {  # count_devices VID PID
  local vid=$1 pid=$2 d n=0
  for d in /sys/bus/usb/devices/*; do
    [ -f "$d/idVendor" ] && [ "$(cat "$d/idVendor")" = "$vid" ] && [ "$(cat "$d/idProduct")" = "$pid" ] && n=$((n + 1))
  done
  echo $n
}

# The SourceSink gadget's ids: those of the kernel's "Gadget Zero" (0525:a4a0), which the
# usbtest driver binds (drivers/usb/misc/usbtest.c, gz_info; in Linux 6.1 it has no entry
# for the USB-IF test ids 1a0a:badd).
ss_vid=0525
ss_pid=a4a0

# gpio_sim_chip: one gpio-sim chip of 32 lines standing in for the Pi's (LED on 17, button
# on 27; built out of tree by scripts/build-gpio-sim); sets chip, lines, led and button.
gpio_sim_chip() {
  local modules sim=/sys/kernel/config/gpio-sim/usbp2p
  modules=$(bash "$project/scripts/build-gpio-sim" 2>/dev/null | tail -n1)
  [ -f "$modules/gpio-sim.ko" ] || fail "gpio-sim was not built (scripts/build-gpio-sim)"
  insmod "$modules/irq_sim.ko"
  insmod "$modules/gpio-sim.ko"
  mkdir $sim $sim/gpio-bank0
  echo 32 > $sim/gpio-bank0/num_lines
  echo 1 > $sim/live
  chip=$(cat $sim/gpio-bank0/chip_name)
  lines=/sys/devices/platform/$(cat $sim/dev_name)/$chip
  led=$lines/sim_gpio17/value
  button=$lines/sim_gpio27/pull
  echo "chip $chip at $lines"
}

# usb_stick: waits for qemu's usb-storage stick (the job's "# qemu:" line) and loads
# vhci-hcd; sets vid, pid and busid.
usb_stick() {
  vid=46f4; pid=0001   # qemu's usb-storage
  wait_for 30 "the USB stick to enumerate" busid_of $vid $pid
  busid=$(busid_of $vid $pid)
  modprobe vhci-hcd
}

# A HID boot keyboard (configfs usb_f_hid gadget on dummy_hcd, 1d6b:0104); sets
# $keyboard to its bus id.
keyboard_gadget() {
  local g
  modprobe dummy_hcd
  modprobe libcomposite
  modprobe usb_f_hid
  modprobe usbhid
  g=/sys/kernel/config/usb_gadget/keyboard
  mkdir -p $g/strings/0x409 $g/configs/c.1 $g/functions/hid.usb0
  echo 0x1d6b > $g/idVendor   # Linux Foundation
  echo 0x0104 > $g/idProduct  # Multifunction Composite Gadget
  echo usbp2p > $g/strings/0x409/manufacturer
  echo "HID keyboard" > $g/strings/0x409/product
  echo 1 > $g/functions/hid.usb0/protocol      # keyboard
  echo 1 > $g/functions/hid.usb0/subclass      # boot interface
  echo 8 > $g/functions/hid.usb0/report_length
  # The boot keyboard report descriptor (HID 1.11, appendix B.1).
  printf '\x05\x01\x09\x06\xa1\x01\x05\x07\x19\xe0\x29\xe7\x15\x00\x25\x01\x75\x01\x95\x08\x81\x02\x95\x01\x75\x08\x81\x03\x95\x05\x75\x01\x05\x08\x19\x01\x29\x05\x91\x02\x95\x01\x75\x03\x91\x03\x95\x06\x75\x08\x15\x00\x25\x65\x05\x07\x19\x00\x29\x65\x81\x00\xc0' > $g/functions/hid.usb0/report_desc
  ln -s $g/functions/hid.usb0 $g/configs/c.1/
  ls /sys/class/udc | head -n1 > $g/UDC
  wait_for 20 "the keyboard gadget" busid_of 1d6b 0104
  keyboard=$(busid_of 1d6b 0104)
}

# A SourceSink gadget (usb_f_ss_lb) on dummy_hcd: a real high-speed device with bulk,
# interrupt and iso endpoints.
sourcesink_gadget() {
  modprobe dummy_hcd
  modprobe libcomposite
  modprobe usb_f_ss_lb
  local g=/sys/kernel/config/usb_gadget/sourcesink
  mkdir -p $g
  echo 0x$ss_vid > $g/idVendor
  echo 0x$ss_pid > $g/idProduct
  mkdir -p $g/strings/0x409
  echo usbp2p > $g/strings/0x409/manufacturer
  echo "SourceSink test device" > $g/strings/0x409/product
  echo 0001 > $g/strings/0x409/serialnumber
  mkdir -p $g/configs/c.1 $g/functions/SourceSink.0
  ln -s $g/functions/SourceSink.0 $g/configs/c.1/
  ls /sys/class/udc | head -n1 > $g/UDC
  wait_for 10 "the SourceSink gadget to enumerate" busid_of $ss_vid $ss_pid
}

remove_gadget() {
  local g=/sys/kernel/config/usb_gadget/sourcesink
  echo "" > $g/UDC || true
}

# Starts `usbp2pd serve` on loopback in the background; sets server_pid.
start_usbp2pd() {
  "$bin/usbp2pd" serve --usbip-listen 127.0.0.1:3240 --log-level debug "$@" > /tmp/usbp2pd.log 2>&1 &
  server_pid=$!
  wait_for 15 "usbp2pd to listen" bash -c 'exec 3<>/dev/tcp/127.0.0.1/3240'
}

# thread_stacks PID: each thread of PID by name, with where it waits in the kernel, then
# (when the host has gdb) where each waits in the process.
thread_stacks() {
  local t
  for t in /proc/"$1"/task/*; do
    echo "$(cat "$t/comm" 2>/dev/null) ($(basename "$t")): $(cat "$t/wchan" 2>/dev/null)"
    sed 's/^/    /' "$t/stack" 2>/dev/null
  done
  if command -v gdb > /dev/null; then
    timeout 120 gdb -q -p "$1" -batch -ex "thread apply all bt 25" 2>&1 | grep -E '^(Thread|#)' | cut -c1-220
  fi
}

# CPUs the thread named NAME of process PID may run on (Cpus_allowed_list).
thread_cpus() {
  local pid=$1 name=$2 t
  for t in /proc/"$pid"/task/*; do
    if [ "$(cat "$t/comm")" = "$name" ]; then awk '/Cpus_allowed_list/ {print $2}' "$t/status"; return 0; fi
  done
  return 1
}

# The /dev/bus/usb node of the device at sysfs bus id BUSID.
usb_node() {
  printf '/dev/bus/usb/%03d/%03d\n' "$(cat /sys/bus/usb/devices/$1/busnum)" "$(cat /sys/bus/usb/devices/$1/devnum)"
}

# run_testusb NODE TEST COUNT SIZE [VARY]: one testusb case; fails the job if it fails.
run_testusb() {
  local node=$1 t=$2 count=$3 size=$4 vary=${5:-}
  local out
  out=$("$testusb" -D "$node" -t "$t" -c "$count" -s "$size" ${vary:+-v "$vary"} 2>&1) || true
  echo "$out"
  echo "$out" | grep -q -- "-->" && fail "testusb case $t failed through $node"
  echo "$out" | grep -qE "test $t,\s+[0-9.]+ secs" || fail "testusb case $t did not report a result"
}
testusb="$project/.build/guest/testusb"

# attach_copy SERVER-NAME BUSID VID PID: imports BUSID from 127.0.0.1 with usbp2p-client
# and waits for the copy to enumerate; sets port (vhci) and imported (the copy's bus id).
attach_copy() {
  local name=$1 id=$2 vid=$3 pid=$4 line
  line=$("$bin/usbp2p-client" attach --usbip 127.0.0.1 "$id") || fail "attach from $name failed"
  echo "$line"
  port=$(echo "$line" | sed -n 's/.* on port \([0-9]*\)$/\1/p')
  [ -n "$port" ] || fail "attach from $name did not say the port"
  wait_for 30 "the copy imported from $name" at_least 2 "$vid" "$pid"
  imported=$(busid_of "$vid" "$pid" 2)
}

# detach_copy VID PID: detaches $port and waits until only the original device is left.
detach_copy() {
  "$bin/usbp2p-client" detach "$port"
  wait_for 20 "the imported copy to go" exactly 1 "$1" "$2"
}

# stick_roundtrip COPY MIB WORK: waits for the disk of the imported stick COPY (its bus id),
# writes MIB MiB of random bytes to it and reads them back (direct I/O); fails the job
# unless the SHA-256 of what was read is that of what was written.
stick_roundtrip() {
  local copy=$1 mib=$2 work=$3 disk written read_back
  stick_block_of() { ls /sys/bus/usb/devices/$copy:1.0/host*/target*/*/block/ 2>/dev/null | head -n1; }
  wait_for 30 "a disk on the imported stick" stick_block_of
  disk=/dev/$(stick_block_of)
  wait_for 10 "$disk" test -b "$disk"
  head -c $((mib << 20)) /dev/urandom > "$work/data"
  written=$(sha256sum < "$work/data" | cut -d' ' -f1)
  dd if="$work/data" of="$disk" bs=256k oflag=direct status=none || fail "writing to the stick failed"
  read_back=$(dd if="$disk" bs=256k count=$((mib * 4)) iflag=direct status=none | sha256sum | cut -d' ' -f1)
  echo "written $written, read back $read_back"
  [ "$written" = "$read_back" ] || fail "the stick read back other data"
}
