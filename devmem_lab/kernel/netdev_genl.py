"""The emulated kernel side of generic netlink: genetlink core, nlctrl and the netdev family.

Models ``net/netlink/genetlink.c`` (``genl_rcv_msg``: family lookup, header check, op lookup,
``GENL_ADMIN_PERM``, strict policy parse; ``genlmsg_multicast_netns``), ``lib/nlattr.c``
(``__nla_validate_parse`` and ``validate_nla``: the extack text, bad-attribute offset and
policy of each refusal), ``ctrl_getfamily`` (nlctrl) and the handlers of
``net/core/netdev-genl.c`` and ``net/core/page_pool_user.c``: dev-get, page-pool-get,
queue-get, napi-get/set, qstats-get, bind-rx (check order per release, see
``docs/kernel-facts.md``, "bind-rx check order") and bind-tx, and the notifications
(``netdev_genl_dev_notify`` to ``mgmt``, ``netdev_nl_page_pool_event`` to ``page-pool``).

The family table (:mod:`devmem_lab.netlink.family`) drives it: replies and notifications are
``family.encode(attr_set, {name: value})`` in the kernel's fill order, handlers read request
attributes by name (:meth:`Request.get`, :meth:`Request.need`), policies come from the table.
The families are one list, :func:`family_ops` (a new family is one line there).

Every error text, errno and offset here was compared with a running 6.18 kernel where it
could answer (``tests/fixtures/netdev_real.json``, ``netdev_ntf_real.json``). Emulator
choices: the emulated process always holds ``CAP_NET_ADMIN`` unless the socket was made with
``cap_net_admin=False``; dumps are taken as a snapshot when requested (the kernel walks live
state chunk by chunk); ``eth1`` reports XDP features basic/redirect/ndo-xmit/rx-sg and
supports netmem TX unless the lab was made with ``netmem_tx=False``; devices never register
or unregister while a lab runs, so no dev-add/del-ntf is sent (``dev_notify`` encodes them).
"""

from __future__ import annotations

import errno
import os
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    "GenlFamilyOps",
    "NetdevGenl",
    "NetdevOps",
    "NlctrlOps",
    "Request",
    "family_ops",
    "parse_attrs",
]

MIN_NAPI_ID = 8193  # include/net/busy_poll.h: NR_CPUS + 1 with NR_CPUS = 8192
PAGE_SIZE = 4096
GENL_HDR_END = wire.NLMSGHDR.size + wire.GENL_HDRLEN  # offset of the first attribute
CTRL_CMD_NEWFAMILY = 1  # what ctrl_getfamily answers with
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


def parse_attrs(data: bytes, base: int, maxattr: int, policy: Mapping[int, Any],
                validate: Callable[[wire.Attr, Any], None] | None = None) -> dict[int, wire.Attr]:
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
        (validate or _validate_attr)(a, p)  # validate_nla for this family's policy types
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


# ---- requests ---------------------------------------------------------------------------------
@dataclass
class Request:
    """One request as a handler sees it (``struct genl_info``): attributes read by spec name."""

    sock: NetlinkSocket
    msg: wire.NlMsg
    cmd: int
    attrs: bytes  # attribute bytes after the genl header
    tb: dict[int, wire.Attr]
    family: fam.Family
    attr_set: str

    def get(self, name: str) -> wire.Attr | None:
        """``info->attrs[...]`` of attribute ``name`` of the op's attribute set, or None."""
        return self.tb.get(fam.attr_id(self.attr_set, name))

    def need(self, name: str) -> wire.Attr:
        """``GENL_REQ_ATTR_CHECK``: EINVAL with the missing attribute's type."""
        return _req(self.tb, fam.attr_id(self.attr_set, name))

    def reply(self, body: bytes, flags: int = 0, cmd: int | None = None) -> bytes:
        """``genlmsg_iput``: same cmd (unless given), the family's version, seq of the request."""
        return wire.pack_genlmsg(self.family.id, flags, self.msg.seq, self.sock.portid,
                                 self.cmd if cmd is None else cmd, self.family.version, body)


_Request = Request  # the name the handlers used before the table drove them


