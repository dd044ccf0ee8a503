#!/bin/bash
# Daemon CPU at rest with N sessions that all have an idle timeout (the enforcement loop
# must read every session's activity from the kernel): CPU time over 10 s, from
# /proc/PID/stat. Not part of `cargo xtask bench` because it changes the daemon's
# settings. Run as root: bench/extra/idle-cpu.sh [BIN] [N]
set -euo pipefail
BIN=$(realpath "${1:-target/release/netauth}"); N=${2:-100000}; NS=na-idlecpu
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
  --bpffs "$D/bpf" --xdp-mode generic --idle-timeout 1h > "$D/log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -S "$D/admin.sock" ] && break; sleep 0.1; done
[ -S "$D/admin.sock" ] || { echo "netauth did not start:"; cat "$D/log"; exit 1; }
# One batch (the admin API serves one request per connection, so a loop of single POSTs
# over kept connections does not work).
python3 -c "
for i in range($N):
    print('06:%02x:%02x:%02x:%02x:01' % ((i>>24)&255, (i>>16)&255, (i>>8)&255, i&255))
" > "$D/macs"
"$BIN" allow --from "$D/macs" --for 24h --admin-socket "$D/admin.sock"
sleep 12   # past the first checkpoint
ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
HZ=$(getconf CLK_TCK); t0=$(ticks); sleep 10; t1=$(ticks)
echo "sessions=$N idle-timeout=1h cpu=$(( (t1 - t0) * 100 / HZ / 10 ))% of one core over 10 s (RSS $(awk '/VmRSS/{print $2/1024}' /proc/$PID/status) MB)"
