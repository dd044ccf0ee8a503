#!/bin/bash
# Daemon RSS with N sessions loaded in one batch (`netauth allow --from FILE`), sampled
# every 5 s for 40 s: the load, then four checkpoints (one every 10 s). Not part of
# `cargo xtask bench`, whose RSS row comes after every other measurement of a count; this
# isolates what the session table and its checkpoints hold. Run as root:
# bench/extra/rss.sh [BIN] [N]
set -euo pipefail
BIN=$(realpath "${1:-target/release/netauth}"); N=${2:-100000}; NS=na-rss
D=$(mktemp -d)
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  umount "$D/bpf" 2>/dev/null || true; ip netns del $NS 2>/dev/null || true; rm -rf "$D"
}
trap cleanup EXIT
ip netns del $NS 2>/dev/null || true
ip netns add $NS
ip -n $NS link add lan0 type veth peer name lan1
ip -n $NS addr add 192.0.2.1/24 dev lan0
ip -n $NS link set lan0 up; ip -n $NS link set lan1 up; ip -n $NS link set lo up
mkdir -p "$D/bpf"; mount -t bpf bpf "$D/bpf"
ip netns exec $NS "$BIN" run --lan lan0 --admin-socket "$D/admin.sock" --state-dir "$D/state" \
  --bpffs "$D/bpf" > "$D/log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -S "$D/admin.sock" ] && break; sleep 0.1; done
[ -S "$D/admin.sock" ] || { echo "netauth did not start:"; cat "$D/log"; exit 1; }
python3 -c "
for i in range($N):
    print('06:%02x:%02x:%02x:%02x:01' % ((i>>24)&255, (i>>16)&255, (i>>8)&255, i&255))
" > "$D/macs"
"$BIN" allow --from "$D/macs" --for 24h --admin-socket "$D/admin.sock"
rss() { awk '/VmRSS/{printf "%.0f", $2/1024}' /proc/$PID/status; }
samples="$(rss)"
for _ in $(seq 8); do sleep 5; samples="$samples $(rss)"; done
echo "sessions=$N RSS MB, right after the load then every 5 s: $samples"
