"""Exercises of notebook 01: encode a bind-rx request, decode the kernel's answer.

The request layout is ``Documentation/netlink/specs/netdev.yaml`` (op ``bind-rx``, attribute
sets ``dmabuf`` and ``queue-id``); the kernel parses it in ``net/core/netdev-genl.c``
``netdev_nl_bind_rx_doit``. Answers are built by ``net/netlink/af_netlink.c``
``netlink_ack`` (``NLMSG_ERROR`` with extack TLVs). The references use
:mod:`devmem_lab.netlink.wire`, the package's own encoder and decoder.
"""

from __future__ import annotations

import errno
import struct

from .. import uapi
from ..netlink import wire
from .check import Case, Exercise

__all__ = ["bind_rx_attrs", "decode_answer", "q1", "q2"]

_U32 = struct.Struct("=I")


def bind_rx_attrs(ifindex: int, fd: int, queues: list[int]) -> bytes:
    """The attribute bytes of a bind-rx request: ifindex, fd, then one queues nest per queue.

    Each ``queues`` nest (``NLA_F_NESTED`` set, as strict validation wants) holds the queue
    ``id`` then its ``type`` (rx = 0), in the order ``ynl`` writes them.
    """
    out = wire.pack_attr(uapi.NETDEV_A_DMABUF_IFINDEX, _U32.pack(ifindex))
    out += wire.pack_attr(uapi.NETDEV_A_DMABUF_FD, _U32.pack(fd))
    for q in queues:
        out += wire.pack_nest(uapi.NETDEV_A_DMABUF_QUEUES,
                              wire.pack_attr(uapi.NETDEV_A_QUEUE_ID, _U32.pack(q)),
                              wire.pack_attr(uapi.NETDEV_A_QUEUE_TYPE,
                                             _U32.pack(uapi.NETDEV_QUEUE_TYPE_RX)),
                              flag=True)
    return out


def decode_answer(datagram: bytes) -> tuple[int, str | None]:
    """``(errno, extack message)`` of the kernel's answer to one request.

    A data reply or an ack (error 0) gives ``(0, None)``; an ``NLMSG_ERROR`` gives the
    positive errno and the ``NLMSGERR_ATTR_MSG`` text, or ``None`` when there is none.

    Raises
    ------
    ValueError
        A truncated datagram (from the wire decoder).
    """
    for msg in wire.iter_msgs(datagram):
        if msg.type == wire.NLMSG_ERROR:
            ext = wire.parse_error(msg)
            return ext.errno, ext.msg
    return 0, None


# ---- cases ---------------------------------------------------------------------------------
_BIND_CASES = (
    Case((2, 7, [15]), "ifindex, fd, then one queues nest (NLA_F_NESTED) with id then type", 2),
    Case((2, 3, [14, 15]), "one NETDEV_A_DMABUF_QUEUES nest per queue, in order", 2),
    # no queues: the kernel answers EINVAL, but the bytes are still valid
    Case((5, 12, []), "no queues: only the ifindex and fd attributes, no empty nest", 2),
    Case((1, 255, [0, 1, 2, 3]), "four queues, four nests; the queue type is rx (0)", 2),
)

_REQ = wire.pack_genlmsg(0x1D, wire.NLM_F_REQUEST | wire.NLM_F_ACK, 1, 0,
                         uapi.NETDEV_CMD_BIND_RX, 1, bind_rx_attrs(2, 7, [15]))


def _error(err: int, msg: str | None = None, offset: int | None = None,
           capped: bool = True) -> bytes:
    tlvs = wire.pack_extack(msg=msg, offset=offset)
    return wire.pack_error(-err, _REQ, pid=4321, capped=capped, tlvs=tlvs)


_REPLY = wire.pack_genlmsg(0x1D, 0, 1, 4321, uapi.NETDEV_CMD_BIND_RX, 1,
                           wire.pack_attr(uapi.NETDEV_A_DMABUF_ID, _U32.pack(1)))
