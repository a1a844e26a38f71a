#!/usr/bin/env bash
# A private MariaDB server on 127.0.0.1 from Debian's mariadb-server package:
# its own data dir, socket, pid file and log under $RUN_DIR/mysql, its own
# config file (nothing under /etc/mysql is read), run as the mysql OS user.
# Debian's own service (/var/lib/mysql, port 3306) is never started, and is
# disabled right after the package is installed.
#
# Usage: scripts/mysql.sh COMMAND
#   start    install mariadb-server if missing, make the data dir if needed,
#            start if not running (SIGCONT if paused), make database superset
#            and user superset@127.0.0.1 / superset@localhost (password
#            superset, mysql_native_password), wait until "SELECT 1" works
#            over TCP with the password
#   stop     graceful shutdown (SIGTERM, then SIGKILL if that hangs); 0 if not running
#   status   "port=P pid=PID state=running|paused|down"
#   url      print mysql://superset:superset@127.0.0.1:PORT/superset
#   pause    SIGSTOP the server (connects and queries hang)
#   resume   SIGCONT it
#   wipe     stop, then delete $RUN_DIR/mysql
#
# Environment:
#   SHA_RUN_DIR         state dir (default $REPO/.run); server in $RUN_DIR/mysql
#   SHA_MYSQL_PORT      TCP port (default 23306); listens on 127.0.0.1 only
#   SHA_MYSQL_TIMEOUT   seconds to wait for start/stop (default 30)
set -euo pipefail
SHA_LOG_PREFIX=mysql.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(env_int SHA_MYSQL_PORT 23306 1 65535)
TIMEOUT=$(env_int SHA_MYSQL_TIMEOUT 30 1 86400)
MY_DIR="$RUN_DIR/mysql"
DATA="$MY_DIR/data"
INIT_MARK="$MY_DIR/data.initialized"  # written once mariadb-install-db has finished
SOCK="$MY_DIR/mysqld.sock"
PID_FILE="$MY_DIR/mysqld.pid"
CNF="$MY_DIR/my.cnf"
LOG="$MY_DIR/mysqld.log"
LOCK_FILE="$RUN_DIR/mysql.lock"
SERVER_BIN=""

# The application database, user and password (all the same name).
APP=superset

