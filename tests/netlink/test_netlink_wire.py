"""Netlink wire format: exact bytes, and decoding every real 6.18 kernel reply we captured."""

from __future__ import annotations

import json
import pathlib
import struct

import pytest

from devmem_lab.netlink import family as fam
from devmem_lab.netlink import wire as w

FIXTURES = json.loads((pathlib.Path(__file__).parents[1] / "fixtures" / "netdev_real.json").read_text())
CASES = {c["name"]: c for c in FIXTURES["cases"]}


def replies(name: str) -> list[list[w.NlMsg]]:
    return [list(w.iter_msgs(bytes.fromhex(r))) for r in CASES[name]["replies"]]


# ---- attributes and messages -------------------------------------------------------------------
def test_pack_attr_pads_payload_but_not_length():
    assert w.pack_attr(2, b"netdev\0") == bytes.fromhex("0b0002006e65746465760000")
    assert w.pack_attr(1, b"\1\0") == bytes.fromhex("0600010001000000")
    assert w.pack_attr(2, b"", nested=True) == bytes.fromhex("04000280")


def test_iter_attrs_offsets_types_and_flags():
    data = w.pack_attr(1, struct.pack("=I", 7)) + w.pack_attr(2, b"\1\0\0\0", nested=True)
    a, b = list(w.iter_attrs(data, base=20))
    assert (a.type, a.offset, a.u32(), a.nested) == (1, 20, 7, False)
    assert (b.type, b.offset, b.nested) == (2, 28, True)


@pytest.mark.parametrize("bad", [b"\x08\x00\x01", b"\x02\x00\x01\x00", b"\x10\x00\x01\x00\0\0\0\0"])
def test_iter_attrs_rejects_malformed(bad):
    with pytest.raises(ValueError):
        list(w.iter_attrs(bad))


def test_attr_scalar_length_is_checked():
    with pytest.raises(ValueError, match="expected 4 bytes"):
        w.Attr(1, b"\1\0").u32()
    assert w.Attr(1, struct.pack("=Q", 1 << 40)).uint() == 1 << 40


def test_pack_genlmsg_matches_the_captured_request():
    req = w.pack_genlmsg(0x10, w.NLM_F_REQUEST | w.NLM_F_ACK, 1, 0, 3, 1,
                         w.pack_attr(2, b"netdev\0"))
    assert req.hex() == CASES["getfamily-netdev"]["request"]


def test_iter_msgs_splits_and_rejects_truncation():
    two = w.pack_nlmsg(3, 2, 9, 5, b"\0" * 4) + w.pack_nlmsg(2, 0, 9, 5, b"\0" * 20)
    msgs = list(w.iter_msgs(two))
    assert [(m.type, m.offset, len(m.payload)) for m in msgs] == [(3, 0, 4), (2, 20, 20)]
    with pytest.raises(ValueError, match="truncated"):
        list(w.iter_msgs(two[:30]))


def test_pack_nlmsg_pads_odd_lengths():
    m = w.pack_nlmsg(20, 5, 9, 0, b"\1\1\0\0\1\0")
    assert struct.unpack_from("=I", m)[0] == 22 and len(m) == 24


# ---- errors and extack ---------------------------------------------------------------------------
def test_ack_is_capped_and_echoes_only_the_header():
    (msgs,) = replies("getfamily-netdev")[1:]
    ext = w.parse_error(msgs[0])
    assert (ext.error, ext.capped, ext.tlvs, ext.request.seq) == (0, True, False, 1)


def test_missing_attribute_extack():
    (msg,), = replies("bind-rx-no-fd")
    ext = w.parse_error(msg)
    assert (ext.errno, ext.msg, ext.offset, ext.miss_type, ext.capped) == (22, None, None, 3, False)
    assert ext.request.payload == bytes.fromhex(CASES["bind-rx-no-fd"]["request"])[16:]


def test_policy_extack_carries_the_range():
    (msg,), = replies("bind-rx-ifindex0")
    ext = w.parse_error(msg)
    assert (ext.errno, ext.msg, ext.offset) == (34, "integer out of range", 20)
    pol = {a.type: (a.u64() if len(a.payload) == 8 else a.u32()) for a in w.iter_attrs(ext.policy)}
    assert pol == {4: 1, 5: 0xFFFFFFFF, 1: 4}  # MIN_VALUE_U, MAX_VALUE_U, TYPE=NL_ATTR_TYPE_U32
    assert ext.raw_tlvs[-1].nested  # the kernel's policy nest carries NLA_F_NESTED


