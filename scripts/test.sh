#!/usr/bin/env bash
# Runs every Herald test. Installs libhiredis-dev and redis-server when missing, and the fault
# test's Python packages into .venv/; the integration tests and the fault test start their own
# redis-server and edge-node processes on free loopback ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-redis
# The fault test's Python packages go into .venv/ before any test starts.
scripts/install-python-deps.sh
export HERALD_REDIS_SERVER="${HERALD_REDIS_SERVER:-$(command -v redis-server)}"
swift build --build-tests
swift test --skip-build "$@"

# The randomized fault test in its short form (about a minute; Tests/Fault/README.md). It prints its
# seed; HERALD_FAULT_SEED repeats a run.
HERALD_EDGE_NODE=.build/debug/edge-node scripts/fault.sh --smoke ${HERALD_FAULT_SEED:+--seed "$HERALD_FAULT_SEED"}

bash deploy/validate.sh

# Fuzzing: every libFuzzer target (fuzz/, address sanitizer) for a short bounded time; the long
# form and the figures are in docs/reliability.md.
scripts/fuzz.sh --seconds "${HERALD_FUZZ_SECONDS:-10}"

# Load tool: build and test swarm (its own package under loadtest/), then every benchmark
# scenario in its few-second --smoke form against the debug builds made above. Scenarios that
# need HAProxy or Nchan install them with apt-get when missing.
(cd loadtest && swift build && swift test)
for scenario in idle fanout hot storm floor versus soak; do
  HERALD_BUILD=debug loadtest/scenarios/"$scenario".sh --smoke
done
