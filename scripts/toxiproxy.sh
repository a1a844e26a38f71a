#!/usr/bin/env bash
# Toxiproxy (Shopify), a userspace TCP fault proxy: the drills put it between sidecars and one replica
# (added latency: this kernel has no netem) or between one sidecar and ZooKeeper (a partition). Built from
# the Go module proxy and cached by version; its API listens on 127.0.0.1 only.
#
# Usage: scripts/toxiproxy.sh COMMAND
#   install   go install github.com/Shopify/toxiproxy/v2/cmd/server@VERSION into
#             $RUN_DIR/toxiproxy/VERSION/ (no-op when the binary is there)
#   start     install; start the server if it is not running; wait until GET /version answers
#   stop      stop it (SIGTERM, SIGKILL after 5 s); 0 if it was not running
#   status    "port=P pid=PID state=running|paused|down"
#   url       print http://127.0.0.1:PORT (the API)
#   bin       print the path of the binary (installs first)
#
# Environment:
#   SHA_RUN_DIR              state dir (default $REPO/.run); log and pid in $RUN_DIR/toxiproxy
#   SHA_TOXIPROXY_PORT       API port (default 28474)
#   SHA_TOXIPROXY_VERSION    module version (default v2.12.0, the newest tag)
#   SHA_GO                   the go binary (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail
SHA_LOG_PREFIX=toxiproxy.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(env_int SHA_TOXIPROXY_PORT 28474 1 65535)
VERSION=${SHA_TOXIPROXY_VERSION:-v2.12.0}
[[ "$VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "bad SHA_TOXIPROXY_VERSION: $VERSION"
TP_DIR="$RUN_DIR/toxiproxy"
BIN_DIR="$TP_DIR/$VERSION"
BIN="$BIN_DIR/server"
PID_FILE="$TP_DIR/toxiproxy-$PORT.pid"
LOG="$TP_DIR/toxiproxy-$PORT.log"
LOCK_FILE="$RUN_DIR/toxiproxy.lock"

find_go() {
  local g
  if [[ -n "${SHA_GO:-}" ]]; then echo "$SHA_GO"; return 0; fi
  g=$(command -v go 2>/dev/null) && { echo "$g"; return 0; }
  [[ -x /usr/local/go/bin/go ]] && { echo /usr/local/go/bin/go; return 0; }
  # Debian's golang is older than some modules want; a toolchain directive then fetches a newer one.
  apt_install golang-go
  command -v go
}

cmd_install() {
  local go t0
  [[ -x "$BIN" ]] && return 0
  go=$(find_go) || die "no go toolchain"
  mkdir -p -- "$BIN_DIR"
  t0=$(now_ms)
  log "go install github.com/Shopify/toxiproxy/v2/cmd/server@$VERSION (cold: about a minute)"
  # GOBIN per version: the cache key. Go's module and build caches make a rebuild cheap.
  GOBIN="$BIN_DIR" GOFLAGS=-mod=mod timeout -k 10 900 "$go" install "github.com/Shopify/toxiproxy/v2/cmd/server@$VERSION" \
    >"$TP_DIR/install.log" 2>&1 9>&- || { tail -n 20 "$TP_DIR/install.log" >&2; die "go install failed (log: $TP_DIR/install.log)"; }
  [[ -x "$BIN" ]] || die "go install left no $BIN"
  log "installed $BIN in $((($(now_ms) - t0) / 1000)) s"
}

# tp_pid: the running server of this port, verified against /proc.
tp_pid() {
  local pid args=()
  [[ -r "$PID_FILE" ]] || return 1
  pid=$(<"$PID_FILE") || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  ((${#args[@]} >= 1)) && [[ "${args[0]}" == "$BIN" ]] || return 1
  echo "$pid"
}

api_ok() { curl -fsS --noproxy '*' --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/version" 2>/dev/null; }

cmd_start() {
  local pid deadline
  cmd_install
  if pid=$(tp_pid); then
    kill -CONT "$pid" 2>/dev/null || true
  else
    api_ok && die "port $PORT answers but is not our toxiproxy; set SHA_TOXIPROXY_PORT"
    (exec setsid "$BIN" -host 127.0.0.1 -port "$PORT") </dev/null >>"$LOG" 2>&1 9>&- &
    echo "$!" >"$PID_FILE"
    log "started toxiproxy $VERSION (pid $!) with its API on 127.0.0.1:$PORT"
  fi
  deadline=$(deadline_ms 15)
  until api_ok; do
    tp_pid >/dev/null || { tail -n 20 "$LOG" >&2; die "toxiproxy exited"; }
    (($(now_ms) < deadline)) || die "toxiproxy API not answering after 15 s"
    sleep 0.1
  done
}

cmd_stop() {
  local pid deadline
  pid=$(tp_pid) || { rm -f -- "$PID_FILE"; return 0; }
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(deadline_ms 5)
  while ! is_zombie "$pid"; do
    if (($(now_ms) > deadline)); then kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.05
  done
  rm -f -- "$PID_FILE"
  log "stopped toxiproxy (pid $pid)"
}

mkdir -p -- "$TP_DIR"
cmd=${1:-}
case "$cmd" in
  install) take_lock; cmd_install ;;
  start) take_lock; cmd_start ;;
  stop) take_lock; cmd_stop ;;
  status) print_status "$PORT" "$(tp_pid || true)" ;;
  url) echo "http://127.0.0.1:$PORT" ;;
  bin) take_lock; cmd_install; echo "$BIN" ;;
  "" | -h | --help | help) print_usage; [[ -n "$cmd" ]] || exit 2 ;;
  *) die "unknown command '$cmd' (try: toxiproxy.sh help)" ;;
esac
