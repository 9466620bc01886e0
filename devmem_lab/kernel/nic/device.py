"""A network device's configuration: channels, rings/header split, RSS, ntuple rules, queues.

Models the kernel side of ``net/ethtool/``: ``channels.c`` (``ethnl_set_channels``),
``rings.c`` (``ethnl_set_rings``, including the 6.14+ refusals while a queue has a memory
provider), ``common.c`` (``ethtool_check_max_channel``), ``features.c`` (``ethnl_set_features``)
and ``ioctl.c`` (``ethtool_set_rxfh``, ``ethtool_set_rxnfc``), with a bnxt-like driver behind
them; and the queue objects of ``include/net/netdev_rx_queue.h``. Errors carry the kernel's
extack text and, where the kernel points at an attribute (``NL_SET_ERR_MSG_ATTR``), a
``bad_attr`` naming the argument; how ethtool prints them is ``devmem_lab.ethtool``'s
business.
Differs from the kernel: feature dependencies (``netdev_fix_features``) are not modelled;
channels come only as combined rx/tx pairs (``max_rx``/``max_tx`` are 0, as on mlx5).
"""

from __future__ import annotations

import errno
import functools
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ...errors import DevmemError
from . import ring

if TYPE_CHECKING:
    from ..devmem import Binding
    from ..page_pool import PagePool
    from ..state import Kernel

__all__ = ["FlowKey", "FlowRule", "NetDevice", "QueueStats", "RxQueue", "TxQueue"]

