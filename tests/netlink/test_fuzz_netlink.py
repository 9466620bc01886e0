"""Fuzz the emulated generic-netlink socket with random and mutated wire bytes (hypothesis).

Datagrams are built from random message and attribute trees (netdev and nlctrl commands,
random types and flag bits, nesting, payloads that are real ifindexes, queue ids and dma-buf
fds or random bytes), then mutated (truncated, bytes overwritten, a length field rewritten,
junk appended), or are plain random bytes. Properties:

- ``send``/``recv`` raise nothing but ``OSError`` (``NetlinkError`` is one) with a real errno;
- every reply parses (``nlmsghdr`` lengths, ``NLMSG_ERROR``/``NLMSG_DONE`` with a real errno,
  extack offsets inside the request they point into);
- the kernel's state stays consistent: each binding is bound, owned by one open netlink
  socket, installed on exactly its queues; each rx queue's page pool has the queue's provider;
  the netdev ``queue-get`` dump reports the same bindings; closing a socket unbinds all it
  made; and afterwards a devmem flow still binds and carries data.

CI runs a fixed, derandomized set of examples; ``DEVMEM_FUZZ_EXAMPLES=5000`` runs that many
random ones instead (a deeper search, e.g. before a release).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

import pytest
from conftest import connect, steer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devmem_lab import Lab, uapi
from devmem_lab.kernel.devmem_tx import is_tx
from devmem_lab.netlink import family as fam
from devmem_lab.netlink import wire
from devmem_lab.uapi import parse_cmsgs
from devmem_lab.ynl import Netdev

DEEP = os.environ.get("DEVMEM_FUZZ_EXAMPLES")  # unset in CI: a fixed, derandomized run
# a fixed run takes seconds; one that hangs or shrinks for minutes fails (pytest-timeout)
pytestmark = pytest.mark.timeout(0 if DEEP else 120)
FUZZ = settings(max_examples=int(DEEP or 150), derandomize=DEEP is None, deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NETDEV = fam.NETDEV_FAMILY_ID
U32 = struct.Struct("=I")
IFINDEX = 2  # eth1

# ---- message trees ----------------------------------------------------------------------------
# A payload is bytes, or ("fd", which) resolved per example to a real fd number.
fd_refs = st.sampled_from([("fd", "dmabuf"), ("fd", "dmabuf2"), ("fd", "accel"), ("fd", "nl")])
u32_values = st.sampled_from([0, 1, IFINDEX, 3, 14, 15, 16, 17, 0x7FFFFFFF, 0x80000000,
                              0xFFFFFFFF]).map(U32.pack)
payloads = st.one_of(u32_values, u32_values, fd_refs, st.binary(max_size=12),
                     st.sampled_from([b"netdev\0", b"nlctrl\0", b"netdev", struct.pack("=Q", 1)]))
attr_types = st.one_of(st.integers(0, 8), st.integers(0, 0xFFFF))
flag_bits = st.sampled_from([0, 0, wire.NLA_F_NESTED, wire.NLA_F_NET_BYTEORDER])

attr_trees = st.recursive(
    st.tuples(st.just("leaf"), attr_types, flag_bits, payloads),
    lambda children: st.tuples(st.just("nest"), attr_types,
                               st.sampled_from([wire.NLA_F_NESTED, wire.NLA_F_NESTED, 0]),
                               st.lists(children, max_size=4)),
    max_leaves=8)


def queue_nest(qid, qtype=0):
    return ("nest", 2, wire.NLA_F_NESTED, [("leaf", 1, 0, U32.pack(qid)),
                                           ("leaf", 3, 0, U32.pack(qtype))])


# near-valid bind-rx bodies: the handler's deeper checks are reached, not just the parser
bind_rx_attrs = st.tuples(
    st.sampled_from([IFINDEX, IFINDEX, 1, 3]),
    st.sampled_from([("fd", "dmabuf"), ("fd", "dmabuf"), ("fd", "dmabuf2"), ("fd", "accel"),
                     ("fd", "nl")]),
    st.lists(st.tuples(st.sampled_from([15, 15, 14, 0, 16, 99]), st.sampled_from([0, 0, 0, 1])),
             min_size=1, max_size=3),
).map(lambda t: [("leaf", 1, 0, U32.pack(t[0])), ("leaf", 3, 0, t[1])]
      + [queue_nest(q, ty) for q, ty in t[2]])

REQ, ACK, DUMP = wire.NLM_F_REQUEST, wire.NLM_F_ACK, wire.NLM_F_DUMP
some_u32 = st.one_of(u32_values, st.integers(0, 40).map(U32.pack))


def leaf(atype, values=some_u32):
    return values.map(lambda v: ("leaf", atype, 0, v))


def some_of(*leaves):
    return st.tuples(*leaves).flatmap(
        lambda ls: st.lists(st.sampled_from(ls), unique=True, max_size=len(ls)))


# near-valid requests of every netdev op and of nlctrl, so handlers run, not only the parser
bind_rx = st.tuples(st.just("netdev"), st.just(13), st.sampled_from([REQ | ACK, REQ]),
                    bind_rx_attrs)
ops = st.one_of(
    bind_rx, bind_rx, bind_rx,
    st.tuples(st.just("netdev"), st.just(1), st.sampled_from([REQ | ACK, REQ | DUMP]),
              some_of(leaf(1))),  # dev-get
    st.tuples(st.just("netdev"), st.just(10), st.sampled_from([REQ | ACK, REQ | DUMP]),
              some_of(leaf(1), leaf(2), leaf(3))),  # queue-get
    st.tuples(st.just("netdev"), st.just(5), st.sampled_from([REQ | ACK, REQ | DUMP]),
              some_of(leaf(1), leaf(1, st.integers(0, 40).map(lambda v: struct.pack("=Q", v))))),
    st.tuples(st.just("netdev"), st.just(11), st.sampled_from([REQ | ACK, REQ | DUMP]),
              some_of(leaf(1), leaf(2))),  # napi-get
    st.tuples(st.just("netdev"), st.just(12), st.sampled_from([REQ | DUMP, REQ | ACK]),
              some_of(leaf(1), leaf(4)) ),  # qstats-get
    st.tuples(st.just("netdev"), st.just(14), st.just(REQ | ACK),
              some_of(leaf(2), leaf(5), leaf(6), leaf(8))),  # napi-set
    st.tuples(st.just("netdev"), st.just(15), st.just(REQ | ACK),
              some_of(leaf(1), leaf(3, fd_refs))),  # bind-tx
    st.tuples(st.just("ctrl"), st.sampled_from([3, 10]), st.sampled_from([REQ | ACK, REQ | DUMP]),
              some_of(leaf(1, st.sampled_from([b"\x14\x00", b"\x10\x00", b"\x14"])),
                      leaf(2, st.sampled_from([b"netdev\0", b"nlctrl\0", b"nope\0", b"x"])))),
).flatmap(lambda op: st.tuples(st.just(op[0]), st.just(op[2]), st.integers(0, 0xFFFFFFFF),
                               st.just(0), st.just(op[1]), st.just(1), st.just(0), st.just(op[3])))

random_messages = st.tuples(
    st.sampled_from(["netdev", "netdev", "ctrl", wire.NLMSG_NOOP, wire.NLMSG_ERROR,
                     wire.NLMSG_DONE, 0x11, 0xFFFF]),
    st.one_of(st.sampled_from([
        wire.NLM_F_REQUEST, wire.NLM_F_REQUEST | wire.NLM_F_ACK,
        wire.NLM_F_REQUEST | wire.NLM_F_ACK | wire.NLM_F_DUMP, wire.NLM_F_REQUEST | wire.NLM_F_DUMP,
        wire.NLM_F_ACK, 0, wire.NLM_F_REQUEST | wire.NLM_F_ECHO]), st.integers(0, 0xFFFF)),
    st.integers(0, 0xFFFFFFFF),  # seq
    st.sampled_from([0, 0, 1000, 0xFFFFFFFF]),  # pid
    st.one_of(st.integers(0, 16), st.integers(0, 255)),  # genl cmd
    st.sampled_from([0, 1, 2, 255]),  # genl version
    st.sampled_from([0, 0, 0, 1]),  # genl reserved
    st.one_of(st.lists(attr_trees, max_size=5), bind_rx_attrs),
)
messages = st.one_of(ops, random_messages)

mutations = st.lists(st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("byte"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("u16"), st.floats(0, 1), st.sampled_from([0, 1, 3, 4, 5, 8, 0xFFFF])),
    st.tuples(st.just("u32"), st.floats(0, 1), st.sampled_from([0, 15, 16, 17, 20, 0xFFFFFFFF])),
    st.tuples(st.just("append"), st.binary(max_size=24)),
), max_size=3)

datagrams = st.one_of(
    st.tuples(st.lists(messages, min_size=1, max_size=3), mutations),
    st.tuples(st.lists(messages, min_size=1, max_size=3), st.just([])),
    st.binary(max_size=200).map(lambda b: ([], [("append", b)])),
)


class Render:
    """Turns trees into bytes with this example's real fds."""

    def __init__(self, fds: dict[str, int]) -> None:
        self.fds = fds

    def payload(self, p) -> bytes:
        return U32.pack(self.fds[p[1]]) if isinstance(p, tuple) else p

    def attr(self, node) -> bytes:
        kind, atype, flags, body = node
        data = self.payload(body) if kind == "leaf" else b"".join(self.attr(c) for c in body)
        length = min(4 + len(data), 0xFFFF)
        raw = wire.NLATTR.pack(length, (atype | flags) & 0xFFFF) + data
        return raw + b"\0" * (wire.nla_align(len(raw)) - len(raw))

    def message(self, m) -> bytes:
        mtype, flags, seq, pid, cmd, version, reserved, attrs = m
        mtype = {"netdev": NETDEV, "ctrl": wire.GENL_ID_CTRL}.get(mtype, mtype)
        body = wire.GENLMSGHDR.pack(cmd, version, reserved) + b"".join(map(self.attr, attrs))
        return wire.pack_nlmsg(mtype, flags, seq, pid, body)

    def datagram(self, spec) -> bytes:
        msgs, muts = spec
        data = bytearray(b"".join(map(self.message, msgs)))
        for mut in muts:
            at = int(mut[1] * len(data)) if mut[0] != "append" else 0
            if mut[0] == "truncate":
                del data[at:]
            elif mut[0] == "byte" and at < len(data):
                data[at] = mut[2]
            elif mut[0] == "u16" and at + 2 <= len(data):
                data[at:at + 2] = struct.pack("=H", mut[2])
            elif mut[0] == "u32" and at + 4 <= len(data):
                data[at:at + 4] = U32.pack(mut[2])
            elif mut[0] == "append":
                data += mut[1]
        return bytes(data)


