"""recvmsg on devmem and ordinary data, exactly as tcp_recvmsg_locked / tcp_recvmsg_dmabuf."""

import errno
import mmap
import socket

import pytest
from conftest import connect, validation_pattern

from devmem_lab import Lab, uapi
from devmem_lab.scenario import ncdevmem_rx, steer_commands
from devmem_lab.uapi import DmabufCmsg, parse_cmsgs

DEVMEM = uapi.MSG_SOCK_DEVMEM
MSS = 1428  # MTU 1500 - IPv6 40 - TCP 20 - timestamps 12


def test_devmem_read_reports_frags_not_bytes(devmem):
    payload = validation_pattern(3000)
    devmem.client.sendall(payload)
    data, anc, flags, addr = devmem.conn.recvmsg(65536, 4096, DEVMEM)
    assert len(data) == 3000 and data == bytes(3000)  # counted, not copied
    assert (flags, addr) == (0, None)
    b = devmem.binding.id
    assert parse_cmsgs(anc) == [
        ("dmabuf", DmabufCmsg(0, MSS, 1, b)),
        ("dmabuf", DmabufCmsg(4096, MSS, 2, b)),
        ("dmabuf", DmabufCmsg(8192, 3000 - 2 * MSS, 3, b)),
    ]
    m = mmap.mmap(devmem.fd, devmem.size)
    assert b"".join(m[c.frag_offset:c.frag_offset + c.frag_size]
                    for _, c in parse_cmsgs(anc)) == payload
    assert devmem.conn.tokens_held == 3


def test_without_msg_sock_devmem_efault_and_data_stays(devmem):
    devmem.client.sendall(b"x" * 2000)
    with pytest.raises(OSError) as e:
        devmem.conn.recvmsg(65536, 4096)
    assert e.value.errno == errno.EFAULT  # still EFAULT on 6.18
    with pytest.raises(OSError) as e:
        devmem.conn.recv(65536, DEVMEM)  # no control buffer: put_cmsg_notrunc's ETOOSMALL
    assert (e.value.errno, e.value.strerror) == (uapi.ETOOSMALL, "Unknown error 525")
    assert devmem.conn.tokens_held == 0
    data, anc, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM)
    assert len(data) == 2000 and len(anc) == 2
    assert [c.frag_token for _, c in parse_cmsgs(anc)] == [1, 2]  # the failed calls took none


@pytest.mark.parametrize("ancbufsize", [0, 1, 16, socket.CMSG_LEN(24) - 1])
def test_control_buffer_too_small_is_etoosmall_on_618_efault_on_612(devmem, devmem_612,
                                                                   ancbufsize):
    for d, want in ((devmem, uapi.ETOOSMALL), (devmem_612, errno.EFAULT)):
        d.client.sendall(b"y" * 2000)
        d.lab.run(0.001)
        for flags in (DEVMEM, DEVMEM | uapi.MSG_PEEK, DEVMEM | uapi.MSG_DONTWAIT):
            with pytest.raises(OSError) as e:
                d.conn.recvmsg(65536, ancbufsize, flags)
            assert e.value.errno == want, (d.lab.kernel, flags)
        assert d.conn.tokens_held == 0
        with pytest.raises(OSError) as e:  # without the flag: EFAULT on both
            d.conn.recvmsg(65536, ancbufsize)
        assert e.value.errno == errno.EFAULT
        data, anc, _, _ = d.conn.recvmsg(65536, 4096, DEVMEM)  # nothing was consumed
        assert len(data) == 2000 and len(anc) == 2


