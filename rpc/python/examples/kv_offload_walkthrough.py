#!/usr/bin/env python3
"""KV offload walkthrough: a toy inference server that offloads KV blocks to a CheckpointCache
node and loads the longest cached prefix back on each new turn of a conversation.

The workload follows Mooncake's multi-turn benchmark in shape: many conversations run at once,
their requests interleave, every conversation starts with the same system prompt, and each turn's
prompt is the whole conversation so far plus a new user message. Without a cache every turn
re-computes (prefills) the whole history; with one, only the new tokens.

What the toy server does for each request (see docs/kv-offload.md for the real-server version):

 1. keys = prefix-chain block keys of the prompt tokens (docs/key-spec.md; full blocks only)
 2. Lookup(keys, pin) -> the number of leading blocks the node has, pinned against eviction
 3. BatchGet(those keys) straight into a preallocated host staging buffer (where a real server
    would then copy to the GPU); each block is checked byte for byte against what prefill would
    have produced. Over a Unix socket the staging buffer is a shared buffer (docs/api.md, "Shared
    buffers"): the node writes the blocks into it directly, and reads offloaded blocks out of it.
 4. "prefill" the blocks that missed, "decode" an answer
 5. BatchPut the new full blocks of prompt + answer, so the next turn finds them

The toy KV block of a key is a deterministic function of the key (a real block is what the model
computed for that prefix, which the key identifies), so a loaded block can be verified exactly.

It prints the token hit rate, bytes loaded and the effective load rate in GB/s against the
break-even rates measured on an H200 with an 8B model (research: gpu-anchor.md): a hit only beats
recomputing the prefill when the KV arrives faster than about 6.8 GB/s for 4k-token prompts and
3.9 GB/s for 16k-token prompts.

Run against a node:   /usr/bin/python3 kv_offload_walkthrough.py --target unix:/path/node.sock
or let it start one from this repository's build:   ... --start-node
"""

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402

from checkpointcache import CacheClient, CacheError, NamespaceDescriptor  # noqa: E402

MIB = 1024 * 1024
REAL_8B_KV_BYTES_PER_TOKEN = 131072          # Llama-3-8B: 32 layers x 2 x 8 heads x 128 x 2 bytes
BREAK_EVEN_GBPS = {4096: 6.8, 16384: 3.9}    # H200, 8B model (gpu-anchor.md)


