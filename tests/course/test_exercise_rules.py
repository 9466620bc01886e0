"""Every rule an exercise states is tested by its own check: a wrong answer that breaks that
rule alone gets "not yet", with a message that says what was expected and why.

One wrong answer per rule, each a small change to a right answer. Rules that no input of the
exercise can tell apart are listed in ``VACUOUS`` with the reason.
"""

from __future__ import annotations

import socket
import struct

import pytest

from devmem_lab import uapi
from devmem_lab.netlink import wire
from devmem_lab.teach import binding, capstone, cmsg, recvmsg, steering, tokens
from devmem_lab.teach.grade.hidden import HIDDEN


# ---- 1.1 bind_rx_attrs -------------------------------------------------------------------
def _attr(atype, payload):
    return struct.pack("=HH", 4 + len(payload), atype) + payload + bytes(-len(payload) % 4)


def _bind(ifindex, fd, queues, *, order=("if", "fd"), one_nest=False, nested=True,
          inner=("id", "type"), qtype=0, empty_nest=False):
    u = lambda v: struct.pack("=I", v)
    first = {"if": _attr(1, u(ifindex)), "fd": _attr(3, u(fd))}
    out = first[order[0]] + first[order[1]]
    flag = 0x8000 if nested else 0
    parts = {"id": lambda q: _attr(1, u(q)), "type": lambda q: _attr(3, u(qtype))}
    if one_nest:
        body = b"".join(parts[inner[0]](q) + parts[inner[1]](q) for q in queues)
        return out + (_attr(2 | flag, body) if queues or empty_nest else b"")
    for q in queues:
        out += _attr(2 | flag, parts[inner[0]](q) + parts[inner[1]](q))
    if not queues and empty_nest:
        out += _attr(2 | flag, b"")
    return out


# ---- 1.2 decode_answer -------------------------------------------------------------------
def _decode(datagram, *, positive=True, empty_msg=None, always_capped=False,
            strict_len=True):
    pos = 0
    while pos < len(datagram):
        if len(datagram) - pos < 16:
            if not strict_len:
                return 0, None
            raise ValueError("truncated")
        length, mtype, flags, _s, _p = struct.unpack_from("=IHHII", datagram, pos)
        if length < 16 or pos + length > len(datagram):
            if not strict_len:
                return 0, None
            raise ValueError("truncated")
        if mtype == wire.NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", datagram, pos + 16)
            if always_capped or flags & wire.NLM_F_CAPPED:
                body = pos + 36
            else:
                (req_len,) = struct.unpack_from("=I", datagram, pos + 20)
                body = pos + 20 + ((req_len + 3) & ~3)
            msg = empty_msg
            if flags & wire.NLM_F_ACK_TLVS:
                while body + 4 <= pos + length:
                    alen, atype = struct.unpack_from("=HH", datagram, body)
                    if atype == wire.NLMSGERR_ATTR_MSG:
                        msg = datagram[body + 4:body + alen].split(b"\0")[0].decode()
                    body += (alen + 3) & ~3
            return (-error if positive else error), msg
        pos += (length + 3) & ~3
    return 0, None


# ---- 2.1 devmem_setup --------------------------------------------------------------------
def _setup(ifname, queue, ip, port, *, drop=None, rss=None, flow="tcp6", rule_port=None):
    lines = {"G": f"-G {ifname} tcp-data-split on hds-thresh 0", "K": f"-K {ifname} ntuple on",
             "X": f"-X {ifname} equal {queue if rss is None else rss(queue)}",
             "N": (f"-N {ifname} flow-type {flow} dst-ip {ip} dst-port "
                   f"{port if rule_port is None else rule_port(port)} action {queue}")}
    if drop == "split":
        lines["G"] = f"-G {ifname} hds-thresh 0"
    return [v for k, v in lines.items() if k != drop]


