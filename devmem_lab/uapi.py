"""The devmem TCP user ABI: constants, ``struct dmabuf_cmsg``, ``struct dmabuf_token``.

Models ``include/uapi/linux/uio.h`` (the two structs), ``include/uapi/asm-generic/socket.h``
and ``arch/{sparc,parisc,alpha,mips}/include/uapi/asm/socket.h`` (SO_/SCM_DEVMEM_* per
architecture), ``include/linux/socket.h`` (``MSG_SOCK_DEVMEM``, kernel-internal: userspace
defines it itself, as ``ncdevmem.c`` does) and ``include/uapi/linux/netdev.h`` (the netdev
generic-netlink family enums).

Module-level names are this host's values; :func:`for_arch` gives another architecture's.
"""

from __future__ import annotations

import platform
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace

__all__ = [
    "ARCHES",
    "CMSG_LEN",
    "CMSG_SPACE",
    "DMABUF_CMSG_SIZE",
    "DMABUF_TOKEN_SIZE",
    "ETOOSMALL",
    "IPV6_RECVERR",
    "IP_RECVERR",
    "MAX_DONTNEED_FRAGS",
    "MAX_DONTNEED_TOKENS",
    "MSG_CTRUNC",
    "MSG_DONTWAIT",
    "MSG_ERRQUEUE",
    "MSG_PEEK",
    "MSG_SOCK_DEVMEM",
    "MSG_TRUNC",
    "MSG_ZEROCOPY",
    "NETDEV_FAMILY_NAME",
    "NETDEV_FAMILY_VERSION",
    "PAGE_SIZE",
    "SCM_DEVMEM_DMABUF",
    "SCM_DEVMEM_LINEAR",
    "SOCK_EE_SIZE",
    "SOL_IP",
    "SOL_IPV6",
    "SOL_SOCKET",
    "SO_DEVMEM_DMABUF",
    "SO_DEVMEM_DONTNEED",
    "SO_DEVMEM_LINEAR",
    "SO_EE_CODE_ZEROCOPY_COPIED",
    "SO_EE_ORIGIN_ZEROCOPY",
    "SO_ZEROCOPY",
    "DmabufCmsg",
    "DmabufIov",
    "DmabufToken",
    "SockExtendedErr",
    "for_arch",
    "pack_tokens",
    "pack_tx_dmabuf_id",
    "parse_cmsgs",
]

PAGE_SIZE = 4096
MSG_SOCK_DEVMEM = 0x2000000  # include/linux/socket.h (not exported to uapi)
MSG_ZEROCOPY = 0x4000000
MSG_PEEK = 0x2
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_WAITALL = 0x100
MSG_ERRQUEUE = 0x2000  # include/linux/socket.h: read the socket's error queue
ETOOSMALL = 525  # include/linux/errno.h (kernel-internal, no name in Python's errno): devmem
#   recvmsg with no room for a cmsg since 6.18 (18282100d704); 6.12 turned it into EFAULT
MAX_DONTNEED_TOKENS = 128  # net/core/sock.c
MAX_DONTNEED_FRAGS = 1024  # net/core/sock.c (not in 6.12)

