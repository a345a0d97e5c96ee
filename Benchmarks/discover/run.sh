#!/usr/bin/env bash
# Discovery benchmark: N real containers (default 100) started and stopped in a row against podman's Docker API while
# `discover-benchmark` follows the engine.
#
# Measures, per container, the time from calling `podman run -d` until the container is in the merged tenant table
# (start latency) and from calling `podman stop -t 0` until it is retired (stop latency). Anchors, same run: the
# duration of the podman command itself. Samples the watcher's open file descriptors and resident memory (all,
# anonymous, file-backed) every 10 containers (every 50 from 500 on). Prints what it measured; never passes or fails. Cleans up the service, the image, the containers and
# the watcher, also on failure. Run as root.
#
# With `agent` as second argument the watcher is the agent itself (`dpm run` with `sources: [docker:SOCKET]`,
# release build) and a container counts as in the table when `dpm status` lists it: the time the issue's goal is
# about, polling included (one `dpm status` every 10 ms). DPM=path/to/dpm uses that binary instead of building.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-100}
watcher_kind=${2:-discovery}
work=$(mktemp -d /tmp/dpm-bench-XXXXXX)
image=localhost/$(basename "$work" | tr "[:upper:]" "[:lower:]"):1
prefix=$(basename "$work" | tr "[:upper:]" "[:lower:]")
service= watcher=
cleanup() {
    for name in $(podman ps -a --format '{{.Names}}' | grep "^$prefix-" || true); do podman rm -f -t 0 "$name" >/dev/null || true; done
    podman rmi -f "$image" >/dev/null 2>&1 || true
    for pid in $watcher $service; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for tool in sh sleep yes cat; do ln -s busybox "$work/rootfs/bin/$tool"; done
tar -C "$work/rootfs" -cf "$work/bb.tar" .
podman import "$work/bb.tar" "$image" >/dev/null 2>&1
podman system service --time=0 "unix://$work/engine.sock" >/dev/null 2>&1 &
service=$!
for _ in $(seq 100); do [ -S "$work/engine.sock" ] && break; sleep 0.05; done
now() { date +%s%N; }
if [ "$watcher_kind" = agent ]; then
    dpm=${DPM:-.build/release/dpm}
    [ -n "${DPM:-}" ] || swift build -c release --product dpm >/dev/null
    printf 'tick: 1ms\nreserve: {cores: [0]}\ncontrol_socket: %s\nstate_dir: %s\nmetrics_port: off\nsources: [docker:%s]\ntenants: []\n' \
        "$work/control.sock" "$work/state" "$work/engine.sock" >"$work/dpm.yaml"
    "$dpm" run --config "$work/dpm.yaml" 2>"$work/warnings" &
    watcher=$!
    for _ in $(seq 200); do [ -S "$work/control.sock" ] && break; sleep 0.05; done
    # Waits until `dpm status` lists tenant $2 (added) or no longer does (retired); prints when (or "timeout").
    wait_event() {
        for _ in $(seq 1000); do
            if "$dpm" status --socket "$work/control.sock" --format json | grep -q "\"name\" *: *\"$2\""; then
                [ "$1" = added ] && { now; return; }
            else
                [ "$1" = retired ] && { now; return; }
            fi
            sleep 0.01
        done
        echo timeout
    }
else
    swift build -c release --product discover-benchmark >/dev/null
    .build/release/discover-benchmark "$work/engine.sock" >"$work/events" 2>"$work/warnings" &
    watcher=$!
    for _ in $(seq 200); do grep -q '^ready' "$work/events" && break; sleep 0.05; done
    # Waits until the watcher printed "$1 $2 <ns>" and prints that timestamp (or "timeout" after 10 s).
    wait_event() {
        local line
        for _ in $(seq 1000); do
            line=$(grep -m1 "^$1 $2 " "$work/events" || true)
            [ -n "$line" ] && { echo "${line##* }"; return; }
            sleep 0.01
        done
        echo timeout
    }
fi
sleep 1
# Open fds, then resident memory split as the kernel counts it (/proc/PID/status): all, anonymous (heap, stacks: where a
# leak grows), file-backed (code and libraries paged in as new paths run: grows once, not per container).
sample() { echo "$1 $(ls /proc/$watcher/fd | wc -l) $(awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{print r, a, f}' /proc/$watcher/status)" >>"$work/samples"; }
every=$(( count >= 500 ? 50 : 10 ))

sample 0
for i in $(seq 1 "$count"); do
    name=$prefix-$i
    t0=$(now)
    podman --runtime /usr/sbin/runc run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        --name "$name" --label dpm.class=best-effort "$image" sleep 1000 >/dev/null
    t1=$(now)
    seen=$(wait_event added "$name")
    echo "$(( (t1 - t0) / 1000 ))" >>"$work/run_us"
    [ "$seen" = timeout ] && echo timeout >>"$work/start_us" || echo "$(( (seen - t0) / 1000 ))" >>"$work/start_us"
    t0=$(now)
    podman stop -t 0 "$name" >/dev/null
    t1=$(now)
    seen=$(wait_event retired "$name")
    echo "$(( (t1 - t0) / 1000 ))" >>"$work/stop_cmd_us"
    [ "$seen" = timeout ] && echo timeout >>"$work/stop_us" || echo "$(( (seen - t0) / 1000 ))" >>"$work/stop_us"
    podman rm -f "$name" >/dev/null
    (( i % every == 0 )) && sample "$i"
done

# median, p99 and max of a file of microseconds, in milliseconds; timeouts counted apart.
stats() {
    local timeouts; timeouts=$(grep -c timeout "$1" || true)
    grep -v timeout "$1" | sort -n | awk -v t="$timeouts" '{v[NR]=$1} END {
        m=v[int((NR+1)/2)]; i=int(NR*0.99); if (i<NR*0.99) i++; p=v[i];
        printf "median %.1f ms, p99 %.1f ms, max %.1f ms (n=%d, timeouts %d)\n", m/1000, p/1000, v[NR]/1000, NR, t }'
}
median() { grep -v timeout "$1" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "discover benchmark ($watcher_kind): $count containers started and stopped in a row; podman $(podman --version | awk '{print $3}') Docker API, runc, busybox image"
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# The container runs once `podman run -d` returns and is stopped once `podman stop` returns: latency from there
# (negative when the table had it before the command returned).
paste "$work/start_us" "$work/run_us" | awk '$1!="timeout"{print $1-$2}' >"$work/start_after_us"
paste "$work/stop_us" "$work/stop_cmd_us" | awk '$1!="timeout"{print $1-$2}' >"$work/stop_after_us"
echo "start -> in table (from calling podman run -d): $(stats "$work/start_us")"
echo "start -> in table (after podman run -d returned): $(stats "$work/start_after_us")"
echo "anchor: podman run -d duration:                  $(stats "$work/run_us")"
echo "stop -> retired (from calling podman stop -t 0): $(stats "$work/stop_us")"
echo "stop -> retired (after podman stop returned):    $(stats "$work/stop_after_us")"
echo "anchor: podman stop -t 0 duration:               $(stats "$work/stop_cmd_us")"
echo "ratio of medians: start/run $(awk -v a="$(median "$work/start_us")" -v b="$(median "$work/run_us")" 'BEGIN{printf "%.2f", a/b}'),"\
     "stop/stop-command $(awk -v a="$(median "$work/stop_us")" -v b="$(median "$work/stop_cmd_us")" 'BEGIN{printf "%.2f", a/b}')"
echo "within 1 s of the command returning: start $(awk '$1<=1000000' "$work/start_after_us" | wc -l)/$count, stop $(awk '$1<=1000000' "$work/stop_after_us" | wc -l)/$count"
echo "watcher after N containers: open fds, RSS KiB, anonymous KiB, file-backed KiB"
column -t "$work/samples"
# Growth over the second half of the run, when every code path has run at least once.
awk -v n="$count" 'NR==1{next} {c[NR]=$1; f[NR]=$2; r[NR]=$3; a[NR]=$4} END{
    for (i=2; i<=NR; i++) if (c[i] >= n/2) { h=i; break }
    printf "second half (containers %d -> %d): fds %+d, RSS %+d KiB, anonymous %+d KiB (%.2f KiB per container)\n", c[h], c[NR], f[NR]-f[h], r[NR]-r[h], a[NR]-a[h], (a[NR]-a[h])/(c[NR]-c[h]) }' "$work/samples"
echo "lines the watcher wrote to stderr (warnings; the agent's log): $(wc -l <"$work/warnings")"
