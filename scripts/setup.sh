#!/usr/bin/env bash
# Installs what dpm needs on a Debian 12 host and prepares the kernel filesystems it uses. Run as root.
# Idempotent: safe to run again.
set -euo pipefail

packages=(
    # build: libbpf and its companions; the BPF programs compile with the Swift toolchain's clang
    pkg-config libbpf-dev libelf-dev zlib1g-dev libnuma-dev bpftool
    # kernel tests and benchmarks
    iproute2 rt-tests stress-ng
    # telemetry: capability-dropping test (setpriv), benchmarks (perf bench, bpftool prog show)
    util-linux linux-perf
    # the agent: demo tenants (latency-critical server and its load generator), benchmark and demo scripts
    redis-server redis-tools jq
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# bpffs is not mounted at boot on every host: the agent pins its maps there.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
# tracefs only serves bpftool/perf listings; harmless when present.
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing || true
