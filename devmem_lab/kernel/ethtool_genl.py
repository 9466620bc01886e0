"""The ethtool generic-netlink family of the emulated kernel (``net/ethtool/netlink.c`` & co).

Models ``genl_family_rcv_msg`` for this family (strict policy parse; ``genl_header_check``
only for commands >= ``ETHTOOL_MSG_MODULE_GET + 1``; ``GENL_UNS_ADMIN_PERM`` on SET/ACT),
``ethnl_parse_header_dev_get``, ``ethnl_default_doit``/``_dumpit``/``_set_doit`` and the
request handlers of ``rings.c``, ``channels.c``, ``features.c`` (+ ``bitset.c``) and
``rss.c``. The checks themselves live with the device: RINGS_SET and CHANNELS_SET end in
:meth:`NetDevice.set_rings` / :meth:`NetDevice.set_channels` and FEATURES_SET in
:func:`~devmem_lab.kernel.nic.features.set_features`, the same calls ``ethtool -G/-L/-K``
make, so both paths share one state and one set of refusals.

Every errno, extack text and offset was compared with a running 6.18 kernel on ``lo``
(``docs/kernel-facts.md``, "ethtool netlink family"; the "ethtool-nl" scenarios of
``devmem_lab/conformance.py``). Ntuple rules (``ETHTOOL_SRXCLSRLINS``) have no netlink
message at all (``ethtool -N`` uses ``SIOCETHTOOL``); RSS_SET exists but is not emulated
(the lab's ``ethtool -X`` uses the ioctl, as ethtool 6.15 does).

A SET that changed something builds the ``ETHTOOL_MSG_*_NTF`` that ``ethtool_notify``
multicasts on "monitor" (:func:`notify`, also called by ``ethtool -G/-L/-K``); it is handed to
``genl.multicast(group, message)`` when the netlink layer offers one (delivery belongs to
``af_netlink``), else dropped, as with no listener.

Emulator choices: the other ethtool ops are listed by nlctrl (as the kernel lists them) but
answer EOPNOTSUPP "not emulated"; RSS_GET reports no flow-hash nest; dumps are a snapshot
taken when requested; on a device that is gone (``present`` False) RINGS/CHANNELS_SET answer
ENODEV before the driver-support checks (the kernel runs ``set_validate`` first).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DevmemError
from ..netlink import ethtool_family as efam
from ..netlink import wire
from ..netlink.ethtool_family import EPolicy
from .netdev_genl import GENL_HDR_END, DoResult, DumpResult, GenlError, GenlFamilyOps, parse_attrs
from .nic import features as feat

if TYPE_CHECKING:
    from .af_netlink import NetlinkSocket
    from .netdev_genl import NetdevGenl
    from .nic.device import NetDevice

__all__ = ["FAMILY_ID", "EthtoolOps", "family", "notify", "rcv_msg"]

FAMILY_ID = efam.ETHTOOL_FAMILY_ID
_FAMILIES = {v: efam.ethtool_family(v) for v in ("6.18", "6.12")}
_U32 = struct.Struct("=I")


def family(version: str):
    """The :class:`~devmem_lab.netlink.family.Family` nlctrl lists for this release."""
    return _FAMILIES["6.12" if version == "6.12" else "6.18"]


class EthtoolOps(GenlFamilyOps):
    """The family in the genetlink core's list (``netdev_genl.family_ops``); it parses its
    requests itself (``ethnl_default_doit``: the ethnl policies and the request header)."""

    def __init__(self, genl: NetdevGenl) -> None:
        super().__init__(genl)
        self.family = family(genl.version.name)

    def rcv_msg(self, sock: NetlinkSocket, msg: wire.NlMsg) -> DoResult | DumpResult:
        return rcv_msg(self.genl, sock, msg)


# ---- lib/nlattr.c, strict, for the policy types this family uses --------------------------
def _pol_err(err: int, msg: str, a: wire.Attr, p: EPolicy) -> GenlError:
    return GenlError(err, msg, bad_attr=a.offset, policy=efam.policy_extack(p))


def _validate(a: wire.Attr, p: EPolicy) -> None:
    n = len(a.payload)
    if p.type == "nest":
        if not a.nested:
            raise _pol_err(errno.EINVAL, "NLA_F_NESTED is missing", a, p)
        if p.nested is not None:
            parse(a.payload, a.offset + wire.NLATTR.size, *p.nested)
        return
    if a.nested:
        raise _pol_err(errno.EINVAL, "NLA_F_NESTED not expected", a, p)
    if p.type in ("u8", "u32"):
        if n != (1 if p.type == "u8" else 4):
            raise _pol_err(errno.EINVAL, "invalid attribute length", a, p)
        v = a.payload[0] if p.type == "u8" else a.u32()
        if p.mask is not None:
            if v & ~p.mask:
                raise GenlError(errno.EINVAL, "reserved bit set", bad_attr=a.offset)
        elif v < p.min or v > p.upper:
            raise _pol_err(errno.ERANGE, "integer out of range", a, p)
    elif p.type == "nul-string":
        limit = min(n, p.max_len + 1) if p.max_len else n
        body = a.payload[:limit]
        if not limit or b"\0" not in body or (p.max_len and len(a.payload.split(b"\0")[0])
                                               > p.max_len):
            raise _pol_err(errno.EINVAL, "Attribute failed policy validation", a, p)
    elif p.type == "flag" and n:
        raise _pol_err(errno.ERANGE, "Attribute failed policy validation", a, p)


def parse(data: bytes, base: int, maxattr: int,
          policy: Mapping[int, EPolicy]) -> dict[int, wire.Attr]:
    """``__nla_validate_parse`` with ``NL_VALIDATE_STRICT``; offsets from the nlmsghdr.

    Raises
    ------
    GenlError
        EINVAL "Unknown attribute type" (above ``maxattr``), "Unsupported attribute" (no
        policy entry), "invalid attribute length", "NLA_F_NESTED is missing", "reserved bit
        set", "Attribute failed policy validation" (strings), "bytes leftover after parsing
        attributes"; ERANGE "integer out of range".
    """
    return parse_attrs(data, base, maxattr, policy, _validate)


def _kernel_error(e: DevmemError, attrs: Mapping[str, int], tb: Mapping[int, wire.Attr]):
    """A device refusal as the handler returns it: extack text unless it is strerror, and
    the attribute ``NL_SET_ERR_MSG_ATTR`` names (only if the request carried it)."""
    msg = e.strerror if e.strerror and e.strerror != os.strerror(e.errno) else None
    attr = attrs.get(getattr(e, "bad_attr", None) or "")
    return GenlError(e.errno, msg, bad_attr=tb[attr].offset if attr in tb else None)


# ---- genl_family_rcv_msg ----------------------------------------------------------------------
@dataclass
class _Req:
    sock: NetlinkSocket
    msg: wire.NlMsg
    op: str
    tb: dict[int, wire.Attr]
    dev: NetDevice | None = None
    flags: int = 0

    def reply(self, cmd: str, body: bytes, multi: bool = False) -> bytes:
        portid = self.sock.portid if self.sock is not None else 0
        return wire.pack_genlmsg(FAMILY_ID, wire.NLM_F_MULTI if multi else 0, self.msg.seq,
                                 portid, efam.REPLY[cmd], 1, body)


def rcv_msg(genl: NetdevGenl, sock: NetlinkSocket, msg: wire.NlMsg) -> DoResult | DumpResult:
    """One request to the ethtool family (``genl_rcv_msg`` once the family is found).

    Raises
    ------
    GenlError
        EINVAL (short message; header check for new commands; policy), EOPNOTSUPP (no such
        op or not emulated), EPERM (SET/ACT without CAP_NET_ADMIN), and the handler's errors.
    """
    fam = family(genl.version.name)
    if len(msg.payload) < wire.GENL_HDRLEN:
        raise GenlError(errno.EINVAL)
    cmd, _version, reserved = wire.GENLMSGHDR.unpack_from(msg.payload)
    is_dump = msg.flags & wire.NLM_F_DUMP == wire.NLM_F_DUMP
    if cmd >= efam.RESV_START_OP:  # genl_header_check
        if reserved:
            raise GenlError(errno.EINVAL, "genlmsghdr.reserved field is not 0")
        flags = msg.flags & ~wire.NLM_F_DUMP if is_dump else msg.flags
        if flags & ~(wire.NLM_F_REQUEST | wire.NLM_F_ACK | wire.NLM_F_ECHO):
            raise GenlError(errno.EINVAL, "ambiguous or reserved bits set in nlmsg_flags")
    op = fam.op_by_cmd(cmd)
    if op is None or (is_dump and not op.dump) or (not is_dump and not op.do):
        raise GenlError(errno.EOPNOTSUPP)
    if op.perm == "uns-admin-perm" and not sock.cap_net_admin:
        raise GenlError(errno.EPERM)
    pol = efam.policy(genl.version.name, op.name)
    if pol is None:
        raise GenlError(errno.EOPNOTSUPP, f"ethtool {op.name} is not emulated")
    tb = parse(bytes(msg.payload[wire.GENL_HDRLEN:]), GENL_HDR_END, *pol)
    req = _Req(sock, msg, op.name, tb)
    handler = _HANDLERS[op.name]
    if is_dump:
        return _dumpit(genl, req, handler)
    res = DoResult()
    handler(genl, req, res.replies, False)
    return res


# ---- net/ethtool/netlink.c ---------------------------------------------------------------------
def _parse_header(genl: NetdevGenl, req: _Req, require_dev: bool) -> None:
    """``ethnl_parse_header_dev_get``: the device by ifindex and/or name, and the flags."""
    hdr = req.tb.get(1)
    if hdr is None:
        if require_dev:
            raise GenlError(errno.EINVAL, "request header missing")
        return
    t = wire.attrs_by_type(hdr.payload, hdr.offset + wire.NLATTR.size)
    req.flags = t[3].u32() if 3 in t else 0
    k, dev = genl.kernel, None
    if 1 in t:
        dev = k.device(t[1].u32())
        if dev is None:
            raise GenlError(errno.ENODEV, "no device matches ifindex", bad_attr=t[1].offset)
        if 2 in t and t[2].string() != dev.name:
            raise GenlError(errno.ENODEV, "ifindex and name do not match", bad_attr=hdr.offset)
    elif 2 in t:
        dev = k.device_by_name(t[2].string())
        if dev is None:
            raise GenlError(errno.ENODEV, "no device matches name", bad_attr=t[2].offset)
    elif require_dev:
        raise GenlError(errno.EINVAL, "neither ifindex nor name specified", bad_attr=hdr.offset)
    req.dev = dev


def _ops_begin(dev: NetDevice) -> None:
    """``ethnl_ops_begin``: ENODEV for a device that is gone."""
    if not dev.present:
        raise GenlError(errno.ENODEV)


def _reply_header(dev: NetDevice) -> bytes:
    """``ethnl_fill_reply_header``: a nest of DEV_INDEX and DEV_NAME."""
    return wire.pack_attr(1, wire.pack_attr(1, _U32.pack(dev.ifindex))
                          + wire.pack_attr(2, dev.name.encode() + b"\0"), nested=True)


_NTF_FILL = {"rings-ntf": "rings-get", "channels-ntf": "channels-get",
             "features-ntf": "features-get"}


def notify(genl: NetdevGenl, dev: NetDevice, what: str) -> bytes | None:
    """``ethtool_notify`` / ``ethnl_default_notify``: the GET reply of ``dev`` sent as
    ``what`` ("rings-ntf", "channels-ntf", "features-ntf"; seq and port id 0, verbose
    bitsets) to the "monitor" group. Returns the message."""
    out: list[bytes] = []
    req = _Req(None, wire.NlMsg(0, 0, 0, 0, b"", 0), what, {}, dev)  # type: ignore[arg-type]
    _HANDLERS[_NTF_FILL[what]](genl, req, out, True)
    m = out[0]
    msg = (wire.NLMSGHDR.pack(len(m), FAMILY_ID, 0, 0, 0)
           + bytes([efam.REPLY[what]]) + m[wire.NLMSGHDR.size + 1:])
    send = getattr(genl, "multicast", None)
    if send is not None:
        send(efam.MONITOR_GROUP_ID, msg)
    return msg


def _req_header(req: _Req) -> None:
    """``GENL_REQ_ATTR_CHECK(info, ops->hdr_attr)``: EINVAL naming the missing header."""
    if 1 not in req.tb:
        raise GenlError(errno.EINVAL, miss_type=1)


def _dumpit(genl: NetdevGenl, req: _Req, handler) -> DumpResult:
    """``ethnl_default_start`` + ``_dumpit``: the header is checked (a bad device is an
    error ack) but, as on 6.18, every device is dumped in ifindex order whatever it names;
    devices that answer EOPNOTSUPP are skipped."""
    _parse_header(genl, req, require_dev=False)
    flags = req.flags
    devs = [genl.kernel.devices[i] for i in sorted(genl.kernel.devices)]
    res = DumpResult(multi_flag=wire.NLM_F_MULTI)
    for dev in devs:
        req.dev, req.flags = dev, flags
        try:
            handler(genl, req, res.messages, True)
        except GenlError as e:
            if e.errno == errno.EOPNOTSUPP:
                continue
            res.error = e
            break
    return res


def _get(genl: NetdevGenl, req: _Req, dump: bool) -> NetDevice:
    if not dump:
        _req_header(req)
        _parse_header(genl, req, require_dev=True)
    assert req.dev is not None
    return req.dev


def _u32(t: int, v: int) -> bytes:
    return wire.pack_attr(t, _U32.pack(v))


def _u8(t: int, v: int) -> bytes:
    return wire.pack_attr(t, bytes([v]))


# ---- rings.c ----------------------------------------------------------------------------------
_RINGS_ATTRS = {"rx": 6, "rx_mini": 7, "rx_jumbo": 8, "tx": 9, "rx_buf_len": 10,
                "tcp_data_split": 11, "cqe_size": 12, "tx_push": 13, "rx_push": 14,
                "tx_push_buf_len": 15, "hds_thresh": 17}


def _rings_get(genl: NetdevGenl, req: _Req, out: list, dump: bool) -> None:
    """``rings_prepare_data`` + ``rings_fill_reply`` (the driver's current state)."""
    dev = _get(genl, req, dump)
    if "rings" not in dev.ethtool_ops:
        raise GenlError(errno.EOPNOTSUPP)
    _ops_begin(dev)
    body = (_reply_header(dev) + _u32(2, dev.rx_ring_max) + _u32(6, dev.rx_ring)
            + _u32(5, dev.tx_ring_max) + _u32(9, dev.tx_ring)
            + _u8(11, 2 if dev.tcp_data_split_active else 1)  # ETHTOOL_TCP_DATA_SPLIT_*
            + _u8(13, 0) + _u8(14, 0))
    if "hds_thresh" in dev.ring_params and genl.version.hds_thresh_attr:
        body += _u32(17, dev.hds_thresh) + _u32(18, dev.hds_thresh_max)
    out.append(req.reply("rings-get", body, dump))


def _rings_set(genl: NetdevGenl, req: _Req, out: list, dump: bool) -> None:
    """``ethnl_default_set_doit`` with ``ethnl_set_rings_validate`` / ``ethnl_set_rings``:
    both are :meth:`NetDevice.set_rings` (the same call as ``ethtool -G``)."""
    _req_header(req)
    _parse_header(genl, req, require_dev=True)
    dev, tb = req.dev, req.tb
    args = {}
    for name, attr in _RINGS_ATTRS.items():
        if attr in tb:
            a = tb[attr]
            v = a.payload[0] if len(a.payload) == 1 else a.u32()
            args[name] = (efam.TCP_DATA_SPLIT[v] if name == "tcp_data_split"
                          else bool(v) if name in ("tx_push", "rx_push") else v)
    _default_set(genl, dev, tb, "rings", _RINGS_ATTRS, dev.set_rings, args)


def _default_set(genl: NetdevGenl, dev: NetDevice, tb, what: str, attrs: Mapping[str, int],
                 setter, args: dict) -> None:
    """``ethnl_default_set_doit``: ``ethnl_ops_begin``, the op's set (the same device function
    ``ethtool -G/-L`` ends in), then ``ethtool_notify`` if something changed."""
    try:
        if what in dev.ethtool_ops:
            _ops_begin(dev)
        changed = setter(**args)
    except DevmemError as e:
        raise _kernel_error(e, attrs, tb) from None
    if changed:
        notify(genl, dev, f"{what}-ntf")


# ---- channels.c -------------------------------------------------------------------------------
_CHANNELS_ATTRS = {"rx": 6, "tx": 7, "other": 8, "combined": 9}


def _channels_get(genl: NetdevGenl, req: _Req, out: list, dump: bool) -> None:
    """``channels_fill_reply``: a count only where its maximum is non-zero."""
    dev = _get(genl, req, dump)
    if "channels" not in dev.ethtool_ops:
        raise GenlError(errno.EOPNOTSUPP)
    _ops_begin(dev)
    body = _reply_header(dev)
    for mx_attr, cnt_attr, mx, cnt in ((2, 6, dev.max_rx, 0), (3, 7, dev.max_tx, 0),
                                       (4, 8, dev.max_other, 0),
                                       (5, 9, dev.max_combined, dev.combined)):
        if mx:
            body += _u32(mx_attr, mx) + _u32(cnt_attr, cnt)
    out.append(req.reply("channels-get", body, dump))


def _channels_set(genl: NetdevGenl, req: _Req, out: list, dump: bool) -> None:
    """``ethnl_set_channels``: :meth:`NetDevice.set_channels`, as ``ethtool -L``."""
    _req_header(req)
    _parse_header(genl, req, require_dev=True)
    dev, tb = req.dev, req.tb
    args = {name: tb[attr].u32() for name, attr in _CHANNELS_ATTRS.items() if attr in tb}
    _default_set(genl, dev, tb, "channels", _CHANNELS_ATTRS, dev.set_channels, args)


# ---- bitset.c ---------------------------------------------------------------------------------
N = feat.NETDEV_FEATURE_COUNT


def put_bitset(attr: int, value: int, mask: int | None, compact: bool) -> bytes:
    """``ethnl_put_bitset32`` over the netdev feature names (mask None: a list bitset)."""
    body = (wire.pack_attr(1, b"") if mask is None else b"") + _u32(2, N)
    if compact:
        nbytes = (N + 31) // 32 * 4
        body += wire.pack_attr(4, value.to_bytes(nbytes, "little"))
        if mask is not None:
            body += wire.pack_attr(5, mask.to_bytes(nbytes, "little"))
    else:
        bits = b""
        for i, name in enumerate(feat.NETDEV_FEATURES):
            if not ((mask if mask is not None else value) >> i) & 1:
                continue
            bit = _u32(1, i) + wire.pack_attr(2, name.encode() + b"\0")
            if mask is not None and value >> i & 1:
                bit += wire.pack_attr(3, b"")
            bits += wire.pack_attr(1, bit, nested=True)
        body += wire.pack_attr(3, bits, nested=True)
    return wire.pack_attr(attr, body, nested=True)


def _parse_bit(bit: wire.Attr, nomask: bool) -> tuple[int, bool]:
    """``ethnl_parse_bit``: by index (checked against the name if both) or by name."""
    t = parse(bit.payload, bit.offset + wire.NLATTR.size, *efam.BIT_POLICY)
    if 1 in t:
        idx = t[1].u32()
        if idx >= N:
            raise GenlError(errno.EOPNOTSUPP, "bit index too high", bad_attr=t[1].offset)
        if 2 in t:
            given = t[2].payload
            name = feat.NETDEV_FEATURES[idx].encode() + b"\0"
            if given[:len(given)] != name[:len(given)]:  # strncmp up to nla_len
                raise GenlError(errno.EINVAL, "bit index and name mismatch",
                                bad_attr=bit.offset)
    elif 2 in t:
        try:
            idx = feat.feature_index(t[2].string())
        except DevmemError:
            raise GenlError(errno.EOPNOTSUPP, "bit name not found",
                            bad_attr=t[2].offset) from None
    else:
        raise GenlError(errno.EINVAL, "neither bit index nor name specified",
                        bad_attr=bit.offset)
    return idx, nomask or 3 in t


def parse_bitset(nest: wire.Attr) -> tuple[int, int]:
    """``ethnl_parse_bitset``: ``(value, mask)`` of a compact or verbose bitset.

    Raises
    ------
    GenlError
        The refusals of ``ethnl_compact_sanity_checks`` and ``ethnl_parse_bit`` with their
        extack text and attribute.
    """
    t = parse(nest.payload, nest.offset + wire.NLATTR.size, *efam.BITSET_POLICY)
    nomask = 1 in t
    if 3 not in t:  # compact
        if nomask and 5 in t:
            raise GenlError(errno.EINVAL, "mask not allowed in list bitset",
                            bad_attr=t[5].offset)
        for attr, what in ((2, "size"), (4, "value")):
            if attr not in t:
                raise GenlError(errno.EINVAL, f"missing {what} in compact bitset",
                                bad_attr=nest.offset)
        if not nomask and 5 not in t:
            raise GenlError(errno.EINVAL, "missing mask in compact nonlist bitset",
                            bad_attr=nest.offset)
        size = t[2].u32()
        nbytes = (size + 31) // 32 * 4
        for attr, what in ((4, "value"), (5, "mask")):
            if attr in t and len(t[attr].payload) != nbytes:
                raise GenlError(errno.EINVAL, f"bitset {what} length does not match size",
                                bad_attr=t[attr].offset)
        value = int.from_bytes(t[4].payload, "little") & ((1 << size) - 1)
        mask = ((1 << size) - 1) if nomask else int.from_bytes(t[5].payload, "little") \
            & ((1 << size) - 1)
        test = t[4] if nomask else t[5]
        if size > N and (value if nomask else mask) >> N:
            raise GenlError(errno.EINVAL, "cannot modify bits past kernel bitset size",
                            bad_attr=test.offset)
        all_bits = (1 << N) - 1
        return value & all_bits, mask & all_bits
    for attr, what in ((4, "value"), (5, "mask")):
        if attr in t:
            raise GenlError(errno.EINVAL, f"{what} only allowed in compact bitset",
                            bad_attr=t[attr].offset)
    value, mask = 0, ((1 << N) - 1) if nomask else 0
    for bit in wire.iter_attrs(t[3].payload, t[3].offset + wire.NLATTR.size):
        idx, on = _parse_bit(bit, nomask)
        if on:
            value |= 1 << idx
        if not nomask:
            mask |= 1 << idx
    return value, mask


# ---- features.c -------------------------------------------------------------------------------
def _features_get(genl: NetdevGenl, req: _Req, out: list, dump: bool) -> None:
    """``features_prepare_data`` + ``features_fill_reply``: hw (against all bits), wanted,
    active, nochange."""
    dev = _get(genl, req, dump)
    compact = bool(req.flags & efam.ETHTOOL_FLAG_COMPACT_BITSETS)
    hw, wanted, active, nochange = feat.bitmaps(dev)
    body = (_reply_header(dev) + put_bitset(2, hw, (1 << N) - 1, compact)
            + put_bitset(3, wanted, None, compact) + put_bitset(4, active, None, compact)
            + put_bitset(5, nochange, None, compact))
    out.append(req.reply("features-get", body, dump))


def _features_set(genl: NetdevGenl, req: _Req, out: list, dump: bool) -> None:
    """``ethnl_set_features``: WANTED required (EINVAL, no extack), the header, the bitset,
    then :func:`~devmem_lab.kernel.nic.features.set_features` (as ``ethtool -K``); the reply
    carries what differs from the request and what changed, unless OMIT_REPLY."""
    if 3 not in req.tb:
        raise GenlError(errno.EINVAL)
    _parse_header(genl, req, require_dev=True)
    dev = req.dev
    _ops_begin(dev)
    value, mask = parse_bitset(req.tb[3])
    try:
        change = feat.set_features(dev, value, mask)
    except DevmemError as e:
        raise _kernel_error(e, {}, req.tb) from None
    if not req.flags & efam.ETHTOOL_FLAG_OMIT_REPLY:
        compact = bool(req.flags & efam.ETHTOOL_FLAG_COMPACT_BITSETS)
        out.append(req.reply("features-set", _reply_header(dev)
                             + put_bitset(3, change.wanted, change.wanted_mask, compact)
                             + put_bitset(4, change.active, change.active_mask, compact)))
    if change.changed:  # netdev_features_change -> NETDEV_FEAT_CHANGE
        notify(genl, dev, "features-ntf")


# ---- rss.c ------------------------------------------------------------------------------------
_HFUNCS = ("toeplitz", "xor", "crc32")  # ETH_RSS_HASH_TOP/XOR/CRC32 bits


def _rss_get(genl: NetdevGenl, req: _Req, out: list, dump: bool) -> None:
    """``rss_prepare_data`` + ``rss_fill_reply`` for context 0: hfunc, indir, hkey."""
    dev = _get(genl, req, dump)
    if "rxfh" not in dev.ethtool_ops:
        raise GenlError(errno.EOPNOTSUPP)
    if req.tb.get(2) is not None and req.tb[2].u32():
        raise GenlError(errno.EOPNOTSUPP, "RSS contexts are not emulated")
    _ops_begin(dev)
    body = (_reply_header(dev) + _u32(3, 1 << _HFUNCS.index(dev.rss_hfunc))
            + wire.pack_attr(4, struct.pack(f"={len(dev.rss_table)}I", *dev.rss_table))
            + wire.pack_attr(5, dev.rss_key))
    out.append(req.reply("rss-get", body, dump))


_HANDLERS = {"rings-get": _rings_get, "rings-set": _rings_set, "channels-get": _channels_get,
             "channels-set": _channels_set, "features-get": _features_get,
             "features-set": _features_set, "rss-get": _rss_get}
