"""The ethtool generic-netlink family of the emulated kernel (``kernel/ethtool_genl.py``).

Byte-for-byte against a real 6.18 kernel on ``lo`` (``tests/fixtures/ethtool_real.json``),
then the NIC: one state shared with ``host.ethtool(...)``, the memory-provider refusals,
6.12's missing hds-thresh, bitsets, dumps, permissions, and the YNL-style client.
"""

from __future__ import annotations

import errno
import json
import pathlib
import struct

import pytest

from devmem_lab import EthtoolError, Lab
from devmem_lab.errors import NetlinkError
from devmem_lab.kernel.af_netlink import NetlinkSocket
from devmem_lab.kernel.devmem import bind_dmabuf, open_rxq
from devmem_lab.kernel.nic import features as feat
from devmem_lab.netlink import ethtool_family as efam
from devmem_lab.netlink import wire as w
from devmem_lab.ynl_ethtool import Ethtool

FIXTURES = json.loads((pathlib.Path(__file__).parents[1] / "fixtures"
                       / "ethtool_real.json").read_text())
CASES = {c["name"]: c for c in FIXTURES["cases"]}
#: cases where the emulator answers differently, and why (checked both ways below)
DIFFERENT = {"pause-get-lo": "ops the emulator does not implement say so in the extack"}
FID = FIXTURES["family_id"]
P = w.pack_attr


def normalise(datagram: bytes) -> list[bytes]:
    """Each message with its port id zeroed (the only per-socket field)."""
    out = []
    for m in w.iter_msgs(datagram):
        out.append(w.NLMSGHDR.pack(w.NLMSGHDR.size + len(m.payload), m.type, m.flags, m.seq, 0)
                   + m.payload)
    return out


def exchange(sock, request: bytes) -> list[bytes]:
    sock.send(request)
    out = []
    while True:
        try:
            out += normalise(sock.recv(65536))
        except BlockingIOError:
            return out


def emulated_sock(kernel="6.18", **kw):
    host = Lab(seed=0, kernel=kernel).server
    s = NetlinkSocket(host.kernel, host.dmabufs, **kw)
    s.setsockopt(w.SOL_NETLINK, w.NETLINK_EXT_ACK, 1)
    return host, s


@pytest.mark.parametrize("name", sorted(CASES))
def test_emulator_matches_real_kernel_bytes(name):
    """The fixture's family id (21) is the emulator's too, so requests replay unchanged."""
    case = CASES[name]
    _, s = emulated_sock()
    got = exchange(s, bytes.fromhex(case["request"]))
    want = [m for d in case["replies"] for m in normalise(bytes.fromhex(d))]
    if name in DIFFERENT:
        assert got != want, f"{name} now agrees: drop it from DIFFERENT"
        return
    assert got == want


def test_unimplemented_op_says_so():
    _, s = emulated_sock()
    reply = exchange(s, bytes.fromhex(CASES["pause-get-lo"]["request"]))
    err = w.parse_error(next(w.iter_msgs(reply[0])))
    assert (err.error, err.msg) == (-errno.EOPNOTSUPP, "ethtool pause-get is not emulated")


def test_lo_features_are_read_unchanged_by_the_capture():
    """The capture's accepted FEATURES_SET cases left lo as it was: the reply lists no change."""
    reply = w.iter_msgs(bytes.fromhex(CASES["features-set-lo-fixed-bits"]["replies"][0]))
    body = efam.decode("features", w.parse_genl(next(reply).payload)[2])
    assert body["active"] == {"size": 64, "bits": {}}
    assert body["wanted"] == {"size": 64, "bits": {"tx-scatter-gather": False}}


# ---- nlctrl ----------------------------------------------------------------------------------
def families(sock) -> dict[str, dict]:
    sock.send(w.pack_genlmsg(w.GENL_ID_CTRL, w.NLM_F_REQUEST | w.NLM_F_DUMP, 5, 0, 3, 2, b""))
    out = {}
    for d in iter(lambda: sock.recv(65536), None):
        for m in w.iter_msgs(d):
            if m.type == w.NLMSG_DONE:
                return out
            a = w.attrs_by_type(w.parse_genl(m.payload)[2])
            ops = {w.attrs_by_type(o.payload)[1].u32(): w.attrs_by_type(o.payload)[2].u32()
                   for o in w.iter_attrs(a[6].payload)}
            grps = [w.attrs_by_type(g.payload)[1].string() for g in w.iter_attrs(a[7].payload)]
            out[a[2].string()] = {"id": a[1].u16(), "ops": ops, "groups": grps}
    raise AssertionError("no NLMSG_DONE")


