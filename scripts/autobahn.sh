#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client (cases 1-10, and 12-13 which report compression as
# unimplemented) against the test-only echo server built from Herald's WebSocket frame pipeline,
# and prints the summary kept in docs/reliability.md. Not part of scripts/test.sh (the Swift
# conformance tests guard one case of each class there); takes a few minutes.
#   scripts/autobahn.sh [--quick]      (--quick: cases 1-8 and 10 only)
# Needs Python 2.7 (wstest does not run on Python 3): pyenv's 2.7 or python2.7 on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${AUTOBAHN_DIR:-.build-autobahn}"
mkdir -p "$work"
python2=$(command -v python2.7 || true)
[ -n "$python2" ] || { [ -x "$HOME/.pyenv/versions/2.7.18/bin/python" ] && python2="$HOME/.pyenv/versions/2.7.18/bin/python"; }
[ -n "$python2" ] || { echo "autobahn: needs Python 2.7 (python2.7 on PATH, or pyenv install 2.7.18)" >&2; exit 1; }
if [ ! -x "$work/venv/bin/wstest" ]; then
  "$python2" -c 'import setuptools' 2>/dev/null || "$python2" -m ensurepip >/dev/null
  "$python2" -m pip install -q --target "$work/virtualenv" "virtualenv<20.22"
  PYTHONPATH="$work/virtualenv" "$python2" -m virtualenv -q -p "$python2" "$work/venv"
  "$work/venv/bin/pip" install -q autobahntestsuite
fi
swift build --product autobahn-echo-server >&2
server="$(swift build --show-bin-path)/autobahn-echo-server"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server" "$port" >"$work/echo.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
sleep 1
cases='["*"]'; excluded='[]'
[ "${1:-}" = "--quick" ] && excluded='["9.*", "12.*", "13.*"]'
cat >"$work/fuzzingclient.json" <<JSON
{"outdir": "$work/reports", "servers": [{"agent": "herald", "url": "ws://127.0.0.1:$port"}],
 "cases": $cases, "exclude-cases": $excluded, "exclude-agent-cases": {}}
JSON
(cd "$work" && timeout 3600 venv/bin/wstest -m fuzzingclient -s fuzzingclient.json >wstest.log 2>&1)
python3 - "$work/reports/index.json" <<'PY'
import collections, json, sys
results = json.load(open(sys.argv[1]))["herald"]
counts = collections.Counter(r["behavior"] for r in results.values())
print(f"Autobahn|Testsuite fuzzingclient: {len(results)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
for key, r in sorted(results.items()):
    if r["behavior"] in ("NON-STRICT", "INFORMATIONAL", "FAILED", "WRONG CODE"):
        print(f"  {key}: {r['behavior']}")
sys.exit(1 if counts.get("FAILED") else 0)
PY
