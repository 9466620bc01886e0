"""Each exercise check accepts its solution, rejects the stub and a typical wrong answer.

The verdicts are the printed lines of ``Exercise.check`` (devmem_lab/teach/check.py): exactly
one line, ``correct``, ``not attempted yet`` or ``not yet``; ``check`` never raises.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from devmem_lab import uapi
from devmem_lab.netlink import wire
from devmem_lab.teach import Exercise, binding, capstone, cmsg, recvmsg, steering, tokens, transmit

LESSONS = {"binding": binding, "steering": steering, "recvmsg": recvmsg, "cmsg": cmsg,
           "tokens": tokens, "capstone": capstone, "transmit": transmit}
EXERCISES = [(name, q) for name, mod in LESSONS.items()
             for q in ("q1", "q2", "q3") if hasattr(mod, q)]


def verdict_of(capsys, ex: Exercise, fn) -> str:
    ex.check(fn)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, f"one line expected, got {out!r}"
    return out.strip()


def solution_fn(ex: Exercise):
    """Run the exercise's solution text as a learner would paste it; return its function."""
    ns = {"errno": errno, "struct": struct, "socket": socket, "uapi": uapi, "wire": wire}
    exec(compile(ex.solution_code, f"<{ex.label} solution>", "exec"), ns)  # noqa: S102
    fns = [v for k, v in ns.items() if callable(v) and getattr(v, "__module__", "") is None
           and not k.startswith("_")]
    names = [line.split("(")[0][4:] for line in ex.solution_code.splitlines()
             if line.startswith("def ")]
    return ns[names[-1]] if names else fns[-1]


def stub(*_args):
    raise NotImplementedError("exercise: your code here")


@pytest.mark.parametrize(("lesson", "q"), EXERCISES)
def test_reference_is_correct(capsys, lesson, q):
    ex = getattr(LESSONS[lesson], q)
    assert "correct on" in verdict_of(capsys, ex, ex.reference)


@pytest.mark.parametrize(("lesson", "q"), EXERCISES)
def test_solution_text_is_correct(capsys, lesson, q):
    ex = getattr(LESSONS[lesson], q)
    assert ex.solution_code.strip()
    if lesson == "cmsg" and q == "q2":  # its solution builds on the learner's q1 function
        ns_fn = solution_fn(cmsg.q1)
        globals_needed = {"unpack_cmsg": ns_fn}
        ns = {"struct": struct, "uapi": uapi, **globals_needed}
        exec(cmsg.q2.solution_code, ns)  # noqa: S102
        fn = ns["parse_for_arch"]
    elif lesson == "tokens" and q == "q2":
        ns = {"struct": struct, "uapi": uapi, "coalesce": solution_fn(tokens.q1)}
        exec(tokens.q2.solution_code, ns)  # noqa: S102
        fn = ns["dontneed_batches"]
    else:
        fn = solution_fn(ex)
    assert "correct on" in verdict_of(capsys, ex, fn)


@pytest.mark.parametrize(("lesson", "q"), EXERCISES)
def test_stub_is_not_attempted(capsys, lesson, q):
    ex = getattr(LESSONS[lesson], q)
    assert verdict_of(capsys, ex, stub) == (
        f"{q}: not attempted yet - replace the raise line with your code")


# ---- one typical wrong answer per exercise ---------------------------------------------------
def _attr(atype, payload):
    return struct.pack("=HH", 4 + len(payload), atype) + payload + bytes(-len(payload) % 4)


def bind_no_nested_flag(ifindex, fd, queues):
    out = _attr(1, struct.pack("=I", ifindex)) + _attr(3, struct.pack("=I", fd))
    for q in queues:
        out += _attr(2, _attr(1, struct.pack("=I", q)) + _attr(3, struct.pack("=I", 0)))
    return out


def answer_negative_errno(datagram):
    for m in wire.iter_msgs(datagram):
        if m.type == wire.NLMSG_ERROR:
            ext = wire.parse_error(m)
            return ext.error, ext.msg
    return 0, None


def setup_without_hds_thresh(ifname, queue, dst_ip, dst_port):
    return [f"-G {ifname} tcp-data-split on", f"-K {ifname} ntuple on",
            f"-X {ifname} equal {queue}",
            f"-N {ifname} flow-type tcp6 dst-ip {dst_ip} dst-port {dst_port} action {queue}"]


def count_all_as_dmabuf(data, ancdata):
    return 0, len(data)


def ancbuf_without_headers(frags):
    return frags * uapi.DMABUF_CMSG_SIZE


def unpack_without_length_check(data):
    return struct.unpack("=QIIII", data)


def parse_hardcoded_x86(ancdata, arch):
    kinds = {79: "dmabuf", 78: "linear"}
    out = []
    for level, ctype, data in ancdata:
        if ctype not in kinds:
            raise ValueError("not devmem")
        out.append((kinds[ctype], cmsg.unpack_cmsg(data)))
    return out


def reassemble_ignoring_linear(data, cmsgs, dmabuf):
    return b"".join(dmabuf[c.frag_offset:c.frag_offset + c.frag_size] for _k, c in cmsgs)


def recv_growing_618_only(conn, bufsize):
    room = 0
    while True:
        try:
            data, anc, _f, _a = conn.recvmsg(bufsize, room, uapi.MSG_SOCK_DEVMEM)
            return len(data), len(anc), room
        except OSError as e:
            if e.errno != uapi.ETOOSMALL:
                raise
            room = max(socket.CMSG_LEN(24), 2 * room)