def test_pack_error_reproduces_the_kernel_bytes():
    case = CASES["bind-rx-lo"]
    request = bytes.fromhex(case["request"])
    tlvs = w.pack_extack(offset=20)
    got = w.pack_error(-95, request, pid=case["portid"], capped=False, tlvs=tlvs)
    assert got.hex() == case["replies"][0]


def test_pack_error_capped_with_tlvs():
    case = CASES["bind-rx-cap-ack"]
    got = w.pack_error(-22, bytes.fromhex(case["request"]), pid=case["portid"], capped=True,
                       tlvs=w.pack_extack(miss_type=3))
    assert got.hex() == case["replies"][0]


def test_dump_error_arrives_in_nlmsg_done():
    (msg,), = replies("qstats-dump-lo")
    ext = w.parse_error(msg)
    assert (msg.type, msg.flags, ext.errno, ext.offset) == (w.NLMSG_DONE, 0x202, 95, 20)
    assert w.pack_done(msg.seq, msg.pid, -95, tlvs=w.pack_extack(offset=20)) == msg.pack()


def test_parse_error_rejects_other_types():
    with pytest.raises(ValueError):
        w.parse_error(w.NlMsg(20, 0, 1, 0, b""))


# ---- every captured datagram decodes -------------------------------------------------------------
_SETS = {1: "dev", 5: "page-pool", 10: "queue", 11: "napi", 12: "qstats", 13: "dmabuf",
         15: "dmabuf"}


def test_every_real_reply_decodes():
    n = 0
    for case in FIXTURES["cases"]:
        for r in case["replies"]:
            for m in w.iter_msgs(bytes.fromhex(r)):
                n += 1
                if m.type in (w.NLMSG_ERROR, w.NLMSG_DONE):
                    w.parse_error(m)
                elif m.type == w.GENL_ID_CTRL:
                    assert w.parse_genl(m.payload)[0] == 1  # CTRL_CMD_NEWFAMILY
                else:
                    cmd, version, attrs = w.parse_genl(m.payload)
                    assert version == 1
                    decoded = fam.decode(_SETS[cmd], attrs)
                    assert not [k for k in decoded if k.isdigit()], decoded  # all names known
    assert n == 58  # 46 cases, 58 messages (dev-get dump: 4 devices + DONE on the reference host)


def test_real_lo_queue_dump_decodes_to_spec_names():
    msgs = replies("queue-get-dump-lo")[0]
    got = [fam.decode("queue", w.parse_genl(m.payload)[2]) for m in msgs[:-1]]
    assert got == [{"id": 0, "type": "rx", "ifindex": 1}, {"id": 0, "type": "tx", "ifindex": 1}]
    assert [m.flags for m in msgs] == [0, 0, w.NLM_F_MULTI]  # netdev dump messages carry no MULTI


def test_real_netdev_family_ops_and_groups():
    (reply,) = replies("getfamily-netdev")[0]
    attrs = w.attrs_by_type(w.parse_genl(reply.payload)[2])
    assert attrs[2].string() == "netdev" and attrs[3].u32() == 1
    ops = {w.attrs_by_type(o.payload)[1].u32(): w.attrs_by_type(o.payload)[2].u32()
           for o in w.iter_attrs(attrs[6].payload)}
    assert ops == {1: 0x0E, 5: 0x0E, 10: 0x0E, 11: 0x0E, 12: 0x0C, 13: 0x0B, 14: 0x0B, 15: 0x0A}
    assert ops == {o.cmd: o.ctrl_flags for o in fam.netdev_family("6.18").ops}


# ---- the family table's encoder -------------------------------------------------------------------
def test_encode_bind_rx_request_matches_the_captured_bytes():
    attrs = fam.encode("dmabuf", {"ifindex": 1, "fd": 4, "queues": [{"id": 0, "type": "rx"}]})
    assert attrs.hex() == CASES["bind-rx-lo"]["request"][40:]


def test_encode_rejects_unknown_names_and_enum_values():
    with pytest.raises(KeyError, match="rx-page-size"):
        fam.encode("dmabuf", {"rx-page-size": 4096})
    with pytest.raises(ValueError):
        fam.encode("queue", {"type": "both"})


def test_decode_round_trip_with_uint_and_flags():
    data = fam.encode("qstats", {"ifindex": 2, "rx-bytes": 1 << 33, "scope": "queue"})
    assert fam.decode("qstats", data) == {"ifindex": 2, "rx-bytes": 1 << 33, "scope": ["queue"]}
    assert len(data) == 8 + 12 + 8  # uint: 8 bytes only when the value needs them
