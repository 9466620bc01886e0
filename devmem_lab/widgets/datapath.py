"""The devmem TCP receive path as one diagram, with the part a lesson covers highlighted.

Seven stages, left to right as a packet travels: the NIC (the driver's rx ring), header split
(``ethtool -G ... tcp-data-split on``; headers to host memory, payload to the dma-buf), the
page pool with the devmem memory provider (``net/core/page_pool.c``, ``net/core/devmem.c``),
TCP (``net/ipv4/tcp_input.c``), ``recvmsg(MSG_SOCK_DEVMEM)`` (``net/ipv4/tcp.c``), the
application, and the token return (``SO_DEVMEM_DONTNEED``, ``net/core/sock.c``) that hands
the net_iov back to the pool. Every lesson opens with :func:`datapath`.
"""

from __future__ import annotations

import itertools

__all__ = ["STAGES", "datapath"]

# stage -> what it is, in a few words
STAGES = {
    "NIC": "rx queue,\nflow steering",
    "header split": "headers: host\npayload: dma-buf",
    "page pool": "net_iovs of\nthe binding",
    "TCP": "skbs queued\nin order",
    "recvmsg": "cmsgs and\ntokens",
    "application": "payload stays\non the device",
    "token return": "SO_DEVMEM_\nDONTNEED",
}
_ON, _OFF, _EDGE_ON, _EDGE_OFF = "#cfe2ff", "#f1f3f5", "#0b5ed7", "#adb5bd"


def datapath(*highlight: str, ax=None, title: str | None = None):
    """Draw the receive path with the stages in ``highlight`` coloured; returns the Axes.

    Raises
    ------
    ValueError
        A name that is not one of :data:`STAGES`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    unknown = [h for h in highlight if h not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}: choose from {list(STAGES)}")
    if ax is None:
        _fig, ax = plt.subplots(figsize=(8.6, 1.9), layout="none")
        ax.figure.subplots_adjust(0.005, 0.02, 0.995, 0.86 if title else 0.98)
    w, h, gap = 1.08, 0.62, 0.2
    xs = [i * (w + gap) for i in range(len(STAGES))]
    y = 0.55
    for x, (name, what) in zip(xs, STAGES.items()):
        on = name in highlight
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    fc=_ON if on else _OFF, ec=_EDGE_ON if on else _EDGE_OFF,
                                    lw=2 if on else 1))
        ax.text(x + w / 2, y + h * 0.70, name, ha="center", va="center", fontsize=9.5,
                weight="bold" if on else "normal", color="black" if on else "0.45")
        ax.text(x + w / 2, y + h * 0.30, what, ha="center", va="center", fontsize=7.5,
                color="0.15" if on else "0.55", linespacing=1.0)
    for a, b in itertools.pairwise(xs):
        ax.add_patch(FancyArrowPatch((a + w + 0.02, y + h / 2), (b - 0.02, y + h / 2),
                                     arrowstyle="-|>", mutation_scale=11, color="0.35", lw=1.2))
    # the net_iov goes back from the token return to the page pool
    pool, ret = xs[list(STAGES).index("page pool")], xs[-1]
    ax.add_patch(FancyArrowPatch((ret + w / 2, y - 0.02), (pool + w / 2, y - 0.02),
                                 connectionstyle="arc3,rad=-0.12", arrowstyle="-|>",
                                 mutation_scale=11, color="#198754", lw=1.4))
    ax.text((pool + ret + w) / 2, 0.0, "token returned: the net_iov goes back to the genpool",
            ha="center", va="bottom", fontsize=8, color="#198754")
    ax.set_xlim(-0.05, xs[-1] + w + 0.05)
    ax.set_ylim(-0.05, y + h + 0.05)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return ax
