#!/usr/bin/env bash
# Builds the Centrifuge peer (main.go) with Debian's Go from Debian's packaged Go sources, starts
# it in the background on 127.0.0.1:$PORT against the Redis at $REDIS_URL and prints its PID as
# its last line. Installs the Debian packages it needs when missing and run as root. The binary and
# Go's build cache live in loadtest/.build-peers/centrifugo/ (ignored by git), so a second start
# does not rebuild.
#   PORT=8082 REDIS_URL=redis://127.0.0.1:6379 GOMAXPROCS=1 RUN_DIR=/tmp/centrifugo loadtest/peers/centrifugo/run.sh
# Stop it with: kill "$(cat "$RUN_DIR/pid")"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${PORT:-8082}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
dir=${RUN_DIR:-$(mktemp -d /tmp/herald-centrifugo.XXXXXX)}
build_dir=${CENTRIFUGO_BUILD_DIR:-$here/../../.build-peers/centrifugo}
mkdir -p "$dir" "$build_dir"

# The library and every package it imports (Debian's centrifuge package does not depend on all of
# them), and Go 1.19 itself.
packages=(golang-go golang-github-centrifugal-centrifuge-dev golang-github-centrifugal-protocol-dev
  golang-github-fzambia-eagle-dev golang-github-igm-sockjs-go-dev golang-github-mna-redisc-dev)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "centrifugo peer: need ${missing[*]} (run as root or install them)" >&2; exit 1; }
  echo "centrifugo peer: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# GOPATH mode: imports come from /usr/share/gocode only; nothing is downloaded.
binary="$build_dir/centrifuge-peer"
if [ ! -x "$binary" ] || [ "$here/main.go" -nt "$binary" ]; then
  echo "centrifugo peer: building $binary" >&2
  (cd "$here" && GO111MODULE=off GOFLAGS='' GOPROXY=off GOPATH="$build_dir/gopath:/usr/share/gocode" \
    GOCACHE="$build_dir/gocache" /usr/lib/go/bin/go build -o "$binary.tmp" main.go) >&2
  mv "$binary.tmp" "$binary"
fi

ulimit -n 200000 2>/dev/null || ulimit -n 65536 2>/dev/null || true
PORT="$port" REDIS_URL="$redis_url" GOMAXPROCS="${GOMAXPROCS:-1}" "$binary" >"$dir/stdout.log" 2>&1 &
echo $! >"$dir/pid"
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
  kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/stdout.log" >&2; exit 1; }
  sleep 0.1
done
cat "$dir/pid"