@pytest.mark.parametrize("kernel, nops", [("6.18", 50), ("6.12", 45)])
def test_nlctrl_dump_lists_ethtool(kernel, nops):
    _, s = emulated_sock(kernel)
    fams = families(s)
    assert list(fams) == ["nlctrl", "netdev", "ethtool"]
    eth = fams["ethtool"]
    assert eth["id"] == 21 and eth["groups"] == ["monitor"]
    assert sorted(eth["ops"]) == list(range(1, nops + 1))
    assert (eth["ops"][15], eth["ops"][16], eth["ops"][9]) == (0x0E, 0x1A, 0x1E)


# ---- the NIC, through the client ----------------------------------------------------------------
@pytest.fixture
def host():
    return Lab(seed=0).server


@pytest.fixture
def et(host):
    c = Ethtool(host.netlink())
    yield c
    c.close()


def test_rings_get_nic_bytes(host):
    s = host.netlink()
    req = w.pack_nlmsg(FID, w.NLM_F_REQUEST, 7, 0, bytes([15, 1, 0, 0]) + P(1, P(2, b"eth1\0"),
                                                                                nested=True))
    got = exchange(s, req)
    u32 = lambda t, v: P(t, struct.pack("=I", v))
    body = (P(1, u32(1, 2) + P(2, b"eth1\0"), nested=True) + u32(2, 4096) + u32(6, 2)
            + u32(5, 4096) + u32(9, 1024) + P(11, b"\1") + P(13, b"\0") + P(14, b"\0")
            + u32(17, 256) + u32(18, 1023))
    assert got == [w.pack_genlmsg(FID, 0, 7, 0, 16, 1, body)]


def test_rings_set_shows_in_ethtool_g_and_back(host, et):
    et.rings_set("eth1", tcp_data_split="on", hds_thresh=0, rx=2048)
    out = host.ethtool("-g eth1")
    assert "TCP data split:\t\ton\nHDS thresh:\t\t0\n" in out
    assert "Current hardware settings:\nRX:\t\t\t2048\n" in out
    host.ethtool("-G eth1 tcp-data-split off hds-thresh 512")
    r = et.rings_get(2)
    assert (r["tcp-data-split"], r["hds-thresh"], r["rx"]) == ("off", 512, 2048)


@pytest.mark.parametrize("attrs, attr_id, msg", [
    ({"hds_thresh": 1024}, 17, "requested ring size exceeds maximum"),
    ({"rx": 4097}, 6, "requested ring size exceeds maximum"),
    ({"cqe_size": 64}, 12, "setting cqe size not supported"),
    ({"tx_push": 1}, 13, "setting tx push not supported"),
])
def test_rings_set_refusals_point_at_the_attribute(et, host, attrs, attr_id, msg):
    with pytest.raises(NetlinkError) as info:
        et.rings_set(2, **attrs)
    e = info.value
    want = errno.EINVAL if "maximum" in msg else errno.EOPNOTSUPP
    assert (e.errno, e.extack_msg, e.bad_attr_offset) == (want, msg, 20 + 12)  # after header
    assert host.nic.hds_thresh == 256 and host.nic.rx_ring == 2


def test_rings_set_unchanged_is_a_plain_ack(et, host):
    et.rings_set(2, rx=2, hds_thresh=256, tcp_data_split="off")
    assert et.rings_get(2)["rx"] == 2  # the lab NIC's rx ring (kernel/nic/ring.py)


def test_612_has_no_hds_thresh():
    host = Lab(seed=0, kernel="6.12").server
    et = Ethtool(host.netlink())
    assert "hds-thresh" not in et.rings_get("eth1")
    with pytest.raises(NetlinkError) as info:
        et.rings_set(2, tcp_data_split="on", hds_thresh=0)
    assert (info.value.errno, info.value.extack_msg, info.value.bad_attr_offset) == (
        errno.EINVAL, "Unknown attribute type", 32 + 8)
    assert host.nic.tcp_data_split == "off"  # policy refusal: nothing applied
    et.rings_set(2, tcp_data_split="on")
    assert host.nic.tcp_data_split_active


# ---- memory provider refusals (rings.c, common.c ethtool_check_max_channel) ---------------------
@pytest.fixture
def bound(host):
    host.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    binding = bind_dmabuf(host.nic, host.dmabufs.get(host.udmabuf_create(1 << 20)))
    open_rxq(host.nic, 15, binding)
    return host


