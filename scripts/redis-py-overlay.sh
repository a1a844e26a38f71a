#!/usr/bin/env bash
# A redis-py that Celery's Redis transport accepts, in a directory of its own to put first on PYTHONPATH
# when running Celery from the Superset venv; prints that directory.
#
# Why: apache-superset 6.1.0 from PyPI pins redis<6, while the celery/kombu that pip resolves for it (5.7)
# refuse a Redis broker below redis-py 6.4 ("Redis transport requires redis-py versions 6.1.0 or later").
# The venv itself is left untouched; the overlay is installed (idempotently) with the venv's own pip.
#
# Usage: scripts/redis-py-overlay.sh
#
# Environment:
#   SHA_RUN_DIR         state dir (default $REPO/.run); the overlay goes to $RUN_DIR/redis-py-<version>
#   SHA_SUPERSET_VENV   the Superset venv (default $RUN_DIR/superset-venv)
set -euo pipefail
SHA_LOG_PREFIX=redis-py-overlay.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  "") ;;
  -h | --help | help) print_usage; exit 0 ;;
  *) die "unknown argument '$1' (try: redis-py-overlay.sh help)" ;;
esac

VERSION=6.4.0
VENV="${SHA_SUPERSET_VENV:-$RUN_DIR/superset-venv}"
DIR="$RUN_DIR/redis-py-$VERSION"
LOCK_FILE="$RUN_DIR/redis-py-overlay.lock"
[[ -x "$VENV/bin/pip" ]] || die "no pip in $VENV (run scripts/superset.sh install first)"
if [[ ! -f "$DIR/.complete" ]]; then
  take_lock
  if [[ ! -f "$DIR/.complete" ]]; then
    rm -rf -- "$DIR.tmp"
    log "pip install redis==$VERSION into $DIR"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$DIR.tmp" "redis==$VERSION" >&2 \
      || die "pip install redis==$VERSION failed"
    rm -rf -- "$DIR"
    mv -- "$DIR.tmp" "$DIR"
    touch -- "$DIR/.complete"
  fi
fi
echo "$DIR"