def coalesce_sorted(toks):
    return tokens.coalesce(sorted(toks))


def one_big_batch(toks):
    return [uapi.pack_tokens(toks)] if toks else []


def expected_off_by_one(offset, n, v):
    return bytes(((offset + i) % v) or 10 for i in range(n))


def receive_keeping_tokens(conn, dmabuf, binding_id):
    out = bytearray()
    while True:
        data, anc, _f, _a = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)
        if not data:
            return bytes(out)
        pos = 0
        for kind, c in uapi.parse_cmsgs(anc):
            if kind == "linear":
                out += data[pos:pos + c.frag_size]
                pos += c.frag_size
            else:
                out += dmabuf[c.frag_offset:c.frag_offset + c.frag_size]


def ancdata_with_struct_pack_q(dmabuf_id):  # a u64 id: cmsg_len CMSG_LEN(8), EINVAL
    return [(socket.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, struct.pack("=Q", dmabuf_id))]


def free_if_last_call_done(nregions, sends, completions):  # forgets older calls
    done = {c for lo, hi in completions for c in range(lo, hi + 1)}
    last = {region: call for call, region in enumerate(sends)}
    return [r for r in range(nregions) if r not in last or last[r] in done]


WRONG = {
    ("binding", "q1"): (bind_no_nested_flag, "not yet - bind_no_nested_flag(2, 7, [15])"),
    ("binding", "q2"): (answer_negative_errno, "gave (-22, 'tcp-data-split is disabled')"),
    ("steering", "q1"): (setup_without_hds_thresh, "'bind': 'EINVAL: hds-thresh is not zero'"),
    ("recvmsg", "q1"): (count_all_as_dmabuf, "count_all_as_dmabuf(b'plain bytes', [])"),
    ("recvmsg", "q2"): (ancbuf_without_headers, "gave 24, expected 40"),
    ("recvmsg", "q3"): (recv_growing_618_only, ("recv_growing_618_only(<kernel 6.12, 5712 devmem "
                                               "bytes queued>, bufsize=819200) raised")),
    ("cmsg", "q1"): (unpack_without_length_check, ("raised struct.error, expected raising "
                                                  "ValueError")),
    ("cmsg", "q2"): (parse_hardcoded_x86, "'sparc64')"),
    ("cmsg", "q3"): (reassemble_ignoring_linear, "reassemble_ignoring_linear(b'GET /x', [], "),
    ("tokens", "q1"): (coalesce_sorted, ("coalesce_sorted([3, 2]) gave [(2, 2)], expected "
                                        "[(3, 1), (2, 1)]")),
    ("tokens", "q2"): (one_big_batch, "gave [<300 ranges, 300 tokens>]"),
    ("capstone", "q1"): (expected_off_by_one, "expected_off_by_one(0, 14, 7)"),
    ("capstone", "q2"): (receive_keeping_tokens, "'tokens_left': 15}, expected"),
    ("transmit", "q1"): (ancdata_with_struct_pack_q, "ancdata_with_struct_pack_q(1,) gave"),
    ("transmit", "q2"): (free_if_last_call_done, "free_if_last_call_done(3, [2, 2, 2]"),
}


def test_every_exercise_has_a_wrong_answer():
    assert set(WRONG) == set(EXERCISES)


@pytest.mark.parametrize(("lesson", "q"), EXERCISES)
def test_typical_wrong_answer_is_not_yet(capsys, lesson, q):
    fn, needle = WRONG[(lesson, q)]
    line = verdict_of(capsys, getattr(LESSONS[lesson], q), fn)
    assert line.startswith(f"{q}: not yet - "), line
    assert needle in line, line


# ---- the check API itself ----------------------------------------------------------------
def test_forgotten_return_is_named(capsys):
    def coalesce(toks):
        tokens.coalesce(toks)

    line = verdict_of(capsys, tokens.q1, coalesce)
    assert "returned None (did you forget `return`?)" in line


def test_learner_exception_becomes_a_verdict(capsys):
    def broken(toks):
        return toks[10**6]

    assert "raised IndexError" in verdict_of(capsys, tokens.q1, broken)


def test_check_rejects_a_non_function(capsys):
    assert "pass the function itself" in verdict_of(capsys, tokens.q1, [(1, 2)])


def test_learner_cannot_mutate_the_cases(capsys):
    def destructive(toks):
        result = tokens.coalesce(toks)
        toks.clear()
        return result

    assert "correct on" in verdict_of(capsys, tokens.q1, destructive)
    assert tokens.q1.cases[0] == ([7, 8, 9, 12],)


def test_hints_and_solution(capsys):
    tokens.q1.hint()
    out = capsys.readouterr().out
    assert out.startswith("q1 hint 1/2:") and "q1.hint(2)" in out
    tokens.q1.hint(2)
    assert "that was the last hint" in capsys.readouterr().out
    tokens.q1.hint(99)
    assert capsys.readouterr().out.startswith("q1 hint 2/2:")
    tokens.q1.solution()
    assert "def coalesce" in capsys.readouterr().out


def test_verdict_without_printing():
    assert tokens.q1.verdict(tokens.coalesce)[0] == "correct"
    assert tokens.q1.verdict(stub)[0] == "not attempted"
    assert tokens.q1.verdict(coalesce_sorted)[0] == "not yet"


def test_each_exercise_has_three_cases_and_a_hint():
    for lesson, q in EXERCISES:
        ex = getattr(LESSONS[lesson], q)
        assert len(ex.cases) >= 3, (lesson, q)
        assert ex.hints, (lesson, q)
