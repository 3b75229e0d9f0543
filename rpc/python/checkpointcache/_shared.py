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

    With ``hugepages`` (the default) a size that is a whole number of the system's huge pages lies in huge
    pages while enough are reserved (``vm.nr_hugepages``), in ordinary pages otherwise; ``hugepages`` on the
    buffer says which. ``buffer`` is a writable memoryview over all of it: slice it, wrap it with ``numpy.frombuffer`` or
    ``torch.frombuffer`` (and pin it with ``cudaHostRegister`` for device copies), and pass slices as
    ``batch_get`` destinations or ``batch_put`` values. Do not touch a slice while a call that uses it
    runs. ``close()`` unmaps it here (once no view of it is left); the node unmaps it when the
    connections that used it close, which the client does on their next use.
    """

    def __init__(self, nbytes: int, name: str = "checkpointcache-shared", hugepages: bool = True):
        if not 0 < nbytes <= _MAX_BYTES:
            raise ValueError("a shared buffer holds 1 byte to 2 GiB - 1, not %d" % nbytes)
        # Huge pages when the size is a whole number of them and the pool (vm.nr_hugepages) has room: under a
        # hypervisor the node's first touch of each 4 KiB page this process has just written can cost
        # microseconds (docs/performance.md); a huge page pays it once per 2 MiB.
        huge = _huge_page_bytes()
        mapped = _map_huge(name, nbytes) if hugepages and huge and nbytes % huge == 0 else None
        self.hugepages = mapped is not None
        if mapped is None:
            fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            try:
                mapped = (fd, _seal_and_map(fd, nbytes))
            except BaseException:
                os.close(fd)
                raise
        fd, self._mmap = mapped
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


def _seal_and_map(fd: int, nbytes: int) -> mmap.mmap:
    os.ftruncate(fd, nbytes)
    # Sealed against shrinking: the node's writes into its mapping can never fault past the end.
    fcntl.fcntl(fd, _F_ADD_SEALS, _F_SEAL_SHRINK)
    return mmap.mmap(fd, nbytes)


def _map_huge(name: str, nbytes: int) -> Optional[Tuple[int, mmap.mmap]]:
    """A sealed memfd in huge pages and its mapping, or None where the system cannot give them now."""
    try:
        fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | os.MFD_HUGETLB)
    except (OSError, AttributeError):
        return None
    try:
        # A shared mapping reserves its pages when made: a short pool fails here, not later as a SIGBUS.
        return fd, _seal_and_map(fd, nbytes)
    except OSError:
        os.close(fd)
        return None


_huge_page_size: Optional[int] = None


def _huge_page_bytes() -> int:
    """The default huge page size (Hugepagesize in /proc/meminfo), 0 where there is none."""
    global _huge_page_size
    if _huge_page_size is None:
        size = 0
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("Hugepagesize:"):
                        parts = line.split()
                        size = int(parts[1]) * 1024 if len(parts) >= 3 and parts[2] == "kB" else 0
                        break
        except OSError:
            pass
        _huge_page_size = size
    return _huge_page_size


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
