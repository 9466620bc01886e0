"""``ethtool -n/-N`` (``-u/-U``): rx flow classification (ntuple) rules on an emulated kernel.

Models ethtool 6.15's ``rxclass.c``: ``rxclass_parse_ruleopts`` (a ``flow-type`` and its
``rule_nfc_*`` option table, values and ``m``/``<option>-mask`` masks, the ``NFC_FLAG_*`` bits
that refuse an option given twice, ``action``/``vf``/``queue`` into the ring cookie, ``loc``),
the ``rmgr`` rule manager (``rmgr_set_location``: a rule without ``loc`` takes the highest free
slot), ``rxclass_rule_ins`` / ``rxclass_rule_del``, ``rxclass_get_dev_info`` and
``rxclass_print_nfc_rule`` (masks shown inverted: set bits are ignored); and their callers in
``ethtool.c``, ``do_srxclass`` / ``do_grxclass`` (``delete N``, ``rule N``, the ring count).
What crosses to the kernel is a ``struct ethtool_rx_flow_spec`` (``include/uapi/linux/ethtool.h``:
``flow_type``, value ``h_u`` and care mask ``m_u``, ``ring_cookie`` with ``RX_CLS_FLOW_DISC``
for drop and the VF in bits 32-39, ``location`` with ``RX_CLS_LOC_SPECIAL``) in the
``SIOCETHTOOL`` commands ``ETHTOOL_GRXRINGS``, ``ETHTOOL_GRXCLSRLCNT``, ``ETHTOOL_GRXCLSRLALL``,
``ETHTOOL_GRXCLSRULE``, ``ETHTOOL_SRXCLSRLINS`` and ``ETHTOOL_SRXCLSRLDEL``; the kernel side
(``net/ethtool/ioctl.c`` ``ethtool_set_rxnfc`` / ``ethtool_get_rxnfc`` and the driver's
``set_rxnfc``) is ``NetDevice.add_ntuple_rule`` / ``delete_ntuple_rule`` in
``devmem_lab.kernel.nic.device``. Errors print as ``perror`` does, followed where ethtool adds one by
its own line (``Cannot delete classification rule``); a refused insert still exits 0, as
``rxclass_rule_ins`` returns 0 after its ``perror``.

Differs from ethtool and a real driver: the emulated driver takes ``tcp4``/``udp4``/``tcp6``/
``udp6`` rules whose addresses and ports are exact or fully masked, with a queue or drop as the
action (other flow types and fields, partial masks and VF targets are EOPNOTSUPP), so a listing
shows only those fields (TOS / traffic class always ``0x0 mask: 0xff``). Not emulated:
``rx-flow-hash`` (raises EOPNOTSUPP saying so) and ``context N`` (rules into RSS contexts),
which this parser reports as an unrecognized option.
"""

from __future__ import annotations

import errno
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DevmemError
from ..kernel.nic.device import NTUPLE_TABLE_SIZE, FlowRule
from .internal import (
    _INT_MAX,
    _U64,
    _bad_args,
    _Ctx,
    _Exit,
    _get_int_range,
    _ioctl_errno,
    _ioctl_init,
    _not_emulated,
    _perror,
    _strtoll,
)

if TYPE_CHECKING:
    from ..kernel.nic.device import NetDevice

__all__ = ["do_grxclass", "do_srxclass"]

_RX_CLS_FLOW_DISC = _U64
_RX_CLS_FLOW_WAKE = _U64 - 1
_RX_CLS_LOC_SPECIAL = 0x80000000

_FLOW_TYPES = {"tcp4": "ip4", "udp4": "ip4", "sctp4": "ip4", "ah4": "esp4", "esp4": "esp4",
               "ip4": "usr4", "tcp6": "ip6", "udp6": "ip6", "sctp6": "ip6", "ah6": "esp6",
               "esp6": "esp6", "ip6": "usr6", "ether": "ether"}
# NFC_FLAG_* bits (rxclass.c), used to refuse an option given twice
_F_RING, _F_LOC, _F_SADDR, _F_DADDR, _F_SPORT, _F_DPORT = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
_F_SPI, _F_TOS, _F_PROTO, _F_VLAN, _F_UDEF, _F_VETH = 0x30, 0x40, 0x80, 0x100, 0x200, 0x400
_F_MAC, _F_RING_VF, _F_RING_QUEUE = 0x800, 0x1000, 0x2000
_RING_VF = 0xFF << 32  # ETHTOOL_RX_FLOW_SPEC_RING_VF
_TAIL = (("action", "u64", _F_RING, False), ("vf", "vf", _F_RING_VF, False),
         ("queue", "queue", _F_RING_QUEUE, False), ("loc", "u32", _F_LOC, False),
         ("vlan-etype", "u16", _F_VETH, True), ("vlan", "u16", _F_VLAN, True),
         ("user-def", "u64", _F_UDEF, True))
