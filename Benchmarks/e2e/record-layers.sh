#!/bin/bash
# Runs in the test guest: the session's record layers next to each other on the guest's
# loopback, in one run of Benchmarks' SessionPaths (build it first, release):
#   tcp                  plain TCP, the floor
#   session+tls          our record layer after OpenSSL's handshake (the product's default)
#   session+tls-openssl  OpenSSL's record layer
#   session+ktls         kernel TLS (Debian's kernel, the tls module) after our handshake
# Usage: scripts/guest run Benchmarks/e2e/record-layers.sh SESSIONPATHS-BINARY [MiB] [ROUND-TRIPS]
set -euo pipefail
binary=$1
modprobe tls
echo "kernel $(uname -r); cipher preference as on this CPU"
"$binary" "${2:-32}" "${3:-1000}" tcp session+tls session+tls-openssl session+ktls
# The same once more in the opposite order, so a drift in the guest's speed falls on all.
"$binary" "${2:-32}" "${3:-1000}" session+ktls session+tls-openssl session+tls tcp
