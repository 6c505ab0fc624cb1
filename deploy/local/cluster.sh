#!/usr/bin/env bash
# A local Herald cluster on one Linux machine, without Docker: one Redis, N edge nodes and HAProxy
# in front, all on loopback.
#
#   deploy/local/cluster.sh up [N]        start Redis, N edge nodes (default 3) and HAProxy; the LAST line
#                                         printed is the load balancer's URL
#   deploy/local/cluster.sh down          stop exactly what `up` started (recorded PIDs)
#   deploy/local/cluster.sh status        each process, its PID and readiness (exit 1 when something is down)
#   deploy/local/cluster.sh stop-node I   SIGTERM node I (drain: readiness off, clients closed with 1012)
#                                         and wait until it has exited
#   deploy/local/cluster.sh kill-node I   SIGKILL node I (a crash)
#   deploy/local/cluster.sh start-node I  start node I again on its port (after stop-node/kill-node)
#   deploy/local/cluster.sh token ACCOUNT USER   mint a client token for the running cluster
#   deploy/local/cluster.sh kill-redis I  SIGKILL Redis node I (HERALD_CLUSTER_REDIS=cluster: a failover drill)
#   deploy/local/cluster.sh start-redis I start Redis node I again on its port (it rejoins as a replica)
#
# Environment:
#   HERALD_CLUSTER_PORT        load balancer port (default 8080)
#   HERALD_CLUSTER_STATE       state folder for logs, PIDs, configs (default <repo>/.state/cluster)
#   HERALD_CLUSTER_REDIS_PORT  Redis port (default: a free one)
#   HERALD_CLUSTER_AOF=1       Redis with --appendonly yes --appendfsync always (else no persistence)
#   HERALD_CLUSTER_REDIS       single (default): one Redis; cluster: a Redis Cluster of 3 primaries and
#                              3 replicas on free loopback ports (sharded pub/sub), nodes get
#                              HERALD_REDIS_CLUSTER_NODES and HERALD_UPSTREAM_STREAMS=16 (unless set)
#   HERALD_CLUSTER_NODE_TIMEOUT_MS  cluster-node-timeout of the Redis Cluster (default 2000): how long
#                              a silent primary takes to be failed over
#   HERALD_BUILD               release (default) or debug
#   HERALD_SKIP_BUILD=1        use the edge-node already built in .build/$HERALD_BUILD
#   HERALD_EDGE_NODE           path of an edge-node binary to use as is (no build)
#   HERALD_REDIS_URL           when set, use that Redis instead of starting one
#   HERALD_REDIS_CLUSTER_NODES when set, use that Redis Cluster (host:port,…) instead of starting one
#   HERALD_*                   every other HERALD_ variable is passed to every node (JWT secret, API keys, …);
#                              HERALD_LISTEN and HERALD_NODE_ID are set per node.
set -euo pipefail

# Debian installs haproxy in /usr/sbin, which is not on every user's PATH.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${HERALD_CLUSTER_STATE:-$REPO_DIR/.state/cluster}"
LB_PORT="${HERALD_CLUSTER_PORT:-8080}"
HERALD_BUILD="${HERALD_BUILD:-release}"
DEV_SECRET="dev-cluster-secret-change-me-0123456789abcdef"
DEV_API_KEY="dev-api-key"
ENV_FILE="$STATE_DIR/cluster.env"
REDIS_MODE="${HERALD_CLUSTER_REDIS:-single}"
[ -n "${HERALD_REDIS_CLUSTER_NODES:-}" ] && REDIS_MODE=cluster

