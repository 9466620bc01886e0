"""The net_iov map, the data-path diagram and the shared figure style."""

from __future__ import annotations

import numpy as np
import pytest

from devmem_lab import Lab
from devmem_lab.teach.scenario import devmem_server
from devmem_lab.widgets import datapath, niov_map, style
from devmem_lab.widgets.niov_map import FREE, HELD, IN_SKB, POSTED, count_states, niov_states


@pytest.fixture
def ui():
    srv = devmem_server(Lab(seed=0), niovs=64)
    return niov_map.niov_map(srv.lab, srv.connect(bytes(1 << 20)), srv.binding_id)


def test_a_fresh_binding_is_free_but_its_posted_rx_ring(ui):
    # bind-rx restarted the queue: the driver filled its ring (2 x agg factor 4) first
    assert (ui.result["free"], ui.result["posted"], ui.result["in skb"]) == (56, 8, 0)
    assert (ui.states[:8] == POSTED).all() and (ui.states[8:] == FREE).all()


def test_packets_take_the_lowest_free_net_iovs(ui):
    ui.controls["arrive_us"].value = 50
    ui.controls["arrive"].click()  # unread data fills the window (sk_rcvbuf = the dma-buf's
    # size, 4928 B charged per skb), not the pool: 53 skbs; the ring keeps 8 posted
    assert (ui.result["in skb"], ui.result["posted"], ui.result["free"]) == (53, 8, 3)
    assert ui.result["alloc_fail"] == 0
    # packets land in ring order (0..7, then the refills 8, 9, ...)
    assert (ui.states[:53] == IN_SKB).all() and (ui.states[54:62] == POSTED).all()
    ui.read(16)
    ui.give_back(16)
    assert (ui.states[:16] == FREE).all()
    ui.read(8)  # frees nothing: the next 8 skbs' net_iovs are now held
    ui.arrive(200)  # new packets take the lowest free net_iovs again, refills after them
    assert (ui.states[:11] == IN_SKB).all() and (ui.states[11:16] == POSTED).all(), ui.states
    assert (ui.states[16:24] == HELD).all()


def test_read_holds_then_dontneed_frees_exactly_those(ui):
    ui.arrive(50)  # the window fills: 53 net_iovs in skbs, 8 posted
    assert (ui.result["in skb"], ui.result["posted"]) == (53, 8)
    ui.controls["read_packets"].value = 8
    ui.controls["read"].click()
    assert ui.result["held"] == 8 and ui.result["in skb"] == 45
    assert (ui.states[:8] == HELD).all()       # the first packets, read first
    ui.controls["return_tokens"].value = 3
    ui.controls["return"].click()
    assert ui.result["held"] == 5 and ui.result["free"] == 6
    assert (ui.states[:3] == FREE).all() and (ui.states[3:8] == HELD).all()
    # the counts agree with the binding's own genpool and the socket's token table
    assert ui.result["free"] == ui.binding.free_count
    assert ui.result["held"] == ui.conn.tokens_held


def test_states_of_another_binding_ignore_this_socket(ui):
    ui.arrive(20)
    ui.read(8)
    other = devmem_server(Lab(seed=1), niovs=16)
    assert count_states(niov_states(other.binding, [ui.conn]))["free"] == 16 - 8
    assert count_states(niov_states(other.binding, [ui.conn]))["posted"] == 8


def test_the_map_draws_one_cell_per_net_iov(ui):
    import matplotlib.pyplot as plt

    ui.arrive(50)
    fig = ui.figure()
    mesh = fig.axes[0].collections[0]
    assert mesh.get_array().count() == 64  # masked padding cells are not drawn
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "in an skb on the socket: 53" in texts and "posted to the rx ring: 8" in texts
    plt.close(fig)
    assert ui._image.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_datapath_highlights_the_named_stages_and_refuses_others():
    import matplotlib.pyplot as plt

    style.use()
    ax = datapath.datapath("TCP", "recvmsg")
    bold = {t.get_text() for t in ax.texts if t.get_weight() == "bold"}
    assert bold == {"TCP", "recvmsg"}
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="unknown stage"):
        datapath.datapath("GPU")


def test_style_is_legible_at_jupyterlab_size():
    import matplotlib.pyplot as plt

    style.use()
    assert plt.rcParams["figure.dpi"] == 100 and plt.rcParams["font.size"] >= 10
    w, _h = np.array(plt.rcParams["figure.figsize"]) * plt.rcParams["figure.dpi"]
    assert w <= 900  # fits the notebook column of a 1400 px wide JupyterLab


def test_bandwidth_explorer_says_why_devmem_is_gone_without_header_split():
    import matplotlib.pyplot as plt

    from devmem_lab.widgets.analysis import NO_DEVMEM, bandwidth_explorer

    ui = bandwidth_explorer(line_rate_gbps=200, mtu=4148, nics=8, plot=False)
    fig = plt.figure()
    ax = fig.add_subplot()
    from devmem_lab.widgets.analysis import plot_dram_bars

    plot_dram_bars(ui.result, ax=ax)
    assert NO_DEVMEM not in [t.get_text() for t in ax.texts]
    ui.controls["header_split"].value = False  # what unticking the box does
    ax.clear()
    plot_dram_bars(ui.result, ax=ax)
    assert NO_DEVMEM in [t.get_text() for t in ax.texts]
    assert ax.patches[2].get_height() == 0  # no devmem bar drawn, the note instead
    plt.close(fig)


def test_widgets_carry_a_note_for_pages_that_cannot_run_them(ui, monkeypatch):
    import IPython.display

    from devmem_lab.widgets.display import OFFLINE_NOTE

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda b, raw: shown.append(b))
    ui._ipython_display_()
    (bundle,) = shown
    assert bundle["text/plain"] == repr(ui)  # not a truncated VBox(...)
    assert OFFLINE_NOTE in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab's live view
