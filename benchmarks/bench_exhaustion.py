"""Benchmark the vectorised exhaustion simulator.

Prints, from one run on this machine:

1. simulator vs SimPy reference on the same cases: wall time of each, the speed-up ratio
   (goal >= 50x) and whether drops and goodput agree within 1 %;
2. seconds to simulate one second of a 400 Gb/s queue (62.5 MiB dma-buf, 16000 net_iovs) for
   several consumers (goal < 5 s on 2 cores), and a hold-time sweep over a 2-process pool.

Usage::

    python benchmarks/bench_exhaustion.py            # full run (about a minute)
    python benchmarks/bench_exhaustion.py --quick    # smaller cases, for a smoke test
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

from devmem_lab import exhaustion
from devmem_lab.exhaustion_simpy import simulate_simpy


def _timed(fn, *args, **kwargs):
    """Run fn; return (result, wall seconds). CPU seconds of this process go to _cpu[-1]."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    dt = time.perf_counter() - t0
    _cpu.append(time.process_time() - c0)
    return out, dt


_cpu: list[float] = []


def bench_vs_simpy(duration_s: float) -> float:
    cases = {
        "exponential at knee": {"hold_s": 1.34e-3, "dist": "exponential"},
        "fixed 2x knee": {"hold_s": 2.68e-3, "dist": "fixed"},
        "pareto 1.5x knee": {"hold_s": 2.0e-3, "dist": "pareto", "seed": 3},
        "exponential batch 64": {"hold_s": 1.5e-3, "dist": "exponential", "batch": 64, "seed": 2},
    }
    base = {"pool_pages": 16000, "line_rate_gbps": 400, "duration_s": duration_s}
    print(
        f"1. numpy simulator vs SimPy, {duration_s * 1e3:g} ms at 400 Gb/s "
        f"({exhaustion.littles_law(16000, 400)['packets_per_s'] * duration_s:,.0f} packets)"
    )
    print(
        f"   {'case':24s} {'simpy s':>8s} {'numpy s':>8s} {'ratio':>7s} "
        f"{'drops simpy/numpy':>20s} {'goodput Gb/s simpy/numpy':>26s}  agree<1%"
    )
    # warm up: first calls import pandas and fill caches; time steady state only
    exhaustion.summarize(exhaustion.simulate(1000, 400, 1e-4, 1e-4))
    simulate_simpy(1000, 400, 1e-4, 1e-4)
    t_ref = t_new = 0.0
    for name, c in cases.items():
        ref, dt_ref = _timed(simulate_simpy, **base, **c)
        df, dt_new = _timed(exhaustion.simulate, **base, **c)
        got = exhaustion.summarize(df)
        t_ref, t_new = t_ref + dt_ref, t_new + dt_new
        ok = (
            abs(got["drops"] - ref["drops"]) <= 0.01 * max(ref["drops"], 1)
            and abs(got["goodput_gbps"] - ref["goodput_gbps"]) <= 0.01 * ref["goodput_gbps"]
        )
        print(
            f"   {name:24s} {dt_ref:8.2f} {dt_new:8.3f} {dt_ref / dt_new:6.0f}x "
            f"{ref['drops']:>9d}/{got['drops']:<10d} "
            f"{ref['goodput_gbps']:>12.2f}/{got['goodput_gbps']:<13.2f}  {ok}"
        )
    ratio = t_ref / t_new
    print(
        f"   total: SimPy {t_ref:.2f} s, numpy {t_new:.3f} s -> {ratio:.0f}x faster "
        f"(goal >= 50x: {'met' if ratio >= 50 else 'NOT met'})"
    )
    return ratio


def bench_one_second(duration_s: float) -> float:
    print(
        f"\n2. {duration_s:g} simulated s at 400 Gb/s, 16000 net_iovs, "
        f"{os.cpu_count()} cores on this machine"
    )
    worst = 0.0
    for dist, hold in [
        ("fixed", 1.34e-3),
        ("exponential", 1.34e-3),
        ("exponential", 5e-3),
        ("pareto", 2e-3),
        ("stall", 1e-3),
    ]:
        df, dt = _timed(exhaustion.simulate, 16000, 400, hold, duration_s, dist=dist)
        s = exhaustion.summarize(df)
        worst = max(worst, dt / duration_s)
        print(
            f"   {dist:12s} hold {hold * 1e3:4.2f} ms: {dt:5.2f} s wall, {_cpu[-1]:5.2f} s CPU "
            f"({s['arrivals']:,} packets, {100 * s['drop_rate']:5.1f} % dropped)"
        )
    print(
        f"   worst: {worst:.2f} s per simulated second (goal < 5 s: "
        f"{'met' if worst < 5 else 'NOT met'})"
    )
    holds = [0.5e-3, 1.0e-3, 1.34e-3, 2e-3]
    with ProcessPoolExecutor(max_workers=2) as pool:
        _, dt = _timed(
            exhaustion.sweep,
            "hold_s",
            holds,
            executor=pool,
            progress=False,
            pool_pages=16000,
            line_rate_gbps=400,
            duration_s=duration_s,
        )
    print(
        f"   sweep of {len(holds)} hold times x {duration_s:g} s over 2 processes: {dt:.2f} s "
        f"({dt / len(holds) / duration_s:.2f} s per simulated second per case)"
    )
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller cases (smoke test)")
    args = ap.parse_args(argv)
    bench_vs_simpy(0.005 if args.quick else 0.02)
    bench_one_second(0.1 if args.quick else 1.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
