"""Generic socket options: which values ``setsockopt`` takes, what it stores, what
``getsockopt`` reads back, for the options the lab knows.

Models ``net/core/sock.c`` (``sk_setsockopt``: SO_BINDTODEVICE first, then ``optlen <
sizeof(int)`` EINVAL, then the int is copied (EFAULT), then the option; ``sk_getsockopt``:
the value truncated to the caller's length), ``net/ipv4/tcp.c`` (``do_tcp_setsockopt``,
``do_tcp_getsockopt``), ``net/ipv4/ip_sockglue.c`` (IP_TOS) and ``net/ipv6/ipv6_sockglue.c``
(IPV6_V6ONLY). Checked against a 6.18 kernel by
``tests/live/conformance/test_socket_differential.py``.

The buffer sizes follow the sysctls in :data:`SYSCTL` (this machine's 6.18 values; a host's
copy is ``host.sysctl``, the namespace's ``netns.sysctl``, and may be changed): ``SO_RCVBUF``/``SO_SNDBUF`` clamp the value to
``net.core.rmem_max``/``wmem_max`` (as u32), then double it, with a floor of
``SOCK_MIN_RCVBUF`` 2304 / ``SOCK_MIN_SNDBUF`` 4608 (``include/net/sock.h``);
``SO_RCVBUFFORCE`` (CAP_NET_ADMIN: the lab's user is root) skips the ``rmem_max`` clamp
(``__sock_set_rcvbuf``: a negative value is 0, at most INT_MAX / 2 before doubling). Either
sets ``SOCK_RCVBUF_LOCK``: receive-buffer autotuning stops. A fresh TCP socket reports
``tcp_wmem[1]`` for SO_SNDBUF and ``tcp_rmem[1]`` for SO_RCVBUF (``tcp_init_sock``: its
``sk_rcvbuf``, which autotuning may grow, ``kernel/tcp/rmem.py``); a UDP socket
``wmem_default``/``rmem_default``.
"""

from __future__ import annotations

import errno
import socket as _socket
import struct

from ..errors import DevmemError

__all__ = ["SYSCTL", "get_option", "set_option"]

#: sysctls the option checks read (values of this machine's 6.18 kernel, /proc/sys/net/...)
SYSCTL: dict[str, int | tuple[int, int, int]] = {
    "net.core.rmem_max": 4194304,
    "net.core.wmem_max": 4194304,
    "net.core.rmem_default": 212992,
    "net.core.wmem_default": 212992,
    "net.ipv4.tcp_rmem": (4096, 131072, 33554432),
    "net.ipv4.tcp_wmem": (4096, 16384, 4194304),
    "net.ipv4.tcp_moderate_rcvbuf": 1,  # receive-buffer autotuning (tcp_rcvbuf_grow)
}
SOCK_MIN_SNDBUF = 4608  # 2 * (2048 + SKB_TRUESIZE(256)) on x86_64
SOCK_MIN_RCVBUF = 2304
TCP_MSS_DEFAULT = 536
TCP_MIN_MSS = 88
MAX_TCP_WINDOW = 32767

SOL_SOCKET, IPPROTO_TCP = _socket.SOL_SOCKET, _socket.IPPROTO_TCP
IPPROTO_IP, IPPROTO_IPV6 = _socket.IPPROTO_IP, _socket.IPPROTO_IPV6
SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF = 2, 3, 4, 7, 8
SO_KEEPALIVE, SO_REUSEPORT, SO_RCVLOWAT, SO_ZEROCOPY = 9, 15, 18, 60
SO_RCVBUFFORCE = 33
TCP_NODELAY, TCP_MAXSEG, TCP_QUICKACK = 1, 2, 12
IP_TOS, IPV6_V6ONLY = 1, 26

_BOOLS = {(SOL_SOCKET, SO_REUSEADDR), (SOL_SOCKET, SO_KEEPALIVE), (SOL_SOCKET, SO_REUSEPORT),
          (IPPROTO_TCP, TCP_NODELAY), (IPPROTO_TCP, TCP_QUICKACK), (IPPROTO_IPV6, IPV6_V6ONLY)}
_SET_ONLY_BY_KERNEL = {(SOL_SOCKET, SO_TYPE), (SOL_SOCKET, SO_ERROR)}
_TCP_ONLY = {IPPROTO_TCP}


def _err(code: int) -> DevmemError:
    return DevmemError(code)


def _level_ok(sock, level: int) -> int | None:
    """The errno for a level this socket has no handler for (set, get), or None."""
    if level == SOL_SOCKET:
        return None
    if level == IPPROTO_TCP and sock.type == _socket.SOCK_STREAM:
        return None
    if level == IPPROTO_IP:
        return None
    if level == IPPROTO_IPV6 and sock.family == _socket.AF_INET6:
        return None
    return errno.ENOPROTOOPT


