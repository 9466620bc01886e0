"""Reference model of a devmem rx queue in SimPy: one event per packet and per token return.

The same system as ``devmem_lab.exhaustion.simulate``, written the obvious way so it can check
the vectorised simulator: a sender process puts a packet on the wire every packet time (a due
retransmission first, else new data); a packet takes ``k`` net_iovs from a ``simpy.Container``
or is dropped; each accepted packet completes after its hold time; every ``batch`` completed
tokens go back to the container together.

It draws its hold times with ``exhaustion.hold_times`` (common random numbers), so for the same
seed both models see the same consumer, and differences come from the algorithms alone.
Stalls and batching are re-implemented here on purpose.

Needs the ``sim`` extra (``pip install devmem-lab[sim]``); ``simpy`` is imported when a model
runs, so importing this module does not need it. Usage::

    python -m devmem_lab.exhaustion_simpy       # compare with the simulator on a set of cases
"""

from __future__ import annotations

import math
from collections import deque

from devmem_lab import exhaustion
from devmem_lab.bandwidth import packet_bytes

__all__ = ["CASES", "compare", "simulate_simpy"]

#: Cases the two models must agree on (drops and goodput within 1 %).
CASES: dict[str, dict] = {
    "fixed, below knee": {
        "pool_pages": 512,
        "line_rate_gbps": 100,
        "hold_s": 100e-6,
        "duration_s": 3e-3,
        "dist": "fixed",
    },
    "fixed, 2x knee": {
        "pool_pages": 512,
        "line_rate_gbps": 100,
        "hold_s": 340e-6,
        "duration_s": 3e-3,
        "dist": "fixed",
    },
    "exponential, at knee": {
        "pool_pages": 512,
        "line_rate_gbps": 100,
        "hold_s": 170e-6,
        "duration_s": 3e-3,
        "dist": "exponential",
        "seed": 1,
    },
    "exponential, batch 32": {
        "pool_pages": 512,
        "line_rate_gbps": 100,
        "hold_s": 200e-6,
        "duration_s": 3e-3,
        "dist": "exponential",
        "batch": 32,
        "seed": 2,
    },
    "pareto, 1.5x knee": {
        "pool_pages": 512,
        "line_rate_gbps": 100,
        "hold_s": 260e-6,
        "duration_s": 3e-3,
        "dist": "pareto",
        "seed": 3,
    },
    "stalls": {
        "pool_pages": 512,
        "line_rate_gbps": 100,
        "hold_s": 100e-6,
        "duration_s": 3e-3,
        "dist": "stall",
        "stall_every_s": 1e-3,
        "stall_s": 300e-6,
    },
    "mtu 8244, 2 niovs/packet": {
        "pool_pages": 1024,
        "line_rate_gbps": 100,
        "hold_s": 400e-6,
        "duration_s": 3e-3,
        "dist": "exponential",
        "mtu": 8244,
        "seed": 4,
    },
}


def _stall(done: float, every: float, stall: float) -> float:
    if every <= 0 or stall <= 0:
        return done
    end = (math.floor(done / every) + 1) * every
    return end if done >= end - stall else done


def simulate_simpy(
    pool_pages: int,
    line_rate_gbps: float,
    hold_s: float,
    duration_s: float,
    seed: int = 0,
    *,
    mtu: int = 4148,
    dist: str = "exponential",
    batch: int = 1,
    rto_s: float = 1e-3,
    tail_alpha: float = 1.5,
    stall_every_s: float = 10e-3,
    stall_s: float = 2e-3,
) -> dict:
    """Run the SimPy model; returns ``drops``, ``goodput_gbps``, ``min_free_pages``, ..."""
    import simpy

    pkt = packet_bytes(mtu)
    k = -(-pkt["payload"] // exhaustion.NIOV_BYTES)
    slot = pkt["wire"] * 8 / (line_rate_gbps * 1e9)
    n = max(1, math.ceil(duration_s / slot - 1e-9))
    holds = exhaustion.hold_times(n, hold_s, dist, seed, tail_alpha)
    stalls = dist in ("stall", "stalls", "periodic")

    env = simpy.Environment()
    pool = simpy.Container(env, capacity=pool_pages, init=pool_pages)
    st = {"drops": 0, "accepted": 0, "done": 0, "rtx": 0, "min_free": pool_pages}
    rtx_due: deque[float] = deque()

    def complete(_event) -> None:
        st["done"] += 1
        if st["done"] * k >= batch:  # a batch of tokens is ready
            pool.put(st["done"] * k)
            st["done"] = 0

    def sender():
        for s in range(n):
            t = s * slot
            if t > env.now:
                yield env.timeout(t - env.now)
            if rtx_due and rtx_due[0] <= env.now + 1e-6 * slot:
                rtx_due.popleft()
                st["rtx"] += 1
            if pool.level >= k:
                pool.get(k)
                st["accepted"] += 1
                done = t + holds[s]
                if stalls:
                    done = _stall(done, stall_every_s, stall_s)
                done = max(done, t + slot * (1 - 1e-9))
                env.timeout(done - env.now).callbacks.append(complete)
            else:
                st["drops"] += 1
                rtx_due.append(env.now + rto_s)
            st["min_free"] = min(st["min_free"], pool.level)

    env.process(sender())
    env.run(until=n * slot)
    goodput = st["accepted"] * pkt["payload"] * 8 / duration_s / 1e9
    return {
        "drops": st["drops"],
        "goodput_gbps": goodput,
        "min_free_pages": st["min_free"],
        "arrivals": n,
        "retransmits": st["rtx"],
    }


def compare(cases: dict[str, dict] | None = None):
    """Both models on each case: a DataFrame with their drops and goodput side by side."""
    import pandas as pd

    rows = []
    for name, case in (cases or CASES).items():
        ref = simulate_simpy(**case)
        got = exhaustion.summarize(exhaustion.simulate(**case))
        rows.append(
            {
                "case": name,
                "drops_simpy": ref["drops"],
                "drops_numpy": got["drops"],
                "goodput_simpy_gbps": ref["goodput_gbps"],
                "goodput_numpy_gbps": got["goodput_gbps"],
                "min_free_simpy": ref["min_free_pages"],
                "min_free_numpy": got["min_free_pages"],
            }
        )
    return pd.DataFrame(rows).set_index("case")


if __name__ == "__main__":
    import pandas as pd

    pd.set_option("display.width", 160)
    print(compare().round(3).to_string())
