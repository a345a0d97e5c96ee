#!/usr/bin/env bash
# How much of hackbench's CPU time the probes take, program by program: a release TelemetryBenchmark holds the
# probes and drains every millisecond (rate 0 … fifo, no tenants); each run of `hackbench -p -g 4 -l 1000` is
# bracketed by two reads of the kernel's BPF stats (run_cnt, run_time_ns; the stats add two clock reads to each
# run). Prints runs, ns per run and ms per program, and their sum as a share of the CPUs' time over the run.
# Run as root: Benchmarks/telemetry/probe-share.sh [DIR] [RUNS]   (DIR holds TelemetryBenchmark; default .build/release)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
dir=$(realpath "${1:-$(dirname "$0")/../../.build/release}") runs=${2:-5}
snapshots=$(mktemp -d)
sysctl -q kernel.bpf_stats_enabled=1
before=$(bpftool -j prog show | python3 -c 'import json, sys; print(max((p["id"] for p in json.load(sys.stdin)), default=0))')
"$dir/TelemetryBenchmark" rate 0 600 fifo 4194304 >/dev/null & holder=$!
trap 'kill -TERM $holder 2>/dev/null; wait $holder 2>/dev/null || true; sysctl -q kernel.bpf_stats_enabled=0; rm -rf "$snapshots"' EXIT
# Wait for the holder's own probes (programs loaded since `before`: other processes may hold probes of the same names).
for _ in $(seq 100); do
    bpftool -j prog show | python3 -c 'import json, sys
sys.exit(0 if any(p["id"] > int(sys.argv[1]) and p["name"].startswith("sched_switch_") for p in json.load(sys.stdin)) else 1)' "$before" && break
    sleep 0.1
done
sleep 0.5
snapshot() { bpftool -j prog show | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["id"] > int(sys.argv[1]): print(p["name"], p.get("run_cnt", 0), p.get("run_time_ns", 0))' "$before"; }
echo "# host: $(uname -r), $(nproc) CPUs; probes of $dir; $runs runs of hackbench -p -g 4 -l 1000"
for run in $(seq "$runs"); do
    snapshot > "$snapshots/before"
    seconds=$(hackbench -p -g 4 -l 1000 | awk '/^Time:/ {print $2}')
    snapshot > "$snapshots/after"
    python3 - "$snapshots/before" "$snapshots/after" "$seconds" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys
def read(path): return {line.split()[0]: [int(v) for v in line.split()[1:]] for line in open(path)}
before, after = read(sys.argv[1]), read(sys.argv[2])
seconds, cpus, parts, total = float(sys.argv[3]), int(sys.argv[4]), [], 0
for name, (count, nanoseconds) in after.items():
    count -= before.get(name, [0, 0])[0]; nanoseconds -= before.get(name, [0, 0])[1]
    if count:
        parts.append("%s %d runs %.0f ns/run %.2f ms" % (name, count, nanoseconds / count, nanoseconds / 1e6))
        total += nanoseconds
print("  hackbench %.3f s (load %s): probes %.1f ms = %.2f%% of %d CPUs' time; %s" % (
    seconds, sys.argv[5], total / 1e6, total / 1e9 / (cpus * seconds) * 100, cpus, "; ".join(parts)))
PY
done
