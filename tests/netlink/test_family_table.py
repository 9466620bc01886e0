"""The netdev family table is the one source: uapi agrees with it, and a new attribute is data.

``devmem_lab/netlink/family.py`` models ``Documentation/netlink/specs/netdev.yaml`` (whose
``include/uapi/linux/netdev.h`` is generated from it). ``uapi`` imports nothing of the package,
so its ``NETDEV_*`` numbers are checked here, every one of them, against the table.
"""

from __future__ import annotations

import copy
import struct

import pytest

from devmem_lab import Lab, uapi
from devmem_lab.kernel.netdev_genl import Request
from devmem_lab.netlink import family as fam
from devmem_lab.netlink import wire
from devmem_lab.ynl import Netdev

# uapi prefix -> attribute set, longest first (PAGE_POOL_STATS before PAGE_POOL)
_PREFIXES = [("NETDEV_A_PAGE_POOL_STATS_", "page-pool-stats"), ("NETDEV_A_PAGE_POOL_", "page-pool"),
             ("NETDEV_A_DEV_", "dev"), ("NETDEV_A_NAPI_", "napi"), ("NETDEV_A_QUEUE_", "queue"),
             ("NETDEV_A_QSTATS_", "qstats"), ("NETDEV_A_DMABUF_", "dmabuf")]
_ENUM_PREFIXES = [("NETDEV_QUEUE_TYPE_", "queue-type"), ("NETDEV_QSTATS_SCOPE_", "qstats-scope")]
NETDEV_NAMES = sorted(n for n in dir(uapi) if n.startswith("NETDEV_"))


def _spec_name(rest: str) -> str:
    return rest.lower().replace("_", "-")


def table_value(name: str):
    """What the family table says ``uapi.<name>`` must be."""
    if name == "NETDEV_FAMILY_NAME":
        return fam.netdev_family().name
    if name == "NETDEV_FAMILY_VERSION":
        return fam.netdev_family().version
    if name.startswith("NETDEV_MCGRP_"):
        groups = dict(fam.netdev_family().mcgrps)
        value = _spec_name(name[len("NETDEV_MCGRP_"):])
        assert value in groups
        return value
    if name.startswith("NETDEV_CMD_"):
        return fam.SPEC_CMDS[_spec_name(name[len("NETDEV_CMD_"):])]
    for prefix, enum in _ENUM_PREFIXES:
        if name.startswith(prefix):
            i = fam.ENUMS[enum].index(_spec_name(name[len(prefix):]))
            return 1 << i if enum in fam._FLAG_ENUMS else i
    for prefix, attr_set in _PREFIXES:
        if name.startswith(prefix):
            return fam.attr_id(attr_set, _spec_name(name[len(prefix):]))
    raise AssertionError(f"uapi.{name} has no counterpart in the family table")


def test_every_uapi_netdev_name_is_checked():
    assert len(NETDEV_NAMES) == 74  # discovery works; each one is checked below


@pytest.mark.parametrize("name", NETDEV_NAMES)
def test_uapi_netdev_number_equals_the_table(name):
    assert getattr(uapi, name) == table_value(name)


def test_table_ops_and_notifications_use_the_spec_command_ids():
    f = fam.netdev_family()
    assert {o.name: o.cmd for o in f.ops} == {n: c for n, c in fam.SPEC_CMDS.items()
                                              if n in {o.name for o in f.ops}}
    assert [(n.name, n.cmd, n.mcgrp) for n in f.ntfs] == [
        ("dev-add-ntf", 2, "mgmt"), ("dev-del-ntf", 3, "mgmt"), ("dev-change-ntf", 4, "mgmt"),
        ("page-pool-add-ntf", 6, "page-pool"), ("page-pool-del-ntf", 7, "page-pool"),
        ("page-pool-change-ntf", 8, "page-pool")]
    assert fam.netdev_family("6.12").ntfs == f.ntfs


def test_ctrl_attribute_set_encodes_nlctrls_nests_without_the_nested_flag():
    body = fam.encode("ctrl", {"family-name": "x", "ops": [{"id": 3, "flags": 14}]},
                      nest_flag=False)
    assert body == (wire.pack_attr(2, b"x\0")
                    + wire.pack_attr(6, wire.pack_attr(1, wire.pack_attr(1, b"\3\0\0\0")
                                                       + wire.pack_attr(2, b"\x0e\0\0\0"))))
    assert fam.decode("ctrl", body) == {"family-name": "x", "ops": [{"id": 3, "flags": 14}]}


# ---- a new attribute is a change of data --------------------------------------------------------
@pytest.fixture
def with_new_dev_attr(monkeypatch):
    """A copy of the table whose ``dev`` set has one more attribute (id 7, u32)."""
    sets = copy.deepcopy(fam.ATTR_SETS)
    sets["dev"]["xdp-frob-segs"] = fam.AttrSpec(7, "u32")
    monkeypatch.setattr(fam, "ATTR_SETS", sets)
    return sets


def test_new_attribute_encodes_and_decodes_without_code(with_new_dev_attr):
    body = fam.encode("dev", {"ifindex": 2, "xdp-frob-segs": 9})
    assert body == wire.pack_attr(1, struct.pack("=I", 2)) + wire.pack_attr(7, b"\x09\0\0\0")
    assert fam.decode("dev", body) == {"ifindex": 2, "xdp-frob-segs": 9}


def test_without_the_entry_the_attribute_is_only_a_number():
    body = wire.pack_attr(1, struct.pack("=I", 2)) + wire.pack_attr(7, b"\x09\0\0\0")
    assert fam.decode("dev", body) == {"ifindex": 2, "7": b"\x09\0\0\0"}
    with pytest.raises(KeyError):
        fam.encode("dev", {"xdp-frob-segs": 9})


def test_new_attribute_reaches_the_emulated_kernel_and_back(with_new_dev_attr, monkeypatch):
    """The kernel's dev fill gains the attribute by name; the YNL client decodes it by name;
    a handler reads a request attribute by name through the same table."""
    from devmem_lab.kernel import netdev_genl
    fill = netdev_genl.NetdevOps._dev_fill
    monkeypatch.setattr(netdev_genl.NetdevOps, "_dev_fill",
                        lambda self, dev: fill(self, dev) | {"xdp-frob-segs": 9})
    lab = Lab(seed=0)
    with Netdev(lab.server.netlink()) as nl:
        assert nl.dev_get(2)["xdp-frob-segs"] == 9
    attrs = fam.encode("dev", {"xdp-frob-segs": 5})
    req = Request(None, None, 1, attrs, {a.type: a for a in wire.iter_attrs(attrs)},
                  fam.netdev_family(), "dev")
    assert req.get("xdp-frob-segs").u32() == 5 and req.get("ifindex") is None
