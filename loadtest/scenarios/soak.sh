#!/usr/bin/env bash
# Soak: one edge node under steady mixed load for 10 minutes, checked for memory growth,
# descriptor leaks and loss. 15,000 connections from one swarm process (100 accounts × 10 users,
# 15 tabs each) with continuous churn (50 closes/s; each churned slot reconnects after a random
# 0–3 s with since=<the last offset it received>, so its replay carries what it missed), events
# published with history (FCALL herald_publish,
# 100 events/s = 1 per account per second, ~15,000 deliveries/s), typing.start (20/s over 3
# conversations) and presence.get (10/s). swarm samples the node's RSS and open descriptors
# (/proc/<pid>/fd) every minute from the start of the load.
#
# Checks (the script exits 1 when one fails, after printing its JSON):
#   - RSS: at the end at most 10 % above its level after warm-up (the sample 2 minutes into the
#     load; a fall is fine);
#   - descriptors: back to the idle node's count (+ 16) within 30 s of swarm closing its
#     connections;
#   - loss: no lost and no duplicated delivery, and no reported gap (recovered:false), over
#     every slot that stayed owed the whole run — churned slots included (swarm's --resume rule).
# --smoke (CI): 300 connections, 30 s of load, samples every 5 s, warm-up = the 10 s sample; the
# loss and descriptor checks are the same, the RSS check only fails above 50 % growth (a
# 30-second run has not reached a steady state: allocator arenas and caches still grow).
#   soak.sh [--smoke] [--minutes N] [--json summary.json]
source "$(dirname "$0")/lib.sh"
MINUTES="" JSON_OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift ;;
    --json) JSON_OUT="$2"; shift ;;
  esac
  shift
done
if [ "$SMOKE" = 1 ]; then
  CONNECTIONS=300 ACCOUNTS=10 USERS=5 RATE=20 CHURN=10 TYPING=5 PRESENCE=5
  STEP=30 SAMPLE=5 WARMUP=10 RSS_LIMIT=50 GRACE=4 FD_WAIT=15 RAMP=1000 DOWNTIME_MS=2000
else
  CONNECTIONS=15000 ACCOUNTS=100 USERS=10 RATE=100 CHURN=50 TYPING=20 PRESENCE=10
  STEP=600 SAMPLE=60 WARMUP=120 RSS_LIMIT=10 GRACE=6 FD_WAIT=30 RAMP=2000 DOWNTIME_MS=3000
fi
[ -n "$MINUTES" ] && STEP=$(python3 -c "print(max(1, round(float('$MINUTES') * 60)))")
FD_ALLOWANCE=16
DURATION=$((STEP + 120))
build_all
start_redis
# A resume only needs the events after the slot's last offset: a churned slot is back within 3 s,
# a dropped one within the backoff (≤ 30 s), i.e. at most a few dozen events of its account at
# 1 event/s per account — far inside the default window (1,000 events / 10 minutes).
export HERALD_MAX_CONNECTIONS=$((CONNECTIONS + 2000 < 18900 ? CONNECTIONS + 2000 : 18900))
start_node soak-n1
unset HERALD_MAX_CONNECTIONS

