"""Shared set-ups: an ncdevmem-style steered server and a connected TCP pair."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest
from prereq import require

from devmem_lab import Lab
from devmem_lab.kernel.devmem import bind_dmabuf, open_rxq

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
    if host.kernel.version.name == "6.12":  # no hds-thresh attribute in 6.12's ethtool netlink
        host.ethtool("-G eth1 tcp-data-split on")
    else:
        host.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    host.ethtool("-K eth1 ntuple on")
    host.ethtool(f"-X eth1 equal {queue}")
    host.ethtool(f"-N eth1 flow-type tcp6 dst-ip {host.address} dst-port {port} action {queue}")


def bind(host, fd: int, queues: list[int]):
    """Bind without netlink (the netlink path has its own tests)."""
    binding = bind_dmabuf(host.nic, host.dmabufs.get(fd))
    for q in queues:
        open_rxq(host.nic, q, binding)
    return binding


def connect(lab: Lab, port: int = PORT, family=socket.AF_INET6, rcvbuf: int | None = None):
    srv, cli = lab.server, lab.client
    ls = srv.socket(family, socket.SOCK_STREAM)
    if rcvbuf is not None:  # inherited by the accepted socket, as in Linux
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    ls.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    ls.listen()
    cs = cli.socket(family, socket.SOCK_STREAM)
    cs.connect((srv.address if family == socket.AF_INET6 else srv.address4, port))
    conn, _ = ls.accept()
    return ls, cs, conn


@dataclass
class Devmem:
    lab: Lab
    fd: int
    size: int
    binding: object
    listener: object
    client: object
    conn: object

    @property
    def queue(self):
        return self.lab.server.nic.rx_queues[15]


@pytest.fixture
def devmem():
    """A lab with queue 15 bound to a 1 MiB udmabuf and a steered, connected pair."""
    yield from _devmem("6.18")


@pytest.fixture
def devmem_612():
    """The same on ``Lab(kernel="6.12")`` (the first release)."""
    yield from _devmem("6.12")


def _devmem(kernel: str):
    lab = Lab(seed=0, kernel=kernel)
    steer(lab.server)
    size = 256 * 4096
    fd = lab.server.udmabuf_create(size)
    binding = bind(lab.server, fd, [15])
    ls, cs, conn = connect(lab)
    yield Devmem(lab, fd, size, binding, ls, cs, conn)
    import os
    os.close(fd)


#: net_iovs a bound queue keeps posted to its rx ring: the lab NIC's rx ring of 2 entries times
#: bnxt's agg factor 4 (devmem_lab/kernel/nic/ring.py)
POSTED = 8


def assert_all_back(binding, posted: int = POSTED) -> None:
    """Every net_iov is back in the genpool but those the rx rings keep posted (exact)."""
    assert (binding.free_count, binding.posted_count) == (binding.num_niovs - posted, posted)
    assert binding.refs.sum() == posted
