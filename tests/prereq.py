"""The tests' side of :mod:`devmem_lab.prerequisites`: skip outside CI, fail in CI.

Mark a test with what it needs from the machine and the autouse fixture in ``conftest.py``
applies the policy before it runs::

    @pytest.mark.needs(pre.LINUX, pre.KERNEL, pre.NETDEV_FAMILY, pre.ETHTOOL)
    def test_...(): ...

or call :func:`require` inside a fixture or test when the needs are only known at run time.
"""

from __future__ import annotations

import pytest

from devmem_lab import prerequisites as pre

#: What every comparison with the running kernel needs.
LIVE = (pre.LINUX, pre.KERNEL, pre.NETDEV_FAMILY)


def require(*needs: pre.Prerequisite) -> None:
    """Fail (CI, a prerequisite ``.ci/run`` installs) or skip (with the reason and the install
    command) unless every prerequisite in ``needs`` is there."""
    failure = pre.must_fail(needs)
    if failure:
        pytest.fail(failure, pytrace=False)  # at module level: a collection error
    reason = pre.missing(needs)
    if reason:
        pytest.skip(reason, allow_module_level=True)
