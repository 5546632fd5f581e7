#!/usr/bin/env bash
# Shared helpers for the project's scripts. Sourced, never run.

# Prints a step heading so long runs show where they are.
step() { printf '\n==> %s\n' "$*"; }

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The Debian mirror this machine already uses, read from its apt sources, so that
# no script names a mirror host of its own.
debian_mirror() {
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | grep -i debian | head -n1)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' \
          | grep -v -- '-security' | head -n1)
  fi
  [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt/sources.list*"
  printf '%s\n' "${uri%/}"
}

# Adds an apt suite (e.g. bookworm-backports) in a sources file of its own,
# leaving the machine's default sources untouched. Returns 1 if it was already there.
ensure_apt_suite() {
  local suite=$1 components=${2:-main} file="/etc/apt/sources.list.d/usbp2p-$1.sources"
  [ -f "$file" ] && return 1
  cat > "$file" <<SRC
Types: deb
URIs: $(debian_mirror)
Suites: $suite
Components: $components
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  return 0
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Swift from the toolchain on this machine, or from PATH.
find_swift() {
  if command -v swift >/dev/null 2>&1; then command -v swift
  elif [ -x /opt/swift/usr/bin/swift ]; then echo /opt/swift/usr/bin/swift
  else die "no Swift toolchain found (expected swift on PATH or /opt/swift)"; fi
}

# The product's version, as the programs print it (usbp2pVersion in CLISupport); dies if
# it cannot be read.
project_version() {
  local version
  version=$(sed -n 's/^public let usbp2pVersion = "\(.*\)"$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../Sources/CLISupport/Program.swift")
  [ -n "$version" ] || die "no usbp2pVersion in Sources/CLISupport/Program.swift"
  echo "$version"
}

# elf_machine ARCH: what file(1) says of an executable for the Debian architecture ARCH.
elf_machine() {
  case "$1" in
    amd64) echo x86-64 ;;
    arm64) echo "ARM aarch64" ;;
    *) die "unknown architecture '$1' (amd64 or arm64)" ;;
  esac
}

# The Swift files that swift-format checks (scripts/format, scripts/test).
swift_format_paths=(Sources Tests Fuzz Benchmarks/USBIPCodec Benchmarks/SessionPaths Benchmarks/ExportPath Package.swift Benchmarks/Package.swift)

# partition_bytes DISK N: prints "START SIZE" in bytes of partition N of a disk or image
# (sfdisk's dump); returns 1 if it has no partition N.
partition_bytes() {
  local line start size
  line=$(sfdisk -d "$1" 2>/dev/null | grep -E '^[^ ]+ : start=' | sed -n "$2p")
  [ -n "$line" ] || return 1
  start=$(sed -n 's/.*start= *\([0-9]*\).*/\1/p' <<< "$line")
  size=$(sed -n 's/.*size= *\([0-9]*\).*/\1/p' <<< "$line")
  [ -n "$start" ] && [ -n "$size" ] || return 1
  echo "$((start * 512)) $((size * 512))"
}

# raspi_qemu: prints the qemu-system-aarch64 command (with its data directory) for the
# Pi boot test (Tests/Image/raspi-boot.sh, proven with qemu 10.0): the system's if it is
# 9.0 or later (it has raspi4b, new in 9.0; Debian 13), otherwise the one `install-deps pi`
# unpacked into the cache; returns 1 if there is none. (Debian 12's qemu 7.2 has raspi3b
# too, but its dwc2 and SD emulation are two years older and untried here.)
raspi_qemu() {
  local root=${USBP2P_CACHE:-/var/cache/usbp2p}/qemu-raspi/root
  if command -v qemu-system-aarch64 > /dev/null && qemu-system-aarch64 -M help 2> /dev/null | grep -q '^raspi4b '; then
    echo qemu-system-aarch64
  elif [ -x "$root/usr/bin/qemu-system-aarch64" ] && "$root/usr/bin/qemu-system-aarch64" -M help 2> /dev/null | grep -q '^raspi4b '; then
    echo "$root/usr/bin/qemu-system-aarch64 -L $root/usr/share/qemu"
  else
    return 1
  fi
}

# wait_for_usbp2pd_start CONSOLE QEMU_PID SECONDS: follows a booting machine's serial
# console as it is written (tail -F, no polling) until systemd says usbp2pd started
# (returns 0), the boot fails (1: usbp2pd failed, a kernel panic, emergency mode), qemu
# ends (2) or SECONDS pass (3).
wait_for_usbp2pd_start() {
  local console=$1 pid=$2 seconds=$3 follower line fd
  exec {fd}< <(timeout "$seconds" tail -n +1 -F --pid="$pid" "$console" 2> /dev/null)
  follower=$!
  line=$(grep -a -m1 -e 'systemd\[1\]: Started usbp2pd.service' -e 'Failed to start usbp2pd' \
    -e 'usbp2pd.service: Failed' -e 'Kernel panic' -e 'emergency mode' <&"$fd")
  kill "$follower" 2> /dev/null; exec {fd}<&-
  case "$line" in
    *'Started usbp2pd.service'*) return 0 ;;
    ?*) return 1 ;;
  esac
  kill -0 "$pid" 2> /dev/null || return 2
  return 3
}

# ensure_foreign_arch ARCH: makes sure this (amd64) machine runs ARCH's programs, for a
# chroot or root filesystem of that architecture: qemu-user-static registered with
# binfmt_misc with the F flag (the kernel opens the interpreter once, so it works inside
# a chroot). Nothing to do for amd64.
ensure_foreign_arch() {
  [ "$1" = amd64 ] && return 0
  [ "$1" = arm64 ] || die "no emulation set up for '$1'"
  local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
  [ -x /usr/bin/qemu-aarch64-static ] || die "qemu-user-static is missing: run scripts/install-deps image"
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
    || die "cannot mount binfmt_misc (arm64 programs run through it)"
  [ -e "$entry" ] || update-binfmts --enable qemu-aarch64 > /dev/null 2>&1 || true
  grep -q '^enabled' "$entry" 2>/dev/null && grep -q '^flags:.*F' "$entry" \
    || die "qemu-aarch64 is not registered with binfmt_misc with the F flag: update-binfmts --enable qemu-aarch64"
}

# glibc_needed BINARY: the newest glibc symbol version an ELF binary of any architecture
# needs (readelf reads them all), e.g. 2.35.
glibc_needed() {
  readelf -V "$1" | grep -oE 'GLIBC_[0-9]+\.[0-9]+(\.[0-9]+)?' | sed 's/GLIBC_//' | sort -V | tail -n1
}
