#!/usr/bin/env bash
# A real 3-node ZooKeeper ensemble on 127.0.0.1, from Debian's zookeeper jars.
#
# Usage: scripts/zk.sh COMMAND [ARGS]
#   start            start every server not running (SIGCONT paused ones), wait
#                    until all three serve and exactly one is leader
#   stop             stop all (SIGTERM, SIGKILL after a few seconds); 0 if none ran
#   status           one line per server: "N port=P pid=PID state=S", S one of
#                    leader|follower|looking|paused|down (looking: the process
#                    runs but does not serve, e.g. no quorum or still starting)
#   wait             wait until every running, unpaused server serves, at least
#                    two do, and exactly one is leader
#   start-one N      start server N (no-op if running; SIGCONT if paused), wait
#                    until it serves (if a quorum is possible) or at least answers
#   stop-one N       graceful stop of server N (SIGTERM, SIGKILL after 5 s)
#   kill-one N       SIGKILL server N
#   pause N          SIGSTOP server N        resume N     SIGCONT server N
#   pause-all        SIGSTOP all running     resume-all   SIGCONT all running
#   kill-leader      SIGKILL the current leader; print its N
#   leader           print N of the current leader (waits for one, bounded)
#   connect-string   print 127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#   session-server HEXSID   print N of the server holding that session's
#                    connection (from "cons"); exit 1 if none does
#   wipe             stop, then delete $RUN_DIR/zk
#
# Environment:
#   SHA_RUN_DIR        state dir (default $REPO/.run); data/logs in $RUN_DIR/zk/N
#   SHA_ZK_BASE_PORT   default 22181: client ports B..B+2, quorum B+700..B+702,
#                      election B+1700..B+1702
#   SHA_ZK_TIMEOUT     seconds to wait for the ensemble / a leader (default 30)
set -euo pipefail
SHA_LOG_PREFIX=zk.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

BASE=$(env_int SHA_ZK_BASE_PORT 22181 1 $((65535 - 1702)))
TIMEOUT=$(env_int SHA_ZK_TIMEOUT 30 1 86400)
ZK_DIR="$RUN_DIR/zk"
LOCK_FILE="$RUN_DIR/zk.lock"
SERVERS=(1 2 3)
ZK_JAR=/usr/share/java/zookeeper.jar
SLF4J_SIMPLE=/usr/share/java/slf4j-simple.jar

client_port()   { echo $((BASE + $1 - 1)); }
quorum_port()   { echo $((BASE + 700 + $1 - 1)); }
election_port() { echo $((BASE + 1700 + $1 - 1)); }
srv_dir()  { echo "$ZK_DIR/$1"; }
cfg_path() { echo "$ZK_DIR/$1/zoo.cfg"; }
pid_file() { echo "$ZK_DIR/$1/zk.pid"; }
log_file() { echo "$ZK_DIR/$1/server.log"; }

check_n() {
  [[ "${1:-}" =~ ^[123]$ ]] || die "server number must be 1, 2 or 3 (got '${1:-}')"
}

