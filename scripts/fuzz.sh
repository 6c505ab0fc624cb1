#!/usr/bin/env bash
# Builds Herald's libFuzzer targets (fuzz/, with the address sanitizer) and runs each for a
# bounded time on a copy of its seed corpus (fuzz/corpus/<target>/), printing executions per
# target. New inputs stay in the copy unless --keep-corpus; a crash leaves its input in
# .build-fuzz/artifacts/ and fails the run.
#   scripts/fuzz.sh [--seconds N] [--keep-corpus] [target ...]    (default: 10 s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10 keep=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift ;;
    --keep-corpus) keep=1 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=(FuzzClientMessage FuzzEventRouting FuzzStreamOffset FuzzRESPReader FuzzHTTPRequest FuzzWebSocketFrames)
scratch="$PWD/.build-fuzz"
swift build --package-path fuzz --scratch-path "$scratch" -c debug --sanitize=fuzzer --sanitize=address \
  -Xswiftc -enable-testing >&2
bin="$(swift build --package-path fuzz --scratch-path "$scratch" -c debug --sanitize=fuzzer --sanitize=address -Xswiftc -enable-testing --show-bin-path)"
mkdir -p "$scratch/artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for target in "${targets[@]}"; do
  corpus="$work/$target"
  cp -r "fuzz/corpus/$target" "$corpus"
  log="$work/$target.log"
  if "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$scratch/artifacts/$target-" "$corpus" "fuzz/corpus/$target" >"$log" 2>&1; then
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "$target: ${runs:-?} executions in ${seconds} s, no crash, corpus $(ls "$corpus" | wc -l) inputs"
    if [ "$keep" = 1 ]; then cp -n "$corpus"/* "fuzz/corpus/$target/" 2>/dev/null || true; fi
  else
    echo "$target: FAILED (input and log in $scratch/artifacts/)" >&2
    cp "$log" "$scratch/artifacts/$target.log"
    tail -n 30 "$log" >&2
    failed=1
  fi
done
exit "$failed"
