#!/usr/bin/env bash
# Runs every Herald test. Installs libhiredis-dev, redis-server, Debian's chromium and chromedriver
# when missing, and the fault, transport and browser tests' Python packages into .venv/; the
# integration tests, the transport, browser and fault tests start their own redis-server and
# edge-node (and HAProxy) processes on free loopback ports and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-redis --with-chromium
# The fault, transport and browser tests' Python packages go into .venv/ before any test starts.
scripts/install-python-deps.sh
export HERALD_REDIS_SERVER="${HERALD_REDIS_SERVER:-$(command -v redis-server)}"
swift build --build-tests
swift test --skip-build "$@"

# Upstream end to end: the example inbox worker against Redis and two edge-node processes, a worker
# killed mid-batch, and HTTP mode on the embedded broker (Tests/Upstream/inbox_e2e.py, ~20 s).
.venv/bin/python Tests/Upstream/inbox_e2e.py --edge-node .build/debug/edge-node
# SSE and Socket.IO against real clients: python-socketio, curl, Chromium's EventSource (about
# 40 s; Tests/Transports/README.md).
HERALD_EDGE_NODE=.build/debug/edge-node scripts/transports.sh

# herald.js: its unit tests under Node, then real Chromium against 3 nodes, Redis and HAProxy
# (about two minutes; Tests/Browser/README.md).
HERALD_EDGE_NODE=.build/debug/edge-node scripts/browser.sh

# The randomized fault test in its short form (about a minute; Tests/Fault/README.md). It prints its
# seed; HERALD_FAULT_SEED repeats a run.
HERALD_EDGE_NODE=.build/debug/edge-node scripts/fault.sh --smoke ${HERALD_FAULT_SEED:+--seed "$HERALD_FAULT_SEED"}

bash deploy/validate.sh

# Fuzzing: every libFuzzer target (fuzz/, address sanitizer) for a short bounded time; the long
# form and the figures are in docs/reliability.md.
scripts/fuzz.sh --seconds "${HERALD_FUZZ_SECONDS:-10}"

# Load tool: build and test swarm (its own package under loadtest/), then every benchmark
# scenario in its few-second --smoke form against the debug builds made above. Scenarios that
# need HAProxy, Nchan or the Centrifuge peer (Debian's Go and Centrifuge packages) install them
# with apt-get when missing.
(cd loadtest && swift build && swift test)
for scenario in idle fanout hot storm floor versus soak; do
  HERALD_BUILD=debug loadtest/scenarios/"$scenario".sh --smoke
done
.venv/bin/python loadtest/scenarios/upstream_bench.py --edge-node .build/debug/edge-node --smoke
