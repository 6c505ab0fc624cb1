#!/usr/bin/env bash
# Hot account: 5,000 connections (50 users × 100 tabs) on one account; a ladder of 50k, 100k,
# 200k, 400k deliveries/s (10, 20, 40, 80 events/s) through Redis PUBLISH until loss or p99 > 100 ms.
#   hot.sh [--smoke]
source "$(dirname "$0")/lib.sh"
if [ "$SMOKE" = 1 ]; then
  CONNECTIONS=200 USERS=10 LADDER=2000,4000 STEP=2 DURATION=60
else
  CONNECTIONS=5000 USERS=50 LADDER=50000,100000,200000,400000 STEP=10 DURATION=180
fi
build_all
start_redis
start_node hot-n1
OUT="$WORK_DIR/swarm.out"
"$SWARM" run --label herald-hot --url "ws://127.0.0.1:$NODE_PORT" --secret "$SECRET" --connections "$CONNECTIONS" \
  --accounts 1 --users "$USERS" --ladder "$LADDER" --step-seconds "$STEP" --duration "$DURATION" \
  --publish redis --redis "$REDIS_URL" --pid "$NODE_PID" >"$OUT"
head -n -1 "$OUT" >&2
last_json "$OUT"
