"""MSG_ZEROCOPY completions: per-socket notification ids and the error queue.

Models ``net/core/skbuff.c``: ``msg_zerocopy_realloc`` / ``msg_zerocopy_alloc`` (one
``ubuf_info_msgzc`` per sendmsg, ``id`` from the socket's ``sk_zckey`` counter; a sendmsg whose
predecessor's notification is still on the unsent tail of the write queue extends it instead,
up to 512 KiB and 65534 calls), ``msg_zerocopy_put_abort`` (a sendmsg that queued nothing gives
its id back), ``__msg_zerocopy_callback`` (when the last skb holding the data is freed, i.e.
acknowledged or purged, one completion ``[lo, hi]`` with ``SO_EE_ORIGIN_ZEROCOPY``, and
``SO_EE_CODE_ZEROCOPY_COPIED`` when the data was copied after all, e.g. delivered over
loopback) and ``skb_zerocopy_notify_extend`` (a completion that starts right after the error
queue's tail is merged into it while the range stays under 2**32). Reading is
``ip_recv_error`` / ``ipv6_recv_error`` (``net/ipv4/ip_sockglue.c``, ``net/ipv6/datagram.c``):
one error skb per ``recvmsg(MSG_ERRQUEUE)``, an ``IP_RECVERR`` (``IPV6_RECVERR``) cmsg of
``struct sock_extended_err`` plus a zeroed offender address (``sockaddr_in``/``sockaddr_in6``),
``MSG_ERRQUEUE`` in the returned flags, EAGAIN when the queue is empty. A closed socket
(``SOCK_DEAD``) gets no completions. Not modelled: the optmem and RLIMIT_MEMLOCK limits
(ENOBUFS). See docs/kernel-facts.md, "TX (6.16+)".
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import struct
from collections import deque
from dataclasses import dataclass

from .. import uapi

__all__ = ["BYTE_LIMIT", "Uarg", "ZerocopyState", "errqueue_recvmsg"]

BYTE_LIMIT = 1 << 19  # msg_zerocopy_realloc: "limit to a few TSO"
LEN_LIMIT = 0xFFFF - 1  # USHRT_MAX - 1 calls per notification
_U32 = 1 << 32
_SOCKADDR_SIZE = {_socket.AF_INET: 16, _socket.AF_INET6: 28}


@dataclass
class Uarg:
    """``struct ubuf_info_msgzc``: the sendmsg calls ``id .. id+len-1`` and the stream bytes
    ``[start, end)`` they queued; completes when every byte up to ``end`` is acknowledged."""

    id: int
    len: int
    bytelen: int
    start: int
    end: int
    zerocopy: bool


class ZerocopyState:
    """One socket's ``sk_zckey``, its pending notifications and its error queue."""

    def __init__(self) -> None:
        self.zckey = 0
        self.pending: deque[Uarg] = deque()  # in stream order
        self.errqueue: deque[list[int]] = deque()  # [lo, hi, code] per error skb
        self.dead = False

    def __repr__(self) -> str:
        return (f"ZerocopyState(next_id={self.zckey}, pending={len(self.pending)}, "
                f"queued={[tuple(e) for e in self.errqueue]})")

    # ---- sendmsg side ---------------------------------------------------------------------
    def realloc(self, size: int, start: int, tail_unsent: bool, zerocopy: bool) -> Uarg:
        """``msg_zerocopy_realloc``: extend the notification of the previous call if its bytes
        are still the unsent tail of the write queue, else a new one with the next id."""
        last = self.pending[-1] if self.pending else None
        if last is not None and tail_unsent and last.end == start \
                and (last.id + last.len) % _U32 == self.zckey \
                and last.len < LEN_LIMIT and last.bytelen + size <= BYTE_LIMIT \
                and last.zerocopy == zerocopy:
            last.len += 1
            last.bytelen += size
            self.zckey = (self.zckey + 1) % _U32
            return last
        uarg = Uarg(self.zckey, 1, size, start, start, zerocopy)
        self.zckey = (self.zckey + 1) % _U32
        self.pending.append(uarg)
        return uarg

    def commit(self, uarg: Uarg, end: int) -> None:
        """The call queued stream bytes up to ``end`` under ``uarg``."""
        uarg.end = max(uarg.end, end)

    def abort(self, uarg: Uarg) -> None:
        """``msg_zerocopy_put_abort``: the call queued nothing; its id is given back."""
        self.zckey = (self.zckey - 1) % _U32
        uarg.len -= 1
        if uarg.len == 0:
            self.pending.remove(uarg)

    # ---- completion side ----------------------------------------------------------------
    def acked(self, snd_una: int) -> None:
        """Every notification whose bytes are all acknowledged completes, in order."""
        pending = self.pending
        while pending and pending[0].end <= snd_una and pending[0].end > pending[0].start:
            self._complete(pending.popleft())

    def purge(self) -> None:
        """``tcp_write_queue_purge`` (reset, timeout): the skbs are freed, all complete."""
        while self.pending:
            self._complete(self.pending.popleft())

    def close(self) -> None:
        """The socket is closed: ``SOCK_DEAD``, later completions are dropped."""
        self.dead = True
        self.pending.clear()
        self.errqueue.clear()

    def _complete(self, uarg: Uarg) -> None:
        """``__msg_zerocopy_callback`` + ``skb_zerocopy_notify_extend``."""
        if not uarg.len or self.dead:
            return
        lo, hi = uarg.id, (uarg.id + uarg.len - 1) % _U32
        code = 0 if uarg.zerocopy else uapi.SO_EE_CODE_ZEROCOPY_COPIED
        if self.errqueue:
            tail = self.errqueue[-1]
            old_lo, old_hi = tail[0], tail[1]
            total = (old_hi - old_lo) % _U32 + 1 + uarg.len
            if total < _U32 and lo == (old_hi + 1) % _U32:
                tail[1] = (old_hi + uarg.len) % _U32  # the tail keeps its ee_code
                return
        self.errqueue.append([lo, hi, code])

    @property
    def in_flight(self) -> list[tuple[int, int]]:
        """The sendmsg calls not completed yet, as ``(first, last)`` ranges."""
        return [(u.id, (u.id + u.len - 1) % _U32) for u in self.pending if u.len]


