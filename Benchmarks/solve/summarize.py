"""Prints the solve benchmark's table from the JSON lines run.sh wrote: one row per instance and solver, and the
ratios of the anchors' warm medians to dpm's. Usage: python3 summarize.py OUT_DIR SIZE..."""
import json
import sys

out, sizes = sys.argv[1], sys.argv[2:]


def load(name):
    with open(f"{out}/{name}.json") as f:
        return json.loads(f.read())


print(f"{'tenants':>7} {'solver':<10} {'status':<9} {'objective':>16} {'cold_us':>10} {'warm_med_us':>12} {'warm_p99_us':>12} {'med_iter':>8} {'warm_ok':>8}")
for n in sizes:
    rows = {name: load(f"{name}-{n}") for name in ("dpm", "glpk", "highs")}
    step = load(f"step-{n}")
    for name, r in rows.items():
        print(f"{n:>7} {name:<10} {r['status']:<9} {r['objective']:>16.9g} {r['cold_us']:>10.1f} {r['median_us']:>12.2f} {r['p99_us']:>12.2f} {r['median_iterations']:>8} {r['warm_optimal']:>8}")
    print(f"{n:>7} {'dpm step':<10} {step['status']:<9} {step['objective']:>16.9g} {step['cold_us']:>10.1f} {step['median_us']:>12.2f} {step['p99_us']:>12.2f} {step['median_iterations']:>8} {step['warm_optimal']:>8}")
    d = rows["dpm"]["median_us"]
    print(f"{'':>7} LP {rows['dpm']['rows']}x{rows['dpm']['columns']}: warm median GLPK/dpm = {rows['glpk']['median_us'] / d:.1f}x, "
          f"HiGHS/dpm = {rows['highs']['median_us'] / d:.1f}x; objective |dpm-glpk| = {abs(rows['dpm']['objective'] - rows['glpk']['objective']):.2e}")
    print(f"{'':>7} whole step (greedy + LP + read-back): thread CPU median {step['cpu_median_us']:.2f} us, p99 {step['cpu_p99_us']:.2f} us; "
          f"{step['allocations_per_step']:.3f} allocations/step; GLPK warm LP alone / dpm whole step (medians) = {rows['glpk']['median_us'] / step['median_us']:.1f}x")
    print(f"{'':>7} whole step, {step['few_changed']} tenants changed: wall median {step['few_median_us']:.2f} us, p99 {step['few_p99_us']:.2f} us; "
          f"thread CPU median {step['few_cpu_median_us']:.2f} us, p99 {step['few_cpu_p99_us']:.2f} us")
    print(f"{'':>7} whole step, all {n} changed (every {step['all_every']}th step): wall median {step['all_median_us']:.2f} us, p99 {step['all_p99_us']:.2f} us; "
          f"thread CPU median {step['all_cpu_median_us']:.2f} us, p99 {step['all_cpu_p99_us']:.2f} us")
