"""Pieces shared by the sync and asyncio clients: result types, buffers, framing, options."""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

import grpc
import grpc.experimental

from . import _codec
from ._proto import kv_pb2
from .errors import CacheProtocolError
from .keyspec import NamespaceDescriptor, block_keys

KIB = 1024
MIB = 1024 * 1024

#: Bulk data is split into frames of at most this many bytes (BatchPut) and asked for in frames
#: of this size (BatchGet). The node's default and limit is 1 MiB (NodeInfo.limits.max_frame_bytes).
DEFAULT_FRAME_BYTES = 1 * MIB

#: gRPC's default message limit is 4 MiB for receiving and unlimited for sending. The client sets
#: both to 8 MiB on purpose: a frame is at most frame_bytes of data plus a few bytes of header, and
#: a request with many 16-byte keys (Lookup, Exists, BatchGet) stays far below 8 MiB up to ~400k
#: keys. Raise it only together with frame_bytes.
DEFAULT_MAX_MESSAGE_BYTES = 8 * MIB

#: Deadlines (seconds). Every call has one; the data calls get longer ones than the metadata calls.
DEFAULT_TIMEOUT = 30.0          # BatchPut, BatchGet
DEFAULT_META_TIMEOUT = 5.0      # DeclareNamespace, Exists, Delete, Lookup, GetInfo, GetStats
#: After a call fails with UNAVAILABLE (the connection was lost, e.g. the node restarted), the
#: client waits at most this long for the channel to reconnect, then retries the call once.
DEFAULT_RECONNECT_WAIT = 2.0

KV_SERVICE = "/checkpointcache.kv.v1.KvCache/"
NODE_SERVICE = "/checkpointcache.node.v1.Node/"


class Tier(enum.IntEnum):
    NONE = 0
    RAM = 1
    SSD = 2


# google.rpc.Code values used in per-key results.
OK = 0
INVALID_ARGUMENT = 3
NOT_FOUND = 5
RESOURCE_EXHAUSTED = 8
ABORTED = 10
OUT_OF_RANGE = 11
DATA_LOSS = 15


@dataclass(frozen=True)
class NamespaceRef:
    """A declared namespace: the store it lives in and its 16-byte id (the key-spec hash)."""

    store: str
    id: bytes
    descriptor: Optional[NamespaceDescriptor] = None
    key_spec_version: int = 0
    created: bool = False

    def block_keys(self, tokens, parent: Optional[bytes] = None) -> List[bytes]:
        """Key-spec block keys of ``tokens`` in this namespace (needs the descriptor)."""
        if self.descriptor is None:
            raise ValueError("this NamespaceRef has no descriptor; use keyspec.block_keys")
        return block_keys(parent if parent is not None else self.id, tokens,
                          self.descriptor.tokens_per_block)

    def to_proto(self) -> kv_pb2.NamespaceRef:
        return kv_pb2.NamespaceRef(store=self.store, id=self.id)


@dataclass
class KeyStatus:
    """Per-key outcome of BatchPut. code is a google.rpc.Code value (0 = OK)."""

    index: int
    code: int
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code == OK


@dataclass
class GetResult:
    """Per-key outcome of BatchGet.

    ``value`` is a memoryview of the value's bytes when ``ok``: a slice of the caller's buffer when
    one was given, else a read-only view of the received frame (one-frame values) or a fresh
    bytearray (values that came in several frames). ``bytes(value)`` makes a copy if needed.
    ``code`` is NOT_FOUND (5) for a miss; any other non-zero code means the node (or the client,
    e.g. OUT_OF_RANGE for a too-small destination buffer) could not deliver the value.
    """

    index: int
    code: int = OK
    message: str = ""
    tier: Tier = Tier.NONE
    total_length: int = 0
    value: Optional[memoryview] = None

    @property
    def ok(self) -> bool:
        return self.code == OK

    @property
    def hit(self) -> bool:
        return self.code == OK

    @property
    def miss(self) -> bool:
        return self.code == NOT_FOUND


@dataclass
class LookupResult:
    prefix_length: int
    tiers: List[Tier] = field(default_factory=list)
    pinned_until_unix_ms: int = 0


# ---------------------------------------------------------------------------------------------
# Targets and channel options
# ---------------------------------------------------------------------------------------------

