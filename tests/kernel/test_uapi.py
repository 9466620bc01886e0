"""The ABI: constants per architecture, struct layouts byte by byte, token packing, cmsgs."""

import socket
import struct

import pytest

from devmem_lab import uapi
from devmem_lab.uapi import DmabufCmsg, DmabufToken, pack_tokens, parse_cmsgs


def test_generic_constants_match_asm_generic_socket_h():
    assert (uapi.SO_DEVMEM_LINEAR, uapi.SO_DEVMEM_DMABUF, uapi.SO_DEVMEM_DONTNEED) == (78, 79, 80)
    assert uapi.SCM_DEVMEM_LINEAR == uapi.SO_DEVMEM_LINEAR
    assert uapi.SCM_DEVMEM_DMABUF == uapi.SO_DEVMEM_DMABUF
    assert uapi.MSG_SOCK_DEVMEM == 0x2000000
    assert uapi.SOL_SOCKET == socket.SOL_SOCKET


@pytest.mark.parametrize("arch, sol, values", [
    ("x86_64", 1, (78, 79, 80)),
    ("aarch64", 1, (78, 79, 80)),
    ("sparc64", 0xFFFF, (0x57, 0x58, 0x59)),
    ("parisc", 0xFFFF, (0x404E, 0x404F, 0x4050)),
    ("parisc-6.12", 0xFFFF, (78, 79, 80)),
    ("alpha", 0xFFFF, (78, 79, 80)),
    ("mips", 0xFFFF, (78, 79, 80)),
])
def test_per_architecture_values(arch, sol, values):
    ns = uapi.for_arch(arch)
    assert ns.SOL_SOCKET == sol
    assert (ns.SO_DEVMEM_LINEAR, ns.SO_DEVMEM_DMABUF, ns.SO_DEVMEM_DONTNEED) == values
    assert (ns.SCM_DEVMEM_LINEAR, ns.SCM_DEVMEM_DMABUF) == values[:2]


def test_cmsg_space_on_64_and_32_bit():
    assert uapi.for_arch("x86_64").CMSG_SPACE_DMABUF == 40 == uapi.for_arch("x86_64").CMSG_LEN_DMABUF
    assert uapi.for_arch("i386").CMSG_LEN_DMABUF == 36
    assert socket.CMSG_LEN(24) == 40  # this host is 64-bit


def test_unknown_arch_lists_known_ones():
    with pytest.raises(ValueError, match="sparc64"):
        uapi.for_arch("vax")
    with pytest.raises(TypeError):
        uapi.for_arch(64)


def test_dmabuf_cmsg_layout_is_byte_exact():
    raw = DmabufCmsg(0x0102030405060708, 0x11, 0x22, 0x33).pack()
    assert raw == bytes.fromhex("0807060504030201" "11000000" "22000000" "33000000" "00000000")
    assert len(raw) == 24
    assert DmabufCmsg.unpack(raw) == DmabufCmsg(0x0102030405060708, 0x11, 0x22, 0x33, 0)


def test_dmabuf_cmsg_wrong_length_raises_value_error_naming_24():
    with pytest.raises(ValueError, match="24 bytes"):
        DmabufCmsg.unpack(b"\0" * 23)
    with pytest.raises(ValueError):
        DmabufCmsg(-1, 0, 0, 0)
    with pytest.raises(ValueError):
        DmabufCmsg(0, 1 << 32, 0, 0)
    with pytest.raises(TypeError):
        DmabufCmsg("0", 0, 0, 0)


def test_dmabuf_token_layout():
    assert DmabufToken(5, 3).pack() == struct.pack("=II", 5, 3) == bytes.fromhex("0500000003000000")
    assert DmabufToken.unpack(bytes.fromhex("0500000003000000")) == DmabufToken(5, 3)
    with pytest.raises(ValueError):
        DmabufToken.unpack(b"\0" * 4)


def test_pack_tokens_coalesces_consecutive_ints_in_order():
    assert pack_tokens([7, 8, 9, 12]) == DmabufToken(7, 3).pack() + DmabufToken(12, 1).pack()
    assert pack_tokens([3, 2]) == DmabufToken(3, 1).pack() + DmabufToken(2, 1).pack()
    assert pack_tokens([]) == b""
    assert pack_tokens(range(1, 301)) == DmabufToken(1, 300).pack()
    assert pack_tokens([DmabufToken(1, 4), 9, 10]) == DmabufToken(1, 4).pack() + DmabufToken(9, 2).pack()


def test_pack_tokens_rejects_bad_items():
    with pytest.raises(TypeError):
        pack_tokens(5)
    with pytest.raises(TypeError):
        pack_tokens(["1"])
    with pytest.raises(ValueError):
        pack_tokens([-1])
    with pytest.raises(ValueError):
        pack_tokens([1 << 32])


def test_parse_cmsgs_kinds_and_errors():
    lin = DmabufCmsg(0, 100, 0, 0)
    dma = DmabufCmsg(8192, 1428, 1, 2)
    anc = [(socket.SOL_SOCKET, uapi.SCM_DEVMEM_LINEAR, lin.pack()),
           (socket.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, dma.pack())]
    assert parse_cmsgs(anc) == [("linear", lin), ("dmabuf", dma)]
    assert parse_cmsgs([]) == []
    with pytest.raises(ValueError, match="not a devmem"):
        parse_cmsgs([(socket.SOL_SOCKET, 1, b"\0" * 24)])
    with pytest.raises(ValueError, match="expected 24 bytes"):
        parse_cmsgs([(socket.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, b"\0" * 20)])


def test_netdev_enums_match_netdev_h():
    assert uapi.NETDEV_CMD_BIND_RX == 13 and uapi.NETDEV_CMD_QUEUE_GET == 10
    assert uapi.NETDEV_CMD_QSTATS_GET == 12 and uapi.NETDEV_CMD_BIND_TX == 15
    assert (uapi.NETDEV_A_DMABUF_IFINDEX, uapi.NETDEV_A_DMABUF_QUEUES,
            uapi.NETDEV_A_DMABUF_FD, uapi.NETDEV_A_DMABUF_ID) == (1, 2, 3, 4)
    assert uapi.NETDEV_A_QUEUE_DMABUF == 5 and uapi.NETDEV_A_PAGE_POOL_DMABUF == 7
    assert uapi.NETDEV_A_QSTATS_RX_ALLOC_FAIL == 12 and uapi.NETDEV_A_QSTATS_RX_HW_DROPS == 13
