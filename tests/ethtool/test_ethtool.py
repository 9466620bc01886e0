"""host.ethtool(): ethtool 6.15's text for each command and the kernel's refusals.

Expected texts come from ethtool's sources (netlink/{channels,rings,rss,nlsock,parser}.c,
ethtool.c, rxclass.c, common.c) and, for ``-k lo`` and the lo/unknown-device errors, from
running ethtool on a Linux 6.18 host.
"""

import errno

import pytest

from devmem_lab import EthtoolError, Lab
from devmem_lab.kernel.devmem import bind_dmabuf, open_rxq
from devmem_lab.kernel.nic.device import FlowKey

BAD_ARGS = "ethtool: bad command line argument(s)\nFor more information run ethtool -h"


def fails(host, cmdline):
    """Run a command that must fail; return the EthtoolError."""
    with pytest.raises(EthtoolError) as info:
        host.ethtool(cmdline)
    assert isinstance(info.value, OSError)
    return info.value


def bind_last_queue(host, queue=15):
    dev = host.nic
    fd = host.udmabuf_create(1 << 20)
    binding = bind_dmabuf(dev, host.dmabufs.get(fd))
    open_rxq(dev, queue, binding)
    return binding


def flows(n, dport=5201):
    return [FlowKey(6, "2001:db8::2", "2001:db8::1", 30000 + i, dport) for i in range(n)]


@pytest.fixture
def server():
    return Lab(seed=0).server


# ---- fresh NIC: exact output -------------------------------------------------------------------
def test_channels_fresh(server):
    assert server.ethtool("-l eth1") == (
        "Channel parameters for eth1:\n"
        "Pre-set maximums:\n"
        "RX:\t\tn/a\nTX:\t\tn/a\nOther:\t\tn/a\nCombined:\t32\n"
        "Current hardware settings:\n"
        "RX:\t\tn/a\nTX:\t\tn/a\nOther:\t\tn/a\nCombined:\t16\n")
    assert server.ethtool("--show-channels eth1") == server.ethtool("ethtool -l eth1")


RINGS_618 = (
    "Ring parameters for eth1:\n"
    "Pre-set maximums:\n"
    "RX:\t\t\t4096\n"
    "RX Mini:\t\tn/a\n"
    "RX Jumbo:\t\tn/a\n"
    "TX:\t\t\t4096\n"
    "TX push buff len:\tn/a\n"
    "HDS thresh:\t\t1023\n"
    "Current hardware settings:\n"
    "RX:\t\t\t2\n"
    "RX Mini:\t\tn/a\n"
    "RX Jumbo:\t\tn/a\n"
    "TX:\t\t\t1024\n"
    "RX Buf Len:\t\tn/a\n"
    "CQE Size:\t\tn/a\n"
    "TX Push:\t\toff\n"
    "RX Push:\t\toff\n"
    "TX push buff len:\tn/a\n"
    "TCP data split:\t\toff\n"
    "HDS thresh:\t\t256\n")


def test_rings_fresh(server):
    assert server.ethtool("-g eth1") == RINGS_618


def test_rings_on_612_have_no_hds_thresh():
    text = Lab(seed=0, kernel="6.12").server.ethtool("-g eth1")
    assert text == RINGS_618.replace("HDS thresh:\t\t1023", "HDS thresh:\t\tn/a").replace(
        "HDS thresh:\t\t256", "HDS thresh:\t\tn/a")