def normalize_target(target: str) -> str:
    """``/path/node.sock`` or ``unix:/path`` -> ``unix:/path``; ``host:port`` is used as is."""
    if target.startswith("unix:") or target.startswith("unix-abstract:"):
        return target
    if target.startswith("/") or target.startswith("./") or target.endswith(".sock"):
        return "unix:" + os.path.abspath(target)
    return target


def channel_options(max_message_bytes: int, extra: Optional[Sequence[Tuple[str, Any]]] = None,
                    single_threaded_unary_stream: bool = False) -> List[Tuple[str, Any]]:
    opts: List[Tuple[str, Any]] = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # A local node restarts in seconds: reconnect quickly instead of gRPC's default
        # 1 s initial / 120 s maximum backoff.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        # Don't let gRPC share the TCP/Unix connection (subchannel) with other channels in
        # the process: each client owns its connection and its flow-control windows.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if single_threaded_unary_stream:
        opts.append((grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1))
    if extra:
        opts.extend(extra)
    return opts


# ---------------------------------------------------------------------------------------------
# Buffers
# ---------------------------------------------------------------------------------------------

def byte_view(obj, writable: bool = False) -> memoryview:
    """A flat, C-contiguous, unsigned-byte memoryview of ``obj`` without copying it.

    Accepts bytes, bytearray, memoryview, array.array, mmap, numpy arrays (any dtype) and, when
    torch is imported, contiguous CPU tensors (any dtype; viewed as uint8 through ``.numpy()``).
    """
    if isinstance(obj, memoryview):
        mv = obj
    else:
        try:
            mv = memoryview(obj)
        except TypeError:
            mv = _torch_view(obj)
            if mv is None:
                raise TypeError("value of type %s does not support the buffer protocol"
                                % type(obj).__name__) from None
    if writable and mv.readonly:
        raise TypeError("destination buffer is read-only (%s)" % type(obj).__name__)
    if mv.ndim != 1 or mv.format != "B":
        if not mv.c_contiguous:
            raise ValueError("buffer must be C-contiguous (%s)" % type(obj).__name__)
        mv = mv.cast("B")
    elif not mv.c_contiguous:
        raise ValueError("buffer must be C-contiguous (%s)" % type(obj).__name__)
    return mv


def _torch_view(obj) -> Optional[memoryview]:
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(obj, torch.Tensor):
        return None
    t = obj.detach()
    if t.device.type != "cpu":
        raise TypeError("tensor is on %s: stage it through a (pinned) CPU tensor; the client "
                        "moves bytes between host memory and the node" % t.device)
    if not t.is_contiguous():
        raise ValueError("tensor must be contiguous")
    # .view(torch.uint8) reinterprets the storage (works for bfloat16, which numpy lacks).
    return memoryview(t.reshape(-1).view(torch.uint8).numpy())


def as_key(k) -> bytes:
    if isinstance(k, bytes):
        return k
    if isinstance(k, str):
        raise TypeError("keys are bytes (encode str keys explicitly)")
    return bytes(k)


def ns_id_of(namespace) -> Tuple[str, bytes]:
    if isinstance(namespace, NamespaceRef):
        return namespace.store, namespace.id
    if isinstance(namespace, kv_pb2.NamespaceRef):
        return namespace.store, namespace.id
    if isinstance(namespace, (bytes, bytearray)):
        return "", bytes(namespace)
    raise TypeError("namespace must be a NamespaceRef (from declare_namespace) or a 16-byte id")


def ns_proto(namespace) -> kv_pb2.NamespaceRef:
    store, nid = ns_id_of(namespace)
    return kv_pb2.NamespaceRef(store=store, id=nid)


# ---------------------------------------------------------------------------------------------
# BatchPut framing
# ---------------------------------------------------------------------------------------------

def prepare_items(keys_or_items, values=None) -> List[Tuple[bytes, memoryview]]:
    """(key, value) pairs as (bytes, flat byte memoryview), without copying any value.

    Accepts ``(keys, values)``, an iterable of ``(key, value)`` pairs, or a mapping.
    """
    if values is not None:
        keys = list(keys_or_items)
        values = list(values)
        if len(keys) != len(values):
            raise ValueError("got %d keys and %d values" % (len(keys), len(values)))
        pairs = zip(keys, values)
    elif hasattr(keys_or_items, "items"):
        pairs = keys_or_items.items()
    else:
        pairs = keys_or_items
    return [(as_key(k), byte_view(v)) for k, v in pairs]


