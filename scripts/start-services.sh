#!/usr/bin/env bash
# Start a private Redis and a real S3 server (single-node Ceph RADOS Gateway)
# on free 127.0.0.1 ports, for the test suite, CI and local use.
#
# Usage: scripts/start-services.sh [STATE_DIR]     (default: <repo>/.services)
#   SERVICES=redis|s3|redis,s3  which services to start (default: both)
#   ARTIFACT_BUCKET=name        bucket to create (default: chuk-artifacts-test)
#   RGW_READY_TIMEOUT=secs      how long to wait for the gateway (default: 90)
#
# Everything (config, data, logs, pid files) lives inside STATE_DIR; stop with
# scripts/stop-services.sh [STATE_DIR]. Writes STATE_DIR/env with `export` lines:
#   source STATE_DIR/env
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=services-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/services-lib.sh"

STATE_DIR="$(resolve_state_dir "${1:-}")"
# Ceph's config parser splits on whitespace; keep paths simple.
case "$STATE_DIR" in
  *[[:space:]]*) echo "start-services: STATE_DIR must not contain whitespace: '$STATE_DIR'" >&2; exit 2 ;;
esac

SERVICES="${SERVICES:-redis,s3}"
WANT_REDIS=0
WANT_S3=0
for svc in ${SERVICES//,/ }; do
  case "$svc" in
    redis) WANT_REDIS=1 ;;
    s3|ceph|rgw) WANT_S3=1 ;;
    all) WANT_REDIS=1; WANT_S3=1 ;;
    *) echo "start-services: unknown service '$svc' in SERVICES (use redis, s3 or both)" >&2; exit 2 ;;
  esac
done

BUCKET="${ARTIFACT_BUCKET:-chuk-artifacts-test}"
RGW_READY_TIMEOUT="${RGW_READY_TIMEOUT:-90}"
REGION="us-east-1"
# RGW enforces S3 bucket naming (3-63 chars); fail early with a clear message.
if ! [[ "$BUCKET" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]]; then
  echo "start-services: invalid S3 bucket name '$BUCKET' (3-63 chars: a-z 0-9 . -)" >&2
  exit 2
fi

need=(python3)
[ "$WANT_REDIS" = 1 ] && need+=(redis-server redis-cli)
[ "$WANT_S3" = 1 ] && need+=(ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl)
for cmd in "${need[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "start-services: '$cmd' not found; run scripts/install-services.sh first" >&2
    exit 1
  fi
done

mkdir -p "$STATE_DIR"
chmod 700 "$STATE_DIR"   # the env file holds the S3 secret key

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
T_START="$(now)"

