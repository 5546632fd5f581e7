#!/usr/bin/env bash
# The laptop's package: image/build-client-deb makes the .deb; in a Debian 13 chroot of its
# architecture (the build chroot, scripts/trixie-chroot; arm64's runs under qemu-user-static)
# and, for amd64, in a Debian 12 one too (minbase, cached), apt installs it with its
# dependencies, the program runs and prints its version, the man page, the modules-load.d
# file and the unit are in place, the unit is one systemd accepts (systemd-analyze verify,
# where systemd is installed), and apt removes it all. Ubuntu's archive cannot be reached
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
  getent group usbp2p > /dev/null || { echo "no usbp2p group after the install"; exit 1; }
  grep -q "^state_directory = \"/var/lib/usbp2p-client\"" /etc/usbp2p/client.toml
  usbp2p-client config check --config /etc/usbp2p/client.toml > /dev/null
  zcat /usr/share/man/man1/usbp2p-client.1.gz | grep -q "^.SH SYNOPSIS"
  if command -v systemd-analyze > /dev/null; then systemd-analyze verify --man=no /usr/lib/systemd/system/usbp2p-client.service; fi
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq usbp2p-client > /dev/null 2>&1
  [ ! -e /usr/bin/usbp2p-client ] && [ ! -e /usr/lib/systemd/system/usbp2p-client.service ] || { echo "files left after removal"; exit 1; }
  echo "installed, ran, removed"
'

echo "in Debian 13 ($arch):"
root=$(bash "$here/scripts/trixie-chroot" --arch "$arch" path)
cp "$deb" "$root/tmp/"
bash "$here/scripts/trixie-chroot" --arch "$arch" run bash -c "$check"

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
  status=0
  chroot "$old" /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin bash -c "apt-get update -qq && $check" || status=$?
  umount -l "$old/proc"
  [ $status -eq 0 ] || die "the .deb failed in Debian 12"
fi
echo "PASS: client .deb ($(basename "$deb"), $(dpkg-deb -f "$deb" Depends | cut -d, -f1))"