# name -> (SOL_SOCKET, SO_DEVMEM_LINEAR, SO_DEVMEM_DMABUF, SO_DEVMEM_DONTNEED, sizeof(long))
_ARCH_TABLE: dict[str, tuple[int, int, int, int, int]] = {
    "x86_64": (1, 78, 79, 80, 8),
    "aarch64": (1, 78, 79, 80, 8),
    "riscv64": (1, 78, 79, 80, 8),
    "ppc64le": (1, 78, 79, 80, 8),
    "s390x": (1, 78, 79, 80, 8),
    "loongarch64": (1, 78, 79, 80, 8),
    "i386": (1, 78, 79, 80, 4),
    "armv7l": (1, 78, 79, 80, 4),
    "sparc64": (0xFFFF, 0x0057, 0x0058, 0x0059, 8),
    "parisc": (0xFFFF, 0x404E, 0x404F, 0x4050, 4),
    "parisc-6.12": (0xFFFF, 78, 79, 80, 4),  # decimal by mistake until the ~6.15 fix
    "alpha": (0xFFFF, 78, 79, 80, 8),
    "mips": (0xFFFF, 78, 79, 80, 4),
    "mips64": (0xFFFF, 78, 79, 80, 8),
}
# SO_ZEROCOPY where it differs from asm-generic's 60 (arch/{sparc,parisc}/include/uapi/asm/socket.h)
_SO_ZEROCOPY = {"sparc64": 0x003E, "parisc": 0x4035, "parisc-6.12": 0x4035}
_ALIASES = {"amd64": "x86_64", "arm64": "aarch64", "x86": "i386", "i686": "i386",
            "sparc": "sparc64", "parisc64": "parisc", "ppc64": "ppc64le"}
ARCHES = tuple(_ARCH_TABLE)


