#!/usr/bin/env bash
# Herald's SSE and Socket.IO transports against real clients (Tests/Transports/README.md): a real
# redis-server and two edge nodes on free loopback ports; the python-socketio client (polling with
# the upgrade, WebSocket only, polling only), SSE over raw HTTP and curl, and Chromium's
# EventSource driven by Selenium with Debian's chromium and chromedriver. About a minute.
#
#   scripts/transports.sh                 # every test
#   scripts/transports.sh --only sse      # the tests whose name contains "sse"
#
# The node binary is $HERALD_EDGE_NODE (default .build/debug/edge-node, built here when missing);
# redis-server is $HERALD_REDIS_SERVER or the one on PATH. Exit status: 0 all passed, 1 a test
# failed, 2 the harness could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-redis --with-chromium
scripts/install-python-deps.sh
export HERALD_EDGE_NODE="${HERALD_EDGE_NODE:-.build/debug/edge-node}"
if [[ ! -x "$HERALD_EDGE_NODE" && "$HERALD_EDGE_NODE" == .build/debug/edge-node ]]; then
  swift build --product edge-node
fi
export HERALD_REDIS_SERVER="${HERALD_REDIS_SERVER:-$(command -v redis-server)}"
exec .venv/bin/python -u Tests/Transports/transports_run.py "$@"
