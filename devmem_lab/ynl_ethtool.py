"""A small YNL-style client of the ethtool generic-netlink family (what devmem set-up uses).

Mirrors ``tools/net/ynl/pyynl/ethtool.py`` / ``lib/ynl.py`` for the ops of
``Documentation/netlink/specs/ethtool.yaml`` that ``ncdevmem`` and
``Documentation/networking/devmem.rst`` need: rings (tcp-data-split, hds-thresh), channels,
features (``rx-ntuple-filter``) and RSS read-out. Ntuple rules (``ethtool -N``) have no netlink
message: they stay on the ``SIOCETHTOOL`` ioctl (``host.ethtool("-N ...")``).

Works over an emulated ``host.netlink()`` or a real
``socket.socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)``::

    from devmem_lab.ynl_ethtool import Ethtool
    et = Ethtool(host.netlink())
    et.rings_set("eth1", tcp_data_split="on", hds_thresh=0)
    et.rings_get("eth1")["tcp-data-split"]        # "on"

A device is an ifindex (int) or a name (str). Errors raise
:class:`~devmem_lab.errors.NetlinkError` with the kernel's extack.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Self

from . import ynl
from .netlink import ethtool_family as efam
from .netlink import wire

__all__ = ["Ethtool"]


class Ethtool:
    """The ethtool family over one netlink socket (attribute names as in ethtool.yaml)."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        for opt in (wire.NETLINK_EXT_ACK, wire.NETLINK_CAP_ACK):
            sock.setsockopt(wire.SOL_NETLINK, opt, 1)
        self._seq = itertools.count(1)
        self.family_id = self._resolve()

    def __repr__(self) -> str:
        return f"Ethtool(family_id={self.family_id})"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _resolve(self) -> int:
        return ynl.resolve_family(self.sock, "ethtool", next(self._seq))

    def request(self, op: str, attr_set: str, attrs: Mapping[str, Any], *,
                dump: bool = False) -> list[dict]:
        """Send ``op`` (e.g. "rings-get") with ``attrs`` of ``attr_set``; decode every reply."""
        msgs = ynl.request(self.sock, self.family_id, efam.MSG[op],
                           efam.encode(attr_set, attrs), seq=next(self._seq), dump=dump)
        return [efam.decode(attr_set, wire.parse_genl(m.payload)[2]) for m in msgs]

    @staticmethod
    def _header(dev: int | str, flags: int = 0) -> dict:
        hdr: dict[str, Any] = {"dev-index": dev} if isinstance(dev, int) else {"dev-name": dev}
        if flags:
            hdr["flags"] = flags
        return hdr

    def _get(self, what: str, dev: int | str, flags: int = 0) -> dict:
        replies = self.request(f"{what}-get", what, {"header": self._header(dev, flags)})
        return replies[0] if replies else {}

    def _set(self, what: str, dev: int | str, values: Mapping[str, Any]) -> None:
        attrs = {"header": self._header(dev)}
        attrs.update({k.replace("_", "-"): v for k, v in values.items()})
        self.request(f"{what}-set", what, attrs)

    # ---- ops ------------------------------------------------------------------------------------
    def rings_get(self, dev: int | str) -> dict:
        """RINGS_GET: sizes and maxima, ``tcp-data-split`` ("off"/"on"), ``hds-thresh``."""
        return self._get("rings", dev)

    def rings_set(self, dev: int | str, **values: Any) -> None:
        """RINGS_SET, e.g. ``rings_set("eth1", tcp_data_split="on", hds_thresh=0, rx=2048)``."""
        self._set("rings", dev, values)

    def channels_get(self, dev: int | str) -> dict:
        """CHANNELS_GET: ``combined-max``/``combined-count`` (and rx/tx/other if any)."""
        return self._get("channels", dev)

    def channels_set(self, dev: int | str, **values: Any) -> None:
        """CHANNELS_SET, e.g. ``channels_set("eth1", combined_count=8)``."""
        self._set("channels", dev, values)

    def features_get(self, dev: int | str, *, compact: bool = False) -> dict:
        """FEATURES_GET: bitsets ``hw``, ``wanted``, ``active``, ``nochange``."""
        return self._get("features", dev, efam.ETHTOOL_FLAG_COMPACT_BITSETS if compact else 0)

    def features_set(self, dev: int | str, wanted: Mapping[str, bool]) -> dict:
        """FEATURES_SET of named features (``{"rx-ntuple-filter": True}``): the reply's
        ``wanted`` (asked for but not the result) and ``active`` (what changed) bitsets."""
        bits = [{"name": n, "value": bool(v)} for n, v in wanted.items()]
        replies = self.request("features-set", "features",
                               {"header": self._header(dev),
                                "wanted": {"bits": {"bit": bits}}})
        return replies[0] if replies else {}

    def rss_get(self, dev: int | str) -> dict:
        """RSS_GET of context 0: ``hfunc`` bits, ``indir`` (list) and ``hkey`` (hex)."""
        return self._get("rss", dev)
