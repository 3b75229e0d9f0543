#!/usr/bin/env python3
"""Draws the `peers` scenario's JSON as a PNG: GET GB/s (verified hits) per cell and system, the raw
disk's random-read ceiling for the same value size and queue depth, and SET GB/s of the fill and of the
write-heavy mix. Usage: peers_chart.py RESULT.json OUT.png (Debian's python3-matplotlib).
peers_chart.py --markdown RESULT.json prints one row per cell instead: GB/s of each system side by side.
Each system's median round is shown where the run had several."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SYSTEMS = ["node-uds", "node-uds-copy", "node-tcp", "garnet", "memcached", "redis"]
COLORS = {"node-uds": "#1f77b4", "node-uds-copy": "#4a90c8", "node-tcp": "#6baed6", "garnet": "#2ca02c", "memcached": "#ff7f0e", "redis": "#d62728"}
LABELS = {"node-uds": "node (Unix socket, shared buffers)", "node-uds-copy": "node (Unix socket, values in the socket)", "node-tcp": "node (TCP)", "garnet": "Garnet 2.2.8 (tiered)",
          "memcached": "memcached 1.6 extstore (hits only)", "redis": "Redis 7 (all in RAM)"}


def shown(r):
    """A system's median round (runs before rounds existed have one row per phase)."""
    return r.get("system") != "limit" and r.get("median_round", True)


def main(path, out):
    report = json.load(open(path))
    rows = [r for r in report["rows"] if shown(r)]
    limits = [r for r in report["rows"] if r.get("system") == "limit"]
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in rows)]

    def cell(r):
        return (r["value"], r["concurrency"], r["keys"], r["phase"])

    get_cells = []
    for r in rows:
        if r["phase"] != "fill (100% SET)" and r.get("get_gbps") is not None and r["phase"] != "write-heavy":
            if cell(r) not in get_cells:
                get_cells.append(cell(r))
    set_cells = []
    for r in rows:
        if (r["phase"] in ("fill (100% SET)", "write-heavy")) and cell(r) not in set_cells:
            set_cells.append(cell(r))

    def disk_limit(value, qd):
        for l in limits:
            if l.get("value") == value and l["phase"].startswith("raw disk: random read") and l["phase"].endswith(f"QD {qd}"):
                return l["limit_gbps"]
        return None

    def disk_write(value):
        for l in limits:
            if l.get("value") == value and l["phase"].startswith("raw disk: sequential write"):
                return l["limit_gbps"]
        return None

    if len(get_cells) + len(set_cells) <= 6:
        fig, axes = plt.subplots(1, 2, figsize=(9, 5.5), gridspec_kw={"width_ratios": [max(1, len(get_cells)), max(1, len(set_cells))]})
    else:  # the full matrix: one row per operation
        fig, axes = plt.subplots(2, 1, figsize=(min(24, 0.9 * max(len(get_cells), len(set_cells)) + 3), 10))
    width = 0.8 / max(1, len(systems))
    for ax, cells, metric, title in ((axes[0], get_cells, "get_gbps", "GET GB/s (verified hits)"),
                                     (axes[1], set_cells, "set_gbps", "SET GB/s")):
        for i, s in enumerate(systems):
            xs, ys = [], []
            for j, c in enumerate(cells):
                r = next((r for r in rows if r["system"] == s and cell(r) == c), None)
                if r is not None and r.get(metric) is not None:
                    xs.append(j - 0.4 + width * (i + 0.5))
                    ys.append(r[metric])
            ax.bar(xs, ys, width, color=COLORS[s], label=LABELS[s])
        for j, c in enumerate(cells):
            value, conc, keys, phase = c
            limit = disk_write(value) if metric == "set_gbps" else disk_limit(value, conc)
            if limit:
                ax.hlines(limit, j - 0.45, j + 0.45, colors="black", linestyles="dashed", linewidth=1)
        ax.set_xticks(range(len(cells)))
        ax.set_xticklabels([f"{v}\nc{c} {k}\n{p.replace(' (100% SET)', '')}" for v, c, k, p in cells], fontsize=7)
        ax.set_title(title)
        ax.set_ylabel("GB/s (10^9 bytes of values per second)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].plot([], [], "k--", linewidth=1, label="raw disk (O_DIRECT random read / sequential write)")
    axes[0].legend(fontsize=7, loc="upper left")
    ram = report["options"].get("ram", "")
    fig.suptitle(f"peers: same keys and bytes, RAM budget {ram} per system, working set 3x RAM ({report['machine']['logical_cores']} cores)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"chart: {out}")


def markdown(path):
    report = json.load(open(path))
    rows = [r for r in report["rows"] if shown(r)]
    limits = [r for r in report["rows"] if r.get("system") == "limit"]
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in rows)]
    cells = []
    for r in rows:
        c = (r["value"], r["concurrency"], r["keys"], r["phase"])
        if c not in cells:
            cells.append(c)
    print("| value | conc | keys | phase | op | " + " | ".join(systems) + " | raw disk | node-uds / best peer |")
    print("|---|---|---|---|---|" + "---|" * (len(systems) + 2))
    for value, conc, keys, phase in cells:
        reading = phase in ("read", "read-heavy")
        metric, op = ("get_gbps", "GET") if reading else ("set_gbps", "SET")
        figures = {}
        cols = []
        for s in systems:
            r = next((r for r in rows if r["system"] == s and (r["value"], r["concurrency"], r["keys"], r["phase"]) == (value, conc, keys, phase)), None)
            if r is None or r.get(metric) is None:
                cols.append("")
                continue
            figures[s] = r[metric]
            hit = r.get("hit_pct")
            cols.append(f"{r[metric]:.2f}" + (f" ({hit:.0f}% hits)" if reading and hit is not None and hit < 99.5 else ""))
        if reading:
            disk = next((l["limit_gbps"] for l in limits if l.get("value") == value and l["phase"].startswith("raw disk: random read") and l["phase"].endswith(f"QD {conc}")), None)
        else:
            disk = next((l["limit_gbps"] for l in limits if l.get("value") == value and l["phase"].startswith("raw disk: sequential write")), None)
        peers = [figures[p] for p in ("garnet", "memcached", "redis") if p in figures]
        ratio = f"{figures['node-uds'] / max(peers):.2f}" if "node-uds" in figures and peers and max(peers) > 0 else ""
        phase_label = phase.replace(" (100% SET)", "")
        print(f"| {value} | {conc} | {keys} | {phase_label} | {op} | " + " | ".join(cols) + f" | {disk:.2f} | {ratio} |" if disk else
              f"| {value} | {conc} | {keys} | {phase_label} | {op} | " + " | ".join(cols) + f" |  | {ratio} |")


if __name__ == "__main__":
    if sys.argv[1] == "--markdown":
        markdown(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2])
