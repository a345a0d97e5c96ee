#!/usr/bin/env bash
# Solve benchmark: dpm's simplex against GLPK (C) and HiGHS (highspy) on the allocation LPs at 4, 16, 64 and 256
# tenants × 3 resources, cold and warm under the same seeded drift, in one run; then the whole Solve step (greedy
# cores + LP) under demand drift; then a heap-allocation count of both warm paths with valgrind.
# Usage: Benchmarks/solve/run.sh            (REPEAT, DRIFT, SEED, SIZES override the defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEAT=${REPEAT:-2000}
DRIFT=${DRIFT:-0.1}
SEED=${SEED:-1}
SIZES=${SIZES:-"4 16 64 256"}
OUT=Benchmarks/out/solve
mkdir -p "$OUT"
swift build -c release --product dpm >/dev/null
DPM=.build/release/dpm
gcc -O2 -o "$OUT/glpk_anchor" Benchmarks/solve/glpk_anchor.c -lglpk -lm
python3 -c "import highspy" 2>/dev/null || pip install -q highspy

echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); repeat $REPEAT, drift $DRIFT, seed $SEED"
for n in $SIZES; do
    mps="$OUT/alloc-$n.mps"
    "$DPM" solve --synthetic-tenants "$n" --seed "$SEED" --export-mps "$mps" --format json >/dev/null
    "$DPM" solve --mps "$mps" --repeat "$REPEAT" --drift "$DRIFT" --seed "$SEED" --format json >"$OUT/dpm-$n.json"
    "$OUT/glpk_anchor" "$mps" free "$REPEAT" "$DRIFT" "$SEED" >"$OUT/glpk-$n.json"
    python3 Benchmarks/solve/highs_anchor.py "$mps" "$REPEAT" "$DRIFT" "$SEED" 2>/dev/null | tail -1 >"$OUT/highs-$n.json"
    "$DPM" solve --synthetic-tenants "$n" --seed "$SEED" --repeat "$REPEAT" --drift "$DRIFT" --format json >"$OUT/step-$n.json"
done
python3 Benchmarks/solve/summarize.py "$OUT" $SIZES

# Heap allocations on the warm paths: the same command with 200 and with 1200 warm solves; the difference in
# valgrind's "total heap usage" allocation count divided by 1000 is the allocations per warm solve.
allocs() { valgrind "$@" 2>&1 >/dev/null | sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d ,; }
for kind in lp step; do
    n=64
    if [ "$kind" = lp ]; then args=(solve --mps "$OUT/alloc-$n.mps"); else args=(solve --synthetic-tenants "$n" --seed "$SEED"); fi
    a=$(allocs "$DPM" "${args[@]}" --repeat 200 --drift "$DRIFT" --seed "$SEED")
    b=$(allocs "$DPM" "${args[@]}" --repeat 1200 --drift "$DRIFT" --seed "$SEED")
    echo "heap allocations, warm $kind at $n tenants (valgrind): $a with 200 warm solves, $b with 1200: $(( (b - a) )) more for 1000 more solves"
done
