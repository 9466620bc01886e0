"""The steering panel: each control change runs one ethtool command and shows its text."""

import errno

import pytest
from prereq import require

from devmem_lab import Lab
from devmem_lab import prerequisites as pre
from devmem_lab.kernel.nic.device import FlowKey
from devmem_lab.scenario import bind_rx
from devmem_lab.widgets.steering import steering_panel  # imports ipywidgets only when called

require(pre.python_package("ipywidgets", "notebooks"))


@pytest.fixture
def lab():
    return Lab(seed=0)


def test_initial_values_are_read_from_ethtool(lab):
    ui = steering_panel(lab.server)
    assert ui.values() == {"tcp_data_split": "off", "hds_thresh": 256, "rss_equal": 16,
                           "ntuple": "off", "ntuple_queue": 15, "dst_port": 5201}
    assert ui.controls["hds_thresh"].max == 1023
    assert ui.result is None and ui.output == ""
    assert repr(ui).startswith("SteeringPanel(eth1: tcp_data_split='off'")


def test_header_split_and_threshold(lab):
    ui = steering_panel(lab.server)
    ui.controls["tcp_data_split"].value = "on"
    assert ui.output == "$ ethtool -G eth1 tcp-data-split on\n"
    assert ui.result == {"commands": ["ethtool -G eth1 tcp-data-split on"], "ok": True,
                         "errno": None, "text": ""}
    ui.controls["hds_thresh"].value = 0
    assert ui.output == "$ ethtool -G eth1 hds-thresh 0\n"
    nic = lab.server.nic
    assert (nic.tcp_data_split, nic.hds_thresh) == ("on", 0)


def test_refusal_is_shown_and_the_control_springs_back(lab):
    ui = steering_panel(lab.server)
    ui.controls["tcp_data_split"].value = "on"
    ui.controls["hds_thresh"].value = 0
    bind_rx(lab.server, lab.server.udmabuf_create(1 << 20), [15], netlink=False)
    ui.controls["tcp_data_split"].value = "off"
    assert ui.output == ("$ ethtool -G eth1 tcp-data-split off\n"
                         "netlink error: can't disable tcp-data-split while device has memory "
                         "provider enabled\nnetlink error: Invalid argument\n")
    assert ui.result["ok"] is False and ui.result["errno"] == errno.EINVAL
    assert ui.controls["tcp_data_split"].value == "on"  # back to what the NIC has
    ui.controls["hds_thresh"].value = 64
    assert "can't set non-zero hds_thresh" in ui.output
    assert ui.controls["hds_thresh"].value == 0
    assert len(ui.log) == 4


def test_rss_equal_moves_flows_off_high_queues(lab):
    ui = steering_panel(lab.server)
    ui.controls["rss_equal"].value = 8
    assert ui.output == "$ ethtool -X eth1 equal 8\n"
    flows = [FlowKey(6, "2001:db8::2", "2001:db8::1", 40000 + i, 5201) for i in range(200)]
    assert max(lab.server.nic.classify(f) for f in flows) < 8


def test_ntuple_rule_follows_the_queue_control(lab):
    ui = steering_panel(lab.server)
    ui.controls["ntuple_queue"].value = 14  # ntuple filters are still off
    assert ui.output == ("$ ethtool -N eth1 flow-type tcp6 dst-ip 2001:db8::1 dst-port 5201 "
                         "action 14\nrmgr: Cannot insert RX class rule: Operation not "
                         "supported\n")
    assert ui.result["errno"] == errno.EOPNOTSUPP and ui.rule_id is None
    ui.controls["ntuple"].value = "on"
    assert ui.output == "$ ethtool -K eth1 ntuple on\nActual changes:\nrx-ntuple-filter: on\n"
    ui.controls["ntuple_queue"].value = 15
    assert ui.output.endswith("Added rule with ID 1023\n") and ui.rule_id == 1023
    ui.controls["dst_port"].value = 5202  # replaces the rule: delete, then add
    assert ui.result["commands"] == [
        "ethtool -N eth1 delete 1023",
        "ethtool -N eth1 flow-type tcp6 dst-ip 2001:db8::1 dst-port 5202 action 15"]
    nic = lab.server.nic
    assert list(nic.ntuple_rules) == [1023] and nic.ntuple_rules[1023].dst_port == 5202
    assert nic.classify(FlowKey(6, "2001:db8::2", "2001:db8::1", 40000, 5202)) == 15
