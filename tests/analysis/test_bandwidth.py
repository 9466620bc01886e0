"""Tests of devmem_lab.bandwidth: hand-computed traffic, scaling, limits and bad inputs."""

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from prereq import require

from devmem_lab import bandwidth as bw
from devmem_lab import prerequisites as pre

ROOT = Path(__file__).resolve().parents[2]


def test_packet_bytes_mtu_1500_ipv4():
    # 1500 + 38 on the wire; 1500 + 14 in memory; 14 + 20 + 32 header; 1500 - 52 payload
    assert bw.packet_bytes(1500) == {"wire": 1538, "frame": 1514, "header": 66, "payload": 1448}
    assert bw.packet_bytes(8244)["payload"] == 8192  # the RFC's 8 KiB payload MTU
    assert bw.packet_bytes(1500, ip_version=6)["payload"] == 1428


def test_traffic_matches_hand_calculation():
    # 100 Gb/s, MTU 1500: 12.5e9 B/s / 1538 B per packet on the wire
    pps = 12.5e9 / 1538
    df = bw.host_memory_traffic(100, mtu=1500, nics=1)
    assert list(df.index) == ["copy", "zerocopy", "devmem"]
    assert df.index.name == "path"
    # headers: written by the NIC + read by the stack = 2 * 66 B on every path
    # copy adds 4 * 1448 (NIC write, copy read, copy write, accelerator read); zerocopy 2 *
    expected = {"copy": 132 + 4 * 1448, "zerocopy": 132 + 2 * 1448, "devmem": 132}
    for path, per_packet in expected.items():
        assert df.loc[path, "dram_GBps"] == pytest.approx(pps * per_packet / 1e9, rel=1e-12)
        assert df.loc[path, "dram_bytes_per_payload_byte"] == pytest.approx(per_packet / 1448)
    assert df.loc["copy", "dram_GBps"] == pytest.approx(48.1469, abs=1e-4)
    assert df.loc["copy", "cpu_copy_GBps"] == pytest.approx(pps * 1448 / 1e9)
    assert df.loc["devmem", "cpu_copy_GBps"] == 0
    assert np.allclose(df["goodput_GBps"], pps * 1448 / 1e9)
    assert df.loc["devmem", "saving_vs_copy"] == pytest.approx(1 - 132 / 5924)


def test_per_packet_steps_add_up_to_the_traffic():
    steps = bw.per_packet_bytes(1500)
    assert steps.loc["copy"].to_dict() == {
        "nic_write_bytes": 1514,
        "stack_read_bytes": 66,
        "copy_read_bytes": 1448,
        "copy_write_bytes": 1448,
        "accel_read_bytes": 1448,
        "dram_bytes": 5924,
        "payload_bytes": 1448,
    }
    assert steps.loc["devmem", "nic_write_bytes"] == 66  # headers only
    assert steps.loc["zerocopy", "copy_write_bytes"] == 0
    pps = 12.5e9 / 1538
    df = bw.host_memory_traffic(100, mtu=1500)
    assert np.allclose(steps["dram_bytes"] * pps / 1e9, df["dram_GBps"])
    assert bw.per_packet_bytes(1500, ip_version=6).loc["devmem", "nic_write_bytes"] == 86
    assert math.isnan(bw.per_packet_bytes(header_split=False).loc["devmem", "dram_bytes"])


def test_write_plus_read_is_total_and_pcie_counts_host_bytes():
    df = bw.host_memory_traffic(200, mtu=4148, nics=2)
    assert np.allclose(df["dram_write_GBps"] + df["dram_read_GBps"], df["dram_GBps"])
    pps = 2 * 25e9 / 4186
    # copy and zerocopy: frame in + payload out to the accelerator; devmem: header only
    assert df.loc["copy", "pcie_host_GBps"] == pytest.approx(pps * (4162 + 4096) / 1e9)
    assert df.loc["devmem", "pcie_host_GBps"] == pytest.approx(pps * 66 / 1e9)
    # one NIC's link carries its own frames only
    assert df.loc["copy", "pcie_nic_GBps"] == pytest.approx(pps / 2 * 4162 / 1e9)


