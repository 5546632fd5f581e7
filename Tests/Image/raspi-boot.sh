#!/usr/bin/env bash
# The Raspberry Pi's card booted as a Raspberry Pi 3 Model B, under qemu's raspi3b machine
# (TCG): the card's own kernel, initramfs and command line, its own bcm2837-rpi-3-b.dtb
# (less the Bluetooth serdev, below), the card as the SD card, a USB stick and a USB
# network adapter on the SoC's USB controller (dwc2, the one a real Pi 3's sockets hang
# on). It checks that
#   - usbp2pd reaches READY (the time from power on is printed);
#   - the status LED and the pairing button are on the SoC's GPIO controller, as usbp2pd
#     set them up: the kernel's view (debugfs) and the emulated controller's registers
#     through qemu's monitor (line 17 an output whose level follows the LED's pattern,
#     online and pairing; line 27 an input);
#   - a laptop (a scripts/guest machine with vhci-hcd) pairs, attaches the Pi's stick
#     through the encrypted session and reads it back with the right SHA-256.
# Why not qemu's raspi4b: tried first (2026-12-03/04), its emulated BCM2711 loses
# interrupts under Linux (docs/image.md). What raspi3b cannot show: a button press, and
# the pull-up. Its GPIO controller (hw/gpio/bcm2835_gpio.c) has no input lines, no edge
# detection and no pulls (GPPUD is write-only on the real chip too), so
# `usbp2pd pair --open` opens the pairing window instead (Tests/Guest's gpio-sim scenario
# proves the press). docs/image.md says what only a real Pi proves.
#
#   Tests/Image/raspi-boot.sh [USBP2PD]   (default .build/appliance/arm64/usbp2pd)
#
# Builds the test's card (image/build --arch arm64 with the test agent in an overlay, on
# the PL011 serial line, ttyAMA0). Runs as root; needs `scripts/install-deps pi` and the
# guest's packages (scripts/install-deps guest). Work files in .build/raspi-boot.
# USBP2P_RASPI_TIMEOUT: seconds to READY (default 1500). USBP2P_RASPI_CARD: a card the
# test built before (its .img), to boot again without building it.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
cd "$here"
usbp2pd=${1:-$here/.build/appliance/arm64/usbp2pd}
timeout=${USBP2P_RASPI_TIMEOUT:-1500}
work="$here/.build/raspi-boot"
agent_py="$here/Tests/Image/agent.py"
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: raspi/$*"; }
# fail WHAT: counts a failure and ends the test (each later check needs the earlier ones).
fail() {
  failed=$((failed + 1)); echo "FAIL: raspi/$*"
  echo "-- console (last 30 lines)"; tail -n 30 "$work/console.log" 2> /dev/null
  finish
}
finish() {
  [ -z "${qemu_pid:-}" ] || kill "$qemu_pid" 2> /dev/null
  echo "raspi: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]; exit
}
on_pi() { python3 "$agent_py" "$work/agent.sock" "$1" "$2"; }  # on_pi TIMEOUT SCRIPT

qemu=$(raspi_qemu) || die "no qemu 9.0 or later for the Pi boot: scripts/install-deps pi"
for tool in fdtput fdtget mcopy sfdisk; do command -v $tool > /dev/null || die "$tool is missing: scripts/install-deps pi"; done
[ -x "$usbp2pd" ] || die "no arm64 usbp2pd at $usbp2pd (image/build-usbp2pd arm64 makes it)"
[ -x "$here/.build/debug/usbp2p-client" ] || die "no .build/debug/usbp2p-client (swift build)"
reuse=${USBP2P_RASPI_CARD:-}
if [ -n "$reuse" ]; then
  [ -f "$reuse" ] || die "USBP2P_RASPI_CARD: no card at $reuse"
  # (Copied out first: it may be the card of the test's last run, in the folder emptied below.)
  copy=$(mktemp -p "$here/.build" raspi-card.XXXXXX) && cp "$reuse" "$copy" || die "cannot copy $reuse"
  reuse=$copy
