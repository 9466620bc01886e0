"""Tests of the ipywidgets explorers: setting .value behaves like dragging a slider."""

import math
import re

import pytest
from prereq import require

from devmem_lab import bandwidth, exhaustion
from devmem_lab import prerequisites as pre
from devmem_lab.widgets.analysis import bandwidth_explorer, exhaustion_explorer

require(pre.python_package("ipywidgets", "notebooks"))
require(pre.python_package("matplotlib", "notebooks"))
__import__("matplotlib").use("Agg")


def test_bigger_pool_drops_less():
    ui = exhaustion_explorer(seed=0)
    before = ui.result["drops"]
    assert before > 0
    ui.controls["pool_pages"].value = 4096
    assert ui.result["drops"] < before


def test_exhaustion_result_is_the_simulation_for_the_controls():
    ui = exhaustion_explorer(seed=0, plot=False)
    ui.controls["hold_us"].value = 300
    ui.controls["dist"].value = "fixed"
    want = exhaustion.summarize(exhaustion.simulate(2048, 200, 300e-6, 5e-3, seed=0, dist="fixed"))
    assert ui.result["drops"] == want["drops"]
    assert ui.result["goodput_gbps"] == pytest.approx(want["goodput_gbps"])
    ll = exhaustion.littles_law(2048, 200)
    assert ui.result["knee_hold_us"] == pytest.approx(ll["knee_hold_s"] * 1e6)
    assert len(ui.extra["timeseries"]) == 100


def test_slower_consumer_and_batches_drop_more():
    ui = exhaustion_explorer(seed=0, plot=False, hold_us=300, dist="fixed")
    base = ui.result["drops"]
    ui.controls["hold_us"].value = 600
    slower = ui.result["drops"]
    ui.controls["batch"].value = 128
    assert base < slower < ui.result["drops"]


def test_exhaustion_every_distribution_runs():
    ui = exhaustion_explorer(seed=0, plot=True)
    for d in exhaustion.DISTRIBUTIONS:
        ui.controls["dist"].value = d
        assert 0 <= ui.result["drop_rate"] <= 1


def test_bandwidth_nics_scale_and_header_split():
    ui = bandwidth_explorer()
    one = ui.result["dram_GBps"].copy()
    ui.controls["nics"].value = 4
    assert ui.result["dram_GBps"].tolist() == pytest.approx((4 * one).tolist())
    ui.controls["header_split"].value = False
    assert math.isnan(ui.result.loc["devmem", "dram_GBps"])
    ui.controls["header_split"].value = True
    ui.controls["mtu"].value = 9000
    want = bandwidth.host_memory_traffic(200, 9000, 4)
    assert ui.result["dram_GBps"].tolist() == pytest.approx(want["dram_GBps"].tolist())


def test_bandwidth_rate_and_ddio_sliders():
    ui = bandwidth_explorer(plot=False)
    ui.controls["line_rate_gbps"].value = 400
    at400 = ui.result.loc["copy", "dram_GBps"]
    ui.controls["ddio_share"].value = 0.5
    assert ui.result.loc["copy", "dram_GBps"] < at400
    assert ui.values()["line_rate_gbps"] == 400


def test_repr_is_stable_and_widget_is_a_box():
    ui = exhaustion_explorer(seed=0, plot=False)
    text = repr(ui)
    assert text.startswith("Explorer(exhaustion: pool_pages=2048")
    assert not re.search(r"0x[0-9a-f]{6,}", text)
    assert type(ui.widget).__name__ == "VBox"
    assert set(ui.controls) == {"pool_pages", "line_rate_gbps", "hold_us", "dist", "batch"}
