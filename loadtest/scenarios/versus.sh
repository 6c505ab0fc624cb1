#!/usr/bin/env bash
# Herald against the Nchan peer: the fan-out ladder against each in one run (one after the
# other, same machine, same counts), one HTML chart with both. Installs nginx-light and
# libnginx-mod-nchan when missing.
#   versus.sh [--smoke] [--html out.html]
source "$(dirname "$0")/lib.sh"
HTML_OUT=""
while [ $# -gt 0 ]; do
  case "$1" in --html) HTML_OUT="$2"; shift ;; esac
  shift
done
SMOKE_FLAG=(); [ "$SMOKE" = 1 ] && SMOKE_FLAG=(--smoke)
build_all
"$LOADTEST_DIR/scenarios/fanout.sh" "${SMOKE_FLAG[@]}" --target herald --json "$WORK_DIR/herald.json" >/dev/null
"$LOADTEST_DIR/scenarios/fanout.sh" "${SMOKE_FLAG[@]}" --target nchan --json "$WORK_DIR/nchan.json" >/dev/null
"$SWARM" report --title "Herald vs Nchan: fan-out ladder" --html "$WORK_DIR/versus.html" \
  "$WORK_DIR/herald.json" "$WORK_DIR/nchan.json" >&2
[ -n "$HTML_OUT" ] && cp "$WORK_DIR/versus.html" "$HTML_OUT"
python3 - "$WORK_DIR/herald.json" "$WORK_DIR/nchan.json" <<'PY'
import json, sys
runs = {name: json.load(open(path)) for name, path in zip(["herald", "nchan"], sys.argv[1:])}
print(json.dumps({"scenario": "versus", "best_passing_deliveries_per_second":
    {k: v.get("maxPassingDeliveriesPerSecond") for k, v in runs.items()}, "runs": runs}, separators=(",", ":")))
PY
