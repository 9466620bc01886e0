"""Netlink wire format: nlmsghdr, genlmsghdr, nlattr and NLMSG_ERROR with extack TLVs.

Models ``include/uapi/linux/netlink.h`` and ``include/uapi/linux/genetlink.h`` (the headers),
``lib/nlattr.c`` / ``include/net/netlink.h`` (attribute layout: 4-byte header, payload padded
to 4 bytes) and ``net/netlink/af_netlink.c`` ``netlink_ack()`` (the error/ack message: the
``struct nlmsgerr`` header, the echoed request unless capped, then the extack TLVs).

Pure functions over bytes in host byte order (netlink is native-endian). Decoders raise
``ValueError`` on malformed input; they never raise ``OSError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "GENLMSGHDR",
    "GENL_HDRLEN",
    "GENL_ID_CTRL",
    "NETLINK_ADD_MEMBERSHIP",
    "NETLINK_CAP_ACK",
    "NETLINK_EXT_ACK",
    "NETLINK_GENERIC",
    "NETLINK_GET_STRICT_CHK",
    "NLATTR",
    "NLA_F_NESTED",
    "NLA_F_NET_BYTEORDER",
    "NLA_TYPE_MASK",
    "NLMSGERR_ATTR_COOKIE",
    "NLMSGERR_ATTR_MISS_NEST",
    "NLMSGERR_ATTR_MISS_TYPE",
    "NLMSGERR_ATTR_MSG",
    "NLMSGERR_ATTR_OFFS",
    "NLMSGERR_ATTR_POLICY",
    "NLMSGERR_HDR",
    "NLMSGHDR",
    "NLMSG_DONE",
    "NLMSG_ERROR",
    "NLMSG_MIN_TYPE",
    "NLMSG_NOOP",
    "NLMSG_OVERRUN",
    "NLM_F_ACK",
    "NLM_F_ACK_TLVS",
    "NLM_F_ATOMIC",
    "NLM_F_CAPPED",
    "NLM_F_DUMP",
    "NLM_F_DUMP_FILTERED",
    "NLM_F_DUMP_INTR",
    "NLM_F_ECHO",
    "NLM_F_MATCH",
    "NLM_F_MULTI",
    "NLM_F_REQUEST",
    "NLM_F_ROOT",
    "SOL_NETLINK",
    "Attr",
    "Extack",
    "NlMsg",
    "attrs_by_type",
    "iter_attrs",
    "iter_msgs",
    "nla_align",
    "pack_attr",
    "pack_done",
    "pack_error",
    "pack_extack",
    "pack_genlmsg",
    "pack_nest",
    "pack_nlmsg",
    "parse_error",
    "parse_genl",
]

# ---- struct layouts (module level, as pyynl does) -------------------------------------------
NLMSGHDR = struct.Struct("=IHHII")  # nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq, nlmsg_pid
GENLMSGHDR = struct.Struct("=BBH")  # cmd, version, reserved
NLATTR = struct.Struct("=HH")  # nla_len, nla_type
NLMSGERR_HDR = struct.Struct("=i")  # struct nlmsgerr.error (followed by the request nlmsghdr)
GENL_HDRLEN = GENLMSGHDR.size

# ---- include/uapi/linux/netlink.h -----------------------------------------------------------
NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12

NLMSG_NOOP = 0x1
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NLMSG_OVERRUN = 0x4
NLMSG_MIN_TYPE = 0x10

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ECHO = 0x08
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP_FILTERED = 0x20
NLM_F_ROOT = 0x100  # GET requests
NLM_F_MATCH = 0x200
NLM_F_ATOMIC = 0x400
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_CAPPED = 0x100  # NLMSG_ERROR: request not echoed
NLM_F_ACK_TLVS = 0x200  # NLMSG_ERROR / NLMSG_DONE: extack TLVs follow

NLA_F_NESTED = 1 << 15
NLA_F_NET_BYTEORDER = 1 << 14
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF

NLMSGERR_ATTR_MSG = 1  # string
NLMSGERR_ATTR_OFFS = 2  # u32, byte offset of the bad attribute from the request nlmsghdr
NLMSGERR_ATTR_COOKIE = 3  # binary
NLMSGERR_ATTR_POLICY = 4  # nest, the policy the attribute failed (netlink_policy_dump)
NLMSGERR_ATTR_MISS_TYPE = 5  # u32, type of the missing required attribute
NLMSGERR_ATTR_MISS_NEST = 6  # u32, offset of the nest that lacks it

GENL_ID_CTRL = 0x10  # include/uapi/linux/genetlink.h


def nla_align(n: int) -> int:
    """``NLA_ALIGN``/``NLMSG_ALIGN``: round up to a multiple of 4."""
    return (n + 3) & ~3


# ---- attributes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Attr:
    """One ``struct nlattr``: ``type`` without flag bits, ``payload``, ``offset`` of its header.

    ``offset`` counts from the start of the buffer handed to :func:`iter_attrs` plus ``base``,
    so with ``base`` = the attribute area's offset inside the message it is the offset the
    kernel reports in ``NLMSGERR_ATTR_OFFS``.
    """

    type: int
    payload: bytes
    offset: int = 0
    nested: bool = False
    net_byteorder: bool = False

    def u8(self) -> int:
        return self._int("B", 1)

    def u16(self) -> int:
        return self._int("H", 2)

    def u32(self) -> int:
        return self._int("I", 4)

    def u64(self) -> int:
        return self._int("Q", 8)

    def s32(self) -> int:
        return self._int("i", 4)

    def uint(self) -> int:
        """``NLA_UINT``: 4 or 8 bytes (``nla_put_uint`` uses the smallest that fits)."""
        if len(self.payload) == 4:
            return self._int("I", 4)
        return self._int("Q", 8)

    def string(self) -> str:
        """``NLA_NUL_STRING``/``NLA_STRING``: text up to the first NUL."""
        return self.payload.split(b"\0", 1)[0].decode()

    def _int(self, fmt: str, size: int) -> int:
        if len(self.payload) != size:
            raise ValueError(f"attribute {self.type}: expected {size} bytes, got "
                             f"{len(self.payload)}")
        return struct.unpack(("!" if self.net_byteorder else "=") + fmt, self.payload)[0]


def pack_attr(atype: int, payload: bytes, *, nested: bool = False) -> bytes:
    """``nla_put``: header (length without padding), payload, zero padding to 4 bytes."""
    if not 0 <= atype <= NLA_TYPE_MASK:
        raise ValueError(f"attribute type {atype} out of range")
    length = NLATTR.size + len(payload)
    if length > 0xFFFF:
        raise ValueError(f"attribute {atype}: payload of {len(payload)} bytes is too long")
    flags = NLA_F_NESTED if nested else 0
    return NLATTR.pack(length, atype | flags) + bytes(payload) + b"\0" * (nla_align(length) - length)


def pack_nest(atype: int, *attrs: bytes, flag: bool = False) -> bytes:
    """``nla_nest_start``/``nla_nest_end``: the kernel's own nests carry no ``NLA_F_NESTED``."""
    return pack_attr(atype, b"".join(attrs), nested=flag)


