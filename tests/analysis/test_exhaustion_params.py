"""``exhaustion.Params``: simulate's parameters checked once, derived values, sweeps by replace."""

import dataclasses

import pytest

from devmem_lab import exhaustion as ex
from devmem_lab.exhaustion import Params


def test_normalised_and_derived():
    p = Params(16000, 400, 2e-3, 0.01, dist="heavy", mtu=4148.0, batch=3)
    assert (p.pool_pages, p.line_rate_gbps, p.mtu, p.dist, p.batch) == (16000, 400.0, 4148,
                                                                         "pareto", 3)
    assert type(p.mtu) is int and type(p.line_rate_gbps) is float
    assert (p.payload_bytes, p.niovs_per_packet, p.pool_packets, p.batch_packets) == \
        (4096, 1, 16000, 3)
    assert p.slot_s == p.wire_bytes * 8 / 400e9
    assert p.bin_s is None and p.bin_width_s == 0.01 / 100 and p.n_bins == 100
    j = Params(16000, 400, 2e-3, 0.01, mtu=9000, batch=4)
    assert (j.niovs_per_packet, j.pool_packets, j.batch_packets) == (3, 5333, 2)


def test_as_dict_is_what_simulate_keeps():
    df = ex.simulate(2000, 100, 1e-4, 0.002, seed=4, dist="fixed", bin_s=1e-4)
    p = Params(2000, 100, 1e-4, 0.002, seed=4, dist="fixed", bin_s=1e-4)
    assert list(df.attrs.items())[:len(p.as_dict())] == list(p.as_dict().items())
    assert df.attrs["bin_s"] == 1e-4 and df.attrs["n_bins"] == 20


def test_frozen_and_hashable():
    p = Params(100, 10, 1e-3, 0.01)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.hold_s = 1.0
    assert p == Params(100.0, 10, 1e-3, 0.01) and hash(p) == hash(Params(100, 10, 1e-3, 0.01))


def test_replace_checks_and_rederives():
    p = Params(100, 10, 1e-3, 0.01)
    q = dataclasses.replace(p, duration_s=0.02)
    assert (q.bin_width_s, q.n_slots) == (0.02 / 100, Params(100, 10, 1e-3, 0.02).n_slots)
    assert dataclasses.replace(p, dist="exp").dist == "exponential"
    with pytest.raises(ValueError, match="hold_s must be >= 0, got -1"):
        dataclasses.replace(p, hold_s=-1)
    with pytest.raises(ValueError, match="stall_s=0.02 must be shorter than stall_every_s=0.01"):
        dataclasses.replace(p, dist="stall", stall_s=0.02)
    with pytest.raises(ValueError, match="n_bins is declared with init=False"):
        dataclasses.replace(p, n_bins=3)  # derived, not a parameter


@pytest.mark.parametrize("kw, msg", [
    ({"pool_pages": 0}, "pool_pages must be >= 1, got 0"),
    ({"pool_pages": 2, "mtu": 9000}, "pool_pages=2 is smaller than one packet: mtu 9000 needs 3"),
    ({"dist": "x"}, "dist must be one of fixed, exponential, pareto, stall, got 'x'"),
    ({"batch": 0}, "batch must be >= 1, got 0"),
    ({"bin_s": 0}, "bin_s must be > 0, got 0"),
    ({"tail_alpha": 1}, "tail_alpha must be > 1, got 1"),
    ({"line_rate_gbps": 0}, "line_rate_gbps must be > 0, got 0"),
])
def test_bad_parameters_name_themselves(kw, msg):
    args = {"pool_pages": 100, "line_rate_gbps": 10, "hold_s": 1e-3, "duration_s": 0.01, **kw}
    with pytest.raises(ValueError, match=msg):
        Params(**args)
    with pytest.raises(ValueError, match=msg):
        ex.simulate(**args)


def test_sweep_checks_every_value_before_running():
    with pytest.raises(ValueError, match="batch must be >= 1, got 0"):
        ex.sweep("batch", [1, 2, 0], progress=False, pool_pages=100, line_rate_gbps=10,
                 hold_s=1e-3, duration_s=10.0)  # 10 s cases: a run before the check would show
