"""The same scenario on the emulator and on this kernel gives the same outcome.

``test_emulator_matches_recorded_6_18`` runs everywhere: it holds the emulator to what a 6.18
kernel answered (``kernel_6_18.json``). ``test_emulator_matches_this_kernel`` runs the
scenarios live against the running kernel (marked ``live``), under the one skip policy of
``devmem_lab.prerequisites``: it skips off Linux, before 6.12, without the netdev family, for
bind-rx paths without CAP_NET_ADMIN and for ethtool scenarios without the ethtool binary,
which in CI (``.ci/run`` installs it) is a failure instead.
"""

from __future__ import annotations

import pytest
from prereq import require

from devmem_lab import Lab, conformance

from .conftest import KNOWN_DISCREPANCIES, recorded

NAMES = [s.name for s in conformance.SCENARIOS]


def _param(name: str):
    if name in KNOWN_DISCREPANCIES:
        return pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_DISCREPANCIES[name]))
    return name


@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_emulator_matches_recorded_6_18(name, emulated):
    want = recorded()["outcomes"][name]
    got = conformance.run_scenario(conformance.by_name(name), emulated)
    assert conformance._same(got, want), f"{name}: emulator {got!r}, kernel 6.18 {want!r}"


@pytest.mark.live
@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_emulator_matches_this_kernel(name, emulated, kernel):
    scn = conformance.by_name(name)
    require(*scn.needs)  # what run_all checks too: CAP_NET_ADMIN, the ethtool binary
    want = conformance.run_scenario(scn, kernel)
    got = conformance.run_scenario(scn, emulated)
    assert conformance._same(got, want), f"{name}: emulator {got!r}, kernel {want!r}"


def test_every_scenario_is_recorded():
    assert sorted(recorded()["outcomes"]) == sorted(NAMES)


def test_scenario_names_are_unique_and_described():
    assert len(set(NAMES)) == len(NAMES)
    for s in conformance.SCENARIOS:
        assert s.what, f"{s.name} has no docstring"
        assert s.group in {"bind-rx", "netdev", "dump", "sockopt", "recvmsg", "tx",
                           "ethtool", "ethtool-nl"}


def test_emulator_answers_every_scenario_like_a_kernel():
    """No scenario ends in a Python-level exception on the emulator (only errno outcomes)."""
    out = conformance.run_all(Lab(seed=0).server)
    assert all(o[0] in ("ok", "error") for o in out.values()), out


def test_emulator_is_deterministic():
    a = conformance.run_all(Lab(seed=0).server)
    b = conformance.run_all(Lab(seed=0).server)
    assert a == b


def test_compare_table_marks_skips_and_disagreements():
    emu = conformance.run_all(Lab(seed=0).server)
    kern = {n: "skipped: not Linux (Darwin)" for n in emu}
    kern["dontneed-empty"] = ("error", "EINVAL", None, None, None)
    kern["dontneed-udp"] = ("ok", 0)
    df = conformance.compare(emu, kern)
    assert list(df.columns) == ["group", "emulator", "kernel", "agree"]
    assert df.loc["dontneed-empty", "agree"] == "yes"
    assert df.loc["dontneed-udp", "agree"] == "NO"
    assert df.loc["bind-rx-lo", "agree"] == "skipped"
    assert df.loc["bind-rx-lo", "kernel"] == "skipped: not Linux (Darwin)"
    assert df.loc["bind-rx-lo", "emulator"] == "EOPNOTSUPP bad-attr@20"
    assert df.loc["bind-rx-no-fd", "emulator"] == "EINVAL missing=fd"


def test_skip_reasons(monkeypatch):
    import platform

    from devmem_lab import linux_host
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert conformance.kernel_unavailable() == "skipped: not Linux (Darwin)"
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(platform, "release", lambda: "6.8.0-45-generic")
    assert "older than 6.12" in conformance.kernel_unavailable()
    out = conformance.run_all(Lab(seed=0).server)  # the emulator column never skips
    assert all(not isinstance(o, str) for o in out.values())
    monkeypatch.setattr(platform, "release", lambda: "6.18.0")
    monkeypatch.setattr(linux_host, "has_cap_net_admin", lambda: False)
    if conformance.kernel_unavailable() is None:  # a real 6.12+ Linux underneath
        reason = conformance.kernel_unavailable(needs_admin=True)
        assert reason.startswith("skipped: needs CAP_NET_ADMIN")


def test_run_all_on_kernel_skips_admin_paths_without_cap(monkeypatch, kernel):
    from devmem_lab import linux_host
    monkeypatch.setattr(linux_host, "has_cap_net_admin", lambda: False)
    out = conformance.run_all(kernel, [conformance.by_name("bind-rx-lo"),
                                       conformance.by_name("dontneed-empty")])
    assert out["bind-rx-lo"].startswith("skipped: needs CAP_NET_ADMIN")
    assert out["dontneed-empty"] == ("error", "EINVAL", None, None, None)
