#!/usr/bin/env bash
# Idle memory: RSS per connection with 10,000 connections on one node, and with 50,000 over three
# nodes (one node and one swarm process each hold at most ~19,000: the 20,000 open-file cap), from
# three swarm processes on spread source addresses. Per node: (RSS held − RSS before) / connections
# that node holds (counted from the node ids in the `connected` frames).
#   idle.sh [--smoke]
source "$(dirname "$0")/lib.sh"
if [ "$SMOKE" = 1 ]; then PHASES=("200 1 1" "400 3 2"); HOLD=2; else PHASES=("10000 1 1" "50000 3 3"); HOLD=5; fi
build_all
start_redis
RESULTS=()
phase=0
for spec in "${PHASES[@]}"; do
  read -r COUNT NODES PROCS <<<"$spec"
  phase=$((phase + 1))
  URLS=() PIDS=() NODE_IDS=()
  for n in $(seq "$NODES"); do
    start_node "idle$phase-n$n"
    URLS+=(--url "ws://127.0.0.1:$NODE_PORT") PIDS+=("$NODE_PID") NODE_IDS+=("idle$phase-n$n")
  done
  BASE=()
  for pid in "${PIDS[@]}"; do BASE+=("$(awk '/VmRSS/{print $2}' "/proc/$pid/status")"); done
  SWARM_PIDS=()
  for p in $(seq "$PROCS"); do
    first=$(( 2 + (p - 1) * 10 ))
    "$SWARM" run --label "idle-$COUNT-p$p" "${URLS[@]}" --secret "$SECRET" --connections $((COUNT / PROCS)) \
      --accounts 100 --users 10 --account-prefix "idle$phase-p$p-" --ramp 5000 --hold $((HOLD + 60)) --quiet \
      --source-addresses "127.0.0.$first-127.0.0.$((first + 9))" --ready-file "$WORK_DIR/ready-$phase-$p" \
      --duration 300 >"$WORK_DIR/idle-$phase-$p.out" &
    SWARM_PIDS+=($!) STARTED_PIDS+=($!)
  done
  for p in $(seq "$PROCS"); do wait_for 240 test -f "$WORK_DIR/ready-$phase-$p"; done
  sleep "$HOLD"
  HELD=()
  for pid in "${PIDS[@]}"; do HELD+=("$(awk '/VmRSS/{print $2}' "/proc/$pid/status")"); done
  for pid in "${SWARM_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  for pid in "${SWARM_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Connections per node as the nodes see them.
  PER_NODE=()
  for n in $(seq "$NODES"); do
    port=$(echo "${URLS[$(( (n - 1) * 2 + 1 ))]}" | sed 's/.*://')
    PER_NODE+=("$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^herald_connections_opened_total/{print $2}')")
  done
  RESULTS+=("$(python3 - "$COUNT" "${NODE_IDS[*]}" "${BASE[*]}" "${HELD[*]}" "${PER_NODE[*]}" <<'PY'
import json, sys
count = int(sys.argv[1]); ids = sys.argv[2].split(); base = list(map(int, sys.argv[3].split()))
held = list(map(int, sys.argv[4].split())); conns = [int(float(x or 0)) for x in sys.argv[5].split()]
nodes = [{"node": i, "connections": c, "rss_before_kib": b, "rss_held_kib": h,
          "kib_per_connection": round((h - b) / c, 2) if c else None} for i, b, h, c in zip(ids, base, held, conns)]
print(json.dumps({"connections": count, "nodes": nodes}, separators=(",", ":")))
PY
)")
  log "phase $phase: ${RESULTS[-1]}"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
done
printf '{"scenario":"idle","phases":[%s]}\n' "$(IFS=,; echo "${RESULTS[*]}")"
