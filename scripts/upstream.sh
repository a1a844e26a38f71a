#!/usr/bin/env bash
# Lightweight HTTP upstreams standing in for Superset replicas (test/support/upstream-main.ts: answers
# /health with 200 OK and any other path with a small JSON body; logs "recv <x-id> <METHOD> <path>" per
# request). bench/failover.sh and the drill tests crash, hang and restart them through here.
#
# Usage: scripts/upstream.sh COMMAND [ARGS]
#   start-one I PORT   start upstream I on 127.0.0.1:PORT (no-op if running; SIGCONT if paused)
#   stop-one I         SIGTERM, SIGKILL after 5 s        kill-one I    SIGKILL
#   pause-one I        SIGSTOP                           resume-one I  SIGCONT
#   stop               stop every upstream of this directory
#   status             one line per known upstream: "I port=P pid=PID state=up|paused|down"
#
# Environment: SHA_UPSTREAM_DIR where pid, port and log (upstream-I.log: the receive log) files go
# (default $RUN_DIR/upstreams).
set -euo pipefail
SHA_LOG_PREFIX=upstream.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

DIR=$(realpath -m -- "${SHA_UPSTREAM_DIR:-$RUN_DIR/upstreams}")
LOCK_FILE="$DIR/upstream.lock"
NODE="$REPO/node_modules/.bin/node"
MAIN="$REPO/test/support/upstream-main.ts"
mkdir -p -- "$DIR"

check_index() { [[ "${1:-}" =~ ^[0-9]+$ ]] && ((10#$1 < 64)) || die "upstream index must be 0..63 (got '${1:-}')"; }
pid_file() { echo "$DIR/upstream-$1.pid"; }
port_file() { echo "$DIR/upstream-$1.port"; }
log_file() { echo "$DIR/upstream-$1.log"; }

up_pid() {
  local pid args=()
  [[ -r "$(pid_file "$1")" ]] || return 1
  pid=$(<"$(pid_file "$1")") || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_zombie "$pid" && return 1
  mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ " ${args[*]} " == *" $MAIN upstream-$1 "* ]] || return 1
  echo "$pid"
}

start_one() {
  local i=$1 port=$2 pid deadline
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "bad port '$port'"
  if pid=$(up_pid "$i"); then
    kill -CONT "$pid" 2>/dev/null || true
    return 0
  fi
  echo "$port" >"$(port_file "$i")"
  (exec setsid "$NODE" "$MAIN" "upstream-$i" "port=$port") </dev/null >>"$(log_file "$i")" 2>&1 9>&- &
  echo "$!" >"$(pid_file "$i")"
  deadline=$(deadline_ms 15)
  until curl -fsS --noproxy '*' --max-time 1 -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do
    up_pid "$i" >/dev/null || { tail -n 5 "$(log_file "$i")" >&2; die "upstream $i exited while starting"; }
    (($(now_ms) < deadline)) || die "upstream $i not answering on $port after 15 s"
    sleep 0.05
  done
  log "upstream $i up on 127.0.0.1:$port (pid $(up_pid "$i"))"
}

stop_one() {
  local sig=$1 i=$2 pid deadline
  pid=$(up_pid "$i") || return 0
  kill -CONT "$pid" 2>/dev/null || true
  kill "-$sig" "$pid" 2>/dev/null || true
  deadline=$(deadline_ms 5)
  while ! is_zombie "$pid"; do
    (($(now_ms) > deadline)) && kill -KILL "$pid" 2>/dev/null
    sleep 0.02
  done
  rm -f -- "$(pid_file "$i")"
  log "upstream $i (pid $pid) stopped with SIG$sig"
}

known() {
  local f n
  for f in "$DIR"/upstream-*.port; do
    [[ -e "$f" ]] || continue
    n=${f##*/upstream-}
    echo "${n%.port}"
  done | sort -n
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start-one) check_index "${1:-}"; take_lock; start_one "$((10#$1))" "${2:-$(cat "$(port_file "$((10#$1))")" 2>/dev/null)}" ;;
  stop-one) check_index "${1:-}"; take_lock; stop_one TERM "$((10#$1))" ;;
  kill-one) check_index "${1:-}"; take_lock; stop_one KILL "$((10#$1))" ;;
  pause-one | resume-one)
    check_index "${1:-}"
    take_lock
    pid=$(up_pid "$((10#$1))") || die "upstream $1 is not running"
    # shellcheck disable=SC2317  # called through signal_settled
    one() { echo "$pid"; }
    signal_settled "$([[ "$cmd" == pause-one ]] && echo STOP || echo CONT)" "upstream $1" one
    ;;
  stop) take_lock; for i in $(known); do stop_one TERM "$i"; done ;;
  status)
    for i in $(known); do
      port=$(<"$(port_file "$i")")
      if pid=$(up_pid "$i"); then
        st=up
        is_paused_pid "$pid" && st=paused
        echo "$i port=$port pid=$pid state=$st"
      else
        echo "$i port=$port pid=- state=down"
      fi
    done
    ;;
  "" | -h | --help | help) print_usage; [[ -n "$cmd" ]] || exit 2 ;;
  *) die "unknown command '$cmd' (try: upstream.sh help)" ;;
esac