# ---- the lab and its checks ---------------------------------------------------------------------
class World:
    def __init__(self, kernel: str, ext_ack: bool, cap_ack: bool) -> None:
        self.lab = Lab(seed=0, kernel=kernel)
        self.host = self.lab.server
        steer(self.host)
        self.fds = {"dmabuf": self.host.udmabuf_create(16 * 4096),
                    "dmabuf2": self.host.udmabuf_create(8 * 4096),
                    "accel": self.host.accel.alloc(8 * 4096)}
        self.ext_ack, self.cap_ack = ext_ack, cap_ack
        self.socks = [self.open(), self.open()]
        self.fds["nl"] = self.socks[0].fileno()  # a real fd that is no dma-buf
        self.render = Render(self.fds)

    def open(self):
        s = self.host.netlink()
        s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_EXT_ACK, int(self.ext_ack))
        s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_CAP_ACK, int(self.cap_ack))
        return s

    def close(self) -> None:
        for s in self.socks:
            s.close()
        for name in ("dmabuf", "dmabuf2", "accel"):
            os.close(self.fds[name])

    def exchange(self, sock, data: bytes, bufsize: int) -> None:
        """Send one datagram, read every reply; only OSError with a real errno may escape."""
        try:
            sock.send(data)
        except OSError as e:
            assert e.errno in errno.errorcode, e
            return
        for _ in range(1000):
            try:
                reply, _, msg_flags, _ = sock.recvmsg(bufsize)
            except BlockingIOError:
                return
            except OSError as e:
                assert e.errno in errno.errorcode, e
                return
            if not msg_flags & socket.MSG_TRUNC:
                check_reply(reply, len(data))
        raise AssertionError("replies never ran out")

    def check_state(self) -> None:
        k, nic = self.host.kernel, self.host.nic
        owners = {}
        for s in self.socks:
            if s.closed:
                assert not s.bindings
            for b in s.bindings:
                assert b.id not in owners, "a binding owned by two sockets"
                owners[b.id] = s
        for bid, b in k.bindings.items():
            assert b.bound and b.id == bid
            assert bid in owners, f"binding {bid} outlived its netlink socket"
            if is_tx(b):  # bind-tx: the whole dma-buf, no queue (devmem_tx.bind_tx)
                assert not b.queues
                continue
            assert b.queues, f"binding {bid} is bound to no queue"
            assert len(set(b.queues)) == len(b.queues)
            for q in b.queues:
                assert nic.rx_queues[q].binding is b
            posted = b.posted_niovs  # nothing received: all free but the rx rings' posted
            assert len(posted) == min(8 * len(b.queues), b.num_niovs)
            assert b.free_count == b.num_niovs - len(posted)
            assert b.refs.sum() == len(posted) and (b.refs[posted] == 1).all()
        for i, q in enumerate(nic.rx_queues):
            if q.binding is not None:
                assert q.binding.bound and i in q.binding.queues
                assert k.bindings.get(q.binding.id) is q.binding
            assert q.pool is not None and q.pool.provider is q.binding
            assert q.pool.id in k.page_pools
        assert all(p.inflight >= 0 for p in k.page_pools.values())
        # what the kernel reports over netlink agrees with its state
        with self.host.netlink() as s:
            queues = Netdev(s).queue_dump(IFINDEX)
        reported = {q["id"]: q.get("dmabuf") for q in queues if q["type"] == "rx"}
        assert reported == {i: (q.binding.id if q.binding else None)
                            for i, q in enumerate(nic.rx_queues)}

    def still_works(self) -> None:
        """After the fuzzing: bind queue 15 afresh and carry a little devmem data."""
        for s in self.socks:
            s.close()
        assert not self.host.kernel.bindings
        assert all(q.binding is None for q in self.host.nic.rx_queues)
        with self.host.netlink() as s:
            bid = Netdev(s).bind_rx(IFINDEX, self.fds["dmabuf"], [15])["id"]
            _, cs, conn = connect(self.lab)
            cs.sendall(b"ok" * 1000)
            data, anc, _, _ = conn.recvmsg(1 << 16, 1 << 12, uapi.MSG_SOCK_DEVMEM)
            cms = [c for _, c in parse_cmsgs(anc)]
            assert len(data) == 2000 and {c.dmabuf_id for c in cms} == {bid}
            conn.close()
            cs.close()


