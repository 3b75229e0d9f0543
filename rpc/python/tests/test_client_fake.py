"""Client behaviour against an in-process fake of the KvCache service (tests/fake_node.py)."""

import asyncio
import os
import shutil
import tempfile
import threading
import unittest

import grpc

import _paths  # noqa: F401
from fake_node import FakeNode
from checkpointcache import (
    AsyncCacheClient, CacheClient, CacheError, CacheTimeout, CacheUnavailable,
    NamespaceDescriptor, Tier, namespace_id,
)

MIB = 1024 * 1024
DESC = NamespaceDescriptor(model="toy", revision="1", dtype="bfloat16", layout="test",
                           tp_rank=0, tp_size=1, tokens_per_block=4)


def payload(i: int, n: int) -> bytes:
    return (i.to_bytes(4, "little") * (n // 4 + 1))[:n]


class FakeNodeTestBase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cc-fake-")
        self.node = FakeNode(os.path.join(self.dir, "node.sock")).start()
        self.client = CacheClient(self.node.socket_path, timeout=20, meta_timeout=20,
                                  reconnect_wait=10)

    def tearDown(self):
        self.client.close()
        self.node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SyncClientTest(FakeNodeTestBase):
    def test_roundtrip_multi_frame(self):
        ns = self.client.declare_namespace(DESC)
        self.assertEqual(ns.id, namespace_id(DESC))
        keys = [b"k%d" % i for i in range(5)]
        vals = [payload(i, n) for i, n in enumerate([0, 1, MIB - 1, MIB + 1, 3 * MIB + 17])]
        st = self.client.batch_put(ns, keys, vals, frame_bytes=MIB)
        self.assertTrue(all(s.ok for s in st), st)
        self.assertEqual([s.index for s in st], list(range(5)))
        res = self.client.batch_get(ns, keys + [b"missing"], frame_bytes=256 * 1024)
        for i in range(5):
            self.assertTrue(res[i].ok, res[i])
            self.assertEqual(bytes(res[i].value), vals[i])
            self.assertEqual(res[i].tier, Tier.RAM)
        self.assertTrue(res[5].miss)
        self.assertEqual(self.node.kv.get_requests[-1].max_frame_bytes, 256 * 1024)

    def test_put_frames_respect_frame_bytes(self):
        ns = self.client.declare_namespace(DESC)
        self.client.batch_put(ns, [(b"a", bytes(1000))], frame_bytes=300)
        self.assertEqual(self.node.kv.put_frames_seen, [(True, 300), (False, 300), (False, 300),
                                                        (False, 100)])

    def test_numpy_in_and_into_caller_buffers(self):
        import numpy as np
        ns = self.client.declare_namespace(DESC)
        blocks = np.random.default_rng(1).standard_normal((4, 1000)).astype(np.float16)
        keys = ns.block_keys(list(range(16)))
        self.assertEqual(len(keys), 4)
        self.client.batch_put(ns, keys, [blocks[i] for i in range(4)], frame_bytes=512)
        dest = np.zeros_like(blocks)
        res = self.client.batch_get(ns, keys, out=[dest[i] for i in range(4)], frame_bytes=700)
        self.assertTrue(all(r.ok for r in res))
        self.assertTrue(np.array_equal(dest, blocks))
        # The value views point into the caller's buffer.
        res[0].value[0:2] = b"\x00\x00"
        self.assertEqual(dest[0][0], 0)

    def test_mapping_and_pairs(self):
        ns = self.client.declare_namespace(DESC)
        self.client.batch_put(ns, {b"x": b"1", b"y": bytearray(b"22")})
        self.client.batch_put(ns, [(b"z", memoryview(b"333"))])
        res = self.client.batch_get(ns, [b"x", b"y", b"z"])
        self.assertEqual([bytes(r.value) for r in res], [b"1", b"22", b"333"])

    def test_exists_delete_lookup(self):
        ns = self.client.declare_namespace(DESC)
        keys = ns.block_keys(list(range(20)))
        self.client.batch_put(ns, keys[:3], [b"a", b"b", b"c"])
        self.assertEqual(self.client.exists(ns, keys[:4]), [Tier.RAM] * 3 + [Tier.NONE])
        lk = self.client.lookup(ns, keys, pin_ttl_ms=5000)
        self.assertEqual(lk.prefix_length, 3)
        self.assertEqual(lk.tiers, [Tier.RAM] * 3)
        self.assertGreater(lk.pinned_until_unix_ms, 0)
        self.assertEqual(self.client.lookup(ns, keys).pinned_until_unix_ms, 0)
        self.assertEqual(self.client.delete(ns, [keys[1], keys[4]]), [True, False])
        self.assertEqual(self.client.lookup(ns, keys).prefix_length, 1)

    def test_item_aborted_mid_stream(self):
        ns = self.client.declare_namespace(DESC)
        self.client.batch_put(ns, [b"good", b"bad", b"good2"],
                              [payload(1, 3 * MIB), payload(2, 3 * MIB), payload(3, 10)])
        self.node.kv.abort_keys[b"bad"] = (MIB, 15, "checksum mismatch in chunk 1")
        dest = [bytearray(3 * MIB) for _ in range(3)]
        res = self.client.batch_get(ns, [b"good", b"bad", b"good2"], out=dest)
        self.assertEqual(bytes(res[0].value), payload(1, 3 * MIB))
        self.assertEqual((res[1].code, res[1].message, res[1].value),
                         (15, "checksum mismatch in chunk 1", None))
        self.assertEqual(bytes(res[2].value), payload(3, 10))

    def test_call_error_carries_status_and_node_message(self):
        bogus = namespace_id(NamespaceDescriptor(model="never-declared", tokens_per_block=4))
        with self.assertRaises(CacheError) as cm:
            self.client.exists(bogus, [b"a"])
        self.assertEqual(cm.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("is not declared", cm.exception.details)
        self.assertEqual(cm.exception.method, "Exists")
        with self.assertRaises(CacheError) as cm:
            self.client.batch_put(bogus, [(b"a", b"1")])
        self.assertIn("is not declared", cm.exception.details)

    def test_deadline(self):
        ns = self.client.declare_namespace(DESC)
        self.client.batch_put(ns, [(b"a", b"1")])
        self.node.kv.stall = threading.Event()
        try:
            with self.assertRaises(CacheTimeout) as cm:
                self.client.batch_get(ns, [b"a"], timeout=0.2)
            self.assertEqual(cm.exception.code, grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            self.node.kv.stall.set()

    def test_reconnects_after_node_restart(self):
        ns = self.client.declare_namespace(DESC)
        self.client.batch_put(ns, [(b"a", b"1")])
        self.node.stop()
        with CacheClient(self.node.socket_path, reconnect_wait=0.1, retries=0) as other:
            with self.assertRaises(CacheUnavailable):
                other.exists(ns, [b"a"])
        # Restart on the same socket path (same in-memory store): the existing client reconnects.
        self.node.start()
        self.assertEqual(self.client.exists(ns, [b"a"]), [Tier.RAM])
        self.node.stop()
        self.node.start()
        self.assertEqual(bytes(self.client.batch_get(ns, [b"a"])[0].value), b"1")

    def test_unreachable_node_raises_unavailable(self):
        c = CacheClient(os.path.join(self.dir, "nobody.sock"), meta_timeout=5, reconnect_wait=0.2)
        with self.assertRaises(CacheUnavailable) as cm:
            c.exists(b"\x00" * 16, [b"a"])
        self.assertEqual(cm.exception.code, grpc.StatusCode.UNAVAILABLE)
        c.close()

    def test_concurrent_calls_from_threads(self):
        from concurrent.futures import ThreadPoolExecutor
        ns = self.client.declare_namespace(DESC)
        keys = [b"t%d" % i for i in range(8)]
        vals = [payload(i, 300 * 1024 + i) for i in range(8)]
        self.client.batch_put(ns, keys, vals, frame_bytes=128 * 1024)

        def work(j):
            got = self.client.batch_get(ns, keys[j:] + keys[:j], frame_bytes=64 * 1024)
            return [bytes(r.value) for r in got] == vals[j:] + vals[:j]

        with ThreadPoolExecutor(4) as ex:
            self.assertTrue(all(ex.map(work, range(8))))

    def test_node_info(self):
        self.assertEqual(self.client.get_info().key_spec_version, 1)


class BatchLimitsTest(FakeNodeTestBase):
    """Batches over the node's MaxBatchKeys / MaxBatchBytes are split by the client."""

    def setUp(self):
        super().setUp()
        self.node.kv.max_batch_keys = 3
        self.node.kv.max_batch_bytes = 10 * 1024

    def test_limits_come_from_get_info_and_split_every_call(self):
        ns = self.client.declare_namespace(DESC)
        keys = ns.block_keys(list(range(4 * 10)))  # 10 blocks
        vals = [payload(i, 3 * 1024) for i in range(10)]
        st = self.client.batch_put(ns, keys, vals)
        self.assertEqual([s.index for s in st], list(range(10)))
        self.assertTrue(all(s.ok for s in st))
        puts = [n for m, n in self.node.kv.calls if m == "BatchPut"]
        self.assertTrue(all(n <= 3 for n in puts) and sum(puts) == 10, puts)

        self.assertEqual(self.client.exists(ns, keys + [b"x"]), [Tier.RAM] * 10 + [Tier.NONE])
        lk = self.client.lookup(ns, keys + [b"x"] + keys, pin_ttl_ms=1000)
        self.assertEqual(lk.prefix_length, 10)
        self.assertEqual(len(lk.tiers), 10)
        self.assertGreater(lk.pinned_until_unix_ms, 0)
        # the lookup stopped at the chunk with the miss
        self.assertEqual([n for m, n in self.node.kv.calls if m == "Lookup"], [3, 3, 3, 3])

        self.node.kv.calls.clear()
        res = self.client.batch_get(ns, keys)  # 3 keys x 3 KiB fit 10 KiB: no byte retries
        self.assertEqual([bytes(r.value) for r in res], vals)
        self.assertEqual([r.index for r in res], list(range(10)))
        self.node.kv.max_batch_bytes = 7 * 1024  # now only 2 values fit per call
        self.node.kv.calls.clear()
        dest = [bytearray(3 * 1024) for _ in range(10)]
        res = self.client.batch_get(ns, keys, out=dest)
        self.assertTrue(all(r.ok for r in res), [r.message for r in res if not r.ok])
        self.assertEqual([bytes(d) for d in dest], vals)
        self.assertTrue(all(n <= 3 for m, n in self.node.kv.calls))
        self.assertEqual(self.client.delete(ns, keys[:5] + [b"x"]), [True] * 5 + [False])

    def test_explicit_limits_skip_get_info(self):
        c = CacheClient(self.node.socket_path, max_batch_keys=2, max_batch_bytes=1 << 20)
        ns = c.declare_namespace(DESC)
        c.batch_put(ns, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])
        self.assertEqual([n for m, n in self.node.kv.calls if m == "BatchPut"], [2, 1])
        c.close()

    def test_async_splits_too(self):
        async def main():
            async with AsyncCacheClient(self.node.target) as c:
                ns = await c.declare_namespace(DESC)
                keys = [b"k%d" % i for i in range(7)]
                vals = [payload(i, 2048) for i in range(7)]
                self.assertTrue(all(s.ok for s in await c.batch_put(ns, keys, vals)))
                self.assertEqual((await c.lookup(ns, keys)).prefix_length, 7)
                self.node.kv.max_batch_bytes = 5 * 1024
                res = await c.batch_get(ns, keys)
                self.assertEqual([bytes(r.value) for r in res], vals)
                self.assertEqual(await c.exists(ns, keys), [Tier.RAM] * 7)
                self.assertEqual(await c.delete(ns, keys), [True] * 7)
        asyncio.run(main())


class AsyncClientTest(FakeNodeTestBase):
    def test_async_roundtrip(self):
        import numpy as np

        async def main():
            async with AsyncCacheClient(self.node.target, timeout=20) as c:
                ns = await c.declare_namespace(DESC)
                keys = ns.block_keys(list(range(12)))
                vals = [payload(i, 2 * MIB + i) for i in range(3)]
                st = await c.batch_put(ns, keys, vals)
                self.assertTrue(all(s.ok for s in st))
                self.assertEqual((await c.lookup(ns, keys + [b"x"])).prefix_length, 3)
                self.assertEqual(await c.exists(ns, keys), [Tier.RAM] * 3)
                dest = np.zeros((3, 2 * MIB + 8), dtype=np.uint8)
                res = await c.batch_get(ns, keys, out=list(dest))
                for i in range(3):
                    self.assertEqual(bytes(res[i].value), vals[i])
                res = await c.batch_get(ns, keys[:1] + [b"nope"])
                self.assertEqual(bytes(res[0].value), vals[0])
                self.assertTrue(res[1].miss)
                self.assertEqual(await c.delete(ns, keys[:1]), [True])
                with self.assertRaises(CacheError) as cm:
                    await c.exists(b"\x01" * 16, [b"a"])
                self.assertIn("is not declared", cm.exception.details)
                # concurrent calls on one client
                got = await asyncio.gather(*[c.batch_get(ns, keys[1:]) for _ in range(4)])
                for r in got:
                    self.assertEqual([bytes(x.value) for x in r], vals[1:])

        asyncio.run(main())

    def test_async_deadline_and_reconnect(self):
        async def main():
            async with AsyncCacheClient(self.node.target, reconnect_wait=10) as c:
                ns = await c.declare_namespace(DESC)
                await c.batch_put(ns, [(b"a", b"1")])
                self.node.kv.stall = threading.Event()
                try:
                    with self.assertRaises(CacheTimeout):
                        await c.batch_get(ns, [b"a"], timeout=0.2)
                finally:
                    self.node.kv.stall.set()
                    self.node.kv.stall = None
                await asyncio.get_running_loop().run_in_executor(None, self._restart)
                self.assertEqual(await c.exists(ns, [b"a"]), [Tier.RAM])

        asyncio.run(main())

    def _restart(self):
        self.node.stop()
        self.node.start()


if __name__ == "__main__":
    unittest.main()
