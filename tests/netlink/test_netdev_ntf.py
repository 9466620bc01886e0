"""netdev multicast notifications: membership, mgmt and page-pool ntfs, their bytes and order.

The kernel: ``net/netlink/af_netlink.c`` (``netlink_setsockopt`` membership, broadcast),
``net/core/netdev-genl.c`` (``netdev_genl_dev_notify``), ``net/core/page_pool_user.c``
(``netdev_nl_page_pool_event`` from ``page_pool_list``, ``page_pool_detached``,
``page_pool_unlist``) and ``net/core/netdev_rx_queue.c`` (``netdev_rx_queue_restart``: the
new pool is made before the old one is destroyed; ``genlmsg_reply`` comes after the
restarts). ``tests/fixtures/netdev_ntf_real.json`` holds what this machine's 6.18 kernel sent.
"""

from __future__ import annotations

import errno
import json
import pathlib
import struct

import pytest
from prereq import require

from devmem_lab import Lab, LinuxHost, conformance, uapi
from devmem_lab.errors import DevmemError
from devmem_lab.netlink import wire
from devmem_lab.ynl import Netdev

REAL = json.loads((pathlib.Path(__file__).parents[1] / "fixtures" / "netdev_ntf_real.json")
                  .read_text())
NETDEV = 20
MGMT, PAGE_POOL = 4, 5  # the group ids nlctrl reports (same as the reference kernel)
ETH1, NAPI15 = 2, 8208
OLD15, NEW15 = 16, 17  # page pool ids: queue 15's at boot, and the one bind-rx makes


def u32(t: int, v: int) -> bytes:
    return wire.pack_attr(t, struct.pack("=I", v))


def u64(t: int, v: int) -> bytes:
    return wire.pack_attr(t, struct.pack("=Q", v))


def ntf(cmd: int, body: bytes) -> bytes:
    """A netdev notification: nlmsghdr flags 0, seq 0, pid 0; genl cmd, version 1."""
    return wire.pack_genlmsg(NETDEV, 0, 0, 0, cmd, 1, body)


def pool_body(pid: int, *, inflight: int = 0, detach: int | None = None,
              dmabuf: int | None = None) -> bytes:
    """``page_pool_nl_fill`` for a pool of eth1 queue 15, attribute by attribute."""
    body = u32(1, pid) + u32(2, ETH1) + u32(3, NAPI15) + u32(4, inflight) + u32(5, inflight * 4096)
    if detach is not None:
        body += u32(6, detach)
    if dmabuf is not None:
        body += u32(7, dmabuf)
    return body


@pytest.fixture
def lab():
    lab = Lab(seed=0)
    lab.server.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    return lab


def drain(sock) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65536))
        except BlockingIOError:
            return out


def bind_rx_request(fd: int, queue: int = 15, seq: int = 7) -> bytes:
    attrs = u32(1, ETH1) + u32(3, fd) + wire.pack_attr(2, u32(1, queue) + u32(3, 0), nested=True)
    return wire.pack_genlmsg(NETDEV, wire.NLM_F_REQUEST | wire.NLM_F_ACK, seq, 0, 13, 1, attrs)


# ---- membership (answers recorded from the real kernel) --------------------------------------
@pytest.mark.parametrize("name", sorted(REAL["membership"]))
def test_add_membership_answers_as_the_real_kernel(lab, name):
    value = {"0": 0, "1": 1, "64": 64, "65": 65, "u16": b"\4\0",
             "u64": (4).to_bytes(8, "little")}[name]
    want = REAL["membership"][name]
    with lab.server.netlink() as s:
        if want["errno"]:
            with pytest.raises(OSError) as e:
                s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, value)
            assert e.value.errno == want["errno"]
        else:
            s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, value)
            assert s.getsockname()[1] == want["sockname_groups"]


def test_group_ids_are_the_ones_nlctrl_reports(lab):
    with lab.server.netlink() as s:
        nl = Netdev(s)
        assert nl.family["mcgrps"] == {"mgmt": MGMT, "page-pool": PAGE_POOL} == REAL["groups"]


def test_drop_membership_and_list_memberships(lab):
    with lab.server.netlink() as s:
        for g in (MGMT, PAGE_POOL):
            s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, g)
        assert s.getsockopt(wire.SOL_NETLINK, 9, 16) == (0x18).to_bytes(8, "little")
        s.setsockopt(wire.SOL_NETLINK, 2, MGMT)  # NETLINK_DROP_MEMBERSHIP
        assert s.getsockopt(wire.SOL_NETLINK, 9, 16) == (0x10).to_bytes(8, "little")
        with pytest.raises(DevmemError) as e:
            s.setsockopt(wire.SOL_NETLINK, 2, 77)
        assert e.value.errno == errno.EINVAL


