#!/usr/bin/env bash
# Runs the discovery benchmark: a private podman API service, a busybox image, N containers (default 100).
# Cleans up the service, the image and any container it left, also on failure. Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-100}
work=$(mktemp -d /tmp/dpm-bench-XXXXXX)
image=localhost/$(basename "$work" | tr "[:upper:]" "[:lower:]"):1
service=
cleanup() {
    for name in $(podman ps -a --format '{{.Names}}' | grep '^dpm-bench-' || true); do podman rm -f -t 0 "$name" >/dev/null || true; done
    podman rmi -f "$image" >/dev/null 2>&1 || true
    [ -n "$service" ] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null || true
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
swift build -c release --product discover-benchmark >/dev/null
.build/release/discover-benchmark "$work/engine.sock" "$image" "$count"
