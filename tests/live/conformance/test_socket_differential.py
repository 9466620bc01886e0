"""Differential fuzzing: the same socket calls on an emulated socket and on this kernel.

Programs of generic socket calls (``tests/live/conformance/socket_ops.py``: set/getsockopt of
known and unknown options with in/out-of-range, short, long and NULL values; recv, recvmsg,
recvmsg_into, recv_into with flag combinations, zero and huge lengths, many buffers, small
control buffers; shutdown/close and calls after them; non-blocking and timeout modes; the
peer sending, shutting down, closing) must give the same outcome op by op.

* ``test_recorded_corpus`` replays ``socket_corpus_6_18.json`` (programs and a 6.18 kernel's
  answers) on the emulator: it runs everywhere (macOS, CI without Linux).
* ``test_live_differential`` (marked ``live``; Linux only) lets hypothesis generate programs
  and runs each on the emulator and on loopback sockets of this kernel. CI runs
  ``DEVMEM_DIFF_EXAMPLES`` examples (default 25); ``DEVMEM_DIFF_EXAMPLES=2000`` searches
  deeper.
* ``python -m tests.conformance.test_socket_differential --record N`` rewrites the corpus
  from N seeded programs on this kernel.

What cannot agree is listed once, in :data:`CANNOT_AGREE`, with the reason. A listed op must
*disagree* (a listed case that starts to agree fails, so the list stays true); comparison of
a program stops at its first listed op, since the two sides' states differ from there on.
"""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devmem_lab import prerequisites as pre

try:
    from . import socket_ops as so
except ImportError:  # run as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from conformance import socket_ops as so

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "socket_corpus_6_18.json")
SOL, TCP = socket.SOL_SOCKET, socket.IPPROTO_TCP
KINDS_ALL = so.KINDS

#: reason -> why the emulator differs from the kernel on purpose (the one list)
CANNOT_AGREE = {
    "unmodelled-option": (
        "options the kernel has and the lab does not model (SO_PRIORITY, TCP_KEEPIDLE, IP_TTL, "
        "IPV6_UNICAST_HOPS, UDP_CORK): the emulator says ENOPROTOOPT; it models only what "
        "devmem programs touch (devmem_lab/sockopts.py)"),
    "tcp-sndbuf-autotuning": (
        "SO_SNDBUF of a connection whose program never set it: the lab does not model "
        "send-buffer growth; Linux grows a connection's SO_SNDBUF (tcp_sndbuf_expand) from "
        "tcp_wmem[1]"),
    "link-mss": (
        "TCP_MAXSEG of a connection is its link's MSS: the lab's 1500-byte MTU link gives "
        "1448, loopback's 64 KiB MTU gives 32768 here"),
}
_UNMODELLED = {(SOL, 12): KINDS_ALL, (TCP, 4): ("pair", "tcp", "tcp6", "listen"),
               (socket.IPPROTO_IP, 2): KINDS_ALL, (socket.IPPROTO_IPV6, 16): ("tcp6",),
               (socket.IPPROTO_UDP, 1): ("udp",)}


def listed(program: dict, j: int) -> str | None:
    """The :data:`CANNOT_AGREE` key op ``j`` of ``program`` falls under, or None."""
    op = program["ops"][j]
    if op[0] not in ("setsockopt", "getsockopt"):
        return None
    key = (op[1], op[2])
    if program["kind"] in _UNMODELLED.get(key, ()):
        return "unmodelled-option"
    earlier = program["ops"][:j]
    never_set = not any(o[0] == "setsockopt" and (o[1], o[2]) == key for o in earlier)
    if op[0] == "getsockopt" and never_set and key == (SOL, socket.SO_SNDBUF) \
            and program["kind"] == "pair":
        return "tcp-sndbuf-autotuning"
    if op[0] == "getsockopt" and key == (TCP, 2) and program["kind"] == "pair":
        return "link-mss"
    return None