def test_bind_with_a_group_mask_joins_those_groups(lab):
    with lab.server.netlink() as s:
        s.bind((0, 1 << (PAGE_POOL - 1)))
        assert s.getsockname()[1] == 0x10
        assert s.memberships == {PAGE_POOL}


# ---- mgmt: the encoding against the real kernel's ---------------------------------------------
@pytest.mark.parametrize("cmd, step", [(2, "veth-add"), (4, "gro-on"), (3, "veth-del")])
def test_dev_ntf_has_the_real_kernels_layout(lab, cmd, step):
    """Same header and attributes, in the same order and sizes; values are per device."""
    real = bytes.fromhex(next(s for s in REAL["steps"] if s["name"] == step)["datagrams"][0])
    name = {2: "dev-add-ntf", 3: "dev-del-ntf", 4: "dev-change-ntf"}[cmd]
    with lab.server.netlink() as s:
        s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, MGMT)
        lab.server.kernel.genl.netdev.dev_notify(lab.server.nic, name)
        (emu,) = drain(s)
    assert emu == ntf(cmd, u32(1, ETH1) + u64(3, 0x27) + u64(5, 0) + u64(6, 0))
    (rm,), (em,) = wire.iter_msgs(real), wire.iter_msgs(emu)
    assert (rm.type, rm.flags, rm.seq, rm.pid) == (REAL["family_id"], 0, 0, 0)
    assert (em.type, em.flags, em.seq, em.pid) == (NETDEV, 0, 0, 0)
    assert wire.parse_genl(rm.payload)[:2] == wire.parse_genl(em.payload)[:2] == (cmd, 1)
    layout = [[(a.type, len(a.payload)) for a in wire.iter_attrs(wire.parse_genl(m.payload)[2])]
              for m in (rm, em)]
    assert layout[0] == layout[1] == [(1, 4), (3, 8), (5, 8), (6, 8)]


def test_no_listener_no_message(lab):
    with lab.server.netlink() as s:
        lab.server.kernel.genl.netdev.dev_notify(lab.server.nic, "dev-add-ntf")
        assert drain(s) == []


# ---- page-pool: bind-rx and unbind restart the queue --------------------------------------------
def test_bind_rx_sends_new_pool_add_then_old_pool_del_then_the_reply(lab):
    fd = lab.server.udmabuf_create(16 * 4096)
    with lab.server.netlink() as s:
        s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, PAGE_POOL)
        req = bind_rx_request(fd)
        s.send(req)
        got = drain(s)
    assert got == [
        ntf(6, pool_body(NEW15, dmabuf=1)),  # page_pool_list of the new pool
        ntf(7, pool_body(OLD15)),  # the old pool was empty: unlisted at once, no detach-time
        wire.pack_genlmsg(NETDEV, 0, 7, s.portid, 13, 1, u32(4, 1)),  # genlmsg_reply
        wire.pack_error(0, req, pid=s.portid, capped=True),
    ]


def test_a_listener_elsewhere_hears_the_ntfs_and_not_the_reply(lab):
    fd = lab.server.udmabuf_create(16 * 4096)
    with lab.server.netlink() as listener, lab.server.netlink() as s:
        listener.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, PAGE_POOL)
        s.send(bind_rx_request(fd))
        assert len(drain(s)) == 2  # reply and ack only
        assert drain(listener) == [ntf(6, pool_body(NEW15, dmabuf=1)), ntf(7, pool_body(OLD15))]
        s.close()  # netdev_nl_sock_priv_destroy: unbind restarts queue 15 on host pages
        assert drain(listener) == [ntf(6, pool_body(NEW15 + 1)),
                                   ntf(7, pool_body(NEW15, dmabuf=1))]


def test_busy_pool_gets_change_with_detach_time_then_del_when_drained(lab):
    kernel = lab.server.kernel
    kernel.now_s = 42
    pool = lab.server.nic.rx_queues[15].pool
    pool.alloc_pages(3)
    with lab.server.netlink() as listener:
        listener.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, PAGE_POOL)
        lab.server.nic.restart_queue(15)
        assert drain(listener) == [ntf(6, pool_body(NEW15)),
                                   ntf(8, pool_body(OLD15, inflight=3, detach=42))]
        pool.release(2)
        assert drain(listener) == []
        pool.release(1)  # the last buffer back: page_pool_unlist
        assert drain(listener) == [ntf(7, pool_body(OLD15, detach=42))]


def test_mgmt_member_hears_no_page_pool_ntf(lab):
    fd = lab.server.udmabuf_create(16 * 4096)
    with lab.server.netlink() as listener, Netdev(lab.server.netlink()) as nl:
        listener.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, MGMT)
        nl.bind_rx(ETH1, fd, [15])
        assert drain(listener) == []


