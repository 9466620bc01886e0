"""A live view of a binding's net_iov pool while you read and return tokens.

Models what ``net/core/devmem.c`` (the genpool of net_iovs, ``net_devmem_alloc_dmabuf``),
``net/ipv4/tcp.c`` (``tcp_recvmsg_dmabuf`` takes a reference per token) and
``net/core/sock.c`` (``sock_devmem_dontneed`` drops it) do to the free count. Each net_iov is
in one of four places: free in the genpool, posted to the driver's rx ring (taken from the
genpool by the page pool, waiting for the NIC: ``devmem_lab/kernel/nic/ring.py``), filled by
the NIC and queued on the socket (not read yet), or read and held by the application (its
token not returned yet).

Pure parts: :func:`pool_state` (one snapshot), :func:`pool_trace` (a scripted run as a
DataFrame, for a static plot) and :func:`plot_pool`. :func:`pool_view` wires two buttons and
two sliders to :meth:`PoolView.read` and :meth:`PoolView.give_back`; results live on the
returned object::

    ui = pool_view(lab, conn, binding_id)
    ui.controls["read_packets"].value = 16
    ui.controls["read"].click()            # exactly what pressing the button does
    ui.result["free"], ui.result["held"]

ipywidgets is imported when a view is built, matplotlib and pandas when used.
"""

from __future__ import annotations

import errno
import html
import socket
from dataclasses import dataclass, field
from typing import Any

from .. import uapi

__all__ = ["PoolView", "plot_pool", "pool_state", "pool_trace", "pool_view"]

_BAR_LABEL = {"free": "free", "posted": "posted (rx ring)", "in_socket": "on the socket",
              "held": "held (tokens)"}
WAIT_S = 5.0  # virtual seconds a read waits for data (a few retransmission timeouts)


def pool_state(binding, conn, rxq, t_s: float = 0.0) -> dict[str, Any]:
    """One snapshot of the pool: where the net_iovs are and what the NIC counted.

    Keys: ``t_s``, ``niovs``, ``free``, ``posted`` (on the rx ring), ``in_socket`` (filled,
    not read), ``held`` (tokens the application holds), ``alloc_fail`` and ``hw_drops`` (the
    queue's counters), ``packets``.
    """
    held = conn.tokens_held
    posted = binding.posted_count
    inflight = binding.num_niovs - binding.free_count
    return {"t_s": round(float(t_s), 6), "niovs": binding.num_niovs, "free": binding.free_count,
            "posted": posted, "in_socket": max(inflight - posted - held, 0), "held": held,
            "alloc_fail": rxq.stats.alloc_fail, "hw_drops": rxq.stats.hw_drops,
            "packets": rxq.stats.packets}


@dataclass(eq=False)
class PoolView:
    """A socket on a bound queue, the tokens it holds and the history of the pool."""

    lab: Any = field(repr=False)
    conn: Any = field(repr=False)
    binding_id: int
    wait_s: float = WAIT_S
    held_tokens: list[int] = field(default_factory=list, repr=False)
    history: list[dict] = field(default_factory=list, repr=False)
    result: dict | None = None
    controls: dict[str, Any] = field(default_factory=dict, repr=False)
    widget: Any = field(default=None, repr=False)
    _view: Any = field(default=None, repr=False)
    _bars: dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        r = self.result or {}
        return (f"PoolView(binding {self.binding_id}: free={r.get('free')}, "
                f"in_socket={r.get('in_socket')}, held={r.get('held')}, "
                f"alloc_fail={r.get('alloc_fail')})")

    @property
    def binding(self):
        return self.conn.netns.kernel.bindings[self.binding_id]

    @property
    def rxq(self):
        return self.conn.netns.nic.rx_queues[self.binding.queues[0]]

    def snapshot(self, action: str = "start") -> dict:
        state = pool_state(self.binding, self.conn, self.rxq, self.lab.now)
        state["action"] = action
        self.result = state
        self.history.append(state)
        self._render()
        return state

    def read(self, packets: int) -> dict:
        """One ``recvmsg(MSG_SOCK_DEVMEM)`` of about ``packets`` segments, waiting at most
        ``wait_s`` of virtual time for data; the tokens are kept, not returned."""
        size = max(1, int(packets)) * self.conn.mss
        before = self.conn.gettimeout()
        self.conn.settimeout(self.wait_s)
        try:
            data, anc, _fl, _ad = self.conn.recvmsg(size, 80000, uapi.MSG_SOCK_DEVMEM)
        except TimeoutError:
            return self.snapshot(f"recvmsg: nothing in {self.wait_s:g} s")
        except OSError as exc:
            return self.snapshot(f"recvmsg: {errno.errorcode.get(exc.errno, exc.errno)}")
        finally:
            self.conn.settimeout(before)
        toks = [c.frag_token for kind, c in uapi.parse_cmsgs(anc) if kind == "dmabuf"]
        self.held_tokens += toks
        return self.snapshot(f"recvmsg: {len(data)} B, {len(toks)} tokens" if data else
                             "recvmsg: EOF")

    def give_back(self, count: int) -> dict:
        """Return the ``count`` oldest held tokens with one ``SO_DEVMEM_DONTNEED``."""
        count = max(0, int(count))
        toks, self.held_tokens = self.held_tokens[:count], self.held_tokens[count:]
        freed = self.conn.setsockopt(socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED,
                                     uapi.pack_tokens(toks)) if toks else 0
        return self.snapshot(f"DONTNEED: {freed} freed")

    # ---- display --------------------------------------------------------------------------
    def _render(self) -> None:
        if self._view is None or self.result is None:
            return
        r = self.result
        for key, bar in self._bars.items():
            bar.value = r[key]
            bar.description = f"{_BAR_LABEL[key]}: {r[key]}"
        self._view.value = (f"<pre>t = {r['t_s']:.3f} s   {html.escape(r['action'])}\n"
                            f"NIC: {r['packets']} packets placed, {r['alloc_fail']} dropped "
                            f"for lack of a free net_iov</pre>")

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a frontend
        from .display import show

        show(self.widget, repr(self))


