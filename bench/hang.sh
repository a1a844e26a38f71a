#!/usr/bin/env bash
# Hang benchmark: what a hung replica costs the users in front of it. Two nginx backends; beside each a
# superset-ha sidecar (registrar + router, preferLocal, real ZooKeeper, production health and proxy
# defaults); Debian HAProxy in front of the same two backends (timeout server 60s, check inter 2s fall 3
# rise 2, option redispatch, retry-on all-retryable-errors). Open-loop GETs at a fixed rate through every
# peer at once; backend A is SIGSTOPped for BENCH_HANG_SECONDS, then SIGCONTed. See bench/README.md.
#
#   bench/hang.sh
#   BENCH_BEFORE_DIR=/tmp/old-checkout bench/hang.sh   # also an older superset-ha, same backends, same run
#
# Environment (defaults in brackets):
#   BENCH_RATE [50]            GETs per second per peer
#   BENCH_SECONDS [55]         how long the load is sent
#   BENCH_STOP_AT [10]         SIGSTOP of backend A this many seconds into the load
#   BENCH_HANG_SECONDS [30]    SIGCONT this long after the SIGSTOP
#   BENCH_BEFORE_DIR []        a checkout (npm ci done) of another superset-ha commit: adds the peer "before"
#   BENCH_BASE_PORT [18400]    backends B+1, B+2; HAProxy B+10; superset-ha B+50/B+52 (admin B+51/B+53);
#                              before B+60/B+62 (admin B+61/B+63)
#   BENCH_ZK_RUN_DIR [.run/bench]  BENCH_ZK_BASE_PORT [24181]   the ZooKeeper ensemble (scripts/zk.sh)
#
# Output: the table on stdout, also .run/bench/hang-<timestamp>.md; every request in
# .run/bench/hang-<timestamp>/requests.csv, configs and logs beside it. Everything started is stopped on exit.
set -euo pipefail
# shellcheck source=bench/nginx-conf.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/nginx-conf.sh"

BENCH_DIR="$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(dirname -- "$BENCH_DIR")"
NODE="$REPO/node_modules/.bin/node"
OUT="$REPO/.run/bench"

RATE=${BENCH_RATE:-50}
SECS=${BENCH_SECONDS:-55}
STOP_AT=${BENCH_STOP_AT:-10}
HANG=${BENCH_HANG_SECONDS:-30}
BEFORE_DIR=${BENCH_BEFORE_DIR:-}
BASE_PORT=${BENCH_BASE_PORT:-18400}
ZK_RUN_DIR=${BENCH_ZK_RUN_DIR:-$OUT}
ZK_BASE_PORT=${BENCH_ZK_BASE_PORT:-24181}

log()  { printf '[hang] %s\n' "$*" >&2; }
die()  { printf '[hang] ERROR: %s\n' "$*" >&2; exit 1; }

for v in RATE SECS STOP_AT HANG; do
  [[ "${!v}" =~ ^[1-9][0-9]{0,3}$ ]] || die "$v must be a positive integer (got '${!v}')"
done
((STOP_AT + HANG < SECS)) || die "BENCH_STOP_AT + BENCH_HANG_SECONDS must end before BENCH_SECONDS"
if ! [[ "$BASE_PORT" =~ ^[0-9]{4,5}$ ]] || ((BASE_PORT < 1024 || BASE_PORT + 63 > 65535)); then
  die "bad BENCH_BASE_PORT: $BASE_PORT"
fi
if [[ -n "$BEFORE_DIR" ]]; then
  BEFORE_DIR=$(cd "$BEFORE_DIR" && pwd -P) || die "BENCH_BEFORE_DIR does not exist"
  [[ -x "$BEFORE_DIR/node_modules/.bin/node" && -f "$BEFORE_DIR/src/main.ts" ]] \
    || die "BENCH_BEFORE_DIR must be a superset-ha checkout with npm ci done ($BEFORE_DIR)"
fi

PORT_A=$((BASE_PORT + 1))
PORT_B=$((BASE_PORT + 2))
PORT_HAPROXY=$((BASE_PORT + 10))

