#!/usr/bin/env bash
# Fan-out ladder: 10,000 connections over 100 accounts, target deliveries/s of 10k, 50k, 100k,
# 200k, 400k (10 s steps) until loss or p99 > 100 ms. Events go through Redis PUBLISH.
#   fanout.sh [--smoke] [--target herald|herald-http|nchan|centrifugo|floor] [--json out.json] [--html out.html]
# --target herald-http publishes the same events through Herald's HTTP API (POST /api/v1/publish,
# with history), so the node's CPU includes the publish requests.
# --target nchan runs the Nchan peer (loadtest/peers/nchan/run.sh), --target centrifugo the
# Centrifuge peer (loadtest/peers/centrifugo/run.sh, one core unless CENTRIFUGO_GOMAXPROCS) and
# --target floor the bare floor-server, all through swarm's generic mode with HTTP publishing.
# Only --target herald builds edge-node.
source "$(dirname "$0")/lib.sh"
TARGET=herald JSON_OUT="" HTML_OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET="$2"; shift ;;
    --json) JSON_OUT="$2"; shift ;;
    --html) HTML_OUT="$2"; shift ;;
  esac
  shift
done
if [ "$SMOKE" = 1 ]; then
  CONNECTIONS=200 ACCOUNTS=10 LADDER=2000,4000 STEP=2 DURATION=60
else
  CONNECTIONS=10000 ACCOUNTS=100 LADDER=10000,50000,100000,200000,400000 STEP=10 DURATION=240
fi
case "$TARGET" in herald*) build_all ;; *) build_swarm ;; esac
OUT="$WORK_DIR/swarm.out"
COMMON=(--connections "$CONNECTIONS" --accounts "$ACCOUNTS" --ladder "$LADDER" --step-seconds "$STEP"
  --duration "$DURATION" --max-p99-ms 100 --ramp 2000 --json "$WORK_DIR/result.json" --html "$WORK_DIR/report.html")
case "$TARGET" in
  herald)
    start_redis
    start_node fanout-n1
    "$SWARM" run --label herald --url "ws://127.0.0.1:$NODE_PORT" --secret "$SECRET" \
      --publish redis --redis "$REDIS_URL" --pid "$NODE_PID" "${COMMON[@]}" >"$OUT"
    ;;
  herald-http)
    start_redis
    start_node fanout-n1
    "$SWARM" run --label herald-http --url "ws://127.0.0.1:$NODE_PORT" --secret "$SECRET" \
      --publish http --publish-url "http://127.0.0.1:$NODE_PORT" --api-key "$API_KEY" --pid "$NODE_PID" "${COMMON[@]}" >"$OUT"
    ;;
  nchan)
    NCHAN_RUN="$LOADTEST_DIR/peers/nchan/run.sh"
    [ -x "$NCHAN_RUN" ] || [ -f "$NCHAN_RUN" ] || { log "the Nchan peer is missing: expected $NCHAN_RUN"; exit 1; }
    ensure_apt /usr/lib/nginx/modules/ngx_nchan_module.so nginx-light libnginx-mod-nchan
    start_redis
    NCHAN_PORT=$(free_port)
    NCHAN_PID=$(PORT="$NCHAN_PORT" REDIS_URL="$REDIS_URL" WORKERS=1 RUN_DIR="$WORK_DIR/nchan" bash "$NCHAN_RUN" | tail -n 1)
    STARTED_PIDS+=("$NCHAN_PID")
    WORKER_PIDS=$(pgrep -P "$NCHAN_PID" | sed 's/^/--pid /' | tr '\n' ' ')
    # shellcheck disable=SC2086
    "$SWARM" run --generic --label nchan --url "ws://127.0.0.1:$NCHAN_PORT/sub/{account}" \
      --publish http --publish-url "http://127.0.0.1:$NCHAN_PORT/pub/{account}" $WORKER_PIDS "${COMMON[@]}" >"$OUT"
    ;;
  centrifugo)
    start_redis
    CENTRIFUGO_PORT=$(free_port)
    CENTRIFUGO_PID=$(PORT="$CENTRIFUGO_PORT" REDIS_URL="$REDIS_URL" GOMAXPROCS="${CENTRIFUGO_GOMAXPROCS:-1}" \
      RUN_DIR="$WORK_DIR/centrifugo" bash "$LOADTEST_DIR/peers/centrifugo/run.sh" | tail -n 1)
    STARTED_PIDS+=("$CENTRIFUGO_PID")
    # Centrifuge's JSON protocol: a connect command first; the server subscribes the connection
    # to ?channel= and answers, and that answer marks it established.
    "$SWARM" run --generic --label centrifugo --hello '{"id":1}' \
      --url "ws://127.0.0.1:$CENTRIFUGO_PORT/connection/websocket?channel={account}" \
      --publish http --publish-url "http://127.0.0.1:$CENTRIFUGO_PORT/pub/{account}" --pid "$CENTRIFUGO_PID" \
      "${COMMON[@]}" >"$OUT"
    ;;
  floor)
    start_floor
    "$SWARM" run --generic --label floor --url "ws://127.0.0.1:$FLOOR_PORT/sub/{account}" \
      --publish http --publish-url "http://127.0.0.1:$FLOOR_PORT/pub/{account}" --pid "$FLOOR_PID" "${COMMON[@]}" >"$OUT"
    ;;
  *) log "unknown --target $TARGET"; exit 2 ;;
esac
head -n -1 "$OUT" >&2
[ -n "$JSON_OUT" ] && cp "$WORK_DIR/result.json" "$JSON_OUT"
[ -n "$HTML_OUT" ] && cp "$WORK_DIR/report.html" "$HTML_OUT"
last_json "$OUT"
