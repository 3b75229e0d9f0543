import unittest

import _paths  # noqa: F401
from checkpointcache import _codec
from checkpointcache._common import (
    GetAssembler, GetPlan, GetResult, OUT_OF_RANGE, RESOURCE_EXHAUSTED, Tier, byte_view, put_chunks,
    put_frames,
)
from checkpointcache._proto import kv_pb2
from checkpointcache.errors import CacheProtocolError


class CodecTest(unittest.TestCase):
    def test_put_frame_parses_with_generated_class(self):
        ns = _codec.encode_namespace_ref("kv", b"\x01" * 16)
        payload = bytes(range(256)) * 5
        raw = _codec.encode_put_frame(ns, b"key-1", 123456789, memoryview(payload)[3:1000])
        f = kv_pb2.PutFrame.FromString(raw)
        self.assertEqual(f.namespace.store, "kv")
        self.assertEqual(f.namespace.id, b"\x01" * 16)
        self.assertEqual(f.key, b"key-1")
        self.assertEqual(f.total_length, 123456789)
        self.assertTrue(f.new_item)
        self.assertEqual(f.data, payload[3:1000])

        raw = _codec.encode_put_frame(None, None, None, b"xyz")
        f = kv_pb2.PutFrame.FromString(raw)
        self.assertFalse(f.HasField("namespace"))
        self.assertFalse(f.new_item)
        self.assertEqual(f.key, b"")
        self.assertEqual(f.data, b"xyz")

        raw = _codec.encode_put_frame(None, b"k", 0, b"")  # empty value: header only
        f = kv_pb2.PutFrame.FromString(raw)
        self.assertTrue(f.new_item)
        self.assertEqual((f.key, f.total_length, f.data), (b"k", 0, b""))

    def test_get_frame_matches_generated_class(self):
        cases = [
            kv_pb2.GetFrame(),
            kv_pb2.GetFrame(index=7, first=True, code=0, total_length=3 << 33, tier=2,
                            data=b"\x00\xff" * 1000),
            kv_pb2.GetFrame(index=4000000000, first=False, code=15, message="checksum mismatch ü"),
            kv_pb2.GetFrame(index=1, code=-3, message="negative code"),
        ]
        for m in cases:
            f = _codec.decode_get_frame(m.SerializeToString())
            self.assertEqual((f.index, f.first, f.code, f.message, f.total_length, f.tier,
                              bytes(f.data)),
                             (m.index, m.first, m.code, m.message, m.total_length, m.tier, m.data))

    def test_get_frame_skips_unknown_fields(self):
        m = kv_pb2.GetFrame(index=3, first=True, total_length=5, data=b"hello")
        # unknown field 99 (varint), 100 (fixed64), 101 (LEN), 102 (fixed32)
        extra = (_codec.varint(99 << 3) + _codec.varint(12345)
                 + _codec.varint((100 << 3) | 1) + b"\x00" * 8
                 + _codec.varint((101 << 3) | 2) + _codec.varint(3) + b"abc"
                 + _codec.varint((102 << 3) | 5) + b"\x00" * 4)
        f = _codec.decode_get_frame(extra + m.SerializeToString() + extra)
        self.assertEqual((f.index, f.first, f.total_length, bytes(f.data)), (3, True, 5, b"hello"))

    def test_truncated(self):
        raw = kv_pb2.GetFrame(index=1, data=b"abcdef").SerializeToString()
        with self.assertRaises(ValueError):
            _codec.decode_get_frame(raw[:-2])

    def test_put_frames_framing(self):
        items = [(b"a", byte_view(b"x" * 10)), (b"b", byte_view(b"")), (b"c", byte_view(b"y" * 4))]
        frames = [kv_pb2.PutFrame.FromString(r) for r in put_frames(b"\x02" * 16, items, 4)]
        self.assertTrue(frames[0].HasField("namespace"))
        self.assertTrue(all(not f.HasField("namespace") for f in frames[1:]))
        self.assertEqual([(f.new_item, f.key, f.total_length, f.data) for f in frames], [
            (True, b"a", 10, b"xxxx"), (False, b"", 0, b"xxxx"), (False, b"", 0, b"xx"),
            (True, b"b", 0, b""), (True, b"c", 4, b"yyyy")])
        frames = list(put_frames(b"\x02" * 16, [], 4))
        self.assertEqual(len(frames), 1)


