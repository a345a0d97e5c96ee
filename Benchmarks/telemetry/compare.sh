#!/usr/bin/env bash
# Old against new telemetry probes in one run, interleaved, for changes to bpf/ or the reader. Each side is a
# directory holding a release TelemetryBenchmark and TelemetryLoad (copy them aside before rebuilding: the BPF object
# is embedded). Run as root: Benchmarks/telemetry/compare.sh OLD_DIR NEW_DIR [ROUNDS]
#   1. ns per run of each program (kernel BPF stats) under `TelemetryBenchmark rate 2 4 fifo` (2 tenants running
#      perf bench sched pipe), read 3.5 s in
#   2. (kernel BPF stats off from here on) drain cost, 64 tenants, SCHED_FIFO consumer (TelemetryBenchmark drain 64 3 fifo)
#   3. hackbench -p -g 4 -l 1000 and taskset -c 1 perf bench sched pipe -l 50000: without probes, with OLD's, with
#      NEW's (TelemetryBenchmark rate 0 as probes + consumer, no tenants), and with NEW's probes but no consumer
#      (rate 0 … none: what the millisecond drain adds), order rotated; medians and pair ratios
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
old=$1 new=$2 rounds=${3:-5}
sysctl -q kernel.bpf_stats_enabled=1
trap 'sysctl -q kernel.bpf_stats_enabled=0' EXIT
source "$(dirname "$0")/common.sh"
program_costs() { # programs loaded after id $1: the benchmark's own
    bpftool -j prog show | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["id"] > int(sys.argv[1]) and p.get("run_cnt"):
        print("    %-22s run_cnt %9d  ns/run %6.1f" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))' "$1"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# host: $(uname -r), $(nproc) CPUs; old $old, new $new; $rounds rounds; load $(load)"
echo "## 1. ns per run (kernel BPF stats), workload: TelemetryBenchmark rate 2 4 fifo"
for round in $(seq "$rounds"); do
    for side in old new; do
        dir=$([ "$side" = old ] && echo "$old" || echo "$new")
        before=$(newest_program_id)
        "$dir/TelemetryBenchmark" rate 2 4 fifo 4194304 >/dev/null 2>&1 & pid=$!
        sleep 3.5
        echo "  round $round $side (load $(load))"; program_costs "$before"
        wait "$pid"
    done
done
# Off for the rest: the kernel's accounting adds two clock reads to every program run (~30 ns here), which the
# drain, hackbench and pipe figures would carry.
sysctl -q kernel.bpf_stats_enabled=0
echo "## 2. drain, 64 tenants, SCHED_FIFO: TelemetryBenchmark drain 64 3 fifo"
for round in $(seq "$rounds"); do
    for side in old new; do
        dir=$([ "$side" = old ] && echo "$old" || echo "$new")
        echo "  round $round $side: $("$dir/TelemetryBenchmark" drain 64 3 fifo | grep -E 'drain wall|record' | tr -s ' ' | tr '\n' ' ')"
    done
done
measure() { # pipe|hackbench
    if [ "$1" = pipe ]; then taskset -c 1 perf bench sched pipe -l 50000 | awk '/usecs\/op/ {print $1}'
    else hackbench -p -g 4 -l 1000 | awk '/^Time:/ {print $2}'; fi
}
with_probes() { # DIR BENCH CONSUMER (fifo: drained every millisecond; none: attached, nothing drains)
    "$1/TelemetryBenchmark" rate 0 60 "$3" 4194304 >/dev/null 2>&1 & local pid=$!
    sleep 1.5
    measure "$2"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}
arm() { # without|old|new|new-none BENCH
    case $1 in
        without) measure "$2";;
        old) with_probes "$old" "$2" fifo;;
        new) with_probes "$new" "$2" fifo;;
        new-none) with_probes "$new" "$2" none;;
    esac
}
arms=(without old new new-none)
for bench in hackbench pipe; do
    echo "## 3. $bench: without / old / new / new without its consumer (probes attached, nothing drains), order rotated"
    : > /tmp/dpm-compare-$$
    for round in $(seq "$rounds"); do
        declare -A value=()
        for k in 0 1 2 3; do
            name=${arms[$(((round + k) % 4))]}
            value[$name]=$(arm "$name" $bench)
        done
        echo "  round $round: without ${value[without]} old ${value[old]} new ${value[new]} new_no_consumer ${value[new-none]} (load $(load))" | tee -a /tmp/dpm-compare-$$
    done
    python3 - /tmp/dpm-compare-$$ <<'PY'
import statistics as s, sys
rows = [line.split() for line in open(sys.argv[1])]
w, o, n, q = ([float(r[i]) for r in rows] for i in (3, 5, 7, 9))
print("  median without %.4g old %.4g new %.4g new_no_consumer %.4g; ratio of medians old %.3f new %.3f new_no_consumer %.3f;"
      " median pair ratio old %.3f new %.3f new_no_consumer %.3f" % (
    s.median(w), s.median(o), s.median(n), s.median(q), s.median(o) / s.median(w), s.median(n) / s.median(w),
    s.median(q) / s.median(w), s.median([a / b for a, b in zip(o, w)]), s.median([a / b for a, b in zip(n, w)]),
    s.median([a / b for a, b in zip(q, w)])))
PY
    rm -f /tmp/dpm-compare-$$
done
