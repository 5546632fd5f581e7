#!/bin/bash
# qemu: -device qemu-xhci,id=xhci -audiodev wav,id=speaker,path=@RESULTS@/speaker.wav,out.frequency=48000,out.channels=2,out.format=s16 -device usb-audio,bus=xhci.0,audiodev=speaker
# Isochronous OUT: qemu's USB speaker imported with usbp2p-client, from usbp2pd and from
# the kernel's usbipd; one second of noise (48 kHz, 16 bit, stereo) played with aplay into
# the imported copy reaches the speaker (qemu's wav backend records it) sample for sample,
# in order, scaled only by the speaker's volume.
. "$(dirname "$0")/lib.sh"
vid=46f4; pid=0002   # qemu's usb-audio
wait_for 30 "the USB speaker to enumerate" busid_of $vid $pid
busid=$(busid_of $vid $pid)
modprobe vhci-hcd
modprobe usbip-host
head -c 192000 /dev/urandom > /tmp/pcm
wav="$USBP2P_RESULTS/speaker.wav"

play() {  # play SERVER-NAME: attach, play /tmp/pcm, detach; the recording must match
  local card
  attach_copy "$1" "$busid" $vid $pid
  card_of() { ls /sys/bus/usb/devices/$imported:1.*/sound/ 2>/dev/null | sed -n 's/^card//p' | head -n1; }
  wait_for 30 "a sound card on the imported speaker" card_of
  card=$(card_of)
  local before; before=$(stat -c %s "$wav" 2>/dev/null || echo 44)
  aplay -q -D "hw:$card,0" -f S16_LE -r 48000 -c 2 -t raw /tmp/pcm || fail "aplay through $1 failed"
  # qemu writes the recording as the speaker plays it: wait until it holds as many bytes
  # after the first sound as were played.
  recorded_all() {
    /usr/bin/python3 -c 'import sys
data = open(sys.argv[1], "rb").read()[max(44, int(sys.argv[2])):]
first = next((i for i in range(0, len(data) - 1, 2) if data[i] or data[i + 1]), None)
sys.exit(0 if first is not None and len(data) - first >= int(sys.argv[3]) else 1)' "$wav" "$before" "$(stat -c %s /tmp/pcm)"
  }
  wait_for 30 "the speaker's recording to hold the whole second played" recorded_all
  /usr/bin/python3 - "$wav" "$before" /tmp/pcm "$1" <<'PY' || fail "the audio recorded through $1 differs from the audio played"
import struct, sys
wav, start, pcm, name = sys.argv[1], max(44, int(sys.argv[2])), sys.argv[3], sys.argv[4]
recorded = open(wav, "rb").read()[start:]
played = open(pcm, "rb").read()
r = struct.unpack(f"<{len(recorded) // 2}h", recorded[: len(recorded) // 2 * 2])
p = struct.unpack(f"<{len(played) // 2}h", played)
first = next((i for i, v in enumerate(r) if v != 0), None)
assert first is not None, "nothing but silence was recorded"
r = r[first:]
assert len(r) >= len(p), f"recorded {len(r)} samples, played {len(p)}"
ratios = sorted(r[i] / p[i] for i in range(len(p)) if abs(p[i]) > 2000)
gain = ratios[len(ratios) // 2]
worst = max(abs(r[i] - p[i] * gain) for i in range(len(p)))
print(f"{name}: {len(p)} samples played, all recorded in order; gain {gain:.3f}, largest deviation {worst:.1f}")
assert 0.5 < gain < 1.5 and worst <= 3, f"gain {gain}, deviation {worst}"
PY
  detach_copy $vid $pid
}

start_usbp2pd
trap 'echo "-- usbp2pd log (tail)"; tail -n 20 /tmp/usbp2pd.log' EXIT
play usbp2pd
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
usbipd -D
usbip bind -b "$busid"
play usbipd
echo "PASS: isochronous audio reaches a USB speaker unchanged through usbp2pd and through usbipd"