# ---------------------------------------------------------------- processes and cleanup (as proxy.sh)
PIDS=()        # long-lived processes we started; each leads its own process group
FG=""          # the bounded foreground command running now
ZK_STARTED=0
CLEANED=0
alive() {
  local s
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  s=${s##*) }
  [[ "${s%% *}" != Z ]]
}
stop_pid() {
  local pid=$1 i
  if alive "$pid"; then
    kill -CONT -- "-$pid" 2>/dev/null || true # a stopped group would not act on SIGTERM
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
  fi
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
zk() { SHA_RUN_DIR="$ZK_RUN_DIR" SHA_ZK_BASE_PORT="$ZK_BASE_PORT" "$REPO/scripts/zk.sh" "$@"; }
cleanup() {
  local rc=$? i
  ((CLEANED)) && return 0
  CLEANED=1
  trap '' INT TERM HUP
  if [[ -n "$FG" ]]; then
    kill -TERM -- "-$FG" 2>/dev/null || true
    wait "$FG" 2>/dev/null || true
  fi
  if ((${#PIDS[@]} > 0)); then
    log "stopping ${#PIDS[@]} process(es)"
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}" & done
    wait
  fi
  if ((ZK_STARTED)); then
    log "stopping the ZooKeeper ensemble we started"
    timeout -k 5 60 env SHA_RUN_DIR="$ZK_RUN_DIR" SHA_ZK_BASE_PORT="$ZK_BASE_PORT" "$REPO/scripts/zk.sh" stop 7>&- >&2 || log "zk.sh stop failed"
  fi
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# spawn NAME CMD...: start CMD in its own session, output to logs/NAME.log; sets SPAWNED.
spawn() {
  local name=$1
  shift
  setsid "$@" </dev/null >"$WORK/logs/$name.log" 2>&1 7>&- &
  SPAWNED=$!
  PIDS+=("$SPAWNED")
}
wait_http() { # PID URL SECONDS: until URL answers 200
  local pid=$1 url=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    alive "$pid" || return 1
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)" == 200 ]] && return 0
    sleep 0.2
  done
  return 1
}
port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
last_line() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-300 || true; }

# ---------------------------------------------------------------- prerequisites
cd "$REPO"
"$REPO/scripts/install-deps.sh" nginx-light haproxy
[[ -x "$NODE" ]] || "$REPO/scripts/ensure-npm.sh"
for c in nginx haproxy setsid timeout curl; do command -v "$c" >/dev/null || die "$c is required"; done
mkdir -p "$OUT"
exec 7>"$OUT/proxy.lock" # one bench at a time: proxy.sh takes the same lock
flock -n 7 || die "another bench is running (lock $OUT/proxy.lock)"
for p in "$PORT_A" "$PORT_B" "$PORT_HAPROXY" $((BASE_PORT + 50)) $((BASE_PORT + 51)) $((BASE_PORT + 52)) $((BASE_PORT + 53)) \
  $((BASE_PORT + 60)) $((BASE_PORT + 61)) $((BASE_PORT + 62)) $((BASE_PORT + 63)); do
  ! port_answers "$p" || die "port $p is in use; set BENCH_BASE_PORT"
done
TS=$(date -u +%Y%m%dT%H%M%SZ)
WORK="$OUT/hang-$TS"
mkdir -p "$WORK/logs" "$WORK/www"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK"
printf '{"count":1,"result":[{"id":1,"slice_name":"Sales by region"}]}' >"$WORK/www/data.json"

# ---------------------------------------------------------------- backends: nginx, /health answers OK like Superset's
start_nginx() { # NAME PORT
  local name=$1 port=$2 d="$WORK/$1"
  write_nginx_conf "$d" "$port" "$WORK/www" 75s "    add_header X-Backend $name always;
    location = /health { default_type text/plain; return 200 \"OK\"; }"
  spawn "$name" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf"
  wait_http "$SPAWNED" "http://127.0.0.1:$port/data.json" 10 || die "nginx $name did not start: $(last_line "$d/error.log")"
}
start_nginx a "$PORT_A"
PGID_A=$SPAWNED # the nginx master leads the group of its worker: SIGSTOP of the group hangs backend A whole
start_nginx b "$PORT_B"

# ---------------------------------------------------------------- HAProxy, as the issue describes it
cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 4000

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 30s
    option redispatch
    retries 3

frontend fe
    bind 127.0.0.1:$PORT_HAPROXY
    default_backend be

backend be
    balance roundrobin
    option httpchk GET /health
    retry-on all-retryable-errors
    http-request disable-l7-retry if METH_POST
    server a 127.0.0.1:$PORT_A check inter 2s fall 3 rise 2
    server b 127.0.0.1:$PORT_B check inter 2s fall 3 rise 2
EOF
spawn haproxy haproxy -db -f "$WORK/haproxy.cfg"
wait_http "$SPAWNED" "http://127.0.0.1:$PORT_HAPROXY/data.json" 10 || die "HAProxy did not start: $(last_line "$WORK/logs/haproxy.log")"

# ---------------------------------------------------------------- ZooKeeper
ZK_CONNECT=$(zk connect-string)
if ! grep -q 'pid=[0-9]' <<<"$(zk status 2>/dev/null || true)"; then ZK_STARTED=1; fi
log "starting ZooKeeper ensemble (base port $ZK_BASE_PORT)"
timeout -k 5 120 env SHA_RUN_DIR="$ZK_RUN_DIR" SHA_ZK_BASE_PORT="$ZK_BASE_PORT" "$REPO/scripts/zk.sh" start >"$WORK/logs/zk-start.log" 2>&1 7>&- \
  || die "ZooKeeper did not start: $(last_line "$WORK/logs/zk-start.log")"

# ---------------------------------------------------------------- superset-ha sidecars
# superset-ha reads SHA_<SECTION>__<FIELD> overrides from its environment: none of the caller's apply here.
SHA_ENV=(env)
while IFS= read -r v; do SHA_ENV+=(-u "$v"); done < <(compgen -e | grep '^SHA_' || true)
# start_sidecars PEER DIR PORT: one sidecar beside each backend, from the checkout DIR, in cluster PEER;
# proxy PORT / PORT+2, admin PORT+1 / PORT+3. Production defaults everywhere except the ports.
start_sidecars() {
  local peer=$1 dir=$2 port=$3 id bport p cfg pid deadline
  SIDECAR_URLS=""
  for id in a b; do
    if [[ $id == a ]]; then bport=$PORT_A p=$port; else bport=$PORT_B p=$((port + 2)); fi
    cfg="$WORK/$peer-$id.json"
    cat >"$cfg" <<EOF
{
  "cluster": "$peer",
  "roles": { "registrar": true, "router": true },
  "zookeeper": { "connect": "$ZK_CONNECT", "root": "/superset-ha/hang-$peer" },
  "replica": { "id": "$id", "url": "http://127.0.0.1:$bport" },
  "proxy": { "host": "127.0.0.1", "port": $p, "preferLocal": true },
  "admin": { "host": "127.0.0.1", "port": $((p + 1)) },
  "log": { "level": "info" }
}
EOF
    spawn "$peer-$id" "${SHA_ENV[@]}" -C "$dir" "$dir/node_modules/.bin/node" src/main.ts run --config "$cfg"
    SIDECAR_URLS+="${SIDECAR_URLS:+,}http://127.0.0.1:$p"
    SIDECAR_ADMINS+=("http://127.0.0.1:$((p + 1))")
  done
}
SIDECAR_ADMINS=()
PEERS=()
start_sidecars supersetha "$REPO" $((BASE_PORT + 50))
PEERS+=(--peer "superset-ha=$SIDECAR_URLS")
AFTER_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
BEFORE_COMMIT=""
if [[ -n "$BEFORE_DIR" ]]; then
  BEFORE_COMMIT=$(git -C "$BEFORE_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
  start_sidecars before "$BEFORE_DIR" $((BASE_PORT + 60))
  PEERS+=(--peer "superset-ha $BEFORE_COMMIT (before)=$SIDECAR_URLS")
fi
PEERS+=(--peer "HAProxy=http://127.0.0.1:$PORT_HAPROXY")

# Ready: every sidecar's /readyz is 200 and its live set holds both replicas (registrars need `rise` checks).
deadline=$((SECONDS + 60))
for admin in "${SIDECAR_ADMINS[@]}"; do
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$admin/readyz" || true)" == 200 ]] \
    && [[ "$(curl -s --max-time 1 "$admin/replicas" | grep -o '"id":"[ab]"' | sort -u | wc -l)" == 2 ]]; do
    ((SECONDS < deadline)) || die "sidecar $admin not ready with both replicas within 60 s: $(curl -s --max-time 1 "$admin/replicas" | cut -c1-300)"
    sleep 0.5
  done
done
log "sidecars ready; HAProxy on :$PORT_HAPROXY"

# ---------------------------------------------------------------- load and hang
log "load: $RATE GET/s per peer for $SECS s; backend a SIGSTOPped at $STOP_AT s for $HANG s"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
timeout -k 5 $((SECS + 120)) "$NODE" "$BENCH_DIR/hang-load.ts" --out "$WORK" --rate "$RATE" --seconds "$SECS" \
  --stop-at "$STOP_AT" --hang "$HANG" --stop-pgid "$PGID_A" --timeout 90 "${PEERS[@]}" \
  >"$WORK/table.md" 2>"$WORK/logs/load.log" 7>&- &
FG=$!
rc=0
wait "$FG" || rc=$?
FG=""
((rc == 0)) || die "the load driver failed ($rc): $(last_line "$WORK/logs/load.log")"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# Rescues as the sidecars counted them (the metric exists from the rescue change on).
rescued=""
for admin in "${SIDECAR_ADMINS[@]}"; do
  curl -s --max-time 2 "$admin/metrics" >"$WORK/metrics-${admin##*:}.txt" || true
  n=$(awk '/^superset_ha_rescued_requests_total/ {s += $NF} END {print s + 0}' "$WORK/metrics-${admin##*:}.txt")
  rescued+="${rescued:+, }${admin##*:}: $n"
done

REPORT="$OUT/hang-$TS.md"
{
  echo "# Hang benchmark, $TS"
  echo
  echo "superset-ha $AFTER_COMMIT$( [[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -n 1)" ]] && echo ' (uncommitted changes)')${BEFORE_COMMIT:+, before: $BEFORE_COMMIT}; $(haproxy -v | head -n 1 | cut -d' ' -f1-3); $(nproc) cores."
  echo "Load averages (1/5/15 min): before setup $LOAD_BEFORE; at load start $LOAD_START; at load end $LOAD_END."
  echo
  cat "$WORK/table.md"
  echo
  echo "Rescued requests counted by the sidecars (admin port: superset_ha_rescued_requests_total): $rescued."
  echo "\"during the hang\": requests in flight at any moment between SIGSTOP and SIGCONT. Errors: any answer but 200."
  echo "Raw: ${WORK#"$REPO"/}/requests.csv; the sidecars' logs and final metrics beside it."
} >"$REPORT"
cat "$REPORT"
log "report saved to ${REPORT#"$REPO"/}"