# ---- 3.1 / 3.2 -----------------------------------------------------------------------------
def _count(data, ancdata, *, ordinary_all_linear=True, add_check=True, parse=True):
    if parse:
        cmsgs = uapi.parse_cmsgs(ancdata)
    else:
        cmsgs = []
        for _lvl, typ, d in ancdata:
            if len(d) == 24:
                cmsgs.append(("dmabuf" if typ == 79 else "linear", uapi.DmabufCmsg.unpack(d)))
    if not cmsgs:
        return (len(data), 0) if ordinary_all_linear else (0, 0)
    lin = sum(c.frag_size for k, c in cmsgs if k == "linear")
    dma = sum(c.frag_size for k, c in cmsgs if k == "dmabuf")
    if add_check and lin + dma != len(data):
        raise ValueError("sizes")
    return lin, dma


# ---- 4.x ------------------------------------------------------------------------------------
def _unpack(data, *, check=True, fmt="=QIIII", as_list=False):
    if check and len(data) != 24:
        raise ValueError("len")
    if not check:
        data = bytes(data[:24]).ljust(24, b"\0")
    v = struct.unpack(fmt, data)
    return list(v) if as_list else v


def _parse(ancdata, arch, *, use_arch=True, check_level=True, names=("dmabuf", "linear")):
    abi = uapi.for_arch(arch if use_arch else "x86_64")
    kinds = {abi.SCM_DEVMEM_DMABUF: names[0], abi.SCM_DEVMEM_LINEAR: names[1]}
    out = []
    for level, ctype, data in ancdata:
        if (check_level and level != abi.SOL_SOCKET) or ctype not in kinds:
            raise ValueError("not devmem")
        out.append((kinds[ctype], cmsg.unpack_cmsg(data)))
    return out


def _reasm(data, cmsgs, dmabuf, *, advance=True, ordinary=True):
    if not cmsgs and ordinary:
        return bytes(data)
    out, pos = bytearray(), 0
    for kind, c in cmsgs:
        if kind == "linear":
            out += data[pos:pos + c.frag_size]
            pos += c.frag_size if advance else 0
        else:
            out += dmabuf[c.frag_offset:c.frag_offset + c.frag_size]
    return bytes(out)


# ---- 5.x ------------------------------------------------------------------------------------
def _coalesce(toks, *, keep_order=True, repeat_new=True, as_lists=False):
    seq = toks if keep_order else sorted(toks)
    ranges = []
    for t in seq:
        if ranges and ranges[-1][0] + ranges[-1][1] == t:
            ranges[-1][1] += 1
        elif ranges and not repeat_new and ranges[-1][0] + ranges[-1][1] - 1 == t:
            continue
        else:
            ranges.append([t, 1])
    return [list(r) for r in ranges] if as_lists else [tuple(r) for r in ranges]


def _batches(toks, *, max_ranges=128, max_tokens=1024, split=True, empty_call=False):
    values, cur, room = [], [], max_tokens
    for start, count in tokens.coalesce(toks):
        if not split and count > room and cur:
            values.append(uapi.pack_tokens([uapi.DmabufToken(*r) for r in cur]))
            cur, room = [], max_tokens
        while count:
            if len(cur) == max_ranges or room == 0:
                values.append(uapi.pack_tokens([uapi.DmabufToken(*r) for r in cur]))
                cur, room = [], max_tokens
            take = min(count, room) if split else count
            cur.append((start, take))
            start, count, room = start + take, count - take, room - take
    if cur or empty_call:
        values.append(uapi.pack_tokens([uapi.DmabufToken(*r) for r in cur]))
    return values


# ---- 8.x ------------------------------------------------------------------------------------
def _expected(offset, n, v, *, use_offset=True, newline=True, plus_one=True):
    base = offset if use_offset else 0
    vals = [(base + i + (1 if plus_one else 0)) % v for i in range(n)]
    return bytes((x or 10) if newline else x for x in vals)


def _receive(conn, dmabuf, binding_id, *, flag=True, stop=True, linear=True, check_id=True,
             check_steer=True, dontneed=True, at_end=False):
    out, held = bytearray(), []
    for _ in range(10_000 if stop else 50):
        data, anc, _f, _a = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM if flag else 0)
        if not data and stop:
            break
        cmsgs = uapi.parse_cmsgs(anc)
        if not cmsgs and check_steer and data:
            raise ValueError("no devmem cmsg")
        pos, toks = 0, []
        for kind, c in cmsgs:
            if kind == "linear":
                if linear:
                    out += data[pos:pos + c.frag_size]
                pos += c.frag_size
            elif check_id and c.dmabuf_id != binding_id:
                raise ValueError("other binding")
            else:
                out += dmabuf[c.frag_offset:c.frag_offset + c.frag_size]
                toks.append(c.frag_token)
        if not cmsgs:
            out += data
        if toks and dontneed and not at_end:
            conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, uapi.pack_tokens(toks))
        held += toks
    if at_end and held:
        conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, uapi.pack_tokens(held))
    return bytes(out)