def test_control_buffer_fits_one_cmsg_short_read_rest_stays(devmem):
    devmem.client.sendall(b"y" * 3000)
    data, anc, _, _ = devmem.conn.recvmsg(65536, socket.CMSG_SPACE(24), DEVMEM)
    assert len(data) == MSS and len(anc) == 1
    with pytest.raises(OSError) as e:
        devmem.conn.recvmsg(65536, socket.CMSG_LEN(24) - 1, DEVMEM)
    assert e.value.errno == uapi.ETOOSMALL
    # room for two and a bit: the bytes already reported are returned, no error
    data, anc, _, _ = devmem.conn.recvmsg(65536, 2 * socket.CMSG_SPACE(24) - 1, DEVMEM)
    assert len(data) == MSS and [c.frag_token for _, c in parse_cmsgs(anc)] == [2]
    data, anc, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM)
    assert len(data) == 3000 - 2 * MSS
    assert [c.frag_token for _, c in parse_cmsgs(anc)] == [3]


@pytest.mark.parametrize("kernel,want", [("6.18", uapi.ETOOSMALL), ("6.12", errno.EFAULT)])
def test_linear_part_without_room_for_its_cmsg_fails_and_stays_queued(kernel, want):
    lab = Lab(seed=0, kernel=kernel)
    from conftest import bind, steer
    steer(lab.server)
    lab.server.nic.hds_linear_bytes = 100  # 100 payload bytes in each header buffer
    fd = lab.server.udmabuf_create(64 * 4096)
    bind(lab.server, fd, [15])
    _, cs, conn = connect(lab)
    cs.sendall(bytes(range(250)) * 4)
    lab.run(0.001)
    buf = bytearray(b"." * 200)
    with pytest.raises(OSError) as e:
        conn.recvmsg_into([buf], socket.CMSG_LEN(24) - 1, DEVMEM)
    assert e.value.errno == want
    assert conn.tokens_held == 0
    n, anc, _, _ = conn.recvmsg_into([buf], socket.CMSG_LEN(24), DEVMEM)  # the LINEAR cmsg only
    assert n == 100 and [k for k, _ in parse_cmsgs(anc)] == ["linear"]
    assert bytes(buf[:100]) == bytes(range(100))


def test_iov_length_caps_devmem_bytes_and_splits_a_frag(devmem):
    devmem.client.sendall(b"z" * MSS)
    data, anc, _, _ = devmem.conn.recvmsg(1000, 4096, DEVMEM)
    assert len(data) == 1000
    assert parse_cmsgs(anc) == [("dmabuf", DmabufCmsg(0, 1000, 1, devmem.binding.id))]
    data, anc, _, _ = devmem.conn.recvmsg(1000, 4096, DEVMEM)
    assert len(data) == MSS - 1000
    assert parse_cmsgs(anc) == [("dmabuf", DmabufCmsg(1000, MSS - 1000, 2, devmem.binding.id))]
    # both tokens pin the same net_iov: it comes back only with the second return
    # (8 more are posted to the rx ring throughout)
    assert devmem.binding.free_count == 256 - 8 - 1
    opt = uapi.SO_DEVMEM_DONTNEED
    assert devmem.conn.setsockopt(socket.SOL_SOCKET, opt, uapi.pack_tokens([1])) == 1
    assert devmem.binding.free_count == 256 - 8 - 1
    assert devmem.conn.setsockopt(socket.SOL_SOCKET, opt, uapi.pack_tokens([2])) == 1
    assert devmem.binding.free_count == 256 - 8


def test_unsteered_flow_uses_the_copy_path_flag_or_not(devmem):
    lab = devmem.lab
    _, cs, conn = connect(lab, port=6000)
    cs.sendall(b"plain" * 1000)
    data, anc, _, _ = conn.recvmsg(2000, 4096, DEVMEM)
    assert data == (b"plain" * 1000)[:2000] and anc == []
    data, anc, _, _ = conn.recvmsg(65536, 4096)
    assert data == (b"plain" * 1000)[2000:] and anc == []
    assert lab.server.nic.rx_queues[15].stats.packets == 0


