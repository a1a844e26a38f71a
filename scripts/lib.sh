#!/usr/bin/env bash
# Shared helpers for the superset-ha scripts. Source it, do not run it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Environment:
#   SHA_RUN_DIR   where run-time state (data, logs, pid files) goes; default $REPO/.run
# shellcheck shell=bash

if [[ -n "${_SHA_LIB_LOADED:-}" ]]; then
  return 0
fi
_SHA_LIB_LOADED=1

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# Absolute, so that paths written into configs and matched against
# /proc/PID/cmdline never depend on the caller's working directory.
RUN_DIR="$(realpath -m -- "${SHA_RUN_DIR:-$REPO/.run}")"
export REPO RUN_DIR

# Prefix for log lines; scripts may set SHA_LOG_PREFIX before sourcing.
: "${SHA_LOG_PREFIX:=$(basename -- "$0")}"

log()  { printf '[%s] %s\n' "$SHA_LOG_PREFIX" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$SHA_LOG_PREFIX" "$*" >&2; }
die()  { printf '[%s] ERROR: %s\n' "$SHA_LOG_PREFIX" "$*" >&2; exit 1; }

# now_ms: monotonic-enough wall clock in milliseconds (for bounded waits).
now_ms() { local t; t=$(date +%s%N); printf '%s\n' "$((t / 1000000))"; }

# deadline_ms SECONDS: the now_ms value SECONDS from now.
deadline_ms() { echo $(($(now_ms) + $1 * 1000)); }

# proc_state PID: the one-letter state from /proc/PID/stat (T = stopped, Z = zombie).
proc_state() {
  local s
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  s=${s##*) }
  echo "${s%% *}"
}

# is_paused_pid PID: true if PID is stopped (SIGSTOP).
is_paused_pid() {
  local st
  st=$(proc_state "$1") || return 1
  [[ "$st" == T || "$st" == t ]]
}

# ppid_of PID: the parent's pid, from /proc/PID/stat.
ppid_of() {
  local s
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  s=${s##*) }
  s=${s#* }
  echo "${s%% *}"
}

# is_zombie PID: true if PID is a zombie or already gone (nothing left to signal).
is_zombie() {
  local st
  st=$(proc_state "$1") || return 0
  [[ "$st" == Z || "$st" == X ]]
}

# signal_settled STOP|CONT WHAT LIST_CMD [ARG...]: signal the processes LIST_CMD prints, in its order,
# then list again and re-signal any not yet stopped (STOP) or still stopped (CONT), until none is left,
# within 5 s. Listing again catches a child forked before its parent was stopped.
signal_settled() {
  local sig=$1 what=$2 deadline p again pids=()
  shift 2
  deadline=$(deadline_ms 5)
  while :; do
    again=0
    mapfile -t pids < <("$@")
    for p in "${pids[@]}"; do
      is_zombie "$p" && continue
      if [[ "$sig" == STOP ]] && ! is_paused_pid "$p"; then
        kill -STOP "$p" 2>/dev/null || true
        again=1
      elif [[ "$sig" == CONT ]] && is_paused_pid "$p"; then
        kill -CONT "$p" 2>/dev/null || true
        again=1
      fi
    done
    ((again)) || break
    (($(now_ms) > deadline)) && die "could not SIG$sig every $what process"
    sleep 0.02
  done
}

# env_int NAME DEFAULT MIN MAX: the integer in environment variable NAME (DEFAULT when unset), or die
# naming the variable when it is not an integer within MIN..MAX.
env_int() {
  local v=${!1:-$2}
  if ! [[ "$v" =~ ^[0-9]+$ ]] || ((10#$v < $3 || 10#$v > $4)); then
    die "bad $1: '$v' (an integer from $3 to $4)"
  fi
  echo $((10#$v))
}

# take_lock: serialise a script's state-changing commands on $LOCK_FILE (fd 9, which scripts close for
# the servers they start), waiting at most $LOCK_WAIT_S seconds [120].
take_lock() {
  mkdir -p -- "$(dirname -- "$LOCK_FILE")"
  exec 9>"$LOCK_FILE"
  flock -w "${LOCK_WAIT_S:-120}" 9 || die "timed out waiting for $LOCK_FILE"
}

# print_usage: a script's usage, i.e. its header comment (line 2 up to "set -euo"), on stderr.
print_usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
}

# print_status PORT [PID]: the status line of a one-server script (running, paused or down).
print_status() {
  local state=running
  if [[ -z "${2:-}" ]]; then
    echo "port=$1 pid=- state=down"
    return
  fi
  is_paused_pid "$2" && state=paused
  echo "port=$1 pid=$2 state=$state"
}

# pkg_installed PKG: true if dpkg considers PKG installed.
pkg_installed() {
  local st
  st=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
  [[ "$st" == installed ]]
}

# _apt_update: apt-get update, at most once per invocation (exported to
# child scripts so a script calling another one does not update twice).
_apt_update() {
  if [[ "${_SHA_APT_UPDATED:-}" == 1 ]]; then
    return 0
  fi
  log "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get -q \
    -o DPkg::Lock::Timeout=300 update >&2
  _SHA_APT_UPDATED=1
  export _SHA_APT_UPDATED
}

# _apt_candidate_missing PKG...: true if some PKG has no install candidate
# in the current package lists (so an update is needed first).
_apt_candidate_missing() {
  local p cand
  for p in "$@"; do
    cand=$(apt-cache policy -- "$p" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
    if [[ -z "$cand" || "$cand" == "(none)" ]]; then
      return 0
    fi
  done
  return 1
}

# apt_install PKG...: install the packages that are not installed yet.
# No-op (no apt, no lock) when all are present. Runs apt-get update only if
# the package lists lack a candidate, or if the install failed once without it.
# Serialised with a lock so that concurrent callers do not fight over dpkg.
apt_install() {
  local p missing=()
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    die "need root to install: ${missing[*]}"
  fi
  (
    # fd 8 only lives in this subshell; installs start no processes of ours.
    exec 8>/var/lock/superset-ha-apt.lock
    flock -w 600 8 || die "timed out waiting for /var/lock/superset-ha-apt.lock"
    local todo=() q
    for q in "${missing[@]}"; do
      pkg_installed "$q" || todo+=("$q")
    done
    if ((${#todo[@]} == 0)); then
      exit 0
    fi
    # Keep Debian's maintainer scripts from starting system services (e.g. the
    # packaged postgresql cluster on 5432, nginx on 80) while we install.
    # Only if the machine has no policy of its own; removed afterwards.
    local own_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      own_policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\n# temporary, written by superset-ha scripts/lib.sh\nexit 101\n' >"$own_policy"
      chmod 755 "$own_policy"
      # shellcheck disable=SC2064  # expand now: the path is fixed
      trap "rm -f '$own_policy'" EXIT
    fi
    if _apt_candidate_missing "${todo[@]}"; then
      _apt_update
    fi
    log "apt-get install ${todo[*]}"
    local opts=(-q -y --no-install-recommends -o DPkg::Lock::Timeout=300)
    if ! DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -- "${todo[@]}" >&2; then
      if [[ "${_SHA_APT_UPDATED:-}" == 1 ]]; then
        die "apt-get install ${todo[*]} failed"
      fi
      _apt_update
      DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -- "${todo[@]}" >&2 \
        || die "apt-get install ${todo[*]} failed"
    fi
  ) || exit 1
  # The subshell's update is not visible here; installing succeeded, so a
  # later apt_install in this invocation will only update if it must.
}

# ensure_java: a java on PATH (a JRE from Debian if there is none).
ensure_java() {
  if ! command -v java >/dev/null 2>&1; then
    apt_install default-jre-headless
    command -v java >/dev/null 2>&1 || die "java still not on PATH after installing default-jre-headless"
  fi
}

# ensure_zookeeper: Debian's ZooKeeper jars (no service is started by it).
ensure_zookeeper() {
  ensure_java
  apt_install zookeeper
  [[ -f /usr/share/java/zookeeper.jar ]] || die "/usr/share/java/zookeeper.jar missing after installing zookeeper"
}

# ensure_postgres: Debian's PostgreSQL server binaries.
ensure_postgres() {
  apt_install postgresql
  pg_bindir >/dev/null || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
}

# pg_bindir: newest /usr/lib/postgresql/<ver>/bin that has a postgres binary.
pg_bindir() {
  local d best="" bestv=-1 v
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_ctl" ]] || continue
    v=$(basename -- "$(dirname -- "$d")")
    v=${v%%.*}
    [[ "$v" =~ ^[0-9]+$ ]] || continue
    if ((v > bestv)); then
      bestv=$v
      best=$d
    fi
  done
  [[ -n "$best" ]] || return 1
  printf '%s\n' "$best"
}

# ensure_traversable DIR: mkdir -p and make sure every ancestor of DIR can be
# traversed by other users (postgres runs as its own OS user).
ensure_traversable() {
  local dir p
  dir=$(realpath -m -- "$1")
  mkdir -p -- "$dir"
  p=$dir
  while [[ "$p" != / && -n "$p" ]]; do
    if [[ $(( 0$(stat -c '%a' -- "$p") & 1 )) -eq 0 ]]; then
      warn "adding o+x to $p so that other users can traverse it"
      chmod o+x -- "$p"
    fi
    p=$(dirname -- "$p")
  done
}
