"""The one skip policy (devmem_lab.prerequisites): order, reasons, and CI turning skips into
failures for what .ci/run installs. The machine is faked with monkeypatch."""

from __future__ import annotations

import platform

import pytest
from prereq import LIVE, require

from devmem_lab import Lab, conformance, linux_host
from devmem_lab import prerequisites as pre


@pytest.fixture
def no_ethtool(monkeypatch):
    monkeypatch.setattr(pre, "ethtool_path", lambda: None)


def test_reason_names_what_is_missing_and_the_install_command(no_ethtool):
    assert pre.ETHTOOL.reason() == ("skipped: ethtool is not installed "
                                    "(install: apt-get install ethtool, or dnf install ethtool)")
    assert pre.missing([pre.ETHTOOL]) == pre.ETHTOOL.reason()


def test_kernel_checks_come_first_whatever_the_order_given(monkeypatch, no_ethtool):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert pre.missing([pre.ETHTOOL, pre.ADMIN, *LIVE]) == "skipped: not Linux (Darwin)"
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(platform, "release", lambda: "6.8.0-45-generic")
    assert pre.missing([pre.ETHTOOL, *LIVE]) == (
        "skipped: kernel 6.8.0-45-generic is older than 6.12 (no devmem TCP)")


def test_admin_before_ethtool(monkeypatch, no_ethtool):
    monkeypatch.setattr(linux_host, "has_cap_net_admin", lambda: False)
    assert pre.missing([pre.ETHTOOL, pre.ADMIN]) == (
        "skipped: needs CAP_NET_ADMIN (run as root): bind-rx is admin-perm")


def test_ci_fails_only_for_what_ci_installs(monkeypatch, no_ethtool):
    monkeypatch.setenv("CI", "true")
    assert pre.must_fail([pre.ETHTOOL]) == (
        "CI=true and ethtool is not installed, but .ci/run installs ethtool (apt-get install "
        "ethtool, or dnf install ethtool): the CI set-up is broken")
    monkeypatch.setattr(linux_host, "has_cap_net_admin", lambda: False)
    assert pre.must_fail([pre.ADMIN]) is None  # a property of the machine: still a skip
    monkeypatch.setenv("CI", "false")
    assert pre.must_fail([pre.ETHTOOL]) is None


def test_require_skips_outside_ci_and_fails_in_ci(monkeypatch, no_ethtool):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="ethtool is not installed"):
        require(pre.ETHTOOL)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="the CI set-up is broken"):
        require(pre.ETHTOOL)


def test_scenarios_declare_their_needs():
    for scn in conformance.SCENARIOS:
        assert scn.needs[:3] == LIVE
        assert (pre.ETHTOOL in scn.needs) == (scn.group == "ethtool"), scn.name
        assert (pre.ADMIN in scn.needs) == scn.needs_admin, scn.name


def test_run_all_applies_the_same_policy(monkeypatch, no_ethtool):
    """run_all on a real host skips exactly the scenarios whose needs are missing."""
    if pre.missing(LIVE):
        pytest.skip(pre.missing(LIVE))
    picked = [conformance.by_name(n) for n in ("ethtool-features-lo", "dontneed-empty")]
    out = conformance.run_all(linux_host.LinuxHost(), picked)
    assert out["ethtool-features-lo"] == pre.ETHTOOL.reason()
    assert out["dontneed-empty"] == ("error", "EINVAL", None, None, None)
    emulated = conformance.run_all(Lab(seed=0).server, picked)  # the emulator never skips
    assert emulated["ethtool-features-lo"][0] == "ok"
