"""ncdevmem, in Python, against the emulator: set up, bind over netlink, receive, validate.

Follows tools/testing/selftests/drivers/net/hw/ncdevmem.c: a 16000-page udmabuf, header
split on, RSS kept off the last queue, one ntuple rule, bind-rx of that queue, then
recvmsg(MSG_SOCK_DEVMEM) with an 819200-byte iov and an 80000-byte control buffer, each frag
validated from the udmabuf and returned with SO_DEVMEM_DONTNEED (which must return 1).
"""

import errno
import mmap
import os
import socket

import pytest
from conftest import assert_all_back, connect, validation_pattern

from devmem_lab import Lab, uapi
from devmem_lab.ynl import Netdev

NUM_PAGES = 16000
PORT = 5201


def ncdevmem_setup(lab: Lab):
    srv = lab.server
    ifindex = srv.if_nametoindex(srv.ifname)
    channels = srv.ethtool("-l eth1")
    combined = int(channels.split("Current hardware settings:")[1].split("Combined:")[1].split()[0])
    queue = combined - 1  # ncdevmem binds the last queue
    srv.ethtool("-K eth1 ntuple off")
    srv.ethtool("-K eth1 ntuple on")
    srv.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    srv.ethtool(f"-X eth1 equal {queue}")
    srv.ethtool(f"-N eth1 flow-type tcp6 dst-ip {srv.address} dst-port {PORT} queue {queue}")
    size = NUM_PAGES * 4096
    fd = srv.udmabuf_create(size)
    nl = srv.netlink()
    reply = Netdev(nl).bind_rx(ifindex, fd, [queue])
    return fd, size, nl, reply["id"], queue


def ncdevmem_receive(conn, buf, dmabuf_id, expected: int, seed_n: int = 7) -> int:
    """The server loop: every frag validated in order, every token returned one by one."""
    seed, total = 1, 0
    while total < expected:
        data, anc, _, _ = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)
        if not data:
            break
        cmsgs = uapi.parse_cmsgs(anc)
        assert any(kind == "dmabuf" for kind, _ in cmsgs), "flow steering error"
        for kind, cm in cmsgs:
            if kind == "linear":
                continue
            assert cm.dmabuf_id == dmabuf_id
            for byte in buf[cm.frag_offset:cm.frag_offset + cm.frag_size]:
                want = seed if seed else ord("\n")
                assert byte == want
                seed = (seed + 1) % seed_n
            freed = conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED,
                                    uapi.DmabufToken(cm.frag_token, 1).pack())
            assert freed == 1
        total += len(data)
    return total


def test_ncdevmem_receives_and_validates_several_mib():
    lab = Lab(seed=0)
    fd, size, nl, dmabuf_id, queue = ncdevmem_setup(lab)
    assert (dmabuf_id, queue) == (1, 15)
    buf = mmap.mmap(fd, size)
    _, cs, conn = connect(lab, PORT)
    total = 3 << 20
    cs.sendall(validation_pattern(total))
    cs.close()
    assert ncdevmem_receive(conn, buf, dmabuf_id, total) == total
    assert conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)[0] == b""  # EOF
    st = lab.server.nic.rx_queues[queue].stats
    assert st.devmem_bytes == total and st.alloc_fail == 0
    assert_all_back(lab.server.kernel.bindings[dmabuf_id])  # 8 stay posted to the rx ring
    q = Netdev(nl).qstats_get(lab.server.if_nametoindex("eth1"))
    assert q["rx-packets"] == st.packets == -(-total // 1428)
    nl.close()
    os.close(fd)


def test_steered_flow_without_the_flag_is_efault_and_unsteered_flow_is_plain():
    lab = Lab(seed=0)
    fd, _size, nl, _dmabuf_id, _queue = ncdevmem_setup(lab)
    _, cs, conn = connect(lab, PORT)
    cs.sendall(b"\1" * 5000)
    for flags in (0, uapi.MSG_DONTWAIT):
        with pytest.raises(OSError) as e:
            conn.recvmsg(819200, 80000, flags)
        assert e.value.errno == errno.EFAULT
    _, cs2, conn2 = connect(lab, PORT + 1)  # no rule: RSS puts it on queues 0..14
    cs2.sendall(b"plain" * 200)
    for flags in (uapi.MSG_SOCK_DEVMEM, 0):
        data, anc, _, _ = conn2.recvmsg(500, 80000, flags)
        assert data == (b"plain" * 200)[:500] if flags else data == (b"plain" * 200)[500:1000]
        assert anc == []
    data, anc, _, _ = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)
    assert len(data) == 5000 and all(k == "dmabuf" for k, _ in uapi.parse_cmsgs(anc))
    nl.close()
    os.close(fd)


def test_closing_the_netlink_socket_unbinds_but_tokens_stay_valid():
    lab = Lab(seed=0)
    fd, _size, nl, dmabuf_id, queue = ncdevmem_setup(lab)
    binding = lab.server.kernel.bindings[dmabuf_id]
    _, cs, conn = connect(lab, PORT)
    cs.sendall(b"\2" * 4 * 1428)
    _data, anc, _, _ = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)
    tokens = [cm.frag_token for _, cm in uapi.parse_cmsgs(anc)]
    assert len(tokens) == 4
    nl.close()  # netdev_nl_sock_priv_destroy: every binding of this socket is unbound
    assert dmabuf_id not in lab.server.kernel.bindings
    assert "dmabuf" not in Netdev(lab.server.netlink()).queue_get(2, queue, "rx")
    cs.sendall(b"\3" * 1000)  # the queue restarted on host pages: ordinary data now
    data2, anc2, _, _ = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)
    assert data2 == b"\3" * 1000 and anc2 == []
    assert conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED,
                           uapi.pack_tokens(tokens)) == 4
    assert_all_back(binding, posted=0)  # unbound: the old ring went back at the restart
    # binding ids are cyclic: the next bind gets 2, not the freed 1
    nl2 = lab.server.netlink()
    assert Netdev(nl2).bind_rx(2, fd, [queue]) == {"id": 2}
    nl2.close()
    os.close(fd)


def test_linear_payload_reaches_the_reader_as_scm_devmem_linear():
    lab = Lab(seed=0)
    fd, _size, nl, _dmabuf_id, _queue = ncdevmem_setup(lab)
    lab.server.nic.hds_linear_bytes = 64  # a NIC that splits 64 bytes past the headers
    _, cs, conn = connect(lab, PORT)
    payload = validation_pattern(3 * 1428)
    cs.sendall(payload)
    data, anc, _, _ = conn.recvmsg(819200, 80000, uapi.MSG_SOCK_DEVMEM)
    kinds = [k for k, _ in uapi.parse_cmsgs(anc)]
    assert kinds == ["linear", "dmabuf"] * 3
    assert data[:64] == payload[:64] and len(data) == len(payload)
    nl.close()
    os.close(fd)
