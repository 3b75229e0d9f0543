import json
import os
import unittest

import _paths  # noqa: F401
from checkpointcache import keyspec
from checkpointcache.keyspec import NamespaceDescriptor, block_keys, namespace_id, xxh3_128

SHARED_VECTORS = os.path.join(_paths.REPO_ROOT, "tests", "keyspec", "vectors-v1.json")
DOTNET_CROSSCHECK = os.path.join(_paths.TESTS_DIR, "data", "keyspec-dotnet-crosscheck.json")


def _check_file(tc: unittest.TestCase, path: str) -> int:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    tc.assertEqual(doc["version"], 1)
    n = 0
    for i, case in enumerate(doc["cases"]):
        with tc.subTest(case=i):
            d = NamespaceDescriptor.from_dict(case["descriptor"])
            nid = namespace_id(d)
            if "descriptor_string" in case:
                tc.assertEqual(keyspec.descriptor_string(d), case["descriptor_string"])
            tc.assertEqual(nid.hex(), case["namespace_id"].lower())
            tpb = d.tokens_per_block
            if tpb == 0:
                tc.assertEqual(case["block_keys"], [])
                continue
            keys = block_keys(nid, case["tokens"], tpb)
            tc.assertEqual([k.hex() for k in keys], [k.lower() for k in case["block_keys"]])
            n += 1
    return n


class SharedVectorsTest(unittest.TestCase):
    def test_shared_vectors_v1(self):
        """The same file the .NET client's tests read (tests/keyspec/vectors-v1.json)."""
        if not os.path.exists(SHARED_VECTORS):
            self.skipTest("tests/keyspec/vectors-v1.json not in this checkout yet")
        self.assertGreater(_check_file(self, SHARED_VECTORS), 0)

    def test_dotnet_crosscheck(self):
        """Vectors computed independently with .NET's System.IO.Hashing.XxHash128."""
        _check_file(self, DOTNET_CROSSCHECK)
        with open(DOTNET_CROSSCHECK, encoding="utf-8") as f:
            raw = json.load(f)["xxh3_128"]
        self.assertEqual(xxh3_128(b"").hex(), raw["empty"])
        self.assertEqual(xxh3_128(b"abc").hex(), raw["abc"])


class KeySpecTest(unittest.TestCase):
    D = NamespaceDescriptor(model="m", revision="r", dtype="bfloat16", layout="vllm-paged-v1",
                            tp_rank=1, tp_size=2, tokens_per_block=4, extra="x")

    def test_descriptor_string(self):
        self.assertEqual(
            keyspec.descriptor_string(self.D),
            "checkpointcache/kv/v1\nmodel=m\nrevision=r\ndtype=bfloat16\nlayout=vllm-paged-v1\n"
            "tp=1/2\ntokens_per_block=4\nextra=x")

    def test_namespace_id_is_hash_of_descriptor_string(self):
        self.assertEqual(namespace_id(self.D),
                         xxh3_128(keyspec.descriptor_string(self.D).encode("utf-8")))
        self.assertEqual(len(namespace_id(self.D)), 16)

    def test_chain_definition(self):
        nid = namespace_id(self.D)
        toks = list(range(100, 111))  # 2 full blocks + 3 tokens
        keys = block_keys(nid, toks, 4)
        self.assertEqual(len(keys), 2)
        h0 = xxh3_128(nid + b"".join(t.to_bytes(4, "little") for t in toks[:4]))
        h1 = xxh3_128(h0 + b"".join(t.to_bytes(4, "little") for t in toks[4:8]))
        self.assertEqual(keys, [h0, h1])

    def test_chain_continues_from_parent(self):
        nid = namespace_id(self.D)
        toks = list(range(40))
        whole = block_keys(nid, toks, 4)
        first = block_keys(nid, toks[:12], 4)
        rest = block_keys(first[-1], toks[12:], 4)
        self.assertEqual(first + rest, whole)
        self.assertEqual(self.D.block_keys(toks), whole)

    def test_numpy_tokens_match_list(self):
        import numpy as np
        nid = namespace_id(self.D)
        toks = [0, 1, 2**32 - 1, 7, 65536, 3, 2, 1]
        for dt in (np.int64, np.uint32, np.uint64):
            self.assertEqual(block_keys(nid, np.array(toks, dtype=dt), 4),
                             block_keys(nid, toks, 4))

    def test_empty_and_partial(self):
        nid = namespace_id(self.D)
        self.assertEqual(block_keys(nid, [], 4), [])
        self.assertEqual(block_keys(nid, [1, 2, 3], 4), [])

    def test_invalid_tokens(self):
        import numpy as np
        nid = namespace_id(self.D)
        with self.assertRaises(ValueError):
            block_keys(nid, [1, 2, 3, -1], 4)
        with self.assertRaises(ValueError):
            block_keys(nid, [1, 2, 3, 2**32], 4)
        with self.assertRaises(ValueError):
            block_keys(nid, np.array([1, 2, 3, -1]), 4)
        with self.assertRaises(ValueError):
            block_keys(b"short", [1, 2, 3, 4], 4)
        with self.assertRaises(ValueError):
            block_keys(nid, [1, 2, 3, 4], 0)

    def test_defaults_are_the_protobuf_defaults(self):
        """An unset field means the same thing here as in the .NET client and the node."""
        from checkpointcache._proto import kv_pb2
        m = kv_pb2.NamespaceDescriptor(model="x")
        d = NamespaceDescriptor(model="x")
        for f in m.DESCRIPTOR.fields:
            self.assertEqual(getattr(d, f.name), getattr(m, f.name), f.name)
        self.assertEqual(set(d.to_dict()), {f.name for f in m.DESCRIPTOR.fields})

    def test_newline_rejected(self):
        with self.assertRaises(ValueError):
            namespace_id(NamespaceDescriptor(model="a\nb", tokens_per_block=16))

    def test_utf8_strings(self):
        d = NamespaceDescriptor(model="modèle-日本", tokens_per_block=16)
        self.assertEqual(namespace_id(d), xxh3_128(keyspec.descriptor_string(d).encode("utf-8")))

    def test_backends_agree(self):
        """libxxhash through ctypes and the xxhash module (when installed) give the same bytes."""
        try:
            import xxhash
        except ImportError:
            self.skipTest("python3-xxhash not installed")
        self.assertNotEqual(keyspec.hash_backend(), "none")
        for data in (b"", b"abc", bytes(range(256)) * 40, b"\x00" * 16 + b"\x01" * 64):
            self.assertEqual(xxh3_128(data), xxhash.xxh3_128_digest(data, seed=0))


if __name__ == "__main__":
    unittest.main()