class GenlFamilyOps:
    """One family's handlers (the ``genl_family`` and its ``genl_split_ops``).

    A subclass sets :attr:`family` (a table of :mod:`devmem_lab.netlink.family`) and defines
    one method ``<op>_<do|dump>`` per op (dashes as underscores), taking ``(req, res)``.
    ``strict``: ``genl_header_check`` and strict policy parse apply (every op is at or past
    ``resv_start_op``); ``dump_flags``: nlmsg_flags of the dump messages.
    """

    family: fam.Family
    strict = True
    dump_flags = 0
    #: set by a family that parses its requests itself (``(sock, msg) -> result``)
    rcv_msg: Callable | None = None

    def __init__(self, genl: NetdevGenl) -> None:
        self.genl = genl
        self.kernel = genl.kernel

    def handler(self, op: fam.OpSpec, kind: str) -> Callable:
        return getattr(self, f"{op.name.replace('-', '_')}_{kind}")


# ---- the genetlink core (net/netlink/genetlink.c) ------------------------------------------------
class NetdevGenl:
    """One kernel's genetlink: its families, port ids, sockets and multicast (``Kernel.genl``).

    Port ids follow ``netlink_autobind``: the first socket gets the (emulated) process id
    :attr:`PROCESS_PID`, later ones count down from -4097 (as u32) while it is taken. The
    families are the ones :func:`family_ops` lists, in that order.
    """

    PROCESS_PID = 1000

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.version = self.kernel.version
        self.families: list[GenlFamilyOps] = [ops(self) for ops in family_ops()]
        self.netdev: NetdevOps = next(f for f in self.families if isinstance(f, NetdevOps))
        self.family = self.netdev.family
        self._portids: set[int] = set()
        self._rover = -4097
        self._sockets: dict[int, weakref.ref] = {}  # portid -> socket (multicast delivery)

    def __repr__(self) -> str:
        return f"NetdevGenl({self.version.name!r}, family_id={self.family.id})"

    @property
    def napi_config(self) -> dict[int, dict[str, int]]:
        return self.netdev.napi_config

    # -- port ids and sockets --
    def alloc_portid(self) -> int:
        pid = self.PROCESS_PID
        while pid in self._portids:
            pid = self._rover & 0xFFFFFFFF
            self._rover -= 1
        self._portids.add(pid)
        return pid

    def free_portid(self, pid: int) -> None:
        self._portids.discard(pid)
        self._sockets.pop(pid, None)

    def add_socket(self, sock: NetlinkSocket) -> None:
        self._sockets[sock.portid] = weakref.ref(sock)

    # -- multicast (genlmsg_multicast_netns) --
    def group_ids(self) -> set[int]:
        """Every multicast group id a family registered."""
        return {gid for f in self.families for _n, gid in f.family.mcgrps}

    def has_listeners(self, group: int) -> bool:
        """``genl_has_listeners``: a socket of this kernel is in ``group``."""
        return any(s is not None and group in s.memberships
                   for s in (r() for r in self._sockets.values()))

    def multicast(self, group: int, msg: bytes) -> None:
        """``netlink_broadcast``: one copy of ``msg`` to every member of ``group``."""
        for ref in list(self._sockets.values()):
            sock = ref()
            if sock is not None and group in sock.memberships:
                sock._deliver(msg)

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
        ops = next((f for f in self.families if f.family.id == msg.type), None)
        if ops is None:
            raise GenlError(errno.ENOENT)
        if ops.rcv_msg is not None:  # a family with its own parse (ethtool: ethnl policies)
            return ops.rcv_msg(sock, msg)
        family = ops.family
        if len(msg.payload) < wire.GENL_HDRLEN + family.hdrsize:
            raise GenlError(errno.EINVAL)
        cmd, _version, reserved = wire.GENLMSGHDR.unpack_from(msg.payload)
        if ops.strict:  # genl_header_check
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
        if not ops.strict:  # legacy validation (nlctrl's ctrl_policy)
            try:
                tb = {a.type: a for a in wire.iter_attrs(attrs, GENL_HDR_END)}
            except ValueError:
                raise GenlError(errno.EINVAL) from None
        else:
            pol = family.policy(op.name, kind)
            tb = parse_attrs(attrs, GENL_HDR_END, *pol) if pol else {}
        req = Request(sock, msg, cmd, attrs, tb, family, op.attr_set)
        handler = ops.handler(op, kind)
        if is_dump:
            res = DumpResult(multi_flag=ops.dump_flags)
            try:
                handler(req, res)
            except GenlError as e:
                res.error = e
            return res
        res = DoResult()
        handler(req, res)
        return res

    # -- events the rest of the kernel reports --
    def page_pool_event(self, pool, event: str) -> None:
        """A page pool was listed (``add``), detached with buffers out (``change``) or unlisted
        (``del``): :meth:`NetdevOps.page_pool_event`."""
        self.netdev.page_pool_event(pool, event)


