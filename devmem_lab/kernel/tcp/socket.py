"""Devmem TCP sockets: recvmsg(MSG_SOCK_DEVMEM), dmabuf cmsgs, SO_DEVMEM_DONTNEED.

Models ``net/ipv4/tcp.c`` (``tcp_recvmsg_locked``, ``tcp_recvmsg_dmabuf``, the per-socket
token xarray ``sk_user_frags``), ``net/core/sock.c`` (``sk_setsockopt``,
``sock_devmem_dontneed``) and ``net/core/scm.c`` (``put_cmsg_notrunc``), behind the method
names of Python's ``socket.socket``.

The transport under it is a small TCP: MSS-sized segments over the lab's link, delivered in
NAPI-sized bursts (a burst arrives when its last packet has), cumulative ACKs with SACK blocks,
a receive window, an out-of-order queue (whose skbs keep their net_iovs, as in the kernel),
fast retransmit of SACK holes (RFC 6675 DupThresh of 3 segments), a 2 ms tail-loss probe,
then RTO from 200 ms doubling, and "connection timed out" after 15 retries
(``tcp_retries2``). Differs from the kernel: no congestion control or pacing; every SACK
block is reported; the token xarray is a numpy table indexed by token (same lowest-free
allocation), so a read hands out and a DONTNEED takes back many tokens in one step.
"""

from __future__ import annotations

import bisect
import errno
import os
import socket as _socket
import struct
from collections import deque
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ... import uapi
from ...errors import DevmemError
from .. import sockopts
from ..devmem import as_index
from ..nic.device import FlowKey
from ..nic.rx import Skb, header_len, receive_burst
from ..zerocopy import errqueue_recvmsg
from . import send as tcp_send

if TYPE_CHECKING:
    from ..netns import NetNamespace

__all__ = ["TcpSocket", "UdpSocket", "make_socket"]

TCP_RTO_MIN_NS = 200_000_000
TLP_PTO_NS = 2_000_000  # tail loss probe: 2 jiffies at HZ=1000 (TCP_TIMEOUT_MIN), >> 2*RTT here
TCP_RTO_MAX_NS = 120_000_000_000
TCP_RETRIES2 = 15
DEFAULT_RCVBUF = 512 << 10  # where autotuning settles for this link's BDP; window = rcvbuf
NAPI_BUDGET = 64  # packets a NAPI poll handles (interrupt coalescing): one event, one ACK
_U32 = 0xFFFFFFFF
_WILDCARD = ("", "::", "0.0.0.0")  # bind() addresses meaning "any of this host's"
_LOOPBACK = ("127.0.0.1", "::1")
_CMSG = struct.Struct("=QIIII")  # struct dmabuf_cmsg (see uapi.DmabufCmsg)
_CMSG_DTYPE = np.dtype([("frag_offset", "=u8"), ("frag_size", "=u4"), ("frag_token", "=u4"),
                        ("dmabuf_id", "=u4"), ("flags", "=u4")])  # the same, many at a time
_CMSG_RAW = struct.Struct(f"{_CMSG.size}s")  # one cmsg's data, as bytes
_TOKEN_DTYPE = np.dtype([("token_start", "=u4"), ("token_count", "=u4")])  # dmabuf_token
_CMSG_LEN_DMABUF = _socket.CMSG_LEN(uapi.DMABUF_CMSG_SIZE)
_CMSG_SPACE_DMABUF = _socket.CMSG_SPACE(uapi.DMABUF_CMSG_SIZE)
_SOCK_NONBLOCK = getattr(_socket, "SOCK_NONBLOCK", 0o4000)
_SOCK_CLOEXEC = getattr(_socket, "SOCK_CLOEXEC", 0o2000000)

MSG_OOB, MSG_ERRQUEUE = 0x1, uapi.MSG_ERRQUEUE
_SO_TYPE, _SO_ERROR, _SO_RCVBUF, _SO_BINDTODEVICE, _SO_RCVLOWAT = 3, 4, 8, 25, 18


def make_socket(netns: NetNamespace, family: int, type: int, proto: int = 0):
    """``socket(2)`` in ``netns``: TCP or UDP over IPv4/IPv6."""
    for name, v in (("family", family), ("type", type), ("proto", proto)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"socket {name} must be an int, not {type_name(v)}")
    if family not in (_socket.AF_INET, _socket.AF_INET6):
        raise DevmemError(errno.EAFNOSUPPORT)
    base = type & ~(_SOCK_NONBLOCK | _SOCK_CLOEXEC)
    if base == _socket.SOCK_STREAM and proto in (0, _socket.IPPROTO_TCP):
        sock = TcpSocket(netns, family, base, _socket.IPPROTO_TCP)
    elif base == _socket.SOCK_DGRAM and proto in (0, _socket.IPPROTO_UDP):
        sock = UdpSocket(netns, family, base, _socket.IPPROTO_UDP)
    elif base in (_socket.SOCK_STREAM, _socket.SOCK_DGRAM):
        raise DevmemError(errno.EPROTONOSUPPORT)
    else:
        raise DevmemError(errno.ESOCKTNOSUPPORT)
    if type & _SOCK_NONBLOCK:
        sock.setblocking(False)
    netns.sockets.append(sock)
    return sock


def type_name(v: object) -> str:
    return type(v).__name__


def _check_int(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type_name(v)}")
    return v


