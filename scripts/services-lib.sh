# shellcheck shell=bash
# Helpers shared by start-services.sh, stop-services.sh and restart-redis.sh.
# Sourced, not executed.

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

# resolve_state_dir [DIR] -> absolute path (default: REPO_ROOT/.services).
# Absolute so that pid files and ceph.conf paths stay valid from any cwd.
resolve_state_dir() {
  local dir="${1:-$REPO_ROOT/.services}"
  case "$dir" in
    /*) ;;
    *) dir="$PWD/$dir" ;;
  esac
  # Strip trailing slashes (but keep "/" itself, which we refuse below anyway).
  while [ "${#dir}" -gt 1 ] && [ "${dir%/}" != "$dir" ]; do dir="${dir%/}"; done
  if [ "$dir" = "/" ] || [ "$dir" = "$HOME" ] || [ "$dir" = "$REPO_ROOT" ]; then
    echo "refusing to use '$dir' as STATE_DIR (it gets deleted on stop)" >&2
    return 1
  fi
  printf '%s\n' "$dir"
}

# proc_running PID -> 0 if PID exists and is not a zombie. Our daemons are
# reparented to PID 1, which may reap them seconds after they exit; a zombie
# answers `kill -0` but is already gone for our purposes.
proc_running() {
  local state
  state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
  [ -n "$state" ] && [ "$state" != Z ]
}

# pid_alive PIDFILE EXPECTED_COMM -> 0 if the pid in PIDFILE is a live process
# named EXPECTED_COMM. Checking the name guards against a stale pid file whose
# pid has been reused by an unrelated process (we must never signal that one).
pid_alive() {
  local file="$1" comm="$2" pid actual
  [ -s "$file" ] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [ -n "$pid" ] || return 1
  proc_running "$pid" || return 1
  actual="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  # /proc/PID/comm is cut to 15 chars; compare on that prefix.
  [ "$actual" = "${comm:0:15}" ]
}

# stop_pidfile PIDFILE EXPECTED_COMM LABEL: TERM, wait up to 10 s, then KILL.
stop_pidfile() {
  local file="$1" comm="$2" label="$3" pid
  if ! pid_alive "$file" "$comm"; then
    return 0
  fi
  pid="$(tr -dc '0-9' <"$file")"
  echo "stopping $label (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    proc_running "$pid" || return 0
    sleep 0.1
  done
  echo "$label (pid $pid) ignored TERM for 10 s; sending KILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    proc_running "$pid" || return 0
    sleep 0.1
  done
  echo "$label (pid $pid) still alive after KILL" >&2
  return 1
}

# free_ports N -> N distinct free TCP ports on 127.0.0.1, one per line.
# All sockets are held open until every port is chosen so the N are distinct.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
PY
}

# Daemon pid files inside STATE_DIR, with the process name each must have.
# Keep in sync with the paths written by start-services.sh.
redis_pidfile() { printf '%s\n' "$1/redis/redis.pid"; }
ceph_pidfile() { printf '%s\n' "$1/ceph/run/$2.pid"; }   # $2: mon.a, osd.0, client.rgw.a