class SplitTest(unittest.TestCase):
    def test_put_chunks(self):
        items = [(b"k", memoryview(bytes(n))) for n in (4, 4, 4, 20, 1, 1, 1, 1)]
        self.assertEqual(list(put_chunks(items, 3, 10)), [(0, 2), (2, 3), (3, 4), (4, 7), (7, 8)])
        self.assertEqual(list(put_chunks([], 3, 10)), [])

    def test_get_plan_retries_byte_limited_items(self):
        p = GetPlan(5, 3)
        self.assertEqual(p.next_chunk(), [0, 1, 2])
        p.accept([0, 1, 2], [GetResult(0), GetResult(1, code=RESOURCE_EXHAUSTED),
                             GetResult(2, code=RESOURCE_EXHAUSTED)])
        self.assertEqual(p.next_chunk(), [1, 2, 3])
        p.accept([1, 2, 3], [GetResult(0), GetResult(1, code=5), GetResult(2)])
        self.assertEqual(p.next_chunk(), [4])
        # nothing fits at all: the refusal is the answer, no endless retry
        p.accept([4], [GetResult(0, code=RESOURCE_EXHAUSTED, message="too big")])
        self.assertEqual(p.pending, [])
        self.assertEqual([r.index for r in p.results], [0, 1, 2, 3, 4])
        self.assertEqual([r.code for r in p.results], [0, 0, 5, 0, RESOURCE_EXHAUSTED])


def F(**kw):
    return _codec.decode_get_frame(kv_pb2.GetFrame(**kw).SerializeToString())


class AssemblerTest(unittest.TestCase):
    def test_assembles_into_caller_buffers(self):
        import numpy as np
        dest = np.zeros((3, 8), dtype=np.uint8)
        a = GetAssembler(3, out=[dest[0], dest[1], dest[2]])
        a.feed(F(index=0, first=True, total_length=6, tier=1, data=b"abc"))
        a.feed(F(index=0, data=b"def"))
        a.feed(F(index=1, first=True, code=5, message="miss"))
        a.feed(F(index=2, first=True, total_length=8, tier=2))
        a.feed(F(index=2, data=b"12345678"))
        r = a.finish()
        self.assertEqual(bytes(r[0].value), b"abcdef")
        self.assertEqual(r[0].tier, Tier.RAM)
        self.assertTrue(r[1].miss)
        self.assertEqual(r[1].message, "miss")
        self.assertEqual(bytes(dest[2]), b"12345678")
        self.assertEqual(bytes(dest[0][:6]), b"abcdef")

    def test_single_frame_value_is_not_copied(self):
        raw = kv_pb2.GetFrame(index=0, first=True, total_length=4, data=b"wxyz").SerializeToString()
        a = GetAssembler(1)
        a.feed(_codec.decode_get_frame(raw))
        r = a.finish()[0]
        self.assertEqual(bytes(r.value), b"wxyz")
        self.assertIs(r.value.obj, raw)

    def test_abort_drops_item(self):
        a = GetAssembler(2)
        a.feed(F(index=0, first=True, total_length=6, data=b"abc"))
        a.feed(F(index=0, code=15, message="checksum mismatch"))
        a.feed(F(index=1, first=True, total_length=2, data=b"ok"))
        r = a.finish()
        self.assertEqual((r[0].code, r[0].message, r[0].value), (15, "checksum mismatch", None))
        self.assertEqual(bytes(r[1].value), b"ok")

    def test_abort_after_complete_drops_item(self):
        a = GetAssembler(1)
        a.feed(F(index=0, first=True, total_length=3, data=b"abc"))
        a.feed(F(index=0, code=15, message="bad"))
        r = a.finish()
        self.assertEqual((r[0].code, r[0].value), (15, None))

    def test_small_buffer_fails_only_that_key(self):
        a = GetAssembler(2, out=[bytearray(2), bytearray(10)])
        a.feed(F(index=0, first=True, total_length=3, data=b"abc"))
        a.feed(F(index=1, first=True, total_length=3))
        a.feed(F(index=1, data=b"xyz"))
        r = a.finish()
        self.assertEqual(r[0].code, OUT_OF_RANGE)
        self.assertEqual(bytes(r[1].value), b"xyz")

    def test_protocol_violations(self):
        a = GetAssembler(1)
        with self.assertRaises(CacheProtocolError):
            a.feed(F(index=1, first=True, code=5))
        a = GetAssembler(1)
        with self.assertRaises(CacheProtocolError):
            a.feed(F(index=0, data=b"x"))
        a = GetAssembler(1)
        a.feed(F(index=0, first=True, total_length=2, data=b"x"))
        with self.assertRaises(CacheProtocolError):
            a.feed(F(index=0, data=b"yz"))
        a = GetAssembler(2)
        a.feed(F(index=0, first=True, total_length=2, data=b"x"))
        with self.assertRaises(CacheProtocolError):
            a.finish()

    def test_readonly_destination_rejected(self):
        with self.assertRaises(TypeError):
            GetAssembler(1, out=[b"immutable"])