# `ethtool -k lo` on a Linux 6.18 host (ethtool 6.1; the text format is unchanged in 6.15)
LO_FEATURES = """Features for lo:
rx-checksumming: on [fixed]
tx-checksumming: on
\ttx-checksum-ipv4: off [fixed]
\ttx-checksum-ip-generic: on [fixed]
\ttx-checksum-ipv6: off [fixed]
\ttx-checksum-fcoe-crc: off [fixed]
\ttx-checksum-sctp: on [fixed]
scatter-gather: on
\ttx-scatter-gather: on [fixed]
\ttx-scatter-gather-fraglist: on [fixed]
tcp-segmentation-offload: on
\ttx-tcp-segmentation: on
\ttx-tcp-ecn-segmentation: on
\ttx-tcp-mangleid-segmentation: on
\ttx-tcp6-segmentation: on
\ttx-tcp-accecn-segmentation: on
generic-segmentation-offload: on
generic-receive-offload: on
large-receive-offload: off [fixed]
rx-vlan-offload: off [fixed]
tx-vlan-offload: off [fixed]
ntuple-filters: off [fixed]
receive-hashing: off [fixed]
highdma: on [fixed]
rx-vlan-filter: off [fixed]
vlan-challenged: on [fixed]
tx-gso-robust: off [fixed]
tx-fcoe-segmentation: off [fixed]
tx-gre-segmentation: off [fixed]
tx-gre-csum-segmentation: off [fixed]
tx-ipxip4-segmentation: off [fixed]
tx-ipxip6-segmentation: off [fixed]
tx-udp_tnl-segmentation: off [fixed]
tx-udp_tnl-csum-segmentation: off [fixed]
tx-gso-partial: off [fixed]
tx-tunnel-remcsum-segmentation: off [fixed]
tx-sctp-segmentation: on
tx-esp-segmentation: off [fixed]
tx-udp-segmentation: on
tx-gso-list: on
tx-nocache-copy: off [fixed]
loopback: on [fixed]
rx-fcs: off [fixed]
rx-all: off [fixed]
tx-vlan-stag-hw-insert: off [fixed]
rx-vlan-stag-hw-parse: off [fixed]
rx-vlan-stag-filter: off [fixed]
l2-fwd-offload: off [fixed]
hw-tc-offload: off [fixed]
esp-hw-offload: off [fixed]
esp-tx-csum-hw-offload: off [fixed]
rx-udp_tunnel-port-offload: off [fixed]
tls-hw-tx-offload: off [fixed]
tls-hw-rx-offload: off [fixed]
rx-gro-hw: off [fixed]
tls-hw-record: off [fixed]
rx-gro-list: off
macsec-hw-offload: off [fixed]
rx-udp-gro-forwarding: off
hsr-tag-ins-offload: off [fixed]
hsr-tag-rm-offload: off [fixed]
hsr-fwd-offload: off [fixed]
hsr-dup-offload: off [fixed]
"""


def test_features_lo_match_a_real_618_host(server):
    assert server.ethtool("-k lo") == LO_FEATURES


def test_features_nic(server):
    text = server.ethtool("-k eth1")
    lines = text.splitlines()
    assert lines[0] == "Features for eth1:"
    assert len(lines) == len(LO_FEATURES.splitlines())  # same kernel feature set, same layout
    assert "ntuple-filters: off" in lines and "receive-hashing: on" in lines
    assert "tx-checksumming: on" in lines and "\ttx-checksum-ip-generic: off [fixed]" in lines
    assert server.ethtool("--show-offload eth1") == text


def test_rss_fresh(server):
    text = server.ethtool("-x eth1")
    lines = text.split("\n")
    assert lines[0] == ""  # netlink rss_reply_cb starts with show_cr()
    assert lines[1] == "RX flow hash indirection table for eth1 with 16 RX ring(s):"
    assert lines[2] == "    0:      0     1     2     3     4     5     6     7"
    assert lines[3] == "    8:      8     9    10    11    12    13    14    15"
    assert lines[17] == "  120:      8     9    10    11    12    13    14    15"
    assert text.endswith(
        "RSS hash key:\n"
        "6d:5a:56:da:25:5b:0e:c2:41:67:25:3d:43:a3:8f:b0:d0:ca:2b:cb:ae:7b:30:b4:77:cb:2d:a3:"
        "80:30:f2:0c:6a:42:b7:3b:be:ac:01:fa\n"
        "RSS hash function:\n    toeplitz: on\n    xor: off\n    crc32: off\n"
        "RSS input transformation:\n    symmetric-xor: off\n    symmetric-or-xor: off\n")


def test_ntuple_listing_fresh(server):
    assert server.ethtool("-n eth1") == "16 RX rings available\nTotal 0 rules\n\n"