# Daemons started by this run, as "pidfile|comm|label": if anything fails we
# stop them again so no half-started set is left behind (logs are kept).
STARTED=()
cleanup_on_failure() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "${#STARTED[@]}" -gt 0 ]; then
    echo "start-services: failed; stopping what this run started (logs kept in $STATE_DIR)" >&2
    local i entry pf comm label
    for ((i=${#STARTED[@]}-1; i>=0; i--)); do
      entry="${STARTED[$i]}"
      IFS='|' read -r pf comm label <<<"$entry"
      stop_pidfile "$pf" "$comm" "$label" >&2 || true
    done
  fi
  exit "$rc"
}
trap cleanup_on_failure EXIT

fail() {  # fail MESSAGE [LOGFILE]
  echo "start-services: $1" >&2
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    echo "---- last 40 lines of $2 ----" >&2
    tail -n 40 "$2" >&2
    echo "----" >&2
  fi
  exit 1
}

# ---------------------------------------------------------------- Redis ----
start_redis() {
  local dir="$STATE_DIR/redis"
  local pidfile; pidfile="$(redis_pidfile "$STATE_DIR")"
  if pid_alive "$pidfile" redis-server; then
    echo "redis: already running for $STATE_DIR (port $(cat "$dir/port")); not starting another"
    return 0
  fi
  rm -rf "$dir"   # stale state from a dead instance
  mkdir -p "$dir"
  local port; port="$(free_ports 1)"
  # A config file (rather than flags) so restart-redis.sh can reuse it verbatim.
  # No persistence: tests must cope with Redis losing everything.
  cat >"$dir/redis.conf" <<EOF
port $port
bind 127.0.0.1
protected-mode yes
save ""
appendonly no
daemonize yes
pidfile $pidfile
logfile $dir/redis.log
dir $dir
EOF
  echo "$port" >"$dir/port"
  redis-server "$dir/redis.conf"
  STARTED+=("$pidfile|redis-server|redis")
  # Ready = answers PING and has written its pid file (stop/restart need it).
  local deadline=$((SECONDS + 10))
  until [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = "PONG" ] \
        && pid_alive "$pidfile" redis-server; do
    [ "$SECONDS" -ge "$deadline" ] && fail "redis not ready on port $port within 10 s" "$dir/redis.log"
    sleep 0.1
  done
  cat >"$dir/env" <<EOF
export REDIS_URL=redis://127.0.0.1:$port/0
export REDIS_PORT=$port
export REDIS_PID_FILE=$pidfile
export REDIS_CONF=$dir/redis.conf
EOF
  echo "redis: ready on 127.0.0.1:$port ($(elapsed "$T_START") s)"
}

# ------------------------------------------------------------ Ceph / RGW ----
CEPH_DIR="$STATE_DIR/ceph"
CONF="$CEPH_DIR/ceph.conf"
CEPH_DAEMONS=("mon.a|ceph-mon" "osd.0|ceph-osd" "client.rgw.a|radosgw")

# Every ceph CLI call is bounded: with the monitor down it would retry forever.
ceph_cli() { timeout 30 ceph -c "$CONF" --connect-timeout 20 "$@"; }

start_s3() {
  local alive=0 entry name comm
  for entry in "${CEPH_DAEMONS[@]}"; do
    IFS='|' read -r name comm <<<"$entry"
    pid_alive "$(ceph_pidfile "$STATE_DIR" "$name")" "$comm" && alive=$((alive + 1))
  done
  if [ "$alive" = "${#CEPH_DAEMONS[@]}" ] && [ -s "$CEPH_DIR/env" ]; then
    echo "s3: already running for $STATE_DIR ($(grep S3_ENDPOINT_URL "$CEPH_DIR/env" | cut -d= -f2)); not starting another"
    return 0
  fi
  if [ "$alive" = "${#CEPH_DAEMONS[@]}" ]; then
    fail "s3: Ceph daemons run for $STATE_DIR but set-up never finished (no env); run scripts/stop-services.sh $STATE_DIR first"
  fi
  if [ "$alive" != 0 ]; then
    fail "s3: only $alive of ${#CEPH_DAEMONS[@]} Ceph daemons are running for $STATE_DIR; run scripts/stop-services.sh $STATE_DIR first"
  fi
  rm -rf "$CEPH_DIR"   # stale state from a dead cluster
  mkdir -p "$CEPH_DIR"/{run,log,mon,osd.0,rgw,crash}

  local ports mon_v2 mon_v1 rgw_port
  ports="$(free_ports 3)"
  mon_v2="$(sed -n 1p <<<"$ports")"
  mon_v1="$(sed -n 2p <<<"$ports")"
  rgw_port="$(sed -n 3p <<<"$ports")"
  local fsid; fsid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
  local osd_uuid; osd_uuid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
  local mon_addr="[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]"

  # Minimal single-node cluster. Settings that matter:
  # - auth none: no keyrings to manage (S3 requests are still SigV4-checked by RGW)
  # - ms * mode = crc: otherwise radosgw fails to authenticate to the mon (-13)
  # - size 1 / chooseleaf type 0: one OSD must be enough for every pool
  # - memstore capped at 2 GiB: data lives in RAM, keep it bounded
  # - our own mon ports: never the default 3300/6789, which may be taken
  # - beast tcp_nodelay=1: without it sequential GETs take ~40 ms each
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = $mon_addr
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# Default 1 s: every osdmap change (osd create, each RGW pool) waited ~1 s,
# making start-up ~18 s; at 0.1 s it is ~3-4 s.
paxos propose interval = 0.1
run dir = $CEPH_DIR/run
pid file = $CEPH_DIR/run/\$name.pid
admin socket = $CEPH_DIR/run/\$name.asok
log file = $CEPH_DIR/log/\$name.log
crash dir = $CEPH_DIR/crash
keyring = $CEPH_DIR/keyring
mon data = $CEPH_DIR/mon/\$id
osd data = $CEPH_DIR/osd.\$id

[client.admin]
# CLI tools (ceph, radosgw-admin) run concurrently: no shared admin socket.
admin socket =
log file = $CEPH_DIR/log/client.admin.log

[osd.0]
osd objectstore = memstore
memstore device bytes = 2147483648

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw data = $CEPH_DIR/rgw
# Free deleted objects within a minute, not two hours, so repeated large tests cannot fill the
# capped in-memory store.
rgw gc obj min wait = 0
rgw gc processor period = 60
EOF

  local log="$CEPH_DIR/log"
  # 1. monitor
  monmaptool --create --fsid "$fsid" --addv a "$mon_addr" --enable-all-features \
    --set-min-mon-release pacific "$CEPH_DIR/monmap" >"$log/mkfs.log" 2>&1 \
    || fail "s3: monmaptool failed" "$log/mkfs.log"
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$CEPH_DIR/monmap" >>"$log/mkfs.log" 2>&1 \
    || fail "s3: ceph-mon --mkfs failed" "$log/mkfs.log"
  ceph-mon -c "$CONF" -i a >>"$log/mkfs.log" 2>&1 || fail "s3: ceph-mon did not start" "$log/mon.a.log"
  STARTED+=("$(ceph_pidfile "$STATE_DIR" mon.a)|ceph-mon|ceph-mon")
  local deadline=$((SECONDS + 30))
  until ceph_cli mon stat >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && fail "s3: monitor not answering within 30 s" "$log/mon.a.log"
    sleep 0.25
  done
  echo "s3: monitor up on 127.0.0.1:$mon_v2 ($(elapsed "$T_START") s)"

  # 2. one memstore OSD
  local osd_id
  osd_id="$(ceph_cli osd create "$osd_uuid" 2>>"$log/mkfs.log")" || fail "s3: ceph osd create failed" "$log/mkfs.log"
  [ "$osd_id" = 0 ] || fail "s3: expected osd id 0, got '$osd_id'"
  ceph_cli osd crush add osd.0 1 root=default >>"$log/mkfs.log" 2>&1 || fail "s3: crush add failed" "$log/mkfs.log"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$log/mkfs.log" 2>&1 \
    || fail "s3: ceph-osd --mkfs failed" "$log/mkfs.log"
  ceph-osd -c "$CONF" -i 0 >>"$log/mkfs.log" 2>&1 || fail "s3: ceph-osd did not start" "$log/osd.0.log"
  STARTED+=("$(ceph_pidfile "$STATE_DIR" osd.0)|ceph-osd|ceph-osd")
  osd_up() {
    ceph_cli osd stat -f json 2>/dev/null \
      | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("num_up_osds") == 1 else 1)' 2>/dev/null
  }
  deadline=$((SECONDS + 60))
  until osd_up; do
    [ "$SECONDS" -ge "$deadline" ] && fail "s3: OSD not up within 60 s" "$log/osd.0.log"
    sleep 0.25
  done
  echo "s3: OSD up ($(elapsed "$T_START") s)"

  # 3. the gateway (creates its pools on first start, hence the long timeout)
  radosgw -c "$CONF" -n client.rgw.a >>"$log/mkfs.log" 2>&1 || fail "s3: radosgw did not start" "$log/client.rgw.a.log"
  local rgw_pidfile; rgw_pidfile="$(ceph_pidfile "$STATE_DIR" client.rgw.a)"
  STARTED+=("$rgw_pidfile|radosgw|radosgw")
  local endpoint="http://127.0.0.1:$rgw_port" code="" rgw_t0=$SECONDS
  deadline=$((SECONDS + RGW_READY_TIMEOUT))
  while :; do
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$endpoint/" 2>/dev/null || true)"
    case "$code" in 2??|403) break ;; esac
    # radosgw daemonizes before it is ready (pid file may lag); if it died, stop waiting.
    if [ $((SECONDS - rgw_t0)) -ge 3 ] && ! pid_alive "$rgw_pidfile" radosgw; then
      fail "s3: radosgw exited during start-up" "$log/client.rgw.a.log"
    fi
    [ "$SECONDS" -ge "$deadline" ] && fail "s3: gateway not answering on $endpoint within $RGW_READY_TIMEOUT s (last HTTP code '$code')" "$log/client.rgw.a.log"
    sleep 0.25
  done
  echo "s3: gateway answering on $endpoint ($(elapsed "$T_START") s)"

  # 4. S3 user with generated keys. radosgw-admin prints the keys as JSON, so
  #    its stdout goes nowhere: secrets only ever land in the env file.
  local access secret
  access="$(python3 -c 'import secrets,string; a=string.ascii_uppercase+string.digits; print("".join(secrets.choice(a) for _ in range(20)))')"
  secret="$(python3 -c 'import secrets,string; a=string.ascii_letters+string.digits; print("".join(secrets.choice(a) for _ in range(40)))')"
  radosgw-admin -c "$CONF" user create --uid=chuk-artifacts --display-name="chuk-artifacts tests" \
    --access-key="$access" --secret-key="$secret" >/dev/null 2>>"$log/mkfs.log" \
    || fail "s3: radosgw-admin user create failed" "$log/mkfs.log"

  # 5. the test bucket. radosgw-admin cannot create buckets, so send a SigV4
  #    signed CreateBucket with python3's stdlib (no npm dependency here).
  S3_ENDPOINT="$endpoint" S3_ACCESS="$access" S3_SECRET="$secret" S3_REGION="$REGION" S3_BUCKET="$BUCKET" \
    python3 - <<'PY' || fail "s3: could not create bucket $BUCKET" "$log/client.rgw.a.log"
import datetime, hashlib, hmac, os, sys, time, urllib.error, urllib.parse, urllib.request

endpoint, access, secret = os.environ["S3_ENDPOINT"], os.environ["S3_ACCESS"], os.environ["S3_SECRET"]
region, bucket = os.environ["S3_REGION"], os.environ["S3_BUCKET"]

def signed_put(path):
    host = urllib.parse.urlsplit(endpoint).netloc
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(b"").hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(["PUT", path, "", "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_hash])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(endpoint + path, method="PUT", data=b"", headers={
        "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={sig}",
    })
    return urllib.request.urlopen(req, timeout=30)

# The user was just written to RADOS; allow a few retries for it to be seen.
for attempt in range(10):
    try:
        signed_put("/" + bucket).read()
        sys.exit(0)
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        if e.code == 409 and "BucketAlreadyOwnedByYou" in body:
            sys.exit(0)
        last = f"HTTP {e.code}: {body[:300]}"
    except OSError as e:
        last = str(e)
    time.sleep(1)
print(f"CreateBucket failed: {last}", file=sys.stderr)
sys.exit(1)
PY

  (
    umask 077
    cat >"$CEPH_DIR/env" <<EOF
export S3_ENDPOINT_URL=$endpoint
export AWS_ACCESS_KEY_ID=$access
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=$REGION
export ARTIFACT_BUCKET=$BUCKET
export CEPH_CONF=$CONF
EOF
  )
  echo "s3: user and bucket '$BUCKET' ready ($(elapsed "$T_START") s)"
}

