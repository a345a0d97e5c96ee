#!/usr/bin/env bash
# A/B of the consumer's drain cost between two release builds of TelemetryBenchmark, runs interleaved (ABBA…) so a
# busy host hits both sides. Run as root: Benchmarks/telemetry/drain-ab.sh ROUNDS CONSUMER DIR_A DIR_B [SECONDS]
# DIR_A and DIR_B each hold a TelemetryBenchmark with its TelemetryLoad beside it (copy them out of .build/release
# after each build). Each run: `TelemetryBenchmark drain 64 SECONDS CONSUMER`. Prints every run's drain wall clock
# and thread CPU time (median, p99), entries per drain, heap allocations in the timed loop and the load averages,
# then the median over runs of each side, the ratio B/A of those, and the median of the per-round ratios.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
rounds=$1 consumer=$2 a=$3 b=$4 seconds=${5:-5}
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
source "$(dirname "$0")/common.sh"
field() { sed -E "s/.*$1 median=([0-9.]+) p99=([0-9.]+).*/\\$2/"; }
for round in $(seq "$rounds"); do
    order="A B"; [ $((round % 2)) = 0 ] && order="B A"
    for side in $order; do
        dir=$a; [ "$side" = B ] && dir=$b
        out=$("$dir/TelemetryBenchmark" drain 64 "$seconds" "$consumer" 2>&1)
        line=$(grep '^  drain wall_us' <<<"$out")
        echo "round $round $side wall median=$(field wall_us 1 <<<"$line") p99=$(field wall_us 2 <<<"$line")" \
            "cpu median=$(field thread_cpu_us 1 <<<"$line") p99=$(field thread_cpu_us 2 <<<"$line")" \
            "entries=$(sed -nE 's/.*entries_per_drain median=([0-9]+).*/\1/p' <<<"$out")" \
            "allocs=$(sed -nE 's/.*heap_allocations_in_timed_loop=([0-9]+).*/\1/p' <<<"$out")" \
            "load=$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$runs"
    done
done
value() { awk -v s="$1" -v f="$2" '$3 == s {split($f, x, "="); print x[2]}' "$runs" | median; }
for side in A B; do
    echo "$side: medians over $rounds runs: wall median $(value $side 5) p99 $(value $side 6);" \
        "thread_cpu median $(value $side 8) p99 $(value $side 9)"
done
awk -v a="$(value A 5)" -v b="$(value B 5)" -v c="$(value A 6)" -v d="$(value B 6)" \
    'BEGIN {printf "ratio B/A of the medians over runs: wall median %.3f, wall p99 %.3f\n", b / a, d / c}'
pairs=$(awk '{split($5, m, "="); split($6, p, "="); median[$2 " " $3] = m[2]; p99[$2 " " $3] = p[2]; n = $2}
    END {for (i = 1; i <= n; i++) print median[i " B"] / median[i " A"], p99[i " B"] / p99[i " A"]}' "$runs")
echo "median of the round ratios B/A: wall median $(cut -d' ' -f1 <<<"$pairs" | median)," \
    "wall p99 $(cut -d' ' -f2 <<<"$pairs" | median); B lower: median in $(awk '$1 < 1' <<<"$pairs" | wc -l)" \
    "of $rounds rounds, p99 in $(awk '$2 < 1' <<<"$pairs" | wc -l)"