fi
rm -rf "$work"; mkdir -p "$work/overlay"

# 1. The test's card: the same recipe with the agent on the PL011 (raspi3b's first serial
# port; the card's console is the mini UART, ttyS1, as on a real Pi).
ov="$work/overlay"
mkdir -p "$ov/usr/lib/usbp2p-test" "$ov/etc/systemd/system/multi-user.target.wants"
cp Tests/Image/agent "$ov/usr/lib/usbp2p-test/agent"
cat > "$ov/etc/systemd/system/usbp2p-test-agent.service" << 'UNIT'
[Unit]
Description=test: the Raspberry Pi boot test's agent on ttyAMA0
Wants=dev-ttyAMA0.device
After=dev-ttyAMA0.device
[Service]
ExecStart=/usr/lib/usbp2p-test/agent /dev/ttyAMA0
Restart=always
UNIT
ln -s ../usbp2p-test-agent.service "$ov/etc/systemd/system/multi-user.target.wants/"
if [ -n "$reuse" ]; then
  mkdir -p "$work/card"; card="$work/card/usbp2p-arm64.img"; mv "$reuse" "$card"
  echo "booting the card given in USBP2P_RASPI_CARD (not built again)"
else
  echo "building the test's card (image/build --arch arm64 with the agent's overlay)"
  build_begin=$SECONDS
  bash image/build --arch arm64 --usbp2pd "$usbp2pd" --overlay "$ov" --out "$work/card" --no-xz > "$work/build.log" 2>&1 \
    || { tail -n 20 "$work/build.log"; fail "build: image/build --arch arm64"; }
  card=$(ls "$work"/card/usbp2p-*-arm64.img)
  echo "measured: the card built in $((SECONDS - build_begin)) s"
  pass "build: the test's card ($(( $(stat -c %s "$card") / 1048576 )) MiB)"
fi

# 2. What the Pi's firmware would load, from the card's boot partition (and the Pi 4's
# firmware and device tree: the card is for both).
read -r boot_start _ < <(partition_bytes "$card" 1) || fail "card: no boot partition"
fat="$card@@$boot_start"
mdir -b -i "$fat" :: | sed -n 's|^::/||p' > "$work/boot-files"
kernel=$(grep -m1 '^vmlinuz' "$work/boot-files") || fail "card: no vmlinuz on the boot partition"
initrd=$(grep -m1 '^initrd.img' "$work/boot-files") || fail "card: no initrd.img on the boot partition"
for f in "$kernel" "$initrd" bcm2837-rpi-3-b.dtb bootcode.bin start.elf fixup.dat bcm2711-rpi-4-b.dtb start4.elf fixup4.dat \
  cmdline.txt config.txt; do
  mcopy -n -i "$fat" "::$f" "$work/$f" || fail "card: no $f on the boot partition"
done
grep -q '^arm_64bit=1' "$work/config.txt" || fail "card: config.txt does not ask for the 64-bit kernel"
# qemu's SD card must be a power of two in size; the partitions stay where they are.
sd="$work/sd.img"; cp "$card" "$sd"
size=1; while [ $size -lt "$(stat -c %s "$sd")" ]; do size=$((size * 2)); done
truncate -s $size "$sd"

# The device tree as the firmware hands it over, less the Bluetooth child of the PL011:
# its serdev would take ttyAMA0, the agent's line (qemu has no Bluetooth chip on it).
# The console: the card's last console= is tty0 (a screen, on a real Pi); here the mini
# UART, so that the boot's messages reach console.log, and not quiet.
dtb="$work/emu.dtb"; cp "$work/bcm2837-rpi-3-b.dtb" "$dtb"
fdtput -t s "$dtb" /soc/serial@7e201000/bluetooth status disabled || fail "device tree: no /soc/serial@7e201000/bluetooth in bcm2837-rpi-3-b.dtb"
[ "$(fdtget "$dtb" /soc/usb@7e980000 dr_mode)" = host ] || fail "device tree: the Pi 3's dwc2 is not a host"
append="$(sed 's/ quiet / /; s/ loglevel=[0-9]//' "$work/cmdline.txt") console=ttyS1,115200 systemd.journald.forward_to_console=1 ${USBP2P_RASPI_APPEND:-}"
echo "kernel $kernel, initramfs $initrd, command line: $append"

