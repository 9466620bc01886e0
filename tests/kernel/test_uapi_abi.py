"""The devmem ABI in ``devmem_lab.uapi``, value by value against the kernel headers.

Per-architecture socket numbers (``include/uapi/asm-generic/socket.h`` and
``arch/{sparc,parisc,alpha,mips}/include/uapi/asm/socket.h``), ``CMSG_LEN``/``CMSG_SPACE``
of ``struct dmabuf_cmsg`` per ABI, the ``MSG_*`` flags (``include/linux/socket.h``), the
NETDEV_* numbers against the family table in ``devmem_lab/netlink/family.py`` (one spec), and
the two structs' field checks (``include/uapi/linux/uio.h``).
"""

import dataclasses
import platform
import socket
import struct

import pytest

from devmem_lab import uapi
from devmem_lab.netlink import family
from devmem_lab.uapi import DmabufCmsg, DmabufToken

U32, U64 = 2**32 - 1, 2**64 - 1

# arch -> (SOL_SOCKET, LINEAR, DMABUF, DONTNEED, CMSG_LEN(24), CMSG_SPACE(24))
ABI = {
    "x86_64": (1, 78, 79, 80, 40, 40), "aarch64": (1, 78, 79, 80, 40, 40),
    "riscv64": (1, 78, 79, 80, 40, 40), "ppc64le": (1, 78, 79, 80, 40, 40),
    "s390x": (1, 78, 79, 80, 40, 40), "loongarch64": (1, 78, 79, 80, 40, 40),
    "i386": (1, 78, 79, 80, 36, 36), "armv7l": (1, 78, 79, 80, 36, 36),
    "sparc64": (0xFFFF, 0x57, 0x58, 0x59, 40, 40),
    "parisc": (0xFFFF, 0x404E, 0x404F, 0x4050, 36, 36),
    "parisc-6.12": (0xFFFF, 78, 79, 80, 36, 36),
    "alpha": (0xFFFF, 78, 79, 80, 40, 40), "mips": (0xFFFF, 78, 79, 80, 36, 36),
    "mips64": (0xFFFF, 78, 79, 80, 40, 40),
}
ALIASES = {"amd64": "x86_64", "arm64": "aarch64", "x86": "i386", "i686": "i386",
           "sparc": "sparc64", "parisc64": "parisc", "ppc64": "ppc64le"}


def test_every_architecture_is_listed():
    assert set(uapi.ARCHES) == set(ABI)


@pytest.mark.parametrize("arch", sorted(ABI))
def test_arch_entry(arch):
    ns = uapi.for_arch(arch)
    sol, lin, dma, dontneed, clen, cspace = ABI[arch]
    assert (ns.arch, ns.SOL_SOCKET, ns.SO_DEVMEM_LINEAR, ns.SO_DEVMEM_DMABUF,
            ns.SO_DEVMEM_DONTNEED) == (arch, sol, lin, dma, dontneed)
    assert (ns.SCM_DEVMEM_LINEAR, ns.SCM_DEVMEM_DMABUF) == (lin, dma)
    assert ns.MSG_SOCK_DEVMEM == 0x2000000
    assert (ns.CMSG_LEN_DMABUF, ns.CMSG_SPACE_DMABUF) == (clen, cspace)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_arch_alias(alias):
    assert vars(uapi.for_arch(alias)) == vars(uapi.for_arch(ALIASES[alias]))


def test_unknown_arch():
    with pytest.raises(ValueError, match=r"unknown architecture 'vax'; known: x86_64, aarch64"):
        uapi.for_arch("vax")
    with pytest.raises(TypeError, match="arch must be a str"):
        uapi.for_arch(64)