def _w(fn, **kw):
    def wrong(*args):
        return fn(*args, **kw)
    return wrong


RULES = [  # (exercise, rule, wrong answer, words the verdict must contain)
    (binding.q1, "ifindex, then fd", _w(_bind, order=("fd", "if")), "expected"),
    (binding.q1, "one queues nest per queue", _w(_bind, one_nest=True), "expected"),
    (binding.q1, "NLA_F_NESTED on the nest", _w(_bind, nested=False), "expected"),
    (binding.q1, "queue id, then its type", _w(_bind, inner=("type", "id")), "expected"),
    (binding.q1, "the type is rx (0)", _w(_bind, qtype=1), "expected"),
    (binding.q1, "no queues, no nest", _w(_bind, empty_nest=True), "expected"),
    (binding.q2, "positive errno", _w(_decode, positive=False), "expected (22,"),
    (binding.q2, "None without a message", _w(_decode, empty_msg=""), "expected (0, None)"),
    (binding.q2, "NLM_F_CAPPED: only the header echoed", _w(_decode, always_capped=True),
     "expected (34, 'rx queue index out of range')"),
    (binding.q2, "truncated: ValueError", _w(_decode, strict_len=False), "raising ValueError"),
    (steering.q1, "tcp-data-split on", _w(_setup, drop="split"), "tcp-data-split"),
    (steering.q1, "ntuple filters on", _w(_setup, drop="K"), "'error': 'ethtool -N"),
    (steering.q1, "RSS on the queues below", _w(_setup, drop="X"), "'others_off_queue': False"),
    (steering.q1, "RSS equal queue, not queue + 1", _w(_setup, rss=lambda q: q + 1),
     "'others_off_queue': False"),
    (steering.q1, "an ntuple rule for the flow", _w(_setup, drop="N"), "'flow_on_queue': False"),
    (steering.q1, "the rule names the port", _w(_setup, rule_port=lambda p: p + 1),
     "'flow_on_queue': False"),
    (steering.q1, "TCP over IPv6", _w(_setup, flow="tcp4"), "expected"),
    (recvmsg.q1, "an ordinary read is all linear", _w(_count, ordinary_all_linear=False),
     "gave (0, 0), expected (11, 0)"),
    (recvmsg.q1, "ValueError when sizes do not add up", _w(_count, add_check=False),
     "raising ValueError"),
    (recvmsg.q1, "ValueError for a non-devmem or truncated cmsg", _w(_count, parse=False),
     "raising ValueError"),
    (recvmsg.q2, "no fragments, no buffer", lambda n: 40 * n if n > 0 else 40, "expected 0"),
    (recvmsg.q2, "CMSG_SPACE per cmsg, not the bare struct", lambda n: 24 * max(n, 0),
     "expected 40"),
    (recvmsg.q2, "socket.CMSG_* so that 32-bit hosts are right",
     lambda n: 40 * max(n, 0), "on a 32-bit host"),
    (cmsg.q1, "exactly 24 bytes, else ValueError", _w(_unpack, check=False),
     "raising ValueError"),
    (cmsg.q1, "frag_offset is a u64", _w(_unpack, fmt="=IIIII", check=False), "expected"),
    (cmsg.q1, "a tuple of five fields", _w(_unpack, as_list=True), "tuples, not lists"),
    (cmsg.q2, "the numbers of arch", _w(_parse, use_arch=False), "sparc64"),
    (cmsg.q2, "SOL_SOCKET level only", _w(_parse, check_level=False), "raising ValueError"),
    (cmsg.q2, "kinds named dmabuf / linear", _w(_parse, names=("DMABUF", "LINEAR")), "expected"),
    (cmsg.q3, "linear bytes advance through data", _w(_reasm, advance=False), "expected"),
    (cmsg.q3, "no cmsg: data is the payload", _w(_reasm, ordinary=False), "expected b'GET /x'"),
    (tokens.q1, "consecutive tokens join", lambda t: [(x, 1) for x in t], "consecutive"),
    (tokens.q1, "order kept", _w(_coalesce, keep_order=False), "order"),
    (tokens.q1, "a repeated token starts a new range", _w(_coalesce, repeat_new=False),
     "repeated token"),
    (tokens.q1, "(start, count) tuples", _w(_coalesce, as_lists=True), "tuples, not lists"),
    (tokens.q2, "at most 128 ranges", _w(_batches, max_ranges=10**6), "128"),
    (tokens.q2, "at most 1024 tokens", _w(_batches, max_tokens=10**6), "1024"),
    (tokens.q2, "a range that does not fit is split", _w(_batches, split=False), "split"),
    (tokens.q2, "no tokens, no call", _w(_batches, empty_call=True), "[]"),
    (capstone.q1, "from offset", _w(_expected, use_offset=False), "offset + i"),
    (capstone.q1, "0 is sent as 0x0a", _w(_expected, newline=False), "06 0a"),
    (capstone.q1, "byte i expects (i + 1) % v", _w(_expected, plus_one=False), "expected"),
    (capstone.q2, "MSG_SOCK_DEVMEM", _w(_receive, flag=False), "raised"),
    (capstone.q2, "linear bytes from the front of data", _w(_receive, linear=False),
     "first 100 payload bytes are linear"),
    (capstone.q2, "a fragment of another binding: ValueError", _w(_receive, check_id=False),
     "not the id passed in"),
    (capstone.q2, "no devmem cmsg: ValueError", _w(_receive, check_steer=False),
     "flow steering error"),
    (capstone.q2, "tokens back after every read", _w(_receive, at_end=True), "runs dry"),
    (capstone.q2, "tokens back at all", _w(_receive, dontneed=False), "every token returned"),
]

