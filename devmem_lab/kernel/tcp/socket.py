"""The TCP (and UDP) socket surface: ``socket(2)``, bind/listen/accept/connect, send, recv,
options, shutdown and close, behind the method names of Python's ``socket.socket``.

Models ``net/ipv4/af_inet.c`` / ``net/ipv4/inet_connection_sock.c`` (bind, listen, accept,
connect, ``inet_shutdown``), ``net/core/sock.c`` (``sk_setsockopt``, ``sock_devmem_dontneed``)
and ``tcp_close`` (``net/ipv4/tcp.c``: unread data sends a RST, else a FIN). The connection's
parts live in the modules the kernel splits them into: :mod:`.sender` (``tcp_output.c``,
``tcp_ack``, ``tcp_timer.c``), :mod:`.receiver` (``tcp_data_queue``, ACKs, FIN, RST),
:mod:`.recvmsg` (``tcp_recvmsg_locked``, ``tcp_recvmsg_dmabuf``), :mod:`.token_table`
(``sk_user_frags``) and :mod:`.send` (``tcp_sendmsg_locked``, devmem TX).

The transport: MSS-sized segments over the lab's link, delivered in NAPI-sized bursts (a burst
arrives when its last packet has), cumulative ACKs with SACK blocks, a receive window, an
out-of-order queue (whose skbs keep their net_iovs, as in the kernel), fast retransmit of SACK
holes, a 2 ms tail-loss probe, then RTO from 200 ms doubling, and "connection timed out" after
15 retries (``tcp_retries2``). The connection set-up is instant (no handshake on the wire).
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import struct
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from ... import uapi
from ...errors import DevmemError
from .. import sockopts
from ..nic.device import FlowKey
from ..nic.rx import header_len
from ..zerocopy import errqueue_recvmsg
from . import recvmsg as tcp_recvmsg
from . import send as tcp_send
from .receiver import TcpReceiver
from .recvmsg import recv_precheck  # noqa: F401  (its old place)
from .sender import TLP_PTO_NS, TcpSender  # noqa: F401  (TLP_PTO_NS: its old place)
from .token_table import TokenTable

if TYPE_CHECKING:
    from ..netns import NetNamespace

__all__ = ["TcpSocket", "UdpSocket", "make_socket"]

_WILDCARD = ("", "::", "0.0.0.0")  # bind() addresses meaning "any of this host's"
_LOOPBACK = ("127.0.0.1", "::1")
_SOCK_NONBLOCK = getattr(_socket, "SOCK_NONBLOCK", 0o4000)
_SOCK_CLOEXEC = getattr(_socket, "SOCK_CLOEXEC", 0o2000000)

_SO_TYPE, _SO_ERROR, _SO_RCVBUF, _SO_BINDTODEVICE = 3, 4, 8, 25
_TOKEN_DTYPE = np.dtype([("token_start", "=u4"), ("token_count", "=u4")])  # dmabuf_token


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
            value = self.rcvbuf  # sk_rcvbuf, as autotuning left it
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


class TcpSocket(TcpSender, TcpReceiver, _Socket):
    """An emulated TCP socket with the devmem receive path."""

    def __init__(self, netns: NetNamespace, family: int, type: int, proto: int) -> None:
        super().__init__(netns, family, type, proto)
        self.state = "CLOSE"
        self.local: tuple[str, int] | None = None
        self.remote: tuple[str, int] | None = None
        self.peer: TcpSocket | None = None
        self.rcvbuf = netns.sysctl["net.ipv4.tcp_rmem"][1]  # sk_rcvbuf (tcp_init_sock)
        self.rcvbuf_locked = False  # SOCK_RCVBUF_LOCK: SO_RCVBUF set, no autotuning
        # the segment size: MTU less the IP and TCP (with timestamps) headers
        self.mss = netns.nic.mtu - header_len(6 if family == _socket.AF_INET6 else 4) + 14
        self._backlog: deque[TcpSocket] = deque()
        self._init_receiver()
        self.tokens = TokenTable()  # sk_user_frags
        self._init_sender(0)
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
        # accepted sockets inherit sk_rcvbuf and its lock (sk_clone_lock)
        conn.rcvbuf, conn.rcvbuf_locked = listener.rcvbuf, listener.rcvbuf_locked
        self._peer_rwnd, conn._peer_rwnd = conn._initial_window(), self._initial_window()
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
        self.rcvbuf_locked = True

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
        tcp_recvmsg.check_recvmsg(self, bufsize, ancbufsize, flags)

    def _recvmsg_locked(self, length: int, ancbufsize: int, flags: int):
        return tcp_recvmsg.recvmsg_locked(self, length, ancbufsize, flags)

    # ---- tokens (sk_user_frags) ------------------------------------------------------------
    @property
    def tokens_held(self) -> int:
        """How many tokens user space holds on this socket (frags not yet returned)."""
        return self.tokens.count

    # the token table's arrays under their old names (read by widgets/niov_map.py)
    _tok_niov = property(lambda self: self.tokens.niov)
    _tok_bind = property(lambda self: self.tokens.bind)
    _tok_bindings = property(lambda self: self.tokens.bindings)

    def _token_free(self, named: np.ndarray) -> int:
        """Free the held tokens marked in ``named`` (a mask over the table), dropping their
        net_iov references; returns how many there were."""
        n = 0
        for binding, niovs in self.tokens.free(named):
            binding.put_many(niovs)
            n += len(niovs)
        return n

    def _devmem_dontneed(self, data: bytes) -> int:
        """``sock_devmem_dontneed``: free the frags named by ``struct dmabuf_token`` ranges."""
        if len(data) % uapi.DMABUF_TOKEN_SIZE or \
                len(data) > uapi.DMABUF_TOKEN_SIZE * uapi.MAX_DONTNEED_TOKENS:
            raise DevmemError(errno.EINVAL)
        cap = uapi.MAX_DONTNEED_FRAGS if self.netns.kernel.version.dontneed_frag_cap else None
        ranges = np.frombuffer(data, dtype=_TOKEN_DTYPE).tolist()
        return self._token_free(self.tokens.named(ranges, cap))

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
        self._token_free(np.ones(self.tokens.top, dtype=bool))
        unread = self._rq_bytes - self._rq_off
        while self._rq:
            self._rq.popleft().free()
        for skb in self._ooo.values():
            skb.free()
        self._ooo.clear()
        self._rq_bytes = self._rq_off = self._ooo_bytes = self._rmem = 0
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
