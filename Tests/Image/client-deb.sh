#!/usr/bin/env bash
# The laptop's package: image/build-client-deb makes the .deb; in a Debian 13 chroot of its
# architecture (the build chroot, scripts/trixie-chroot; arm64's runs under qemu-user-static)
# and, for amd64, in a Debian 12 one too (minbase, cached), apt installs it with its
# dependencies, the program runs and prints its version, the man pages (one per command), the modules-load.d
# file and the unit are in place, the unit is one systemd accepts (systemd-analyze verify,
# where systemd is installed); its service starts as the unit starts it, and a user in the
# usbp2p group pairs through it with a usbp2pd on loopback (this machine's build, outside
# the chroot); apt removes it all but the pairings, and purge those. Ubuntu's archive cannot be reached
# from here: what the binary needs of glibc (image/build-client prints it; 2.35 for amd64)
# is what Ubuntu 22.04 and 24.04 have or more.
#
#   Tests/Image/client-deb.sh [amd64|arm64]    (amd64: image/build-client builds the binary;
#                                               arm64: the one from image/build-usbp2pd arm64)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
arch=${1:-amd64}
out="$here/.build/client-deb-$arch"; rm -rf "$out"
[ "$arch" = amd64 ] && bash "$here/image/build-client"
deb=$(bash "$here/image/build-client-deb" "$arch" "$out" | awk '{print $1}')
[ -f "$deb" ] || die "no .deb built"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || die "the .deb says Architecture: $(dpkg-deb -f "$deb" Architecture), not $arch"
dpkg-deb --contents "$deb" | awk '{print $1, $6}' | grep -q '^drwxr-xr-x ./$' || die "the package's top directory is not 0755"
# The check inside a chroot that has the .deb in /tmp.
# shellcheck disable=SC2016
check='
  set -euo pipefail
  deb=/tmp/'"$(basename "$deb")"'
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" > /tmp/deb-install.log 2>&1 \
    || { cat /tmp/deb-install.log; exit 1; }
  usbp2p-client --version | head -n1
  for f in /usr/share/man/man1/usbp2p-client.1.gz /usr/lib/modules-load.d/usbp2p-client.conf /usr/lib/systemd/system/usbp2p-client.service; do
    [ -f "$f" ] || { echo "missing: $f"; exit 1; }
  done
  grep -qx vhci-hcd /usr/lib/modules-load.d/usbp2p-client.conf
  grep -qx tls /usr/lib/modules-load.d/usbp2p-client.conf
  getent group usbp2p > /dev/null || { echo "no usbp2p group after the install"; exit 1; }
  grep -q "^state_directory = \"/var/lib/usbp2p-client\"" /etc/usbp2p/client.toml
  usbp2p-client config check --config /etc/usbp2p/client.toml > /dev/null
  zcat /usr/share/man/man1/usbp2p-client.1.gz | grep -q "^.SH SYNOPSIS"
  for command in pair attach detach list share unshare audit status peers forget ports identity config serve; do
    zcat /usr/share/man/man1/usbp2p-client.$command.1.gz | grep -q "^.Sh SYNOPSIS" || { echo "no man page for $command"; exit 1; }
  done
  if command -v systemd-analyze > /dev/null; then systemd-analyze verify --man=no /usr/lib/systemd/system/usbp2p-client.service; fi
  # The service, started as its unit starts it (no systemd in a chroot), and a user of the
  # group pairing through it.
  service=$(sed -n "s/^ExecStart=//p" /usr/lib/systemd/system/usbp2p-client.service)
  $service > /tmp/service.log 2>&1 &
  pid=$!
  for i in $(seq 300); do [ -S /run/usbp2p-client/control.sock ] && break; kill -0 $pid || break; sleep 0.1; done
  [ -S /run/usbp2p-client/control.sock ] || { cat /tmp/service.log; echo "the service did not start"; exit 1; }
  id anna > /dev/null 2>&1 || useradd --no-create-home anna
  usermod -aG usbp2p anna
  as_anna() { setpriv --reuid=anna --regid=anna --init-groups env -i HOME=/nonexistent USER=anna PATH=/usr/bin:/bin usbp2p-client "$@"; }
  as_anna pair --address "127.0.0.1:$USBP2P_PORT" "$USBP2P_CODE" || { cat /tmp/service.log; exit 1; }
  as_anna peers | grep -q "^Loopback Pi " || { echo "the paired server is not in the peers"; exit 1; }
  kill -TERM $pid; wait $pid || true
  [ ! -e /run/usbp2p-client/control.sock ] || { echo "the service left its socket"; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq usbp2p-client > /dev/null 2>&1
  [ ! -e /usr/bin/usbp2p-client ] && [ ! -e /usr/lib/systemd/system/usbp2p-client.service ] || { echo "files left after removal"; exit 1; }
  [ -f /var/lib/usbp2p-client/peers ] || { echo "remove took the pairings"; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq usbp2p-client > /dev/null 2>&1
  [ ! -e /var/lib/usbp2p-client ] && [ ! -e /etc/usbp2p/client.toml ] || { echo "purge left the pairings or the configuration"; exit 1; }
  echo "installed, ran, served, paired as a user of the group, removed, purged"
'

# The server: this machine's usbp2pd on a free loopback port, its pairing window open for
# each chroot's pairing.
usbp2pd="$here/.build/debug/usbp2pd"
[ -x "$usbp2pd" ] || die "no $usbp2pd: swift build first"
server=$(mktemp -d /tmp/usbp2p-deb-server.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$server/pi.toml" <<TOML
name = "Loopback Pi"
state_directory = "$server/state"
session.listen = "127.0.0.1:$port"
lan.mdns = false
reach.port_mapping = false
gpio.chip = ""
control.socket = "$server/control.sock"
TOML
"$usbp2pd" serve --config "$server/pi.toml" > "$server/usbp2pd.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2> /dev/null; wait $server_pid 2> /dev/null; rm -rf "$server"' EXIT
for _ in $(seq 300); do grep -q "ready: serving" "$server/usbp2pd.log" && break; kill -0 $server_pid || break; sleep 0.1; done
grep -q "ready: serving" "$server/usbp2pd.log" || { cat "$server/usbp2pd.log"; die "the loopback usbp2pd did not start"; }
export USBP2P_PORT=$port
USBP2P_CODE=$("$usbp2pd" pairing-code --config "$server/pi.toml" --text-only | sed -n 's/^pairing code: //p')
export USBP2P_CODE
open_pairing() { "$usbp2pd" pair --open --seconds 300 --config "$server/pi.toml" > /dev/null; }

echo "in Debian 13 ($arch):"
root=$(bash "$here/scripts/trixie-chroot" --arch "$arch" path)
cp "$deb" "$root/tmp/"
open_pairing
bash "$here/scripts/trixie-chroot" --arch "$arch" run env USBP2P_PORT="$port" USBP2P_CODE="$USBP2P_CODE" bash -c "$check"

if [ "$arch" = amd64 ]; then
  # A Debian 12 minbase, kept in the cache; apt fetches what the package depends on.
  cache=${USBP2P_CACHE:-/var/cache/usbp2p}
  old="$cache/bookworm-amd64-minbase"
  if [ ! -f "$old/.usbp2p-ready" ]; then
    rm -rf "$old"; mkdir -p "$cache"
    step "debootstrap Debian 12 (bookworm, minbase, amd64) into $old"
    debootstrap --arch=amd64 --variant=minbase bookworm "$old" "$(debian_mirror)" > "$cache/debootstrap-bookworm.log" 2>&1 \
      || { tail -n 30 "$cache/debootstrap-bookworm.log"; die "debootstrap of Debian 12 failed"; }
    touch "$old/.usbp2p-ready"
  fi
  echo "in Debian 12 (amd64):"
  cp "$deb" "$old/tmp/"
  mount -t proc proc "$old/proc"
  open_pairing
  status=0
  chroot "$old" /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin USBP2P_PORT="$port" USBP2P_CODE="$USBP2P_CODE" \
    bash -c "apt-get update -qq && $check" || status=$?
  umount -l "$old/proc"
  [ $status -eq 0 ] || die "the .deb failed in Debian 12"
fi
echo "PASS: client .deb ($(basename "$deb"), $(dpkg-deb -f "$deb" Depends | cut -d, -f1))"
