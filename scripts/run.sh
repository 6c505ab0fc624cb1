#!/usr/bin/env bash
# Runs one Herald edge node for development: embedded broker unless HERALD_REDIS_URL (or HERALD_REDIS_CLUSTER_NODES) is set.
# Installs libhiredis-dev when missing, builds, prints how to connect, then serves in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
configuration="${HERALD_BUILD:-debug}"
swift build -c "$configuration" --product edge-node >&2
bin="$(swift build -c "$configuration" --show-bin-path)/edge-node"

# The development secret and key below are refused by the node outside development mode.
if [[ -z "${HERALD_JWT_SECRET:-}" || -z "${HERALD_API_KEYS:-}" ]]; then export HERALD_DEVELOPMENT=true; fi
export HERALD_JWT_SECRET="${HERALD_JWT_SECRET:-dev-secret-change-me-0123456789abcdef}"
export HERALD_API_KEYS="${HERALD_API_KEYS:-dev-api-key}"
export HERALD_LISTEN="${HERALD_LISTEN:-0.0.0.0:8080}"
# The live console at /console (clients/console, built on herald.js): on for development.
export HERALD_CONSOLE="${HERALD_CONSOLE:-true}"
port="${HERALD_LISTEN##*:}"
token="$("$bin" token --account 42 --user alice --channels '*')"
cat <<INFO

Herald edge node on port $port ($(if [[ -n "${HERALD_REDIS_URL:-}" ]]; then echo "Redis: $HERALD_REDIS_URL"; elif [[ -n "${HERALD_REDIS_CLUSTER_NODES:-}" ]]; then echo "Redis Cluster: ${HERALD_REDIS_CLUSTER_NODES##*@}"; else echo "embedded broker, no Redis"; fi)).
  Connect:   ws://127.0.0.1:$port/ws?token=$token
  Console:   http://127.0.0.1:$port/console#token=$token
  Publish:   curl -s -X POST http://127.0.0.1:$port/api/v1/publish \\
               -H 'Authorization: Bearer $HERALD_API_KEYS' -H 'Content-Type: application/json' \\
               -d '{"account":"42","type":"message.new","data":{"id":1}}'
  Token:     $bin token --account 42 --user bob --secret "\$HERALD_JWT_SECRET"
  Health:    curl -s http://127.0.0.1:$port/readyz
Dev secret and API key are for local use only; set HERALD_JWT_SECRET and HERALD_API_KEYS yourself elsewhere.

INFO
exec "$bin" "$@"
