#!/usr/bin/env bash
# Why `taskset -c 1 perf bench sched pipe` without probes is bimodal here (section 2's "without" side): RUNS runs of
# it, no probes loaded by this script, each printed with what the host and the other CPU did meanwhile: the VM's
# steal time on CPU 1 (/proc/stat, host preemption of the vCPU), CPU 0's busy share (other work beside the pipe),
# CPU 1's idle share (a pinned pipe keeps its CPU busy: idle time means its two tasks both waited) and CPU 1's
# interrupts per op (/proc/interrupts: timer, IPIs, reschedules). Ends with the runs sorted by us/op. Run as root: Benchmarks/telemetry/pipe-modes.sh [RUNS] [LOOPS]   (defaults 20, 50000)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
runs=${1:-20} loops=${2:-50000}
cpu_line() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $5 + $6, $9}' /proc/stat; } # busy idle steal (ticks)
cpu1_interrupts() { awk 'NR > 1 && $3 ~ /^[0-9]+$/ {s += $3} END {print s + 0}' /proc/interrupts; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# host: $(uname -r), $(nproc) CPUs; $runs runs of taskset -c 1 perf bench sched pipe -l $loops; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpuidle driver: $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none); clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
for i in $(seq "$runs"); do
    read -r b0 i0 s0 <<< "$(cpu_line 0)"; read -r b1 i1 s1 <<< "$(cpu_line 1)"; e1=$(cpu1_interrupts)
    us=$(taskset -c 1 perf bench sched pipe -l "$loops" | awk '/usecs\/op/ {print $1}')
    read -r b0b i0b s0b <<< "$(cpu_line 0)"; read -r b1b i1b s1b <<< "$(cpu_line 1)"; e1b=$(cpu1_interrupts)
    awk -v i="$i" -v us="$us" -v b0=$((b0b - b0)) -v i0=$((i0b - i0)) -v st=$((s1b - s1)) -v b1=$((b1b - b1)) \
        -v i1=$((i1b - i1)) -v e=$((e1b - e1)) -v loops="$loops" 'BEGIN {
        printf "run %2d: %s us/op  cpu1 steal %.1f%%  cpu0 busy %.0f%%  cpu1 idle %.1f%%  cpu1 interrupts/op %.4f\n",
            i, us, 100 * st / (b1 + i1 + st + 1e-9), 100 * b0 / (b0 + i0 + 1e-9), 100 * i1 / (b1 + i1 + st + 1e-9), e / loops }' | tee -a "$out"
done
echo "# sorted by us/op:"
sort -k3 -g "$out"
