#!/usr/bin/env bash
# The fan-out ladder against the bare SwiftNIO floor server (no Redis, no auth, no JSON): the
# ceiling this machine and swarm allow. Same flags as fanout.sh.
exec "$(dirname "$0")/fanout.sh" --target floor "$@"
