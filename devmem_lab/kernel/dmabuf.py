"""dma-bufs: udmabuf (host memory) and accelerator (device) buffers.

Models ``drivers/dma-buf/udmabuf.c`` (``UDMABUF_CREATE`` over a sealed memfd, 64 MiB default
``size_limit_mb``) and ``drivers/dma-buf/dma-buf.c`` (``dma_buf_get``: a closed fd is EBADF,
an fd that is not a dma-buf is EINVAL).

Every buffer is a real file descriptor. A udmabuf is a memfd sealed with ``F_SEAL_SHRINK`` that
the learner can ``mmap``; on hosts without ``memfd_create`` (macOS) an unlinked temporary file
stands in. Accelerator memory is a zero-length sealed file: its bytes live in the emulated
device, so ``mmap`` fails as it does for device memory, and only :meth:`Accelerator.read` sees
them. The emulated NIC writes payload through :attr:`DmaBuf.view` (its DMA).
"""

from __future__ import annotations

import errno
import mmap
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ..errors import DevmemError
from ..uapi import PAGE_SIZE

__all__ = ["HAS_MEMFD", "UDMABUF_SIZE_LIMIT", "Accelerator", "DmaBuf", "DmaBufTable"]

UDMABUF_SIZE_LIMIT = 64 << 20  # udmabuf module parameter size_limit_mb=64
HAS_MEMFD = hasattr(os, "memfd_create")
_F_ADD_SEALS = 1033
_F_SEAL_SHRINK, _F_SEAL_GROW, _F_SEAL_WRITE = 0x2, 0x4, 0x8


def _new_file(name: str) -> int:
    """A real fd: a memfd where the host has one, else an unlinked temporary file."""
    if HAS_MEMFD:
        return os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    fd, path = tempfile.mkstemp(prefix=name + "-")
    os.unlink(path)
    return fd


def _seal(fd: int, seals: int) -> None:
    if HAS_MEMFD:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_ADD_SEALS", _F_ADD_SEALS), seals)


@dataclass(eq=False)
class DmaBuf:
    """One exported dma-buf: its size, kind and the memory the NIC writes into."""

    kind: str  # "udmabuf" or "accel"
    size: int
    inode: tuple[int, int]
    view: np.ndarray = field(repr=False)  # uint8[size], what the device's DMA sees
    _map: mmap.mmap | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.mem = memoryview(self.view).cast("B")  # the same bytes, for cheap slice writes

    def read(self, offset: int, size: int) -> bytes:
        """Bytes at ``[offset, offset+size)`` (the emulator's side; learners use mmap)."""
        return self.view[offset:offset + size].tobytes()


def _check_size(size: object, what: str, limit: int | None) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"{what}: size must be an int, not {type(size).__name__}")
    if size <= 0 or size % PAGE_SIZE:
        raise DevmemError(errno.EINVAL, f"{what}: size must be a positive multiple of "
                                        f"{PAGE_SIZE} (PAGE_SIZE), got {size}")
    if limit is not None and size > limit:
        raise DevmemError(errno.EINVAL, f"{what}: {size} bytes exceeds udmabuf size_limit_mb "
                                        f"({limit >> 20} MiB)")
    return size


class DmaBufTable:
    """The host's dma-bufs, found by the identity of the file behind an fd (``dma_buf_get``)."""

    def __init__(self) -> None:
        self._by_inode: dict[tuple[int, int], DmaBuf] = {}

    def udmabuf_create(self, size: int) -> int:
        """A udmabuf over a sealed memfd: ``UDMABUF_CREATE``. Returns the fd (caller owns it)."""
        _check_size(size, "udmabuf_create", UDMABUF_SIZE_LIMIT)
        fd = _new_file("udmabuf")
        try:
            os.ftruncate(fd, size)
            _seal(fd, _F_SEAL_SHRINK)
            mapping = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        st = os.fstat(fd)
        buf = DmaBuf("udmabuf", size, (st.st_dev, st.st_ino),
                     np.frombuffer(mapping, dtype=np.uint8), mapping)
        self._by_inode[buf.inode] = buf
        return fd

    def accel_alloc(self, size: int) -> int:
        """A dma-buf of device memory: a zero-length sealed file the CPU cannot map."""
        _check_size(size, "accel.alloc", None)
        fd = _new_file("accel-dmabuf")
        _seal(fd, _F_SEAL_SHRINK | _F_SEAL_GROW | _F_SEAL_WRITE)
        st = os.fstat(fd)
        buf = DmaBuf("accel", size, (st.st_dev, st.st_ino), np.zeros(size, dtype=np.uint8))
        self._by_inode[buf.inode] = buf
        return fd

    def get(self, fd: object) -> DmaBuf:
        """``dma_buf_get(fd)``: EBADF for a bad fd, EINVAL for a file that is no dma-buf."""
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(f"fd must be an int, not {type(fd).__name__}")
        if fd >= 1 << 31:  # a u32 netlink attribute read back as a C int: negative
            fd -= 1 << 32
        if fd < 0:
            raise DevmemError(errno.EBADF)
        try:
            st = os.fstat(fd)
        except (OSError, OverflowError):
            raise DevmemError(errno.EBADF) from None
        buf = self._by_inode.get((st.st_dev, st.st_ino))
        if buf is None:
            raise DevmemError(errno.EINVAL)
        return buf


class Accelerator:
    """An emulated accelerator: allocates device-memory dma-bufs and reads them back."""

    def __init__(self, table: DmaBufTable) -> None:
        self._table = table

    def __repr__(self) -> str:
        return "Accelerator()"

    def alloc(self, size: int) -> int:
        """A dma-buf fd for ``size`` bytes of device memory (multiple of 4096)."""
        return self._table.accel_alloc(size)

    def read(self, fd: int, offset: int, size: int) -> bytes:
        """Device-side read of ``size`` bytes at ``offset`` (what a kernel on the GPU sees)."""
        buf = self._table.get(fd)
        if buf.kind != "accel":
            raise DevmemError(errno.EINVAL, "not an accelerator dma-buf (mmap a udmabuf instead)")
        for name, v in (("offset", offset), ("size", size)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int, not {type(v).__name__}")
        if offset < 0 or size < 0 or offset + size > buf.size:
            raise DevmemError(errno.EINVAL, f"range [{offset}, {offset + size}) outside the "
                                            f"{buf.size}-byte dma-buf")
        return buf.read(offset, size)
