"""The Python client against the real node (rpc/CheckpointCache.Node), started as a child process
with its own data directory, Unix socket and TCP port.

Skipped when the node is not built (run `dotnet build -c Release` first, as scripts/test.sh does);
set CHECKPOINTCACHE_REQUIRE_NODE=1 to make a missing node a failure instead.
"""

import asyncio
import os
import subprocess
import sys
import unittest

import grpc

import _paths  # noqa: F401
from checkpointcache import (
    AsyncCacheClient, CacheClient, CacheError, NamespaceDescriptor, Tier, namespace_id,
)
from checkpointcache.devnode import DevNode, NodeNotBuilt, find_node

MIB = 1024 * 1024


def _node_or_skip():
    try:
        find_node()
    except NodeNotBuilt as e:
        if os.environ.get("CHECKPOINTCACHE_REQUIRE_NODE") == "1":
            raise
        raise unittest.SkipTest(str(e))


def desc(model="itest", tpb=16, **kw):
    return NamespaceDescriptor(model=model, revision="r1", dtype="bfloat16",
                               layout="vllm-paged-v1", tp_rank=0, tp_size=1,
                               tokens_per_block=tpb, **kw)


def pattern(i: int, n: int) -> bytes:
    import numpy as np
    return ((np.arange(n, dtype=np.uint32) * 7 + i * 131) & 0xFF).astype(np.uint8).tobytes()