def put_frames(namespace, items: List[Tuple[bytes, memoryview]], frame_bytes: int):
    """Serialized PutFrames for ``items``: namespace on the first frame of the stream, key and
    total_length (new_item = true) on the first frame of each item, data in <= frame_bytes."""
    store, nid = ns_id_of(namespace)
    ns = _codec.encode_namespace_ref(store, nid)
    first = True
    enc = _codec.encode_put_frame
    for key, mv in items:
        total = len(mv)
        n = total if total < frame_bytes else frame_bytes
        yield enc(ns if first else None, key, total, mv[:n])
        first = False
        off = n
        while off < total:
            n = total - off
            if n > frame_bytes:
                n = frame_bytes
            yield enc(None, None, None, mv[off:off + n])
            off += n
    if first:  # no items: one frame that names the namespace, so the node sees a valid stream
        yield enc(ns, None, None, b"")


def put_results(resp: kv_pb2.BatchPutResponse, n: int) -> List[KeyStatus]:
    out = [KeyStatus(index=r.index, code=r.code, message=r.message) for r in resp.results]
    if len(out) != n:
        raise CacheProtocolError("BatchPut answered %d results for %d items" % (len(out), n),
                                 "BatchPut")
    return out


# ---------------------------------------------------------------------------------------------
# BatchGet reassembly
# ---------------------------------------------------------------------------------------------

class GetAssembler:
    """Turns the GetFrame stream into per-key GetResults, writing data straight into the
    destination buffers (caller-provided, or allocated for multi-frame values)."""

    __slots__ = ("n", "results", "_dest", "_off", "_out")

    def __init__(self, n: int, out: Optional[Sequence[Any]] = None):
        self.n = n
        if out is not None and len(out) != n:
            raise ValueError("out has %d buffers for %d keys" % (len(out), n))
        # Validate the caller's buffers before the call, so a bad one fails fast.
        self._out = ([None if b is None else byte_view(b, writable=True) for b in out]
                     if out is not None else None)
        self.results: List[Optional[GetResult]] = [None] * n
        self._dest: List[Optional[memoryview]] = [None] * n
        self._off = [0] * n

    def feed(self, f: "_codec.GetFrame") -> None:
        i = f.index
        if i >= self.n:
            raise CacheProtocolError("BatchGet frame for index %d of %d keys" % (i, self.n),
                                     "BatchGet")
        if f.first:
            if self.results[i] is not None:
                raise CacheProtocolError("BatchGet sent item %d twice" % i, "BatchGet")
            if f.code != OK:
                self.results[i] = GetResult(index=i, code=f.code, message=f.message)
                return
            total = f.total_length
            r = GetResult(index=i, tier=Tier(f.tier) if f.tier in (0, 1, 2) else Tier.NONE,
                          total_length=total)
            self.results[i] = r
            dest = self._out[i] if self._out is not None else None
            if dest is not None:
                if len(dest) < total:
                    r.code = OUT_OF_RANGE
                    r.message = ("destination buffer too small: %d bytes for a %d-byte value"
                                 % (len(dest), total))
                    return  # later data frames of this item are dropped
                dest = dest[:total]
            elif len(f.data) == total:
                r.value = f.data  # the whole value arrived in this frame: no copy
                return
            else:
                dest = memoryview(bytearray(total))
            self._dest[i] = dest
            self._append(i, r, f.data)
            return
        r = self.results[i]
        if r is None:
            raise CacheProtocolError("BatchGet data for item %d before its first frame" % i,
                                     "BatchGet")
        if f.code != OK:
            # The node aborted this item (possibly after all its bytes, e.g. a checksum
            # mismatch found at the end): drop what arrived.
            if r.code == OK:
                r.code = f.code
                r.message = f.message
                r.value = None
                self._dest[i] = None
            return
        if r.code != OK:
            return  # item already failed (e.g. buffer too small): ignore its data
        self._append(i, r, f.data)

    def _append(self, i: int, r: GetResult, data: memoryview) -> None:
        n = len(data)
        dest = self._dest[i]
        off = self._off[i]
        if off + n > r.total_length:
            raise CacheProtocolError("BatchGet item %d: more bytes than total_length %d"
                                     % (i, r.total_length), "BatchGet")
        if n:
            dest[off:off + n] = data
            off += n
            self._off[i] = off
        if off == r.total_length:
            r.value = dest
            self._dest[i] = None

    def finish(self) -> List[GetResult]:
        missing = [i for i, r in enumerate(self.results) if r is None]
        if missing:
            raise CacheProtocolError("BatchGet stream ended without items %s" % missing[:8],
                                     "BatchGet")
        for i, r in enumerate(self.results):
            if r.code == OK and r.value is None:
                raise CacheProtocolError("BatchGet stream ended in the middle of item %d" % i,
                                         "BatchGet")
        return self.results  # type: ignore[return-value]

    def partial(self, code: int, message: str) -> List[GetResult]:
        """Results after the stream failed: unfinished items get ``code``/``message``."""
        out = []
        for i, r in enumerate(self.results):
            if r is None or (r.code == OK and r.value is None):
                out.append(GetResult(index=i, code=code, message=message))
            else:
                out.append(r)
        return out


