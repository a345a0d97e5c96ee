#!/usr/bin/env bash
# The scheduler workloads the telemetry benchmarks measure probes under, run in a tenant cgroup (v2 directory):
#   pinned-pipe  `taskset -c 1 perf bench sched pipe -l LOOPS`: both tasks on one CPU, two switches per round trip
#   pipe   two `perf bench sched pipe -l LOOPS` at once, unpinned (the "floor rounds": two tasks per pipe, hot caches)
#   mixed  section 1 of run.sh: `perf bench sched pipe -l LOOPS`, then `hackbench -p -g 4 -l 500` (many tasks woken
#          across CPUs), 20000 user page faults and 50 MB over loopback TCP, one after the other
# Usage: Benchmarks/telemetry/workload.sh pinned-pipe|pipe|mixed TENANT [LOOPS] [DIR]
# LOOPS defaults to 200000; DIR holds a release TelemetryLoad (default .build/release), needed by `mixed`.
set -euo pipefail
workload=$1 tenant=$2 loops=${3:-200000}
dir=$(realpath "${4:-$(dirname "$0")/../../.build/release}")
source "$(dirname "$0")/common.sh"
case "$workload" in
pinned-pipe)
    in_tenant taskset -c 1 perf bench sched pipe -l "$loops" >/dev/null;;
pipe)
    in_tenant perf bench sched pipe -l "$loops" >/dev/null & first=$!
    in_tenant perf bench sched pipe -l "$loops" >/dev/null
    wait "$first";;
mixed)
    in_tenant perf bench sched pipe -l "$loops" >/dev/null
    in_tenant hackbench -p -g 4 -l 500 >/dev/null
    "$dir/TelemetryLoad" "$tenant" touch-pages 20000
    port=$((20000 + RANDOM % 10000))
    "$dir/TelemetryLoad" - serve-tcp "$port" & server=$!
    sleep 0.2
    "$dir/TelemetryLoad" "$tenant" send-tcp "$port" 50000000
    wait "$server";;
*) echo "workload: pinned-pipe, pipe or mixed, not $workload" >&2; exit 2;;
esac