log() { echo "[cluster] $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Small tools (no curl or python needed)

# Picks a loopback TCP port nothing listens on, below the kernel's ephemeral range (so outgoing
# connections do not hold it); a start that still fails to bind retries with another port.
free_port() {
  local port low
  low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
  [ "$low" -gt 12000 ] || low=61000
  for _ in $(seq 1 200); do
    port=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# Prints the HTTP status of GET http://127.0.0.1:<port><path> (000 when nothing answers); 2 s bound.
http_status() {  # http_status <port> <path>
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
    read -r _ status _ <&3 && echo "$status"' _ "$1" "$2" 2>/dev/null || echo 000
}

# GET through /dev/tcp, printing the body (2 s bound).
http_body() {  # http_body <port> <path>
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
    sed "1,/^\r\{0,1\}$/d" <&3' _ "$1" "$2" 2>/dev/null || true
}

# Polls <command> until it succeeds; gives up after <seconds>, or at once when the command sets
# WAIT_ABORT=1 (the process it waits for has died).
wait_for() {  # wait_for <seconds> <description> <command...>
  local limit="$1" what="$2" deadline=$((SECONDS + $1)); shift 2
  WAIT_ABORT=0
  until "$@" >/dev/null 2>&1; do
    [ "$WAIT_ABORT" = 1 ] && { log "gave up waiting for $what: the process exited"; return 1; }
    [ "$SECONDS" -ge "$deadline" ] && { log "timed out after $limit s waiting for $what"; return 1; }
    sleep 0.2
  done
}

is_ready() { [ "$(http_status "$1" /readyz)" = 200 ]; }

# A process is ours when it is alive (not a zombie) and its command line names the expected program:
# a recorded PID that was reused by something else is never signalled.
owns() {  # owns <pid> <program name>
  local pid="$1" program="$2" state
  [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [ "$state" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$program"
}

gone() { ! owns "$1" "$2"; }

# Whether a process exists and is not a zombie (right after a start, before its exec, its command
# line is still the script's, so this does not look at the name).
alive() {
  local state
  [ -r "/proc/$1/stat" ] || return 1
  state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

read_pid() { cat "$STATE_DIR/$1.pid" 2>/dev/null || true; }

# Waits until the process is gone (or a zombie); SIGKILL after <seconds>. Returns 1 if it had to kill.
stop_process() {  # stop_process <pid> <program> <signal> <seconds>
  local pid="$1" program="$2" signal="$3" deadline=$((SECONDS + $4))
  owns "$pid" "$program" || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  while owns "$pid" "$program"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$program (pid $pid) still running after $4 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      return 1
    fi
    sleep 0.1
  done
}

# Closes every descriptor above 2 that this (sub)shell inherited. Background processes must not keep
# a caller's pipes or sockets open: whoever ran `up` and waits for its output or exit (CI, ssh, a
# test's process monitor) would otherwise wait until the cluster stops.
close_inherited_fds() {
  local path fd
  for path in "/proc/$BASHPID/fd/"*; do
    fd="${path##*/}"
    if [[ "$fd" =~ ^[0-9]+$ ]] && [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

# Starts <command> detached: its own session, stdin from /dev/null, output appended to <log>, no
# other inherited descriptor; records its PID as <name>.pid (exec keeps the PID).
spawn() {  # spawn <name> <log> <command...>
  local name="$1" log="$2"
  shift 2
  (
    close_inherited_fds
    exec setsid "$@" </dev/null >>"$log" 2>&1
  ) &
  echo $! >"$STATE_DIR/$name.pid"
}

ensure_apt() {  # ensure_apt <command> <package>
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "$1 is missing: install the Debian package $2 (sudo apt-get install $2)"
  log "installing $2"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
}

# The nodes' drain limit, as recorded by `up` (HERALD_DRAIN_SECONDS, default 10).
drain_seconds() {
  local recorded
  recorded="$(sed -n 's/^export HERALD_DRAIN_SECONDS=\([0-9]*\)$/\1/p' "$STATE_DIR/node.env" 2>/dev/null || true)"
  echo "${recorded:-${HERALD_DRAIN_SECONDS:-10}}"
}

# ---------------------------------------------------------------------------------------------
# Pieces of `up`

install_dependencies() {
  "$REPO_DIR/scripts/install-deps.sh" --with-redis
  ensure_apt haproxy haproxy
  ensure_apt redis-cli redis-tools
}

build_edge_node() {  # sets EDGE_NODE
  if [ -n "${HERALD_EDGE_NODE:-}" ]; then
    EDGE_NODE="$HERALD_EDGE_NODE"
    [ -x "$EDGE_NODE" ] || die "HERALD_EDGE_NODE=$EDGE_NODE is not executable"
    return 0
  fi
  EDGE_NODE="$REPO_DIR/.build/$HERALD_BUILD/edge-node"
  if [ "${HERALD_SKIP_BUILD:-0}" = 1 ] && [ -x "$EDGE_NODE" ]; then
    log "using the edge-node already built: $EDGE_NODE"
    return 0
  fi
  log "building edge-node ($HERALD_BUILD)"
  (cd "$REPO_DIR" && swift build -c "$HERALD_BUILD" --product edge-node >&2)
  EDGE_NODE="$(cd "$REPO_DIR" && swift build -c "$HERALD_BUILD" --show-bin-path)/edge-node"
}

start_redis() {  # sets REDIS_URL
  if [ -n "${HERALD_REDIS_URL:-}" ]; then
    REDIS_URL="$HERALD_REDIS_URL"
    log "using the Redis at HERALD_REDIS_URL (not started here)"
    return 0
  fi
  local port persistence attempt pid
  if [ "${HERALD_CLUSTER_AOF:-0}" = 1 ]; then
    persistence=(--appendonly yes --appendfsync always)
  else
    persistence=(--appendonly no)
  fi
  mkdir -p "$STATE_DIR/redis"
  for attempt in 1 2 3 4 5; do
    port="${HERALD_CLUSTER_REDIS_PORT:-$(free_port)}"
    spawn redis "$STATE_DIR/redis.log" redis-server --port "$port" --bind 127.0.0.1 --save '' "${persistence[@]}" \
      --dir "$STATE_DIR/redis" --maxmemory-policy noeviction
    pid="$(read_pid redis)"
    echo "$port" >"$STATE_DIR/redis.port"
    if wait_for 15 "redis-server on port $port" redis_answers "$port" "$pid"; then
      REDIS_URL="redis://127.0.0.1:$port/0"
      return 0
    fi
    tail -n 5 "$STATE_DIR/redis.log" >&2
    stop_process "$pid" redis-server KILL 2 || true
    [ -z "${HERALD_CLUSTER_REDIS_PORT:-}" ] || break
    log "redis-server did not start on port $port (attempt $attempt); trying another port"
  done
  return 1
}

# A Redis Cluster of 3 primaries and 3 replicas (sets REDIS_CLUSTER_NODES to their host:port list).
start_redis_cluster() {
  if [ -n "${HERALD_REDIS_CLUSTER_NODES:-}" ]; then
    REDIS_CLUSTER_NODES="$HERALD_REDIS_CLUSTER_NODES"
    log "using the Redis Cluster at HERALD_REDIS_CLUSTER_NODES (not started here)"
    return 0
  fi
  local i seeds=()
  for i in 1 2 3 4 5 6; do
    start_redis_node "$i" || return 1
    seeds+=("127.0.0.1:$(cat "$STATE_DIR/redis-$i.port")")
  done
  log "creating the Redis Cluster: ${seeds[*]} (3 primaries, one replica each)"
  redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >>"$STATE_DIR/redis-cluster.log" 2>&1 \
    || { tail -n 20 "$STATE_DIR/redis-cluster.log" >&2; return 1; }
  wait_for 30 "every Redis Cluster node to report cluster_state:ok" redis_cluster_ok || return 1
  REDIS_CLUSTER_NODES="$(IFS=,; echo "${seeds[*]}")"
}

# Starts Redis Cluster node <i> on its recorded port (start-redis), or on a free one the first time.
start_redis_node() {  # start_redis_node <i>
  local i="$1" port fixed=0 attempt pid persistence
  if [ "${HERALD_CLUSTER_AOF:-0}" = 1 ]; then
    persistence=(--appendonly yes --appendfsync always)
  else
    persistence=(--appendonly no)
  fi
  [ -f "$STATE_DIR/redis-$i.port" ] && fixed=1
  mkdir -p "$STATE_DIR/redis-$i"
  for attempt in 1 2 3 4 5; do
    if [ "$fixed" = 1 ]; then port="$(cat "$STATE_DIR/redis-$i.port")"; else port="$(free_port)"; fi
    spawn "redis-$i" "$STATE_DIR/redis-$i.log" redis-server --port "$port" --bind 127.0.0.1 --save '' "${persistence[@]}" \
      --dir "$STATE_DIR/redis-$i" --maxmemory-policy noeviction --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout "${HERALD_CLUSTER_NODE_TIMEOUT_MS:-2000}" --repl-diskless-sync-delay 0
    pid="$(read_pid "redis-$i")"
    if wait_for 15 "redis-server (cluster node $i) on port $port" redis_answers "$port" "$pid"; then
      echo "$port" >"$STATE_DIR/redis-$i.port"
      return 0
    fi
    tail -n 5 "$STATE_DIR/redis-$i.log" >&2
    stop_process "$pid" redis-server KILL 2 || true
    [ "$fixed" = 0 ] || return 1
  done
  return 1
}

# Succeeds once every running cluster node reports cluster_state:ok.
redis_cluster_ok() {
  local name port
  for name in $(redis_node_names); do
    owns "$(read_pid "$name")" redis-server || continue
    port="$(cat "$STATE_DIR/$name.port")"
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

# The recorded Redis Cluster nodes: redis-1 … redis-6.
redis_node_names() {
  ls "$STATE_DIR" 2>/dev/null | sed -n 's/^\(redis-[0-9]*\)\.port$/\1/p' | sort -t- -k2 -n
}

# Succeeds once Redis answers PING; aborts wait_for when the process has died.
redis_answers() {  # redis_answers <port> <pid>
  alive "$2" || { WAIT_ABORT=1; return 1; }
  redis-cli -p "$1" ping
}

# Succeeds once the node answers 200 on /readyz; aborts wait_for when the process has died.
node_ready() {  # node_ready <port> <pid>
  alive "$2" || { WAIT_ABORT=1; return 1; }
  is_ready "$1"
}

# Starts node <i> on the port recorded for it (start-node), or on a free one the first time (retried
# on another port when the node cannot bind it).
start_node() {  # start_node <i>
  local i="$1" port fixed=0 attempt pid
  [ -f "$STATE_DIR/node-$i.port" ] && fixed=1
  for attempt in 1 2 3 4 5; do
    if [ "$fixed" = 1 ]; then port="$(cat "$STATE_DIR/node-$i.port")"; else port="$(free_port)"; fi
    # The HERALD_* variables recorded by `up`, then this node's own; exec keeps the PID recorded below.
    (
      # shellcheck disable=SC1090,SC1091
      source "$STATE_DIR/node.env"
      # shellcheck disable=SC1090
      source "$ENV_FILE"
      export HERALD_LISTEN="127.0.0.1:$port" HERALD_NODE_ID="node-$i" HERALD_REDIS_URL="$HERALD_CLUSTER_REDIS_URL" \
        HERALD_REDIS_CLUSTER_NODES="${HERALD_CLUSTER_REDIS_CLUSTER_NODES:-}" \
        HERALD_JWT_SECRET="$HERALD_CLUSTER_JWT_SECRET" HERALD_API_KEYS="$HERALD_CLUSTER_API_KEYS"
      close_inherited_fds
      exec setsid "$HERALD_CLUSTER_EDGE_NODE" serve </dev/null >>"$STATE_DIR/node-$i.log" 2>&1
    ) &
    pid=$!
    echo "$pid" >"$STATE_DIR/node-$i.pid"
    if wait_for 60 "node-$i on port $port to be ready" node_ready "$port" "$pid"; then
      echo "$port" >"$STATE_DIR/node-$i.port"
      log "node-$i ready on 127.0.0.1:$port (pid $pid)"
      return 0
    fi
    tail -n 20 "$STATE_DIR/node-$i.log" >&2
    stop_process "$pid" edge-node KILL 2 || true
    [ "$fixed" = 0 ] || return 1
    log "node-$i did not start on port $port (attempt $attempt); trying another port"
  done
  return 1
}

# The local HAProxy config: the same shape as deploy/haproxy/haproxy.cfg, on loopback ports.
write_haproxy_config() {  # write_haproxy_config <node count>
  local n="$1" i servers="" tracked="" hard maxconn
  hard="$(ulimit -Hn)"
  [ "$hard" = unlimited ] && hard=1000000
  maxconn=$(( (hard - 100) / 2 ))
  [ "$maxconn" -gt 50000 ] && maxconn=50000
  for i in $(seq 1 "$n"); do
    servers+="    server node-$i 127.0.0.1:$(cat "$STATE_DIR/node-$i.port") check"$'\n'
    tracked+="    server node-$i 127.0.0.1:$(cat "$STATE_DIR/node-$i.port") track herald_accounts/node-$i"$'\n'
  done
  cat >"$STATE_DIR/haproxy.cfg" <<CFG
# Generated by deploy/local/cluster.sh; see deploy/haproxy/haproxy.cfg for the annotated version.
global
    # Two descriptors per proxied connection, within this machine's open-file hard limit.
    maxconn $maxconn

defaults
    mode http
    option dontlognull
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503
    default-server inter 500ms fall 2 rise 2

frontend herald
    bind 127.0.0.1:$LB_PORT
    http-request disable-l7-retry unless METH_GET
    stats enable
    stats uri /haproxy-stats
    stats refresh 5s
    acl ws_account path_beg /ws/accounts/
    use_backend herald_accounts if ws_account
    default_backend herald_any

backend herald_accounts
    balance uri depth 3
    hash-type consistent
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
$servers
backend herald_any
    balance leastconn
$tracked
CFG
  haproxy -c -q -f "$STATE_DIR/haproxy.cfg" >&2
}

haproxy_servers_up() {  # haproxy_servers_up <node count> <haproxy pid>
  local up
  alive "$2" || { WAIT_ABORT=1; return 1; }
  up="$(http_body "$LB_PORT" '/haproxy-stats;csv' | awk -F, '$1 == "herald_accounts" && $2 ~ /^node-/ && $18 == "UP"' | wc -l)"
  [ "$up" -ge "$1" ]
}

start_haproxy() {  # start_haproxy <node count>
  write_haproxy_config "$1"
  spawn haproxy "$STATE_DIR/haproxy.log" haproxy -f "$STATE_DIR/haproxy.cfg" -db
  wait_for 20 "HAProxy on port $LB_PORT with $1 servers up" haproxy_servers_up "$1" "$(read_pid haproxy)" \
    || { tail -n 20 "$STATE_DIR/haproxy.log" >&2; return 1; }
}

running_pids() {
  local name program
  for name in haproxy redis $(redis_node_names) $(ls "$STATE_DIR" 2>/dev/null | sed -n 's/^\(node-[0-9]*\)\.pid$/\1/p'); do
    case "$name" in haproxy) program=haproxy ;; redis*) program=redis-server ;; *) program=edge-node ;; esac
    if owns "$(read_pid "$name")" "$program"; then echo "$name"; fi
  done
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_up() {
  local n="${1:-3}" i
  [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "up takes a node count between 1 and 99, not '$n'"
  mkdir -p "$STATE_DIR"
  if [ -n "$(running_pids)" ]; then
    die "a cluster is already running from $STATE_DIR ($(running_pids | tr '\n' ' ')): run '$0 down' first"
  fi
  rm -f -- "$STATE_DIR"/*.pid "$STATE_DIR"/*.port "$STATE_DIR/cluster.env" "$STATE_DIR/node.env"
  rm -rf -- "$STATE_DIR"/redis-[0-9]*
  case "$REDIS_MODE" in single | cluster) ;; *) die "HERALD_CLUSTER_REDIS must be single or cluster, not '$REDIS_MODE'" ;; esac
  install_dependencies
  build_edge_node
  UP_DONE=0
  trap '[ "$UP_DONE" = 1 ] || { log "up failed: stopping what was started"; cmd_down || true; }' EXIT

  REDIS_URL="" REDIS_CLUSTER_NODES=""
  if [ "$REDIS_MODE" = cluster ]; then
    start_redis_cluster
    # Client messages spread over 16 streams, so over every primary's slots.
    export HERALD_UPSTREAM_STREAMS="${HERALD_UPSTREAM_STREAMS:-16}"
  else
    start_redis
  fi
  local secret="${HERALD_JWT_SECRET:-$DEV_SECRET}" api_keys="${HERALD_API_KEYS:-$DEV_API_KEY}"
  [ -n "${HERALD_JWT_SECRET:-}" ] || log "HERALD_JWT_SECRET unset: using the development secret '$DEV_SECRET'"
  [ -n "${HERALD_API_KEYS:-}" ] || log "HERALD_API_KEYS unset: using the development API key '$DEV_API_KEY'"
  # The nodes refuse the development values outside development mode.
  if [ -z "${HERALD_JWT_SECRET:-}" ] || [ -z "${HERALD_API_KEYS:-}" ]; then export HERALD_DEVELOPMENT=true; fi
  (
    umask 077
    {
      printf 'HERALD_CLUSTER_URL=%q\n' "http://127.0.0.1:$LB_PORT"
      printf 'HERALD_CLUSTER_NODES=%q\n' "$n"
      printf 'HERALD_CLUSTER_REDIS_URL=%q\n' "$REDIS_URL"
      printf 'HERALD_CLUSTER_REDIS_CLUSTER_NODES=%q\n' "$REDIS_CLUSTER_NODES"
      printf 'HERALD_CLUSTER_EDGE_NODE=%q\n' "$EDGE_NODE"
      printf 'HERALD_CLUSTER_JWT_SECRET=%q\n' "$secret"
      printf 'HERALD_CLUSTER_API_KEYS=%q\n' "$api_keys"
    } >"$ENV_FILE"
    # Every other HERALD_* variable of this environment goes to every node (start-node too).
    local name
    for name in $(compgen -e | grep '^HERALD_' | grep -v -E '^HERALD_(CLUSTER_.*|LISTEN|NODE_ID|REDIS_URL|REDIS_CLUSTER_NODES|JWT_SECRET|API_KEYS|BUILD|SKIP_BUILD|EDGE_NODE)$'); do
      printf 'export %s=%q\n' "$name" "${!name}"
    done >"$STATE_DIR/node.env"
  )
  for i in $(seq 1 "$n"); do start_node "$i"; done
  start_haproxy "$n"
  UP_DONE=1

  local token
  token="$("$EDGE_NODE" token --account 42 --user alice --secret "$secret" --channels '*')"
  local redis_summary="Redis at $REDIS_URL"
  if [ "$REDIS_MODE" = cluster ]; then
    redis_summary="Redis Cluster at $REDIS_CLUSTER_NODES
  Backends:    redis-cli -c -p ${REDIS_CLUSTER_NODES##*:} SPUBLISH 'herald:{42}' '{\"type\":\"message.new\"}'   (live; PUBLISH reaches nobody)
               redis-cli -c -p ${REDIS_CLUSTER_NODES##*:} FCALL herald_publish 3 'herald:{42}' 'herald:{42}:log' 'herald:{42}:epoch' '{\"type\":\"message.new\"}'"
  fi
  cat <<INFO
Herald cluster: $n edge nodes behind HAProxy, $redis_summary; state, logs and PIDs in $STATE_DIR
  JWT secret:  $secret
  API key:     ${api_keys%%,*}
  Connect:     ws://127.0.0.1:$LB_PORT/ws/accounts/42/?token=$token
  Publish:     curl -s -X POST http://127.0.0.1:$LB_PORT/api/v1/publish -H 'Authorization: Bearer ${api_keys%%,*}' \\
                 -H 'Content-Type: application/json' -d '{"account":"42","type":"message.new","data":{"id":1}}'
  HAProxy:     http://127.0.0.1:$LB_PORT/haproxy-stats
  Stop:        $0 down
http://127.0.0.1:$LB_PORT
INFO
}

cmd_down() {
  local name pid i failed=0 node_pids=()
  [ -d "$STATE_DIR" ] || { log "nothing to stop: $STATE_DIR does not exist"; return 0; }
  pid="$(read_pid haproxy)"
  if owns "$pid" haproxy; then
    stop_process "$pid" haproxy TERM 5 || failed=1
    log "stopped HAProxy (pid $pid)"
  fi
  # Every node drains at the same time.
  for name in $(ls "$STATE_DIR" | sed -n 's/^\(node-[0-9]*\)\.pid$/\1/p'); do
    pid="$(read_pid "$name")"
    if owns "$pid" edge-node; then kill -TERM "$pid" 2>/dev/null || true; node_pids+=("$name:$pid"); fi
  done
  for i in "${node_pids[@]:-}"; do
    [ -n "$i" ] || continue
    stop_process "${i#*:}" edge-node TERM $(( $(drain_seconds) + 10 )) || failed=1
    log "stopped ${i%%:*} (pid ${i#*:})"
  done
  pid="$(read_pid redis)"
  if owns "$pid" redis-server; then
    redis-cli -p "$(cat "$STATE_DIR/redis.port")" shutdown nosave >/dev/null 2>&1 || true
    stop_process "$pid" redis-server TERM 5 || failed=1
    log "stopped Redis (pid $pid)"
  fi
  for name in $(redis_node_names); do
    pid="$(read_pid "$name")"
    if owns "$pid" redis-server; then
      redis-cli -p "$(cat "$STATE_DIR/$name.port")" shutdown nosave >/dev/null 2>&1 || true
      stop_process "$pid" redis-server TERM 5 || failed=1
      log "stopped Redis Cluster node $name (pid $pid)"
    fi
  done
  rm -f -- "$STATE_DIR"/*.pid
  [ "$failed" = 0 ] || log "some processes needed SIGKILL"
  return 0
}

cmd_status() {
  local name pid port i n ok=0 ready
  [ -f "$ENV_FILE" ] || { echo "no cluster in $STATE_DIR"; return 1; }
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  n="$HERALD_CLUSTER_NODES"
  pid="$(read_pid redis)"
  if owns "$pid" redis-server; then
    port="$(cat "$STATE_DIR/redis.port")"
    printf '%-8s pid %-8s %-22s %s\n' redis "$pid" "127.0.0.1:$port" "$(redis-cli -p "$port" ping 2>/dev/null || echo 'no answer')"
  elif [ -n "$pid" ] || [ -f "$STATE_DIR/redis.port" ]; then
    printf '%-8s %-12s %-22s %s\n' redis "" "127.0.0.1:$(cat "$STATE_DIR/redis.port" 2>/dev/null || echo '?')" stopped; ok=1
  elif [ -n "${HERALD_CLUSTER_REDIS_URL:-}" ]; then
    printf '%-8s %s\n' redis "external: $HERALD_CLUSTER_REDIS_URL"
  fi
  for name in $(redis_node_names); do
    pid="$(read_pid "$name")" port="$(cat "$STATE_DIR/$name.port")"
    if owns "$pid" redis-server; then
      printf '%-8s pid %-8s %-22s %s\n' "$name" "$pid" "127.0.0.1:$port" \
        "$(redis-cli -p "$port" role 2>/dev/null | head -n 1) $(redis-cli -p "$port" cluster info 2>/dev/null | grep '^cluster_state' | tr -d '\r')"
    else
      printf '%-8s %-12s %-22s %s\n' "$name" "" "127.0.0.1:$port" stopped
    fi
  done
  if [ -z "$(redis_node_names)" ] && [ -n "${HERALD_CLUSTER_REDIS_CLUSTER_NODES:-}" ]; then
    printf '%-8s %s\n' redis "external cluster: $HERALD_CLUSTER_REDIS_CLUSTER_NODES"
  fi
  for i in $(seq 1 "$n"); do
    pid="$(read_pid "node-$i")" port="$(cat "$STATE_DIR/node-$i.port" 2>/dev/null || echo '?')"
    if owns "$pid" edge-node; then
      ready="$(http_body "$port" /readyz | tr -d '\r\n')"
      printf '%-8s pid %-8s %-22s %s\n' "node-$i" "$pid" "127.0.0.1:$port" "${ready:-no answer}"
      is_ready "$port" || ok=1
    else
      printf '%-8s %-12s %-22s %s\n' "node-$i" "" "127.0.0.1:$port" stopped; ok=1
    fi
  done
  pid="$(read_pid haproxy)"
  if owns "$pid" haproxy; then
    printf '%-8s pid %-8s %-22s %s\n' haproxy "$pid" "127.0.0.1:${HERALD_CLUSTER_URL##*:}" \
      "servers: $(http_body "${HERALD_CLUSTER_URL##*:}" '/haproxy-stats;csv' \
        | awk -F, '$1 == "herald_accounts" && $2 ~ /^node-/ { printf "%s=%s ", $2, $18 }')"
  else
    printf '%-8s %-12s %s\n' haproxy "" stopped; ok=1
  fi
  echo "$HERALD_CLUSTER_URL"
  return "$ok"
}

node_index() {  # validates I against the recorded node count
  [ -f "$ENV_FILE" ] || die "no cluster in $STATE_DIR"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$HERALD_CLUSTER_NODES" ] \
    || die "node index must be 1..$HERALD_CLUSTER_NODES, not '${1:-}'"
}

cmd_stop_node() {
  node_index "${1:-}"
  local pid started=$SECONDS
  pid="$(read_pid "node-$1")"
  owns "$pid" edge-node || die "node-$1 is not running"
  log "node-$1 (pid $pid): SIGTERM, draining"
  stop_process "$pid" edge-node TERM $(( $(drain_seconds) + 10 )) || die "node-$1 did not exit within the drain time"
  log "node-$1 exited after $((SECONDS - started)) s"
}

# SIGKILLs the recorded process <name> (a crash) and waits until it is gone; prints its PID.
kill_recorded() {  # kill_recorded <name> <program>
  local pid
  pid="$(read_pid "$1")"
  owns "$pid" "$2" || die "$1 is not running"
  kill -KILL "$pid"
  wait_for 5 "$1 to die" gone "$pid" "$2"
  echo "$pid"
}

cmd_kill_node() {
  node_index "${1:-}"
  local pid
  pid="$(kill_recorded "node-$1" edge-node)"
  log "node-$1 (pid $pid) killed"
}

cmd_start_node() {
  node_index "${1:-}"
  owns "$(read_pid "node-$1")" edge-node && die "node-$1 is already running"
  start_node "$1"
}

redis_node_index() {  # validates I against the recorded Redis Cluster nodes
  [ -f "$STATE_DIR/redis-${1:-x}.port" ] || die "no Redis Cluster node '${1:-}' in $STATE_DIR (up with HERALD_CLUSTER_REDIS=cluster)"
}

cmd_kill_redis() {
  redis_node_index "${1:-}"
  local pid
  pid="$(kill_recorded "redis-$1" redis-server)"
  log "redis-$1 (pid $pid) killed; if it was a primary, its replica takes over after cluster-node-timeout"
}

cmd_start_redis() {
  redis_node_index "${1:-}"
  owns "$(read_pid "redis-$1")" redis-server && die "redis-$1 is already running"
  start_redis_node "$1"
  log "redis-$1 started again on port $(cat "$STATE_DIR/redis-$1.port")"
}

cmd_token() {
  [ $# -eq 2 ] || die "usage: $0 token ACCOUNT USER"
  [ -f "$ENV_FILE" ] || die "no cluster in $STATE_DIR"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  "$HERALD_CLUSTER_EDGE_NODE" token --account "$1" --user "$2" --secret "$HERALD_CLUSTER_JWT_SECRET"
}

command="${1:-}"
shift || true
case "$command" in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  stop-node) cmd_stop_node "$@" ;;
  kill-node) cmd_kill_node "$@" ;;
  start-node) cmd_start_node "$@" ;;
  token) cmd_token "$@" ;;
  kill-redis) cmd_kill_redis "$@" ;;
  start-redis) cmd_start_redis "$@" ;;
  *) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
