"""BatchGet and BatchPut over the node's data socket (docs/api.md, "Data socket").

The same calls as gRPC's KvCache.BatchGet/BatchPut, as plain little-endian frames on a Unix socket:
values go from the kernel straight into the caller's buffers (``recv_into``) and out of them
(``sendall`` of a memoryview), without HTTP/2 framing or protobuf messages in between. One call
at a time per connection; idle connections are kept for reuse.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import grpc

from ._common import OK, OUT_OF_RANGE, GetResult, KeyStatus, Tier, byte_view
from ._shared import SharedBuffer
from .errors import _BY_CODE, CacheError, CacheProtocolError

REQUEST_MAGIC = 0x31444B43   # "CKD1"
RESPONSE_MAGIC = 0x31524B43  # "CKR1"
OP_GET = 1
OP_PUT = 2
OP_REGISTER = 5
OP_GET_SHARED = 6
OP_PUT_SHARED = 7
SEGMENT_END = 0
SEGMENT_ABORT = 0xFFFFFFFF

_HEADER = struct.Struct("<IBBHII")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_ITEM = struct.Struct("<iB")  # code, tier
_PLACE = struct.Struct("<IQQ")  # shared buffer id, offset, length
_CODES = {sc.value[0]: sc for sc in grpc.StatusCode}


class DataSocketBroken(Exception):
    """The data socket could not be reached or broke mid-call: the call may go over gRPC."""


class SharedBufferRefused(Exception):
    """The node would not map a shared buffer (a limit, or no shared buffers): the values can still
    go through the socket."""


def _error(code: int, message: str, method: str) -> CacheError:
    sc = _CODES.get(code, grpc.StatusCode.UNKNOWN)
    return _BY_CODE.get(sc, CacheError)(sc, message, method)


class _Connection:
    __slots__ = ("sock", "rfile", "registered")

    def __init__(self, path: str, timeout: float):
        # Shared buffers registered on this connection: buffer -> the id the node gave it.
        self.registered: Dict[SharedBuffer, int] = {}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        # Small reads (headers) are buffered; readinto of a large destination bypasses the buffer.
        self.rfile = self.sock.makefile("rb", buffering=64 * 1024)

    def read(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) != n:
            raise EOFError("the data socket closed mid-frame")
        return data

    def read_into(self, mv: memoryview) -> None:
        while len(mv):
            n = self.rfile.readinto(mv)
            if not n:
                raise EOFError("the data socket closed mid-frame")
            mv = mv[n:]

    def skip(self, n: int) -> None:
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 20))
            if not chunk:
                raise EOFError("the data socket closed mid-frame")
            n -= len(chunk)

    def u32(self) -> int:
        return _U32.unpack(self.read(4))[0]

    def string(self) -> str:
        n = _U16.unpack(self.read(2))[0]
        return self.read(n).decode("utf-8", "replace") if n else ""

    def close(self) -> None:
        try:
            self.rfile.close()
        finally:
            self.sock.close()


class DataSocket:
    """The node's data socket at ``path``; thread-safe."""

    def __init__(self, path: str, max_idle: int = 16):
        self.path = path
        self.max_idle = max_idle
        self._idle: List[_Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    # -- calls -------------------------------------------------------------------------------

    def get(self, ns_bytes: bytes, keys: List[bytes], out: Optional[Sequence[Any]],
            timeout: float) -> List[GetResult]:
        dests = ([None if b is None else byte_view(b, writable=True) for b in out]
                 if out is not None else None)

        def call(c: _Connection) -> List[GetResult]:
            parts = [_HEADER.pack(REQUEST_MAGIC, OP_GET, 0, 0, len(ns_bytes), len(keys)), ns_bytes]
            for k in keys:
                parts.append(_U16.pack(len(k)))
                parts.append(k)
            c.sock.sendall(b"".join(parts))
            self._response_header(c, len(keys), "BatchGet")
            return [self._read_value(c, i, dests[i] if dests is not None else None)
                    for i in range(len(keys))]

        return self._run(call, timeout, "BatchGet")

    def put(self, ns_bytes: bytes, items: List[Tuple[bytes, memoryview]],
            timeout: float) -> List[KeyStatus]:
        def call(c: _Connection) -> List[KeyStatus]:
            try:
                c.sock.sendall(_HEADER.pack(REQUEST_MAGIC, OP_PUT, 0, 0, len(ns_bytes), len(items))
                               + ns_bytes)
                for k, v in items:
                    c.sock.sendall(_U16.pack(len(k)) + k + _U64.pack(len(v)))
                    if len(v):
                        c.sock.sendall(v)
            except (BrokenPipeError, ConnectionResetError):
                # The node refused the whole call and closed: its answer says why.
                pass
            return self._put_results(c, len(items))

        return self._run(call, timeout, "BatchPut")

    def get_shared(self, ns_bytes: bytes, keys: List[bytes], places: List[Tuple[SharedBuffer, int, memoryview]],
                   timeout: float) -> List[GetResult]:
        """BatchGet into shared buffers: the node writes value i at ``places[i]`` (buffer, offset, view)."""
        def call(c: _Connection) -> List[GetResult]:
            self._send_places(c, OP_GET_SHARED, ns_bytes, keys, places)
            self._response_header(c, len(keys), "BatchGet")
            out = []
            for i in range(len(keys)):
                code, tier = _ITEM.unpack(c.read(5))
                message = c.string()
                total = _U64.unpack(c.read(8))[0]
                if code != OK:
                    out.append(GetResult(index=i, code=code, message=message))
                    continue
                view = places[i][2]
                if total > len(view):
                    raise CacheProtocolError("item %d: the node reports %d bytes written into a %d-byte place"
                                             % (i, total, len(view)), "BatchGet")
                out.append(GetResult(index=i, tier=Tier(tier) if tier in (0, 1, 2) else Tier.NONE,
                                     total_length=total, value=view[:total]))
            return out

        return self._run(call, timeout, "BatchGet")

    def put_shared(self, ns_bytes: bytes, keys: List[bytes], places: List[Tuple[SharedBuffer, int, memoryview]],
                   timeout: float) -> List[KeyStatus]:
        """BatchPut of values lying in shared buffers: only keys and places cross the socket."""
        def call(c: _Connection) -> List[KeyStatus]:
            self._send_places(c, OP_PUT_SHARED, ns_bytes, keys, places)
            return self._put_results(c, len(keys))

        return self._run(call, timeout, "BatchPut")

    @staticmethod
    def _put_results(c: _Connection, count: int) -> List[KeyStatus]:
        DataSocket._response_header(c, count, "BatchPut")
        out = []
        for i in range(count):
            code, _replicas = struct.unpack("<iI", c.read(8))
            out.append(KeyStatus(index=i, code=code, message=c.string()))
        return out

    def _send_places(self, c: _Connection, op: int, ns_bytes: bytes, keys: List[bytes],
                     places: List[Tuple[SharedBuffer, int, memoryview]]) -> None:
        """A shared-buffer call: per key, the buffer's id on this connection, the offset and the length."""
        ids = self._register_all(c, [p[0] for p in places])
        parts = [_HEADER.pack(REQUEST_MAGIC, op, 0, 0, len(ns_bytes), len(keys)), ns_bytes]
        for k, rid, (_, offset, view) in zip(keys, ids, places):
            parts += [_U16.pack(len(k)), k, _PLACE.pack(rid, offset, len(view))]
        c.sock.sendall(b"".join(parts))

    def _register_all(self, c: _Connection, buffers: List[SharedBuffer]) -> List[int]:
        ids = []
        for b in buffers:
            rid = c.registered.get(b)
            if rid is None:
                rid = c.registered[b] = self._register(c, b)
            ids.append(rid)
        return ids

    @staticmethod
    def _register(c: _Connection, buf: SharedBuffer) -> int:
        """Registration: the size, the node's go-ahead, one byte carrying the memfd, the id."""
        c.sock.sendall(_HEADER.pack(REQUEST_MAGIC, OP_REGISTER, 0, 0, 0, 0) + _U64.pack(buf.nbytes))
        try:
            DataSocket._status(c, "RegisterBuffer")
            socket.send_fds(c.sock, [b"F"], [buf.fileno()])
            DataSocket._status(c, "RegisterBuffer")
        except CacheError as e:
            raise SharedBufferRefused(str(e)) from e
        return c.u32()

    @staticmethod
    def _status(c: _Connection, method: str) -> None:
        if c.u32() != RESPONSE_MAGIC:
            raise CacheProtocolError("the data socket answered with something that is not CKR1", method)
        code = struct.unpack("<i", c.read(4))[0]
        message = c.string()
        if code != OK:
            raise _error(code, message, method)

    # -- plumbing ------------------------------------------------------------------------------

    def _run(self, call, timeout: float, method: str):
        deadline = time.monotonic() + timeout
        conn = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
                while conn is not None and any(b.closed for b in conn.registered):
                    conn.close()
                    conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = _Connection(self.path, max(0.001, deadline - time.monotonic()))
            conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
            result = call(conn)
        except socket.timeout:
            if conn is not None:
                conn.close()
            raise CacheError(grpc.StatusCode.DEADLINE_EXCEEDED,
                             "the call did not finish within %.3fs (data socket)" % timeout,
                             method) from None
        except (CacheError, SharedBufferRefused):
            # A whole-call refusal: the node closes this connection after it.
            if conn is not None:
                conn.close()
            raise
        except (OSError, EOFError) as e:
            if conn is not None:
                conn.close()
            raise DataSocketBroken("data socket %s: %s" % (self.path, e)) from e
        with self._lock:
            # Closing a connection is what makes the node unmap the buffers it registered.
            if len(self._idle) < self.max_idle and not any(b.closed for b in conn.registered):
                self._idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()
        return result

    @staticmethod
    def _response_header(c: _Connection, expected: int, method: str) -> None:
        if c.u32() != RESPONSE_MAGIC:
            raise CacheProtocolError("the data socket answered with something that is not CKR1",
                                     method)
        code = struct.unpack("<i", c.read(4))[0]
        message = c.string()
        if code != OK:
            raise _error(code, message, method)
        count = c.u32()
        if count != expected:
            raise CacheProtocolError("the data socket answered %d items for %d" % (count, expected),
                                     method)

    @staticmethod
    def _read_value(c: _Connection, i: int, dest: Optional[memoryview]) -> GetResult:
        code, tier = _ITEM.unpack(c.read(5))
        message = c.string()
        total = _U64.unpack(c.read(8))[0]
        if code != OK:
            return GetResult(index=i, code=code, message=message)
        r = GetResult(index=i, tier=Tier(tier) if tier in (0, 1, 2) else Tier.NONE,
                      total_length=total)
        if dest is not None and len(dest) < total:
            r.code = OUT_OF_RANGE
            r.message = ("destination buffer too small: %d bytes for a %d-byte value"
                         % (len(dest), total))
            dest = None
            target = None
        else:
            target = dest[:total] if dest is not None else memoryview(bytearray(total))
        filled = 0
        while True:
            n = c.u32()
            if n == SEGMENT_END:
                break
            if n == SEGMENT_ABORT:
                abort = struct.unpack("<i", c.read(4))[0]
                return GetResult(index=i, code=abort, message=c.string())
            if n > total - filled:
                raise CacheProtocolError("item %d: a segment of %d bytes overruns its %d-byte value"
                                         % (i, n, total), "BatchGet")
            if target is not None:
                c.read_into(target[filled:filled + n])
            else:
                c.skip(n)
            filled += n
        if filled != total:
            raise CacheProtocolError("item %d: %d of %d bytes arrived before its end marker"
                                     % (i, filled, total), "BatchGet")
        if r.code == OK:
            r.value = target
        return r
