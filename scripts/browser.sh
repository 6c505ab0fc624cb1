#!/usr/bin/env bash
# herald.js in real Chromium (Tests/Browser/README.md): Redis, 3 edge nodes and HAProxy on free
# loopback ports (deploy/local/cluster.sh), headless Debian chromium driven by Selenium through
# Debian's chromedriver, and herald.js's own unit tests under Node (node --test). About two minutes.
#
#   scripts/browser.sh                          # every test
#   scripts/browser.sh --only typing            # the Chromium tests whose name contains "typing"
#   scripts/browser.sh --only console --screenshot docs/console.png   # refresh the console screenshot
#
# The node binary is $HERALD_EDGE_NODE (default .build/debug/edge-node, built here when missing).
# Exit status: 0 all passed (or skipped), 1 a test failed, 2 the harness could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-redis --with-chromium
scripts/install-python-deps.sh
export HERALD_EDGE_NODE="${HERALD_EDGE_NODE:-.build/debug/edge-node}"
if [[ ! -x "$HERALD_EDGE_NODE" && "$HERALD_EDGE_NODE" == .build/debug/edge-node ]]; then
  swift build --product edge-node
fi
# The unit tests use node:test's mocked timers and clock (Node >= 20).
if [[ "$(node -p 'process.versions.node.split(".")[0] >= 20' 2>/dev/null)" == true ]]; then
  node --test clients/js/test/
else
  echo "Node >= 20 not found: herald.js's unit tests skipped (the Chromium tests below still run)" >&2
fi
exec .venv/bin/python -u Tests/Browser/browser_run.py "$@"
