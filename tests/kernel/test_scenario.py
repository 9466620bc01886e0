"""The ncdevmem scenario helper (``devmem_lab/scenario.py``): the exact state its set-up
leaves (ntuple rule, header split, RSS, the binding's queue and page pool, the TCP pair), that
it runs the same calls as the hand-written set-up it replaced, and that ``close()`` gives
every net_iov back (``net_devmem_unbind_dmabuf`` after the sockets are gone)."""

import errno
import os
import socket

import pytest
from conftest import POSTED

from devmem_lab import Lab, uapi
from devmem_lab.kernel.nic.device import FlowRule
from devmem_lab.scenario import (
    bind_rx,
    connect,
    ncdevmem_rx,
    ncdevmem_tx,
    steer,
    steer_commands,
)
from devmem_lab.ynl import Netdev

DEVMEM = uapi.MSG_SOCK_DEVMEM


def _hand_written(lab):
    """The set-up as benchmarks/bench_load.py spelled it out before the helper."""
    srv, cli = lab.server, lab.client
    srv.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    srv.ethtool("-K eth1 ntuple on")
    srv.ethtool("-X eth1 equal 15")
    srv.ethtool(f"-N eth1 flow-type tcp6 dst-ip {srv.address} dst-port 5201 action 15")
    fd = srv.udmabuf_create(256 * 4096)
    nl = Netdev(srv.netlink())
    binding_id = nl.bind_rx(srv.if_nametoindex("eth1"), fd, [15])["id"]
    ls = srv.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.bind(("::", 5201))
    ls.listen()
    cs = cli.socket(socket.AF_INET6, socket.SOCK_STREAM)
    cs.connect((srv.address, 5201))
    conn, _ = ls.accept()
    return binding_id, nl, cs, conn  # the binding lives as long as nl


def _fingerprint(lab, cs, conn):
    """What a later step can see of the set-up's order: clock, random stream, ids, ports."""
    srv = lab.server
    return (lab.now_ns, lab.rng.getstate(), cs.getsockname(), conn.getpeername(),
            sorted(srv.kernel.page_pools), sorted(srv.kernel.bindings), srv.nic.rss_table,
            dict(srv.nic.ntuple_rules))


def test_same_calls_as_the_hand_written_set_up():
    by_hand = Lab(seed=3)
    bid, _nl, cs, conn = _hand_written(by_hand)
    helped = Lab(seed=3)
    sc = ncdevmem_rx(helped)
    assert sc.binding_id == bid == 1
    assert _fingerprint(helped, sc.client, sc.conn) == _fingerprint(by_hand, cs, conn)


def test_rx_set_up_state():
    lab = Lab(seed=0)
    sc = ncdevmem_rx(lab, pages=64)
    nic = lab.server.nic
    assert (nic.tcp_data_split, nic.hds_thresh, nic.features["ntuple-filters"]) == ("on", 0, True)
    assert set(nic.rss_table) == set(range(15))  # RSS spread over queues 0..14 only
    assert nic.ntuple_rules == {1023: FlowRule("tcp6", dst_ip="2001:db8::1", dst_port=5201,
                                               action=15)}
    b = sc.binding
    assert (b.id, b.queues, b.num_niovs, b.free_count, b.bound) == (1, [15], 64, 56, True)
    assert b.posted_count == POSTED  # the rx ring was filled when bind-rx restarted the queue
    assert lab.server.kernel.bindings == {1: b}
    assert sc.rxq.binding is b and sc.rxq.pool.provider is b and sc.rxq.pool.inflight == POSTED
    pools = [p for p in sc.netdev.page_pool_dump() if p.get("dmabuf") == 1]
    assert [(p["ifindex"], p["id"]) for p in pools] == [(2, sc.rxq.pool.id)]
    assert sc.size == 64 * 4096 and os.fstat(sc.fd).st_size == 64 * 4096
    # the pair is connected and the flow lands on queue 15's dma-buf
    sc.client.sendall(b"ab" * 2000)
    data, anc, _, _ = sc.conn.recvmsg(8192, 4096, DEVMEM)
    frags = [c for kind, c in uapi.parse_cmsgs(anc) if kind == "dmabuf"]
    assert len(data) == 4000 and [c.frag_size for c in frags] == [1428, 1428, 1144]
    assert {c.dmabuf_id for c in frags} == {1}
    assert b"".join(sc.read_dmabuf(c.frag_offset, c.frag_size) for c in frags) == b"ab" * 2000


