"""Hand-written wire codec for the two bulk messages, PutFrame and GetFrame.

The generated protobuf classes copy bulk bytes more than needed: a ``bytes`` field accepts only
``bytes`` (so a memoryview slice of the caller's buffer must first be copied), serialization copies
it again, and parsing copies the data field out of the received message. This codec writes and
reads the same protobuf wire format by hand, so that:

* a PutFrame is built with one copy: ``b"".join([header, memoryview_slice])``;
* a GetFrame's ``data`` is returned as a memoryview into the received message bytes (no copy),
  which the client then copies once into the destination buffer.

gRPC itself still copies once in each direction between its byte slices and Python ``bytes``.
Everything else (small requests and responses) uses the generated classes in ``_proto``. The
tests check this codec against the generated classes in both directions.
"""

from __future__ import annotations

from typing import Optional, Tuple

# Field tags: (field_number << 3) | wire_type.  Wire types: 0 varint, 2 length-delimited.
_T_NAMESPACE = b"\x0a"     # PutFrame.namespace = 1, LEN
_T_KEY = b"\x12"           # PutFrame.key = 2, LEN
_T_TOTAL_LENGTH = b"\x18"  # PutFrame.total_length = 3, VARINT
_T_DATA = b"\x22"          # PutFrame.data = 4, LEN
_T_NEW_ITEM = b"\x28\x01"  # PutFrame.new_item = 5, VARINT, true
_NS_STORE = b"\x0a"        # NamespaceRef.store = 1, LEN
_NS_ID = b"\x12"           # NamespaceRef.id = 2, LEN


def varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    if v < 0x80:
        return bytes((v,))
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def encode_namespace_ref(store: str, ns_id: bytes) -> bytes:
    out = b""
    if store:
        s = store.encode("utf-8")
        out += _NS_STORE + varint(len(s)) + s
    if ns_id:
        out += _NS_ID + varint(len(ns_id)) + bytes(ns_id)
    return out


def put_frame_header(namespace_ref: Optional[bytes], key: Optional[bytes],
                     total_length: Optional[int], data_len: int) -> bytes:
    """Everything of a PutFrame before its data bytes.

    ``namespace_ref`` is an encoded NamespaceRef (first frame of the stream only); ``key`` and
    ``total_length`` are given on the first frame of an item (which sets new_item = true).
    The data field, when non-empty, is written last (protobuf parsers accept any field order).
    """
    parts = []
    if namespace_ref is not None:
        parts.append(_T_NAMESPACE + varint(len(namespace_ref)) + namespace_ref)
    if key is not None:
        parts.append(_T_KEY + varint(len(key)) + key)
        if total_length:
            parts.append(_T_TOTAL_LENGTH + varint(total_length))
        parts.append(_T_NEW_ITEM)
    if data_len:
        parts.append(_T_DATA + varint(data_len))
    return b"".join(parts)


def encode_put_frame(namespace_ref: Optional[bytes], key: Optional[bytes],
                     total_length: Optional[int], data) -> bytes:
    """One serialized PutFrame; ``data`` is any bytes-like object (copied exactly once)."""
    n = len(data)
    header = put_frame_header(namespace_ref, key, total_length, n)
    if n:
        return b"".join((header, data))
    return header


class GetFrame:
    """A parsed GetFrame. ``data`` is a memoryview into the received message (not a copy)."""

    __slots__ = ("index", "first", "code", "message", "total_length", "tier", "data")

    def __init__(self):
        self.index = 0
        self.first = False
        self.code = 0
        self.message = ""
        self.total_length = 0
        self.tier = 0
        self.data = _EMPTY

    def __repr__(self):
        return ("GetFrame(index=%d, first=%s, code=%d, message=%r, total_length=%d, tier=%d, "
                "data=<%d bytes>)" % (self.index, self.first, self.code, self.message,
                                      self.total_length, self.tier, len(self.data)))


_EMPTY = memoryview(b"")


def _read_varint(buf, pos: int, end: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint too long")


def _to_int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def decode_get_frame(raw: bytes) -> GetFrame:
    """Parses a serialized GetFrame; unknown fields are skipped as protobuf requires."""
    f = GetFrame()
    mv = memoryview(raw)
    pos = 0
    end = len(raw)
    while pos < end:
        tag = raw[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _read_varint(raw, pos, end)
        field = tag >> 3
        wt = tag & 7
        if wt == 0:
            v, pos = _read_varint(raw, pos, end)
            if field == 1:
                f.index = v & 0xFFFFFFFF
            elif field == 2:
                f.first = v != 0
            elif field == 3:
                f.code = _to_int32(v)
            elif field == 5:
                f.total_length = v
            elif field == 6:
                f.tier = _to_int32(v)
        elif wt == 2:
            n, pos = _read_varint(raw, pos, end)
            if pos + n > end:
                raise ValueError("truncated length-delimited field")
            if field == 7:
                f.data = mv[pos:pos + n]
            elif field == 4:
                f.message = bytes(mv[pos:pos + n]).decode("utf-8", "replace")
            pos += n
        elif wt == 1:
            pos += 8
        elif wt == 5:
            pos += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        if pos > end:
            raise ValueError("truncated field")
    return f