def test_linear_payload_gives_one_scm_devmem_linear_per_skb(devmem):
    devmem.lab.server.nic.hds_linear_bytes = 100
    payload = validation_pattern(MSS + 500)
    devmem.client.sendall(payload)
    data, anc, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM)
    b = devmem.binding.id
    assert parse_cmsgs(anc) == [
        ("linear", DmabufCmsg(0, 100, 0, 0)),
        ("dmabuf", DmabufCmsg(0, MSS - 100, 1, b)),
        ("linear", DmabufCmsg(0, 100, 0, 0)),
        ("dmabuf", DmabufCmsg(4096, 400, 2, b)),
    ]
    assert len(data) == MSS + 500
    # linear bytes are copied, packed at the front as the iov saw them
    assert data[:200] == payload[:100] + payload[MSS:MSS + 100]
    assert data[200:] == bytes(len(data) - 200)


def test_one_call_never_mixes_readable_and_devmem_skbs():
    lab = Lab(seed=0)
    from conftest import bind
    srv = lab.server
    srv.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    srv.ethtool("-X eth1 equal 15")
    binding = bind(srv, srv.udmabuf_create(64 * 4096), [15])
    _, cs, conn = connect(lab)
    cs.sendall(b"a" * 100)
    lab.run(0.001)  # lands on an RSS queue: readable
    srv.ethtool("-K eth1 ntuple on")
    srv.ethtool("-N eth1 flow-type tcp6 dst-port 5201 action 15")
    cs.sendall(b"b" * 100)
    lab.run(0.001)  # now steered to the bound queue: devmem
    data, anc, _, _ = conn.recvmsg(65536, 4096, DEVMEM)
    assert data == b"a" * 100 and anc == []
    data, anc, _, _ = conn.recvmsg(65536, 4096, DEVMEM)
    assert len(data) == 100 and parse_cmsgs(anc)[0][1].dmabuf_id == binding.id


def test_msg_peek_allocates_tokens_and_consumes_nothing(devmem):
    devmem.client.sendall(b"p" * 100)
    _, anc1, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM | uapi.MSG_PEEK)
    _, anc2, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM)
    assert [c.frag_token for _, c in parse_cmsgs(anc1)] == [1]
    assert [c.frag_token for _, c in parse_cmsgs(anc2)] == [2]
    assert devmem.conn.tokens_held == 2


def test_msg_trunc_discards_devmem_data_without_cmsgs(devmem):
    devmem.client.sendall(b"t" * 3000)
    data, anc, _, _ = devmem.conn.recvmsg(65536, 0, uapi.MSG_TRUNC)
    assert len(data) == 3000 and anc == []
    assert devmem.conn.tokens_held == 0
    assert devmem.binding.free_count == 256 - 8  # all back but the rx ring's posted 8


def test_tokens_reuse_the_lowest_free_index(devmem):
    devmem.client.sendall(b"k" * (3 * MSS))
    _, anc, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM)
    assert [c.frag_token for _, c in parse_cmsgs(anc)] == [1, 2, 3]
    freed = devmem.conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED,
                                   uapi.pack_tokens([2]))
    assert freed == 1
    devmem.client.sendall(b"k" * (2 * MSS))
    _, anc, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM)
    assert [c.frag_token for _, c in parse_cmsgs(anc)] == [2, 4]


def test_eof_after_close_and_nonblocking_eagain(devmem):
    devmem.conn.setblocking(False)
    with pytest.raises(BlockingIOError):
        devmem.conn.recvmsg(100, 100, DEVMEM)
    devmem.conn.setblocking(True)
    devmem.client.close()
    assert devmem.conn.recvmsg(100, 100, DEVMEM) == (b"", [], 0, None)


def test_blocking_read_with_nothing_in_flight_does_not_hang(devmem):
    with pytest.raises(BlockingIOError, match="block forever"):
        devmem.conn.recv(100)
    devmem.conn.settimeout(0.5)
    t0 = devmem.lab.now
    with pytest.raises(TimeoutError):
        devmem.conn.recv(100)
    assert devmem.lab.now == pytest.approx(t0 + 0.5)


