#!/usr/bin/env bash
# Demo (for now): set up, build, then watch two demo tenants with `dpm telemetry` for a few seconds and clean up.
# Tenant "busy" runs two CPU-bound threads on one core, faults in pages and sends over loopback TCP; tenant "idle"
# does nothing. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/demo.sh: run as root (dpm loads BPF programs and creates cgroups)" >&2; exit 1; }
scripts/setup.sh
swift build

bin=.build/debug
busy=/sys/fs/cgroup/unified/dpm-demo-$$-busy
idle=/sys/fs/cgroup/unified/dpm-demo-$$-idle
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rmdir "$busy" "$idle" 2>/dev/null || true
}
trap cleanup EXIT
mkdir "$busy" "$idle"

port=$((20000 + $$ % 10000))
taskset -c 0 "$bin/TelemetryLoad" "$busy" spin 5 2 >/dev/null &
"$bin/TelemetryLoad" - serve-tcp "$port" &
(
    sleep 1.5
    "$bin/TelemetryLoad" "$busy" touch-pages 50000
    "$bin/TelemetryLoad" "$busy" send-tcp "$port" 50000000
) &

"$bin/dpm" telemetry --cgroup "$busy" --cgroup "$idle" --interval 1s --duration 5s
