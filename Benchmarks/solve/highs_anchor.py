"""HiGHS anchor for `dpm solve --mps FILE --repeat N --drift F --seed S`, through highspy.

Same instance, cold solve, and warm re-solves under the same drift as dpm and the GLPK anchor: SplitMix64(seed),
one draw per finite row bound in row order (lower, then upper), one draw for both sides of an equality row. Warm =
Highs.run() after changeRowsBounds, which keeps HiGHS's basis and factorisation (dual simplex). Presolve off.
Times only run(), with time.perf_counter_ns; the Python call overhead (a few µs) is included.
Prints one JSON line with the keys dpm prints. Usage: python3 highs_anchor.py FILE.mps N F S
"""
import json
import math
import sys
import time

import highspy
import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def unit(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return (z >> 11) * 2.0**-53


def main():
    path, repeat, drift, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")
    h.readModel(path)
    lp = h.getLp()
    lower, upper = list(lp.row_lower_), list(lp.row_upper_)
    m = len(lower)
    start = time.perf_counter_ns()
    h.run()
    cold_us = (time.perf_counter_ns() - start) / 1e3
    status = h.getModelStatus()
    info = h.getInfo()
    out = {"solver": "highs", "status": "optimal" if status == highspy.HighsModelStatus.kOptimal else h.modelStatusToString(status),
           "objective": info.objective_function_value, "iterations": info.simplex_iteration_count, "cold_us": round(cold_us, 3)}
    if repeat > 0:
        rng, inf = SplitMix64(seed), highspy.kHighsInf
        indices = np.arange(m, dtype=np.int32)
        times, iterations, optimal = [], [], 0
        for _ in range(repeat):
            new_lower, new_upper = np.empty(m), np.empty(m)
            for i in range(m):
                low, high = lower[i], upper[i]
                if low == high:
                    f = 1 - drift + 2 * drift * rng.unit()
                    new_lower[i] = new_upper[i] = low * f
                else:
                    new_lower[i] = low * (1 - drift + 2 * drift * rng.unit()) if low > -inf else low
                    new_upper[i] = high * (1 - drift + 2 * drift * rng.unit()) if high < inf else high
            h.changeRowsBounds(m, indices, new_lower, new_upper)
            t0 = time.perf_counter_ns()
            h.run()
            times.append((time.perf_counter_ns() - t0) / 1e3)
            iterations.append(h.getInfo().simplex_iteration_count)
            if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                optimal += 1
        times.sort()
        iterations.sort()
        out.update({"repeat": repeat, "drift": drift, "seed": seed, "warm_optimal": optimal, "median_us": round(times[repeat // 2], 3),
                    "p99_us": round(times[max(0, math.ceil(repeat * 0.99) - 1)], 3), "median_iterations": iterations[repeat // 2]})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