def test_stats_fresh_and_counting(server):
    text = server.ethtool("-S eth1")
    assert text.startswith("NIC statistics:\n     rx_packets: 0\n     rx_bytes: 0\n"
                           "     rx_alloc_fail: 0\n     rx_hw_drops: 0\n"
                           "     rx_devmem_bytes: 0\n     rx_host_bytes: 0\n")
    assert "     rx_queue_15_hw_drops: 0\n" in text
    stats = server.nic.rx_queues[15].stats
    stats.packets, stats.bytes, stats.devmem_bytes, stats.host_bytes = 3, 4500, 4000, 500
    server.nic.rx_queues[2].stats.alloc_fail = 7
    text = server.ethtool("-S eth1")
    for line in ("rx_packets: 3", "rx_bytes: 4500", "rx_alloc_fail: 7", "rx_devmem_bytes: 4000",
                 "rx_host_bytes: 500", "rx_queue_15_packets: 3", "rx_queue_2_alloc_fail: 7"):
        assert f"     {line}\n" in text


def test_version_and_empty_output(server):
    assert server.ethtool("--version") == "ethtool version 6.15\n"
    assert server.ethtool("-L eth1 combined 16") == ""  # unchanged: ethtool prints nothing


# ---- setters -----------------------------------------------------------------------------------
def test_set_channels_and_rings(server):
    assert server.ethtool("-L eth1 combined 8") == ""
    assert "Combined:\t8\n" in server.ethtool("-l eth1").split("Current")[1]
    assert server.nic.real_num_rx_queues == 8
    server.ethtool("-G eth1 rx 2048 tcp-data-split on hds-thresh 0")
    text = server.ethtool("-g eth1")
    assert "RX:\t\t\t2048\n" in text and text.endswith("TCP data split:\t\ton\nHDS thresh:\t\t0\n")
    server.ethtool("-G eth1 tcp-data-split auto")
    assert "TCP data split:\t\toff\n" in server.ethtool("-g eth1")  # driver default: no split


def test_set_features_prints_the_kernel_diff(server):
    assert server.ethtool("-K eth1 ntuple on") == "Actual changes:\nrx-ntuple-filter: on\n"
    assert server.nic.features["ntuple-filters"] is True
    assert server.ethtool("-K eth1 ntuple-filters on") == ""  # nothing changed
    assert server.ethtool("-K eth1 highdma off") == (
        "Actual changes:\nhighdma: on [requested off]\n")
    assert server.ethtool("-K lo ntuple on") == (
        "Actual changes:\nrx-ntuple-filter: off [requested on]\n")
    assert server.ethtool("-K eth1 tso off") == (
        "Actual changes:\ntx-tcp-segmentation: off\ntx-tcp6-segmentation: off\n")


def test_unknown_feature(server):
    e = fails(server, "-K eth1 foo on")
    assert e.errno == errno.EOPNOTSUPP
    assert e.strerror == ("netlink error: bit name not found (offset 56)\n"
                          "netlink error: Operation not supported")


def test_ntuple_rule_steers_the_flow(server):
    server.ethtool("-K eth1 ntuple on")
    out = server.ethtool("-N eth1 flow-type tcp6 dst-ip 2001:db8::1 dst-port 5201 action 15")
    assert out == "Added rule with ID 1023\n"
    assert all(server.nic.classify(f) == 15 for f in flows(50))
    assert {server.nic.classify(f) for f in flows(50, dport=5202)} != {15}
    assert server.ethtool("-n eth1") == (
        "16 RX rings available\nTotal 1 rules\n\n"
        "Filter: 1023\n"
        "\tRule Type: TCP over IPv6\n"
        "\tSrc IP addr: :: mask: ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n"
        "\tDest IP addr: 2001:db8::1 mask: ::\n"
        "\tTraffic Class: 0x0 mask: 0xff\n"
        "\tSrc port: 0 mask: 0xffff\n"
        "\tDest port: 5201 mask: 0x0\n"
        "\tAction: Direct to queue 15\n\n")
    assert server.ethtool("-N eth1 flow-type tcp4 dst-port 80 queue 3") == (
        "Added rule with ID 1022\n")
    assert server.ethtool("-N eth1 flow-type tcp4 dst-port 81 action -1 loc 5") == ""
    assert server.nic.ntuple_rules[5].action == -1  # action -1 is RX_CLS_FLOW_DISC: drop
    assert "Action: Drop" in server.ethtool("-n eth1 rule 5")


