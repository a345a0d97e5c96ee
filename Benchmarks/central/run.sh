#!/usr/bin/env bash
# Central benchmarks: the value of central priors (replay on real traces) and ingest throughput on SQLite and
# PostgreSQL. Run as root after scripts/setup.sh (which starts PostgreSQL). Prints; never passes or fails.
#   Benchmarks/central/run.sh [value|ingest|all] [extra ingest options, e.g. --minutes 2 --hosts 1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
shift || true
config=${CONFIG:-debug}
swift build -c "$config" --product central-bench
bench=".build/$config/central-bench"

if [[ $what == value || $what == all ]]; then
    "$bench" value --traces /work/shared/data/traces
fi
if [[ $what == ingest || $what == all ]]; then
    "$bench" ingest --db "sqlite:/tmp/dpm-central-ingest.sqlite" "$@"
    # A fresh database each run, owned by the test role scripts/setup.sh creates.
    su postgres -c "psql -q -c 'DROP DATABASE IF EXISTS dpm_bench WITH (FORCE)' -c 'CREATE DATABASE dpm_bench OWNER dpm_test'"
    "$bench" ingest --db "postgres://dpm_test:dpm_test@127.0.0.1:5432/dpm_bench" "$@"
fi
