#!/usr/bin/env bash
# Why `taskset -c 1 perf bench sched pipe` without probes is bimodal here (section 2's "without" side): RUNS runs of
# it, no probes loaded by this script, each printed with what the host and the other CPU did meanwhile: the VM's
# steal time on CPU 1 (/proc/stat, host preemption of the vCPU), CPU 0's busy share (other work beside the pipe),
# CPU 1's idle share (a pinned pipe keeps its CPU busy: idle time means its two tasks both waited) and CPU 1's
# interrupts per op (/proc/interrupts: timer, IPIs, reschedules), and the speed of a fixed compute loop on CPU 1 just
# before (awk, ns per iteration: no system calls, no switches), which follows the host's speed for this vCPU (its
# core's clock, its SMT sibling's load) and not the scheduler. Ends with the runs sorted by us/op.
# SPIN_CPU0=1 in the environment puts a nice-19 busy loop on CPU 0 during every other run (even runs): CPU 0 busy
# against CPU 0 as the rest of the host leaves it, interleaved, with the medians of both. Run as root: Benchmarks/telemetry/pipe-modes.sh [RUNS] [LOOPS]   (defaults 20, 50000)
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
runs=${1:-20} loops=${2:-50000}
cpu_line() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $5 + $6, $9}' /proc/stat; } # busy idle steal (ticks)
cpu1_interrupts() { awk 'NR > 1 && $3 ~ /^[0-9]+$/ {s += $3} END {print s + 0}' /proc/interrupts; }
out=$(mktemp)
spinner=
stop_spinner() { if [ -n "$spinner" ]; then kill "$spinner" 2>/dev/null || true; wait "$spinner" 2>/dev/null || true; fi; spinner=; }
trap 'stop_spinner; rm -f "$out"' EXIT
echo "# host: $(uname -r), $(nproc) CPUs; $runs runs of taskset -c 1 perf bench sched pipe -l $loops; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpuidle driver: $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none); clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
compute_ns() { # ns per iteration of a fixed awk loop on CPU 1
    local start end
    start=$(date +%s%N); taskset -c 1 awk 'BEGIN {for (i = 0; i < 3000000; i++) s += i * 7 % 13}'; end=$(date +%s%N)
    awk -v t=$((end - start)) 'BEGIN {printf "%.1f", t / 3000000}'
}
for i in $(seq "$runs"); do
    if [ "${SPIN_CPU0:-0}" = 1 ] && [ $((i % 2)) = 0 ]; then
        taskset -c 0 nice -n 19 sh -c 'while :; do :; done' & spinner=$!
        sleep 0.1
    fi
    loop=$(compute_ns)
    read -r b0 i0 s0 <<< "$(cpu_line 0)"; read -r b1 i1 s1 <<< "$(cpu_line 1)"; e1=$(cpu1_interrupts)
    us=$(taskset -c 1 perf bench sched pipe -l "$loops" | awk '/usecs\/op/ {print $1}')
    read -r b0b i0b s0b <<< "$(cpu_line 0)"; read -r b1b i1b s1b <<< "$(cpu_line 1)"; e1b=$(cpu1_interrupts)
    awk -v i="$i" -v us="$us" -v b0=$((b0b - b0)) -v i0=$((i0b - i0)) -v st=$((s1b - s1)) -v b1=$((b1b - b1)) \
        -v i1=$((i1b - i1)) -v e=$((e1b - e1)) -v loops="$loops" -v loop="$loop" -v tag="$([ -n "$spinner" ] && echo '  (spinner on CPU 0)')" 'BEGIN {
        printf "run %2d: %s us/op  cpu1 steal %.1f%%  cpu0 busy %.0f%%  cpu1 idle %.1f%%  cpu1 interrupts/op %.4f  compute loop %s ns/iteration%s\n",
            i, us, 100 * st / (b1 + i1 + st + 1e-9), 100 * b0 / (b0 + i0 + 1e-9), 100 * i1 / (b1 + i1 + st + 1e-9), e / loops, loop, tag }' | tee -a "$out"
    stop_spinner
done
echo "# sorted by us/op:"
sort -k3 -g "$out"
sed 's/.*: \([0-9.]*\) us\/op.*compute loop \([0-9.]*\) ns.*/\1 \2/' "$out" | python3 -c '
import sys
pairs = [tuple(map(float, line.split())) for line in sys.stdin]
def ranks(values):
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0] * len(values)
    for rank, index in enumerate(order):
        result[index] = rank
    return result
n = len(pairs)
us, loop = ranks([p[0] for p in pairs]), ranks([p[1] for p in pairs])
d = sum((a - b) ** 2 for a, b in zip(us, loop))
print("# rank correlation (Spearman) of us/op with the compute loop before it: %.2f over %d runs" % (1 - 6 * d / (n * (n * n - 1)), n))'
if [ "${SPIN_CPU0:-0}" = 1 ]; then
    echo "# median us/op with the spinner on CPU 0 $(grep spinner "$out" | awk '{print $3}' | median), without $(grep -v spinner "$out" | awk '{print $3}' | median)"
fi
