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
