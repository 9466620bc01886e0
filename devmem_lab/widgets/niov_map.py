"""The net_iov map: a binding's dma-buf as a grid of cells, one per net_iov, coloured by state.

A net_iov (``include/net/netmem.h``) is in one of these places at any moment:

- ``free``: in the binding's genpool (``net/core/devmem.c``, ``net_devmem_alloc_dmabuf``; emulated in ``devmem_lab/kernel/devmem.py``);
- ``posted``: taken from the genpool by the page pool and posted to the driver's rx ring,
  waiting for the NIC to fill it (``net/core/page_pool.c``; bnxt fills the ring when the queue
  starts and refills each consumed entry: ``devmem_lab/kernel/nic/ring.py``);
- ``in skb``: holds payload of an skb queued on the socket, in order or out of order, not read
  yet (``net/ipv4/tcp_input.c``);
- ``held``: read with ``recvmsg(MSG_SOCK_DEVMEM)``; the application holds its token
  (``net/ipv4/tcp.c``, ``tcp_recvmsg_dmabuf``) until ``SO_DEVMEM_DONTNEED``
  (``net/core/sock.c``) returns it;
- ``in flight (TX)``: a net_iov of a TX-bound dma-buf that unacked data in a socket's send
  queue references (6.16+, ``net/core/devmem.c``, ``net/ipv4/tcp.c``): the NIC may read it
  again for a retransmission; after the ACK the zerocopy completion tells the sender it may
  reuse it. See :func:`tx_inflight_niovs`.

:func:`niov_states` is the only code that reads per-net_iov state out of the emulated kernel
(port it when the kernel modules move). :func:`plot_niov_map` draws a static map;
:func:`niov_map` is the JupyterLab widget (buttons drive the lab), results on the returned
object::

    ui = niov_map(lab, conn, binding_id)
    ui.controls["read"].click()           # exactly what pressing the button does
    ui.result["held"], ui.states           # counts per state, state per net_iov

numpy only at import; ipywidgets and matplotlib are imported when used.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["COLORS", "STATES", "NiovMap", "count_states", "niov_map", "niov_states",
           "plot_niov_map", "tx_inflight_niovs"]

STATES = ("free", "posted", "in skb", "held", "in flight (TX)")
FREE, POSTED, IN_SKB, HELD, TX = range(len(STATES))
COLORS = ("#8fd19e", "#9ec5fe", "#ffc107", "#dc3545", "#6f42c1")  # legible when printed grey
LABELS = ("free in the genpool", "posted to the rx ring", "in an skb on the socket",
          "held by the app (token)", "in flight (TX)")


def tx_inflight_niovs(binding, socks=()) -> np.ndarray:
    """Indices of TX ``binding``'s net_iovs that unacked data in the send queues of ``socks``
    references (``SO_ZEROCOPY`` + ``SCM_DEVMEM_DMABUF`` sendmsg, 6.16+), ascending; empty for
    an RX binding. Asks the kernel (``kernel/tcp/send.py``, ``tx_inflight_niovs``)."""
    from ..kernel.devmem_tx import is_tx
    from ..kernel.tcp.send import tx_inflight_niovs as query

    if not is_tx(binding):
        return np.empty(0, dtype=np.int64)
    return query(binding, socks)


def niov_states(binding, socks=()) -> np.ndarray:
    """The state of every net_iov of ``binding`` as an int8 array (index into :data:`STATES`).

    ``socks``: the sockets whose queues, token tables and send queues to look at; posted
    net_iovs come from the rx rings of the binding's queues. A net_iov taken from the genpool
    that is neither posted nor held by one of ``socks`` counts as ``in skb`` (another
    socket's). Held wins over in-skb: a partly read skb still lists the frags whose tokens the
    application holds. A TX binding's net_iovs are ``free`` unless in flight.
    """
    n = binding.num_niovs
    state = np.full(n, IN_SKB, dtype=np.int8)
    state[binding.free_niovs] = FREE
    posted = getattr(binding, "posted_niovs", None)
    if posted is not None and len(posted):
        state[posted] = POSTED
    for sock in socks:
        for skb in (*sock._rq, *sock._ooo.values()):
            if skb.binding is binding and len(skb.niovs):
                state[skb.niovs] = IN_SKB
        tok = sock._tok_niov
        live = tok >= 0
        if live.any():
            mine = np.array([b is binding for b in sock._tok_bindings], dtype=bool)
            live &= mine[sock._tok_bind]
            state[tok[live]] = HELD
    tx = tx_inflight_niovs(binding, socks)
    if len(tx):
        state[tx] = TX
    return state


def count_states(states: np.ndarray) -> dict[str, int]:
    """``{state name: how many net_iovs}`` for a :func:`niov_states` array."""
    counts = np.bincount(states, minlength=len(STATES))
    return {name: int(c) for name, c in zip(STATES, counts)}


def _grid_shape(n: int, cols: int | None) -> tuple[int, int]:
    cols = cols or (16 if n <= 256 else 32)
    return int(np.ceil(n / cols)), cols


def plot_niov_map(states: np.ndarray, ax=None, *, cols: int | None = None,
                  title: str | None = None, niov_size: int = 4096):
    """The dma-buf as a grid: cell *i* is net_iov *i* (offset ``i * niov_size``), rows in
    address order; the legend counts each state. Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    n = len(states)
    rows, cols = _grid_shape(n, cols)
    grid = np.full(rows * cols, -1, dtype=float)
    grid[:n] = states
    grid = np.ma.masked_less(grid.reshape(rows, cols), 0)
    if ax is None:
        _fig, ax = plt.subplots(figsize=(7.5, max(1.6, 0.28 * rows + 1.3)))
    cmap = ListedColormap(COLORS).with_extremes(bad="white")
    ax.pcolormesh(grid, cmap=cmap, vmin=-0.5, vmax=len(STATES) - 0.5, edgecolors="white",
                  linewidth=1.0)
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    step = max(1, rows // 4)
    ax.set_yticks(np.arange(0, rows, step) + 0.5,
                  [f"{r * cols * niov_size // 1024} KiB" for r in range(0, rows, step)])
    ax.set_ylabel("offset in the dma-buf")
    ax.tick_params(axis="y", length=0)
    counts = count_states(states)
    handles = [Patch(facecolor=c, label=f"{label}: {counts[s]}")
               for s, c, label in zip(STATES, COLORS, LABELS)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              title=f"{n} net_iovs of {niov_size // 1024} KiB")
    if title:
        ax.set_title(title)
    return ax


@dataclass(eq=False)
class NiovMap:
    """A socket on a bound queue, its held tokens, and the map of the binding's net_iovs.

    ``states``: the latest :func:`niov_states`; ``result``: its counts plus ``t_s``,
    ``action`` and the queue's ``alloc_fail``; ``history``: every result so far.
    """

    lab: Any = field(repr=False)
    conn: Any = field(repr=False)
    binding_id: int
    states: np.ndarray | None = field(default=None, repr=False)
    result: dict | None = None
    history: list[dict] = field(default_factory=list, repr=False)
    controls: dict[str, Any] = field(default_factory=dict, repr=False)
    widget: Any = field(default=None, repr=False)
    pool: Any = field(default=None, repr=False)
    _image: Any = field(default=None, repr=False)
    _text: Any = field(default=None, repr=False)

    def __repr__(self) -> str:
        r = self.result or {}
        counts = ", ".join(f"{s}={r.get(s)}" for s in STATES)
        return f"NiovMap(binding {self.binding_id}: {counts})"

    @property
    def binding(self):
        return self.conn.netns.kernel.bindings[self.binding_id]

    def snapshot(self, action: str = "start") -> dict:
        self.states = niov_states(self.binding, [self.conn])
        rxq = self.conn.netns.nic.rx_queues[self.binding.queues[0]]
        self.result = {"t_s": round(float(self.lab.now), 6), "action": action,
                       **count_states(self.states), "alloc_fail": rxq.stats.alloc_fail}
        self.history.append(self.result)
        self._render()
        return self.result

    def arrive(self, microseconds: float) -> dict:
        """Let the link run for ``microseconds`` of virtual time: packets land in net_iovs."""
        self.lab.run(max(0.0, float(microseconds)) * 1e-6)
        return self.snapshot(f"{microseconds:g} us of traffic")

    def read(self, packets: int) -> dict:
        """One ``recvmsg(MSG_SOCK_DEVMEM)`` of about ``packets`` segments; tokens kept."""
        self.pool.read(packets)
        return self.snapshot(self.pool.result["action"])

    def give_back(self, count: int) -> dict:
        """Return the ``count`` oldest held tokens with ``SO_DEVMEM_DONTNEED``."""
        self.pool.give_back(count)
        return self.snapshot(self.pool.result["action"])

    def figure(self):
        """The current map as a new matplotlib Figure."""
        r = self.result
        ax = plot_niov_map(self.states, niov_size=self.binding.niov_size,
                           title=f"t = {1e3 * r['t_s']:.3f} ms: {r['action']}")
        return ax.figure

    def _render(self) -> None:
        if self._image is None:
            return
        import matplotlib.pyplot as plt

        fig = self.figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        self._image.value = buf.getvalue()
        r = self.result
        self._text.value = (f"<pre>{html.escape(r['action'])}; NIC drops for lack of a free "
                            f"net_iov so far: {r['alloc_fail']}</pre>")

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a frontend
        from .display import show

        show(self.widget, repr(self))


def niov_map(lab, conn, binding_id: int, *, wait_s: float = 5.0) -> NiovMap:
    """Build the net_iov map widget for ``conn`` (a socket whose flow lands on a bound queue).

    Returns
    -------
    NiovMap
        ``.controls``: ``arrive_us`` / ``read_packets`` / ``return_tokens`` (IntSliders) and
        the buttons ``arrive``, ``read`` and ``return`` beside them; ``.states``/``.result``
        describe the map after the last action.
    """
    import ipywidgets as w

    from .pool import PoolView

    ui = NiovMap(lab, conn, binding_id)
    ui.pool = PoolView(lab, conn, binding_id, wait_s)
    n = ui.binding.num_niovs
    style = {"description_width": "9em"}
    wide = w.Layout(width="22em")
    button = w.Layout(width="17em")
    ui.controls = {
        "arrive_us": w.IntSlider(value=20, min=1, max=200, description="traffic (us)",
                                 style=style, layout=wide),
        "arrive": w.Button(description="let packets arrive", layout=button),
        "read_packets": w.IntSlider(value=8, min=1, max=n, description="packets per read",
                                    style=style, layout=wide),
        "read": w.Button(description="recvmsg", tooltip="recvmsg(MSG_SOCK_DEVMEM)",
                         layout=button),
        "return_tokens": w.IntSlider(value=8, min=0, max=n, description="tokens to return",
                                     style=style, layout=wide),
        "return": w.Button(description="SO_DEVMEM_DONTNEED", layout=button),
    }
    c = ui.controls
    c["arrive"].on_click(lambda _b: ui.arrive(c["arrive_us"].value))
    c["read"].on_click(lambda _b: ui.read(c["read_packets"].value))
    c["return"].on_click(lambda _b: ui.give_back(c["return_tokens"].value))
    ui._image = w.Image(format="png", layout=w.Layout(max_width="100%"))
    ui._text = w.HTML()
    ui.widget = w.VBox([w.HBox([c["arrive_us"], c["arrive"]]),
                        w.HBox([c["read_packets"], c["read"]]),
                        w.HBox([c["return_tokens"], c["return"]]), ui._image, ui._text])
    ui.snapshot("start")
    return ui
