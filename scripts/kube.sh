#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 for the deploy tests: etcd (Debian), kube-apiserver,
# kube-controller-manager and kube-scheduler (built by scripts/kube-build.sh from the Go module proxy),
# and kwok, which plays the kubelet for fake nodes (pods get scheduled, become Running/Ready, get evicted
# and deleted; no container runs).
#
# Usage: scripts/kube.sh COMMAND
#   start        build what is missing (scripts/kube-build.sh), start every part not running, wait until
#                the API server is ready; print the kubeconfig path
#   stop         stop all (SIGTERM, SIGKILL after 5 s)
#   status       one line per part: "NAME pid=PID state=running|down"
#   kubeconfig   print the kubeconfig path (admin, token auth)
#   crds         print the directory of the prometheus-operator CRDs
#   wipe         stop, then delete $RUN_DIR/kube (etcd data included)
#
# Environment:
#   SHA_RUN_DIR          state dir (default $REPO/.run); everything in $RUN_DIR/kube
#   SHA_KUBE_BASE_PORT   default 26443: API server B, etcd client B+1 and peer B+2, kwok B+3
set -euo pipefail
SHA_LOG_PREFIX=kube.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

BASE=$(env_int SHA_KUBE_BASE_PORT 26443 1 $((65535 - 3)))
API_PORT=$BASE
ETCD_PORT=$((BASE + 1))
ETCD_PEER_PORT=$((BASE + 2))
KWOK_PORT=$((BASE + 3))
DIR="$RUN_DIR/kube"
LOCK_FILE="$RUN_DIR/kube.lock"
KUBECONFIG_FILE="$DIR/kubeconfig"
PARTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

pid_file() { echo "$DIR/$1.pid"; }

# running_pid NAME: the pid of our running NAME (its pid file names a live process started with our dir).
running_pid() {
  local pid
  pid=$(cat -- "$(pid_file "$1")" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_zombie "$pid" && return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/" || return 1
  echo "$pid"
}

bin_dir() { echo "$("$REPO/scripts/kube-build.sh" print-dir)/bin"; }

write_credentials() {
  mkdir -p -- "$DIR/certs"
  if [[ ! -f "$DIR/sa.key" ]]; then
    openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
    openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null
  fi
  if [[ ! -f "$DIR/tokens.csv" ]]; then
    local token
    token=$(openssl rand -hex 24)
    printf '%s,admin,admin,system:masters\n' "$token" >"$DIR/tokens.csv"
    chmod 600 "$DIR/tokens.csv"
  fi
  local token
  token=$(cut -d, -f1 "$DIR/tokens.csv")
  cat >"$KUBECONFIG_FILE" <<KCFG
apiVersion: v1
kind: Config
clusters:
  - name: sha
    cluster:
      server: https://127.0.0.1:$API_PORT
      insecure-skip-tls-verify: true
users:
  - name: admin
    user:
      token: $token
contexts:
  - name: sha
    context: { cluster: sha, user: admin }
current-context: sha
KCFG
  chmod 600 "$KUBECONFIG_FILE"
}

# launch NAME CMD...: start CMD in the background (its own session, fd 9 closed), log and pid in $DIR.
launch() {
  local name=$1
  shift
  if running_pid "$name" >/dev/null; then
    return 0
  fi
  log "starting $name"
  setsid "$@" >"$DIR/$name.log" 2>&1 9>&- </dev/null &
  echo $! >"$(pid_file "$name")"
}

wait_for() {
  local what=$1 deadline
  shift
  deadline=$(deadline_ms 60)
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) > deadline)) && die "$what not ready within 60 s (logs in $DIR)"
    sleep 0.2
  done
}

api_ready() {
  kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz
}

start() {
  local bin stages=() s
  bin=$(bin_dir)
  [[ -x "$bin/kube-apiserver" ]] || "$REPO/scripts/kube-build.sh" >/dev/null
  apt_install etcd-server
  mkdir -p -- "$DIR"
  write_credentials

  launch etcd /usr/bin/etcd --name sha --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "sha=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
  wait_for etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  # --endpoint-reconciler-type=none: the API server refuses a loopback advertise address otherwise.
  launch kube-apiserver "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --endpoint-reconciler-type none --cert-dir "$DIR/certs" \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$DIR/sa.pub" \
    --service-account-signing-key-file "$DIR/sa.key" --token-auth-file "$DIR/tokens.csv" \
    --authorization-mode RBAC --service-cluster-ip-range 10.96.0.0/16 --v 1
  wait_for kube-apiserver api_ready

  launch kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$KUBECONFIG_FILE" \
    --leader-elect=false --controllers '*,-nodeipam' --secure-port 0 \
    --service-account-private-key-file "$DIR/sa.key" --root-ca-file "$DIR/certs/apiserver.crt" \
    --cluster-signing-duration 24h --v 1
  launch kube-scheduler "$bin/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false \
    --secure-port 0 --v 1
  for s in "$(dirname -- "$bin")"/kwok-stages/*.yaml; do stages+=(--config "$s"); done
  # kwok manages only nodes annotated kwok.x-k8s.io/node=fake (the tests create them).
  launch kwok "$bin/kwok" --kubeconfig "$KUBECONFIG_FILE" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --cidr 10.0.0.1/24 \
    --node-ip 10.0.0.1 --server-address "127.0.0.1:$KWOK_PORT" "${stages[@]}"
  sleep 0.5
  for s in "${PARTS[@]}"; do
    running_pid "$s" >/dev/null || die "$s exited at start; see $DIR/$s.log: $(tail -3 "$DIR/$s.log")"
  done
  echo "$KUBECONFIG_FILE"
}

stop() {
  local i name pid deadline
  for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do
    name=${PARTS[i]}
    pid=$(running_pid "$name") || continue
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(deadline_ms 5)
    while ! is_zombie "$pid"; do
      if (($(now_ms) > deadline)); then
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
    rm -f -- "$(pid_file "$name")"
  done
}

case "${1:-}" in
  start) take_lock; start ;;
  stop) take_lock; stop ;;
  status)
    for s in "${PARTS[@]}"; do
      if pid=$(running_pid "$s"); then echo "$s pid=$pid state=running"; else echo "$s pid=- state=down"; fi
    done
    ;;
  kubeconfig) echo "$KUBECONFIG_FILE" ;;
  crds) echo "$("$REPO/scripts/kube-build.sh" print-dir)/crds" ;;
  wipe) take_lock; stop; rm -rf -- "$DIR" ;;
  *) print_usage; exit 2 ;;
esac
