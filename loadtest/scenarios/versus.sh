#!/usr/bin/env bash
# Herald against its peers: the fan-out ladder against Herald (events by Redis PUBLISH, then by its
# HTTP API with history), the Nchan peer and the Centrifuge peer in one run (one after the other,
# same machine, same counts), one HTML chart with all four.
# Installs nginx-light and libnginx-mod-nchan, and Debian's Go and Centrifuge packages, when
# missing (peers/*/run.sh).
#   versus.sh [--smoke] [--html out.html]
source "$(dirname "$0")/lib.sh"
HTML_OUT=""
while [ $# -gt 0 ]; do
  case "$1" in --html) HTML_OUT="$2"; shift ;; esac
  shift
done
SMOKE_FLAG=(); [ "$SMOKE" = 1 ] && SMOKE_FLAG=(--smoke)
TARGETS=(herald herald-http nchan centrifugo)
build_all
RESULTS=()
for target in "${TARGETS[@]}"; do
  "$LOADTEST_DIR/scenarios/fanout.sh" "${SMOKE_FLAG[@]}" --target "$target" --json "$WORK_DIR/$target.json" >/dev/null
  RESULTS+=("$WORK_DIR/$target.json")
done
"$SWARM" report --title "Herald vs Nchan vs Centrifuge: fan-out ladder" --html "$WORK_DIR/versus.html" \
  "${RESULTS[@]}" >&2
[ -n "$HTML_OUT" ] && cp "$WORK_DIR/versus.html" "$HTML_OUT"
python3 - "${RESULTS[@]}" <<'PY'
import json, os, sys
runs = {os.path.basename(path)[:-len(".json")]: json.load(open(path)) for path in sys.argv[1:]}
print(json.dumps({"scenario": "versus", "best_passing_deliveries_per_second":
    {k: v.get("maxPassingDeliveriesPerSecond") for k, v in runs.items()}, "runs": runs}, separators=(",", ":")))
PY
