#!/usr/bin/env bash
# Agent benchmark: 64 tenant cgroups (sleeping and spinning processes) under `dpm run` at a 1 ms tick on this host.
# Measures, and prints with what, on what and how many runs:
#   1. agent CPU over 60 s from /proc/<pid>/stat (utime+stime), as % of one core; the tick thread's own CPU from
#      /proc/<pid>/task/<tid>/stat (less sensitive to other load than wall-clock figures); the load average;
#   2. tick work and wake-up lateness (p50, p99, mean) and each stage's p50/p99/mean from the agent's own histograms,
#      idle and under `stress-ng --cpu N`, and solves per second, by cause over the whole run, how many of them
#      changed the applied allocation, and the four tenants that triggered most;
#   3. reaction: tenant t01 is burstable with a guarantee of 0.1 core and a cap of 1 core, and idle, so the solver
#      gives it its guarantee: a CFS quota of 0.1 core (1 ms per 10 ms period; 10 ms per 100 ms before).
#      In this phase the 8 spinning tenants are best-effort, so a spinner in t01 gets CPU (its weight beats theirs). Held by its quota, the spinner's usage
#      cannot show more than 0.1 core on average; the agent sees its demand two ways: (a) in its first milliseconds
#      it runs at up to a full core until the period's quota is spent, which moves its forecast at once; (b) a tick
#      above its quota has the agent read its cpu.stat throttled time, which the kernel reports when the period
#      ends, and usage plus throttled time over the span is its runnable demand (a period late, for a tenant whose
#      rise was missed). Each trial: a stopped spinner in t01 is continued at T0 (bash's $EPOCHREALTIME just before
#      the `kill -CONT` builtin); the reaction is the time until the tick that applied t01's first larger
#      allocation (`dpm explain --format json`: first change after T0 whose CPU grew, at_unix_ns - T0, the tick's
#      start; the solve history holds the last 32 solves that changed an allocation, read 0.1 s after T0), median and p99 (= max for fewer
#      than 100 trials) over the trials; the quota read back from t01's cpu.cfs_quota_us then confirms it applied.
#      Between trials the spinner is killed and t01 idles 2.5 s, long enough for its allocation to fall back to
#      the guarantee (shrink hold 100 ms) and its forecaster to see it idle.
#      With Enforce's 10 ms CFS period (since 2026-11-30) the quota is 1 ms per 10 ms. This kernel (HZ=250, no
#      HRTICK) throttles the spinner only at its next 4 ms scheduler tick, and its CPU time is published when it
#      switches out (the throttle), then flushed and drained within a millisecond each; the loop's saturation rule
#      raises a tenant that used its whole quota within a period at once, counting also the run each CPU shows in
#      progress (the probes' `cpu_running` words), so it need not wait for the throttle: the first tick after the
#      spinner spent its 1 ms raises it (ControlLoop).
# Anchor: the same agent run in --dry-run (no control-file writes), so the cost of enforcing is visible.
# It never passes or fails. Run as root from the repository root: Benchmarks/agent/run.sh [seconds] [trials]
# (CONFIGURATION=debug measures the debug build instead of the release one).
# DPM_BINARY=PATH measures that dpm binary instead (an A/B of two builds in one session).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-60}
TRIALS=${2:-20}
TENANTS=64
SPINNERS=8
ROOT=/sys/fs/cgroup
PARENT="dpm-test-bench-$RANDOM$RANDOM"
HIERARCHIES=(cpu cpuacct cpuset memory unified)
WORK=$(mktemp -d /tmp/dpm-bench.XXXXXX)
SOCKET="$WORK/control.sock"
AGENT_PID=""

log() { printf '%s\n' "$*" >&2; }

