"""Generic socket options as the kernel stores them (devmem_lab/sockopts.py), values from a 6.18
kernel (the differential corpus in tests/live/conformance/ checks the same against recorded answers)."""

import errno
import socket

import pytest

from devmem_lab import Lab
from devmem_lab.kernel.sockopts import SYSCTL

SOL = socket.SOL_SOCKET
SO_RCVBUFFORCE = 33


@pytest.fixture
def host():
    return Lab(seed=0).server


@pytest.mark.parametrize(("value", "want"), [(1, 2304), (0, 2304), (7000, 14000),
                                             (1 << 20, 2 << 20), (-1, 8 << 20),
                                             (0x7FFFFFFF, 8 << 20)])
def test_rcvbuf_clamped_to_rmem_max_then_doubled(host, value, want):
    with host.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(SOL, socket.SO_RCVBUF, value)
        assert s.getsockopt(SOL, socket.SO_RCVBUF) == want
        assert s.rcvbuf == want  # the receive window follows it


def test_rmem_max_is_a_settable_sysctl(host):
    assert SYSCTL["net.core.rmem_max"] == 4194304  # this machine's 6.18 value
    host.sysctl["net.core.rmem_max"] = 212992  # the stock Linux default
    with host.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(SOL, socket.SO_RCVBUF, 1 << 20)
        assert s.getsockopt(SOL, socket.SO_RCVBUF) == 425984
    assert Lab(seed=0).server.sysctl["net.core.rmem_max"] == 4194304  # per host


def test_fresh_buffer_sizes(host):
    with host.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
            host.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        assert t.getsockopt(SOL, socket.SO_SNDBUF) == 16384  # tcp_wmem[1]
        assert u.getsockopt(SOL, socket.SO_SNDBUF) == u.getsockopt(SOL, socket.SO_RCVBUF) \
            == 212992  # wmem_default / rmem_default
        assert t.getsockopt(SOL, socket.SO_RCVBUF) == 131072  # tcp_rmem[1]
        host.sysctl["net.ipv4.tcp_rmem"] = (4096, 65536, 6 << 20)
        with host.socket(socket.AF_INET6, socket.SOCK_STREAM) as t2:
            assert t2.getsockopt(SOL, socket.SO_RCVBUF) == 65536  # read at socket()
        assert t.getsockopt(SOL, socket.SO_RCVBUF) == 131072


def test_rcvbufforce_skips_rmem_max(host):
    with host.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.setsockopt(SOL, SO_RCVBUFFORCE, 8 << 20)  # over rmem_max (4 MiB): kept, doubled
        assert s.getsockopt(SOL, socket.SO_RCVBUF) == 16 << 20 and s.rcvbuf_locked
        for value, want in ((-1, 2304), (0, 2304), (1 << 30, 2147483646)):
            s.setsockopt(SOL, SO_RCVBUFFORCE, value)  # max(val, 0); at most INT_MAX / 2
            assert s.getsockopt(SOL, socket.SO_RCVBUF) == want
        with pytest.raises(OSError) as e:
            s.getsockopt(SOL, SO_RCVBUFFORCE)  # set-only, as in the kernel
        assert e.value.errno == errno.ENOPROTOOPT


def test_values_are_normalised_and_checked(host):
    with host.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(SOL, socket.SO_REUSEADDR, 5)
        assert s.getsockopt(SOL, socket.SO_REUSEADDR) == 1
        assert s.getsockopt(SOL, socket.SO_REUSEADDR, 1) == b"\x01"
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, -1)
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 252  # ECN bits are TCP's
        s.setsockopt(SOL, socket.SO_RCVLOWAT, 0)
        assert s.getsockopt(SOL, socket.SO_RCVLOWAT) == 1
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG) == 536
        for level, opt, value, err in [(SOL, 60, 5, errno.EINVAL),  # SO_ZEROCOPY: 0 or 1
                                       (socket.IPPROTO_TCP, socket.TCP_MAXSEG, 87, errno.EINVAL),
                                       (SOL, socket.SO_TYPE, 1, errno.ENOPROTOOPT),
                                       (socket.IPPROTO_IPV6, 26, 1, errno.ENOPROTOOPT)]:
            with pytest.raises(OSError) as e:
                s.setsockopt(level, opt, value)
            assert e.value.errno == err, (level, opt)
        with pytest.raises(OSError) as e:
            s.getsockopt(socket.IPPROTO_IPV6, 26)
        assert e.value.errno == errno.EOPNOTSUPP
