#!/usr/bin/env bash
# The laptop's package: image/build-client-deb makes the .deb; in a Debian 13 chroot of its
# architecture (the build chroot, scripts/trixie-chroot; arm64's runs under qemu-user-static)
# apt installs it with its dependencies, the program runs and prints its version, the man
# page, the modules-load.d file and the unit are in place, the unit is one systemd accepts
# (systemd-analyze verify), and apt removes it all.
#
#   Tests/Image/client-deb.sh [amd64|arm64]    (the binary from image/build-usbp2pd ARCH)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
arch=${1:-amd64}
out="$here/.build/client-deb-$arch"; rm -rf "$out"
deb=$(bash "$here/image/build-client-deb" "$arch" "$out" | awk '{print $1}')
[ -f "$deb" ] || die "no .deb built"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || die "the .deb says Architecture: $(dpkg-deb -f "$deb" Architecture), not $arch"
dpkg-deb --contents "$deb" | awk '{print $1, $6}' | grep -q '^drwxr-xr-x ./$' || die "the package's top directory is not 0755"
root=$(bash "$here/scripts/trixie-chroot" --arch "$arch" path)
cp "$deb" "$root/tmp/"
bash "$here/scripts/trixie-chroot" --arch "$arch" run bash -c '
  set -euo pipefail
  deb=/tmp/'"$(basename "$deb")"'
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" > /tmp/deb-install.log 2>&1 || { cat /tmp/deb-install.log; exit 1; }
  usbp2p-client --version | head -n1
  for f in /usr/share/man/man1/usbp2p-client.1.gz /usr/lib/modules-load.d/usbp2p-client.conf /usr/lib/systemd/system/usbp2p-client-attach.service; do
    [ -f "$f" ] || { echo "missing: $f"; exit 1; }
  done
  grep -qx vhci-hcd /usr/lib/modules-load.d/usbp2p-client.conf
  zcat /usr/share/man/man1/usbp2p-client.1.gz | grep -q "^.SH SYNOPSIS"
  if command -v systemd-analyze > /dev/null; then systemd-analyze verify --man=no /usr/lib/systemd/system/usbp2p-client-attach.service; fi
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq usbp2p-client > /dev/null 2>&1
  [ ! -e /usr/bin/usbp2p-client ] && [ ! -e /usr/lib/systemd/system/usbp2p-client-attach.service ] || { echo "files left after removal"; exit 1; }
  echo "installed, ran, removed"
'
echo "PASS: client .deb ($(basename "$deb"))"
