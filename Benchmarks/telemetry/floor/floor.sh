#!/usr/bin/env bash
# Where a scheduler probe's time goes: the anchors of floor.bpf.c (on sched_switch: an empty program; one
# bpf_ktime_get_ns; one task-storage lookup; one per-CPU array add; four dependent loads to a cgroup id; the
# counters-only program, per-tenant counters in a hash map keyed by cgroup v2 id; on sched_wakeup: an empty program,
# a write to the wakee's task storage, the counters-only program) attached beside the telemetry probes of a release
# `dpm telemetry` watching the workload's tenant, all on the same events; ns per run from the kernel's BPF stats
# (which add two clock reads to every run, anchors included). Prints each round's figures and each program's median.
# Run as root: Benchmarks/telemetry/floor/floor.sh [DIR] [ROUNDS]
# DIR holds a release dpm and TelemetryLoad (default .build/release). Environment: WORKLOAD (default pipe) is a
# workload of Benchmarks/telemetry/workload.sh (pipe: two perf bench sched pipe at once; mixed: section 1's);
# LOOPS (default 200000) each perf bench sched pipe's loops; ANCHORS=0 leaves the anchors out (the probes alone, as
# section 1 of run.sh measures them), to see whether the anchors' presence moves the probes' own figures.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
here=$(dirname "$0")
dir=$(realpath "${1:-$here/../../../.build/release}") rounds=${2:-3}
workload=${WORKLOAD:-pipe} loops=${LOOPS:-200000} anchors=${ANCHORS:-1}
cd "$here"
source ../common.sh
work=$(mktemp -d)
pins=/sys/fs/bpf/dpm-bench-floor-$$
tenant=/sys/fs/cgroup/unified/dpm-bench-floor-$$
mkdir "$tenant"
pid= loader=
stop() { # floor-load ignores SIGINT (started in the background), dpm telemetry cleans up on it
    for p in $loader; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for p in $pid; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    pid= loader=
}
trap 'stop; sysctl -q kernel.bpf_stats_enabled=0; rmdir "$tenant" 2>/dev/null || true; rm -rf "$work"' EXIT
"${CLANG:-clang}" -target bpf -g -O2 -mcpu=v3 -D__TARGET_ARCH_x86 -I ../../../bpf/vmlinux/x86_64 \
    -c floor.bpf.c -o "$work/floor.o"
cc -O2 floor-load.c -o "$work/floor-load" -lbpf
echo "# host: $(uname -r), $(nproc) CPUs; probes of $dir/dpm telemetry (1 tenant, interval 1s); $rounds rounds;"
echo "# workload $workload (Benchmarks/telemetry/workload.sh $workload TENANT $loops) in the tenant; anchors $([ "$anchors" = 1 ] && echo attached || echo left out)"
for round in $(seq "$rounds"); do
    before=$(newest_program_id)
    "$dir/dpm" telemetry --pin-directory "$pins" --cgroup "$tenant" --interval 1s >/dev/null & pid=$!
    for _ in $(seq 200); do [ -e "$pins/records" ] && break; sleep 0.05; done
    if [ "$anchors" = 1 ]; then "$work/floor-load" "$work/floor.o" 3600 & loader=$!; fi
    sleep 0.5
    sysctl -q kernel.bpf_stats_enabled=1
    ../workload.sh "$workload" "$tenant" "$loops" "$dir"
    echo "  round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
    # This round's programs only (others may load programs of the same names meanwhile): the probes pinned in $pins
    # and the anchors, loaded since the round began.
    mine=$(for pin in "$pins"/*; do bpftool -j prog show pinned "$pin" 2>/dev/null || true; done \
        | python3 -c 'import json, sys; print(",".join(str(d["id"]) for d in (json.loads(line) for line in sys.stdin if line.strip()) if "id" in d))')
    bpftool -j prog show | python3 -c '
import json, sys
mine = {int(i) for i in sys.argv[2].split(",") if i}
for p in json.load(sys.stdin):
    if p["id"] > int(sys.argv[1]) and (p["id"] in mine or p["name"].startswith("floor_")) and p.get("run_cnt"):
        print("    %-24s run_cnt %9d  ns/run %6.1f" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))' "$before" "$mine" \
        | tee -a "$work/rounds"
    sysctl -q kernel.bpf_stats_enabled=0
    stop
done
echo "  medians over $rounds rounds (ns/run; min-max):"
python3 -c '
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    runs.setdefault(f[0], []).append(float(f[-1]))
for name, v in runs.items():
    print("    %-24s %6.1f  (%.1f-%.1f, %d rounds)" % (name, statistics.median(v), min(v), max(v), len(v)))' "$work/rounds"
