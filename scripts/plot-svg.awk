#!/usr/bin/awk -f
# Draws CPU demand, forecast and allocation over time, one panel per tenant, as SVG on stdout.
# Input: tab-separated lines "seconds  tenant  demand_cores  forecast_cores  allocation_cores" (scripts/demo.sh
# samples them from `dpm status --format json`). Usage: plot-svg.awk -v title=TEXT samples.tsv > plot.svg
BEGIN { FS = "\t"; count = 0; width = 900; panel = 180; left = 60; right = 150; top = 40; gap = 30 }
NF >= 5 {
    if (!($2 in index_of)) { index_of[$2] = count; name[count] = $2; count++ }
    t = index_of[$2]; n = points[t]++
    x[t, n] = $1 + 0; demand[t, n] = $3 + 0; forecast[t, n] = $4 + 0; allocation[t, n] = $5 + 0
    if ($1 + 0 > tmax) tmax = $1 + 0
    for (i = 3; i <= 5; i++) if ($i + 0 > ymax) ymax = $i + 0
}
function px(seconds) { return left + (width - left - right) * seconds / (tmax > 0 ? tmax : 1) }
function py(t, cores) { return top + t * (panel + gap) + panel - panel * cores / ymax }
function line(t, series, color, dash,   i, path) {
    path = ""
    for (i = 0; i < points[t]; i++) {
        value = series == "demand" ? demand[t, i] : series == "forecast" ? forecast[t, i] : allocation[t, i]
        path = path sprintf("%.1f,%.1f ", px(x[t, i]), py(t, value))
    }
    printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" %s points=\"%s\"/>\n", color, dash, path
}
END {
    if (ymax <= 0) ymax = 1
    ymax = int(ymax + 0.999)
    height = top + count * (panel + gap) + 10
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", width, height
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"22\" font-size=\"15\">%s</text>\n", left, title
    for (t = 0; t < count; t++) {
        y0 = top + t * (panel + gap)
        printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", left, y0, width - left - right, panel
        printf "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", left + 6, y0 + 16, name[t]
        for (c = 0; c <= ymax; c++) {
            printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", left, width - right, py(t, c), py(t, c)
            printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d</text>\n", left - 6, py(t, c) + 4, c
        }
        line(t, "allocation", "#2a9d3a", "")
        line(t, "forecast", "#e68a00", "stroke-dasharray=\"5,3\"")
        line(t, "demand", "#1f5fbf", "")
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">seconds</text>\n", (left + width - right) / 2, y0 + panel + 16
        printf "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">cores</text>\n", y0 + panel / 2, y0 + panel / 2
    }
    ly = top + 10
    printf "<g transform=\"translate(%d,%d)\">", width - right + 12, ly
    printf "<line x1=\"0\" x2=\"24\" y1=\"0\" y2=\"0\" stroke=\"#1f5fbf\" stroke-width=\"2\"/><text x=\"30\" y=\"4\">demand (used)</text>"
    printf "<line x1=\"0\" x2=\"24\" y1=\"20\" y2=\"20\" stroke=\"#e68a00\" stroke-width=\"2\" stroke-dasharray=\"5,3\"/><text x=\"30\" y=\"24\">forecast</text>"
    printf "<line x1=\"0\" x2=\"24\" y1=\"40\" y2=\"40\" stroke=\"#2a9d3a\" stroke-width=\"2\"/><text x=\"30\" y=\"44\">allocation</text></g>\n"
    print "</svg>"
}
