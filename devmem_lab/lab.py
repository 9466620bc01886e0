"""The lab: two emulated hosts on one link, a virtual clock and an event queue.

Emulator only. Time is virtual (integer nanoseconds): nothing moves unless a reader blocks
(the lab advances until data arrives) or :meth:`Lab.run` is called. Events are kept in a heap
keyed ``(time_ns, seq)``: events due at the same nanosecond run in the order they were
scheduled (FIFO; ``seq`` counts every ``schedule``/``schedule_at`` call), one scheduled for the
past runs now, after those already due. All randomness comes from one seeded
``random.Random``. An event callback must not run the clock itself (``run``, ``run_until``,
``step``, or a blocking read): that raises ``RuntimeError``, as events would otherwise run
out of order inside one another.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from functools import reduce
from itertools import repeat
from operator import add

from .host import Host
from .kernel.state import KERNELS

__all__ = ["Lab"]

WIRE_OVERHEAD = 24  # preamble + SFD + FCS + inter-frame gap, bytes per frame


class Lab:
    """Two hosts, ``server`` and ``client``, joined by a point-to-point link.

    Parameters
    ----------
    seed
        Seeds every random choice (ephemeral ports, RSS key stays the default).
    kernel
        ``"6.18"`` (default, current mainline behaviour) or ``"6.12"`` (first devmem release).
    link_gbps
        Line rate of the link in Gb/s.
    mtu
        MTU of both NICs (payload per packet = MTU - IP - TCP(+timestamps) headers).
    delay_us
        One-way propagation delay of the link.
    wakeup_us
        How long after data arrives a blocked reader runs (scheduler wake-up); packets that
        arrive meanwhile are read by the same call.
    combined
        Combined channels (rx/tx queue pairs) of each NIC at start.
    netmem_tx
        Whether the NIC driver supports devmem TX (``netdev->netmem_tx``); ``False`` models
        the many drivers that do not: bind-tx is refused with EOPNOTSUPP.
    """

    def __init__(self, seed: int = 0, kernel: str = "6.18", *, link_gbps: float = 100.0,
                 mtu: int = 1500, delay_us: float = 5.0, wakeup_us: float = 5.0,
                 combined: int = 16, netmem_tx: bool = True) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
        for name, value in (("link_gbps", link_gbps), ("delay_us", delay_us),
                            ("wakeup_us", wakeup_us)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if isinstance(mtu, bool) or not isinstance(mtu, int) or not 1280 <= mtu <= 9000:
            raise ValueError(f"mtu must be an int in [1280, 9000], got {mtu!r}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.kernel = kernel
        self.link_gbps = float(link_gbps)
        self.mtu = mtu
        self.delay_ns = int(delay_us * 1000)
        self.wakeup_ns = int(wakeup_us * 1000)
        self.now_ns = 0
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._in_event = False  # a callback is running: the clock must not be run again
        version = KERNELS[kernel]
        self.server = Host(self, "server", version, address="2001:db8::1",
                           address4="192.0.2.1", mac="02:00:00:00:00:01", combined=combined,
                           mtu=mtu, netmem_tx=netmem_tx)
        self.client = Host(self, "client", version, address="2001:db8::2",
                           address4="192.0.2.2", mac="02:00:00:00:00:02", combined=combined,
                           mtu=mtu, netmem_tx=netmem_tx)
        self.hosts = (self.server, self.client)
        self._busy_until = {"server": 0.0, "client": 0.0}

    def __repr__(self) -> str:
        return f"Lab(seed={self.seed}, kernel={self.kernel!r}, t={self.now:.6f}s)"

    @property
    def now(self) -> float:
        """Virtual time in seconds."""
        return self.now_ns / 1e9

    def peer_of(self, host: Host) -> Host:
        return self.client if host is self.server else self.server

    def host_by_address(self, address: str) -> Host | None:
        for host in self.hosts:
            if address in (host.address, host.address4):
                return host
        return None

    def netns_by_address(self, address: str):
        """The network namespace that owns ``address`` (:class:`~devmem_lab.kernel.netns.Link`)."""
        host = self.host_by_address(address)
        return None if host is None else host.netns

    # ---- events -----------------------------------------------------------------------
    def schedule(self, delay_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` ``delay_ns`` after now."""
        self._seq += 1
        heapq.heappush(self._events, (self.now_ns + max(0, int(delay_ns)), self._seq, fn))

    def schedule_at(self, t_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at virtual time ``t_ns`` (never in the past)."""
        self._seq += 1
        heapq.heappush(self._events, (max(self.now_ns, t_ns), self._seq, fn))

    def wire(self, src, frame_bytes: int) -> int:
        """Put a frame on the wire from ``src``; returns when it has fully arrived (ns).

        Frames from one host are serialised one after another at line rate, then delayed by
        the propagation delay.
        """
        return self.wire_run(src, frame_bytes, 0, frame_bytes)

    def wire_run(self, src, frame_bytes: int, count: int, last_bytes: int) -> int:
        """:meth:`wire` for ``count`` frames of ``frame_bytes`` and then one of ``last_bytes``;
        returns when the last has arrived (ns), to the nanosecond what frame-by-frame gives."""
        ser = (frame_bytes + WIRE_OVERHEAD) * 8 / self.link_gbps
        busy = max(self.now_ns, self._busy_until[src.name])
        busy = reduce(add, repeat(ser, count), busy)  # one addition per frame, in order
        busy += (last_bytes + WIRE_OVERHEAD) * 8 / self.link_gbps
        self._busy_until[src.name] = busy
        return int(busy) + self.delay_ns

    def step(self) -> bool:
        """Run the next event; False when none is pending."""
        if self._in_event:
            self._reentered()
        if not self._events:
            return False
        t, _, fn = heapq.heappop(self._events)
        self._advance_to(t)
        self._in_event = True
        try:
            fn()
        finally:
            self._in_event = False
        return True

    def _reentered(self):
        raise RuntimeError("the lab's clock was run from inside an event callback (Lab.run, "
                           "run_until, step or a blocking read in a scheduled function); "
                           "schedule the work with lab.schedule instead")

    def _advance_to(self, t: int) -> None:
        self.now_ns = max(self.now_ns, t)
        s = self.now_ns // 1_000_000_000
        for host in self.hosts:
            host.kernel.now_s = s

    def run(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, running every event due in that span."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
        if self._in_event:
            self._reentered()
        end = self.now_ns + int(seconds * 1e9)
        while self._events and self._events[0][0] <= end:
            self.step()
        self._advance_to(end)

    def run_until(self, predicate: Callable[[], bool], deadline_ns: int | None = None) -> bool:
        """Run events until ``predicate()`` holds; False if events ran out or the deadline passed."""
        if self._in_event:
            self._reentered()
        while not predicate():
            if not self._events or (deadline_ns is not None and self._events[0][0] > deadline_ns):
                if deadline_ns is not None:
                    self._advance_to(deadline_ns)
                return False
            self.step()
        return True
