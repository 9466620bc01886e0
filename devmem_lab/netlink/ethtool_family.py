"""The ethtool generic-netlink family as tables: ops, attribute sets, policies, bitsets.

Models ``Documentation/netlink/specs/ethtool.yaml`` / ``include/uapi/linux/
ethtool_netlink_generated.h`` (numbers), the family of ``net/ethtool/netlink.c``
(``ethtool_genl_family``: name "ethtool", version 1, multicast group "monitor", one op per
command, SET/ACT ops ``GENL_UNS_ADMIN_PERM``) and the policies of ``rings.c``,
``channels.c``, ``features.c``, ``rss.c``, ``bitset.c`` and ``netlink.c``
(``ethnl_header_policy``).

Checked against a running 6.18 kernel: ``CTRL_CMD_GETFAMILY`` (ops 1-50 and their flags,
group "monitor"), ``CTRL_CMD_GETPOLICY`` (the policies below) and refusals that show each
op's maxattr (RINGS_SET 18, CHANNELS_SET 9, FEATURES_SET 3, the GETs 1, header 3). The 6.12
table is the 6.18 one without ops 46-50 (tsconfig-get/set, rss-set, rss-create/delete-act)
and without ``ETHTOOL_A_RINGS_HDS_THRESH``/``_MAX`` (added in 6.13): RINGS_SET's maxattr is
16 there, so hds-thresh is an unknown attribute (from the uapi history, not a live 6.12).

Used by both sides: the emulated kernel (``kernel/ethtool_genl.py``) validates with
:data:`POLICIES`, the client (``devmem_lab.ynl_ethtool``) encodes with :data:`ATTR_SETS`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import wire
from .family import Family, OpSpec

__all__ = [
    "ATTR_SETS",
    "ETHTOOL_FAMILY_ID",
    "ETHTOOL_FLAG_COMPACT_BITSETS",
    "ETHTOOL_FLAG_OMIT_REPLY",
    "MONITOR_GROUP_ID",
    "MSG",
    "REPLY",
    "TCP_DATA_SPLIT",
    "EPolicy",
    "decode",
    "decode_bitset",
    "encode",
    "ethtool_family",
    "policy",
    "policy_extack",
]

ETHTOOL_FAMILY_ID = 21  # the id the 6.18 reference kernel gave "ethtool" (boot-order dependent)
MONITOR_GROUP_ID = 6  # its "monitor" multicast group (netdev's are 4 and 5)
ETHTOOL_FLAG_COMPACT_BITSETS, ETHTOOL_FLAG_OMIT_REPLY = 1 << 0, 1 << 1
#: ETHTOOL_TCP_DATA_SPLIT_UNKNOWN/DISABLED/ENABLED, as ethtool's -G names them
TCP_DATA_SPLIT = ("auto", "off", "on")
RESV_START_OP = 35  # ETHTOOL_MSG_MODULE_GET + 1: genl_header_check only from here on

_OPS = (  # ETHTOOL_MSG_* (user -> kernel), in number order from 1
    "strset-get", "linkinfo-get", "linkinfo-set", "linkmodes-get", "linkmodes-set",
    "linkstate-get", "debug-get", "debug-set", "wol-get", "wol-set", "features-get",
    "features-set", "privflags-get", "privflags-set", "rings-get", "rings-set", "channels-get",
    "channels-set", "coalesce-get", "coalesce-set", "pause-get", "pause-set", "eee-get",
    "eee-set", "tsinfo-get", "cable-test-act", "cable-test-tdr-act", "tunnel-info-get",
    "fec-get", "fec-set", "module-eeprom-get", "stats-get", "phc-vclocks-get", "module-get",
    "module-set", "pse-get", "pse-set", "rss-get", "plca-get-cfg", "plca-set-cfg",
    "plca-get-status", "mm-get", "mm-set", "module-fw-flash-act", "phy-get", "tsconfig-get",
    "tsconfig-set", "rss-set", "rss-create-act", "rss-delete-act",
)
MSG = {name: i + 1 for i, name in enumerate(_OPS)}
#: ETHTOOL_MSG_*_REPLY / _NTF (kernel -> user) this module uses
REPLY = {"features-get": 11, "features-set": 12, "features-ntf": 13, "rings-get": 16,
         "rings-ntf": 17, "channels-get": 18, "channels-ntf": 19, "rss-get": 38}
_DUMP_TOO_FOR_ADMIN = {"wol-get", "module-eeprom-get"}  # GETs that are uns-admin-perm


def _op(name: str) -> OpSpec:
    setter = not name.endswith("-get") and name not in ("plca-get-cfg", "plca-get-status")
    admin = setter or name in _DUMP_TOO_FOR_ADMIN
    return OpSpec(name, MSG[name], name.rsplit("-", 1)[0], True, not setter,
                  "uns-admin-perm" if admin else None)


# ---- attribute sets (names as in ethtool.yaml) ---------------------------------------------
#: set -> {attribute: (id, type[, nested set])}
ATTR_SETS: dict[str, dict[str, tuple]] = {
    "header": {"dev-index": (1, "u32"), "dev-name": (2, "string"), "flags": (3, "u32"),
               "phy-index": (4, "u32")},
    "bitset-bit": {"index": (1, "u32"), "name": (2, "string"), "value": (3, "flag")},
    "bitset-bits": {"bit": (1, "nest", "bitset-bit")},
    "bitset": {"nomask": (1, "flag"), "size": (2, "u32"), "bits": (3, "nest", "bitset-bits"),
               "value": (4, "binary"), "mask": (5, "binary")},
    "rings": {"header": (1, "nest", "header"), "rx-max": (2, "u32"), "rx-mini-max": (3, "u32"),
              "rx-jumbo-max": (4, "u32"), "tx-max": (5, "u32"), "rx": (6, "u32"),
              "rx-mini": (7, "u32"), "rx-jumbo": (8, "u32"), "tx": (9, "u32"),
              "rx-buf-len": (10, "u32"), "tcp-data-split": (11, "u8"), "cqe-size": (12, "u32"),
              "tx-push": (13, "u8"), "rx-push": (14, "u8"), "tx-push-buf-len": (15, "u32"),
              "tx-push-buf-len-max": (16, "u32"), "hds-thresh": (17, "u32"),
              "hds-thresh-max": (18, "u32")},
    "channels": {"header": (1, "nest", "header"), "rx-max": (2, "u32"), "tx-max": (3, "u32"),
                 "other-max": (4, "u32"), "combined-max": (5, "u32"), "rx-count": (6, "u32"),
                 "tx-count": (7, "u32"), "other-count": (8, "u32"),
                 "combined-count": (9, "u32")},
    "features": {"header": (1, "nest", "header"), "hw": (2, "nest", "bitset"),
                 "wanted": (3, "nest", "bitset"), "active": (4, "nest", "bitset"),
                 "nochange": (5, "nest", "bitset")},
    "rss": {"header": (1, "nest", "header"), "context": (2, "u32"), "hfunc": (3, "u32"),
            "indir": (4, "binary"), "hkey": (5, "binary"), "input-xfrm": (6, "u32"),
            "start-context": (7, "u32")},
}


# ---- policies (struct nla_policy, as CTRL_CMD_GETPOLICY shows them) ----------------------------
@dataclass(frozen=True)
class EPolicy:
    """One policy entry: ``type`` (u8, u32, nul-string, flag, binary, nest), range or mask,
    ``max_len`` of a string, and a nested ``(maxattr, {id: EPolicy})`` for NLA_POLICY_NESTED."""

    type: str
    min: int = 0
    max: int | None = None
    mask: int | None = None
    max_len: int | None = None
    nested: tuple[int, Mapping[int, EPolicy]] | None = None

    @property
    def upper(self) -> int:
        if self.max is not None:
            return self.max
        return {"u8": 0xFF, "u32": 0xFFFFFFFF}.get(self.type, 0)


_U32, _U8B = EPolicy("u32"), EPolicy("u8", max=1)
#: ethnl_header_policy: ifindex, name (ALTIFNAMSIZ - 1), flags (ETHTOOL_FLAGS_BASIC)
HEADER_POLICY = (3, {1: _U32, 2: EPolicy("nul-string", max_len=127), 3: EPolicy("u32", mask=3)})
_HDR = EPolicy("nest", nested=HEADER_POLICY)
#: bitset.c: bitset_policy and bit_policy (parsed by ethnl_parse_bitset, not by genetlink)
BITSET_POLICY = (5, {1: EPolicy("flag"), 2: EPolicy("u32", max=0x7FFF), 3: EPolicy("nest"),
                     4: EPolicy("binary"), 5: EPolicy("binary")})
BIT_POLICY = (3, {1: _U32, 2: EPolicy("nul-string"), 3: EPolicy("flag")})

_RINGS_SET_618 = {1: _HDR, 6: _U32, 7: _U32, 8: _U32, 9: _U32, 10: EPolicy("u32", min=1),
                  11: EPolicy("u8", max=2), 12: EPolicy("u32", min=1), 13: _U8B, 14: _U8B,
                  15: _U32, 17: _U32}
_POLICIES_618: dict[str, tuple[int, dict[int, EPolicy]]] = {
    "features-get": (1, {1: _HDR}),
    "features-set": (3, {1: _HDR, 3: EPolicy("nest")}),
    "rings-get": (1, {1: _HDR}),
    "rings-set": (18, _RINGS_SET_618),
    "channels-get": (1, {1: _HDR}),
    "channels-set": (9, {1: _HDR, 6: _U32, 7: _U32, 8: _U32, 9: _U32}),
    "rss-get": (7, {1: _HDR, 2: _U32, 7: _U32}),
}
_POLICIES_612 = {**_POLICIES_618,
                 "rings-set": (16, {k: v for k, v in _RINGS_SET_618.items() if k != 17})}


def ethtool_family(version: str = "6.18") -> Family:
    """The ethtool family as kernel ``version`` ("6.18" or "6.12") registers it."""
    names = _OPS[:45] if version == "6.12" else _OPS
    return Family("ethtool", ETHTOOL_FAMILY_ID, 1, tuple(_op(n) for n in names),
                  (("monitor", MONITOR_GROUP_ID),), {})


def policy(version: str, op: str) -> tuple[int, Mapping[int, EPolicy]] | None:
    """``(maxattr, {attr: policy})`` of an op the emulator implements, else None."""
    return (_POLICIES_612 if version == "6.12" else _POLICIES_618).get(op)


_NL_ATTR_TYPE = {"flag": 1, "u8": 2, "u32": 4, "binary": 10, "nul-string": 12, "nest": 13}
_Q, _I = struct.Struct("=Q"), struct.Struct("=I")


def policy_extack(p: EPolicy) -> bytes:
    """``NLMSGERR_ATTR_POLICY`` as 6.18 sends it: integers MIN_VALUE_U/MAX_VALUE_U (or MASK),
    strings MAX_LENGTH, then TYPE."""
    out = b""
    if p.type in ("u8", "u32"):
        if p.mask is not None:
            out += wire.pack_attr(12, _Q.pack(p.mask))
        else:
            out += wire.pack_attr(4, _Q.pack(p.min)) + wire.pack_attr(5, _Q.pack(p.upper))
    elif p.type == "nul-string" and p.max_len:
        out += wire.pack_attr(7, _I.pack(p.max_len))
    return out + wire.pack_attr(1, _I.pack(_NL_ATTR_TYPE[p.type]))


# ---- encoder / decoder (for clients) -----------------------------------------------------------
def encode(attr_set: str, attrs: Mapping[str, Any]) -> bytes:
    """Encode ``{name: value}`` in the dict's order; nests get ``NLA_F_NESTED``.

    ``tcp-data-split`` takes "auto"/"off"/"on" or 0-2; a ``flag`` is sent when truthy; a
    ``multi`` nest (``bitset-bits.bit``) takes a list.
    """
    specs = ATTR_SETS[attr_set]
    out = b""
    for name, value in attrs.items():
        if name not in specs:
            raise KeyError(f"{name!r} is not an attribute of {attr_set!r}")
        aid, typ, *nested = specs[name]
        if typ == "nest":
            for v in (value if isinstance(value, list) else [value]):
                out += wire.pack_attr(aid, encode(nested[0], v), nested=True)
        elif typ == "flag":
            out += wire.pack_attr(aid, b"") if value else b""
        elif typ == "string":
            out += wire.pack_attr(aid, value.encode() + b"\0")
        elif typ == "binary":
            out += wire.pack_attr(aid, bytes(value))
        else:
            if name == "tcp-data-split" and isinstance(value, str):
                value = TCP_DATA_SPLIT.index(value)
            out += wire.pack_attr(aid, struct.pack("=B" if typ == "u8" else "=I", value))
    return out


def decode_bitset(data: bytes) -> dict[str, Any]:
    """A bitset nest: ``{"size": n, "bits": {name: bool}}`` (verbose; with ``nomask`` every
    listed bit is on) or ``{"size": n, "value": int, "mask": int | None}`` (compact)."""
    t = wire.attrs_by_type(data)
    out: dict[str, Any] = {"size": t[2].u32() if 2 in t else None}
    nomask = 1 in t
    if 3 in t:
        bits: dict[str, bool] = {}
        for b in wire.iter_attrs(t[3].payload):
            bt = wire.attrs_by_type(b.payload)
            name = (bt[2].string() if 2 in bt else "") or str(bt[1].u32())  # unused: index
            bits[name] = nomask or 3 in bt
        out["bits"] = bits
    else:
        out["value"] = int.from_bytes(t[4].payload, "little") if 4 in t else 0
        out["mask"] = None if nomask else int.from_bytes(t[5].payload, "little") if 5 in t else 0
    return out


def decode(attr_set: str, data: bytes) -> dict[str, Any]:
    """Decode attributes with the names of ``attr_set``; bitsets via :func:`decode_bitset`."""
    specs = {s[0]: (n, s) for n, s in ATTR_SETS[attr_set].items()}
    out: dict[str, Any] = {}
    for a in wire.iter_attrs(data):
        if a.type not in specs:
            out[str(a.type)] = a.payload.hex()
            continue
        name, (_aid, typ, *nested) = specs[a.type]
        if typ == "nest":
            out[name] = (decode_bitset(a.payload) if nested[0] == "bitset"
                         else decode(nested[0], a.payload))
        elif typ == "u32":
            out[name] = a.u32()
        elif typ == "u8":
            v = a.payload[0]
            out[name] = TCP_DATA_SPLIT[v] if name == "tcp-data-split" and v < 3 else v
        elif typ == "string":
            out[name] = a.string()
        elif typ == "flag":
            out[name] = True
        elif attr_set == "rss" and name == "indir":
            out[name] = list(struct.unpack(f"={len(a.payload) // 4}I", a.payload))
        else:
            out[name] = a.payload.hex()
    return out