RSS_TABLE_SIZE = 128
NTUPLE_TABLE_SIZE = 1024
DEFAULT_RSS_KEY = bytes.fromhex(  # the Microsoft Toeplitz verification key (40 bytes)
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")

# Feature profiles: name as ``ethtool -k`` prints it -> (active, fixed). Names with a legacy
# ethtool flag that matches one kernel feature use the legacy long name ("ntuple-filters" for
# rx-ntuple-filter), the others the kernel name (net/ethtool/common.c netdev_features_strings).
_OFF_FIXED, _ON_FIXED, _OFF, _ON = (False, True), (True, True), (False, False), (True, False)
_COMMON_FIXED_OFF = (
    "tx-checksum-fcoe-crc", "tx-fcoe-segmentation", "rx-fcs", "rx-all", "rx-vlan-stag-filter",
    "l2-fwd-offload", "esp-hw-offload", "esp-tx-csum-hw-offload", "tls-hw-tx-offload",
    "tls-hw-rx-offload", "tls-hw-record", "macsec-hw-offload", "hsr-tag-ins-offload",
    "hsr-tag-rm-offload", "hsr-fwd-offload", "hsr-dup-offload", "rx-vlan-filter",
    "tx-gso-robust", "tx-tunnel-remcsum-segmentation", "tx-esp-segmentation")
#: A devmem-capable NIC (values as a bnxt_en port shows them).
NIC_FEATURES: dict[str, tuple[bool, bool]] = {
    **{name: _OFF_FIXED for name in _COMMON_FIXED_OFF},
    "rx-checksumming": _ON, "tx-checksum-ipv4": _ON, "tx-checksum-ip-generic": _OFF_FIXED,
    "tx-checksum-ipv6": _ON, "tx-checksum-sctp": _OFF_FIXED, "tx-scatter-gather": _ON,
    "tx-scatter-gather-fraglist": _OFF_FIXED, "tx-tcp-segmentation": _ON,
    "tx-tcp-ecn-segmentation": _OFF_FIXED, "tx-tcp-mangleid-segmentation": _OFF,
    "tx-tcp6-segmentation": _ON, "tx-tcp-accecn-segmentation": _OFF_FIXED,
    "generic-segmentation-offload": _ON, "generic-receive-offload": _ON,
    "large-receive-offload": _OFF, "rx-vlan-offload": _ON, "tx-vlan-offload": _ON,
    "ntuple-filters": _OFF, "receive-hashing": _ON, "highdma": _ON_FIXED,
    "vlan-challenged": _OFF_FIXED, "tx-gre-segmentation": _ON, "tx-gre-csum-segmentation": _ON,
    "tx-ipxip4-segmentation": _ON, "tx-ipxip6-segmentation": _OFF_FIXED,
    "tx-udp_tnl-segmentation": _ON, "tx-udp_tnl-csum-segmentation": _ON,
    "tx-gso-partial": _ON, "tx-sctp-segmentation": _OFF_FIXED, "tx-udp-segmentation": _ON,
    "tx-gso-list": _OFF_FIXED, "tx-nocache-copy": _OFF, "loopback": _OFF_FIXED,
    "tx-vlan-stag-hw-insert": _ON, "rx-vlan-stag-hw-parse": _ON, "hw-tc-offload": _ON,
    "rx-udp_tunnel-port-offload": _ON, "rx-gro-hw": _ON, "rx-gro-list": _OFF,
    "rx-udp-gro-forwarding": _OFF,
}
#: ``lo`` as Linux 6.18 reports it (``ethtool -k lo`` on a 6.18 host).
LOOPBACK_FEATURES: dict[str, tuple[bool, bool]] = {
    **{name: _OFF_FIXED for name in NIC_FEATURES},
    "rx-checksumming": _ON_FIXED, "tx-checksum-ip-generic": _ON_FIXED,
    "tx-checksum-sctp": _ON_FIXED, "tx-scatter-gather": _ON_FIXED,
    "tx-scatter-gather-fraglist": _ON_FIXED, "tx-tcp-segmentation": _ON,
    "tx-tcp-ecn-segmentation": _ON, "tx-tcp-mangleid-segmentation": _ON,
    "tx-tcp6-segmentation": _ON, "tx-tcp-accecn-segmentation": _ON,
    "generic-segmentation-offload": _ON, "generic-receive-offload": _ON, "highdma": _ON_FIXED,
    "vlan-challenged": _ON_FIXED, "tx-sctp-segmentation": _ON, "tx-udp-segmentation": _ON,
    "tx-gso-list": _ON, "loopback": _ON_FIXED, "rx-gro-list": _OFF,
    "rx-udp-gro-forwarding": _OFF,
}


def _err(err: int, msg: str | None, attr: str | None = None) -> DevmemError:
    """A DevmemError carrying the extack text and the argument the kernel points at."""
    exc = DevmemError(err, msg)
    exc.bad_attr = attr
    return exc


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
    pool: PagePool | None = None
    binding: Binding | None = None
    xsk: bool = False
    stats: QueueStats = field(default_factory=QueueStats)
    # the rx (aggregation) ring: net_iov indices posted, in ring order, or host pages posted
    posted: np.ndarray = field(default_factory=lambda: ring.EMPTY, repr=False)
    posted_pages: int = 0


@dataclass(eq=False)
class TxQueue:
    """A tx queue: packets and bytes sent, ``devmem_bytes`` of them DMA-read from a dma-buf."""

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
            if want is not None and _packed(want) != _packed(have):
                return False
        return ((self.src_port is None or self.src_port == flow.sport)
                and (self.dst_port is None or self.dst_port == flow.dport))


@functools.lru_cache(maxsize=256)
def _packed(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


@functools.lru_cache(maxsize=1024)
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

    def __init__(self, kernel: Kernel, name: str, ifindex: int, *, kind: str = "nic",
                 combined: int = 16, max_combined: int = 32, mtu: int = 1500,
                 mac: str = "00:00:00:00:00:00", netmem_tx: bool = True) -> None:
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
        # netdev->netmem_tx (NETMEM_TX_DMA): the driver can DMA skb frags from a dma-buf
        self.netmem_tx = is_nic and netmem_tx
        self.xdp_prog = False
        self.max_combined = max_combined if is_nic else 1
        self.combined = combined if is_nic else 1
        # rings (ethtool -g); hds_thresh default as bnxt (BNXT_DEFAULT_RX_COPYBREAK). bnxt
        # boots with 511 (BNXT_DEFAULT_RX_RING_SIZE): 2044 agg entries posted, 1/8 of
        # ncdevmem's 16000-page dma-buf. The lab's rx ring is 2 (8 posted), the same share of
        # the course's 64-net_iov dma-bufs; `ethtool -G eth1 rx 511` gives bnxt's default
        # (docs/kernel-facts.md, "Rx ring fill and refill (bnxt)")
        self.rx_ring, self.tx_ring = 2, 1024
        self.rx_ring_max, self.tx_ring_max = 4096, 4096
        # "off" | "on" | "auto" (ETHTOOL_TCP_DATA_SPLIT_DISABLED/ENABLED/UNKNOWN)
        self.tcp_data_split = "off"
        self.hds_thresh = 256 if is_nic else 0
        self.hds_thresh_max = 1023 if is_nic else 0
        # channels beyond combined pairs (get_channels max_rx/max_tx/max_other): none
        self.max_rx = self.max_tx = self.max_other = 0
        # ethtool_ops this driver implements, and ETHTOOL_RING_USE_* it supports
        self.ethtool_ops = (frozenset({"channels", "rings", "rxfh", "rxnfc", "stats"})
                            if is_nic else frozenset())
        self.ring_params = frozenset({"tcp_data_split", "hds_thresh"} if is_nic else ())
        profile = NIC_FEATURES if is_nic else LOOPBACK_FEATURES
        # keys as `ethtool -k` prints them; "ntuple-filters"/"receive-hashing" steer classify()
        self.features = {name: on for name, (on, _fixed) in profile.items()}
        self.fixed_features = frozenset(name for name, (_on, fixed) in profile.items() if fixed)
        self.rss_hfunc = "toeplitz"
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
                ring.release(q.pool, q.posted, q.posted_pages)
                q.pool.detach(k.now_s)
        while len(self.rx_queues) < n:
            i = len(self.rx_queues)
            napi = k.new_napi_id() if self.kind == "nic" else None
            q = RxQueue(i, napi)
            if self.kind == "nic":
                q.pool = k.new_page_pool(self.ifindex, napi, i)
                ring.fill(self, q)
            self.rx_queues.append(q)
            self.tx_queues.append(TxQueue(i, napi))

    def restart_queue(self, index: int) -> None:
        """``netdev_rx_queue_restart``: ``ndo_queue_mem_alloc`` makes a new page pool (taking
        the queue's current provider) and fills a new ring from it; then the old ring's
        buffers are freed and the old pool destroyed (``ndo_queue_mem_free``)."""
        q = self.rx_queues[index]
        old, posted, pages = q.pool, q.posted, q.posted_pages
        q.pool = self.kernel.new_page_pool(self.ifindex, q.napi_id, index, q.binding)
        ring.fill(self, q)
        if old is not None:
            ring.release(old, posted, pages)
            old.detach(self.kernel.now_s)

    def min_mp_channel_count(self) -> int:
        """``dev_get_min_mp_channel_count``: highest bound queue index + 1 (0 if none)."""
        bound = [q.index for q in self.rx_queues if q.binding is not None]
        return max(bound) + 1 if bound else 0

    # ---- ethtool -L ----------------------------------------------------------------------
    def set_channels(self, combined: int | None = None, *, rx: int | None = None,
                     tx: int | None = None, other: int | None = None) -> bool:
        """``ethnl_set_channels`` (``net/ethtool/channels.c``) plus the driver's ``set_channels``.

        Arguments left ``None`` keep their current value. Checks run in the kernel's order:
        maxima, "no RX or TX channel", then ``ethtool_check_max_channel``
        (``net/ethtool/common.c``): RSS indirection table, ntuple rules, memory providers.

        Returns
        -------
        bool
            False when nothing changed (the kernel returns early, nothing is checked).

        Raises
        ------
        DevmemError
            EOPNOTSUPP: the device has no channel ops (``lo``). EINVAL: a count above its
            maximum ("requested channel count exceeds maximum"), no rx or tx channel left, or
            fewer rx channels than the RSS table, an ntuple rule or a bound memory provider
            uses. ``.bad_attr`` names the offending argument where the kernel points at one.
        """
        if "channels" not in self.ethtool_ops:
            raise DevmemError(errno.EOPNOTSUPP)
        cur = {"rx": 0, "tx": 0, "other": 0, "combined": self.combined}
        new = dict(cur)
        for name, value in (("rx", rx), ("tx", tx), ("other", other), ("combined", combined)):
            if value is not None:
                new[name] = int(value)
        if new == cur:
            return False
        maxima = {"rx": self.max_rx, "tx": self.max_tx, "other": self.max_other,
                  "combined": self.max_combined}
        for name in ("rx", "tx", "other", "combined"):
            if new[name] > maxima[name]:
                raise _err(errno.EINVAL, "requested channel count exceeds maximum", name)
        if not new["combined"] and (not new["rx"] or not new["tx"]):
            attr = ("combined" if new["combined"] != cur["combined"]
                    else "rx" if not new["rx"] else "tx")
            raise _err(errno.EINVAL, "requested channel counts would result in no RX or TX "
                                     "channel being configured", attr)
        rx_total = new["combined"] + new["rx"]
        max_rxfh = max(self.rss_table) if self.rss_configured else 0
        if rx_total <= max_rxfh:
            raise _err(errno.EINVAL, "requested channel counts are too low for existing "
                                     f"indirection table ({max_rxfh})")
        actions = [r.action for r in self.ntuple_rules.values() if r.action >= 0]
        if actions and rx_total <= max(actions):
            raise _err(errno.EINVAL, "requested channel counts are too low for existing "
                                     "ntuple filter settings")
        mp = self.min_mp_channel_count()
        # combined + rx <= highest bound index + 1 is refused: with queue Q bound, exactly Q+1
        # channels is too low too (net/ethtool/common.c; docs/kernel-facts.md, "Steering and
        # ethtool interactions")
        if mp and rx_total <= mp:
            raise _err(errno.EINVAL, "requested channel counts are too low for existing "
                                     f"memory provider setting ({mp})")
        if new["rx"] != new["tx"] or new["other"]:
            raise DevmemError(errno.EINVAL)  # driver: queues come in rx/tx pairs
        self._set_queue_count(rx_total)
        self.combined = rx_total
        if not self.rss_configured:
            self.rss_table = [i % rx_total for i in range(RSS_TABLE_SIZE)]
        return True

    # ---- ethtool -G ----------------------------------------------------------------------
    def set_rings(self, *, rx: int | None = None, tx: int | None = None,
                  rx_mini: int | None = None, rx_jumbo: int | None = None,
                  rx_buf_len: int | None = None, tcp_data_split: str | None = None,
                  cqe_size: int | None = None, tx_push: bool | None = None,
                  rx_push: bool | None = None, tx_push_buf_len: int | None = None,
                  hds_thresh: int | None = None) -> bool:
        """``ethnl_set_rings`` (``net/ethtool/rings.c``) with the memory-provider refusals.

        ``tcp_data_split`` is ``"auto"``, ``"off"`` or ``"on"`` (``ETHTOOL_TCP_DATA_SPLIT_
        UNKNOWN/DISABLED/ENABLED``). Order as in the kernel: unsupported parameters
        (``ethnl_set_rings_validate``), nothing changed (return early), single-buffer XDP,
        memory provider, maxima, then the driver.

        Returns
        -------
        bool
            False when the request changes nothing.

        Raises
        ------
        DevmemError
            EOPNOTSUPP: no ring ops (``lo``) or a parameter this driver cannot set.
            EINVAL: tcp-data-split with single-buffer XDP; disabling tcp-data-split or a
            non-zero hds-thresh while a queue has a memory provider (6.14+ kernels); a size
            above its maximum ("requested ring size exceeds maximum"); a ring of size 0.
        """
        unsupported = (("rx_buf_len", rx_buf_len, "setting rx buf len not supported"),
                       ("tcp_data_split", tcp_data_split,
                        "setting TCP data split is not supported"),
                       ("hds_thresh", hds_thresh, "setting hds-thresh is not supported"),
                       ("cqe_size", cqe_size, "setting cqe size not supported"),
                       ("tx_push", tx_push, "setting tx push not supported"),
                       ("rx_push", rx_push, "setting rx push not supported"),
                       ("tx_push_buf_len", tx_push_buf_len,
                        "setting tx push buf len is not supported"))
        for name, value, msg in unsupported:
            if value is not None and name not in self.ring_params:
                raise _err(errno.EOPNOTSUPP, msg, name)
        if "rings" not in self.ethtool_ops:
            raise DevmemError(errno.EOPNOTSUPP)
        if tcp_data_split is not None and tcp_data_split not in ("auto", "off", "on"):
            raise _err(errno.EINVAL, None, "tcp_data_split")
        cur = {"rx": self.rx_ring, "tx": self.tx_ring, "rx_mini": 0, "rx_jumbo": 0,
               "tcp_data_split": self.tcp_data_split, "hds_thresh": self.hds_thresh}
        new = dict(cur)
        for name, value in (("rx", rx), ("tx", tx), ("rx_mini", rx_mini),
                            ("rx_jumbo", rx_jumbo), ("tcp_data_split", tcp_data_split),
                            ("hds_thresh", hds_thresh)):
            if value is not None:
                new[name] = value
        if new == cur:
            return False
        if new["tcp_data_split"] == "on" and self.xdp_prog:
            raise _err(errno.EINVAL, "tcp-data-split can not be enabled with single buffer XDP",
                       "tcp_data_split")
        if self.kernel.version.rings_refusals and self.min_mp_channel_count():
            if new["tcp_data_split"] != "on":
                raise DevmemError(errno.EINVAL, "can't disable tcp-data-split while device has "
                                                "memory provider enabled")
            if new["hds_thresh"]:
                raise DevmemError(errno.EINVAL, "can't set non-zero hds_thresh while device is "
                                                "memory provider enabled")
        for name, limit in (("rx", self.rx_ring_max), ("rx_mini", 0), ("rx_jumbo", 0),
                            ("tx", self.tx_ring_max), ("hds_thresh", self.hds_thresh_max)):
            if new[name] > limit:
                raise _err(errno.EINVAL, "requested ring size exceeds maximum", name)
        if new["rx"] < 1 or new["tx"] < 1:
            raise DevmemError(errno.EINVAL)  # driver: an empty ring
        resize = new["rx"] != self.rx_ring
        self.rx_ring, self.tx_ring = new["rx"], new["tx"]
        if resize:  # bnxt closes and reopens the device (rings freed, then filled again);
            for q in self.rx_queues:  # here the page pools stay (their ids do not change)
                posted, pages = q.posted, q.posted_pages
                q.posted, q.posted_pages = ring.EMPTY, 0
                ring.release(q.pool, posted, pages)
                ring.fill(self, q)
        self.tcp_data_split = new["tcp_data_split"]
        self.hds_thresh = new["hds_thresh"]
        return True

    @property
    def tcp_data_split_active(self) -> bool:
        """What the driver reports in ``-g``: header split really on (``auto`` stays off)."""
        return self.tcp_data_split == "on"

    # ---- ethtool -K ----------------------------------------------------------------------
    def set_feature(self, name: str, on: bool) -> bool:
        """Request feature ``name`` (the name ``ethtool -k`` prints) ``on`` or off.

        Mirrors ``ethnl_set_features`` + ``__netdev_update_features``: a fixed feature (not in
        ``hw_features``) keeps its value silently; turning ntuple filters off flushes the
        driver's rules. Returns True if the active value changed.

        Raises
        ------
        DevmemError
            EOPNOTSUPP ("bit name not found") for a name the kernel does not know.
        """
        if name not in self.features:
            raise DevmemError(errno.EOPNOTSUPP, "bit name not found")
        if name in self.fixed_features or self.features[name] == bool(on):
            return False
        self.features[name] = bool(on)
        if name == "ntuple-filters" and not on:
            self.ntuple_rules.clear()  # drivers flush their filters when ntuple goes off
        return True

    # ---- ethtool -X ----------------------------------------------------------------------
    def set_rss_table(self, table: list[int]) -> None:
        """``ETHTOOL_SRSSH`` with an indirection table (``ethtool_set_rxfh``, ioctl.c).

        Raises
        ------
        DevmemError
            EOPNOTSUPP: no RSS ops. EINVAL: wrong table size or an entry naming a queue that
            does not exist (``ethtool_copy_validate_indir``).
        """
        if "rxfh" not in self.ethtool_ops:
            raise DevmemError(errno.EOPNOTSUPP)
        if len(table) != RSS_TABLE_SIZE or any(not 0 <= q < self.combined for q in table):
            raise DevmemError(errno.EINVAL)
        self.rss_table = list(table)
        self.rss_configured = True

    def reset_rss(self) -> None:
        """``ETHTOOL_SRSSH`` with ``indir_size == 0``: default spread, not "configured"."""
        if "rxfh" not in self.ethtool_ops:
            raise DevmemError(errno.EOPNOTSUPP)
        self.rss_table = [i % self.combined for i in range(RSS_TABLE_SIZE)]
        self.rss_configured = False

    def set_rss_key(self, key: bytes) -> None:
        """``ETHTOOL_SRSSH`` with a hash key; EINVAL unless it is exactly the key size."""
        if "rxfh" not in self.ethtool_ops:
            raise DevmemError(errno.EOPNOTSUPP)
        if len(key) != len(self.rss_key):
            raise DevmemError(errno.EINVAL)
        self.rss_key = bytes(key)

    def set_rss_hfunc(self, hfunc: str) -> None:
        """``ETHTOOL_SRSSH`` hash function: this NIC only does Toeplitz (else EOPNOTSUPP)."""
        if "rxfh" not in self.ethtool_ops or hfunc != self.rss_hfunc:
            raise DevmemError(errno.EOPNOTSUPP)

    # ---- ethtool -N ----------------------------------------------------------------------
    def add_ntuple_rule(self, rule: FlowRule, loc: int | None = None) -> int:
        """``ETHTOOL_SRXCLSRLINS``; ``loc=None`` picks the highest free slot (ethtool's rmgr).

        Raises
        ------
        DevmemError
            EOPNOTSUPP: no rxnfc ops, ntuple filters off, or a flow type this driver cannot
            match. EINVAL: the action names a queue that does not exist, or a bad location.
            ENOSPC: the table is full.
        """
        if "rxnfc" not in self.ethtool_ops or not self.features["ntuple-filters"]:
            raise DevmemError(errno.EOPNOTSUPP)
        if rule.flow_type not in ("tcp4", "tcp6", "udp4", "udp6"):
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
        """``ETHTOOL_SRXCLSRLDEL``: ENOENT for an empty slot, EOPNOTSUPP without rxnfc ops."""
        if "rxnfc" not in self.ethtool_ops:
            raise DevmemError(errno.EOPNOTSUPP)
        if loc not in self.ntuple_rules:
            raise DevmemError(errno.ENOENT)
        del self.ntuple_rules[loc]

    # ---- ethtool -S ----------------------------------------------------------------------
    def ethtool_stats(self) -> list[tuple[str, int]]:
        """The driver's ``get_strings(ETH_SS_STATS)`` + ``get_ethtool_stats``: totals first.

        Names follow the qstats the netdev family reports (rx-packets, rx-bytes,
        rx-alloc-fail, rx-hw-drops) plus where the NIC wrote payload: ``devmem_bytes`` into a
        dma-buf, ``host_bytes`` into host memory; then one block per queue.

        Raises
        ------
        DevmemError
            EOPNOTSUPP: the driver has no statistics (``lo``).
        """
        if "stats" not in self.ethtool_ops:
            raise DevmemError(errno.EOPNOTSUPP)
        rx = [q.stats for q in self.rx_queues]
        tx = [q.stats for q in self.tx_queues]
        rows = [("rx_packets", sum(s.packets for s in rx)), ("rx_bytes", sum(s.bytes for s in rx)),
                ("rx_alloc_fail", sum(s.alloc_fail for s in rx)),
                ("rx_hw_drops", sum(s.hw_drops for s in rx)),
                ("rx_devmem_bytes", sum(s.devmem_bytes for s in rx)),
                ("rx_host_bytes", sum(s.host_bytes for s in rx)),
                ("tx_packets", sum(s.packets for s in tx)), ("tx_bytes", sum(s.bytes for s in tx)),
                ("tx_devmem_bytes", sum(s.devmem_bytes for s in tx))]
        for q in self.rx_queues:
            s, pre = q.stats, f"rx_queue_{q.index}_"
            rows += [(pre + "packets", s.packets), (pre + "bytes", s.bytes),
                     (pre + "alloc_fail", s.alloc_fail), (pre + "hw_drops", s.hw_drops),
                     (pre + "devmem_bytes", s.devmem_bytes), (pre + "host_bytes", s.host_bytes)]
        for q in self.tx_queues:
            rows += [(f"tx_queue_{q.index}_packets", q.stats.packets),
                     (f"tx_queue_{q.index}_bytes", q.stats.bytes),
                     (f"tx_queue_{q.index}_devmem_bytes", q.stats.devmem_bytes)]
        return rows

    # ---- receive steering ----------------------------------------------------------------
    def rss_hash(self, flow: FlowKey) -> int:
        a = _packed(flow.src) + _packed(flow.dst)
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
