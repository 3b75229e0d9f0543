"""Shared buffers (docs/api.md, "Shared buffers"): memory the node reads values from and writes values
into directly.

A ``SharedBuffer`` is a memfd sealed against shrinking and mapped here; the first call that uses it on a
data-socket connection passes the descriptor to the node (SCM_RIGHTS), which maps it too. A ``batch_get``
whose ``out`` buffers, or a ``batch_put`` whose values, all lie in shared buffers then moves no value byte
through the socket: the node copies each value once, between its store and this memory.
"""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import mmap
import os
import threading
import weakref
from typing import Optional, Tuple

_F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)
_F_SEAL_SHRINK = getattr(fcntl, "F_SEAL_SHRINK", 0x0002)
_MAX_BYTES = 2 ** 31 - 1
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)

_ids = itertools.count(1)
_live: "weakref.WeakValueDictionary[int, SharedBuffer]" = weakref.WeakValueDictionary()
_live_lock = threading.Lock()


class SharedBuffer:
    """``nbytes`` (1 byte to 2 GiB - 1) of zeroed memory the node can map.

    ``buffer`` is a writable memoryview over all of it: slice it, wrap it with ``numpy.frombuffer`` or
    ``torch.frombuffer`` (and pin it with ``cudaHostRegister`` for device copies), and pass slices as
    ``batch_get`` destinations or ``batch_put`` values. Do not touch a slice while a call that uses it
    runs. ``close()`` unmaps it here (once no view of it is left); the node unmaps it when the
    connections that used it close, which the client does on their next use.
    """

    def __init__(self, nbytes: int, name: str = "checkpointcache-shared"):
        if not 0 < nbytes <= _MAX_BYTES:
            raise ValueError("a shared buffer holds 1 byte to 2 GiB - 1, not %d" % nbytes)
        fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, nbytes)
            # Sealed against shrinking: the node's writes into its mapping can never fault past the end.
            fcntl.fcntl(fd, _F_ADD_SEALS, _F_SEAL_SHRINK)
            self._mmap = mmap.mmap(fd, nbytes)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.nbytes = nbytes
        self.id = next(_ids)
        self.closed = False
        self.buffer = memoryview(self._mmap)
        self.address = _address(self.buffer)
        # Populate every page here: memory is charged to the cgroup that first faults it in, and that must
        # be this process's, not the node's (a node container would otherwise pay for its clients'). One
        # madvise is far cheaper than a fault per page, especially under a hypervisor.
        try:
            self._mmap.madvise(_MADV_POPULATE_WRITE)
        except OSError:  # kernels before 5.14
            ctypes.memset(self.address, 0, nbytes)
        with _live_lock:
            _live[self.id] = self

    def fileno(self) -> int:
        if self.closed:
            raise ValueError("shared buffer is closed")
        return self._fd

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with _live_lock:
            _live.pop(self.id, None)
        try:
            self.buffer.release()
            self._mmap.close()
        except BufferError:
            # Views of it are still alive (numpy arrays, slices): the mapping goes when they do.
            pass
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> "SharedBuffer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.nbytes


def _address(mv: memoryview) -> Optional[int]:
    """The address of a writable buffer's first byte, or None (read-only or empty)."""
    if mv.readonly or not len(mv):
        return None
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(mv))
    except (TypeError, ValueError):
        return None


def locate(mv: memoryview) -> Optional[Tuple[SharedBuffer, int]]:
    """The shared buffer ``mv`` lies in and its offset there, or None."""
    if not _live:
        return None
    address = _address(mv)
    if address is None:
        return None
    with _live_lock:
        buffers = list(_live.values())
    for b in buffers:
        if not b.closed and b.address <= address and address + len(mv) <= b.address + b.nbytes:
            return b, address - b.address
    return None
