"""CheckpointCache Python client: KV-cache offload for inference servers.

    from checkpointcache import CacheClient, NamespaceDescriptor
    with CacheClient("unix:/run/checkpointcache/node.sock") as c:
        ns = c.declare_namespace(NamespaceDescriptor(model="meta-llama/Llama-3.1-8B", ...))
        keys = ns.block_keys(token_ids)
        c.batch_put(ns, keys, blocks)
        hit = c.lookup(ns, keys, pin_ttl_ms=5000).prefix_length
        results = c.batch_get(ns, keys[:hit], out=destination_buffers)
"""

from ._common import (
    DEFAULT_FRAME_BYTES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_META_TIMEOUT, DEFAULT_RECONNECT_WAIT,
    DEFAULT_TIMEOUT, GetResult, KeyStatus, LookupResult, NamespaceRef, Tier, byte_view,
)
from ._shared import SharedBuffer
from .client import CacheClient
from .errors import (
    CacheError, CacheInvalidArgument, CacheNotFound, CacheProtocolError, CacheResourceExhausted,
    CacheTimeout, CacheUnavailable,
)
from .keyspec import KEY_SPEC_VERSION, NamespaceDescriptor, block_keys, namespace_id


def __getattr__(name):
    # Import the asyncio client lazily: grpc.aio is not needed by sync users.
    if name == "AsyncCacheClient":
        from .aio import AsyncCacheClient
        return AsyncCacheClient
    raise AttributeError(name)


__version__ = "0.1.0"

__all__ = [
    "CacheClient", "AsyncCacheClient", "SharedBuffer", "NamespaceDescriptor", "NamespaceRef", "Tier",
    "GetResult", "KeyStatus", "LookupResult", "CacheError", "CacheUnavailable", "CacheTimeout",
    "CacheInvalidArgument", "CacheResourceExhausted", "CacheNotFound", "CacheProtocolError",
    "KEY_SPEC_VERSION", "namespace_id", "block_keys", "byte_view",
    "DEFAULT_FRAME_BYTES", "DEFAULT_MAX_MESSAGE_BYTES", "DEFAULT_TIMEOUT", "DEFAULT_META_TIMEOUT",
    "DEFAULT_RECONNECT_WAIT",
]
