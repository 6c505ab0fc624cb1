#!/usr/bin/env bash
# Herald's randomized fault test (Tests/Fault/README.md): a real redis-server and 3 edge nodes on
# free loopback ports, clients on several accounts, publishes with history while pub/sub links are
# killed, Redis is paused and restarted, nodes are drained and killed and clients are dropped; then
# every client's deliveries are checked. Seeded: it prints its seed, and --seed N repeats the run.
#
#   scripts/fault.sh --smoke               # the short form scripts/test.sh runs (about a minute)
#   scripts/fault.sh --duration 600        # the long form (docs/reliability.md)
#   scripts/fault.sh --seed 1234 --smoke   # repeat a run
#
# Any other option goes to Tests/Fault/fault_run.py (--help lists them). The node binary is
# $HERALD_EDGE_NODE (default .build/debug/edge-node, built here when missing); redis-server is
# $HERALD_REDIS_SERVER or the one on PATH. Exit status: 0 no violation, 1 violations, 2 harness error.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-python-deps.sh
export HERALD_EDGE_NODE="${HERALD_EDGE_NODE:-.build/debug/edge-node}"
if [[ ! -x "$HERALD_EDGE_NODE" && "$HERALD_EDGE_NODE" == .build/debug/edge-node ]]; then
  swift build --product edge-node
fi
export HERALD_REDIS_SERVER="${HERALD_REDIS_SERVER:-$(command -v redis-server || true)}"
if [[ -z "$HERALD_REDIS_SERVER" ]]; then
  scripts/install-deps.sh --with-redis
  HERALD_REDIS_SERVER=$(command -v redis-server)
fi
exec .venv/bin/python -u Tests/Fault/fault_run.py "$@"