#: rules no input can break alone, and why
VACUOUS = {
    "1.1 pad each attribute to 4 bytes": "every payload is a u32: no attribute needs padding",
    "1.2 NLM_F_ACK_TLVS: extack attributes follow": ("without the flag the kernel sends "
                                                     "nothing after the echoed request"),
    "3.2 the last cmsg needs only CMSG_LEN(24)": ("CMSG_LEN(24) == CMSG_SPACE(24) on every "
                                                 "Linux ABI: 24 is a multiple of the alignment"),
    "8.2 an empty read means the peer closed": "a loop that reads on past it never returns",
}


@pytest.mark.parametrize(("ex", "rule", "wrong", "needle"), RULES,
                         ids=[f"{r[0].reference.__name__}: {r[1]}" for r in RULES])
def test_breaking_one_rule_fails_the_check(ex, rule, wrong, needle):
    verdict, message = ex.verdict(wrong)
    assert verdict == "not yet", (rule, message)
    assert needle in message, (rule, message)
    assert ", expected " in message


def test_every_exercise_has_rules_pinned():
    pinned = {r[0].reference.__name__ for r in RULES}
    assert pinned == {"bind_rx_attrs", "decode_answer", "devmem_setup", "count_bytes",
                      "ancbuf_for", "unpack_cmsg", "parse_for_arch", "reassemble", "coalesce",
                      "dontneed_batches", "expected", "receive"}


@pytest.mark.parametrize("ex", [binding.q1, binding.q2, steering.q1, recvmsg.q1, recvmsg.q2,
                                cmsg.q1, cmsg.q2, cmsg.q3, tokens.q1, tokens.q2, capstone.q1,
                                capstone.q2], ids=lambda e: e.reference.__name__)
def test_every_case_says_why(ex):
    assert all(why for why, _hint in ex.notes), ex
    assert all(0 <= hint <= len(ex.hints) for _why, hint in ex.notes)


def test_hidden_cases_say_why_and_differ_from_the_visible_ones():
    from devmem_lab.teach.grade.registry import EXERCISES

    for ex_id, cases in HIDDEN.items():
        ex = EXERCISES[ex_id].exercise
        assert cases and all(c.why for c in cases), ex_id
        assert not {repr(c.args) for c in cases} & {repr(a) for a in ex.cases}, ex_id
