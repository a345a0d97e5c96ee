#!/usr/bin/env bash
# Agent benchmark: 64 tenant cgroups (sleeping and spinning processes) under `dpm run` at a 1 ms tick on this host.
# Measures, and prints with what, on what and how many runs:
#   1. agent CPU over 60 s from /proc/<pid>/stat (utime+stime), as % of one core;
#   2. tick work and wake-up lateness (p50, p99) from the agent's own histograms, idle and under `stress-ng --cpu N`;
#   3. reaction: a stopped spinner in an idle tenant is continued at T0; the time until the agent reports the
#      tenant's allocation changed (last_change_unix_ns - T0), median and p99 over the trials.
# Anchor: the same agent run in --dry-run (no control-file writes), so the cost of enforcing is visible.
# It never passes or fails. Run as root from the repository root: Benchmarks/agent/run.sh [seconds] [trials]
# (CONFIGURATION=debug measures the debug build instead of the release one).
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
log "building dpm ($CONFIGURATION)…"
swift build -c "$CONFIGURATION" --product dpm >/dev/null
DPM=$(swift build -c "$CONFIGURATION" --show-bin-path)/dpm

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

CONFIG="$WORK/bench.yaml"
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
        echo "  - {name: t$i, cgroup: $PARENT/t$i, class: $class}"
    done
} > "$CONFIG"

start_agent() { # start_agent [--dry-run]
    "$DPM" run --config "$CONFIG" "$@" 2>"$WORK/agent.log" &
    AGENT_PID=$!
    for _ in $(seq 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
    [ -S "$SOCKET" ] || { log "agent did not start:"; cat "$WORK/agent.log" >&2; exit 1; }
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true; AGENT_PID=""; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status() { "$DPM" status --format json --socket "$SOCKET"; }

measure_run() { # measure_run LABEL [--dry-run]: agent CPU and tick histograms over SECONDS_PER_RUN
    local label=$1; shift
    start_agent "$@"
    sleep 2
    local hz; hz=$(getconf CLK_TCK)
    local c0 t0 c1 t1
    c0=$(cpu_ticks "$AGENT_PID"); t0=$(date +%s%N)
    sleep "$SECONDS_PER_RUN"
    c1=$(cpu_ticks "$AGENT_PID"); t1=$(date +%s%N)
    local s; s=$(status)
    stop_agent
    local cpu; cpu=$(echo "scale=2; 100 * ($c1 - $c0) / $hz / (($t1 - $t0) / 1000000000)" | bc)
    echo "$s" | jq -r --arg run "$label" --arg cpu "$cpu" '
        "\($run): agent CPU \($cpu)% of one core; ticks \(.loop.ticks) (missed \(.loop.missed_ticks)), solves \(.loop.solves);" +
        " tick work p50 \(.loop.work_p50_ns/1000) us p99 \(.loop.work_p99_ns/1000) us;" +
        " lateness p50 \(.loop.lateness_p50_ns/1000) us p99 \(.loop.lateness_p99_ns/1000) us"'
}

echo "dpm agent benchmark ($CONFIGURATION build): $TENANTS tenants ($SPINNERS spinning), tick 1 ms, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r)"
echo "each run ${SECONDS_PER_RUN}s; histograms are the agent's own (log-linear, 1/8 resolution)"
measure_run "idle, enforce"
measure_run "idle, dry-run (anchor)" --dry-run
stress-ng --cpu "$(nproc)" --timeout $((SECONDS_PER_RUN + 10))s --quiet &
STRESS=$!
measure_run "under stress-ng --cpu $(nproc), enforce"
kill "$STRESS" 2>/dev/null || true; wait "$STRESS" 2>/dev/null || true

# Reaction: tenant t03 (best-effort, idle) gets a stopped spinner; continue it and wait for its allocation to change.
start_agent
sleep 2
reactions=()
for trial in $(seq "$TRIALS"); do
    spinner=$(join t03 sh -c "'kill -STOP \$\$; while :; do :; done'")
    sleep 1.5
    t0=$(date +%s%N)
    kill -CONT "$spinner"
    changed=""
    for _ in $(seq 200); do
        changed=$(status | jq -r --argjson t0 "$t0" '.tenants[] | select(.name == "t03") | select(.last_change_unix_ns != null and .last_change_unix_ns > $t0) | .last_change_unix_ns')
        [ -n "$changed" ] && break
        sleep 0.01
    done
    kill -KILL "$spinner" 2>/dev/null || true
    [ -n "$changed" ] && reactions+=($(( (changed - t0) / 1000 )))
    sleep 1
done
stop_agent
if ((${#reactions[@]})); then
    sorted=($(printf '%s\n' "${reactions[@]}" | sort -n))
    n=${#sorted[@]}
    echo "reaction (spinner continued → allocation applied): ${n}/${TRIALS} trials reacted; median $(( sorted[n / 2] )) us, p99 (max of $n) $(( sorted[n - 1] )) us; all: ${sorted[*]}"
else
    echo "reaction: no trial saw the allocation change within 2 s"
fi
