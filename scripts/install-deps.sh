#!/usr/bin/env bash
# Install (idempotently) the Debian packages the real-parts tests need:
# a JRE, ZooKeeper, PostgreSQL, Redis, Chromium, plus any extra package names given as args.
#   scripts/install-deps.sh                 # java + zookeeper + postgresql + redis + chromium
#   scripts/install-deps.sh nginx haproxy   # ... and these too
# A fast no-op when everything is present. Starts no service: our ZooKeeper
# and PostgreSQL are run by scripts/zk.sh and scripts/pg.sh on their own ports.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ensure_java
ensure_zookeeper
ensure_postgres
# Redis: the Celery broker of the elector tests and the target of the Redis dependency check (scripts/redis.sh).
apt_install redis-server redis-tools
# Headless Chromium: test/drills/report-browser.test.ts opens the drill report in it (via playwright-core).
apt_install chromium
if (($# > 0)); then
  apt_install "$@"
fi