def test_large_mtu_per_byte_factors_approach_4_2_0():
    df = bw.host_memory_traffic(400, mtu=65535)
    f = df["dram_bytes_per_payload_byte"]
    assert f["copy"] == pytest.approx(4, abs=0.01)
    assert f["zerocopy"] == pytest.approx(2, abs=0.01)
    assert f["devmem"] == pytest.approx(0, abs=0.01)


def test_ddio_hides_nic_writes_and_first_reads():
    df = bw.host_memory_traffic(100, mtu=1500, ddio_share=1.0)
    pps = 12.5e9 / 1538
    # only the copy's destination write and the accelerator's read of it remain
    assert df.loc["copy", "dram_GBps"] == pytest.approx(pps * 2 * 1448 / 1e9)
    assert df.loc["zerocopy", "dram_GBps"] == 0
    assert df.loc["devmem", "dram_GBps"] == 0
    half = bw.host_memory_traffic(100, mtu=1500, ddio_share=0.5)
    none = bw.host_memory_traffic(100, mtu=1500)
    assert (half["dram_GBps"] < none["dram_GBps"]).all()


def test_no_header_split_zerocopy_copies_and_devmem_impossible():
    df = bw.host_memory_traffic(100, header_split=False)
    assert df.loc["zerocopy", "dram_GBps"] == df.loc["copy", "dram_GBps"]
    assert math.isnan(df.loc["devmem", "dram_GBps"])


def test_scaling_in_rate_and_nics():
    one = bw.host_memory_traffic(100, nics=1)
    four = bw.host_memory_traffic(100, nics=4)
    double = bw.host_memory_traffic(200, nics=1)
    assert np.allclose(four["dram_GBps"], 4 * one["dram_GBps"])
    assert np.allclose(double["dram_GBps"], 2 * one["dram_GBps"])
    assert np.allclose(four["pcie_nic_GBps"], one["pcie_nic_GBps"])  # per link
    zero = bw.host_memory_traffic(0)
    assert (zero["dram_GBps"] == 0).all() and (zero["saving_vs_copy"] == 0).all()


@pytest.mark.parametrize("mtu", [576, 1500, 4148, 9000])
def test_ordering_devmem_below_zerocopy_below_copy(mtu):
    d = bw.host_memory_traffic(400, mtu=mtu, nics=2)["dram_GBps"]
    assert d["devmem"] < d["zerocopy"] < d["copy"]


def test_devmem_saving_grows_with_mtu():
    savings = [
        bw.host_memory_traffic(100, mtu=m).loc["devmem", "saving_vs_copy"]
        for m in (576, 1500, 4148, 9000)
    ]
    assert savings == sorted(savings)


def test_sweep_matches_single_point():
    rates = [0, 100, 250, 400]
    sw = bw.traffic_vs_line_rate(rates, mtu=4148, nics=2)
    assert sw.index.name == "line_rate_gbps"
    assert list(sw.columns[:3]) == ["copy_dram_GBps", "zerocopy_dram_GBps", "devmem_dram_GBps"]
    for r in rates:
        one = bw.host_memory_traffic(r, mtu=4148, nics=2)
        for p in bw.PATHS:
            assert sw.loc[r, f"{p}_dram_GBps"] == pytest.approx(one.loc[p, "dram_GBps"])
    assert sw["copy_dram_GBps"].is_monotonic_increasing


def test_max_line_rate_is_ceiling_over_slope():
    s = bw.max_line_rate_gbps(307.2, mtu=1500)
    # copy moves 5924 B of DRAM per 1538 B of wire: at r Gb/s that is r/8 * 5924/1538 GB/s
    assert s["copy"] == pytest.approx(307.2 / (5924 / 1538 / 8))
    assert s["devmem"] > 10 * s["copy"]
    assert s.name == "max_line_rate_gbps"