def pool_view(lab, conn, binding_id: int, *, wait_s: float = WAIT_S) -> PoolView:
    """Build the pool view for ``conn`` (a socket whose flow lands on a bound queue).

    Returns
    -------
    PoolView
        ``.controls``: ``read_packets`` and ``return_tokens`` (IntSliders), ``read`` and
        ``return`` (Buttons); ``.result`` is the latest :func:`pool_state` plus ``action``;
        ``.history`` every snapshot so far.
    """
    import ipywidgets as w

    ui = PoolView(lab, conn, binding_id, wait_s)
    n = ui.binding.num_niovs
    style = {"description_width": "9em"}
    ui.controls = {
        "read_packets": w.IntSlider(value=8, min=1, max=n, description="packets per read",
                                    style=style, layout=w.Layout(width="22em")),
        "return_tokens": w.IntSlider(value=8, min=0, max=n, description="tokens to return",
                                     style=style, layout=w.Layout(width="22em")),
        "read": w.Button(description="recvmsg", layout=w.Layout(width="17em")),
        "return": w.Button(description="SO_DEVMEM_DONTNEED", layout=w.Layout(width="17em")),
    }
    ui._bars = {key: w.IntProgress(value=0, min=0, max=n, description=key, style=style,
                                   layout=w.Layout(width="30em"))
                for key in ("free", "posted", "in_socket", "held")}
    ui._view = w.HTML()
    ui.controls["read"].on_click(lambda _b: ui.read(ui.controls["read_packets"].value))
    ui.controls["return"].on_click(lambda _b: ui.give_back(ui.controls["return_tokens"].value))
    ui.widget = w.VBox([
        w.HBox([ui.controls["read_packets"], ui.controls["read"]]),
        w.HBox([ui.controls["return_tokens"], ui.controls["return"]]),
        *ui._bars.values(), ui._view])
    ui.snapshot("start")
    return ui


def pool_trace(actions: list[tuple[str, int]], *, niovs: int = 64, nbytes: int = 1 << 20,
               seed: int = 0, wait_s: float = WAIT_S):
    """Play ``actions`` (``("read", packets)`` / ``("return", tokens)``) on a fresh lab.

    The client sends ``nbytes`` to a server whose queue is bound to ``niovs`` pages; returns
    a DataFrame indexed by ``step`` with the :func:`pool_state` columns and ``action``.
    """
    import pandas as pd

    from .. import Lab
    from ..teach.scenario import devmem_server

    srv = devmem_server(Lab(seed=seed), niovs=niovs)
    conn = srv.connect(bytes(nbytes))
    ui = PoolView(srv.lab, conn, srv.binding_id, wait_s)
    ui.snapshot("start")
    for kind, amount in actions:
        if kind == "read":
            ui.read(amount)
        elif kind == "return":
            ui.give_back(amount)
        else:
            raise ValueError(f"unknown action {kind!r}: use 'read' or 'return'")
    df = pd.DataFrame(ui.history)
    df.index.name = "step"
    return df


def plot_pool(df, ax=None):
    """Stacked areas of free / posted / in-socket / held net_iovs per step; returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.stackplot(df.index, df["free"], df["posted"], df["in_socket"], df["held"],
                 labels=["free (genpool)", "posted to the rx ring", "queued on the socket",
                         "held by the app (tokens)"],
                 colors=["tab:green", "tab:blue", "tab:orange", "tab:red"], alpha=0.8,
                 step="post")
    ax.plot(df.index, df["alloc_fail"].clip(upper=df["niovs"].max()), "k:", drawstyle="steps-post",
            label="NIC drops (clipped)")
    ax.set_xlabel("step (one read or one token return)")
    ax.set_ylabel("net_iovs")
    ax.set_ylim(0, df["niovs"].max())
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax
