#!/usr/bin/env bash
# Telemetry overhead benchmarks. Prints what it measured, on what, how many runs, medians, p99 and ratios against
# the no-probes anchor of the same run. Run as root on a quiet machine: Benchmarks/telemetry/run.sh [PAIRS]
# Environment: SECTIONS (default "1 2 3 4") picks sections; SECTION1_ROUNDS (default 3) section 1's rounds;
# PIPE_LOOPS (default 50000) and HACKBENCH_LOOPS (default 1000) set each run of section 2's workloads: longer runs
# average over the host's swings in speed.
#   1. cost per probe run as the kernel accounts it (kernel.bpf_stats_enabled=1: run_time_ns / run_cnt), both flavours;
#      1b. anchors: what an empty program, one clock read, one task-storage lookup… and a counters-only program cost on
#      the same events, under the pipe and the mixed workloads
#   2. `perf bench sched pipe` and `hackbench -p` without and with the probes attached and `dpm telemetry` draining
#      every millisecond: PAIRS (default 10) interleaved pairs, median of each side, median of the pair ratios;
#      2b. pipe and hackbench with the probes attached but no consumer (the probes' part of the slowdown);
#      2d. pipe with empty programs only (the floor of any probe); 2c. the probes' run time during hackbench
#   3. consumer cost of one drain with 64 busy tenants (median, p99; wall clock and the consumer thread's CPU time),
#      normal priority and SCHED_FIFO, heap allocations per drain
#   4. event rate handled without drops, normal priority and SCHED_FIFO, two ring sizes
set -euo pipefail
cd "$(dirname "$0")/../.."
source Benchmarks/telemetry/common.sh
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
pairs=${1:-10}
pipe_loops=${PIPE_LOOPS:-50000}
hackbench_loops=${HACKBENCH_LOOPS:-1000}
section() { [[ " ${SECTIONS:-1 2 3 4} " == *" $1 "* ]]; }
swift build -c release --product dpm >/dev/null
swift build -c release --product TelemetryBenchmark >/dev/null
bin=.build/release
pins=/sys/fs/bpf/dpm-bench-$$
tenant=/sys/fs/cgroup/unified/dpm-bench-$$-a
idle=/sys/fs/cgroup/unified/dpm-bench-$$-b
mkdir -p "$tenant" "$idle"
telemetry_pid=
stop_telemetry() {
    if [ -n "$telemetry_pid" ]; then kill -INT "$telemetry_pid" 2>/dev/null || true; wait "$telemetry_pid" 2>/dev/null || true; fi
    telemetry_pid=
}
cleanup() { stop_telemetry; sysctl -q kernel.bpf_stats_enabled=0; rmdir "$tenant" "$idle" 2>/dev/null || true; }
trap cleanup EXIT
start_telemetry() { # [env assignments…]
    env "$@" "$bin/dpm" telemetry --pin-directory "$pins" --cgroup "$tenant" --cgroup "$idle" --interval 1s >/dev/null &
    telemetry_pid=$!
    for _ in $(seq 200); do [ -e "$pins/records" ] && return; sleep 0.05; done
    echo "dpm telemetry did not start" >&2; exit 1
}

echo "# host: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"

if section 1; then
rounds1=${SECTION1_ROUNDS:-3}
echo "## 1. cost per probe run (kernel BPF stats; workload in the tenant: perf bench sched pipe -l 200000,"
echo "##    hackbench -p -g 4 -l 500, 20000 page faults, 50 MB over loopback TCP); $rounds1 rounds, flavours alternating"
echo "##    (the probes count every event on the host, so one round also prices whatever else ran then: read the medians)"
: > /tmp/dpm-bench-section1
for round in $(seq "$rounds1"); do
for flavour in tp_btf raw_tp; do
    sysctl -q kernel.bpf_stats_enabled=1
    if [ "$flavour" = raw_tp ]; then start_telemetry DPM_BPF_FORCE_RAW_TP=1; else start_telemetry; fi
    Benchmarks/telemetry/workload.sh mixed "$tenant" 200000 "$bin"
    for pin in "$pins"/*; do
        name=$(basename "$pin")
        case "$name" in link_*|cgroup_slots|slot_counters|cpu_state|cpu_flushes|cpu_running|records) continue;; esac
        bpftool prog show pinned "$pin" | awk -v f="$flavour" -v r="$round" 'NR == 1 {
            for (i = 1; i <= NF; i++) { if ($i == "run_time_ns") t = $(i+1); if ($i == "run_cnt") c = $(i+1); if ($i == "name") n = $(i+1) }
            printf "round %d %-7s %-22s run_cnt %9d  run_time_ns %11d  ns/run %6.1f\n", r, f, n, c, t, (c ? t / c : 0) }'
    done | tee -a /tmp/dpm-bench-section1
    stop_telemetry
    sysctl -q kernel.bpf_stats_enabled=0
done
done
echo "# medians over $rounds1 rounds (ns/run), load now $(cut -d' ' -f1-3 /proc/loadavg):"
for key in $(awk '{print $3 "/" $4}' /tmp/dpm-bench-section1 | sort -u); do
    printf "%-7s %-22s median ns/run %6.1f\n" "${key%%/*}" "${key#*/}" \
        "$(awk -v f="${key%%/*}" -v n="${key#*/}" '$3 == f && $4 == n {print $NF}' /tmp/dpm-bench-section1 | median)"