def set_option(sock, level: int, optname: int, data: bytes, null: bool) -> bool:
    """Check and store one option as the kernel does; False if the lab does not model it.

    ``data`` is the option buffer (``optlen`` zero bytes when ``null``: a NULL optval).
    Raises the kernel's errno as :class:`DevmemError`.
    """
    if _level_ok(sock, level) is not None:
        raise _err(errno.ENOPROTOOPT)  # no handler: tcp/udp/ipv6 fall through to ENOPROTOOPT
    key = (level, optname)
    if level == IPPROTO_IP:
        if optname != IP_TOS:
            raise _err(errno.ENOPROTOOPT)
        # do_ip_setsockopt: an int if optlen >= 4, a byte if >= 1, else 0
        if null and data:
            raise _err(errno.EFAULT)
        val = struct.unpack("i", data[:4])[0] if len(data) >= 4 else (data[0] if data else 0)
        val &= 0xFF
        if sock.type == _socket.SOCK_STREAM:
            val &= ~3  # INET_ECN_MASK: TCP owns the ECN bits
        sock._opts[key] = val
        return True
    if level == IPPROTO_IPV6:
        if optname != IPV6_V6ONLY:
            raise _err(errno.ENOPROTOOPT)
        # do_ipv6_setsockopt: a NULL optval reads as 0; only then the length and state checks
        if len(data) < 4 or getattr(sock, "local", None) is not None:
            raise _err(errno.EINVAL)
        sock._opts[key] = int(not null and struct.unpack("i", data[:4])[0] != 0)
        return True
    if len(data) < 4:
        raise _err(errno.EINVAL)
    if null:
        raise _err(errno.EFAULT)
    val = struct.unpack("i", data[:4])[0]
    if key in _SET_ONLY_BY_KERNEL:
        raise _err(errno.ENOPROTOOPT)
    if key in _BOOLS:
        sock._opts[key] = int(val != 0)
        return True
    sysctl = sock.netns.sysctl
    if key == (SOL_SOCKET, SO_SNDBUF):
        val = min(val & 0xFFFFFFFF, sysctl["net.core.wmem_max"])
        sock._opts[key] = max(2 * val, SOCK_MIN_SNDBUF)
        return True
    if key in ((SOL_SOCKET, SO_RCVBUF), (SOL_SOCKET, SO_RCVBUFFORCE)):
        if optname == SO_RCVBUF:  # min_t(u32, val, rmem_max)
            val = min(val & 0xFFFFFFFF, sysctl["net.core.rmem_max"])
        else:  # max(val, 0), no rmem_max (CAP_NET_ADMIN)
            val = max(val, 0)
        val = min(val, 0x7FFFFFFF // 2)  # __sock_set_rcvbuf
        value = max(2 * val, SOCK_MIN_RCVBUF)
        sock._opts[(SOL_SOCKET, SO_RCVBUF)] = value
        sock._set_rcvbuf(value)  # and SOCK_RCVBUF_LOCK
        return True
    if key == (SOL_SOCKET, SO_RCVLOWAT):
        if val < 0:
            val = 0x7FFFFFFF
        if sock.type == _socket.SOCK_STREAM:  # tcp_set_rcvlowat: at most tcp_rmem[2] / 2
            val = min(val, sysctl["net.ipv4.tcp_rmem"][2] >> 1)
        sock._opts[key] = val or 1
        return True
    if key == (SOL_SOCKET, SO_ZEROCOPY):
        if val not in (0, 1):
            raise _err(errno.EINVAL)
        sock._opts[key] = val
        return True
    if key == (IPPROTO_TCP, TCP_MAXSEG):
        if val and not TCP_MIN_MSS <= val <= MAX_TCP_WINDOW:
            raise _err(errno.EINVAL)
        sock._opts[key] = val  # user_mss; 0 means "no clamp"
        return True
    return False


def get_option(sock, level: int, optname: int):
    """The int ``getsockopt`` reports for a modelled option, or None if not modelled.

    Raises the kernel's errno for a level this socket has no handler for.
    """
    if level != SOL_SOCKET and _level_ok(sock, level) is not None:
        # inet_stream/dgram getsockopt of a protocol without a handler: EOPNOTSUPP, except
        # that an AF_INET6 TCP socket answers an unknown level with ENOPROTOOPT
        if sock.family == _socket.AF_INET6 and sock.type == _socket.SOCK_STREAM:
            raise _err(errno.ENOPROTOOPT)
        raise _err(errno.EOPNOTSUPP)
    key = (level, optname)
    if key in sock._opts:
        if key == (IPPROTO_TCP, TCP_MAXSEG):
            return _mss(sock)
        return sock._opts[key]
    if key == (SOL_SOCKET, SO_SNDBUF):
        if sock.type == _socket.SOCK_STREAM:
            return sock.netns.sysctl["net.ipv4.tcp_wmem"][1]
        return sock.netns.sysctl["net.core.wmem_default"]
    if key == (SOL_SOCKET, SO_RCVBUF) and sock.type != _socket.SOCK_STREAM:
        return sock.netns.sysctl["net.core.rmem_default"]
    if key in ((SOL_SOCKET, SO_RCVLOWAT), (IPPROTO_TCP, TCP_QUICKACK)):
        return 1
    if key == (IPPROTO_TCP, TCP_MAXSEG):
        return _mss(sock)
    if key in _BOOLS or key in ((SOL_SOCKET, SO_ZEROCOPY), (IPPROTO_IP, IP_TOS)):
        return 0
    if level == IPPROTO_IP or level == IPPROTO_TCP or level == IPPROTO_IPV6:
        raise _err(errno.ENOPROTOOPT)
    return None


def _mss(sock) -> int:
    """TCP_MAXSEG: the connection's MSS once connected, else the user's clamp or 536."""
    if getattr(sock, "peer", None) is not None:
        return sock.mss
    return sock._opts.get((IPPROTO_TCP, TCP_MAXSEG)) or TCP_MSS_DEFAULT
