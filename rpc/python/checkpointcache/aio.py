"""asyncio client (grpc.aio): the same API as :class:`checkpointcache.CacheClient`, as coroutines.

Values take the same way as the sync client's: the node's data socket, and shared buffers, over a
Unix socket (docs/api.md); gRPC otherwise."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, List, Optional, Sequence, Tuple

import grpc
import grpc.aio

from . import _codec
from ._common import (
    DEFAULT_FRAME_BYTES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_META_TIMEOUT, DEFAULT_RECONNECT_WAIT,
    DEFAULT_TIMEOUT, FALLBACK_MAX_BATCH_BYTES, FALLBACK_MAX_BATCH_KEYS, KV_SERVICE, NODE_SERVICE,
    GetAssembler, GetPlan, GetResult, KeyStatus, LookupResult, NamespaceRef, Tier, as_key,
    channel_options, key_chunks, merge_lookup, normalize_target, ns_proto, prepare_items,
    put_chunks, put_frames, put_results,
)
from ._datapath import DataPath
from ._proto import kv_pb2, node_pb2
from .errors import CacheError, CacheUnavailable, from_rpc_error
from .keyspec import NamespaceDescriptor

__all__ = ["AsyncCacheClient"]


def _identity(b: bytes) -> bytes:
    return b


class AsyncCacheClient:
    """asyncio twin of CacheClient; create and use it inside one event loop.

    ``async with AsyncCacheClient("unix:/run/checkpointcache/node.sock") as c: ...``
    """

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT,
                 meta_timeout: float = DEFAULT_META_TIMEOUT,
                 frame_bytes: int = DEFAULT_FRAME_BYTES,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 reconnect_wait: float = DEFAULT_RECONNECT_WAIT, retries: int = 1,
                 max_batch_keys: Optional[int] = None, max_batch_bytes: Optional[int] = None,
                 options: Optional[Sequence[Tuple[str, Any]]] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 use_data_socket: bool = True, data_socket_path: Optional[str] = None,
                 data_threads: int = 16):
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
        opts = channel_options(max_message_bytes, options)
        if credentials is not None:
            self._channel = grpc.aio.secure_channel(self.target, credentials, options=opts)
        else:
            self._channel = grpc.aio.insecure_channel(self.target, options=opts)
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
        # Values over the data socket (and shared buffers), as the sync client moves them: its blocking
        # calls run on these threads, which wait in the kernel without holding the GIL or the loop.
        self._data = DataPath(self.target, use_data_socket, data_socket_path)
        self._data_threads = ThreadPoolExecutor(max_workers=data_threads,
                                                thread_name_prefix="checkpointcache-data")

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._data_threads.shutdown(wait=False)
            self._data.close()
            await self._channel.close()

    async def _data_call(self, namespace, method: str, *args) -> Optional[Any]:
        """``DataPath.get``/``put`` on a data thread; None when gRPC must carry the call."""
        store = ns_proto(namespace).store
        if self._closed or not self._data.usable(store):
            return None
        reported = None
        if self._data.needs_discovery(store):
            try:
                reported = (await self.get_info(timeout=self.meta_timeout)).data_socket
            except CacheError:
                self._data.back_off()
                return None
        call = functools.partial(getattr(self._data, method), store, ns_proto(namespace).SerializeToString(),
                                 *args, reported=lambda: reported)
        return await asyncio.get_running_loop().run_in_executor(self._data_threads, call)

    async def __aenter__(self) -> "AsyncCacheClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def wait_ready(self, timeout: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self._channel.channel_ready(), timeout)
        except asyncio.TimeoutError:
            raise CacheUnavailable(grpc.StatusCode.UNAVAILABLE,
                                   "node at %s not reachable within %.1fs" % (self.target, timeout),
                                   "connect") from None

    async def _call(self, method: str, timeout: float, fn: Callable[[float], Awaitable[Any]]):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        attempt = 0
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise CacheError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                     "deadline exceeded before the call started", method)
                return await fn(remaining)
            except grpc.RpcError as e:  # grpc.aio.AioRpcError is a grpc.RpcError
                err = from_rpc_error(e, method)
            if (err.code != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries
                    or self._closed):
                raise err
            attempt += 1
            wait = min(self.reconnect_wait, deadline - loop.time())
            if wait <= 0:
                raise err
            try:
                await asyncio.wait_for(self._channel.channel_ready(), wait)
            except asyncio.TimeoutError:
                raise err from None

    async def _limits(self, deadline: float) -> Tuple[int, int]:
        if self._max_batch_keys is None or self._max_batch_bytes is None:
            keys, nbytes = FALLBACK_MAX_BATCH_KEYS, FALLBACK_MAX_BATCH_BYTES
            try:
                info = await self.get_info(timeout=max(0.001, min(self.meta_timeout,
                                                                  self._remaining(deadline))))
                keys = info.limits.max_batch_keys or keys
                nbytes = info.limits.max_batch_bytes or nbytes
            except CacheError as e:
                if e.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
            if self._max_batch_keys is None:
                self._max_batch_keys = keys
            if self._max_batch_bytes is None:
                self._max_batch_bytes = nbytes
        return self._max_batch_keys, self._max_batch_bytes

    @staticmethod
    def _deadline(timeout: float) -> float:
        return asyncio.get_running_loop().time() + timeout

    @staticmethod
    def _remaining(deadline: float) -> float:
        return deadline - asyncio.get_running_loop().time()

    async def declare_namespace(self, descriptor: NamespaceDescriptor, store: str = "", *,
                                timeout: Optional[float] = None) -> NamespaceRef:
        req = kv_pb2.DeclareNamespaceRequest(
            store=store, descriptor=kv_pb2.NamespaceDescriptor(**descriptor.to_dict()))
        resp = await self._call("DeclareNamespace", timeout or self.meta_timeout,
                                lambda t: self._declare(req, timeout=t))
        return NamespaceRef(store=resp.namespace.store, id=resp.namespace.id,
                            descriptor=descriptor, key_spec_version=resp.key_spec_version,
                            created=resp.created)

    async def batch_put(self, namespace, keys_or_items, values=None, *,
                        timeout: Optional[float] = None,
                        frame_bytes: Optional[int] = None) -> List[KeyStatus]:
        items = prepare_items(keys_or_items, values)
        fb = frame_bytes or self.frame_bytes
        deadline = self._deadline(timeout or self.timeout)
        max_keys, max_bytes = await self._limits(deadline)
        out: List[KeyStatus] = []
        for s, e in put_chunks(items, max_keys, max_bytes):
            part = items[s:e]
            results = await self._data_call(namespace, "put", part, max(0.001, self._remaining(deadline)))
            if results is None:
                resp = await self._call("BatchPut", self._remaining(deadline),
                                        lambda t: self._put(put_frames(namespace, part, fb),
                                                            timeout=t))
                results = put_results(resp, len(part))
            for r in results:
                r.index += s
                out.append(r)
        return out

    async def batch_get(self, namespace, keys: Sequence, *, out: Optional[Sequence[Any]] = None,
                        timeout: Optional[float] = None,
                        frame_bytes: Optional[int] = None) -> List[GetResult]:
        keys = [as_key(k) for k in keys]
        if out is not None and len(out) != len(keys):
            raise ValueError("out has %d buffers for %d keys" % (len(out), len(keys)))
        fb = frame_bytes or self.frame_bytes
        deadline = self._deadline(timeout or self.timeout)
        max_keys, _ = await self._limits(deadline)
        plan = GetPlan(len(keys), max_keys)
        while plan.pending:
            chunk = plan.next_chunk()
            try:
                res = await self._batch_get_once(
                    namespace, [keys[i] for i in chunk],
                    [out[i] for i in chunk] if out is not None else None,
                    self._remaining(deadline), fb)
            except CacheError as e:
                e.partial = plan.partial(chunk, e.partial, e.status_code, e.details)
                raise
            plan.accept(chunk, res)
        return plan.results  # type: ignore[return-value]

    async def _batch_get_once(self, namespace, keys: List[bytes], out, timeout: float,
                              frame_bytes: int) -> List[GetResult]:
        done = await self._data_call(namespace, "get", keys, out, timeout)
        if done is not None:
            return done
        req = kv_pb2.BatchGetRequest(namespace=ns_proto(namespace), keys=keys,
                                     max_frame_bytes=frame_bytes)
        holder: List[GetAssembler] = []

        async def run(t: float) -> List[GetResult]:
            asm = GetAssembler(len(keys), out)
            holder[:] = [asm]
            call = self._get(req, timeout=t)
            try:
                async for frame in call:
                    asm.feed(frame)
            except BaseException:
                call.cancel()
                raise
            return asm.finish()

        try:
            return await self._call("BatchGet", timeout, run)
        except CacheError as e:
            if holder:
                e.partial = holder[0].partial(e.status_code, e.details)
            raise

    async def exists(self, namespace, keys: Sequence, *,
                     timeout: Optional[float] = None) -> List[Tier]:
        keys = [as_key(k) for k in keys]
        deadline = self._deadline(timeout or self.meta_timeout)
        max_keys, _ = await self._limits(deadline)
        ref = ns_proto(namespace)
        tiers: List[Tier] = []
        for s, e in key_chunks(len(keys), max_keys):
            req = kv_pb2.KeysRequest(namespace=ref, keys=keys[s:e])
            resp = await self._call("Exists", self._remaining(deadline),
                                    lambda t: self._exists(req, timeout=t))
            tiers.extend(Tier(x) for x in resp.tiers)
        return tiers

    async def delete(self, namespace, keys: Sequence, *,
                     timeout: Optional[float] = None) -> List[bool]:
        keys = [as_key(k) for k in keys]
        deadline = self._deadline(timeout or self.meta_timeout)
        max_keys, _ = await self._limits(deadline)
        ref = ns_proto(namespace)
        deleted: List[bool] = []
        for s, e in key_chunks(len(keys), max_keys):
            req = kv_pb2.KeysRequest(namespace=ref, keys=keys[s:e])
            resp = await self._call("Delete", self._remaining(deadline),
                                    lambda t: self._delete(req, timeout=t))
            deleted.extend(resp.deleted)
        return deleted

    async def lookup(self, namespace, keys: Sequence, *, pin_ttl_ms: int = 0,
                     timeout: Optional[float] = None) -> LookupResult:
        keys = [as_key(k) for k in keys]
        deadline = self._deadline(timeout or self.meta_timeout)
        max_keys, _ = await self._limits(deadline)
        ref = ns_proto(namespace)
        result = LookupResult(prefix_length=0)
        for s, e in key_chunks(len(keys), max_keys):
            req = kv_pb2.LookupRequest(namespace=ref, keys=keys[s:e], pin_ttl_ms=pin_ttl_ms)
            resp = await self._call("Lookup", self._remaining(deadline),
                                    lambda t: self._lookup(req, timeout=t))
            merge_lookup(result, resp)
            if resp.prefix_length < e - s:
                break
        return result

    async def get_info(self, *, timeout: Optional[float] = None) -> node_pb2.NodeInfo:
        return await self._call("GetInfo", timeout or self.meta_timeout,
                                lambda t: self._info(node_pb2.GetInfoRequest(), timeout=t))

    async def get_stats(self, *, timeout: Optional[float] = None) -> node_pb2.NodeStats:
        return await self._call("GetStats", timeout or self.meta_timeout,
                                lambda t: self._stats(node_pb2.GetStatsRequest(), timeout=t))