def test_ntuple_rule_delete(server):
    server.ethtool("-K eth1 ntuple on")
    server.ethtool("-N eth1 flow-type tcp6 dst-port 5201 queue 15")
    assert server.ethtool("-N eth1 delete 1023") == ""
    assert server.nic.ntuple_rules == {}
    e = fails(server, "-N eth1 delete 1023")
    assert e.errno == errno.ENOENT and e.returncode == 1
    assert e.strerror == ("rmgr: Cannot delete RX class rule: No such file or directory\n"
                          "Cannot delete classification rule")


def test_ntuple_insert_refusals(server):
    e = fails(server, "-N eth1 flow-type tcp6 dst-port 5201 action 15")  # ntuple still off
    assert e.errno == errno.EOPNOTSUPP
    assert e.strerror == "rmgr: Cannot insert RX class rule: Operation not supported"
    assert e.returncode == 0  # rxclass_rule_ins() returns 0 after perror()
    server.ethtool("-K eth1 ntuple on")
    e = fails(server, "-N eth1 flow-type tcp6 dst-port 5201 action 16")
    assert (e.errno, e.strerror) == (errno.EINVAL,
                                     "rmgr: Cannot insert RX class rule: Invalid argument")


def test_rss_equal_keeps_flows_off_high_queues(server):
    assert server.ethtool("-X eth1 equal 8") == ""
    assert {server.nic.classify(f) for f in flows(400)} <= set(range(8))
    assert len({server.nic.classify(f) for f in flows(400)}) == 8
    assert "    8:      0     1     2     3     4     5     6     7\n" in server.ethtool("-x eth1")
    server.ethtool("-X eth1 default")
    assert max(server.nic.classify(f) for f in flows(400)) >= 8


def test_rss_weight_and_start(server):
    server.ethtool("-X eth1 weight 1 1 0 2")
    table = server.nic.rss_table
    assert [table.count(q) for q in range(4)] == [32, 32, 0, 64]
    server.ethtool("-X eth1 equal 4 start 12")
    assert set(server.nic.rss_table) == {12, 13, 14, 15}


def test_rss_key(server):
    key = ":".join(f"{i:02x}" for i in range(40))
    server.ethtool(f"-X eth1 hkey {key}")
    assert f"RSS hash key:\n{key}\n" in server.ethtool("-x eth1")
    e = fails(server, "-X eth1 hkey 01:02")
    assert (e.errno, e.strerror) == (errno.EINVAL, "Key is too short for device (2 < 40)")


def test_channel_refusals_from_rss_and_ntuple(server):
    server.ethtool("-X eth1 equal 8")
    e = fails(server, "-L eth1 combined 7")
    assert e.strerror == ("netlink error: requested channel counts are too low for existing "
                          "indirection table (7)\nnetlink error: Invalid argument")
    server.ethtool("-L eth1 combined 8")
    server.ethtool("-K eth1 ntuple on")
    server.ethtool("-N eth1 flow-type tcp4 dst-port 80 action 5")
    e = fails(server, "-L eth1 combined 5")
    assert e.strerror.startswith("netlink error: requested channel counts are too low for "
                                 "existing indirection table (7)")
    server.ethtool("-X eth1 default")
    e = fails(server, "-L eth1 combined 5")
    assert e.strerror == ("netlink error: requested channel counts are too low for existing "
                          "ntuple filter settings\nnetlink error: Invalid argument")


# ---- refusals while a queue has a memory provider --------------------------------------------
# (docs/kernel-facts.md, "Steering and ethtool interactions")
@pytest.fixture
def bound():
    lab = Lab(seed=0)
    lab.server.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    bind_last_queue(lab.server)
    return lab.server


def test_bound_queue_refuses_fewer_channels(bound):
    e = fails(bound, "-L eth1 combined 8")
    assert e.errno == errno.EINVAL and e.returncode == 1
    assert e.strerror == ("netlink error: requested channel counts are too low for existing "
                          "memory provider setting (16)\nnetlink error: Invalid argument")
    assert bound.nic.real_num_rx_queues == 16
    assert bound.ethtool("-L eth1 combined 20") == ""  # growing is fine