_DMAC = (("dst-mac", "mac", _F_MAC, True),)
# rule_nfc_* tables: option name, value type, flag, has a mask
_RULE_OPTS: dict[str, tuple[tuple[str, str, int, bool], ...]] = {
    "ip4": (("src-ip", "ip4", _F_SADDR, True), ("dst-ip", "ip4", _F_DADDR, True),
            ("tos", "u8", _F_TOS, True), ("src-port", "u16", _F_SPORT, True),
            ("dst-port", "u16", _F_DPORT, True)) + _TAIL + _DMAC,
    "esp4": (("src-ip", "ip4", _F_SADDR, True), ("dst-ip", "ip4", _F_DADDR, True),
             ("tos", "u8", _F_TOS, True), ("spi", "u32", _F_SPI, True)) + _TAIL + _DMAC,
    "usr4": (("src-ip", "ip4", _F_SADDR, True), ("dst-ip", "ip4", _F_DADDR, True),
             ("tos", "u8", _F_TOS, True), ("l4proto", "u8", _F_PROTO, True),
             ("l4data", "u32", _F_SPI, True), ("spi", "u32", _F_SPI, True),
             ("src-port", "u16", _F_SPORT, True), ("dst-port", "u16", _F_DPORT, True))
            + _TAIL + _DMAC,
    "ip6": (("src-ip", "ip6", _F_SADDR, True), ("dst-ip", "ip6", _F_DADDR, True),
            ("tclass", "u8", _F_TOS, True), ("src-port", "u16", _F_SPORT, True),
            ("dst-port", "u16", _F_DPORT, True)) + _TAIL + _DMAC,
    "esp6": (("src-ip", "ip6", _F_SADDR, True), ("dst-ip", "ip6", _F_DADDR, True),
             ("tclass", "u8", _F_TOS, True), ("spi", "u32", _F_SPI, True)) + _TAIL + _DMAC,
    "usr6": (("src-ip", "ip6", _F_SADDR, True), ("dst-ip", "ip6", _F_DADDR, True),
             ("tclass", "u8", _F_TOS, True), ("l4proto", "u8", _F_PROTO, True),
             ("l4data", "u32", _F_SPI, True), ("spi", "u32", _F_SPI, True),
             ("src-port", "u16", _F_SPORT, True), ("dst-port", "u16", _F_DPORT, True))
            + _TAIL + _DMAC,
    "ether": (("src", "mac", _F_SADDR, True), ("dst", "mac", _F_DADDR, True),
              ("proto", "u16", _F_PROTO, True)) + _TAIL,
}
_WIDTH = {"u8": 8, "u16": 16, "u32": 32, "u64": 64, "vf": 8, "queue": 32, "ip4": 32,
          "ip6": 128, "mac": 48}


def _rule_value(kind: str, text: str) -> int | None:
    """``rxclass_get_val`` / ``rxclass_get_mask`` parsing: an int, or None if invalid."""
    if kind == "ip4":
        try:
            return int(ipaddress.IPv4Address(text))
        except ValueError:
            return None
    if kind == "ip6":
        if "%" in text:
            return None
        try:
            return int(ipaddress.IPv6Address(text))
        except ValueError:
            return None
    if kind == "mac":
        m = re.match(r"([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):"
                     r"([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})", text)
        return int("".join(f"{int(g, 16):02x}" for g in m.groups()), 16) if m else None
    value = _strtoll(text, 0, unsigned=True)
    if value is None or value > (1 << _WIDTH[kind]) - 1:
        return None
    return value


@dataclass
class _Spec:
    """The parts of ``struct ethtool_rx_flow_spec`` this emulator keeps."""

    flow_type: str
    fields: dict  # option -> (value, care-mask)
    ring_cookie: int = 0
    location: int = 0xFFFFFFFF  # RX_CLS_LOC_ANY