def iter_attrs(data: bytes, base: int = 0) -> Iterator[Attr]:
    """Walk a run of attributes (``nla_for_each_attr``).

    Raises
    ------
    ValueError
        An attribute shorter than its header or running past the end of ``data``
        (``nla_ok`` fails; the kernel's strict parse reports "trailing data").
    """
    data = bytes(data)
    pos = 0
    while pos < len(data):
        if len(data) - pos < NLATTR.size:
            raise ValueError(f"{len(data) - pos} trailing bytes at offset {base + pos}")
        length, raw_type = NLATTR.unpack_from(data, pos)
        if length < NLATTR.size or pos + length > len(data):
            raise ValueError(f"attribute at offset {base + pos} has bad length {length}")
        yield Attr(raw_type & NLA_TYPE_MASK, data[pos + NLATTR.size: pos + length], base + pos,
                   bool(raw_type & NLA_F_NESTED), bool(raw_type & NLA_F_NET_BYTEORDER))
        pos += nla_align(length)


def attrs_by_type(data: bytes, base: int = 0) -> dict[int, Attr]:
    """Last attribute of each type (as ``nla_parse`` keeps it)."""
    return {a.type: a for a in iter_attrs(data, base)}


# ---- messages ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NlMsg:
    """One netlink message: the ``struct nlmsghdr`` fields and the payload after it."""

    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes = b""
    offset: int = 0  # where the header starts in the datagram it came from

    def pack(self) -> bytes:
        return pack_nlmsg(self.type, self.flags, self.seq, self.pid, self.payload)

    @property
    def header(self) -> bytes:
        """The 16-byte header as it is on the wire."""
        return NLMSGHDR.pack(NLMSGHDR.size + len(self.payload), self.type, self.flags,
                             self.seq, self.pid)