def test_close_releases_everything_even_with_tokens_held():
    lab = Lab(seed=0)
    sc = ncdevmem_rx(lab, pages=128)
    sc.client.sendall(bytes(100_000))
    got = 0
    while got < 100_000:  # read all, return no token
        data, _, _, _ = sc.conn.recvmsg(1 << 20, 80_000, DEVMEM)
        got += len(data)
    b, rxq, fd = sc.binding, sc.rxq, sc.fd
    # ceil(100000 / 1428) net_iovs held under tokens, plus the ring's posted ones
    assert b.inflight == 71 + POSTED and rxq.pool.inflight == 71 + POSTED
    sc.close()
    assert (b.inflight, b.free_count, b.bound, b.queues) == (0, 128, False, [])
    assert lab.server.kernel.bindings == {}
    assert rxq.binding is None and rxq.pool.provider is None
    assert sc.conn._closed and sc.client._closed and sc.listener._closed
    with pytest.raises(OSError) as e:
        os.fstat(fd)
    assert e.value.errno == errno.EBADF
    sc.close()  # twice is fine


def test_context_manager_and_binding_without_netlink():
    lab = Lab(seed=0)
    with ncdevmem_rx(lab, pages=16, netlink=False) as sc:
        assert sc.netdev is None and sc.binding.queues == [15]
        sc.client.sendall(b"x" * 5000)
        sc.conn.recvmsg(8192, 4096, DEVMEM)
        assert sc.binding.inflight == 4 + POSTED  # 4 held, the ring's 8 posted
    assert sc.closed and sc.binding.inflight == 0 and not sc.binding.bound
    assert lab.server.kernel.bindings == {}


def test_steps_alone():
    lab = Lab(seed=0, kernel="6.12")
    srv = lab.server
    assert steer_commands(srv) == [
        "-G eth1 tcp-data-split on", "-K eth1 ntuple on", "-X eth1 equal 15",
        "-N eth1 flow-type tcp6 dst-ip 2001:db8::1 dst-port 5201 action 15"]
    assert steer_commands(Lab().server, queue=7, port=80, family=socket.AF_INET) == [
        "-G eth1 tcp-data-split on hds-thresh 0", "-K eth1 ntuple on", "-X eth1 equal 7",
        "-N eth1 flow-type tcp4 dst-ip 192.0.2.1 dst-port 80 action 7"]
    out = steer(srv)
    assert out[1] == "Actual changes:\nrx-ntuple-filter: on\n" and out[3] == "Added rule with ID 1023\n"
    binding, netdev = bind_rx(srv, srv.udmabuf_create(8 * 4096), [14, 15], netlink=False)
    assert netdev is None and binding.queues == [14, 15]
    _ls, cs, conn = connect(lab, port=5201, rcvbuf=8192)
    assert conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 16384  # doubled, inherited
    assert cs.getpeername()[:2] == ("2001:db8::1", 5201)


def test_accelerator_memory_and_no_devmem():
    lab = Lab(seed=0)
    sc = ncdevmem_rx(lab, pages=8, memory="accel", connect=False)
    assert sc.binding.dmabuf.kind == "accel" and sc.client is None and sc.listener is not None
    plain = ncdevmem_rx(Lab(seed=0), devmem=False, family=socket.AF_INET)
    assert plain.binding is None and plain.fd == -1 and plain.host.nic.ntuple_rules == {}
    plain.client.sendall(b"hi")
    assert plain.conn.recv(10) == b"hi"
    plain.close()
    with pytest.raises(ValueError, match="memory must be"):
        ncdevmem_rx(Lab(seed=0), memory="gpu")


def test_tx_set_up_and_close():
    lab = Lab(seed=0)
    sc = ncdevmem_tx(lab, size=4 * 4096, fill=lambda v: v.write(b"T" * (4 * 4096)))
    cli = lab.client
    assert sc.tx_id == 1 and list(cli.kernel.bindings) == [1]
    assert sc.client.getsockopt(socket.SOL_SOCKET, uapi.SO_ZEROCOPY) == 1
    assert sc.ancdata == [(socket.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, b"\x01\x00\x00\x00")]
    assert sc.client.sendmsg([uapi.DmabufIov(100, 3000)], sc.ancdata, uapi.MSG_ZEROCOPY) == 3000
    got = b""
    while len(got) < 3000:
        got += sc.conn.recv(3000)
    assert got == b"T" * 3000
    sc.close()
    assert cli.kernel.bindings == {}