def for_arch(arch: str) -> SimpleNamespace:
    """The devmem socket constants of one architecture.

    Returns a namespace with ``SOL_SOCKET``, ``SO_DEVMEM_LINEAR``, ``SO_DEVMEM_DMABUF``,
    ``SO_DEVMEM_DONTNEED``, the ``SCM_*`` aliases, ``MSG_SOCK_DEVMEM``, ``SO_ZEROCOPY``,
    ``MSG_ZEROCOPY``, ``CMSG_LEN(24)`` and ``CMSG_SPACE(24)`` for that ABI.

    Raises
    ------
    ValueError
        Unknown architecture name (the message lists the known ones).
    """
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a str such as 'x86_64', not {type(arch).__name__}")
    key = _ALIASES.get(arch, arch)
    if key not in _ARCH_TABLE:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHES)}")
    sol, lin, dma, dontneed, long_size = _ARCH_TABLE[key]
    hdr = 16 if long_size == 8 else 12
    align = long_size
    space = hdr + ((DMABUF_CMSG_SIZE + align - 1) // align) * align
    return SimpleNamespace(
        arch=key, SOL_SOCKET=sol,
        SO_DEVMEM_LINEAR=lin, SO_DEVMEM_DMABUF=dma, SO_DEVMEM_DONTNEED=dontneed,
        SCM_DEVMEM_LINEAR=lin, SCM_DEVMEM_DMABUF=dma, MSG_SOCK_DEVMEM=MSG_SOCK_DEVMEM,
        SO_ZEROCOPY=_SO_ZEROCOPY.get(key, 60), MSG_ZEROCOPY=MSG_ZEROCOPY,
        CMSG_LEN_DMABUF=hdr + DMABUF_CMSG_SIZE, CMSG_SPACE_DMABUF=space,
    )


# struct dmabuf_cmsg / struct dmabuf_token, native byte order (include/uapi/linux/uio.h)
_CMSG = struct.Struct("=QIIII")
_TOKEN = struct.Struct("=II")
DMABUF_CMSG_SIZE = _CMSG.size  # 24
DMABUF_TOKEN_SIZE = _TOKEN.size  # 8
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF

_host = for_arch(platform.machine() or "x86_64") if (platform.machine() or "x86_64") in (
    set(_ARCH_TABLE) | set(_ALIASES)) else for_arch("x86_64")
SOL_SOCKET = socket.SOL_SOCKET
SO_DEVMEM_LINEAR = _host.SO_DEVMEM_LINEAR
SO_DEVMEM_DMABUF = _host.SO_DEVMEM_DMABUF
SO_DEVMEM_DONTNEED = _host.SO_DEVMEM_DONTNEED
SCM_DEVMEM_LINEAR = SO_DEVMEM_LINEAR
SCM_DEVMEM_DMABUF = SO_DEVMEM_DMABUF
SO_ZEROCOPY = _host.SO_ZEROCOPY


def CMSG_LEN(length: int) -> int:
    """``CMSG_LEN`` of this host (``socket.CMSG_LEN``)."""
    return socket.CMSG_LEN(length)


def CMSG_SPACE(length: int) -> int:
    """``CMSG_SPACE`` of this host (``socket.CMSG_SPACE``)."""
    return socket.CMSG_SPACE(length)


def _check_uint(name: str, value: object, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= limit:
        raise ValueError(f"{name} must be in [0, {limit}], got {value}")
    return value


@dataclass(frozen=True)
class DmabufCmsg:
    """``struct dmabuf_cmsg``: one fragment reported by ``recvmsg(MSG_SOCK_DEVMEM)``.

    ``frag_offset`` is the byte offset of the fragment from the start of the dma-buf,
    ``frag_token`` the token to hand back with ``SO_DEVMEM_DONTNEED`` and ``dmabuf_id`` the
    binding id from bind-rx. For ``SCM_DEVMEM_LINEAR`` only ``frag_size`` is set.
    """

    frag_offset: int
    frag_size: int
    frag_token: int
    dmabuf_id: int
    flags: int = 0

    def __post_init__(self) -> None:
        o, s, t, d, f = self.frag_offset, self.frag_size, self.frag_token, self.dmabuf_id, \
            self.flags
        if type(o) is int and type(s) is int and type(t) is int and type(d) is int \
                and type(f) is int and 0 <= o <= _U64 and 0 <= s <= _U32 and 0 <= t <= _U32 \
                and 0 <= d <= _U32 and 0 <= f <= _U32:
            return  # the common case, checked in one go
        _check_uint("frag_offset", o, _U64)
        for name in ("frag_size", "frag_token", "dmabuf_id", "flags"):
            _check_uint(name, getattr(self, name), _U32)

    def pack(self) -> bytes:
        """The 24 bytes the kernel writes into the control message."""
        return _CMSG.pack(self.frag_offset, self.frag_size, self.frag_token,
                          self.dmabuf_id, self.flags)

    @classmethod
    def unpack(cls, data: bytes) -> DmabufCmsg:
        """Decode 24 bytes of ``struct dmabuf_cmsg``; another length raises ``ValueError``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        if len(data) != DMABUF_CMSG_SIZE:
            raise ValueError(
                f"struct dmabuf_cmsg is {DMABUF_CMSG_SIZE} bytes, got {len(data)} "
                "(truncated control message? give recvmsg a bigger ancbufsize)")
        return cls(*_CMSG.unpack(bytes(data)))


@dataclass(frozen=True)
class DmabufToken:
    """``struct dmabuf_token``: a range of tokens ``[token_start, token_start+token_count)``."""

    token_start: int
    token_count: int

    def __post_init__(self) -> None:
        _check_uint("token_start", self.token_start, _U32)
        _check_uint("token_count", self.token_count, _U32)

    def pack(self) -> bytes:
        """The 8 bytes of one range, as ``SO_DEVMEM_DONTNEED`` reads them."""
        return _TOKEN.pack(self.token_start, self.token_count)

    @classmethod
    def unpack(cls, data: bytes) -> DmabufToken:
        """Decode 8 bytes of ``struct dmabuf_token``; another length raises ``ValueError``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        if len(data) != DMABUF_TOKEN_SIZE:
            raise ValueError(f"struct dmabuf_token is {DMABUF_TOKEN_SIZE} bytes, got {len(data)}")
        return cls(*_TOKEN.unpack(bytes(data)))


def coalesce_tokens(tokens: Iterable[int]) -> list[DmabufToken]:
    """Group token ints into ranges of consecutive tokens, in the order given."""
    ranges: list[list[int]] = []
    for t in tokens:
        _check_uint("token", t, _U32)
        if ranges and ranges[-1][0] + ranges[-1][1] == t:
            ranges[-1][1] += 1
        else:
            ranges.append([t, 1])
    return [DmabufToken(s, c) for s, c in ranges]


def pack_tokens(tokens: Iterable[int | DmabufToken]) -> bytes:
    """The option value for ``setsockopt(SOL_SOCKET, SO_DEVMEM_DONTNEED, ...)``.

    Takes token ints (consecutive ones are coalesced into one range, in the order given) or
    ``DmabufToken`` ranges (packed as they are), or a mix.
    """
    if isinstance(tokens, (int, DmabufToken, str, bytes)):
        raise TypeError("pack_tokens takes a list of token ints or DmabufToken ranges")
    out = bytearray()
    run: list[int] = []
    for item in tokens:
        if isinstance(item, DmabufToken):
            out += b"".join(t.pack() for t in coalesce_tokens(run))
            run = []
            out += item.pack()
        else:
            _check_uint("token", item, _U32)
            run.append(item)
    out += b"".join(t.pack() for t in coalesce_tokens(run))
    return bytes(out)


def parse_cmsgs(ancdata: Iterable[tuple[int, int, bytes]]) -> list[tuple[str, DmabufCmsg]]:
    """Decode the ``ancdata`` list of ``socket.recvmsg`` into ``(kind, DmabufCmsg)`` pairs.

    ``kind`` is ``"dmabuf"`` (SCM_DEVMEM_DMABUF) or ``"linear"`` (SCM_DEVMEM_LINEAR).

    Raises
    ------
    ValueError
        A control message that is not a devmem one, or whose data is not 24 bytes long.
    """
    out: list[tuple[str, DmabufCmsg]] = []
    for i, item in enumerate(ancdata):
        try:
            level, ctype, data = item
        except (TypeError, ValueError):
            raise ValueError(f"cmsg #{i}: expected a (level, type, data) tuple, got {item!r}")
        if level == SOL_SOCKET and ctype == SCM_DEVMEM_DMABUF:
            kind = "dmabuf"
        elif level == SOL_SOCKET and ctype == SCM_DEVMEM_LINEAR:
            kind = "linear"
        else:
            raise ValueError(f"cmsg #{i}: not a devmem control message (level {level}, type {ctype})")
        if len(data) != DMABUF_CMSG_SIZE:
            raise ValueError(f"cmsg #{i} ({kind}): expected {DMABUF_CMSG_SIZE} bytes of "
                             f"struct dmabuf_cmsg, got {len(data)} (control buffer too small?)")
        out.append((kind, DmabufCmsg.unpack(data)))
    return out


# --- devmem TX (Linux 6.16+): iovecs as dma-buf offsets, the binding-id cmsg, completions ---
SOL_IP = 0  # cmsg level of IP_RECVERR (include/linux/socket.h)
SOL_IPV6 = 41
IP_RECVERR = 11  # include/uapi/linux/in.h
IPV6_RECVERR = 25  # include/uapi/linux/in6.h
SO_EE_ORIGIN_ZEROCOPY = 5  # include/uapi/linux/errqueue.h
SO_EE_CODE_ZEROCOPY_COPIED = 1  # the kernel copied the data after all (e.g. over loopback)
_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err
SOCK_EE_SIZE = _EE.size  # 16


@dataclass(frozen=True)
class DmabufIov:
    """One iovec of a devmem TX ``sendmsg``: ``iov_base`` is a byte *offset* into the dma-buf
    bound with bind-tx, not a pointer (``zerocopy_fill_skb_from_devmem``,
    ``net/core/datagram.c``); ``iov_len`` is ``length``."""

    offset: int
    length: int

    def __post_init__(self) -> None:
        _check_uint("offset", self.offset, _U64)
        _check_uint("length", self.length, _U64)

    def __len__(self) -> int:
        return self.length


def pack_tx_dmabuf_id(dmabuf_id: int) -> bytes:
    """The data of the ``SOL_SOCKET``/``SCM_DEVMEM_DMABUF`` cmsg of a devmem TX ``sendmsg``:
    the bind-tx id as a bare native ``__u32`` (``cmsg_len == CMSG_LEN(4)``, checked by
    ``__sock_cmsg_send`` in ``net/core/sock.c``)."""
    return struct.pack("=I", _check_uint("dmabuf_id", dmabuf_id, _U32))


@dataclass(frozen=True)
class SockExtendedErr:
    """``struct sock_extended_err`` (``include/uapi/linux/errqueue.h``), 16 bytes.

    A MSG_ZEROCOPY completion has ``ee_origin == SO_EE_ORIGIN_ZEROCOPY``, ``ee_errno == 0``
    and covers the sendmsg calls ``ee_info..ee_data`` (inclusive, counted from 0 per socket);
    ``ee_code`` has ``SO_EE_CODE_ZEROCOPY_COPIED`` when the kernel copied the data after all.
    """

    ee_errno: int = 0
    ee_origin: int = 0
    ee_type: int = 0
    ee_code: int = 0
    ee_pad: int = 0
    ee_info: int = 0
    ee_data: int = 0

    def __post_init__(self) -> None:
        for name in ("ee_errno", "ee_info", "ee_data"):
            _check_uint(name, getattr(self, name), _U32)
        for name in ("ee_origin", "ee_type", "ee_code", "ee_pad"):
            _check_uint(name, getattr(self, name), 0xFF)

    def pack(self) -> bytes:
        return _EE.pack(self.ee_errno, self.ee_origin, self.ee_type, self.ee_code, self.ee_pad,
                        self.ee_info, self.ee_data)

    @classmethod
    def unpack(cls, data: bytes) -> SockExtendedErr:
        """Decode the first 16 bytes (an ``IP_RECVERR`` cmsg carries the offender address
        after them, which is ignored); fewer than 16 bytes raise ``ValueError``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        if len(data) < SOCK_EE_SIZE:
            raise ValueError(f"struct sock_extended_err is {SOCK_EE_SIZE} bytes, got "
                             f"{len(data)} (control buffer too small?)")
        return cls(*_EE.unpack(bytes(data[:SOCK_EE_SIZE])))

    @property
    def is_zerocopy(self) -> bool:
        return self.ee_origin == SO_EE_ORIGIN_ZEROCOPY

    @property
    def calls(self) -> range:
        """The sendmsg calls this zerocopy completion covers: ``range(ee_info, ee_data + 1)``
        (modulo 2**32, as the counter wraps)."""
        n = (self.ee_data - self.ee_info) % (1 << 32) + 1
        return range(self.ee_info, self.ee_info + n)

    @property
    def copied(self) -> bool:
        return bool(self.ee_code & SO_EE_CODE_ZEROCOPY_COPIED)


# --- netdev generic netlink family (include/uapi/linux/netdev.h) --------------------------
# uapi imports nothing of the package: tests/netlink/test_family_table.py checks every NETDEV_*
# below against the one family table (devmem_lab/netlink/family.py).
NETDEV_FAMILY_NAME = "netdev"
NETDEV_FAMILY_VERSION = 1
NETDEV_MCGRP_MGMT = "mgmt"
NETDEV_MCGRP_PAGE_POOL = "page-pool"

NETDEV_CMD_DEV_GET = 1
NETDEV_CMD_DEV_ADD_NTF = 2
NETDEV_CMD_DEV_DEL_NTF = 3
NETDEV_CMD_DEV_CHANGE_NTF = 4
NETDEV_CMD_PAGE_POOL_GET = 5
NETDEV_CMD_PAGE_POOL_ADD_NTF = 6
NETDEV_CMD_PAGE_POOL_DEL_NTF = 7
NETDEV_CMD_PAGE_POOL_CHANGE_NTF = 8
NETDEV_CMD_PAGE_POOL_STATS_GET = 9
NETDEV_CMD_QUEUE_GET = 10
NETDEV_CMD_NAPI_GET = 11
NETDEV_CMD_QSTATS_GET = 12
NETDEV_CMD_BIND_RX = 13
NETDEV_CMD_NAPI_SET = 14
NETDEV_CMD_BIND_TX = 15

NETDEV_A_DEV_IFINDEX = 1
NETDEV_A_DEV_PAD = 2
NETDEV_A_DEV_XDP_FEATURES = 3
NETDEV_A_DEV_XDP_ZC_MAX_SEGS = 4
NETDEV_A_DEV_XDP_RX_METADATA_FEATURES = 5
NETDEV_A_DEV_XSK_FEATURES = 6

NETDEV_A_PAGE_POOL_ID = 1
NETDEV_A_PAGE_POOL_IFINDEX = 2
NETDEV_A_PAGE_POOL_NAPI_ID = 3
NETDEV_A_PAGE_POOL_INFLIGHT = 4
NETDEV_A_PAGE_POOL_INFLIGHT_MEM = 5
NETDEV_A_PAGE_POOL_DETACH_TIME = 6
NETDEV_A_PAGE_POOL_DMABUF = 7
NETDEV_A_PAGE_POOL_IO_URING = 8

NETDEV_A_PAGE_POOL_STATS_INFO = 1
NETDEV_A_PAGE_POOL_STATS_ALLOC_FAST = 8
NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW = 9
NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW_HIGH_ORDER = 10
NETDEV_A_PAGE_POOL_STATS_ALLOC_EMPTY = 11
NETDEV_A_PAGE_POOL_STATS_ALLOC_REFILL = 12
NETDEV_A_PAGE_POOL_STATS_ALLOC_WAIVE = 13
NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHED = 14
NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHE_FULL = 15
NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING = 16
NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING_FULL = 17
NETDEV_A_PAGE_POOL_STATS_RECYCLE_RELEASED_REFCNT = 18

NETDEV_A_NAPI_IFINDEX = 1
NETDEV_A_NAPI_ID = 2
NETDEV_A_NAPI_IRQ = 3
NETDEV_A_NAPI_PID = 4

NETDEV_QUEUE_TYPE_RX = 0
NETDEV_QUEUE_TYPE_TX = 1
NETDEV_A_QUEUE_ID = 1
NETDEV_A_QUEUE_IFINDEX = 2
NETDEV_A_QUEUE_TYPE = 3
NETDEV_A_QUEUE_NAPI_ID = 4
NETDEV_A_QUEUE_DMABUF = 5
NETDEV_A_QUEUE_IO_URING = 6
NETDEV_A_QUEUE_XSK = 7

NETDEV_QSTATS_SCOPE_QUEUE = 1
NETDEV_A_QSTATS_IFINDEX = 1
NETDEV_A_QSTATS_QUEUE_TYPE = 2
NETDEV_A_QSTATS_QUEUE_ID = 3
NETDEV_A_QSTATS_SCOPE = 4
NETDEV_A_QSTATS_RX_PACKETS = 8
NETDEV_A_QSTATS_RX_BYTES = 9
NETDEV_A_QSTATS_TX_PACKETS = 10
NETDEV_A_QSTATS_TX_BYTES = 11
NETDEV_A_QSTATS_RX_ALLOC_FAIL = 12
NETDEV_A_QSTATS_RX_HW_DROPS = 13
NETDEV_A_QSTATS_RX_HW_DROP_OVERRUNS = 14

NETDEV_A_DMABUF_IFINDEX = 1
NETDEV_A_DMABUF_QUEUES = 2
NETDEV_A_DMABUF_FD = 3
NETDEV_A_DMABUF_ID = 4

__all__ += [n for n in list(globals()) if n.startswith(("NETDEV_",))]