def pack_nlmsg(mtype: int, flags: int, seq: int, pid: int, payload: bytes) -> bytes:
    """``nlmsg_put`` + ``nlmsg_end``: header with the unpadded length, payload padded to 4."""
    length = NLMSGHDR.size + len(payload)
    return (NLMSGHDR.pack(length, mtype, flags, seq & 0xFFFFFFFF, pid & 0xFFFFFFFF)
            + bytes(payload) + b"\0" * (nla_align(length) - length))


def iter_msgs(data: bytes) -> Iterator[NlMsg]:
    """Split a datagram into messages (``nlmsg_ok``/``nlmsg_next``).

    Raises
    ------
    ValueError
        A message header that is truncated or claims more bytes than the datagram holds
        (a reply read with too small a buffer).
    """
    data = bytes(data)
    pos = 0
    while pos < len(data):
        if len(data) - pos < NLMSGHDR.size:
            raise ValueError(f"truncated netlink header at offset {pos} "
                             f"({len(data) - pos} bytes)")
        length, mtype, flags, seq, pid = NLMSGHDR.unpack_from(data, pos)
        if length < NLMSGHDR.size or pos + length > len(data):
            raise ValueError(f"netlink message at offset {pos} claims {length} bytes, "
                             f"{len(data) - pos} left (truncated datagram?)")
        yield NlMsg(mtype, flags, seq, pid, data[pos + NLMSGHDR.size: pos + length], pos)
        pos += nla_align(length)


def pack_genlmsg(family: int, flags: int, seq: int, pid: int, cmd: int, version: int,
                 attrs: bytes = b"") -> bytes:
    """``genlmsg_put``: nlmsghdr + genlmsghdr (cmd, version, reserved 0) + attributes."""
    return pack_nlmsg(family, flags, seq, pid, GENLMSGHDR.pack(cmd, version, 0) + attrs)


def parse_genl(payload: bytes) -> tuple[int, int, bytes]:
    """``(cmd, version, attribute bytes)`` of a generic netlink payload."""
    if len(payload) < GENL_HDRLEN:
        raise ValueError(f"generic netlink payload of {len(payload)} bytes has no genlmsghdr")
    cmd, version, _ = GENLMSGHDR.unpack_from(payload)
    return cmd, version, bytes(payload[GENL_HDRLEN:])


# ---- errors, acks and extack ---------------------------------------------------------------
@dataclass(frozen=True)
class Extack:
    """A decoded ``NLMSG_ERROR`` (or ``NLMSG_DONE``): errno and extended-ack TLVs.

    ``error`` is the kernel's (negative) errno, 0 for an ack. ``request`` is the echoed
    request header (and payload unless ``NLM_F_CAPPED``). ``policy`` is the raw payload of
    ``NLMSGERR_ATTR_POLICY`` (decode with :func:`iter_attrs`).
    """

    error: int
    request: NlMsg | None = None
    msg: str | None = None
    offset: int | None = None
    cookie: bytes | None = None
    policy: bytes | None = None
    miss_type: int | None = None
    miss_nest: int | None = None
    capped: bool = False
    tlvs: bool = False
    raw_tlvs: tuple[Attr, ...] = field(default=(), repr=False)

    @property
    def errno(self) -> int:
        return -self.error


def pack_extack(*, msg: str | None = None, cookie: bytes | None = None,
                offset: int | None = None, policy: bytes | None = None,
                miss_type: int | None = None, miss_nest: int | None = None) -> bytes:
    """The TLVs in ``netlink_ack_tlv_fill`` order: MSG, COOKIE, OFFS, POLICY, MISS_TYPE, MISS_NEST."""
    out = b""
    if msg:
        out += pack_attr(NLMSGERR_ATTR_MSG, msg.encode() + b"\0")
    if cookie:
        out += pack_attr(NLMSGERR_ATTR_COOKIE, cookie)
    if offset is not None:
        out += pack_attr(NLMSGERR_ATTR_OFFS, struct.pack("=I", offset))
    if policy is not None:
        out += pack_attr(NLMSGERR_ATTR_POLICY, policy, nested=True)
    if miss_type:
        out += pack_attr(NLMSGERR_ATTR_MISS_TYPE, struct.pack("=I", miss_type))
    if miss_nest is not None:
        out += pack_attr(NLMSGERR_ATTR_MISS_NEST, struct.pack("=I", miss_nest))
    return out