# The stick: 16 MiB of random bytes, then zeros.
bytes=$((16 * 1048576))
head -c $bytes /dev/urandom > "$work/stick.img"; truncate -s 64M "$work/stick.img"
expected=$(head -c $bytes "$work/stick.img" | sha256sum | cut -d' ' -f1)

# 3. Power on. Host ports on loopback: usbp2pd's session port and the status page.
port=$((20000 + RANDOM % 20000)) status_port=$((port + 1))
begin=$SECONDS
# shellcheck disable=SC2086
$qemu -M raspi3b -accel tcg,thread=multi \
  -kernel "$work/$kernel" -initrd "$work/$initrd" -dtb "$dtb" -append "$append" \
  -drive if=sd,format=raw,file="$sd" \
  -chardev socket,id=agent,path="$work/agent.sock",server=on,wait=off -serial chardev:agent \
  -serial file:"$work/console.log" \
  -qmp unix:"$work/qmp.sock",server=on,wait=off \
  -netdev user,id=net,hostfwd=tcp:127.0.0.1:$port-:7575,hostfwd=tcp:127.0.0.1:$status_port-:80 \
  -device usb-net,netdev=net \
  -drive if=none,id=stick,format=raw,file="$work/stick.img" -device usb-storage,drive=stick \
  -display none -no-reboot < /dev/null > "$work/qemu.log" 2>&1 &
qemu_pid=$!
echo "booting under qemu -M raspi3b (TCG: minutes); console in $work/console.log"
outcome=0; wait_for_usbp2pd_start "$work/console.log" $qemu_pid "$timeout" || outcome=$?
case $outcome in
  1) fail "boot: it failed (console below)" ;;
  2) cat "$work/qemu.log"; fail "boot: qemu ended before usbp2pd started" ;;
  3) fail "boot: usbp2pd not READY within $timeout s" ;;
esac
echo "measured: usbp2pd READY $((SECONDS - begin)) s after power on (qemu -M raspi3b, Cortex-A53 x4, TCG)"
pass "boot: usbp2pd READY on the raspi3b machine"

# A serial line keeps nothing for a reader that is not there yet: a request sent before
# the agent opened ttyAMA0 is lost, so ask (harmlessly) until it answers.
agent_begin=$SECONDS
until on_pi 10 true > /dev/null 2>&1; do
  [ $((SECONDS - agent_begin)) -lt 300 ] || fail "agent: no answer on ttyAMA0 within 300 s"
