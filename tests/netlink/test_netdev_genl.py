"""The emulated netdev family: byte-exact against real 6.18 replies, bind-rx check order per
release, binding lifetime, dumps."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import socket
import struct

import pytest

from devmem_lab import Lab
from devmem_lab.kernel.af_netlink import NLMSG_GOODSIZE, NetlinkSocket
from devmem_lab.netlink import wire as w
from devmem_lab.netlink.family import NETDEV_FAMILY_ID

FIXTURES = json.loads((pathlib.Path(__file__).parents[1] / "fixtures" / "netdev_real.json").read_text())
CASES = {c["name"]: c for c in FIXTURES["cases"]}
FID = NETDEV_FAMILY_ID
REQ, ACK, DUMP = w.NLM_F_REQUEST, w.NLM_F_ACK, w.NLM_F_DUMP


def normalise(datagram: bytes, family_id: int) -> list[bytes]:
    """Messages with the port id zeroed and the netdev family id rewritten to ours."""
    out = []
    for m in w.iter_msgs(datagram):
        mtype = FID if m.type == family_id else m.type
        payload = m.payload
        if m.type == w.NLMSG_ERROR:  # the echoed request carries the family id too
            rtype = struct.unpack_from("=H", payload, 8)[0]
            if rtype == family_id:
                payload = payload[:8] + struct.pack("=H", FID) + payload[10:]
        out.append(w.pack_nlmsg(mtype, m.flags, m.seq, 0, payload))
    return out


def exchange(sock, request: bytes) -> list[bytes]:
    sock.send(request)
    got = []
    while True:
        try:
            got.append(sock.recv(65536))
        except BlockingIOError:
            return got


# cases where the emulator (lo is ifindex 1, no ops lock, no queue stats) must give the exact
# bytes the real 6.18 kernel gave
EXACT = [
    "getfamily-netdev", "getfamily-nlctrl", "getfamily-nosuch", "dev-get-lo", "dev-get-enodev",
    "dev-get-missing", "dev-get-zero", "dev-get-unknown-attr", "queue-get-dump-lo",
    "queue-get-dump-enodev", "queue-get-dump-unsupported-attr", "queue-get-lo-rx0",
    "queue-get-lo-tx0", "queue-get-lo-rx5", "queue-get-lo-type2", "queue-get-missing-id",
    "page-pool-get-enoent", "page-pool-get-zero", "qstats-dump-lo", "qstats-dump-enodev",
    "qstats-dump-scope2", "qstats-do", "bind-rx-none", "bind-rx-no-fd", "bind-rx-no-queues",
    "bind-rx-lo", "bind-rx-enodev", "bind-rx-ifindex0", "bind-rx-queues-not-nested",
    "bind-rx-queue-type2", "bind-rx-queue-unknown-attr", "bind-rx-rx-page-size",
    "bind-rx-trailing", "bind-rx-ifindex-u16", "bind-rx-ifindex-nested-flag",
    "bind-rx-queue-nest-short", "bind-rx-no-ext-ack", "bind-rx-cap-ack", "bind-rx-eperm",
    "bind-rx-dump", "bind-tx-lo", "unknown-cmd", "genl-reserved",
]


@pytest.mark.parametrize("name", EXACT)
def test_emulator_matches_real_kernel_bytes(name):
    case = CASES[name]
    opts = case["options"]
    lab = Lab(seed=0)
    sock = NetlinkSocket(lab.server.kernel, lab.server.dmabufs, cap_net_admin="uid" not in opts)
    sock.setsockopt(w.SOL_NETLINK, w.NETLINK_EXT_ACK, int(opts.get("ext_ack", True)))
    sock.setsockopt(w.SOL_NETLINK, w.NETLINK_CAP_ACK, int(opts.get("cap_ack", False)))
    fid = FIXTURES["family_id"]
    request = normalise(bytes.fromhex(case["request"]), fid)[0]
    want = [b"".join(normalise(bytes.fromhex(r), fid)) for r in case["replies"]]
    got = [b"".join(normalise(d, FID)) for d in exchange(sock, request)]
    assert [g.hex() for g in got] == [x.hex() for x in want]


# ---- helpers for the bind-rx matrix ----------------------------------------------------------
def u32(t, v):
    return w.pack_attr(t, struct.pack("=I", v))


def qnest(*attrs):
    return w.pack_attr(2, b"".join(attrs), nested=True)


def q(i, t=0):
    return qnest(u32(1, i), u32(3, t))


class Bench:
    """One lab, a ready udmabuf and a raw netlink socket with NETLINK_EXT_ACK."""

    def __init__(self, kernel="6.18", *, hds=True, cap_net_admin=True):
        self.lab = Lab(seed=0, kernel=kernel)
        self.host = self.lab.server
        self.nic = self.host.nic
        self.fd = self.host.udmabuf_create(64 * 4096)
        if hds:  # hds-thresh exists as an ethtool knob only in current kernels
            self.host.ethtool("-G eth1 tcp-data-split on"
                              + (" hds-thresh 0" if kernel != "6.12" else ""))
        self.sock = NetlinkSocket(self.host.kernel, self.host.dmabufs, cap_net_admin=cap_net_admin)
        self.sock.setsockopt(w.SOL_NETLINK, w.NETLINK_EXT_ACK, 1)
        self.seq = 0

    def bind(self, attrs: bytes, sock=None) -> w.Extack | int:
        """Send bind-rx; the binding id on success, else the decoded NLMSG_ERROR."""
        sock = sock or self.sock
        self.seq += 1
        sock.send(w.pack_genlmsg(FID, REQ | ACK, self.seq, 0, 13, 1, attrs))
        first = next(w.iter_msgs(sock.recv(65536)))
        if first.type == w.NLMSG_ERROR:
            return w.parse_error(first)
        ack = w.parse_error(next(w.iter_msgs(sock.recv(65536))))
        assert ack.error == 0
        return w.attrs_by_type(w.parse_genl(first.payload)[2])[4].u32()

    def std(self, queues: bytes | None = None, ifindex: int = 2, fd: int | None = None) -> bytes:
        return u32(1, ifindex) + u32(3, self.fd if fd is None else fd) + (
            q(15) if queues is None else queues)


def err(res) -> tuple:
    assert isinstance(res, w.Extack), f"expected an error, got binding {res}"
    return (res.errno, res.msg, res.offset, res.miss_type, res.miss_nest)


BOTH = ["6.18", "6.12"]


# ---- genetlink core: same in both releases -------------------------------------------------
@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_eperm_without_cap_net_admin(kernel):
    b = Bench(kernel, cap_net_admin=False)
    assert err(b.bind(b.std())) == (errno.EPERM, None, None, None, None)


@pytest.mark.parametrize("kernel", BOTH)
@pytest.mark.parametrize("drop,missing", [(("ifindex",), 1), (("fd",), 3), (("queues",), 2)])
def test_bind_rx_missing_attribute(kernel, drop, missing):
    b = Bench(kernel)
    parts = {"ifindex": u32(1, 2), "fd": u32(3, b.fd), "queues": q(15)}
    attrs = b"".join(v for k, v in parts.items() if k not in drop)
    assert err(b.bind(attrs)) == (errno.EINVAL, None, None, missing, None)


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_ifindex_zero_fails_policy(kernel):
    b = Bench(kernel)
    res = b.bind(b.std(ifindex=0))
    assert err(res) == (errno.ERANGE, "integer out of range", 20, None, None)


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_queues_need_nla_f_nested(kernel):
    b = Bench(kernel)
    res = b.bind(b.std(queues=w.pack_attr(2, u32(1, 15) + u32(3, 0))))
    assert err(res) == (errno.EINVAL, "NLA_F_NESTED is missing", 36, None, None)


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_queue_type_above_policy_max(kernel):
    b = Bench(kernel)
    assert err(b.bind(b.std(queues=q(15, 2)))) == (errno.ERANGE, "integer out of range", 48,
                                                   None, None)


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_unknown_ifindex(kernel):
    b = Bench(kernel)
    assert err(b.bind(b.std(ifindex=999))) == (errno.ENODEV, None, None, None, None)


@pytest.mark.parametrize("kernel,expect", [
    ("6.18", (errno.ENODEV, None, 20, None, None)), ("6.12", (errno.ENODEV, None, None, None, None))])
def test_bind_rx_device_not_present(kernel, expect):
    b = Bench(kernel)
    b.nic.present = False
    assert err(b.bind(b.std())) == expect


# ---- handler checks: release order ---------------------------------------------------------
@pytest.mark.parametrize("kernel,expect", [
    ("6.18", (errno.EOPNOTSUPP, None, 20, None, None)),  # not ops-locked, bad-attr ifindex
    ("6.12", (errno.EOPNOTSUPP, None, None, None, None)),  # queue restart: no queue mgmt ops
])
def test_bind_rx_on_lo(kernel, expect):
    b = Bench(kernel)
    assert err(b.bind(b.std(ifindex=1, queues=q(0)))) == expect


@pytest.mark.parametrize("kernel", BOTH)
@pytest.mark.parametrize("missing", [1, 3])
def test_bind_rx_queue_nest_missing_id_or_type(kernel, missing):
    b = Bench(kernel)
    inner = u32(3, 0) if missing == 1 else u32(1, 15)
    # ifindex at 20, fd at 28, the QUEUES nest at 36
    assert err(b.bind(b.std(queues=qnest(inner)))) == (errno.EINVAL, None, None, missing, 36)


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_tx_queue_type(kernel):
    b = Bench(kernel)
    assert err(b.bind(b.std(queues=q(15, 1)))) == (errno.EINVAL, None, 48, None, None)


@pytest.mark.parametrize("kernel,expect", [
    ("6.18", (errno.EINVAL, None, 40, None, None)),  # read into a bitmap up front, bad-attr id
    ("6.12", (errno.ERANGE, "rx queue index out of range", None, None, None)),
])
def test_bind_rx_queue_out_of_range(kernel, expect):
    b = Bench(kernel)
    assert err(b.bind(b.std(queues=q(16)))) == expect


@pytest.mark.parametrize("kernel,expect", [("6.18", errno.EINVAL), ("6.12", errno.EBADF)])
def test_bind_rx_queue_range_is_checked_before_the_fd_only_in_current(kernel, expect):
    b = Bench(kernel)
    assert err(b.bind(b.std(queues=q(16), fd=0x7FFFFFF0)))[0] == expect


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_bad_fd_and_non_dmabuf_fd(kernel):
    b = Bench(kernel)
    assert err(b.bind(b.std(fd=0x7FFFFFF0))) == (errno.EBADF, None, None, None, None)
    r, wfd = os.pipe()
    try:
        assert err(b.bind(b.std(fd=r))) == (errno.EINVAL, None, None, None, None)
    finally:
        os.close(r)
        os.close(wfd)


def test_bind_rx_needs_header_split_in_current():
    b = Bench("6.18", hds=False)
    assert err(b.bind(b.std())) == (errno.EINVAL, "tcp-data-split is disabled", None, None, None)
    b.host.ethtool("-G eth1 tcp-data-split on")
    assert err(b.bind(b.std())) == (errno.EINVAL, "hds-thresh is not zero", None, None, None)


def test_bind_rx_without_header_split_is_accepted_by_6_12():
    b = Bench("6.12", hds=False)
    assert b.bind(b.std()) == 1


@pytest.mark.parametrize("kernel,expect", [
    ("6.18", (errno.EEXIST, ("unable to custom memory provider to device with XDP program "
                             "attached"), None, None, None)),
    ("6.12", (errno.EEXIST, "unable to bind dmabuf to device with XDP program attached",
              None, None, None)),
])
def test_bind_rx_with_xdp_attached(kernel, expect):
    b = Bench(kernel)
    b.nic.xdp_prog = True
    assert err(b.bind(b.std())) == expect


@pytest.mark.parametrize("kernel,expect", [("6.18", errno.EBADF), ("6.12", errno.EEXIST)])
def test_bind_rx_xdp_check_is_before_the_fd_only_in_6_12(kernel, expect):
    b = Bench(kernel)
    b.nic.xdp_prog = True
    assert err(b.bind(b.std(fd=0x7FFFFFF0)))[0] == expect


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_queue_already_bound(kernel):
    b = Bench(kernel)
    assert b.bind(b.std()) == 1
    other = NetlinkSocket(b.host.kernel, b.host.dmabufs)
    other.setsockopt(w.SOL_NETLINK, w.NETLINK_EXT_ACK, 1)
    assert err(b.bind(b.std(), sock=other)) == (
        errno.EEXIST, "designated queue already memory provider bound", None, None, None)


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_queue_in_use_by_af_xdp(kernel):
    b = Bench(kernel)
    b.nic.rx_queues[15].xsk = True
    assert err(b.bind(b.std())) == (errno.EBUSY, "designated queue already in use by AF_XDP",
                                    None, None, None)


def test_bind_rx_duplicate_queues_merge_in_current():
    b = Bench("6.18")
    assert b.bind(b.std(queues=q(15) + q(15))) == 1
    assert b.sock.bindings[0].queues == [15]


def test_bind_rx_duplicate_queue_is_eexist_in_6_12():
    b = Bench("6.12")
    assert err(b.bind(b.std(queues=q(15) + q(15))))[:2] == (
        errno.EEXIST, "designated queue already memory provider bound")
    assert b.nic.rx_queues[15].binding is None  # the whole binding was undone


@pytest.mark.parametrize("kernel", BOTH)
def test_bind_rx_failure_unbinds_queues_already_bound(kernel):
    b = Bench(kernel)
    b.nic.rx_queues[15].xsk = True
    assert err(b.bind(b.std(queues=q(14) + q(15))))[0] == errno.EBUSY
    assert b.nic.rx_queues[14].binding is None
    assert b.host.kernel.bindings == {}
    b.nic.rx_queues[15].xsk = False
    assert b.bind(b.std(queues=q(14) + q(15))) == 2  # id 1 was used and freed: cyclic


def test_bind_rx_current_binds_queues_in_ascending_order():
    b = Bench("6.18")
    assert b.bind(b.std(queues=q(15) + q(12) + q(14))) == 1
    assert b.sock.bindings[0].queues == [12, 14, 15]


# ---- binding lifetime ------------------------------------------------------------------------------
def test_closing_the_socket_unbinds_and_ids_stay_cyclic():
    b = Bench()
    assert b.bind(b.std(queues=q(14) + q(15))) == 1
    old_pool = b.nic.rx_queues[15].pool
    assert old_pool.provider is not None and old_pool.provider.id == 1
    b.sock.close()
    assert b.host.kernel.bindings == {}
    assert b.nic.rx_queues[14].binding is None and b.nic.rx_queues[15].binding is None
    assert b.nic.rx_queues[15].pool.provider is None  # restarted on host pages
    s2 = NetlinkSocket(b.host.kernel, b.host.dmabufs)
    assert b.bind(b.std(queues=q(15)), sock=s2) == 2  # not 1: xa_alloc_cyclic
    s2.close()


def test_two_sockets_own_their_own_bindings():
    b = Bench()
    s2 = NetlinkSocket(b.host.kernel, b.host.dmabufs)
    assert b.bind(b.std(queues=q(14))) == 1
    assert b.bind(b.std(queues=q(15)), sock=s2) == 2
    s2.close()
    assert sorted(b.host.kernel.bindings) == [1]
    assert b.nic.rx_queues[14].binding is not None and b.nic.rx_queues[15].binding is None


def test_a_dropped_lab_is_freed():
    import gc
    import weakref
    lab = Lab(seed=0)
    with lab.server.netlink() as s:
        s.send(w.pack_genlmsg(FID, REQ, 1, 0, 1, 1, u32(1, 1)))
    ref = weakref.ref(lab.server)
    del lab, s
    gc.collect()
    assert ref() is None


def test_context_manager_and_closed_socket():
    lab = Lab(seed=0)
    with lab.server.netlink() as s:
        fd = s.fileno()
        os.fstat(fd)  # a real descriptor while open
    assert s.fileno() == -1
    with pytest.raises(OSError) as e:
        s.send(b"")
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError):
        os.fstat(fd)


# ---- socket behaviour --------------------------------------------------------------------------------
def test_port_ids_like_netlink_autobind():
    lab = Lab(seed=0)
    a, b2 = lab.server.netlink(), lab.server.netlink()
    assert a.getsockname() == (1000, 0)
    assert b2.getsockname() == (0xFFFFEFFF, 0)  # -4097 as u32
    a.close()
    assert lab.server.netlink().getsockname() == (1000, 0)


def test_extack_only_with_netlink_ext_ack():
    b = Bench()
    plain = NetlinkSocket(b.host.kernel, b.host.dmabufs)
    assert err(b.bind(u32(1, 2), sock=plain)) == (errno.EINVAL, None, None, None, None)


def test_recv_truncates_like_msg_trunc_and_poll_sees_replies():
    import select
    lab = Lab(seed=0)
    s = lab.server.netlink()
    p = select.poll()
    p.register(s, select.POLLIN)
    assert p.poll(0) == []
    s.send(w.pack_genlmsg(FID, REQ | DUMP, 1, 0, 10, 1, u32(2, 2)))
    assert p.poll(0) == [(s.fileno(), select.POLLIN)]
    data, _, flags, addr = s.recvmsg(100)
    assert len(data) == 100 and flags & socket.MSG_TRUNC and addr == (0, 0)
    with pytest.raises(BlockingIOError):
        s.recv(65536)  # the rest of the datagram is gone, and the dump fitted in one
    assert p.poll(0) == []


def test_dump_is_chunked_like_netlink_dump():
    lab = Lab(seed=0, combined=32)
    s = lab.server.netlink()
    s.send(w.pack_genlmsg(FID, REQ | DUMP, 5, 0, 12, 1, u32(1, 2) + u32(4, 1)))
    first = s.recv(65536)
    msgs = list(w.iter_msgs(first))
    assert len(first) <= NLMSG_GOODSIZE and msgs[-1].type == FID  # whole messages only
    second = list(w.iter_msgs(s.recv(65536)))
    assert second[-1].type == w.NLMSG_DONE and w.parse_error(second[-1]).error == 0
    assert len(msgs) + len(second) - 1 == 64  # 32 rx + 32 tx queues


def test_second_dump_while_one_runs_is_ebusy():
    lab = Lab(seed=0, combined=32)
    s = lab.server.netlink()
    dump = w.pack_genlmsg(FID, REQ | DUMP, 1, 0, 12, 1, u32(4, 1))
    s.send(dump + w.pack_genlmsg(FID, REQ | DUMP, 2, 0, 12, 1, u32(4, 1)))
    s.recv(65536)
    ebusy = w.parse_error(next(w.iter_msgs(s.recv(65536))))
    assert (ebusy.errno, ebusy.request.seq) == (errno.EBUSY, 2)


def test_non_request_messages_are_only_acked():
    lab = Lab(seed=0)
    s = lab.server.netlink()
    s.send(w.pack_genlmsg(FID, ACK, 3, 0, 1, 1, u32(1, 1)) + w.pack_genlmsg(FID, 0, 4, 0, 1, 1))
    ack = w.parse_error(next(w.iter_msgs(s.recv(65536))))
    assert (ack.error, ack.request.seq) == (0, 3)
    with pytest.raises(BlockingIOError):
        s.recv(65536)


def test_unknown_sockopt_is_enoprotoopt():
    lab = Lab(seed=0)
    with lab.server.netlink() as s:
        with pytest.raises(OSError) as e:
            s.setsockopt(w.SOL_NETLINK, 99, 1)
        assert e.value.errno == errno.ENOPROTOOPT
        s.setsockopt(w.SOL_NETLINK, w.NETLINK_EXT_ACK, struct.pack("=I", 1))
        assert s.getsockopt(w.SOL_NETLINK, w.NETLINK_EXT_ACK) == 1


# ---- getfamily per release ---------------------------------------------------------------------------
@pytest.mark.parametrize("kernel,cmds", [("6.18", [1, 5, 10, 11, 12, 13, 14, 15]),
                                         ("6.12", [1, 5, 10, 11, 12, 13])])
def test_getfamily_lists_the_release_ops(kernel, cmds):
    lab = Lab(seed=0, kernel=kernel)
    s = lab.server.netlink()
    s.send(w.pack_genlmsg(w.GENL_ID_CTRL, REQ, 1, 0, 3, 1, w.pack_attr(2, b"netdev\0")))
    reply = next(w.iter_msgs(s.recv(65536)))
    ops = w.attrs_by_type(w.parse_genl(reply.payload)[2])[6]
    assert [w.attrs_by_type(o.payload)[1].u32() for o in w.iter_attrs(ops.payload)] == cmds
