"""Hidden cases: what the grader runs besides the cases ``q.check()`` shows.

Emulator only (course tooling). They are not in the notebooks and ``check()`` never runs
them, so a function fitted to the visible cases does not pass by that alone. Each case says
why it is there (the sentence a failing student reads in the feedback).
"""

from __future__ import annotations

import errno

from ... import uapi
from ...netlink import wire
from .. import binding, cmsg, recvmsg
from ..capstone import MSS
from ..check import Case

__all__ = ["HIDDEN"]

_A = "2001:db8::7"
_cm = recvmsg._cm
_c = cmsg._c
_anc = cmsg._anc
_D = uapi.DmabufCmsg
_BUF = cmsg._BUF

_REQ2 = wire.pack_genlmsg(0x1D, wire.NLM_F_REQUEST | wire.NLM_F_ACK, 9, 0,
                          uapi.NETDEV_CMD_BIND_RX, 1, binding.bind_rx_attrs(3, 9, [1, 2]))
_DUMP = (wire.pack_genlmsg(0x1D, wire.NLM_F_MULTI, 9, 4321, uapi.NETDEV_CMD_BIND_RX, 1,
                           wire.pack_attr(uapi.NETDEV_A_DMABUF_ID, b"\2\0\0\0"))
         + wire.pack_done(9, 4321))