class _Socket:
    """What every emulated socket shares: options, timeouts, context manager, close."""

    def __init__(self, netns: NetNamespace, family: int, type: int, proto: int) -> None:
        self.netns = netns
        self.family = family
        self.type = type
        self.proto = proto
        self._timeout: float | None = None
        self._closed = False
        self._opts: dict[tuple[int, int], int] = {}  # option values as stored (sockopts)
        self.bound_device = b""  # SO_BINDTODEVICE
        self._err = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else getattr(self, "state", "open")
        fam = "AF_INET6" if self.family == _socket.AF_INET6 else "AF_INET"
        kind = "SOCK_STREAM" if self.type == _socket.SOCK_STREAM else "SOCK_DGRAM"
        return f"<emulated socket {fam} {kind} {state} on {self.netns.name}>"

    def _check_open(self) -> None:
        if self._closed:
            raise DevmemError(errno.EBADF)

    # ---- blocking mode, as socket.socket ---------------------------------------------------
    def settimeout(self, value: float | None) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError("Timeout value must be int, float or None")
            if value < 0:
                raise ValueError("Timeout value out of range")
            value = float(value)
        self._check_open()  # Python's fcntl on a closed fd: EBADF
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._check_open()
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    # ---- options ------------------------------------------------------------------------
    def setsockopt(self, level: int, optname: int, value: int | bytes | None,
                   optlen: int | None = None) -> int | None:
        """``setsockopt(2)``; returns the kernel's return value for SO_DEVMEM_DONTNEED.

        Raises
        ------
        OSError
            EINVAL (option shorter than an int; DONTNEED length not a multiple of 8 or over
            128 ranges), EFAULT (a NULL optval of at least 4 bytes), EBADF (DONTNEED on a
            socket that is not TCP), ENOPROTOOPT (an option the kernel does not set, e.g.
            SO_DEVMEM_LINEAR / SO_DEVMEM_DMABUF). Generic options: ``devmem_lab.sockopts``.
        """
        self._check_open()
        _check_int("level", level)
        _check_int("option", optname)
        null = value is None  # a NULL optval: the kernel's copy_from_sockptr fails (EFAULT)
        if null:
            if optlen is None:
                raise TypeError("setsockopt() takes an int or a buffer, or None with optlen")
            data = b"\0" * _check_int("optlen", optlen)
        elif optlen is not None:
            raise TypeError("optlen goes only with a None value")
        elif isinstance(value, int):  # bool included, as socket.setsockopt takes it
            data = struct.pack("i", int(value))
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
        else:
            raise TypeError(f"a bytes-like object or int is required, not {type_name(value)}")
        if level == uapi.SOL_SOCKET:
            if optname == _SO_BINDTODEVICE:
                name = data.split(b"\0", 1)[0].decode(errors="replace")
                if name and self.netns.kernel.device_by_name(name) is None:
                    raise DevmemError(errno.ENODEV)
                self.bound_device = data.split(b"\0", 1)[0]
                return None
            if len(data) < 4:  # sk_setsockopt: optlen < sizeof(int), before any option
                raise DevmemError(errno.EINVAL)
            if null:  # ... then copy_from_sockptr(&val, optval, sizeof(int))
                raise DevmemError(errno.EFAULT)
            if optname == uapi.SO_DEVMEM_DONTNEED:
                return self._devmem_dontneed(data)
        if not sockopts.set_option(self, level, optname, data, null):
            raise DevmemError(errno.ENOPROTOOPT)
        return None

    def getsockopt(self, level: int, optname: int, buflen: int = 0) -> int | bytes:
        """``getsockopt(2)``: devmem options are not readable (ENOPROTOOPT), as in the kernel."""
        self._check_open()
        _check_int("level", level)
        _check_int("option", optname)
        if level == uapi.SOL_SOCKET and optname == _SO_TYPE:
            value = self.type
        elif level == uapi.SOL_SOCKET and optname == _SO_ERROR:
            value, self._err = self._err, 0
        elif level == uapi.SOL_SOCKET and optname == _SO_RCVBUF and self.type == _socket.SOCK_STREAM:
            value = getattr(self, "rcvbuf", DEFAULT_RCVBUF)
        else:
            value = sockopts.get_option(self, level, optname)
            if value is None:
                raise DevmemError(errno.ENOPROTOOPT)
        return struct.pack("i", value)[:min(buflen, 4)] if buflen else value

    def _set_rcvbuf(self, value: int) -> None:
        pass

    def _devmem_dontneed(self, data: bytes) -> int:
        raise DevmemError(errno.EBADF)  # sock_devmem_dontneed: !sk_is_tcp(sk)

    def close(self) -> None:
        self._closed = True

    def _wait_nothing(self) -> None:
        """Let a ``settimeout`` deadline pass on the virtual clock, then ``TimeoutError``."""
        self.netns.link.run(self._timeout)
        raise TimeoutError("timed out")


class UdpSocket(_Socket):
    """A UDP socket: enough to show what devmem calls do on a socket that is not TCP."""

    state = "unconnected"

    def bind(self, address: tuple) -> None:
        self._check_open()

    def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0):
        self._check_open()
        if self._timeout:  # Python's poll() first: nothing ever makes it readable
            self._wait_nothing()
        if flags & uapi.MSG_ERRQUEUE:  # ip_recv_error: nothing queued on UDP here
            return errqueue_recvmsg(None, self.family, bufsize, ancbufsize)
        if self._timeout == 0.0 or flags & uapi.MSG_DONTWAIT:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        raise BlockingIOError(errno.EAGAIN, "recvmsg would block forever: nothing is sent to "
                                            "this UDP socket in the lab")

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if bufsize == 0:  # CPython's sock_recv: no syscall for 0 bytes
            return b""
        return self.recvmsg(bufsize, 0, flags)[0]