_ANSWER_CASES = (
    Case((_REPLY + wire.pack_error(0, _REQ, pid=4321, capped=True),),
         "a data reply, then the ack (error 0): no error, (0, None)", 1),
    Case((_error(errno.EINVAL, "tcp-data-split is disabled"),),
         "NLMSG_ERROR carries -EINVAL: return the positive errno and the extack message", 2),
    Case((_error(errno.EEXIST, "designated queue already memory provider bound"),),
         "the message is the NUL-terminated NLMSGERR_ATTR_MSG", 2),
    Case((_error(errno.EINVAL, offset=48),),
         "an extack with only a bad-attribute offset has no message: None", 2),
    Case((_error(errno.ERANGE, "rx queue index out of range", capped=False),),
         "without NLM_F_CAPPED the whole request is echoed before the extack", 2),
    Case((_error(errno.EINVAL, "tcp-data-split is disabled")[:30],),
         "nlmsg_len runs past the end of the datagram: truncated, raise ValueError", 3),
)


def _show_bytes(case: tuple) -> str:
    return f"(<{len(case[0])}-byte datagram>)"


q1 = Exercise(
    label="q1",
    reference=bind_rx_attrs,
    cases=_BIND_CASES,
    hints=(
        ("An attribute is struct nlattr {u16 nla_len; u16 nla_type} then the payload, padded "
        "with zero bytes to a multiple of 4; nla_len counts header + payload, not the padding."),
        ("Each queue is its own NETDEV_A_DMABUF_QUEUES attribute whose payload is two u32 "
        "attributes, NETDEV_A_QUEUE_ID and NETDEV_A_QUEUE_TYPE (rx = 0); set NLA_F_NESTED "
        "(1 << 15) in the nest's type."),
        ("struct.pack('=HHI', 8, uapi.NETDEV_A_DMABUF_IFINDEX, ifindex) is the whole first "
        "attribute (8 bytes, no padding needed)."),
    ),
    solution_code='''
def bind_rx_attrs(ifindex, fd, queues):
    def attr(atype, payload):
        length = 4 + len(payload)
        return struct.pack("=HH", length, atype) + payload + bytes(-length % 4)

    out = attr(uapi.NETDEV_A_DMABUF_IFINDEX, struct.pack("=I", ifindex))
    out += attr(uapi.NETDEV_A_DMABUF_FD, struct.pack("=I", fd))
    for q in queues:
        nest = (attr(uapi.NETDEV_A_QUEUE_ID, struct.pack("=I", q))
                + attr(uapi.NETDEV_A_QUEUE_TYPE, struct.pack("=I", uapi.NETDEV_QUEUE_TYPE_RX)))
        out += attr(uapi.NETDEV_A_DMABUF_QUEUES | wire.NLA_F_NESTED, nest)
    return out
''',
)

q2 = Exercise(
    label="q2",
    reference=decode_answer,
    cases=_ANSWER_CASES,
    show=_show_bytes,
    hints=(
        ("Walk the datagram message by message: struct nlmsghdr is '=IHHII' (len, type, flags, "
        "seq, pid); the next message starts at the length rounded up to 4."),
        ("wire.NLMSG_ERROR (type 2) carries an int error (negative errno, 0 = ack), then the echoed "
        "request header (16 bytes when wire.NLM_F_CAPPED 0x100 is set); with wire.NLM_F_ACK_TLVS 0x200 "
        "the extack attributes follow. wire.NLMSGERR_ATTR_MSG (1) is a NUL-terminated string."),
        ("A message whose nlmsg_len runs past the end of the datagram means it was truncated: "
        "raise ValueError."),
    ),
    solution_code='''
def decode_answer(datagram):
    pos = 0
    while pos < len(datagram):
        if len(datagram) - pos < 16:
            raise ValueError("truncated header")
        length, mtype, flags, _seq, _pid = struct.unpack_from("=IHHII", datagram, pos)
        if length < 16 or pos + length > len(datagram):
            raise ValueError("truncated message")
        if mtype == wire.NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", datagram, pos + 16)
            if flags & wire.NLM_F_CAPPED:  # only the request's header was echoed
                body = pos + 36
            else:                     # the whole request, padded to 4
                (req_len,) = struct.unpack_from("=I", datagram, pos + 20)
                body = pos + 20 + ((req_len + 3) & ~3)
            msg = None
            if flags & wire.NLM_F_ACK_TLVS:
                end = pos + length
                while body + 4 <= end:
                    alen, atype = struct.unpack_from("=HH", datagram, body)
                    if atype == wire.NLMSGERR_ATTR_MSG:
                        msg = datagram[body + 4:body + alen].split(b"\\0")[0].decode()
                    body += (alen + 3) & ~3
            return -error, msg
        pos += (length + 3) & ~3
    return 0, None
''',
)
