"""The devmem TX ABI: MSG_ZEROCOPY/SO_ZEROCOPY, the u32 binding-id cmsg, sock_extended_err."""

import socket
import struct

import pytest

from devmem_lab import uapi
from devmem_lab.uapi import DmabufIov, SockExtendedErr, pack_tx_dmabuf_id


def test_constants_have_kernel_values():
    assert uapi.MSG_ZEROCOPY == 0x4000000  # include/linux/socket.h
    assert uapi.MSG_ERRQUEUE == 0x2000
    assert uapi.SO_ZEROCOPY == 60  # include/uapi/asm-generic/socket.h
    assert uapi.SO_EE_ORIGIN_ZEROCOPY == 5  # include/uapi/linux/errqueue.h
    assert uapi.SO_EE_CODE_ZEROCOPY_COPIED == 1
    assert (uapi.SOL_IP, uapi.IP_RECVERR) == (0, 11)
    assert (uapi.SOL_IPV6, uapi.IPV6_RECVERR) == (41, 25)
    assert uapi.SOCK_EE_SIZE == 16
    if hasattr(socket, "MSG_ZEROCOPY"):  # Python's own names on this host agree
        assert socket.MSG_ZEROCOPY == uapi.MSG_ZEROCOPY
    if hasattr(socket, "IP_RECVERR"):
        assert socket.IP_RECVERR == uapi.IP_RECVERR
        assert socket.IPV6_RECVERR == uapi.IPV6_RECVERR


@pytest.mark.parametrize("arch, value", [("x86_64", 60), ("aarch64", 60), ("sparc64", 0x3E),
                                         ("parisc", 0x4035), ("alpha", 60), ("mips", 60)])
def test_so_zerocopy_per_architecture(arch, value):
    ns = uapi.for_arch(arch)
    assert ns.SO_ZEROCOPY == value
    assert ns.MSG_ZEROCOPY == 0x4000000


def test_tx_cmsg_is_a_bare_native_u32():
    data = pack_tx_dmabuf_id(7)
    assert data == struct.pack("=I", 7) == (7).to_bytes(4, "little" if struct.pack("=I", 1)[0]
                                                        else "big")
    assert len(data) == 4 and socket.CMSG_LEN(len(data)) == 20
    assert pack_tx_dmabuf_id(0xFFFFFFFF) == b"\xff\xff\xff\xff"
    with pytest.raises(ValueError):
        pack_tx_dmabuf_id(1 << 32)
    with pytest.raises(TypeError):
        pack_tx_dmabuf_id("7")


def test_dmabuf_iov_is_an_offset_and_a_length():
    iov = DmabufIov(8192, 100)
    assert (iov.offset, iov.length, len(iov)) == (8192, 100, 100)
    with pytest.raises(ValueError):
        DmabufIov(-1, 10)
    with pytest.raises(TypeError):
        DmabufIov(0, 1.5)


def test_sock_extended_err_bytes():
    # what this 6.18 kernel put in the IP_RECVERR cmsg after three MSG_ZEROCOPY sends on lo
    raw = bytes.fromhex("00000000" "05" "00" "01" "00" "00000000" "02000000") + bytes(16)
    ee = SockExtendedErr.unpack(raw)
    assert ee == SockExtendedErr(ee_errno=0, ee_origin=5, ee_type=0, ee_code=1, ee_pad=0,
                                 ee_info=0, ee_data=2)
    assert ee.is_zerocopy and ee.copied and list(ee.calls) == [0, 1, 2]
    assert ee.pack() == raw[:16]
    assert SockExtendedErr.unpack(raw[:16]) == ee
    with pytest.raises(ValueError, match="16 bytes"):
        SockExtendedErr.unpack(raw[:15])
    wrapped = SockExtendedErr(ee_origin=5, ee_info=0xFFFFFFFF, ee_data=1)
    assert len(wrapped.calls) == 3
    with pytest.raises(ValueError):
        SockExtendedErr(ee_code=256)