@pytest.mark.parametrize("kernel", ["6.18", "6.12"])
def test_exactly_bound_index_plus_one_channels_is_refused_too(kernel):
    """``combined + rx <= dev_get_min_mp_channel_count()`` (net/ethtool/common.c): with queue 7
    bound, 8 channels (which would keep queue 7) is refused as well; 9 is allowed."""
    server = Lab(seed=0, kernel=kernel).server
    if kernel == "6.18":
        server.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    bind_last_queue(server, queue=7)
    for count in (1, 7, 8):
        e = fails(server, f"-L eth1 combined {count}")
        assert e.strerror == ("netlink error: requested channel counts are too low for "
                              "existing memory provider setting (8)\nnetlink error: Invalid "
                              "argument"), count
    assert server.nic.real_num_rx_queues == 16
    assert server.ethtool("-L eth1 combined 9") == ""
    assert server.nic.real_num_rx_queues == 9


def test_bound_queue_refuses_disabling_header_split(bound):
    for mode in ("off", "auto"):
        e = fails(bound, f"-G eth1 tcp-data-split {mode}")
        assert e.errno == errno.EINVAL
        assert e.strerror == ("netlink error: can't disable tcp-data-split while device has "
                              "memory provider enabled\nnetlink error: Invalid argument")
    assert bound.nic.tcp_data_split == "on"


def test_bound_queue_refuses_nonzero_hds_thresh(bound):
    e = fails(bound, "-G eth1 hds-thresh 128")
    assert e.errno == errno.EINVAL
    assert e.strerror == ("netlink error: can't set non-zero hds_thresh while device is memory "
                          "provider enabled\nnetlink error: Invalid argument")
    assert bound.ethtool("-G eth1 hds-thresh 0 rx 2048") == ""  # no change / allowed change


def test_612_has_channel_refusal_but_no_hds_rules():
    server = Lab(seed=0, kernel="6.12").server
    bind_last_queue(server)  # 6.12 binds without header split
    assert server.ethtool("-G eth1 tcp-data-split on") == ""
    assert server.ethtool("-G eth1 tcp-data-split off") == ""  # no rings refusal in 6.12
    e = fails(server, "-G eth1 hds-thresh 0")  # the attribute does not exist yet
    assert (e.errno, e.strerror) == (errno.EINVAL, ("netlink error: Unknown attribute type "
                                                   "(offset 36)\nnetlink error: Invalid argument"))
    e = fails(server, "-L eth1 combined 8")
    assert "memory provider setting (16)" in e.strerror


# ---- usage errors and unknown devices ------------------------------------------------------------
@pytest.mark.parametrize("cmdline", [
    "", "ethtool", "-Z eth1", "-l", "-S eth1 extra", "-X eth1", "-X eth1 equal 0",
    "-X eth1 frobnicate", "-N eth1", "-N eth1 delete abc", "-N eth1 frob 1", "-n eth1 rule",
])
def test_bad_syntax(server, cmdline):
    e = fails(server, cmdline)
    assert e.errno == errno.EINVAL and e.returncode == 1
    assert e.strerror == BAD_ARGS


@pytest.mark.parametrize("cmdline, text", [
    ("-L eth1 combined", "ethtool (-L): no value for parameter 'combined'"),
    ("-L eth1 combined many", "ethtool (-L): invalid value 'many' for parameter 'combined'"),
    ("-L eth1 queues 4", "ethtool (-L): unknown parameter 'queues'"),
    ("-G eth1 tcp-data-split yes", ("ethtool (-G): invalid value 'yes' for parameter "
                                   "'tcp-data-split'")),
    ("-G eth1 rx 1 rx 2", "ethtool (-G): duplicate parameter 'rx'"),
    ("-l eth1 now", "ethtool: unexpected parameter 'now'"),
    ("-K eth1 ntuple", ("ethtool (-K): flag '(null)' for parameter '(null)' is not followed by "
                       "'on' or 'off'")),
    ("-N eth1 flow-type tcp6 dst-port http",
     "Invalid dst-port value[http]\n" + BAD_ARGS),
    ("-N eth1 flow-type tcp6 port 80", "Add rule, unrecognized option[port]\n" + BAD_ARGS),
    ("-N eth1 flow-type tcp7", "Add rule, invalid syntax\n" + BAD_ARGS),
    ("-N eth1 flow-type tcp4 action 1 queue 2",
     "action and queue are not compatible\n" + BAD_ARGS),
    ("-X eth1 equal 4 weight 1 1", "Equal and weight options are mutually exclusive"),
    ("-X eth1 hfunc md5", "Unknown hash function: md5"),
])
def test_parser_errors(server, cmdline, text):
    e = fails(server, cmdline)
    assert (e.errno, e.strerror) == (errno.EINVAL, text)


