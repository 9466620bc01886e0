"""Interactive explorers for the analysis notebooks (06 memory bandwidth, 07 exhaustion).

Each function returns an :class:`Explorer`: ``.controls`` maps a parameter name to its
ipywidget, ``.result`` holds the output of the pure function for the current values and is
recomputed by ``observe`` callbacks, ``.widget`` is the box to display. Setting a control's
``.value`` in code does exactly what dragging the slider does, so tests drive them directly::

    ui = exhaustion_explorer(seed=0)
    ui.controls["pool_pages"].value = 4096
    ui.result["drops"]

The pure functions are :func:`devmem_lab.bandwidth.host_memory_traffic` and
:func:`devmem_lab.exhaustion.simulate` / :func:`~devmem_lab.exhaustion.summarize`.
ipywidgets and matplotlib are imported when an explorer is built, not with the package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Explorer", "bandwidth_explorer", "exhaustion_explorer", "plot_dram_bars"]


@dataclass(eq=False)
class Explorer:
    """Controls, the latest result and the displayable box of an interactive explorer."""

    name: str
    controls: dict[str, Any]
    result: Any = None
    widget: Any = field(default=None, repr=False)
    output: Any = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    _update: Callable[[], None] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={w.value!r}" for k, w in self.controls.items())
        return f"Explorer({self.name}: {vals})"

    def values(self) -> dict[str, Any]:
        """Current value of every control."""
        return {k: w.value for k, w in self.controls.items()}

    def refresh(self) -> None:
        """Recompute ``result`` (and the plot) for the current control values."""
        if self._update is not None:
            self._update()

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a frontend
        from .display import show

        show(self.widget, repr(self))


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _wire(ui: Explorer, compute: Callable[[dict], Any], draw: Callable | None) -> Explorer:
    """Attach observe callbacks: any control change recomputes and redraws."""
    import ipywidgets as w

    ui.output = w.Output()

    def update(_change: Any = None) -> None:
        ui.result = compute(ui.values())
        if draw is None:
            return
        import matplotlib.pyplot as plt

        if not _in_kernel():  # plain Python (tests): draw, show nothing
            plt.close(draw(ui))
            return
        with ui.output:
            ui.output.clear_output(wait=True)
            fig = draw(ui)
            plt.show()
            plt.close(fig)

    for ctl in ui.controls.values():
        ctl.observe(update, names="value")
    ui._update = update
    ctls = list(ui.controls.values())
    ui.widget = w.VBox([w.HBox(ctls[:3]), w.HBox(ctls[3:]), ui.output])
    update()
    return ui


# --------------------------------------------------------------------------- bandwidth
NO_DEVMEM = "no devmem path:\nheader split is off,\nbind-rx refuses\nthe queue"


def plot_dram_bars(df, ax=None):
    """Host DRAM GB/s per receive path (a :func:`~devmem_lab.bandwidth.host_memory_traffic`
    frame) against the DDR5 peaks. A path the settings rule out (devmem without header
    split: NaN) gets a note saying why instead of a bar at 0. Returns the Axes."""
    import matplotlib.pyplot as plt

    from devmem_lab import bandwidth

    if ax is None:
        _fig, ax = plt.subplots(figsize=(6.4, 3.4))
    colors = {"copy": "tab:red", "zerocopy": "tab:orange", "devmem": "tab:green"}
    gbps = df["dram_GBps"]
    ax.bar(df.index, gbps.fillna(0), color=[colors.get(p, "tab:blue") for p in df.index])
    top = max(float(gbps.max(skipna=True) or 0), max(bandwidth.DRAM_PEAK_GBPS.values()))
    for x, (path, missing) in enumerate(gbps.isna().items()):
        if missing:  # NaN: this path does not exist with these settings
            ax.text(x, top * 0.62, NO_DEVMEM if path == "devmem" else "not possible here",
                    ha="center", va="bottom", fontsize=9, color="0.2")
    for (label, gb), ls in zip(bandwidth.DRAM_PEAK_GBPS.items(), ("--", ":")):
        ax.axhline(gb, color="0.3", ls=ls, lw=1, label=f"{label} peak")
    ax.set_ylim(0, top * 1.25)
    ax.set_xlabel("receive path")
    ax.set_ylabel("host DRAM traffic (GB/s)")
    ax.legend(loc="upper right")
    return ax


def bandwidth_explorer(
    line_rate_gbps: float = 200.0,
    mtu: int = 1500,
    nics: int = 1,
    ddio_share: float = 0.0,
    header_split: bool = True,
    plot: bool = True,
) -> Explorer:
    """Sliders for :func:`devmem_lab.bandwidth.host_memory_traffic`.

    Controls: ``line_rate_gbps``, ``mtu``, ``nics``, ``ddio_share``, ``header_split``.
    ``.result`` is the DataFrame indexed by path; the plot shows host DRAM GB/s per path
    against the DDR5 peaks.

    Parameters
    ----------
    line_rate_gbps, mtu, nics, ddio_share, header_split
        Initial control values.
    plot : bool
        Redraw a bar chart on every change (False: compute only, e.g. in tests).
    """
    import ipywidgets as w

    from devmem_lab import bandwidth

    style = {"description_width": "initial"}
    controls = {
        "line_rate_gbps": w.FloatSlider(
            value=line_rate_gbps,
            min=0,
            max=800,
            step=25,
            description="Gb/s per NIC",
            style=style,
            continuous_update=False,
        ),
        "mtu": w.IntSlider(
            value=mtu,
            min=576,
            max=9216,
            step=4,
            description="MTU",
            style=style,
            continuous_update=False,
        ),
        "nics": w.IntSlider(
            value=nics, min=1, max=16, description="NICs", style=style, continuous_update=False
        ),
        "ddio_share": w.FloatSlider(
            value=ddio_share,
            min=0,
            max=1,
            step=0.05,
            description="DDIO share",
            style=style,
            continuous_update=False,
        ),
        "header_split": w.Checkbox(value=header_split, description="header split"),
    }

    def compute(v: dict) -> Any:
        return bandwidth.host_memory_traffic(
            v["line_rate_gbps"],
            v["mtu"],
            v["nics"],
            header_split=v["header_split"],
            ddio_share=v["ddio_share"],
        )

    def draw(ui: Explorer):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        plot_dram_bars(ui.result, ax=ax)
        v = ui.values()
        ax.set_title(f"{v['nics']} x {v['line_rate_gbps']:g} Gb/s, MTU {v['mtu']}")
        return fig

    return _wire(Explorer("bandwidth", controls), compute, draw if plot else None)


# --------------------------------------------------------------------------- exhaustion
def exhaustion_explorer(
    seed: int = 0,
    pool_pages: int = 2048,
    line_rate_gbps: float = 200.0,
    hold_us: float = 500.0,
    dist: str = "exponential",
    batch: int = 1,
    duration_s: float = 5e-3,
    plot: bool = True,
) -> Explorer:
    """Sliders for :func:`devmem_lab.exhaustion.simulate`: play with the consumer.

    Controls: ``pool_pages`` (net_iovs in the dma-buf), ``line_rate_gbps``, ``hold_us``
    (mean hold time in microseconds), ``dist`` and ``batch`` (tokens per
    ``SO_DEVMEM_DONTNEED``). ``.result`` is the :func:`~devmem_lab.exhaustion.summarize`
    dict plus ``knee_hold_us``; ``.extra["timeseries"]`` is the simulated DataFrame. The
    plot shows free net_iovs over ``duration_s`` (5 ms: a few tens of thousands of packets).

    Parameters
    ----------
    seed : int
        Seed of every run, so the same settings always give the same result.
    pool_pages, line_rate_gbps, hold_us, dist, batch
        Initial control values.
    duration_s : float
        Simulated time per run.
    plot : bool
        Redraw on every change (False: compute only).
    """
    import ipywidgets as w

    from devmem_lab import exhaustion

    style = {"description_width": "initial"}
    controls = {
        "pool_pages": w.IntSlider(
            value=pool_pages,
            min=64,
            max=32768,
            step=64,
            description="pool (net_iovs)",
            style=style,
            continuous_update=False,
        ),
        "line_rate_gbps": w.FloatSlider(
            value=line_rate_gbps,
            min=25,
            max=800,
            step=25,
            description="Gb/s",
            style=style,
            continuous_update=False,
        ),
        "hold_us": w.FloatSlider(
            value=hold_us,
            min=0,
            max=5000,
            step=10,
            description="mean hold (us)",
            style=style,
            continuous_update=False,
        ),
        "dist": w.Dropdown(
            value=dist,
            options=list(exhaustion.DISTRIBUTIONS),
            description="hold distribution",
            style=style,
        ),
        "batch": w.IntSlider(
            value=batch,
            min=1,
            max=128,
            description="tokens per return",
            style=style,
            continuous_update=False,
        ),
    }
    ui = Explorer("exhaustion", controls)

    def compute(v: dict) -> dict:
        df = exhaustion.simulate(
            v["pool_pages"],
            v["line_rate_gbps"],
            v["hold_us"] * 1e-6,
            duration_s,
            seed=seed,
            dist=v["dist"],
            batch=v["batch"],
            stall_every_s=duration_s / 2,
            stall_s=duration_s / 10,
        )
        ui.extra["timeseries"] = df
        out = exhaustion.summarize(df)
        out["knee_hold_us"] = out["knee_hold_s"] * 1e6
        return out

    def draw(ui: Explorer):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        df = ui.extra["timeseries"]
        ax.step(df.index * 1e3, df["free_pages"], where="post", lw=1.8)
        ax.set_ylim(0, ui.controls["pool_pages"].value * 1.05)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("free net_iovs")
        r = ui.result
        ax.set_title(
            f"drops {100 * r['drop_rate']:.1f} %, goodput {r['goodput_gbps']:.0f} "
            f"Gb/s; Little's-law knee at {r['knee_hold_us']:.0f} us"
        )
        return fig

    return _wire(ui, compute, draw if plot else None)
