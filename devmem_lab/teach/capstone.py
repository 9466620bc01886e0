"""Exercises of notebook 08: ncdevmem's receiver, written by the learner.

Models ``tools/testing/selftests/drivers/net/hw/ncdevmem.c`` (``do_server``: the
``recvmsg(MSG_SOCK_DEVMEM)`` loop with an 819200-byte iov and an 80000-byte control buffer,
one ``SO_DEVMEM_DONTNEED`` per fragment; ``validate_buffer``: the ``-v`` byte pattern).
The kernel side is ``net/ipv4/tcp.c`` and ``net/core/sock.c``; see
docs/kernel-facts.md, "ncdevmem and selftests".
"""

from __future__ import annotations

import socket

from .. import Lab, uapi
from .check import Case, Exercise
from .scenario import devmem_server, ncdevmem_payload

__all__ = ["expected", "q1", "q2", "receive", "receive_outcome"]


def expected(offset: int, n: int, v: int) -> bytes:
    """The ``n`` bytes ``ncdevmem -v v`` expects from stream offset ``offset`` on."""
    return ncdevmem_payload(n, v, offset)


def receive(conn, dmabuf, binding_id: int) -> bytes:
    """Read ``conn`` to the end as ncdevmem does; returns the payload, in order.

    Linear bytes come from ``data``, fragments from ``dmabuf`` (the mmap of the bound
    udmabuf); each call's tokens go back with one ``SO_DEVMEM_DONTNEED``.

    Raises
    ------
    ValueError
        A read with no devmem cmsg (the flow was not steered), or a fragment of another
        binding.
    """
    out = bytearray()
    while True:
        data, ancdata, _flags, _addr = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)
        if not data:
            return bytes(out)
        cmsgs = uapi.parse_cmsgs(ancdata)
        if not cmsgs:
            raise ValueError("no devmem cmsg: flow steering error")
        pos = 0
        tokens = []
        for kind, c in cmsgs:
            if kind == "linear":
                out += data[pos:pos + c.frag_size]
                pos += c.frag_size
                continue
            if c.dmabuf_id != binding_id:
                raise ValueError(f"fragment of binding {c.dmabuf_id}, expected {binding_id}")
            out += dmabuf[c.frag_offset:c.frag_offset + c.frag_size]
            tokens.append(c.frag_token)
        if tokens:
            conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, uapi.pack_tokens(tokens))


# ---- q2 scenario: a fresh lab per call ------------------------------------------------------
MSS = 1428  # payload bytes per segment on the emulated link (MTU 1500, IPv6, TCP timestamps)


def _prepare(nbytes: int, niovs: int, linear: int, twist: str = "") -> tuple:
    """A connection that delivered ``nbytes`` of the ``-v 7`` pattern, and what to pass.

    ``linear``: payload bytes the NIC leaves in the header buffer of every packet.
    ``twist``: ``"unsteered"`` (the flow goes to a port no ntuple rule steers, so it lands
    on an RSS queue with host pages) or ``"other binding"`` (the binding id passed in is
    not the one the fragments carry).
    """
    srv = devmem_server(Lab(seed=0), niovs=niovs)
    srv.host.nic.hds_linear_bytes = linear
    if twist == "unsteered":
        other = srv.host.socket(socket.AF_INET6, socket.SOCK_STREAM)
        other.bind(("::", srv.port + 1))
        other.listen()
        srv.listener, srv.port = other, srv.port + 1
    conn = srv.connect(ncdevmem_payload(nbytes, 7))
    return conn, srv.dmabuf, srv.binding_id + (1 if twist == "other binding" else 0)


def receive_outcome(result: bytes, args: tuple) -> dict:
    """What the check compares: length, validity against the pattern, tokens left held."""
    conn = args[0]
    if not isinstance(result, (bytes, bytearray)):
        raise TypeError(f"receive must return bytes, not {type(result).__name__}")
    return {"bytes": len(result), "valid": bytes(result) == ncdevmem_payload(len(result), 7),
            "tokens_left": conn.tokens_held}


def _show_scenario(case: tuple) -> str:
    nbytes, niovs, linear, *twist = case
    extra = f", NIC leaves {linear} payload bytes per packet linear" if linear else ""
    if twist and twist[0] == "unsteered":
        extra += ", flow not steered to the bound queue"
    elif twist and twist[0] == "other binding":
        extra += ", binding_id is not the id the fragments carry"
    return f"(<{nbytes} bytes sent, {niovs}-page dma-buf{extra}>)"


