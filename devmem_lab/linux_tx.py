"""Devmem TX on a real kernel: ``sendmsg(2)`` through libc with dma-buf offsets, and a
read-only bind-tx check.

Python's ``socket.sendmsg`` only takes buffers, whose iovec base is a pointer; devmem TX needs
``iov_base`` to be a byte *offset* into the TX-bound dma-buf (``Documentation/networking/
devmem.rst``, ``ncdevmem.c`` client mode). :func:`libc_sendmsg` builds ``struct msghdr``
with ctypes so that the kernel sees each :class:`~devmem_lab.uapi.DmabufIov` offset as is.

:func:`check_bind_tx` sends ``bind-tx {ifindex, fd: -1}`` to each device: ``netdev_nl_bind_tx
_doit`` checks the driver's ``netmem_tx`` before it looks at the fd, so EOPNOTSUPP "Driver does
not support netmem TX" means no, EBADF means the device passed (``net/core/netdev-genl.c``).
bind-tx needs no privilege and ``dma_buf_get(-1)`` always fails: nothing changes on the host.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket as _socket
import struct
import threading

from . import uapi

__all__ = ["check_bind_tx", "libc_sendmsg"]


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


_lock = threading.Lock()
_fn = None


def _sendmsg_fn():
    global _fn
    with _lock:
        if _fn is None:
            fn = ctypes.CDLL(None, use_errno=True).sendmsg
            fn.argtypes = [ctypes.c_int, ctypes.POINTER(_Msghdr), ctypes.c_int]
            fn.restype = ctypes.c_ssize_t
            _fn = fn
        return _fn


def _control(ancdata) -> bytes:
    """The control buffer: each cmsg is ``cmsghdr`` + data, padded to ``CMSG_SPACE``."""
    out = b""
    for level, kind, data in ancdata:
        data = bytes(data)
        cm = struct.pack("@Nii", _socket.CMSG_LEN(len(data)), level, kind) + data
        out += cm + bytes(_socket.CMSG_SPACE(len(data)) - len(cm))
    return out


def libc_sendmsg(fd: int, buffers, ancdata=(), flags: int = 0) -> int:
    """``sendmsg(2)`` with ``DmabufIov`` items passed as ``{iov_base = offset, iov_len}``.

    Other buffers are passed by address, as ``socket.sendmsg`` would. Returns the kernel's
    return value; raises ``OSError`` with its errno.
    """
    keep = []
    iovs = (_Iovec * max(1, len(buffers)))()
    for i, b in enumerate(buffers):
        if isinstance(b, uapi.DmabufIov):
            iovs[i].iov_base, iovs[i].iov_len = b.offset, b.length
        else:
            data = bytes(b)
            cbuf = ctypes.create_string_buffer(data, max(1, len(data)))
            keep.append(cbuf)
            iovs[i].iov_base, iovs[i].iov_len = ctypes.addressof(cbuf), len(data)
    control = _control(ancdata)
    cbuf = ctypes.create_string_buffer(control, max(1, len(control)))
    msg = _Msghdr(None, 0, iovs, len(buffers), ctypes.addressof(cbuf) if control else None,
                  len(control), 0)
    ctypes.set_errno(0)
    rc = _sendmsg_fn()(fd, ctypes.byref(msg), flags)
    if rc < 0:
        err = ctypes.get_errno()
        if err == errno.EAGAIN:
            raise BlockingIOError(err, os.strerror(err))
        raise OSError(err, os.strerror(err))
    return rc


def check_bind_tx(sock, family_id: int, names: dict[int, str]) -> dict[str, str]:
    """ifname -> verdict of ``bind-tx {ifindex, fd: -1}`` (see the module docstring)."""
    from .errors import NetlinkError
    from .linux_host import genl_request
    from .netlink import wire
    out = {}
    for ifindex in sorted(names):
        attrs = (wire.pack_attr(uapi.NETDEV_A_DMABUF_IFINDEX, struct.pack("=I", ifindex))
                 + wire.pack_attr(uapi.NETDEV_A_DMABUF_FD, struct.pack("=I", 0xFFFFFFFF)))
        try:
            genl_request(sock, family_id, uapi.NETDEV_CMD_BIND_TX, attrs)
            verdict = "bound (unexpected)"  # pragma: no cover - dma_buf_get(-1) fails
        except NetlinkError as e:
            if e.errno == errno.EBADF:
                verdict = "yes: passes the netmem TX check, refused at the fd (EBADF)"
            elif e.errno == errno.EOPNOTSUPP and e.extack_msg:
                verdict = f"no: {e.extack_msg}"
            else:
                verdict = f"refused: {errno.errorcode.get(e.errno, e.errno)}" + (
                    f": {e.extack_msg}" if e.extack_msg else "")
        out[names[ifindex]] = verdict
    return out
