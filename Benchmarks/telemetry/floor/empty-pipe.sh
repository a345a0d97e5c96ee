#!/usr/bin/env bash
# What attaching any program to sched_switch and sched_wakeup costs the pinned pipe before it does anything: PAIRS
# interleaved pairs of `taskset -c 1 perf bench sched pipe -l LOOPS` without / with only the empty programs of
# floor.bpf.c attached (floor_empty on sched_switch, floor_wk_empty on sched_wakeup; kernel BPF stats off, as in
# section 2 of run.sh); medians, ratio of medians, median pair ratio. The floor of section 2's pipe slowdown for any
# design made of these two tracepoint programs. Run as root: Benchmarks/telemetry/floor/empty-pipe.sh [PAIRS] [LOOPS]
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
pairs=${1:-10} loops=${2:-200000}
cd "$(dirname "$0")"
source ../common.sh
work=$(mktemp -d)
loader=
stop() { if [ -n "$loader" ]; then kill -TERM "$loader" 2>/dev/null || true; wait "$loader" 2>/dev/null || true; fi; loader=; }
trap 'stop; rm -rf "$work"' EXIT
"${CLANG:-clang}" -target bpf -g -O2 -mcpu=v3 -D__TARGET_ARCH_x86 -I ../../../bpf/vmlinux/x86_64 \
    -c floor.bpf.c -o "$work/floor.o"
cc -O2 floor-load.c -o "$work/floor-load" -lbpf
start() {
    "$work/floor-load" "$work/floor.o" 3600 floor_empty floor_wk_empty & loader=$!
    for _ in $(seq 100); do bpftool -j prog show | grep -q '"name":"floor_wk_empty"' && break; sleep 0.05; done
}
pipe() { taskset -c 1 perf bench sched pipe -l "$loops" | awk '/usecs\/op/ {print $1}'; }
echo "# host: $(uname -r), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $pairs pairs of taskset -c 1 perf bench sched pipe -l $loops"
for i in $(seq "$pairs"); do
    if [ $((i % 2)) = 1 ]; then without=$(pipe); start; with=$(pipe); stop
    else start; with=$(pipe); stop; without=$(pipe); fi
    echo "$without $with" >> "$work/pairs"
    echo "pair $i: without $without with $with (usecs/op)"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median without $(awk '{print $1}' "$work/pairs" | median), median with $(awk '{print $2}' "$work/pairs" | median)," \
    "ratio of medians $(awk '{print $1}' "$work/pairs" | median | awk -v w="$(awk '{print $2}' "$work/pairs" | median)" '{printf "%.3f", w / $1}')," \
    "median pair ratio $(awk '{print $2 / $1}' "$work/pairs" | median)"
