"""Exercises and figures of notebook 10: send from device memory (devmem TX, Linux 6.16+).

Models the user side of ``net/core/sock.c`` ``__sock_cmsg_send`` (the ``SCM_DEVMEM_DMABUF``
cmsg is a bare ``__u32`` binding id, ``cmsg_len == CMSG_LEN(4)``) and of the MSG_ZEROCOPY
completions of ``net/core/skbuff.c`` (a completion ``[ee_info, ee_data]`` covers sendmsg
calls counted from 0 per socket; a region may be reused once every call that sent from it
is covered). References: :func:`devmem_lab.uapi.pack_tx_dmabuf_id`,
:class:`devmem_lab.uapi.SockExtendedErr`.
"""

from __future__ import annotations

import struct

from .. import uapi
from .check import Exercise

__all__ = ["free_regions", "inflight_trace", "plot_inflight", "q1", "q2", "tx_ancdata"]


def tx_ancdata(dmabuf_id: int) -> list[tuple[int, int, bytes]]:
    """The ``ancdata`` of a devmem TX ``sendmsg``: one ``SOL_SOCKET``/``SCM_DEVMEM_DMABUF``
    cmsg whose data is the binding id as a native u32; ``ValueError`` outside 0..2**32-1."""
    if isinstance(dmabuf_id, bool) or not isinstance(dmabuf_id, int):
        raise TypeError(f"dmabuf_id must be an int, not {type(dmabuf_id).__name__}")
    if not 0 <= dmabuf_id <= 0xFFFFFFFF:
        raise ValueError(f"dmabuf_id {dmabuf_id} does not fit in a u32")
    return [(uapi.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, struct.pack("=I", dmabuf_id))]


def free_regions(nregions: int, sends: list[int], completions: list[tuple[int, int]]) -> list[int]:
    """The regions (0..nregions-1) no sendmsg call is still using.

    ``sends[i]`` is the region sendmsg call ``i`` sent from (calls counted from 0);
    ``completions`` are the ``(ee_info, ee_data)`` ranges read so far. Returns the free
    regions, ascending.
    """
    done: set[int] = set()
    for lo, hi in completions:
        done.update(range(lo, hi + 1))
    busy = {region for call, region in enumerate(sends) if call not in done}
    return [r for r in range(nregions) if r not in busy]


_ANC_CASES = ((1,), (7,), (0,), (0xFFFFFFFF,), (1 << 32,), (-1,), (0x01020304,))
_FREE_CASES = (
    (4, [0, 1, 2], [(0, 1)]),
    (4, [], []),
    (2, [0, 1, 0, 1], [(0, 2)]),  # region 0 sent twice, both calls done; region 1 not
    (3, [2, 2, 2], [(0, 0), (2, 2)]),  # call 1 still in flight
    (3, [0, 1, 2], [(0, 0), (1, 2)]),  # two completions, not merged
    (5, [4, 3, 2, 1, 0], [(1, 3)]),
    (1, [0] * 10, [(0, 9)]),
)

q1 = Exercise(
    label="q1",
    reference=tx_ancdata,
    cases=_ANC_CASES,
    hints=(
        "One tuple (level, type, data): level socket.SOL_SOCKET, type uapi.SCM_DEVMEM_DMABUF.",
        ("The data is the id as a native-endian unsigned 32-bit int: struct.pack('=I', id), "
         "4 bytes, so that cmsg_len is CMSG_LEN(4). Check the range yourself and raise "
         "ValueError: struct.error is not what the check expects."),
    ),
    solution_code='''
def tx_ancdata(dmabuf_id):
    if not 0 <= dmabuf_id <= 0xFFFFFFFF:
        raise ValueError("not a u32")
    return [(socket.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, struct.pack("=I", dmabuf_id))]
''',
)

q2 = Exercise(
    label="q2",
    reference=free_regions,
    cases=_FREE_CASES,
    hints=(
        "First collect every completed call: range(ee_info, ee_data + 1) for each completion.",
        ("A region is busy if any call that sent from it (enumerate(sends)) is not completed. "
         "Regions never sent from are free."),
    ),
    solution_code='''
def free_regions(nregions, sends, completions):
    done = {c for lo, hi in completions for c in range(lo, hi + 1)}
    busy = {region for call, region in enumerate(sends) if call not in done}
    return [r for r in range(nregions) if r not in busy]
''',
)


# ---- the figure: regions in flight over time ---------------------------------------------------
def inflight_trace(calls: int = 12, nregions: int = 4, region_size: int = 64 << 10,
                   read_size: int = 48 << 10, seed: int = 0):
    """Play a sender that reuses ``nregions`` dma-buf regions against a slow reader.

    The client (TX binding on eth1) sends region after region with MSG_ZEROCOPY, picking the
    lowest free one and reading completions when none is free; the server reads
    ``read_size`` bytes per step. Returns a DataFrame, one row per sendmsg call: ``call``,
    ``region``, ``sent_us``, ``completed_us`` (virtual time).
    """
    import pandas as pd

    from .. import Lab
    from ..scenario import ncdevmem_tx
    lab = Lab(seed=seed)

    def fill(buf):
        for r in range(nregions):
            buf[r * region_size:(r + 1) * region_size] = bytes([65 + r]) * region_size

    sc = ncdevmem_tx(lab, size=nregions * region_size, port=5202, rcvbuf=32 << 10, fill=fill)
    tx_id, cs, conn = sc.tx_id, sc.client, sc.conn
    anc = tx_ancdata(tx_id)
    rows: list[dict] = []
    sends: list[int] = []
    done: list[tuple[int, int]] = []
    received = 0

    def read_completions():
        while True:
            try:
                _, ancdata, _, _ = cs.recvmsg(0, 100, uapi.MSG_ERRQUEUE)
            except BlockingIOError:
                return
            ee = uapi.SockExtendedErr.unpack(ancdata[0][2])
            done.append((ee.ee_info, ee.ee_data))
            for c in ee.calls:
                rows[c]["completed_us"] = lab.now_ns / 1e3

    def read_some():
        nonlocal received
        received += len(conn.recv(read_size))
        lab.run(20e-6)

    for call in range(calls):
        while not (free := free_regions(nregions, sends, done)):
            read_some()
            read_completions()
        region = free[0]
        cs.sendmsg([uapi.DmabufIov(region * region_size, region_size)], anc, uapi.MSG_ZEROCOPY)
        sends.append(region)
        rows.append({"call": call, "region": region, "sent_us": lab.now_ns / 1e3,
                     "completed_us": float("nan")})
        read_some()
        read_completions()
    while received < calls * region_size:
        read_some()
    lab.run(1e-3)
    read_completions()
    sc.netdev.close()
    return pd.DataFrame(rows).set_index("call")


def plot_inflight(trace, ax=None):
    """One row per region, a bar from sendmsg to its completion, labelled with the call."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 2.8))
    colors = plt.get_cmap("tab10").colors
    for call, row in trace.iterrows():
        width = row.completed_us - row.sent_us
        ax.broken_barh([(row.sent_us, width)], (row.region - 0.4, 0.8),
                       color=colors[call % 10], alpha=0.85)
        ax.text(row.sent_us + width / 2, row.region, str(call), ha="center", va="center",
                fontsize=9, color="white", fontweight="bold")
    ax.set_yticks(sorted(trace.region.unique()))
    ax.set_yticklabels([f"region {r}" for r in sorted(trace.region.unique())])
    ax.set_xlabel("virtual time (µs)")
    ax.set_title("in flight: from sendmsg until its completion is read", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return ax
