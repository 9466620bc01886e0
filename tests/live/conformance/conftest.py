"""Fixtures for the differential tests: an emulated host and, where possible, this kernel.

The kernel fixtures follow the one skip policy (:mod:`devmem_lab.prerequisites`, via
``tests/prereq.py``): not Linux, kernel older than 6.12, no netdev netlink family, or (for
bind-rx paths, which are admin-perm) no CAP_NET_ADMIN. Nothing here changes the host's network
configuration: bind-rx only ever gets ``/dev/null`` as its fd, on ``lo`` or on an ifindex
that does not exist, and TCP runs over 127.0.0.1.
"""

from __future__ import annotations

import json
import os

import pytest
from prereq import require

from devmem_lab import Lab, LinuxHost, conformance
from devmem_lab import prerequisites as pre

HERE = os.path.dirname(__file__)

#: scenario -> why the emulator differs from the 6.18 kernel (kept until the emulator is fixed)
KNOWN_DISCREPANCIES: dict[str, str] = {}


def recorded() -> dict:
    """Outcomes measured on a 6.18 kernel (``kernel_6_18.json``)."""
    with open(os.path.join(HERE, "kernel_6_18.json")) as f:
        return json.load(f)


@pytest.fixture
def emulated():
    return Lab(seed=0).server


@pytest.fixture
def kernel():
    require(*conformance.LIVE)
    return LinuxHost()


@pytest.fixture
def admin_kernel(kernel):
    require(pre.ADMIN)
    return kernel
