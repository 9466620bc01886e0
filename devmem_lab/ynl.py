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

Notifications, as pyynl's ``ntf_subscribe``/``check_ntf``: :meth:`Netdev.ntf_subscribe`
joins a multicast group (``mgmt`` or ``page-pool``, by the id nlctrl reports) and
:meth:`Netdev.check_ntf` returns what arrived, decoded. Notifications read while waiting for
a reply are kept for it, in order.

The module-level :func:`get_family`, :func:`request` and :func:`replies` are the raw
building blocks (any family, any attribute bytes) that ``conformance`` and ``linux_host``
use.
"""

from __future__ import annotations

import errno
import itertools
from collections import deque
from collections.abc import Iterable
from typing import Any, Self

from .errors import NetlinkError
from .netlink import family as fam
from .netlink import wire

__all__ = ["Netdev", "get_family", "replies", "request", "resolve_family"]

RECV_SIZE = 65536  # the kernel caps its dump hint at 32 KiB minus overhead anyway


def get_family(sock: Any, name: str, seq: int = 1) -> dict:
    """``CTRL_CMD_GETFAMILY`` by name, decoded with the ``ctrl`` attribute set.

    Returns ``{"id", "version", "ops": {cmd: flags}, "mcgrps": {name: group id}}``.

    Raises
    ------
    NetlinkError
        ENOENT for a family the kernel does not have.
    """
    msgs = request(sock, wire.GENL_ID_CTRL, fam.NLCTRL.op("getfamily").cmd,
                   fam.encode("ctrl", {"family-name": name}), seq=seq)
    for m in msgs:
        a = fam.decode("ctrl", wire.parse_genl(m.payload)[2])
        if "family-id" in a:
            return {"id": a["family-id"], "version": a.get("version"),
                    "ops": {o["id"]: o.get("flags", 0) for o in a.get("ops", [])},
                    "mcgrps": {g["name"]: g["id"] for g in a.get("mcast-groups", [])}}
    raise NetlinkError(errno.ENOENT, f"no family id in the reply for {name!r}")


def resolve_family(sock: Any, name: str, seq: int = 1) -> int:
    """The id of family ``name`` (:func:`get_family`)."""
    return get_family(sock, name, seq)["id"]


def _error(ext: wire.Extack) -> NetlinkError:
    return NetlinkError(ext.errno, ext.msg, ext.offset, ext.miss_type, ext.miss_nest)


def request(sock: Any, family_id: int, cmd: int, attrs: bytes = b"", *, seq: int,
            dump: bool = False, ack: bool = True, version: int = 1, reserved: int = 0,
            ntf: deque | None = None) -> list[wire.NlMsg]:
    """Send one generic netlink request (raw attribute bytes) and collect its messages.

    ``NLM_F_REQUEST``, plus ``NLM_F_DUMP`` for a dump and ``NLM_F_ACK`` unless ``ack`` is
    False; ``reserved`` goes into the genl header as is (to see the kernel refuse it).

    Raises
    ------
    NetlinkError
        The ``NLMSG_ERROR`` (or erroring ``NLMSG_DONE``) with its extack fields.
    """
    flags = wire.NLM_F_REQUEST | (wire.NLM_F_DUMP if dump else 0) | (wire.NLM_F_ACK if ack else 0)
    hdr = wire.GENLMSGHDR.pack(cmd, version, reserved)
    sock.send(wire.pack_nlmsg(family_id, flags, seq, 0, hdr + attrs))
    return replies(sock, seq, ntf=ntf)


def replies(sock: Any, seq: int, *, ntf: deque | None = None, dump: bool = False) -> list[wire.NlMsg]:
    """Read until the ack (``do``) or ``NLMSG_DONE`` (dump) of ``seq``.

    Messages of other seqs are skipped, except notifications (seq 0, not an error or done),
    which go to ``ntf`` when given (pyynl's ``async_msg_queue``). ``dump`` is accepted for
    symmetry: a dump and a do end the same way here.

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
                if ntf is not None and m.seq == 0 and m.type >= wire.NLMSG_MIN_TYPE:
                    ntf.append(m)
                continue
            if m.type in (wire.NLMSG_ERROR, wire.NLMSG_DONE):
                ext = wire.parse_error(m)
                if ext.error:
                    raise _error(ext)
                return out
            out.append(m)


_replies = replies  # the older private name


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
        self._ntf: deque[wire.NlMsg] = deque()
        self.family = get_family(sock, "netdev", next(self._seq))
        self.family_id = self.family["id"]
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
        msgs = request(self.sock, self.family_id, spec.cmd, fam.encode(spec.attr_set, attrs),
                       seq=next(self._seq), dump=dump, version=self._spec.version,
                       ntf=self._ntf)
        return [fam.decode(spec.attr_set, wire.parse_genl(m.payload)[2]) for m in msgs]

    # ---- notifications (pyynl ntf_subscribe / check_ntf) ---------------------------------------
    def ntf_subscribe(self, group: str) -> None:
        """Join multicast group ``group`` ("mgmt" or "page-pool") with the id nlctrl reported.

        Raises
        ------
        KeyError
            The kernel's family has no such group.
        """
        self.sock.setsockopt(wire.SOL_NETLINK, wire.NETLINK_ADD_MEMBERSHIP,
                             self.family["mcgrps"][group])

    def check_ntf(self) -> list[dict]:
        """Every notification received so far, oldest first: ``{"name", "msg"}``.

        Reads what is queued on the socket without blocking (a real socket is polled with
        a zero timeout), plus those read while waiting for replies.
        """
        for data in self._pending():
            self._ntf.extend(m for m in wire.iter_msgs(data) if m.seq == 0)
        by_cmd = {n.cmd: n for n in self._spec.ntfs}
        out = []
        while self._ntf:
            m = self._ntf.popleft()
            cmd = wire.parse_genl(m.payload)[0]
            spec = by_cmd.get(cmd)
            if spec is None or m.type != self.family_id:
                continue
            out.append({"name": spec.name,
                        "msg": fam.decode(spec.attr_set, wire.parse_genl(m.payload)[2])})
        return out

    def _pending(self) -> Iterable[bytes]:
        import select
        while True:
            try:
                ready = select.select([self.sock], [], [], 0)[0]
            except (OSError, ValueError, TypeError):
                return
            if not ready:
                return
            try:
                yield self.sock.recv(RECV_SIZE)
            except (BlockingIOError, TimeoutError):
                return

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