def compare(program: dict, emulated: list, kernel: list) -> tuple[str, int, str | None]:
    """``("agree" | "listed" | "DISAGREE" | "LISTED-BUT-AGREES", op index, list key)``."""
    for j, (a, b) in enumerate(zip(emulated, kernel)):
        key = listed(program, j)
        if key is not None:
            if a == b and not _listed_can_match(program, j, a):
                return "LISTED-BUT-AGREES", j, key
            return "listed", j, key
        if a != b:
            return "DISAGREE", j, None
    if len(emulated) != len(kernel):
        return "DISAGREE", min(len(emulated), len(kernel)), None
    return "agree", len(emulated), None


def _listed_can_match(program: dict, j: int, outcome: list) -> bool:
    """A listed op whose outcome is decided before the listed difference shows (closed socket,
    a Python-level refusal, the shared length checks) or a value cut to 1-3 bytes (the low
    bytes of two sizes can coincide): agreeing there is no news."""
    op = program["ops"][j]
    if op[0] == "getsockopt" and 0 < op[3] < 4:
        return True
    return outcome[0] in ("raised",) or outcome in (["error", "EBADF"], ["error", "EINVAL"],
                                                    ["error", "EFAULT"])


def _explain(program: dict, res: tuple, emulated: list, kernel: list) -> str:
    verdict, j, key = res
    ops = program["ops"][:j + 1]
    return (f"{verdict} at op {j} of {program['kind']} program {ops}: emulator "
            f"{emulated[j] if j < len(emulated) else None}, kernel "
            f"{kernel[j] if j < len(kernel) else None}" + (f" (listed: {key})" if key else ""))


# ---- everywhere: the recorded corpus --------------------------------------------------------
def _corpus() -> dict:
    with open(CORPUS) as f:
        return json.load(f)


def test_recorded_corpus():
    corpus = _corpus()
    seen = set()
    for entry in corpus["programs"]:
        program, kernel = entry["program"], entry["kernel"]
        emulated = so.run(program, emulated=True)
        res = compare(program, emulated, kernel)
        assert res[0] in ("agree", "listed"), _explain(program, res, emulated, kernel)
        if res[2]:
            seen.add(res[2])
    assert seen == set(CANNOT_AGREE), f"list entries no recorded program shows: " \
                                      f"{set(CANNOT_AGREE) - seen}"


def test_corpus_is_from_a_6_18_kernel_and_large_enough():
    corpus = _corpus()
    assert corpus["kernel"].startswith("6.18")
    assert len(corpus["programs"]) >= 300
    ops = sum(len(e["program"]["ops"]) for e in corpus["programs"])
    assert ops >= 1000


def test_a_listed_case_that_agrees_fails():
    program = {"kind": "pair", "ops": [["getsockopt", SOL, socket.SO_SNDBUF, 0]]}
    assert listed(program, 0) == "tcp-sndbuf-autotuning"
    assert compare(program, [["ok", 16384]], [["ok", 16384]])[0] == "LISTED-BUT-AGREES"
    assert compare(program, [["ok", 16384]], [["ok", 87040]])[0] == "listed"
    fresh = {"kind": "tcp", "ops": [["getsockopt", SOL, socket.SO_RCVBUF, 0]]}
    assert listed(fresh, 0) is None  # SO_RCVBUF is tcp_rmem[1] on both sides now
    plain = {"kind": "tcp", "ops": [["recv", 1, 0]]}
    assert compare(plain, [["error", "EAGAIN"]], [["error", "ENOTCONN"]])[0] == "DISAGREE"


# ---- Linux: hypothesis against this kernel ----------------------------------------------------
@st.composite
def programs(draw):
    return so.gen_program(lambda seq: draw(st.sampled_from(seq)),
                          lambda lo, hi: draw(st.integers(lo, hi)))


