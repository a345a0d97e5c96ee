#!/usr/bin/env bash
# A/B of the scheduler probes' cost per run between two dpm builds, as the kernel accounts it
# (kernel.bpf_stats_enabled=1: run_time_ns / run_cnt of each pinned program). Each round starts `dpm telemetry` of one
# build, runs a workload of Benchmarks/telemetry/workload.sh in a watched cgroup (WORKLOAD: pinned-pipe, the default,
# `taskset -c 1 perf bench sched pipe -l LOOPS`; pipe, two unpinned pipes; mixed, run.sh section 1's pipe + hackbench
# + page faults + TCP, which needs TelemetryLoad beside DPM_A), reads the programs' stats and stops it; the builds
# alternate (A B, B A, …) so both see the same minutes of the shared host. Prints, per program, the
# per-round figures, each build's median, the ratio of medians and the median of the pair ratios (B / A).
# It never passes or fails. Run as root: Benchmarks/telemetry/switch-cost-ab.sh DPM_A DPM_B [ROUNDS] [LOOPS]
# (DPM_BPF_FORCE_RAW_TP=1 in the environment measures the raw_tp flavour).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
a=$1 b=$2 rounds=${3:-10} loops=${4:-100000} workload=${WORKLOAD:-pinned-pipe}
workload_script=$(realpath "$(dirname "$0")/workload.sh")
pins=/sys/fs/bpf/dpm-bench-ab-$$
tenant=/sys/fs/cgroup/unified/dpm-bench-ab-$$
work=$(mktemp -d /tmp/dpm-bench-ab.XXXXXX)
mkdir "$tenant"
pid=
stop() { if [ -n "$pid" ]; then kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; pid=; }
cleanup() { stop; sysctl -q kernel.bpf_stats_enabled=0; rmdir "$tenant" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
source "$(dirname "$0")/common.sh"

measure() { # BINARY SIDE: one round; appends "program ns/run" lines to $work/SIDE
    "$1" telemetry --pin-directory "$pins" --cgroup "$tenant" --interval 1s >/dev/null & pid=$!
    for _ in $(seq 200); do [ -e "$pins/records" ] && break; sleep 0.05; done
    sysctl -q kernel.bpf_stats_enabled=1
    "$workload_script" "$workload" "$tenant" "$loops" "$(dirname "$(realpath "$a")")"
    for program in sched_switch_btf sched_wakeup_btf sched_switch_raw sched_wakeup_raw; do
        [ -e "$pins/$program" ] || continue
        bpftool prog show pinned "$pins/$program" | awk -v p="$program" 'NR == 1 {
            for (i = 1; i <= NF; i++) { if ($i == "run_time_ns") t = $(i+1); if ($i == "run_cnt") c = $(i+1) }
            if (c) printf "%s %.1f\n", p, t / c }' >> "$work/$2"
    done
    sysctl -q kernel.bpf_stats_enabled=0
    stop
}

echo "# host: $(uname -r), $(nproc) CPUs; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# A = $a, B = $b; $rounds rounds of workload $workload (Benchmarks/telemetry/workload.sh $workload TENANT $loops) each, order alternating"
for i in $(seq "$rounds"); do
    if [ $((i % 2)) = 1 ]; then measure "$a" A; measure "$b" B; else measure "$b" B; measure "$a" A; fi
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for program in $(awk '{print $1}' "$work/A" | sort -u); do
    grep "^$program " "$work/A" | awk '{print $2}' > "$work/a.$program"
    grep "^$program " "$work/B" | awk '{print $2}' > "$work/b.$program"
    paste "$work/a.$program" "$work/b.$program" | awk '{print $2 / $1}' > "$work/r.$program"
    ma=$(median < "$work/a.$program"); mb=$(median < "$work/b.$program")
    echo "$program ns/run: A $(paste -sd' ' "$work/a.$program")"
    echo "$program ns/run: B $(paste -sd' ' "$work/b.$program")"
    echo "$program: median A $ma, median B $mb, ratio of medians B/A $(awk -v x="$mb" -v y="$ma" 'BEGIN {printf "%.3f", x / y}'), median pair ratio $(median < "$work/r.$program")"
done