fds() { find "/proc/$NODE_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss() { awk '/VmRSS/{print $2}' "/proc/$NODE_PID/status"; }
sleep 1
BASE_FDS=$(fds) BASE_RSS=$(rss)
log "node pid $NODE_PID idle: $BASE_FDS descriptors, RSS $BASE_RSS KiB; load: $CONNECTIONS connections, $STEP s"

OUT="$WORK_DIR/swarm.out"
set +e
"$SWARM" run --label soak --url "ws://127.0.0.1:$NODE_PORT" --secret "$SECRET" \
  --connections "$CONNECTIONS" --accounts "$ACCOUNTS" --users "$USERS" --account-prefix soak \
  --ramp "$RAMP" --churn "$CHURN" --churn-downtime-ms "$DOWNTIME_MS" --resume --publish function --redis "$REDIS_URL" --rate "$RATE" \
  --step-seconds "$STEP" --grace-seconds "$GRACE" --settle-seconds 2 --max-p99-ms 10000 \
  --typing-rate "$TYPING" --presence-rate "$PRESENCE" --sample-seconds "$SAMPLE" \
  --pid "$NODE_PID" --duration "$DURATION" --json "$WORK_DIR/result.json" >"$OUT"
SWARM_RC=$?
set -e
head -n -1 "$OUT" >&2
[ "$SWARM_RC" = 0 ] || { log "swarm exited $SWARM_RC"; tail -20 "$WORK_DIR/soak-n1.log" >&2; exit 1; }

# Descriptors after the run's connections closed: poll until back near the idle count.
deadline=$((SECONDS + FD_WAIT))
AFTER_FDS=$(fds)
while [ "$AFTER_FDS" -gt $((BASE_FDS + FD_ALLOWANCE)) ] && [ "$SECONDS" -lt "$deadline" ]; do
  sleep 0.5
  AFTER_FDS=$(fds)
done
sleep 1
AFTER_FDS=$(fds) AFTER_RSS=$(rss)
NODE_ALIVE=0; kill -0 "$NODE_PID" 2>/dev/null && NODE_ALIVE=1
curl -s "http://127.0.0.1:$NODE_PORT/metrics" >"$WORK_DIR/metrics.txt" || true
WARNINGS=$(grep -c . "$WORK_DIR/soak-n1.log" || true)
[ "$WARNINGS" -gt 0 ] && { log "node log ($WARNINGS lines at warning and above), last lines:"; tail -5 "$WORK_DIR/soak-n1.log" >&2; }

set +e
python3 - "$WORK_DIR/result.json" "$WORK_DIR/metrics.txt" "$WORK_DIR/soak-n1.log" "$WORK_DIR/summary.json" <<PY
import json, sys
report = json.load(open(sys.argv[1]))
smoke, warmup, rss_limit = $SMOKE == 1, $WARMUP, $RSS_LIMIT
base_fds, after_fds, allowance, base_rss, after_rss = $BASE_FDS, $AFTER_FDS, $FD_ALLOWANCE, $BASE_RSS, $AFTER_RSS
metrics = {}
for line in open(sys.argv[2]).read().splitlines():
    if line.startswith("herald_") and "_bucket" not in line:
        name, _, value = line.rpartition(" ")
        try: metrics[name] = float(value)
        except ValueError: pass
log_tail = open(sys.argv[3]).read().splitlines()
log_lines = len(log_tail)
samples = report.get("samples") or []
step = (report.get("steps") or [None])[0]
def node(sample): return (sample.get("servers") or [{}])[0]

# Per-interval table: memory and descriptors at each sample, counters as deltas since the last.
rows, previous = [], None
for s in samples:
    n = node(s)
    delta = (lambda key: s[key] - previous[key]) if previous else (lambda key: s[key])
    rows.append({"sample": s["label"], "load_s": s["loadSeconds"], "rss_kib": n.get("rssKiB"), "fds": n.get("openDescriptors"),
                 "cpu_pct": n.get("cpuPercent"), "connected": s["connected"], "churned": delta("churned"), "resumes": delta("resumes"),
                 "replayed": delta("replayed"), "gaps": delta("gaps"), "published": delta("published"), "delivered": delta("delivered"),
                 "duplicates": delta("duplicates"), "typing": delta("typingSent"), "presence_get": delta("presenceSent"),
                 "drops": delta("drops")})
    previous = s
cols = ["sample", "load_s", "rss_kib", "fds", "cpu_pct", "connected", "churned", "resumes", "replayed", "gaps", "published",
        "delivered", "duplicates", "typing", "presence_get", "drops"]
print("| " + " | ".join(cols) + " |", file=sys.stderr)
print("|" + "---|" * len(cols), file=sys.stderr)
for r in rows: print("| " + " | ".join(str(r[c]) for c in cols) + " |", file=sys.stderr)

by_label = {s["label"]: s for s in samples}
warm = by_label.get("+%ds" % warmup)
end = by_label.get("end")
checks = {}
if warm and end:
    w, e = node(warm)["rssKiB"], node(end)["rssKiB"]
    change = round((e - w) / w * 100, 2)
    checks["rss"] = {"warm_sample": warm["label"], "warm_kib": w, "end_kib": e, "change_pct": change,
                     "limit_pct": rss_limit, "passed": change <= rss_limit}
else:
    checks["rss"] = {"passed": False, "error": "no warm-up or end sample"}
peak_fds = max((node(s).get("openDescriptors") or 0) for s in samples) if samples else None
checks["descriptors"] = {"idle": base_fds, "peak": peak_fds, "after_close": after_fds, "allowance": allowance,
                         "passed": after_fds <= base_fds + allowance}
if step:
    checks["loss"] = {k: step.get(k) for k in ("published", "publishFailures", "publishSkipped", "eligibleConnections",
                                                "ineligibleConnections", "expected", "delivered", "lost", "duplicates",
                                                "reordered", "gaps")}
    frames = (report.get("activity") or {}).get("frames") or {}
    checks["loss"]["gap_reasons"] = frames.get("gapReasons") or {}
    checks["loss"]["latency_ms"] = step["latency"]
    checks["loss"]["passed"] = (step["lost"] == 0 and step["duplicates"] == 0 and (step.get("gaps") or 0) == 0
                                and step["eligibleConnections"] > 0)
else:
    checks["loss"] = {"passed": False, "error": "the load step did not run"}
checks["node_alive"] = {"passed": $NODE_ALIVE == 1}
passed = all(c["passed"] for c in checks.values())
summary = {"scenario": "soak", "smoke": smoke, "connections": report["setup"]["connections"],
           "load_seconds": report["setup"]["stepSeconds"], "idle_rss_kib": base_rss, "rss_after_close_kib": after_rss,
           "activity": report.get("activity"), "reconnects": report["reconnects"], "drops": report["drops"],
           "connected_at_end": report["connectedAtEnd"], "checks": checks, "passed": passed, "samples": rows,
           "node_log_lines": log_lines, "node_log_tail": log_tail[-5:], "node_metrics": metrics, "run": report}
for name, check in checks.items():
    print("check %-12s %s  %s" % (name, "PASS" if check["passed"] else "FAIL",
          json.dumps({k: v for k, v in check.items() if k not in ("passed", "latency_ms")})), file=sys.stderr)
open(sys.argv[4], "w").write(json.dumps(summary, indent=1))
print(json.dumps(summary, separators=(",", ":")))
sys.exit(0 if passed else 1)
PY
RC=$?
set -e
[ -n "$JSON_OUT" ] && cp "$WORK_DIR/summary.json" "$JSON_OUT"
exit "$RC"
