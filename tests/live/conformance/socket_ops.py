"""Differential driver: one *program* of socket calls, run on an emulated host or this kernel.

A program is JSON: ``{"kind": "pair" | "tcp" | "tcp6" | "udp" | "listen", "ops": [[name,
*args], ...]}``. ``kind`` picks the socket the ops act on: the server end of a connected TCP
pair over ``address4`` (loopback on a real host; its client end is the *peer*), a fresh TCP
socket (AF_INET or AF_INET6), a fresh UDP socket, or a listening TCP socket. :func:`run`
returns one outcome per op, JSON too:

* ``["ok", value]``: the return value (bytes as hex; ``recvmsg`` as ``[data, ancdata,
  msg_flags]``; ``recvmsg_into``/``recv_into`` also give the buffers' contents). With
  ``MSG_TRUNC`` only the length of ``recv``/``recvmsg`` data is kept: the kernel does not
  write the buffer, so Python returns whatever memory held.
* ``["error", "EAGAIN"]``: an ``OSError`` with that errno name; ``["timeout"]``: Python's
  ``TimeoutError`` after ``settimeout``; ``["raised", "ValueError"]``: a Python-level refusal.
* ``["blocks"]``: a call that would wait forever. The emulator says so (``BlockingIOError``
  "would block forever"); on a real host a blocking-mode socket carries a hidden
  ``SO_RCVTIMEO`` of :data:`HIDDEN_WAIT_S` and a call that takes that long counts as blocking.
  A program stops at its first ``blocks`` (the real call may have consumed data meanwhile).

Nothing here changes the host: sockets are loopback TCP/UDP, closed afterwards.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
import time
from typing import Any

from devmem_lab import Lab, uapi
from devmem_lab.conformance import errname

HIDDEN_WAIT_S = 0.15  # real blocking-mode calls: longer than this means "would block forever"
SETTLE_S = 1.0  # real peer sends: wait up to this long for the bytes to be queued
KINDS = ("pair", "tcp", "tcp6", "udp", "listen")
PEER_OPS = ("peer_send", "peer_shutdown", "peer_close")
_FIONREAD = getattr(termios, "FIONREAD", 0x541B)


def payload(start: int, n: int) -> bytes:
    """Stream bytes ``[start, start + n)`` of the peer's send pattern."""
    return bytes((start + i) % 251 for i in range(n))


