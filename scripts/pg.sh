#!/usr/bin/env bash
# A real PostgreSQL cluster on 127.0.0.1 from Debian's server binaries
# (/usr/lib/postgresql/<ver>/bin, newest version), run as the postgres OS user.
#
# Usage: scripts/pg.sh COMMAND
#   start    initdb if needed, start if not running (SIGCONT if paused), make
#            roles/databases superset/superset and analytics/analytics, wait
#            until "SELECT 1" works over TCP with the password
#   stop     fast shutdown (immediate, then SIGKILL, if that hangs); 0 if not running
#   status   "port=P pid=PID state=running|paused|down"
#   url      print postgresql://superset:superset@127.0.0.1:PORT/superset
#   pause    SIGSTOP the postmaster and all its children (connects and queries hang)
#   resume   SIGCONT them
#   wipe     stop, then delete $RUN_DIR/pg
#
# Environment:
#   SHA_RUN_DIR     state dir (default $REPO/.run); cluster in $RUN_DIR/pg
#   SHA_PG_PORT     TCP port (default 25432); listens on 127.0.0.1 only
#   SHA_PG_TIMEOUT  seconds to wait for start/stop (default 30)
set -euo pipefail
SHA_LOG_PREFIX=pg.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(env_int SHA_PG_PORT 25432 1 65535)
TIMEOUT=$(env_int SHA_PG_TIMEOUT 30 1 86400)
PG_DIR="$RUN_DIR/pg"
DATA="$PG_DIR/data"
SOCK_DIR="$PG_DIR"
LOG="$PG_DIR/postgres.log"
LOCK_FILE="$RUN_DIR/pg.lock"
CONF_NAME=superset-ha.conf
BIN=""

# Roles and databases (same name for role, password and database).
DBS=(superset analytics)

need_bin() {
  [[ -n "$BIN" ]] && return 0
  BIN=$(pg_bindir) || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
}

# as_pg CMD...: run as the postgres OS user, from a directory it can read,
# without our lock fd (pg_ctl's postmaster must not inherit it).
as_pg() {
  (cd / && exec runuser -u postgres -- "$@") 9>&-
}

# is_cluster_proc PID: a live "postgres" process whose cwd is our data dir
# (the postmaster chdirs there; every child inherits it).
is_cluster_proc() {
  local pid=$1 comm cwd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  { read -r comm <"/proc/$pid/comm"; } 2>/dev/null || return 1
  [[ "$comm" == postgres ]] || return 1
  cwd=$(readlink -- "/proc/$pid/cwd" 2>/dev/null) || return 1
  [[ "$cwd" == "$DATA" ]]
}

# postmaster_pid: pid from postmaster.pid, verified against /proc.
postmaster_pid() {
  local pid
  [[ -r "$DATA/postmaster.pid" ]] || return 1
  { read -r pid <"$DATA/postmaster.pid"; } 2>/dev/null || return 1
  is_cluster_proc "$pid" || return 1
  echo "$pid"
}

