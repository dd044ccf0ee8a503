#!/bin/bash
# Where a datapath program's time goes, per function and per instruction: runs one of
# netauth's programs alone on the authorized ("hit") frame with BPF_PROG_TEST_RUN
# (`cargo xtask bench --cost-only --cost-loop PROG`) under `perf record -a -e cpu-clock`
# (the VM has no hardware counters; the timer's samples land on the instruction after the
# one that was running, so read a hot offset as "just before here"). Prints the share of
# each kernel symbol, then the hottest offsets inside the program's own functions: match
# them against `objdump -D` of the JITed code (bpftool here cannot disassemble; the
# offsets are those of `bpftool prog dump jited ... file F` output).
# Not part of `cargo xtask bench`: it profiles, it measures nothing the report compares.
# Run as root after `cargo xtask build`: bench/extra/progcost-profile.sh [tc|xdp|empty-tc|empty-xdp] [CLIENTS]
set -euo pipefail
PROG=${1:-tc}; N=${2:-100000}
case $PROG in tc|xdp|empty-tc|empty-xdp) ;; *) echo "program: tc, xdp, empty-tc or empty-xdp" >&2; exit 2 ;; esac
command -v perf >/dev/null || { echo "needs perf (Debian: linux-perf)" >&2; exit 1; }
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
perf record -q -a -F 20000 -e cpu-clock -o "$OUT/perf.data" -- \
  cargo xtask bench --cost-only --cost-loop "$PROG" --clients "$N" --force --no-build
echo "== share of samples per symbol (all CPUs; pv_native_safe_halt is the idle CPU)"
# (awk, not head: an early close would fail the pipeline under pipefail)
perf report -i "$OUT/perf.data" --sort sym --stdio 2>/dev/null | awk '!/^#/ && NF && n++ < 20'
echo "== hottest offsets in the program's functions (bpf_prog_<tag>_<function>+offset)"
perf script -i "$OUT/perf.data" -F ip,sym,symoff 2>/dev/null | awk '$2 ~ /^bpf_prog_/ {print $2}' |
  sort | uniq -c | sort -rn | awk 'NR <= 20'