@pytest.mark.parametrize("values, msg", [
    ({"tcp_data_split": "off"},
     "can't disable tcp-data-split while device has memory provider enabled"),
    ({"tcp_data_split": "auto"},
     "can't disable tcp-data-split while device has memory provider enabled"),
    ({"hds_thresh": 128},
     "can't set non-zero hds_thresh while device is memory provider enabled"),
])
def test_bound_queue_refuses_ring_changes(bound, values, msg):
    et = Ethtool(bound.netlink())
    with pytest.raises(NetlinkError) as info:
        et.rings_set("eth1", **values)
    assert (info.value.errno, info.value.extack_msg, info.value.bad_attr_offset) == (
        errno.EINVAL, msg, None)
    assert (bound.nic.tcp_data_split, bound.nic.hds_thresh) == ("on", 0)


def test_bound_queue_refuses_fewer_channels(bound):
    et = Ethtool(bound.netlink())
    with pytest.raises(NetlinkError) as info:
        et.channels_set("eth1", combined_count=8)
    assert (info.value.errno, info.value.extack_msg) == (
        errno.EINVAL, ("requested channel counts are too low for existing memory provider "
                       "setting (16)"))
    et.channels_set("eth1", combined_count=20)
    assert et.channels_get("eth1")["combined-count"] == 20 == bound.nic.real_num_rx_queues
    assert "Combined:\t20\n" in bound.ethtool("-l eth1")


def test_channels_above_max(et):
    with pytest.raises(NetlinkError) as info:
        et.channels_set(2, combined_count=33)
    assert (info.value.extack_msg, info.value.bad_attr_offset) == (
        "requested channel count exceeds maximum", 32)
    assert et.channels_get(2) == {"header": {"dev-index": 2, "dev-name": "eth1"},
                                  "combined-max": 32, "combined-count": 16}


# ---- features --------------------------------------------------------------------------------
def test_ntuple_on_through_netlink_shows_in_ethtool_k(host, et):
    reply = et.features_set("eth1", {"rx-ntuple-filter": True})
    assert reply["wanted"] == {"size": 64, "bits": {}}
    assert reply["active"] == {"size": 64, "bits": {"rx-ntuple-filter": True}}
    assert "ntuple-filters: on\n" in host.ethtool("-k eth1")
    host.ethtool("-N eth1 flow-type tcp6 dst-port 5201 action 15")
    assert len(host.nic.ntuple_rules) == 1
    et.features_set("eth1", {"rx-ntuple-filter": False})  # drivers flush their rules
    assert host.nic.ntuple_rules == {}
    assert "ntuple-filters: off\n" in host.ethtool("-k eth1")


def test_fixed_feature_reports_requested_vs_result(et):
    reply = et.features_set("eth1", {"highdma": False})
    assert reply["wanted"]["bits"] == {"highdma": False}
    assert reply["active"]["bits"] == {}


def test_features_get_compact_matches_the_device(host, et):
    f = et.features_get("eth1", compact=True)
    hw, wanted, active, _nochange = feat.bitmaps(host.nic)
    assert f["hw"] == {"size": 64, "value": hw, "mask": (1 << 64) - 1}
    assert (f["wanted"]["value"], f["active"]["value"], f["nochange"]["value"]) == (
        wanted, active, 1 << 10)
    assert active >> feat.NETDEV_FEATURES.index("rx-ntuple-filter") & 1 == 0


def test_ethtool_k_and_netlink_share_the_never_change_refusal(host):
    with pytest.raises(EthtoolError) as info:
        host.ethtool("-K eth1 vlan-challenged on")
    assert "attempt to change non-ethtool features" in info.value.strerror
    with pytest.raises(NetlinkError) as n:
        Ethtool(host.netlink()).features_set("eth1", {"vlan-challenged": True})
    assert (n.value.errno, n.value.extack_msg) == (errno.EINVAL,
                                                   "attempt to change non-ethtool features")


def test_every_device_key_has_a_kernel_bit(host):
    keys = {feat.DEVICE_KEYS.get(n, n) for n in feat.NETDEV_FEATURES if n}
    assert keys == set(host.nic.features) == set(host.kernel.device(1).features)


# ---- dumps, rss, permissions -------------------------------------------------------------------
def test_rings_dump_skips_lo(host, et):
    rings = et.request("rings-get", "rings", {}, dump=True)
    assert [r["header"]["dev-name"] for r in rings] == ["eth1"]
    feats = et.request("features-get", "features", {"header": {"dev-index": 1}}, dump=True)
    assert [r["header"]["dev-name"] for r in feats] == ["lo", "eth1"]  # header does not filter


