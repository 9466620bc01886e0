"""Exercises of notebook 03: what ``recvmsg(MSG_SOCK_DEVMEM)`` returns and how much room the
control messages need.

Models the user side of ``net/ipv4/tcp.c`` ``tcp_recvmsg_locked`` / ``tcp_recvmsg_dmabuf``:
the return value counts linear and dmabuf bytes; each fragment needs one
``CMSG_LEN(sizeof(struct dmabuf_cmsg))`` in the control buffer (``put_cmsg_notrunc`` in
``net/core/scm.c``), and a first cmsg that does not fit makes the call fail: with ETOOSMALL
(525) since 6.18 (upstream 18282100d704, also in 6.12.y/6.17.y stable), with EFAULT in 6.12.0,
where ``tcp_recvmsg_locked`` turned every ``tcp_recvmsg_dmabuf`` error into EFAULT
(docs/kernel-facts.md, trap 1).
"""

from __future__ import annotations

import contextlib
import errno
import socket

from .. import uapi
from ..lab import Lab
from .check import Case, Exercise
from .scenario import devmem_server, ncdevmem_payload

__all__ = ["TOO_SMALL", "ancbuf_for", "count_bytes", "q1", "q2", "q3", "recv_growing"]

#: what a too-small control buffer gives with MSG_SOCK_DEVMEM: 6.18 and later, then 6.12.0
TOO_SMALL = (uapi.ETOOSMALL, errno.EFAULT)


def count_bytes(data: bytes, ancdata: list) -> tuple[int, int]:
    """``(linear, dmabuf)`` bytes of one devmem ``recvmsg`` result.

    With no devmem cmsg the read was an ordinary one: every byte is linear (in ``data``).

    Raises
    ------
    ValueError
        A control message that is not a devmem one, or a truncated one (``uapi.parse_cmsgs``),
        or cmsg sizes that do not add up to ``len(data)``.
    """
    cmsgs = uapi.parse_cmsgs(ancdata)
    if not cmsgs:
        return len(data), 0
    linear = sum(c.frag_size for kind, c in cmsgs if kind == "linear")
    dmabuf = sum(c.frag_size for kind, c in cmsgs if kind == "dmabuf")
    if linear + dmabuf != len(data):
        raise ValueError(f"cmsgs describe {linear + dmabuf} bytes, recvmsg returned {len(data)}")
    return linear, dmabuf


def ancbuf_for(frags: int) -> int:
    """The smallest ``ancbufsize`` that holds ``frags`` devmem control messages.

    Every cmsg but the last is padded to ``CMSG_SPACE(24)``; the last needs only
    ``CMSG_LEN(24)``. Zero fragments need no buffer.
    """
    if frags <= 0:
        return 0
    return (frags - 1) * socket.CMSG_SPACE(uapi.DMABUF_CMSG_SIZE) + socket.CMSG_LEN(
        uapi.DMABUF_CMSG_SIZE)


@contextlib.contextmanager
def _ilp32(fn=None):
    """``socket.CMSG_LEN``/``CMSG_SPACE`` as on a 32-bit host (12-byte cmsghdr, 4-byte
    alignment), for the duration of one case; also where ``fn``'s module imported them by
    name (``from socket import CMSG_LEN``)."""
    fake = {"CMSG_LEN": lambda n: 12 + n, "CMSG_SPACE": lambda n: 12 + ((n + 3) & ~3)}
    real = {"CMSG_LEN": socket.CMSG_LEN, "CMSG_SPACE": socket.CMSG_SPACE}
    spaces = [vars(socket)]
    g = getattr(fn, "__globals__", None)
    if isinstance(g, dict) and g is not vars(socket):
        spaces.append(g)
    saved = [(ns, name, ns[name]) for ns in spaces for name in fake
             if ns.get(name) is real[name]]
    for ns, name, _old in saved:
        ns[name] = fake[name]
    try:
        yield
    finally:
        for ns, name, old in saved:
            ns[name] = old


def _cm(kind: str, off: int, size: int, token: int = 0, dmabuf_id: int = 0) -> tuple:
    ctype = uapi.SCM_DEVMEM_DMABUF if kind == "dmabuf" else uapi.SCM_DEVMEM_LINEAR
    return (uapi.SOL_SOCKET, ctype, uapi.DmabufCmsg(off, size, token, dmabuf_id).pack())


_COUNT_CASES = (
    Case((bytes(4096), [_cm("dmabuf", 0, 4096, 1, 1)]), "one dmabuf fragment of 4096 bytes", 1),
    Case((b"plain bytes", []), "no devmem cmsg: an ordinary read, every byte linear", 2),
    Case((bytes(300), [_cm("linear", 0, 100), _cm("dmabuf", 8192, 200, 2, 1)]),
         "100 linear bytes, then a 200-byte fragment", 1),
    Case((bytes(2856), [_cm("dmabuf", 0, 1428, 1, 1), _cm("dmabuf", 4096, 1428, 2, 1)]),
         "two fragments add up", 1),
    Case((b"", []), "nothing read: (0, 0)", 2),
    Case((bytes(10), [_cm("dmabuf", 0, 0, 1, 1), _cm("linear", 0, 10)]),
         "a zero-length fragment counts 0", 1),
    Case((bytes(24), [(uapi.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, bytes(20))]),
         "a truncated cmsg (20 bytes, not 24): raise ValueError", 3),
    Case((bytes(100), [_cm("dmabuf", 0, 4096, 1, 1)]),
         "the cmsgs describe 4096 bytes but recvmsg returned 100: raise ValueError", 3),
)