# is_our_pid PID N: PID is a live java whose last argument is server N's cfg.
is_our_pid() {
  local pid=$1 cfg args=()
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cfg=$(cfg_path "$2")
  mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  ((${#args[@]} >= 2)) || return 1 # a zombie has an empty cmdline
  [[ "${args[0]##*/}" == java && "${args[-1]}" == "$cfg" ]]
}

# zk_pid N: print the pid of server N, or return 1 if it is not running.
# The pid file is only a hint: verified against /proc, else /proc is scanned
# (covers lost pid files and leftovers of killed sessions).
zk_pid() {
  local n=$1 pf pid cfg f
  pf=$(pid_file "$n")
  if [[ -r "$pf" ]]; then
    pid=$(<"$pf") || pid=""
    if is_our_pid "$pid" "$n"; then
      echo "$pid"
      return 0
    fi
  fi
  cfg=$(cfg_path "$n")
  while IFS= read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    if is_our_pid "$pid" "$n"; then
      if [[ -d "$(dirname -- "$pf")" ]]; then
        echo "$pid" >"$pf" 2>/dev/null || true
      fi
      echo "$pid"
      return 0
    fi
  done < <(grep -alF -- "$cfg" /proc/[0-9]*/cmdline 2>/dev/null || true)
  rm -f -- "$pf" 2>/dev/null || true
  return 1
}

# fourlw PORT CMD: send a four-letter word, print the answer (bounded).
# bash's /dev/tcp, not nc: "nc -w 1" lost ~3% of answers here.
# shellcheck disable=SC2016  # $1/$2 are the inner bash's arguments
fourlw() {
  timeout -k 1 "${SHA_ZK_4LW_TIMEOUT:-2}" bash -c \
    'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf "%s" "$2" >&3; cat <&3' \
    _ "$1" "$2" 2>/dev/null
}

# port_answers PORT: something accepts TCP connections on 127.0.0.1:PORT.
# shellcheck disable=SC2016
port_answers() {
  timeout -k 1 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# srv_mode N: leader|follower|... from srvr; "looking" if it answered without
# serving; "" if it did not answer.
srv_mode() {
  local out
  out=$(fourlw "$(client_port "$1")" srvr) || true
  if [[ "$out" =~ Mode:\ ([a-z]+) ]]; then
    echo "${BASH_REMATCH[1]}"
  elif [[ -n "$out" ]]; then
    echo looking
  fi
}

# srv_state N: down|paused|leader|follower|looking
srv_state() {
  local pid mode
  pid=$(zk_pid "$1") || { echo down; return 0; }
  if is_paused_pid "$pid"; then
    echo paused
    return 0
  fi
  mode=$(srv_mode "$1")
  echo "${mode:-looking}"
}

cfg_content() {
  local n=$1 m
  cat <<EOF
# written by scripts/zk.sh; rewritten on every start
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$(srv_dir "$n")/data
clientPort=$(client_port "$n")
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
# every client is 127.0.0.1: the default limit of 60 connections per address would cap the test fleet
# (bench/scale.sh holds about 250 sessions)
maxClientCnxns=0
# test ensemble: small preallocated logs, no fsync, keep few snapshots
preAllocSize=4096
forceSync=no
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
EOF
  for m in "${SERVERS[@]}"; do
    echo "server.$m=127.0.0.1:$(quorum_port "$m"):$(election_port "$m")"
  done
}

# write_config N: (re)write cfg and myid; a running server whose config
# changed (e.g. another SHA_ZK_BASE_PORT) is stopped first.
write_config() {
  local n=$1 d cfg new
  d=$(srv_dir "$n")
  cfg=$(cfg_path "$n")
  mkdir -p -- "$d/data"
  new=$(cfg_content "$n")
  if [[ ! -f "$cfg" || "$(<"$cfg")" != "$new" ]]; then
    if [[ -f "$cfg" ]] && zk_pid "$n" >/dev/null; then
      warn "config of server $n changed; restarting it"
      stop_servers TERM "$n"
    fi
    printf '%s\n' "$new" >"$cfg.tmp"
    mv -f -- "$cfg.tmp" "$cfg"
  fi
  if [[ ! -f "$d/data/myid" || "$(<"$d/data/myid")" != "$n" ]]; then
    echo "$n" >"$d/data/myid"
  fi
}

# launch N: start server N's JVM, detached (own session, no fds of ours).
launch() {
  local n=$1 d cfg log cp pid
  d=$(srv_dir "$n")
  cfg=$(cfg_path "$n")
  log=$(log_file "$n")
  if port_answers "$(client_port "$n")"; then
    die "port $(client_port "$n") (server $n) is in use by a process that is not ours; stop it or set SHA_ZK_BASE_PORT"
  fi
  if [[ -f "$log" ]] && (($(stat -c %s -- "$log") > 20 * 1024 * 1024)); then
    mv -f -- "$log" "$log.1"
  fi
  cp=$ZK_JAR
  [[ -f "$SLF4J_SIMPLE" ]] && cp="$cp:$SLF4J_SIMPLE"
  printf '===== %s zk.sh: starting server %s =====\n' "$(date -Is)" "$n" >>"$log"
  (
    cd "$d"
    exec setsid java -Xmx256m -XX:+UseSerialGC -XX:-UsePerfData -XX:+ExitOnOutOfMemoryError \
      -Djava.net.preferIPv4Stack=true \
      -Dorg.slf4j.simpleLogger.showDateTime=true \
      -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS \
      -cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
  ) </dev/null >>"$log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$(pid_file "$n")"
  log "started server $n (pid $pid, client port $(client_port "$n"))"
}

# ensure_running N: start N if it is down; SIGCONT it if it is paused.
ensure_running() {
  local n=$1 pid
  if pid=$(zk_pid "$n"); then
    if is_paused_pid "$pid"; then
      log "server $n (pid $pid) was paused; resuming it"
      kill -CONT "$pid" 2>/dev/null || true
    fi
    return 0
  fi
  launch "$n"
}

dump_logs() {
  local n
  for n in "${SERVERS[@]}"; do
    printf -- '----- server %s: %s -----\n' "$n" "$(log_file "$n")" >&2
    # without the "Processing srvr command" noise of our own polling
    tail -n 400 -- "$(log_file "$n")" 2>/dev/null \
      | grep -v 'Processing [a-z]* command' | tail -n 25 >&2 || true
  done
}

# deadline_ms SECONDS
# wait_healthy REQUIRE_ALL: wait until every running, unpaused server serves,
# exactly one of them leads and at least 2 (3 if REQUIRE_ALL=1) serve.
wait_healthy() {
  local require_all=$1 deadline n pid mode serving leaders ok desc
  deadline=$(deadline_ms "$TIMEOUT")
  while :; do
    ok=1 serving=0 leaders=0 desc=""
    for n in "${SERVERS[@]}"; do
      if ! pid=$(zk_pid "$n"); then
        desc+=" $n=down"
        ((require_all)) && ok=0
        continue
      fi
      if is_paused_pid "$pid"; then
        desc+=" $n=paused"
        ((require_all)) && ok=0
        continue
      fi
      mode=$(srv_mode "$n")
      desc+=" $n=${mode:-noanswer}"
      case "$mode" in
        leader) serving=$((serving + 1)) leaders=$((leaders + 1)) ;;
        follower) serving=$((serving + 1)) ;;
        *) ok=0 ;;
      esac
    done
    if ((ok && leaders == 1 && serving >= 2)); then
      return 0
    fi
    if (($(now_ms) > deadline)); then
      warn "ensemble not healthy after ${TIMEOUT}s:$desc"
      return 1
    fi
    sleep 0.2
  done
}

# current_leader: N of the one server answering "Mode: leader" (waits).
current_leader() {
  local deadline n pid mode leaders=()
  deadline=$(deadline_ms "$TIMEOUT")
  while :; do
    leaders=()
    for n in "${SERVERS[@]}"; do
      # skip down and paused servers (a paused one would cost a 4lw timeout)
      pid=$(zk_pid "$n") || continue
      is_paused_pid "$pid" && continue
      mode=$(srv_mode "$n")
      [[ "$mode" == leader ]] && leaders+=("$n")
    done
    if ((${#leaders[@]} == 1)); then
      echo "${leaders[0]}"
      return 0
    fi
    if (($(now_ms) > deadline)); then
      warn "no single leader after ${TIMEOUT}s (leaders: ${leaders[*]:-none})"
      return 1
    fi
    sleep 0.2
  done
}

# stop_servers SIGNAL N...: SIGCONT, then SIGNAL (TERM or KILL); wait until
# gone; escalate to SIGKILL after 5 s. Quiet and successful for down servers.
stop_servers() {
  local sig=$1 n pid deadline left
  shift
  local -A pids=()
  for n in "$@"; do
    if pid=$(zk_pid "$n"); then
      pids[$n]=$pid
      kill -CONT "$pid" 2>/dev/null || true
      kill "-$sig" "$pid" 2>/dev/null || true
      log "sent SIG$sig to server $n (pid $pid)"
    fi
  done
  ((${#pids[@]})) || return 0
  deadline=$(deadline_ms 5)
  while :; do
    left=0
    for n in "${!pids[@]}"; do
      if is_our_pid "${pids[$n]}" "$n"; then
        left=1
      else
        unset "pids[$n]"
        rm -f -- "$(pid_file "$n")"
      fi
    done
    ((left)) || return 0
    if (($(now_ms) > deadline)); then
      if [[ "$sig" == KILL ]]; then
        die "server(s) ${!pids[*]} still alive 5 s after SIGKILL"
      fi
      for n in "${!pids[@]}"; do
        warn "server $n (pid ${pids[$n]}) ignored SIG$sig; sending SIGKILL"
        kill -KILL "${pids[$n]}" 2>/dev/null || true
      done
      sig=KILL
      deadline=$(deadline_ms 5)
    fi
    sleep 0.1
  done
}

signal_paused() { # signal_paused STOP|CONT N
  local sig=$1 n=$2 pid deadline
  pid=$(zk_pid "$n") || die "server $n is not running"
  kill "-$sig" "$pid"
  deadline=$(deadline_ms 3)
  while :; do
    if [[ "$sig" == STOP ]] && is_paused_pid "$pid"; then return 0; fi
    if [[ "$sig" == CONT ]] && ! is_paused_pid "$pid"; then return 0; fi
    (($(now_ms) > deadline)) && die "server $n (pid $pid) did not change state after SIG$sig"
    sleep 0.05
  done
}

running_servers() {
  local n
  for n in "${SERVERS[@]}"; do
    if zk_pid "$n" >/dev/null; then echo "$n"; fi
  done
}

norm_sid() {
  local s=${1,,}
  s=${s#0x}
  [[ "$s" =~ ^[0-9a-f]+$ ]] || die "not a hex session id: $1"
  while [[ "$s" == 0?* ]]; do s=${s#0}; done
  echo "$s"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift

case "$cmd" in
  start)
    ensure_zookeeper
    take_lock
    for n in "${SERVERS[@]}"; do write_config "$n"; done
    for n in "${SERVERS[@]}"; do ensure_running "$n"; done
    if ! wait_healthy 1; then
      dump_logs
      die "ensemble did not become healthy within ${TIMEOUT}s"
    fi
    log "ensemble up; leader is server $(current_leader)"
    ;;
  stop)
    take_lock
    stop_servers TERM "${SERVERS[@]}"
    ;;
  status)
    for n in "${SERVERS[@]}"; do
      pid=$(zk_pid "$n") || pid=-
      echo "$n port=$(client_port "$n") pid=$pid state=$(srv_state "$n")"
    done
    ;;
  wait)
    wait_healthy 0 || die "ensemble not healthy"
    ;;
  start-one)
    check_n "${1:-}"
    n=$1
    ensure_zookeeper
    take_lock
    for m in "${SERVERS[@]}"; do write_config "$m"; done
    ensure_running "$n"
    # Can it join a quorum? Count running, unpaused servers (itself included).
    live=0
    for m in "${SERVERS[@]}"; do
      if pid=$(zk_pid "$m") && ! is_paused_pid "$pid"; then live=$((live + 1)); fi
    done
    deadline=$(deadline_ms "$TIMEOUT")
    while :; do
      mode=$(srv_mode "$n")
      if ((live >= 2)); then
        [[ "$mode" == leader || "$mode" == follower ]] && break
      else
        [[ -n "$mode" ]] && break
      fi
      zk_pid "$n" >/dev/null || { dump_logs; die "server $n exited while starting"; }
      if (($(now_ms) > deadline)); then
        dump_logs
        die "server $n not serving after ${TIMEOUT}s (mode: ${mode:-no answer})"
      fi
      sleep 0.2
    done
    log "server $n is up (${mode})"
    ;;
  stop-one)
    check_n "${1:-}"
    take_lock
    stop_servers TERM "$1"
    ;;
  kill-one)
    check_n "${1:-}"
    take_lock
    stop_servers KILL "$1"
    ;;
  pause)
    check_n "${1:-}"
    take_lock
    signal_paused STOP "$1"
    log "paused server $1"
    ;;
  resume)
    check_n "${1:-}"
    take_lock
    signal_paused CONT "$1"
    log "resumed server $1"
    ;;
  pause-all | resume-all)
    take_lock
    sig=STOP
    [[ "$cmd" == resume-all ]] && sig=CONT
    while read -r n; do
      [[ -n "$n" ]] && signal_paused "$sig" "$n"
    done < <(running_servers)
    ;;
  kill-leader)
    take_lock
    n=$(current_leader) || die "no leader to kill"
    stop_servers KILL "$n"
    echo "$n"
    ;;
  leader)
    current_leader
    ;;
  connect-string)
    echo "127.0.0.1:$(client_port 1),127.0.0.1:$(client_port 2),127.0.0.1:$(client_port 3)"
    ;;
  session-server)
    [[ -n "${1:-}" ]] || die "usage: zk.sh session-server HEXSID"
    want=$(norm_sid "$1")
    for n in "${SERVERS[@]}"; do
      pid=$(zk_pid "$n") || continue
      is_paused_pid "$pid" && continue
      out=$(fourlw "$(client_port "$n")" cons) || true
      while [[ "$out" =~ sid=0x([0-9a-fA-F]+) ]]; do
        if [[ "$(norm_sid "${BASH_REMATCH[1]}")" == "$want" ]]; then
          echo "$n"
          exit 0
        fi
        out=${out#*"${BASH_REMATCH[0]}"}
      done
    done
    log "session 0x$want is not connected to any reachable server"
    exit 1
    ;;
  wipe)
    take_lock
    stop_servers TERM "${SERVERS[@]}"
    rm -rf -- "$ZK_DIR"
    log "deleted $ZK_DIR"
    ;;
  "" | -h | --help | help)
    print_usage
    [[ -n "$cmd" ]] || exit 2
    ;;
  *)
    die "unknown command '$cmd' (try: zk.sh help)"
    ;;
esac
