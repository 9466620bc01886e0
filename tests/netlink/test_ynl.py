"""ynl.Netdev: the YNL-style client over the emulator, and over the real kernel where it runs."""

from __future__ import annotations

import errno
import socket

import pytest
from prereq import LIVE

from devmem_lab import Lab, NetlinkError
from devmem_lab import prerequisites as pre
from devmem_lab.netlink import wire as w
from devmem_lab.ynl import Netdev


@pytest.fixture
def lab():
    lab = Lab(seed=0)
    lab.server.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    return lab


@pytest.fixture
def nl(lab):
    n = Netdev(lab.server.netlink())
    yield n
    n.close()


def test_dev_get_and_dump(nl):
    assert nl.dev_get(1) == {"ifindex": 1, "xdp-features": [], "xdp-rx-metadata-features": [],
                             "xsk-features": []}
    assert nl.dev_get(2)["xdp-features"] == ["basic", "redirect", "ndo-xmit", "rx-sg"]
    assert [d["ifindex"] for d in nl.dev_dump()] == [1, 2]


def test_lo_queues_have_no_napi(nl):
    assert nl.queue_dump(1) == [{"id": 0, "type": "rx", "ifindex": 1},
                                {"id": 0, "type": "tx", "ifindex": 1}]


def test_bind_rx_shows_up_in_queue_and_page_pool(lab, nl):
    fd = lab.server.udmabuf_create(16 * 4096)
    assert nl.bind_rx(2, fd, [15]) == {"id": 1}
    assert nl.queue_get(2, 15, "rx") == {"id": 15, "type": "rx", "ifindex": 2, "napi-id": 8208,
                                         "dmabuf": 1}
    assert "dmabuf" not in nl.queue_get(2, 14, "rx")
    pools = nl.page_pool_dump()
    assert len(pools) == 16 and pools[0]["dmabuf"] == 1  # newest pool first
    # right after bind the new pool's inflight is the rx ring's fill (2 x agg factor 4), as a
    # driver fills its ring at queue start; the host-page pools have theirs posted too
    assert pools[0] == {"id": pools[0]["id"], "ifindex": 2, "napi-id": 8208, "inflight": 8,
                        "inflight-mem": 8 * 4096, "dmabuf": 1}
    assert {p["inflight"] for p in pools[1:]} == {8}
    assert nl.page_pool_get(pools[0]["id"]) == pools[0]


def test_page_pool_inflight_and_detach_time(lab, nl):
    kernel = lab.server.kernel
    pool = lab.server.nic.rx_queues[3].pool
    assert pool.inflight == 8  # its rx ring
    pool.inflight += 5  # 5 pages in skbs besides
    lab.server.nic.restart_queue(3)  # the old pool is detached but still has 5 buffers out
    old = nl.page_pool_get(pool.id)
    assert old["inflight"] == 5 and old["inflight-mem"] == 5 * 4096
    assert old["detach-time"] == kernel.now_s
    assert len(nl.page_pool_dump()) == 17


def test_qstats_totals_and_per_queue(lab, nl):
    q = lab.server.nic.rx_queues[2].stats
    q.packets, q.bytes, q.alloc_fail, q.hw_drops = 10, 15000, 3, 7
    lab.server.nic.rx_queues[5].stats.packets = 1
    lab.server.nic.tx_queues[0].stats.bytes = 1 << 33
    total = nl.qstats_get(2)
    assert total == {"ifindex": 2, "rx-packets": 11, "rx-bytes": 15000, "rx-alloc-fail": 3,
                     "rx-hw-drops": 7, "tx-packets": 0, "tx-bytes": 1 << 33}
    per_queue = nl.qstats_get(2, scope="queue")
    assert len(per_queue) == 32
    assert per_queue[2] == {"ifindex": 2, "queue-type": "rx", "queue-id": 2, "rx-packets": 10,
                            "rx-bytes": 15000, "rx-alloc-fail": 3, "rx-hw-drops": 7}
    assert per_queue[16] == {"ifindex": 2, "queue-type": "tx", "queue-id": 0, "tx-packets": 0,
                             "tx-bytes": 1 << 33}
    assert [d["ifindex"] for d in nl.qstats_dump()] == [2]  # lo has no queue stats


def test_errors_carry_extack(lab, nl):
    with pytest.raises(NetlinkError) as e:
        nl.bind_rx(1, lab.server.udmabuf_create(4096), [0])
    assert (e.value.errno, e.value.bad_attr_offset, e.value.extack_msg) == (errno.EOPNOTSUPP, 20,
                                                                            None)
    with pytest.raises(NetlinkError) as e:
        nl.bind_rx(2, lab.server.udmabuf_create(4096), [0, 99])
    assert (e.value.errno, e.value.bad_attr_offset) == (errno.EINVAL, 60)  # second nest's id
    with pytest.raises(NetlinkError) as e:
        nl.qstats_get(1)
    assert (e.value.errno, e.value.bad_attr_offset) == (errno.EOPNOTSUPP, 20)
    with pytest.raises(OSError) as e:
        nl.queue_get(2, 99, "tx")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(NetlinkError) as e:
        nl.dev_get(0)
    assert (e.value.errno, e.value.extack_msg) == (errno.ERANGE, "integer out of range")