def toy_kv_block(key: bytes, nbytes: int) -> np.ndarray:
    """The 'KV' a toy model computes for the block with this key (depends on the whole prefix)."""
    k = np.frombuffer(key, dtype=np.uint8)
    reps = -(-nbytes // 16)
    block = np.tile(k, reps)[:nbytes]
    block ^= (np.arange(nbytes, dtype=np.uint32) & 0xFF).astype(np.uint8)
    return block


class Conversation:
    def __init__(self, cid, system_prompt, rng, vocab):
        self.cid = cid
        self.history = list(system_prompt)
        self.turn = 0
        self.rng = rng
        self.vocab = vocab

    def user_message(self, lo, hi):
        return [self.rng.randrange(self.vocab) for _ in range(self.rng.randint(lo, hi))]


class ToyServer:
    def __init__(self, client, ns, kv_bytes_per_token, pin_ttl_ms, verbose, no_shared=False):
        self.c = client
        self.ns = ns
        self.tpb = ns.descriptor.tokens_per_block
        self.block_bytes = kv_bytes_per_token * self.tpb
        self.pin_ttl_ms = pin_ttl_ms
        self.verbose = verbose
        # Staging memory the node can map when it is reached over its Unix socket; plain numpy over TCP.
        self.shared = client.target.startswith("unix:") and not no_shared
        self._buffers = []
        self.staging = self._new_rows(0)
        self.outgoing = self._new_rows(0)
        # totals
        self.requests = 0
        self.prompt_tokens = 0
        self.hit_tokens = 0
        self.blocks_loaded = 0
        self.bytes_loaded = 0
        self.load_seconds = 0.0
        self.bytes_offloaded = 0
        self.offload_seconds = 0.0
        self.verified_blocks = 0
        self.load_rates = []   # (prompt tokens, GB/s) per request with a hit

    def _new_rows(self, n):
        if not self.shared or n == 0:
            return np.empty((n, self.block_bytes), dtype=np.uint8)
        buf = self.c.shared_buffer(n * self.block_bytes)
        self._buffers.append(buf)  # closed at the end: a buffer stays mapped while numpy views it
        return np.frombuffer(buf.buffer, dtype=np.uint8).reshape(n, self.block_bytes)

    def _grow(self, rows, n):
        # A real server keeps one pinned buffer (cudaHostRegister on the shared one), sized for its
        # longest prompt; ours starts small and doubles, closing the one it replaces.
        if rows.shape[0] >= n:
            return rows
        if self._buffers and rows.shape[0] > 0:
            old = next(b for b in self._buffers if b.address == rows.ctypes.data)
            self._buffers.remove(old)
            old.close()
        return self._new_rows(max(n, 2 * rows.shape[0]))

    def _staging(self, n):
        self.staging = self._grow(self.staging, n)
        return self.staging

    def close(self):
        self.staging = self.outgoing = None
        for b in self._buffers:
            b.close()

    def serve(self, conv: Conversation, user_tokens, answer_len):
        prompt = conv.history + user_tokens
        keys = self.ns.block_keys(prompt)

        # 2-3: longest cached prefix, pinned, then load it into the staging buffer.
        t0 = time.perf_counter()
        hit = 0
        if keys:
            hit = self.c.lookup(self.ns, keys, pin_ttl_ms=self.pin_ttl_ms).prefix_length
        loaded = 0
        if hit:
            staging = self._staging(hit)
            res = self.c.batch_get(self.ns, keys[:hit], out=list(staging[:hit]))
            for r in res:  # a block that could not be delivered ends the usable prefix
                if not r.ok:
                    break
                loaded += 1
        t1 = time.perf_counter()
        nbytes = loaded * self.block_bytes
        for i in range(loaded):  # byte-for-byte check against what prefill would produce
            if not np.array_equal(self.staging[i], toy_kv_block(keys[i], self.block_bytes)):
                raise SystemExit("block %d of conversation %d differs from its prefill"
                                 % (i, conv.cid))
            self.verified_blocks += 1

        # 4: prefill the rest (toy), decode an answer.
        answer = conv.user_message(answer_len, answer_len)
        conv.history = prompt + answer
        conv.turn += 1

        # 5: offload every new full block of prompt + answer.
        all_keys = self.ns.block_keys(conv.history)
        new_keys = all_keys[loaded:]
        t2 = time.perf_counter()
        if new_keys:
            # The "model" writes its new blocks into the outgoing staging rows (a GPU-to-host copy in a
            # real server); the node reads them from there.
            self.outgoing = self._grow(self.outgoing, len(new_keys))
            for i, k in enumerate(new_keys):
                self.outgoing[i] = toy_kv_block(k, self.block_bytes)
            t2 = time.perf_counter()
            st = self.c.batch_put(self.ns, new_keys, list(self.outgoing[:len(new_keys)]))
            failed = [s for s in st if not s.ok]
            if failed and self.verbose:
                print("  offload: %d blocks refused (%s)" % (len(failed), failed[0].message))
            self.bytes_offloaded += sum(self.block_bytes for s in st if s.ok)
        t3 = time.perf_counter()

        self.requests += 1
        self.prompt_tokens += len(prompt)
        self.hit_tokens += loaded * self.tpb
        self.blocks_loaded += loaded
        self.bytes_loaded += nbytes
        self.load_seconds += t1 - t0
        self.offload_seconds += t3 - t2
        if nbytes:
            self.load_rates.append((len(prompt), nbytes / (t1 - t0) / 1e9))
        if self.verbose:
            print("conv %3d turn %2d: prompt %6d tokens, cached prefix %6d tokens (%5.1f%%), "
                  "loaded %8.2f MiB in %7.2f ms"
                  % (conv.cid, conv.turn, len(prompt), loaded * self.tpb,
                     100.0 * loaded * self.tpb / max(1, len(prompt)), nbytes / MIB,
                     (t1 - t0) * 1e3))


def main(argv=None):
    ap = argparse.ArgumentParser(description="KV offload walkthrough (toy inference server)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--target", help="node address: unix:/path/node.sock or host:port")
    g.add_argument("--start-node", action="store_true",
                   help="start a node from this repository's build in a temp directory")
    ap.add_argument("--node-ram", default="512MiB",
                    help="with --start-node: the node's kv RAM tier (e.g. 6GiB keeps the 8B shape in RAM)")
    ap.add_argument("--conversations", type=int, default=12)
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--system-prompt-tokens", type=int, default=1024)
    ap.add_argument("--user-tokens", default="128,768", help="min,max tokens per user message")
    ap.add_argument("--answer-tokens", default="64,384", help="min,max tokens per answer")
    ap.add_argument("--tokens-per-block", type=int, default=16)
    ap.add_argument("--kv-bytes-per-token", type=int, default=16384,
                    help="KV bytes per token (real Llama-3-8B: 131072; smaller keeps the toy "
                         "run light on a small machine)")
    ap.add_argument("--pin-ttl-ms", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--no-shared-buffers", action="store_true",
                    help="stage blocks in plain numpy memory (values then cross the socket)")
    args = ap.parse_args(argv)

    node = None
    target = args.target
    if args.start_node:
        from checkpointcache.devnode import DevNode
        node = DevNode.start(ram=args.node_ram, ssd="16GiB")
        target = node.unix_target
        print("started a node on %s (data in %s)" % (target, node.data_dir))
    try:
        return run(args, target)
    finally:
        if node is not None:
            node.close()


def run(args, target):
    rng = random.Random(args.seed)
    vocab = 128256
    ulo, uhi = (int(x) for x in args.user_tokens.split(","))
    alo, ahi = (int(x) for x in args.answer_tokens.split(","))

    # Namespace: everything that makes KV blocks incompatible. The extra field salts it per run
    # so repeated runs against one node start cold; a real server would leave it stable.
    desc = NamespaceDescriptor(model="toy/llama-3-8b-shape", revision="walkthrough",
                               dtype="bfloat16", layout="toy-contiguous-v1", tp_rank=0, tp_size=1,
                               tokens_per_block=args.tokens_per_block,
                               extra="run=%d-%d" % (os.getpid(), int(time.time())))
    with CacheClient(target, timeout=60) as c:
        c.wait_ready(30)
        ns = c.declare_namespace(desc)
        server = ToyServer(c, ns, args.kv_bytes_per_token, args.pin_ttl_ms, args.verbose,
                           no_shared=args.no_shared_buffers)
        system_prompt = [rng.randrange(vocab) for _ in range(args.system_prompt_tokens)]
        convs = [Conversation(i, system_prompt, random.Random(args.seed * 1000 + i), vocab)
                 for i in range(args.conversations)]
        # Interleave: each step serves the next turn of a random conversation that has turns left.
        pending = [cv for cv in convs for _ in range(args.turns)]
        rng.shuffle(pending)
        t_start = time.perf_counter()
        for cv in pending:
            server.serve(cv, cv.user_message(ulo, uhi), cv.rng.randint(alo, ahi))
        wall = time.perf_counter() - t_start
        server.close()

    s = server
    hit_rate = s.hit_tokens / max(1, s.prompt_tokens)
    gbps = s.bytes_loaded / s.load_seconds / 1e9 if s.load_seconds > 0 else 0.0
    put_gbps = s.bytes_offloaded / s.offload_seconds / 1e9 if s.offload_seconds > 0 else 0.0
    print()
    print("requests            %d (%d conversations x %d turns, interleaved)"
          % (s.requests, args.conversations, args.turns))
    print("block               %d tokens x %d KV bytes/token = %.2f MiB"
          % (s.tpb, args.kv_bytes_per_token, s.block_bytes / MIB))
    print("prompt tokens       %d, of which served from the cache %d" % (s.prompt_tokens,
                                                                         s.hit_tokens))
    print("hit rate            %.1f%% of prompt tokens" % (100 * hit_rate))
    print("bytes loaded        %.1f MiB in %d blocks (%d verified byte for byte)"
          % (s.bytes_loaded / MIB, s.blocks_loaded, s.verified_blocks))
    print("effective load rate %.2f GB/s  (Lookup + BatchGet into the staging buffer)" % gbps)
    print("offloaded           %.1f MiB at %.2f GB/s" % (s.bytes_offloaded / MIB, put_gbps))
    if s.load_rates:
        rates = sorted(r for _, r in s.load_rates)
        print("per-request rate    p50 %.2f GB/s, min %.2f GB/s" % (rates[len(rates) // 2],
                                                                   rates[0]))
    print("break-even (H200, 8B model, gpu-anchor.md): %.1f GB/s at 4k-token prompts, "
          "%.1f GB/s at 16k" % (BREAK_EVEN_GBPS[4096], BREAK_EVEN_GBPS[16384]))
    if gbps >= BREAK_EVEN_GBPS[4096]:
        verdict = "faster than both: a hit beats recomputing at 4k and 16k tokens"
    elif gbps >= BREAK_EVEN_GBPS[16384]:
        verdict = "pays off for 16k-token prompts, not for 4k ones"
    else:
        verdict = ("slower than both break-even rates: on this machine a hit would not beat "
                   "recomputing on an H200 (a cache node on a bigger host, and the GPU's own "
                   "host copy, set the real number)")
    print("verdict             %s" % verdict)
    if args.kv_bytes_per_token != REAL_8B_KV_BYTES_PER_TOKEN:
        print("note                KV scaled to %d bytes/token; the real 8B model has %d, so the "
              "same hits would load %.2f GiB" % (args.kv_bytes_per_token,
                                                REAL_8B_KV_BYTES_PER_TOKEN,
                                                s.hit_tokens * REAL_8B_KV_BYTES_PER_TOKEN / 2**30))
    print("wall time           %.2f s; all loaded blocks verified" % wall)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CacheError as e:
        print("cache error: %s" % e, file=sys.stderr)
        sys.exit(1)
