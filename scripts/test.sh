#!/usr/bin/env bash
# Runs every Herald test. Installs libhiredis-dev and redis-server when missing; the
# integration tests start their own redis-server processes on free loopback ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-redis
export HERALD_REDIS_SERVER="${HERALD_REDIS_SERVER:-$(command -v redis-server)}"
swift build --build-tests
swift test --skip-build "$@"
