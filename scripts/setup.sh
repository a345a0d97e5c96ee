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
    # enforce: traffic for the shaping kernel tests (iperf3 between test namespaces)
    iperf3 netcat-openbsd
    # central service tests and benchmarks: a real PostgreSQL server on loopback
    postgresql
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

# Central's PostgreSQL tests: start the Debian cluster (no systemd needed) and make the test role (allowed to create databases) and database
# (URL postgres://dpm_test:dpm_test@127.0.0.1:5432/dpm_test, the default of DPM_TEST_POSTGRES_URL).
pg_version=$(pg_lsclusters -h 2>/dev/null | awk 'NR == 1 { print $1 }')
if [ -z "$pg_version" ]; then
    pg_version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    pg_createcluster "$pg_version" main
fi
pg_cluster=$(pg_lsclusters -h | awk 'NR == 1 { print $2 }')
pg_lsclusters -h | awk 'NR == 1 { print $4 }' | grep -q online || pg_ctlcluster "$pg_version" "$pg_cluster" start
pg_psql() { su postgres -c "psql -v ON_ERROR_STOP=1 -tAc \"$1\""; }
pg_psql "SELECT 1 FROM pg_roles WHERE rolname = 'dpm_test'" | grep -q 1 \
    || pg_psql "CREATE ROLE dpm_test LOGIN PASSWORD 'dpm_test'"
pg_psql "ALTER ROLE dpm_test CREATEDB"  # each test suite run makes and drops its own databases
pg_psql "SELECT 1 FROM pg_database WHERE datname = 'dpm_test'" | grep -q 1 \
    || pg_psql "CREATE DATABASE dpm_test OWNER dpm_test"
