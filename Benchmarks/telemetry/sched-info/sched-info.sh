#!/usr/bin/env bash
# Would the kernel's own sched_info (last_queued, run_delay) give the same run-queue waits as telemetry's wake-up
# stamps? waits.bpf.c measures each switch-in's wait three ways on the same switches of every task on the host
# (stamp; kernel clock; fresh clock, see there) while one workload runs; this prints how many waits each counts, their
# sums, and how many land in another log2 bucket of the histogram than the stamp's. Run as root:
#   Benchmarks/telemetry/sched-info/sched-info.sh
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
here=$(dirname "$0")
work=$(mktemp -d)
loader=
trap '[ -n "$loader" ] && kill "$loader" 2>/dev/null; rm -rf "$work"' EXIT
"${CLANG:-clang}" -target bpf -g -O2 -mcpu=v3 -D__TARGET_ARCH_x86 -I "$here/../../../bpf/vmlinux/x86_64" \
    -c "$here/waits.bpf.c" -o "$work/waits.o"
cc -O2 "$here/../floor/floor-load.c" -o "$work/floor-load" -lbpf
source "$here/../common.sh"
echo "# host: $(uname -r), $(nproc) CPUs; every task of the host; one load of the programs per workload"
for workload in "taskset -c 1 perf bench sched pipe -l 50000" "hackbench -p -g 4 -l 200" \
                "taskset -c 1 python3 -c 'import time; [time.sleep(0.001) for _ in range(2000)]'"; do
    before=$(newest_program_id)
    "$work/floor-load" "$work/waits.o" 120 & loader=$!
    # This load's globals: the .bss map of its switch_in program, once that is attached (floor-load attaches
    # wakeup, wakeup_new, switch_in in order).
    bss=
    for _ in $(seq 100); do
        bss=$(bpftool -j prog show | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["id"] > int(sys.argv[1]) and p.get("name") == "switch_in": print(" ".join(map(str, p.get("map_ids", []))))' "$before")
        [ -n "$bss" ] && break; sleep 0.1
    done
    bss=$(for id in $bss; do bpftool -j map show id "$id"; echo; done | python3 -c '
import json, sys
print(next(m["id"] for m in map(json.loads, filter(str.strip, sys.stdin)) if m["name"].endswith(".bss")))')
    sleep 0.5
    sh -c "$workload" >/dev/null
    echo "## $workload (load $(cut -d' ' -f1-3 /proc/loadavg))"
    bpftool -j map dump id "$bss" | python3 -c '
import json, sys
v = {name: value for var in json.load(sys.stdin)[0]["formatted"]["value"][".bss"] for name, value in var.items()}
c = max(v["compared"], 1)
print("  stamp:  %7d waits, sum %.4f s" % (v["stamp_waits"], v["stamp_wait_ns"] / 1e9))
print("  kernel: %7d waits, sum %.4f s; rq clock not advanced since the enqueue (wait 0): %d (%.1f%%); other log2 bucket than the stamp: %d of %d (%.1f%%)"
      % (v["kernel_waits"], v["kernel_wait_ns"] / 1e9, v["kernel_zero_waits"], 100 * v["kernel_zero_waits"] / max(v["kernel_waits"], 1),
         v["kernel_other_bucket"], v["compared"], 100 * v["kernel_other_bucket"] / c))
print("  fresh:  %7d waits, sum %.4f s; off the stamp by > 1 us: %d (%.1f%%); other log2 bucket: %d (%.1f%%)"
      % (v["fresh_waits"], v["fresh_wait_ns"] / 1e9, v["fresh_off_by_over_1us"], 100 * v["fresh_off_by_over_1us"] / c,
         v["fresh_other_bucket"], 100 * v["fresh_other_bucket"] / c))'
    kill "$loader"; wait "$loader" 2>/dev/null || true; loader=
done