done
out=$(on_pi 60 'cat /proc/device-tree/model; echo; uname -r; findmnt -no SOURCE /; ls /sys/bus/usb/devices | tr "\n" " "; echo
  journalctl -b -u usbp2p-irq-affinity -o cat --no-pager | grep -i interrupt || echo "usbp2p-irq-affinity said nothing"') || fail "agent: $out"
echo "$out" | sed 's/^/   /'
grep -q 'Raspberry Pi 3 Model B' <<< "$out" || fail "boot: the device tree is not the Pi 3's"
grep -qx '/dev/mmcblk0p2' <<< "$out" || fail "boot: the root is not the SD card's second partition"
pass "boot: the Pi 3's device tree, root from the SD card"

# The card was not provisioned: usbp2p-firstboot made the identity and showed the
# pairing code on the console (here the serial line; on a real Pi the screen).
result=$(on_pi 60 'systemctl show -p Result --value usbp2p-firstboot') || fail "firstboot: $result"
[ "$result" = success ] || fail "firstboot: usbp2p-firstboot.service ended with '$result'"
grep -aq 'pairing code: ' "$work/console.log" || fail "firstboot: no pairing code on the console"
pass "firstboot: identity made, the pairing code on the console"

# 4. GPIO: the SoC's controller (pinctrl-bcm2835) as usbp2pd set it up.
gpio=$(on_pi 60 'cat /sys/kernel/debug/gpio') || fail "gpio: cannot read /sys/kernel/debug/gpio: $gpio"
echo "$gpio" | grep -E 'gpiochip|GPIO17|GPIO27' | sed 's/^/   /'
# The header of the chip whose line GPIO17 usbp2pd holds: gpiochip0, the SoC's.
chip=$(awk '/^gpiochip/ { chip = $0 } /GPIO17 / && /usbp2pd/ { print chip; exit }' <<< "$gpio")
[[ "$chip" == "gpiochip0: "*pinctrl-bcm2835* ]] || fail "gpio: usbp2pd's LED is not line 17 of gpiochip0, pinctrl-bcm2835 (found on '$chip')"
grep -E 'GPIO27 .*usbp2pd' <<< "$gpio" | grep -q ' in ' || fail "gpio: usbp2pd does not hold line 27 as an input"
regs=$(python3 Tests/Image/raspi-gpio.py "$work/qmp.sock" config 17 27) || fail "gpio: the controller's registers: $regs"
echo "   $regs"
grep -q 'line 17: output' <<< "$regs" || fail "gpio: line 17 is not an output in the controller"
grep -q 'line 27: input' <<< "$regs" || fail "gpio: line 27 is not an input in the controller"
pass "gpio: LED (17, output) and button (27, input) on the SoC's pinctrl-bcm2835, gpiochip0"

led_state() { python3 -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1], timeout=20))["led"])' \
  "http://127.0.0.1:$status_port/status.json"; }
led=$(led_state) || fail "status page: no answer through the USB network adapter"
[ "$led" = online ] || fail "LED: the status page says '$led', not online"
sample=$(python3 Tests/Image/raspi-gpio.py "$work/qmp.sock" sample 17 3) || fail "LED: sampling line 17: $sample"
echo "   online: $sample"
grep -q 'duty 1.00,' <<< "$sample" || fail "LED: online is steady on, the controller shows: $sample"
# Open long enough for the laptop below to boot and pair (the window closes when it has).
on_pi 60 'usbp2pd pair --open --seconds 1500' > /dev/null || fail "pairing: usbp2pd pair --open"
sample=$(python3 Tests/Image/raspi-gpio.py "$work/qmp.sock" sample 17 4) || fail "LED: sampling line 17: $sample"
echo "   pairing: $sample"
python3 - "$sample" << 'PY' || fail "LED: the pairing pattern (125 ms on, 125 ms off) is not what the controller shows"
import re, sys
duty, changes = re.search(r"duty ([0-9.]+), (\d+) changes", sys.argv[1]).groups()
sys.exit(0 if 0.25 <= float(duty) <= 0.75 and int(changes) >= 8 else 1)
PY
pass "LED: line 17's level in the controller follows the patterns (online, pairing)"

# 5. The laptop pairs and attaches the stick.
code=$(on_pi 60 'usbp2pd pairing-code --text-only' | sed -n 's/^pairing code: //p')
[ -n "$code" ] || fail "pairing: no pairing code from usbp2pd pairing-code"
echo "the laptop (scripts/guest, vhci-hcd) pairs with $code and attaches the stick"
bash scripts/guest run --timeout 1200 --qemu "-netdev user,id=net -device virtio-net-pci,netdev=net" \
  Tests/Image/raspi-laptop-job.sh "$port" "$code" "$expected" "$bytes" > "$work/laptop.log" 2>&1
status=$?
grep -E '^(==|measured|ok|FAIL)' "$work/laptop.log" | sed 's/^/   /'
[ $status -eq 0 ] || { tail -n 30 "$work/laptop.log"; fail "laptop: pairing, attach or read back failed (log $work/laptop.log)"; }
pass "laptop: the Pi's stick attached through the session, 16 MiB read back with SHA-256 $expected"
on_pi 60 'journalctl -u usbp2pd --no-pager -o cat | tail -n 15' | sed 's/^/   usbp2pd: /'
finish