_RECEIVE_CASES = (
    Case((20_000, 64, 0), "the whole stream, in order, every token returned", 2),
    Case((0, 64, 0), "the peer sent nothing: the first read returns no data, so return b''", 1),
    # 72 pages: the rx ring keeps 8 posted (kernel/nic/ring.py), 64 hold data; with fewer the
    # out-of-order queue can take every free net_iov and even a correct reader wedges
    Case((400_000, 72, 0), ("the stream needs ~280 net_iovs and the dma-buf has 72, 8 of them "
                            "posted to the rx ring: tokens must go back after every read or "
                            "the NIC runs dry"), 3),
    Case((28 * MSS, 64, 100), ("each packet's first 100 payload bytes are linear: they come "
                               "from the front of data, before that packet's fragment"), 2),
    Case((30_000, 64, 100), ("the stream's 12-byte tail lies wholly in the header buffer, so "
                             "the last read has no devmem cmsg; ncdevmem stops there with "
                             "'flow steering error' (raise ValueError)"), 4),
    Case((20_000, 64, 0, "unsteered"), ("a flow that no ntuple rule steers lands on a queue "
                                        "with host pages: no devmem cmsg, raise ValueError"), 4),
    Case((20_000, 64, 0, "other binding"), ("every fragment carries dmabuf_id 1, not the id "
                                            "passed in: raise ValueError"), 2),
)


q1 = Exercise(
    label="q1",
    reference=expected,
    cases=(
        Case((0, 14, 7), "from the start of the stream: 01 02 03 04 05 06 0a, twice", 1),
        Case((5, 10, 7), "stream byte 5 comes first: the pattern depends on offset + i", 2),
        Case((0, 0, 7), "no bytes asked for: b''", 0),
        Case((1000, 20, 256), "with -v 256 the seed wraps at 256, so 0 (0x0a) appears once", 1),
        Case((3, 4, 2), "with -v 2 every other byte is the 0 that becomes 0x0a", 1),
    ),
    hints=(
        ("Byte i of the stream (from 0) expects seed = (i + 1) % v, and '\\n' (10) where "
        "that is 0."),
        ("The k-th byte you return is stream byte offset + k. Work one by hand: offset 5, "
        "v 7 starts with (5 + 1) % 7 = 6, then (6 + 1) % 7 = 0, which is sent as 10. "
        "bytes() takes any sequence of ints 0..255."),
    ),
    solution_code='''
def expected(offset, n, v):
    return bytes(((offset + i + 1) % v) or 10 for i in range(n))
''',
)

q2 = Exercise(
    label="q2",
    reference=receive,
    cases=_RECEIVE_CASES,
    prepare=_prepare,
    outcome=receive_outcome,
    show=_show_scenario,
    hints=(
        ("Loop: data, ancdata, flags, addr = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM); "
        "an empty data means the peer closed: return what you have."),
        ("For each (kind, c) in uapi.parse_cmsgs(ancdata): a 'linear' cmsg stands for the next "
        "c.frag_size bytes at the front of data; a 'dmabuf' one for "
        "dmabuf[c.frag_offset:c.frag_offset + c.frag_size]. Check c.dmabuf_id."),
        ("400 000 bytes need about 280 net_iovs and the dma-buf has 72: return each call's "
        "tokens with conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, "
        "uapi.pack_tokens(tokens)) or the NIC runs dry."),
        ("A read whose ancdata holds no devmem cmsg at all means the bytes came through host "
        "pages: the flow was not steered (or a segment fitted wholly in the header buffer). "
        "ncdevmem treats it as an error ('flow steering error'): raise ValueError."),
    ),
    solution_code='''
def receive(conn, dmabuf, binding_id):
    out = bytearray()
    while True:
        data, ancdata, flags, addr = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)
        if not data:
            return bytes(out)
        cmsgs = uapi.parse_cmsgs(ancdata)
        if not cmsgs:
            raise ValueError("no devmem cmsg: flow steering error")
        pos, tokens = 0, []
        for kind, c in cmsgs:
            if kind == "linear":
                out += data[pos:pos + c.frag_size]
                pos += c.frag_size
            elif c.dmabuf_id != binding_id:
                raise ValueError(f"fragment of binding {c.dmabuf_id}")
            else:
                out += dmabuf[c.frag_offset:c.frag_offset + c.frag_size]
                tokens.append(c.frag_token)
        if tokens:
            conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED,
                            uapi.pack_tokens(tokens))
''',
)