@pytest.mark.live
@pytest.mark.needs(pre.LINUX)  # elsewhere the recorded corpus stands in
@settings(max_examples=int(os.environ.get("DEVMEM_DIFF_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow], derandomize="CI" in os.environ)
@given(program=programs())
def test_live_differential(program):
    emulated = so.run(program, emulated=True)
    kernel = so.run(program, emulated=False)
    res = compare(program, emulated, kernel)
    assert res[0] in ("agree", "listed"), _explain(program, res, emulated, kernel)


# ---- recording ---------------------------------------------------------------------------------
DEVMEM, WAITALL, PEEK = so.uapi.MSG_SOCK_DEVMEM, so.uapi.MSG_WAITALL, so.uapi.MSG_PEEK
DONTWAIT = so.uapi.MSG_DONTWAIT
#: hand-written programs recorded ahead of the seeded ones: one per list entry, and the cases
#: this fuzzer found and the emulator was fixed for
PINNED = [
    {"kind": "pair", "ops": [["getsockopt", TCP, 2, 0]]},
    {"kind": "tcp", "ops": [["getsockopt", SOL, 8, 0], ["setsockopt", SOL, 8, "int", 1 << 20],
                            ["getsockopt", SOL, 8, 0], ["setsockopt", SOL, 8, "int", -1],
                            ["getsockopt", SOL, 8, 0], ["setsockopt", SOL, 8, "int", 1],
                            ["getsockopt", SOL, 8, 4]]},
    {"kind": "udp", "ops": [["getsockopt", SOL, 8, 0], ["getsockopt", SOL, 7, 0],
                            ["setsockopt", socket.IPPROTO_UDP, 1, "int", 1]]},
    {"kind": "tcp6", "ops": [["setsockopt", SOL, 12, "int", 3], ["getsockopt", SOL, 12, 0]]},
    {"kind": "pair", "ops": [["peer_send", 1000], ["settimeout", 0.05],
                             ["recv", 4096, WAITALL], ["recv", 10, 0]]},
    {"kind": "pair", "ops": [["shutdown", 0], ["recv", 100, 0], ["peer_send", 10],
                             ["recv", 100, 0]]},
    {"kind": "pair", "ops": [["peer_send", 10], ["recv", 10, 0x2000], ["recv", 10, 0x1],
                             ["recvmsg", 0, 0, 0], ["recv", 10, DEVMEM | PEEK], ["recv", 10, 0]]},
    {"kind": "tcp", "ops": [["recv", 1, 0x2000], ["recv", 1, 0x1], ["recv", 0, 0],
                            ["recvmsg", 0, 0, 0], ["shutdown", 3], ["shutdown", 0],
                            ["recv", 10, 0], ["close"], ["recv_into", 0, 0, 0],
                            ["settimeout", 0.0]]},
    {"kind": "tcp", "ops": [["setsockopt", SOL, 80, "null", 12],
                            ["setsockopt", SOL, 80, "null", 3], ["setsockopt", SOL, 80, "bytes",
                                                                 [12, 0]]]},
    {"kind": "listen", "ops": [["shutdown", 1], ["recv", 1, 0], ["settimeout", 0.05],
                               ["recv", 1, 0], ["shutdown", 0], ["recv", 1, 0]]},
    {"kind": "pair", "ops": [["peer_close"], ["send", 10], ["send", 1000]]},
    {"kind": "pair", "ops": [["close"], ["peer_shutdown"], ["peer_shutdown"], ["peer_send", 10]]},
    {"kind": "pair", "ops": [["peer_shutdown"], ["close"], ["peer_shutdown"], ["peer_send", 1]]},
    {"kind": "pair", "ops": [["setsockopt", SOL, 18, "int", 2], ["peer_send", 1],
                             ["recv", 7, DONTWAIT], ["peer_send", 1], ["recv", 7, 0]]},
    {"kind": "pair", "ops": [["setsockopt", SOL, 18, "int", 2], ["peer_send", 1],
                             ["recv", 7, 0]]},
]

def record(n: int, seed: int = 20251201) -> dict:
    """Run ``n`` seeded programs on this kernel; the corpus ``test_recorded_corpus`` replays."""
    rng = random.Random(seed)
    progs = PINNED + [so.gen_program(rng.choice, rng.randint) for _ in range(n)]
    return {"kernel": platform.release(), "machine": platform.machine(),
            "how": f"python tests/live/conformance/test_socket_differential.py --record {n} "
                   f"(PINNED + {n} programs of seed {seed}) as root on loopback",
            "programs": [{"program": p, "kernel": so.run(p, emulated=False)} for p in progs]}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--record":
        data = record(int(sys.argv[2]))
        with open(CORPUS, "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {len(data['programs'])} programs to {CORPUS}")
    else:
        print(__doc__)
