"""Which way values take to a node on this machine, shared by the sync and asyncio clients.

Over a Unix socket, values go over the node's data socket (docs/api.md, "Data socket"): into and out of
shared buffers when every buffer of a call lies in one (docs/api.md, "Shared buffers"), else as plain
frames. The calls here return None when gRPC must carry the call instead: no data socket, a broken one
(retried after a pause), or a store placed across a cluster (the node answers FAILED_PRECONDITION).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, List, Optional, Sequence, Set, Tuple

import grpc

from ._common import GetResult, KeyStatus, byte_view
from ._datasocket import DataSocket, DataSocketBroken, SharedBufferRefused
from ._shared import locate
from .errors import CacheError

RETRY_SECONDS = 2.0


class DataPath:
    def __init__(self, target: str, enabled: bool, path: Optional[str]):
        self.enabled = enabled and target.startswith("unix:")
        self._target = target
        self._path = path
        self._socket: Optional[DataSocket] = None
        self._retry_at = 0.0
        self._grpc_only: Set[str] = set()
        self._lock = threading.Lock()

    def usable(self, store: str) -> bool:
        return self.enabled and time.monotonic() >= self._retry_at and store not in self._grpc_only

    def needs_discovery(self, store: str) -> bool:
        """Whether the node must be asked (GetInfo) where its data socket is before a call."""
        return self.usable(store) and self._socket is None and not self._path

    def back_off(self) -> None:
        self._retry_at = time.monotonic() + RETRY_SECONDS

    def socket(self, store: str, reported: Callable[[], Optional[str]]) -> Optional[DataSocket]:
        """The data socket, found once from what ``reported()`` (GetInfo's data_socket) says."""
        if not self.usable(store):
            return None
        if self._socket is not None:
            return self._socket
        with self._lock:
            if self._socket is not None:
                return self._socket
            path = self._path
            if not path:
                try:
                    path = self._resolve(reported())
                except CacheError:
                    path = None
            if not path:
                self.back_off()
                return None
            self._socket = DataSocket(path)
            return self._socket

    def _resolve(self, reported: Optional[str]) -> Optional[str]:
        if not reported:
            return None
        if os.path.exists(reported):
            return reported
        # A node in another container may report a path that differs here: look beside its socket.
        grpc_socket = self._target[len("unix:"):]
        stem, ext = os.path.splitext(os.path.basename(grpc_socket))
        beside = os.path.join(os.path.dirname(grpc_socket), stem + "-data" + ext)
        return beside if os.path.exists(beside) else None

    def fallback(self, store: str, e: Exception) -> bool:
        """Whether a data-socket failure sends the call to gRPC."""
        if isinstance(e, DataSocketBroken):
            self.back_off()
            return True
        if isinstance(e, CacheError) and e.code == grpc.StatusCode.FAILED_PRECONDITION:
            self._grpc_only.add(store)
            return True
        return False

    def get(self, store: str, ns_bytes: bytes, keys: List[bytes], out: Optional[Sequence[Any]],
            timeout: float, reported: Callable[[], Optional[str]]) -> Optional[List[GetResult]]:
        places = (shared_places([byte_view(b, writable=True) for b in out])
                  if out is not None and all(b is not None for b in out) else None)
        return self._run(store, reported,
                         (lambda d: d.get_shared(ns_bytes, keys, places, timeout)) if places else None,
                         lambda d: d.get(ns_bytes, keys, out, timeout))

    def put(self, store: str, ns_bytes: bytes, items: List[Tuple[bytes, memoryview]], timeout: float,
            reported: Callable[[], Optional[str]]) -> Optional[List[KeyStatus]]:
        places = shared_places([v for _, v in items])
        return self._run(store, reported,
                         (lambda d: d.put_shared(ns_bytes, [k for k, _ in items], places, timeout))
                         if places else None,
                         lambda d: d.put(ns_bytes, items, timeout))

    def _run(self, store, reported, shared_call, socket_call):
        data = self.socket(store, reported)
        if data is None:
            return None
        if shared_call is not None:
            try:
                return shared_call(data)
            except SharedBufferRefused:
                pass  # the node will not map the buffer: the values go through the socket
            except (DataSocketBroken, CacheError) as e:
                if not self.fallback(store, e):
                    raise
                data = self.socket(store, reported)
                if data is None:
                    return None
        try:
            return socket_call(data)
        except (DataSocketBroken, CacheError) as e:
            if not self.fallback(store, e):
                raise
            return None

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()


def shared_places(views):
    """(buffer, offset, view) for each view when every one lies in a shared buffer, else None."""
    if not views:
        return None
    places = []
    for v in views:
        v = byte_view(v)
        found = locate(v)
        if found is None:
            return None
        places.append((found[0], found[1], v))
    return places
