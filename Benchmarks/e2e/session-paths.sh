#!/usr/bin/env bash
# Throughput and small-message latency of a session over plain TCP, over mutual TLS, and
# through usbp2p-relay, next to plain TCP, in one run on this machine's loopback (release
# build). Figures go to docs/performance.md with the date and this command.
# Usage: Benchmarks/e2e/session-paths.sh [MiB] [ROUND-TRIPS]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
swift=$(find_swift)
step "building the session benchmark (release)"
"$swift" build -c release --package-path "$here/Benchmarks" --product SessionPaths 2>&1 | grep -E "error|warning: unre" || true
"$here/Benchmarks/.build/release/SessionPaths" "$@"