def test_constants_match_data_figures_csv():
    with open(ROOT / "data" / "figures.csv", newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert bw.DRAM_PEAK_GBPS["DDR5-4800 8 ch"] == float(rows["ddr5_8ch"]["value"])
    assert bw.DRAM_PEAK_GBPS["DDR5-4800 12 ch"] == float(rows["ddr5_12ch"]["value"])
    for gen in (3, 4, 5):
        assert bw.PCIE_X16_GBPS[f"PCIe Gen{gen} x16"] == float(rows[f"pcie{gen}_x16"]["value"])
    assert bw.ETH_WIRE_OVERHEAD_BYTES == int(rows["eth_wire_overhead"]["value"])
    assert bw.ETH_HEADER_BYTES == int(rows["eth_header"]["value"])
    assert all(r["source"].strip() for r in rows.values())


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"line_rate_gbps": -1}, "line_rate_gbps"),
        ({"line_rate_gbps": "fast"}, "line_rate_gbps"),
        ({"line_rate_gbps": float("nan")}, "line_rate_gbps"),
        ({"line_rate_gbps": 100, "mtu": 40}, "mtu"),
        ({"line_rate_gbps": 100, "mtu": 1500.5}, "mtu"),
        ({"line_rate_gbps": 100, "mtu": "jumbo"}, "mtu"),
        ({"line_rate_gbps": 100, "nics": 0}, "nics"),
        ({"line_rate_gbps": 100, "nics": True}, "nics"),
        ({"line_rate_gbps": 100, "ddio_share": 1.5}, "ddio_share"),
        ({"line_rate_gbps": 100, "header_split": "yes"}, "header_split"),
        ({"line_rate_gbps": 100, "ip_version": 5}, "ip_version"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        bw.host_memory_traffic(**kwargs)


def test_bad_sweep_rate_and_ceiling():
    with pytest.raises(ValueError, match="line_rate_gbps"):
        bw.traffic_vs_line_rate([100, -5])
    with pytest.raises(ValueError, match="dram_ceiling_GBps"):
        bw.max_line_rate_gbps(0)


def test_measure_copy_cost_shape():
    m = bw.measure_copy_cost(nbytes=1 << 20, repeats=1, tcp_bytes=4 << 20)
    assert list(m.index) == ["numpy copy", "bytes copy", "tcp loopback recv"]
    assert m.index.name == "method"
    assert (m["copy_GBps"] > 0).all()
    assert np.allclose(m["dram_GBps"], 2 * m["copy_GBps"])
    with pytest.raises(ValueError, match="nbytes"):
        bw.measure_copy_cost(nbytes=10)


def test_plot_returns_axes():
    require(pre.python_package("matplotlib", "notebooks"))
    import matplotlib as mpl
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    ax = bw.plot_dram_vs_line_rate(bw.traffic_vs_line_rate(np.linspace(0, 400, 5)))
    assert len(ax.lines) == 3 + len(bw.DRAM_PEAK_GBPS)
    plt.close(ax.figure)


def test_analysis_modules_import_no_heavy_packages():
    code = (
        "import sys, devmem_lab.bandwidth, devmem_lab.exhaustion, "
        "devmem_lab.widgets.analysis; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'ipywidgets') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    assert out == "[]"


# ------------------------------------------------------------------ the emulator
def test_emulator_counts_match_the_model():
    table = bw.compare_with_emulator(packets=50, mtu=1500)
    assert list(table.index) == ["copy", "devmem"]
    assert (table["model_nic_write_bytes"] == table["emulated_nic_write_bytes"]).all()
    assert (table["model_copy_write_bytes"] == table["emulated_copy_write_bytes"]).all()
    assert table.loc["devmem", "emulated_nic_write_bytes"] == 66  # headers only


def test_emulated_devmem_payload_lands_in_the_dmabuf():
    emu = bw.emulated_host_bytes("devmem", packets=20, mtu=4148)
    assert emu == {
        "packets": 20,
        "nic_write_bytes": 66.0,
        "copy_write_bytes": 0.0,
        "devmem_bytes": 4096.0,
    }
    with pytest.raises(ValueError, match="path"):
        bw.emulated_host_bytes("zerocopy")
    with pytest.raises(ValueError, match="mtu"):
        bw.emulated_host_bytes("copy", mtu=576)


def test_docstring_examples_run():
    import doctest

    from devmem_lab import exhaustion

    for module in (bw, exhaustion):
        assert doctest.testmod(module).failed == 0, module.__name__