# ---------------------------------------------------------------------------------------------
# Splitting batches by the node's limits
# ---------------------------------------------------------------------------------------------

#: Used when the node's limits cannot be read (GetInfo failed); the node's own defaults.
FALLBACK_MAX_BATCH_KEYS = 1024
FALLBACK_MAX_BATCH_BYTES = 1 << 30


def key_chunks(n: int, max_keys: int):
    """[start, end) ranges of at most max_keys."""
    for s in range(0, n, max_keys):
        yield s, min(n, s + max_keys)


def put_chunks(items: List[Tuple[bytes, memoryview]], max_keys: int, max_bytes: int):
    """[start, end) ranges of items, each within max_keys items and max_bytes value bytes
    (an item larger than max_bytes goes alone: the node answers for it)."""
    s = 0
    n = len(items)
    while s < n:
        e = s
        total = 0
        while e < n and e - s < max_keys and (e == s or total + len(items[e][1]) <= max_bytes):
            total += len(items[e][1])
            e += 1
        yield s, e
        s = e


class GetPlan:
    """Which keys the next BatchGet call asks for, given MaxBatchKeys, and what to ask again:
    items refused with RESOURCE_EXHAUSTED because the call reached MaxBatchBytes go into a
    later call (the node refuses from the item that would cross the limit on)."""

    def __init__(self, n: int, max_keys: int):
        self.n = n
        self.max_keys = max_keys
        self.pending = list(range(n))
        self.results: List[Optional[GetResult]] = [None] * n

    def next_chunk(self) -> List[int]:
        return self.pending[:self.max_keys]

    def accept(self, chunk: List[int], res: List[GetResult]) -> None:
        progressed = any(r.code != RESOURCE_EXHAUSTED for r in res)
        retry = []
        for i, r in zip(chunk, res):
            r.index = i
            if r.code == RESOURCE_EXHAUSTED and progressed:
                retry.append(i)
            else:
                self.results[i] = r
        self.pending = retry + self.pending[len(chunk):]

    def partial(self, chunk: List[int], chunk_partial: Optional[List[GetResult]], code: int,
                message: str) -> List[GetResult]:
        out = list(self.results)
        if chunk_partial is not None:
            for i, r in zip(chunk, chunk_partial):
                r.index = i
                out[i] = r
        return [r if r is not None else GetResult(index=i, code=code, message=message)
                for i, r in enumerate(out)]


def merge_lookup(result: LookupResult, resp) -> None:
    """Adds one Lookup answer (for the next keys in prefix order) to ``result``."""
    result.prefix_length += resp.prefix_length
    result.tiers.extend(Tier(x) for x in resp.tiers)
    if resp.pinned_until_unix_ms:
        # Several calls pin with the same TTL: report the earliest expiry.
        if result.pinned_until_unix_ms == 0 or resp.pinned_until_unix_ms < result.pinned_until_unix_ms:
            result.pinned_until_unix_ms = resp.pinned_until_unix_ms