class ByteViewTest(unittest.TestCase):
    def test_formats(self):
        import array
        import numpy as np
        self.assertEqual(len(byte_view(np.zeros((4, 8), dtype=np.float16))), 64)
        self.assertEqual(len(byte_view(array.array("I", [1, 2, 3]))), 12)
        arr = np.arange(6, dtype=np.float32)
        mv = byte_view(arr, writable=True)
        mv[0:4] = b"\x00\x00\x80\x3f"
        self.assertEqual(arr[0], 1.0)
        with self.assertRaises(ValueError):
            byte_view(np.zeros((4, 8))[:, :2])
        with self.assertRaises(TypeError):
            byte_view(object())


class TorchViewTest(unittest.TestCase):
    """torch is not installed here: a stand-in module with the few Tensor methods the client uses
    (detach, device, is_contiguous, reshape, view(torch.uint8), numpy) checks the code path."""

    def setUp(self):
        import sys
        import types
        import numpy as np

        torch = types.ModuleType("torch")
        torch.uint8 = np.uint8

        class Device:
            def __init__(self, t):
                self.type = t

            def __str__(self):
                return self.type

        class Tensor:
            def __init__(self, arr, device="cpu"):
                self.arr = arr
                self.device = Device(device)

            def detach(self):
                return self

            def is_contiguous(self):
                return self.arr.flags["C_CONTIGUOUS"]

            def reshape(self, *shape):
                return Tensor(self.arr.reshape(*shape), self.device.type)

            def view(self, dtype):
                return Tensor(self.arr.view(dtype), self.device.type)

            def numpy(self):
                return self.arr

        torch.Tensor = Tensor
        self.np = np
        self.torch = torch
        self._saved = sys.modules.get("torch")
        sys.modules["torch"] = torch

    def tearDown(self):
        import sys
        if self._saved is None:
            sys.modules.pop("torch", None)
        else:
            sys.modules["torch"] = self._saved

    def test_cpu_tensor_is_viewed_not_copied(self):
        arr = self.np.zeros((2, 4), dtype=self.np.float16)
        t = self.torch.Tensor(arr)
        mv = byte_view(t, writable=True)
        self.assertEqual(len(mv), 16)
        mv[0:2] = b"\x00\x3c"  # 1.0 in float16
        self.assertEqual(arr[0, 0], 1.0)
        # into a tensor through the assembler
        a = GetAssembler(1, out=[t])
        a.feed(F(index=0, first=True, total_length=4, data=b"\x00\x40\x00\x42"))
        a.finish()
        self.assertEqual(list(arr[0, :2]), [2.0, 3.0])

    def test_gpu_and_non_contiguous_tensors_refused(self):
        with self.assertRaises(TypeError):
            byte_view(self.torch.Tensor(self.np.zeros(4), device="cuda:0"))
        with self.assertRaises(ValueError):
            byte_view(self.torch.Tensor(self.np.zeros((4, 4))[:, :2]))


if __name__ == "__main__":
    unittest.main()