class _Side:
    """The sockets of one program on one host, and how to wait on that host."""

    def __init__(self, kind: str, emulated: bool) -> None:
        self.emulated = emulated
        self.sent = 0
        self.peer = self.listener = None
        if emulated:
            self.lab = Lab(seed=0)
            host, peer_host = self.lab.server, self.lab.client
        else:
            from devmem_lab import LinuxHost
            host = peer_host = LinuxHost()
        fam = socket.AF_INET6 if kind == "tcp6" else socket.AF_INET
        stype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
        if kind == "pair":
            ls = host.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.bind((host.address4, 0))
            ls.listen()
            self.peer = peer_host.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.peer.settimeout(5)
            self.peer.connect((host.address4, ls.getsockname()[1]))
            self.sock, _ = ls.accept()
            ls.close()
        else:
            self.sock = host.socket(fam, stype)
            if kind == "listen":
                self.sock.bind((host.address4, 0))
                self.sock.listen()
        if not emulated:  # blocking calls give up after HIDDEN_WAIT_S (SO_RCVTIMEO)
            raw = self.sock.sock if hasattr(self.sock, "sock") else self.sock
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                           struct.pack("ll", 0, int(HIDDEN_WAIT_S * 1e6)))
        self.settle()

    def settle(self, expect_more: int = 0) -> None:
        """Let what was sent arrive: virtual time on the emulator, polling on a real host."""
        if self.emulated:
            self.lab.run(0.001)
            return
        if expect_more:
            deadline = time.monotonic() + SETTLE_S
            want = self._queued() + expect_more
            while self._queued() < want and time.monotonic() < deadline:
                time.sleep(0.0005)
        else:
            time.sleep(0.002)

    def _queued(self) -> int:
        try:
            buf = fcntl.ioctl(self.sock.fileno(), _FIONREAD, b"\0\0\0\0")
            return struct.unpack("i", buf)[0]
        except (OSError, ValueError):  # closed: fileno() is -1
            return 0

    def close(self) -> None:
        for s in (self.sock, self.peer):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def _value(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return v


def _call(side: _Side, op: list) -> Any:
    name, args = op[0], op[1:]
    s = side.sock
    if name == "setsockopt":
        level, opt, mode, v = args
        if mode == "int":
            return s.setsockopt(level, opt, v)
        if mode == "bytes":
            return s.setsockopt(level, opt, bytes([v[1]]) * v[0])
        return s.setsockopt(level, opt, None, v)
    if name == "getsockopt":
        level, opt, buflen = args
        return _value(s.getsockopt(level, opt, buflen) if buflen else s.getsockopt(level, opt))
    if name == "recv":
        n, flags = args
        data = s.recv(n, flags)
        return len(data) if flags & uapi.MSG_TRUNC else data.hex()
    if name == "recvmsg":
        n, anc, flags = args
        data, ancdata, msg_flags, _addr = s.recvmsg(n, anc, flags)
        return [len(data) if flags & uapi.MSG_TRUNC else data.hex(),
                [[lv, ty, d.hex()] for lv, ty, d in ancdata], msg_flags]
    if name == "recvmsg_into":
        sizes, anc, flags = args
        bufs = [bytearray(b"." * n) for n in sizes]
        nbytes, ancdata, msg_flags, _addr = s.recvmsg_into(bufs, anc, flags)
        return [nbytes, [[lv, ty, d.hex()] for lv, ty, d in ancdata], msg_flags,
                [b.hex() for b in bufs]]
    if name == "recv_into":
        size, nbytes, flags = args
        buf = bytearray(b"." * size)
        got = s.recv_into(buf, nbytes, flags)
        return [got, buf.hex()]
    if name in ("send", "shutdown", "close"):  # then let the peer's answer (ACK, RST) arrive
        try:
            return s.send(payload(0, args[0])) if name == "send" else \
                s.shutdown(args[0]) if name == "shutdown" else s.close()
        finally:
            if side.peer is not None:
                side.settle()
    if name == "settimeout":
        return s.settimeout(args[0])
    if name == "setblocking":
        return s.setblocking(args[0])
    if name == "peer_send":
        n = side.peer.send(payload(side.sent, args[0]))
        side.sent += n
        side.settle(n)
        return n
    if name == "peer_shutdown":
        side.peer.shutdown(socket.SHUT_WR)
        side.settle()
        return None
    if name == "peer_close":
        side.peer.close()
        side.settle()
        return None
    raise ValueError(f"unknown op {name!r}")


def _outcome(side: _Side, op: list) -> list:
    blocking = not side.emulated and side.sock.gettimeout() is None
    t0 = time.monotonic()
    try:
        result = ["ok", _call(side, op)]
    except BlockingIOError as e:
        result = ["blocks"] if "forever" in str(e) else ["error", errname(e.errno)]
    except TimeoutError as e:
        result = ["timeout"] if e.errno is None else ["error", errname(e.errno)]
    except OSError as e:
        result = ["error", errname(e.errno)] if e.errno is not None else \
            ["raised", type(e).__name__]
    except (TypeError, ValueError, OverflowError, MemoryError) as e:
        result = ["raised", type(e).__name__]
    waited = time.monotonic() - t0
    if blocking and op[0] in ("recv", "recvmsg", "recvmsg_into", "recv_into") \
            and waited >= HIDDEN_WAIT_S * 0.9:
        return ["blocks"]
    return result


def run(program: dict, *, emulated: bool) -> list[list]:
    """Run ``program``; one outcome per op, up to and including the first ``["blocks"]``."""
    side = _Side(program["kind"], emulated)
    out: list[list] = []
    try:
        for op in program["ops"]:
            o = _outcome(side, op)
            out.append(o)
            if o == ["blocks"]:
                break
    finally:
        side.close()
    return out


# ---- the grammar: what a learner might call ---------------------------------------------------
SOL, TCP, IP, IPV6 = socket.SOL_SOCKET, socket.IPPROTO_TCP, socket.IPPROTO_IP, socket.IPPROTO_IPV6
#: options the emulator models (devmem_lab/sockopts.py) ...
KNOWN_OPTIONS = [(SOL, 2), (SOL, 3), (SOL, 4), (SOL, 7), (SOL, 8), (SOL, 9), (SOL, 15), (SOL, 18),
                 (SOL, 60), (SOL, uapi.SO_DEVMEM_LINEAR), (SOL, uapi.SO_DEVMEM_DMABUF),
                 (SOL, uapi.SO_DEVMEM_DONTNEED), (TCP, 1), (TCP, 2), (TCP, 12), (IP, 1),
                 (IPV6, 26)]
#: ... and ones it does not: unknown to both (999), and real ones the lab leaves out
#: (SO_PRIORITY 12, TCP_KEEPIDLE 4, IP_TTL 2, IPV6_UNICAST_HOPS 16, UDP_CORK 1, level 999)
OTHER_OPTIONS = [(SOL, 999), (TCP, 999), (IP, 999), (IPV6, 999), (999, 1), (socket.IPPROTO_UDP, 1),
                 (SOL, 12), (TCP, 4), (IP, 2), (IPV6, 16)]
INT_VALUES = [0, 1, 2, 5, -1, 87, 88, 536, 2303, 2304, 7000, 32767, 32768, 1 << 20, 1 << 22,
              (1 << 22) + 1, 0x7FFFFFFF, -0x80000000]
FLAGS = [0, uapi.MSG_PEEK, uapi.MSG_TRUNC, uapi.MSG_DONTWAIT, uapi.MSG_WAITALL, 0x2000, 0x1,
         uapi.MSG_SOCK_DEVMEM]  # 0x2000 MSG_ERRQUEUE, 0x1 MSG_OOB
SIZES = [0, 1, 7, 100, 1000, 4096, 65536, 1 << 24]
ANC = [0, 1, 16, 39, 40, 80000]
SEND = [1, 10, 1000, 3000]


def gen_program(choice, integer) -> dict:
    """A random program; ``choice(seq)`` and ``integer(lo, hi)`` are the source of randomness
    (hypothesis draws, or a seeded ``random.Random`` for the recorded corpus)."""
    kind = choice(KINDS)
    ops: list[list] = []
    for _ in range(integer(1, 8)):
        ops.append(_gen_op(kind, choice, integer))
    return {"kind": kind, "ops": ops}


def _flags(choice, integer) -> int:
    f = 0
    for _ in range(integer(0, 3)):
        f |= choice(FLAGS)
    return f


def _gen_op(kind: str, choice, integer) -> list:
    names = ["setsockopt", "getsockopt", "recv", "recvmsg", "settimeout", "setblocking",
             "close"]
    if kind != "udp":
        names += ["recvmsg_into", "recv_into", "shutdown"]
    if kind == "pair":
        names += ["peer_send", "peer_send", "peer_send", "peer_shutdown", "peer_close", "send"]
    name = choice(names)
    if name in ("setsockopt", "getsockopt"):
        level, opt = choice(KNOWN_OPTIONS + KNOWN_OPTIONS + OTHER_OPTIONS)
        if name == "getsockopt":
            return [name, level, opt, choice([0, 0, 1, 4, 8, 100])]
        mode = choice(["int", "int", "bytes", "null"])
        if mode == "int":
            return [name, level, opt, "int", choice(INT_VALUES)]
        if mode == "bytes":
            return [name, level, opt, "bytes", [choice([0, 1, 3, 4, 7, 8, 12, 16]),
                                                choice([0, 1, 255])]]
        return [name, level, opt, "null", choice([0, 1, 3, 4, 8, 12])]
    if name == "recv":
        return [name, choice(SIZES), _flags(choice, integer)]
    if name == "recvmsg":
        return [name, choice(SIZES), choice(ANC), _flags(choice, integer)]
    if name == "recvmsg_into":
        return [name, [choice([0, 1, 5, 100, 3000]) for _ in range(integer(0, 4))],
                choice(ANC), _flags(choice, integer)]
    if name == "recv_into":
        return [name, choice([0, 1, 100, 5000]), choice([0, 1, 50, 100, 6000]),
                _flags(choice, integer)]
    if name == "shutdown":
        return [name, choice([0, 1, 2, 3, -1])]
    if name == "settimeout":
        return [name, choice([None, 0.0, 0.05])]
    if name == "setblocking":
        return [name, choice([True, False])]
    if name in ("peer_send", "send"):
        return [name, choice(SEND)]
    return [name]


__all__ = ["HIDDEN_WAIT_S", "KINDS", "PEER_OPS", "gen_program", "payload",
           "run"]
