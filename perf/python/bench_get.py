#!/usr/bin/env python3
"""BatchGet throughput of the Python client over the node's Unix socket (perf scenario `python`).

Reads `--blocks` values of `--block-bytes` each, `--batch` keys per BatchGet call, for
`--rounds` passes over all blocks after `--warmup-rounds`, and prints one JSON object:

  {"gbps": ..., "bytes": ..., "seconds": ..., "calls": ..., "p50_ms": ..., "p99_ms": ..., ...}

gbps is 1e9 bytes per second of value bytes delivered; p50/p99 are per BatchGet call.
By default it reads into preallocated caller buffers (one numpy array, one row per key in the
batch), the way an inference server loads blocks into its host staging memory; `--mode alloc`
lets the client hand back its own buffers instead.

The data: namespace descriptor model=`--model` (tokens_per_block 16, otherwise empty), keys
`perf-00000000`, `perf-00000001`, ... and block i filled with bytes (i * 31 + j) mod 256.
`--populate` writes them first; without it the blocks must already be on the node (the .NET
perf tool writes them, so both clients read the same data in the same run).

Run with Debian's python: /usr/bin/python3 perf/python/bench_get.py --target unix:/path.sock
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "rpc", "python"))

import numpy as np  # noqa: E402

from checkpointcache import CacheClient, NamespaceDescriptor  # noqa: E402

MIB = 1024 * 1024


def block_value(i: int, n: int) -> np.ndarray:
    return ((np.arange(n, dtype=np.uint32) + i * 31) & 0xFF).astype(np.uint8)


def key(i: int) -> bytes:
    return b"perf-%08d" % i


def percentile(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True, help="unix:/path/node.sock or host:port")
    ap.add_argument("--model", default="perf-python")
    ap.add_argument("--store", default="")
    ap.add_argument("--blocks", type=int, default=256)
    ap.add_argument("--block-bytes", type=int, default=MIB)
    ap.add_argument("--batch", type=int, default=32, help="keys per BatchGet call")
    ap.add_argument("--rounds", type=int, default=8, help="timed passes over all blocks")
    ap.add_argument("--warmup-rounds", type=int, default=2)
    ap.add_argument("--frame-bytes", type=int, default=MIB)
    ap.add_argument("--mode", choices=["into", "alloc", "shared"], default="into",
                    help="into: numpy buffers; alloc: the client's buffers; shared: rows of a SharedBuffer")
    ap.add_argument("--populate", action="store_true", help="write the blocks first")
    ap.add_argument("--verify", action="store_true", help="compare every block read (slow)")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args(argv)

    desc = NamespaceDescriptor(model=args.model, tokens_per_block=16)
    with CacheClient(args.target, timeout=args.timeout, frame_bytes=args.frame_bytes) as c:
        c.wait_ready(30)
        ns = c.declare_namespace(desc, store=args.store)
        if args.populate:
            for s in range(0, args.blocks, args.batch):
                idx = range(s, min(args.blocks, s + args.batch))
                st = c.batch_put(ns, [key(i) for i in idx],
                                 [block_value(i, args.block_bytes) for i in idx])
                bad = [x for x in st if not x.ok]
                if bad:
                    raise SystemExit("put failed: %s" % bad[:3])

        shared = c.shared_buffer(args.batch * args.block_bytes, "perf-python") if args.mode == "shared" else None
        if shared is not None:
            # Rows of shared memory: the node writes values into them directly.
            dest = np.frombuffer(shared.buffer, dtype=np.uint8).reshape(args.batch, args.block_bytes)
        else:
            dest = np.empty((args.batch, args.block_bytes), dtype=np.uint8)
        rows = [dest[i] for i in range(args.batch)]
        lat = []
        total_bytes = 0
        misses = 0
        t_start = 0.0
        for rnd in range(args.warmup_rounds + args.rounds):
            if rnd == args.warmup_rounds:
                lat.clear()
                total_bytes = 0
                misses = 0
                t_start = time.perf_counter()
            for s in range(0, args.blocks, args.batch):
                idx = list(range(s, min(args.blocks, s + args.batch)))
                t0 = time.perf_counter()
                res = c.batch_get(ns, [key(i) for i in idx],
                                  out=rows[:len(idx)] if args.mode != "alloc" else None)
                lat.append(time.perf_counter() - t0)
                for i, r in zip(idx, res):
                    if r.ok:
                        total_bytes += r.total_length
                        if args.verify and not np.array_equal(
                                np.frombuffer(r.value, dtype=np.uint8),
                                block_value(i, args.block_bytes)):
                            raise SystemExit("block %d differs" % i)
                    else:
                        misses += 1
        seconds = time.perf_counter() - t_start
    lat.sort()
    out = {
        "client": "python",
        "mode": args.mode,
        "blocks": args.blocks,
        "block_bytes": args.block_bytes,
        "batch": args.batch,
        "rounds": args.rounds,
        "frame_bytes": args.frame_bytes,
        "bytes": total_bytes,
        "seconds": seconds,
        "gbps": total_bytes / seconds / 1e9 if seconds > 0 else 0.0,
        "calls": len(lat),
        "misses": misses,
        "p50_ms": percentile(lat, 50) * 1e3,
        "p99_ms": percentile(lat, 99) * 1e3,
        "python": sys.version.split()[0],
    }
    print(json.dumps(out))
    return 0 if misses == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
