#!/bin/bash
# Daemon CPU at rest with N sessions that all have an idle timeout (the enforcement loop
# must read every session's activity from the kernel): CPU time over 10 s, from
# /proc/PID/stat. Not part of `cargo xtask bench` because it changes the daemon's
# settings. Run as root: bench/extra/idle-cpu.sh [BIN] [N]
set -euo pipefail
BIN=$(realpath "${1:-target/release/netauth}"); N=${2:-100000}
. "$(dirname "$0")/lib.sh"
start_netauth na-idlecpu --xdp-mode generic --idle-timeout 1h
load_sessions "$N"
sleep 12   # past the first checkpoint
ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
HZ=$(getconf CLK_TCK); t0=$(ticks); sleep 10; t1=$(ticks)
echo "sessions=$N idle-timeout=1h cpu=$(( (t1 - t0) * 100 / HZ / 10 ))% of one core over 10 s (RSS $(awk '/VmRSS/{print $2/1024}' /proc/$PID/status) MB)"
