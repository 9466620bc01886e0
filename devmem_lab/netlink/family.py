"""The netdev generic-netlink family as one table, and the encoder/decoder that walk it.

Models ``Documentation/netlink/specs/netdev.yaml`` (attribute sets, names, types, enums) and
the policies and op flags generated from it into ``net/core/netdev-genl-gen.c``. The 6.18
table was checked against a running 6.18 kernel (``CTRL_CMD_GETFAMILY`` op flags and
``CTRL_CMD_GETPOLICY`` policies): there, bind-rx is ``admin-perm`` and takes only ifindex,
fd and queues (no rx-page-size), page-pool and dev dumps take no attributes, and
page-pool-stats-get is absent (built without ``CONFIG_PAGE_POOL_STATS``). The 6.12 table has
no napi-set and no bind-tx.

As in pyynl (``tools/net/ynl/pyynl/lib/nlspec.py``) a new attribute is a change of data, not
of code: :func:`encode` and :func:`decode` walk :data:`ATTR_SETS`. The same table drives the
client (:mod:`devmem_lab.ynl`) and the emulated kernel (``kernel/netdev_genl.py`` builds its
replies and notifications with :func:`encode` and reads requests by attribute name), and the
nlctrl attribute set (``include/uapi/linux/genetlink.h`` ``CTRL_ATTR_*``) lives here too.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import wire

__all__ = [
    "ATTR_SETS",
    "CTRL_ATTR_SETS",
    "ENUMS",
    "NETDEV_FAMILY_ID",
    "NLCTRL",
    "NTFS",
    "SPEC_CMDS",
    "AttrSpec",
    "Family",
    "NtfSpec",
    "OpSpec",
    "Policy",
    "attr_id",
    "ctrl_family_attrs",
    "decode",
    "encode",
    "netdev_family",
    "policy_extack",
]

NETDEV_FAMILY_ID = 20  # the id the 6.18 reference kernel gave "netdev" (boot-order dependent)
U32_MAX = 0xFFFFFFFF
U64_MAX = 0xFFFFFFFFFFFFFFFF
S32_MAX = 0x7FFFFFFF

_U16, _U32, _U64, _S32 = struct.Struct("=H"), struct.Struct("=I"), struct.Struct("=Q"), struct.Struct("=i")


@dataclass(frozen=True)
class AttrSpec:
    """One attribute of an attribute set: ``(id, type)`` plus what the spec says about it.

    ``type`` is the YAML type (``u16``, ``u32``, ``u64``, ``uint``, ``s32``, ``string``,
    ``nest``, ``indexed-array``, ``pad``). ``nested`` names the attribute set of a nest (or of
    each entry of an indexed array: a nest of nests typed 1, 2, ...); ``multi`` marks a
    ``multi-attr`` (a list); ``enum`` names an entry of :data:`ENUMS`; ``flags`` says the
    enum is used as a bit mask (``enum-as-flags``).
    """

    id: int
    type: str
    nested: str | None = None
    multi: bool = False
    enum: str | None = None
    flags: bool = False


A = AttrSpec
#: enum name -> value names in value order (bit order for flag enums)
ENUMS: dict[str, tuple[str, ...]] = {
    "queue-type": ("rx", "tx"),
    "qstats-scope": ("queue",),
    "xdp-act": ("basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg",
                "ndo-xmit-sg"),
    "xdp-rx-metadata": ("timestamp", "hash", "vlan-tag"),
    "xsk-flags": ("tx-timestamp", "tx-checksum", "tx-launch-time-fifo"),
    "napi-threaded": ("disabled", "enabled", "busy-poll"),
}
_FLAG_ENUMS = {"qstats-scope", "xdp-act", "xdp-rx-metadata", "xsk-flags"}

#: attribute-set name -> {attribute name: AttrSpec}; names verbatim from netdev.yaml
ATTR_SETS: dict[str, dict[str, AttrSpec]] = {
    "dev": {
        "ifindex": A(1, "u32"), "pad": A(2, "pad"),
        "xdp-features": A(3, "u64", enum="xdp-act", flags=True),
        "xdp-zc-max-segs": A(4, "u32"),
        "xdp-rx-metadata-features": A(5, "u64", enum="xdp-rx-metadata", flags=True),
        "xsk-features": A(6, "u64", enum="xsk-flags", flags=True),
    },
    "io-uring-provider-info": {},
    "xsk-info": {},
    "page-pool": {
        "id": A(1, "uint"), "ifindex": A(2, "u32"), "napi-id": A(3, "uint"),
        "inflight": A(4, "uint"), "inflight-mem": A(5, "uint"), "detach-time": A(6, "uint"),
        "dmabuf": A(7, "u32"), "io-uring": A(8, "nest", nested="io-uring-provider-info"),
    },
    "page-pool-info": {"id": A(1, "uint"), "ifindex": A(2, "u32")},
    "page-pool-stats": {
        "info": A(1, "nest", nested="page-pool-info"),
        "alloc-fast": A(8, "uint"), "alloc-slow": A(9, "uint"),
        "alloc-slow-high-order": A(10, "uint"), "alloc-empty": A(11, "uint"),
        "alloc-refill": A(12, "uint"), "alloc-waive": A(13, "uint"),
        "recycle-cached": A(14, "uint"), "recycle-cache-full": A(15, "uint"),
        "recycle-ring": A(16, "uint"), "recycle-ring-full": A(17, "uint"),
        "recycle-released-refcnt": A(18, "uint"),
    },
    "napi": {
        "ifindex": A(1, "u32"), "id": A(2, "u32"), "irq": A(3, "u32"), "pid": A(4, "u32"),
        "defer-hard-irqs": A(5, "u32"), "gro-flush-timeout": A(6, "uint"),
        "irq-suspend-timeout": A(7, "uint"),
        "threaded": A(8, "u32", enum="napi-threaded"),
    },
    "queue": {
        "id": A(1, "u32"), "ifindex": A(2, "u32"), "type": A(3, "u32", enum="queue-type"),
        "napi-id": A(4, "u32"), "dmabuf": A(5, "u32"),
        "io-uring": A(6, "nest", nested="io-uring-provider-info"),
        "xsk": A(7, "nest", nested="xsk-info"),
    },
    "queue-id": {"id": A(1, "u32"), "type": A(3, "u32", enum="queue-type")},
    "qstats": {
        "ifindex": A(1, "u32"), "queue-type": A(2, "u32", enum="queue-type"),
        "queue-id": A(3, "u32"), "scope": A(4, "uint", enum="qstats-scope", flags=True),
        "rx-packets": A(8, "uint"), "rx-bytes": A(9, "uint"), "tx-packets": A(10, "uint"),
        "tx-bytes": A(11, "uint"), "rx-alloc-fail": A(12, "uint"), "rx-hw-drops": A(13, "uint"),
        "rx-hw-drop-overruns": A(14, "uint"), "rx-csum-complete": A(15, "uint"),
        "rx-csum-unnecessary": A(16, "uint"), "rx-csum-none": A(17, "uint"),
        "rx-csum-bad": A(18, "uint"), "rx-hw-gro-packets": A(19, "uint"),
        "rx-hw-gro-bytes": A(20, "uint"), "rx-hw-gro-wire-packets": A(21, "uint"),
        "rx-hw-gro-wire-bytes": A(22, "uint"), "rx-hw-drop-ratelimits": A(23, "uint"),
        "tx-hw-drops": A(24, "uint"), "tx-hw-drop-errors": A(25, "uint"),
        "tx-csum-none": A(26, "uint"), "tx-needs-csum": A(27, "uint"),
        "tx-hw-gso-packets": A(28, "uint"), "tx-hw-gso-bytes": A(29, "uint"),
        "tx-hw-gso-wire-packets": A(30, "uint"), "tx-hw-gso-wire-bytes": A(31, "uint"),
        "tx-hw-drop-ratelimits": A(32, "uint"), "tx-stop": A(33, "uint"),
        "tx-wake": A(34, "uint"),
    },
    "dmabuf": {
        "ifindex": A(1, "u32"), "queues": A(2, "nest", nested="queue-id", multi=True),
        "fd": A(3, "u32"), "id": A(4, "u32"),
    },
}

#: nlctrl (``include/uapi/linux/genetlink.h``): CTRL_ATTR_*, CTRL_ATTR_OP_*, CTRL_ATTR_MCAST_GRP_*
CTRL_ATTR_SETS: dict[str, dict[str, AttrSpec]] = {
    "ctrl": {
        "family-id": A(1, "u16"), "family-name": A(2, "string"), "version": A(3, "u32"),
        "hdrsize": A(4, "u32"), "maxattr": A(5, "u32"),
        "ops": A(6, "indexed-array", nested="op-attrs"),
        "mcast-groups": A(7, "indexed-array", nested="mcast-group-attrs"),
        "policy": A(8, "nest"), "op-policy": A(9, "nest"), "op": A(10, "u32"),
    },
    "op-attrs": {"id": A(1, "u32"), "flags": A(2, "u32")},
    "mcast-group-attrs": {"name": A(1, "string"), "id": A(2, "u32")},
}
ATTR_SETS.update(CTRL_ATTR_SETS)
del A


def attr_id(attr_set: str, name: str) -> int:
    """The attribute id of ``name`` in ``attr_set`` (``KeyError`` if the spec has none)."""
    return ATTR_SETS[attr_set][name].id


@dataclass(frozen=True)
class Policy:
    """One ``struct nla_policy`` entry, as ``CTRL_CMD_GETPOLICY`` reports it.

    ``type`` is ``u32``, ``uint`` or ``nest``; ``min``/``max`` the integer range
    (``NLA_POLICY_MIN/MAX/FULL_RANGE``), ``mask`` an ``NLA_POLICY_MASK``; a nest carries its
    own ``(maxattr, {id: Policy})``.
    """

    type: str
    min: int = 0
    max: int | None = None
    mask: int | None = None
    nested: tuple[int, Mapping[int, Policy]] | None = field(default=None, compare=False)

    @property
    def upper(self) -> int:
        if self.max is not None:
            return self.max
        return U32_MAX if self.type == "u32" else U64_MAX


_IFINDEX = Policy("u32", min=1)
_U32P = Policy("u32")
_QTYPE = Policy("u32", max=1)


def _by_id(attr_set: str, named: Mapping[str, Policy]) -> tuple[int, dict[int, Policy]]:
    """A policy written with attribute names as the kernel holds it: ``(maxattr, {id: ...})``
    (the generated policies end at their highest attribute)."""
    ids = {ATTR_SETS[attr_set][n].id: p for n, p in named.items()}
    return max(ids), dict(sorted(ids.items()))


#: the nested policy of each bind-rx ``queues`` entry (``netdev_queue_id_nl_policy``)
QUEUE_ID_POLICY = _by_id("queue-id", {"id": _U32P, "type": _QTYPE})
_QUEUE_ID_POLICY = QUEUE_ID_POLICY

# ops: name -> (cmd, attribute set, do?, dump?, permission)
_OPS_618 = {
    "dev-get": (1, "dev", True, True, None),
    "page-pool-get": (5, "page-pool", True, True, None),
    "queue-get": (10, "queue", True, True, None),
    "napi-get": (11, "napi", True, True, None),
    "qstats-get": (12, "qstats", False, True, None),
    "bind-rx": (13, "dmabuf", True, False, "admin-perm"),
    "napi-set": (14, "napi", True, False, "admin-perm"),
    "bind-tx": (15, "dmabuf", True, False, None),
}
# (op, "do"|"dump") -> the request attributes by name (netdev-genl-gen.c); absent = the op
# takes no attributes
_REQUESTS_618: dict[tuple[str, str], dict[str, Policy]] = {
    ("dev-get", "do"): {"ifindex": _IFINDEX},
    ("page-pool-get", "do"): {"id": Policy("uint", min=1, max=U32_MAX)},
    ("queue-get", "do"): {"id": _U32P, "ifindex": _IFINDEX, "type": _QTYPE},
    ("queue-get", "dump"): {"ifindex": _IFINDEX},
    ("napi-get", "do"): {"id": _U32P},
    ("napi-get", "dump"): {"ifindex": _IFINDEX},
    ("qstats-get", "dump"): {"ifindex": _IFINDEX, "scope": Policy("uint", mask=0x1)},
    ("bind-rx", "do"): {"ifindex": _IFINDEX, "queues": Policy("nest", nested=QUEUE_ID_POLICY),
                        "fd": _U32P},
    ("napi-set", "do"): {"id": _U32P, "defer-hard-irqs": Policy("u32", max=S32_MAX),
                         "gro-flush-timeout": Policy("uint"),
                         "irq-suspend-timeout": Policy("uint"),
                         "threaded": Policy("u32", max=1)},
    ("bind-tx", "do"): {"ifindex": _IFINDEX, "fd": _U32P},
}
# (op, "do"|"dump") -> (maxattr, {attr id: Policy}), as CTRL_CMD_GETPOLICY reports it
_POLICIES_618: dict[tuple[str, str], tuple[int, dict[int, Policy]]] = {
    k: _by_id(_OPS_618[k[0]][1], v) for k, v in _REQUESTS_618.items()}
_OPS_612 = {k: v for k, v in _OPS_618.items() if k not in ("napi-set", "bind-tx")}

#: every command id of netdev.yaml (``enum netdev_cmd`` of ``include/uapi/linux/netdev.h``),
#: including those a kernel does not register (notifications, page-pool-stats-get here)
SPEC_CMDS: dict[str, int] = {
    "dev-get": 1, "dev-add-ntf": 2, "dev-del-ntf": 3, "dev-change-ntf": 4,
    "page-pool-get": 5, "page-pool-add-ntf": 6, "page-pool-del-ntf": 7,
    "page-pool-change-ntf": 8, "page-pool-stats-get": 9, "queue-get": 10, "napi-get": 11,
    "qstats-get": 12, "bind-rx": 13, "napi-set": 14, "bind-tx": 15,
}
# notifications: name -> (attribute set, multicast group); the same in 6.12 and 6.18
_NTFS = {
    "dev-add-ntf": ("dev", "mgmt"), "dev-del-ntf": ("dev", "mgmt"),
    "dev-change-ntf": ("dev", "mgmt"),
    "page-pool-add-ntf": ("page-pool", "page-pool"),
    "page-pool-del-ntf": ("page-pool", "page-pool"),
    "page-pool-change-ntf": ("page-pool", "page-pool"),
}
_POLICIES_612 = {k: v for k, v in _POLICIES_618.items() if k[0] in _OPS_612}


@dataclass(frozen=True)
class OpSpec:
    """One operation: command id, attribute set, do/dump, permission flag."""

    name: str
    cmd: int
    attr_set: str
    do: bool
    dump: bool
    perm: str | None

    @property
    def ctrl_flags(self) -> int:
        """``CTRL_ATTR_OP_FLAGS`` as ``ctrl_fill_info`` reports them (GENL_* bits)."""
        flags = 0
        if self.perm == "admin-perm":
            flags |= 0x01  # GENL_ADMIN_PERM
        if self.perm == "uns-admin-perm":
            flags |= 0x10  # GENL_UNS_ADMIN_PERM
        if self.do:
            flags |= 0x02  # GENL_CMD_CAP_DO
        if self.dump:
            flags |= 0x04  # GENL_CMD_CAP_DUMP
        return flags | 0x08  # GENL_CMD_CAP_HASPOL: every netdev op has a (maybe empty) policy


@dataclass(frozen=True)
class NtfSpec:
    """One notification (``notify:`` / ``event:`` in the spec): command id, attribute set, and
    the multicast group it goes to. Not a registered op (nlctrl does not list it)."""

    name: str
    cmd: int
    attr_set: str
    mcgrp: str


#: the netdev notifications, as ``netdev-genl.c`` and ``page_pool_user.c`` send them
NTFS: tuple[NtfSpec, ...] = tuple(NtfSpec(n, SPEC_CMDS[n], a, g) for n, (a, g) in _NTFS.items())


@dataclass(frozen=True)
class Family:
    """A generic netlink family: name, id, version, ops, multicast groups, policies."""

    name: str
    id: int
    version: int
    ops: tuple[OpSpec, ...]
    mcgrps: tuple[tuple[str, int], ...]
    policies: Mapping[tuple[str, str], tuple[int, Mapping[int, Policy]]] = field(repr=False)
    maxattr: int = 0
    hdrsize: int = 0
    ntfs: tuple[NtfSpec, ...] = ()

    def op(self, name: str) -> OpSpec:
        for o in self.ops:
            if o.name == name:
                return o
        raise KeyError(f"family {self.name!r} has no op {name!r}")

    def op_by_cmd(self, cmd: int) -> OpSpec | None:
        for o in self.ops:
            if o.cmd == cmd:
                return o
        return None

    def policy(self, op: str, kind: str) -> tuple[int, Mapping[int, Policy]] | None:
        return self.policies.get((op, kind))

    def ntf(self, name: str) -> NtfSpec:
        for n in self.ntfs:
            if n.name == name:
                return n
        raise KeyError(f"family {self.name!r} has no notification {name!r}")

    def mcgrp_id(self, name: str) -> int:
        """The multicast group id (what ``NETLINK_ADD_MEMBERSHIP`` takes) of group ``name``."""
        for n, gid in self.mcgrps:
            if n == name:
                return gid
        raise KeyError(f"family {self.name!r} has no multicast group {name!r}")


def netdev_family(version: str = "6.18") -> Family:
    """The netdev family as the kernel ``version`` ("6.18" or "6.12") registers it."""
    ops, pol = (_OPS_612, _POLICIES_612) if version == "6.12" else (_OPS_618, _POLICIES_618)
    return Family("netdev", NETDEV_FAMILY_ID, 1,
                  tuple(OpSpec(n, *v) for n, v in ops.items()),
                  (("mgmt", 4), ("page-pool", 5)), pol, ntfs=NTFS)


#: the controller family, as much as ``CTRL_CMD_GETFAMILY`` reports (net/netlink/genetlink.c)
NLCTRL = Family("nlctrl", wire.GENL_ID_CTRL, 2,
                (OpSpec("getfamily", 3, "ctrl", True, True, None),
                 OpSpec("getpolicy", 10, "ctrl", False, True, None)),
                (("notify", wire.GENL_ID_CTRL),), {})


# ---- encoder / decoder -------------------------------------------------------------------
def _enum_value(spec: AttrSpec, value: Any) -> int:
    names = ENUMS[spec.enum] if spec.enum else ()
    if spec.flags and spec.enum in _FLAG_ENUMS:
        if isinstance(value, (list, tuple, set, frozenset)):
            out = 0
            for v in value:
                out |= 1 << names.index(v) if isinstance(v, str) else int(v)
            return out
        if isinstance(value, str):
            return 1 << names.index(value)
        return int(value)
    if isinstance(value, str):
        if value not in names:
            raise ValueError(f"{value!r} is not one of {names} ({spec.enum})")
        return names.index(value)
    return value


def _encode_scalar(spec: AttrSpec, value: Any) -> bytes:
    if spec.enum:
        value = _enum_value(spec, value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an int, got {type(value).__name__}")
    if spec.type == "u16":
        return _U16.pack(value)
    if spec.type == "u32":
        return _U32.pack(value)
    if spec.type in ("u64",):
        return _U64.pack(value)
    if spec.type == "uint":  # nla_put_uint: 4 bytes when it fits
        return _U32.pack(value) if value <= U32_MAX else _U64.pack(value)
    if spec.type == "s32":
        return _S32.pack(value)
    raise ValueError(f"cannot encode type {spec.type}")


def encode(attr_set: str, attrs: Mapping[str, Any], *, nest_flag: bool = True) -> bytes:
    """Encode ``{name: value}`` with the types of ``attr_set`` (in the dict's order).

    Nests get ``NLA_F_NESTED`` (as libynl and pyynl send them, and ``nla_nest_start`` puts
    them; the kernel's strict validation insists on it) unless ``nest_flag`` is False (nlctrl
    builds its nests with ``nla_nest_start_noflag``). A ``multi`` attribute takes a list and
    repeats; an ``indexed-array`` takes a list and nests entry ``i`` as type ``i + 1``.

    Raises
    ------
    KeyError
        A name that is not in the attribute set.
    """
    specs = ATTR_SETS[attr_set]
    out = b""
    for name, value in attrs.items():
        if name not in specs:
            raise KeyError(f"{name!r} is not an attribute of {attr_set!r} "
                           f"(known: {', '.join(specs)})")
        spec = specs[name]
        if spec.type == "indexed-array":
            out += wire.pack_attr(spec.id, b"".join(
                wire.pack_attr(i + 1, encode(spec.nested, v, nest_flag=nest_flag),
                               nested=nest_flag) for i, v in enumerate(value)),
                nested=nest_flag)
            continue
        values = value if spec.multi else [value]
        for v in values:
            if spec.type == "nest" and spec.nested is None:
                out += wire.pack_attr(spec.id, bytes(v), nested=nest_flag)
            elif spec.type == "nest":
                out += wire.pack_attr(spec.id, encode(spec.nested, v, nest_flag=nest_flag),
                                      nested=nest_flag)
            elif spec.type == "string":
                out += wire.pack_attr(spec.id, v.encode() + b"\0")
            else:
                out += wire.pack_attr(spec.id, _encode_scalar(spec, v))
    return out


def _decode_scalar(spec: AttrSpec, a: wire.Attr) -> Any:
    if spec.type == "u16":
        v = a.u16()
    elif spec.type == "u32":
        v = a.u32()
    elif spec.type == "u64":
        v = a.u64()
    elif spec.type == "uint":
        v = a.uint()
    elif spec.type == "s32":
        v = a.s32()
    elif spec.type == "string":
        return a.string()
    else:
        return a.payload
    if spec.enum:
        names = ENUMS[spec.enum]
        if spec.flags:
            return [n for i, n in enumerate(names) if v & (1 << i)]
        return names[v] if v < len(names) else v
    return v


def decode(attr_set: str, data: bytes) -> dict[str, Any]:
    """Decode attributes with the names of ``attr_set``; unknown ids keep their number."""
    specs = {s.id: (n, s) for n, s in ATTR_SETS[attr_set].items()}
    out: dict[str, Any] = {}
    for a in wire.iter_attrs(data):
        if a.type not in specs:
            out[str(a.type)] = a.payload
            continue
        name, spec = specs[a.type]
        if spec.type == "pad":
            continue
        if spec.type == "indexed-array":
            value = [decode(spec.nested, e.payload) for e in wire.iter_attrs(a.payload)]
        elif spec.type == "nest" and spec.nested is not None:
            value = decode(spec.nested, a.payload)
        else:
            value = _decode_scalar(spec, a)
        if spec.multi:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


# ---- policy, as the extack NLMSGERR_ATTR_POLICY nest carries it ---------------------------
_NL_ATTR_TYPE = {"u32": 4, "nest": 13, "uint": 17}  # enum netlink_attribute_type


def policy_extack(p: Policy) -> bytes:
    """``netlink_policy_dump_write_attr`` without dump state: MIN/MAX or MASK, then TYPE.

    Matches the real 6.18 bytes: a u32/uint range is ``MIN_VALUE_U`` and ``MAX_VALUE_U``
    (u64 each), a mask is ``MASK``, a nest only its ``TYPE``.
    """
    out = b""
    if p.type in ("u32", "uint"):
        if p.mask is not None:
            out += wire.pack_attr(12, _U64.pack(p.mask))  # NL_POLICY_TYPE_ATTR_MASK
        else:
            out += wire.pack_attr(4, _U64.pack(p.min))  # NL_POLICY_TYPE_ATTR_MIN_VALUE_U
            out += wire.pack_attr(5, _U64.pack(p.upper))  # NL_POLICY_TYPE_ATTR_MAX_VALUE_U
    return out + wire.pack_attr(1, _U32.pack(_NL_ATTR_TYPE[p.type]))  # NL_POLICY_TYPE_ATTR_TYPE


def ctrl_family_attrs(fam: Family) -> bytes:
    """The attributes of a ``CTRL_CMD_NEWFAMILY`` reply, in ``ctrl_fill_info`` order."""
    return encode("ctrl", {
        "family-name": fam.name, "family-id": fam.id, "version": fam.version,
        "hdrsize": fam.hdrsize, "maxattr": fam.maxattr,
        "ops": [{"id": o.cmd, "flags": o.ctrl_flags} for o in fam.ops],
        "mcast-groups": [{"id": gid, "name": name} for name, gid in fam.mcgrps],
    }, nest_flag=False)
