"""Buffer exhaustion of a devmem rx queue with a slow consumer: a vectorised simulator.

Models one rx queue bound to a dma-buf (``net/core/devmem.c``): the dma-buf is cut into
``pool_pages`` net_iovs of 4096 bytes (PAGE_SIZE, ``net_devmem_bind_dmabuf``). Each packet's
payload takes ``ceil(payload / 4096)`` net_iovs from the genpool; the application receives
the fragments (``tcp_recvmsg_dmabuf``), keeps them for a random *hold* time and hands the
tokens back with ``SO_DEVMEM_DONTNEED`` (``net/core/sock.c`` ``sock_devmem_dontneed``),
``batch`` tokens per call. When the genpool is empty the page pool cannot refill and the
packet is dropped (``rx-alloc-fail``; what a driver then does is driver specific). The sender
retransmits a dropped segment ``rto_s`` later.

Model, and where it is simpler than the kernel:

* The sender is open loop: it keeps the link busy at line rate with full-size segments,
  retransmissions take the place of new data, and there is no congestion-window backoff.
  Goodput therefore counts accepted payload; a real TCP sender would slow down too.
* Segments are consumed as they arrive (no out-of-order queue holding net_iovs while a hole
  is repaired, unlike the kernel and :func:`emulate`), all of a packet's net_iovs share its hold time and are returned together.
* Returns are batched in completion order: every ``batch`` completed tokens (rounded up to
  whole packets) are returned at once, when the last of them completes.
* A token returned at time ``t`` serves a packet that arrives at ``t`` or later.

Algorithm. Arrivals sit on a grid (one per packet time). With the return times fixed, the
drops follow from a reflected random walk (``cumsum`` + ``minimum.accumulate``); return times
depend on which packets were accepted, so each window of arrivals is iterated to its unique
fixed point, starting from "all accepted" (the map is monotone and causal, so it converges).

Figures used (``data/figures.csv``): ``net_iov_size``, ``ncdevmem_udmabuf`` (16000 pages),
``little_*`` (how long 62.5 MiB lasts), ``tcp_rto_min``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from devmem_lab.bandwidth import _number, packet_bytes

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "DISTRIBUTIONS",
    "NIOV_BYTES",
    "emulate",
    "hold_times",
    "littles_law",
    "plot_free_pool",
    "plot_sweep",
    "simulate",
    "stall_delay",
    "summarize",
    "sweep",
]

#: Size of one net_iov (PAGE_SIZE; data/figures.csv ``net_iov_size``).
NIOV_BYTES = 4096
#: Consumer hold-time distributions accepted by :func:`simulate`.
DISTRIBUTIONS = ("fixed", "exponential", "pareto", "stall")
_ALIASES = {
    "heavy": "pareto",
    "heavy-tailed": "pareto",
    "exp": "exponential",
    "stalls": "stall",
    "periodic": "stall",
}
_EPS = 1e-6  # slot-time tolerance: a return this close before an arrival serves it
_W_MIN, _W_MAX = 1024, 1 << 17


# --------------------------------------------------------------------------- inputs
def _dist(dist: Any) -> str:
    d = _ALIASES.get(dist, dist) if isinstance(dist, str) else dist
    if d not in DISTRIBUTIONS:
        raise ValueError(f"dist must be one of {', '.join(DISTRIBUTIONS)}, got {dist!r}")
    return d


def _draw(rng: np.random.Generator, n: int, hold_s: float, dist: str, alpha: float) -> np.ndarray:
    """The next ``n`` hold times (seconds, mean ``hold_s``) from ``rng``.

    One standard exponential per packet, drawn in order, so drawing in chunks gives the same
    numbers as drawing all at once.
    """
    if dist in ("fixed", "stall"):
        return np.full(n, hold_s)
    e = rng.standard_exponential(n)
    if dist == "exponential":
        return e * hold_s
    xm = hold_s * (alpha - 1.0) / alpha  # Pareto I with that mean: xm * exp(E / alpha)
    return xm * np.exp(e / alpha)


def _add_by_bin(first: np.ndarray, s0: int, vals: np.ndarray, out: np.ndarray):
    """Add per-slot ``vals`` (slots ``s0``, ``s0 + 1``, ...) into ``out`` by bin.

    Bin ``b`` holds the slots ``first[b] <= s < first[b + 1]``. Returns the offsets where
    bins start within ``vals`` and their bin numbers.
    """
    s1 = s0 + len(vals)
    lo, hi = np.searchsorted(first, s0, side="right"), np.searchsorted(first, s1)
    starts = np.unique(np.concatenate(([0], first[lo:hi] - s0)))
    ub = np.searchsorted(first, starts + s0, side="right") - 1
    out[ub] += np.add.reduceat(vals, starts, dtype=np.int64)
    return starts, ub


def hold_times(
    n: int, hold_s: float, dist: str = "exponential", seed: int = 0, tail_alpha: float = 1.5
) -> np.ndarray:
    """Hold times (seconds) of the first ``n`` packets, as :func:`simulate` draws them.

    Slot ``i`` of a run always gets ``hold_times(n, ...)[i]`` whether or not its packet is
    accepted, so other models (the SimPy reference) can use the same random numbers.

    Parameters
    ----------
    n : int
        Number of packets.
    hold_s : float
        Mean hold time (seconds); for ``"stall"`` the hold outside stalls.
    dist : {"fixed", "exponential", "pareto", "stall"}
        ``"pareto"`` (alias ``"heavy"``): Pareto I with shape ``tail_alpha`` and mean
        ``hold_s``; heavy-tailed, infinite variance for ``tail_alpha <= 2``.
    seed : int
        Seed of ``numpy.random.default_rng``.
    tail_alpha : float
        Pareto shape, > 1.

    Returns
    -------
    numpy.ndarray of float, shape (n,)

    Raises
    ------
    ValueError
        Bad ``n``, ``hold_s``, ``dist``, ``seed`` or ``tail_alpha``.
    """
    n = int(_number("n", n, minimum=0, integer=True))
    hold = _number("hold_s", hold_s, minimum=0.0)
    d = _dist(dist)
    alpha = _number("tail_alpha", tail_alpha, minimum=1.0, strict=True)
    rng = np.random.default_rng(_seed(seed))
    return _draw(rng, n, hold, d, alpha)


def _seed(seed: Any) -> int:
    return int(_number("seed", seed, minimum=0, integer=True))


def stall_delay(done_s: np.ndarray, every_s: float, stall_s: float) -> np.ndarray:
    """Move completions that fall in a consumer stall to the end of that stall.

    The consumer stalls for ``stall_s`` at the end of every period of ``every_s``: during
    ``[k*every_s - stall_s, k*every_s)`` it finishes nothing (a GC pause, a blocked GPU
    stream, a page fault storm) and catches up at ``k*every_s``.
    """
    done_s = np.asarray(done_s, dtype=float)
    if every_s <= 0 or stall_s <= 0:
        return done_s
    period_end = (np.floor(done_s / every_s) + 1.0) * every_s
    in_stall = done_s >= period_end - stall_s
    return np.where(in_stall, period_end, done_s)


@dataclass(frozen=True)
class Params:
    """The parameters of one :func:`simulate` run, checked once, and what follows from them.

    The fields are :func:`simulate`'s arguments, normalised (ints, floats, the canonical
    ``dist`` name); a bad value raises ``ValueError`` naming it. The derived values (packet
    sizes, net_iovs per packet, slot time, bins) are computed here too. A sweep varies one
    field with ``dataclasses.replace``, which checks the new value the same way.
    """

    pool_pages: int
    line_rate_gbps: float
    hold_s: float
    duration_s: float
    seed: int = 0
    mtu: int = 4148
    dist: str = "exponential"
    batch: int = 1
    rto_s: float = 1e-3
    tail_alpha: float = 1.5
    stall_every_s: float = 10e-3
    stall_s: float = 2e-3
    bin_s: float | None = None  # None: duration_s / 100 (see ``bin_width_s``)
    payload_bytes: int = field(init=False)
    wire_bytes: int = field(init=False)
    niovs_per_packet: int = field(init=False)
    pool_packets: int = field(init=False)
    slot_s: float = field(init=False)
    n_slots: int = field(init=False)
    bin_width_s: float = field(init=False)
    n_bins: int = field(init=False)
    batch_packets: int = field(init=False)

    def __post_init__(self) -> None:
        put = object.__setattr__.__get__(self)
        stall_every_s, stall_s, mtu = self.stall_every_s, self.stall_s, self.mtu
        pages = int(_number("pool_pages", self.pool_pages, minimum=1, integer=True))
        rate = _number("line_rate_gbps", self.line_rate_gbps, minimum=0.0, strict=True)
        hold = _number("hold_s", self.hold_s, minimum=0.0)
        duration = _number("duration_s", self.duration_s, minimum=0.0, strict=True)
        pkt = packet_bytes(mtu)
        k = -(-pkt["payload"] // NIOV_BYTES)  # net_iovs per packet
        if pages < k:
            raise ValueError(
                f"pool_pages={pages} is smaller than one packet: mtu {int(mtu)} "
                f"needs {k} net_iovs of {NIOV_BYTES} B per packet"
            )
        d = _dist(self.dist)
        b = int(_number("batch", self.batch, minimum=1, integer=True))
        put("pool_pages", pages)
        put("line_rate_gbps", rate)
        put("hold_s", hold)
        put("duration_s", duration)
        put("seed", _seed(self.seed))
        put("mtu", int(mtu))
        put("dist", d)
        put("batch", b)
        put("rto_s", _number("rto_s", self.rto_s, minimum=0.0))
        put("tail_alpha", _number("tail_alpha", self.tail_alpha, minimum=1.0, strict=True))
        put("stall_every_s",
            _number("stall_every_s", stall_every_s, minimum=0.0, strict=True))
        put("stall_s", _number("stall_s", stall_s, minimum=0.0))
        if d == "stall" and self.stall_s >= self.stall_every_s:
            raise ValueError(
                f"stall_s={stall_s!r} must be shorter than stall_every_s={stall_every_s!r}"
            )
        slot_s = pkt["wire"] * 8 / (rate * 1e9)
        b_s = (duration / 100 if self.bin_s is None
               else _number("bin_s", self.bin_s, minimum=0.0, strict=True))
        if self.bin_s is not None:
            put("bin_s", b_s)
        put("payload_bytes", pkt["payload"])
        put("wire_bytes", pkt["wire"])
        put("niovs_per_packet", k)
        put("pool_packets", pages // k)
        put("slot_s", slot_s)
        put("n_slots", max(1, math.ceil(duration / slot_s - 1e-9)))
        put("bin_width_s", b_s)
        put("n_bins", max(1, math.ceil(duration / b_s - 1e-9)))
        put("batch_packets", -(-b // k))

    def as_dict(self) -> dict:
        """The parameters and derived values as ``simulate``'s ``df.attrs`` keeps them."""
        return {
            "pool_pages": self.pool_pages,
            "line_rate_gbps": self.line_rate_gbps,
            "hold_s": self.hold_s,
            "duration_s": self.duration_s,
            "seed": self.seed,
            "mtu": self.mtu,
            "dist": self.dist,
            "batch": self.batch,
            "rto_s": self.rto_s,
            "tail_alpha": self.tail_alpha,
            "stall_every_s": self.stall_every_s,
            "stall_s": self.stall_s,
            "payload_bytes": self.payload_bytes,
            "wire_bytes": self.wire_bytes,
            "niovs_per_packet": self.niovs_per_packet,
            "pool_packets": self.pool_packets,
            "slot_s": self.slot_s,
            "n_slots": self.n_slots,
            "bin_s": self.bin_width_s,
            "n_bins": self.n_bins,
            "batch_packets": self.batch_packets,
        }


