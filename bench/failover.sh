#!/usr/bin/env bash
# Failover benchmark: the crash, hang and ZooKeeper-leader drills against the same two lightweight upstreams
# fronted by superset-ha (a sidecar beside each, production defaults: 2 s health checks, fall 3, rise 2, 60 s
# upstream timeouts) and by HAProxy (Debian) configured as its best equivalent, in the same run, printed as a
# matrix: scenario × peer; client errors, replayed POSTs, requests to the dead replica after isolation, worst
# latency, flaps, and whether the peer's metrics were silent. See bench/README.md.
#
#   bench/failover.sh
#   BENCH_SCENARIOS=replica-hang BENCH_FAULT_S=10 bench/failover.sh
#
# Environment (defaults in brackets):
#   BENCH_SCENARIOS [replica-crash,replica-hang,zk-leader-kill]   BENCH_FAULT_S [20]   BENCH_RATE [20] req/s
#   BENCH_FAILOVER_BASE_PORT [27200]  upstreams B, B+1; sidecar proxies B+10, B+11; admin B+20, B+21;
#                                     HAProxy B+30, its stats B+31
#   BENCH_ZK_BASE_PORT [24281]        the bench's own ZooKeeper ensemble (scripts/zk.sh, state in
#                                     .run/bench-failover), so the leader kill never hits a shared one
# Output: the matrix on stdout, also saved as .run/bench-failover/failover-<timestamp>.md, with each peer's
# drill.json and report.html beside it. Everything started is stopped on exit, Ctrl-C included.
set -euo pipefail
SHA_LOG_PREFIX=failover
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$REPO"

B=$(env_int BENCH_FAILOVER_BASE_PORT 27200 1 65000)
export SHA_RUN_DIR="$REPO/.run/bench-failover"
export SHA_ZK_BASE_PORT=${BENCH_ZK_BASE_PORT:-24281}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
DIR="$SHA_RUN_DIR/failover-$STAMP"
mkdir -p "$DIR"
export SHA_UPSTREAM_DIR="$DIR/stack/upstreams" SHA_SIDECAR_DIR="$DIR/stack/sidecars"

scripts/install-deps.sh haproxy
scripts/ensure-npm.sh
NODE="$REPO/node_modules/.bin/node"

haproxy_pid=""
cleanup() {
  trap - INT TERM EXIT
  [[ -n "$haproxy_pid" ]] && kill "$haproxy_pid" 2>/dev/null || true
  scripts/sidecar.sh stop >/dev/null 2>&1 || true
  scripts/upstream.sh stop >/dev/null 2>&1 || true
  scripts/zk.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting the bench's ZooKeeper ensemble and two upstreams"
scripts/zk.sh start
for i in 0 1; do scripts/upstream.sh start-one "$i" $((B + i)); done

# HAProxy's best equivalent of superset-ha's failover: active checks as often as the sidecar's (2 s, fall 3,
# rise 2), passive checks on responses (observe layer7), retries moved to the other server (redispatch),
# every retryable error retried but never a POST after it may have been received (disable-l7-retry), and the
# same 60 s upstream timeout. Sources: haproxy doc/configuration.txt (2.6).
cat >"$DIR/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 65s
  timeout server 60s
  timeout check 2s
  retries 3
  option redispatch
  retry-on all-retryable-errors
frontend fe
  bind 127.0.0.1:$((B + 30))
  http-request disable-l7-retry if METH_POST
  default_backend upstreams
frontend stats
  bind 127.0.0.1:$((B + 31))
  stats enable
  stats uri /stats
backend upstreams
  balance roundrobin
  option httpchk GET /health
  server up-0 127.0.0.1:$B check inter 2s fall 3 rise 2 observe layer7
  server up-1 127.0.0.1:$((B + 1)) check inter 2s fall 3 rise 2 observe layer7
CFG
haproxy -c -q -f "$DIR/haproxy.cfg" || die "haproxy rejected $DIR/haproxy.cfg"
haproxy -W -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
haproxy_pid=$!
deadline=$(deadline_ms 10)
until curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$((B + 31))/stats;csv"; do
  (($(now_ms) < deadline)) || die "haproxy did not start (log: $DIR/haproxy.log)"
  sleep 0.1
done

log "running the matrix (each scenario against superset-ha, then HAProxy)"
"$NODE" bench/failover.ts "$DIR" "http://127.0.0.1:$((B + 30))" "http://127.0.0.1:$((B + 31))/stats;csv" \
  "$(scripts/zk.sh connect-string)" "$B,$((B + 1))" "$((B + 10)),$((B + 11))" "$((B + 20)),$((B + 21))" \
  | tee "$SHA_RUN_DIR/failover-$STAMP.md"
