#!/bin/bash
# Runs in the test guest (scripts/bench-e2e): one SourceSink gadget (dummy_hcd) imported
# through vhci_hcd over four paths, measured with the kernel's usbtest/testusb in one run:
#   kernel      the kernel's usbip-host, plain TCP
#   kernel+wg   the same inside WireGuard (what a technical user runs instead of usbp2p)
#   usbp2pd     usbp2pd's plain USB/IP (libusb on the server side)
#   session     the product's path: usbp2p-client → session over TLS 1.3 → usbp2pd
#   bridge      the same session, imported by the kernel's usbip through the laptop
#               service's USB/IP bridge on 127.0.0.1 (usbp2p-client bridge) instead of
#               the client's own vhci attach
# Server and laptop are two network namespaces joined by a veth (10.77.0.0/24; WireGuard's
# tunnel 10.78.0.0/24 over it). Each path is measured twice, the paths once in each order
# (forward, then backward), so a drift in the guest's speed falls on all alike:
#   bulk OUT / IN throughput: testusb 27 / 28, 8 URBs of 64 KiB queued, 16 MiB per run
#   small-URB round trip:     testusb 1 / 2, one 512-byte URB at a time, 500 per run
# and a USB stick (qemu's usb-storage) through kernel+wg, the session and the bridge: 8 MiB written
# and read back with direct I/O (dd), the bytes compared; then the stick stays attached
# through the session for 30 s of idle, and usbp2pd's and the client's memory and CPU are read.
# Prints every path's mean and the ratios the issue sets targets for.
# qemu: -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file=@DISK@ -device usb-storage,bus=xhci.0,drive=stick,serial=usbp2p-stick
. "$(dirname "$0")/../../Tests/Guest/lib.sh"
. "$(dirname "$0")/../../Tests/Guest/net.sh"
. "$(dirname "$0")/lib.sh"
work=/tmp/usb-paths; rm -rf $work; mkdir -p $work
sourcesink_gadget
ss_busid=$(busid_of $ss_vid $ss_pid)
wait_for 30 "the USB stick to enumerate" busid_of 46f4 0001
stick_busid=$(busid_of 46f4 0001)
head -c 8M /dev/urandom > $work/pattern
for m in vhci-hcd usbip-host usbtest; do modprobe $m; done
bench_network $work

# The Pi's usbp2pd (plain USB/IP on 3241, sessions on 7575) and the laptop's identity.
pair_for_bench $work 'usbip.enabled = true' 'usbip.listen = "10.77.0.1:3241"'
ip netns exec bpi usbipd -D
# The laptop's service, for the bridge: the Pi paired (its peers and ways files as a
# pairing leaves them), its own control socket.
printf '%s  Bench Pi\n' "$pi_id" > $work/laptop/peers
printf '%s  direct=10.77.0.1:7575\n' "$pi_id" > $work/laptop/ways
printf 'service.socket = "%s"\n' "$work/service.sock" >> $work/laptop.toml

secs() {  # secs NODE TEST COUNT SIZE [SGLEN]: seconds testusb reports
  "$testusb" -D "$1" -t "$2" -c "$3" -s "$4" ${5:+-g "$5"} 2>&1 | sed -n 's/.*test [0-9]*, *\([0-9.]*\) secs.*/\1/p'
}

