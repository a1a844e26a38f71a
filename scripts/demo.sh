#!/usr/bin/env bash
# The README's demo command. On a fresh machine it installs what it needs, then brings up, on 127.0.0.1:
#   a 3-node ZooKeeper ensemble, PostgreSQL (Superset's metadata DB and an "analytics" DB),
#   N real Apache Superset replicas (default 2) under gunicorn, seeded with a chart and a dashboard,
#   and one superset-ha sidecar beside each replica,
# prints the URL to open, and stops everything it started on Ctrl-C (or SIGTERM).
#
# Environment: SHA_DEMO_REPLICAS (default 2), SHA_DEMO_PROXY_BASE_PORT (default 28080: sidecar I's proxy
# listens on BASE+I), SHA_DEMO_ADMIN_BASE_PORT (default 29090), SHA_DEMO_EXIT_WHEN_READY=1 (stop right after
# everything is up: for checks). Started in the background (`demo.sh &`), bash ignores SIGINT in it: stop it
# with SIGTERM then. The sidecars run under scripts/sidecar.sh (so drills can crash and restart them); the
# demo writes $RUN_DIR/demo/target.json, the description `superset-ha drill --target demo` reads.
set -euo pipefail
SHA_LOG_PREFIX=demo
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

N=${SHA_DEMO_REPLICAS:-2}
PROXY_BASE=${SHA_DEMO_PROXY_BASE_PORT:-28080}
ADMIN_BASE=${SHA_DEMO_ADMIN_BASE_PORT:-29090}
DEMO_DIR="$RUN_DIR/demo"
mkdir -p "$DEMO_DIR"
started_at=$(now_ms)
step() { log "[$(( ($(now_ms) - started_at) / 1000 ))s] $*"; }

