"""The net_iov pool view: buttons and sliders drive reads and token returns; pure helpers.

``devmem_lab.widgets.pool`` (net/core/devmem.c genpool, net/ipv4/tcp.c tokens,
net/core/sock.c SO_DEVMEM_DONTNEED). Controls are driven exactly as a click or a drag does.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from devmem_lab import Lab
from devmem_lab.teach.scenario import devmem_server
from devmem_lab.widgets.pool import plot_pool, pool_state, pool_trace, pool_view


@pytest.fixture
def ui():
    srv = devmem_server(Lab(seed=0), niovs=64)
    return pool_view(srv.lab, srv.connect(bytes(1 << 20)), srv.binding_id)


def test_starts_with_a_full_pool(ui):
    # the rx ring was filled when bind-rx restarted the queue: 8 posted, the rest free
    assert (ui.result["free"], ui.result["posted"], ui.result["held"]) == (56, 8, 0)
    assert ui.result["action"] == "start" and len(ui.history) == 1


def test_read_button_takes_tokens(ui):
    ui.controls["read_packets"].value = 16
    ui.controls["read"].click()
    r = ui.result
    # only the initial window (10 segments) has arrived when the first read starts
    assert r["held"] == 10 and len(ui.held_tokens) == 10
    assert (r["free"], r["posted"], r["in_socket"], r["held"]) == (46, 8, 0, 10)
    assert r["action"].startswith("recvmsg: 14280 B, 10 tokens")


def test_return_button_gives_tokens_back(ui):
    ui.controls["read_packets"].value = 16
    ui.controls["read"].click()
    ui.controls["return_tokens"].value = 4
    before = ui.result["free"]
    ui.controls["return"].click()
    assert ui.result["held"] == 6
    assert ui.result["free"] == before + 4
    assert ui.result["action"] == "DONTNEED: 4 freed"


def test_holding_everything_starves_the_nic(ui):
    ui.controls["read_packets"].value = 64
    for _ in range(6):  # each read takes what the window let in so far
        ui.controls["read"].click()
    # 56 held; the last 8 stay posted: a packet lands in one, its refill fails, it is dropped
    assert (ui.result["held"], ui.result["free"], ui.result["posted"]) == (56, 0, 8)
    assert ui.result["alloc_fail"] > 0
    assert ui.result["action"].startswith("recvmsg: nothing in")
    ui.controls["return_tokens"].value = 64
    ui.controls["return"].click()
    assert (ui.result["free"], ui.result["posted"]) == (56, 8)


def test_pool_state_is_pure_snapshot():
    srv = devmem_server(Lab(seed=0), niovs=32)
    conn = srv.connect(bytes(8 * 1428))
    s = pool_state(srv.binding, conn, srv.rxq, srv.lab.now)
    assert s == pool_state(srv.binding, conn, srv.rxq, srv.lab.now)
    assert (s["niovs"], s["free"], s["posted"], s["in_socket"], s["held"]) == (32, 24, 8, 0, 0)


def test_trace_is_deterministic_and_plots():
    script = [("read", 8), ("read", 8), ("return", 16), ("read", 64)]
    a = pool_trace(script, niovs=64, nbytes=1 << 18)
    b = pool_trace(script, niovs=64, nbytes=1 << 18)
    assert a.equals(b)
    assert list(a.index) == list(range(len(script) + 1)) and a.index.name == "step"
    assert {"free", "posted", "in_socket", "held", "alloc_fail", "action", "t_s"} <= set(a.columns)
    assert (a["posted"] == 8).all()
    ax = plot_pool(a)
    assert ax.get_ylabel() == "net_iovs"
    matplotlib.pyplot.close(ax.figure)


def test_trace_rejects_unknown_actions():
    with pytest.raises(ValueError, match="unknown action"):
        pool_trace([("peek", 1)], niovs=16, nbytes=4096)
