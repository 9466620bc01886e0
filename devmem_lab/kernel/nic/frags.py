"""Where a received skb's bytes lie: its linear head, then its net_iov frags.

Models the layout of ``skb_shinfo(skb)->frags`` after ``skb_add_rx_frag_netmem``
(``include/linux/skbuff.h``): the headlen bytes in host memory, then frags that each start at
offset 0 of a net_iov. The emulator keeps a NAPI poll's in-order packets as one skb (a batch),
so the layout also records the packet boundaries (``segs``): what the kernel would have as
separate skbs. A value object: operations return a new layout; the net_iov ids stay with the
skb (``nic/rx.py``).

Frags are usually all ``fsize`` bytes but the last; then their sizes and end offsets are
arithmetic and the arrays are only built when asked for.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EMPTY", "NO_FRAGS", "FragLayout"]

NO_FRAGS = np.empty(0, dtype=np.int64)


class FragLayout:
    """``head`` linear bytes, then ``count`` frags, ``total`` payload bytes in all.

    Either ``fsize`` > 0 (every frag that size but the last) or explicit ``given`` sizes.
    ``segs``: ``(mss, packets, bytes in the last packet)`` of a batch, ``None`` for one packet.
    """

    __slots__ = ("_ends", "_sizes", "count", "fsize", "head", "segs", "total")

    def __init__(self, head: int, total: int, count: int, fsize: int = 0,
                 given: np.ndarray | None = None, segs: tuple[int, int, int] | None = None):
        self.head = head
        self.total = total
        self.count = count
        self.fsize = fsize if given is None else 0
        self._sizes = given  # None: uniform, built on demand
        self._ends = None
        self.segs = segs

    @classmethod
    def explicit(cls, head: int, sizes: np.ndarray, segs=None) -> FragLayout:
        return cls(head, head + int(sizes.sum()), len(sizes), given=sizes, segs=segs)

    def __repr__(self) -> str:
        shape = f"fsize={self.fsize}" if self.fsize else "sizes"
        return f"FragLayout(head={self.head}, total={self.total}, {self.count} frags, {shape})"

    @property
    def sizes(self) -> np.ndarray:
        """Each frag's size."""
        if self._sizes is None:
            n = self.count
            sizes = np.empty(n, dtype=np.int64)
            sizes.fill(self.fsize)
            if n:
                sizes[-1] = self.total - self.head - (n - 1) * self.fsize
            self._sizes = sizes
        return self._sizes

    @property
    def ends(self) -> np.ndarray:
        """Each frag's end offset in the payload (linear head included)."""
        if self._ends is None:
            sizes = self.sizes
            self._ends = sizes.cumsum() + self.head if len(sizes) else NO_FRAGS
        return self._ends

    @property
    def seg_lens(self) -> np.ndarray | None:
        """The batch's packet lengths (``None``: a single packet)."""
        if self.segs is None:
            return None
        mss, k, last = self.segs
        lens = np.empty(k, dtype=np.int64)
        lens.fill(mss)
        lens[-1] = last
        return lens

    def span(self, offset: int, stop: int) -> tuple[int, int]:
        """The frags holding byte ``offset`` and byte ``stop - 1`` (both past the head)."""
        f, nfr = self.fsize, self.count
        if f:
            return (min((offset - self.head) // f, nfr - 1),
                    min((stop - 1 - self.head) // f, nfr - 1))
        ends = self.ends
        return (int(ends.searchsorted(offset, "right")),
                min(int(ends.searchsorted(stop, "left")), nfr - 1))

    def bounds(self, j: int) -> tuple[int, int]:
        """Frag ``j``'s ``[start, end)`` in the payload."""
        if self.fsize:
            start = self.head + j * self.fsize
            return start, min(start + self.fsize, self.total)
        end = int(self.ends[j])
        return int(end - self.sizes[j]), end

    def sizes_of(self, j: int, n: int):
        """The sizes of frags ``j .. j + n - 1`` (a scalar when uniform: numpy broadcasts it)."""
        return self.fsize if self.fsize else self.sizes[j:j + n]

    def read_segments(self, offset: int, niov_size: int) -> tuple[int, int]:
        """For a batch read up to ``offset``: ``(frags, bytes)`` of the leading packets that
        lie wholly before it (the last packet stays: it ends the skb)."""
        if self.segs is None:
            return 0, 0
        mss, k, _ = self.segs
        j = min(offset // mss, k - 1)
        return j * -(-mss // niov_size), j * mss

    def after(self, nf: int, gone: int) -> FragLayout:
        """The layout once the first ``nf`` frags (``gone`` bytes, whole packets) are dropped."""
        mss, k, last = self.segs
        j = gone // mss
        out = FragLayout(self.head, self.total - gone, self.count - nf, self.fsize,
                         segs=(mss, k - j, last) if k - j > 1 else None)
        if self._sizes is not None:  # kept as they are (a uniform layout stays uniform)
            out._sizes = self._sizes[nf:]
        if self._ends is not None:
            out._ends = self._ends[nf:] - gone
        return out

    def split(self, niov_size: int) -> list[tuple[int, int, int, FragLayout]]:
        """The batch's packets: ``(offset, length, first frag, layout)`` each, explicit sizes."""
        if self.segs is None:
            return [(0, self.total, 0, self)]
        sizes = self.sizes
        out, at, f = [], 0, 0
        for n in self.seg_lens.tolist():
            nf = -(-n // niov_size)
            out.append((at, n, f, FragLayout(0, n, nf, given=sizes[f:f + nf])))
            at += n
            f += nf
        return out


EMPTY = FragLayout(0, 0, 0, given=NO_FRAGS)
