"""Exercises of notebook 04: decode ``struct dmabuf_cmsg`` and put a message back together.

Models the user side of ``include/uapi/linux/uio.h`` (``struct dmabuf_cmsg``: u64
frag_offset, u32 frag_size, u32 frag_token, u32 dmabuf_id, u32 flags, native byte order),
the per-architecture ``SCM_DEVMEM_*`` numbers of ``include/uapi/asm-generic/socket.h`` and
``arch/*/include/uapi/asm/socket.h``, and what ``tcp_recvmsg_dmabuf`` (``net/ipv4/tcp.c``)
reports: linear bytes in the iov, fragments at ``frag_offset`` in the dma-buf.
References: :mod:`devmem_lab.uapi`.
"""

from __future__ import annotations

import dataclasses

from .. import uapi
from .check import Case, Exercise

__all__ = ["parse_for_arch", "q1", "q2", "q3", "reassemble", "unpack_cmsg"]


def unpack_cmsg(data: bytes) -> tuple[int, int, int, int, int]:
    """``(frag_offset, frag_size, frag_token, dmabuf_id, flags)`` of 24 bytes.

    Raises
    ------
    ValueError
        ``data`` is not exactly 24 bytes.
    """
    return dataclasses.astuple(uapi.DmabufCmsg.unpack(data))


def parse_for_arch(ancdata: list, arch: str) -> list[tuple[str, tuple]]:
    """``[(kind, fields)]`` of the devmem cmsgs in ``ancdata``, numbered as on ``arch``.

    Raises
    ------
    ValueError
        A cmsg that is not ``SOL_SOCKET`` + ``SCM_DEVMEM_DMABUF``/``LINEAR`` of that
        architecture, or whose data is not 24 bytes.
    """
    abi = uapi.for_arch(arch)
    kinds = {abi.SCM_DEVMEM_DMABUF: "dmabuf", abi.SCM_DEVMEM_LINEAR: "linear"}
    out = []
    for level, ctype, data in ancdata:
        if level != abi.SOL_SOCKET or ctype not in kinds:
            raise ValueError(f"not a devmem cmsg on {arch}: level {level}, type {ctype}")
        out.append((kinds[ctype], unpack_cmsg(data)))
    return out


def reassemble(data: bytes, cmsgs: list, dmabuf: bytes) -> bytes:
    """The bytes one ``recvmsg`` delivered, in stream order.

    ``cmsgs`` is the output of ``uapi.parse_cmsgs``. Each linear cmsg stands for the next
    ``frag_size`` bytes of ``data`` (linear bytes are packed at its front); each dmabuf cmsg
    for ``dmabuf[frag_offset:frag_offset + frag_size]``. No cmsg: the read was ordinary and
    ``data`` is the payload.
    """
    if not cmsgs:
        return bytes(data)
    out = bytearray()
    pos = 0
    for kind, c in cmsgs:
        if kind == "linear":
            out += data[pos:pos + c.frag_size]
            pos += c.frag_size
        else:
            out += dmabuf[c.frag_offset:c.frag_offset + c.frag_size]
    return bytes(out)


# ---- cases ---------------------------------------------------------------------------------
def _c(off, size, token=0, did=0, flags=0) -> bytes:
    return uapi.DmabufCmsg(off, size, token, did, flags).pack()


_UNPACK_CASES = (
    Case((_c(8192, 1428, 3, 1),), "the five fields in order, as a tuple", 1),
    Case((_c(0, 0, 0, 0),), "a LINEAR cmsg with nothing set: all zero", 1),
    Case((_c(2**40 + 4096, 4096, 2**31 - 1, 7),), "frag_offset is a u64: it needs all 64 bits",
         1),
    Case((_c(4096, 10, 1, 1)[:20],), "20 bytes: truncated, raise ValueError", 2),
    Case((_c(4096, 10, 1, 1) + b"\0\0\0\0",), "28 bytes: not exactly 24, raise ValueError", 2),
)


def _anc(kind: str, arch: str, payload: bytes) -> tuple:
    abi = uapi.for_arch(arch)
    return (abi.SOL_SOCKET, abi.SCM_DEVMEM_DMABUF if kind == "dmabuf" else abi.SCM_DEVMEM_LINEAR,
            payload)


_PARSE_CASES = (
    Case(([_anc("dmabuf", "x86_64", _c(0, 4096, 1, 1))], "x86_64"),
         "one SCM_DEVMEM_DMABUF: ('dmabuf', fields)", 2),
    Case(([], "x86_64"), "no cmsgs: []", 2),
    Case(([_anc("linear", "x86_64", _c(0, 100)), _anc("dmabuf", "x86_64", _c(4096, 1328, 2, 1)),
           _anc("dmabuf", "x86_64", _c(8192, 1428, 3, 1))], "x86_64"),
         "'linear' and 'dmabuf' kinds, in order", 2),
    Case(([_anc("dmabuf", "sparc64", _c(0, 1, 1, 2)), _anc("linear", "sparc64", _c(0, 5))],
          "sparc64"), "sparc64 numbers SOL_SOCKET and SCM_DEVMEM_* its own way", 1),
    Case(([_anc("dmabuf", "parisc", _c(4096, 9, 4, 1))], "parisc"),
         "parisc numbers them differently again", 1),
    Case(([_anc("dmabuf", "x86_64", _c(0, 4096, 1, 1))], "sparc64"),
         "x86_64 numbers are not devmem cmsgs on sparc64: raise ValueError", 1),
    Case(([_anc("dmabuf", "x86_64", _c(0, 4096, 1, 1)[:16])], "x86_64"),
         "16 bytes of cmsg data: truncated, raise ValueError", 2),
    Case(([(41, 67, bytes(24))], "x86_64"), "an IPv6 cmsg is not a devmem one: raise ValueError",
         2),
    Case(([(41, 79, _c(0, 1, 1, 1))], "x86_64"),
         "type 79 at level 41 (IPPROTO_IPV6) is not SCM_DEVMEM_DMABUF: the level counts", 2),
)


