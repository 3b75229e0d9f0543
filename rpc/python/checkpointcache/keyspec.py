"""Key spec v1 (docs/key-spec.md): namespace ids and prefix-chain block keys.

Hash: XXH3-128 with seed 0, written in canonical form (high 64 bits then low 64 bits, each
big-endian), the same bytes as .NET's ``System.IO.Hashing.XxHash128.Hash``.

The hash comes from the xxHash C library (Debian ``libxxhash0``, ``libxxhash.so.0``) through
ctypes; if that library cannot be loaded, from the ``xxhash`` Python module (Debian
``python3-xxhash``) when it is importable. Both give identical bytes; the tests check that.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from array import array
from dataclasses import dataclass, asdict
from typing import Iterable, List, Optional, Sequence, Union

KEY_SPEC_VERSION = 1
_VERSION_LINE = "checkpointcache/kv/v1"
HASH_BYTES = 16

__all__ = [
    "KEY_SPEC_VERSION",
    "NamespaceDescriptor",
    "descriptor_string",
    "namespace_id",
    "block_keys",
    "xxh3_128",
    "hash_backend",
]


# ---------------------------------------------------------------------------------------------
# XXH3-128
# ---------------------------------------------------------------------------------------------

class _XXH128(ctypes.Structure):
    # XXH128_hash_t in xxhash.h: { XXH64_hash_t low64; XXH64_hash_t high64; }
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


def _load_libxxhash():
    names = ["libxxhash.so.0"]
    found = ctypes.util.find_library("xxhash")
    if found and found not in names:
        names.append(found)
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            fn = lib.XXH3_128bits_withSeed
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
        fn.restype = _XXH128
        return fn
    return None


_c_xxh3_128 = _load_libxxhash()
_py_xxhash = None
if _c_xxh3_128 is None:  # pragma: no cover - depends on the machine
    try:
        import xxhash as _py_xxhash  # type: ignore
    except ImportError:
        _py_xxhash = None


def hash_backend() -> str:
    """Which implementation computes XXH3-128 here: "libxxhash" (ctypes) or "xxhash-module"."""
    if _c_xxh3_128 is not None:
        return "libxxhash"
    if _py_xxhash is not None:
        return "xxhash-module"
    return "none"


def _xxh3_128_c(data: bytes) -> bytes:
    r = _c_xxh3_128(data, len(data), 0)
    return r.high64.to_bytes(8, "big") + r.low64.to_bytes(8, "big")


def xxh3_128(data: Union[bytes, bytearray, memoryview]) -> bytes:
    """XXH3-128 (seed 0) of ``data`` in canonical form: 16 bytes, high64 then low64, big-endian."""
    if not isinstance(data, bytes):
        data = bytes(data)
    if _c_xxh3_128 is not None:
        return _xxh3_128_c(data)
    if _py_xxhash is not None:
        # xxhash's digest() of xxh3_128 is the canonical (big-endian) form.
        return _py_xxhash.xxh3_128_digest(data, seed=0)
    raise RuntimeError(
        "no XXH3-128 implementation: install the xxHash C library (Debian: libxxhash0) "
        "or the xxhash Python module (Debian: python3-xxhash)")


# ---------------------------------------------------------------------------------------------
# Namespace descriptor and id
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NamespaceDescriptor:
    """What makes KV blocks incompatible. Mirrors ``NamespaceDescriptor`` in kv.proto.

    The defaults are the protobuf defaults (empty strings, zeros), so a descriptor that sets the
    same fields gives the same namespace id in every client (.NET, Python, the node). Set every
    field that applies, tp_size and tokens_per_block included.
    """

    model: str
    revision: str = ""
    dtype: str = ""
    layout: str = ""
    tp_rank: int = 0
    tp_size: int = 0
    tokens_per_block: int = 0
    extra: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NamespaceDescriptor":
        return cls(
            model=d.get("model", ""),
            revision=d.get("revision", ""),
            dtype=d.get("dtype", ""),
            layout=d.get("layout", ""),
            tp_rank=int(d.get("tp_rank", 0)),
            tp_size=int(d.get("tp_size", 0)),
            tokens_per_block=int(d.get("tokens_per_block", 0)),
            extra=d.get("extra", ""),
        )

    def spec_string(self) -> str:
        return descriptor_string(self)

    def namespace_id(self) -> bytes:
        return namespace_id(self)

    def block_keys(self, tokens, parent: Optional[bytes] = None) -> List[bytes]:
        """Block keys of ``tokens`` in this namespace (see :func:`block_keys`)."""
        return block_keys(parent if parent is not None else self.namespace_id(), tokens,
                          self.tokens_per_block)


def _check_uint32(name: str, v: int) -> int:
    v = int(v)
    if v < 0 or v >= 1 << 32:
        raise ValueError(f"{name} must be a uint32, got {v}")
    return v


def _check_str(name: str, s: str) -> str:
    if not isinstance(s, str):
        raise TypeError(f"{name} must be a str, got {type(s).__name__}")
    if "\n" in s:
        raise ValueError(f"{name} must not contain a newline (key spec v1)")
    return s


def descriptor_string(d: NamespaceDescriptor) -> str:
    """The UTF-8 string that is hashed into the namespace id (docs/key-spec.md)."""
    return "\n".join([
        _VERSION_LINE,
        "model=" + _check_str("model", d.model),
        "revision=" + _check_str("revision", d.revision),
        "dtype=" + _check_str("dtype", d.dtype),
        "layout=" + _check_str("layout", d.layout),
        "tp=%d/%d" % (_check_uint32("tp_rank", d.tp_rank), _check_uint32("tp_size", d.tp_size)),
        "tokens_per_block=%d" % _check_uint32("tokens_per_block", d.tokens_per_block),
        "extra=" + _check_str("extra", d.extra),
    ])


def namespace_id(d: NamespaceDescriptor) -> bytes:
    """16-byte namespace id: XXH3-128 of the descriptor string."""
    return xxh3_128(descriptor_string(d).encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Block keys
# ---------------------------------------------------------------------------------------------

def _tokens_le_u32(tokens) -> memoryview:
    """Token ids as one buffer of little-endian uint32, validated (0 <= t < 2**32)."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(tokens, np.ndarray):
        if tokens.ndim != 1:
            tokens = tokens.reshape(-1)
        if tokens.dtype.kind not in "iu":
            raise TypeError("token ids must be integers, got dtype %s" % tokens.dtype)
        if tokens.size and (int(tokens.min()) < 0 or int(tokens.max()) >= 1 << 32):
            raise ValueError("token ids must be in [0, 2**32)")
        return memoryview(np.ascontiguousarray(tokens, dtype="<u4")).cast("B")
    try:
        arr = array("I", tokens)  # raises OverflowError for negatives and values >= 2**32
    except OverflowError as e:
        raise ValueError("token ids must be in [0, 2**32)") from e
    if arr.itemsize != 4:  # pragma: no cover - "I" is 4 bytes on every supported platform
        arr = array("L", tokens)
        if arr.itemsize != 4:
            raise RuntimeError("no 4-byte unsigned array type")
    if sys.byteorder != "little":  # pragma: no cover
        arr.byteswap()
    return memoryview(arr).cast("B")


def block_keys(parent: bytes, tokens: Union[Sequence[int], Iterable[int]],
               tokens_per_block: int) -> List[bytes]:
    """Prefix-chain keys for the full blocks of ``tokens``.

    ``parent`` is the namespace id (h[-1]) to key a prompt from its start, or the key of the
    last block already keyed to continue a chain (``block_keys(keys[-1], more_tokens, n)`` gives
    the same keys as keying the whole token list at once, when the earlier tokens filled whole
    blocks). A trailing partial block gets no key.
    """
    if len(parent) != HASH_BYTES:
        raise ValueError("parent must be 16 bytes (a namespace id or a block key)")
    tpb = int(tokens_per_block)
    if tpb <= 0:
        raise ValueError("tokens_per_block must be positive")
    buf = _tokens_le_u32(tokens)
    block_bytes = 4 * tpb
    n = len(buf) // block_bytes
    keys: List[bytes] = []
    h = bytes(parent)
    for i in range(n):
        h = xxh3_128(h + buf[i * block_bytes:(i + 1) * block_bytes].tobytes())
        keys.append(h)
    return keys