# ---- nlctrl (net/netlink/genetlink.c) -----------------------------------------------------------
class NlctrlOps(GenlFamilyOps):
    """``ctrl_getfamily`` and friends; attributes by the ``ctrl`` set of the family table."""

    family = fam.NLCTRL
    strict = False
    dump_flags = wire.NLM_F_MULTI

    def _fill(self, f: fam.Family) -> bytes:
        return fam.ctrl_family_attrs(f)

    def getfamily_do(self, req: Request, res: DoResult) -> None:
        """``ctrl_getfamily``: by id or by name; EINVAL with neither, ENOENT if unknown."""
        found = None
        err = errno.EINVAL
        families = [f.family for f in self.genl.families]
        a = req.get("family-id")
        if a is not None:  # NLA_U16 in ctrl_policy (legacy validation)
            if len(a.payload) < 2:  # validate_nla: shorter than the type's minimum
                raise GenlError(errno.ERANGE, "Attribute failed policy validation",
                                bad_attr=a.offset, policy=_U16_POLICY_EXTACK)
            fid = int.from_bytes(a.payload[:2], "little")  # longer is accepted (not strict)
            found = next((f for f in families if f.id == fid), None)
            err = errno.ENOENT
        a = req.get("family-name")
        if a is not None:  # compared byte for byte, up to the NUL
            name = a.payload.split(b"\0", 1)[0]
            found = next((f for f in families if f.name.encode() == name), None)
            err = errno.ENOENT
        if found is None:
            raise GenlError(err)
        res.replies.append(req.reply(self._fill(found), cmd=CTRL_CMD_NEWFAMILY))

    def getfamily_dump(self, req: Request, res: DumpResult) -> None:
        for f in self.genl.families:
            res.messages.append(req.reply(self._fill(f.family), wire.NLM_F_MULTI,
                                          cmd=CTRL_CMD_NEWFAMILY))

    def getpolicy_dump(self, req: Request, res: DumpResult) -> None:
        raise GenlError(errno.EOPNOTSUPP, "policy dumps are not emulated")


