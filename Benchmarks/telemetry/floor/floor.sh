#!/usr/bin/env bash
# Where a sched_switch probe's time goes: the anchors of floor.bpf.c (an empty program; one bpf_ktime_get_ns; one
# task-storage lookup; one per-CPU array add; four dependent loads to a cgroup id) attached beside the telemetry
# probes of a release TelemetryBenchmark, all on the same switches; ns per run from the kernel's BPF stats (which
# add two clock reads to every run, anchors included). Run as root: Benchmarks/telemetry/floor/floor.sh [DIR] [ROUNDS]
# DIR holds a release TelemetryBenchmark (default .build/release).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
here=$(dirname "$0")
dir=$(realpath "${1:-$here/../../../.build/release}") rounds=${2:-3}
cd "$here"
work=$(mktemp -d)
trap 'sysctl -q kernel.bpf_stats_enabled=0; rm -rf "$work"' EXIT
"${CLANG:-clang}" -target bpf -g -O2 -mcpu=v3 -D__TARGET_ARCH_x86 -I ../../../bpf/vmlinux/x86_64 \
    -c floor.bpf.c -o "$work/floor.o"
cc -O2 floor-load.c -o "$work/floor-load" -lbpf
sysctl -q kernel.bpf_stats_enabled=1
echo "# host: $(uname -r), $(nproc) CPUs; probes of $dir; $rounds rounds; workload: TelemetryBenchmark rate 2 8 fifo (2 tenants running perf bench sched pipe)"
newest_program_id() { bpftool -j prog show | python3 -c 'import json, sys; print(max((p["id"] for p in json.load(sys.stdin)), default=0))'; }
for round in $(seq "$rounds"); do
    before=$(newest_program_id)
    "$dir/TelemetryBenchmark" rate 2 8 fifo 4194304 >/dev/null & pid=$!
    # The probes load in 1-3 s (the verifier's walk of the flush); the anchors go on once they run.
    for _ in $(seq 100); do
        bpftool -j prog show | grep -q '"name":"sched_switch_btf"' && [ "$(newest_program_id)" -gt "$before" ] && break
        sleep 0.1
    done
    "$work/floor-load" "$work/floor.o" 4 & loader=$!
    sleep 3.5
    echo "  round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
    bpftool -j prog show | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["id"] > int(sys.argv[1]) and p.get("run_cnt"):
        print("    %-24s run_cnt %9d  ns/run %6.1f" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))' "$before"
    wait "$loader"; wait "$pid"
done