def test_extack_message_reaches_strerror(lab):
    lab.server.ethtool("-G eth1 tcp-data-split off")
    with Netdev(lab.server.netlink()) as nl, pytest.raises(OSError) as e:
        nl.bind_rx(2, lab.server.udmabuf_create(4096), [1])
    assert e.value.errno == errno.EINVAL and "tcp-data-split is disabled" in str(e.value)


def test_closing_releases_bindings_and_ids_are_cyclic(lab):
    fd = lab.server.udmabuf_create(4096)
    a = Netdev(lab.server.netlink())
    assert a.bind_rx(2, fd, [14, 15]) == {"id": 1}
    a.close()
    with Netdev(lab.server.netlink()) as b:
        assert "dmabuf" not in b.queue_get(2, 15)
        assert b.bind_rx(2, fd, [15]) == {"id": 2}


def test_bind_tx_refused_by_a_driver_without_netmem_tx():
    from devmem_lab import Lab
    lab = Lab(seed=0, netmem_tx=False)
    with Netdev(lab.server.netlink()) as nl, pytest.raises(NetlinkError) as e:
        nl.bind_tx(2, lab.server.udmabuf_create(4096))
    assert (e.value.errno, e.value.extack_msg) == (errno.EOPNOTSUPP,
                                                   "Driver does not support netmem TX")


def test_napi_dump_lists_newest_first(nl):
    napis = nl.napi_dump(2)
    assert [n["id"] for n in napis][:2] == [8208, 8207] and napis[0]["threaded"] == "disabled"


def test_requests_use_a_sequence_counter(lab):
    sock = lab.server.netlink()
    sent = []
    real_send = sock.send
    sock.send = lambda data, flags=0: (sent.append(data), real_send(data))[1]
    nl = Netdev(sock)
    nl.dev_get(1)
    nl.queue_dump(1)
    assert [w.NLMSGHDR.unpack_from(d)[3] for d in sent] == [1, 2, 3]


def test_family_resolution_fails_cleanly_for_unknown_family(lab):
    from devmem_lab.ynl import resolve_family
    with pytest.raises(NetlinkError) as e:
        resolve_family(lab.server.netlink(), "nosuch")
    assert e.value.errno == errno.ENOENT


def test_6_12_lab_works_too():
    lab = Lab(seed=0, kernel="6.12")
    with Netdev(lab.server.netlink()) as nl:
        assert nl.bind_rx(2, lab.server.udmabuf_create(4096), [3]) == {"id": 1}
        with pytest.raises(NetlinkError) as e:
            nl.bind_rx(2, lab.server.udmabuf_create(4096), [99])
        assert (e.value.errno, e.value.extack_msg) == (errno.ERANGE, "rx queue index out of range")


# ---- the real kernel ----------------------------------------------------------------------------
live = pytest.mark.needs(*LIVE, pre.ADMIN)


@pytest.fixture
def real():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, w.NETLINK_GENERIC)
    s.settimeout(5)
    yield Netdev(s)
    s.close()


@pytest.mark.live
@live
def test_real_lo_queues_match_the_emulator(real, nl):
    assert real.queue_dump(1) == nl.queue_dump(1)
    assert real.dev_get(1) == nl.dev_get(1)


@pytest.mark.live
@live
@pytest.mark.parametrize("call", [
    lambda n: n.bind_rx(1, 0, [0]),  # lo: not ops-locked (6.18), refused before the fd
    lambda n: n.bind_rx(0x7FFFFFF0, 0, [0]),  # no such device
    lambda n: n.bind_rx(1, 0, [{"id": 0, "type": 2}]),  # policy: type > 1
    lambda n: n.dev_get(0),  # policy: ifindex >= 1
    lambda n: n.queue_get(1, 5, "rx"),  # lo has one rx queue
    lambda n: n.qstats_get(1),  # lo has no queue stats
    lambda n: n.page_pool_get(0x7FFFFFF0),
])
def test_real_errors_match_the_emulator(real, nl, call):
    with pytest.raises(NetlinkError) as want:
        call(real)
    with pytest.raises(NetlinkError) as got:
        call(nl)
    fields = ("errno", "extack_msg", "bad_attr_offset", "missing_attr", "missing_nest")
    assert ([getattr(got.value, f) for f in fields] == [getattr(want.value, f) for f in fields])


def test_public_get_family_and_raw_request(lab):
    """What conformance and linux_host use instead of ynl's internals."""
    from devmem_lab.netlink import wire
    from devmem_lab.ynl import get_family, request
    with lab.server.netlink() as s:
        s.setsockopt(wire.SOL_NETLINK, wire.NETLINK_EXT_ACK, 1)
        f = get_family(s, "netdev", seq=5)
        assert f == {"id": 20, "version": 1,
                     "ops": {1: 0x0e, 5: 0x0e, 10: 0x0e, 11: 0x0e, 12: 0x0c, 13: 0x0b,
                             14: 0x0b, 15: 0x0a},
                     "mcgrps": {"mgmt": 4, "page-pool": 5}}
        (m,) = request(s, f["id"], 1, wire.pack_attr(1, (1).to_bytes(4, "little")), seq=6)
        assert (m.seq, wire.parse_genl(m.payload)[0]) == (6, 1)
        with pytest.raises(NetlinkError) as e:
            request(s, f["id"], 1, b"", seq=7, reserved=1)
        assert e.value.errno == errno.EINVAL
        assert e.value.extack_msg == "genlmsghdr.reserved field is not 0"
