"""SO_DEVMEM_DONTNEED: sock_devmem_dontneed's limits, errors and counts."""

import errno
import socket

import pytest
from conftest import assert_all_back, bind, connect, steer

from devmem_lab import Lab, uapi
from devmem_lab.uapi import DmabufToken, parse_cmsgs

SOL, DONTNEED = socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED


def read_all_tokens(conn, n_bytes):
    tokens, got = [], 0
    while got < n_bytes:
        data, anc, _, _ = conn.recvmsg(1 << 20, 1 << 20, uapi.MSG_SOCK_DEVMEM)
        got += len(data)
        tokens += [c.frag_token for _, c in parse_cmsgs(anc)]
    return tokens


def held_lab(kernel="6.18", frags=1500):
    lab = Lab(seed=0, kernel=kernel)
    steer(lab.server)
    binding = bind(lab.server, lab.server.udmabuf_create(2048 * 4096), [15])
    _, cs, conn = connect(lab)
    cs.sendall(b"\1" * (frags * 1428))
    return lab, binding, conn, read_all_tokens(conn, frags * 1428)


def test_returns_count_freed_and_skips_unknown_tokens(devmem):
    devmem.client.sendall(b"a" * 1428 * 4)
    tokens = read_all_tokens(devmem.conn, 1428 * 4)
    assert tokens == [1, 2, 3, 4]
    assert devmem.conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens([1, 2, 99])) == 2
    assert devmem.conn.setsockopt(SOL, DONTNEED, uapi.pack_tokens([1, 2])) == 0  # no double free
    assert devmem.conn.setsockopt(SOL, DONTNEED, DmabufToken(0, 10).pack()) == 2
    assert_all_back(devmem.binding)
@pytest.mark.parametrize("value", [b"", b"\0" * 3, b"\0" * 7, b"\0" * 12, 5,
                                   b"\0" * 8 * 129])
def test_bad_lengths_are_einval(devmem, value):
    with pytest.raises(OSError) as e:
        devmem.conn.setsockopt(SOL, DONTNEED, value)
    assert e.value.errno == errno.EINVAL


def test_128_ranges_is_the_limit(devmem):
    assert devmem.conn.setsockopt(SOL, DONTNEED, b"\0" * 8 * 128) == 0


def test_not_tcp_is_ebadf_after_the_length_check():
    lab = Lab(seed=0)
    udp = lab.server.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(OSError) as e:
        udp.setsockopt(SOL, DONTNEED, b"\0" * 8)
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        udp.setsockopt(SOL, DONTNEED, b"")
    assert e.value.errno == errno.EINVAL


def test_devmem_options_are_not_readable_or_settable(devmem):
    for opt in (uapi.SO_DEVMEM_LINEAR, uapi.SO_DEVMEM_DMABUF, uapi.SO_DEVMEM_DONTNEED):
        with pytest.raises(OSError) as e:
            devmem.conn.getsockopt(SOL, opt)
        assert e.value.errno == errno.ENOPROTOOPT
    for opt in (uapi.SO_DEVMEM_LINEAR, uapi.SO_DEVMEM_DMABUF):
        with pytest.raises(OSError) as e:
            devmem.conn.setsockopt(SOL, opt, 1)
        assert e.value.errno == errno.ENOPROTOOPT


def test_current_kernel_examines_at_most_1024_frags_per_call():
    _lab, binding, conn, tokens = held_lab("6.18")
    assert len(tokens) == 1500
    assert conn.setsockopt(SOL, DONTNEED, DmabufToken(1, 1500).pack()) == 1024
    # the same range again: 1..1024 are gone, and they use up the 1024 slots examined
    assert conn.setsockopt(SOL, DONTNEED, DmabufToken(1, 1500).pack()) == 0
    assert conn.setsockopt(SOL, DONTNEED, DmabufToken(1025, 476).pack()) == 476
    assert_all_back(binding)
    # unknown tokens count against the cap too
    _lab, binding, conn, tokens = held_lab("6.18")
    ranges = DmabufToken(100000, 1000).pack() + DmabufToken(1, 1500).pack()
    assert conn.setsockopt(SOL, DONTNEED, ranges) == 24


def test_6_12_has_no_frag_cap():
    _lab, binding, conn, _tokens = held_lab("6.12")
    assert conn.setsockopt(SOL, DONTNEED, DmabufToken(1, 1500).pack()) == 1500
    assert_all_back(binding)
def test_huge_and_wrapping_ranges():
    _lab, _binding, conn, _tokens = held_lab("6.12", frags=10)
    assert conn.setsockopt(SOL, DONTNEED, DmabufToken(0xFFFFFFFF, 3).pack()) == 1  # 0xffffffff, 0, 1
    assert conn.setsockopt(SOL, DONTNEED, DmabufToken(0, 0xFFFFFFFF).pack()) == 9


def test_close_frees_every_token_and_queued_skb(devmem):
    devmem.client.sendall(b"c" * 1428 * 10)
    read_all_tokens(devmem.conn, 1428 * 6)
    devmem.lab.run(0.001)
    assert devmem.binding.free_count < devmem.binding.num_niovs
    devmem.conn.close()
    assert_all_back(devmem.binding)
    assert devmem.lab.server.nic.rx_queues[15].pool.inflight == 8  # the posted rx ring
    with pytest.raises(OSError) as e:
        devmem.conn.setsockopt(SOL, DONTNEED, b"\0" * 8)
    assert e.value.errno == errno.EBADF


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM])
@pytest.mark.parametrize("optlen,want", [(0, errno.EINVAL), (3, errno.EINVAL), (4, errno.EFAULT),
                                         (7, errno.EFAULT), (8, errno.EFAULT), (12, errno.EFAULT),
                                         (8 * 129, errno.EFAULT)])
def test_null_optval_order_of_checks(kind, optlen, want):
    """sk_setsockopt: ``optlen < sizeof(int)`` is EINVAL first, then the copy of the int from a
    NULL optval is EFAULT, before DONTNEED's own TCP and length checks (as on 6.18.44)."""
    with Lab(seed=0).server.socket(socket.AF_INET6, kind) as s:
        with pytest.raises(OSError) as e:
            s.setsockopt(SOL, DONTNEED, None, optlen)
        assert e.value.errno == want
