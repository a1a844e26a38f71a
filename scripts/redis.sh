#!/usr/bin/env bash
# A real Redis server on 127.0.0.1 from Debian's redis-server package (installed on first use), run in
# the foreground of a process we own (no daemon, no system service), with its data under $RUN_DIR/redis.
#
# Usage: scripts/redis.sh COMMAND
#   start    install redis-server if missing, start if not running (SIGCONT if paused), wait for PONG
#   stop     SHUTDOWN NOSAVE (SIGTERM, then SIGKILL if that hangs); 0 if not running
#   status   "port=P pid=PID state=running|paused|down"
#   url      print redis://127.0.0.1:PORT/0
#   pause    SIGSTOP the server (connects succeed, commands hang)
#   resume   SIGCONT it
#   flush    FLUSHALL (tests start from an empty broker)
#   wipe     stop, then delete $RUN_DIR/redis
#
# Environment:
#   SHA_RUN_DIR        state dir (default $REPO/.run); data, log and pid file in $RUN_DIR/redis
#   SHA_REDIS_PORT     TCP port (default 26379); listens on 127.0.0.1 only
#   SHA_REDIS_TIMEOUT  seconds to wait for start/stop (default 30)
set -euo pipefail
SHA_LOG_PREFIX=redis.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(env_int SHA_REDIS_PORT 26379 1 65535)
TIMEOUT=$(env_int SHA_REDIS_TIMEOUT 30 1 86400)
R_DIR="$RUN_DIR/redis"
PID_FILE="$R_DIR/redis.pid"
LOG="$R_DIR/redis.log"
CONF="$R_DIR/redis.conf"
LOCK_FILE="$RUN_DIR/redis.lock"

# server_pid: the pid in our pid file if it is a live redis-server working in our data dir (redis rewrites
# its command line to "redis-server HOST:PORT", so the config path cannot be matched; its cwd is `dir`).
server_pid() {
  local pid cmd cwd
  [[ -r "$PID_FILE" ]] || return 1
  { read -r pid <"$PID_FILE"; } 2>/dev/null || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_zombie "$pid" && return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *redis-server* ]] || return 1
  cwd=$(readlink -- "/proc/$pid/cwd" 2>/dev/null) || return 1
  [[ "$cwd" == "$R_DIR" ]] || return 1
  echo "$pid"
}

rcli() { timeout -k 1 5 redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }

pong() { [[ "$(rcli PING 2>/dev/null)" == PONG ]]; }

write_conf() {
  cat >"$CONF.tmp" <<CONF
# written by scripts/redis.sh on every start
bind 127.0.0.1
port $PORT
protected-mode yes
daemonize no
dir $R_DIR
logfile $LOG
# a throwaway test server: no persistence
save ""
appendonly no
CONF
  mv -f -- "$CONF.tmp" "$CONF"
}

cmd_start() {
  local pid deadline
  apt_install redis-server redis-tools
  take_lock
  mkdir -p -- "$R_DIR"
  if pid=$(server_pid); then
    if is_paused_pid "$pid"; then
      log "redis (pid $pid) was paused; resuming it"
      kill -CONT "$pid"
    fi
  else
    if pong; then
      die "port $PORT answers PING but is not our redis; stop it or set SHA_REDIS_PORT"
    fi
    write_conf
    log "starting redis on 127.0.0.1:$PORT ($R_DIR)"
    # setsid: its own session, so a test's process-group signals never reach it; fd 9 (our lock) closed.
    setsid redis-server "$CONF" </dev/null >>"$LOG" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi
  deadline=$(deadline_ms "$TIMEOUT")
  until pong; do
    if is_zombie "$pid"; then
      tail -n 20 -- "$LOG" >&2 || true
      die "redis exited during start"
    fi
    (($(now_ms) > deadline)) && die "redis did not answer PING within ${TIMEOUT}s"
    sleep 0.1
  done
  log "redis up: $(cmd_url)"
}

cmd_stop() {
  local pid deadline
  pid=$(server_pid) || return 0
  kill -CONT "$pid" 2>/dev/null || true
  log "stopping redis (pid $pid)"
  rcli SHUTDOWN NOSAVE >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  deadline=$(deadline_ms "$TIMEOUT")
  while server_pid >/dev/null; do
    if (($(now_ms) > deadline)); then
      warn "redis $pid did not stop; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  rm -f -- "$PID_FILE"
}

cmd_url() { echo "redis://127.0.0.1:$PORT/0"; }

cmd=${1:-}
case "$cmd" in
  start) cmd_start ;;
  stop)
    take_lock
    cmd_stop
    ;;
  status) print_status "$PORT" "$(server_pid || true)" ;;
  url) cmd_url ;;
  pause | resume)
    take_lock
    pid=$(server_pid) || die "redis is not running"
    if [[ "$cmd" == pause ]]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
    log "${cmd}d redis"
    ;;
  flush) rcli FLUSHALL >/dev/null ;;
  wipe)
    take_lock
    cmd_stop
    rm -rf -- "$R_DIR"
    log "deleted $R_DIR"
    ;;
  "" | -h | --help | help)
    print_usage
    [[ -n "$cmd" ]] || exit 2
    ;;
  *) die "unknown command '$cmd' (try: redis.sh help)" ;;
esac