def check_reply(reply: bytes, sent_len: int) -> None:
    """A reply datagram is well-formed netlink, and its errors are real errnos."""
    for m in wire.iter_msgs(reply):  # raises ValueError on a malformed datagram
        assert m.type in (wire.NLMSG_ERROR, wire.NLMSG_DONE, NETDEV, wire.GENL_ID_CTRL), m
        if m.type not in (wire.NLMSG_ERROR, wire.NLMSG_DONE):
            wire.parse_genl(m.payload)
            continue
        ext = wire.parse_error(m)
        event(f"reply {errno.errorcode.get(-ext.error, 'ack')}" + (" +extack" if ext.tlvs else ""))
        assert ext.error <= 0 and (ext.error == 0 or -ext.error in errno.errorcode), ext
        if ext.request is not None:
            assert ext.request.seq == m.seq
        if ext.offset is not None:
            if m.type == wire.NLMSG_ERROR:  # the echoed nlmsghdr's nlmsg_len bounds it
                req_len = U32.unpack_from(m.payload, 4)[0]
            else:  # NLMSG_DONE of a dump echoes no request (the kernel still sends OFFS)
                req_len = sent_len
            assert wire.NLMSGHDR.size + wire.GENL_HDRLEN <= ext.offset < req_len, ext


# ---- the properties ---------------------------------------------------------------------------
worlds = st.tuples(st.sampled_from(["6.18", "6.12"]), st.booleans(), st.booleans())


