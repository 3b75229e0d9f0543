"""Exceptions raised by the client.

A whole call that fails raises :class:`CacheError` (or a subclass) carrying the gRPC status code
and the node's message. Per-key outcomes of a batch (a miss, one value too large) are not
exceptions: they come back in the per-key results, because partial success is normal for a cache.
"""

from __future__ import annotations

from typing import Optional

import grpc

__all__ = [
    "CacheError",
    "CacheUnavailable",
    "CacheTimeout",
    "CacheInvalidArgument",
    "CacheResourceExhausted",
    "CacheNotFound",
    "CacheProtocolError",
    "from_rpc_error",
    "status_name",
]


def status_name(code: int) -> str:
    """Name of a google.rpc.Code / grpc.StatusCode number, e.g. 5 -> "NOT_FOUND"."""
    for sc in grpc.StatusCode:
        if sc.value[0] == code:
            return sc.name
    return "CODE_%d" % code


class CacheError(Exception):
    """A call to the node failed.

    ``code`` is the :class:`grpc.StatusCode`, ``details`` the node's message (or gRPC's when the
    node was not reached), ``method`` the RPC that failed.
    """

    #: For BatchGet: the per-key results when the stream failed mid-way (items that completed
    #: before the failure are usable), else None.
    partial = None

    def __init__(self, code: grpc.StatusCode, details: str, method: str = ""):
        self.code = code
        self.details = details or ""
        self.method = method
        super().__init__("%s%s: %s" % (method + " " if method else "", code.name, self.details))

    @property
    def status_code(self) -> int:
        """Numeric status (google.rpc.Code)."""
        return self.code.value[0]


class CacheUnavailable(CacheError):
    """The node could not be reached (not running, restarting, socket missing)."""


class CacheTimeout(CacheError):
    """The call's deadline passed (DEADLINE_EXCEEDED)."""


class CacheInvalidArgument(CacheError):
    """The node rejected the request (bad key, namespace not declared, limits exceeded...)."""


class CacheResourceExhausted(CacheError):
    """Out of space or over a size limit for the whole call."""


class CacheNotFound(CacheError):
    """NOT_FOUND for the whole call (e.g. an unknown store)."""


class CacheProtocolError(CacheError):
    """The node's answer broke the protocol (frames out of order, wrong lengths)."""

    def __init__(self, details: str, method: str = ""):
        super().__init__(grpc.StatusCode.INTERNAL, details, method)


_BY_CODE = {
    grpc.StatusCode.UNAVAILABLE: CacheUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: CacheTimeout,
    grpc.StatusCode.INVALID_ARGUMENT: CacheInvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: CacheInvalidArgument,
    grpc.StatusCode.RESOURCE_EXHAUSTED: CacheResourceExhausted,
    grpc.StatusCode.NOT_FOUND: CacheNotFound,
}


def from_rpc_error(e: grpc.RpcError, method: str = "") -> CacheError:
    """Converts a grpc.RpcError (sync or aio) into the matching CacheError."""
    code: Optional[grpc.StatusCode] = None
    details = ""
    try:
        code = e.code()
        details = e.details() or ""
    except Exception:  # pragma: no cover - an RpcError that is not a Call
        pass
    if code is None:
        code = grpc.StatusCode.UNKNOWN
        details = details or str(e)
    cls = _BY_CODE.get(code, CacheError)
    return cls(code, details, method)
