#!/usr/bin/env bash
# Real Apache Superset (from PyPI) in a virtualenv, replicas under gunicorn on
# 127.0.0.1, metadata in our PostgreSQL (scripts/pg.sh).
#
# Usage: scripts/superset.sh COMMAND [ARGS]
#   install        make the venv and pip install the pinned Superset (no-op when
#                  the stamp in the venv matches the pins)
#   init           install; pg.sh start; write $RUN_DIR/superset/superset_config.py
#                  from config/superset_config.py; superset db upgrade,
#                  fab create-admin, superset init (each skipped when done)
#   start N        start replicas 0..N-1 in parallel (running ones are left
#                  alone, paused ones resumed), wait until each answers GET
#                  /health with 200 "OK". Runs init first only if it never ran
#                  (it does not start PostgreSQL otherwise: a replica can be
#                  started against a metadata DB that is down, on purpose)
#   start-one I    start replica I (0-based), wait until healthy; SIGCONT if paused
#   stop           stop every replica (SIGTERM, SIGKILL after a bounded wait)
#   stop-one I     stop replica I
#   kill-one I     SIGKILL replica I's gunicorn master and its workers (a crash)
#   pause-one I    SIGSTOP master and workers (a hung replica)
#   resume-one I   SIGCONT them
#   status [N]     one line per replica (0..N-1 and any other known one):
#                  "I port=P pid=PID state=up|down|paused"
#   url I          print http://127.0.0.1:PORT of replica I
#   env            print export lines for the superset CLI:
#                  eval "$(scripts/superset.sh env)"; superset --help
#   seed [URL]     make the analytics.sales table, register the analytics DB,
#                  a dataset, a chart and a dashboard through the REST API of
#                  URL (default: replica 0); checks chart data and a SQL Lab
#                  query; writes in $RUN_DIR/superset/: chart-data.json (a
#                  working POST /api/v1/chart/data body), sqllab-execute.json
#                  (a POST /api/v1/sqllab/execute/ body), seed.json (the ids)
#
# Files in $RUN_DIR/superset/: superset_config.py (generated, mode 600),
# secret_key (600), init.log, pip-install.log, replica-I.log, replica-I.pid.
# Replica I: gunicorn "superset.app:create_app()" on 127.0.0.1:BASE+I, gthread
# workers, --keep-alive 2, --timeout 120.
#
# Environment:
#   SHA_RUN_DIR                  state dir (default $REPO/.run)
#   SHA_SUPERSET_VENV            venv (default $RUN_DIR/superset-venv)
#   SHA_SUPERSET_PYTHON          a Python 3.11 to build the venv with (default:
#                                pyenv's 3.11, else python3.11 on PATH, else Debian's)
#   SHA_SUPERSET_BASE_PORT       replica I listens on BASE+I (default 28088)
#   SHA_SUPERSET_WORKERS         gunicorn workers per replica (default 2)
#   SHA_SUPERSET_THREADS         threads per gthread worker (default 4)
#   SHA_SUPERSET_TIMEOUT         seconds to wait for a replica to be healthy (default 180)
#   SHA_SUPERSET_ADMIN_PASSWORD  password of user admin (default admin)
#   SHA_SUPERSET_INSTALL_TIMEOUT seconds for pip install (default 1800)
set -euo pipefail
SHA_LOG_PREFIX=superset.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# The pinned release: newest 6.1.x on PyPI (pip index versions apache-superset).
SUPERSET_SPEC='apache-superset[postgres]==6.1.0'
# Extra pins installed together with Superset (see the comments at each).
EXTRA_PINS=(
  # gunicorn comes with apache-superset (>=22, no upper bound). Pinned to 23.0.0,
  # the version Superset's own requirements use: gunicorn >= 25.1 opens a
  # "control socket" by default at one shared path ($HOME/.gunicorn/gunicorn.ctl),
  # which several replicas on one machine would fight over.
  'gunicorn==23.0.0'
  # apache-superset 6.1.0's CLI imports rich (superset/cli/test_db.py, loaded
  # by superset/cli/main.py for every command, so even `superset db upgrade`)
  # but the wheel does not declare it: without it every CLI command dies with
  # "No module named 'rich'". Any recent rich works; pinned for repeatability.
  # (flask-limiter 3.x used to pull it in; 4.x has it only in its "cli" extra.)
  'rich==14.3.4'
  # The wheel allows flask-caching>=2.1,<3, but flask-caching 2.5 passes
  # ignore_delete_many_errors to custom cache backends and Superset's
  # SupersetMetastoreCache (the default FILTER_STATE/EXPLORE_FORM_DATA cache)
  # rejects it: create_app() dies with "SupersetMetastoreCache.__init__() got
  # an unexpected keyword argument 'ignore_delete_many_errors'" (apache/superset
  # issue 43860). Superset's own requirements pin 2.4.1; cachelib as upstream's.
  'flask-caching==2.4.1'
  'cachelib==0.13.0'
  # superset/db_engine_specs/aws_iam.py imports cachetools at module level and
  # load_engine_specs() imports every engine spec module, but the wheel does not
  # declare it (older google-auth releases brought it in; current ones do not). Without
  # it POST /api/v1/database/ answers 422 "Connection failed, please check your
  # connection settings" (really: "Could not load database driver for:
  # postgresql"). Version as in Superset's requirements.
  'cachetools==6.2.1'
)

