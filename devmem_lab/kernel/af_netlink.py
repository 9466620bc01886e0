"""``socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)`` on the emulated kernel: real bytes in and out.

Models ``net/netlink/af_netlink.c``: ``netlink_rcv_skb`` (each message of a datagram in
turn; messages without ``NLM_F_REQUEST`` or of a control type only acked), ``netlink_ack``
(errors echo the request unless ``NETLINK_CAP_ACK``; extack TLVs only with
``NETLINK_EXT_ACK``), ``netlink_dump`` (a dump is packed into datagrams of
``max(NLMSG_GOODSIZE, largest recv size seen, capped at 32 KiB - overhead)`` bytes, the next
one built when the previous is read, ``NLMSG_DONE`` appended when it fits) and
``netlink_recvmsg`` (one datagram per call, cut to the buffer size like ``MSG_TRUNC``) and
multicast membership (``NETLINK_ADD_MEMBERSHIP``/``NETLINK_DROP_MEMBERSHIP``, ``bind`` with a
group mask, ``NETLINK_LIST_MEMBERSHIPS``): notifications the kernel multicasts to a group the
socket is in queue up beside the replies, in the order the kernel sent them.
Closing the socket runs ``netdev_nl_sock_priv_destroy`` (``net/core/netdev-genl.c``): every
binding made on it is unbound.

Emulator only: ``fileno()`` is a real file descriptor (a pipe, readable while a datagram is
queued) so ``select`` works; a read with nothing queued raises ``BlockingIOError`` instead of
blocking forever.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket as _socket
import sys
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ..errors import DevmemError
from ..netlink import wire
from .netdev_genl import DoResult, GenlError

if TYPE_CHECKING:
    from .devmem import Binding
    from .dmabuf import DmaBufTable
    from .state import Kernel

__all__ = ["MAX_RECVMSG_LEN", "NLMSG_GOODSIZE", "NetlinkSocket"]

NLMSG_GOODSIZE = 3776  # SKB_WITH_OVERHEAD(PAGE_SIZE) on x86_64 (320-byte skb_shared_info)
MAX_RECVMSG_LEN = 32768 - 320  # SKB_WITH_OVERHEAD(32768): netlink_recvmsg caps the hint
GENL_NGROUPS = 64  # nlk->ngroups of NETLINK_GENERIC on the 6.18 reference machine (1..64)
NETLINK_DROP_MEMBERSHIP = 2
NETLINK_LIST_MEMBERSHIPS = 9
_SOCKET_LEVEL_OK = {_socket.SO_RCVBUF, _socket.SO_SNDBUF}


class NetlinkSocket:
    """A generic-netlink socket of the emulated kernel, used exactly like a real one.

    Parameters
    ----------
    kernel
        The emulated kernel that answers (its generic netlink is :attr:`Kernel.genl`).
    dmabufs
        The process's dma-buf file table, where bind-rx looks up its fd.
    cap_net_admin
        Whether the emulated process holds ``CAP_NET_ADMIN`` (it does by default, like
        root); ``False`` shows the EPERM of admin-perm ops such as bind-rx.
    """

    family = _socket.AF_NETLINK if hasattr(_socket, "AF_NETLINK") else 16
    type = _socket.SOCK_RAW
    proto = wire.NETLINK_GENERIC

    def __init__(self, kernel: Kernel, dmabufs: DmaBufTable, *,
                 cap_net_admin: bool = True) -> None:
        self.dmabufs = dmabufs
        self.cap_net_admin = bool(cap_net_admin)
        self._genl = kernel.genl
        self.portid = self._genl.alloc_portid()
        self.memberships: set[int] = set()  # multicast group ids (1..GENL_NGROUPS)
        self.ext_ack = False
        self.cap_ack = False
        self.strict_chk = False
        self.bindings: list[Binding] = []
        self._rx: deque[bytes] = deque()
        self._dump: _Dump | None = None
        self._max_recvmsg_len = 0
        self._timeout: float | None = None
        self._r, self._w = os.pipe()
        self.closed = False
        self._genl.add_socket(self)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"bindings={[b.id for b in self.bindings]}"
        return f"NetlinkSocket(portid={self.portid}, {state})"

    # ---- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Release the socket; every binding made on it is unbound (queues restart)."""
        if self.closed:
            return
        self.closed = True
        self.memberships.clear()  # netlink_release: no notification reaches it any more
        for binding in self.bindings:
            binding.unbind()
        self.bindings.clear()
        self._rx.clear()
        self._dump = None
        self._genl.free_portid(self.portid)
        os.close(self._r)
        os.close(self._w)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # like a real socket, dropping the last reference closes it
        with contextlib.suppress(OSError, AttributeError, TypeError):  # interpreter shutdown
            self.close()

    def fileno(self) -> int:
        """A real fd (the read end of a pipe, readable while a reply is queued); -1 if closed."""
        return -1 if self.closed else self._r

    def detach(self) -> int:  # pragma: no cover - socket.socket API parity
        raise DevmemError(errno.EOPNOTSUPP, "an emulated netlink socket cannot be detached")

    def _check_open(self) -> None:
        if self.closed:
            raise DevmemError(errno.EBADF)

    def _add_binding(self, binding: Binding) -> None:
        self.bindings.append(binding)

    def _deliver(self, msg: bytes) -> None:
        """A multicast datagram from the kernel (``netlink_broadcast``)."""
        if not self.closed:
            self._rx.append(msg)
            self._signal()

    @property
    def groups(self) -> int:
        """The first 32 groups as a bit mask (``nl_groups`` of ``getsockname``)."""
        return sum(1 << (g - 1) for g in self.memberships if g <= 32)

    # ---- addressing -----------------------------------------------------------------------
    def bind(self, address: tuple[int, int]) -> None:
        """``bind((pid, groups))``: pid 0 keeps the autobound port id; ``groups`` is the mask
        of groups 1-32 to be in (``netlink_bind`` replaces the first 32 memberships)."""
        self._check_open()
        pid, groups = address
        if pid not in (0, self.portid):
            raise DevmemError(errno.EINVAL, "explicit port ids are not emulated")
        self.memberships = {g for g in self.memberships if g > 32} | {
            i + 1 for i in range(32) if groups >> i & 1}

    def getsockname(self) -> tuple[int, int]:
        """``(portid, groups)`` as Python's netlink sockets report it."""
        self._check_open()
        return (self.portid, self.groups)

    def getpeername(self) -> tuple[int, int]:
        return (0, 0)

    # ---- options ------------------------------------------------------------------------------
    _OPTS: ClassVar[dict[int, str]] = {
        wire.NETLINK_EXT_ACK: "ext_ack", wire.NETLINK_CAP_ACK: "cap_ack",
        wire.NETLINK_GET_STRICT_CHK: "strict_chk"}

    def setsockopt(self, level: int, optname: int, value: Any) -> None:
        """``SOL_NETLINK`` options ``NETLINK_EXT_ACK``, ``NETLINK_CAP_ACK``,
        ``NETLINK_GET_STRICT_CHK``, ``NETLINK_ADD_MEMBERSHIP`` / ``NETLINK_DROP_MEMBERSHIP`` (a
        group id 1-64, else EINVAL, as this 6.18 kernel answers); ``SO_RCVBUF``/``SO_SNDBUF``
        are accepted and ignored. Others: ENOPROTOOPT."""
        self._check_open()
        if isinstance(value, (bytes, bytearray)):
            if len(value) < 4:
                raise DevmemError(errno.EINVAL)
            value = int.from_bytes(value[:4], sys.byteorder)
        if level == wire.SOL_NETLINK and optname in self._OPTS:
            setattr(self, self._OPTS[optname], bool(value))
            return
        if level == wire.SOL_NETLINK and optname in (wire.NETLINK_ADD_MEMBERSHIP,
                                                     NETLINK_DROP_MEMBERSHIP):
            # netlink_setsockopt: 0 or beyond ngroups is EINVAL; genl_bind accepts any other
            if not value or value > GENL_NGROUPS:
                raise DevmemError(errno.EINVAL)
            if optname == wire.NETLINK_ADD_MEMBERSHIP:
                self.memberships.add(value)
            else:
                self.memberships.discard(value)
            return
        if level == _socket.SOL_SOCKET and optname in _SOCKET_LEVEL_OK:
            return
        raise DevmemError(errno.ENOPROTOOPT)

    def getsockopt(self, level: int, optname: int, buflen: int = 0) -> int | bytes:
        self._check_open()
        if level == wire.SOL_NETLINK and optname in self._OPTS:
            return int(getattr(self, self._OPTS[optname]))
        if level == wire.SOL_NETLINK and optname == NETLINK_LIST_MEMBERSHIPS:
            mask = sum(1 << (g - 1) for g in self.memberships)  # u32 words, as many as fit
            if not buflen:
                return mask & 0xFFFFFFFF
            return mask.to_bytes(GENL_NGROUPS // 8, sys.byteorder)[:buflen - buflen % 4]
        raise DevmemError(errno.ENOPROTOOPT)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    # ---- sending: netlink_rcv_skb -------------------------------------------------------------
    def sendto(self, data: bytes, *args: Any) -> int:
        """``sendto(data, addr)`` or ``sendto(data, flags, addr)``; addr is ``(0, 0)``."""
        addr = args[-1] if args else (0, 0)
        if not isinstance(addr, tuple) or len(addr) != 2:
            raise TypeError("netlink address must be a (pid, groups) tuple")
        if addr[0] != 0:
            raise DevmemError(errno.ECONNREFUSED, "only the kernel (pid 0) is emulated")
        return self.send(data)

    def send(self, data: bytes, flags: int = 0) -> int:
        """Hand one datagram to the kernel; replies queue up for :meth:`recv`."""
        self._check_open()
        data = bytes(data)
        pos = 0
        while len(data) - pos >= wire.NLMSGHDR.size:
            length, mtype, mflags, seq, pid = wire.NLMSGHDR.unpack_from(data, pos)
            if length < wire.NLMSGHDR.size or length > len(data) - pos:
                break  # netlink_rcv_skb: silently stops
            raw = data[pos:pos + length]
            msg = wire.NlMsg(mtype, mflags, seq, pid, raw[wire.NLMSGHDR.size:], 0)
            self._rcv_one(msg, raw)
            pos += min(wire.nla_align(length), len(data) - pos)
        self._signal()
        return len(data)

    sendall = send

    def _rcv_one(self, msg: wire.NlMsg, raw: bytes) -> None:
        if not msg.flags & wire.NLM_F_REQUEST or msg.type < wire.NLMSG_MIN_TYPE:
            if msg.flags & wire.NLM_F_ACK:
                self._ack(raw, 0, None)
            return
        is_dump = msg.flags & wire.NLM_F_DUMP == wire.NLM_F_DUMP
        if is_dump and self._dump is not None:
            self._ack(raw, -errno.EBUSY, None)
            return
        try:
            result = self._genl.rcv_msg(self, msg)
        except GenlError as e:
            self._ack(raw, -e.errno, e)
            return
        if isinstance(result, DoResult):
            self._rx.extend(result.replies)
            if msg.flags & wire.NLM_F_ACK:
                self._ack(raw, 0, None)
            return
        self._dump = _Dump(self, msg.seq, result)
        self._dump_chunk()

    def _ack(self, raw: bytes, err: int, ext: GenlError | None) -> None:
        """``netlink_ack``."""
        tlvs = ext.tlvs(err != 0) if (ext is not None and self.ext_ack) else b""
        capped = err == 0 or self.cap_ack
        self._rx.append(wire.pack_error(err, raw, pid=self.portid, capped=capped, tlvs=tlvs))

    def _dump_chunk(self) -> None:
        """``netlink_dump``: one datagram of whole messages, then NLMSG_DONE when done."""
        d = self._dump
        if d is None:
            return
        cap = max(NLMSG_GOODSIZE, self._max_recvmsg_len)
        msgs = d.result.messages
        out = b""
        while d.next < len(msgs) and (not out or len(out) + len(msgs[d.next]) <= cap):
            out += msgs[d.next]
            d.next += 1
        if d.next == len(msgs):
            done = d.done()
            if not out or len(out) + len(done) <= cap:
                out += done
                self._dump = None
        self._rx.append(out)

    # ---- receiving -----------------------------------------------------------------------------
    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """One datagram, cut to ``bufsize`` (the rest is lost, as with a real socket).

        Raises
        ------
        BlockingIOError
            Nothing is queued (a real blocking socket would wait forever).
        """
        data, _ = self._recv(bufsize, flags)
        return data

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[int, int]]:
        return self.recv(bufsize, flags), (0, 0)

    def recvmsg(self, bufsize: int, ancbufsize: int = 0,
                flags: int = 0) -> tuple[bytes, list, int, tuple[int, int]]:
        """``recvmsg``: ``msg_flags`` has ``MSG_TRUNC`` when the datagram was cut."""
        data, truncated = self._recv(bufsize, flags)
        return data, [], _socket.MSG_TRUNC if truncated else 0, (0, 0)

    def _recv(self, bufsize: int, flags: int) -> tuple[bytes, bool]:
        self._check_open()
        if isinstance(bufsize, bool) or not isinstance(bufsize, int) or bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if not self._rx:
            raise BlockingIOError(errno.EAGAIN, "no netlink reply is queued (a real socket "
                                                "would block here)")
        if flags & _socket.MSG_PEEK:
            d = self._rx[0]
            return d[:bufsize], len(d) > bufsize
        self._max_recvmsg_len = min(max(self._max_recvmsg_len, bufsize), MAX_RECVMSG_LEN)
        d = self._rx.popleft()
        if self._dump is not None:  # netlink_recvmsg runs the next netlink_dump round
            self._dump_chunk()
        self._signal()
        return d[:bufsize], len(d) > bufsize

    def _signal(self) -> None:
        """Keep the pipe readable exactly while a datagram is queued (for select/poll)."""
        if self.closed:
            return
        os.set_blocking(self._r, False)
        try:
            while os.read(self._r, 4096):
                pass
        except BlockingIOError:
            pass
        if self._rx:
            os.write(self._w, b"\0")


class _Dump:
    """A dump in progress: its messages and how far :meth:`NetlinkSocket.recv` got."""

    def __init__(self, sock: NetlinkSocket, seq: int, result) -> None:
        self.sock = sock
        self.seq = seq
        self.result = result
        self.next = 0

    def done(self) -> bytes:
        """``netlink_dump_done``: the status, and extack TLVs with ``NETLINK_EXT_ACK``."""
        err = self.result.error
        tlvs = err.tlvs() if (err is not None and self.sock.ext_ack) else b""
        return wire.pack_done(self.seq, self.sock.portid, -err.errno if err else 0, tlvs=tlvs)