# attach PATH BUSID / detach PATH: import a device over a path, and let it go.
attach() {
  case $1 in
    kernel|kernel+wg)
      usbip bind -b "$2" > /dev/null 2>&1 || true  # (fails when it is bound already)
      local address=10.77.0.1; [ "$1" = kernel+wg ] && address=10.78.0.1
      ip netns exec blap usbip attach -r $address -b "$2" || fail "$1: usbip attach of $2 failed" ;;
    usbp2pd)
      usbip unbind -b "$2" > /dev/null 2>&1 || true
      local line
      line=$(ip netns exec blap "$bin/usbp2p-client" attach --usbip 10.77.0.1:3241 "$2") || fail "usbp2pd: attach failed"
      port=$(echo "$line" | sed -n 's/.* on port \([0-9]*\)$/\1/p') ;;
    session)
      usbip unbind -b "$2" > /dev/null 2>&1 || true
      ip netns exec blap "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id@10.77.0.1:7575" "$2" \
        > $work/attach.log 2>&1 &
      attach_pid=$! ;;
    bridge)
      usbip unbind -b "$2" > /dev/null 2>&1 || true
      ip netns exec blap usbip attach -r 127.0.0.1 -b "$2" || fail "bridge: usbip attach of $2 failed" ;;
  esac
}
detach() {
  case $1 in
    kernel|kernel+wg|bridge) usbip detach -p "$(usbip port | sed -n 's/^Port \([0-9]*\):.*/\1/p' | head -n1)" > /dev/null ;;
    usbp2pd) "$bin/usbp2p-client" detach "$port" > /dev/null ;;
    session) kill $attach_pid; wait $attach_pid 2> /dev/null || true ;;
  esac
}

# testusb_run PATH: appends "out_s in_s lo_s li_s" to $work/PATH
testusb_run() {
  attach "$1" "$ss_busid"
  local copy node out in lo li
  copy=$(imported $ss_vid $ss_pid)
  wait_for 20 "usbtest on the copy" test -e "/sys/bus/usb/devices/$copy:1.0/driver"
  node=$(usb_node "$copy")
  out=$(secs "$node" 27 32 65536 8); in=$(secs "$node" 28 32 65536 8)
  lo=$(secs "$node" 1 500 512); li=$(secs "$node" 2 500 512)
  [ -n "$out" ] && [ -n "$in" ] && [ -n "$lo" ] && [ -n "$li" ] || fail "$1: a testusb case failed"
  echo "$out $in $lo $li" >> "$work/$1"
  log "$1: $out $in $lo $li s"
  detach "$1"; copy_gone $ss_vid $ss_pid
}

# stick_run PATH: writes 8 MiB to the imported stick and reads them back (direct I/O),
# appends "write_s read_s" to $work/stick-PATH; the bytes read must be those written.
stick_run() {
  attach "$1" "$stick_busid"
  local copy disk t0 t1 t2
  copy=$(imported 46f4 0001)
  stick_disk "$copy"
  t0=$(date +%s.%N)
  dd if=$work/pattern of="$disk" bs=1M count=8 oflag=direct status=none || fail "$1: writing the stick failed"
  t1=$(date +%s.%N)
  dd if="$disk" of=$work/back bs=1M count=8 iflag=direct status=none || fail "$1: reading the stick failed"
  t2=$(date +%s.%N)
  cmp -s $work/pattern $work/back || fail "$1: the stick read back other bytes than were written"
  echo "$t0 $t1 $t2" | awk '{printf "%.3f %.3f\n", $2 - $1, $3 - $2}' >> "$work/stick-$1"
  log "$1: stick $(tail -n1 "$work/stick-$1") s"
  detach "$1"; copy_gone 46f4 0001
}

ip netns exec bpi "$bin/usbp2pd" serve --config $work/pi.toml --log-level warning > $work/pi.log 2>&1 &
pi_pid=$!
wait_for 30 "usbp2pd to listen" ip netns exec bpi bash -c 'exec 3<>/dev/tcp/10.77.0.1/7575'
ip netns exec blap "$bin/usbp2p-client" serve --config $work/laptop.toml --log-level warning > $work/service.log 2>&1 &
service_pid=$!
wait_for 30 "the laptop's service" test -S $work/service.sock
"$bin/usbp2p-client" bridge --config $work/laptop.toml | tee $work/bridge.log
grep -q "usbip attach -r 127.0.0.1 -b $ss_busid" $work/bridge.log || fail "the bridge does not serve the gadget"
for path in kernel kernel+wg usbp2pd session bridge bridge session usbp2pd kernel+wg kernel; do testusb_run "$path"; done
for path in kernel+wg session bridge bridge session kernel+wg; do stick_run "$path"; done

