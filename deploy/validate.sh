#!/usr/bin/env bash
# Validates what can be validated here without Docker or Kubernetes:
#   1. haproxy -c on deploy/haproxy/haproxy.cfg (only "could not resolve" warnings for the compose
#      service names are accepted)
#   2. nginx -t on a throwaway wrapper config that includes deploy/nginx/herald.conf
#   3. YAML parsing and schema sanity of deploy/kubernetes/*.yaml and deploy/docker/docker-compose.yml
#      (check_manifests.py)
#   4. systemd-analyze verify on deploy/systemd/herald-edge.service (ExecStart pointed at a stub)
#   5. bash -n and shellcheck (when installed) on the shell scripts
# Installs haproxy, nginx and python3-yaml with apt-get when missing (as root). Exits non-zero on
# any failure; a validator that is not available (systemd-analyze) is reported as skipped.
set -euo pipefail
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK_DIR="$(mktemp -d /tmp/herald-validate.XXXXXX)"
cleanup() { case "$WORK_DIR" in /tmp/herald-validate.*) rm -rf -- "$WORK_DIR" ;; esac; }
trap cleanup EXIT
failed=0
step() { echo "== $*"; }
fail() { echo "FAILED: $*"; failed=1; }

ensure_apt() {  # ensure_apt <test command…> -- <packages…>
  local check=() packages=()
  while [ "$1" != -- ]; do check+=("$1"); shift; done
  shift
  packages=("$@")
  "${check[@]}" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then echo "missing ${packages[*]} (install them, or run as root)"; return 1; fi
  echo "installing ${packages[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
}

step "haproxy -c -f deploy/haproxy/haproxy.cfg"
if ensure_apt command -v haproxy -- haproxy; then
  if haproxy -c -f "$DEPLOY_DIR/haproxy/haproxy.cfg" >"$WORK_DIR/haproxy.out" 2>&1; then
    unexpected="$(grep -E '^\[(WARNING|ALERT)\]' "$WORK_DIR/haproxy.out" | grep -v "could not resolve address 'edge[0-9]'" || true)"
    if [ -n "$unexpected" ]; then fail "haproxy warnings: $unexpected"; else tail -n 1 "$WORK_DIR/haproxy.out"; fi
  else
    cat "$WORK_DIR/haproxy.out"; fail "haproxy -c"
  fi
else
  fail "haproxy not available"
fi
# Tokens travel in ?token=: the access log must show paths, never query strings.
if grep -nE '^\s*option\s+httplog|%(\{[^}]*\})?(r|HU|HQ)\b' "$DEPLOY_DIR/haproxy/haproxy.cfg"; then
  fail "deploy/haproxy/haproxy.cfg would log query strings (tokens)"
fi

step "nginx -t with deploy/nginx/herald.conf"
# nginx itself is not installed when missing (its package would start a daemon on port 80): the
# Debian package is downloaded and unpacked into the temp dir instead, and its binary used from there.
NGINX="$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)"
if [ -z "$NGINX" ] && command -v apt-get >/dev/null 2>&1; then
  echo "nginx not installed: unpacking Debian's nginx package into $WORK_DIR"
  { [ "$(id -u)" != 0 ] || apt-get update -qq; } \
    && (cd "$WORK_DIR" && apt-get download -qq nginx >/dev/null 2>&1) \
    && dpkg-deb -x "$(ls "$WORK_DIR"/nginx_*.deb | head -n 1)" "$WORK_DIR/nginx-package" \
    && NGINX="$WORK_DIR/nginx-package/usr/sbin/nginx"
fi
if [ -n "$NGINX" ] && [ -x "$NGINX" ]; then
  mkdir -p "$WORK_DIR/nginx/logs"
  cat >"$WORK_DIR/nginx/nginx.conf" <<CONF
pid $WORK_DIR/nginx/nginx.pid;
error_log $WORK_DIR/nginx/logs/error.log;
events {}
http {
    client_body_temp_path $WORK_DIR/nginx/client_body;
    proxy_temp_path $WORK_DIR/nginx/proxy;
    fastcgi_temp_path $WORK_DIR/nginx/fastcgi;
    uwsgi_temp_path $WORK_DIR/nginx/uwsgi;
    scgi_temp_path $WORK_DIR/nginx/scgi;
    access_log $WORK_DIR/nginx/logs/access.log;
    include $DEPLOY_DIR/nginx/herald.conf;
}
CONF
  if "$NGINX" -t -p "$WORK_DIR/nginx" -c "$WORK_DIR/nginx/nginx.conf" >"$WORK_DIR/nginx.out" 2>&1; then
    tail -n 1 "$WORK_DIR/nginx.out"
  else
    cat "$WORK_DIR/nginx.out"; fail "nginx -t"
  fi
else
  fail "nginx not available (apt-get install nginx, or run as root so it can be unpacked)"
fi

step "YAML and schema sanity: deploy/kubernetes, deploy/docker/docker-compose.yml"
if ensure_apt python3 -c 'import yaml' -- python3 python3-yaml; then
  if python3 "$DEPLOY_DIR/check_manifests.py" >"$WORK_DIR/manifests.out" 2>&1; then
    echo "$(grep -c '^ok' "$WORK_DIR/manifests.out") checks passed"
  else
    grep -v '^ok' "$WORK_DIR/manifests.out"; fail "manifest checks"
  fi
else
  fail "python3 with PyYAML not available"
fi

step "systemd-analyze verify deploy/systemd/herald-edge.service"
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify insists that ExecStart exists: point it at a stub with the same name.
  mkdir -p "$WORK_DIR/systemd/bin"
  printf '#!/bin/sh\nexit 0\n' >"$WORK_DIR/systemd/bin/edge-node"
  chmod +x "$WORK_DIR/systemd/bin/edge-node"
  sed "s#^ExecStart=/usr/local/bin/edge-node#ExecStart=$WORK_DIR/systemd/bin/edge-node#" \
    "$DEPLOY_DIR/systemd/herald-edge.service" >"$WORK_DIR/systemd/herald-edge.service"
  if systemd-analyze verify "$WORK_DIR/systemd/herald-edge.service" >"$WORK_DIR/systemd.out" 2>&1 \
      && ! grep -q . "$WORK_DIR/systemd.out"; then
    echo "no findings"
  else
    cat "$WORK_DIR/systemd.out"; fail "systemd-analyze verify"
  fi
else
  echo "skipped: systemd-analyze is not installed"
fi

step "shell scripts: bash -n (and shellcheck when installed)"
for script in "$DEPLOY_DIR/local/cluster.sh" "$DEPLOY_DIR/validate.sh"; do
  bash -n "$script" || fail "bash -n $script"
done
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck -S warning "$DEPLOY_DIR/local/cluster.sh" "$DEPLOY_DIR/validate.sh" || fail shellcheck
else
  echo "bash -n ok; shellcheck not installed"
fi

if [ "$failed" != 0 ]; then echo "deploy/validate.sh: FAILED"; exit 1; fi
echo "deploy/validate.sh: all checks passed"
