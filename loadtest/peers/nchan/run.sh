#!/usr/bin/env bash
# Starts the Nchan peer in the background on 127.0.0.1:$PORT against the Redis at $REDIS_URL and
# prints the nginx master's PID as its last line. Needs Debian's nginx-light (or nginx) and
# libnginx-mod-nchan; the benchmark scenarios install them when missing.
#   PORT=8081 REDIS_URL=redis://127.0.0.1:6379 WORKERS=1 RUN_DIR=/tmp/nchan loadtest/peers/nchan/run.sh
# Stop it with: kill "$(cat "$RUN_DIR/pid")"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${PORT:-8081}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
workers=${WORKERS:-1}
dir=${RUN_DIR:-$(mktemp -d /tmp/herald-nchan.XXXXXX)}
mkdir -p "$dir"
sed -e "s#@WORKERS@#$workers#" -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#" -e "s#@REDIS_URL@#$redis_url#" \
  "$here/nginx.conf.in" >"$dir/nginx.conf"
ulimit -n 200000 2>/dev/null || ulimit -n 65536 2>/dev/null || true
if ! nginx -t -c "$dir/nginx.conf" -p "$dir" >"$dir/configtest.log" 2>&1; then
  cat "$dir/configtest.log" >&2
  exit 1
fi
nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/stdout.log" 2>&1 &
echo $! >"$dir/pid"
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/nchan_status" && break
  sleep 0.1
done
cat "$dir/pid"