q1 = Exercise(
    label="q1",
    reference=count_bytes,
    cases=_COUNT_CASES,
    hints=(
        "uapi.parse_cmsgs(ancdata) gives (kind, DmabufCmsg) pairs; add up frag_size per kind.",
        "No devmem cmsg at all means an ordinary read: all len(data) bytes are linear.",
        ("Let parse_cmsgs raise its ValueError for a truncated cmsg; raise one yourself when "
        "the sizes do not add up to len(data)."),
    ),
    solution_code='''
def count_bytes(data, ancdata):
    cmsgs = uapi.parse_cmsgs(ancdata)
    if not cmsgs:
        return len(data), 0
    linear = sum(c.frag_size for kind, c in cmsgs if kind == "linear")
    dmabuf = sum(c.frag_size for kind, c in cmsgs if kind == "dmabuf")
    if linear + dmabuf != len(data):
        raise ValueError("cmsgs do not add up to the return value")
    return linear, dmabuf
''',
)

q2 = Exercise(
    label="q2",
    reference=ancbuf_for,
    cases=(
        Case((1,), "one cmsg: CMSG_LEN(24)", 1),
        Case((0,), "no fragments need no buffer: 0", 1),
        Case((2,), "two: CMSG_SPACE(24) for the first, CMSG_LEN(24) for the last", 1),
        Case((100,), "100 cmsgs", 1),
        Case((2000,), "2000 cmsgs (ncdevmem's 80000-byte buffer holds 2000)", 1),
        Case((3,), ("on a 32-bit host (12-byte cmsghdr) CMSG_LEN(24) is 36, not 40: use "
                    "socket.CMSG_LEN and socket.CMSG_SPACE"), 2, env=_ilp32),
    ),
    hints=(
        ("socket.CMSG_LEN(n) is the header plus n data bytes; socket.CMSG_SPACE(n) adds the "
        "padding that the next cmsg needs in front of it."),
        ("struct dmabuf_cmsg is uapi.DMABUF_CMSG_SIZE = 24 bytes; on x86_64 CMSG_LEN(24) = 40 "
        "and CMSG_SPACE(24) = 40 too, but do not rely on it."),
    ),
    solution_code='''
def ancbuf_for(frags):
    if frags <= 0:
        return 0
    return (frags - 1) * socket.CMSG_SPACE(24) + socket.CMSG_LEN(24)
''',
)


def recv_growing(conn, bufsize: int) -> tuple[int, int, int]:
    """One ``recvmsg(MSG_SOCK_DEVMEM)`` that starts with no control buffer and doubles it
    (from ``CMSG_LEN(24)``) while the kernel says it is too small: ETOOSMALL on 6.18, EFAULT
    on 6.12.0. Returns ``(bytes returned, cmsgs, ancbufsize that worked)``.

    Raises
    ------
    OSError
        Any other error, or the too-small one still at 1 MiB of control buffer.
    """
    room = 0
    while True:
        try:
            data, ancdata, _flags, _addr = conn.recvmsg(bufsize, room, uapi.MSG_SOCK_DEVMEM)
            return len(data), len(ancdata), room
        except OSError as e:
            if e.errno not in TOO_SMALL or room >= 1 << 20:
                raise
            room = max(socket.CMSG_LEN(uapi.DMABUF_CMSG_SIZE), 2 * room)


def _prepare_growing(kernel: str, nbytes: int, bufsize: int) -> tuple:
    srv = devmem_server(Lab(seed=0, kernel=kernel), niovs=64)
    conn = srv.connect(ncdevmem_payload(nbytes), close=False)
    srv.lab.run(0.001)
    return conn, bufsize


def _show_growing(case: tuple) -> str:
    kernel, nbytes, bufsize = case
    return f"(<kernel {kernel}, {nbytes} devmem bytes queued>, bufsize={bufsize})"


q3 = Exercise(
    label="q3",
    reference=recv_growing,
    cases=(("6.18", 4 * 1428, 819200), ("6.12", 4 * 1428, 819200), ("6.18", 1428, 100),
           ("6.12", 1428, 100)),
    prepare=_prepare_growing,
    show=_show_growing,
    hints=(
        ("Loop: try conn.recvmsg(bufsize, room, uapi.MSG_SOCK_DEVMEM); on OSError look at "
        "e.errno, grow room, try again. Start with room = 0."),
        ("6.18 says uapi.ETOOSMALL (525); 6.12.0 said errno.EFAULT for the same buffer. Code "
        "that runs on both treats both as 'too small' when it passed MSG_SOCK_DEVMEM."),
        "room = max(socket.CMSG_LEN(24), 2 * room); re-raise anything else.",
    ),
    solution_code='''
def recv_growing(conn, bufsize):
    room = 0
    while True:
        try:
            data, ancdata, _, _ = conn.recvmsg(bufsize, room, uapi.MSG_SOCK_DEVMEM)
            return len(data), len(ancdata), room
        except OSError as e:
            if e.errno not in (uapi.ETOOSMALL, errno.EFAULT) or room >= 1 << 20:
                raise
            room = max(socket.CMSG_LEN(24), 2 * room)
''',
)