# (if, not &&: errexit is off inside functions called from an && list)
if [ "$WANT_REDIS" = 1 ]; then start_redis; fi
if [ "$WANT_S3" = 1 ]; then start_s3; fi

# One env file for whatever runs in this STATE_DIR (a later SERVICES=s3 run
# adds to an earlier SERVICES=redis one). Contains the secret key: mode 600.
(
  umask 077
  {
    echo "# Generated by scripts/start-services.sh; source it: . $STATE_DIR/env"
    echo "export SERVICES_STATE_DIR=$STATE_DIR"
    [ -f "$STATE_DIR/redis/env" ] && pid_alive "$(redis_pidfile "$STATE_DIR")" redis-server && cat "$STATE_DIR/redis/env"
    [ -f "$CEPH_DIR/env" ] && pid_alive "$(ceph_pidfile "$STATE_DIR" client.rgw.a)" radosgw && cat "$CEPH_DIR/env"
    true
  } >"$STATE_DIR/env.tmp"
  mv "$STATE_DIR/env.tmp" "$STATE_DIR/env"
)
if [ "${#STARTED[@]}" -eq 0 ]; then
  echo "services already running; env file: $STATE_DIR/env"
else
  echo "services ready in $(elapsed "$T_START") s; env file: $STATE_DIR/env"
fi
STARTED=()   # success: nothing to clean up