def test_rss_get_follows_ethtool_x(host, et):
    host.ethtool("-X eth1 equal 15")
    r = et.rss_get("eth1")
    assert r["hfunc"] == 1 and r["indir"] == [i % 15 for i in range(128)]
    assert bytes.fromhex(r["hkey"]) == host.nic.rss_key


def test_set_needs_cap_net_admin_get_does_not(host):
    et = Ethtool(NetlinkSocket(host.kernel, host.dmabufs, cap_net_admin=False))
    assert et.rings_get("eth1")["rx"] == 2
    with pytest.raises(NetlinkError) as info:
        et.rings_set("eth1", rx=512)
    assert (info.value.errno, info.value.extack_msg) == (errno.EPERM, None)
    assert host.nic.rx_ring == 2


def test_ncdevmem_style_setup_over_netlink_then_bind_rx(host, et):
    """ncdevmem configures the NIC through ethtool netlink; bind-rx then sees that state."""
    from devmem_lab.ynl import Netdev
    fd = host.udmabuf_create(1 << 20)
    with Netdev(host.netlink()) as nd, pytest.raises(NetlinkError) as info:
        nd.bind_rx(2, fd, [15])  # header split still off
    assert (info.value.errno, info.value.extack_msg) == (errno.EINVAL,
                                                         "tcp-data-split is disabled")
    et.rings_set("eth1", tcp_data_split="on", hds_thresh=0)
    et.features_set("eth1", {"rx-ntuple-filter": True})
    with Netdev(host.netlink()) as nd:
        nd.bind_rx(2, fd, [15])
        assert host.nic.rx_queues[15].binding is not None
        with pytest.raises(NetlinkError):
            et.rings_set("eth1", tcp_data_split="off")
    et.rings_set("eth1", tcp_data_split="off")  # the binding died with its socket
    assert "TCP data split:\t\toff\n" in host.ethtool("-g eth1")


# ---- notifications (ethtool_notify on "monitor") -------------------------------------------------
@pytest.fixture
def heard(host):
    """What the netlink layer would multicast: ``genl.multicast(group, msg)`` calls."""
    out: list[tuple[int, w.NlMsg]] = []
    host.kernel.genl.multicast = lambda group, msg: out.append((group, *w.iter_msgs(msg)))
    return out


def test_a_change_notifies_the_monitor_group_with_the_get_body(host, et, heard):
    et.rings_set("eth1", rx=2048)
    host.ethtool("-G eth1 tcp-data-split on")
    host.ethtool("-L eth1 combined 8")
    et.features_set("eth1", {"rx-ntuple-filter": True})
    assert [(g, m.type, m.flags, m.seq, m.pid, w.parse_genl(m.payload)[0]) for g, m in heard] \
        == [(6, FID, 0, 0, 0, c) for c in (17, 17, 19, 13)]  # RINGS/CHANNELS/FEATURES_NTF
    ntf = efam.decode("rings", w.parse_genl(heard[1][1].payload)[2])
    assert ntf == et.rings_get("eth1") and ntf["tcp-data-split"] == "on"
    bits = efam.decode("features", w.parse_genl(heard[3][1].payload)[2])["active"]["bits"]
    assert bits["rx-ntuple-filter"] is True  # verbose bitsets, as ethnl_default_notify sends


def test_no_change_no_notification(host, et, heard):
    et.rings_set("eth1", rx=2)
    host.ethtool("-L eth1 combined 16")
    et.features_set("eth1", {"highdma": False})  # fixed: nothing changes
    with pytest.raises(NetlinkError):
        et.rings_set("eth1", rx=99999)
    assert heard == []


def test_a_socket_in_the_monitor_group_receives_the_notification(host, et):
    """Delivered through the netlink layer (``netlink_broadcast``), not only built: a socket
    that joined "monitor" by the id nlctrl reports reads the rings-ntf after ``ethtool -G``."""
    from devmem_lab import ynl
    mon = host.netlink()
    gid = ynl.get_family(mon, "ethtool")["mcgrps"]["monitor"]
    mon.setsockopt(w.SOL_NETLINK, w.NETLINK_ADD_MEMBERSHIP, gid)
    host.ethtool("-G eth1 tcp-data-split on")
    (m,) = w.iter_msgs(mon.recv(65536))
    assert (m.type, m.seq, m.pid, w.parse_genl(m.payload)[0]) == (FID, 0, 0, 17)
    assert efam.decode("rings", w.parse_genl(m.payload)[2]) == et.rings_get("eth1")
    mon.close()