def littles_law(
    pool_pages: int, line_rate_gbps: float, hold_s: float | None = None, mtu: int = 4148
) -> dict:
    """Little's law for the pool: how long it lasts and where drops start.

    A queue that accepts ``lam`` packets/s and keeps each for ``W`` seconds holds
    ``L = lam * W`` packets on average. The pool holds ``pool_pages // k`` packets, so with
    every packet accepted the consumer may hold each for at most ``pool / lam`` seconds;
    above that the pool runs dry and the accepted rate is capped at ``pool / W``.

    Parameters
    ----------
    pool_pages : int
        net_iovs in the dma-buf (dma-buf size / 4096).
    line_rate_gbps : float
    hold_s : float, optional
        Mean hold time; adds the pool size and goodput predicted for it.
    mtu : int, default 4148 (4096-byte payload: one net_iov per packet)

    Returns
    -------
    dict
        ``packets_per_s``, ``pool_packets``, ``knee_hold_s`` (the largest mean hold that
        causes no steady-state drops), ``line_goodput_gbps``; with ``hold_s`` also
        ``knee_pool_pages`` (the smallest pool for that hold) and ``goodput_gbps`` predicted
        (``line_goodput * min(1, knee_hold / hold)``).

    Raises
    ------
    ValueError
        A bad parameter, named in the message.

    Examples
    --------
    >>> round(littles_law(16000, 400)["knee_hold_s"] * 1e3, 2)   # ms that 62.5 MiB lasts
    1.34
    """
    p = Params(pool_pages, line_rate_gbps, 0.0 if hold_s is None else hold_s, 1.0, 0, mtu,
               "fixed", 1, 0.0, 1.5, 1.0, 0.0, None).as_dict()
    pps = 1.0 / p["slot_s"]
    line = pps * p["payload_bytes"] * 8 / 1e9
    out = {
        "packets_per_s": pps,
        "pool_packets": p["pool_packets"],
        "knee_hold_s": p["pool_packets"] / pps,
        "line_goodput_gbps": line,
    }
    if hold_s is not None:
        out["knee_pool_pages"] = math.ceil(pps * p["hold_s"] - 1e-9) * p["niovs_per_packet"]
        ratio = 1.0 if p["hold_s"] == 0 else min(1.0, out["knee_hold_s"] / p["hold_s"])
        out["goodput_gbps"] = line * ratio
    return out


