# Network namespaces for the session scenarios (sourced after lib.sh): two homes behind
# NATs and a public relay, built from veth pairs and nftables, with addresses from the
# benchmarking range 198.18.0.0/15 and private 10.x networks only.
#
#   pi (10.1.0.2) ── natpi (10.1.0.1 | 198.18.1.2) ─┐
#                                                  wan (198.18.1.1, 198.18.2.1; relay on 198.18.0.1:443)
#   laptop (10.2.0.2) ── natlap (10.2.0.1 | 198.18.2.2) ─┘
#
# Each NAT masquerades (endpoint-independent, source port kept) and drops unsolicited
# inbound, as a home router does.
relay_address=198.18.0.1:443

net_up() {
  modprobe veth; modprobe nf_tables; modprobe nft_chain_nat; modprobe nft_masq; modprobe nft_ct
  modprobe nf_conntrack
  local ns
  for ns in wan natpi natlap pi laptop; do ip netns add $ns; ip -n $ns link set lo up; done
  ip -n wan addr add 198.18.0.1/32 dev lo
  ip netns exec wan sysctl -qw net.ipv4.ip_forward=1
  link wan w-pi 198.18.1.1/24 natpi wan 198.18.1.2/24
  link wan w-lap 198.18.2.1/24 natlap wan 198.18.2.2/24
  link natpi lan 10.1.0.1/24 pi eth0 10.1.0.2/24
  link natlap lan 10.2.0.1/24 laptop eth0 10.2.0.2/24
  ip -n pi route add default via 10.1.0.1
  ip -n laptop route add default via 10.2.0.1
  ip -n natpi route add default via 198.18.1.1
  ip -n natlap route add default via 198.18.2.1
  nat natpi; nat natlap
}

# link NS-A IF-A ADDR-A NS-B IF-B ADDR-B: a veth pair between two namespaces.
link() {
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}

# nat NS: masquerade out of "wan", forward only what the LAN started.
nat() {
  ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$1" nft -f - <<'RULES'
table ip nat {
  chain postrouting { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" accept
  }
}
RULES
}

# Ends every process in the namespaces and removes them.
net_down() {
  local ns
  for ns in wan natpi natlap pi laptop; do
    ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del $ns 2>/dev/null || true
  done
}
