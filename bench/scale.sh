#!/usr/bin/env bash
# Membership at fleet scale on the real 3-node ensemble: REPLICAS registrants, ROUTERS routers (the
# project's own ZkSession + Membership) and one router-only sidecar process. See bench/README.md.
#
#   bench/scale.sh
#   SCALE_ROUNDS=1 SCALE_IDLE_S=5 bench/scale.sh        # a quicker look
#
# Environment (defaults in brackets): SCALE_REPLICAS [200] SCALE_ROUTERS [50] SCALE_CHANGES [20]
#   SCALE_ROUNDS [3] rolling rounds   SCALE_RATE [5] restarts per second   SCALE_IDLE_S [30] idle at the end
#   SCALE_SIDECAR_PORT [12060] proxy port of the sidecar (admin +1)   SCALE_WAIT_MS [30000] per propagation
#   SCALE_DEADLINE_S [1200] the whole run   SCALE_LABEL  heading of the report
#   SCALE_SIDECAR [bin]  bin: node bin/superset-ha.js; image: the Dockerfile's ENTRYPOINT command line.
#                        Either way from a compile cache warmed first (.run/bench/scale-compile-cache).
#   SHA_RUN_DIR / SHA_ZK_BASE_PORT: the ensemble (scripts/zk.sh); started if not running, and then
#   stopped at the end.
# Output: a markdown report on stdout, also saved as .run/bench/scale-<timestamp>.md.
set -euo pipefail
BENCH_DIR="$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(dirname -- "$BENCH_DIR")"
NODE="$REPO/node_modules/.bin/node"
OUT="$REPO/.run/bench"
mkdir -p "$OUT"
log() { printf '[scale.sh] %s\n' "$*" >&2; }

[[ -x "$NODE" ]] || { log "no $NODE: run scripts/ensure-npm.sh first"; exit 1; }
ZK="$REPO/scripts/zk.sh"
STARTED=""
st=$("$ZK" status 2>/dev/null || true) # not piped into grep -q: with pipefail, an early exit reads as failure
if ! grep -q 'pid=[0-9]' <<<"$st"; then STARTED=1; fi
cleanup() { if [[ -n "$STARTED" ]]; then "$ZK" stop >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
"$ZK" start >&2
CONNECT=$("$ZK" connect-string)
export SCALE_OUT="$OUT"
report="$OUT/scale-$(date -u +%Y%m%dT%H%M%SZ).md"
log "connect $CONNECT; report $report"
# Raise the open-file limit: 250+ ZooKeeper sessions in one process.
ulimit -n 65536 2>/dev/null || true
timeout --kill-after=10 "${SCALE_DEADLINE_S:-1200}" "$NODE" "$BENCH_DIR/scale.ts" "$CONNECT" | tee "$report"
