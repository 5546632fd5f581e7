# Helpers of the path scenarios (reach-paths-across-nats, path-moves-during-a-write and
# tier 2's reach-every-nat-pair): sourced after lib.sh and net.sh by a scenario whose qemu
# line plugs in the stick. The homes, the relay and the keys are net.sh's.
usb_stick
work=/tmp/reach
net_logs=$work
# On a failure, the logs of the step that failed; always, every log to the results.
watching=()
show_logs() {
  local f
  for f in "${watching[@]}"; do [ -f "$f" ] && { echo "-- $f"; tail -n 40 "$f"; }; done
}
trap 'status=$?; [ $status -eq 0 ] || show_logs; cp $work/*.log "${USBP2P_RESULTS:-/tmp}/" 2>/dev/null; net_down' EXIT

endpoints $work

# start PI-KIND LAPTOP-KIND LOG: fresh homes, the relay, usbp2pd, and usbp2p-client attach
# (its output in LOG); waits until the stick is imported.
start() {
  net_down 2>/dev/null; net_up "$1" "$2"
  ip netns exec wan "$bin/usbp2p-relay" serve --config $work/relay.toml >> $work/relay.log 2>&1 &
  ip netns exec pi "$bin/usbp2pd" serve --config $work/pi.toml --log-level debug > $work/pi-$1-$2.log 2>&1 &
  wait_for 30 "usbp2pd to register at the relay" grep -q "registered at relay" $work/pi-$1-$2.log
  # A router that maps ports: the laptop comes once the mapping is there, so that the
  # cell shows the mapped path rather than racing it against punching.
  if [ "$1" = mapped ]; then
    wait_for 30 "usbp2pd to map its port" grep -q "port mapping: " $work/pi-$1-$2.log
  fi
  watching=("$3" $work/pi-$1-$2.log $work/relay.log $work/natpmp-natpi.log)
  ip netns exec laptop "$bin/usbp2p-client" attach --config $work/laptop.toml "$pi_id" "$busid" > "$3" 2>&1 &
  attach_pid=$!
  wait_for 60 "the stick imported ($1 / $2)" at_least 2 $vid $pid
  imported=$(busid_of $vid $pid 2)
}

# stop: detaches (Ctrl-C's path) and ends every process in the namespaces; usbp2pd
# first, so that it removes a port mapping while the router still runs.
stop() {
  kill -TERM "$attach_pid"; wait "$attach_pid" || true
  wait_for 20 "the stick to be detached" exactly 1 $vid $pid
  ip netns pids pi | xargs -r kill
  wait_for 15 "usbp2pd to stop" pi_gone
  net_down
}
pi_gone() { [ -z "$(ip netns pids pi)" ]; }

disk_of() { ls /sys/bus/usb/devices/$imported:1.0/host*/target*/*/block/ 2>/dev/null | head -n1; }

# reads_back: the imported stick's first MiB can be read (over whatever path is in use).
reads_back() {
  wait_for 30 "a disk on the imported stick" disk_of
  dd if=/dev/$(disk_of) of=/dev/null bs=64k count=16 iflag=direct status=none || fail "reading the stick failed"
}

# grid "PI-KIND LAPTOP-KIND EXPECTED"...: for each cell, fresh homes of those NAT kinds
# (net.sh), and the path the client ends on must be the one expected — direct to a
# public or port-mapped server, hole-punched, or the relay — with the stick attached and
# read over it. Sets `summary`.
grid() {
  local cell out path
  summary=""
  for cell in "$@"; do
    set -- $cell
    out=$work/attach-$1-$2.log
    log "pi behind '$1', laptop behind '$2': expecting $3"
    start "$1" "$2" "$out"
    case $3 in
      direct)
        wait_for 60 "a direct path" grep -qE "^path: direct [0-9.]+:7575$" "$out" ;;
      punched)
        wait_for 60 "a hole-punched path" grep -qE "^path: direct .*\(hole-punched\)$" "$out" ;;
      relay)
        wait_for 90 "the search for a direct path to end" grep -q "staying on the relay" "$out"
        grep -q "^path: direct" "$out" && fail "a direct path was used behind '$1' / '$2'" ;;
    esac
    if [ "$1" = mapped ]; then
      # The router may answer after usbp2pd gave up on its first exchange (under
      # emulation, on a loaded machine): the next try comes 5 s later.
      wait_for 30 "usbp2pd to map its port on the router" \
        grep -q "port mapping: 198.18.1.2:7575 → port 7575 (NAT-PMP" $work/pi-$1-$2.log
    fi
    reads_back
    path=$(grep "^path: " "$out" | tail -n1)
    sed 's/^/    /' "$out"
    log "$1 / $2: $path"
    summary+="$1/$2: ${path#path: }; "
    stop
    if [ "$1" = mapped ]; then
      grep -q "removed 198.18.1.2:7575" $work/natpmp-natpi.log || fail "usbp2pd did not remove its port mapping at stop"
    fi
  done
  log "grid: $summary"
}
