"""Exercises of notebook 02: the ethtool commands that make a queue safe to bind.

The recipe is ``Documentation/networking/devmem.rst`` and ncdevmem's server setup
(``tools/testing/selftests/drivers/net/hw/ncdevmem.c``): header split on with hds-thresh 0
(``net/ethtool/rings.c``; bind-rx checks both in ``net/core/netdev_rx_queue.c``), RSS kept
off the devmem queue (``ethtool -X equal``), an ntuple rule steering the flow onto it. The
check runs the learner's command lines through the emulated ethtool on a fresh lab and
compares what the NIC then does with what the reference commands make it do.
"""

from __future__ import annotations

import errno
import os

from .check import Exercise

__all__ = ["devmem_setup", "q1", "steering_outcome"]


def devmem_setup(ifname: str, queue: int, dst_ip: str, dst_port: int) -> list[str]:
    """ethtool argument lines (without ``ethtool``) that prepare ``queue`` for devmem TCP."""
    return [
        f"-G {ifname} tcp-data-split on hds-thresh 0",
        f"-K {ifname} ntuple on",
        f"-X {ifname} equal {queue}",
        f"-N {ifname} flow-type tcp6 dst-ip {dst_ip} dst-port {dst_port} action {queue}",
    ]


def steering_outcome(commands: list[str], args: tuple) -> dict:
    """Run ``commands`` on a fresh 16-queue lab and report what the NIC does.

    Keys: ``error`` (the first command ethtool refused, with its message, else ``None``),
    ``flow_on_queue`` (a flow to ``dst_ip``/``dst_port`` lands on ``queue``),
    ``others_off_queue`` (64 other flows all land below ``queue``), ``bind`` (``"ok"`` or the
    errno name bind-rx would give for ``queue``).
    """
    from .. import Lab
    from ..kernel.devmem import bind_dmabuf, close_rxq, open_rxq
    from ..kernel.nic.device import FlowKey

    _ifname, queue, dst_ip, dst_port = args
    lab = Lab(seed=0)
    host, nic = lab.server, lab.server.nic
    if isinstance(commands, (str, bytes)) or not hasattr(commands, "__iter__"):
        raise TypeError("return a list of ethtool argument strings")
    error = None
    for line in commands:
        line = str(line).removeprefix("ethtool ").strip()
        try:
            host.ethtool(line)
        except OSError as exc:
            error = f"ethtool {line}: {exc.strerror.splitlines()[0]}"
            break
    flow = FlowKey(6, lab.client.address, dst_ip, 40000, dst_port)
    rng = lab.rng
    others = [FlowKey(6, lab.client.address, dst_ip, rng.randrange(32768, 61000),
                      rng.choice([22, 80, 443, 8080, dst_port + 1])) for _ in range(64)]
    fd = host.udmabuf_create(4096 * 4)
    try:
        binding = bind_dmabuf(nic, host.dmabufs.get(fd))
        try:
            open_rxq(nic, queue, binding)
            bind = "ok"
            close_rxq(nic, queue, binding)
        except OSError as exc:
            bind = f"{_errname(exc.errno)}: {exc.strerror}"
    finally:
        os.close(fd)
    return {"error": error, "flow_on_queue": nic.classify(flow) == queue,
            "others_off_queue": all(0 <= nic.classify(f) < queue for f in others),
            "bind": bind}


def _errname(err: int) -> str:
    return errno.errorcode.get(err, str(err))


_ADDR = "2001:db8::1"

q1 = Exercise(
    label="q1",
    reference=devmem_setup,
    cases=(("eth1", 15, _ADDR, 5201), ("eth1", 8, _ADDR, 9000), ("eth1", 1, _ADDR, 5201)),
    outcome=steering_outcome,
    hints=(
        ("Four commands, in the order Documentation/networking/devmem.rst gives them: rings "
        "(-G), features (-K), RSS indirection (-X), an ntuple rule (-N)."),
        ("bind-rx needs 'tcp-data-split on' AND 'hds-thresh 0' (the NIC default is 256). "
        "'-X eth1 equal N' spreads RSS over queues 0..N-1 only."),
        ("The rule: -N eth1 flow-type tcp6 dst-ip ADDR dst-port PORT action QUEUE "
        "(ntuple filters must be on first: -K eth1 ntuple on)."),
    ),
    solution_code='''
def devmem_setup(ifname, queue, dst_ip, dst_port):
    return [
        f"-G {ifname} tcp-data-split on hds-thresh 0",
        f"-K {ifname} ntuple on",
        f"-X {ifname} equal {queue}",
        f"-N {ifname} flow-type tcp6 dst-ip {dst_ip} dst-port {dst_port} action {queue}",
    ]
''',
)
