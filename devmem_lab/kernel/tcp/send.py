"""``sendmsg(2)`` on an emulated TCP socket: ordinary, MSG_ZEROCOPY and devmem TX sends.

Models ``net/ipv4/tcp.c`` ``tcp_sendmsg_locked`` in the order of Linux 6.18:

1. ``sock_cmsg_send`` (``net/core/sock.c`` ``__sock_cmsg_send``): only ``SOL_SOCKET`` cmsgs are
   looked at; ``SCM_DEVMEM_DMABUF`` must be ``CMSG_LEN(4)`` (EINVAL) and sets the dma-buf id;
   ``SO_MARK`` must be ``CMSG_LEN(4)``; ``SCM_RIGHTS``/``SCM_CREDENTIALS`` are ignored; any
   other type is EINVAL. Its error is kept for step 5.
2. ``MSG_ZEROCOPY`` with ``SO_ZEROCOPY`` set and a non-empty send: a notification id
   (:mod:`devmem_lab.kernel.zerocopy`); with a dma-buf id, ``net_devmem_get_binding`` (EINVAL
   unknown id or an RX binding, ENODEV route through another device).
3. A dma-buf id without both ``MSG_ZEROCOPY`` and ``SO_ZEROCOPY``: EINVAL.
4. Not connected: a pending socket error, else EPIPE (``sk_stream_wait_connect``).
5. The cmsg error of step 1.
6. Queue the bytes: copied (ordinary), pinned (MSG_ZEROCOPY: the NIC reads the user buffer at
   transmit time; over loopback the receiver copies, so the completion says COPIED) or frags
   of the TX-bound dma-buf (:func:`devmem_lab.kernel.devmem_tx.fill_from_devmem`: EFAULT for an
   offset at or past its end).

Every error applies only if nothing was queued yet; otherwise sendmsg returns the bytes queued
(a short count) and the rest of the call is dropped. A fault trims back the step it happened
in (``skb_zerocopy_iter_stream``, ``skb_do_copy_data_nocache``): a whole skb (about 64 KiB)
for zerocopy and devmem sends, a page frag (32 KiB, counted from the start of the call: the
frag's real offset is not modelled) for copied ones. A call that queued nothing gives its
notification id back. Not modelled: send-buffer limits (the queue takes everything),
MSG_FASTOPEN, timestamping cmsgs (EINVAL here). See docs/kernel-facts.md, "TX (6.16+)".
"""

from __future__ import annotations

import errno
import socket as _socket
import struct
from typing import TYPE_CHECKING

import numpy as np

from ... import uapi
from ...errors import DevmemError
from ..devmem_tx import TxRegion, fill_from_devmem, get_binding, size_goal
from ..zerocopy import ZerocopyState

if TYPE_CHECKING:
    from .socket import TcpSocket

__all__ = ["cmsg_send", "sendmsg", "tx_inflight_niovs", "zerocopy_on"]

_SO_MARK = 36
COPY_STEP = 32768  # a copy step fills at most one page frag (SKB_FRAG_PAGE_ORDER: 32 KiB)
_SCM_RIGHTS, _SCM_CREDENTIALS = 1, 2


def zerocopy_on(sock) -> bool:
    """SO_ZEROCOPY is set (stored by ``kernel/sockopts.py``: 0 or 1)."""
    return sock._opts.get((uapi.SOL_SOCKET, uapi.SO_ZEROCOPY), 0) != 0


def cmsg_send(sock, ancdata, devmem_tx: bool) -> tuple[int, int]:
    """``sock_cmsg_send``: ``(error, dmabuf_id)``; error 0 if every cmsg was accepted."""
    dmabuf_id = 0
    for item in ancdata:
        level, kind, data = _cmsg_item(item)
        if level != uapi.SOL_SOCKET:
            continue
        if kind == uapi.SCM_DEVMEM_DMABUF and devmem_tx:
            if len(data) != 4:  # cmsg_len != CMSG_LEN(sizeof(u32))
                return errno.EINVAL, dmabuf_id
            dmabuf_id = struct.unpack("=I", data)[0]
        elif kind == _SO_MARK:
            if len(data) != 4:
                return errno.EINVAL, dmabuf_id
        elif kind in (_SCM_RIGHTS, _SCM_CREDENTIALS):
            continue
        else:
            return errno.EINVAL, dmabuf_id
    return 0, dmabuf_id


def _cmsg_item(item) -> tuple[int, int, bytes]:
    """One ``(level, type, data)`` entry, checked as ``socket.sendmsg`` checks it."""
    try:
        level, kind, data = item
    except (TypeError, ValueError):
        raise TypeError("sendmsg() argument 2 must be an iterable of (level, type, data) "
                        "tuples") from None
    for v in (level, kind):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"an integer is required (got type {type(v).__name__})")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'")
    return level, kind, bytes(data)


def _buffers(buffers) -> list:
    """Each item a ``DmabufIov`` or a flat byte view (``socket.sendmsg`` accepts any buffer)."""
    out = []
    try:
        items = list(buffers)
    except TypeError:
        raise TypeError("sendmsg() argument 1 must be an iterable") from None
    for b in items:
        if isinstance(b, uapi.DmabufIov):
            out.append(b)
            continue
        try:
            view = memoryview(b)
        except TypeError:
            raise TypeError(f"a bytes-like object is required, not '{type(b).__name__}'") \
                from None
        if view.ndim != 1 or view.itemsize != 1 or not view.c_contiguous:
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        out.append(view)
    return out