VENV="$(realpath -m -- "${SHA_SUPERSET_VENV:-$RUN_DIR/superset-venv}")"
SS_DIR="$RUN_DIR/superset"
CONFIG_TEMPLATE="$REPO/config/superset_config.py"
CONFIG="$SS_DIR/superset_config.py"
SECRET_FILE="$SS_DIR/secret_key"
INIT_STAMP="$SS_DIR/init.stamp"
INSTALL_STAMP="$VENV/.superset-ha-install"
LOCK_FILE="$RUN_DIR/superset.lock"
LOCK_WAIT_S=600 # an install or a first start can hold the lock for minutes
BASE_PORT=${SHA_SUPERSET_BASE_PORT:-28088}
WORKERS=${SHA_SUPERSET_WORKERS:-2}
THREADS=${SHA_SUPERSET_THREADS:-4}
TIMEOUT=${SHA_SUPERSET_TIMEOUT:-180}
INSTALL_TIMEOUT=${SHA_SUPERSET_INSTALL_TIMEOUT:-1800}
ADMIN_PASSWORD=${SHA_SUPERSET_ADMIN_PASSWORD:-admin}
MAX_REPLICAS=32

for v in BASE_PORT WORKERS THREADS TIMEOUT INSTALL_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "bad SHA_SUPERSET_$v: ${!v}"
done
if ((BASE_PORT < 1 || BASE_PORT + MAX_REPLICAS > 65535)); then
  die "bad SHA_SUPERSET_BASE_PORT: $BASE_PORT"
fi
((WORKERS >= 1 && THREADS >= 1)) || die "SHA_SUPERSET_WORKERS and _THREADS must be >= 1"

# fmt_secs MS: milliseconds as seconds with one decimal
fmt_secs() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); }

# ---------------------------------------------------------------- install

# py_is_311 PY: PY runs, is CPython 3.11 and can make venvs with pip.
py_is_311() {
  "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
    >/dev/null 2>&1
}

