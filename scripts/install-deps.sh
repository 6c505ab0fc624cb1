#!/usr/bin/env bash
# Installs the system packages Herald needs on Debian/Ubuntu when they are missing:
# libhiredis-dev (always) and redis-server (when called with --with-redis).
set -euo pipefail
packages=()
dpkg -s libhiredis-dev >/dev/null 2>&1 || packages+=(libhiredis-dev)
if [[ "${1:-}" == "--with-redis" ]]; then
  command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
fi
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
if ((${#packages[@]})); then
  echo "installing: ${packages[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
