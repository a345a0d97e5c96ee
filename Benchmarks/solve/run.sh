#!/usr/bin/env bash
# Solve benchmark: dpm's simplex against GLPK (C) and HiGHS (highspy) on the allocation LPs at 4, 16, 64 and 256
# tenants × 3 resources, cold and warm under the same seeded drift, in one run; then the whole Solve step (cost
# model, greedy cores, LP, read-back) under the agent's demand drift (a few tenants changed per step, all of them
# every tenth step; reported apart) with its allocations per step (SolveBenchmark, malloc counter); then a
# heap-allocation count of both warm paths with valgrind and instruction counts with callgrind.
# Usage: Benchmarks/solve/run.sh            (REPEAT, DRIFT, SEED, SIZES override the defaults; DPM=path/to/dpm and
#        STEP=path/to/SolveBenchmark use already built release binaries instead of building them)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEAT=${REPEAT:-2000}
DRIFT=${DRIFT:-0.1}
SEED=${SEED:-1}
SIZES=${SIZES:-"4 16 64 256"}
OUT=Benchmarks/out/solve
mkdir -p "$OUT"
if [ -z "${DPM:-}" ]; then
    swift build -c release --product dpm >/dev/null
    DPM=.build/release/dpm
fi
if [ -z "${STEP:-}" ]; then
    swift build -c release --product SolveBenchmark >/dev/null
    STEP=.build/release/SolveBenchmark
fi
gcc -O2 -o "$OUT/glpk_anchor" Benchmarks/solve/glpk_anchor.c -lglpk -lm
python3 -c "import highspy" 2>/dev/null || pip install -q highspy

echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); repeat $REPEAT, drift $DRIFT, seed $SEED"
for n in $SIZES; do
    mps="$OUT/alloc-$n.mps"
    # The whole step first: it also exports its LP (as solved cold) for the LP rows below.
    "$STEP" --sizes "$n" --seed "$SEED" --repeat "$REPEAT" --drift "$DRIFT" --mps-dir "$OUT" | grep -v '^#' >"$OUT/step-$n.json"
    "$DPM" solve --mps "$mps" --repeat "$REPEAT" --drift "$DRIFT" --seed "$SEED" --format json >"$OUT/dpm-$n.json"
    "$OUT/glpk_anchor" "$mps" free "$REPEAT" "$DRIFT" "$SEED" >"$OUT/glpk-$n.json"
    python3 Benchmarks/solve/highs_anchor.py "$mps" "$REPEAT" "$DRIFT" "$SEED" 2>/dev/null | tail -1 >"$OUT/highs-$n.json"
done
python3 Benchmarks/solve/summarize.py "$OUT" $SIZES

# Heap allocations on the warm paths: the same command with 200 and with 1200 warm solves; the difference in
# valgrind's "total heap usage" allocation count divided by 1000 is the allocations per warm solve.
# Valgrind gives up on a dpm binary whose debug info it cannot read (a release dpm that links BoringSSL): such a
# figure is reported as unavailable instead of ending the script.
allocs() { valgrind "$@" 2>&1 >/dev/null | sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d , || true; }
n=64
for kind in lp step; do
    if [ "$kind" = lp ]; then
        a=$(allocs "$DPM" solve --mps "$OUT/alloc-$n.mps" --repeat 200 --drift "$DRIFT" --seed "$SEED")
        b=$(allocs "$DPM" solve --mps "$OUT/alloc-$n.mps" --repeat 1200 --drift "$DRIFT" --seed "$SEED")
    else
        a=$(allocs "$STEP" --sizes "$n" --seed "$SEED" --repeat 200 --drift "$DRIFT")
        b=$(allocs "$STEP" --sizes "$n" --seed "$SEED" --repeat 1200 --drift "$DRIFT")
    fi
    if [ -n "$a" ] && [ -n "$b" ]; then
        echo "heap allocations, warm $kind at $n tenants (valgrind): $a with 200 warm solves, $b with 1200: $(( (b - a) )) more for 1000 more solves"
    else
        echo "heap allocations, warm $kind at $n tenants (valgrind): unavailable (valgrind could not run the binary)"
    fi
done

# Instructions per warm solve (valgrind callgrind: unaffected by other load on the machine), dpm against GLPK on the
# 64-tenant LP: the difference between 500 and 2500 warm solves, divided by 2000.
instructions() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' || true; }
perSolve() { if [ -n "$1" ] && [ -n "$2" ]; then echo $(( ($2 - $1) / 2000 )); else echo unavailable; fi; }
d1=$(instructions "$DPM" solve --mps "$OUT/alloc-$n.mps" --repeat 500 --drift "$DRIFT" --seed "$SEED")
d2=$(instructions "$DPM" solve --mps "$OUT/alloc-$n.mps" --repeat 2500 --drift "$DRIFT" --seed "$SEED")
g1=$(instructions "$OUT/glpk_anchor" "$OUT/alloc-$n.mps" free 500 "$DRIFT" "$SEED")
g2=$(instructions "$OUT/glpk_anchor" "$OUT/alloc-$n.mps" free 2500 "$DRIFT" "$SEED")
# The whole step twice: every step with 3 tenants changed, and every step with all of them changed.
f1=$(instructions "$STEP" --sizes "$n" --seed "$SEED" --repeat 500 --drift "$DRIFT" --few 3 --all-every 1000000)
f2=$(instructions "$STEP" --sizes "$n" --seed "$SEED" --repeat 2500 --drift "$DRIFT" --few 3 --all-every 1000000)
s1=$(instructions "$STEP" --sizes "$n" --seed "$SEED" --repeat 500 --drift "$DRIFT" --all-every 1)
s2=$(instructions "$STEP" --sizes "$n" --seed "$SEED" --repeat 2500 --drift "$DRIFT" --all-every 1)
echo "instructions per warm solve at $n tenants (callgrind): dpm LP $(perSolve "$d1" "$d2"), GLPK $(perSolve "$g1" "$g2"), dpm whole step with 3 tenants changed $(perSolve "$f1" "$f2"), with all changed $(perSolve "$s1" "$s2")"
