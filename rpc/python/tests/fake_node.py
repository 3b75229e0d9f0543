"""An in-process stand-in for the node's KvCache service (kv.proto semantics), used to test
client behaviour the real node cannot easily be made to show: items aborted mid-stream,
protocol violations, stalls. The integration tests in test_node_integration.py use the real node.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent import futures

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from checkpointcache._proto import kv_pb2, kv_pb2_grpc, node_pb2, node_pb2_grpc  # noqa: E402
from checkpointcache.keyspec import NamespaceDescriptor, namespace_id  # noqa: E402

MIB = 1024 * 1024


class FakeKv(kv_pb2_grpc.KvCacheServicer):
    def __init__(self):
        self.store = {}           # (ns_id, key) -> (bytes, tier)
        self.namespaces = set()
        self.abort_keys = {}      # key -> (after_bytes, code, message): abort that item mid-way
        self.stall = None         # threading.Event: BatchGet waits on it before answering
        self.put_frames_seen = []
        self.get_requests = []
        self.pins = []
        self.max_batch_keys = 0   # 0: no limit (and GetInfo reports none)
        self.max_batch_bytes = 0
        self.calls = []           # (method, number of keys or items)

    def _check_keys(self, n, context, method):
        self.calls.append((method, n))
        if self.max_batch_keys and n > self.max_batch_keys:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          "%d keys in one call, over Limits:MaxBatchKeys (%d)"
                          % (n, self.max_batch_keys))

    def DeclareNamespace(self, request, context):
        d = request.descriptor
        nid = namespace_id(NamespaceDescriptor(d.model, d.revision, d.dtype, d.layout, d.tp_rank,
                                               d.tp_size, d.tokens_per_block, d.extra))
        created = nid not in self.namespaces
        self.namespaces.add(nid)
        return kv_pb2.DeclareNamespaceResponse(
            namespace=kv_pb2.NamespaceRef(store=request.store, id=nid), key_spec_version=1,
            created=created)

    def _ns(self, ref, context):
        if ref.id not in self.namespaces:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "namespace %s is not declared" % ref.id.hex())
        return ref.id

    def BatchPut(self, request_iterator, context):
        ns = None
        results = []
        cur = None
        for f in request_iterator:
            self.put_frames_seen.append((f.new_item, len(f.data)))
            if ns is None:
                ns = self._ns(f.namespace, context)
            if f.new_item:
                if cur is not None:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "item cut short")
                items = len(results) + 1
                if self.max_batch_keys and items > self.max_batch_keys:
                    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "over MaxBatchKeys")
                put_bytes = getattr(self, "_put_bytes", 0) if items > 1 else 0
                put_bytes += f.total_length
                self._put_bytes = put_bytes
                if self.max_batch_bytes and put_bytes > self.max_batch_bytes:
                    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "over MaxBatchBytes")
                cur = [f.key, f.total_length, bytearray()]
            if f.data:
                if cur is None:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "data before new_item")
                cur[2] += f.data
            if cur is not None and len(cur[2]) == cur[1]:
                if len(cur[0]) == 0:
                    results.append(kv_pb2.KeyStatus(index=len(results), code=3,
                                                    message="empty key"))
                else:
                    self.store[(ns, cur[0])] = (bytes(cur[2]), kv_pb2.TIER_RAM)
                    results.append(kv_pb2.KeyStatus(index=len(results), code=0))
                cur = None
        self.calls.append(("BatchPut", len(results)))
        return kv_pb2.BatchPutResponse(results=results)

    def BatchGet(self, request, context):
        self.get_requests.append(request)
        if self.stall is not None:
            self.stall.wait(30)
        ns = self._ns(request.namespace, context)
        self._check_keys(len(request.keys), context, "BatchGet")
        fb = request.max_frame_bytes or MIB
        sent = 0
        for i, k in enumerate(request.keys):
            v = self.store.get((ns, k))
            if v is None:
                yield kv_pb2.GetFrame(index=i, first=True, code=5, message="not cached")
                continue
            data, tier = v
            if self.max_batch_bytes and sent + len(data) > self.max_batch_bytes:
                yield kv_pb2.GetFrame(index=i, first=True, code=8,
                                      message="over MaxBatchBytes; ask in another call")
                continue
            sent += len(data)
            ab = self.abort_keys.get(k)
            # header frame carries the first chunk too
            off = 0
            first = True
            while first or off < len(data):
                if ab is not None and off >= ab[0] and not first:
                    break
                n = min(fb, len(data) - off)
                yield kv_pb2.GetFrame(index=i, first=first, total_length=len(data) if first else 0,
                                      tier=tier if first else 0, data=data[off:off + n])
                off += n
                first = False
            if ab is not None:
                yield kv_pb2.GetFrame(index=i, code=ab[1], message=ab[2])

    def Exists(self, request, context):
        ns = self._ns(request.namespace, context)
        self._check_keys(len(request.keys), context, "Exists")
        return kv_pb2.ExistsResponse(
            tiers=[self.store[(ns, k)][1] if (ns, k) in self.store else 0 for k in request.keys])

    def Delete(self, request, context):
        ns = self._ns(request.namespace, context)
        self._check_keys(len(request.keys), context, "Delete")
        return kv_pb2.DeleteResponse(
            deleted=[self.store.pop((ns, k), None) is not None for k in request.keys])

    def Lookup(self, request, context):
        ns = self._ns(request.namespace, context)
        self._check_keys(len(request.keys), context, "Lookup")
        tiers = []
        for k in request.keys:
            if (ns, k) not in self.store:
                break
            tiers.append(self.store[(ns, k)][1])
        pinned = 0
        if request.pin_ttl_ms and tiers:
            pinned = int(time.time() * 1000) + request.pin_ttl_ms
            self.pins.append((list(request.keys[:len(tiers)]), pinned))
        return kv_pb2.LookupResponse(prefix_length=len(tiers), tiers=tiers,
                                     pinned_until_unix_ms=pinned)


class FakeNodeInfo(node_pb2_grpc.NodeServicer):
    def __init__(self, kv: FakeKv):
        self.kv = kv

    def GetInfo(self, request, context):
        return node_pb2.NodeInfo(node_id="fake", version="0", key_spec_version=1,
                                 limits=node_pb2.Limits(max_batch_keys=self.kv.max_batch_keys,
                                                        max_batch_bytes=self.kv.max_batch_bytes))

    def GetStats(self, request, context):
        return node_pb2.NodeStats()


class FakeNode:
    """Serves FakeKv on a Unix socket; start()/stop() can be repeated on the same path."""

    def __init__(self, socket_path: str, kv: FakeKv = None):
        self.socket_path = socket_path
        self.kv = kv or FakeKv()
        self.server = None

    @property
    def target(self) -> str:
        return "unix:" + self.socket_path

    def start(self) -> "FakeNode":
        opts = [("grpc.max_send_message_length", 8 * MIB),
                ("grpc.max_receive_message_length", 8 * MIB)]
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=opts)
        kv_pb2_grpc.add_KvCacheServicer_to_server(self.kv, self.server)
        node_pb2_grpc.add_NodeServicer_to_server(FakeNodeInfo(self.kv), self.server)
        self.server.add_insecure_port(self.target)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=None).wait()
            self.server = None