class TcpSocket(_Socket):
    """An emulated TCP socket with the devmem receive path."""

    def __init__(self, netns: NetNamespace, family: int, type: int, proto: int) -> None:
        super().__init__(netns, family, type, proto)
        self.state = "CLOSE"
        self.local: tuple[str, int] | None = None
        self.remote: tuple[str, int] | None = None
        self.peer: TcpSocket | None = None
        self.rcvbuf = DEFAULT_RCVBUF
        # the segment size: MTU less the IP and TCP (with timestamps) headers
        self.mss = netns.nic.mtu - header_len(6 if family == _socket.AF_INET6 else 4) + 14
        self._backlog: deque[TcpSocket] = deque()
        # receive side
        self._rq: deque[Skb] = deque()
        self._rq_off = 0
        self._rq_bytes = 0
        self.rcv_nxt = 0
        self._fin_rcvd = False
        self._rd_shut = False  # sk_shutdown & RCV_SHUTDOWN
        self._flow_in: FlowKey | None = None
        self._ooo: dict[int, Skb] = {}  # out-of-order queue, by sequence number
        self._ooo_bytes = 0
        self._adv_rwnd = DEFAULT_RCVBUF  # the window in the last ACK sent
        # sk_user_frags: token -> net_iov (-1: free) and the binding it belongs to
        self._tok_niov = np.full(64, -1, dtype=np.int64)
        self._tok_bind = np.zeros(64, dtype=np.int64)  # index into _tok_bindings
        self._tok_bindings: list = []
        self._tok_next = 1  # every token >= this one is free
        self._tok_lo = 1  # every token below this one is held
        self._tok_count = 0
        # send side: the unacknowledged stream, as the buffers send() was given
        self._snd_chunks: list[memoryview] = []
        self._snd_starts: list[int] = []  # stream offset of each chunk
        self._write_seq = 0
        self.snd_una = 0
        self.snd_nxt = 0
        self._fin_queued = False
        self._fin_sent = False
        self._peer_rwnd = DEFAULT_RCVBUF
        self._rto_ns = TLP_PTO_NS
        self._retries = 0
        self._sacked: list[tuple[int, int]] = []  # SACK scoreboard (merged, ascending)
        self._rexmitted: list[tuple[int, int]] = []  # resent since the last timer
        self._timer_gen = 0
        self._timer_armed = False
        self.retransmits = 0
        self.route_dev = None  # the device the connection's route goes through (eth1 or lo)
        self._zc = None  # MSG_ZEROCOPY notifications and error queue (zerocopy.py)

    # ---- addresses and connection set-up -------------------------------------------------
    def _parse_addr(self, address: object) -> tuple[str, int]:
        if not isinstance(address, tuple) or len(address) < 2:
            want = "(host, port, flowinfo, scope_id)" if self.family == _socket.AF_INET6 \
                else "(host, port)"
            raise TypeError(f"address must be a tuple {want}, got {address!r}")
        addr, port = address[0], address[1]
        if not isinstance(addr, str):
            raise TypeError(f"host must be a str, not {type_name(addr)}")
        _check_int("port", port)
        if not 0 <= port <= 0xFFFF:
            raise OverflowError("port must be 0-65535.")
        return addr, port

    def _own_address(self) -> str:
        return self.netns.address if self.family == _socket.AF_INET6 else self.netns.address4

    def bind(self, address: tuple) -> None:
        """``bind(2)``: own address or wildcard; EADDRINUSE, EADDRNOTAVAIL, EINVAL."""
        self._check_open()
        addr, port = self._parse_addr(address)
        if self.local is not None:
            raise DevmemError(errno.EINVAL)
        if addr not in _WILDCARD + _LOOPBACK and addr not in (self.netns.address,
                                                              self.netns.address4):
            raise DevmemError(errno.EADDRNOTAVAIL)
        if port == 0:
            port = self._ephemeral_port()
        elif port in self.netns.ports:
            raise DevmemError(errno.EADDRINUSE)
        self.local = (addr, port)
        self.netns.ports[port] = self

    def _ephemeral_port(self) -> int:
        while True:
            port = self.netns.link.rng.randrange(32768, 61000)
            if port not in self.netns.ports:
                return port

    def listen(self, backlog: int = 128) -> None:
        self._check_open()
        if self.local is None:
            self.bind(("", 0))
        self.state = "LISTEN"

    def accept(self):
        """``accept(2)``: ``(socket, address)`` once a client has connected."""
        self._check_open()
        if self.state != "LISTEN":
            raise DevmemError(errno.EINVAL)
        self._wait(lambda: bool(self._backlog), "accept")
        conn = self._backlog.popleft()
        return conn, self._addr_tuple(conn.remote)

    def _addr_tuple(self, addr: tuple[str, int]) -> tuple:
        return (addr[0], addr[1], 0, 0) if self.family == _socket.AF_INET6 else addr

    def connect(self, address: tuple) -> None:
        """``connect(2)`` to a listening socket on the other host (ECONNREFUSED if none)."""
        self._check_open()
        addr, port = self._parse_addr(address)
        if self.state != "CLOSE":
            raise DevmemError(errno.EISCONN)
        target = self.netns.link.netns_by_address(addr)
        loop = tcp_send.route_for(self.family, addr) == "lo" or target is self.netns
        if loop:  # a local address: the route goes through lo
            target = self.netns
        if target is None:
            raise DevmemError(errno.ENETUNREACH)
        is_v6 = ":" in addr
        if is_v6 != (self.family == _socket.AF_INET6):
            raise DevmemError(errno.EAFNOSUPPORT if not is_v6 else errno.EINVAL)
        listener = target.ports.get(port)
        if not isinstance(listener, TcpSocket) or listener.state != "LISTEN" \
                or listener._closed or listener.family != self.family:
            raise DevmemError(errno.ECONNREFUSED)
        if self.local is None:
            self.bind(("", 0))
        src = addr if loop else self._own_address()
        conn = TcpSocket(target, self.family, self.type, self.proto)
        self.route_dev = self.netns.kernel.device(1) if loop else self.netns.nic
        conn.route_dev = target.kernel.device(1) if loop else target.nic
        if loop:
            self.mss = conn.mss = self.route_dev.mtu - header_len(6 if is_v6 else 4) + 14
        target.sockets.append(conn)
        conn.local, conn.remote = (addr, port), (src, self.local[1])
        self.local, self.remote = (src, self.local[1]), (addr, port)
        fam = 6 if is_v6 else 4
        conn._flow_in = FlowKey(fam, src, addr, self.local[1], port)
        self._flow_in = FlowKey(fam, addr, src, port, self.local[1])
        self.peer, conn.peer = conn, self
        self.state = conn.state = "ESTABLISHED"
        conn.rcvbuf = listener.rcvbuf  # accepted sockets inherit SO_RCVBUF
        self._peer_rwnd, conn._peer_rwnd = conn.rcvbuf, self.rcvbuf
        listener._backlog.append(conn)

    def getsockname(self) -> tuple:
        self._check_open()
        if self.local is None:
            return ("::", 0, 0, 0) if self.family == _socket.AF_INET6 else ("0.0.0.0", 0)
        return self._addr_tuple(self.local)

    def getpeername(self) -> tuple:
        self._check_open()
        if self.remote is None:
            raise DevmemError(errno.ENOTCONN)
        return self._addr_tuple(self.remote)

    def _set_rcvbuf(self, value: int) -> None:
        self.rcvbuf = value  # already clamped to rmem_max and doubled (sockopts.set_option)

    # ---- waiting on the virtual clock -----------------------------------------------------
    def _wait(self, ready, what: str, flags: int = 0) -> None:
        if ready():
            return
        link = self.netns.link
        if self._timeout == 0.0 or flags & uapi.MSG_DONTWAIT:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        deadline = None if self._timeout is None else link.now_ns + int(self._timeout * 1e9)
        if link.run_until(ready, deadline):
            link.run(link.wakeup_ns / 1e9)  # the reader is scheduled a little after the data
            return
        if deadline is not None:
            raise TimeoutError("timed out")
        raise BlockingIOError(errno.EAGAIN, self._forever_message(what))

    def _forever_message(self, what: str) -> str:
        msg = f"{what} would block forever: nothing more can arrive in the lab"
        drops = sum(q.stats.alloc_fail for q in self.netns.nic.rx_queues)
        if drops:
            msg += (f" (the NIC dropped {drops} packets for lack of a free net_iov: return "
                    "tokens with SO_DEVMEM_DONTNEED)")
        return msg

    # ---- sending ----------------------------------------------------------------------------
    def send(self, data: bytes, flags: int = 0) -> int:
        self._check_open()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"a bytes-like object is required, not '{type_name(data)}'")
        if self._err:  # a reset or a timeout is reported once...
            err, self._err = self._err, 0
            raise DevmemError(err)
        if self.peer is None:
            raise DevmemError(errno.ENOTCONN)
        if self._fin_queued or self.state not in ("ESTABLISHED", "CLOSE_WAIT"):
            raise DevmemError(errno.EPIPE)  # ...then the pipe is broken
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1 or not view.c_contiguous:
            view = memoryview(view.tobytes())
        if not (view.readonly and isinstance(view.obj, bytes)):
            view = memoryview(bytes(view))  # the kernel copies; immutable bytes need not be
        if view.nbytes:
            self._snd_chunks.append(view)
            self._snd_starts.append(self._write_seq)
            self._write_seq += view.nbytes
        self._transmit()
        return view.nbytes

    def sendall(self, data: bytes, flags: int = 0) -> None:
        self.send(data, flags)

    def sendmsg(self, buffers, ancdata=(), flags: int = 0, address=None) -> int:
        """``sendmsg(2)`` as ``socket.sendmsg``: bytes-like buffers, or ``uapi.DmabufIov``
        offsets with an ``SCM_DEVMEM_DMABUF`` cmsg for devmem TX; MSG_ZEROCOPY completions
        come on the error queue (``recvmsg(0, n, MSG_ERRQUEUE)``). See :mod:`.tcp_send`."""
        return tcp_send.sendmsg(self, buffers, ancdata, flags, address)

    def _check_sendable(self) -> None:
        """``tcp_sendmsg_locked`` before queueing: a pending error once, then EPIPE."""
        if self._err:
            err, self._err = self._err, 0
            raise DevmemError(err)
        if self._fin_queued or self.state not in ("ESTABLISHED", "CLOSE_WAIT"):
            raise DevmemError(errno.EPIPE)

    @property
    def tx_stats(self):
        """Counters of the tx queue this connection's packets leave by (XPS by flow hash)."""
        dev = self.route_dev or self.netns.nic
        if self._flow_in is None:
            return dev.tx_queues[0].stats
        return dev.tx_queues[dev.rss_hash(self._flow_in) % len(dev.tx_queues)].stats

    @property
    def write_seq(self) -> int:
        return self._write_seq

    def _payload(self, start: int, end: int):
        """Stream bytes ``[start, end)``: a slice of one send buffer, or joined across them."""
        starts, chunks = self._snd_starts, self._snd_chunks
        i = bisect.bisect_right(starts, start) - 1
        off = start - starts[i]
        if end - starts[i] <= chunks[i].nbytes:
            return chunks[i][off:end - starts[i]]
        parts = []
        while start < end:
            take = min(end, starts[i] + chunks[i].nbytes)
            parts.append(chunks[i][start - starts[i]:take - starts[i]])
            start = take
            i += 1
        return b"".join(parts)

    def _drop_acked(self) -> None:
        chunks, starts = self._snd_chunks, self._snd_starts
        n = 0
        while n < len(chunks) and starts[n] + chunks[n].nbytes <= self.snd_una:
            n += 1
        if n:
            del chunks[:n], starts[:n]

    def _transmit(self) -> None:
        """Send new data as far as the peer's window allows, then a queued FIN."""
        if self.peer is None:
            return
        end = self.write_seq
        limit = min(end, self.snd_una + self._peer_rwnd)
        if limit < end:  # sender silly-window avoidance: only whole segments until the end
            limit = self.snd_nxt + (limit - self.snd_nxt) // self.mss * self.mss
        if limit > self.snd_nxt:
            self._emit([(self.snd_nxt, limit)])
            self.snd_nxt = limit
        if self._fin_queued and not self._fin_sent and self.snd_nxt == end:
            self._send_fin(end)
            self.snd_nxt = end + 1
        self._arm_timer()

    def _send_fin(self, seq: int) -> None:
        self._fin_sent = True
        link = self.netns.link
        link.schedule_at(link.wire(self.netns, header_len(self._flow_in.family)),
                        partial(self.peer._on_fin, seq))

    def _emit(self, ranges: list[tuple[int, int]]) -> int:
        """Put ``[start, end)`` ranges of the stream on the wire in MSS-sized segments.

        The peer's NIC takes them NAPI_BUDGET at a time: one event per poll, at the arrival of
        its last packet, carrying ``(seq, payload, mss)`` runs. Returns the segments sent.
        """
        link, peer, mss = self.netns.link, self.peer, self.mss
        hdr = header_len(self._flow_in.family)
        loop = self.route_dev is not None and self.route_dev.kind != "nic"
        runs: list[tuple] = []
        nseg = arrival = pkts = nbytes = 0
        for seq, stop in ranges:
            while seq < stop:
                k = min(NAPI_BUDGET - nseg, -(-(stop - seq) // mss))
                end = min(stop, seq + k * mss)
                runs.append((seq, self._payload(seq, end), mss))
                arrival = link.now_ns if loop else link.wire_run(
                    self.netns, mss + hdr, k - 1, end - seq - (k - 1) * mss + hdr)
                nseg += k
                pkts += k
                nbytes += end - seq + k * hdr
                seq = end
                if nseg == NAPI_BUDGET:
                    link.schedule_at(arrival, partial(peer._on_burst, runs))
                    runs, nseg = [], 0
        if runs:
            link.schedule_at(arrival, partial(peer._on_burst, runs))
        if pkts:
            st = self.tx_stats
            st.packets += pkts
            st.bytes += nbytes
        return pkts

    # ---- loss recovery: SACK scoreboard, fast retransmit, TLP then RTO -------------------------
    def _holes(self) -> list[tuple[int, int]]:
        """Unsacked ranges below the highest SACKed byte (RFC 6675 'lost' once DupThresh met)."""
        holes, at = [], self.snd_una
        for a, b in self._sacked:
            if a > at:
                holes.append((at, a))
            at = max(at, b)
        return holes

    def _arm_timer(self) -> None:
        if self._timer_armed or self.snd_una >= self.snd_nxt or self._err:
            return
        self._timer_armed = True
        gen = self._timer_gen
        self.netns.link.schedule(self._rto_ns, partial(self._on_timeout, gen))

    def _on_timeout(self, gen: int) -> None:
        """TLP probe first (2 ms), then RTO from 200 ms doubling; give up after tcp_retries2."""
        if gen != self._timer_gen:
            return
        self._timer_armed = False
        if self.snd_una >= self.snd_nxt:
            return
        self._retries += 1
        if self._retries > TCP_RETRIES2:
            self._err = errno.ETIMEDOUT
            if self._zc is not None:  # tcp_write_err: tcp_write_queue_purge
                self._zc.purge()
            return
        data_end = min(self.snd_nxt, self.write_seq)
        top = self._sacked[-1][1] if self._sacked else self.snd_una
        lost = self._holes() + ([(top, data_end)] if data_end > top else [])
        self.retransmits += self._emit(lost)
        self._rexmitted = lost
        if self._fin_sent and self.snd_una <= self.write_seq and self.snd_nxt > self.write_seq:
            self._send_fin(self.write_seq)
        self._rto_ns = TCP_RTO_MIN_NS if self._rto_ns < TCP_RTO_MIN_NS else \
            min(2 * self._rto_ns, TCP_RTO_MAX_NS)
        self._timer_gen += 1
        self._arm_timer()

    def _on_ack(self, ack: int, rwnd: int, sack: tuple = ()) -> None:
        self._peer_rwnd = rwnd
        if ack > self.snd_una:
            self.snd_una = ack
            self._drop_acked()
            if self._zc is not None:  # MSG_ZEROCOPY: acknowledged data completes
                self._zc.acked(ack)
            self.snd_nxt = max(self.snd_nxt, ack)
            self._retries = 0
            self._rto_ns = TLP_PTO_NS
            self._timer_gen += 1
            self._timer_armed = False
            self._rexmitted = [(a, b) for a, b in self._rexmitted if b > ack]
            self._maybe_done()
        self._sacked = [r for r in sack if r[1] > self.snd_una]
        holes = self._holes()
        if holes and sum(b - max(a, holes[0][1]) for a, b in self._sacked) >= 3 * self.mss:
            todo = _subtract(holes, self._rexmitted)
            if todo:  # fast retransmit of what SACK shows missing, once per loss
                self.retransmits += self._emit(todo)
                self._rexmitted = sorted(self._rexmitted + todo)
        self._transmit()

    # ---- receiving (softirq side) -----------------------------------------------------------
    def _rwnd(self) -> int:
        return max(0, self.rcvbuf - self._rq_bytes - self._ooo_bytes)

    def _sack_blocks(self) -> tuple:
        """Merged ranges held in the out-of-order queue; stale or overlapping entries go."""
        blocks: list[list[int]] = []
        for seq in sorted(self._ooo):
            skb = self._ooo[seq]
            if seq < self.rcv_nxt or (blocks and seq < blocks[-1][1]):
                del self._ooo[seq]
                self._ooo_bytes -= skb.length
                skb.free()
            elif blocks and seq == blocks[-1][1]:
                blocks[-1][1] += skb.length
            else:
                blocks.append([seq, seq + skb.length])
        return tuple((a, b) for a, b in blocks)

    def _send_ack(self) -> None:
        peer = self.peer
        if peer is not None:
            sack = self._sack_blocks() if self._ooo else ()
            self._adv_rwnd = self._rwnd()
            self.netns.link.schedule(self.netns.link.delay_ns,
                                   partial(peer._on_ack, self.rcv_nxt, self._adv_rwnd, sack))

    def _on_burst(self, runs: list[tuple]) -> None:
        """One NAPI poll: the NIC places the segments, TCP queues them in order or out of order
        (holding their net_iovs until the hole is filled), then one ACK with SACK blocks."""
        if self._closed or (self._rd_shut and self._fin_sent):
            self._abort_on_data(runs)
            return
        ooo = self._ooo
        for skb in receive_burst(self.route_dev or self.netns.nic, self._flow_in, runs):
            if skb.seq == self.rcv_nxt and not ooo and not self._closed \
                    and not self._fin_rcvd:  # the common case: in order, nothing pending
                self._append_in_order(skb)
                continue
            for seg in skb.segments():
                self._queue_segment(seg)
        self._send_ack()

    def _queue_segment(self, skb: Skb) -> None:
        ooo = self._ooo
        seq = skb.seq
        if self._closed or self._fin_rcvd or seq < self.rcv_nxt or seq in ooo:
            skb.free()  # duplicate (or nobody left to read it)
        elif seq > self.rcv_nxt:
            ooo[seq] = skb
            self._ooo_bytes += skb.length
        else:
            self._append_in_order(skb)
            while self.rcv_nxt in ooo:  # the hole is filled: the queued run follows
                nxt = ooo.pop(self.rcv_nxt)
                self._ooo_bytes -= nxt.length
                self._append_in_order(nxt)

    def _append_in_order(self, skb: Skb) -> None:
        self._rq.append(skb)
        self._rq_bytes += skb.length
        self.rcv_nxt += skb.length

    def _maybe_done(self) -> None:
        """Both FINs exchanged and ours acked (LAST_ACK acked, or FIN_WAIT2/CLOSING into
        TIME_WAIT, whose socket is ``tcp_done``): the socket is CLOSE, shutdown is ENOTCONN."""
        if self._fin_sent and self._fin_rcvd and self.snd_una > self.write_seq:
            self.state = "CLOSE"

    def _on_fin(self, seq: int) -> None:
        if seq == self.rcv_nxt and not self._fin_rcvd:
            self._fin_rcvd = True
            self.rcv_nxt += 1
            if self.state == "ESTABLISHED":
                self.state = "CLOSE_WAIT"
            self._maybe_done()
        self._send_ack()

    def _abort_on_data(self, runs: list[tuple]) -> None:
        """New data for a socket that can no longer read it (closed, or FIN_WAIT after
        ``shutdown(SHUT_RD)``): the packets are dropped and both ends reset
        (``tcp_rcv_state_process``: TCPABORTONDATA, then ``tcp_v4_send_reset``)."""
        for skb in receive_burst(self.netns.nic, self._flow_in, runs):
            skb.free()
        if self.peer is not None and self.state != "CLOSE":
            if not self._closed:
                self._on_reset()
            self.netns.link.schedule(self.netns.link.delay_ns, self.peer._on_reset)
            self.state = "CLOSE"

    def _on_reset(self) -> None:
        # tcp_reset: EPIPE in CLOSE_WAIT (the peer had already sent its FIN), else ECONNRESET
        self._err = errno.EPIPE if self.state == "CLOSE_WAIT" else errno.ECONNRESET
        self.state = "CLOSE"
        self._timer_gen += 1
        if self._zc is not None:  # tcp_reset: tcp_write_queue_purge frees the send queue
            self._zc.purge()

    # ---- recvmsg -----------------------------------------------------------------------------
    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """``recv(2)``: ``recvmsg`` without a control buffer."""
        if isinstance(bufsize, int) and bufsize == 0:
            return b""  # CPython's sock_recv returns at once for 0 bytes (no syscall)
        return self.recvmsg(bufsize, 0, flags)[0]

    def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0):
        """``recvmsg(2)`` with the devmem rules of ``tcp_recvmsg_locked``.

        Returns ``(data, ancdata, msg_flags, address)`` as ``socket.recvmsg``: ``len(data)``
        is the kernel's return value (linear + dmabuf bytes); only linear bytes are written,
        packed at the front as the iov saw them; the rest is zero bytes.

        Raises
        ------
        OSError
            EFAULT: devmem data read without MSG_SOCK_DEVMEM. ETOOSMALL (525): a control
            buffer too small (or none) for the first cmsg; the data stays queued (EFAULT with
            ``Lab(kernel="6.12")``, before upstream 18282100d704). ENOTCONN: not connected.
            ECONNRESET / ETIMEDOUT: the connection died. BlockingIOError (EAGAIN) when
            nothing is queued and the socket is non-blocking or nothing can ever arrive;
            TimeoutError after ``settimeout``.
        """
        if flags & uapi.MSG_ERRQUEUE:  # tcp_recvmsg: inet_recv_error (zerocopy.py)
            self._check_open()
            if self._timeout:  # socket.recvmsg with a timeout polls for readability first
                self._wait(lambda: bool(self._zc and self._zc.errqueue), "recvmsg(MSG_ERRQUEUE)")
            return errqueue_recvmsg(self._zc, self.family, bufsize, ancbufsize)
        self._check_recvmsg(bufsize, ancbufsize, flags)
        copied, linear, ancdata = self._recvmsg_locked(bufsize, ancbufsize, flags)
        data = b"".join(linear)
        data += bytes(copied - len(data))
        return data, ancdata, 0, None

    def recvmsg_into(self, buffers, ancbufsize: int = 0, flags: int = 0):
        """``recvmsg(2)`` into caller buffers, as ``socket.recvmsg_into``.

        Returns ``(nbytes, ancdata, msg_flags, address)``. Only linear bytes are written,
        packed at the front of the buffers in order (the kernel leaves the iov alone for
        dmabuf frags); the rest of the buffers is not touched.
        """
        views = []
        for buf in buffers:
            view = memoryview(buf)
            if view.readonly:
                raise TypeError("recvmsg_into() argument 1 must be an iterable of single-"
                                "segment read-write buffers")
            views.append(view.cast("B") if view.format != "B" or view.ndim != 1 else view)
        bufsize = sum(v.nbytes for v in views)
        self._check_recvmsg(bufsize, ancbufsize, flags)
        copied, linear, ancdata = self._recvmsg_locked(bufsize, ancbufsize, flags)
        data, at = b"".join(linear), 0
        for view in views:
            if at >= len(data):
                break
            n = min(view.nbytes, len(data) - at)
            view[:n] = data[at:at + n]
            at += n
        return copied, ancdata, 0, None

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        """``recv(2)`` into ``buffer`` (its first ``nbytes`` if given), as ``socket.recv_into``."""
        view = memoryview(buffer).cast("B")
        _check_int("nbytes", nbytes)
        if nbytes < 0:  # CPython's sock_recv_into checks these before any syscall
            raise ValueError("negative buffersize in recv_into")
        if nbytes > view.nbytes:
            raise ValueError("buffer too small for requested bytes")
        if (nbytes or view.nbytes) == 0:
            return 0
        if nbytes:
            view = view[:nbytes]
        return self.recvmsg_into([view], 0, flags)[0]

    def _check_recvmsg(self, bufsize: int, ancbufsize: int, flags: int) -> None:
        self._check_open()
        for name, v in (("bufsize", bufsize), ("ancbufsize", ancbufsize), ("flags", flags)):
            _check_int(name, v)
        if bufsize < 0:
            raise ValueError("negative buffer size in recvmsg()")
        if ancbufsize < 0:
            raise ValueError("negative buffer size in recvmsg()")
        recv_precheck(self, flags)

    def _more_than(self, queued: int) -> bool:
        """Something new to read: more skbs than ``queued``, a FIN or an error."""
        return len(self._rq) > queued or self._eof() or bool(self._err)

    def _eof(self) -> bool:
        """Reads end here: FIN received, or ``shutdown(SHUT_RD)`` (RCV_SHUTDOWN)."""
        return self._fin_rcvd or self._rd_shut

    def _recvmsg_locked(self, length: int, ancbufsize: int, flags: int):
        devmem_ok = bool(flags & uapi.MSG_SOCK_DEVMEM)
        trunc = bool(flags & uapi.MSG_TRUNC)
        peek = bool(flags & uapi.MSG_PEEK)
        lowat = self._opts.get((uapi.SOL_SOCKET, _SO_RCVLOWAT), 1)  # sock_rcvlowat()
        target = length if flags & uapi.MSG_WAITALL else min(lowat, length)
        room = ancbufsize
        ancdata: list = []
        linear: list[bytes] = []
        copied = 0
        last_dmabuf: bool | None = None
        idx, offset = 0, self._rq_off
        consumed_skbs = 0
        if length == 0 and not self._rq and not self._eof():  # sock_rcvlowat() is at least 1
            self._wait(partial(self._more_than, 0), "recvmsg", flags)
        while length > 0:
            if idx >= len(self._rq):
                if copied >= target or self._eof() or self._err:
                    break
                # a socket with a timeout is non-blocking under Python's poll(): a partial
                # MSG_WAITALL read returns what is there
                if copied and (self._timeout is not None or flags & uapi.MSG_DONTWAIT):
                    break
                self._wait(partial(self._more_than, len(self._rq)), "recvmsg", flags)
                continue
            skb = self._rq[idx]
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
                    sent, room = self._recvmsg_dmabuf(skb, offset, used, linear, ancdata, room)
                    if sent <= 0:  # 6.18 passes the error through (18282100d704); 6.12: EFAULT
                        if not copied:
                            copied = sent if self.netns.kernel.version.recvmsg_errors_exposed \
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
            self._consume(consumed_skbs, offset if idx < len(self._rq) else 0, copied)
        if copied < 0:
            raise DevmemError(-copied)
        if copied == 0 and self._err and not self._rq:
            err, self._err = self._err, 0
            raise DevmemError(err)
        return copied, linear, ancdata

    def _consume(self, skbs: int, offset: int, copied: int) -> None:
        for _ in range(skbs):
            skb = self._rq.popleft()
            self._rq_bytes -= skb.length
            skb.free()
        if offset:  # the packets of a batched skb that were read in full go now
            gone = self._rq[0].drop_read_segments(offset)
            self._rq_bytes -= gone
            offset -= gone
        self._rq_off = offset
        # tcp_cleanup_rbuf: announce a window that has at least doubled since the last ACK
        if copied > 0 and self.peer is not None and \
                self._rwnd() >= max(2 * self._adv_rwnd, self.mss):
            self._send_ack()

    def _recvmsg_dmabuf(self, skb: Skb, offset: int, remaining: int, linear: list,
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
        f = skb.fsize
        if f:  # every frag f bytes but the last: where they start is arithmetic
            j0 = min((offset - headlen) // f, nfr - 1)  # the frag holding byte `offset`
            j1 = min((stop - 1 - headlen) // f, nfr - 1)  # ... and byte stop - 1
        else:
            fends = skb.fends
            j0 = int(fends.searchsorted(offset, "right"))
            j1 = min(int(fends.searchsorted(stop, "left")), nfr - 1)
        fit = (room - need) // space + 1 if room >= need else 0
        n = min(j1 - j0 + 1, fit)
        if n <= 0:
            return (sent or -uapi.ETOOSMALL), room
        room = max(0, room - n * space)
        j1 = j0 + n - 1
        if f:
            first_start = headlen + j0 * f
            last_start, last_end = headlen + j1 * f, min(headlen + (j1 + 1) * f, skb.length)
        else:
            first_start = int(fends[j0] - skb.fsizes[j0])
            last_start, last_end = int(fends[j1] - skb.fsizes[j1]), int(fends[j1])
        binding = skb.binding
        niovs = skb.niovs[j0:j0 + n]
        rec = np.empty(n, dtype=_CMSG_DTYPE)
        rec["frag_offset"] = niovs * binding.niov_size
        rec["frag_size"] = f if f else skb.fsizes[j0:j0 + n]
        rec["frag_token"] = self._token_alloc_many(binding, niovs)
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

    # ---- tokens ----------------------------------------------------------------------------
    def _token_alloc_many(self, binding, niovs: np.ndarray) -> np.ndarray:
        """A token per net_iov, each the lowest free >= 1 (``xa_alloc`` with
        ``XA_FLAGS_ALLOC1``, ``xa_limit_31b``); each token holds a net_iov reference."""
        n = len(niovs)
        top, lo = self._tok_next, self._tok_lo
        if lo >= top:
            tokens = np.arange(top, top + n, dtype=np.int64)
        else:
            table = self._tok_niov
            window = table[lo:min(top, lo + max(4 * n, 256))] < 0
            tokens = window.nonzero()[0][:n] + lo
            if len(tokens) < n and lo + max(4 * n, 256) < top:
                tokens = (table[lo:top] < 0).nonzero()[0][:n] + lo
            if len(tokens) < n:
                tokens = np.concatenate(
                    [tokens, np.arange(top, top + n - len(tokens), dtype=np.int64)])
        last = int(tokens[-1])
        if last >= len(self._tok_niov):  # grow the table
            size = max(2 * len(self._tok_niov), last + 1)
            self._tok_niov = np.concatenate(
                [self._tok_niov, np.full(size - len(self._tok_niov), -1, dtype=np.int64)])
            self._tok_bind = np.concatenate(
                [self._tok_bind, np.zeros(size - len(self._tok_bind), dtype=np.int64)])
        self._tok_next = max(top, last + 1)
        self._tok_lo = last + 1
        self._tok_count += n
        for i, b in enumerate(self._tok_bindings):
            if b is binding:
                break
        else:
            self._tok_bindings.append(binding)
            i = len(self._tok_bindings) - 1
        at = as_index(tokens)
        self._tok_niov[at] = niovs
        self._tok_bind[at] = i
        binding.get_many(niovs)
        return tokens

    @property
    def tokens_held(self) -> int:
        """How many tokens user space holds on this socket (frags not yet returned)."""
        return self._tok_count

    def _token_free(self, named: np.ndarray) -> int:
        """Free the held tokens marked in ``named`` (a mask over the table); returns how many
        there were."""
        tokens = (named & (self._tok_niov[:len(named)] >= 0)).nonzero()[0]
        if not len(tokens):
            return 0
        niovs = self._tok_niov[tokens]
        self._tok_niov[tokens] = -1
        self._tok_count -= len(tokens)
        self._tok_lo = min(self._tok_lo, int(tokens[0]))
        self._put_niovs(niovs, self._tok_bind[tokens])
        return len(tokens)

    def _put_niovs(self, niovs: np.ndarray, binds: np.ndarray) -> None:
        if len(self._tok_bindings) == 1:
            self._tok_bindings[0].put_many(niovs)
            return
        for i, b in enumerate(self._tok_bindings):
            b.put_many(niovs[binds == i])

    def _devmem_dontneed(self, data: bytes) -> int:
        """``sock_devmem_dontneed``: free the frags named by ``struct dmabuf_token`` ranges."""
        if len(data) % uapi.DMABUF_TOKEN_SIZE or \
                len(data) > uapi.DMABUF_TOKEN_SIZE * uapi.MAX_DONTNEED_TOKENS:
            raise DevmemError(errno.EINVAL)
        cap = uapi.MAX_DONTNEED_FRAGS if self.netns.kernel.version.dontneed_frag_cap else None
        top = self._tok_next  # tokens at or above it do not exist
        named = np.zeros(top, dtype=bool)
        examined = 0
        for start, count in np.frombuffer(data, dtype=_TOKEN_DTYPE).tolist():
            if cap is not None:
                count = min(count, cap - examined)
            examined += count
            # tokens start, start+1, ... (mod 2**32): at most two spans of the table
            named[max(start, 1):min(start + count, top)] = True
            if start + count > _U32 + 1:
                named[1:min(start + count - _U32 - 1, top)] = True
            if cap is not None and examined >= cap:
                break
        return self._token_free(named)

    # ---- closing -----------------------------------------------------------------------------
    def shutdown(self, how: int) -> None:
        self._check_open()
        _check_int("how", how)
        if how not in (_socket.SHUT_RD, _socket.SHUT_WR, _socket.SHUT_RDWR):
            raise DevmemError(errno.EINVAL)  # inet_shutdown: before the state checks
        if self.state == "LISTEN":
            if how != _socket.SHUT_WR:  # tcp_disconnect: the listener stops listening
                self.state = "CLOSE"
                for conn in self._backlog:
                    conn.close()
                self._backlog.clear()
            return
        if how != _socket.SHUT_WR:
            self._rd_shut = True  # set even when unconnected (then ENOTCONN below)
        if self.peer is None or self.state == "CLOSE":
            raise DevmemError(errno.ENOTCONN)
        if how in (_socket.SHUT_WR, _socket.SHUT_RDWR) and not self._fin_queued:
            self._fin_queued = True
            self._transmit()

    def close(self) -> None:
        """``close(2)``: frees every token and queued skb; FIN (or RST if data was unread)."""
        if self._closed:
            return
        self._closed = True
        if self._zc is not None:  # SOCK_DEAD: no more completions
            self._zc.close()
        self._token_free(np.ones(self._tok_next, dtype=bool))
        unread = self._rq_bytes - self._rq_off
        while self._rq:
            self._rq.popleft().free()
        for skb in self._ooo.values():
            skb.free()
        self._ooo.clear()
        self._rq_bytes = self._rq_off = self._ooo_bytes = 0
        if self.local and self.netns.ports.get(self.local[1]) is self:
            del self.netns.ports[self.local[1]]
        for conn in self._backlog:
            conn.close()
        self._backlog.clear()
        if self.peer is not None and self.state != "CLOSE":
            if unread:
                peer = self.peer
                self.netns.link.schedule(self.netns.link.delay_ns, peer._on_reset)
                self._snd_chunks.clear()
                self._snd_starts.clear()
                self._write_seq = self.snd_una
                self._timer_gen += 1
            elif not self._fin_queued:
                self._fin_queued = True
                self._transmit()
        if self.peer is None:  # a listener or an unconnected socket
            self.state = "CLOSE"


def _subtract(ranges: list[tuple[int, int]], minus: list[tuple[int, int]]) -> list:
    """``ranges`` less every byte in ``minus`` (both sorted, non-overlapping)."""
    out = []
    for a, b in ranges:
        for c, d in minus:
            if d <= a or c >= b:
                continue
            if c > a:
                out.append((a, c))
            a = max(a, d)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


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