def errqueue_recvmsg(zc: ZerocopyState | None, family: int, bufsize: int, ancbufsize: int):
    """``recvmsg(MSG_ERRQUEUE)`` on a TCP socket (``inet_recv_error``): one completion.

    Returns ``(data, ancdata, msg_flags, address)`` as ``socket.recvmsg``: no data, one cmsg
    (cut short, with ``MSG_CTRUNC``, if ``ancbufsize`` is too small: ``put_cmsg``).

    Raises
    ------
    BlockingIOError
        EAGAIN: the error queue is empty (this read never blocks).
    """
    if zc is None or not zc.errqueue:
        raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
    lo, hi, code = zc.errqueue.popleft()
    ee = struct.pack("=IBBBBII", 0, uapi.SO_EE_ORIGIN_ZEROCOPY, 0, code, 0, lo, hi)
    payload = ee + bytes(_SOCKADDR_SIZE.get(family, 16))
    if family == _socket.AF_INET6:
        level, kind = uapi.SOL_IPV6, uapi.IPV6_RECVERR
    else:
        level, kind = uapi.SOL_IP, uapi.IP_RECVERR
    flags = uapi.MSG_ERRQUEUE
    hdr = _socket.CMSG_LEN(0)
    if ancbufsize < _socket.CMSG_LEN(len(payload)):
        flags |= uapi.MSG_CTRUNC
        if ancbufsize < hdr:
            return b"", [], flags, None
        payload = payload[:ancbufsize - hdr]
    return b"", [(level, kind, payload)], flags, None
