"""dma-bufs: real, sealed, mmap-able udmabuf fds; accelerator memory the CPU cannot map."""

import errno
import mmap
import os

import pytest

from devmem_lab import Lab
from devmem_lab.kernel import dmabuf


def test_udmabuf_is_a_real_sealed_mmapable_fd():
    lab = Lab(seed=0)
    fd = lab.server.udmabuf_create(8 * 4096)
    try:
        assert os.fstat(fd).st_size == 8 * 4096
        m = mmap.mmap(fd, 8 * 4096)
        m[4096:4100] = b"abcd"
        assert lab.server.dmabufs.get(fd).read(4096, 4) == b"abcd"  # same memory as the NIC's
        if dmabuf.HAS_MEMFD:
            with pytest.raises(PermissionError):  # F_SEAL_SHRINK
                os.ftruncate(fd, 4096)
    finally:
        os.close(fd)


def test_udmabuf_limits_follow_the_driver():
    lab = Lab(seed=0)
    fd = lab.server.udmabuf_create(64 << 20)  # exactly size_limit_mb is fine
    os.close(fd)
    for size in (0, 4095, 4097, (64 << 20) + 4096):
        with pytest.raises(OSError) as e:
            lab.server.udmabuf_create(size)
        assert e.value.errno == errno.EINVAL


def test_dma_buf_get_rejects_closed_and_foreign_fds():
    lab = Lab(seed=0)
    fd = lab.server.udmabuf_create(4096)
    os.close(fd)
    with pytest.raises(OSError) as e:
        lab.server.dmabufs.get(fd)
    assert e.value.errno == errno.EBADF
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as e:
            lab.server.dmabufs.get(r)
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(r)
        os.close(w)


def test_a_dmabuf_belongs_to_the_host_that_made_it():
    lab = Lab(seed=0)
    fd = lab.server.udmabuf_create(4096)
    with pytest.raises(OSError) as e:
        lab.client.dmabufs.get(fd)
    assert e.value.errno == errno.EINVAL
    os.close(fd)


def test_accelerator_buffer_cannot_be_mapped():
    lab = Lab(seed=0)
    fd = lab.server.accel.alloc(4 * 4096)
    with pytest.raises(ValueError):
        mmap.mmap(fd, 4 * 4096)
    assert lab.server.accel.read(fd, 0, 8) == bytes(8)
    os.close(fd)


def test_fallback_without_memfd_uses_a_temporary_file(monkeypatch):
    monkeypatch.setattr(dmabuf, "HAS_MEMFD", False)  # as on macOS
    lab = Lab(seed=0)
    fd = lab.server.udmabuf_create(2 * 4096)
    m = mmap.mmap(fd, 2 * 4096)
    m[:3] = b"mac"
    assert lab.server.dmabufs.get(fd).read(0, 3) == b"mac"
    os.close(fd)