def _frag_buf() -> bytes:
    return bytes((i * 7 + 3) % 251 for i in range(3 * 4096))


_BUF = _frag_buf()
_D = uapi.DmabufCmsg
_REASM_CASES = (
    Case((bytes(1428), [("dmabuf", _D(4096, 1428, 1, 1))], _BUF),
         "one fragment: dmabuf[frag_offset:frag_offset + frag_size]", 2),
    Case((b"GET /x", [], _BUF), "no cmsgs: an ordinary read, data is the payload", 3),
    Case((b"HEAD" + bytes(200), [("linear", _D(0, 4, 0, 0)), ("dmabuf", _D(100, 200, 1, 1))],
          _BUF), "linear bytes come from the front of data, then the fragment", 2),
    Case((b"", [], _BUF), "nothing read: b''", 3),
    Case((b"ab" + bytes(20), [("linear", _D(0, 2, 0, 0)), ("dmabuf", _D(8192, 0, 1, 1)),
                              ("dmabuf", _D(10, 20, 2, 1))], _BUF),
         "a zero-length fragment adds nothing", 1),
    Case((b"xyz" + bytes(30), [("linear", _D(0, 3, 0, 0)), ("dmabuf", _D(4090, 30, 1, 1))],
          _BUF), "a fragment may cross a page boundary of the dma-buf", 2),
    Case((b"abcdef", [("linear", _D(0, 2, 0, 0)), ("dmabuf", _D(0, 3, 1, 1)),
                      ("linear", _D(0, 4, 0, 0))], _BUF),
         "a second linear cmsg takes the next bytes of data, not the first ones", 2),
)


def _show_anc(ancdata: list) -> str:
    items = ", ".join(f"({lvl}, {typ}, <{len(data)} bytes>)" for lvl, typ, data in ancdata)
    return f"[{items}]"


def _show_parse(case: tuple) -> str:
    ancdata, arch = case
    return f"({_show_anc(ancdata)}, {arch!r})"


def _show_reasm(case: tuple) -> str:
    data, cmsgs, _buf = case
    return f"({data!r}, {cmsgs!r}, dmabuf)"


q1 = Exercise(
    label="q1",
    reference=unpack_cmsg,
    cases=_UNPACK_CASES,
    hints=(
        ("struct.unpack with format '=QIIII': '=' is native byte order without padding; "
        "Q is a u64, I a u32."),
        ("struct.unpack raises struct.error on a wrong length, not ValueError: check "
        "len(data) == 24 yourself first."),
    ),
    solution_code='''
def unpack_cmsg(data):
    if len(data) != 24:
        raise ValueError(f"struct dmabuf_cmsg is 24 bytes, got {len(data)}")
    return struct.unpack("=QIIII", data)
''',
)

q2 = Exercise(
    label="q2",
    reference=parse_for_arch,
    cases=_PARSE_CASES,
    show=_show_parse,
    hints=(
        ("abi = uapi.for_arch(arch) has SOL_SOCKET, SCM_DEVMEM_DMABUF and SCM_DEVMEM_LINEAR "
        "for that architecture (sparc64 and parisc differ from x86_64)."),
        ("Each ancdata item is (level, type, data); anything but SOL_SOCKET with one of the two "
        "devmem types is an error: raise ValueError. Reuse your unpack_cmsg for the data "
        "(or uapi.DmabufCmsg.unpack)."),
    ),
    solution_code='''
def parse_for_arch(ancdata, arch):
    abi = uapi.for_arch(arch)
    kinds = {abi.SCM_DEVMEM_DMABUF: "dmabuf", abi.SCM_DEVMEM_LINEAR: "linear"}
    out = []
    for level, ctype, data in ancdata:
        if level != abi.SOL_SOCKET or ctype not in kinds:
            raise ValueError(f"not a devmem cmsg: level {level}, type {ctype}")
        out.append((kinds[ctype], unpack_cmsg(data)))
    return out
''',
)

q3 = Exercise(
    label="q3",
    reference=reassemble,
    cases=_REASM_CASES,
    show=_show_reasm,
    hints=(
        "Walk the cmsgs in order: they are in stream order.",
        ("Linear bytes are packed at the front of data: keep a position in data and advance it "
        "by frag_size for each linear cmsg. A dmabuf frag is "
        "dmabuf[frag_offset:frag_offset + frag_size]."),
        "No cmsgs at all: the read was an ordinary one and data is the payload.",
    ),
    solution_code='''
def reassemble(data, cmsgs, dmabuf):
    if not cmsgs:
        return bytes(data)
    out, pos = bytearray(), 0
    for kind, c in cmsgs:
        if kind == "linear":
            out += data[pos:pos + c.frag_size]
            pos += c.frag_size
        else:
            out += dmabuf[c.frag_offset:c.frag_offset + c.frag_size]
    return bytes(out)
''',
)
