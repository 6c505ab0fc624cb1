#!/usr/bin/env bash
# Installs the system packages Herald needs on Debian/Ubuntu when they are missing:
# libhiredis-dev (always), redis-server (with --with-redis), and Debian's chromium with its
# chromedriver plus curl and React 18 (with --with-chromium: the SSE test drives a real EventSource
# and curl; the browser test opens the React examples).
set -euo pipefail
packages=()
dpkg -s libhiredis-dev >/dev/null 2>&1 || packages+=(libhiredis-dev)
for option in "$@"; do
  case "$option" in
    --with-redis) command -v redis-server >/dev/null 2>&1 || packages+=(redis-server) ;;
    --with-chromium)
      command -v chromium >/dev/null 2>&1 || packages+=(chromium)
      command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
      command -v curl >/dev/null 2>&1 || packages+=(curl)
      # The React examples the browser test opens are served from Debian's React 18 builds.
      [ -d /usr/share/nodejs/react/umd ] || packages+=(node-react)
      [ -d /usr/share/nodejs/react-dom/umd ] || packages+=(node-react-dom)
      ;;
    *) echo "install-deps.sh: unknown option $option" >&2; exit 2 ;;
  esac
done
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
if ((${#packages[@]})); then
  echo "installing: ${packages[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
