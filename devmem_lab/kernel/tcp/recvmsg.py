"""``recvmsg(2)`` on a TCP socket: ``tcp_recvmsg_locked`` and ``tcp_recvmsg_dmabuf``.

Models ``net/ipv4/tcp.c``: the checks before any data is read (``tcp_recvmsg``,
``inet_recv_error``, ``tcp_recv_urg``), the copy loop of ``tcp_recvmsg_locked`` (a read never
mixes readable and unreadable skbs; unreadable ones need ``MSG_SOCK_DEVMEM``, else EFAULT),
``tcp_recvmsg_dmabuf`` (a ``SCM_DEVMEM_LINEAR`` cmsg for the linear part, then one
``SCM_DEVMEM_DMABUF`` cmsg and one token per frag, as many as the control buffer holds:
``put_cmsg_notrunc`` in ``net/core/scm.c``, ETOOSMALL when not even the first fits) and
``tcp_cleanup_rbuf`` (an ACK once the window has at least doubled). Errors of the dmabuf copy:
6.18 returns them (upstream 18282100d704), 6.12 reports EFAULT
(``KernelVersion.recvmsg_errors_exposed``).
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import struct
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ... import uapi
from ...errors import DevmemError
from .rmem import truesize, win_from_space

if TYPE_CHECKING:
    from ..nic.rx import Skb
    from .socket import TcpSocket

__all__ = ["check_recvmsg", "recv_precheck", "recvmsg_dmabuf", "recvmsg_locked"]

_CMSG = struct.Struct("=QIIII")  # struct dmabuf_cmsg (see uapi.DmabufCmsg)
_CMSG_DTYPE = np.dtype([("frag_offset", "=u8"), ("frag_size", "=u4"), ("frag_token", "=u4"),
                        ("dmabuf_id", "=u4"), ("flags", "=u4")])  # the same, many at a time
_CMSG_RAW = struct.Struct(f"{_CMSG.size}s")  # one cmsg's data, as bytes
_CMSG_LEN_DMABUF = _socket.CMSG_LEN(uapi.DMABUF_CMSG_SIZE)
_CMSG_SPACE_DMABUF = _socket.CMSG_SPACE(uapi.DMABUF_CMSG_SIZE)
MSG_OOB, MSG_ERRQUEUE = 0x1, uapi.MSG_ERRQUEUE
_SO_RCVLOWAT = 18


def _check_int(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    return v


def check_recvmsg(sk, bufsize: int, ancbufsize: int, flags: int) -> None:
    sk._check_open()
    for name, v in (("bufsize", bufsize), ("ancbufsize", ancbufsize), ("flags", flags)):
        _check_int(name, v)
    if bufsize < 0:
        raise ValueError("negative buffer size in recvmsg()")
    if ancbufsize < 0:
        raise ValueError("negative buffer size in recvmsg()")
    recv_precheck(sk, flags)


def recv_precheck(sock: TcpSocket, flags: int) -> None:
    """The checks of ``tcp_recvmsg`` / ``tcp_recvmsg_locked`` (``net/ipv4/tcp.c``) before any
    data is looked at, as seen through Python's socket module.

    ``MSG_ERRQUEUE`` goes to ``inet_recv_error`` first: the lab has no error queue, EAGAIN
    (Python's ``poll()`` waits out a timeout first). A listener is ENOTCONN (with a timeout,
    Python's ``poll()`` on a listener times out first). ``MSG_OOB`` with no urgent data is
    EINVAL (``tcp_recv_urg``). An unconnected socket is ENOTCONN unless ``shutdown(SHUT_RD)``
    marked it (then 0 bytes).
    """
    timed = sock._timeout is not None and sock._timeout > 0
    if flags & MSG_ERRQUEUE:
        if timed:
            sock._wait(lambda: False, "recvmsg")
        raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
    if sock.state == "LISTEN":
        if timed:
            sock._wait(lambda: bool(sock._backlog), "recvmsg")
        raise DevmemError(errno.ENOTCONN)
    if flags & MSG_OOB:
        raise DevmemError(errno.EINVAL)
    if sock.state == "CLOSE" and sock.peer is None and not sock._rd_shut:
        raise DevmemError(errno.ENOTCONN)


def recvmsg_locked(sk, length: int, ancbufsize: int, flags: int):
    """``tcp_recvmsg_locked``: returns ``(copied, linear parts, ancdata)`` or raises."""
    devmem_ok = bool(flags & uapi.MSG_SOCK_DEVMEM)
    trunc = bool(flags & uapi.MSG_TRUNC)
    peek = bool(flags & uapi.MSG_PEEK)
    lowat = sk._opts.get((uapi.SOL_SOCKET, _SO_RCVLOWAT), 1)  # sock_rcvlowat()
    target = length if flags & uapi.MSG_WAITALL else min(lowat, length)
    room = ancbufsize
    ancdata: list = []
    linear: list[bytes] = []
    copied = 0
    last_dmabuf: bool | None = None
    idx, offset = 0, sk._rq_off
    consumed_skbs = 0
    if length == 0 and not sk._rq and not sk._eof():  # sock_rcvlowat() is at least 1
        sk._wait(partial(sk._more_than, 0), "recvmsg", flags)
    while length > 0:
        if idx >= len(sk._rq):
            if copied >= target or sk._eof() or sk._err:
                break
            # a socket with a timeout is non-blocking under Python's poll(): a partial
            # MSG_WAITALL read returns what is there
            if copied and (sk._timeout is not None or flags & uapi.MSG_DONTWAIT):
                break
            sk._wait(partial(sk._more_than, len(sk._rq)), "recvmsg", flags)
            continue
        skb = sk._rq[idx]
        used = min(skb.length - offset, length)
        if not trunc:
            is_dmabuf = not skb.readable
            if last_dmabuf is not None and last_dmabuf != is_dmabuf:
                break
            if skb.readable:
                linear.append(skb.linear[offset:offset + used])
            else:
                if not devmem_ok:
                    if not copied:
                        copied = -errno.EFAULT
                    break
                sent, room = recvmsg_dmabuf(sk, skb, offset, used, linear, ancdata, room)
                if sent <= 0:  # 6.18 passes the error through (18282100d704); 6.12: EFAULT
                    if not copied:
                        copied = sent if sk.netns.kernel.version.recvmsg_errors_exposed \
                            else -errno.EFAULT
                    break
                used = sent
            last_dmabuf = is_dmabuf
        copied += used
        length -= used
        offset += used
        if offset < skb.length:
            continue
        idx += 1
        offset = 0
        if not peek:
            consumed_skbs += 1
    if not peek:
        consume(sk, consumed_skbs, offset if idx < len(sk._rq) else 0, copied)
    if copied < 0:
        raise DevmemError(-copied)
    if copied == 0 and sk._err and not sk._rq:
        err, sk._err = sk._err, 0
        raise DevmemError(err)
    return copied, linear, ancdata


def consume(sk, skbs: int, offset: int, copied: int) -> None:
    """Drop what was read: whole skbs, then the fully read packets of a batched one (their
    truesize is uncharged); autotuning; then ``tcp_cleanup_rbuf``'s window-update ACK."""
    for _ in range(skbs):
        skb = sk._rq.popleft()
        sk._rq_bytes -= skb.length
        sk._rmem -= truesize(skb)
        skb.free()
    if offset:  # the packets of a batched skb that were read in full go now
        head = sk._rq[0]
        before = truesize(head)
        gone = head.drop_read_segments(offset)
        if gone:
            sk._rmem -= before - truesize(head)
        sk._rq_bytes -= gone
        offset -= gone
    sk._rq_off = offset
    if copied > 0:
        sk._rcv_space_adjust()
    # tcp_cleanup_rbuf: ACK now if the window this read opened is at least twice what is left
    if copied > 0 and sk.peer is not None and not sk._rd_shut:
        now = sk._receive_window()
        if 2 * now <= win_from_space(sk.scaling_ratio, sk.rcvbuf):
            new = sk._rwnd()
            if new and new >= 2 * now:
                sk._send_ack()


def recvmsg_dmabuf(sk, skb: Skb, offset: int, remaining: int, linear: list,
                    ancdata: list, room: int) -> tuple[int, int]:
    """``tcp_recvmsg_dmabuf``: returns (bytes reported or -errno, control room left).

    A cmsg and a token per frag, for as many frags as the control buffer has room.
    """
    sent = 0
    need, space = _CMSG_LEN_DMABUF, _CMSG_SPACE_DMABUF
    headlen = len(skb.linear)
    if offset < headlen:
        copy = min(headlen - offset, remaining)
        linear.append(skb.linear[offset:offset + copy])
        if room < need:  # put_cmsg_notrunc: ETOOSMALL
            linear.pop()
            return (sent or -uapi.ETOOSMALL), room
        room -= min(space, room)
        ancdata.append((uapi.SOL_SOCKET, uapi.SCM_DEVMEM_LINEAR, _CMSG.pack(0, copy, 0, 0, 0)))
        sent += copy
        offset += copy
        remaining -= copy
        if remaining == 0:
            return sent, room
    nfr = len(skb.niovs)
    if not nfr:
        return (sent or -errno.EFAULT), room
    stop = offset + remaining
    layout = skb.layout
    j0, j1 = layout.span(offset, stop)  # the frags holding byte `offset` and byte stop - 1
    fit = (room - need) // space + 1 if room >= need else 0
    n = min(j1 - j0 + 1, fit)
    if n <= 0:
        return (sent or -uapi.ETOOSMALL), room
    room = max(0, room - n * space)
    j1 = j0 + n - 1
    first_start = layout.bounds(j0)[0]
    last_start, last_end = layout.bounds(j1)
    binding = skb.binding
    niovs = skb.niovs[j0:j0 + n]
    rec = np.empty(n, dtype=_CMSG_DTYPE)
    rec["frag_offset"] = niovs * binding.niov_size
    rec["frag_size"] = layout.sizes_of(j0, n)
    rec["frag_token"] = sk.tokens.alloc(binding, niovs)  # xa_alloc: a token per frag ...
    binding.get_many(niovs)  # ... each holding a net_iov reference
    rec["dmabuf_id"] = binding.id
    rec["flags"] = 0
    if offset > first_start:  # the first frag is read from its middle
        rec["frag_offset"][0] += offset - first_start
        rec["frag_size"][0] -= offset - first_start
    end = min(last_end, stop)  # where the last frag's reported bytes end
    rec["frag_size"][-1] = end - max(last_start, offset)
    raw = rec.tobytes()
    level, kind = uapi.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF
    ancdata += [(level, kind, c) for (c,) in _CMSG_RAW.iter_unpack(raw)]
    return sent + end - offset, room
