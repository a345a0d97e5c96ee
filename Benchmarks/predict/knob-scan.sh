#!/usr/bin/env bash
# Scans each method's knob on PlanetLab (warm-up 72 steps) and Azure V1 (warm-up 288 steps) with the release
# `dpm replay`, and prints every method's pooled slack interpolated at a pooled shortfall rate of 1% and 5%, and
# dpm's slack as a ratio of the best VPA/Autopilot baseline at the same shortfall (goal: ≤ 0.70).
# Usage: Benchmarks/predict/knob-scan.sh [planetlab|azure ...]   (default: both). Output: a table per dataset;
# the raw (knob, shortfall, slack) points go to $OUT (default /tmp/dpm-knob-scan).
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product dpm >/dev/null
DPM=.build/release/dpm
DATA=${DATA:-/work/shared/data/traces}
OUT=${OUT:-/tmp/dpm-knob-scan}
mkdir -p "$OUT"
datasets=("${@:-planetlab azure}")
[ $# -eq 0 ] && datasets=(planetlab azure)

# label | method and fixed options | option that carries the knob | knob values (each method's default among them)
scans=(
  "dpm|--method dpm|--quantile|0.8 0.9 0.93 0.95 0.97 0.98 0.985 0.99 0.993 0.996"
  "dpm-pool-budget|--method dpm --pool-budget|--quantile|0.8 0.9 0.93 0.95 0.97 0.98 0.985 0.99 0.993 0.996"
  "vpa|--method vpa|--quantile|0.5 0.7 0.8 0.9 0.95 0.97 0.98 0.99 0.995 0.999"
  "vpa|--method vpa|--margin|0 0.15 0.3 0.5 0.75 1 1.5 2 3"
  "autopilot-max|--method autopilot-max|--margin|-0.5 -0.3 -0.2 -0.1 0 0.1 0.2 0.4"
  "autopilot-p95|--method autopilot-p95|--quantile|0.5 0.7 0.8 0.9 0.95 0.97 0.98 0.99 0.995 0.999"
  "autopilot-avg|--method autopilot-avg|--margin|0 0.25 0.5 1 1.5 2 3 4 6"
  "autopilot-ml|--method autopilot-ml|--overrun-weight|1 3 10 30 100 300 1000 3000 10000"
  "seasonal-naive|--method seasonal-naive|--margin|0 0.1 0.25 0.5 0.75 1 1.5 2 3 5"
  "static-peak|--method static-peak|--margin|-0.5 -0.3 -0.2 -0.1 0 0.1 0.25 0.5 1"
)

for dataset in "${datasets[@]}"; do
  case $dataset in
    planetlab) args=(--trace "$DATA/planetlab" --format planetlab --warmup 72) ;;
    azure) args=(--trace "$DATA/azure_v1/azure_v1_avg_cpu_50vms.csv.gz" --format azure-csv --warmup 288) ;;
    *) echo "unknown dataset $dataset" >&2; exit 2 ;;
  esac
  points="$OUT/$dataset.points"
  : > "$points"
  for scan in "${scans[@]}"; do
    IFS='|' read -r name fixed option values <<<"$scan"
    label="$name($option)"
    for value in $values; do
      # The pooled row: name steps slack shortfall_rate shortfall_volume mase_1 mase_12 ns_per_update.
      # shellcheck disable=SC2086 # $fixed is a list of options
      "$DPM" replay "${args[@]}" $fixed "$option=$value" 2>/dev/null | awk -v l="$label" -v v="$value" \
        '$1 == "pooled" { print l, v, $4, $3, $8 }' >> "$points"
    done
  done
  echo "== $dataset: pooled slack at a pooled shortfall rate of 1% and 5% (linear interpolation between knob settings)"
  awk '
    { label[$1] = 1; n[$1]++; rate[$1, n[$1]] = $3; slack[$1, n[$1]] = $4; ns[$1] += $5 }
    function at(m, target,    i, j, best, r1, r2, s1, s2, lo, hi) {
      # Sort this method points by shortfall rate (few points: insertion sort), then interpolate.
      for (i = 1; i <= n[m]; i++) { r[i] = rate[m, i]; s[i] = slack[m, i] }
      for (i = 2; i <= n[m]; i++) for (j = i; j > 1 && r[j - 1] > r[j]; j--) {
        t = r[j]; r[j] = r[j - 1]; r[j - 1] = t; t = s[j]; s[j] = s[j - 1]; s[j - 1] = t }
      best = -1
      for (i = 1; i < n[m]; i++) if (r[i] <= target && r[i + 1] >= target) {
        v = (r[i + 1] == r[i]) ? s[i] : s[i] + (s[i + 1] - s[i]) * (target - r[i]) / (r[i + 1] - r[i])
        if (best < 0 || v < best) best = v }
      return best
    }
    END {
      printf "%-28s %10s %10s %14s\n", "method(knob)", "slack@1%", "slack@5%", "ns_per_update"
      for (m in label) { a[m] = at(m, 0.01); b[m] = at(m, 0.05)
        printf "%-28s %10s %10s %14.1f\n", m, (a[m] < 0 ? "out-of-range" : sprintf("%.4f", a[m])),
          (b[m] < 0 ? "out-of-range" : sprintf("%.4f", b[m])), ns[m] / n[m] }
      for (k = 1; k <= 2; k++) {
        target = (k == 1) ? "1%" : "5%"; best = -1; who = ""
        for (m in label) if (m !~ /^dpm/ && m ~ /^(vpa|autopilot)/) { v = (k == 1) ? a[m] : b[m]
          if (v >= 0 && (best < 0 || v < best)) { best = v; who = m } }
        for (m in label) if (m ~ /^dpm/) { d = (k == 1) ? a[m] : b[m]
          if (best > 0 && d >= 0) printf "at %s shortfall: %s %.4f, best VPA/Autopilot baseline %s %.4f, ratio %.3f (goal <= 0.70)\n", target, m, d, who, best, d / best }
      }
    }' "$points"
done