class _HugePages:
    """Adds huge pages to the system's pool (vm.nr_hugepages) for a test and takes them back; needs root. Holds
    the lock file the .NET tests use (tests/Shared/HugePagePool.cs) around each change of the pool's size."""

    KNOB = "/proc/sys/vm/nr_hugepages"
    LOCK = os.path.join(os.environ.get("TMPDIR", "/tmp"), "checkpointcache-tests-hugepages.lock")

    def __init__(self, pages: int):
        self.pages, self.added = pages, 0

    def _change(self, delta: int) -> int:
        import fcntl
        with open(self.LOCK, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with open(self.KNOB) as f:
                before = int(f.read())
            with open(self.KNOB, "w") as f:
                f.write(str(max(0, before + delta)))
            with open(self.KNOB) as f:
                return int(f.read()) - before

    def __enter__(self):
        self.added = self._change(self.pages)
        if self.added < self.pages:
            self.__exit__()
            raise RuntimeError("the kernel added %d of %d huge pages" % (self.added, self.pages))
        return self

    def __exit__(self, *exc):
        if self.added > 0:
            self._change(-self.added)
            self.added = 0


class NodeTestBase(unittest.TestCase):
    node = None

    @classmethod
    def setUpClass(cls):
        _node_or_skip()
        cls.node = DevNode.start()

    @classmethod
    def tearDownClass(cls):
        if cls.node is not None:
            cls.node.close()

    def setUp(self):
        self.client = CacheClient(self.node.unix_target)

    def tearDown(self):
        self.client.close()


class NodeKvTest(NodeTestBase):
    def test_declare_namespace_id_is_key_spec_hash(self):
        d = desc("declare-test", extra="salt=ü")
        ns = self.client.declare_namespace(d)
        self.assertEqual(ns.id, namespace_id(d))
        self.assertEqual(ns.key_spec_version, 1)
        again = self.client.declare_namespace(d)
        self.assertEqual(again.id, ns.id)
        self.assertFalse(again.created)
        info = self.client.get_info()
        self.assertEqual(info.key_spec_version, 1)

    def test_roundtrip_unix_and_tcp(self):
        ns = self.client.declare_namespace(desc("roundtrip"))
        toks = list(range(16 * 6))
        keys = ns.block_keys(toks)
        sizes = [1, 1000, MIB - 1, MIB, MIB + 1, 3 * MIB + 5]
        vals = [pattern(i, n) for i, n in enumerate(sizes)]
        st = self.client.batch_put(ns, keys, vals)
        self.assertTrue(all(s.ok for s in st), st)
        for target in (self.node.unix_target, self.node.tcp_target):
            with self.subTest(target=target), CacheClient(target) as c:
                res = c.batch_get(ns, keys)
                for i, r in enumerate(res):
                    self.assertTrue(r.ok, r)
                    self.assertEqual(r.total_length, sizes[i])
                    self.assertIn(r.tier, (Tier.RAM, Tier.SSD))
                    self.assertEqual(bytes(r.value), vals[i])

    def test_small_frames_both_ways(self):
        ns = self.client.declare_namespace(desc("frames"))
        v = pattern(9, 300 * 1024 + 3)
        self.assertTrue(self.client.batch_put(ns, [(b"f", v)], frame_bytes=64 * 1024)[0].ok)
        r = self.client.batch_get(ns, [b"f"], frame_bytes=64 * 1024)[0]
        self.assertEqual(bytes(r.value), v)

    def test_into_numpy_buffers_and_misses(self):
        import numpy as np
        ns = self.client.declare_namespace(desc("numpy"))
        blocks = np.random.default_rng(3).integers(0, 2**16, size=(4, 256 * 1024),
                                                   dtype=np.uint16).view(np.float16)
        keys = ns.block_keys(list(range(64)))
        self.client.batch_put(ns, keys, list(blocks))
        dest = np.zeros((5, blocks.shape[1]), dtype=np.float16)
        res = self.client.batch_get(ns, keys + [b"absent-key"], out=list(dest))
        self.assertTrue(all(r.ok for r in res[:4]))
        self.assertEqual(res[4].code, grpc.StatusCode.NOT_FOUND.value[0])
        self.assertTrue(res[4].miss)
        self.assertTrue(np.array_equal(dest[:4].view(np.uint16), blocks.view(np.uint16)))

    def _node_maps(self, name: str) -> int:
        with open("/proc/%d/maps" % self.node.proc.pid) as f:
            return sum(1 for line in f if "/memfd:" + name in line)

    def test_shared_buffers_put_and_get_without_the_socket_copy(self):
        import numpy as np
        import time
        from checkpointcache import SharedBuffer
        name = "pytest-shared-%d" % os.getpid()
        ns = self.client.declare_namespace(desc("shared"))
        keys = ns.block_keys(list(range(16 * 4)))
        sizes = [1, 700_000, MIB, 3 * MIB + 5]
        vals = [pattern(40 + i, n) for i, n in enumerate(sizes)]
        grpc_only = CacheClient(self.node.unix_target, use_data_socket=False)
        try:
            with self.client.shared_buffer(16 * MIB, name) as sb:
                self.assertIsInstance(sb, SharedBuffer)
                arr = np.frombuffer(sb.buffer, dtype=np.uint8)
                offsets = np.cumsum([0] + [n + 64 for n in sizes])
                views = []
                for i, n in enumerate(sizes):
                    arr[offsets[i]:offsets[i] + n] = np.frombuffer(vals[i], dtype=np.uint8)
                    views.append(sb.buffer[offsets[i]:offsets[i] + n])
                st = self.client.batch_put(ns, keys, views)
                self.assertTrue(all(x.ok for x in st), st)
                # The node mapped the buffer: the values came out of it, not through the socket.
                self.assertEqual(self._node_maps(name), 1)
                for i, r in enumerate(grpc_only.batch_get(ns, keys)):
                    self.assertEqual(bytes(r.value), vals[i])

                other = [pattern(60 + i, n) for i, n in enumerate(sizes)]
                self.assertTrue(all(x.ok for x in grpc_only.batch_put(ns, keys, other)))
                arr[:] = 0xEE
                places = [sb.buffer[offsets[i]:offsets[i] + n + 64] for i, n in enumerate(sizes)]
                res = self.client.batch_get(ns, keys + [b"absent"], out=places + [sb.buffer[-100:]])
                for i, r in enumerate(res[:4]):
                    self.assertTrue(r.ok, r)
                    self.assertEqual(r.total_length, sizes[i])
                    self.assertEqual(bytes(r.value), other[i])
                    self.assertTrue(np.all(arr[offsets[i] + sizes[i]:offsets[i] + sizes[i] + 64] == 0xEE))
                self.assertTrue(res[4].miss)
                small = self.client.batch_get(ns, [keys[2]], out=[sb.buffer[-3000:-2000]])[0]
                self.assertEqual(small.code, grpc.StatusCode.OUT_OF_RANGE.value[0])
                self.assertTrue(np.all(arr[-3000:-2000] == 0xEE))
                del arr
            # Closing the buffer drops the connections that registered it; the node then unmaps it.
            self.client.batch_get(ns, [keys[0]])
            deadline = time.monotonic() + 20
            while self._node_maps(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(self._node_maps(name), 0)
        finally:
            grpc_only.close()

    def _node_maps_in_huge_pages(self, name: str):
        """Whether the node maps memfd ``name`` in 2 MiB pages (KernelPageSize in its smaps), None if not at all."""
        huge, inside = None, False
        with open("/proc/%d/smaps" % self.node.proc.pid) as f:
            for line in f:
                if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                    inside = line.rstrip().endswith("/memfd:" + name + " (deleted)") or line.rstrip().endswith("/memfd:" + name)
                elif inside and line.startswith("KernelPageSize:"):
                    huge = (True if huge is None else huge) and line.split()[1] == "2048"
        return huge

    def test_shared_buffers_in_huge_pages(self):
        from checkpointcache import SharedBuffer
        name = "pytest-huge-%d" % os.getpid()
        ns = self.client.declare_namespace(desc("huge"))
        keys = ns.block_keys(list(range(16 * 3)))
        sizes = [5, MIB + 3, 2 * MIB]
        vals = [pattern(80 + i, n) for i, n in enumerate(sizes)]
        with _HugePages(4):
            with self.client.shared_buffer(4 * MIB, name) as sb:
                self.assertTrue(sb.hugepages, "the pool had room for the buffer")
                views, at = [], 0
                for v in vals:
                    sb.buffer[at:at + len(v)] = v
                    views.append(sb.buffer[at:at + len(v)])
                    at += len(v)
                self.assertTrue(all(x.ok for x in self.client.batch_put(ns, keys, views)))
                # The node mapped the buffer, in huge pages, and read the values out of it.
                self.assertTrue(self._node_maps_in_huge_pages(name))
                sb.buffer[:] = b"\xee" * len(sb.buffer)
                res = self.client.batch_get(ns, keys, out=views)
                for i, r in enumerate(res):
                    self.assertTrue(r.ok, r)
                    self.assertEqual(bytes(views[i]), vals[i])
                del views
            # Ordinary pages on request, or when the size is not whole huge pages.
            with SharedBuffer(4 * MIB, name + "-o", hugepages=False) as plain, SharedBuffer(3 * MIB, name + "-p") as odd:
                self.assertFalse(plain.hugepages)
                self.assertFalse(odd.hugepages)

    def test_exists_lookup_pin_delete(self):
        ns = self.client.declare_namespace(desc("lookup"))
        keys = ns.block_keys(list(range(16 * 8)))
        self.client.batch_put(ns, keys[:5], [pattern(i, 4096) for i in range(5)])
        tiers = self.client.exists(ns, keys)
        self.assertEqual([t != Tier.NONE for t in tiers], [True] * 5 + [False] * 3)
        lk = self.client.lookup(ns, keys, pin_ttl_ms=3000)
        self.assertEqual(lk.prefix_length, 5)
        self.assertEqual(len(lk.tiers), 5)
        self.assertGreater(lk.pinned_until_unix_ms, 0)
        self.assertEqual(self.client.lookup(ns, keys).pinned_until_unix_ms, 0)
        self.assertEqual(self.client.delete(ns, [keys[2], keys[7]]), [True, False])
        self.assertEqual(self.client.lookup(ns, keys).prefix_length, 2)
        self.assertEqual(self.client.lookup(ns, [b"nothing"] + keys).prefix_length, 0)

    def test_errors_carry_status_and_node_message(self):
        # A namespace that was never declared: the whole call fails with the node's message.
        never = namespace_id(desc("never-declared-namespace"))
        with self.assertRaises(CacheError) as cm:
            self.client.batch_get(never, [b"k"])
        self.assertNotEqual(cm.exception.code, grpc.StatusCode.OK)
        self.assertTrue(cm.exception.details)
        # An oversized key: per key or for the whole call, but with the node's message.
        ns = self.client.declare_namespace(desc("errors"))
        limit = self.client.get_info().limits.max_key_bytes or 1024
        try:
            st = self.client.batch_put(ns, [(b"k" * (limit + 1), b"v")])
            self.assertNotEqual(st[0].code, 0)
            self.assertTrue(st[0].message)
        except CacheError as e:
            self.assertTrue(e.details)

    def test_asyncio_client(self):
        async def main(data_socket):
            async with AsyncCacheClient(self.node.unix_target, use_data_socket=data_socket) as c:
                ns = await c.declare_namespace(desc("aio-%s" % data_socket))
                keys = ns.block_keys(list(range(48)))
                vals = [pattern(i, MIB + 17 * i) for i in range(3)]
                st = await c.batch_put(ns, keys, vals)
                self.assertTrue(all(s.ok for s in st))
                self.assertEqual((await c.lookup(ns, keys)).prefix_length, 3)
                res = await asyncio.gather(c.batch_get(ns, keys), c.batch_get(ns, keys[::-1]))
                self.assertEqual([bytes(r.value) for r in res[0]], vals)
                self.assertEqual([bytes(r.value) for r in res[1]], vals[::-1])
                self.assertEqual(await c.delete(ns, keys), [True] * 3)
        for data_socket in (True, False):
            with self.subTest(data_socket=data_socket):
                asyncio.run(main(data_socket))

    def test_asyncio_client_with_shared_buffers(self):
        import numpy as np
        name = "pytest-aio-shared-%d" % os.getpid()

        async def main():
            async with AsyncCacheClient(self.node.unix_target) as c:
                ns = await c.declare_namespace(desc("aio-shared"))
                keys = ns.block_keys(list(range(16 * 3)))
                vals = [pattern(80 + i, MIB + 5 * i) for i in range(3)]
                with CacheClient.shared_buffer(8 * MIB, name) as sb:
                    rows = np.frombuffer(sb.buffer, dtype=np.uint8).reshape(4, 2 * MIB)
                    for i, v in enumerate(vals):
                        rows[i, :len(v)] = np.frombuffer(v, dtype=np.uint8)
                    st = await c.batch_put(ns, keys, [rows[i, :len(v)] for i, v in enumerate(vals)])
                    self.assertTrue(all(s.ok for s in st), st)
                    self.assertEqual(self._node_maps(name), 1)
                    rows[:] = 0
                    res = await c.batch_get(ns, keys, out=list(rows[:3]))
                    for i, r in enumerate(res):
                        self.assertTrue(r.ok, r)
                        self.assertEqual(bytes(rows[i, :len(vals[i])]), vals[i])
                    del rows
        asyncio.run(main())

    def test_walkthrough_example_runs(self):
        ex = os.path.join(_paths.PY_ROOT, "examples", "kv_offload_walkthrough.py")
        r = subprocess.run([sys.executable, ex, "--target", self.node.unix_target,
                            "--conversations", "3", "--turns", "3",
                            "--kv-bytes-per-token", "2048"],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("verified", r.stdout)


class NodeLimitsTest(unittest.TestCase):
    """A node with small MaxBatchKeys / MaxBatchBytes: the client splits every call."""

    def test_batches_over_the_limits_are_split(self):
        _node_or_skip()
        with DevNode.start(extra_args=["--Limits:MaxBatchKeys=4",
                                       "--Limits:MaxBatchBytes=3MiB",
                                       "--Limits:MaxValueBytes=1MiB"]) as node, \
                CacheClient(node.unix_target) as c:
            self.assertEqual(c.get_info().limits.max_batch_keys, 4)
            ns = c.declare_namespace(desc("limits"))
            keys = ns.block_keys(list(range(16 * 11)))      # 11 blocks: 3 calls of <= 4 keys
            vals = [pattern(i, 700 * 1024 + i) for i in range(11)]  # 4 of them exceed 3 MiB
            st = c.batch_put(ns, keys, vals)
            self.assertEqual([s.index for s in st], list(range(11)))
            self.assertTrue(all(s.ok for s in st), [s.message for s in st if not s.ok])
            self.assertEqual(c.exists(ns, keys).count(Tier.NONE), 0)
            self.assertEqual(c.lookup(ns, keys + [b"gap"] + keys, pin_ttl_ms=2000).prefix_length,
                             11)
            res = c.batch_get(ns, keys)
            self.assertTrue(all(r.ok for r in res), [r.message for r in res if not r.ok])
            self.assertEqual([bytes(r.value) for r in res], vals)
            self.assertEqual(c.delete(ns, keys), [True] * 11)


class NodeRestartTest(unittest.TestCase):
    def test_client_reconnects_after_node_restart(self):
        _node_or_skip()
        with DevNode.start() as node, CacheClient(node.unix_target, reconnect_wait=30,
                                                   meta_timeout=60, timeout=60) as c:
            ns = c.declare_namespace(desc("restart"))
            self.assertTrue(c.batch_put(ns, [(b"before", b"x" * 1000)])[0].ok)
            node.restart()
            # The same client object keeps working: the channel reconnects to the new process.
            ns2 = c.declare_namespace(desc("restart"))
            self.assertEqual(ns2.id, ns.id)
            self.assertTrue(c.batch_put(ns2, [(b"after", b"y" * 1000)])[0].ok)
            self.assertEqual(bytes(c.batch_get(ns2, [b"after"])[0].value), b"y" * 1000)


if __name__ == "__main__":
    unittest.main()
