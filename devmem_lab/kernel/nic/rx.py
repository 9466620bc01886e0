"""The NIC receive datapath: steer packets to an rx queue and place them in memory.

Models what a devmem-capable driver (bnxt, gve, mlx5, fbnic) does in one NAPI poll: classify
(ntuple rules, then RSS), take buffers from the queue's page pool, and with header split on a
queue that has a memory provider, DMA the headers to host memory and the payload into net_iovs
of the bound dma-buf (``skb_add_rx_frag_netmem`` marks the skb unreadable). GRO
is not modelled: every packet is an skb of its own, as with ``ethtool -K gro off``. For speed
the emulator stores a poll's in-order devmem packets together (their
:class:`~.frags.FragLayout` keeps the packet boundaries), frees each packet's net_iovs as
soon as it is read, and splits the batch wherever TCP treats packets differently (out of
order, partly duplicate).

Payload lands in net_iovs the driver posted to its ring at queue start; each consumed entry is
refilled from the page pool at once (:mod:`.ring`, as bnxt does). When the genpool is empty
(``mp_dmabuf_devmem_alloc_netmems`` returns 0) the refill fails: the packet is dropped, its
buffers stay posted, and it is counted as ``rx-alloc-fail`` (bnxt's ``rx_oom_discards``) and,
as the lab's choice, ``rx-hw-drops`` too; a packet needing more entries than are posted is
dropped by the NIC (``rx-hw-drops`` only). See docs/kernel-facts.md,
"Rx ring fill and refill (bnxt)" and "Page pool and exhaustion".

Emulator choices:
- one net_iov per ``niov_size`` bytes of payload; a packet never shares a net_iov;
- ``NetDevice.hds_linear_bytes`` (default 0): payload bytes the NIC leaves in the header
  buffer when it cannot split exactly at the header boundary; they become the skb's linear
  part and reach user space as ``SCM_DEVMEM_LINEAR`` (such skbs are not merged);
- ``NetDevice.rx_batching`` (default True): ``False`` places every packet on its own, the
  oracle the batched path is tested against (same cmsgs, tokens, counters and clock);
- with hds-thresh N > 0, payloads of at most N bytes are not split (whole packet in host
  memory: an ordinary readable skb);
- a bound queue with header split off (possible only on 6.12, which does not check) drops
  every packet: the driver cannot read headers out of device memory;
"""

from __future__ import annotations

import numpy as np

from ..devmem import as_index
from . import ring
from .device import FlowKey, NetDevice
from .frags import EMPTY, NO_FRAGS, FragLayout

__all__ = ["Skb", "header_len", "receive_burst"]

_PER_PACKET = object()  # _devmem_run: this run needs the packet-by-packet path


class Skb:
    """A received skb: linear bytes (host memory) plus net_iov frags (device memory).

    ``niovs`` are the frags' net_iovs, all of one ``binding``; ``layout`` (a
    :class:`~.frags.FragLayout`) says where each frag lies in the payload and, for a batch,
    where its packets begin.
    """

    __slots__ = ("binding", "layout", "length", "linear", "niovs", "pages", "pool", "readable",
                 "seq")

    def __init__(self, seq: int, length: int, linear: bytes, readable: bool, pool=None,
                 pages: int = 0, binding=None, niovs: np.ndarray = NO_FRAGS,
                 layout: FragLayout | None = None) -> None:
        self.seq = seq
        self.length = length  # payload bytes: linear + frags
        self.linear = linear
        self.readable = readable
        self.pool = pool  # page pool owning the host pages of a readable skb
        self.pages = pages
        self.binding = binding
        self.niovs = niovs
        self.layout = layout if layout is not None else \
            FragLayout(len(linear), length, len(niovs), given=NO_FRAGS)

    def __repr__(self) -> str:
        kind = "readable" if self.readable else "devmem"
        segs = self.layout.segs
        segs = "" if segs is None else f", {segs[1]} segments"
        return (f"Skb(seq={self.seq}, len={self.length}, {kind}, linear={len(self.linear)}"
                f"{segs})")

    @property
    def seg_lens(self) -> np.ndarray | None:
        return self.layout.seg_lens

    @property
    def frags(self) -> list[tuple]:
        """``[(binding, niov, offset_in_niov, size)]``, one per frag."""
        return [(self.binding, int(i), 0, int(n)) for i, n in zip(self.niovs, self.layout.sizes)]

    def free(self) -> None:
        """``kfree_skb``: drop the skb's references on its buffers."""
        if len(self.niovs):
            self.binding.put_many(self.niovs, distinct=True)
            self.niovs, self.layout = NO_FRAGS, EMPTY
        if self.pool is not None and self.pages:
            self.pool.release(self.pages)
            self.pages = 0

    def drop_read_segments(self, offset: int) -> int:
        """Free the leading segments that lie wholly before ``offset`` (read by the user), as
        their own skbs would have been; returns the bytes dropped from the front."""
        if self.layout.segs is None:
            return 0
        nf, gone = self.layout.read_segments(offset, self.binding.niov_size)
        if not gone:
            return 0
        self.binding.put_many(self.niovs[:nf], distinct=True)
        self.niovs = self.niovs[nf:]
        self.layout = self.layout.after(nf, gone)
        self.seq += gone
        self.length -= gone
        return gone

    def segments(self) -> list[Skb]:
        """The batch's packets as skbs of their own (their frags move over; none is copied)."""
        if self.layout.segs is None:
            return [self]
        niovs = self.niovs
        out = [Skb(self.seq + at, n, b"", False, binding=self.binding,
                   niovs=niovs[f:f + lay.count], layout=lay)
               for at, n, f, lay in self.layout.split(self.binding.niov_size)]
        self.niovs, self.layout = NO_FRAGS, EMPTY
        return out