# --------------------------------------------------------------------------- simulator
def simulate(
    pool_pages: int,
    line_rate_gbps: float,
    hold_s: float,
    duration_s: float,
    seed: int = 0,
    *,
    mtu: int = 4148,
    dist: str = "exponential",
    batch: int = 1,
    rto_s: float = 1e-3,
    tail_alpha: float = 1.5,
    stall_every_s: float = 10e-3,
    stall_s: float = 2e-3,
    bin_s: float | None = None,
) -> pd.DataFrame:
    """Simulate one devmem rx queue whose consumer holds each fragment for ``hold_s``.

    Models ``net/core/devmem.c`` net_iov allocation from the dma-buf genpool, the token
    round trip through ``SO_DEVMEM_DONTNEED`` and drops on genpool exhaustion (see the
    module docstring for the simplifications).

    Parameters
    ----------
    pool_pages : int
        net_iovs in the bound dma-buf (size / 4096); ncdevmem uses 16000.
    line_rate_gbps : float
        Rate at which the sender keeps the link busy (> 0).
    hold_s : float
        Mean time the consumer keeps a fragment before its token is returned (>= 0).
    duration_s : float
        Simulated time (> 0).
    seed : int
        Seed for the hold times (``numpy.random.default_rng``).
    mtu : int, default 4148
        IP MTU; 4148 gives a 4096-byte payload, one net_iov per packet.
    dist : {"fixed", "exponential", "pareto", "stall"}, default "exponential"
        Hold-time distribution (see :func:`hold_times`); ``"stall"`` is a fixed hold plus
        periodic consumer stalls (:func:`stall_delay`).
    batch : int, default 1
        Tokens returned per ``SO_DEVMEM_DONTNEED`` call (rounded up to whole packets).
    rto_s : float, default 1e-3
        Delay before a dropped segment is retransmitted (Linux ``TCP_RTO_MIN`` is 200 ms;
        datacenter hosts lower it and fast retransmit is faster still).
    tail_alpha : float, default 1.5
        Pareto shape for ``dist="pareto"``.
    stall_every_s, stall_s : float, default 10 ms and 2 ms
        Stall period and length for ``dist="stall"``.
    bin_s : float, optional
        Width of a time-series row; default ``duration_s / 100``.

    Returns
    -------
    pandas.DataFrame
        Index ``t_s`` (bin start). Columns: ``free_pages`` (free net_iovs at the end of the
        bin), ``min_free_pages``, ``in_flight_pages`` (net_iovs held by the consumer or
        waiting for their batch), ``arrivals``, ``drops``, ``retransmits``,
        ``delivered_bytes``, ``goodput_gbps``. ``df.attrs`` keeps the parameters and
        derived values (``pool_packets``, ``slot_s``, ``n_slots``, ...).

    Raises
    ------
    ValueError
        Negative or non-numeric values, an unknown ``dist``, or a pool smaller than one
        packet; the message names the parameter.

    Examples
    --------
    >>> df = simulate(16000, 400, hold_s=2e-3, duration_s=0.01, dist="fixed")
    >>> s = summarize(df)
    >>> round(s["goodput_gbps"]), s["min_free_pages"]
    (262, 0)
    """
    import pandas as pd

    p = Params(pool_pages, line_rate_gbps, hold_s, duration_s, seed, mtu, dist, batch, rto_s,
               tail_alpha, stall_every_s, stall_s, bin_s).as_dict()
    n, M, B, k = p["n_slots"], p["pool_packets"], p["batch_packets"], p["niovs_per_packet"]
    T = p["slot_s"]
    hold_slots = p["hold_s"] / T
    stall = p["dist"] == "stall"
    every_u, stall_u = p["stall_every_s"] / T, p["stall_s"] / T
    rng = np.random.default_rng(p["seed"])
    slots_per_bin = p["bin_s"] / T
    nb = p["n_bins"]
    # slot s is in bin floor(s / slots_per_bin); bin_first[b] is the first slot of bin b
    bin_first = np.ceil(np.arange(nb) * slots_per_bin - 1e-9).astype(np.int64)

    arrivals = np.zeros(nb, np.int64)
    drops_b = np.zeros(nb, np.int64)
    min_free = np.full(nb, M, np.int64)
    end_free = np.full(nb, -1, np.int64)
    rtx = np.zeros(nb, np.int64)
    rto_slots = math.ceil(p["rto_s"] / T - _EPS)  # a drop at slot s is resent at s + rto_slots
    rtx_first = bin_first - rto_slots
    first_drop = math.nan

    free, part = M, 0  # free packet-units; completed, not yet returned
    pend = np.empty(0, np.int64)  # completion slots of accepted packets
    w_target = int(np.clip(M // 2, _W_MIN, _W_MAX))
    bufs = [np.empty(_W_MAX, np.int64) for _ in range(4)]  # C, Z, run_min, D per window
    s0 = 0
    while s0 < n:
        s1 = min(s0 + w_target, n)
        w = s1 - s0
        idx = np.arange(s0, s1, dtype=np.int64)
        if p["dist"] in ("fixed", "stall"):
            done = idx + hold_slots
        else:
            done = idx + _draw(rng, w, p["hold_s"], p["dist"], p["tail_alpha"]) / T
        if stall:
            done = stall_delay(done, every_u, stall_u)
        c = np.maximum(np.ceil(done - _EPS).astype(np.int64), idx + 1)
        in_win = c < s1
        c_loc = c - s0
        late = pend < s1
        base = np.bincount(pend[late] - s0, minlength=w)
        pend = pend[~late]
        zbase = free - np.arange(1, w + 1, dtype=np.int64)  # free units if all accepted

        # Start from "every packet accepted" and repeat until the window is self-consistent.
        # Flipping a packet's decision moves its return at slot c >= its own slot + 1, which
        # can only change decisions from c on: each pass redoes the suffix after the earliest
        # moved return, so the decided prefix grows every pass (causality => unique answer).
        counts = base + np.bincount(c_loc[in_win], minlength=w)
        C, Z, run_min, D = (buf[:w] for buf in bufs)
        dropped = np.zeros(w, bool)
        ds_buf = np.empty(w, bool)
        f, iters = 0, 0
        while True:
            iters += 1
            c0, m0, d0 = (C[f - 1], run_min[f - 1], D[f - 1]) if f else (0, free, 0)
            cs, z, rm, d, ds = C[f:], Z[f:], run_min[f:], D[f:], ds_buf[f:]
            np.cumsum(counts[f:], out=cs)
            if c0:
                cs += c0
            if B > 1:  # returns come B at a time
                np.add(cs, part, out=z)
                z //= B
                z *= B
                z += zbase[f:]
            else:
                np.add(cs, zbase[f:], out=z)
            np.minimum.accumulate(z, out=rm)
            np.minimum(rm, m0, out=rm)
            np.negative(rm, out=d)
            np.maximum(d, 0, out=d)
            ds[0] = d[0] > d0
            np.greater(d[1:], d[:-1], out=ds[1:])
            chg = ds != dropped[f:]
            chg &= in_win[f:]
            flip = np.flatnonzero(chg)
            dropped[f:] = ds
            if flip.size == 0:
                break
            flip += f
            cx = c_loc[flip]
            f = int(cx.min())
            # a newly dropped packet loses its return, a newly accepted one gains it
            sign = np.where(dropped[flip], -1, 1)
            counts[f:] += np.bincount(cx - f, weights=sign, minlength=w - f).astype(np.int64)
        acc = ~dropped

        G = Z + D  # free packet-units after each slot
        free = int(G[-1])
        part = int((part + C[-1]) % B)
        pend = np.concatenate((pend, c[acc & ~in_win]))

        # time series, per bin
        starts, ub = _add_by_bin(bin_first, s0, dropped, drops_b)
        arrivals[ub] += np.diff(np.append(starts, w))
        min_free[ub] = np.minimum(min_free[ub], np.minimum.reduceat(G, starts))
        end_free[ub] = G[np.append(starts[1:], w) - 1]
        if dropped.any():
            if math.isnan(first_drop):
                first_drop = float((s0 + np.argmax(dropped)) * T)
            if s0 < n - rto_slots:  # retransmissions that still fall inside the run
                _add_by_bin(rtx_first, s0, dropped[: n - rto_slots - s0], rtx)

        s0 = s1
        if iters > 6:
            w_target = max(w_target // 2, _W_MIN // 4)
        elif iters <= 2:
            w_target = min(w_target * 2, _W_MAX)

    accepted_b = arrivals - drops_b
    # bins without slots (bin narrower than a packet time) carry the previous state
    for arr in (end_free,):
        for i in np.flatnonzero(arr < 0):
            arr[i] = arr[i - 1] if i else M
    min_free = np.minimum(min_free, end_free)
    spare = p["pool_pages"] - M * k  # net_iovs no packet can use
    free_pages = end_free * k + spare
    t = np.arange(nb) * p["bin_s"]
    width = np.minimum(p["bin_s"], p["duration_s"] - t)
    delivered = accepted_b * p["payload_bytes"]
    df = pd.DataFrame(
        {
            "free_pages": free_pages,
            "min_free_pages": min_free * k + spare,
            "in_flight_pages": p["pool_pages"] - free_pages,
            "arrivals": arrivals,
            "drops": drops_b,
            "retransmits": rtx,
            "delivered_bytes": delivered,
            "goodput_gbps": delivered * 8 / width / 1e9,
        },
        index=pd.Index(t, name="t_s"),
    )
    p["first_drop_s"] = first_drop
    df.attrs.update(p)
    return df


def summarize(df: pd.DataFrame) -> dict:
    """Summarise a :func:`simulate` time series.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`simulate` (its ``attrs`` carry the run's parameters).

    Returns
    -------
    dict
        ``drops``, ``goodput_gbps`` (payload delivered over the whole run),
        ``min_free_pages``, ``arrivals``, ``drop_rate`` (drops / arrivals),
        ``retransmits``, ``line_goodput_gbps`` (goodput with no drops),
        ``goodput_share`` (goodput / line goodput), ``mean_free_pages`` (mean of the
        end-of-bin values), ``first_drop_s`` (NaN without drops) and ``knee_hold_s``
        (Little's law: the pool lasts that long at this rate).

    Raises
    ------
    ValueError
        ``df`` is not a simulate() result.
    """
    need = {"drops", "delivered_bytes", "min_free_pages", "arrivals"}
    if not hasattr(df, "columns") or not need <= set(df.columns) or "duration_s" not in df.attrs:
        raise ValueError("df must be a DataFrame returned by exhaustion.simulate()")
    a = df.attrs
    arrivals = int(df["arrivals"].sum())
    drops = int(df["drops"].sum())
    goodput = float(df["delivered_bytes"].sum()) * 8 / a["duration_s"] / 1e9
    line = arrivals * a["payload_bytes"] * 8 / a["duration_s"] / 1e9
    return {
        "drops": drops,
        "goodput_gbps": goodput,
        "min_free_pages": int(df["min_free_pages"].min()),
        "arrivals": arrivals,
        "drop_rate": drops / arrivals if arrivals else 0.0,
        "retransmits": int(df["retransmits"].sum()),
        "line_goodput_gbps": line,
        "goodput_share": goodput / line if line else 0.0,
        "mean_free_pages": float(df["free_pages"].mean()),
        "first_drop_s": a.get("first_drop_s", math.nan),
        "knee_hold_s": a["pool_packets"] * a["slot_s"],
    }


# --------------------------------------------------------------------------- emulator
def emulate(
    pool_pages: int,
    line_rate_gbps: float,
    hold_s: float,
    duration_s: float,
    seed: int = 0,
    *,
    mtu: int = 4148,
    batch: int = 1,
    queue: int = 15,
    port: int = 5201,
) -> dict:
    """Run the same queue on the emulator's own datapath and summarise it like :func:`summarize`.

    A :class:`devmem_lab.Lab` server is set up as ncdevmem does (header split, ntuple rule to
    ``queue``, a udmabuf of ``pool_pages`` pages bound to it with netdev ``bind-rx``); the
    client sends enough data
    to keep the link busy for ``duration_s``; the server reads with
    ``recvmsg(MSG_SOCK_DEVMEM)`` and returns each token ``hold_s`` after reading it
    (``batch`` tokens per ``SO_DEVMEM_DONTNEED``). IPv4, so the payload is ``mtu - 52``.

    Unlike :func:`simulate`, the sender is the emulator's TCP: a receive window, SACK and
    fast retransmit, and an out-of-order queue whose segments keep their net_iovs while a
    hole is repaired (as in the kernel). Runs without drops, or in which the consumer never
    gives tokens back before the end, agree with the simulator; past the knee, segments
    queued behind a lost one can hold every net_iov of a dma-buf smaller than the window,
    and the emulated flow stalls where the open-loop model keeps delivering.

    Returns
    -------
    dict
        ``drops`` (the queue's ``rx-alloc-fail`` from netdev ``qstats-get``),
        ``goodput_gbps`` (payload read by the application within ``duration_s`` of the first
        arrival), ``min_free_pages`` (pool size minus the page pool's ``inflight``, sampled at
        each read and token return), ``arrivals`` (packets accepted or dropped by the NIC),
        ``drop_rate``, ``retransmits`` (sender timeouts; the emulator's socket counter).

    Raises
    ------
    ValueError
        As :func:`simulate`; also ``mtu`` outside the lab's [1280, 9000].
    """
    import socket
    from functools import partial

    from devmem_lab import Lab, uapi
    from devmem_lab.scenario import ncdevmem_rx

    p = Params(pool_pages, line_rate_gbps, hold_s, duration_s, seed, mtu, "fixed", batch, 0.2,
               1.5, 1.0, 0.0, None).as_dict()
    if not 1280 <= p["mtu"] <= 9000:
        raise ValueError(f"mtu must be in [1280, 9000] for the emulator, got {mtu!r}")
    lab = Lab(seed=p["seed"], link_gbps=p["line_rate_gbps"], mtu=p["mtu"])
    srv = lab.server
    sc = ncdevmem_rx(lab, queue=queue, pages=p["pool_pages"], port=port, family=socket.AF_INET)
    netdev, client, conn = sc.netdev, sc.client, sc.conn  # binding lives as long as netdev
    pool_id = next(pp["id"] for pp in netdev.page_pool_dump() if pp.get("dmabuf") == sc.binding_id)

    st = {"min_free": p["pool_pages"], "done": []}

    def sample() -> None:  # free net_iovs = pool - the page pool's inflight count
        inflight = netdev.page_pool_get(pool_id)["inflight"]
        st["min_free"] = min(st["min_free"], p["pool_pages"] - inflight)

    def complete(tokens: list[int]) -> None:  # the consumer is done with these frags
        sample()
        st["done"].extend(tokens)
        while len(st["done"]) >= p["batch"]:
            out, st["done"] = st["done"][: p["batch"]], st["done"][p["batch"] :]
            for i in range(0, len(out), uapi.MAX_DONTNEED_TOKENS):
                conn.setsockopt(
                    socket.SOL_SOCKET,
                    uapi.SO_DEVMEM_DONTNEED,
                    uapi.pack_tokens(out[i : i + uapi.MAX_DONTNEED_TOKENS]),
                )

    start = lab.now_ns
    client.sendall(bytes(p["n_slots"] * p["payload_bytes"]))
    end = start + lab.delay_ns + round(p["duration_s"] * 1e9)
    hold_ns = round(p["hold_s"] * 1e9)
    delivered = 0
    while lab.now_ns < end:
        conn.settimeout((end - lab.now_ns) / 1e9)
        try:
            data, anc, _, _ = conn.recvmsg(1 << 20, 80_000, uapi.MSG_SOCK_DEVMEM)
        except (TimeoutError, BlockingIOError):
            break
        if not data:
            break
        delivered += len(data)
        sample()
        tokens = [cm.frag_token for kind, cm in uapi.parse_cmsgs(anc) if kind == "dmabuf"]
        lab.schedule(hold_ns, partial(complete, tokens))
    qs = netdev.qstats_get(srv.if_nametoindex("eth1"), scope="queue")
    q = next(x for x in qs if x.get("queue-type") == "rx" and x.get("queue-id") == queue)
    drops = q.get("rx-alloc-fail", 0)
    arrivals = q.get("rx-packets", 0) + drops
    netdev.close()
    return {
        "drops": drops,
        "goodput_gbps": delivered * 8 / p["duration_s"] / 1e9,
        "min_free_pages": st["min_free"],
        "arrivals": arrivals,
        "drop_rate": drops / arrivals if arrivals else 0.0,
        "retransmits": client.retransmits,
    }


# --------------------------------------------------------------------------- sweeps
_SWEEPABLE = (
    "pool_pages",
    "line_rate_gbps",
    "hold_s",
    "duration_s",
    "seed",
    "mtu",
    "dist",
    "batch",
    "rto_s",
    "tail_alpha",
    "stall_every_s",
    "stall_s",
)


def _run_case(kwargs: dict) -> dict:
    """Run one sweep case (module level so process pools can pickle it)."""
    return summarize(simulate(**kwargs))


def sweep(
    param: str,
    values: Iterable,
    *,
    executor: Executor | None = None,
    progress: bool = True,
    **base: Any,
) -> pd.DataFrame:
    """Run :func:`simulate` for each value of one parameter and tabulate the summaries.

    Parameters
    ----------
    param : str
        The parameter to vary (``"hold_s"``, ``"pool_pages"``, ``"line_rate_gbps"``, ...).
    values : iterable
        Its values; the rows keep this order.
    executor : concurrent.futures.Executor, optional
        Any executor (``ThreadPoolExecutor``, ``ProcessPoolExecutor``, a dask or ipyparallel
        one); ``None`` runs the cases one after another in this process.
    progress : bool, default True
        Show a tqdm progress bar (on stderr; pass False in notebooks that nbval checks).
    **base
        The other :func:`simulate` arguments; ``pool_pages``, ``line_rate_gbps``,
        ``hold_s`` and ``duration_s`` are required unless swept.

    Returns
    -------
    pandas.DataFrame
        Index named ``param``; one column per :func:`summarize` key.

    Raises
    ------
    ValueError
        Unknown ``param``, no values, or a bad parameter in any case (raised before any
        case runs).
    """
    import pandas as pd

    if param not in _SWEEPABLE:
        raise ValueError(f"param must be one of {', '.join(_SWEEPABLE)}, got {param!r}")
    if param in base:
        raise ValueError(f"param {param!r} is also given as a fixed argument")
    vals = list(values)
    if not vals:
        raise ValueError("values must not be empty")
    cases = [{**base, param: v} for v in vals]
    missing = {"pool_pages", "line_rate_gbps", "hold_s", "duration_s"} - set(cases[0])
    if missing:
        raise ValueError(f"sweep needs {', '.join(sorted(missing))}")
    unknown = set(cases[0]) - set(_SWEEPABLE) - {"bin_s", "pool_pages", "line_rate_gbps",
                                                  "hold_s", "duration_s"}
    if unknown:
        raise ValueError(f"unknown simulate() argument {min(unknown)!r}")
    first = Params(**cases[0])  # fail fast, in this process
    for v in vals[1:]:
        replace(first, **{param: v})
    results = map(_run_case, cases) if executor is None else executor.map(_run_case, cases)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(cases), desc=f"sweep {param}")
    rows = list(results)
    return pd.DataFrame(rows, index=pd.Index(vals, name=param))


# --------------------------------------------------------------------------- plotting
def plot_free_pool(runs: dict, ax=None):
    """Plot free net_iovs over time for several runs (label -> :func:`simulate` output).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4))
    for label, df in runs.items():
        ax.step(df.index * 1e3, df["free_pages"], where="post", lw=1.8, label=label)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("free net_iovs")
    ax.set_ylim(0, None)
    ax.legend(fontsize=8)
    return ax


def plot_sweep(
    table: pd.DataFrame,
    knee: float | None = None,
    scale: float = 1.0,
    xlabel: str | None = None,
    ax=None,
):
    """Plot goodput and drop rate of a :func:`sweep` table, with a Little's-law knee.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`sweep`.
    knee : float, optional
        Parameter value where Little's law puts the knee (vertical line).
    scale : float
        Multiplies the index for display (1e3 for ms, 1e-3 for thousands of pages).
    xlabel : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        The goodput axes (drop rate is on its twin).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4))
    x = np.asarray(table.index, dtype=float) * scale
    ax.plot(x, table["goodput_gbps"], "o-", color="tab:blue", label="goodput")
    ax.set_ylabel("goodput (Gb/s)", color="tab:blue")
    ax.set_ylim(0, None)
    ax2 = ax.twinx()
    ax2.plot(x, 100 * table["drop_rate"], "s--", color="tab:red", label="drops")
    ax2.set_ylabel("dropped packets (%)", color="tab:red")
    ax2.set_ylim(0, 100)
    if knee is not None:
        ax.axvline(knee * scale, color="0.3", ls=":", lw=1.5)
        ax.text(
            knee * scale, 0, " Little's law knee", rotation=90, va="bottom", fontsize=8, color="0.3"
        )
    ax.set_xlabel(xlabel or table.index.name)
    return ax
