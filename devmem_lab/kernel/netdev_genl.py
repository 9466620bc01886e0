"""The emulated kernel side of generic netlink: genetlink core, nlctrl and the netdev family.

Models ``net/netlink/genetlink.c`` (``genl_rcv_msg``: family lookup, header check, op lookup,
``GENL_ADMIN_PERM``, strict policy parse), ``lib/nlattr.c`` (``__nla_validate_parse`` and
``validate_nla``: the extack text, bad-attribute offset and policy of each refusal),
``net/netlink/genetlink.c`` ``ctrl_getfamily`` (nlctrl) and the handlers of
``net/core/netdev-genl.c`` and ``net/core/page_pool_user.c``: dev-get, page-pool-get,
queue-get, napi-get/set, qstats-get, bind-rx (check order per release, see
``docs/kernel-facts.md``, "bind-rx check order") and bind-tx.

Every error text, errno and offset here was compared with a running 6.18 kernel where it
could answer (``tests/fixtures/netdev_real.json``). Emulator choices: the emulated process
always holds ``CAP_NET_ADMIN`` unless the socket was made with ``cap_net_admin=False``;
dumps are taken as a snapshot when requested (the kernel walks live state chunk by chunk);
``eth1`` reports XDP features basic/redirect/ndo-xmit/rx-sg and supports netmem TX unless the
lab was made with ``netmem_tx=False``.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import DevmemError
from ..netlink import family as fam
from ..netlink import wire
from ..netlink.family import Policy
from .devmem import bind_dmabuf, open_rxq
from .devmem_tx import bind_tx

if TYPE_CHECKING:
    from .af_netlink import NetlinkSocket
    from .state import Kernel

__all__ = [
    "MIN_NAPI_ID",
    "DoResult",
    "DumpResult",
    "GenlError",
    "NetdevGenl",
    "parse_attrs",
]

MIN_NAPI_ID = 8193  # include/net/busy_poll.h: NR_CPUS + 1 with NR_CPUS = 8192
PAGE_SIZE = 4096
GENL_HDR_END = wire.NLMSGHDR.size + wire.GENL_HDRLEN  # offset of the first attribute
_U32 = struct.Struct("=I")
# eth1's xdp-features: NETDEV_XDP_ACT_BASIC | REDIRECT | NDO_XMIT | RX_SG (emulator choice)
NIC_XDP_FEATURES = 0x1 | 0x2 | 0x4 | 0x20


class GenlError(Exception):
    """A handler's negative return plus what it put in ``struct netlink_ext_ack``.

    ``bad_attr`` and ``miss_nest`` are byte offsets from the request's ``nlmsghdr``.
    """

    def __init__(self, err: int, msg: str | None = None, *, bad_attr: int | None = None,
                 policy: bytes | None = None, miss_type: int | None = None,
                 miss_nest: int | None = None) -> None:
        super().__init__(err, msg)
        self.errno = err
        self.msg = msg
        self.bad_attr = bad_attr
        self.policy = policy
        self.miss_type = miss_type
        self.miss_nest = miss_nest

    def tlvs(self, include_error_fields: bool = True) -> bytes:
        """The extack TLVs (``netlink_ack_tlv_fill``)."""
        if not include_error_fields:
            return wire.pack_extack(msg=self.msg)
        return wire.pack_extack(msg=self.msg, offset=self.bad_attr, policy=self.policy,
                                miss_type=self.miss_type, miss_nest=self.miss_nest)


@dataclass
class DoResult:
    """Reply messages of a ``doit`` (each goes out as its own datagram)."""

    replies: list[bytes] = field(default_factory=list)


@dataclass
class DumpResult:
    """Messages of a ``dumpit`` and its final status (0 or a GenlError for NLMSG_DONE)."""

    messages: list[bytes] = field(default_factory=list)
    error: GenlError | None = None
    multi_flag: int = 0  # nlmsg_flags of the dump messages (netdev: 0; nlctrl: NLM_F_MULTI)


#: the policy extack of an NLA_U16 attribute, as the 6.18 kernel sends it: MIN_VALUE_U 0,
#: MAX_VALUE_U 0xffff, TYPE NL_ATTR_TYPE_U16 (read from this machine's kernel)
_U16_POLICY_EXTACK = bytes.fromhex("0c00040000000000000000000c000500ffff00000000000008000100"
                                   "03000000")


# ---- lib/nlattr.c: strict validation ------------------------------------------------------
def _policy_error(err: int, msg: str, a: wire.Attr, p: Policy, with_policy: bool = True):
    return GenlError(err, msg, bad_attr=a.offset,
                     policy=fam.policy_extack(p) if with_policy else None)


def _validate_attr(a: wire.Attr, p: Policy) -> None:
    """``validate_nla`` in strict mode for the policy types the netdev family uses."""
    n = len(a.payload)
    if p.type == "u32" and n != 4:
        raise _policy_error(errno.EINVAL, "invalid attribute length", a, p)
    if p.type == "nest" and not a.nested:
        raise _policy_error(errno.EINVAL, "NLA_F_NESTED is missing", a, p)
    if p.type != "nest" and a.nested:
        raise _policy_error(errno.EINVAL, "NLA_F_NESTED not expected", a, p)
    if p.type == "uint" and n not in (4, 8):
        raise _policy_error(errno.EINVAL, "invalid attribute length", a, p)
    if p.type == "nest":
        if n == 0:
            return
        if n < wire.NLATTR.size:
            raise _policy_error(errno.ERANGE, "Attribute failed policy validation", a, p)
        if p.nested is not None:
            maxattr, inner = p.nested
            parse_attrs(a.payload, a.offset + wire.NLATTR.size, maxattr, inner)
        return
    value = a.u32() if p.type == "u32" else a.uint()
    if p.mask is not None:
        if value & ~p.mask:
            raise GenlError(errno.EINVAL, "reserved bit set", bad_attr=a.offset)
        return
    if value < p.min or value > p.upper:
        raise _policy_error(errno.ERANGE, "integer out of range", a, p)


def parse_attrs(data: bytes, base: int, maxattr: int,
                policy: Mapping[int, Policy]) -> dict[int, wire.Attr]:
    """``__nla_validate_parse`` with ``NL_VALIDATE_STRICT``: the ``tb[]`` array.

    ``base`` is the offset of ``data`` from the request's ``nlmsghdr``, so error offsets are
    the ones the kernel reports.

    Raises
    ------
    GenlError
        EINVAL "Unknown attribute type" (type 0 or above ``maxattr``), EINVAL "Unsupported
        attribute" (no policy entry), EINVAL "invalid attribute length", EINVAL
        "NLA_F_NESTED is missing" / "NLA_F_NESTED not expected", ERANGE "integer out of
        range", EINVAL "reserved bit set", EINVAL "bytes leftover after parsing attributes".
    """
    tb: dict[int, wire.Attr] = {}
    pos, rem = 0, len(data)
    while rem >= wire.NLATTR.size:
        length, raw = wire.NLATTR.unpack_from(data, pos)
        if length < wire.NLATTR.size or length > rem:
            break
        a = wire.Attr(raw & wire.NLA_TYPE_MASK, bytes(data[pos + 4:pos + length]), base + pos,
                      bool(raw & wire.NLA_F_NESTED), bool(raw & wire.NLA_F_NET_BYTEORDER))
        if a.type == 0 or a.type > maxattr:
            raise GenlError(errno.EINVAL, "Unknown attribute type", bad_attr=a.offset)
        p = policy.get(a.type)
        if p is None:
            raise GenlError(errno.EINVAL, "Unsupported attribute", bad_attr=a.offset)
        _validate_attr(a, p)
        tb[a.type] = a
        step = wire.nla_align(length)
        pos += step
        rem -= step
    if rem > 0:
        raise GenlError(errno.EINVAL, "bytes leftover after parsing attributes")
    return tb


def _req(tb: Mapping[int, wire.Attr], attr: int, nest: wire.Attr | None = None) -> wire.Attr:
    """``GENL_REQ_ATTR_CHECK`` / ``NL_REQ_ATTR_CHECK``: EINVAL with the missing type."""
    if attr not in tb:
        raise GenlError(errno.EINVAL, miss_type=attr,
                        miss_nest=nest.offset if nest is not None else None)
    return tb[attr]


def _devmem_error(e: DevmemError) -> GenlError:
    """A DevmemError as the handler returns it: its text is extack only if not strerror."""
    msg = e.strerror if e.strerror and e.strerror != os.strerror(e.errno) else None
    return GenlError(e.errno, msg)


# ---- message building ----------------------------------------------------------------------
def _u32(t: int, v: int) -> bytes:
    return wire.pack_attr(t, _U32.pack(v))


def _u64(t: int, v: int) -> bytes:
    return wire.pack_attr(t, struct.pack("=Q", v))


def _uint(t: int, v: int) -> bytes:
    """``nla_put_uint``: 4 bytes when the value fits, else 8 (no pad on x86_64)."""
    return _u32(t, v) if v <= 0xFFFFFFFF else _u64(t, v)


@dataclass
class _Request:
    sock: NetlinkSocket
    msg: wire.NlMsg
    cmd: int
    attrs: bytes  # attribute bytes after the genl header
    tb: dict[int, wire.Attr]

    def reply(self, family_id: int, version: int, body: bytes, flags: int = 0) -> bytes:
        """``genlmsg_iput``: same cmd, the family's version, seq of the request."""
        return wire.pack_genlmsg(family_id, flags, self.msg.seq, self.sock.portid, self.cmd,
                                 version, body)