def _parse_ruleopts(ctx: _Ctx, argv: list[str]) -> _Spec:
    """``rxclass_parse_ruleopts`` (rxclass.c); on error ethtool exits via ``exit_bad_args``."""
    term = ctx.term

    def syntax_err() -> None:
        term.err("Add rule, invalid syntax\n")
        _bad_args(term)

    if not argv or argv[0] not in _FLOW_TYPES:
        syntax_err()
    options = _RULE_OPTS[_FLOW_TYPES[argv[0]]]
    spec = _Spec(argv[0], {})
    flags = 0
    i = 1
    while i < len(argv):
        for name, kind, flag, has_mask in options:
            if argv[i] != name:
                continue
            i += 1
            if i >= len(argv):
                break
            value = _rule_value(kind, argv[i])
            if flags & flag or value is None:
                term.err(f"Invalid {name} value[{argv[i]}]\n")
                _bad_args(term)
            flags |= flag
            full = (1 << _WIDTH[kind]) - 1
            if name == "action":
                spec.ring_cookie = value
            elif name == "vf":  # 0 in the cookie means the PF, so VF n is stored as n + 1
                spec.ring_cookie = (spec.ring_cookie & ~_RING_VF) | ((value + 1) << 32)
            elif name == "queue":
                spec.ring_cookie = (spec.ring_cookie & ~0xFFFFFFFF) | value
            elif name == "loc":
                spec.location = value
            else:
                spec.fields[name] = (value, full)
            i += 1
            if i >= len(argv):
                break
            if argv[i] not in ("m", f"{name}-mask"):
                break
            i += 1
            if i >= len(argv):
                syntax_err()
            mask = _rule_value(kind, argv[i]) if has_mask else None
            if mask is None:
                term.err(f"Invalid {name} mask[{argv[i]}]\n")
                _bad_args(term)
            spec.fields[name] = (spec.fields[name][0], full & ~mask)
            i += 1
            break
        else:
            term.out(f"Add rule, unrecognized option[{argv[i]}]\n")
            _bad_args(term)
    if flags & _F_RING and flags & _F_RING_QUEUE:
        term.err("action and queue are not compatible\n")
        _bad_args(term)
    if flags & _F_RING and flags & _F_RING_VF:
        term.err("action and vf are not compatible\n")
        _bad_args(term)
    return spec


def _spec_to_rule(spec: _Spec) -> FlowRule:
    """What the driver accepts: exact-or-wildcard addresses and ports, a queue or drop."""
    if spec.flow_type not in ("tcp4", "udp4", "tcp6", "udp6"):
        raise DevmemError(errno.EOPNOTSUPP)
    kept: dict[str, object] = {}
    for name, (value, care) in spec.fields.items():
        if care == 0:
            continue  # fully masked out: matches anything
        width = 32 if spec.flow_type.endswith("4") and name.endswith("-ip") else \
            128 if name.endswith("-ip") else 16
        if name not in ("src-ip", "dst-ip", "src-port", "dst-port") or care != (1 << width) - 1:
            raise DevmemError(errno.EOPNOTSUPP)  # tos/tclass/vlan/user-def/mac, partial masks
        if name.endswith("-ip"):
            kept[name] = str(ipaddress.ip_address(value) if width == 32
                             else ipaddress.IPv6Address(value))
        else:
            kept[name] = value
    cookie = spec.ring_cookie
    if cookie == _RX_CLS_FLOW_DISC:
        action = -1
    elif cookie == _RX_CLS_FLOW_WAKE or cookie >> 40:
        raise DevmemError(errno.EINVAL)
    elif cookie >> 32:
        raise DevmemError(errno.EOPNOTSUPP)  # no VFs
    else:
        action = cookie
    return FlowRule(spec.flow_type, kept.get("src-ip"), kept.get("dst-ip"),
                    kept.get("src-port"), kept.get("dst-port"), action)


def _rule_count(ctx: _Ctx, dev: NetDevice | None) -> None:
    """``rxclass_get_dev_info``: ETHTOOL_GRXCLSRLCNT, perror on failure."""
    err = _ioctl_errno(dev, "rxnfc")
    if err:
        _perror(ctx.term, "rxclass: Cannot get RX class rule count", err)
        raise _Exit(1, err)


