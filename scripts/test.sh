#!/usr/bin/env bash
# The README's test command. On a fresh machine it installs what the tests need (Debian packages, npm
# packages including Node 24), then runs typecheck, lint and every test: unit tests and the integration
# tests against a real 3-node ZooKeeper ensemble and a real PostgreSQL, which it starts itself.
# Its last line is the plain count "N passed, N failed", read from vitest's JSON report.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh
scripts/ensure-npm.sh
# promtool/prometheus, buildah, hadolint, docker compose: the deploy/ checks (test/deploy, test/integration)
scripts/deploy-tools.sh install >/dev/null
# kube-apiserver & co. for test/integration/kubernetes.test.ts, from the Go module proxy: built once and
# cached by version (cold: about ten minutes of CPU on 2 cores), a no-op afterwards
scripts/kube-build.sh >/dev/null
mkdir -p .run
report=.run/vitest-report.json
rm -f "$report"
status=0
npm test -- --reporter=default --reporter=json --outputFile.json="$report" || status=$?
if [[ -s "$report" ]]; then
  # shellcheck disable=SC2016  # JavaScript, not shell
  node_modules/.bin/node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$report"
else
  # typecheck or lint failed before any test ran
  echo "0 passed, 1 failed"
fi
exit "$status"