cleanup() {
  trap - INT TERM EXIT
  echo >&2
  step "stopping: sidecars (they deregister first), Superset, ZooKeeper, PostgreSQL"
  rm -f "$DEMO_DIR/target.json"
  scripts/sidecar.sh stop || true
  scripts/toxiproxy.sh stop || true
  scripts/superset.sh stop || true
  scripts/zk.sh stop || true
  scripts/pg.sh stop || true
  step "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "installing what is missing (Debian packages, npm packages with Node 24, the Superset venv)"
scripts/install-deps.sh curl
scripts/ensure-npm.sh
NODE="$REPO/node_modules/.bin/node"

step "starting the ZooKeeper ensemble and PostgreSQL"
scripts/zk.sh start &
zk_pid=$!
scripts/pg.sh start
wait "$zk_pid"

step "installing and initialising Superset (the first run takes a few minutes)"
scripts/superset.sh install
scripts/superset.sh init

step "starting $N Superset replicas"
scripts/superset.sh start "$N"

step "seeding the analytics database, a chart and a dashboard"
scripts/superset.sh seed >/dev/null

ZK_CONNECT=$(scripts/zk.sh connect-string)
PG_URL=$(scripts/pg.sh url)
# Secure by default: the sidecars authenticate to ZooKeeper with a secret generated once and kept here, and
# own /superset-ha/demo (a bare client cannot write there). fixOpenAcls takes over nodes an older,
# unauthenticated demo left open on this ensemble.
ZK_SECRET_FILE="$DEMO_DIR/zk-secret"
if [[ ! -s "$ZK_SECRET_FILE" ]]; then
  (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$ZK_SECRET_FILE")
fi
for ((i = 0; i < N; i++)); do
  cfg="$DEMO_DIR/sidecar-$i.json"
  cat >"$cfg" <<JSON
{
  "cluster": "demo",
  "zookeeper": {
    "connect": "$ZK_CONNECT", "sessionTimeoutMs": 6000,
    "auth": { "user": "superset-ha", "secretFile": "$ZK_SECRET_FILE", "fixOpenAcls": true }
  },
  "replica": { "id": "superset-$i", "url": "$(scripts/superset.sh url "$i")" },
  "metadataDb": { "url": "$PG_URL" },
  "health": { "intervalMs": 1000, "timeoutMs": 800, "rise": 2, "fall": 2 },
  "proxy": { "host": "127.0.0.1", "port": $((PROXY_BASE + i)), "allowedUpstreams": ["127.0.0.1/32"] },
  "admin": { "host": "127.0.0.1", "port": $((ADMIN_BASE + i)) },
  "shutdown": { "drainDelayMs": 500, "drainTimeoutMs": 5000 },
  "log": { "level": "info" }
}
JSON
  scripts/sidecar.sh start-one "$i"
done

step "waiting for the sidecars to register their replicas"
deadline=$(( $(now_ms) + 60000 ))
for ((i = 0; i < N; i++)); do
  until curl -fsS "http://127.0.0.1:$((ADMIN_BASE + i))/metrics" 2>/dev/null | grep -q '^superset_ha_replicas_live '"$N"'$'; do
    scripts/sidecar.sh pid "$i" >/dev/null || { tail -20 "$DEMO_DIR/sidecar-$i.log" >&2; die "sidecar $i exited"; }
    (( $(now_ms) < deadline )) || { tail -20 "$DEMO_DIR/sidecar-$i.log" >&2; die "sidecar $i did not see $N live replicas within 60 s"; }
    sleep 0.5
  done
done
curl -fsS -o /dev/null "http://127.0.0.1:$PROXY_BASE/health" || die "the proxy does not answer"
replica_urls=()
for ((i = 0; i < N; i++)); do replica_urls+=("$(scripts/superset.sh url "$i")"); done
"$NODE" src/drills/demo-target.ts --proxy-base "$PROXY_BASE" --admin-base "$ADMIN_BASE" --zk "$ZK_CONNECT" \
  --db "$PG_URL" --run-dir "$RUN_DIR" --toxiproxy "$(scripts/toxiproxy.sh url)" "${replica_urls[@]}" >"$DEMO_DIR/target.json.tmp"
mv -f "$DEMO_DIR/target.json.tmp" "$DEMO_DIR/target.json"
step "ready"

cat <<EOF

  superset-ha demo is up ($(( ($(now_ms) - started_at) / 1000 )) s).

  Open Superset through a sidecar:  http://127.0.0.1:$PROXY_BASE/   (login admin / ${SHA_SUPERSET_ADMIN_PASSWORD:-admin})
  The seeded dashboard:              http://127.0.0.1:$PROXY_BASE/superset/dashboard/sales/
EOF
for ((i = 0; i < N; i++)); do
  echo "  sidecar $i: proxy http://127.0.0.1:$((PROXY_BASE + i))/  admin http://127.0.0.1:$((ADMIN_BASE + i))/replicas  /metrics  (log: $DEMO_DIR/sidecar-$i.log)"
done
cat <<EOF

  Shared runtime config:  node src/main.ts config get --config $DEMO_DIR/sidecar-0.json
                          node src/main.ts config set --config $DEMO_DIR/sidecar-0.json --merge '{"replicas":{"superset-0":{"maintenance":true}}}'
  Try a failure: scripts/superset.sh kill-one 0   (the UI keeps working through either sidecar)
                 scripts/zk.sh kill-leader        scripts/superset.sh start-one 0
  Drill it, in another terminal (each fault is healed afterwards, also on failure and Ctrl-C):
                 npx superset-ha drill all                  every scenario (about 12 minutes)
                 npx superset-ha drill replica-hang zk-leader-kill --duration 20
                 then open the report.html it prints     (target: $DEMO_DIR/target.json)
  Ctrl-C stops everything.
EOF

if [[ "${SHA_DEMO_EXIT_WHEN_READY:-}" == 1 ]]; then
  exit 0
fi
# A sidecar that is down is reported once, not fatal: a drill crashes one on purpose and restarts it.
declare -A down_seen=()
while true; do
  for ((i = 0; i < N; i++)); do
    if scripts/sidecar.sh pid "$i" >/dev/null 2>&1; then
      unset "down_seen[$i]"
    elif [[ -z "${down_seen[$i]:-}" ]]; then
      down_seen[$i]=1
      warn "sidecar $i is not running (log: $DEMO_DIR/sidecar-$i.log); scripts/sidecar.sh start-one $i restarts it"
    fi
  done
  sleep 2
done
