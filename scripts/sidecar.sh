#!/usr/bin/env bash
# The demo's superset-ha sidecars as processes: one per replica, config in $RUN_DIR/demo/sidecar-I.json
# (written by scripts/demo.sh), log in sidecar-I.log, pid in sidecar-I.pid. scripts/demo.sh starts and
# stops them through here, and the drills (superset-ha drill) crash and restart them through here.
#
# Usage: scripts/sidecar.sh COMMAND [ARGS]
#   start-one I [SHA_X=V ...]  start sidecar I (no-op if it runs and no override is given; with overrides
#                              it is restarted with them: SHA_<SECTION>__<FIELD>=VALUE, the sidecar's own
#                              environment overrides, e.g. SHA_REPLICA__URL=http://127.0.0.1:9999);
#                              waits until its admin /healthz answers
#   stop-one I                 SIGTERM (it deregisters, drains, exits), SIGKILL after 15 s
#   kill-one I                 SIGKILL (a crash: its znode lives until the session times out)
#   pause-one I / resume-one I SIGSTOP / SIGCONT
#   stop                       stop every running sidecar
#   status                     one line per known sidecar: "I pid=PID state=up|paused|down"
#   pid I                      print the pid of sidecar I, exit 1 when it is not running
#
# Environment: SHA_RUN_DIR (default $REPO/.run); SHA_SIDECAR_DIR where the sidecar-I.json configs are
# (default $RUN_DIR/demo; bench/failover.sh and the drill tests keep their own sidecars elsewhere).
set -euo pipefail
SHA_LOG_PREFIX=sidecar.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

DEMO_DIR=$(realpath -m -- "${SHA_SIDECAR_DIR:-$RUN_DIR/demo}")
LOCK_FILE="$DEMO_DIR/sidecar.lock"
NODE="$REPO/node_modules/.bin/node"

check_index() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && ((10#$1 < 32)) || die "sidecar index must be 0..31 (got '${1:-}')"
}
cfg_of() { echo "$DEMO_DIR/sidecar-$1.json"; }
pid_file() { echo "$DEMO_DIR/sidecar-$1.pid"; }
log_file() { echo "$DEMO_DIR/sidecar-$1.log"; }

# sc_pid I: the live sidecar I (a node running src/main.ts with its config), verified against /proc.
sc_pid() {
  local pid args=() cfg
  cfg=$(cfg_of "$1")
  [[ -r "$(pid_file "$1")" ]] || return 1
  pid=$(<"$(pid_file "$1")") || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_zombie "$pid" && return 1
  mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ " ${args[*]} " == *" $cfg "* ]] || return 1
  echo "$pid"
}

# admin_port I: the admin port from the sidecar's config file.
admin_port() {
  # shellcheck disable=SC2016  # JavaScript
  "$NODE" -e 'const c = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")); console.log(c.admin?.port ?? 9090)' \
    "$(cfg_of "$1")" || die "cannot read the admin port from $(cfg_of "$1")"
}

stop_one() { # stop_one SIGNAL I
  local sig=$1 i=$2 pid deadline
  pid=$(sc_pid "$i") || { rm -f -- "$(pid_file "$i")"; return 0; }
  kill -CONT "$pid" 2>/dev/null || true
  kill "-$sig" "$pid" 2>/dev/null || true
  deadline=$(deadline_ms 15)
  while ! is_zombie "$pid"; do
    if (($(now_ms) > deadline)); then
      warn "sidecar $i (pid $pid) still running 15 s after SIG$sig; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$(deadline_ms 5)
      sig=KILL
    fi
    sleep 0.05
  done
  rm -f -- "$(pid_file "$i")"
  log "sidecar $i (pid $pid): stopped with SIG$sig"
}

start_one() { # start_one I [SHA_X=V ...]
  local i=$1 pid port deadline kv envs=()
  shift
  [[ -f "$(cfg_of "$i")" ]] || die "no $(cfg_of "$i"): run scripts/demo.sh first"
  for kv in "$@"; do
    [[ "$kv" =~ ^SHA_[A-Z0-9_]+__[A-Z0-9_]+=.*$ ]] || die "not an override SHA_<SECTION>__<FIELD>=VALUE: $kv"
    envs+=("$kv")
  done
  if pid=$(sc_pid "$i"); then
    if ((${#envs[@]} == 0)) && [[ ! -s "$DEMO_DIR/sidecar-$i.env" ]]; then
      kill -CONT "$pid" 2>/dev/null || true
      log "sidecar $i already running (pid $pid)"
      return 0
    fi
    stop_one TERM "$i"
  fi
  # Remember the overrides in force, so a plain start-one later knows to restart without them.
  printf '%s\n' "${envs[@]}" >"$DEMO_DIR/sidecar-$i.env"
  [[ ${#envs[@]} -gt 0 ]] || : >"$DEMO_DIR/sidecar-$i.env"
  printf '===== %s sidecar.sh: starting sidecar %s %s =====\n' "$(date -Is)" "$i" "${envs[*]}" >>"$(log_file "$i")"
  (exec env "${envs[@]}" setsid "$NODE" src/main.ts run --config "$(cfg_of "$i")") </dev/null >>"$(log_file "$i")" 2>&1 9>&- &
  echo "$!" >"$(pid_file "$i")"
  port=$(admin_port "$i")
  deadline=$(deadline_ms 30)
  until curl -fsS --noproxy '*' --max-time 1 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; do
    sc_pid "$i" >/dev/null || { tail -n 20 "$(log_file "$i")" >&2; die "sidecar $i exited while starting"; }
    (($(now_ms) < deadline)) || die "sidecar $i admin not answering after 30 s"
    sleep 0.1
  done
  log "sidecar $i started (pid $(sc_pid "$i"))${envs:+ with ${envs[*]}}"
}

known() {
  local f n
  for f in "$DEMO_DIR"/sidecar-*.json; do
    [[ -e "$f" ]] || continue
    n=${f##*/sidecar-}
    echo "${n%.json}"
  done | sort -n
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start-one) check_index "${1:-}"; take_lock; start_one "$((10#$1))" "${@:2}" ;;
  stop-one) check_index "${1:-}"; take_lock; stop_one TERM "$((10#$1))" ;;
  kill-one) check_index "${1:-}"; take_lock; stop_one KILL "$((10#$1))" ;;
  pause-one | resume-one)
    check_index "${1:-}"
    take_lock
    pid=$(sc_pid "$((10#$1))") || die "sidecar $1 is not running"
    if [[ "$cmd" == pause-one ]]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
    # shellcheck disable=SC2317  # called through signal_settled
    one() { echo "$pid"; }
    signal_settled "$([[ "$cmd" == pause-one ]] && echo STOP || echo CONT)" "sidecar $1" one
    log "sidecar $1: ${cmd%-one}d"
    ;;
  stop) take_lock; for i in $(known); do stop_one TERM "$i"; done ;;
  status)
    for i in $(known); do
      if pid=$(sc_pid "$i"); then
        st=up
        is_paused_pid "$pid" && st=paused
        echo "$i pid=$pid state=$st"
      else
        echo "$i pid=- state=down"
      fi
    done
    ;;
  pid) check_index "${1:-}"; sc_pid "$((10#$1))" ;;
  "" | -h | --help | help) print_usage; [[ -n "$cmd" ]] || exit 2 ;;
  *) die "unknown command '$cmd' (try: sidecar.sh help)" ;;
esac