@FUZZ
@given(world=worlds,
       steps=st.lists(st.tuples(st.integers(0, 1), datagrams,
                                st.sampled_from([65536, 65536, 65536, 32, 300]),
                                st.integers(0, 19)), min_size=1, max_size=6))
def test_random_and_mutated_messages(world, steps):
    w = World(*world)
    try:
        for which, spec, bufsize, reopen in steps:
            sock = w.socks[which]
            w.exchange(sock, w.render.datagram(spec), bufsize)
            if w.host.kernel.bindings:
                event("a binding exists")
            w.check_state()
            if reopen == 0:  # close: its bindings die with it; a fresh socket takes its place
                sock.close()
                assert not sock.bindings
                w.check_state()
                w.socks[which] = w.open()
                w.check_state()
        w.still_works()
    finally:
        w.close()


@FUZZ
@given(world=worlds,
       calls=st.lists(st.tuples(st.sampled_from([IFINDEX, IFINDEX, IFINDEX, 1, 3, 0, 2**32 - 1]),
                                st.sampled_from(["dmabuf", "dmabuf", "dmabuf2", "accel", "nl",
                                                 -1, 0]),
                                st.lists(st.one_of(st.integers(0, 17),
                                                   st.sampled_from([0xFFFFFFFF, 2**31])),
                                         max_size=4),
                                st.integers(0, 1), st.integers(0, 5)),
                      min_size=1, max_size=8))