def test_accelerator_memory_is_read_through_the_device():
    sc = ncdevmem_rx(Lab(seed=0), pages=64, memory="accel", netlink=False)
    srv, fd, binding, cs, conn = sc.host, sc.fd, sc.binding, sc.client, sc.conn
    with pytest.raises(ValueError):
        mmap.mmap(fd, 64 * 4096)  # the CPU cannot map device memory
    cs.sendall(b"gpu!" * 500)
    _, anc, _, _ = conn.recvmsg(65536, 4096, DEVMEM)
    got = b"".join(srv.accel.read(fd, c.frag_offset, c.frag_size) for _, c in parse_cmsgs(anc))
    assert got == b"gpu!" * 500
    assert binding.dmabuf.kind == "accel"


def test_ipv4_flow_steered_with_tcp4_rule():
    sc = ncdevmem_rx(Lab(seed=0), pages=64, family=socket.AF_INET, netlink=False)
    assert "flow-type tcp4 dst-ip 192.0.2.1 dst-port 5201 action 15" in steer_commands(
        sc.host, family=socket.AF_INET)[3]
    binding, cs, conn = sc.binding, sc.client, sc.conn
    cs.sendall(b"4" * 3000)
    data, anc, _, _ = conn.recvmsg(65536, 4096, DEVMEM)
    assert len(data) == 3000
    assert [c.frag_size for _, c in parse_cmsgs(anc)] == [1448, 1448, 104]  # IPv4 MSS
    assert all(c.dmabuf_id == binding.id for _, c in parse_cmsgs(anc))


def test_recvmsg_into_writes_only_linear_bytes_and_leaves_the_rest(devmem):
    devmem.lab.server.nic.hds_linear_bytes = 100
    payload = validation_pattern(MSS + 500)
    devmem.client.sendall(payload)
    head, tail = bytearray(b"\xee" * 150), bytearray(b"\xee" * 65536)
    nbytes, anc, flags, addr = devmem.conn.recvmsg_into([head, tail], 4096, DEVMEM)
    assert (nbytes, flags, addr) == (MSS + 500, 0, None)
    assert [kind for kind, _ in parse_cmsgs(anc)] == ["linear", "dmabuf"] * 2
    linear = payload[:100] + payload[MSS:MSS + 100]  # packed at the front, across buffers
    assert head == linear[:150] and tail[:50] == linear[150:]
    assert tail[50:] == b"\xee" * (65536 - 50)  # dmabuf bytes never touch the iov


def test_recvmsg_into_matches_recvmsg_call_for_call():
    labs = []
    for _ in range(2):
        lab = Lab(seed=3)
        from conftest import bind, steer
        steer(lab.server)
        bind(lab.server, lab.server.udmabuf_create(256 * 4096), [15])
        _, cs, conn = connect(lab)
        cs.sendall(validation_pattern(100_000))
        labs.append((lab, conn))
    (lab_a, a), (lab_b, b) = labs
    buf = bytearray(7000)
    for anc_size in (4096, 200, 40, 4096, 1 << 16):
        data, anc_a, _, _ = a.recvmsg(len(buf), anc_size, DEVMEM)
        nbytes, anc_b, _, _ = b.recvmsg_into([buf], anc_size, DEVMEM)
        assert (len(data), anc_a) == (nbytes, anc_b)
    assert (lab_a.now_ns, a.tokens_held) == (lab_b.now_ns, b.tokens_held)


def test_recv_into_plain_data_and_errors(devmem):
    _, cs, conn = connect(devmem.lab, port=6000)  # not steered: readable skbs
    cs.sendall(b"plain" * 1000)
    buf = bytearray(3000)
    assert conn.recv_into(buf, 10) == 10 and buf[:10] == b"plainplain"
    assert conn.recv_into(buf) == 3000 and bytes(buf) == (b"plain" * 1000)[10:3010]
    with pytest.raises(TypeError):
        conn.recvmsg_into([b"read-only"])
    devmem.client.sendall(b"x" * 2000)
    with pytest.raises(OSError) as e:  # devmem data without the flag, as recvmsg
        devmem.conn.recv_into(bytearray(4096))
    assert e.value.errno == errno.EFAULT
