"""A small YNL-style client of the netdev generic-netlink family.

Mirrors ``tools/net/ynl/pyynl/lib/ynl.py`` (``YnlFamily``) for the ``netdev`` family of
``Documentation/netlink/specs/netdev.yaml``, served by ``net/core/netdev-genl.c``: it resolves
the family id through nlctrl, turns on ``NETLINK_EXT_ACK`` and ``NETLINK_CAP_ACK``, encodes
requests and decodes replies with the one table in :mod:`devmem_lab.netlink.family`, and
raises :class:`~devmem_lab.errors.NetlinkError` with the kernel's extack.

It works over any socket with ``send``/``recv``/``setsockopt``: an emulated
``host.netlink()`` or a real ``socket.socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)``::

    import socket
    from devmem_lab.ynl import Netdev
    nl = Netdev(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16))   # real kernel
    nl.queue_dump(1)

Bindings made with :meth:`Netdev.bind_rx` live as long as the socket: close it (or
:meth:`Netdev.close`) to unbind.
"""

from __future__ import annotations

import errno
import itertools
from collections.abc import Iterable
from typing import Any, Self

from .errors import NetlinkError
from .netlink import family as fam
from .netlink import wire

__all__ = ["Netdev", "resolve_family"]

RECV_SIZE = 65536  # the kernel caps its dump hint at 32 KiB minus overhead anyway


def resolve_family(sock: Any, name: str, seq: int = 1) -> int:
    """``CTRL_CMD_GETFAMILY`` by name: the family's id.

    Raises
    ------
    NetlinkError
        ENOENT for a family the kernel does not have.
    """
    attrs = wire.pack_attr(2, name.encode() + b"\0")  # CTRL_ATTR_FAMILY_NAME
    sock.send(wire.pack_genlmsg(wire.GENL_ID_CTRL, wire.NLM_F_REQUEST | wire.NLM_F_ACK, seq, 0,
                                3, 1, attrs))  # CTRL_CMD_GETFAMILY
    family_id = None
    for m in _replies(sock, seq, dump=False):
        for a in wire.iter_attrs(wire.parse_genl(m.payload)[2]):
            if a.type == 1:  # CTRL_ATTR_FAMILY_ID
                family_id = a.u16()
    if family_id is None:
        raise NetlinkError(errno.ENOENT, f"no family id in the reply for {name!r}")
    return family_id


def _error(ext: wire.Extack) -> NetlinkError:
    return NetlinkError(ext.errno, ext.msg, ext.offset, ext.miss_type, ext.miss_nest)


def _replies(sock: Any, seq: int, *, dump: bool) -> list[wire.NlMsg]:
    """Read until the ack (``do``) or ``NLMSG_DONE`` (dump); messages of other seqs are skipped.

    Raises
    ------
    NetlinkError
        An ``NLMSG_ERROR`` with a negative errno, or a dump that ended with one.
    """
    out: list[wire.NlMsg] = []
    while True:
        data = sock.recv(RECV_SIZE)
        for m in wire.iter_msgs(data):
            if m.seq != seq:
                continue
            if m.type == wire.NLMSG_ERROR:
                ext = wire.parse_error(m)
                if ext.error:
                    raise _error(ext)
                return out
            if m.type == wire.NLMSG_DONE:
                ext = wire.parse_error(m)
                if ext.error:
                    raise _error(ext)
                return out
            out.append(m)


