#!/usr/bin/env bash
# The dpm demo (README's first command). On a fresh Debian 12 host, as root:
#   installs what is needed (scripts/setup.sh), builds dpm, creates three demo tenants on this host —
#     lc:    latency-critical: redis-server driven by redis-benchmark (request latency percentiles),
#     burst: burstable: one CPU spinning for 1 s every 3 s,
#     be:    best-effort: stress-ng CPU hogs on every CPU —
#   and runs three phases of about 20 s: lc alone, all three with no control, all three under `dpm run`.
# Prints lc's p50/p99 request latency and be's throughput per phase, writes an SVG plot of demand, forecast and
# allocation over time per tenant, and removes everything it created (also on Ctrl-C or failure).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/demo.sh: run as root (it creates cgroups and runs the agent)" >&2; exit 1; }

PHASE_SECONDS=${PHASE_SECONDS:-20}
OUT=${OUT:-demo-output}
ROOT=/sys/fs/cgroup
PARENT="dpm-demo-$RANDOM"
HIERARCHIES=()
WORK=$(mktemp -d /tmp/dpm-demo.XXXXXX)
SOCKET="$WORK/control.sock"
PORT=$(( 20000 + RANDOM % 20000 ))
PIDS=()
AGENT_PID=""

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

cleanup() {
    set +e
    if [ -n "$AGENT_PID" ]; then kill -TERM "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; fi
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    for h in "${HIERARCHIES[@]}"; do
        for t in lc burst be; do
            d="$ROOT/$h/$PARENT/$t"
            [ -d "$d" ] || continue
            for _ in $(seq 20); do
                pids=$(cat "$d/cgroup.procs" 2>/dev/null)
                [ -z "$pids" ] && break
                kill -KILL $pids 2>/dev/null; sleep 0.05
            done
            rmdir "$d"
        done
        rmdir "$ROOT/$h/$PARENT" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "setup and build"
scripts/setup.sh
# A debug build (the one scripts/test.sh makes too): the agent's effect does not depend on optimisation, and a
# release build of the whole package takes far longer on a small host. Benchmarks/agent/run.sh uses release.
swift build --product dpm 2>&1 | tail -1
DPM="$(swift build --show-bin-path)/dpm"

log "creating tenants lc, burst, be under $PARENT"
for h in cpu cpuacct cpuset memory unified; do [ -d "$ROOT/$h" ] && HIERARCHIES+=("$h"); done
[ ${#HIERARCHIES[@]} -gt 0 ] || HIERARCHIES=(.)
for h in "${HIERARCHIES[@]}"; do
    mkdir "$ROOT/$h/$PARENT"
    for t in lc burst be; do mkdir "$ROOT/$h/$PARENT/$t"; done
    if [ "$h" = cpuset ]; then
        for d in "$PARENT" "$PARENT/lc" "$PARENT/burst" "$PARENT/be"; do
            cat "$ROOT/cpuset/cpuset.cpus" > "$ROOT/cpuset/$d/cpuset.cpus"
            cat "$ROOT/cpuset/cpuset.mems" > "$ROOT/cpuset/$d/cpuset.mems"
        done
    fi
done

in_tenant() { # in_tenant TENANT COMMAND…: start COMMAND inside the tenant; its pid goes to PIDS and stdout
    local t=$1; shift
    local joins=""
    for h in "${HIERARCHIES[@]}"; do joins+="echo \$\$ > $ROOT/$h/$PARENT/$t/cgroup.procs; "; done
    sh -c "$joins exec $*" &
    PIDS+=($!)
}

in_tenant lc redis-server --port "$PORT" --bind 127.0.0.1 --save "''" --appendonly no --daemonize no --loglevel warning >/dev/null
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# The client runs in the lc tenant too: the service and its callers share the tenant's CPUs. -c 1: one request
# at a time, so every microsecond of scheduling delay shows in the latency.
calibrate=$(redis-benchmark -p "$PORT" -c 1 -n 20000 -t get --csv | tail -1 | tr -d '"' | cut -d, -f2)
REQUESTS=$(printf '%.0f' "$(echo "$calibrate * $PHASE_SECONDS" | bc)")
log "lc alone serves ${calibrate} requests/s with one client; each phase sends $REQUESTS requests"

run_lc_load() { # run_lc_load FILE: redis-benchmark in the lc tenant, CSV to FILE
    local joins=""
    for h in "${HIERARCHIES[@]}"; do joins+="echo \$\$ > $ROOT/$h/$PARENT/lc/cgroup.procs; "; done
    sh -c "$joins exec redis-benchmark -p $PORT -c 1 -n $REQUESTS -t get --csv" > "$1"
}
start_noise() { # bursts in burst, hogs in be (BE_SECONDS long, metrics to FILE)
    in_tenant burst sh -c "'while :; do stress-ng --cpu 1 --timeout 1s --quiet; sleep 2; done'" >/dev/null
    BURST_PID=${PIDS[-1]}
    in_tenant be stress-ng --cpu "$(nproc)" --timeout "$1"s --metrics --yaml "$2" ">/dev/null 2>&1"
    BE_PID=${PIDS[-1]}
}
stop_noise() { # SIGINT makes stress-ng stop its workers and write its metrics
    kill -INT "$BE_PID" 2>/dev/null || true
    wait "$BE_PID" 2>/dev/null || true
    kill -KILL "$BURST_PID" 2>/dev/null || true
    kill -KILL $(cat "$ROOT/${HIERARCHIES[0]}/$PARENT/burst/cgroup.procs") 2>/dev/null || true
}
p50() { tail -1 "$1" | tr -d '"' | cut -d, -f5; }
p99() { tail -1 "$1" | tr -d '"' | cut -d, -f7; }
be_rate() { awk '/bogo-ops-per-second-real-time/ {print $2; exit}' "$1"; }

log "phase 1/3: lc alone"
run_lc_load "$WORK/alone.csv"

log "phase 2/3: lc + burst + be, no control"
start_noise $((PHASE_SECONDS * 3)) "$WORK/be-nocontrol.yaml"
sleep 1
run_lc_load "$WORK/nocontrol.csv"
stop_noise

cat > "$WORK/dpm.yaml" <<YAML
tick: 1ms
reserve: {cores: [0]}
control_socket: $SOCKET
state_dir: $WORK/state
metrics_port: off
best_effort: {soak_owned_cores: true}
tenants:
  - {name: lc, cgroup: $PARENT/lc, class: latency-critical, slo: {runq_wait_p99: 200us}}
  - {name: burst, cgroup: $PARENT/burst, class: burstable, guaranteed: {cpu: 0.2}, cap: {cpu: 1}}
  - {name: be, cgroup: $PARENT/be, class: best-effort, guaranteed: {cpu: 0.5}}
YAML
log "agent configuration:"
sed 's/^/    /' "$WORK/dpm.yaml" >&2

log "phase 3/3: lc + burst + be under dpm"
"$DPM" run --config "$WORK/dpm.yaml" --record "$WORK/samples.tsv" 2> "$WORK/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
[ -S "$SOCKET" ] || { cat "$WORK/agent.log" >&2; exit 1; }
sleep 2
start_noise $((PHASE_SECONDS * 3)) "$WORK/be-dpm.yaml"
sleep 1
run_lc_load "$WORK/dpm.csv"
stop_noise
"$DPM" status --socket "$SOCKET" || true
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true; AGENT_PID=""

mkdir -p "$OUT"
cp "$WORK/agent.log" "$OUT/agent.log"
cp "$WORK/samples.tsv" "$OUT/samples.tsv"

log "results"
printf '%-28s %12s %12s %22s\n' "phase" "lc p50 (ms)" "lc p99 (ms)" "be throughput (ops/s)"
printf '%-28s %12s %12s %22s\n' "lc alone" "$(p50 "$WORK/alone.csv")" "$(p99 "$WORK/alone.csv")" "-"
printf '%-28s %12s %12s %22s\n' "all three, no control" "$(p50 "$WORK/nocontrol.csv")" "$(p99 "$WORK/nocontrol.csv")" "$(be_rate "$WORK/be-nocontrol.yaml")"
printf '%-28s %12s %12s %22s\n' "all three, dpm" "$(p50 "$WORK/dpm.csv")" "$(p99 "$WORK/dpm.csv")" "$(be_rate "$WORK/be-dpm.yaml")"
awk -v alone="$(p99 "$WORK/alone.csv")" -v dpm="$(p99 "$WORK/dpm.csv")" -v nc="$(be_rate "$WORK/be-nocontrol.yaml")" -v bd="$(be_rate "$WORK/be-dpm.yaml")" \
    'BEGIN { printf "lc p99 with dpm / alone: %.2f (goal ≤ 1.20); be throughput with dpm / no control: %.2f (goal ≥ 0.70)\n", dpm / alone, bd / nc }'

scripts/plot-svg.awk -v title="dpm demo: CPU demand, forecast and allocation per tenant (phase 3)" "$OUT/samples.tsv" > "$OUT/dpm-demo.svg"
log "plot: $OUT/dpm-demo.svg; agent log: $OUT/agent.log"
