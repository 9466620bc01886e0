"""Shared set-ups: an ncdevmem-style steered server and a connected TCP pair."""

from __future__ import annotations

import os
import socket

import pytest
from prereq import require

from devmem_lab import Lab, scenario

PORT = 5201


@pytest.fixture(autouse=True)
def _prerequisites(request):
    """``@pytest.mark.needs(...)``: the one skip policy of ``devmem_lab.prerequisites``."""
    marker = request.node.get_closest_marker("needs")
    if marker:
        require(*marker.args)


def validation_pattern(total: int, n: int = 7) -> bytes:
    """ncdevmem's -v N pattern: bytes 1..N-1 then '\\n', repeating."""
    unit = bytes(range(1, n)) + b"\n"
    return (unit * (total // n + 1))[:total]


def steer(host, queue: int = 15, port: int = PORT) -> None:
    """Header split on, hds-thresh 0, RSS off ``queue`` and up, one ntuple rule to ``queue``."""
    scenario.steer(host, queue=queue, port=port)


def bind(host, fd: int, queues: list[int]):
    """Bind without netlink (the netlink path has its own tests)."""
    return scenario.bind_rx(host, fd, queues, netlink=False)[0]


def connect(lab: Lab, port: int = PORT, family=socket.AF_INET6, rcvbuf: int | None = None):
    return scenario.connect(lab, port=port, family=family, rcvbuf=rcvbuf)


@pytest.fixture
def devmem():
    """A lab with queue 15 bound to a 1 MiB udmabuf (no netlink) and a steered, connected
    pair: a :class:`devmem_lab.scenario.RxScenario`."""
    yield from _devmem("6.18")


@pytest.fixture
def devmem_612():
    """The same on ``Lab(kernel="6.12")`` (the first release)."""
    yield from _devmem("6.12")


def _devmem(kernel: str):
    sc = scenario.ncdevmem_rx(Lab(seed=0, kernel=kernel), pages=256, netlink=False)
    yield sc
    os.close(sc.fd)  # only the fd, as before: tests leave sockets and binding to the lab


#: net_iovs a bound queue keeps posted to its rx ring: the lab NIC's rx ring of 2 entries times
#: bnxt's agg factor 4 (devmem_lab/kernel/nic/ring.py)
POSTED = 8


def assert_all_back(binding, posted: int = POSTED) -> None:
    """Every net_iov is back in the genpool but those the rx rings keep posted (exact)."""
    assert (binding.free_count, binding.posted_count) == (binding.num_niovs - posted, posted)
    assert binding.refs.sum() == posted
