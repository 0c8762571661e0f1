"""Turns bench/compare.sh's CSV files into docs/bench/results.md (tables with ratios)
and one SVG bar chart per payload size (seconds, log scale), with no dependencies."""
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

results, headline, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
rows = list(csv.DictReader(open(results)))
heads = list(csv.DictReader(open(headline)))

SIZES = {1024: "1 KiB", 1048576: "1 MiB", 67108864: "64 MiB"}
series = ["burst 1 groups", "burst 2 groups", "burst 4 groups", "burst-lane 2 groups", "burst-lane 4 groups",
          "mpi", "raw-nats", "raw-tcp", "raw-unix"]
colors = ["#1f77b4", "#4f9fd4", "#8fc7f4", "#ff7f0e", "#ffbb78", "#d62728", "#7f7f7f", "#2ca02c", "#98df8a"]


def key(r):
    return r["system"] + " " + r["layout"] if r["system"].startswith("burst") else r["system"]


table = defaultdict(dict)
for r in rows:
    table[(r["benchmark"], int(r["payload_size"]))][key(r)] = float(r["seconds"])

md = ["| collective | payload | burst, 1 group (all local) | burst, 2 groups | burst, 4 groups | burst + lanes, 2 groups | burst + lanes, 4 groups | MPI | raw NATS | raw TCP | raw unix socket | Burst + lanes, most groups / MPI |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
fmt = lambda s: "–" if s is None else (f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.3f} s")
for (b, size), v in sorted(table.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    best4 = v.get("burst-lane 4 groups", v.get("burst-lane 2 groups"))
    ratio = f"{best4 / v['mpi']:.2f}×" if best4 and v.get("mpi") else "–"
    md.append(f"| {b} | {SIZES[size]} | " + " | ".join(fmt(v.get(s)) for s in series) + f" | {ratio} |")
md += ["", "| headline | system | seconds |", "| --- | --- | --- |"]
md += [f"| {h['what']} | {h['system']} | {float(h['seconds']):.4f} |" for h in heads]
(out / "results.md").write_text("\n".join(md) + "\n")

for size, name in SIZES.items():
    benches = sorted({b for (b, s) in table if s == size})
    vals = [v for (b, s), d in table.items() if s == size for v in d.values() if v > 0]
    if not vals:
        continue
    lo, hi = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
    hi = max(hi, lo + 1)
    W, H, left, bottom, top = 900, 380, 70, 80, 30
    gw = (W - left - 20) / len(benches)
    bw = gw / (len(series) + 1)
    y = lambda s: top + (H - top - bottom) * (1 - (math.log10(s) - lo) / (hi - lo))
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="13">Seconds per operation, {name} per worker (log scale; lower is better)</text>']
    for e in range(lo, hi + 1):
        svg.append(f'<line x1="{left}" x2="{W - 20}" y1="{y(10 ** e)}" y2="{y(10 ** e)}" stroke="#ddd"/>'
                   f'<text x="{left - 5}" y="{y(10 ** e) + 4}" text-anchor="end">1e{e}</text>')
    for i, b in enumerate(benches):
        x0 = left + i * gw
        for j, s in enumerate(series):
            v = table[(b, size)].get(s)
            if v and v > 0:
                svg.append(f'<rect x="{x0 + (j + 0.5) * bw:.1f}" y="{y(v):.1f}" width="{bw:.1f}" height="{H - bottom - y(v):.1f}" fill="{colors[j]}"><title>{s}: {v:.6f} s</title></rect>')
        svg.append(f'<text x="{x0 + gw / 2}" y="{H - bottom + 15}" text-anchor="middle">{b}</text>')
    for j, s in enumerate(series):
        lx, ly = left + (j % 5) * 160, H - 45 + (j // 5) * 18
        svg.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{colors[j]}"/><text x="{lx + 14}" y="{ly + 9}">{s}</text>')
    svg.append("</svg>")
    (out / f"collectives-{name.replace(' ', '')}.svg").write_text("\n".join(svg) + "\n")
