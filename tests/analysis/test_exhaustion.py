"""Tests of devmem_lab.exhaustion: hand-computed runs, Little's law, SimPy agreement, errors."""

import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from prereq import require

from devmem_lab import exhaustion as ex
from devmem_lab import prerequisites as pre

ROOT = Path(__file__).resolve().parents[2]
# MTU 4148: 4096-byte payload (one net_iov), 4186 wire bytes = 33488 bits. At 33.488 Gb/s a
# packet arrives every 1 us exactly, which makes hand calculation easy.
RATE_1US = 33.488


def run(pool, hold_us, duration_us, **kw):
    return ex.simulate(pool, RATE_1US, hold_us * 1e-6, duration_us * 1e-6, **kw)


def test_one_packet_per_microsecond_setup():
    df = run(100, 10, 2500, dist="fixed")
    assert df.attrs["slot_s"] == pytest.approx(1e-6)
    assert df.attrs["n_slots"] == 2500
    assert df.attrs["niovs_per_packet"] == 1 and df.attrs["pool_packets"] == 100


def test_fixed_hold_above_knee_by_hand():
    # 100 net_iovs, each held 250 us, one packet per us: 100 accepted, then 150 dropped,
    # until the first token returns at 250 us; the pattern repeats every 250 us.
    df = run(100, 250, 2500, dist="fixed", rto_s=1e-3)
    s = ex.summarize(df)
    assert s["arrivals"] == 2500
    assert s["drops"] == 10 * 150
    assert s["goodput_gbps"] == pytest.approx(10 * 100 * 4096 * 8 / 2.5e-3 / 1e9)  # 13.1072
    assert s["min_free_pages"] == 0
    assert s["first_drop_s"] == pytest.approx(100e-6)
    # a drop at slot s is resent at s + 1000; those with s + 1000 < 2500: 6 periods x 150
    assert s["retransmits"] == 900
    assert s["knee_hold_s"] == pytest.approx(100e-6)


def test_fixed_hold_below_knee_keeps_exact_occupancy():
    # 250 packets in flight at any time, pool of 1000: never a drop, 750 always free
    s = ex.summarize(run(1000, 250, 2000, dist="fixed"))
    assert s["drops"] == 0 and s["retransmits"] == 0
    assert s["min_free_pages"] == 750
    assert math.isnan(s["first_drop_s"])
    assert s["goodput_gbps"] == pytest.approx(s["line_goodput_gbps"])
    assert s["goodput_gbps"] == pytest.approx(32.768)  # 4096 * 8 bits per us


def test_batched_returns_hold_tokens_longer():
    # hold 50 us, tokens returned 10 at a time: up to 50 held + 9 waiting for their batch
    s = ex.summarize(run(100, 50, 2000, dist="fixed", batch=10))
    assert s["min_free_pages"] == 100 - 59
    assert s["drops"] == 0
    # the same with one token per call: only the 50 being held
    assert ex.summarize(run(100, 50, 2000, dist="fixed"))["min_free_pages"] == 50


def test_big_packets_take_two_niovs_and_leave_the_odd_page():
    # MTU 8244: 8192-byte payload = 2 net_iovs; 101 pages hold 50 packets, 1 page spare
    df = ex.simulate(101, 100, 1e-3, 2e-3, dist="fixed", mtu=8244)
    assert df.attrs["niovs_per_packet"] == 2 and df.attrs["pool_packets"] == 50
    assert ex.summarize(df)["min_free_pages"] == 1
    assert (df["free_pages"] + df["in_flight_pages"] == 101).all()


def test_littles_law_knee_and_prediction():
    ll = ex.littles_law(16000, 400)
    assert ll["knee_hold_s"] == pytest.approx(16000 * 4186 * 8 / 400e9)  # 1.34 ms
    # figures.csv little_400g: 62.5 MiB lasts about 1.3 ms at 400 Gb/s
    assert ll["knee_hold_s"] == pytest.approx(1.3e-3, rel=0.05)
    ll2 = ex.littles_law(16000, 400, hold_s=2 * ll["knee_hold_s"])
    assert ll2["goodput_gbps"] == pytest.approx(ll["line_goodput_gbps"] / 2)
    assert ll2["knee_pool_pages"] == 32000


def test_fixed_hold_at_twice_the_knee_halves_goodput():
    knee = ex.littles_law(2000, 100)["knee_hold_s"]
    s = ex.summarize(ex.simulate(2000, 100, 2 * knee, 0.05, dist="fixed"))
    assert s["drop_rate"] == pytest.approx(0.5, abs=0.01)
    assert s["goodput_share"] == pytest.approx(0.5, abs=0.01)


def test_time_series_is_consistent():
    df = ex.simulate(1000, 100, 200e-6, 5e-3, seed=3, dist="exponential")
    assert df.index.name == "t_s" and len(df) == 100
    a = df.attrs
    assert df["arrivals"].sum() == a["n_slots"]
    assert ((df["arrivals"] - df["drops"]) * a["payload_bytes"] == df["delivered_bytes"]).all()
    assert (df["free_pages"] + df["in_flight_pages"] == 1000).all()
    assert (df["min_free_pages"] <= df["free_pages"]).all()
    assert df["goodput_gbps"].max() <= 100
    assert set(ex.summarize(df)) >= {"drops", "goodput_gbps", "min_free_pages"}


