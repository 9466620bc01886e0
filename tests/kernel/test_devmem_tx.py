"""Devmem TX (6.16+): bind-tx, sendmsg from dma-buf offsets, MSG_ZEROCOPY completions.

Check order and errno follow net/ipv4/tcp.c tcp_sendmsg_locked, net/core/sock.c
__sock_cmsg_send, net/core/devmem.c net_devmem_get_binding and net/core/datagram.c
zerocopy_fill_skb_from_devmem; completion coalescing follows net/core/skbuff.c.
"""

import errno
import mmap
import socket
import struct

import pytest
from conftest import bind, connect, steer

from devmem_lab import Lab, uapi
from devmem_lab.errors import NetlinkError
from devmem_lab.kernel.devmem_tx import size_goal
from devmem_lab.scenario import ncdevmem_tx
from devmem_lab.uapi import DmabufIov, SockExtendedErr, pack_tx_dmabuf_id
from devmem_lab.ynl import Netdev

S = socket.SOL_SOCKET
ZC = uapi.MSG_ZEROCOPY
SIZE = 64 * 4096


def tx_setup(lab=None, size=SIZE, family=socket.AF_INET6, rcvbuf=None):
    """A client with a filled udmabuf bound for TX, SO_ZEROCOPY on, connected to the server."""
    lab = lab or Lab(seed=0)
    sc = ncdevmem_tx(lab, size=size, family=family, rcvbuf=rcvbuf, fill=_fill)
    return lab, sc.view, sc.netdev, sc.tx_id, sc.client, sc.conn, sc.ancdata