cleanup() {
    set +e
    [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
    [ -n "${STRESS:-}" ] && kill "$STRESS" 2>/dev/null
    for h in "${HIERARCHIES[@]}"; do
        for d in "$ROOT/$h/$PARENT"/t*; do
            [ -d "$d" ] || continue
            for _ in 1 2 3 4 5; do
                pids=$(cat "$d/cgroup.procs" 2>/dev/null)
                [ -z "$pids" ] && break
                kill -KILL $pids 2>/dev/null; sleep 0.05
            done
            rmdir "$d" 2>/dev/null
        done
        rmdir "$ROOT/$h/$PARENT" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

CONFIGURATION=${CONFIGURATION:-release}
if [ -n "${DPM_BINARY:-}" ]; then
    DPM=$DPM_BINARY
else
    log "building dpm ($CONFIGURATION)…"
    swift build -c "$CONFIGURATION" --product dpm >/dev/null
    DPM=$(swift build -c "$CONFIGURATION" --show-bin-path)/dpm
fi

# Tenant cgroups: every tenant holds a sleeping process; every 8th also a spinning one.
for h in "${HIERARCHIES[@]}"; do
    [ -d "$ROOT/$h" ] || continue
    mkdir "$ROOT/$h/$PARENT"
    [ "$h" = cpuset ] && cat "$ROOT/cpuset/cpuset.cpus" > "$ROOT/cpuset/$PARENT/cpuset.cpus" && cat "$ROOT/cpuset/cpuset.mems" > "$ROOT/cpuset/$PARENT/cpuset.mems"
    for i in $(seq -w 1 $TENANTS); do
        mkdir "$ROOT/$h/$PARENT/t$i"
        [ "$h" = cpuset ] && cat "$ROOT/cpuset/$PARENT/cpuset.cpus" > "$ROOT/cpuset/$PARENT/t$i/cpuset.cpus" && cat "$ROOT/cpuset/$PARENT/cpuset.mems" > "$ROOT/cpuset/$PARENT/t$i/cpuset.mems"
    done
done
join() { # join TENANT COMMAND…: run COMMAND inside the tenant's cgroups, print its pid
    local t=$1; shift
    local joins=""
    for h in "${HIERARCHIES[@]}"; do [ -d "$ROOT/$h" ] && joins+="echo \$\$ > $ROOT/$h/$PARENT/$t/cgroup.procs; "; done
    sh -c "$joins exec $*" >/dev/null 2>&1 &
    echo $!
}
for i in $(seq -w 1 $TENANTS); do
    join "t$i" sleep 100000 >/dev/null
    if (( 10#$i % (TENANTS / SPINNERS) == 0 )); then join "t$i" sh -c "'while :; do :; done'" >/dev/null; fi
done

# write_config FILE SPINNER_CLASS: tenants t01…t64 with classes by number (every 4th latency-critical, every 4th
# from t01 burstable, the rest best-effort), the spinning ones (every 8th) of SPINNER_CLASS, and t01 with a
# guarantee and a cap (the reaction probe).
write_config() {
    {
        echo "tick: 1ms"
        echo "reserve: {cores: [0]}"
        echo "metrics_port: off"
        echo "control_socket: $SOCKET"
        echo "state_dir: $WORK/state"
        echo "tenants:"
        for i in $(seq -w 1 $TENANTS); do
            case $(( 10#$i % 4 )) in
                0) class=latency-critical ;; 1) class=burstable ;; *) class=best-effort ;;
            esac
            (( 10#$i % (TENANTS / SPINNERS) == 0 )) && class=$2
            limits=""
            [ "$i" = 01 ] && limits=", guaranteed: {cpu: 0.1}, cap: {cpu: 1}"
            echo "  - {name: t$i, cgroup: $PARENT/t$i, class: $class$limits}"
        done
    } > "$1"
}
CONFIG="$WORK/bench.yaml"
write_config "$CONFIG" latency-critical

start_agent() { # start_agent [--dry-run]
    "$DPM" run --config "$CONFIG" "$@" 2>"$WORK/agent.log" &
    AGENT_PID=$!
    for _ in $(seq 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
    [ -S "$SOCKET" ] || { log "agent did not start:"; cat "$WORK/agent.log" >&2; exit 1; }
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true; AGENT_PID=""; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_tid() { grep -l '^dpm-tick$' /proc/"$1"/task/*/comm | head -1 | cut -d/ -f5; }
thread_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/task/$2/stat"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
status() { "$DPM" status --format json --socket "$SOCKET"; }

measure_run() { # measure_run LABEL [--dry-run]: agent CPU and tick histograms over SECONDS_PER_RUN
    local label=$1; shift
    start_agent "$@"
    sleep 2
    local hz; hz=$(getconf CLK_TCK)
    local tid; tid=$(tick_tid "$AGENT_PID")
    local c0 k0 t0 c1 k1 t1 s0 l0
    s0=$(status | jq .loop.solves); l0=$(loadavg)
    c0=$(cpu_ticks "$AGENT_PID"); k0=$(thread_cpu_ticks "$AGENT_PID" "$tid"); t0=$(date +%s%N)
    sleep "$SECONDS_PER_RUN"
    c1=$(cpu_ticks "$AGENT_PID"); k1=$(thread_cpu_ticks "$AGENT_PID" "$tid"); t1=$(date +%s%N)
    local s; s=$(status)
    stop_agent
    local seconds; seconds=$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc)
    local cpu; cpu=$(echo "scale=2; 100 * ($c1 - $c0) / $hz / $seconds" | bc)
    local tick_cpu; tick_cpu=$(echo "scale=2; 100 * ($k1 - $k0) / $hz / $seconds" | bc)
    echo "$s" | jq -r --arg run "$label" --arg cpu "$cpu" --arg tick "$tick_cpu" --arg seconds "$seconds" --argjson s0 "$s0" \
        --arg l0 "$l0" --arg l1 "$(loadavg)" '
        def us: . / 1000 | tostring + " us";
        "\($run): agent CPU \($cpu)% of one core (tick thread \($tick)%, the rest \((($cpu|tonumber) - ($tick|tonumber)) * 100 | round / 100)%);" +
        " ticks \(.loop.ticks) (missed \(.loop.missed_ticks)), solves \(.loop.solves) (\((.loop.solves - $s0) / ($seconds|tonumber) * 10 | round / 10)/s in the window; \(.loop.solves_changed) changed the allocation; by cause \([.loop.solves_by_cause | to_entries[] | select(.value > 0) | "\(.key) \(.value)"] | join(", ")); most triggered by \([.tenants | sort_by(-.solves_triggered)[:4][] | select(.solves_triggered > 0) | "\(.name) (\(.class)) \(.solves_triggered)"] | join(", "))), enforce failures \(.loop.enforce_failures), solve failures \(.loop.solve_failures);" +
        " tick work p50 \(.loop.work_p50_ns|us) p99 \(.loop.work_p99_ns|us) mean \(.loop.work_mean_ns|us);" +
        " lateness p50 \(.loop.lateness_p50_ns|us) p99 \(.loop.lateness_p99_ns|us); load average \($l0) -> \($l1)\n" +
        "    stages (p50/p99/mean, count): " +
        ([.loop.stages | to_entries[] | "\(.key) \(.value.p50_ns|us)/\(.value.p99_ns|us)/\(.value.mean_ns|us) (\(.value.count))"] | join(", "))'
}

# PROFILE_SECONDS=N: only start the agent (enforce, the same tenants and config), print its pid and keep it running
# N seconds, for `perf record -g -p PID` or `strace -c -f -p PID` from another shell; measures nothing itself.
if [ -n "${PROFILE_SECONDS:-}" ]; then
    start_agent
    echo "agent pid $AGENT_PID (tick thread $(tick_tid "$AGENT_PID")), kept running ${PROFILE_SECONDS}s"
    sleep "$PROFILE_SECONDS"
    stop_agent
    exit 0
fi

echo "dpm agent benchmark (${DPM_BINARY:-$CONFIGURATION build}): $TENANTS tenants ($SPINNERS spinning), tick 1 ms, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r)"
echo "each run ${SECONDS_PER_RUN}s; histograms are the agent's own (log-linear, 1/8 resolution)"
measure_run "idle, enforce"
measure_run "idle, dry-run (anchor)" --dry-run
stress-ng --cpu "$(nproc)" --timeout $((SECONDS_PER_RUN + 10))s --metrics-brief >"$WORK/stress.log" 2>&1 &
STRESS=$!
measure_run "under stress-ng --cpu $(nproc), enforce"
# SIGINT ends stress-ng's run early and still prints its metrics: the host-side cost of enforcing (CFS period timers
# of the throttled tenants, the agent) shows as fewer bogo ops/s beside the same agent and tenants.
kill -INT "$STRESS" 2>/dev/null || true; wait "$STRESS" 2>/dev/null || true
STRESS=""
echo "    stress-ng --cpu $(nproc) beside it: $(awk '$4 == "cpu" {print "bogo ops " $5 " in " $6 " s (usr " $7 " s, sys " $8 " s), " $9 " bogo ops/s (real time), " $10 " (usr+sys time)"}' "$WORK/stress.log")"

# Reaction: tenant t01 (burstable, guarantee 0.1 core, cap 1 core, idle) gets a stopped spinner; continue it and
# find the tick that applied its first larger allocation. The 8 spinning tenants are best-effort here: as
# latency-critical tenants they outrank t01 and take every core, so t01's spinner would get next to no CPU (its weight
# is small beside theirs), show no demand and legitimately keep its guarantee.
CONFIG="$WORK/reaction.yaml"
write_config "$CONFIG" best-effort
start_agent
sleep 2
allocation() { status | jq -r '.tenants[] | select(.name == "t01") | (.cpu_quota_cores + (.cores | length))'; }
reactions=()
causes=()
before=""; after=""; quota=""; confirmed=0; at_guarantee=0
for trial in $(seq "$TRIALS"); do
    spinner=$(join t01 sh -c "'kill -STOP \$\$; while :; do :; done'")
    sleep 2.5
    before=$(allocation)
    [ "$before" = 0.1 ] && at_guarantee=$((at_guarantee + 1))
    t0=${EPOCHREALTIME/./}000
    kill -CONT "$spinner"
    sleep 0.1
    after=$(allocation)
    quota=$(cat "$ROOT/cpu/$PARENT/t01/cpu.cfs_quota_us" 2>/dev/null || echo "?")
    period=$(cat "$ROOT/cpu/$PARENT/t01/cpu.cfs_period_us" 2>/dev/null || echo "?")
    (( quota * 10 > period )) 2>/dev/null && confirmed=$((confirmed + 1))
    first=$("$DPM" explain t01 --format json --socket "$SOCKET" | jq -r --argjson t0 "$t0" \
        '[.changes[] | select(.at_unix_ns > $t0 and (.after_cpu_cores + (.after_cores | length)) > (.before_cpu_cores + (.before_cores | length)))] | min_by(.at_unix_ns) // empty
         | "\(.at_unix_ns) \(if (.reason | test("whole quota")) then "quota_saturated" elif (.reason | test("^forecast")) then "forecast_moved" else "other" end)"')
    kill -KILL "$spinner" 2>/dev/null || true
    if [ -n "$first" ]; then
        reactions+=($(( (${first%% *} - t0) / 1000 )))
        causes+=("${first#* }")
    fi
done
stop_agent
echo "reaction probe t01 (last trial): allocation $before cores before the spinner ran, $after cores 0.1 s after (cpu.cfs_quota_us read back: $quota per cpu.cfs_period_us $period); at the 0.1-core guarantee before T0 in $at_guarantee/$TRIALS trials, quota above 0.1 core 0.1 s after T0 in $confirmed/$TRIALS"
if ((${#reactions[@]})); then
    sorted=($(printf '%s\n' "${reactions[@]}" | sort -n))
    n=${#sorted[@]}
    echo "reaction (spinner continued → larger allocation applied): ${n}/${TRIALS} trials reacted; median $(( sorted[n / 2] )) us, p99 (max of $n) $(( sorted[n - 1] )) us; all: ${sorted[*]}"
    echo "    the solve that applied it, by cause: $(printf '%s\n' "${causes[@]}" | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')"
else
    echo "reaction: no trial saw a larger allocation applied within 0.1 s"
fi