def test_kernel_range_errors_point_at_the_attribute(server):
    e = fails(server, "-L eth1 combined 33")
    assert e.strerror == ("netlink error: requested channel count exceeds maximum (offset 36)\n"
                          "netlink error: Invalid argument")
    e = fails(server, "-G eth1 rx 512 hds-thresh 4096")
    assert e.strerror.startswith("netlink error: requested ring size exceeds maximum "
                                 "(offset 44)\n")
    e = fails(server, "-L eth1 combined 0")
    assert e.strerror.startswith("netlink error: requested channel counts would result in no "
                                 "RX or TX channel being configured (offset 36)")
    e = fails(server, "-X eth1 equal 17")
    assert e.strerror == "Cannot set RX flow hash configuration: Invalid argument"


@pytest.mark.parametrize("cmdline, text, rc", [
    ("-l nosuch", ("netlink error: no device matches name (offset 24)\n"
                  "netlink error: No such device"), 1),
    ("-G nosuch tcp-data-split on", ("netlink error: no device matches name (offset 24)\n"
                                    "netlink error: No such device"), 1),
    ("-S nosuch", "Cannot get stats strings information: No such device", 96),
    ("-X nosuch equal 2", "Cannot get RX ring count: No such device", 1),
    ("-N nosuch delete 3", ("rmgr: Cannot delete RX class rule: No such device\n"
                           "Cannot delete classification rule"), 1),
    ("-n nosuch", ("Cannot get RX rings: No such device\n"
                  "rxclass: Cannot get RX class rule count: No such device\n"
                  "RX classification rule retrieval failed"), 1),
])
def test_unknown_device(server, cmdline, text, rc):
    e = fails(server, cmdline)
    assert (e.errno, e.strerror, e.returncode) == (errno.ENODEV, text, rc)


@pytest.mark.parametrize("cmdline, text, rc", [  # as ethtool prints them for lo on Linux 6.18
    ("-l lo", "netlink error: Operation not supported", 1),
    ("-g lo", "netlink error: Operation not supported", 1),
    ("-S lo", "no stats available", 94),
    ("-n lo", ("Cannot get RX rings: Operation not supported\n"
              "rxclass: Cannot get RX class rule count: Operation not supported\n"
              "RX classification rule retrieval failed"), 1),
    ("-G lo tcp-data-split on", ("netlink error: setting TCP data split is not supported "
                                "(offset 32)\nnetlink error: Operation not supported"), 1),
])
def test_loopback_has_no_queue_knobs(server, cmdline, text, rc):
    e = fails(server, cmdline)
    assert (e.errno, e.strerror, e.returncode) == (errno.EOPNOTSUPP, text, rc)


def test_not_emulated_and_type_errors(server):
    e = fails(server, "-i eth1")
    assert e.errno == errno.EOPNOTSUPP and "not emulated" in e.strerror
    with pytest.raises(TypeError):
        server.ethtool(["-l", "eth1"])


def test_ntuple_vf_zero_is_a_vf_not_the_pf(server):
    """rxclass.c stores VF n as n + 1 (0 in the cookie's VF bits means the PF), so 'vf 0'
    targets a VF, which this NIC does not have; the queue given alongside is kept."""
    server.ethtool("-K eth1 ntuple on")
    e = fails(server, "-N eth1 flow-type tcp4 dst-port 1 vf 0 queue 2")
    assert (e.errno, e.strerror) == (errno.EOPNOTSUPP,
                                     "rmgr: Cannot insert RX class rule: Operation not supported")
    assert server.nic.ntuple_rules == {}
    server.ethtool("-N eth1 flow-type tcp4 dst-port 1 queue 2")  # without vf: the PF's queue
    assert [r.action for r in server.nic.ntuple_rules.values()] == [2]