def header_len(family: int) -> int:
    """Ethernet + IP + TCP with timestamps: what header split puts in the header buffer."""
    return 14 + (40 if family == 6 else 20) + 32


def receive_burst(dev: NetDevice, flow: FlowKey, runs) -> list[Skb]:
    """A NAPI poll's worth of packets of one flow, as skbs (in-order devmem packets batched).

    ``runs`` is a list of ``(seq, payload, mss)``: contiguous stream bytes cut into segments of
    ``mss`` (the last one shorter). Dropped packets leave no skb. Steering is decided once per
    poll (the configuration cannot change in between).
    """
    q = dev.classify(flow)
    hdr = header_len(flow.family)
    if q < 0:  # ntuple action -1 (drop)
        dev.rx_queues[0].stats.hw_drops += _packets(runs)
        return []
    rxq = dev.rx_queues[q]
    st, binding, pool = rxq.stats, rxq.binding, rxq.pool
    if binding is not None and dev.tcp_data_split != "on":
        st.hw_drops += _packets(runs)
        return []
    thresh = dev.hds_thresh if dev.tcp_data_split == "on" else 0
    linear_max = getattr(dev, "hds_linear_bytes", 0)
    batching = getattr(dev, "rx_batching", True)
    out: list[Skb] = []
    for seq, payload, mss in runs:
        n = len(payload)
        last = n - (n - 1) // mss * mss
        if binding is not None and not linear_max and last > thresh and batching:
            skb = _devmem_run(binding, rxq, st, seq, payload, mss, hdr)
            if skb is not _PER_PACKET:
                if skb is not None:
                    out.append(skb)
                continue
        for start in range(0, n, mss):  # one packet at a time
            seg = payload[start:start + mss]
            if binding is None or len(seg) <= thresh:
                out.append(_host_skb(pool if binding is None else None, st, seq + start, seg,
                                     hdr))
            else:
                skb = _devmem_skb(binding, rxq, st, seq + start, seg,
                                  min(linear_max, len(seg)), hdr)
                if skb is not None:
                    out.append(skb)
    return out