def test_this_hosts_values():
    machine = platform.machine()
    ns = uapi.for_arch(machine if machine in set(ABI) | set(ALIASES) else "x86_64")
    assert uapi.SOL_SOCKET == socket.SOL_SOCKET
    assert (uapi.SO_DEVMEM_LINEAR, uapi.SO_DEVMEM_DMABUF, uapi.SO_DEVMEM_DONTNEED) == \
        (ns.SO_DEVMEM_LINEAR, ns.SO_DEVMEM_DMABUF, ns.SO_DEVMEM_DONTNEED)
    assert (uapi.SCM_DEVMEM_LINEAR, uapi.SCM_DEVMEM_DMABUF) == \
        (ns.SO_DEVMEM_LINEAR, ns.SO_DEVMEM_DMABUF)
    assert uapi.CMSG_LEN(24) == socket.CMSG_LEN(24)
    assert uapi.CMSG_SPACE(24) == socket.CMSG_SPACE(24)
    if machine == "x86_64":
        assert (uapi.CMSG_LEN(24), uapi.CMSG_SPACE(24), uapi.CMSG_SPACE(25)) == (40, 40, 48)


def test_msg_flags_and_limits():
    assert (uapi.MSG_PEEK, uapi.MSG_CTRUNC, uapi.MSG_TRUNC, uapi.MSG_DONTWAIT,
            uapi.MSG_WAITALL) == (2, 8, 0x20, 0x40, 0x100)
    assert (uapi.MSG_SOCK_DEVMEM, uapi.MSG_ZEROCOPY) == (0x2000000, 0x4000000)
    if platform.system() == "Linux":  # the socket module's values are the host's
        assert (uapi.MSG_PEEK, uapi.MSG_CTRUNC, uapi.MSG_TRUNC, uapi.MSG_DONTWAIT,
                uapi.MSG_WAITALL) == (socket.MSG_PEEK, socket.MSG_CTRUNC, socket.MSG_TRUNC,
                                      socket.MSG_DONTWAIT, socket.MSG_WAITALL)
    assert (uapi.PAGE_SIZE, uapi.ETOOSMALL) == (4096, 525)
    assert (uapi.MAX_DONTNEED_TOKENS, uapi.MAX_DONTNEED_FRAGS) == (128, 1024)
    assert (uapi.DMABUF_CMSG_SIZE, uapi.DMABUF_TOKEN_SIZE) == (24, 8)


# ---- NETDEV_*: the same numbers as the family table -------------------------------------
_SETS = {"DEV": "dev", "PAGE_POOL": "page-pool", "NAPI": "napi", "QUEUE": "queue",
         "QSTATS": "qstats", "DMABUF": "dmabuf"}


def _attr_names():
    for name in dir(uapi):
        if not name.startswith("NETDEV_A_") or name.startswith("NETDEV_A_PAGE_POOL_STATS_"):
            continue
        rest = name[len("NETDEV_A_"):]
        for prefix in sorted(_SETS, key=len, reverse=True):
            if rest.startswith(prefix + "_"):
                yield name, _SETS[prefix], rest[len(prefix) + 1:].lower().replace("_", "-")
                break
        else:
            raise AssertionError(f"{name}: no attribute set")


def test_netdev_attribute_numbers_match_the_family_table():
    names = list(_attr_names())
    assert len(names) == 40
    for name, attr_set, attr in names:
        assert getattr(uapi, name) == family.ATTR_SETS[attr_set][attr].id, name


def test_netdev_command_numbers_match_the_family_table():
    fam = family.netdev_family("6.18")
    for op in fam.ops:
        assert getattr(uapi, "NETDEV_CMD_" + op.name.upper().replace("-", "_")) == op.cmd
    # the notifications and the stats op are not in the 6.18 table (include/uapi/linux/netdev.h)
    assert (uapi.NETDEV_CMD_DEV_ADD_NTF, uapi.NETDEV_CMD_DEV_DEL_NTF,
            uapi.NETDEV_CMD_DEV_CHANGE_NTF, uapi.NETDEV_CMD_PAGE_POOL_ADD_NTF,
            uapi.NETDEV_CMD_PAGE_POOL_DEL_NTF, uapi.NETDEV_CMD_PAGE_POOL_CHANGE_NTF,
            uapi.NETDEV_CMD_PAGE_POOL_STATS_GET) == (2, 3, 4, 6, 7, 8, 9)
    assert (uapi.NETDEV_FAMILY_NAME, uapi.NETDEV_FAMILY_VERSION) == (fam.name, fam.version)
    assert (uapi.NETDEV_MCGRP_MGMT, uapi.NETDEV_MCGRP_PAGE_POOL) == \
        tuple(name for name, _ in fam.mcgrps)