def test_seeded_and_deterministic():
    a = ex.simulate(500, 100, 150e-6, 2e-3, seed=7)
    b = ex.simulate(500, 100, 150e-6, 2e-3, seed=7)
    c = ex.simulate(500, 100, 150e-6, 2e-3, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["free_pages"].equals(c["free_pages"])


@pytest.mark.parametrize("dist", ["fixed", "exponential", "pareto"])
def test_drops_grow_with_hold_and_shrink_with_pool(dist):
    holds = [50e-6, 150e-6, 300e-6, 600e-6]
    drops = [
        ex.summarize(ex.simulate(1000, 100, h, 3e-3, seed=1, dist=dist))["drops"] for h in holds
    ]
    assert drops == sorted(drops) and drops[0] < drops[-1]
    pools = [250, 500, 1000, 4000]
    drops = [
        ex.summarize(ex.simulate(p, 100, 300e-6, 3e-3, seed=1, dist=dist))["drops"] for p in pools
    ]
    assert drops == sorted(drops, reverse=True) and drops[-1] < drops[0]


def test_stall_empties_the_pool():
    # fixed 50 us holds need 50 net_iovs; a 300 us stall starting at 700 us drains 200 more
    s = ex.summarize(run(200, 50, 1000, dist="stall", stall_every_s=1e-3, stall_s=300e-6))
    assert s["drops"] > 0
    # packets keep arriving during the stall; the pool has room for 150 more after the
    # 50 already held: 700 us (stall start) - 50 us (last return) + 200 -> first drop 850 us
    assert s["first_drop_s"] == pytest.approx(850e-6, abs=2e-6)
    assert ex.summarize(run(200, 50, 1000, dist="fixed"))["drops"] == 0


def test_hold_times_distributions_have_the_requested_mean():
    for dist in ("exponential", "fixed"):
        h = ex.hold_times(200_000, 1e-3, dist, seed=0)
        assert h.mean() == pytest.approx(1e-3, rel=0.02)
    p = ex.hold_times(200_000, 1e-3, "pareto", seed=0, tail_alpha=3.0)
    assert p.mean() == pytest.approx(1e-3, rel=0.05)
    assert p.min() >= 1e-3 * 2 / 3  # Pareto I scale xm = mean (a-1)/a


# ------------------------------------------------------------------ SimPy reference model
@pytest.fixture(scope="module")
def simpy_model():
    require(pre.python_package("simpy", "sim"))
    from devmem_lab import exhaustion_simpy

    return exhaustion_simpy


def test_agrees_with_simpy_within_one_percent(simpy_model):
    for name, case in simpy_model.CASES.items():
        ref = simpy_model.simulate_simpy(**case)
        got = ex.summarize(ex.simulate(**case))
        assert got["drops"] == pytest.approx(ref["drops"], rel=0.01, abs=1), name
        assert got["goodput_gbps"] == pytest.approx(ref["goodput_gbps"], rel=0.01), name
        assert got["min_free_pages"] == ref["min_free_pages"], name
        assert got["retransmits"] == pytest.approx(ref["retransmits"], rel=0.01, abs=1), name


# ------------------------------------------------------------------ sweeps
def test_sweep_serial_and_executor_agree(capsys):
    base = {"pool_pages": 500, "line_rate_gbps": 100, "duration_s": 2e-3, "dist": "fixed"}
    holds = [50e-6, 150e-6, 400e-6]
    serial = ex.sweep("hold_s", holds, progress=False, **base)
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = ex.sweep("hold_s", holds, executor=pool, progress=True, **base)
    pd.testing.assert_frame_equal(serial, threaded)
    assert serial.index.name == "hold_s" and list(serial.index) == holds
    assert serial["drops"].is_monotonic_increasing
    assert "sweep hold_s" in capsys.readouterr().err  # the tqdm bar


def test_sweep_pool_pages():
    t = ex.sweep(
        "pool_pages",
        [200, 400, 800],
        progress=False,
        line_rate_gbps=100,
        hold_s=300e-6,
        duration_s=2e-3,
        dist="fixed",
    )
    assert t["goodput_gbps"].is_monotonic_increasing


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        ((100, -1, 1e-4, 1e-3), {}, "line_rate_gbps"),
        ((100, 0, 1e-4, 1e-3), {}, "line_rate_gbps"),
        ((100, "fast", 1e-4, 1e-3), {}, "line_rate_gbps"),
        ((100, 100, -1e-4, 1e-3), {}, "hold_s"),
        ((100, 100, "slow", 1e-3), {}, "hold_s"),
        ((100, 100, 1e-4, 0), {}, "duration_s"),
        ((-5, 100, 1e-4, 1e-3), {}, "pool_pages"),
        ((10.5, 100, 1e-4, 1e-3), {}, "pool_pages"),
        ((1, 100, 1e-4, 1e-3), {"mtu": 8244}, "pool_pages"),  # 2 net_iovs per packet
        ((100, 100, 1e-4, 1e-3), {"dist": "gamma"}, "dist"),
        ((100, 100, 1e-4, 1e-3), {"batch": 0}, "batch"),
        ((100, 100, 1e-4, 1e-3), {"rto_s": -1}, "rto_s"),
        ((100, 100, 1e-4, 1e-3), {"seed": -1}, "seed"),
        ((100, 100, 1e-4, 1e-3), {"seed": None}, "seed"),
        ((100, 100, 1e-4, 1e-3), {"mtu": 20}, "mtu"),
        ((100, 100, 1e-4, 1e-3), {"tail_alpha": 1.0}, "tail_alpha"),
        ((100, 100, 1e-4, 1e-3), {"dist": "stall", "stall_s": 0.02}, "stall_s"),
    ],
)
def test_bad_parameters_name_themselves(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        ex.simulate(*args, **kwargs)


def test_pool_smaller_than_one_packet_message():
    with pytest.raises(ValueError, match=r"pool_pages=1 is smaller than one packet"):
        ex.simulate(1, 100, 1e-4, 1e-3, mtu=8244)


def test_sweep_and_summarize_reject_bad_input():
    with pytest.raises(ValueError, match="param"):
        ex.sweep("colour", [1, 2], pool_pages=10, line_rate_gbps=1, hold_s=0, duration_s=1)
    with pytest.raises(ValueError, match="hold_s"):
        ex.sweep(
            "hold_s", [1e-4, -1], progress=False, pool_pages=10, line_rate_gbps=1, duration_s=1e-3
        )
    with pytest.raises(ValueError, match="duration_s"):
        ex.sweep("hold_s", [1e-4], progress=False, pool_pages=10, line_rate_gbps=1)
    with pytest.raises(ValueError, match="simulate"):
        ex.summarize(pd.DataFrame({"drops": [1]}))


def test_plots_return_axes():
    require(pre.python_package("matplotlib", "notebooks"))
    import matplotlib as mpl
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    df = ex.simulate(500, 100, 150e-6, 2e-3)
    ax = ex.plot_free_pool({"slow": df, "fast": ex.simulate(500, 100, 10e-6, 2e-3)})
    assert len(ax.lines) == 2
    table = ex.sweep(
        "hold_s", [1e-4, 2e-4], progress=False, pool_pages=500, line_rate_gbps=100, duration_s=1e-3
    )
    ax2 = ex.plot_sweep(table, knee=ex.littles_law(500, 100)["knee_hold_s"], scale=1e6)
    assert ax2.get_xlabel() == "hold_s"
    plt.close("all")


# ------------------------------------------------------------------ the emulator's datapath
def test_emulator_fills_the_pool_like_the_simulator():
    # tokens never come back within the run: both accept exactly one pool of packets; the
    # emulated NIC keeps 8 net_iovs posted to its rx ring (nic/ring.py), so its dma-buf has
    # 8 more for the same 64 usable
    emu = ex.emulate(64 + 8, 100, hold_s=1.0, duration_s=100e-6)
    sim = ex.summarize(ex.simulate(64, 100, 1.0, 100e-6, dist="fixed"))
    assert emu["arrivals"] - emu["drops"] == 64 == sim["arrivals"] - sim["drops"]
    assert emu["goodput_gbps"] == pytest.approx(sim["goodput_gbps"])
    assert emu["min_free_pages"] == sim["min_free_pages"] == 0


def test_emulator_below_the_knee_has_no_drops():
    # the emulator's TCP starts with a 10-segment window and autotunes its receive buffer
    # (kernel/tcp/rmem.py): a few RTTs below line rate, 2.5% of a 2 ms run
    emu = ex.emulate(256, 100, hold_s=20e-6, duration_s=2e-3)
    sim = ex.summarize(ex.simulate(256, 100, 20e-6, 2e-3, dist="fixed"))
    assert emu["drops"] == sim["drops"] == 0
    assert emu["goodput_gbps"] == pytest.approx(sim["goodput_gbps"], rel=0.03)


def test_emulated_tcp_stalls_above_the_knee():
    # past the knee, segments queued behind a hole hold the emulator's net_iovs; the
    # open-loop model has no order and keeps delivering
    emu = ex.emulate(64, 100, hold_s=60e-6, duration_s=500e-6)
    sim = ex.summarize(ex.simulate(64, 100, 60e-6, 500e-6, dist="fixed"))
    assert emu["drops"] > 0 and sim["drops"] > 0
    assert emu["goodput_gbps"] < sim["goodput_gbps"] / 2


def test_simpy_model_imports_without_simpy():
    """The twin lives in the package; simpy (the ``sim`` extra) is imported only to run it."""
    code = ("import sys; sys.modules['simpy'] = None; "
            "import devmem_lab.exhaustion_simpy as m; print(sorted(m.CASES)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out == "exponential, at knee\n"
