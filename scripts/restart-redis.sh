#!/usr/bin/env bash
# Stop the Redis started by scripts/start-services.sh for STATE_DIR and start
# it again on the same port with the same config. It has no persistence, so
# it comes back empty: for tests that Redis loss loses no artifact.
#
# Usage: scripts/restart-redis.sh [STATE_DIR]     (default: <repo>/.services)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=services-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/services-lib.sh"

STATE_DIR="$(resolve_state_dir "${1:-}")"
DIR="$STATE_DIR/redis"
CONF="$DIR/redis.conf"
PIDFILE="$(redis_pidfile "$STATE_DIR")"

if [ ! -f "$CONF" ] || [ ! -f "$DIR/port" ]; then
  echo "restart-redis: no Redis set up in $STATE_DIR; run scripts/start-services.sh first" >&2
  exit 1
fi
PORT="$(cat "$DIR/port")"

stop_pidfile "$PIDFILE" redis-server redis
rm -f "$PIDFILE"
redis-server "$CONF"
for _ in $(seq 1 100); do   # ~10 s
  if [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null || true)" = "PONG" ] \
     && pid_alive "$PIDFILE" redis-server; then
    echo "restart-redis: Redis answering again on 127.0.0.1:$PORT"
    exit 0
  fi
  sleep 0.1
done
echo "restart-redis: Redis did not come back on port $PORT within 10 s" >&2
tail -n 40 "$DIR/redis.log" >&2 || true
exit 1
