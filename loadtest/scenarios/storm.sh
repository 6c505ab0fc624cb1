#!/usr/bin/env bash
# Connection storms. (1) Connect 10,000 clients to one node as fast as swarm can (1,000 handshakes
# in flight) and report connections/s accepted. (2) HAProxy (Debian's; installed when missing) in
# front of three nodes, clients through it; kill -9 one node and measure the reconnect storm: time
# from the first drop until every client is connected again (clients back off like browsers:
# uniform 0–1 s, then doubling). HAProxy needs two descriptors per connection, so (2) holds at most
# (open-file hard limit − 200) / 2 connections.
#   storm.sh [--smoke]
source "$(dirname "$0")/lib.sh"
if [ "$SMOKE" = 1 ]; then BURST=300 STORM=300 NODES=2 HOLD=8; else BURST=10000 STORM=10000 NODES=3 HOLD=25; fi
HARD=$(ulimit -Hn); [ "$HARD" = unlimited ] && HARD=1000000
MAXCONN=$(( (HARD - 200) / 2 ))
[ "$STORM" -gt $((MAXCONN - 200)) ] && STORM=$((MAXCONN - 200))
ensure_apt haproxy haproxy
build_all
start_redis

# (1) Burst to one node.
start_node storm-burst
"$SWARM" run --label storm-burst --url "ws://127.0.0.1:$NODE_PORT" --secret "$SECRET" --connections "$BURST" \
  --accounts 100 --users 10 --ramp 0 --max-pending 1000 --pid "$NODE_PID" --duration 120 --quiet >"$WORK_DIR/burst.out"
head -n -1 "$WORK_DIR/burst.out" >&2
kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true

# (2) Through HAProxy; kill one node.
SERVERS="" NODE_PIDS=()
for n in $(seq "$NODES"); do
  start_node "storm-n$n"
  NODE_PIDS+=("$NODE_PID")
  SERVERS+="  server n$n 127.0.0.1:$NODE_PORT check inter 500 fall 2 rise 2"$'\n'
done
HA_PORT=$(free_port)
cat >"$WORK_DIR/haproxy.cfg" <<CFG
global
  maxconn $MAXCONN
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout tunnel 1h
  option redispatch
  retries 3
frontend swarm
  bind 127.0.0.1:$HA_PORT
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /readyz
$SERVERS
CFG
haproxy -f "$WORK_DIR/haproxy.cfg" -db >"$WORK_DIR/haproxy.log" 2>&1 &
STARTED_PIDS+=($!)
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$HA_PORT/healthz"
"$SWARM" run --label storm-haproxy --url "ws://127.0.0.1:$HA_PORT" --secret "$SECRET" --connections "$STORM" \
  --accounts 100 --users 10 --ramp 5000 --hold "$HOLD" --ready-file "$WORK_DIR/ready" --duration 180 \
  --pid "${NODE_PIDS[0]}" --quiet >"$WORK_DIR/storm.out" &
SWARM_PID=$!
STARTED_PIDS+=($SWARM_PID)
wait_for 120 test -f "$WORK_DIR/ready"
sleep 1
log "killing node storm-n1 (pid ${NODE_PIDS[0]})"
kill -9 "${NODE_PIDS[0]}"
wait "$SWARM_PID" || true
head -n -1 "$WORK_DIR/storm.out" >&2
python3 - "$WORK_DIR/burst.out" "$WORK_DIR/storm.out" "$NODES" <<'PY'
import json, sys
burst = json.loads(open(sys.argv[1]).read().splitlines()[-1])
storm = json.loads(open(sys.argv[2]).read().splitlines()[-1])
outages = storm["outages"]
print(json.dumps({"scenario": "storm",
  "burst": {"connections": burst["setup"]["connections"], "established": burst["connect"]["established"],
            "seconds": burst["connect"]["rampSeconds"], "per_second": burst["connect"]["perSecond"],
            "connect_ms": burst["connect"]["time"]},
  "reconnect_storm": {"nodes": int(sys.argv[3]), "connections": storm["setup"]["connections"],
            "established_before_kill": storm["connect"]["established"], "dropped": storm["drops"],
            "lowest_connected": outages[0]["lowestConnected"] if outages else None,
            "seconds_to_all_reconnected": outages[0]["recoverySeconds"] if outages else None,
            "connected_at_end": storm["connectedAtEnd"]},
  "runs": {"burst": burst, "storm": storm}}, separators=(",", ":")))
PY
