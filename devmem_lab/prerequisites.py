"""What a live check needs from this machine, and the one policy for when it is missing.

Every comparison with the running kernel (``conformance.run_all``, the live tests, notebook
09) and every test that drives an external program (the browser tests) names what it needs
from this list; :func:`missing` says what is absent, in order, with the command that installs
it. Outside CI a missing prerequisite is a skip with that reason. In CI (``CI=true``) a
prerequisite that ``.ci/run`` installs (``ci_installs``) must be there: its absence is a
failure, never a silent skip (:func:`must_fail`).

Nothing here changes the host: the checks read ``platform``, ``/proc`` and ``PATH``, open a
generic-netlink socket and ask nlctrl for the netdev family.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "ADMIN",
    "CHROMIUM",
    "ETHTOOL",
    "JUPYTERLAB",
    "KERNEL",
    "LINUX",
    "NETDEV_FAMILY",
    "PLAYWRIGHT",
    "Prerequisite",
    "ethtool_path",
    "in_ci",
    "missing",
    "must_fail",
    "python_package",
]


@dataclass(frozen=True)
class Prerequisite:
    """One thing a live check needs. ``absent()`` is ``None`` when it is there, else what is
    missing (a short phrase); ``install`` is the command that brings it (``None``: a property
    of the machine no command changes); ``ci_installs``: ``.ci/run`` installs it."""

    name: str
    absent: Callable[[], str | None]
    install: str | None = None
    ci_installs: bool = False

    def reason(self) -> str | None:
        """``"skipped: <what> (install: <command>)"``, or ``None`` when present."""
        what = self.absent()
        if what is None:
            return None
        return f"skipped: {what}" + (f" (install: {self.install})" if self.install else "")


def in_ci() -> bool:
    """True when running under CI (``CI=true``, as ``.ci/run`` sets)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def ethtool_path() -> str | None:
    """Where the ethtool binary is (often /usr/sbin, outside a user's PATH)."""
    return shutil.which("ethtool") or next(
        (p for p in ("/usr/sbin/ethtool", "/sbin/ethtool") if os.path.exists(p)), None)


def _not_linux() -> str | None:
    system = platform.system()
    return None if system == "Linux" else f"not Linux ({system or 'unknown OS'})"


def _old_kernel() -> str | None:
    from .linux_host import MIN_DEVMEM_KERNEL, kernel_version
    version = kernel_version()
    if version is None or version[:2] < MIN_DEVMEM_KERNEL:
        return f"kernel {platform.release()} is older than 6.12 (no devmem TCP)"
    return None


def _no_netdev_family() -> str | None:
    from . import linux_host
    try:
        sock = linux_host.KernelNetlinkSocket()
    except OSError as e:
        return f"no generic netlink socket ({os.strerror(e.errno or 0)})"
    try:
        linux_host.resolve_family(sock, "netdev")
    except OSError:
        return "the kernel has no netdev netlink family"
    finally:
        sock.close()
    return None


def _no_admin() -> str | None:
    from . import linux_host
    if linux_host.has_cap_net_admin():
        return None
    return "needs CAP_NET_ADMIN (run as root): bind-rx is admin-perm"


def _no_ethtool() -> str | None:
    return None if ethtool_path() else "ethtool is not installed"


def _no_chromium() -> str | None:
    found = any(shutil.which(n) for n in ("chromium", "chromium-browser")) \
        or os.access("/usr/bin/chromium", os.X_OK)
    return None if found else "chromium is not installed"


def _no_module(name: str) -> Callable[[], str | None]:
    def absent() -> str | None:
        return None if importlib.util.find_spec(name) else f"the Python package {name} is missing"
    return absent


def python_package(name: str, extra: str) -> Prerequisite:
    """A Python package that ``make test`` installs (from pyproject's ``extra``)."""
    return Prerequisite(name, _no_module(name), f"make test (pip install -e '.[{extra}]')",
                        ci_installs=True)


LINUX = Prerequisite("Linux", _not_linux)
KERNEL = Prerequisite("Linux >= 6.12", _old_kernel)
NETDEV_FAMILY = Prerequisite("netdev netlink family", _no_netdev_family)
ADMIN = Prerequisite("CAP_NET_ADMIN", _no_admin)
ETHTOOL = Prerequisite("ethtool", _no_ethtool, "apt-get install ethtool, or dnf install ethtool",
                       ci_installs=True)
CHROMIUM = Prerequisite("chromium", _no_chromium, "apt-get install chromium", ci_installs=True)
PLAYWRIGHT = python_package("playwright", "browser")
JUPYTERLAB = python_package("jupyterlab", "notebooks")

#: Checked before anything else that talks to the kernel: each needs the one before it.
_KERNEL_CHAIN = (LINUX, KERNEL, NETDEV_FAMILY)
_ORDER = {p: i for i, p in enumerate(_KERNEL_CHAIN + (ADMIN, ETHTOOL))}


def missing(needs: Iterable[Prerequisite]) -> str | None:
    """The first missing prerequisite's skip reason, or ``None`` when all are there.

    Kernel checks come first (Linux, then >= 6.12, then the netdev family: each is needed to
    ask the next), then CAP_NET_ADMIN and ethtool, then the rest in the order given.
    """
    ordered = sorted(dict.fromkeys(needs), key=lambda p: _ORDER.get(p, len(_ORDER)))
    for p in ordered:
        reason = p.reason()
        if reason:
            return reason
    return None


def must_fail(needs: Iterable[Prerequisite]) -> str | None:
    """In CI, the failure message for a missing prerequisite that ``.ci/run`` installs."""
    if not in_ci():
        return None
    for p in needs:
        what = p.absent() if p.ci_installs else None
        if what:
            return (f"CI=true and {what}, but .ci/run installs {p.name} "
                    f"({p.install}): the CI set-up is broken")
    return None
