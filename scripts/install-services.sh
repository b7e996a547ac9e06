#!/usr/bin/env bash
# Install what the test suite runs against: Redis, a single-node
# Ceph RADOS Gateway (real S3 with SigV4 checks) and Chromium. Idempotent: only installs
# what is missing, and only runs `apt-get update` when something must be installed.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# apt needs root; use sudo when not root and it is available.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -E"; else
    echo "install-services: must run as root (or have sudo)" >&2; exit 1
  fi
fi

missing=()
# command -> package that provides it
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli    >/dev/null 2>&1 || missing+=(redis-tools)
command -v ceph-mon     >/dev/null 2>&1 || missing+=(ceph-mon)
command -v ceph-osd     >/dev/null 2>&1 || missing+=(ceph-osd)
command -v radosgw      >/dev/null 2>&1 || missing+=(radosgw)
command -v curl         >/dev/null 2>&1 || missing+=(curl)
# python3 signs the SigV4 CreateBucket request in start-services.sh.
command -v python3      >/dev/null 2>&1 || missing+=(python3)
# A real browser for the web console's end-to-end test.
command -v chromium     >/dev/null 2>&1 || missing+=(chromium)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-services: everything already installed"
  exit 0
fi

echo "install-services: installing ${missing[*]}"
$SUDO apt-get update -q
# --no-install-recommends keeps the Ceph install to ~270 MB instead of pulling the whole stack.
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-services: done"
