#!/usr/bin/env bash
# Stop everything scripts/start-services.sh started for STATE_DIR (by pid
# file: TERM, up to 10 s, then KILL) and remove STATE_DIR.
# Safe to call when nothing runs.
#
# Usage: scripts/stop-services.sh [STATE_DIR]     (default: <repo>/.services)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=services-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/services-lib.sh"

STATE_DIR="$(resolve_state_dir "${1:-}")"

if [ ! -d "$STATE_DIR" ]; then
  echo "stop-services: nothing to stop ($STATE_DIR does not exist)"
  exit 0
fi

rc=0
# Gateway first (it is a RADOS client), then OSD, then the monitor last.
stop_pidfile "$(ceph_pidfile "$STATE_DIR" client.rgw.a)" radosgw radosgw || rc=1
stop_pidfile "$(ceph_pidfile "$STATE_DIR" osd.0)" ceph-osd ceph-osd || rc=1
stop_pidfile "$(ceph_pidfile "$STATE_DIR" mon.a)" ceph-mon ceph-mon || rc=1
stop_pidfile "$(redis_pidfile "$STATE_DIR")" redis-server redis || rc=1

if [ "$rc" -ne 0 ]; then
  # Keep the directory (pid files, logs) so the survivor can be found.
  echo "stop-services: some daemon could not be stopped; keeping $STATE_DIR" >&2
  exit 1
fi
# Remove only what start-services.sh creates, then the directory if that
# leaves it empty: the default .services may hold other state dirs (e.g. the
# test harness's .services/test-PID) whose daemons are still running.
rm -rf "$STATE_DIR/redis" "$STATE_DIR/ceph" "$STATE_DIR/env" "$STATE_DIR/env.tmp"
if rmdir "$STATE_DIR" 2>/dev/null; then
  echo "stop-services: stopped; removed $STATE_DIR"
else
  echo "stop-services: stopped; kept $STATE_DIR (it holds other files)"
fi
