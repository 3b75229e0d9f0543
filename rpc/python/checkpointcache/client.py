"""Synchronous client for a CheckpointCache node (KV-cache API, kv.proto; node info, node.proto)."""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

import grpc

from . import _codec
from ._common import (
    DEFAULT_FRAME_BYTES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_META_TIMEOUT, DEFAULT_RECONNECT_WAIT,
    DEFAULT_TIMEOUT, FALLBACK_MAX_BATCH_BYTES, FALLBACK_MAX_BATCH_KEYS, KV_SERVICE, NODE_SERVICE,
    GetAssembler, GetPlan, GetResult, KeyStatus, LookupResult, NamespaceRef, Tier, as_key,
    channel_options, key_chunks, merge_lookup, normalize_target, ns_proto, prepare_items,
    put_chunks, put_frames, put_results,
)
from ._datapath import DataPath
from ._shared import SharedBuffer
from ._proto import kv_pb2, node_pb2
from .errors import CacheError, CacheUnavailable, from_rpc_error
from .keyspec import NamespaceDescriptor

__all__ = ["CacheClient"]


def _identity(b: bytes) -> bytes:
    return b


class CacheClient:
    """Talks to one node over its Unix socket (``unix:/run/checkpointcache/node.sock`` or a plain
    path) or TCP (``host:port``). Thread-safe; one client (one connection) per process is enough.

    Every call takes ``timeout`` (seconds); the defaults are ``timeout`` for BatchPut/BatchGet and
    ``meta_timeout`` for the others. A call that fails because the connection was lost waits up to
    ``reconnect_wait`` seconds (within its deadline) for the channel to reconnect and is retried
    once (``retries``); every call here is idempotent, so a retry is safe.

    Whole-call failures raise :class:`~checkpointcache.errors.CacheError` subclasses carrying the
    gRPC status code and the node's message; per-key outcomes come back as results.

    Over a Unix socket, ``batch_get`` and ``batch_put`` move values over the node's data socket
    (plain frames, no HTTP/2; ``use_data_socket``) when the node reports one, and fall back to gRPC
    when it is unreachable or the store is placed across a cluster.
    """

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT,
                 meta_timeout: float = DEFAULT_META_TIMEOUT,
                 frame_bytes: int = DEFAULT_FRAME_BYTES,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 reconnect_wait: float = DEFAULT_RECONNECT_WAIT, retries: int = 1,
                 max_batch_keys: Optional[int] = None, max_batch_bytes: Optional[int] = None,
                 options: Optional[Sequence[Tuple[str, Any]]] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 use_data_socket: bool = True, data_socket_path: Optional[str] = None):
        if frame_bytes <= 0 or frame_bytes > max_message_bytes - 64 * 1024:
            raise ValueError("frame_bytes must be in (0, max_message_bytes - 64 KiB]")
        self.target = normalize_target(target)
        self.timeout = timeout
        self.meta_timeout = meta_timeout
        self.frame_bytes = frame_bytes
        self.max_message_bytes = max_message_bytes
        self.reconnect_wait = reconnect_wait
        self.retries = retries
        self._max_batch_keys = max_batch_keys
        self._max_batch_bytes = max_batch_bytes
        opts = channel_options(max_message_bytes, options, single_threaded_unary_stream=True)
        if credentials is not None:
            self._channel = grpc.secure_channel(self.target, credentials, options=opts)
        else:
            self._channel = grpc.insecure_channel(self.target, options=opts)
        ch = self._channel
        ser_keys = kv_pb2.KeysRequest.SerializeToString
        self._declare = ch.unary_unary(KV_SERVICE + "DeclareNamespace",
                                       kv_pb2.DeclareNamespaceRequest.SerializeToString,
                                       kv_pb2.DeclareNamespaceResponse.FromString)
        self._put = ch.stream_unary(KV_SERVICE + "BatchPut", _identity,
                                    kv_pb2.BatchPutResponse.FromString)
        self._get = ch.unary_stream(KV_SERVICE + "BatchGet",
                                    kv_pb2.BatchGetRequest.SerializeToString,
                                    _codec.decode_get_frame)
        self._exists = ch.unary_unary(KV_SERVICE + "Exists", ser_keys,
                                      kv_pb2.ExistsResponse.FromString)
        self._delete = ch.unary_unary(KV_SERVICE + "Delete", ser_keys,
                                      kv_pb2.DeleteResponse.FromString)
        self._lookup = ch.unary_unary(KV_SERVICE + "Lookup",
                                      kv_pb2.LookupRequest.SerializeToString,
                                      kv_pb2.LookupResponse.FromString)
        self._info = ch.unary_unary(NODE_SERVICE + "GetInfo",
                                    node_pb2.GetInfoRequest.SerializeToString,
                                    node_pb2.NodeInfo.FromString)
        self._stats = ch.unary_unary(NODE_SERVICE + "GetStats",
                                     node_pb2.GetStatsRequest.SerializeToString,
                                     node_pb2.NodeStats.FromString)
        self._closed = False
        self._data = DataPath(self.target, use_data_socket, data_socket_path)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._data.close()
            self._channel.close()

    def __enter__(self) -> "CacheClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel is connected, or raises CacheUnavailable."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise CacheUnavailable(grpc.StatusCode.UNAVAILABLE,
                                   "node at %s not reachable within %.1fs" % (self.target, timeout),
                                   "connect") from None

    # -- retry core ---------------------------------------------------------------------------

    def _call(self, method: str, timeout: Optional[float], fn: Callable[[float], Any]):
        """Runs fn(remaining_seconds); on UNAVAILABLE waits for a reconnect and retries."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise CacheError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                     "deadline exceeded before the call started", method)
                return fn(remaining)
            except grpc.RpcError as e:
                err = from_rpc_error(e, method)
            if (err.code != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries
                    or self._closed):
                raise err
            attempt += 1
            wait = min(self.reconnect_wait, deadline - time.monotonic())
            if wait <= 0:
                raise err
            try:
                grpc.channel_ready_future(self._channel).result(timeout=wait)
            except grpc.FutureTimeoutError:
                raise err from None

    # -- limits -----------------------------------------------------------------------------

    def _limits(self, deadline: float) -> Tuple[int, int]:
        """(MaxBatchKeys, MaxBatchBytes): the constructor's values, else the node's (GetInfo,
        asked once), else the node's defaults."""
        if self._max_batch_keys is None or self._max_batch_bytes is None:
            keys, nbytes = FALLBACK_MAX_BATCH_KEYS, FALLBACK_MAX_BATCH_BYTES
            try:
                lim = self.get_info(timeout=max(0.001, min(self.meta_timeout,
                                                           deadline - time.monotonic()))).limits
                keys = lim.max_batch_keys or keys
                nbytes = lim.max_batch_bytes or nbytes
            except CacheError as e:
                if e.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise  # the call itself would fail the same way
                # a node without GetInfo: keep the defaults
            if self._max_batch_keys is None:
                self._max_batch_keys = keys
            if self._max_batch_bytes is None:
                self._max_batch_bytes = nbytes
        return self._max_batch_keys, self._max_batch_bytes

    @staticmethod
    def _remaining(deadline: float) -> float:
        return deadline - time.monotonic()

    # -- data socket -----------------------------------------------------------------------------

    def _reported_data_socket(self, deadline: float):
        """GetInfo's data_socket, asked once when the client finds its data path."""
        return lambda: self.get_info(timeout=max(0.001, min(self.meta_timeout,
                                                            deadline - time.monotonic()))).data_socket

    # -- KV API ----------------------------------------------------------------------------------

    @staticmethod
    def shared_buffer(nbytes: int, name: str = "checkpointcache-shared", hugepages: bool = True) -> SharedBuffer:
        """Memory the node writes values into and reads values from directly (docs/api.md, "Shared
        buffers"): ``batch_get`` destinations and ``batch_put`` values that all lie in shared buffers
        skip the socket copy when the node is reached over its Unix socket. In huge pages where it can
        be (see ``SharedBuffer``). Close it when done."""
        return SharedBuffer(nbytes, name, hugepages)

    def declare_namespace(self, descriptor: NamespaceDescriptor, store: str = "", *,
                          timeout: Optional[float] = None) -> NamespaceRef:
        """Declares (idempotently) the namespace for ``descriptor`` and returns its reference.
        The id equals ``keyspec.namespace_id(descriptor)``."""
        req = kv_pb2.DeclareNamespaceRequest(
            store=store, descriptor=kv_pb2.NamespaceDescriptor(**descriptor.to_dict()))
        resp = self._call("DeclareNamespace", timeout or self.meta_timeout,
                          lambda t: self._declare(req, timeout=t))
        return NamespaceRef(store=resp.namespace.store, id=resp.namespace.id,
                            descriptor=descriptor, key_spec_version=resp.key_spec_version,
                            created=resp.created)

    def batch_put(self, namespace, keys_or_items, values=None, *,
                  timeout: Optional[float] = None,
                  frame_bytes: Optional[int] = None) -> List[KeyStatus]:
        """Stores values; returns one KeyStatus per item, in order.

        ``batch_put(ns, keys, values)``, ``batch_put(ns, [(key, value), ...])`` or
        ``batch_put(ns, {key: value})``. Values are any buffer-protocol objects (bytes,
        memoryview, numpy arrays, CPU torch tensors); they are not copied before sending, only
        sliced into frames of ``frame_bytes``. A batch over the node's MaxBatchKeys or
        MaxBatchBytes is sent as several calls, within one overall deadline.
        """
        items = prepare_items(keys_or_items, values)
        fb = frame_bytes or self.frame_bytes
        deadline = time.monotonic() + (timeout or self.timeout)
        max_keys, max_bytes = self._limits(deadline)
        out: List[KeyStatus] = []
        for s, e in put_chunks(items, max_keys, max_bytes):
            part = items[s:e]
            for r in self._put_once(namespace, part, fb, deadline):
                r.index += s
                out.append(r)
        return out

    def _put_once(self, namespace, part, frame_bytes: int, deadline: float) -> List[KeyStatus]:
        if not self._closed:
            done = self._data.put(ns_proto(namespace).store, ns_proto(namespace).SerializeToString(), part,
                                  max(0.001, self._remaining(deadline)), self._reported_data_socket(deadline))
            if done is not None:
                return done
        resp = self._call("BatchPut", self._remaining(deadline),
                          lambda t: self._put(put_frames(namespace, part, frame_bytes), timeout=t))
        return put_results(resp, len(part))

    def batch_get(self, namespace, keys: Sequence, *, out: Optional[Sequence[Any]] = None,
                  timeout: Optional[float] = None,
                  frame_bytes: Optional[int] = None) -> List[GetResult]:
        """Reads values; returns one GetResult per key, in order (misses have code NOT_FOUND).

        ``out``: optional writable buffers, one per key (None entries allowed): values are
        written straight into them (numpy arrays, bytearrays, CPU torch tensors...). A buffer
        too small for its value gives that key OUT_OF_RANGE and leaves the others unaffected.

        More keys than the node's MaxBatchKeys, or more bytes than its MaxBatchBytes, are
        fetched in several calls within one overall deadline. If a call fails mid-way the
        method raises; the exception's ``partial`` attribute holds the results, with the items
        that completed before the failure.
        """
        keys = [as_key(k) for k in keys]
        if out is not None and len(out) != len(keys):
            raise ValueError("out has %d buffers for %d keys" % (len(out), len(keys)))
        fb = frame_bytes or self.frame_bytes
        deadline = time.monotonic() + (timeout or self.timeout)
        max_keys, _ = self._limits(deadline)
        plan = GetPlan(len(keys), max_keys)
        while plan.pending:
            chunk = plan.next_chunk()
            try:
                res = self._batch_get_once(namespace, [keys[i] for i in chunk],
                                           [out[i] for i in chunk] if out is not None else None,
                                           self._remaining(deadline), fb)
            except CacheError as e:
                e.partial = plan.partial(chunk, e.partial, e.status_code, e.details)
                raise
            plan.accept(chunk, res)
        return plan.results  # type: ignore[return-value]

    def _batch_get_once(self, namespace, keys: List[bytes], out, timeout: float,
                        frame_bytes: int) -> List[GetResult]:
        if not self._closed:
            done = self._data.get(ns_proto(namespace).store, ns_proto(namespace).SerializeToString(), keys, out,
                                  timeout, self._reported_data_socket(time.monotonic() + timeout))
            if done is not None:
                return done
        req = kv_pb2.BatchGetRequest(namespace=ns_proto(namespace), keys=keys,
                                     max_frame_bytes=frame_bytes)
        holder: List[GetAssembler] = []

        def run(t: float) -> List[GetResult]:
            asm = GetAssembler(len(keys), out)
            holder[:] = [asm]
            call = self._get(req, timeout=t)
            try:
                for frame in call:
                    asm.feed(frame)
            except BaseException:
                call.cancel()
                raise
            return asm.finish()

        try:
            return self._call("BatchGet", timeout, run)
        except CacheError as e:
            if holder:
                e.partial = holder[0].partial(e.status_code, e.details)
            raise

    def exists(self, namespace, keys: Sequence, *, timeout: Optional[float] = None) -> List[Tier]:
        """Tier of each key (Tier.NONE for a miss)."""
        keys = [as_key(k) for k in keys]
        deadline = time.monotonic() + (timeout or self.meta_timeout)
        max_keys, _ = self._limits(deadline)
        ref = ns_proto(namespace)
        tiers: List[Tier] = []
        for s, e in key_chunks(len(keys), max_keys):
            req = kv_pb2.KeysRequest(namespace=ref, keys=keys[s:e])
            resp = self._call("Exists", self._remaining(deadline),
                              lambda t: self._exists(req, timeout=t))
            tiers.extend(Tier(x) for x in resp.tiers)
        return tiers

    def delete(self, namespace, keys: Sequence, *, timeout: Optional[float] = None) -> List[bool]:
        """Deletes keys; True for each key that was there."""
        keys = [as_key(k) for k in keys]
        deadline = time.monotonic() + (timeout or self.meta_timeout)
        max_keys, _ = self._limits(deadline)
        ref = ns_proto(namespace)
        deleted: List[bool] = []
        for s, e in key_chunks(len(keys), max_keys):
            req = kv_pb2.KeysRequest(namespace=ref, keys=keys[s:e])
            resp = self._call("Delete", self._remaining(deadline),
                              lambda t: self._delete(req, timeout=t))
            deleted.extend(resp.deleted)
        return deleted

    def lookup(self, namespace, keys: Sequence, *, pin_ttl_ms: int = 0,
               timeout: Optional[float] = None) -> LookupResult:
        """Longest cached prefix of ``keys`` (given in prefix order). With ``pin_ttl_ms`` the
        prefix is kept from eviction that long, so it can be loaded with batch_get. Prompts with
        more blocks than the node's MaxBatchKeys are looked up in several calls, in order,
        stopping at the first miss."""
        keys = [as_key(k) for k in keys]
        deadline = time.monotonic() + (timeout or self.meta_timeout)
        max_keys, _ = self._limits(deadline)
        ref = ns_proto(namespace)
        result = LookupResult(prefix_length=0)
        for s, e in key_chunks(len(keys), max_keys):
            req = kv_pb2.LookupRequest(namespace=ref, keys=keys[s:e], pin_ttl_ms=pin_ttl_ms)
            resp = self._call("Lookup", self._remaining(deadline),
                              lambda t: self._lookup(req, timeout=t))
            merge_lookup(result, resp)
            if resp.prefix_length < e - s:
                break
        return result

    # -- node API ----------------------------------------------------------------------------

    def get_info(self, *, timeout: Optional[float] = None) -> node_pb2.NodeInfo:
        return self._call("GetInfo", timeout or self.meta_timeout,
                          lambda t: self._info(node_pb2.GetInfoRequest(), timeout=t))

    def get_stats(self, *, timeout: Optional[float] = None) -> node_pb2.NodeStats:
        return self._call("GetStats", timeout or self.meta_timeout,
                          lambda t: self._stats(node_pb2.GetStatsRequest(), timeout=t))