def test_netdev_enums_match_the_family_table():
    assert (uapi.NETDEV_QUEUE_TYPE_RX, uapi.NETDEV_QUEUE_TYPE_TX) == (
        family.ENUMS["queue-type"].index("rx"), family.ENUMS["queue-type"].index("tx"))
    assert uapi.NETDEV_QSTATS_SCOPE_QUEUE == 1 << family.ENUMS["qstats-scope"].index("queue")


def test_page_pool_stats_numbers():
    # netdev.h: info = 1, then alloc-fast = 8 ... recycle-released-refcnt = 18
    assert uapi.NETDEV_A_PAGE_POOL_STATS_INFO == 1
    names = ["ALLOC_FAST", "ALLOC_SLOW", "ALLOC_SLOW_HIGH_ORDER", "ALLOC_EMPTY",
             "ALLOC_REFILL", "ALLOC_WAIVE", "RECYCLE_CACHED", "RECYCLE_CACHE_FULL",
             "RECYCLE_RING", "RECYCLE_RING_FULL", "RECYCLE_RELEASED_REFCNT"]
    assert [getattr(uapi, "NETDEV_A_PAGE_POOL_STATS_" + n) for n in names] == \
        list(range(8, 19))


def test_every_netdev_name_is_exported():
    netdev = {n for n in dir(uapi) if n.startswith("NETDEV_")}
    assert netdev <= set(uapi.__all__)


# ---- struct dmabuf_cmsg / struct dmabuf_token -------------------------------------------
CMSG_FIELDS = ["frag_offset", "frag_size", "frag_token", "dmabuf_id", "flags"]
CMSG_LIMITS = [U64, U32, U32, U32, U32]


@pytest.mark.parametrize("i", range(5))
def test_cmsg_field_limits(i):
    good = [0, 0, 0, 0, 0]
    good[i] = CMSG_LIMITS[i]
    assert getattr(DmabufCmsg(*good), CMSG_FIELDS[i]) == CMSG_LIMITS[i]
    for bad in (CMSG_LIMITS[i] + 1, -1):
        args = [0, 0, 0, 0, 0]
        args[i] = bad
        with pytest.raises(ValueError, match=rf"{CMSG_FIELDS[i]} must be in \[0, "
                                             rf"{CMSG_LIMITS[i]}\], got {bad}"):
            DmabufCmsg(*args)
    for bad in (True, 1.0, "1", None):
        args = [0, 0, 0, 0, 0]
        args[i] = bad
        with pytest.raises(TypeError, match=rf"{CMSG_FIELDS[i]} must be an int, not "
                                            rf"{type(bad).__name__}"):
            DmabufCmsg(*args)


