#!/usr/bin/env bash
# Creates the repository's Python virtual environment at .venv/ (gitignored) and installs the pinned
# packages of Tests/Fault/requirements.txt (the fault test, scripts/fault.sh),
# Tests/Transports/requirements.txt (the SSE and Socket.IO test, scripts/transports.sh) and
# Tests/Browser/requirements.txt (herald.js in Chromium, scripts/browser.sh) into it.
# Idempotent: it reinstalls only when a requirements file changed. Installs python3-venv when the
# interpreter cannot make a venv (Debian's python3 without it).
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=(Tests/Fault/requirements.txt Tests/Transports/requirements.txt Tests/Browser/requirements.txt)
stamp=.venv/.requirements.sha256
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "installing: python3 python3-venv" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-venv >/dev/null
  python=python3
fi
want=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [[ -x .venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "${requirements[@]/#/-r}"
echo "$want" >"$stamp"