done

echo "## 1b. where a scheduler probe's time goes: anchors beside the probes (Benchmarks/telemetry/floor/floor.sh), pipe and mixed workloads"
WORKLOAD=pipe Benchmarks/telemetry/floor/floor.sh "$bin" 3
WORKLOAD=mixed Benchmarks/telemetry/floor/floor.sh "$bin" 3
fi

measure() { # pipe|hackbench → one figure (µs per op, or seconds)
    # Both pipe tasks on one CPU: every round trip is two context switches, with no idle exit in between.
    if [ "$1" = pipe ]; then in_tenant taskset -c 1 perf bench sched pipe -l "$pipe_loops" | awk '/usecs\/op/ {print $1}'
    else in_tenant hackbench -p -g 4 -l "$hackbench_loops" | awk '/^Time:/ {print $2}'; fi
}
probes_pid=
start_probes_only() { # the probes attached, nothing drains (records pile up, then flushes count drops)
    "$bin/TelemetryBenchmark" rate 0 600 none 4194304 >/dev/null & probes_pid=$!
    for _ in $(seq 100); do bpftool -j prog show | grep -q '"name":"sched_switch_btf"' && break; sleep 0.1; done
    sleep 0.5
}
stop_probes_only() { kill -TERM "$probes_pid"; wait "$probes_pid" 2>/dev/null || true; }
interleave() { # BENCH START STOP: $pairs pairs without / with, order alternating; medians and ratios
    : > /tmp/dpm-bench-without; : > /tmp/dpm-bench-with; : > /tmp/dpm-bench-ratio
    for i in $(seq "$pairs"); do
        if [ $((i % 2)) = 1 ]; then
            without=$(measure "$1"); $2; with=$(measure "$1"); $3
        else
            $2; with=$(measure "$1"); $3; without=$(measure "$1")
        fi
        echo "$without" >> /tmp/dpm-bench-without; echo "$with" >> /tmp/dpm-bench-with
        awk -v a="$with" -v b="$without" 'BEGIN {print a / b}' >> /tmp/dpm-bench-ratio
        echo "pair $i: without $without with $with"
    done
    m_without=$(median < /tmp/dpm-bench-without); m_with=$(median < /tmp/dpm-bench-with)
    echo "median without $m_without, median with $m_with, ratio of medians $(awk -v a="$m_with" -v b="$m_without" 'BEGIN {printf "%.3f", a / b}'), median pair ratio $(median < /tmp/dpm-bench-ratio)"
}
if section 2; then
for bench in pipe hackbench; do
    label=$([ "$bench" = pipe ] && echo "taskset -c 1 perf bench sched pipe -l $pipe_loops (usecs/op)" || echo "hackbench -p -g 4 -l $hackbench_loops (s)")
    echo "## 2. $label: $pairs interleaved pairs, without / with probes + dpm telemetry draining every 1 ms"
    interleave "$bench" start_telemetry stop_telemetry
done
for bench in pipe hackbench; do
    label=$([ "$bench" = pipe ] && echo "taskset -c 1 perf bench sched pipe -l $pipe_loops (usecs/op)" || echo "hackbench -p -g 4 -l $hackbench_loops (s)")
    echo "## 2b. $label: $pairs interleaved pairs, without / with the probes attached and nothing"
    echo "##     draining (TelemetryBenchmark rate 0 600 none): the probes' part of section 2's slowdown, without the consumer"
    interleave "$bench" start_probes_only stop_probes_only
done
echo "## 2d. taskset -c 1 perf bench sched pipe -l $pipe_loops: $pairs pairs without / with only empty programs on sched_switch"
echo "##     and sched_wakeup (Benchmarks/telemetry/floor/empty-pipe.sh): the slowdown of attaching anything at all"
Benchmarks/telemetry/floor/empty-pipe.sh "$pairs" "$pipe_loops"
echo "## 2c. the probes' run time during hackbench, program by program (Benchmarks/telemetry/probe-share.sh)"
Benchmarks/telemetry/probe-share.sh "$bin" 5
fi

if section 3; then
echo "## 3. consumer: one drain per millisecond, 64 tenants each waking every millisecond; 5000 drains per consumer"
echo "##    phase (normal, SCHED_FIFO, SCHED_FIFO busy-waiting between ticks), one process, same tenants"
"$bin/TelemetryBenchmark" drain 64 5 normal,fifo,fifo-spin
fi

if section 4; then
echo "## 4. event rate without drops: N tenants each running perf bench sched pipe, drained every 1 ms for 5 s"
for ring in 4194304 65536; do
    for consumer in normal fifo; do
        for tenants in 1 8 64; do
            "$bin/TelemetryBenchmark" rate "$tenants" 5 "$consumer" "$ring" | tr '\n' ' '; echo
        done
    done
done
fi