# ---- netdev (net/core/netdev-genl.c, net/core/page_pool_user.c) -------------------------------
class NetdevOps(GenlFamilyOps):
    """The netdev family's handlers and notifications; every attribute by its spec name."""

    def __init__(self, genl: NetdevGenl) -> None:
        super().__init__(genl)
        self.version = genl.version
        self.family = fam.netdev_family(self.version.name)
        self.napi_config: dict[int, dict[str, int]] = {}

    def _msg(self, op: str, attrs: dict) -> bytes:
        return fam.encode(self.family.op(op).attr_set, attrs)

    def _reply(self, req: Request, attrs: dict) -> bytes:
        return req.reply(fam.encode(req.attr_set, attrs))

    def _devices(self) -> list:
        return [self.kernel.devices[i] for i in sorted(self.kernel.devices)]

    # ---- notifications ----
    def _notify(self, ntf: str, attrs: dict) -> tuple[int, bytes] | None:
        """``genl_info_init_ntf`` + ``genlmsg_multicast_netns``: seq 0, port 0, flags 0."""
        spec = self.family.ntf(ntf)
        group = self.family.mcgrp_id(spec.mcgrp)
        if not self.genl.has_listeners(group):  # genl_has_listeners: nothing is built
            return None
        return group, wire.pack_genlmsg(self.family.id, 0, 0, 0, spec.cmd, self.family.version,
                                        fam.encode(spec.attr_set, attrs))

    def dev_notify(self, dev, ntf: str) -> None:
        """``netdev_genl_dev_notify``: dev-add-ntf (NETDEV_REGISTER), dev-del-ntf
        (NETDEV_UNREGISTER), dev-change-ntf (NETDEV_XDP_FEAT_CHANGE) to ``mgmt``."""
        out = self._notify(ntf, self._dev_fill(dev))
        if out is not None:
            self.genl.multicast(*out)

    def page_pool_event(self, pool, event: str) -> None:
        """``netdev_nl_page_pool_event`` to ``page-pool``: add (``page_pool_list``), change
        (``page_pool_detached``: destroyed with buffers out, detach-time set) and del
        (``page_pool_unlist``: the last buffer came back, or none was out at destroy).

        A queue restart (``NetDevice.restart_queue``, as ``netdev_rx_queue_restart``) makes
        the new pool before it frees the old one, so the new pool's add goes out first.
        """
        if pool.ifindex not in self.kernel.devices:
            return
        out = self._notify(f"page-pool-{event}-ntf", self._pool_fill(pool))
        if out is not None:
            self.genl.multicast(*out)

    # ---- dev-get ----
    def _dev_fill(self, dev) -> dict:
        """``netdev_nl_dev_fill``: ifindex, xdp-features, xdp-rx-metadata, xsk-features."""
        xdp = NIC_XDP_FEATURES if dev.kind == "nic" else 0
        return {"ifindex": dev.ifindex, "xdp-features": xdp, "xdp-rx-metadata-features": 0,
                "xsk-features": 0}

    def dev_get_do(self, req: Request, res: DoResult) -> None:
        dev = self.kernel.device(req.need("ifindex").u32())
        if dev is None:
            raise GenlError(errno.ENODEV)
        res.replies.append(self._reply(req, self._dev_fill(dev)))

    def dev_get_dump(self, req: Request, res: DumpResult) -> None:
        for dev in self._devices():
            res.messages.append(self._reply(req, self._dev_fill(dev)))

    # ---- page-pool-get (net/core/page_pool_user.c) ----
    def _pool_fill(self, pool) -> dict:
        """``page_pool_nl_fill``: id, ifindex, napi-id, inflight, inflight-mem, detach-time,
        then the memory provider's dmabuf (``mp_dmabuf_devmem_nl_fill``)."""
        out: dict = {"id": pool.id}
        if pool.ifindex != 1:  # pools of lo (LOOPBACK_IFINDEX) report no ifindex
            out["ifindex"] = pool.ifindex
        if pool.napi_id is not None and pool.napi_id >= MIN_NAPI_ID:
            out["napi-id"] = pool.napi_id
        out["inflight"] = pool.inflight
        out["inflight-mem"] = pool.inflight * PAGE_SIZE
        if pool.detach_time is not None and getattr(pool, "user_detached", True):
            out["detach-time"] = pool.detach_time
        if pool.provider is not None:
            out["dmabuf"] = pool.provider.id
        return out

    def page_pool_get_do(self, req: Request, res: DoResult) -> None:
        pool = self.kernel.page_pools.get(req.need("id").uint())
        if pool is None or self.kernel.device(pool.ifindex) is None:
            raise GenlError(errno.ENOENT)
        res.replies.append(self._reply(req, self._pool_fill(pool)))

    def page_pool_get_dump(self, req: Request, res: DumpResult) -> None:
        """Per device by ifindex; newest pool first (``hlist_add_head`` order)."""
        for dev in self._devices():
            pools = [p for p in self.kernel.page_pools.values() if p.ifindex == dev.ifindex]
            for pool in sorted(pools, key=lambda p: -p.id):
                res.messages.append(self._reply(req, self._pool_fill(pool)))

    # ---- queue-get ----
    def _queue_fill(self, dev, idx: int, qtype: int) -> dict:
        """``netdev_nl_queue_fill_one``: id, type, ifindex, napi-id, then dmabuf if bound."""
        out = {"id": idx, "type": qtype, "ifindex": dev.ifindex}
        q = dev.rx_queues[idx] if qtype == 0 else dev.tx_queues[idx]
        if q.napi_id is not None and q.napi_id >= MIN_NAPI_ID:
            out["napi-id"] = q.napi_id
        if qtype == 0 and q.binding is not None:
            out["dmabuf"] = q.binding.id
        return out

    def queue_get_do(self, req: Request, res: DoResult) -> None:
        qid = req.need("id").u32()
        qtype = req.need("type").u32()
        dev = self.kernel.device(req.need("ifindex").u32())
        if dev is None:
            raise GenlError(errno.ENODEV)
        if not dev.up:
            raise GenlError(errno.ENOENT)
        limit = dev.real_num_rx_queues if qtype == 0 else dev.real_num_tx_queues
        if qid >= limit:
            raise GenlError(errno.EINVAL)
        res.replies.append(self._reply(req, self._queue_fill(dev, qid, qtype)))

    def _queue_dump_one(self, req: Request, res: DumpResult, dev) -> None:
        if not dev.up:
            return
        for i in range(dev.real_num_rx_queues):
            res.messages.append(self._reply(req, self._queue_fill(dev, i, 0)))
        for i in range(dev.real_num_tx_queues):
            res.messages.append(self._reply(req, self._queue_fill(dev, i, 1)))

    def queue_get_dump(self, req: Request, res: DumpResult) -> None:
        a = req.get("ifindex")
        if a is not None and a.u32():
            dev = self.kernel.device(a.u32())
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

    _NAPI_CONFIG = ("threaded", "defer-hard-irqs", "irq-suspend-timeout", "gro-flush-timeout")

    def _napi_fill(self, dev, napi_id: int) -> dict:
        """``netdev_nl_napi_fill_one``: id, ifindex, then (6.13+) the per-NAPI config."""
        out = {"id": napi_id, "ifindex": dev.ifindex}
        if not self.version.napi_config:
            return out
        cfg = self.napi_config.get(napi_id, {})
        return out | {name: cfg.get(name, 0) for name in self._NAPI_CONFIG}

    def _napi_lookup(self, req: Request):
        a = req.need("id")
        napi_id = a.u32()
        for dev in self._devices():
            if napi_id in self._napis(dev) and dev.up:
                return dev, napi_id
        raise GenlError(errno.ENOENT, bad_attr=a.offset)

    def napi_get_do(self, req: Request, res: DoResult) -> None:
        dev, napi_id = self._napi_lookup(req)
        res.replies.append(self._reply(req, self._napi_fill(dev, napi_id)))

    def napi_get_dump(self, req: Request, res: DumpResult) -> None:
        a = req.get("ifindex")
        devs = self._devices()
        if a is not None and a.u32():
            dev = self.kernel.device(a.u32())
            if dev is None:
                raise GenlError(errno.ENODEV)
            devs = [dev]
        for dev in devs:
            if dev.up:
                for napi_id in self._napis(dev):
                    res.messages.append(self._reply(req, self._napi_fill(dev, napi_id)))

    def napi_set_do(self, req: Request, res: DoResult) -> None:
        _dev, napi_id = self._napi_lookup(req)
        cfg = self.napi_config.setdefault(napi_id, {})
        for name in self._NAPI_CONFIG:
            a = req.get(name)
            if a is not None:
                cfg[name] = a.u32() if len(a.payload) == 4 else a.uint()

    # ---- qstats-get ----
    def _qstats_dump_one(self, req: Request, res: DumpResult, dev, scope: int) -> None:
        if dev.kind != "nic":  # no netdev_stat_ops
            return
        if scope == 0:
            rx = [sum(getattr(q.stats, f) for q in dev.rx_queues)
                  for f in ("packets", "bytes", "alloc_fail", "hw_drops")]
            tx = [sum(getattr(q.stats, f) for q in dev.tx_queues) for f in ("packets", "bytes")]
            res.messages.append(self._reply(req, {"ifindex": dev.ifindex, **self._rx_stats(*rx),
                                                  "tx-packets": tx[0], "tx-bytes": tx[1]}))
            return
        if not dev.up:
            return
        for q in dev.rx_queues:
            s = q.stats
            res.messages.append(self._reply(req, {
                "ifindex": dev.ifindex, "queue-type": 0, "queue-id": q.index,
                **self._rx_stats(s.packets, s.bytes, s.alloc_fail, s.hw_drops)}))
        for q in dev.tx_queues:
            res.messages.append(self._reply(req, {
                "ifindex": dev.ifindex, "queue-type": 1, "queue-id": q.index,
                "tx-packets": q.stats.packets, "tx-bytes": q.stats.bytes}))

    @staticmethod
    def _rx_stats(packets: int, nbytes: int, alloc_fail: int, hw_drops: int) -> dict:
        """``netdev_nl_stats_write_rx`` order: packets, bytes, alloc-fail, hw-drops."""
        return {"rx-packets": packets, "rx-bytes": nbytes, "rx-alloc-fail": alloc_fail,
                "rx-hw-drops": hw_drops}

    def qstats_get_dump(self, req: Request, res: DumpResult) -> None:
        a_scope, a_ifindex = req.get("scope"), req.get("ifindex")
        scope = a_scope.uint() if a_scope is not None else 0
        if a_ifindex is not None and a_ifindex.u32():
            dev = self.kernel.device(a_ifindex.u32())
            if dev is None:
                raise GenlError(errno.ENODEV, bad_attr=a_ifindex.offset)
            if dev.kind != "nic":
                raise GenlError(errno.EOPNOTSUPP, bad_attr=a_ifindex.offset)
            self._qstats_dump_one(req, res, dev, scope)
            return
        for dev in self._devices():
            self._qstats_dump_one(req, res, dev, scope)

    # ---- bind-rx ----
    def bind_rx_do(self, req: Request, res: DoResult) -> None:
        """``netdev_nl_bind_rx_doit`` in the order of the emulated release.

        Each queue restart sends its page-pool notifications (new pool's add, old pool's
        del/change) before the reply, which ``genlmsg_reply`` sends last.

        Raises
        ------
        GenlError
            EINVAL missing ifindex/fd/queues (missing-attribute extack); ENODEV unknown or
            absent device; EOPNOTSUPP driver not ops-locked (6.18, bad-attr ifindex);
            EEXIST XDP attached (6.12); EINVAL queue nest without id/type, type not rx,
            id out of range (6.18, bad attr); dma_buf_get errors (EBADF, EINVAL); the
            per-queue errors of :func:`devmem_lab.kernel.devmem.open_rxq`.
        """
        a_ifindex = req.need("ifindex")
        a_fd = req.need("fd")
        req.need("queues")
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
            for _nest, q in self._queue_nests(req):
                qid = q["id"].u32()
                if qid >= dev.real_num_rx_queues:
                    raise GenlError(errno.EINVAL, bad_attr=q["id"].offset)
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
                for _nest, q in self._queue_nests(req):
                    open_rxq(dev, q["id"].u32(), binding)
            except GenlError:
                binding.unbind()
                raise
            except DevmemError as e:
                binding.unbind()
                raise _devmem_error(e) from None
        req.sock._add_binding(binding)
        res.replies.append(self._reply(req, {"id": binding.id}))

    def _queue_nests(self, req: Request):
        """Each QUEUES nest in message order, checked like ``netdev_nl_read_rxq_bitmap``:
        ``(nest, {"id": attr, "type": attr})``."""
        maxattr, policy = fam.QUEUE_ID_POLICY
        queues, qset = fam.attr_id(req.attr_set, "queues"), "queue-id"
        for a in wire.iter_attrs(req.attrs, GENL_HDR_END):
            if a.type != queues:
                continue
            tb = parse_attrs(a.payload, a.offset + wire.NLATTR.size, maxattr, policy)
            q = {name: _req(tb, fam.attr_id(qset, name), a) for name in ("id", "type")}
            if q["type"].u32() != 0:
                raise GenlError(errno.EINVAL, bad_attr=q["type"].offset)
            yield a, q

    def _bind(self, req: Request, dev, fd: int):
        """``net_devmem_bind_dmabuf``: ``dma_buf_get`` (the caller's fd table) then a binding
        with a cyclic id."""
        try:
            return bind_dmabuf(dev, req.sock.dmabufs.get(fd))  # EBUSY: no free binding id
        except DevmemError as e:
            raise _devmem_error(e) from None

    # ---- bind-tx ----
    def bind_tx_do(self, req: Request, res: DoResult) -> None:
        """``netdev_nl_bind_tx_doit`` (6.16+): ifindex and fd required (EINVAL), ENODEV,
        EOPNOTSUPP "Driver does not support netmem TX", then ``dma_buf_get`` errors; the
        binding lives as long as the netlink socket (:mod:`devmem_lab.devmem_tx`)."""
        a_ifindex = req.need("ifindex")
        a_fd = req.need("fd")
        dev = self.kernel.device(a_ifindex.u32())
        if dev is None or not dev.present:
            raise GenlError(errno.ENODEV)
        if not dev.netmem_tx:
            raise GenlError(errno.EOPNOTSUPP, "Driver does not support netmem TX")
        try:
            binding = bind_tx(dev, req.sock.dmabufs.get(a_fd.u32()))
        except DevmemError as e:
            raise _devmem_error(e) from None
        req.sock._add_binding(binding)
        res.replies.append(self._reply(req, {"id": binding.id}))


def family_ops() -> tuple[type[GenlFamilyOps], ...]:
    """The families this genetlink registers, in registration order (nlctrl lists them so).

    One line per family: a new family is a :class:`GenlFamilyOps` subclass added here.
    """
    from .ethtool_genl import EthtoolOps  # it builds on this module: imported here, not above
    return (NlctrlOps, NetdevOps, EthtoolOps)
