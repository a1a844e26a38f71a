#!/usr/bin/env bash
# Look at Superset as a person would, through a superset-ha sidecar: headless Chromium logs in as
# admin, opens the dashboard list and the seeded "Sales" dashboard, and screenshots both.
#   scripts/ui-check.sh [BASE_URL] [OUT_DIR]
#     BASE_URL  a sidecar's proxy (default http://127.0.0.1:28080: the demo's first sidecar)
#     OUT_DIR   where dashboard-list.png and dashboard.png go (default .run/ui)
# Needs a running demo (scripts/demo.sh). Installs Debian's chromium and the npm packages if
# missing; Playwright's own browser download is not used. Exits non-zero if a step fails.
# Environment: see scripts/ui-check.ts (SHA_SUPERSET_ADMIN_PASSWORD, SHA_UI_STRICT=1, ...).
set -euo pipefail
SHA_LOG_PREFIX=ui-check
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

BASE_URL=${1:-http://127.0.0.1:28080}
OUT_DIR=$(realpath -m -- "${2:-$REPO/.run/ui}")

scripts/install-deps.sh chromium
NODE="$REPO/node_modules/.bin/node"
scripts/ensure-npm.sh
export PATH="$REPO/node_modules/.bin:$PATH"
# Playwright must never try to download a browser of its own here.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
exec "$NODE" scripts/ui-check.ts "$BASE_URL" "$OUT_DIR"
