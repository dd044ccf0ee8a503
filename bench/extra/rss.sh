#!/bin/bash
# Daemon RSS with N sessions loaded in one batch (`netauth allow --from FILE`), sampled
# every 5 s for 40 s: the load, then four checkpoints (one every 10 s). Not part of
# `cargo xtask bench`, whose RSS row comes after every other measurement of a count; this
# isolates what the session table and its checkpoints hold. Run as root:
# bench/extra/rss.sh [BIN] [N]
set -euo pipefail
BIN=$(realpath "${1:-target/release/netauth}"); N=${2:-100000}
. "$(dirname "$0")/lib.sh"
start_netauth na-rss
load_sessions "$N"
rss() { awk '/VmRSS/{printf "%.0f", $2/1024}' /proc/$PID/status; }
samples="$(rss)"
for _ in $(seq 8); do sleep 5; samples="$samples $(rss)"; done
echo "sessions=$N RSS MB, right after the load then every 5 s: $samples"