# unix sockets have a ~108 byte path limit
if ((${#SOCK} > 100)); then
  die "socket path $SOCK is too long for a unix socket; use a shorter SHA_RUN_DIR"
fi

# ensure_mariadb: Debian's MariaDB server (and client), without Debian's service.
ensure_mariadb() {
  local fresh=0
  pkg_installed mariadb-server || fresh=1
  apt_install mariadb-server
  if ((fresh)); then
    disable_debian_service
  fi
  need_bin
  command -v mariadb >/dev/null 2>&1 || die "no mariadb client on PATH after installing mariadb-server"
  command -v mariadb-install-db >/dev/null 2>&1 || die "no mariadb-install-db on PATH after installing mariadb-server"
  id mysql >/dev/null 2>&1 || die "no mysql OS user after installing mariadb-server"
}

# disable_debian_service: the package enables its own service (port 3306,
# /var/lib/mysql) for the next boot; we only ever run our private server.
disable_debian_service() {
  local unit
  if command -v systemctl >/dev/null 2>&1; then
    for unit in mariadb.service mysql.service mysqld.service; do
      if [[ -e "/lib/systemd/system/$unit" || -e "/etc/systemd/system/$unit" ]]; then
        systemctl disable "$unit" >/dev/null 2>&1 || true
      fi
    done
  fi
  if [[ -x /etc/init.d/mariadb ]] && command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d mariadb disable >/dev/null 2>&1 || true
  fi
  if port_answers 3306; then
    warn "something listens on port 3306 (Debian's own MariaDB service?); this script does not use it"
  fi
  log "disabled Debian's own mariadb service (this script runs a private server on port $PORT)"
}

need_bin() {
  [[ -n "$SERVER_BIN" ]] && return 0
  local b
  for b in /usr/sbin/mariadbd /usr/sbin/mysqld; do
    if [[ -x "$b" ]]; then
      SERVER_BIN=$b
      return 0
    fi
  done
  die "no MariaDB server binary (/usr/sbin/mariadbd)"
}

# is_server_proc PID: a live mariadbd whose cwd is our data dir (the server
# chdirs there at startup; a zombie has no cwd).
is_server_proc() {
  local pid=$1 comm cwd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  { read -r comm <"/proc/$pid/comm"; } 2>/dev/null || return 1
  [[ "$comm" == mariadbd || "$comm" == mysqld ]] || return 1
  cwd=$(readlink -- "/proc/$pid/cwd" 2>/dev/null) || return 1
  [[ "$cwd" == "$DATA" ]]
}

# server_pid: the pid from our pid file, verified against /proc; else (pid
# file lost or not written yet) a mariadbd running in our data dir.
server_pid() {
  local pid f
  if { read -r pid <"$PID_FILE"; } 2>/dev/null && is_server_proc "$pid"; then
    echo "$pid"
    return 0
  fi
  while IFS= read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cwd}
    if is_server_proc "$pid"; then
      echo "$pid"
      return 0
    fi
  done < <(find /proc -mindepth 2 -maxdepth 2 -name cwd -lname "$DATA" 2>/dev/null || true)
  return 1
}

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(proc_state "$1") || return 1
  [[ "$st" != Z && "$st" != X ]]
}

port_answers() {
  # shellcheck disable=SC2016
  timeout -k 1 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# write_config: our server settings; sets CONF_CHANGED.
CONF_CHANGED=0
write_config() {
  local conf
  conf=$(cat <<EOF
# written by scripts/mysql.sh on every start; the server reads only this file
[mysqld]
datadir = $DATA
socket = $SOCK
pid-file = $PID_FILE
log-error = $LOG
bind-address = 127.0.0.1
port = $PORT
skip-name-resolve
skip-external-locking
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
# small memory: a throwaway test server
performance_schema = OFF
max_connections = 100
table_open_cache = 256
thread_cache_size = 8
key_buffer_size = 4M
aria_pagecache_buffer_size = 8M
query_cache_type = 0
query_cache_size = 0
tmp_table_size = 16M
max_heap_table_size = 16M
innodb_buffer_pool_size = 32M
innodb_log_file_size = 16M
innodb_log_buffer_size = 4M
innodb_use_native_aio = OFF
# durability against OS crashes is not needed
innodb_flush_log_at_trx_commit = 2
innodb_doublewrite = OFF
EOF
)
  if [[ ! -f "$CNF" || "$(<"$CNF")" != "$conf" ]]; then
    printf '%s\n' "$conf" >"$CNF.tmp"
    chmod 644 "$CNF.tmp"
    mv -f -- "$CNF.tmp" "$CNF"
    CONF_CHANGED=1
  fi
}

dump_log() {
  printf -- '----- %s (tail) -----\n' "$LOG" >&2
  tail -n 30 -- "$LOG" >&2 2>/dev/null || true
}

# prepare_log: the server opens log-error itself, as the mysql user.
prepare_log() {
  if [[ -f "$LOG" ]] && (($(stat -c %s -- "$LOG") > 20 * 1024 * 1024)); then
    mv -f -- "$LOG" "$LOG.1"
  fi
  touch -- "$LOG"
  chown mysql:mysql -- "$LOG"
}

# init_datadir: mariadb-install-db once; a half-made data dir (no marker) is redone.
init_datadir() {
  if [[ -f "$INIT_MARK" && -d "$DATA/mysql" ]]; then
    return 0
  fi
  if [[ -e "$DATA" ]]; then
    warn "$DATA was not fully initialised (interrupted mariadb-install-db?); recreating it"
    rm -rf -- "$DATA"
  fi
  rm -f -- "$INIT_MARK"
  mkdir -p -- "$DATA"
  chown mysql:mysql -- "$DATA"
  chmod 750 -- "$DATA"
  log "mariadb-install-db $DATA"
  # root@localhost authenticates by unix socket (OS user root); no test db.
  if ! (cd / && exec timeout -k 5 300 mariadb-install-db --defaults-file="$CNF" --user=mysql \
    --datadir="$DATA" --auth-root-authentication-method=socket --skip-test-db \
    --skip-name-resolve) </dev/null >>"$LOG" 2>&1 9>&-; then
    dump_log
    die "mariadb-install-db failed"
  fi
  touch -- "$INIT_MARK"
}

# admin_sql: SQL on stdin as the MariaDB root user over our unix socket.
admin_sql() {
  timeout -k 5 30 mariadb --no-defaults --protocol=SOCKET -S "$SOCK" -u root \
    --connect-timeout=5 -N -B "$@"
}

# tcp_ok: SELECT 1 over TCP with the superset password works (bounded).
tcp_ok() {
  local out
  out=$(MYSQL_PWD=$APP timeout -k 2 10 mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$PORT" \
    -u "$APP" --connect-timeout=3 -N -B -e 'SELECT 1' "$APP" 2>/dev/null </dev/null) || return 1
  [[ "$out" == 1 ]]
}

ensure_app_user() {
  local h sql
  # No anonymous users (they would shadow superset@localhost on the socket),
  # no grants for this machine's hostname (ignored, and warned about on every
  # start, under skip-name-resolve).
  sql="CREATE DATABASE IF NOT EXISTS \`$APP\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
DELETE FROM mysql.global_priv WHERE User = '';
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1', '%');
"
  for h in 127.0.0.1 localhost; do
    sql+="CREATE USER IF NOT EXISTS '$APP'@'$h' IDENTIFIED VIA mysql_native_password USING PASSWORD('$APP');
ALTER USER '$APP'@'$h' IDENTIFIED VIA mysql_native_password USING PASSWORD('$APP');
GRANT ALL PRIVILEGES ON \`$APP\`.* TO '$APP'@'$h';
"
  done
  sql+="FLUSH PRIVILEGES;"
  admin_sql >/dev/null <<<"$sql" || die "creating database/user $APP failed"
}

# launch: start the server, detached (own session, no fds of ours), as the
# mysql user from the start (it never runs as root). Sets LAUNCHED.
LAUNCHED=""
launch() {
  rm -f -- "$PID_FILE" "$SOCK" "$SOCK.lock"
  if port_answers "$PORT"; then
    die "port $PORT is in use by a process that is not our MariaDB; stop it or set SHA_MYSQL_PORT"
  fi
  prepare_log
  printf '===== %s mysql.sh: starting on 127.0.0.1:%s =====\n' "$(date -Is)" "$PORT" >>"$LOG"
  log "starting mariadb on 127.0.0.1:$PORT ($DATA)"
  (
    cd /
    exec setsid setpriv --reuid=mysql --regid=mysql --init-groups \
      "$SERVER_BIN" --defaults-file="$CNF"
  ) </dev/null >>"$LOG" 2>&1 9>&- &
  LAUNCHED=$!
}

# wait_ready PID: until root can run a query over the socket (bounded); dies
# if the server exits first.
wait_ready() {
  local pid=$1 deadline
  deadline=$(deadline_ms "$TIMEOUT")
  until admin_sql -e 'SELECT 1' >/dev/null 2>&1 </dev/null; do
    if ! alive "$pid"; then
      dump_log
      die "mariadb exited during startup"
    fi
    if (($(now_ms) > deadline)); then
      dump_log
      die "mariadb did not accept connections within ${TIMEOUT}s"
    fi
    sleep 0.1
  done
}

cmd_stop() {
  local pid deadline
  pid=$(server_pid) || return 0
  log "stopping mariadb (pid $pid)"
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(deadline_ms "$TIMEOUT")
  while alive "$pid"; do
    if (($(now_ms) > deadline)); then
      warn "mariadb (pid $pid) did not shut down within ${TIMEOUT}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$(deadline_ms 5)
      while alive "$pid"; do
        (($(now_ms) > deadline)) && die "mariadb (pid $pid) will not die"
        sleep 0.1
      done
      break
    fi
    sleep 0.1
  done
}

# set_paused STOP|CONT: signal the server and wait until the kernel shows it.
set_paused() {
  local sig=$1 pid deadline
  pid=$(server_pid) || die "mariadb is not running"
  deadline=$(deadline_ms 5)
  kill "-$sig" "$pid"
  while :; do
    if [[ "$sig" == STOP ]]; then
      is_paused_pid "$pid" && break
    else
      is_paused_pid "$pid" || break
    fi
    (($(now_ms) > deadline)) && die "mariadb (pid $pid) did not take SIG$sig"
    sleep 0.02
  done
}

cmd_start() {
  local pid deadline
  ensure_mariadb
  take_lock
  ensure_traversable "$RUN_DIR"
  mkdir -p -- "$MY_DIR"
  chown mysql:mysql -- "$MY_DIR"
  chmod 750 -- "$MY_DIR"
  write_config
  if pid=$(server_pid); then
    if is_paused_pid "$pid"; then
      log "mariadb (pid $pid) was paused; resuming it"
      set_paused CONT
    fi
    if ((CONF_CHANGED)); then
      log "settings changed; restarting mariadb"
      cmd_stop
      launch
      pid=$LAUNCHED
    fi
  else
    init_datadir
    launch
    pid=$LAUNCHED
  fi
  wait_ready "$pid"
  ensure_app_user
  deadline=$(deadline_ms "$TIMEOUT")
  until tcp_ok; do
    if (($(now_ms) > deadline)); then
      dump_log
      die "SELECT 1 over TCP as $APP did not work within ${TIMEOUT}s"
    fi
    sleep 0.2
  done
  log "mariadb up (pid $(server_pid || echo "$pid")): $(cmd_url)"
}

cmd_url() { echo "mysql://$APP:$APP@127.0.0.1:$PORT/$APP"; }

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
    if [[ "$cmd" == pause ]]; then set_paused STOP; else set_paused CONT; fi
    log "${cmd}d mariadb"
    ;;
  wipe)
    take_lock
    cmd_stop
    rm -rf -- "$MY_DIR"
    log "deleted $MY_DIR"
    ;;
  "" | -h | --help | help)
    print_usage
    [[ -n "$cmd" ]] || exit 2
    ;;
  *) die "unknown command '$cmd' (try: mysql.sh help)" ;;
esac
