"""Netdev features as bit maps: ``netdev_features_strings`` and ``ethnl_set_features``.

Models ``include/linux/netdev_features.h`` (bit numbers, ``NETIF_F_NEVER_CHANGE``),
``net/ethtool/common.c`` (``netdev_features_strings``) and the part of
``net/ethtool/features.c`` ``ethnl_set_features`` that runs after the request bitset is
parsed. Both the ethtool netlink family (``kernel/ethtool_genl.py``) and ``ethtool -K``
(``devmem_lab/ethtool/main.py``) change features only through :func:`set_features`.

The names, their bit numbers (64 bits; bits 2, 12, 13 and 32 are unused and have empty
names) and the never-change mask (bit 10, vlan-challenged) were read from a running 6.18
kernel (``ETHTOOL_MSG_FEATURES_GET`` on ``lo``). A device keeps its features under the names
``ethtool -k`` prints (:data:`DEVICE_KEYS` maps the few legacy ones).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ...errors import DevmemError

if TYPE_CHECKING:
    from .device import NetDevice

__all__ = [
    "DEVICE_KEYS",
    "NETDEV_FEATURES",
    "NETDEV_FEATURE_COUNT",
    "NEVER_CHANGE",
    "FeatureChange",
    "bitmaps",
    "feature_index",
    "set_features",
]

#: netdev_features_strings in bit order (6.18); "" marks an unused bit
NETDEV_FEATURES: tuple[str, ...] = (
    "tx-scatter-gather", "tx-checksum-ipv4", "", "tx-checksum-ip-generic", "tx-checksum-ipv6",
    "highdma", "tx-scatter-gather-fraglist", "tx-vlan-hw-insert", "rx-vlan-hw-parse",
    "rx-vlan-filter", "vlan-challenged", "tx-generic-segmentation", "", "", "rx-gro", "rx-lro",
    "tx-tcp-segmentation", "tx-gso-robust", "tx-tcp-ecn-segmentation",
    "tx-tcp-mangleid-segmentation", "tx-tcp6-segmentation", "tx-fcoe-segmentation",
    "tx-gre-segmentation", "tx-gre-csum-segmentation", "tx-ipxip4-segmentation",
    "tx-ipxip6-segmentation", "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation",
    "tx-gso-partial", "tx-tunnel-remcsum-segmentation", "tx-sctp-segmentation",
    "tx-esp-segmentation", "", "tx-udp-segmentation", "tx-gso-list",
    "tx-tcp-accecn-segmentation", "tx-checksum-fcoe-crc", "tx-checksum-sctp",
    "rx-ntuple-filter", "rx-hashing", "rx-checksum", "tx-nocache-copy", "loopback", "rx-fcs",
    "rx-all", "tx-vlan-stag-hw-insert", "rx-vlan-stag-hw-parse", "rx-vlan-stag-filter",
    "l2-fwd-offload", "hw-tc-offload", "esp-hw-offload", "esp-tx-csum-hw-offload",
    "rx-udp_tunnel-port-offload", "tls-hw-tx-offload", "tls-hw-rx-offload", "rx-gro-hw",
    "tls-hw-record", "rx-gro-list", "macsec-hw-offload", "rx-udp-gro-forwarding",
    "hsr-tag-ins-offload", "hsr-tag-rm-offload", "hsr-fwd-offload", "hsr-dup-offload",
)
NETDEV_FEATURE_COUNT = len(NETDEV_FEATURES)
ALL = (1 << NETDEV_FEATURE_COUNT) - 1
NEVER_CHANGE = 1 << NETDEV_FEATURES.index("vlan-challenged")  # NETIF_F_NEVER_CHANGE
ETHTOOL_BITS = ALL & ~NEVER_CHANGE  # what a SET may name in its mask

#: kernel name -> the key ``ethtool -k`` prints (off_flag_def long names with one feature)
DEVICE_KEYS: dict[str, str] = {
    "rx-checksum": "rx-checksumming", "tx-generic-segmentation": "generic-segmentation-offload",
    "rx-gro": "generic-receive-offload", "rx-lro": "large-receive-offload",
    "rx-vlan-hw-parse": "rx-vlan-offload", "tx-vlan-hw-insert": "tx-vlan-offload",
    "rx-ntuple-filter": "ntuple-filters", "rx-hashing": "receive-hashing",
}


def feature_index(name: str) -> int:
    """``ethnl_name_to_idx``: the bit of a kernel feature name.

    Raises
    ------
    DevmemError
        EOPNOTSUPP "bit name not found" (the extack of ``ethnl_parse_bit``).
    """
    if name and name in NETDEV_FEATURES:
        return NETDEV_FEATURES.index(name)
    raise DevmemError(errno.EOPNOTSUPP, "bit name not found")


def _key(bit: int) -> str:
    name = NETDEV_FEATURES[bit]
    return DEVICE_KEYS.get(name, name)


def bitmaps(dev: NetDevice) -> tuple[int, int, int, int]:
    """``features_prepare_data``: (hw_features, wanted_features, features, NEVER_CHANGE).

    A feature is in ``hw_features`` unless ``ethtool -k`` shows it ``[fixed]``; wanted is what
    ``register_netdevice`` starts with (``features & hw_features``), kept equal to the active
    value because feature dependencies are not modelled.
    """
    hw = active = 0
    for bit, name in enumerate(NETDEV_FEATURES):
        key = _key(bit)
        if not name or key not in dev.features:
            continue
        if dev.features[key]:
            active |= 1 << bit
        if key not in dev.fixed_features:
            hw |= 1 << bit
    return hw, active & hw, active, NEVER_CHANGE


class FeatureChange:
    """What ``ethnl_set_features`` puts in its reply: requested-vs-result and old-vs-new.

    ``wanted``/``wanted_mask``: bits asked for whose result differs (value = what was asked);
    ``active``/``active_mask``: bits whose active value changed (value = the new one);
    ``changed``: the active set changed (``netdev_features_change``, a FEATURES_NTF).
    """

    def __init__(self, wanted: int, wanted_mask: int, active: int, active_mask: int) -> None:
        self.wanted, self.wanted_mask = wanted, wanted_mask
        self.active, self.active_mask = active, active_mask
        self.changed = bool(active_mask)


def set_features(dev: NetDevice, req_wanted: int, req_mask: int) -> FeatureChange:
    """``ethnl_set_features`` after ``ethnl_parse_bitset``: request bits ``req_mask`` to the
    values in ``req_wanted``; only ``hw_features`` can change.

    Raises
    ------
    DevmemError
        EINVAL "attempt to change non-ethtool features" when the mask names a
        ``NETIF_F_NEVER_CHANGE`` bit (or a bit past the kernel's count).
    """
    if req_mask & ~ETHTOOL_BITS:
        raise DevmemError(errno.EINVAL, "attempt to change non-ethtool features")
    hw, old_wanted, old_active, _ = bitmaps(dev)
    req_wanted = (req_wanted & req_mask) | (old_wanted & ~req_mask)
    if req_wanted != old_wanted:  # __netdev_update_features: hw bits take the wanted value
        for bit in range(NETDEV_FEATURE_COUNT):
            if hw >> bit & 1 and (req_wanted ^ old_wanted) >> bit & 1:
                dev.set_feature(_key(bit), bool(req_wanted >> bit & 1))
    new_active = bitmaps(dev)[2]
    wanted_mask = (req_wanted ^ new_active) & req_mask
    active_mask = old_active ^ new_active
    return FeatureChange(req_wanted & wanted_mask, wanted_mask, new_active & active_mask,
                         active_mask)