class Netdev:
    """The netdev family over one netlink socket (names as in the YAML spec).

    Parameters
    ----------
    sock
        ``host.netlink()`` of an emulated host, or a real
        ``socket.socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)``.
    """

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        for opt in (wire.NETLINK_EXT_ACK, wire.NETLINK_CAP_ACK):
            sock.setsockopt(wire.SOL_NETLINK, opt, 1)
        self._seq = itertools.count(1)
        self.family_id = resolve_family(sock, "netdev", next(self._seq))
        self._spec = fam.netdev_family()

    def __repr__(self) -> str:
        return f"Netdev(family_id={self.family_id})"

    def close(self) -> None:
        """Close the socket: the kernel unbinds every binding made on it."""
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the one request path ------------------------------------------------------------------
    def _request(self, op: str, attrs: dict[str, Any], *, dump: bool = False) -> list[dict]:
        """Send ``op`` with ``attrs`` (spec names) and decode every reply message.

        Raises
        ------
        NetlinkError
            The kernel's errno with ``extack_msg``, ``bad_attr_offset`` and ``missing_attr``.
        """
        spec = self._spec.op(op)
        attr_set = spec.attr_set
        flags = wire.NLM_F_REQUEST | wire.NLM_F_ACK | (wire.NLM_F_DUMP if dump else 0)
        seq = next(self._seq)
        self.sock.send(wire.pack_genlmsg(self.family_id, flags, seq, 0, spec.cmd,
                                         self._spec.version, fam.encode(attr_set, attrs)))
        return [fam.decode(attr_set, wire.parse_genl(m.payload)[2])
                for m in _replies(self.sock, seq, dump=dump)]

    def _one(self, op: str, attrs: dict[str, Any]) -> dict:
        replies = self._request(op, attrs)
        return replies[0] if replies else {}

    # ---- operations ---------------------------------------------------------------------------
    def dev_get(self, ifindex: int) -> dict:
        """``dev-get`` do: ifindex and XDP/XSK feature flags of one device.

        Raises
        ------
        NetlinkError
            ENODEV unknown ifindex; ERANGE ifindex 0 ("integer out of range").
        """
        return self._one("dev-get", {"ifindex": ifindex})

    def dev_dump(self) -> list[dict]:
        """``dev-get`` dump: every device of the namespace."""
        return self._request("dev-get", {}, dump=True)

    def bind_rx(self, ifindex: int, fd: int, queues: Iterable[int | dict]) -> dict:
        """``bind-rx``: bind the dma-buf ``fd`` to rx ``queues`` of ``ifindex``; ``{"id": n}``.

        ``queues`` are rx queue ids (or ``{"id": q, "type": "rx"}`` dicts). The binding lasts
        until this socket is closed.

        Raises
        ------
        NetlinkError
            EPERM without CAP_NET_ADMIN; EINVAL missing attribute, queue type not rx, queue
            id out of range (current kernels); ENODEV unknown device; EOPNOTSUPP device
            without queue management (``lo``); EBADF/EINVAL fd is no dma-buf; ERANGE "rx
            queue index out of range" (6.12); EINVAL "tcp-data-split is disabled" / "hds-thresh
            is not zero"; EEXIST queue already bound or XDP attached; EBUSY AF_XDP on queue.
        """
        qs = [q if isinstance(q, dict) else {"id": q, "type": "rx"} for q in queues]
        return self._one("bind-rx", {"ifindex": ifindex, "fd": fd, "queues": qs})

    def bind_tx(self, ifindex: int, fd: int) -> dict:
        """``bind-tx`` (6.16+): bind ``fd`` for devmem TX; ``{"id": n}``.

        Raises
        ------
        NetlinkError
            EOPNOTSUPP "Driver does not support netmem TX"; ENODEV unknown device.
        """
        return self._one("bind-tx", {"ifindex": ifindex, "fd": fd})

    def queue_get(self, ifindex: int, qid: int, qtype: str = "rx") -> dict:
        """``queue-get`` do: one queue; ``dmabuf`` is the binding id of a bound rx queue.

        Raises
        ------
        NetlinkError
            ENODEV unknown ifindex; ENOENT device down; EINVAL queue id out of range.
        """
        return self._one("queue-get", {"ifindex": ifindex, "type": qtype, "id": qid})

    def queue_dump(self, ifindex: int | None = None) -> list[dict]:
        """``queue-get`` dump: rx then tx queues of one device (or of all devices)."""
        attrs = {} if ifindex is None else {"ifindex": ifindex}
        return self._request("queue-get", attrs, dump=True)

    def page_pool_get(self, pool_id: int) -> dict:
        """``page-pool-get`` do: one page pool. ENOENT if there is no such pool."""
        return self._one("page-pool-get", {"id": pool_id})

    def page_pool_dump(self) -> list[dict]:
        """``page-pool-get`` dump: every pool with ifindex, napi-id, inflight, inflight-mem,
        detach-time (once detached) and dmabuf (binding id, when devmem provides it)."""
        return self._request("page-pool-get", {}, dump=True)

    def napi_get(self, napi_id: int) -> dict:
        """``napi-get`` do. ENOENT for an unknown NAPI id."""
        return self._one("napi-get", {"id": napi_id})

    def napi_dump(self, ifindex: int | None = None) -> list[dict]:
        """``napi-get`` dump (newest NAPI first, as the kernel lists them)."""
        attrs = {} if ifindex is None else {"ifindex": ifindex}
        return self._request("napi-get", attrs, dump=True)

    def qstats_get(self, ifindex: int, scope: str | None = None) -> dict | list[dict]:
        """``qstats-get`` for one device: totals (a dict), or per queue with ``scope="queue"``.

        Keys are spec names: ``rx-packets``, ``rx-bytes``, ``rx-alloc-fail``,
        ``rx-hw-drops``, ``tx-packets``, ``tx-bytes`` (per queue also ``queue-type`` and
        ``queue-id``).

        Raises
        ------
        NetlinkError
            ENODEV unknown ifindex; EOPNOTSUPP device without queue stats (``lo``); both
            with ``bad_attr_offset`` pointing at the ifindex attribute.
        """
        attrs: dict[str, Any] = {"ifindex": ifindex}
        if scope is not None:
            attrs["scope"] = scope
        out = self._request("qstats-get", attrs, dump=True)
        if scope is None:
            return out[0] if out else {}
        return out

    def qstats_dump(self, scope: str | None = None) -> list[dict]:
        """``qstats-get`` dump over every device that reports queue stats."""
        return self._request("qstats-get", {} if scope is None else {"scope": scope}, dump=True)
