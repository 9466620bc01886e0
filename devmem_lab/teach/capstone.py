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
from .check import Exercise
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
def _prepare(nbytes: int, niovs: int, linear: int) -> tuple:
    srv = devmem_server(Lab(seed=0), niovs=niovs)
    srv.host.nic.hds_linear_bytes = linear
    conn = srv.connect(ncdevmem_payload(nbytes, 7))
    return conn, srv.dmabuf, srv.binding_id


def receive_outcome(result: bytes, args: tuple) -> dict:
    """What the check compares: length, validity against the pattern, tokens left held."""
    conn = args[0]
    if not isinstance(result, (bytes, bytearray)):
        raise TypeError(f"receive must return bytes, not {type(result).__name__}")
    return {"bytes": len(result), "valid": bytes(result) == ncdevmem_payload(len(result), 7),
            "tokens_left": conn.tokens_held}


def _show_scenario(case: tuple) -> str:
    nbytes, niovs, linear = case
    extra = f", NIC leaves {linear} payload bytes linear" if linear else ""
    return f"(<{nbytes} bytes sent, {niovs}-page dma-buf{extra}>)"


q1 = Exercise(
    label="q1",
    reference=expected,
    cases=((0, 14, 7), (5, 10, 7), (0, 0, 7), (1000, 20, 256), (3, 4, 2)),
    hints=(
        ("Byte i of the stream (from 0) expects seed = (i + 1) % v, and '\\n' (10) where "
        "that is 0."),
        "bytes(((offset + i + 1) % v) or 10 for i in range(n))",
    ),
    solution_code='''
def expected(offset, n, v):
    return bytes(((offset + i + 1) % v) or 10 for i in range(n))
''',
)

q2 = Exercise(
    label="q2",
    reference=receive,
    cases=((20_000, 64, 0), (0, 64, 0), (400_000, 64, 0), (30_000, 64, 100)),
    prepare=_prepare,
    outcome=receive_outcome,
    show=_show_scenario,
    hints=(
        ("Loop: data, ancdata, flags, addr = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM); "
        "an empty data means the peer closed: return what you have."),
        ("For each (kind, c) in uapi.parse_cmsgs(ancdata): a 'linear' cmsg stands for the next "
        "c.frag_size bytes at the front of data; a 'dmabuf' one for "
        "dmabuf[c.frag_offset:c.frag_offset + c.frag_size]. Check c.dmabuf_id."),
        ("400 000 bytes need about 280 net_iovs and the dma-buf has 64: return each call's "
        "tokens with conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, "
        "uapi.pack_tokens(tokens)) or the NIC runs dry."),
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