def do_srxclass(ctx: _Ctx) -> None:
    """``do_srxclass`` (ethtool.c): ``flow-type ...`` inserts a rule, ``delete N`` removes one."""
    term, argv = ctx.term, ctx.argv
    if len(argv) < 2:
        _bad_args(term)
    if argv[0] == "rx-flow-hash":
        _not_emulated("-N rx-flow-hash")
    if argv[0] == "flow-type":
        spec = _parse_ruleopts(ctx, argv[1:])
        _ioctl_init(ctx)
        dev = ctx.device()
        loc = spec.location
        if loc & _RX_CLS_LOC_SPECIAL:  # rmgr_set_location: newest rules go last-free-first
            try:
                _rule_count(ctx, dev)
            except _Exit as ex:
                term.err("Cannot insert classification rule\n")
                raise _Exit(1, ex.err) from None
            free = [k for k in range(NTUPLE_TABLE_SIZE - 1, -1, -1) if k not in dev.ntuple_rules]
            if not free:
                term.err("rmgr: Cannot find appropriate slot to insert rule\n")
                term.err("Cannot insert classification rule\n")
                raise _Exit(1, errno.ENOSPC)
            loc = free[0]
        try:  # ETHTOOL_SRXCLSRLINS
            err = _ioctl_errno(dev, "rxnfc")
            if err:
                raise DevmemError(err)
            got = dev.add_ntuple_rule(_spec_to_rule(spec), loc)
        except DevmemError as exc:
            _perror(term, "rmgr: Cannot insert RX class rule", exc.errno)
            raise _Exit(0, exc.errno) from None  # rxclass_rule_ins returns 0: exit status 0
        if spec.location & _RX_CLS_LOC_SPECIAL:
            term.out(f"Added rule with ID {got}\n")
    elif argv[0] == "delete":
        loc = _get_int_range(term, argv[1], 0, _INT_MAX)
        _ioctl_init(ctx)
        dev = ctx.device()
        try:  # ETHTOOL_SRXCLSRLDEL
            err = _ioctl_errno(dev, "rxnfc")
            if err:
                raise DevmemError(err)
            dev.delete_ntuple_rule(loc)
        except DevmemError as exc:
            _perror(term, "rmgr: Cannot delete RX class rule", exc.errno)
            term.err("Cannot delete classification rule\n")
            raise _Exit(1, exc.errno) from None
    else:
        _bad_args(term)


def _format_rule(loc: int, rule: FlowRule) -> str:
    """``rxclass_print_nfc_rule``: masks are shown inverted (set bits = ignored)."""
    v4 = rule.flow_type.endswith("4")
    proto = "TCP" if rule.flow_type.startswith("tcp") else "UDP"
    any_ip, all_ones = ("0.0.0.0", "255.255.255.255") if v4 else (
        "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    exact_ip = "0.0.0.0" if v4 else "::"

    def ip(value: str | None) -> str:
        if value is None:
            return f"{any_ip} mask: {all_ones}"
        return f"{ipaddress.ip_address(value).compressed} mask: {exact_ip}"

    def port(value: int | None) -> str:
        return "0 mask: 0xffff" if value is None else f"{value} mask: 0x0"

    lines = [f"Filter: {loc}", f"\tRule Type: {proto} over IPv{'4' if v4 else '6'}",
             f"\tSrc IP addr: {ip(rule.src_ip)}", f"\tDest IP addr: {ip(rule.dst_ip)}",
             f"\t{'TOS' if v4 else 'Traffic Class'}: 0x0 mask: 0xff",
             f"\tSrc port: {port(rule.src_port)}", f"\tDest port: {port(rule.dst_port)}",
             "\tAction: Drop" if rule.action < 0 else f"\tAction: Direct to queue {rule.action}",
             ""]
    return "\n".join(lines) + "\n"


def do_grxclass(ctx: _Ctx) -> None:
    """``do_grxclass`` (ethtool.c): the ring count and every rule, or ``rule N`` alone."""
    term, argv = ctx.term, ctx.argv
    if argv and argv[0] == "rx-flow-hash":
        _not_emulated("-n rx-flow-hash")
    _ioctl_init(ctx)
    dev = ctx.device()
    if len(argv) == 2 and argv[0] == "rule":
        loc = _get_int_range(term, argv[1], 0, _INT_MAX)
        err = _ioctl_errno(dev, "rxnfc") or (0 if loc in dev.ntuple_rules else errno.ENOENT)
        if err:
            _perror(term, "rxclass: Cannot get RX class rule", err)
            term.err("Cannot get RX classification rule\n")
            raise _Exit(1, err)
        term.out(_format_rule(loc, dev.ntuple_rules[loc]))
    elif not argv:
        err = _ioctl_errno(dev, "rxnfc")  # ETHTOOL_GRXRINGS
        if err:
            _perror(term, "Cannot get RX rings", err)
        else:
            term.out(f"{dev.combined} RX rings available\n")
        try:
            _rule_count(ctx, dev)
        except _Exit:
            term.err("RX classification rule retrieval failed\n")
            raise
        term.out(f"Total {len(dev.ntuple_rules)} rules\n\n")
        for loc in sorted(dev.ntuple_rules):
            term.out(_format_rule(loc, dev.ntuple_rules[loc]))
    else:
        _bad_args(term)
