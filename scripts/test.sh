#!/usr/bin/env bash
# Builds dpm and runs every test: unit tests and the kernel tests (root, real BPF, cgroups, tc).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/test.sh: run as root (the kernel tests load BPF and write cgroups)" >&2; exit 1; }
scripts/setup.sh
swift build
# One suite at a time: the kernel tests measure timing and share two cores, so in parallel they disturb each other.
swift test --no-parallel