def test_dropped_and_closed_sockets_hear_nothing(lab):
    fd = lab.server.udmabuf_create(16 * 4096)
    with lab.server.netlink() as a, lab.server.netlink() as b, Netdev(lab.server.netlink()) as nl:
        for s in (a, b):
            s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, PAGE_POOL)
        a.setsockopt(wire.SOL_NETLINK, 2, PAGE_POOL)
        b.close()
        nl.bind_rx(ETH1, fd, [15])
        assert drain(a) == []


def test_ynl_keeps_ntfs_read_while_waiting_for_a_reply(lab):
    fd = lab.server.udmabuf_create(16 * 4096)
    with Netdev(lab.server.netlink()) as nl:
        nl.ntf_subscribe("page-pool")
        assert nl.bind_rx(ETH1, fd, [14, 15]) == {"id": 1}
        got = nl.check_ntf()
    assert [(n["name"], n["msg"]["id"]) for n in got] == [
        ("page-pool-add-ntf", NEW15), ("page-pool-del-ntf", OLD15 - 1),
        ("page-pool-add-ntf", NEW15 + 1), ("page-pool-del-ntf", OLD15)]
    assert got[0]["msg"] == {"id": NEW15, "ifindex": ETH1, "napi-id": NAPI15 - 1,
                             "inflight": 0, "inflight-mem": 0, "dmabuf": 1}


def test_failed_bind_rx_sends_the_rollback_restarts_before_the_error():
    """6.12: queue 3 binds, queue 99 is refused (ERANGE); err_unbind restarts queue 3 again."""
    lab = Lab(seed=0, kernel="6.12")
    fd = lab.server.udmabuf_create(16 * 4096)
    with lab.server.netlink() as s:
        s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, PAGE_POOL)
        nest = b"".join(wire.pack_attr(2, u32(1, q) + u32(3, 0), nested=True) for q in (3, 99))
        s.send(wire.pack_genlmsg(NETDEV, wire.NLM_F_REQUEST | wire.NLM_F_ACK, 9, 0, 13, 1,
                                 u32(1, ETH1) + u32(3, fd) + nest))
        got = [next(wire.iter_msgs(d)) for d in drain(s)]
    assert [(m.type, wire.parse_genl(m.payload)[0] if m.type == NETDEV else None, m.seq)
            for m in got] == [(NETDEV, 6, 0), (NETDEV, 7, 0), (NETDEV, 6, 0), (NETDEV, 7, 0),
                              (wire.NLMSG_ERROR, None, 9)]
    assert wire.parse_error(got[-1]).error == -errno.ERANGE


@pytest.mark.parametrize("kernel", ["6.12", "6.18"])
def test_same_ntfs_in_both_releases(kernel):
    """page_pool_nl_fill carries the same attributes for a devmem pool in 6.12 and 6.18."""
    lab = Lab(seed=0, kernel=kernel)
    if kernel == "6.18":
        lab.server.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    fd = lab.server.udmabuf_create(16 * 4096)
    with lab.server.netlink() as s:
        s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP, PAGE_POOL)
        s.send(bind_rx_request(fd))
        assert drain(s)[:2] == [ntf(6, pool_body(NEW15, dmabuf=1)), ntf(7, pool_body(OLD15))]


def test_uapi_group_names(lab):
    with Netdev(lab.server.netlink()) as nl:
        assert set(nl.family["mcgrps"]) == {uapi.NETDEV_MCGRP_MGMT, uapi.NETDEV_MCGRP_PAGE_POOL}



# ---- conformance: the notification scenarios, recorded and live --------------------------------
NTF_NAMES = [s.name for s in conformance.NTF_SCENARIOS]


def test_every_ntf_scenario_is_recorded():
    assert sorted(REAL["conformance"]) == sorted(NTF_NAMES)
    assert not set(NTF_NAMES) & {s.name for s in conformance.SCENARIOS}


@pytest.mark.parametrize("name", NTF_NAMES)
def test_emulator_matches_recorded_ntf_scenarios(name):
    scn = next(s for s in conformance.NTF_SCENARIOS if s.name == name)
    got = conformance.run_scenario(scn, Lab(seed=0).server)
    assert conformance._same(got, REAL["conformance"][name])


@pytest.mark.live
@pytest.mark.parametrize("name", NTF_NAMES)
def test_emulator_matches_this_kernel_ntf_scenarios(name):
    scn = next(s for s in conformance.NTF_SCENARIOS if s.name == name)
    require(*scn.needs)
    want = conformance.run_scenario(scn, LinuxHost())
    assert conformance._same(conformance.run_scenario(scn, Lab(seed=0).server), want)
