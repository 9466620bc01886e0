"""Bad calls raise a clear error and leave the lab usable: no leaked net_iov, no stuck socket."""

import errno
import socket

import pytest
from conftest import validation_pattern

from devmem_lab import DevmemError, Lab, uapi
from devmem_lab.uapi import parse_cmsgs

DEVMEM = uapi.MSG_SOCK_DEVMEM


def assert_still_works(d, n=5000):
    """A fresh transfer goes through and every net_iov comes back."""
    payload = validation_pattern(n)
    d.client.sendall(payload)
    got, tokens = bytearray(), []
    while len(got) < n:
        _data, anc, _, _ = d.conn.recvmsg(65536, 4096, DEVMEM)
        for _, cm in parse_cmsgs(anc):
            got += d.binding.dmabuf.read(cm.frag_offset, cm.frag_size)
            tokens.append(cm.frag_token)
    assert bytes(got) == payload
    d.conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, uapi.pack_tokens(tokens))
    # every net_iov is back in the genpool but the 8 the rx ring keeps posted
    assert (d.binding.free_count, d.binding.posted_count) == (d.binding.num_niovs - 8, 8)


BAD_CALLS = [
    ("udmabuf size not a page multiple", lambda d: d.lab.server.udmabuf_create(100), OSError, errno.EINVAL),
    ("udmabuf size negative", lambda d: d.lab.server.udmabuf_create(-4096), OSError, errno.EINVAL),
    ("udmabuf over 64 MiB", lambda d: d.lab.server.udmabuf_create(65 << 20), OSError, errno.EINVAL),
    ("udmabuf size str", lambda d: d.lab.server.udmabuf_create("4096"), TypeError, None),
    ("accel read outside", lambda d: d.lab.server.accel.read(d.lab.server.accel.alloc(4096), 4000, 200), OSError, errno.EINVAL),
    ("accel read of udmabuf", lambda d: d.lab.server.accel.read(d.fd, 0, 1), OSError, errno.EINVAL),
    ("accel read closed fd", lambda d: d.lab.server.accel.read(999999, 0, 1), OSError, errno.EBADF),
    ("if_nametoindex unknown", lambda d: d.lab.server.if_nametoindex("eth9"), OSError, errno.ENODEV),
    ("socket family", lambda d: d.lab.server.socket(12345, socket.SOCK_STREAM), OSError, errno.EAFNOSUPPORT),
    ("socket type", lambda d: d.lab.server.socket(socket.AF_INET6, socket.SOCK_RAW), OSError, errno.ESOCKTNOSUPPORT),
    ("socket family str", lambda d: d.lab.server.socket("inet6", socket.SOCK_STREAM), TypeError, None),
    ("recvmsg negative size", lambda d: d.conn.recvmsg(-1, 0, DEVMEM), ValueError, None),
    ("recvmsg float size", lambda d: d.conn.recvmsg(1.5, 0, DEVMEM), TypeError, None),
    ("recvmsg flags str", lambda d: d.conn.recvmsg(100, 100, "devmem"), TypeError, None),
    ("setsockopt value list", lambda d: d.conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, [1, 2]), TypeError, None),
    ("setsockopt odd length", lambda d: d.conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, b"\0" * 9), OSError, errno.EINVAL),
    ("setsockopt unknown option", lambda d: d.conn.setsockopt(socket.SOL_SOCKET, 4242, 1), OSError, errno.ENOPROTOOPT),
    ("connect nobody listening", lambda d: d.lab.client.socket(socket.AF_INET6, socket.SOCK_STREAM).connect((d.lab.server.address, 9)), OSError, errno.ECONNREFUSED),
    ("connect bad tuple", lambda d: d.lab.client.socket(socket.AF_INET6, socket.SOCK_STREAM).connect("server"), TypeError, None),
    ("bind foreign address", lambda d: d.lab.server.socket(socket.AF_INET6, socket.SOCK_STREAM).bind(("2001:db8::99", 1)), OSError, errno.EADDRNOTAVAIL),
    ("bind port in use", lambda d: d.lab.server.socket(socket.AF_INET6, socket.SOCK_STREAM).bind(("::", 5201)), OSError, errno.EADDRINUSE),
    ("send on listener", lambda d: d.listener.send(b"x"), OSError, errno.ENOTCONN),
    ("recv on listener", lambda d: d.listener.recv(10), OSError, errno.ENOTCONN),
    ("ethtool garbage", lambda d: d.lab.server.ethtool("-Q eth1 nonsense"), OSError, None),
    ("ethtool not a str", lambda d: d.lab.server.ethtool(["-l", "eth1"]), TypeError, None),
    ("ethtool shrink below bound queue", lambda d: d.lab.server.ethtool("-L eth1 combined 8"), OSError, errno.EINVAL),
    ("ethtool header split off while bound", lambda d: d.lab.server.ethtool("-G eth1 tcp-data-split off"), OSError, errno.EINVAL),
    ("lab run negative", lambda d: d.lab.run(-1), ValueError, None),
    ("parse_cmsgs garbage", lambda d: parse_cmsgs([("x",)]), ValueError, None),
    ("pack_tokens negative", lambda d: uapi.pack_tokens([-5]), ValueError, None),
]


@pytest.mark.parametrize("what, call, exc, err", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_and_lab_stays_usable(devmem, what, call, exc, err):
    devmem.client.sendall(b"\7" * 3000)  # data in flight while the bad call happens
    with pytest.raises(exc) as e:
        call(devmem)
    if err is not None:
        assert e.value.errno == err
    if isinstance(e.value, OSError):
        assert e.value.strerror  # a message, not a bare number
    data, anc, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM)
    devmem.conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED,
                           uapi.pack_tokens([c.frag_token for _, c in parse_cmsgs(anc)]))
    while devmem.conn.tokens_held or len(data) < 3000:
        more, anc, _, _ = devmem.conn.recvmsg(65536, 4096, DEVMEM)
        data += more
        devmem.conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED,
                               uapi.pack_tokens([c.frag_token for _, c in parse_cmsgs(anc)]))
    assert_still_works(devmem)


@pytest.mark.parametrize("kwargs", [{"seed": "0"}, {"kernel": "5.15"}, {"link_gbps": -1},
                                    {"mtu": 100}, {"mtu": 1500.0}, {"delay_us": 0}])
def test_lab_rejects_bad_parameters(kwargs):
    with pytest.raises((TypeError, ValueError)):
        Lab(**kwargs)


def test_errors_are_oserror_subclasses_with_kernel_errno():
    lab = Lab(seed=0)
    with pytest.raises(DevmemError) as e:
        lab.server.udmabuf_create(1)
    assert isinstance(e.value, OSError) and e.value.errno == errno.EINVAL