def test_cmsg_frozen_hashable_and_packed():
    c = DmabufCmsg(0x1122334455667788, 4096, 7, 3, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.frag_token = 8
    assert hash(c) == hash(DmabufCmsg(0x1122334455667788, 4096, 7, 3))
    assert len({c, DmabufCmsg(0x1122334455667788, 4096, 7, 3), DmabufCmsg(0, 4096, 7, 3)}) == 2
    assert c.pack() == struct.pack("=QIIII", 0x1122334455667788, 4096, 7, 3, 0)
    for data in (c.pack(), bytearray(c.pack()), memoryview(c.pack())):
        assert DmabufCmsg.unpack(data) == c
    with pytest.raises(ValueError, match="struct dmabuf_cmsg is 24 bytes, got 23"):
        DmabufCmsg.unpack(c.pack()[:23])
    with pytest.raises(TypeError, match="data must be bytes, not str"):
        DmabufCmsg.unpack("x" * 24)


def test_token_fields():
    assert DmabufToken(U32, U32).pack() == b"\xff" * 8
    assert DmabufToken(1, 2).pack() == struct.pack("=II", 1, 2)
    for args, name in (((U32 + 1, 0), "token_start"), ((0, U32 + 1), "token_count"),
                       ((-1, 0), "token_start"), ((0, -1), "token_count")):
        with pytest.raises(ValueError, match=name):
            DmabufToken(*args)
    for args, name in (((True, 0), "token_start"), ((0, 1.5), "token_count")):
        with pytest.raises(TypeError, match=name):
            DmabufToken(*args)
    t = DmabufToken(5, 6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.token_count = 1
    assert DmabufToken.unpack(bytearray(t.pack())) == t
    assert {t, DmabufToken(5, 6)} == {t}
    with pytest.raises(ValueError, match="struct dmabuf_token is 8 bytes, got 9"):
        DmabufToken.unpack(t.pack() + b"\0")
    with pytest.raises(TypeError, match="data must be bytes, not list"):
        DmabufToken.unpack([0] * 8)


def test_coalesce_tokens():
    assert uapi.coalesce_tokens([1, 2, 3, 5, 6, 9]) == [
        DmabufToken(1, 3), DmabufToken(5, 2), DmabufToken(9, 1)]
    assert uapi.coalesce_tokens([3, 2, 3, 4]) == [DmabufToken(3, 1), DmabufToken(2, 3)]
    assert uapi.coalesce_tokens([]) == []
    with pytest.raises(ValueError, match="token must be in"):
        uapi.coalesce_tokens([1, U32 + 1])


def test_pack_tokens():
    p = struct.Struct("=II").pack
    assert uapi.pack_tokens([1, 2, DmabufToken(10, 3), 4, 5, 7]) == \
        p(1, 2) + p(10, 3) + p(4, 2) + p(7, 1)
    assert uapi.pack_tokens(iter([U32])) == p(U32, 1)
    assert uapi.pack_tokens([]) == b""
    for bad in (b"\1\0\0\0\1\0\0\0", 5, "12", DmabufToken(1, 1)):
        with pytest.raises(TypeError, match="pack_tokens takes a list"):
            uapi.pack_tokens(bad)
    with pytest.raises(ValueError, match="token must be in"):
        uapi.pack_tokens([DmabufToken(1, 1), -1])
    with pytest.raises(TypeError, match="token must be an int"):
        uapi.pack_tokens([1.0])


def test_parse_cmsgs():
    c = DmabufCmsg(4096, 1428, 1, 2)
    sol = uapi.SOL_SOCKET
    anc = [(sol, uapi.SCM_DEVMEM_DMABUF, c.pack()), (sol, uapi.SCM_DEVMEM_LINEAR, c.pack())]
    assert uapi.parse_cmsgs(anc) == [("dmabuf", c), ("linear", c)]
    with pytest.raises(ValueError, match=r"cmsg #1: expected a \(level, type, data\) tuple"):
        uapi.parse_cmsgs([anc[0], (sol, 1)])
    with pytest.raises(ValueError, match=r"cmsg #0: not a devmem control message \(level 0, "):
        uapi.parse_cmsgs([(0, uapi.SCM_DEVMEM_DMABUF, c.pack())])
    with pytest.raises(ValueError, match=r"cmsg #0: not a devmem control message \(level 1, "
                                         r"type 1\)"):
        uapi.parse_cmsgs([(sol, 1, c.pack())])
    with pytest.raises(ValueError, match=r"cmsg #1 \(linear\): expected 24 bytes of struct "
                                         r"dmabuf_cmsg, got 16"):
        uapi.parse_cmsgs([anc[0], (sol, uapi.SCM_DEVMEM_LINEAR, c.pack()[:16])])
