# Network namespaces for the session scenarios (sourced after lib.sh): two homes behind
# NATs and a public relay, built from veth pairs and nftables, with addresses from the
# benchmarking range 198.18.0.0/15 and private 10.x networks only.
#
#   pi (10.1.0.2) ── natpi (10.1.0.1 | 198.18.1.2) ─┐
#                                                  wan (198.18.1.1, 198.18.2.1; relay on 198.18.0.1:443)
#   laptop (10.2.0.2) ── natlap (10.2.0.1 | 198.18.2.2) ─┘
#
# Each NAT masquerades (endpoint-independent, source port kept) and drops unsolicited
# inbound, as a home router does. `net_up PI-KIND LAPTOP-KIND` picks each home's router:
#   easy  that NAT (the default);
#   hard  a symmetric NAT: every connection gets a random public port (masquerade
#         fully-random), so a port the relay saw says nothing about the next connection;
#   none  no NAT: the host has a public address (198.18.11.2 or 198.18.12.2) behind a
#         plain router;
#   mapped  easy, and the router maps ports on request (NAT-PMP, natpmp-router.py).
# pi_ip and laptop_ip are the hosts' own addresses.
relay_address=198.18.0.1:443

net_up() {
  local pi_kind=${1:-easy} laptop_kind=${2:-easy}
  modprobe veth; modprobe nf_tables; modprobe nft_chain_nat; modprobe nft_masq; modprobe nft_ct
  modprobe nf_conntrack
  local ns
  for ns in wan natpi natlap; do ip netns add $ns; ip -n $ns link set lo up; done
  ip -n wan addr add 198.18.0.1/32 dev lo
  ip netns exec wan sysctl -qw net.ipv4.ip_forward=1
  link wan w-pi 198.18.1.1/24 natpi wan 198.18.1.2/24
  link wan w-lap 198.18.2.1/24 natlap wan 198.18.2.2/24
  home natpi pi 1 "$pi_kind"; pi_ip=$home_ip
  home natlap laptop 2 "$laptop_kind"; laptop_ip=$home_ip
}

# home ROUTER HOST N KIND: the host's LAN (a bridge, so that others can join it) behind
# its router, which is on wan as 198.18.N.2.
home() {
  local router=$1 host=$2 n=$3 kind=$4 lan=10.$3.0
  [ "$kind" = none ] && lan=198.18.1$n
  ip -n "$router" link add lan type bridge
  ip -n "$router" addr add "$lan.1/24" dev lan; ip -n "$router" link set lan up
  join_lan "$router" "$host" "$lan.2"
  ip -n "$router" route add default via "198.18.$n.1"
  home_ip=$lan.2
  case $kind in
    easy) nat "$router" masquerade ;;
    mapped) nat "$router" masquerade
            ip netns exec "$router" python3 "$(dirname "${BASH_SOURCE[0]}")/natpmp-router.py" "$lan.1" "198.18.$n.2" \
              > "${net_logs:-/tmp}/natpmp-$router.log" 2>&1 &
            wait_for 10 "the NAT-PMP service" grep -q serving "${net_logs:-/tmp}/natpmp-$router.log" ;;
    hard) nat "$router" "masquerade fully-random" ;;
    none) ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1
          ip -n wan route add "$lan.0/24" via "198.18.$n.2" ;;
    *) fail "unknown NAT kind $kind" ;;
  esac
}

# join_lan ROUTER HOST ADDRESS: one more host (namespace) on ROUTER's LAN, at ADDRESS.
join_lan() {
  local router=$1 host=$2 address=$3 gateway
  gateway=$(ip -n "$router" -4 -o addr show dev lan | awk '{print $4}' | cut -d/ -f1)
  ip netns list | grep -qw "$host" || { ip netns add "$host"; ip -n "$host" link set lo up; net_extra+=" $host"; }
  ip link add "l-$host" netns "$router" type veth peer name eth0 netns "$host"
  ip -n "$router" link set "l-$host" master lan up
  ip -n "$host" addr add "$address/24" dev eth0; ip -n "$host" link set eth0 up
  ip -n "$host" route add default via "$gateway"
}

# link NS-A IF-A ADDR-A NS-B IF-B ADDR-B: a veth pair between two namespaces.
link() {
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}

# nat NS RULE: masquerade out of "wan" (RULE: masquerade, or masquerade fully-random),
# forward and take in only what the LAN started.
nat() {
  ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$1" nft -f - <<RULES
table ip nat {
  chain prerouting { type nat hook prerouting priority dstnat; }
  chain postrouting { type nat hook postrouting priority srcnat; oifname "wan" $2; }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iifname "lan" accept
  }
  # Unsolicited packets to the router itself are dropped too, as home routers do: its
  # kernel would otherwise answer a SYN for a port no connection maps yet with a reset,
  # which kills the peer's half of a hole punch.
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname { "lo", "lan" } accept
  }
}
RULES
}

# Ends every process in the namespaces and removes them.
net_down() {
  local ns
  for ns in wan natpi natlap pi laptop ${net_extra:-}; do
    ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del $ns 2>/dev/null || true
  done
}

# endpoints DIR: configuration files for a relay, a Pi and a laptop in DIR (relay.toml,
# pi.toml, laptop.toml; state in DIR/relay, DIR/pi, DIR/laptop), their identities, and
# the laptop on the Pi's allowlist; sets relay_id, pi_id and laptop_id.
endpoints() {
  local dir=$1 side
  mkdir -p "$dir/relay" "$dir/pi" "$dir/laptop"
  printf 'state_directory = "%s"\nlisten = "%s"\n' "$dir/relay" "$relay_address" > "$dir/relay.toml"
  relay_id=$("$bin/usbp2p-relay" identity --config "$dir/relay.toml")
  for side in pi laptop; do
    printf 'state_directory = "%s"\nrelay.address = "%s"\nrelay.id = "%s"\n' "$dir/$side" "$relay_address" \
      "$relay_id" > "$dir/$side.toml"
  done
  pi_id=$("$bin/usbp2pd" identity --config "$dir/pi.toml")
  laptop_id=$("$bin/usbp2p-client" identity --config "$dir/laptop.toml")
  "$bin/usbp2pd" allow --config "$dir/pi.toml" "$laptop_id" "test laptop" > /dev/null
}