def _packets(runs) -> int:
    return sum(-(-len(p) // mss) for _, p, mss in runs)


def _host_skb(pool, st, seq: int, payload, hdr: int) -> Skb:
    """The whole packet in host pages: the queue's pool, or (on a bound queue, a packet under
    hds-thresh) the driver's header buffers, which are not modelled."""
    n = len(payload)
    pages = -(-(n + hdr) // 4096)
    if pool is not None:
        pool.alloc_pages(pages)
    st.packets += 1
    st.bytes += n + hdr
    st.host_bytes += n + hdr
    return Skb(seq, n, bytes(payload), True, pool, pages if pool is not None else 0)


def _devmem_run(binding, rxq, st, seq: int, payload, mss: int, hdr: int):
    """Header split of a whole run of packets, stored as one batch.

    The frags land in the ring's posted net_iovs, each refilled from the page pool
    (:func:`ring.take`). When the genpool cannot refill every frag and each packet needs one
    net_iov, the packets whose refill succeeded are placed and the rest dropped with their
    buffers reused (what packet-by-packet gives); returns ``None`` if none was placed.
    Otherwise, when the refills might fail, returns ``_PER_PACKET``: the caller goes packet by
    packet."""
    n = len(payload)
    size = binding.niov_size
    k = -(-n // mss)
    last = n - (k - 1) * mss
    per = -(-mss // size)  # net_iovs per full segment
    one = per == 1 and last <= size
    nfrags = (k - 1) * per + -(-last // size)
    pool = rxq.pool
    posted = len(rxq.posted)
    if not one:
        if binding.free_count < nfrags or posted < per:
            return _PER_PACKET
        idx, _ = ring.take(rxq, pool, 1, nfrags)
        return _write_run(binding, st, seq, payload, mss, hdr, idx)
    idx, fit = ring.take(rxq, pool, 1, k)
    if fit < k:
        lost = k - fit
        st.hw_drops += lost
        if posted:  # the NIC placed them; the driver's refill failed (rx_oom_discards)
            st.alloc_fail += lost
            pool.count_empty(lost)
        if not fit:
            return None
        payload = payload[:fit * mss]
    return _write_run(binding, st, seq, payload, mss, hdr, idx)


def _write_run(binding, st, seq: int, payload, mss: int, hdr: int, idx: np.ndarray) -> Skb:
    """DMA a run's payload into the net_iovs ``idx`` (in frag order) and build its skb."""
    n = len(payload)
    size = binding.niov_size
    k = -(-n // mss)
    full = (k - 1) * mss  # bytes in the full-sized segments
    last = n - full
    q, r = divmod(mss, size) if mss > size else (0, mss)
    per = q + (r > 0)  # net_iovs per full segment: q whole ones, then r bytes in one more
    tail = [size] * (last // size) + ([last % size] if last % size else [])
    nfrags = (k - 1) * per + len(tail)
    fsizes = None  # uniform: every frag `size` (or `mss`) bytes but the last
    if q and r:
        fsizes = np.empty(nfrags, dtype=np.int64)
        body = fsizes[:(k - 1) * per].reshape(k - 1, per)
        body[:, :q] = size
        body[:, q] = r
        fsizes[(k - 1) * per:] = tail
    src = np.frombuffer(payload, dtype=np.uint8)
    rows = binding.rows
    if k > 1:
        segs = src[:full].reshape(k - 1, mss)
        at = idx[:(k - 1) * per].reshape(k - 1, per)
        if not q:  # a net_iov per segment
            _scatter(rows, at[:, 0], segs)
        elif not r:  # whole net_iovs only: the run is contiguous in the source
            _scatter(rows, at.reshape(-1), src[:full].reshape(-1, size))
        else:
            rows[at[:, :q]] = segs[:, :q * size].reshape(k - 1, q, size)
            rows[at[:, q], :r] = segs[:, q * size:]
    mem = binding.dmabuf.mem
    for i, f in zip(idx[(k - 1) * per:].tolist(), tail):
        mem[i * size:i * size + f] = payload[full:full + f]
        full += f
    st.packets += k
    st.bytes += n + k * hdr
    st.host_bytes += k * hdr
    st.devmem_bytes += n
    layout = FragLayout(0, n, nfrags, size if q else mss, fsizes,
                        (mss, k, last) if k > 1 else None)
    return Skb(seq, n, b"", False, binding=binding, niovs=idx, layout=layout)


def _scatter(rows: np.ndarray, idx: np.ndarray, block: np.ndarray) -> None:
    """``rows[idx, :width] = block``, a slice copy per run of consecutive net_iovs (the
    genpool hands out the lowest free ones, so a poll's net_iovs are mostly one run)."""
    width = block.shape[1]
    at = as_index(idx)
    if isinstance(at, slice):
        rows[at, :width] = block
        return
    brk = (idx[1:] - idx[:-1] != 1).nonzero()[0] + 1
    if len(brk) > 8:
        rows[idx, :width] = block
        return
    for a, b in zip([0, *brk.tolist()], [*brk.tolist(), len(idx)]):
        first = int(idx[a])
        rows[first:first + b - a, :width] = block[a:b]


def _devmem_skb(binding, rxq, st, seq: int, payload, linear_n: int, hdr: int) -> Skb | None:
    """Header split of one packet: headers (+ linear_n payload bytes) to host memory, the
    rest DMA'd into the ring's posted net_iovs, each refilled at once; a failed refill drops
    the packet (its buffers stay posted), too few posted buffers drop it in the NIC."""
    n = len(payload)
    size = binding.niov_size
    k = -(-(n - linear_n) // size)
    idx = NO_FRAGS
    if k:
        posted = len(rxq.posted)
        idx, ok = ring.take(rxq, rxq.pool, k, 1)
        if not ok:
            st.hw_drops += 1
            if k <= posted:
                st.alloc_fail += 1
                rxq.pool.count_empty(1)
            return None
    mem = binding.dmabuf.mem
    sizes = []
    for i, start in zip(idx.tolist(), range(linear_n, n, size)):
        chunk = payload[start:start + size]
        mem[i * size:i * size + len(chunk)] = chunk
        sizes.append(len(chunk))
    st.packets += 1
    st.bytes += n + hdr
    st.host_bytes += hdr + linear_n
    st.devmem_bytes += n - linear_n
    return Skb(seq, n, bytes(payload[:linear_n]), not k, binding=binding,
               niovs=np.asarray(idx, dtype=np.int64),
               layout=FragLayout(linear_n, n, len(sizes), given=np.array(sizes, dtype=np.int64)))