HIDDEN: dict[str, tuple[Case, ...]] = {
    "1.1": (
        Case((7, 4, [3]), "one queue: ifindex, fd, then one nest with id 3 and type rx (0)", 2),
        Case((65535, 2**31, [255, 0]), "u32 values use all 32 bits; queues in the order given",
             3),
        Case((1, 1, list(range(8))), "one NETDEV_A_DMABUF_QUEUES nest per queue, eight here", 2),
        Case((9, 9, []), "no queues: only the ifindex and fd attributes", 2),
    ),
    "1.2": (
        Case((wire.pack_error(0, _REQ2, pid=7, capped=True),), "a bare ack is (0, None)", 2),
        Case((wire.pack_error(-errno.ENODEV, _REQ2, pid=7, capped=False,
                              tlvs=wire.pack_extack(msg="no such device")),),
             "uncapped: the whole request is echoed before the extack TLVs", 2),
        Case((wire.pack_error(-errno.EBUSY, _REQ2, pid=7, capped=True,
                              tlvs=wire.pack_extack(offset=20, msg="queue busy")),),
             "the message is found among other extack attributes", 2),
        Case((wire.pack_error(-errno.EPERM, _REQ2, pid=7, capped=True),),
             "an error without NLM_F_ACK_TLVS has no message: (1, None)", 2),
        Case((_DUMP,), "a data reply and NLMSG_DONE hold no error: (0, None)", 1),
        Case((_DUMP[:10],), "fewer bytes than one nlmsghdr: raise ValueError", 3),
    ),
    "2.1": (
        Case(("eth1", 12, _A, 6000), "queue 12: RSS must stay on queues 0..11", 2),
        Case(("eth1", 15, _A, 7000), "the rule must name the port asked for", 3),
    ),
    "3.1": (
        Case((bytes(8192), [_cm("dmabuf", 0, 4096, 1, 1), _cm("dmabuf", 4096, 4096, 2, 1)]),
             "two dmabuf fragments: all 8192 bytes stayed in the dma-buf", 1),
        Case((bytes(200), [_cm("linear", 0, 100), _cm("dmabuf", 0, 50, 1, 1)]),
             "the cmsgs describe 150 bytes but recvmsg returned 200: raise ValueError", 3),
        Case((bytes(24), [(41, 67, bytes(24))]),
             "a control message that is not a devmem one: raise ValueError", 3),
        Case((bytes(500), [_cm("linear", 0, 200), _cm("dmabuf", 0, 250, 3, 1),
                           _cm("linear", 0, 50)]),
             "linear cmsgs can come more than once: add them all up", 1),
    ),
    "3.2": (
        Case((4,), "four cmsgs: three padded to CMSG_SPACE(24), the last CMSG_LEN(24)", 1),
        Case((617,), "617 cmsgs on a 32-bit host: socket.CMSG_*, not 40", 2,
             env=recvmsg._ilp32),
        Case((-1,), "no fragments (or a negative count) need no buffer: 0", 1),
        Case((616,), "ncdevmem's 819200-byte read of 1328-byte fragments: up to 617 cmsgs", 1),
    ),
    "3.3": (
        Case(("6.18", 40 * 1428, 819200), "40 fragments: the buffer grows to 2560 bytes", 2),
        Case(("6.12", 40 * 1428, 819200), "the same read on 6.12.0, which says EFAULT", 2),
        Case(("6.18", 3 * 1428, 2000), "a small iov: only the first bytes are reported", 1),
    ),
    "4.1": (
        Case((_c(2**64 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1),),
             "every field at its maximum: frag_offset is a u64, the others u32", 1),
        Case((b"",), "no bytes at all: raise ValueError", 2),
        Case((bytearray(_c(4096, 1428, 5, 1)),), "a bytearray works like bytes", 1),
        Case((_c(0, 0, 0, 0, 1),), "flags is the fifth field", 1),
    ),
    "4.2": (
        Case(([_anc("linear", "parisc", _c(0, 7)), _anc("dmabuf", "parisc", _c(0, 7, 1, 1))],
              "parisc"), "parisc numbers SOL_SOCKET and SCM_DEVMEM_* differently again", 1),
        Case(([(41, 78, _c(0, 1, 0, 0))], "x86_64"),
             "type 78 at level 41 (IPPROTO_IPV6) is not SCM_DEVMEM_LINEAR: the level counts", 2),
        Case(([_anc("dmabuf", "sparc64", _c(0, 4096, 1, 1)), (1, 79, _c(0, 1, 1, 1))],
              "sparc64"), "x86_64 numbers inside a sparc64 result: raise ValueError", 1),
        Case(([_anc("dmabuf", "x86_64", _c(0, 4096, 1, 1) + b"\0" * 8)], "x86_64"),
             "cmsg data longer than 24 bytes: raise ValueError", 2),
    ),
    "4.3": (
        Case((b"0123456789", [("linear", _D(0, 1, 0, 0)), ("linear", _D(0, 2, 0, 0)),
                              ("dmabuf", _D(4, 2, 1, 1)), ("linear", _D(0, 3, 0, 0))], _BUF),
             "three linear cmsgs take bytes 0, 1-2 and 3-5 of data in turn", 2),
        Case((bytes(10), [("dmabuf", _D(8192, 10, 1, 1)), ("dmabuf", _D(0, 10, 2, 1))], _BUF),
             "fragments come in stream order, whatever their offsets", 1),
        Case((b"only", [], _BUF), "no cmsgs: data is the payload", 3),
    ),
    "5.1": (
        Case(([4, 5, 6, 7, 8, 1, 2],), "two runs: (4, 5), (1, 2)", 1),
        Case(([0, 1],), "token 0 is a token too", 1),
        Case(([2**32 - 2, 2**32 - 1],), "the largest u32 tokens", 1),
        Case(([5, 5, 5],), "the same token three times: three ranges", 2),
        Case(([9, 10, 8, 9],), "10 then 8: a new range; 8 then 9: they join", 2),
    ),
    "5.2": (
        Case((list(range(2048)),), "2048 consecutive tokens: exactly two full values", 2),
        Case((list(range(0, 256, 2)),), "exactly 128 ranges fit in one value", 2),
        Case((list(range(0, 258, 2)),), "129 ranges: the 129th opens a second value", 2),
        Case((list(range(1024)) + [5000],), "1024 tokens fill the value: the next range "
             "starts a new one", 2),
    ),
    "10.1": (
        Case((2,), "binding 2: the id as 4 native-endian bytes", 2),
        Case((0x7FFFFFFF,), "a large id still fits a u32", 2),
        Case((1 << 40,), "an id beyond a u32 is a ValueError", 2),
    ),
    "10.2": (
        Case((3, [0, 0, 1, 1], [(0, 1)]), "region 0's calls are done, region 1's are not", 2),
        Case((2, [1], []), "no completion yet: only the unused region is free", 2),
        Case((4, [3, 2, 1, 0], [(0, 0), (2, 3)]), "call 1 still in flight: region 2 busy", 1),
    ),
    "8.1": (
        Case((6, 3, 7), "stream byte 6 expects (6 + 1) % 7 = 0, sent as 0x0a", 1),
        Case((0, 1, 1), "-v 1: every byte is 0x0a", 1),
        Case((10**9, 8, 251), "large offsets: only (offset + i + 1) % v matters", 2),
        Case((255, 3, 256), "-v 256: byte 255 expects 0 -> 0x0a, then 1, 2", 1),
    ),
    "8.2": (
        Case((3 * MSS, 64, 100), "three packets, each 100 linear bytes then a fragment", 2),
        Case((100_000, 32, 0), "70 packets into a 32-page dma-buf: tokens back after every read", 3),
        Case((1, 64, 0), "one byte: one packet, one fragment", 2),
        Case((MSS * 10, 64, 0, "other binding"),
             "fragments of another binding: raise ValueError", 2),
    ),
}