def _fill(buf):
    buf[:] = bytes((i * 7 + i // 251) % 256 for i in range(len(buf)))


def recv_exactly(conn, n):
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        assert chunk, "connection closed early"
        out += chunk
    return out


def completions(sock):
    """Every completion queued now, as (lo, hi, code)."""
    out = []
    while True:
        try:
            _, anc, flags, _ = sock.recvmsg(0, 100, uapi.MSG_ERRQUEUE)
        except BlockingIOError:
            return out
        assert flags == uapi.MSG_ERRQUEUE and len(anc) == 1
        ee = SockExtendedErr.unpack(anc[0][2])
        assert (ee.ee_errno, ee.ee_origin) == (0, uapi.SO_EE_ORIGIN_ZEROCOPY)
        out.append((ee.ee_info, ee.ee_data, ee.ee_code))


# ---- bind-tx ---------------------------------------------------------------------------------
def test_bind_tx_shares_the_cyclic_id_space_with_bind_rx():
    lab = Lab(seed=0)
    srv = lab.server
    fd = srv.udmabuf_create(SIZE)
    srv.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    a = Netdev(srv.netlink())
    assert a.bind_rx(2, fd, [15]) == {"id": 1}
    assert a.bind_tx(2, fd) == {"id": 2}
    a.close()  # both unbound: ids 1 and 2 free, but the cursor moves on
    with Netdev(srv.netlink()) as b:
        assert b.bind_tx(2, fd) == {"id": 3}
        assert b.bind_rx(2, fd, [15]) == {"id": 4}
        # a TX binding is no memory provider: no queue or page pool shows it
        assert b.queue_get(2, 15)["dmabuf"] == 4
        assert all(q.get("dmabuf") != 3 for q in b.queue_dump(2))
        assert all(p.get("dmabuf") != 3 for p in b.page_pool_dump())


@pytest.mark.parametrize("ifindex, fd, err, msg", [
    (1, "dmabuf", errno.EOPNOTSUPP, "Driver does not support netmem TX"),  # lo
    (77, "dmabuf", errno.ENODEV, None),
    (2, 1 << 20, errno.EBADF, None),
])
def test_bind_tx_refusals(ifindex, fd, err, msg):
    lab = Lab(seed=0)
    if fd == "dmabuf":
        fd = lab.client.udmabuf_create(4096)
    with Netdev(lab.client.netlink()) as nl, pytest.raises(NetlinkError) as e:
        nl.bind_tx(ifindex, fd)
    assert (e.value.errno, e.value.extack_msg) == (err, msg)


def test_bind_tx_needs_ifindex_and_fd_and_no_privilege():
    lab = Lab(seed=0)
    from devmem_lab.kernel.af_netlink import NetlinkSocket
    sock = NetlinkSocket(lab.client.kernel, lab.client.dmabufs, cap_net_admin=False)
    with Netdev(sock) as nl:
        with pytest.raises(NetlinkError) as e:
            nl._one("bind-tx", {"ifindex": 2})
        assert (e.value.errno, e.value.missing_attr) == (errno.EINVAL, uapi.NETDEV_A_DMABUF_FD)
        assert nl.bind_tx(2, lab.client.udmabuf_create(4096)) == {"id": 1}


def test_bind_tx_is_not_an_op_in_6_12():
    lab = Lab(seed=0, kernel="6.12")
    with Netdev(lab.client.netlink()) as nl, pytest.raises(NetlinkError) as e:
        nl.bind_tx(2, lab.client.udmabuf_create(4096))
    assert e.value.errno == errno.EOPNOTSUPP and e.value.extack_msg is None


# ---- SO_ZEROCOPY -----------------------------------------------------------------------------
def test_so_zerocopy_takes_0_or_1_like_the_kernel():
    lab = Lab(seed=0)
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = lab.client.socket(socket.AF_INET, kind)
        assert s.getsockopt(S, uapi.SO_ZEROCOPY) == 0
        s.setsockopt(S, uapi.SO_ZEROCOPY, 1)
        assert s.getsockopt(S, uapi.SO_ZEROCOPY) == 1
        s.setsockopt(S, uapi.SO_ZEROCOPY, struct.pack("q", 0))  # optlen 8: the first int
        assert s.getsockopt(S, uapi.SO_ZEROCOPY) == 0
        for bad in (2, -1, 256, b"\1\0"):
            with pytest.raises(OSError) as e:
                s.setsockopt(S, uapi.SO_ZEROCOPY, bad)
            assert e.value.errno == errno.EINVAL
        with pytest.raises(OSError) as e:
            s.setsockopt(S, uapi.SO_ZEROCOPY, None, 4)
        assert e.value.errno == errno.EFAULT


# ---- sendmsg from the dma-buf ----------------------------------------------------------------
def test_the_wire_carries_the_dma_buf_bytes_at_the_offsets_given():
    lab, buf, _nl, _tx_id, cs, conn, anc = tx_setup()
    iovs = [DmabufIov(0, 100), DmabufIov(4000, 200), DmabufIov(SIZE - 50, 50)]
    assert cs.sendmsg(iovs, anc, ZC) == 350
    want = buf[0:100] + buf[4000:4200] + buf[SIZE - 50:SIZE]
    assert recv_exactly(conn, 350) == want
    lab.run(0.001)
    assert completions(cs) == [(0, 0, 0)]  # sent by the NIC from the dma-buf: not copied
    tx = lab.client.ethtool("-S eth1")
    assert "tx_devmem_bytes: 350" in tx
    with pytest.raises(BlockingIOError) as e:
        cs.recvmsg(0, 100, uapi.MSG_ERRQUEUE)
    assert e.value.errno == errno.EAGAIN


def test_send_errors_in_kernel_order():
    lab, buf, nl, tx_id, cs, conn, anc = tx_setup()
    srv_fd = lab.client.udmabuf_create(4096)
    lab.client.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    rx_id = nl.bind_rx(2, srv_fd, [3])["id"]

    def err(buffers, ancdata, flags, sock=cs):
        with pytest.raises(OSError) as e:
            sock.sendmsg(buffers, ancdata, flags)
        return e.value.errno

    one = [DmabufIov(0, 10)]
    assert err(one, [(S, uapi.SCM_DEVMEM_DMABUF, pack_tx_dmabuf_id(999))], ZC) == errno.EINVAL
    assert err(one, [(S, uapi.SCM_DEVMEM_DMABUF, pack_tx_dmabuf_id(rx_id))], ZC) == errno.EINVAL
    assert err(one, anc, 0) == errno.EINVAL  # no MSG_ZEROCOPY
    assert err(one, [(S, uapi.SCM_DEVMEM_DMABUF, struct.pack("Q", tx_id))], ZC) == errno.EINVAL
    assert err(one, [(S, uapi.SCM_DEVMEM_DMABUF, b"\1\0")], ZC) == errno.EINVAL
    assert err([DmabufIov(SIZE, 1)], anc, ZC) == errno.EFAULT
    assert err([DmabufIov(0, 100), DmabufIov(SIZE, 1)], anc, ZC) == errno.EFAULT  # same skb
    # a second skb was started: the first one (size_goal bytes) stays queued
    goal = size_goal(cs.mss)
    assert goal == 45 * 1428  # TSO: the most whole IPv6 segments under 64 KiB
    assert cs.sendmsg([DmabufIov(0, 70000), DmabufIov(SIZE, 1)], anc, ZC) == goal
    assert cs.sendmsg(one, anc, ZC) == 10
    assert recv_exactly(conn, goal + 10) == buf[:goal] + buf[:10]
    lab.run(0.001)
    # the failed calls gave their ids back: the two that queued bytes are 0 and 1
    assert completions(cs) == [(0, 1, 0)]
    # without SO_ZEROCOPY the id is refused even with MSG_ZEROCOPY
    cs.setsockopt(S, uapi.SO_ZEROCOPY, 0)
    assert err(one, anc, ZC) == errno.EINVAL


def test_a_route_through_another_device_is_enodev():
    lab, _buf, _nl, _tx_id, _cs, _conn, anc = tx_setup()
    cli = lab.client
    ls = cli.socket(socket.AF_INET)
    ls.bind(("127.0.0.1", 6000))
    ls.listen()
    lo = cli.socket(socket.AF_INET)
    lo.setsockopt(S, uapi.SO_ZEROCOPY, 1)
    lo.connect(("127.0.0.1", 6000))
    with pytest.raises(OSError) as e:
        lo.sendmsg([DmabufIov(0, 10)], anc, ZC)
    assert e.value.errno == errno.ENODEV


def test_unconnected_socket_order_cmsg_error_comes_after_the_connection_check():
    lab, _buf, _nl, _tx_id, _cs, _conn, _anc = tx_setup()
    u = lab.client.socket(socket.AF_INET)
    u.setsockopt(S, uapi.SO_ZEROCOPY, 1)
    with pytest.raises(OSError) as e:  # the cmsg error waits: EPIPE first
        u.sendmsg([b"a"], [(S, uapi.SCM_DEVMEM_DMABUF, struct.pack("Q", 7))], ZC)
    assert e.value.errno == errno.EPIPE
    with pytest.raises(OSError) as e:  # an unknown id is found before
        u.sendmsg([b"a"], [(S, uapi.SCM_DEVMEM_DMABUF, pack_tx_dmabuf_id(77))], ZC)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        u.sendmsg([b"a"], [(S, 1234, b"\0\0\0\0")], 0)
    assert e.value.errno == errno.EPIPE


def test_dmabuf_iov_in_an_ordinary_send_is_efault():
    _lab, _buf, _nl, _tx_id, cs, _conn, _anc = tx_setup()
    with pytest.raises(OSError) as e:  # iov_base = 0: no user memory there
        cs.sendmsg([DmabufIov(0, 10)], [], ZC)
    assert e.value.errno == errno.EFAULT
    with pytest.raises(OSError) as e:  # the copy step it faulted in is dropped whole
        cs.sendmsg([b"ab", DmabufIov(0, 10)])
    assert e.value.errno == errno.EFAULT
    assert cs.sendmsg([b"a" * 40000, DmabufIov(0, 10)]) == 32768  # one page frag stays


def test_binding_closed_refuses_new_sends_but_queued_data_still_goes():
    lab, buf, nl, _tx_id, cs, conn, anc = tx_setup(rcvbuf=8192)
    n = cs.sendmsg([DmabufIov(0, 60000)], anc, ZC)
    assert n == 60000
    nl.close()  # the binding dies with its netlink socket...
    with pytest.raises(OSError) as e:
        cs.sendmsg([DmabufIov(0, 10)], anc, ZC)
    assert e.value.errno == errno.EINVAL
    assert recv_exactly(conn, 60000) == buf[:60000]  # ...but its frags keep their memory
    lab.run(0.01)
    assert completions(cs) == [(0, 0, 0)]


def test_a_region_changed_before_its_completion_sends_the_new_bytes():
    """The receiver's window is small, so most of the send waits in the queue; the NIC reads
    the dma-buf only when it transmits (a window small enough that no segment is dropped
    for lack of receive memory, which would be resent with the new bytes)."""
    lab, buf, _nl, _tx_id, cs, conn, anc = tx_setup(rcvbuf=4096)
    buf[:65536] = b"A" * 65536
    assert cs.sendmsg([DmabufIov(0, 65536)], anc, ZC) == 65536
    sent_now = cs.snd_nxt
    assert 0 < sent_now < 65536
    buf[:65536] = b"B" * 65536  # too early: no completion yet
    got = recv_exactly(conn, 65536)
    assert got == b"A" * sent_now + b"B" * (65536 - sent_now)
    lab.run(0.01)
    assert completions(cs) == [(0, 0, 0)]


def test_device_to_device_into_a_devmem_rx_queue():
    lab = Lab(seed=0)
    srv = lab.server
    steer(srv)
    rx_fd = srv.udmabuf_create(SIZE)
    binding = bind(srv, rx_fd, [15])
    lab, buf, _nl, _tx_id, cs, conn, anc = tx_setup(lab)
    total = 3 * 4096 + 123
    assert cs.sendmsg([DmabufIov(4096, total)], anc, ZC) == total
    rx = mmap.mmap(rx_fd, SIZE)
    got = b""
    while len(got) < total:
        _data, ancdata, _, _ = conn.recvmsg(total, 4096, uapi.MSG_SOCK_DEVMEM)
        for kind, cm in uapi.parse_cmsgs(ancdata):
            assert kind == "dmabuf" and cm.dmabuf_id == binding.id
            got += rx[cm.frag_offset:cm.frag_offset + cm.frag_size]
    assert got == buf[4096:4096 + total]


# ---- completions -----------------------------------------------------------------------------
def test_completions_coalesce_when_not_read_in_between():
    lab, _buf, _nl, _tx_id, cs, conn, anc = tx_setup()
    for i in range(3):
        cs.sendmsg([DmabufIov(i * 4096, 1000)], anc, ZC)
    recv_exactly(conn, 3000)
    lab.run(0.001)
    assert completions(cs) == [(0, 2, 0)]
    cs.sendmsg([DmabufIov(0, 10)], anc, ZC)
    recv_exactly(conn, 10)
    lab.run(0.001)
    assert completions(cs) == [(3, 3, 0)]  # read in between: its own range


def test_errqueue_cmsg_layout_and_truncation():
    lab, _buf, _nl, _tx_id, cs, conn, anc = tx_setup(family=socket.AF_INET)
    for ancbuf, want_len, trunc in ((100, 32, 0), (40, 24, uapi.MSG_CTRUNC),
                                    (20, 4, uapi.MSG_CTRUNC), (0, None, uapi.MSG_CTRUNC)):
        cs.sendmsg([DmabufIov(0, 10)], anc, ZC)
        recv_exactly(conn, 10)
        lab.run(0.001)
        data, ancdata, flags, addr = cs.recvmsg(0, ancbuf, uapi.MSG_ERRQUEUE)
        assert (data, flags, addr) == (b"", uapi.MSG_ERRQUEUE | trunc, None)
        if want_len is None:
            assert ancdata == []
        else:
            assert [(lv, t, len(d)) for lv, t, d in ancdata] == [
                (uapi.SOL_IP, uapi.IP_RECVERR, want_len)]
    v6 = tx_setup(family=socket.AF_INET6)
    v6[4].sendmsg([DmabufIov(0, 10)], v6[6], ZC)
    recv_exactly(v6[5], 10)
    v6[0].run(0.001)
    _, ancdata, _, _ = v6[4].recvmsg(0, 100, uapi.MSG_ERRQUEUE)
    assert [(lv, t, len(d)) for lv, t, d in ancdata] == [(uapi.SOL_IPV6, uapi.IPV6_RECVERR, 44)]
    assert ancdata[0][2][16:] == bytes(28)  # zeroed offender address


def test_ordinary_msg_zerocopy_over_loopback_is_copied_over_the_nic_is_not():
    lab = Lab(seed=0)
    cli = lab.client
    ls = cli.socket(socket.AF_INET)
    ls.bind(("127.0.0.1", 6001))
    ls.listen()
    c = cli.socket(socket.AF_INET)
    c.setsockopt(S, uapi.SO_ZEROCOPY, 1)
    c.connect(("127.0.0.1", 6001))
    s, _ = ls.accept()
    for _ in range(3):
        assert c.sendmsg([b"x" * 1000], [], ZC) == 1000
    assert recv_exactly(s, 3000) == b"x" * 3000
    lab.run(0.001)
    assert completions(c) == [(0, 2, uapi.SO_EE_CODE_ZEROCOPY_COPIED)]
    _, cs, conn = connect(lab)
    cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
    cs.sendmsg([bytearray(b"y" * 100)], [], ZC)
    recv_exactly(conn, 100)
    lab.run(0.001)
    assert completions(cs) == [(0, 0, 0)]


def test_msg_zerocopy_without_so_zerocopy_copies_and_completes_nothing():
    lab = Lab(seed=0)
    _, cs, conn = connect(lab)
    data = bytearray(b"q" * 10)
    assert cs.sendmsg([data], [], ZC) == 10
    data[:] = b"z" * 10  # copied at sendmsg: the change is not sent
    assert recv_exactly(conn, 10) == b"q" * 10
    lab.run(0.001)
    assert completions(cs) == []


def test_pinned_user_buffer_is_read_at_transmit_time():
    lab = Lab(seed=0)
    _, cs, conn = connect(lab, rcvbuf=4096)  # no drop for lack of receive memory
    cs.setsockopt(S, uapi.SO_ZEROCOPY, 1)
    data = bytearray(b"a" * 50000)
    cs.sendmsg([data], [], ZC)
    first = cs.snd_nxt
    data[:] = b"b" * 50000
    assert recv_exactly(conn, 50000) == b"a" * first + b"b" * (50000 - first)


def test_calls_queued_behind_a_full_window_share_one_notification():
    lab, _buf, _nl, _tx_id, cs, conn, anc = tx_setup(rcvbuf=16384)
    for i in range(4):  # the first fills the initial window (10 segments) and goes out; the
        cs.sendmsg([DmabufIov(i * 14280, 14280)], anc, ZC)  # next three wait, merged
    assert cs._zc.in_flight == [(0, 0), (1, 3)]
    recv_exactly(conn, 4 * 14280)
    lab.run(0.01)
    assert completions(cs) == [(0, 3, 0)]


def test_reset_completes_everything_and_close_drops_completions():
    lab, _buf, _nl, _tx_id, cs, conn, anc = tx_setup(rcvbuf=8192)
    cs.sendmsg([DmabufIov(0, 60000)], anc, ZC)
    lab.run(0.001)
    conn.close()  # unread data: RST; the sender's write queue is purged
    lab.run(0.001)
    assert completions(cs) == [(0, 0, 0)]
    lab, _buf, _nl, _tx_id, cs, conn, anc = tx_setup(rcvbuf=8192)
    cs.sendmsg([DmabufIov(0, 60000)], anc, ZC)
    cs.close()
    with pytest.raises(OSError) as e:
        cs.recvmsg(0, 100, uapi.MSG_ERRQUEUE)
    assert e.value.errno == errno.EBADF


def test_qstats_count_the_sent_packets():
    _lab, _buf, nl, _tx_id, cs, conn, anc = tx_setup()
    before = nl.qstats_get(2)
    cs.sendmsg([DmabufIov(0, 20000)], anc, ZC)
    recv_exactly(conn, 20000)
    after = nl.qstats_get(2)
    assert after["tx-packets"] - before["tx-packets"] == 15  # 14 segments of 1428 and one
    assert after["tx-bytes"] - before["tx-bytes"] == 20000 + 15 * (14 + 40 + 32)
