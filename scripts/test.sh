#!/usr/bin/env bash
# Runs every Herald test. Installs libhiredis-dev and redis-server when missing; the
# integration tests start their own redis-server processes on free loopback ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-redis
export HERALD_REDIS_SERVER="${HERALD_REDIS_SERVER:-$(command -v redis-server)}"
swift build --build-tests
swift test --skip-build "$@"
bash deploy/validate.sh

# Load tool: build and test swarm (its own package under loadtest/), then every benchmark
# scenario in its few-second --smoke form against the debug builds made above. Scenarios that
# need HAProxy or Nchan install them with apt-get when missing.
(cd loadtest && swift build && swift test)
for scenario in idle fanout hot storm floor versus; do
  HERALD_BUILD=debug loadtest/scenarios/"$scenario".sh --smoke
done