class NetdevGenl:
    """One kernel's genetlink: families, port ids, and the netdev handlers (``Kernel.genl``).

    Port ids follow ``netlink_autobind``: the first socket gets the (emulated) process id
    :attr:`PROCESS_PID`, later ones count down from -4097 (as u32) while it is taken.
    """

    PROCESS_PID = 1000

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.version = self.kernel.version
        self.family = fam.netdev_family(self.version.name)
        self._portids: set[int] = set()
        self._rover = -4097
        self.napi_config: dict[int, dict[str, int]] = {}

    def __repr__(self) -> str:
        return f"NetdevGenl({self.version.name!r}, family_id={self.family.id})"

    # -- port ids --
    def alloc_portid(self) -> int:
        pid = self.PROCESS_PID
        while pid in self._portids:
            pid = self._rover & 0xFFFFFFFF
            self._rover -= 1
        self._portids.add(pid)
        return pid

    def free_portid(self, pid: int) -> None:
        self._portids.discard(pid)

    # -- genl_rcv_msg --
    def rcv_msg(self, sock: NetlinkSocket, msg: wire.NlMsg) -> DoResult | DumpResult:
        """Handle one request message (already known to carry ``NLM_F_REQUEST``).

        Raises
        ------
        GenlError
            Anything that becomes an ``NLMSG_ERROR``: ENOENT (unknown family), EINVAL (short
            message, header check, policy), EOPNOTSUPP (no such op), EPERM (admin-perm op
            without CAP_NET_ADMIN), and the handler's own errors for ``do`` requests.
        """
        if msg.type == wire.GENL_ID_CTRL:
            family = fam.NLCTRL
        elif msg.type == self.family.id:
            family = self.family
        else:
            raise GenlError(errno.ENOENT)
        if len(msg.payload) < wire.GENL_HDRLEN + family.hdrsize:
            raise GenlError(errno.EINVAL)
        cmd, _version, reserved = wire.GENLMSGHDR.unpack_from(msg.payload)
        if family is self.family:  # genl_header_check (netdev validates every op)
            if reserved:
                raise GenlError(errno.EINVAL, "genlmsghdr.reserved field is not 0")
            flags = msg.flags
            if flags & wire.NLM_F_DUMP == wire.NLM_F_DUMP:
                flags &= ~wire.NLM_F_DUMP
            if flags & ~(wire.NLM_F_REQUEST | wire.NLM_F_ACK | wire.NLM_F_ECHO):
                raise GenlError(errno.EINVAL, "ambiguous or reserved bits set in nlmsg_flags")
        is_dump = msg.flags & wire.NLM_F_DUMP == wire.NLM_F_DUMP
        op = family.op_by_cmd(cmd)
        if op is None or (is_dump and not op.dump) or (not is_dump and not op.do):
            raise GenlError(errno.EOPNOTSUPP)
        if op.perm in ("admin-perm", "uns-admin-perm") and not sock.cap_net_admin:
            raise GenlError(errno.EPERM)
        attrs = bytes(msg.payload[wire.GENL_HDRLEN:])
        kind = "dump" if is_dump else "do"
        if family is fam.NLCTRL:  # ctrl_policy, not strictly validated (resv_start_op)
            try:
                tb = {a.type: a for a in wire.iter_attrs(attrs, GENL_HDR_END)}
            except ValueError:
                raise GenlError(errno.EINVAL) from None
        else:
            pol = family.policy(op.name, kind)
            tb = parse_attrs(attrs, GENL_HDR_END, *pol) if pol else {}
        req = _Request(sock, msg, cmd, attrs, tb)
        handler: Callable = getattr(self, f"_{family.name}_{op.name.replace('-', '_')}_{kind}")
        if is_dump:
            res = DumpResult(multi_flag=wire.NLM_F_MULTI if family is fam.NLCTRL else 0)
            try:
                handler(req, res)
            except GenlError as e:
                res.error = e
            return res
        res = DoResult()
        handler(req, res)
        return res

    # ---- nlctrl (net/netlink/genetlink.c) ----
    def _families(self) -> list[fam.Family]:
        return [fam.NLCTRL, self.family]

    def _nlctrl_getfamily_do(self, req: _Request, res: DoResult) -> None:
        """``ctrl_getfamily``: by id or by name; EINVAL with neither, ENOENT if unknown."""
        found = None
        err = errno.EINVAL
        if 1 in req.tb:  # CTRL_ATTR_FAMILY_ID, NLA_U16 in ctrl_policy (legacy validation)
            a = req.tb[1]
            if len(a.payload) < 2:  # validate_nla: shorter than the type's minimum
                raise GenlError(errno.ERANGE, "Attribute failed policy validation",
                                bad_attr=a.offset, policy=_U16_POLICY_EXTACK)
            fid = int.from_bytes(a.payload[:2], "little")  # longer is accepted (not strict)
            found = next((f for f in self._families() if f.id == fid), None)
            err = errno.ENOENT
        if 2 in req.tb:  # CTRL_ATTR_FAMILY_NAME: compared byte for byte, up to the NUL
            name = req.tb[2].payload.split(b"\0", 1)[0]
            found = next((f for f in self._families() if f.name.encode() == name), None)
            err = errno.ENOENT
        if found is None:
            raise GenlError(err)
        res.replies.append(wire.pack_genlmsg(wire.GENL_ID_CTRL, 0, req.msg.seq, req.sock.portid,
                                             1, fam.NLCTRL.version, fam.ctrl_family_attrs(found)))

    def _nlctrl_getfamily_dump(self, req: _Request, res: DumpResult) -> None:
        for f in self._families():
            res.messages.append(wire.pack_genlmsg(
                wire.GENL_ID_CTRL, wire.NLM_F_MULTI, req.msg.seq, req.sock.portid, 1,
                fam.NLCTRL.version, fam.ctrl_family_attrs(f)))

    def _nlctrl_getpolicy_dump(self, req: _Request, res: DumpResult) -> None:
        raise GenlError(errno.EOPNOTSUPP, "policy dumps are not emulated")

    # ---- helpers ----
    def _reply(self, req: _Request, body: bytes) -> bytes:
        return req.reply(self.family.id, self.family.version, body)

    def _devices(self) -> list:
        return [self.kernel.devices[i] for i in sorted(self.kernel.devices)]

    # ---- dev-get ----
    def _dev_fill(self, dev) -> bytes:
        """``netdev_nl_dev_fill``: ifindex, xdp-features, xdp-rx-metadata, xsk-features."""
        xdp = NIC_XDP_FEATURES if dev.kind == "nic" else 0
        return _u32(1, dev.ifindex) + _u64(3, xdp) + _u64(5, 0) + _u64(6, 0)

    def _netdev_dev_get_do(self, req: _Request, res: DoResult) -> None:
        ifindex = _req(req.tb, 1).u32()
        dev = self.kernel.device(ifindex)
        if dev is None:
            raise GenlError(errno.ENODEV)
        res.replies.append(self._reply(req, self._dev_fill(dev)))

    def _netdev_dev_get_dump(self, req: _Request, res: DumpResult) -> None:
        for dev in self._devices():
            res.messages.append(self._reply(req, self._dev_fill(dev)))

    # ---- page-pool-get (net/core/page_pool_user.c) ----
    def _pool_fill(self, pool) -> bytes:
        """``page_pool_nl_fill``: id, ifindex, napi-id, inflight, inflight-mem, detach-time,
        then the memory provider's dmabuf (``mp_dmabuf_devmem_nl_fill``)."""
        body = _uint(1, pool.id)
        if pool.ifindex != 1:  # pools of lo (LOOPBACK_IFINDEX) report no ifindex
            body += _u32(2, pool.ifindex)
        if pool.napi_id is not None and pool.napi_id >= MIN_NAPI_ID:
            body += _uint(3, pool.napi_id)
        body += _uint(4, pool.inflight) + _uint(5, pool.inflight * PAGE_SIZE)
        if pool.detach_time is not None:
            body += _uint(6, pool.detach_time)
        if pool.provider is not None:
            body += _u32(7, pool.provider.id)
        return body

    def _netdev_page_pool_get_do(self, req: _Request, res: DoResult) -> None:
        pid = _req(req.tb, 1).uint()
        pool = self.kernel.page_pools.get(pid)
        if pool is None or self.kernel.device(pool.ifindex) is None:
            raise GenlError(errno.ENOENT)
        res.replies.append(self._reply(req, self._pool_fill(pool)))

    def _netdev_page_pool_get_dump(self, req: _Request, res: DumpResult) -> None:
        """Per device by ifindex; newest pool first (``hlist_add_head`` order)."""
        for dev in self._devices():
            pools = [p for p in self.kernel.page_pools.values() if p.ifindex == dev.ifindex]
            for pool in sorted(pools, key=lambda p: -p.id):
                res.messages.append(self._reply(req, self._pool_fill(pool)))

    # ---- queue-get ----
    def _queue_fill(self, dev, idx: int, qtype: int) -> bytes:
        """``netdev_nl_queue_fill_one``: id, type, ifindex, napi-id, then dmabuf if bound."""
        body = _u32(1, idx) + _u32(3, qtype) + _u32(2, dev.ifindex)
        q = dev.rx_queues[idx] if qtype == 0 else dev.tx_queues[idx]
        if q.napi_id is not None and q.napi_id >= MIN_NAPI_ID:
            body += _u32(4, q.napi_id)
        if qtype == 0 and q.binding is not None:
            body += _u32(5, q.binding.id)
        return body

    def _netdev_queue_get_do(self, req: _Request, res: DoResult) -> None:
        qid = _req(req.tb, 1).u32()
        qtype = _req(req.tb, 3).u32()
        ifindex = _req(req.tb, 2).u32()
        dev = self.kernel.device(ifindex)
        if dev is None:
            raise GenlError(errno.ENODEV)
        if not dev.up:
            raise GenlError(errno.ENOENT)
        limit = dev.real_num_rx_queues if qtype == 0 else dev.real_num_tx_queues
        if qid >= limit:
            raise GenlError(errno.EINVAL)
        res.replies.append(self._reply(req, self._queue_fill(dev, qid, qtype)))

    def _queue_dump_one(self, req: _Request, res: DumpResult, dev) -> None:
        if not dev.up:
            return
        for i in range(dev.real_num_rx_queues):
            res.messages.append(self._reply(req, self._queue_fill(dev, i, 0)))
        for i in range(dev.real_num_tx_queues):
            res.messages.append(self._reply(req, self._queue_fill(dev, i, 1)))

    def _netdev_queue_get_dump(self, req: _Request, res: DumpResult) -> None:
        ifindex = req.tb[2].u32() if 2 in req.tb else 0
        if ifindex:
            dev = self.kernel.device(ifindex)
            if dev is None:
                raise GenlError(errno.ENODEV)
            self._queue_dump_one(req, res, dev)
            return
        for dev in self._devices():
            self._queue_dump_one(req, res, dev)

    # ---- napi-get / napi-set ----
    def _napis(self, dev) -> list[int]:
        """The device's NAPI ids, newest first (``napi_list`` is kept sorted descending)."""
        ids = {q.napi_id for q in dev.rx_queues if q.napi_id is not None}
        return sorted((i for i in ids if i >= MIN_NAPI_ID), reverse=True)

    def _napi_fill(self, dev, napi_id: int) -> bytes:
        body = _u32(2, napi_id) + _u32(1, dev.ifindex)
        if self.version.name == "6.12":
            return body
        cfg = self.napi_config.get(napi_id, {})
        return (body + _uint(8, cfg.get("threaded", 0))
                + wire.pack_attr(5, struct.pack("=i", cfg.get("defer-hard-irqs", 0)))
                + _uint(7, cfg.get("irq-suspend-timeout", 0))
                + _uint(6, cfg.get("gro-flush-timeout", 0)))

    def _napi_lookup(self, req: _Request):
        a = _req(req.tb, 2)
        napi_id = a.u32()
        for dev in self._devices():
            if napi_id in self._napis(dev) and dev.up:
                return dev, napi_id
        raise GenlError(errno.ENOENT, bad_attr=a.offset)

    def _netdev_napi_get_do(self, req: _Request, res: DoResult) -> None:
        dev, napi_id = self._napi_lookup(req)
        res.replies.append(self._reply(req, self._napi_fill(dev, napi_id)))

    def _netdev_napi_get_dump(self, req: _Request, res: DumpResult) -> None:
        ifindex = req.tb[1].u32() if 1 in req.tb else 0
        devs = self._devices()
        if ifindex:
            dev = self.kernel.device(ifindex)
            if dev is None:
                raise GenlError(errno.ENODEV)
            devs = [dev]
        for dev in devs:
            if dev.up:
                for napi_id in self._napis(dev):
                    res.messages.append(self._reply(req, self._napi_fill(dev, napi_id)))

    def _netdev_napi_set_do(self, req: _Request, res: DoResult) -> None:
        _dev, napi_id = self._napi_lookup(req)
        cfg = self.napi_config.setdefault(napi_id, {})
        for attr, name in ((8, "threaded"), (5, "defer-hard-irqs"),
                           (7, "irq-suspend-timeout"), (6, "gro-flush-timeout")):
            if attr in req.tb:
                a = req.tb[attr]
                cfg[name] = a.u32() if len(a.payload) == 4 else a.uint()

    # ---- qstats-get ----
    def _qstats_dump_one(self, req: _Request, res: DumpResult, dev, scope: int) -> None:
        if dev.kind != "nic":  # no netdev_stat_ops
            return
        base = _u32(1, dev.ifindex)
        if scope == 0:
            rx = [sum(getattr(q.stats, f) for q in dev.rx_queues)
                  for f in ("packets", "bytes", "alloc_fail", "hw_drops")]
            tx = [sum(getattr(q.stats, f) for q in dev.tx_queues) for f in ("packets", "bytes")]
            res.messages.append(self._reply(req, base + self._rx_stats(*rx)
                                            + _uint(10, tx[0]) + _uint(11, tx[1])))
            return
        if not dev.up:
            return
        for q in dev.rx_queues:
            s = q.stats
            res.messages.append(self._reply(req, base + _u32(2, 0) + _u32(3, q.index)
                                            + self._rx_stats(s.packets, s.bytes,
                                                             s.alloc_fail, s.hw_drops)))
        for q in dev.tx_queues:
            res.messages.append(self._reply(req, base + _u32(2, 1) + _u32(3, q.index)
                                            + _uint(10, q.stats.packets)
                                            + _uint(11, q.stats.bytes)))

    @staticmethod
    def _rx_stats(packets: int, nbytes: int, alloc_fail: int, hw_drops: int) -> bytes:
        """``netdev_nl_stats_write_rx`` order: packets, bytes, alloc-fail, hw-drops."""
        return _uint(8, packets) + _uint(9, nbytes) + _uint(12, alloc_fail) + _uint(13, hw_drops)

    def _netdev_qstats_get_dump(self, req: _Request, res: DumpResult) -> None:
        scope = req.tb[4].uint() if 4 in req.tb else 0
        ifindex = req.tb[1].u32() if 1 in req.tb else 0
        if ifindex:
            dev = self.kernel.device(ifindex)
            if dev is None:
                raise GenlError(errno.ENODEV, bad_attr=req.tb[1].offset)
            if dev.kind != "nic":
                raise GenlError(errno.EOPNOTSUPP, bad_attr=req.tb[1].offset)
            self._qstats_dump_one(req, res, dev, scope)
            return
        for dev in self._devices():
            self._qstats_dump_one(req, res, dev, scope)

    # ---- bind-rx ----
    def _netdev_bind_rx_do(self, req: _Request, res: DoResult) -> None:
        """``netdev_nl_bind_rx_doit`` in the order of the emulated release.

        Raises
        ------
        GenlError
            EINVAL missing ifindex/fd/queues (missing-attribute extack); ENODEV unknown or
            absent device; EOPNOTSUPP driver not ops-locked (6.18, bad-attr ifindex);
            EEXIST XDP attached (6.12); EINVAL queue nest without id/type, type not rx,
            id out of range (6.18, bad attr); dma_buf_get errors (EBADF, EINVAL); the
            per-queue errors of :func:`devmem_lab.kernel.devmem.open_rxq`.
        """
        a_ifindex = _req(req.tb, 1)
        a_fd = _req(req.tb, 3)
        _req(req.tb, 2)
        ifindex, fd = a_ifindex.u32(), a_fd.u32()
        v = self.version
        dev = self.kernel.device(ifindex)
        if dev is None:
            raise GenlError(errno.ENODEV)
        if v.queues_checked_upfront:  # current: ops lock, bitmap, then the dma-buf
            if not dev.present:
                raise GenlError(errno.ENODEV, bad_attr=a_ifindex.offset)
            if v.ops_lock_check and not dev.ops_locked:
                raise GenlError(errno.EOPNOTSUPP, bad_attr=a_ifindex.offset)
            queues: set[int] = set()
            for nest, tb in self._queue_nests(req):
                qid = tb[1].u32()
                if qid >= dev.real_num_rx_queues:
                    raise GenlError(errno.EINVAL, bad_attr=tb[1].offset)
                queues.add(qid)
            binding = self._bind(req, dev, fd)
            try:
                for qid in sorted(queues):
                    open_rxq(dev, qid, binding)
            except DevmemError as e:
                binding.unbind()
                raise _devmem_error(e) from None
        else:  # 6.12: rtnl-locked, XDP check, dma-buf, then queue nests in message order
            if not dev.present:
                raise GenlError(errno.ENODEV)
            if dev.xdp_prog:
                raise GenlError(errno.EEXIST,
                                "unable to bind dmabuf to device with XDP program attached")
            binding = self._bind(req, dev, fd)
            try:
                for nest, tb in self._queue_nests(req):
                    open_rxq(dev, tb[1].u32(), binding)
            except GenlError:
                binding.unbind()
                raise
            except DevmemError as e:
                binding.unbind()
                raise _devmem_error(e) from None
        req.sock._add_binding(binding)
        res.replies.append(self._reply(req, _u32(4, binding.id)))

    def _queue_nests(self, req: _Request):
        """Each QUEUES nest in message order, checked like ``netdev_nl_read_rxq_bitmap``."""
        maxattr, policy = fam._QUEUE_ID_POLICY
        for a in wire.iter_attrs(req.attrs, GENL_HDR_END):
            if a.type != 2:
                continue
            tb = parse_attrs(a.payload, a.offset + wire.NLATTR.size, maxattr, policy)
            _req(tb, 1, a)
            qtype = _req(tb, 3, a)
            if qtype.u32() != 0:
                raise GenlError(errno.EINVAL, bad_attr=qtype.offset)
            yield a, tb

    def _bind(self, req: _Request, dev, fd: int):
        """``net_devmem_bind_dmabuf``: ``dma_buf_get`` (the caller's fd table) then a binding
        with a cyclic id."""
        try:
            return bind_dmabuf(dev, req.sock.dmabufs.get(fd))  # EBUSY: no free binding id
        except DevmemError as e:
            raise _devmem_error(e) from None

    # ---- bind-tx ----
    def _netdev_bind_tx_do(self, req: _Request, res: DoResult) -> None:
        """``netdev_nl_bind_tx_doit`` (6.16+): ifindex and fd required (EINVAL), ENODEV,
        EOPNOTSUPP "Driver does not support netmem TX", then ``dma_buf_get`` errors; the
        binding lives as long as the netlink socket (:mod:`devmem_lab.devmem_tx`)."""
        _req(req.tb, 1)
        _req(req.tb, 3)
        dev = self.kernel.device(req.tb[1].u32())
        if dev is None or not dev.present:
            raise GenlError(errno.ENODEV)
        if not dev.netmem_tx:
            raise GenlError(errno.EOPNOTSUPP, "Driver does not support netmem TX")
        try:
            binding = bind_tx(dev, req.sock.dmabufs.get(req.tb[3].u32()))
        except DevmemError as e:
            raise _devmem_error(e) from None
        req.sock._add_binding(binding)
        res.replies.append(self._reply(req, _u32(4, binding.id)))