def sendmsg(sock: TcpSocket, buffers, ancdata=(), flags: int = 0, address=None) -> int:
    """``tcp_sendmsg_locked``; returns the bytes queued (see the module docstring)."""
    sock._check_open()
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise TypeError(f"an integer is required (got type {type(flags).__name__})")
    bufs = _buffers(buffers)
    ancdata = list(ancdata)
    size = sum(len(b) if isinstance(b, uapi.DmabufIov) else b.nbytes for b in bufs)
    kernel = sock.netns.kernel
    sockc_err, dmabuf_id = cmsg_send(sock, ancdata, kernel.version.devmem_tx) if ancdata \
        else (0, 0)
    zc = sock._zc
    uarg = binding = None
    zc_on = zerocopy_on(sock)
    if flags & uapi.MSG_ZEROCOPY and size and zc_on:
        if zc is None:
            zc = sock._zc = ZerocopyState()
        tail_unsent = sock.snd_nxt < sock.write_seq
        route = sock.route_dev
        uarg = zc.realloc(size, sock.write_seq, tail_unsent,
                          zerocopy=route is not None and route.kind == "nic")
        if not sockc_err and dmabuf_id:
            try:
                binding = get_binding(kernel, route, dmabuf_id)
            except DevmemError:
                zc.abort(uarg)
                raise
    try:
        if not sockc_err and dmabuf_id and not (flags & uapi.MSG_ZEROCOPY and zc_on):
            raise DevmemError(errno.EINVAL)
        sock._check_sendable()
        if sockc_err:
            raise DevmemError(sockc_err)
    except OSError:
        if uarg is not None:
            zc.abort(uarg)
        raise
    start = sock.write_seq
    err = _queue(sock, bufs, binding, uarg is not None)
    copied = sock.write_seq - start
    if uarg is not None:
        if copied:
            zc.commit(uarg, sock.write_seq)
        else:
            zc.abort(uarg)
    if err and not copied:
        raise DevmemError(err)
    sock._transmit()
    return copied


def _queue(sock: TcpSocket, bufs: list, binding, pinned: bool) -> int:
    """Append the call's bytes to the send queue; returns EFAULT if a buffer could not be
    read (a DmabufIov outside the bound dma-buf, or not in a devmem send), else 0."""
    chunks, starts = sock._snd_chunks, sock._snd_starts
    stats = sock.tx_stats
    if binding is not None:
        iovs = []
        for b in bufs:
            if not isinstance(b, uapi.DmabufIov):  # a user pointer: far past any dma-buf
                iovs.append((1 << 47, b.nbytes))
            else:
                iovs.append((b.offset, b.length))
        pieces, err = fill_from_devmem(binding, iovs, size_goal(sock.mss))
        mem = binding.dmabuf.mem
        for off, n in pieces:
            chunks.append(TxRegion(mem[off:off + n], stats, binding, off))
            starts.append(sock._write_seq)
            sock._write_seq += n
        return err
    pieces, err = [], 0
    for b in bufs:
        if isinstance(b, uapi.DmabufIov):  # iov_base = an offset: no user memory there
            if b.length:
                err = errno.EFAULT
                break
            continue
        if not b.nbytes:
            continue
        if pinned and not b.readonly:
            piece = TxRegion(b)  # MSG_ZEROCOPY: the NIC reads the user's pages later
        elif b.readonly and isinstance(b.obj, bytes):
            piece = b  # immutable: no copy needed
        else:
            piece = memoryview(bytes(b))  # the kernel copies
        pieces.append(piece)
    if err:  # the step that faulted is trimmed back: only whole earlier steps stay
        step = size_goal(sock.mss) if pinned else COPY_STEP
        keep = sum(p.nbytes for p in pieces) // step * step
        pieces = _cut(pieces, keep)
    for piece in pieces:
        chunks.append(piece)
        starts.append(sock._write_seq)
        sock._write_seq += piece.nbytes
    return err


def _cut(pieces: list, keep: int) -> list:
    out = []
    for p in pieces:
        if keep <= 0:
            break
        if p.nbytes > keep:
            p = (TxRegion(p.mem[:keep], p.stats, p.binding, p.offset) if isinstance(p, TxRegion)
                 else p[:keep])
        out.append(p)
        keep -= p.nbytes
    return out


def tx_inflight_niovs(binding, socks) -> np.ndarray:
    """The net_iovs of TX ``binding`` that unacked data in the send queues of ``socks``
    references (the NIC may still DMA-read them: a retransmission reads the dma-buf again),
    ascending. A region leaves the queue when it is wholly acked; its acked head no longer
    counts. Reads only ``_snd_chunks``, ``_snd_starts`` and ``snd_una`` of each socket."""
    out: set[int] = set()
    for sock in socks:
        una = sock.snd_una
        for start, chunk in zip(sock._snd_starts, sock._snd_chunks):
            if isinstance(chunk, TxRegion) and chunk.binding is binding \
                    and start + chunk.nbytes > una:
                out.update(chunk.niovs(max(0, una - start)))
    return np.array(sorted(out), dtype=np.int64)


def route_for(family: int, addr: str) -> str:
    """``"lo"`` for a loopback destination, else ``"nic"``."""
    if family == _socket.AF_INET6:
        return "lo" if addr == "::1" else "nic"
    return "lo" if addr.startswith("127.") else "nic"
