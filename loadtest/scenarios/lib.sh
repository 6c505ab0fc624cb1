#!/usr/bin/env bash
# Shared pieces of the swarm scenarios: free ports, Redis, edge nodes, builds, cleanup.
# Every process a scenario starts is recorded in STARTED_PIDS and stopped by the EXIT trap;
# the temp dir it made is removed. Nothing else is touched.
set -euo pipefail

LOADTEST_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$LOADTEST_DIR/.." && pwd)"
HERALD_BUILD="${HERALD_BUILD:-release}"
SWARM_BUILD="${SWARM_BUILD:-$HERALD_BUILD}"
SECRET="${HERALD_JWT_SECRET:-swarm-scenario-secret-0123456789abcdef}"
API_KEY="swarm-scenario-key"
SMOKE=0
STARTED_PIDS=()
WORK_DIR="$(mktemp -d /tmp/swarm-scenario.XXXXXX)"

for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
  esac
done

log() { echo "[$(basename "$0" .sh)] $*" >&2; }

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  case "$WORK_DIR" in /tmp/swarm-scenario.*) rm -rf -- "$WORK_DIR" ;; esac
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_for() {  # wait_for <seconds> <command...>
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && { log "timed out waiting for: $*"; return 1; }
    sleep 0.1
  done
}

# Builds a package with retries: others may be editing or building the root package.
build_with_retry() {  # build_with_retry <dir> <swift build args...>
  local dir="$1"; shift
  local attempt
  for attempt in 1 2 3; do
    if (cd "$dir" && swift build "$@" >&2); then return 0; fi
    log "build in $dir failed (attempt $attempt); retrying in 60 s"
    sleep 60
  done
  return 1
}

# HERALD_SKIP_BUILD=1 uses the edge-node binary already built (e.g. while someone else builds);
# HERALD_EDGE_NODE=<path> runs that binary instead and builds none (before/after comparisons
# with a build of another commit).
build_all() {
  if [ -n "${HERALD_EDGE_NODE:-}" ]; then
    EDGE_NODE="$HERALD_EDGE_NODE"
  else
    if [ "${HERALD_SKIP_BUILD:-0}" != 1 ] || [ ! -x "$REPO_DIR/.build/$HERALD_BUILD/edge-node" ]; then
      build_with_retry "$REPO_DIR" -c "$HERALD_BUILD" --product edge-node
    fi
    EDGE_NODE="$REPO_DIR/.build/$HERALD_BUILD/edge-node"
  fi
  build_swarm
}

# Builds only the load tool (swarm, floor-server): enough for runs against a peer or the floor.
build_swarm() {
  build_with_retry "$LOADTEST_DIR" -c "$SWARM_BUILD"
  SWARM="$LOADTEST_DIR/.build/$SWARM_BUILD/swarm"
  FLOOR="$LOADTEST_DIR/.build/$SWARM_BUILD/floor-server"
}

start_redis() {  # sets REDIS_PORT, REDIS_URL
  REDIS_PORT=$(free_port)
  mkdir -p "$WORK_DIR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK_DIR/redis" \
    --maxclients 10000 >"$WORK_DIR/redis.log" 2>&1 &
  STARTED_PIDS+=($!)
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  wait_for 10 redis-cli -p "$REDIS_PORT" ping
}

# Starts one edge node in this shell (never in a subshell, so the trap knows its PID);
# sets NODE_PID and NODE_PORT.
start_node() {  # start_node <node id>
  local id="$1" port
  port=$(free_port)
  HERALD_LISTEN="127.0.0.1:$port" HERALD_REDIS_URL="$REDIS_URL/0" HERALD_JWT_SECRET="$SECRET" \
    HERALD_API_KEYS="$API_KEY" HERALD_NODE_ID="$id" HERALD_LOG_LEVEL=warning \
    "$EDGE_NODE" serve >"$WORK_DIR/$id.log" 2>&1 &
  NODE_PID=$!
  NODE_PORT=$port
  STARTED_PIDS+=("$NODE_PID")
  wait_for 30 curl -sf "http://127.0.0.1:$port/readyz" || { tail -20 "$WORK_DIR/$id.log" >&2; return 1; }
}

# Starts the floor server in this shell; sets FLOOR_PID and FLOOR_PORT.
start_floor() {
  FLOOR_PORT=$(free_port)
  "$FLOOR" --port "$FLOOR_PORT" >"$WORK_DIR/floor.log" 2>&1 &
  FLOOR_PID=$!
  STARTED_PIDS+=("$FLOOR_PID")
  wait_for 10 grep -q listening "$WORK_DIR/floor.log"
}

ensure_apt() {  # ensure_apt <command> <packages...>
  local command="$1"; shift
  if ! command -v "$command" >/dev/null 2>&1 && [ ! -e "$command" ]; then
    [ "$(id -u)" = 0 ] || { log "need $* (run as root or install them)"; return 1; }
    log "installing $*"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  fi
}

# The last line of a swarm run's stdout is its JSON result.
last_json() { tail -n 1 "$1"; }