# find_python: print a Python 3.11 interpreter (installing Debian's if none).
find_python() {
  local c cands=()
  if [[ -n "${SHA_SUPERSET_PYTHON:-}" ]]; then
    py_is_311 "$SHA_SUPERSET_PYTHON" || die "SHA_SUPERSET_PYTHON=$SHA_SUPERSET_PYTHON is not a Python 3.11 with venv/ensurepip"
    echo "$SHA_SUPERSET_PYTHON"
    return 0
  fi
  # pyenv's builds (newest 3.11.x first), then whatever python3.11 is on PATH,
  # then Debian bookworm's (its python3 is 3.11).
  local found=()
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11.*/bin/python3.11; do
    [[ -x "$c" ]] && found+=("$c")
  done
  if ((${#found[@]})); then
    mapfile -t cands < <(printf '%s\n' "${found[@]}" | sort -rV)
  fi
  c=$(command -v python3.11 2>/dev/null) && cands+=("$c")
  cands+=(/usr/bin/python3.11)
  for c in "${cands[@]}"; do
    if py_is_311 "$c"; then
      echo "$c"
      return 0
    fi
  done
  log "no Python 3.11 with venv support; installing Debian's"
  apt_install python3.11 python3.11-venv python3.11-dev
  py_is_311 /usr/bin/python3.11 || die "no usable Python 3.11 even after apt-get install python3.11-venv"
  echo /usr/bin/python3.11
}

install_spec() {
  printf 'spec=%s\n' "$SUPERSET_SPEC"
  printf 'pin=%s\n' "${EXTRA_PINS[@]}"
}

is_installed() {
  [[ -x "$VENV/bin/python" && -x "$VENV/bin/superset" && -x "$VENV/bin/gunicorn" && -f "$INSTALL_STAMP" ]] \
    && [[ "$(<"$INSTALL_STAMP")" == "$(install_spec)" ]]
}

# count_dists: installed distributions in the venv (progress indicator).
count_dists() {
  local n=0 d
  for d in "$VENV"/lib/python3.11/site-packages/*.dist-info; do
    [[ -d "$d" ]] && n=$((n + 1))
  done
  echo "$n"
}

cmd_install() {
  local py t0 pid rc=0 last=0 pip_log
  if is_installed; then
    log "Superset already installed in $VENV ($SUPERSET_SPEC)"
    return 0
  fi
  t0=$(now_ms)
  py=$(find_python)
  # No Debian build dependencies: every compiled dependency of 6.1.0 has a
  # manylinux wheel for CPython 3.11 (psycopg2-binary brings its own libpq);
  # the only sdists (odfpy, WTForms-JSON) are pure Python.
  if [[ -x "$VENV/bin/python" ]] && ! py_is_311 "$VENV/bin/python"; then
    warn "$VENV is not a working Python 3.11 venv; recreating it"
    rm -rf -- "$VENV"
  fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv $VENV with $py ($("$py" -V 2>&1))"
    mkdir -p -- "$(dirname -- "$VENV")"
    "$py" -m venv "$VENV" || die "python -m venv $VENV failed"
  fi
  rm -f -- "$INSTALL_STAMP"
  mkdir -p -- "$SS_DIR"
  pip_log="$SS_DIR/pip-install.log"
  log "upgrading pip"
  timeout -k 10 600 "$VENV/bin/python" -m pip install --progress-bar off -q -U pip \
    >"$pip_log" 2>&1 || { tail -n 30 -- "$pip_log" >&2; die "upgrading pip failed (log: $pip_log)"; }
  log "pip install $SUPERSET_SPEC ${EXTRA_PINS[*]} (cold: about a minute with a fast registry; log: $pip_log)"
  timeout -k 10 "$INSTALL_TIMEOUT" "$VENV/bin/python" -m pip install --progress-bar off -q \
    "$SUPERSET_SPEC" "${EXTRA_PINS[@]}" >>"$pip_log" 2>&1 9>&- &
  pid=$!
  # Progress: one line every 15 s while pip works.
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (($(now_ms) - t0 - last >= 15000)); then
      last=$(($(now_ms) - t0))
      log "  ... pip still working: $((last / 1000)) s, $(count_dists) distributions in the venv so far"
    fi
  done
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    tail -n 40 -- "$pip_log" >&2
    die "pip install failed (exit $rc; log: $pip_log)"
  fi
  # A quick import check: the app factory and the CLI entry point must load.
  log "checking that superset imports"
  # (cachetools/rich: undeclared dependencies, see EXTRA_PINS)
  timeout -k 5 300 "$VENV/bin/python" -c 'import superset.app, superset.cli.main, gunicorn, psycopg2, cachetools, rich' \
    >>"$pip_log" 2>&1 || { tail -n 40 -- "$pip_log" >&2; die "import superset failed (log: $pip_log)"; }
  install_spec >"$INSTALL_STAMP"
  log "installed $SUPERSET_SPEC in $VENV: $(count_dists) distributions, $((($(now_ms) - t0) / 1000)) s"
}

# ---------------------------------------------------------------- init

# superset_env: the environment of the superset CLI and of the replicas.
superset_env() {
  export SUPERSET_CONFIG_PATH="$CONFIG"
  export FLASK_APP=superset
  export PATH="$VENV/bin:$PATH"
  export PYTHONUNBUFFERED=1
  unset SUPERSET_SECRET_KEY SUPERSET_HOME
}

psql_bin() {
  local b
  if b=$(command -v psql 2>/dev/null); then
    echo "$b"
  elif b=$(pg_bindir) && [[ -x "$b/psql" ]]; then
    echo "$b/psql"
  else
    die "no psql (install postgresql-client or run scripts/pg.sh start)"
  fi
}

# db_psql URI SQL: run SQL (bounded), print unaligned tuples-only output.
db_psql() {
  PGCONNECT_TIMEOUT=5 PGOPTIONS='-c client_min_messages=warning' timeout -k 2 60 "$(psql_bin)" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

ensure_secret() {
  if [[ -s "$SECRET_FILE" ]]; then
    chmod 600 -- "$SECRET_FILE"
    return 0
  fi
  log "generating the shared SECRET_KEY ($SECRET_FILE)"
  (umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' >"$SECRET_FILE.tmp")
  mv -f -- "$SECRET_FILE.tmp" "$SECRET_FILE"
}

# write_config URI: (re)write $CONFIG from the template when it differs.
write_config() {
  local uri=$1 new
  [[ -f "$CONFIG_TEMPLATE" ]] || die "missing template $CONFIG_TEMPLATE"
  mkdir -p -- "$SS_DIR/home"
  new=$(SHA_SECRET_KEY_FILE="$SECRET_FILE" SHA_DATABASE_URI="$uri" SHA_DATA_DIR="$SS_DIR/home" \
    "$VENV/bin/python" - "$CONFIG_TEMPLATE" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
def sub(m):
    return repr(os.environ[m.group(1)])
out = re.sub(r'"__(SHA_[A-Z_]+)__"', sub, text)
header = "# GENERATED by scripts/superset.sh init from config/superset_config.py: do not edit\n"
sys.stdout.write(header + out)
PY
) || die "rendering $CONFIG_TEMPLATE failed"
  if [[ ! -f "$CONFIG" || "$(<"$CONFIG")" != "$new" ]]; then
    printf '%s\n' "$new" >"$CONFIG.tmp"
    chmod 600 -- "$CONFIG.tmp"
    mv -f -- "$CONFIG.tmp" "$CONFIG"
    log "wrote $CONFIG (running replicas use it after a restart)"
  fi
}

pw_hash() { printf '%s' "$ADMIN_PASSWORD" | sha256sum | cut -c1-16; }

# db_state URI: "ALEMBIC_REV ADMIN_COUNT ADMIN_PERMS" of the metadata DB, or
# "- 0 0" when it has no Superset schema yet.
db_state() {
  local out
  out=$(db_psql "$1" "
    SELECT coalesce((SELECT version_num FROM alembic_version LIMIT 1), '-')
      || ' ' || (SELECT count(*) FROM ab_user WHERE username = 'admin')
      || ' ' || (SELECT count(*) FROM ab_permission_view_role pvr
                   JOIN ab_role r ON r.id = pvr.role_id WHERE r.name = 'Admin')" 2>/dev/null) || out=""
  echo "${out:-- 0 0}"
}

# superset_cli TIMEOUT ARGS...: run the superset CLI (bounded), output to the init log.
superset_cli() {
  local t=$1
  shift
  printf '===== %s superset %s\n' "$(date -Is)" "$1 ${2:-}" >>"$SS_DIR/init.log"
  (superset_env && cd "$SS_DIR" && exec timeout -k 10 "$t" superset "$@") \
    </dev/null >>"$SS_DIR/init.log" 2>&1 9>&-
}

cmd_init() {
  local t0 t uri want rev admins perms
  t0=$(now_ms)
  cmd_install
  "$REPO/scripts/pg.sh" start
  uri=$("$REPO/scripts/pg.sh" url)
  mkdir -p -- "$SS_DIR"
  chmod 700 -- "$SS_DIR"
  ensure_secret
  write_config "$uri"

  want=$(printf 'spec=%s\nuri=%s\nadmin=%s\n' "$SUPERSET_SPEC" "$uri" "$(pw_hash)")
  read -r rev admins perms <<<"$(db_state "$uri")"
  if [[ -f "$INIT_STAMP" && "$(<"$INIT_STAMP")" == "$want"$'\n'"alembic=$rev" ]] \
    && [[ "$rev" != - ]] && ((admins == 1 && perms > 0)); then
    log "metadata DB already initialised (alembic $rev, admin exists); $(($(now_ms) - t0)) ms"
    return 0
  fi
  rm -f -- "$INIT_STAMP"

  t=$(now_ms)
  log "superset db upgrade (cold: about a minute; log: $SS_DIR/init.log)"
  superset_cli 1200 db upgrade || { tail -n 40 -- "$SS_DIR/init.log" >&2; die "superset db upgrade failed"; }
  read -r rev admins perms <<<"$(db_state "$uri")"
  [[ "$rev" != - ]] || die "no alembic_version after superset db upgrade"
  log "  db upgrade done in $((($(now_ms) - t) / 1000)) s (alembic $rev)"

  t=$(now_ms)
  if ((admins == 0)); then
    log "superset fab create-admin --username admin"
    superset_cli 300 fab create-admin --username admin --firstname Superset --lastname Admin \
      --email admin@superset-ha.invalid --password "$ADMIN_PASSWORD" \
      || { tail -n 20 -- "$SS_DIR/init.log" >&2; die "superset fab create-admin failed"; }
  else
    # The user exists (an earlier init, maybe with another password): make the
    # password the configured one.
    log "user admin exists; superset fab reset-password --username admin"
    superset_cli 300 fab reset-password --username admin --password "$ADMIN_PASSWORD" \
      || { tail -n 20 -- "$SS_DIR/init.log" >&2; die "superset fab reset-password failed"; }
  fi
  read -r rev admins perms <<<"$(db_state "$uri")"
  ((admins == 1)) || { tail -n 20 -- "$SS_DIR/init.log" >&2; die "user admin missing after create-admin"; }
  log "  admin ready in $((($(now_ms) - t) / 1000)) s"

  t=$(now_ms)
  log "superset init (roles and permissions)"
  superset_cli 900 init || { tail -n 40 -- "$SS_DIR/init.log" >&2; die "superset init failed"; }
  read -r rev admins perms <<<"$(db_state "$uri")"
  ((perms > 0)) || die "role Admin has no permissions after superset init"
  log "  superset init done in $((($(now_ms) - t) / 1000)) s ($perms Admin permissions)"

  printf '%s\nalembic=%s\n' "$want" "$rev" >"$INIT_STAMP"
  log "init complete in $((($(now_ms) - t0) / 1000)) s"
}

# ---------------------------------------------------------------- replicas

check_index() {
  if ! [[ "${1:-}" =~ ^[0-9]+$ ]] || ((10#$1 >= MAX_REPLICAS)); then
    die "replica index must be 0..$((MAX_REPLICAS - 1)) (got '${1:-}')"
  fi
}
port_of()    { echo $((BASE_PORT + 10#$1)); }
pid_file()   { echo "$SS_DIR/replica-$1.pid"; }
log_file()   { echo "$SS_DIR/replica-$1.log"; }

# is_replica_proc PID PORT: a live gunicorn of our venv bound to PORT (master
# or worker: workers are forks and share the master's command line).
is_replica_proc() {
  local pid=$1 port=$2 args=() a gun=0 bind=0
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  ((${#args[@]} >= 2)) || return 1
  for a in "${args[@]:0:2}"; do
    [[ "$a" == "$VENV/bin/gunicorn" ]] && gun=1
  done
  for a in "${args[@]}"; do
    [[ "$a" == "127.0.0.1:$port" ]] && bind=1
  done
  ((gun && bind))
}

# replica_pids I: master first (if alive), then workers and orphans.
replica_pids() {
  local i=$1 port pf pid master="" f ppid
  local all=()
  port=$(port_of "$i")
  while IFS= read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    is_replica_proc "$pid" "$port" && all+=("$pid")
  done < <(grep -alF -- "127.0.0.1:$port" /proc/[0-9]*/cmdline 2>/dev/null || true)
  ((${#all[@]})) || return 0
  pf=$(pid_file "$i")
  if [[ -r "$pf" ]]; then
    pid=$(<"$pf") || pid=""
    for f in "${all[@]}"; do [[ "$f" == "$pid" ]] && master=$pid; done
  fi
  if [[ -z "$master" ]]; then
    # the one whose parent is not one of them
    for pid in "${all[@]}"; do
      ppid=$(ppid_of "$pid") || continue
      if [[ " ${all[*]} " != *" $ppid "* ]]; then
        master=$pid
        break
      fi
    done
  fi
  [[ -n "$master" ]] && echo "$master"
  for pid in "${all[@]}"; do [[ "$pid" != "$master" ]] && echo "$pid"; done
  return 0
}

# master_pid I: the live gunicorn master of replica I (its parent is not a
# gunicorn of the same replica), or return 1.
master_pid() {
  local pids=() ppid
  mapfile -t pids < <(replica_pids "$1")
  ((${#pids[@]})) || return 1
  is_zombie "${pids[0]}" && return 1
  ppid=$(ppid_of "${pids[0]}") || return 1
  is_replica_proc "$ppid" "$(port_of "$1")" && return 1
  echo "${pids[0]}"
}

# health_ok PORT: GET /health answers 200 with body OK (no cookies sent).
health_ok() {
  local out
  out=$(curl -sS --noproxy '*' --max-time 3 -w '\n%{http_code}' "http://127.0.0.1:$1/health" 2>/dev/null) \
    || return 1
  [[ "$out" == $'OK\n200' ]]
}

# port_answers PORT: something accepts TCP connections on 127.0.0.1:PORT.
# shellcheck disable=SC2016
port_answers() {
  timeout -k 1 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

replica_state() {
  local pid p
  pid=$(master_pid "$1") || { echo down; return 0; }
  for p in $(replica_pids "$1"); do
    is_paused_pid "$p" && { echo paused; return 0; }
  done
  echo up
}

# launch I: start replica I's gunicorn, detached (own session, no fds of ours).
launch() {
  local i=$1 port log pid
  port=$(port_of "$i")
  log=$(log_file "$i")
  if port_answers "$port"; then
    die "port $port (replica $i) is in use by a process that is not ours; stop it or set SHA_SUPERSET_BASE_PORT"
  fi
  if [[ -f "$log" ]] && (($(stat -c %s -- "$log") > 20 * 1024 * 1024)); then
    mv -f -- "$log" "$log.1"
  fi
  printf '===== %s superset.sh: starting replica %s on 127.0.0.1:%s =====\n' "$(date -Is)" "$i" "$port" >>"$log"
  (
    superset_env
    export SHA_SUPERSET_REPLICA=$i
    cd "$SS_DIR"
    # gthread: 2 processes x 4 threads suits 2 cores (the work is mostly I/O
    # waits on PostgreSQL); keep-alive 2 s is gunicorn's default, explicit
    # because the proxy's upstream idle timeout must stay below it.
    # Unlimited request line/field size as Superset's own images do (explore
    # URLs can be long).
    exec setsid "$VENV/bin/gunicorn" \
      --bind "127.0.0.1:$port" \
      --workers "$WORKERS" --worker-class gthread --threads "$THREADS" \
      --keep-alive 2 --timeout 120 --graceful-timeout 15 \
      --limit-request-line 0 --limit-request-field_size 0 \
      --access-logfile - \
      --access-logformat '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"' \
      --error-logfile - \
      "superset.app:create_app()"
  ) </dev/null >>"$log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$(pid_file "$i")"
  log "replica $i: started gunicorn (pid $pid) on 127.0.0.1:$port"
}

dump_log() {
  printf -- '----- %s (tail) -----\n' "$(log_file "$1")" >&2
  tail -n 40 -- "$(log_file "$1")" >&2 2>/dev/null || true
}

rss_kb() { # total RSS in kB of the given pids
  local p kb tot=0
  for p in "$@"; do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || kb=0
    tot=$((tot + ${kb:-0}))
  done
  echo "$tot"
}

# wait_healthy I...: wait (in parallel) until every given replica answers
# /health; print time to healthy and RSS per replica. Fails fast when a
# replica's master dies.
wait_healthy() {
  local -A t0=() left=()
  local i deadline pids=() all_ok=1
  for i in "$@"; do
    t0[$i]=$(now_ms)
    left[$i]=1
  done
  deadline=$(deadline_ms "$TIMEOUT")
  while ((${#left[@]})); do
    for i in "${!left[@]}"; do
      if health_ok "$(port_of "$i")"; then
        mapfile -t pids < <(replica_pids "$i")
        log "replica $i healthy on $(port_of "$i") after $(fmt_secs $(($(now_ms) - t0[$i]))) s (pids ${pids[*]}, RSS $(($(rss_kb "${pids[@]}") / 1024)) MiB)"
        unset "left[$i]"
      elif ! master_pid "$i" >/dev/null; then
        dump_log "$i"
        warn "replica $i: gunicorn exited before it was healthy"
        unset "left[$i]"
        all_ok=0
      fi
    done
    ((${#left[@]})) || break
    if (($(now_ms) > deadline)); then
      for i in "${!left[@]}"; do
        dump_log "$i"
        warn "replica $i not healthy after ${TIMEOUT}s"
      done
      return 1
    fi
    sleep 0.5
  done
  ((all_ok))
}

# ensure_ready: init done (config + stamp); if not, run init. The config is
# re-rendered from the template (no-op when unchanged; running replicas keep
# the old one until restarted).
ensure_ready() {
  if is_installed && [[ -f "$CONFIG" && -f "$INIT_STAMP" && -s "$SECRET_FILE" ]]; then
    write_config "$("$REPO/scripts/pg.sh" url)"
    superset_env
    return 0
  fi
  log "not initialised yet: running init first"
  cmd_init
  superset_env
}

# start_replicas I...: start the ones that are down, resume paused ones, wait.
start_replicas() {
  local i pid p todo=()
  ensure_ready
  for i in "$@"; do
    if pid=$(master_pid "$i"); then
      for p in $(replica_pids "$i"); do
        if is_paused_pid "$p"; then
          log "replica $i (pid $pid) was paused; resuming it"
          signal_replica CONT "$i"
          break
        fi
      done
      todo+=("$i")
      continue
    fi
    stop_replicas KILL "$i" # orphaned workers of a killed master, if any
    launch "$i"
    todo+=("$i")
  done
  # The launches are done: let other commands (e.g. kill-one of another
  # replica) run while we wait.
  exec 9>&-
  wait_healthy "${todo[@]}" || die "replica(s) not healthy: see $SS_DIR/replica-*.log"
}

# stop_replicas SIGNAL I...: SIGCONT, then SIGNAL (TERM: to the master, for a
# graceful stop; KILL: to master and workers); SIGKILL everything left after
# 20 s. Quiet and successful for replicas that are down.
stop_replicas() {
  local sig=$1 i p deadline left pids=()
  shift
  for i in "$@"; do
    mapfile -t pids < <(replica_pids "$i")
    ((${#pids[@]})) || continue
    if [[ "$sig" == KILL ]]; then
      for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
      log "replica $i: sent SIGKILL to ${pids[*]}"
    else
      for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
      kill -TERM "${pids[0]}" 2>/dev/null || true
      log "replica $i: sent SIGTERM to master ${pids[0]}"
    fi
  done
  deadline=$(deadline_ms 20)
  while :; do
    left=0
    for i in "$@"; do
      mapfile -t pids < <(replica_pids "$i")
      for p in "${pids[@]}"; do
        is_zombie "$p" || left=1
      done
    done
    ((left)) || break
    if (($(now_ms) > deadline)); then
      if [[ "$sig" == KILL ]]; then
        die "replica processes still alive 20 s after SIGKILL"
      fi
      warn "replica(s) did not stop within 20 s; SIGKILL"
      sig=KILL
      for i in "$@"; do
        for p in $(replica_pids "$i"); do kill -KILL "$p" 2>/dev/null || true; done
      done
      deadline=$(deadline_ms 20)
    fi
    sleep 0.1
  done
  for i in "$@"; do rm -f -- "$(pid_file "$i")"; done
}

# signal_replica STOP|CONT I: pause or resume master and workers. For STOP the
# master goes first (so it forks no new worker).
signal_replica() {
  local sig=$1 i=$2 pid
  pid=$(master_pid "$i") || die "replica $i is not running"
  [[ "$sig" == STOP ]] && kill -STOP "$pid"
  signal_settled "$sig" "replica $i" replica_pids "$i"
}

# known_replicas: indexes with a pid/log file or a running gunicorn of our venv.
known_replicas() {
  local f n pid args=() a
  {
    for f in "$SS_DIR"/replica-*.log "$SS_DIR"/replica-*.pid; do
      [[ -e "$f" ]] || continue
      n=${f##*/replica-}
      n=${n%.*}
      [[ "$n" =~ ^[0-9]+$ ]] && echo "$n"
    done
    while IFS= read -r f; do
      pid=${f#/proc/}
      pid=${pid%/cmdline}
      mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline" || continue
      for a in "${args[@]}"; do
        if [[ "$a" =~ ^127\.0\.0\.1:([0-9]+)$ ]]; then
          n=$((BASH_REMATCH[1] - BASE_PORT))
          ((n >= 0 && n < MAX_REPLICAS)) && is_replica_proc "$pid" "${BASH_REMATCH[1]}" && echo "$n"
        fi
      done
    done < <(grep -alF -- "$VENV/bin/gunicorn" /proc/[0-9]*/cmdline 2>/dev/null || true)
  } | sort -un
}

cmd_status() {
  local i pid n=${1:-0}
  for i in $( (known_replicas && if ((n > 0)); then seq 0 $((n - 1)); fi) | sort -un); do
    pid=$(master_pid "$i") || pid=-
    echo "$i port=$(port_of "$i") pid=$pid state=$(replica_state "$i")"
  done
}

# ---------------------------------------------------------------- seed

ANALYTICS_URI="postgresql://analytics:analytics@127.0.0.1:${SHA_PG_PORT:-25432}/analytics"

# seed_table: analytics.public.sales, 120 deterministic rows (rebuilt only
# when the row count is not 120).
seed_table() {
  local n
  n=$(db_psql "$ANALYTICS_URI" "SELECT count(*) FROM sales" 2>/dev/null) || n=0
  if [[ "$n" == 120 ]]; then
    log "analytics.sales already has 120 rows"
    return 0
  fi
  log "creating analytics.sales (120 rows)"
  db_psql "$ANALYTICS_URI" "
    BEGIN;
    DROP TABLE IF EXISTS sales;
    CREATE TABLE sales (day date NOT NULL, region text NOT NULL, amount numeric(12,2) NOT NULL);
    INSERT INTO sales (day, region, amount)
      SELECT date '2024-01-01' + d, r,
             round((100 + (d * 37 + length(r) * 11) % 400 + d * 1.5)::numeric, 2)
      FROM generate_series(0, 29) AS d,
           unnest(ARRAY['north', 'south', 'east', 'west']) AS r;
    COMMIT;" >/dev/null || die "creating analytics.sales failed"
}

cmd_seed() {
  local url=${1:-}
  [[ -n "$url" ]] || url="http://127.0.0.1:$(port_of 0)"
  is_installed || die "Superset is not installed: scripts/superset.sh init first"
  curl -sSf --noproxy '*' --max-time 5 -o /dev/null "$url/health" \
    || die "no Superset answers at $url/health (scripts/superset.sh start 1)"
  seed_table
  SHA_SUPERSET_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    "$VENV/bin/python" "$REPO/scripts/superset_seed.py" \
    --url "$url" --analytics-uri "$ANALYTICS_URI" --out "$SS_DIR/chart-data.json"
}

# ---------------------------------------------------------------- dispatch

cmd=${1:-}
[[ $# -gt 0 ]] && shift

case "$cmd" in
  install)
    LOCK_WAIT_S=3600 take_lock
    cmd_install
    ;;
  init)
    LOCK_WAIT_S=3600 take_lock
    cmd_init
    ;;
  start)
    n=${1:-}
    if ! [[ "$n" =~ ^[0-9]+$ ]] || ((10#$n < 1 || 10#$n > MAX_REPLICAS)); then
      die "usage: superset.sh start N (1..$MAX_REPLICAS)"
    fi
    take_lock
    mapfile -t idx < <(seq 0 $((10#$n - 1)))
    start_replicas "${idx[@]}"
    ;;
  start-one)
    check_index "${1:-}"
    take_lock
    start_replicas "$((10#$1))"
    ;;
  stop)
    take_lock
    mapfile -t idx < <(known_replicas)
    ((${#idx[@]} == 0)) || stop_replicas TERM "${idx[@]}"
    ;;
  stop-one | kill-one)
    check_index "${1:-}"
    take_lock
    if [[ "$cmd" == stop-one ]]; then stop_replicas TERM "$((10#$1))"; else stop_replicas KILL "$((10#$1))"; fi
    ;;
  pause-one | resume-one)
    check_index "${1:-}"
    take_lock
    if [[ "$cmd" == pause-one ]]; then signal_replica STOP "$((10#$1))"; else signal_replica CONT "$((10#$1))"; fi
    log "replica $((10#$1)): ${cmd%-one}d"
    ;;
  status)
    if [[ -n "${1:-}" ]] && ! [[ "$1" =~ ^[0-9]+$ && "$1" -le "$MAX_REPLICAS" ]]; then
      die "usage: superset.sh status [N]"
    fi
    cmd_status "${1:-0}"
    ;;
  url)
    check_index "${1:-}"
    echo "http://127.0.0.1:$(port_of "$((10#$1))")"
    ;;
  env)
    printf 'export SUPERSET_CONFIG_PATH=%q\n' "$CONFIG"
    printf 'export FLASK_APP=superset\n'
    # shellcheck disable=SC2016  # $PATH is for the shell that evals this
    printf 'export PATH=%q:"$PATH"\n' "$VENV/bin"
    ;;
  seed)
    cmd_seed "${1:-}"
    ;;
  "" | -h | --help | help)
    print_usage
    [[ -n "$cmd" ]] || exit 2
    ;;
  *) die "unknown command '$cmd' (try: superset.sh help)" ;;
esac
