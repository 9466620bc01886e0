"""A network device's configuration: channels, rings/header split, RSS, ntuple rules, queues.

Models the state that ``net/ethtool/`` reads and writes (``channels.c``, ``rings.c``,
``rss.c``/``ioctl.c`` for RXFH and RXNFC, ``common.c``) and the queue objects of
``include/net/netdev_rx_queue.h``, including the refusals while a queue has a memory provider:
``ethtool_check_max_channel`` (``net/ethtool/common.c``) and ``ethnl_set_rings``
(``net/ethtool/rings.c``). Errors carry the kernel's extack text; how ethtool prints them is
``devmem_lab.nic.ethtool``'s business.
"""

from __future__ import annotations

import errno
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import DevmemError

if TYPE_CHECKING:
    from ..devmem import Binding
    from ..kernel import Kernel
    from ..page_pool import PagePool

__all__ = ["NetDevice", "RxQueue", "TxQueue", "QueueStats", "FlowKey", "FlowRule"]

RSS_TABLE_SIZE = 128
NTUPLE_TABLE_SIZE = 1024
DEFAULT_RSS_KEY = bytes.fromhex(  # the Microsoft Toeplitz verification key (40 bytes)
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")


@dataclass
class QueueStats:
    """Per-queue counters (netdev qstats: rx-packets, rx-bytes, rx-alloc-fail, rx-hw-drops)."""

    packets: int = 0
    bytes: int = 0
    alloc_fail: int = 0
    hw_drops: int = 0
    devmem_bytes: int = 0  # payload bytes the NIC wrote into a dma-buf
    host_bytes: int = 0  # bytes the NIC wrote into host memory (headers + linear payload)


@dataclass(eq=False)
class RxQueue:
    """``struct netdev_rx_queue``: index, NAPI, page pool and memory provider (binding)."""

    index: int
    napi_id: int | None
    pool: "PagePool | None" = None
    binding: "Binding | None" = None
    xsk: bool = False
    stats: QueueStats = field(default_factory=QueueStats)


@dataclass(eq=False)
class TxQueue:
    """A tx queue (only counted; devmem TX is not emulated)."""

    index: int
    napi_id: int | None
    stats: QueueStats = field(default_factory=QueueStats)


@dataclass(frozen=True)
class FlowKey:
    """The 4-tuple the NIC parses from a TCP packet (addresses as strings)."""

    family: int  # 4 or 6
    src: str
    dst: str
    sport: int
    dport: int


@dataclass(frozen=True)
class FlowRule:
    """An ntuple rule (``struct ethtool_rx_flow_spec``); ``None`` fields match anything."""

    flow_type: str  # "tcp4" | "tcp6" | "udp4" | "udp6"
    src_ip: str | None = None
    dst_ip: str | None = None
    src_port: int | None = None
    dst_port: int | None = None
    action: int = 0  # rx queue, or -1 = drop

    def matches(self, flow: FlowKey) -> bool:
        if self.flow_type not in (f"tcp{flow.family}",):
            return False
        for want, have in ((self.src_ip, flow.src), (self.dst_ip, flow.dst)):
            if want is not None and ipaddress.ip_address(want) != ipaddress.ip_address(have):
                return False
        return ((self.src_port is None or self.src_port == flow.sport)
                and (self.dst_port is None or self.dst_port == flow.dport))


def _toeplitz(key: bytes, data: bytes) -> int:
    """The Toeplitz RSS hash (as NICs compute it over addresses and ports)."""
    key_int = int.from_bytes(key, "big")
    key_bits = len(key) * 8
    result = 0
    for i, byte in enumerate(data):
        for b in range(8):
            if byte & (0x80 >> b):
                shift = key_bits - 32 - (i * 8 + b)
                result ^= (key_int >> shift) & 0xFFFFFFFF if shift >= 0 else 0
    return result


class NetDevice:
    """One ``struct net_device`` with the knobs devmem TCP depends on.

    ``kind="nic"`` models a devmem-capable driver (queue management ops, ops-locked, header
    split, page pools with ``PP_FLAG_ALLOW_UNREADABLE_NETMEM``); ``kind="loopback"`` models
    ``lo``: one queue of each type, no queue management ops, no page pools.
    """

    def __init__(self, kernel: "Kernel", name: str, ifindex: int, *, kind: str = "nic",
                 combined: int = 16, max_combined: int = 32, mtu: int = 1500,
                 mac: str = "00:00:00:00:00:00") -> None:
        self.kernel = kernel
        self.name = name
        self.ifindex = ifindex
        self.kind = kind
        self.mac = mac
        self.mtu = mtu
        self.present = True
        self.up = True
        is_nic = kind == "nic"
        self.queue_mgmt_ops = is_nic
        self.ops_locked = is_nic
        self.supports_hds = is_nic
        self.xdp_prog = False
        self.max_combined = max_combined if is_nic else 1
        self.combined = combined if is_nic else 1
        # rings (ethtool -g); hds_thresh default as bnxt (BNXT_DEFAULT_RX_COPYBREAK)
        self.rx_ring, self.tx_ring = 1024, 1024
        self.rx_ring_max, self.tx_ring_max = 4096, 4096
        self.tcp_data_split = "off"  # "off" | "on" (ETHTOOL_TCP_DATA_SPLIT_DISABLED/ENABLED)
        self.hds_thresh = 256 if is_nic else 0
        self.hds_thresh_max = 1023 if is_nic else 0
        self.features = {"ntuple-filters": False, "receive-hashing": is_nic,
                         "rx-checksumming": True, "generic-receive-offload": True}
        self.rss_key = DEFAULT_RSS_KEY
        self.rss_table = [i % self.combined for i in range(RSS_TABLE_SIZE)]
        self.rss_configured = False  # netif_is_rxfh_configured: set by ethtool -X
        self.ntuple_rules: dict[int, FlowRule] = {}
        self.rx_queues: list[RxQueue] = []
        self.tx_queues: list[TxQueue] = []
        self._set_queue_count(self.combined)

    def __repr__(self) -> str:
        return f"NetDevice({self.name!r}, ifindex={self.ifindex}, queues={self.combined})"

    # ---- queues ------------------------------------------------------------------------
    @property
    def real_num_rx_queues(self) -> int:
        return len(self.rx_queues)

    @property
    def real_num_tx_queues(self) -> int:
        return len(self.tx_queues)

    def _set_queue_count(self, n: int) -> None:
        k = self.kernel
        while len(self.rx_queues) > n:
            q = self.rx_queues.pop()
            self.tx_queues.pop()
            if q.pool is not None:
                q.pool.detach(k.now_s)
        while len(self.rx_queues) < n:
            i = len(self.rx_queues)
            napi = k.new_napi_id() if self.kind == "nic" else None
            q = RxQueue(i, napi)
            if self.kind == "nic":
                q.pool = k.new_page_pool(self.ifindex, napi, i)
            self.rx_queues.append(q)
            self.tx_queues.append(TxQueue(i, napi))

    def restart_queue(self, index: int) -> None:
        """``netdev_rx_queue_restart``: a new page pool, taking the queue's current provider."""
        q = self.rx_queues[index]
        if q.pool is not None:
            q.pool.detach(self.kernel.now_s)
        q.pool = self.kernel.new_page_pool(self.ifindex, q.napi_id, index, q.binding)

    def min_mp_channel_count(self) -> int:
        """``dev_get_min_mp_channel_count``: highest bound queue index + 1 (0 if none)."""
        bound = [q.index for q in self.rx_queues if q.binding is not None]
        return max(bound) + 1 if bound else 0

    # ---- ethtool -L --------------------------------------------------------------------
    def set_channels(self, combined: int) -> None:
        """``ethnl_set_channels``; refuses counts below bound queues, ntuple and RSS use."""
        if combined < 1 or combined > self.max_combined:
            raise DevmemError(errno.EINVAL, "requested channel count exceeds maximum")
        mp = self.min_mp_channel_count()
        if mp and combined < mp:
            raise DevmemError(errno.EINVAL, "requested channel counts are too low for existing "
                                            f"memory provider setting ({mp})")
        if self.rss_configured and max(self.rss_table) >= combined:
            raise DevmemError(errno.EINVAL, "requested channel counts are too low for existing "
                                            "indirection table")
        actions = [r.action for r in self.ntuple_rules.values() if r.action >= 0]
        if actions and max(actions) >= combined:
            raise DevmemError(errno.EINVAL, "requested channel counts are too low for existing "
                                            "ntuple filter settings")
        self._set_queue_count(combined)
        self.combined = combined
        if not self.rss_configured:
            self.rss_table = [i % combined for i in range(RSS_TABLE_SIZE)]

    # ---- ethtool -G --------------------------------------------------------------------
    def set_rings(self, *, rx: int | None = None, tx: int | None = None,
                  tcp_data_split: str | None = None, hds_thresh: int | None = None) -> None:
        """``ethnl_set_rings`` with the memory-provider refusals of ``net/ethtool/rings.c``."""
        if tcp_data_split is not None and not self.supports_hds:
            raise DevmemError(errno.EOPNOTSUPP, "setting TCP data split is not supported")
        if hds_thresh is not None and not self.supports_hds:
            raise DevmemError(errno.EOPNOTSUPP, "setting hds-thresh is not supported")
        if rx is not None and not 1 <= rx <= self.rx_ring_max:
            raise DevmemError(errno.EINVAL, "requested ring size exceeds maximum")
        if tx is not None and not 1 <= tx <= self.tx_ring_max:
            raise DevmemError(errno.EINVAL, "requested ring size exceeds maximum")
        if hds_thresh is not None and not 0 <= hds_thresh <= self.hds_thresh_max:
            raise DevmemError(errno.EINVAL, "requested hds_thresh exceeds maximum")
        if self.kernel.version.rings_refusals and self.min_mp_channel_count():
            if tcp_data_split == "off" and self.tcp_data_split != "off":
                raise DevmemError(errno.EINVAL, "can't disable tcp-data-split while device has "
                                                "memory provider enabled")
            if hds_thresh:
                raise DevmemError(errno.EINVAL, "can't set non-zero hds_thresh while device is "
                                                "memory provider enabled")
        if rx is not None:
            self.rx_ring = rx
        if tx is not None:
            self.tx_ring = tx
        if tcp_data_split is not None:
            self.tcp_data_split = tcp_data_split
        if hds_thresh is not None:
            self.hds_thresh = hds_thresh

    # ---- ethtool -K / -X / -N -------------------------------------------------------------
    def set_feature(self, name: str, on: bool) -> None:
        if name not in self.features:
            raise DevmemError(errno.EOPNOTSUPP, f"feature {name} not supported")
        if name == "ntuple-filters" and self.kind != "nic" and on:
            raise DevmemError(errno.EOPNOTSUPP)
        self.features[name] = on
        if name == "ntuple-filters" and not on:
            self.ntuple_rules.clear()  # drivers flush their filters when ntuple goes off

    def set_rss_table(self, table: list[int]) -> None:
        """ETHTOOL_SRXFH(indir): queues must exist; ``None``-like reset via :meth:`reset_rss`."""
        if self.kind != "nic":
            raise DevmemError(errno.EOPNOTSUPP)
        if len(table) != RSS_TABLE_SIZE or any(not 0 <= q < self.combined for q in table):
            raise DevmemError(errno.EINVAL)
        self.rss_table = list(table)
        self.rss_configured = True

    def reset_rss(self) -> None:
        self.rss_table = [i % self.combined for i in range(RSS_TABLE_SIZE)]
        self.rss_configured = False

    def add_ntuple_rule(self, rule: FlowRule, loc: int | None = None) -> int:
        """ETHTOOL_SRXCLSRLINS; ``loc=None`` lets the rule manager pick (highest free slot)."""
        if self.kind != "nic" or not self.features["ntuple-filters"]:
            raise DevmemError(errno.EOPNOTSUPP)
        if rule.action >= self.combined or rule.action < -1:
            raise DevmemError(errno.EINVAL)
        if loc is None:
            free = [i for i in range(NTUPLE_TABLE_SIZE - 1, -1, -1) if i not in self.ntuple_rules]
            if not free:
                raise DevmemError(errno.ENOSPC)
            loc = free[0]
        if not 0 <= loc < NTUPLE_TABLE_SIZE:
            raise DevmemError(errno.EINVAL)
        self.ntuple_rules[loc] = rule
        return loc

    def delete_ntuple_rule(self, loc: int) -> None:
        if loc not in self.ntuple_rules:
            raise DevmemError(errno.ENOENT)
        del self.ntuple_rules[loc]

    # ---- receive steering ----------------------------------------------------------------
    def rss_hash(self, flow: FlowKey) -> int:
        a = ipaddress.ip_address(flow.src).packed + ipaddress.ip_address(flow.dst).packed
        return _toeplitz(self.rss_key, a + flow.sport.to_bytes(2, "big")
                         + flow.dport.to_bytes(2, "big"))

    def classify(self, flow: FlowKey) -> int:
        """The rx queue a packet of ``flow`` lands on: ntuple rules first, then RSS.

        Returns -1 for a rule whose action is drop.
        """
        if self.features["ntuple-filters"]:
            for loc in sorted(self.ntuple_rules):
                rule = self.ntuple_rules[loc]
                if rule.matches(flow):
                    return rule.action
        if not self.features["receive-hashing"] or self.combined == 1:
            return self.rss_table[0] if self.kind == "nic" else 0
        return self.rss_table[self.rss_hash(flow) % RSS_TABLE_SIZE]
