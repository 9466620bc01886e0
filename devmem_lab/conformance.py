"""Differential scenarios: the same devmem calls on an emulated host and on the running kernel.

Each :class:`Scenario` is one short piece of learner-style code (``host.netlink()``,
``ynl.Netdev``, ``host.socket(...)``) that takes a host-like object — ``Lab().server`` or
``LinuxHost()`` — and returns a comparable *outcome*:

* ``("error", "EINVAL", extack_msg, bad_attr_offset, missing_attr)`` for a refusal
  (``NetlinkError`` fields; ``None`` where the kernel sent none, always ``None`` for sockets);
* ``("ok", value)`` for a result (decoded netlink replies, a ``setsockopt`` return value,
  what ``recvmsg`` gave).

Only error paths a kernel can reach without a devmem NIC are here: bind-rx refusals that come
before the dma-buf fd is looked at (missing attributes, policy, ``ENODEV``, ``lo`` without
queue management), the socket-option checks of ``net/core/sock.c`` (``sk_setsockopt``,
``sock_devmem_dontneed``, ``sk_getsockopt``) and ``recvmsg(MSG_SOCK_DEVMEM)`` on ordinary
data (``net/ipv4/tcp.c``), and of devmem TX what needs no devmem NIC: bind-tx refusals, the
``SCM_DEVMEM_DMABUF`` cmsg checks of ``tcp_sendmsg_locked``/``__sock_cmsg_send``, SO_ZEROCOPY
values and the MSG_ZEROCOPY completions of ordinary sends over ``lo`` (SO_EE_CODE_ZEROCOPY_COPIED:
loopback copies). The fd passed to bind-rx is ``/dev/null``, never a dma-buf, so no
bind can succeed and nothing on the host changes. TCP scenarios on a real host run over
loopback (``127.0.0.1``).

``tests/live/conformance/`` and ``notebooks/09_your_kernel.ipynb`` both run :data:`SCENARIOS`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket as _socket
import struct
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import prerequisites as pre
from . import uapi, ynl
from .errors import NetlinkError
from .netlink import family as fam
from .netlink import wire

__all__ = [
    "NTF_SCENARIOS",
    "SCENARIOS",
    "Outcome",
    "Scenario",
    "by_name",
    "compare",
    "errname",
    "format_outcome",
    "is_emulated",
    "kernel_unavailable",
    "run_all",
    "run_scenario",
]

Outcome = tuple
MISSING_IFINDEX = 424242  # an ifindex no host has (checked; the next free one is used if not)
S, DONTNEED = uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED
TOKEN = struct.Struct("=II")  # struct dmabuf_token


@dataclass(frozen=True)
class Scenario:
    """One differential case: ``run(host) -> outcome``.

    ``needs_admin``: on a real kernel the path is reached only with ``CAP_NET_ADMIN`` (bind-rx
    is admin-perm: without it every request stops at EPERM). ``needs_ethtool``: the real host
    runs the ethtool binary. :attr:`needs` turns both into :mod:`~devmem_lab.prerequisites`.
    """

    name: str
    group: str  # "bind-rx", "netdev", "dump", "sockopt", "recvmsg", "tx", "ethtool", "ethtool-nl"
    what: str
    run: Callable[[Any], Outcome]
    needs_admin: bool = False
    attr_set: str = "dmabuf"  # names the missing attribute in the table
    needs_ethtool: bool = False  # real host: the ethtool binary must be installed

    def __repr__(self) -> str:
        return f"Scenario({self.name!r})"

    @property
    def needs(self) -> tuple[pre.Prerequisite, ...]:
        """What running this scenario on a real host needs (the one skip policy)."""
        return LIVE + (pre.ADMIN,) * self.needs_admin + (pre.ETHTOOL,) * self.needs_ethtool


#: What every scenario needs on a real host: Linux >= 6.12 with the netdev family.
LIVE = (pre.LINUX, pre.KERNEL, pre.NETDEV_FAMILY)


# ---- outcomes ---------------------------------------------------------------------------------
_NAMES = {errno.EOPNOTSUPP: "EOPNOTSUPP", errno.EAGAIN: "EAGAIN"}  # not ENOTSUP/EWOULDBLOCK


def errname(err: int | None) -> str:
    """``errno`` name of ``err``, preferring EOPNOTSUPP and EAGAIN over their aliases."""
    if err is None:
        return "None"
    return _NAMES.get(err) or errno.errorcode.get(err, str(err))


def _error(e: OSError) -> Outcome:
    if isinstance(e, NetlinkError):
        return ("error", errname(e.errno), e.extack_msg, e.bad_attr_offset, e.missing_attr)
    return ("error", errname(e.errno), None, None, None)


def run_scenario(scn: Scenario, host: Any) -> Outcome:
    """Run one scenario; an ``OSError`` becomes an ``("error", ...)`` outcome.

    Any other exception (a bug, a Python-level timeout) becomes ``("raised", class name,
    message, None, None)``: it never matches a kernel answer, and the table still prints.
    """
    try:
        return ("ok", scn.run(host))
    except OSError as e:
        if e.errno is None:  # a Python-level timeout or the like: not a kernel answer
            return ("raised", type(e).__name__, str(e), None, None)
        return _error(e)
    except Exception as e:  # noqa: BLE001 - reported as an outcome, never hidden
        return ("raised", type(e).__name__, str(e), None, None)


def _attr_name(attr_set: str, attr: int | None) -> str | None:
    if attr is None:
        return None
    for name, spec in fam.ATTR_SETS.get(attr_set, {}).items():
        if spec.id == attr:
            return name
    return str(attr)


def format_outcome(outcome: Outcome | str, attr_set: str = "dmabuf") -> str:
    """A short line: ``EINVAL missing=fd``, ``EOPNOTSUPP bad-attr@20``, ``ok 0``."""
    if isinstance(outcome, str):
        return outcome
    if outcome[0] == "ok":
        value = outcome[1]
        text = json.dumps(value, sort_keys=True, default=str) \
            if isinstance(value, (list, dict, tuple)) else repr(value)
        return "ok " + (text if len(text) <= 60 else text[:57] + "...")
    if outcome[0] == "raised":
        return f"raised {outcome[1]}"
    _, name, msg, offs, miss = outcome
    parts = [name]
    if msg:
        parts.append(f'"{msg}"')
    if offs is not None:
        parts.append(f"bad-attr@{offs}")
    if miss is not None:
        parts.append(f"missing={_attr_name(attr_set, miss)}")
    return " ".join(parts)


# ---- hosts ------------------------------------------------------------------------------------
def is_emulated(host: Any) -> bool:
    """An emulated host (``Lab().server``) rather than a :class:`~devmem_lab.LinuxHost`
    (the ``emulated`` flag of :class:`devmem_lab.host.HostLike`)."""
    return getattr(host, "emulated", False) is True


def _peer(host: Any) -> Any:
    """Where the client socket lives: the other emulated host, or the same real host."""
    if is_emulated(host):
        return host.lab.client if host is host.lab.server else host.lab.server
    return host


def _missing_ifindex(host: Any) -> int:
    i = MISSING_IFINDEX
    while True:
        try:
            host.if_indextoname(i)
        except OSError:
            return i
        i += 1


@contextlib.contextmanager
def _not_a_dmabuf():
    """A real fd that is not a dma-buf (``/dev/null``): bind-rx can never succeed with it."""
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _netdev(host: Any):
    """``ynl.Netdev(host.netlink())``, closed afterwards (bindings die with the socket)."""
    nl = ynl.Netdev(host.netlink())
    try:
        yield nl
    finally:
        nl.close()


def _request(host: Any, cmd: int, attrs: bytes, *, dump: bool = False, reserved: int = 0,
             attr_set: str = "dmabuf", ext_ack: bool = True) -> list[dict]:
    """Send raw attribute bytes as a netdev request and decode the replies.

    ``NETLINK_EXT_ACK`` is turned on unless ``ext_ack`` is False (then the socket keeps the
    kernel's default, off).
    """
    sock = host.netlink()
    try:
        if ext_ack:
            sock.setsockopt(wire.SOL_NETLINK, wire.NETLINK_EXT_ACK, 1)
        fid = ynl.resolve_family(sock, "netdev")
        msgs = ynl.request(sock, fid, cmd, attrs, seq=2, dump=dump, ack=not dump,
                           reserved=reserved)
        return [fam.decode(attr_set, wire.parse_genl(m.payload)[2]) for m in msgs]
    finally:
        sock.close()


def _u32(t: int, v: int) -> bytes:
    return wire.pack_attr(t, struct.pack("=I", v))


def _queue(qid: int, qtype: int = 0, *extra: bytes) -> bytes:
    return wire.pack_attr(2, _u32(1, qid) + _u32(3, qtype) + b"".join(extra), nested=True)


BIND_RX, BIND_TX = uapi.NETDEV_CMD_BIND_RX, uapi.NETDEV_CMD_BIND_TX


# ---- bind-rx: every refusal that comes before the dma-buf is looked at ------------------------
def bind_rx_no_attrs(host):
    """bind-rx with no attributes at all: the first required one (ifindex) is missing."""
    return _request(host, BIND_RX, b"")


def bind_rx_no_fd(host):
    """bind-rx with only an ifindex: GENL_REQ_ATTR_CHECK reports the missing fd."""
    return _request(host, BIND_RX, _u32(1, host.if_nametoindex("lo")))


def bind_rx_no_fd_without_ext_ack(host):
    """The same without NETLINK_EXT_ACK (the kernel's default): EINVAL and nothing else."""
    return _request(host, BIND_RX, _u32(1, host.if_nametoindex("lo")), ext_ack=False)


def bind_rx_no_queues(host):
    """bind-rx with ifindex and fd but an empty queue list (ncdevmem's first self-test)."""
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_rx(host.if_nametoindex("lo"), fd, [])


def bind_rx_no_such_device(host):
    """bind-rx on an ifindex that does not exist: ENODEV, no extack."""
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_rx(_missing_ifindex(host), fd, [0])


def bind_rx_lo(host):
    """bind-rx on loopback: lo has no queue management (not ops-locked), refused first."""
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_rx(host.if_nametoindex("lo"), fd, [0])


def bind_rx_lo_bad_fd(host):
    """bind-rx on lo with fd -1 (as u32): the device is refused before the fd is looked at."""
    with _netdev(host) as nl:
        return nl.bind_rx(host.if_nametoindex("lo"), 0xFFFFFFFF, [0])


def bind_rx_lo_queue_out_of_range(host):
    """bind-rx on lo, rx queue 5 (lo has one): the device check still comes first."""
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_rx(host.if_nametoindex("lo"), fd, [5])


def bind_rx_lo_tx_queue(host):
    """bind-rx on lo naming a tx queue: the device check still comes first."""
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_rx(host.if_nametoindex("lo"), fd, [{"id": 0, "type": "tx"}])


def bind_rx_ifindex_zero(host):
    """bind-rx with ifindex 0: the policy (min 1) refuses it, with the policy in the extack."""
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_rx(0, fd, [0])


def bind_rx_queues_not_nested(host):
    """The queues attribute sent without NLA_F_NESTED: strict validation refuses it."""
    with _not_a_dmabuf() as fd:
        attrs = _u32(1, host.if_nametoindex("lo")) + _u32(3, fd) \
            + wire.pack_attr(2, _u32(1, 0) + _u32(3, 0))
        return _request(host, BIND_RX, attrs)


def bind_rx_queue_type_2(host):
    """A queue of type 2 (only rx=0 and tx=1 exist): out of the policy's range."""
    with _not_a_dmabuf() as fd:
        return _request(host, BIND_RX, _u32(1, host.if_nametoindex("lo")) + _u32(3, fd)
                        + _queue(0, 2))


def bind_rx_unknown_attr_in_queue(host):
    """An attribute the queue-id nest does not have (5): "Unknown attribute type"."""
    with _not_a_dmabuf() as fd:
        return _request(host, BIND_RX, _u32(1, host.if_nametoindex("lo")) + _u32(3, fd)
                        + _queue(0, 0, _u32(5, 0)))


def bind_rx_trailing_bytes(host):
    """Two stray bytes after the last attribute."""
    with _not_a_dmabuf() as fd:
        return _request(host, BIND_RX, _u32(1, host.if_nametoindex("lo")) + _u32(3, fd)
                        + _queue(0) + b"\1\0")


def bind_rx_as_dump(host):
    """bind-rx sent with NLM_F_DUMP: the op has no dump, EOPNOTSUPP before any check."""
    return _request(host, BIND_RX, b"", dump=True)


def bind_rx_unprivileged(host):
    """bind-rx from a process without CAP_NET_ADMIN: EPERM before the attributes are read."""
    if is_emulated(host):
        from .kernel.af_netlink import NetlinkSocket
        nl = ynl.Netdev(NetlinkSocket(host.kernel, host.dmabufs, cap_net_admin=False))
        try:
            with _not_a_dmabuf() as fd:
                return nl.bind_rx(host.if_nametoindex("lo"), fd, [0])
        finally:
            nl.close()
    return _run_unprivileged(_bind_rx_lo_plain, host)


def _bind_rx_lo_plain(host):
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_rx(host.if_nametoindex("lo"), fd, [0])


def bind_tx_lo(host):
    """bind-tx on lo (no permission needed): lo does not support netmem TX."""
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_tx(host.if_nametoindex("lo"), fd)


def bind_tx_no_such_device(host):
    """bind-tx on an ifindex that does not exist."""
    with _not_a_dmabuf() as fd, _netdev(host) as nl:
        return nl.bind_tx(_missing_ifindex(host), fd)


# ---- other netdev requests: errors and decoded replies for lo ---------------------------------
def dev_get_no_such_device(host):
    """dev-get of an ifindex that does not exist: ENODEV."""
    with _netdev(host) as nl:
        return nl.dev_get(_missing_ifindex(host))


def dev_get_no_ifindex(host):
    """dev-get without an ifindex: the missing attribute is named in the extack."""
    return _request(host, uapi.NETDEV_CMD_DEV_GET, b"", attr_set="dev")


def queue_get_no_id(host):
    """queue-get with ifindex and type but no queue id."""
    return _request(host, uapi.NETDEV_CMD_QUEUE_GET,
                    _u32(2, host.if_nametoindex("lo")) + _u32(3, 0), attr_set="queue")


def qstats_reserved_scope_bit(host):
    """qstats-get dump with scope bit 2 set: only bit 0 (queue) exists, "reserved bit set"."""
    return _request(host, uapi.NETDEV_CMD_QSTATS_GET, _u32(4, 2), dump=True,
                    attr_set="qstats")


def queue_get_lo_rx5(host):
    """queue-get for rx queue 5 of lo (it has one): EINVAL, no extack."""
    with _netdev(host) as nl:
        return nl.queue_get(host.if_nametoindex("lo"), 5, "rx")


def qstats_lo(host):
    """qstats-get on lo: lo has no queue stats ops, EOPNOTSUPP pointing at the ifindex."""
    with _netdev(host) as nl:
        return nl.qstats_get(host.if_nametoindex("lo"))


def page_pool_get_missing(host):
    """page-pool-get of a pool id nobody has: ENOENT."""
    with _netdev(host) as nl:
        return nl.page_pool_get(999999)


def unknown_command(host):
    """A netdev command id the family does not have (99): EOPNOTSUPP."""
    return _request(host, 99, b"")


def genl_reserved_not_zero(host):
    """A genlmsghdr whose reserved field is 1: refused by the genetlink core."""
    return _request(host, uapi.NETDEV_CMD_DEV_GET, _u32(1, 1), reserved=1, attr_set="dev")


def dev_get_lo(host):
    """dev-get of lo, decoded (ifindex and XDP/XSK feature flags)."""
    with _netdev(host) as nl:
        return nl.dev_get(host.if_nametoindex("lo"))


def queue_dump_lo(host):
    """queue-get dump of lo: one rx and one tx queue."""
    with _netdev(host) as nl:
        return nl.queue_dump(host.if_nametoindex("lo"))


def queue_get_lo_tx0(host):
    """queue-get of lo's tx queue 0, decoded."""
    with _netdev(host) as nl:
        return nl.queue_get(host.if_nametoindex("lo"), 0, "tx")


def netdev_family_ops(host):
    """nlctrl getfamily netdev: version, ops with their flags (do/dump/permission), groups."""
    sock = host.netlink()
    try:
        out = sorted(_family_ops(sock).items())
    finally:
        sock.close()
    return [f"{uapi_name(cmd)}:{flags:#04x}" for cmd, flags in out]


def _family_ops(sock) -> dict[int, int]:
    return ynl.get_family(sock, "netdev")["ops"]


def uapi_name(cmd: int) -> str:
    from .linux_host import NETDEV_OPS
    return NETDEV_OPS.get(cmd, f"cmd-{cmd}")


# ---- socket options (net/core/sock.c) ---------------------------------------------------------
def _tcp(host):
    return host.socket(_socket.AF_INET, _socket.SOCK_STREAM)


def _udp(host):
    return host.socket(_socket.AF_INET, _socket.SOCK_DGRAM)


def dontneed_unknown_tokens(host):
    """Return tokens the socket never handed out: skipped silently, 0 freed."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, TOKEN.pack(1, 3))


def dontneed_empty(host):
    """An empty option: shorter than an int, sk_setsockopt refuses it first."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, b"")


def dontneed_int(host):
    """An int (4 bytes) instead of token ranges: not a multiple of 8."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, 1)


def dontneed_7_bytes(host):
    """7 bytes: an int fits, but 7 is not a multiple of 8."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, b"\0" * 7)


def dontneed_12_bytes(host):
    """12 bytes: one and a half token ranges."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, b"\0" * 12)


def dontneed_128_ranges(host):
    """128 ranges (MAX_DONTNEED_TOKENS): accepted."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, TOKEN.pack(1, 1) * 128)


def dontneed_129_ranges(host):
    """129 ranges: one more than MAX_DONTNEED_TOKENS."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, TOKEN.pack(1, 1) * 129)


def dontneed_huge_range(host):
    """One range of 2**32-1 tokens: nothing to free, returns quickly (1024-frag cap)."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, TOKEN.pack(1, 0xFFFFFFFF))


def dontneed_null_optval(host):
    """``setsockopt(SOL_SOCKET, SO_DEVMEM_DONTNEED, None, 8)``: a NULL buffer of 8 bytes."""
    with _tcp(host) as s:
        return s.setsockopt(S, DONTNEED, None, 8)


def dontneed_listening(host):
    """A listening TCP socket is still TCP: nothing to free, 0."""
    with _tcp(host) as s:
        s.bind((host.address4, 0))
        s.listen()
        return s.setsockopt(S, DONTNEED, TOKEN.pack(1, 1))


def dontneed_udp(host):
    """DONTNEED on UDP: not TCP, EBADF."""
    with _udp(host) as s:
        return s.setsockopt(S, DONTNEED, TOKEN.pack(1, 1))


def dontneed_udp_empty(host):
    """Empty option on UDP: the int-size check in sk_setsockopt comes before the TCP check."""
    with _udp(host) as s:
        return s.setsockopt(S, DONTNEED, b"")


def dontneed_udp_7_bytes(host):
    """7 bytes on UDP: long enough for sk_setsockopt, then not TCP (before the length check)."""
    with _udp(host) as s:
        return s.setsockopt(S, DONTNEED, b"\0" * 7)


def setsockopt_linear(host):
    """SO_DEVMEM_LINEAR is a cmsg type, not a settable option."""
    with _tcp(host) as s:
        return s.setsockopt(S, uapi.SO_DEVMEM_LINEAR, 1)


def setsockopt_dmabuf(host):
    """SO_DEVMEM_DMABUF is a cmsg type, not a settable option."""
    with _tcp(host) as s:
        return s.setsockopt(S, uapi.SO_DEVMEM_DMABUF, 1)


def getsockopt_linear(host):
    """getsockopt of SO_DEVMEM_LINEAR: no devmem option is readable."""
    with _tcp(host) as s:
        return s.getsockopt(S, uapi.SO_DEVMEM_LINEAR)


def getsockopt_dmabuf(host):
    """getsockopt of SO_DEVMEM_DMABUF with a 24-byte buffer."""
    with _tcp(host) as s:
        return s.getsockopt(S, uapi.SO_DEVMEM_DMABUF, 24)


def getsockopt_dontneed(host):
    """getsockopt of SO_DEVMEM_DONTNEED."""
    with _tcp(host) as s:
        return s.getsockopt(S, DONTNEED)


# ---- recvmsg(MSG_SOCK_DEVMEM) on ordinary data (net/ipv4/tcp.c) -------------------------------
@contextlib.contextmanager
def _tcp_pair(host):
    """A connected TCP pair: ``(client, server-side connection)`` over ``host.address4``."""
    with _connected(host, _peer(host), _socket.AF_INET, host.address4) as pair:
        yield pair


@contextlib.contextmanager
def _connected(server, client, family, addr):
    """``(client socket, accepted connection)``: a listener of ``server`` on ``addr`` (port
    0), connected from ``client``; 5 s timeouts on both ends; everything closed after."""
    ls = server.socket(family, _socket.SOCK_STREAM)
    cs = client.socket(family, _socket.SOCK_STREAM)
    conn = None
    try:
        ls.bind((addr, 0))
        ls.listen()
        cs.settimeout(5)
        cs.connect(ls.getsockname()[:2])
        conn, _ = ls.accept()
        conn.settimeout(5)
        yield cs, conn
    finally:
        for s in (conn, cs, ls):
            if s is not None:
                s.close()


def _msg(result) -> list:
    data, ancdata, flags, _addr = result
    return [data.decode(), len(ancdata), flags]


def recvmsg_devmem_plain(host):
    """recvmsg(MSG_SOCK_DEVMEM) on ordinary (readable) data: copied normally, no cmsgs."""
    with _tcp_pair(host) as (cs, conn):
        cs.sendall(b"hello devmem")
        return _msg(conn.recvmsg(100, 4096, uapi.MSG_SOCK_DEVMEM))


def recvmsg_devmem_no_ctrl_buffer(host):
    """The same with no control buffer at all: no devmem frag, so nothing needs one."""
    with _tcp_pair(host) as (cs, conn):
        cs.sendall(b"plain")
        return _msg(conn.recvmsg(100, 0, uapi.MSG_SOCK_DEVMEM))


def recvmsg_devmem_short_buffer(host):
    """A 4-byte buffer: the first 4 bytes now, the rest on the next call."""
    with _tcp_pair(host) as (cs, conn):
        cs.sendall(b"0123456789")
        first = _msg(conn.recvmsg(4, 4096, uapi.MSG_SOCK_DEVMEM))
        second = b""
        while len(second) < 6:
            second += conn.recvmsg(100, 4096, uapi.MSG_SOCK_DEVMEM)[0]
        return [first, second.decode()]


def recvmsg_devmem_peek(host):
    """MSG_PEEK | MSG_SOCK_DEVMEM on ordinary data: peeked, still there afterwards."""
    with _tcp_pair(host) as (cs, conn):
        cs.sendall(b"peek")
        peeked = _msg(conn.recvmsg(100, 4096, uapi.MSG_SOCK_DEVMEM | uapi.MSG_PEEK))
        return [peeked, conn.recv(100).decode()]


def recvmsg_into_devmem_plain(host):
    """recvmsg_into(MSG_SOCK_DEVMEM) on ordinary data: the bytes land in the caller's buffers,
    in order across them; the rest of the buffers is untouched."""
    with _tcp_pair(host) as (cs, conn):
        cs.sendall(b"into two buffers")
        head, tail = bytearray(b"." * 4), bytearray(b"." * 20)
        nbytes, ancdata, flags, _ = conn.recvmsg_into([head, tail], 4096, uapi.MSG_SOCK_DEVMEM)
        return [nbytes, len(ancdata), flags, (head + tail).decode()]


def dontneed_connected_after_read(host):
    """DONTNEED on a connection that read only ordinary data: no tokens, 0 freed."""
    with _tcp_pair(host) as (cs, conn):
        cs.sendall(b"x")
        conn.recvmsg(100, 4096, uapi.MSG_SOCK_DEVMEM)
        return conn.setsockopt(S, DONTNEED, TOKEN.pack(1, 100))


# ---- devmem TX and MSG_ZEROCOPY over loopback (net/ipv4/tcp.c, net/core/sock.c) -------------
ZC = uapi.MSG_ZEROCOPY
UNKNOWN_TX_ID = 424242  # a binding id no host has


@contextlib.contextmanager
def _loopback_pair(host, family=_socket.AF_INET):
    """A TCP pair over ``lo`` on one host (emulated or real): ``(client, connection)``."""
    addr = "127.0.0.1" if family == _socket.AF_INET else "::1"
    with _connected(host, host, family, addr) as pair:
        yield pair


def _settle(host) -> None:
    """Let ACKs come back (and completions be queued): lab time, or a moment of real time."""
    if is_emulated(host):
        host.lab.run(0.001)
    else:
        import time
        time.sleep(0.05)


def _errqueue(sock, ancbufsize: int = 100) -> list:
    """Every completion now on the error queue: [flags, [(level, type, len, ee fields)]]."""
    out = []
    sock.settimeout(None)  # with a timeout, Python first polls for POLLIN, which never comes
    for _ in range(50):
        try:
            _data, anc, flags, _ = sock.recvmsg(0, ancbufsize, uapi.MSG_ERRQUEUE)
        except BlockingIOError:
            break
        out.append([flags, [[lv, t, len(d)] + (list(dataclass_values(d)) if len(d) >= 16
                                                else []) for lv, t, d in anc]])
    return out


def dataclass_values(data: bytes) -> tuple:
    ee = uapi.SockExtendedErr.unpack(data)
    return (ee.ee_errno, ee.ee_origin, ee.ee_type, ee.ee_code, ee.ee_info, ee.ee_data)


def _dmabuf_cmsg(value: bytes):
    return [(S, uapi.SCM_DEVMEM_DMABUF, value)]


def so_zerocopy_values(host):
    """SO_ZEROCOPY on a TCP socket: 0 and 1 accepted (read back), 2 / -1 / 2 bytes EINVAL."""
    s = _tcp(host)
    out = []
    try:
        for v in (1, 0, 2, -1, b"\1\0", struct.pack("q", 1)):
            try:
                s.setsockopt(S, uapi.SO_ZEROCOPY, v)
                out.append(["ok", s.getsockopt(S, uapi.SO_ZEROCOPY)])
            except OSError as e:
                out.append(["error", errname(e.errno)])
    finally:
        s.close()
    return out


def so_zerocopy_udp(host):
    """SO_ZEROCOPY on a UDP socket: accepted too."""
    s = _udp(host)
    try:
        return s.setsockopt(S, uapi.SO_ZEROCOPY, 1)
    finally:
        s.close()


def dmabuf_cmsg_ordinary_send(host):
    """An SCM_DEVMEM_DMABUF cmsg on a send without MSG_ZEROCOPY: EINVAL."""
    with _loopback_pair(host) as (cs, _conn):
        return cs.sendmsg([b"z" * 10], _dmabuf_cmsg(uapi.pack_tx_dmabuf_id(7)), 0)


def dmabuf_cmsg_no_so_zerocopy(host):
    """The cmsg with MSG_ZEROCOPY but SO_ZEROCOPY off: EINVAL."""
    with _loopback_pair(host) as (cs, _conn):
        return cs.sendmsg([b"z" * 10], _dmabuf_cmsg(uapi.pack_tx_dmabuf_id(7)), ZC)


def dmabuf_cmsg_unknown_id(host):
    """MSG_ZEROCOPY + SO_ZEROCOPY with an id no binding has: EINVAL (net_devmem_get_binding)."""
    with _loopback_pair(host) as (cs, _conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        return cs.sendmsg([b"z" * 10], _dmabuf_cmsg(uapi.pack_tx_dmabuf_id(UNKNOWN_TX_ID)), ZC)


def dmabuf_cmsg_wrong_length(host):
    """The cmsg with 8 bytes of data (cmsg_len != CMSG_LEN(4)): EINVAL."""
    with _loopback_pair(host) as (cs, _conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        return cs.sendmsg([b"z" * 10], _dmabuf_cmsg(struct.pack("=Q", 7)), ZC)


def dmabuf_cmsg_id_zero(host):
    """Dma-buf id 0 means "not devmem": an ordinary MSG_ZEROCOPY send, all 10 bytes."""
    with _loopback_pair(host) as (cs, _conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        return cs.sendmsg([b"z" * 10], _dmabuf_cmsg(uapi.pack_tx_dmabuf_id(0)), ZC)


def dmabuf_cmsg_unconnected(host):
    """A bad-length cmsg on an unconnected socket: the cmsg error waits, EPIPE comes first."""
    s = _tcp(host)
    try:
        s.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        return s.sendmsg([b"a"], _dmabuf_cmsg(struct.pack("=Q", 7)), ZC)
    finally:
        s.close()


def unknown_sol_socket_cmsg(host):
    """A SOL_SOCKET cmsg type __sock_cmsg_send does not know: EINVAL."""
    with _loopback_pair(host) as (cs, _conn):
        return cs.sendmsg([b"m"], [(S, 1234, struct.pack("=I", 1))], 0)


def dmabuf_iov_without_cmsg(host):
    """DmabufIov(0, 10) without the cmsg: iov_base 0 is a NULL user pointer, EFAULT."""
    with _loopback_pair(host) as (cs, _conn):
        return cs.sendmsg([uapi.DmabufIov(0, 10)], [], 0)


def dmabuf_iov_unknown_id(host):
    """DmabufIov buffers with an unknown id: EINVAL before any offset is looked at."""
    with _loopback_pair(host) as (cs, _conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        return cs.sendmsg([uapi.DmabufIov(0, 10)],
                          _dmabuf_cmsg(uapi.pack_tx_dmabuf_id(UNKNOWN_TX_ID)), ZC)


def errqueue_empty(host):
    """recvmsg(MSG_ERRQUEUE) with nothing queued: EAGAIN, even on a blocking socket."""
    with _loopback_pair(host) as (cs, _conn):
        cs.settimeout(None)
        return cs.recvmsg(0, 100, uapi.MSG_ERRQUEUE)


def zerocopy_loopback_completions(host):
    """Three MSG_ZEROCOPY sends over lo: one completion [0, 2], code COPIED (lo copies)."""
    with _loopback_pair(host) as (cs, conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        sent = [cs.sendmsg([b"x" * 1000], [], ZC) for _ in range(3)]
        got = b""
        while len(got) < 3000:
            got += conn.recv(4000)
        _settle(host)
        return [sent, len(got), _errqueue(cs)]


def zerocopy_loopback_v6(host):
    """The same over ::1: an IPV6_RECVERR cmsg of 44 bytes (sockaddr_in6 offender)."""
    with _loopback_pair(host, _socket.AF_INET6) as (cs, conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        cs.sendmsg([b"v" * 100], [], ZC)
        conn.recv(200)
        _settle(host)
        return _errqueue(cs)


def zerocopy_completions_read_one_by_one(host):
    """A completion read after each send: ranges [0,0], [1,1], then an empty queue."""
    with _loopback_pair(host) as (cs, conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        out = []
        for _ in range(2):
            cs.sendmsg([b"y" * 10], [], ZC)
            conn.recv(100)
            _settle(host)
            out.append(_errqueue(cs))
        return out


def zerocopy_errqueue_truncated(host):
    """Control buffers of 40, 20 and 0 bytes: the cmsg cut short, MSG_CTRUNC set."""
    with _loopback_pair(host) as (cs, conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        out = []
        for anc in (40, 20, 0):
            cs.sendmsg([b"y" * 10], [], ZC)
            conn.recv(100)
            _settle(host)
            out.append(_errqueue(cs, anc))
        return out


def zerocopy_without_so_zerocopy(host):
    """MSG_ZEROCOPY without SO_ZEROCOPY: an ordinary copy, no completion at all."""
    with _loopback_pair(host) as (cs, conn):
        n = cs.sendmsg([b"q" * 10], [], ZC)
        conn.recv(100)
        _settle(host)
        return [n, _errqueue(cs)]


def zerocopy_empty_send(host):
    """A zero-length MSG_ZEROCOPY send takes no notification id: the next send is id 0."""
    with _loopback_pair(host) as (cs, conn):
        cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        first = cs.sendmsg([], [], ZC)
        cs.sendmsg([b"e" * 10], [], ZC)
        conn.recv(100)
        _settle(host)
        return [first, _errqueue(cs)]


# ---- ethtool on lo (the real binary on a LinuxHost; read-only commands only) -----------------
def _ethtool(host, cmdline: str):
    try:
        return host.ethtool(cmdline)
    except OSError as e:  # keep errno and exit status; the text differs between ethtool releases
        raise NetlinkError(e.errno, f"exit {getattr(e, 'returncode', None)}") from None


def ethtool_features_lo(host):
    """``ethtool -k lo``: lo's offload features, the whole text."""
    return _ethtool(host, "-k lo")


def ethtool_channels_lo(host):
    """``ethtool -l lo``: lo has no channels to report."""
    return _ethtool(host, "-l lo")


def ethtool_rings_lo(host):
    """``ethtool -g lo``: lo has no rings (so no tcp-data-split either)."""
    return _ethtool(host, "-g lo")


def ethtool_stats_lo(host):
    """``ethtool -S lo``: no driver statistics."""
    return _ethtool(host, "-S lo")


def ethtool_rings_missing_device(host):
    """``ethtool -g`` of a device that does not exist."""
    return _ethtool(host, "-g nosuchdev0")


# ---- the list -----------------------------------------------------------------------------------
def _s(fn: Callable, group: str, *, admin: bool = False, attr_set: str = "dmabuf") -> Scenario:
    doc = (fn.__doc__ or "").strip().split("\n")[0]
    return Scenario(fn.__name__.replace("_", "-"), group, doc, fn, admin, attr_set,
                    needs_ethtool=group == "ethtool")


SCENARIOS: tuple[Scenario, ...] = (
    _s(bind_rx_no_attrs, "bind-rx", admin=True),
    _s(bind_rx_no_fd, "bind-rx", admin=True),
    _s(bind_rx_no_fd_without_ext_ack, "bind-rx", admin=True),
    _s(bind_rx_no_queues, "bind-rx", admin=True),
    _s(bind_rx_no_such_device, "bind-rx", admin=True),
    _s(bind_rx_lo, "bind-rx", admin=True),
    _s(bind_rx_lo_bad_fd, "bind-rx", admin=True),
    _s(bind_rx_lo_queue_out_of_range, "bind-rx", admin=True),
    _s(bind_rx_lo_tx_queue, "bind-rx", admin=True),
    _s(bind_rx_ifindex_zero, "bind-rx", admin=True),
    _s(bind_rx_queues_not_nested, "bind-rx", admin=True),
    _s(bind_rx_queue_type_2, "bind-rx", admin=True),
    _s(bind_rx_unknown_attr_in_queue, "bind-rx", admin=True),
    _s(bind_rx_trailing_bytes, "bind-rx", admin=True),
    _s(bind_rx_as_dump, "bind-rx"),
    _s(bind_rx_unprivileged, "bind-rx"),
    _s(bind_tx_lo, "tx"),
    _s(bind_tx_no_such_device, "tx"),
    _s(dev_get_no_such_device, "netdev"),
    _s(dev_get_no_ifindex, "netdev", attr_set="dev"),
    _s(queue_get_no_id, "netdev", attr_set="queue"),
    _s(qstats_reserved_scope_bit, "netdev"),
    _s(queue_get_lo_rx5, "netdev"),
    _s(qstats_lo, "netdev"),
    _s(page_pool_get_missing, "netdev"),
    _s(unknown_command, "netdev"),
    _s(genl_reserved_not_zero, "netdev"),
    _s(dev_get_lo, "dump"),
    _s(queue_dump_lo, "dump"),
    _s(queue_get_lo_tx0, "dump"),
    _s(netdev_family_ops, "dump"),
    _s(dontneed_unknown_tokens, "sockopt"),
    _s(dontneed_empty, "sockopt"),
    _s(dontneed_int, "sockopt"),
    _s(dontneed_7_bytes, "sockopt"),
    _s(dontneed_12_bytes, "sockopt"),
    _s(dontneed_128_ranges, "sockopt"),
    _s(dontneed_129_ranges, "sockopt"),
    _s(dontneed_huge_range, "sockopt"),
    _s(dontneed_null_optval, "sockopt"),
    _s(dontneed_listening, "sockopt"),
    _s(dontneed_udp, "sockopt"),
    _s(dontneed_udp_empty, "sockopt"),
    _s(dontneed_udp_7_bytes, "sockopt"),
    _s(setsockopt_linear, "sockopt"),
    _s(setsockopt_dmabuf, "sockopt"),
    _s(getsockopt_linear, "sockopt"),
    _s(getsockopt_dmabuf, "sockopt"),
    _s(getsockopt_dontneed, "sockopt"),
    _s(recvmsg_devmem_plain, "recvmsg"),
    _s(recvmsg_devmem_no_ctrl_buffer, "recvmsg"),
    _s(recvmsg_devmem_short_buffer, "recvmsg"),
    _s(recvmsg_devmem_peek, "recvmsg"),
    _s(recvmsg_into_devmem_plain, "recvmsg"),
    _s(dontneed_connected_after_read, "recvmsg"),
    _s(so_zerocopy_values, "tx"),
    _s(so_zerocopy_udp, "tx"),
    _s(dmabuf_cmsg_ordinary_send, "tx"),
    _s(dmabuf_cmsg_no_so_zerocopy, "tx"),
    _s(dmabuf_cmsg_unknown_id, "tx"),
    _s(dmabuf_cmsg_wrong_length, "tx"),
    _s(dmabuf_cmsg_id_zero, "tx"),
    _s(dmabuf_cmsg_unconnected, "tx"),
    _s(unknown_sol_socket_cmsg, "tx"),
    _s(dmabuf_iov_without_cmsg, "tx"),
    _s(dmabuf_iov_unknown_id, "tx"),
    _s(errqueue_empty, "tx"),
    _s(zerocopy_loopback_completions, "tx"),
    _s(zerocopy_loopback_v6, "tx"),
    _s(zerocopy_completions_read_one_by_one, "tx"),
    _s(zerocopy_errqueue_truncated, "tx"),
    _s(zerocopy_without_so_zerocopy, "tx"),
    _s(zerocopy_empty_send, "tx"),
    _s(ethtool_features_lo, "ethtool"),
    _s(ethtool_channels_lo, "ethtool"),
    _s(ethtool_rings_lo, "ethtool"),
    _s(ethtool_stats_lo, "ethtool"),
    _s(ethtool_rings_missing_device, "ethtool"),
)


def by_name(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r}")


# ---- running on a real kernel ----------------------------------------------------------------
def kernel_unavailable(*, needs_admin: bool = False) -> str | None:
    """Why the running kernel cannot be compared (``None`` if it can).

    Checked in order (:func:`devmem_lab.prerequisites.missing`): not Linux; kernel older than
    6.12; no netdev generic-netlink family; (``needs_admin``) no ``CAP_NET_ADMIN``. Nothing is
    changed on the host.
    """
    return pre.missing(LIVE + (pre.ADMIN,) * needs_admin)


def _run_unprivileged(fn: Callable[[Any], Any], host: Any) -> Any:
    """Run ``fn(host)`` without CAP_NET_ADMIN; as root, in a forked child that drops to nobody."""
    from . import linux_host
    if not linux_host.has_cap_net_admin():
        return fn(host)
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a threaded process
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                out = ("ok", fn(host))
            except OSError as e:
                out = _error(e)
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    out = tuple(json.loads(data))
    if out[0] == "ok":
        return out[1]
    raise NetlinkError(getattr(errno, out[1]), out[2], out[3], out[4])


def run_all(host: Any, scenarios: Iterable[Scenario] | None = None) -> dict[str, Outcome | str]:
    """Outcome of every scenario on ``host``; on a real kernel a skip reason where it can't run."""
    scenarios = SCENARIOS if scenarios is None else scenarios  # read late: sections append
    out: dict[str, Outcome | str] = {}
    emulated = is_emulated(host)
    reasons: dict[tuple, str | None] = {}  # asked once per distinct set of needs
    for scn in scenarios:
        if not emulated and scn.needs not in reasons:
            reasons[scn.needs] = pre.missing(scn.needs)
        reason = None if emulated else reasons[scn.needs]
        out[scn.name] = reason if reason else run_scenario(scn, host)
    return out


def compare(emulated: dict[str, Outcome | str], kernel: dict[str, Outcome | str],
            scenarios: Iterable[Scenario] | None = None):
    """Side-by-side DataFrame: scenario, group, emulator, kernel, agree ("yes"/"NO"/"skipped")."""
    import pandas as pd
    scenarios = SCENARIOS if scenarios is None else scenarios
    rows = []
    for scn in scenarios:
        e, k = emulated.get(scn.name), kernel.get(scn.name)
        if isinstance(k, str) or k is None:
            agree = "skipped"
        else:
            agree = "yes" if _same(e, k) else "NO"
        rows.append({"scenario": scn.name, "group": scn.group,
                     "emulator": format_outcome(e, scn.attr_set) if e is not None else "-",
                     "kernel": format_outcome(k, scn.attr_set) if k is not None else "-",
                     "agree": agree})
    return pd.DataFrame(rows).set_index("scenario")


def _same(a: Any, b: Any) -> bool:
    """Outcome equality with lists and tuples alike (JSON round trips turn one into the other)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                      default=str)


# ---- multicast notifications (net/netlink/af_netlink.c netlink_setsockopt, netdev-genl.c) ----
# A list of its own, not in SCENARIOS (notebook 09 shows that one as stored): the recorded
# answers are in tests/fixtures/netdev_ntf_real.json ("conformance"). Only what a real host
# answers without a change to its devices (membership, group names); the ntf bytes and their
# order are compared against the recorded ntfs in tests/netlink/test_netdev_ntf.py.
def _join(host, value) -> int:
    """``NETLINK_ADD_MEMBERSHIP`` with ``value`` on a fresh socket; 0 once accepted."""
    sock = host.netlink()
    try:
        sock.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, value)
        return 0
    finally:
        sock.close()


def netdev_mcast_groups(host):
    """nlctrl getfamily netdev: the names of its multicast groups, in the kernel's order."""
    sock = host.netlink()
    try:
        return list(ynl.get_family(sock, "netdev")["mcgrps"])
    finally:
        sock.close()


def join_netdev_groups(host):
    """Join mgmt and page-pool by the ids nlctrl reports: both accepted."""
    sock = host.netlink()
    try:
        groups = ynl.get_family(sock, "netdev")["mcgrps"]
    finally:
        sock.close()
    return [_join(host, groups[name]) for name in ("mgmt", "page-pool")]


def join_group_zero(host):
    """Group 0 is no group: EINVAL."""
    return _join(host, 0)


def join_group_beyond_ngroups(host):
    """Group 65, beyond NETLINK_GENERIC's 64 groups: EINVAL."""
    return _join(host, 65)


def join_group_short_optval(host):
    """A 2-byte option value (shorter than an int): EINVAL."""
    return _join(host, b"\4\0")


NTF_SCENARIOS: tuple[Scenario, ...] = (
    _s(netdev_mcast_groups, "netdev"),
    _s(join_netdev_groups, "netdev"),
    _s(join_group_zero, "netdev"),
    _s(join_group_beyond_ngroups, "netdev"),
    _s(join_group_short_optval, "netdev"),
)

# ==== ethtool netlink: the ethtool generic-netlink family on lo ================================
# Raw requests and the ynl_ethtool client against lo (ifindex 1) or a device that does not
# exist; SETs either fail or name only bits lo cannot change, so nothing on the host changes.
# The family's id and multicast group ids depend on boot order, so they are left out.
from . import ynl_ethtool  # this section is appended: its imports are here
from .netlink import ethtool_family as efam


def _ethtool_request(host: Any, op: str, attrs: bytes, *, dump: bool = False,
                     attr_set: str = "rings") -> list[dict]:
    """Raw attribute bytes as an ethtool request (``NETLINK_EXT_ACK`` on); decoded replies."""
    with contextlib.closing(host.netlink()) as sock:
        sock.setsockopt(wire.SOL_NETLINK, wire.NETLINK_EXT_ACK, 1)
        fid = ynl.resolve_family(sock, "ethtool")
        flags = wire.NLM_F_REQUEST | (wire.NLM_F_DUMP if dump else wire.NLM_F_ACK)
        sock.send(wire.pack_nlmsg(fid, flags, 2, 0, wire.GENLMSGHDR.pack(efam.MSG[op], 1, 0)
                                  + attrs))
        return [efam.decode(attr_set, wire.parse_genl(m.payload)[2])
                for m in ynl._replies(sock, 2, dump=dump)]


def _eth(host: Any):
    return contextlib.closing(ynl_ethtool.Ethtool(host.netlink()))


def _hdr(*attrs: bytes) -> bytes:
    return wire.pack_attr(1, b"".join(attrs), nested=True)


def _name(t: int, name: str) -> bytes:
    return wire.pack_attr(t, name.encode() + b"\0")


_LO = _hdr(_u32(1, 1))


def ethtool_nl_family(host):
    """nlctrl GETFAMILY "ethtool": version, op flags, multicast group names."""
    with contextlib.closing(host.netlink()) as sock:
        sock.send(wire.pack_genlmsg(wire.GENL_ID_CTRL, wire.NLM_F_REQUEST | wire.NLM_F_ACK, 1, 0,
                                    3, 1, _name(2, "ethtool")))
        a = wire.attrs_by_type(wire.parse_genl(ynl._replies(sock, 1, dump=False)[0].payload)[2])
    ops = {}
    for o in wire.iter_attrs(a[6].payload):
        t = wire.attrs_by_type(o.payload)
        ops[t[1].u32()] = t[2].u32()
    groups = [wire.attrs_by_type(g.payload)[1].string() for g in wire.iter_attrs(a[7].payload)]
    return {"version": a[3].u32(), "hdrsize": a[4].u32(), "maxattr": a[5].u32(),
            "ops": {str(k): hex(v) for k, v in sorted(ops.items())}, "groups": groups}


def ethtool_nl_rings_get_lo(host):
    """RINGS_GET on lo: no get_ringparam, EOPNOTSUPP without extack."""
    with _eth(host) as et:
        return et.rings_get(1)


def ethtool_nl_rings_get_by_name_lo(host):
    """RINGS_GET on lo named in the header (DEV_NAME "lo"): the same EOPNOTSUPP."""
    with _eth(host) as et:
        return et.rings_get("lo")


def ethtool_nl_rings_set_lo(host):
    """RINGS_SET rx 512 on lo: set_validate finds no ring ops, EOPNOTSUPP."""
    with _eth(host) as et:
        return et.rings_set(1, rx=512)


def ethtool_nl_rings_set_lo_hds_thresh(host):
    """RINGS_SET hds-thresh 0 on lo: "setting hds-thresh is not supported" at the attribute."""
    with _eth(host) as et:
        return et.rings_set(1, hds_thresh=0)


def ethtool_nl_rings_set_lo_tcp_data_split(host):
    """RINGS_SET tcp-data-split on for lo: "setting TCP data split is not supported"."""
    with _eth(host) as et:
        return et.rings_set(1, tcp_data_split="on")


def ethtool_nl_rings_set_tcp_data_split_3(host):
    """tcp-data-split 3 (above ENABLED): the policy's ERANGE, before the device is looked at."""
    with _eth(host) as et:
        return et.rings_set(1, tcp_data_split=3)


def ethtool_nl_rings_set_hds_thresh_max(host):
    """hds-thresh-max is reply-only: "Unsupported attribute" (RINGS_SET's maxattr is 18)."""
    return _ethtool_request(host, "rings-set", _LO + _u32(18, 1))


def ethtool_nl_rings_get_no_header(host):
    """RINGS_GET without a header: EINVAL naming the missing attribute (header, 1)."""
    return _ethtool_request(host, "rings-get", b"")


def ethtool_nl_rings_get_no_such_ifindex(host):
    """Header with an ifindex no device has: ENODEV "no device matches ifindex"."""
    return _ethtool_request(host, "rings-get", _hdr(_u32(1, _missing_ifindex(host))))


def ethtool_nl_rings_get_no_such_name(host):
    """Header with a name no device has: ENODEV "no device matches name"."""
    return _ethtool_request(host, "rings-get", _hdr(_name(2, "nosuchdev0")))


def ethtool_nl_rings_get_index_name_mismatch(host):
    """ifindex 1 with another name: ENODEV "ifindex and name do not match" at the header."""
    return _ethtool_request(host, "rings-get", _hdr(_u32(1, 1), _name(2, "nosuchdev0")))


def ethtool_nl_rings_get_empty_header(host):
    """An empty header: EINVAL "neither ifindex nor name specified"."""
    return _ethtool_request(host, "rings-get", _hdr())


def ethtool_nl_rings_get_header_flags_4(host):
    """Header flags bit 2 (only COMPACT_BITSETS and OMIT_REPLY exist here): "reserved bit set"."""
    return _ethtool_request(host, "rings-get", _hdr(_u32(1, 1), _u32(3, 4)))


def ethtool_nl_rings_get_header_not_nested(host):
    """The header without NLA_F_NESTED: strict validation refuses it."""
    return _ethtool_request(host, "rings-get", wire.pack_attr(1, _u32(1, 1)))


def ethtool_nl_rings_get_unknown_attr(host):
    """An attribute above RINGS_GET's maxattr (1): "Unknown attribute type"."""
    return _ethtool_request(host, "rings-get", _LO + _u32(2, 1))


def ethtool_nl_rings_dump_missing_device(host):
    """A RINGS_GET dump whose header names no device: ENODEV in the ack, not in NLMSG_DONE."""
    return _ethtool_request(host, "rings-get", _hdr(_u32(1, _missing_ifindex(host))),
                            dump=True)


def ethtool_nl_channels_get_lo(host):
    """CHANNELS_GET on lo: no get_channels, EOPNOTSUPP."""
    with _eth(host) as et:
        return et.channels_get(1)


def ethtool_nl_channels_set_lo(host):
    """CHANNELS_SET combined 2 on lo: EOPNOTSUPP."""
    with _eth(host) as et:
        return et.channels_set(1, combined_count=2)


def ethtool_nl_rss_get_lo(host):
    """RSS_GET on lo: no RSS ops, EOPNOTSUPP."""
    with _eth(host) as et:
        return et.rss_get(1)


def ethtool_nl_features_get_lo(host):
    """FEATURES_GET on lo, verbose bitsets: hw, wanted, active and nochange by name."""
    with _eth(host) as et:
        return et.features_get(1)


def ethtool_nl_features_get_lo_compact(host):
    """FEATURES_GET on lo with ETHTOOL_FLAG_COMPACT_BITSETS: the same as bit masks."""
    with _eth(host) as et:
        return et.features_get("lo", compact=True)


def ethtool_nl_features_set_lo_fixed(host):
    """FEATURES_SET tx-scatter-gather off on lo (fixed): nothing changes, the reply says so."""
    with _eth(host) as et:
        return et.features_set(1, {"tx-scatter-gather": False})


def ethtool_nl_features_set_bad_name(host):
    """FEATURES_SET of a name the kernel does not know: EOPNOTSUPP "bit name not found"."""
    with _eth(host) as et:
        return et.features_set(1, {"no-such-feature": True})


def ethtool_nl_features_set_never_change(host):
    """FEATURES_SET of vlan-challenged (NETIF_F_NEVER_CHANGE): "attempt to change non-ethtool
    features"."""
    with _eth(host) as et:
        return et.features_set(1, {"vlan-challenged": True})


def ethtool_nl_features_set_no_wanted(host):
    """FEATURES_SET without a WANTED bitset: EINVAL, no extack."""
    return _ethtool_request(host, "features-set", _LO, attr_set="features")


def ethtool_nl_features_set_compact_no_size(host):
    """A compact WANTED bitset without SIZE: "missing size in compact bitset" at the nest."""
    bitset = wire.pack_attr(4, bytes(4)) + wire.pack_attr(5, bytes(4))
    return _ethtool_request(host, "features-set", _LO + wire.pack_attr(3, bitset, nested=True),
                            attr_set="features")


def ethtool_nl_rings_set_unprivileged(host):
    """RINGS_SET without CAP_NET_ADMIN: EPERM (GENL_UNS_ADMIN_PERM) before anything else."""
    if is_emulated(host):
        from .kernel.af_netlink import NetlinkSocket
        with contextlib.closing(ynl_ethtool.Ethtool(
                NetlinkSocket(host.kernel, host.dmabufs, cap_net_admin=False))) as et:
            return et.rings_set(1, rx=512)
    return _run_unprivileged(ethtool_nl_rings_set_lo, host)


def _nl(fn: Callable, *, admin: bool = False) -> Scenario:
    doc = (fn.__doc__ or "").strip().split("\n")[0]
    return Scenario(fn.__name__.replace("_", "-"), "ethtool-nl", doc, fn, admin, "rings")


ETHTOOL_NL_SCENARIOS: tuple[Scenario, ...] = (
    _nl(ethtool_nl_family),
    _nl(ethtool_nl_rings_get_lo),
    _nl(ethtool_nl_rings_get_by_name_lo),
    _nl(ethtool_nl_rings_set_lo, admin=True),
    _nl(ethtool_nl_rings_set_lo_hds_thresh, admin=True),
    _nl(ethtool_nl_rings_set_lo_tcp_data_split, admin=True),
    _nl(ethtool_nl_rings_set_tcp_data_split_3, admin=True),
    _nl(ethtool_nl_rings_set_hds_thresh_max, admin=True),
    _nl(ethtool_nl_rings_get_no_header),
    _nl(ethtool_nl_rings_get_no_such_ifindex),
    _nl(ethtool_nl_rings_get_no_such_name),
    _nl(ethtool_nl_rings_get_index_name_mismatch),
    _nl(ethtool_nl_rings_get_empty_header),
    _nl(ethtool_nl_rings_get_header_flags_4),
    _nl(ethtool_nl_rings_get_header_not_nested),
    _nl(ethtool_nl_rings_get_unknown_attr),
    _nl(ethtool_nl_rings_dump_missing_device),
    _nl(ethtool_nl_channels_get_lo),
    _nl(ethtool_nl_channels_set_lo, admin=True),
    _nl(ethtool_nl_rss_get_lo),
    _nl(ethtool_nl_features_get_lo),
    _nl(ethtool_nl_features_get_lo_compact),
    _nl(ethtool_nl_features_set_lo_fixed, admin=True),
    _nl(ethtool_nl_features_set_bad_name, admin=True),
    _nl(ethtool_nl_features_set_never_change, admin=True),
    _nl(ethtool_nl_features_set_no_wanted, admin=True),
    _nl(ethtool_nl_features_set_compact_no_size, admin=True),
    _nl(ethtool_nl_rings_set_unprivileged),
)
SCENARIOS = SCENARIOS + ETHTOOL_NL_SCENARIOS