def test_ynl_bind_rx_with_random_arguments(world, calls):
    """Through the YNL client: every refusal is a NetlinkError, and state stays consistent."""
    w = World(*world)
    try:
        clients = [Netdev(s) for s in w.socks]
        for ifindex, fd, queues, which, reopen in calls:
            fd = w.fds[fd] if isinstance(fd, str) else fd & 0xFFFFFFFF
            before = set(w.host.kernel.bindings)
            try:
                got = clients[which].bind_rx(ifindex, fd, queues)
            except OSError as e:
                assert e.errno in errno.errorcode, e
                assert set(w.host.kernel.bindings) == before  # a refusal leaves nothing behind
            else:
                event("bind-rx succeeded")
                b = w.host.kernel.bindings[got["id"]]
                assert sorted(b.queues) == sorted(set(queues)) and b in w.socks[which].bindings
            w.check_state()
            if reopen == 0:
                clients[which].close()
                w.socks[which] = w.open()
                clients[which] = Netdev(w.socks[which])
                w.check_state()
        w.still_works()
    finally:
        w.close()


# Found by the fuzzer (DEVMEM_FUZZ_EXAMPLES=3000): CTRL_CMD_GETFAMILY once read
# CTRL_ATTR_FAMILY_ID and CTRL_ATTR_FAMILY_NAME without ctrl_policy's checks, so a Python
# exception escaped send(). The kernel answers with NLMSG_ERROR (a u16 shorter than 2 bytes
# fails validate_nla with ERANGE; a name is compared byte for byte, ENOENT), and so do we.
@pytest.mark.parametrize("attr, err", [(wire.pack_attr(1, b"\x14"), errno.ERANGE),
                                       (wire.pack_attr(1, b""), errno.ERANGE),
                                       (wire.pack_attr(2, b"\xff\xfe\0"), errno.ENOENT)],
                         ids=["family-id-1-byte", "family-id-empty", "name-not-utf8"])
def test_nlctrl_getfamily_bad_attribute_is_an_error_reply(attr, err):
    """The errno this machine's 6.18 kernel gives for each of these requests."""
    sock = Lab(seed=0).server.netlink()
    try:
        sock.send(wire.pack_genlmsg(wire.GENL_ID_CTRL, REQ | ACK, 1, 0, 3, 1, attr))
        ext = wire.parse_error(next(wire.iter_msgs(sock.recv(65536))))
        assert ext.error == -err
    finally:
        sock.close()