def pack_error(error: int, request: bytes, *, pid: int, capped: bool, tlvs: bytes = b"") -> bytes:
    """``netlink_ack``: an ``NLMSG_ERROR`` for ``request`` (one whole request message).

    ``error`` is 0 (ack) or a negative errno. The request is echoed in full unless ``capped``
    (an ack, or ``NETLINK_CAP_ACK``), which then sets ``NLM_F_CAPPED``; ``tlvs`` (extack,
    only with ``NETLINK_EXT_ACK``) set ``NLM_F_ACK_TLVS``. The message's seq is the request's.
    """
    req_len, _, _, seq, _ = NLMSGHDR.unpack_from(request)
    flags = 0
    body = NLMSGERR_HDR.pack(error)
    if capped:
        flags |= NLM_F_CAPPED
        body += bytes(request[:NLMSGHDR.size])
    else:
        body += bytes(request[:req_len])
        body += b"\0" * (nla_align(len(body)) - len(body))
    if tlvs:
        flags |= NLM_F_ACK_TLVS
        body += tlvs
    return pack_nlmsg(NLMSG_ERROR, flags, seq, pid, body)


def pack_done(seq: int, pid: int, error: int = 0, *, flags: int = NLM_F_MULTI,
              tlvs: bytes = b"") -> bytes:
    """``netlink_dump_done``: ``NLMSG_DONE`` carrying the dump's final status (an int)."""
    if tlvs:
        flags |= NLM_F_ACK_TLVS
    return pack_nlmsg(NLMSG_DONE, flags, seq, pid, NLMSGERR_HDR.pack(error) + tlvs)


def parse_error(m: NlMsg) -> Extack:
    """Decode an ``NLMSG_ERROR`` or ``NLMSG_DONE`` message into an :class:`Extack`.

    Raises
    ------
    ValueError
        Not an error/done message, or its payload is too short.
    """
    if m.type not in (NLMSG_ERROR, NLMSG_DONE):
        raise ValueError(f"message type {m.type} is neither NLMSG_ERROR nor NLMSG_DONE")
    p = m.payload
    if len(p) < NLMSGERR_HDR.size:
        raise ValueError("NLMSG_ERROR/NLMSG_DONE payload shorter than 4 bytes")
    (error,) = NLMSGERR_HDR.unpack_from(p)
    request = None
    pos = NLMSGERR_HDR.size
    capped = bool(m.flags & NLM_F_CAPPED) if m.type == NLMSG_ERROR else True
    if m.type == NLMSG_ERROR:
        if len(p) < pos + NLMSGHDR.size:
            raise ValueError("NLMSG_ERROR without the echoed request header")
        rlen, rtype, rflags, rseq, rpid = NLMSGHDR.unpack_from(p, pos)
        if capped:
            request = NlMsg(rtype, rflags, rseq, rpid, b"")
            pos += NLMSGHDR.size
        else:
            end = pos + max(rlen, NLMSGHDR.size)
            request = NlMsg(rtype, rflags, rseq, rpid, p[pos + NLMSGHDR.size:end])
            pos = nla_align(end)
    fields: dict = {}
    raw: tuple[Attr, ...] = ()
    tlvs = bool(m.flags & NLM_F_ACK_TLVS)
    if tlvs:
        raw = tuple(iter_attrs(p[pos:]))
        for a in raw:
            if a.type == NLMSGERR_ATTR_MSG:
                fields["msg"] = a.string()
            elif a.type == NLMSGERR_ATTR_OFFS:
                fields["offset"] = a.u32()
            elif a.type == NLMSGERR_ATTR_COOKIE:
                fields["cookie"] = a.payload
            elif a.type == NLMSGERR_ATTR_POLICY:
                fields["policy"] = a.payload
            elif a.type == NLMSGERR_ATTR_MISS_TYPE:
                fields["miss_type"] = a.u32()
            elif a.type == NLMSGERR_ATTR_MISS_NEST:
                fields["miss_nest"] = a.u32()
    return Extack(error, request, capped=capped, tlvs=tlvs, raw_tlvs=raw, **fields)
