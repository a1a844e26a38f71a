#!/usr/bin/env bash
# Installs the npm dependencies (Node 24 itself comes as the `node` devDependency) when package-lock.json
# changed since the last install; a no-op otherwise. Runs with whatever npm the machine has.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=node_modules/.superset-ha-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x node_modules/.bin/node ]]; then
  exit 0
fi
command -v npm >/dev/null || { echo "[ensure-npm] npm is required (apt-get install npm, or any Node >= 18 with npm)" >&2; exit 1; }
echo "[ensure-npm] npm ci" >&2
npm ci --no-audit --no-fund >&2
node_modules/.bin/node --version >/dev/null
echo "$want" > "$stamp"
