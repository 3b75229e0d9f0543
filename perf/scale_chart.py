#!/usr/bin/env python3
"""Draws the `scale` scenario's JSON as a PNG: per node requests/s to etcd and to Blob, Blob bytes/s per node, and
the bytes rebalancing moved on a join and on a loss (measured and what rendezvous hashing says must move), against
the number of nodes. Usage: scale_chart.py RESULT.json OUT.png (Debian's python3-matplotlib)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def column(rows, key):
    return [r.get(key) for r in rows]


def main(path, out):
    report = json.load(open(path))
    rows = report["rows"]
    n = column(rows, "nodes")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))

    ax = axes[0]
    ax.plot(n, column(rows, "steady_per_node"), "o-", label="etcd req/s per node (mean)")
    ax.plot(n, column(rows, "steady_per_node_max"), "v:", label="etcd req/s per node (max)")
    ax.plot(n, column(rows, "blob_rps_per_node"), "s-", label="Blob req/s per node (mean)")
    ax.plot(n, column(rows, "puts_per_node"), "^--", color="grey", label="KV puts/s per node (the load)")
    ax.set_title("requests per node per second")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)

    ax = axes[1]
    ax.plot(n, column(rows, "blob_kbps_per_node"), "s-", color="tab:orange", label="Blob kB/s per node")
    ax.set_title("Blob bytes per node per second")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)

    ax = axes[2]
    ax.plot(n, column(rows, "join_mb"), "o-", label="join: MB moved (all nodes)")
    ax.plot(n, column(rows, "join_expected_mb"), "k:", label="join: expected")
    ax.plot(n, column(rows, "loss_mb"), "s-", label="loss: MB re-copied (all nodes)")
    ax.plot(n, column(rows, "loss_expected_mb"), "k--", label="loss: expected")
    ax.plot(n, [k / 1e3 for k in column(rows, "join_kb_per_node")], "o:", label="join: MB per other node")
    ax.plot(n, [k / 1e3 for k in column(rows, "loss_kb_per_node")], "s:", label="loss: MB per survivor")
    ax.set_yscale("log")
    ax.set_title("rebalancing bytes per membership change")
    ax.legend(fontsize=8)

    for ax in axes:
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(n)
        ax.set_xticklabels([str(x) for x in n])
        ax.set_xlabel("nodes (N)")
        ax.grid(alpha=0.3)
    options = report.get("options", {})
    fig.suptitle(f"scale: N in-process nodes, one etcd, one Azurite, {report['machine']['logical_cores']} cores; "
                 f"per node a 64 KiB put every {options.get('put-every', 8)} s (2 replicas), a checkpoint file every "
                 f"{options.get('checkpoint-every', 20)} s", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"chart: {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