# children_of PID: direct children (backends and auxiliary processes), from
# /proc/*/stat (no dependency on procps).
children_of() {
  local want=$1 f s rest
  for f in /proc/[0-9]*/stat; do
    { read -r s <"$f"; } 2>/dev/null || continue
    rest=${s##*) }  # "STATE PPID ..."
    rest=${rest#* }
    if [[ "${rest%% *}" == "$want" ]]; then
      f=${f#/proc/}
      echo "${f%/stat}"
    fi
  done
}

# stray_pids: processes of this data dir that are not under a live postmaster
# (left behind when a postmaster was SIGKILLed).
stray_pids() {
  local f pid
  while IFS= read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cwd}
    is_cluster_proc "$pid" && echo "$pid"
  done < <(find /proc -mindepth 2 -maxdepth 2 -name cwd -lname "$DATA" 2>/dev/null || true)
}

# cluster_pids: postmaster first, then its children (or strays if no postmaster).
cluster_pids() {
  local pm
  if pm=$(postmaster_pid); then
    echo "$pm"
    children_of "$pm"
  else
    stray_pids
  fi
}

signal_all() { # signal_all SIG PID...
  local sig=$1 p
  shift
  for p in "$@"; do
    kill "-$sig" "$p" 2>/dev/null || true
  done
}

# kill_strays: SIGKILL leftovers of a dead postmaster; they would keep the
# shared memory segment in use and stop a new postmaster from starting.
kill_strays() {
  local pids=() deadline
  mapfile -t pids < <(stray_pids)
  ((${#pids[@]})) || return 0
  warn "killing leftover processes of a dead postmaster: ${pids[*]}"
  signal_all CONT "${pids[@]}"
  signal_all KILL "${pids[@]}"
  deadline=$(deadline_ms 5)
  while [[ -n "$(stray_pids)" ]]; do
    (($(now_ms) > deadline)) && die "leftover postgres processes will not die"
    sleep 0.1
  done
}

port_answers() {
  # shellcheck disable=SC2016
  timeout -k 1 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# write_configs: our settings and pg_hba.conf; sets CONF_CHANGED/HBA_CHANGED.
CONF_CHANGED=0
HBA_CHANGED=0
write_configs() {
  local conf hba
  conf=$(cat <<EOF
# written by scripts/pg.sh on every start; included from postgresql.conf
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = $(sql_quote "$SOCK_DIR")
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
max_connections = 100
shared_buffers = 64MB
# a throwaway test cluster: durability against OS crashes is not needed
fsync = off
synchronous_commit = off
full_page_writes = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
)
  hba=$(cat <<'EOF'
# written by scripts/pg.sh: peer on the (0700) unix socket, passwords over TCP
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  peer
host    all       all   127.0.0.1/32   scram-sha-256
EOF
)
  if [[ ! -f "$DATA/$CONF_NAME" || "$(<"$DATA/$CONF_NAME")" != "$conf" ]]; then
    printf '%s\n' "$conf" >"$DATA/$CONF_NAME.tmp"
    chown postgres: "$DATA/$CONF_NAME.tmp"
    mv -f -- "$DATA/$CONF_NAME.tmp" "$DATA/$CONF_NAME"
    CONF_CHANGED=1
  fi
  if ! grep -qF "include_if_exists = '$CONF_NAME'" "$DATA/postgresql.conf"; then
    printf "\n# superset-ha test settings\ninclude_if_exists = '%s'\n" "$CONF_NAME" >>"$DATA/postgresql.conf"
    CONF_CHANGED=1
  fi
  if [[ "$(<"$DATA/pg_hba.conf")" != "$hba" ]]; then
    printf '%s\n' "$hba" >"$DATA/pg_hba.conf.tmp"
    chown postgres: "$DATA/pg_hba.conf.tmp"
    chmod 600 "$DATA/pg_hba.conf.tmp"
    mv -f -- "$DATA/pg_hba.conf.tmp" "$DATA/pg_hba.conf"
    HBA_CHANGED=1
  fi
}

# init_cluster: initdb into a scratch dir, then rename, so that a killed
# initdb never leaves a half-made data dir behind.
init_cluster() {
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  if [[ -e "$DATA" ]]; then
    warn "$DATA has no PG_VERSION (interrupted initdb?); recreating it"
    rm -rf -- "$DATA"
  fi
  rm -rf -- "$DATA.init"
  log "initdb $DATA ($BIN)"
  as_pg "$BIN/initdb" -D "$DATA.init" -U postgres -E UTF8 --locale=C \
    --auth-local=peer --auth-host=scram-sha-256 --no-sync --no-instructions >&2
  mv -- "$DATA.init" "$DATA"
}

dump_log() {
  printf -- '----- %s (tail) -----\n' "$LOG" >&2
  tail -n 30 -- "$LOG" >&2 2>/dev/null || true
}

pg_ctl() {
  as_pg "$BIN/pg_ctl" -D "$DATA" "$@" >&2
}

# admin_psql: psql as the superuser over the unix socket; SQL on stdin.
admin_psql() {
  as_pg env PGCONNECT_TIMEOUT=5 timeout -k 5 30 "$BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$SOCK_DIR" -p "$PORT" -U postgres -d postgres
}

ensure_roles() {
  local db sql=""
  for db in "${DBS[@]}"; do
    sql+="
SELECT format('CREATE ROLE %I LOGIN', '$db') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$db')\\gexec
ALTER ROLE $db WITH LOGIN PASSWORD '$db';
SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\\gexec
ALTER DATABASE $db OWNER TO $db;
"
  done
  admin_psql >/dev/null <<<"$sql" || die "creating roles/databases failed"
}

# tcp_ok: SELECT 1 over TCP with the superset password works (bounded).
tcp_ok() {
  local out
  out=$(PGPASSWORD=superset PGCONNECT_TIMEOUT=3 timeout -k 2 10 "$BIN/psql" -X -q -At \
    -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U superset -d superset \
    -c 'SELECT 1' 2>/dev/null) || return 1
  [[ "$out" == 1 ]]
}

cmd_stop() {
  local pm pids=() deadline
  if ! pm=$(postmaster_pid); then
    kill_strays
    return 0
  fi
  mapfile -t pids < <(cluster_pids)
  signal_all CONT "${pids[@]}"
  log "stopping postgres (pid $pm)"
  if ! pg_ctl stop -m fast -w -t "$TIMEOUT"; then
    warn "fast shutdown failed; trying immediate"
    pg_ctl stop -m immediate -w -t 10 || true
  fi
  if pm=$(postmaster_pid); then
    warn "postmaster $pm still alive; SIGKILL"
    mapfile -t pids < <(cluster_pids)
    signal_all KILL "${pids[@]}"
    deadline=$(deadline_ms 5)
    while postmaster_pid >/dev/null; do
      (($(now_ms) > deadline)) && die "postmaster will not die"
      sleep 0.1
    done
  fi
  kill_strays
}

# set_paused STOP|CONT: signal the postmaster and all its children. For STOP
# the postmaster goes first (so it forks no new backend), children are
# re-listed until none is left running.
# postgres_pids STOP|CONT PM: the postmaster and its children; the postmaster first when stopping (it forks
# no new backend), last when resuming (it finds its children running).
postgres_pids() {
  [[ "$1" == STOP ]] && echo "$2"
  children_of "$2"
  [[ "$1" == STOP ]] || echo "$2"
}

set_paused() {
  local sig=$1 pm
  pm=$(postmaster_pid) || die "postgres is not running"
  [[ "$sig" == STOP ]] && kill -STOP "$pm"
  signal_settled "$sig" postgres postgres_pids "$sig" "$pm"
}

cmd_start() {
  local pm deadline
  ensure_postgres
  need_bin
  take_lock
  ensure_traversable "$RUN_DIR"
  mkdir -p -- "$PG_DIR"
  chown postgres: "$PG_DIR"
  chmod 700 "$PG_DIR"
  if pm=$(postmaster_pid); then
    if is_paused_pid "$pm"; then
      log "postgres (pid $pm) was paused; resuming it"
    fi
    set_paused CONT
    write_configs
    if ((CONF_CHANGED)); then
      log "settings changed; restarting postgres"
      pg_ctl restart -m fast -w -t "$TIMEOUT" -l "$LOG" || { dump_log; die "restart failed"; }
    elif ((HBA_CHANGED)); then
      pg_ctl reload
    fi
  else
    kill_strays
    init_cluster
    write_configs
    # Whatever is left of a killed postmaster (pid file, socket lock) is stale now.
    rm -f -- "$DATA/postmaster.pid" "$SOCK_DIR/.s.PGSQL.$PORT" "$SOCK_DIR/.s.PGSQL.$PORT.lock"
    if port_answers "$PORT"; then
      die "port $PORT is in use by a process that is not our postgres; stop it or set SHA_PG_PORT"
    fi
    log "starting postgres on 127.0.0.1:$PORT ($DATA)"
    if ! pg_ctl start -w -t "$TIMEOUT" -l "$LOG"; then
      dump_log
      die "postgres did not start"
    fi
  fi
  ensure_roles
  deadline=$(deadline_ms "$TIMEOUT")
  until tcp_ok; do
    if (($(now_ms) > deadline)); then
      dump_log
      die "SELECT 1 over TCP as superset did not work within ${TIMEOUT}s"
    fi
    sleep 0.2
  done
  log "postgres up: $(cmd_url)"
}

cmd_url() { echo "postgresql://superset:superset@127.0.0.1:$PORT/superset"; }

cmd=${1:-}
case "$cmd" in
  start) cmd_start ;;
  stop)
    need_bin
    take_lock
    cmd_stop
    ;;
  status) print_status "$PORT" "$(postmaster_pid || true)" ;;
  url) cmd_url ;;
  pause | resume)
    take_lock
    if [[ "$cmd" == pause ]]; then set_paused STOP; else set_paused CONT; fi
    log "${cmd}d postgres"
    ;;
  wipe)
    need_bin
    take_lock
    cmd_stop
    rm -rf -- "$PG_DIR"
    log "deleted $PG_DIR"
    ;;
  "" | -h | --help | help)
    print_usage
    [[ -n "$cmd" ]] || exit 2
    ;;
  *) die "unknown command '$cmd' (try: pg.sh help)" ;;
esac