# Idle: the stick attached through the session, nothing moving, for 30 s: usbp2pd's and
# the laptop's memory and CPU (CPU under TCG is many times what a real core spends).
attach session "$stick_busid"
copy=$(imported 46f4 0001)
stick_disk "$copy"
udevadm settle 2> /dev/null || true
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu0=$(ticks $pi_pid); lap0=$(ticks $attach_pid); t0=$(date +%s.%N)
sleep 30
cpu1=$(ticks $pi_pid); lap1=$(ticks $attach_pid); t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
idle_line() {  # idle_line NAME PID TICKS: RSS now, its peak, and CPU share over the window
  printf '%-14s %10s %10s %8s
' "$1" "$(awk '/^VmRSS/ {print $2}' /proc/$2/status)" \
    "$(awk '/^VmHWM/ {print $2}' /proc/$2/status)" \
    "$(awk -v d="$3" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", d / hz / (b - a) * 100}')"
}
idle=$({
  printf '%-14s %10s %10s %8s\n' "idle, 30 s" "RSS KiB" "peak KiB" "CPU %"
  idle_line usbp2pd $pi_pid $((cpu1 - cpu0))
  idle_line usbp2p-client $attach_pid $((lap1 - lap0))
})
detach session; copy_gone 46f4 0001
kill $pi_pid $service_pid; pkill usbipd

# Rows: path, bulk OUT MB/s, bulk IN MB/s, 512 B OUT and IN round trips in µs.
row() {
  awk -v n="$1" '{o += $1; i += $2; lo += $3; li += $4} END {
    mb = 32 * 8 * 65536 / 1e6
    printf "%s %.2f %.2f %.0f %.0f\n", n, mb / (o / NR), mb / (i / NR), lo / NR / 500 * 1e6, li / NR / 500 * 1e6 }' "$work/$1"
}
printf '%-10s %14s %14s %18s %18s\n' path "bulk OUT MB/s" "bulk IN MB/s" "512 B OUT RTT µs" "512 B IN RTT µs"
for path in kernel kernel+wg usbp2pd session bridge; do
  set -- $(row "$path"); printf '%-10s %14s %14s %18s %18s\n' "$1" "$2" "$3" "$4" "$5"
done
ratio() {  # ratio A B LABEL: A's figures over B's
  paste -d' ' <(row "$1") <(row "$2") | awk -v l="$3" \
    '{ printf "%-24s %8.2f %14.2f %18.2f %18.2f\n", l, $2 / $7, $3 / $8, $4 / $9, $5 / $10 }'
}
echo "ratios (throughput: above 1 is faster; round trips: below 1 is faster)"
ratio session kernel+wg "session / kernel+wg"
ratio usbp2pd kernel "usbp2pd / kernel"
ratio bridge session "bridge / session"
echo
printf '%-10s %18s %18s\n' "stick" "dd write MB/s" "dd read MB/s"
for path in kernel+wg session bridge; do
  awk -v n="$path" '{w += $1; r += $2} END {printf "%-10s %18.2f %18.2f\n", n, 8.388608 / (w / NR), 8.388608 / (r / NR)}' \
    "$work/stick-$path"
done
echo
echo "$idle"
# Kernel TLS on the session's connections, from the server's side: connections whose
# records the kernel sealed (Tx) and opened (Rx) in this run (0: our record layer).
ip netns exec bpi awk '/^TlsTxSw|^TlsRxSw/ {printf "%s %s  ", $1, $2} END {print "(kernel TLS, usbp2pd)"}' \
  /proc/net/tls_stat 2> /dev/null || echo "no kernel TLS statistics (the tls module is not loaded)"
echo "targets: session >= 1.0x kernel+wg throughput, <= 1.5x its round trip;" \
  "usbp2pd >= 0.9x kernel throughput, <= 1.2x its round trip; idle usbp2pd < 24 MB RSS, < 1% CPU"
