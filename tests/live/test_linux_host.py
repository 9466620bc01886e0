"""LinuxHost: no root to import or probe, the real kernel behind the emulated host's names.

Read-only against the host: the probe only asks (nlctrl, dumps, a DONTNEED of an empty
token range on a fresh socket); ethtool commands that would change a device are refused
before anything runs. Unprivileged runs happen in a forked child that drops to ``nobody``.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import socket
import struct
import subprocess
import sys

import pytest
from prereq import LIVE

from devmem_lab import EthtoolError, LinuxHost, conformance, linux_host, uapi
from devmem_lab import prerequisites as pre
from devmem_lab.linux_host import _ethtool_changes, kernel_version

ON_LINUX = platform.system() == "Linux"
live = pytest.mark.live
needs_kernel = pytest.mark.needs(*LIVE)
IS_ROOT = ON_LINUX and os.geteuid() == 0


def as_nobody(fn):
    """``fn()`` in a forked child running as uid/gid 65534 without groups; its JSON result."""
    linux_host._setsockopt_fn()  # load ctypes/libc here: nobody may not read the interpreter
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(w, json.dumps(fn(), default=str).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


# ---- import and probe without root -----------------------------------------------------------
def test_import_is_cheap_and_needs_nothing():
    code = ("import sys, devmem_lab\n"
            "assert 'devmem_lab.linux_host' not in sys.modules\n"
            "h = devmem_lab.LinuxHost()\n"
            "assert 'pandas' not in sys.modules, 'LinuxHost must not import pandas'\n"
            "print(type(h).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "LinuxHost"


def test_kernel_version_parsing():
    assert kernel_version("6.18.44-fc-v595") == (6, 18, 44)
    assert kernel_version("6.12") == (6, 12, 0)
    assert kernel_version("5.15.0-105-generic") == (5, 15, 0)
    assert kernel_version("Darwin Kernel") is None


@pytest.mark.skipif(not IS_ROOT, reason="needs root to drop to nobody (as non-root the "
                                        "other probe tests already run unprivileged)")
def test_probe_as_nobody():
    def probe():
        p = LinuxHost().probe()
        return {"uid": os.getuid(), "summary": p.summary(), "notes": list(p.notes),
                "cap": p.cap_net_admin, "may_bind": p.may_bind}

    got = as_nobody(probe)
    assert got["uid"] == 65534
    assert got["cap"] is False and got["may_bind"] is False
    assert any("CAP_NET_ADMIN" in n for n in got["notes"])
    if pre.missing(LIVE) is None:
        s = got["summary"]
        assert s["netdev family"] is True
        assert "bind-rx" in s["netdev ops"]
        assert s["devmem socket options known"] is True


@needs_kernel
@live
def test_probe_reports_this_kernel():
    p = LinuxHost().probe()
    assert p.system == "Linux" and p.devmem_release
    assert p.netdev_family and p.family_version == 1
    assert {"dev-get", "queue-get", "bind-rx"} <= set(p.op_names())
    assert p.bind_rx_perm in ("admin-perm", "uns-admin-perm")
    assert p.devmem_sockopts is True
    lo = next(d for d in p.devices if d["ifname"] == "lo")
    assert lo["ifindex"] == 1 and lo["rx_queues"] == 1 and lo["tcp_data_split"] == "n/a"
    assert {"ifindex": 1, "ifname": "lo", "type": "rx", "id": 0} in p.queues
    assert p.cap_net_admin == linux_host.has_cap_net_admin()
    assert "lo" not in p.header_split_nics
    df = p.to_frame()
    assert list(df.columns) == ["answer"] and df.index.name == "probe"
    assert "lo" in set(p.devices_frame()["ifname"])


def test_probe_off_linux(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    p = linux_host.probe()
    assert p.system == "Darwin" and not p.netdev_family and not p.devmem_release
    assert p.notes == ("not Linux (Darwin): nothing to probe",)
    assert p.summary()["netdev ops"] == "-"


def test_linux_only_calls_say_so_off_linux(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    with pytest.raises(OSError, match="needs Linux"):
        LinuxHost().netlink()


# ---- netlink -------------------------------------------------------------------------------
@needs_kernel
@live
def test_netlink_socket_speaks_to_ynl():
    from devmem_lab.ynl import Netdev
    with Netdev(LinuxHost().netlink()) as nl:
        assert nl.dev_get(1)["ifindex"] == 1
        assert {"id": 0, "type": "rx", "ifindex": 1} in nl.queue_dump(1)


@needs_kernel
@live
def test_netlink_socket_keeps_kernel_default_and_never_hangs():
    from devmem_lab.netlink import wire
    sock = LinuxHost().netlink()
    try:
        assert sock.getsockopt(wire.SOL_NETLINK, wire.NETLINK_EXT_ACK) == 0
        assert sock.portid > 0 and sock.fileno() >= 0
        sock.sock.settimeout(0.05)
        with pytest.raises(TimeoutError):
            sock.recv(4096)
    finally:
        sock.close()
    assert sock.fileno() == -1


# ---- sockets ---------------------------------------------------------------------------------
@needs_kernel
@live
def test_dontneed_returns_the_kernel_value():
    h = LinuxHost()
    with h.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        assert s.setsockopt(uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, struct.pack("=II", 1, 4)) == 0
        assert s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1) is None  # delegated
        with pytest.raises(OSError) as e:
            s.setsockopt(uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, b"\0" * 12)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(OSError) as e:
            s.setsockopt(uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, None, 8)
        assert e.value.errno == errno.EFAULT
    with h.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        with pytest.raises(OSError) as e:
            u.setsockopt(uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, struct.pack("=II", 1, 1))
        assert e.value.errno == errno.EBADF
    with pytest.raises(TypeError):
        h.socket().setsockopt(uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, None)


@pytest.mark.needs(pre.LINUX)
def test_accept_wraps_and_recvmsg_is_pythons():
    h = LinuxHost()
    with h.socket(socket.AF_INET, socket.SOCK_STREAM) as ls:
        ls.bind((h.address4, 0))
        ls.listen()
        with h.socket(socket.AF_INET, socket.SOCK_STREAM) as cs:
            cs.settimeout(5)
            cs.connect(ls.getsockname())
            conn, _addr = ls.accept()
            with conn:
                assert isinstance(conn, linux_host.KernelSocket)
                assert "kernel socket AF_INET SOCK_STREAM open" in repr(conn)
                cs.sendall(b"abc")
                conn.settimeout(5)
                assert conn.recvmsg(10, 64, uapi.MSG_SOCK_DEVMEM) == (b"abc", [], 0, None)


@pytest.mark.needs(pre.LINUX)
def test_names():
    h = LinuxHost()
    assert h.if_nametoindex("lo") == socket.if_nametoindex("lo")
    assert h.if_indextoname(h.if_nametoindex("lo")) == "lo"
    with pytest.raises(OSError) as e:
        h.if_nametoindex("nosuchdev0")
    assert e.value.errno == errno.ENODEV
    with pytest.raises(TypeError):
        h.if_nametoindex(1)


# ---- ethtool -------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd, changes", [
    (["-k", "lo"], False), (["-g", "eth0"], False), (["-S", "eth0"], False), (["eth0"], False),
    (["--json", "-l", "eth0"], False), (["--debug", "1", "-x", "eth0"], False),
    (["-G", "eth0", "tcp-data-split", "on"], True), (["-L", "eth0", "combined", "2"], True),
    (["-X", "eth0", "equal", "1"], True), (["-N", "eth0", "delete", "1"], True),
    (["-K", "eth0", "ntuple", "on"], True), (["-s", "eth0", "speed", "10"], True),
    (["--json", "-G", "eth0", "rx", "1"], True),
])
def test_ethtool_set_commands_are_recognised(cmd, changes):
    assert _ethtool_changes(cmd) is changes


def test_ethtool_changes_refused_without_running(monkeypatch):
    def no_run(*a, **k):
        raise AssertionError("ethtool must not run")

    monkeypatch.setattr(subprocess, "run", no_run)
    with pytest.raises(EthtoolError) as e:
        LinuxHost().ethtool("-G eth0 tcp-data-split on hds-thresh 0")
    assert e.value.errno == errno.EPERM and e.value.returncode is None
    assert "allow_changes=True" in e.value.strerror


def test_ethtool_missing_binary(monkeypatch):
    monkeypatch.setattr(pre, "ethtool_path", lambda: None)
    with pytest.raises(EthtoolError) as e:
        LinuxHost().ethtool("-k lo")
    assert e.value.errno == errno.ENOENT and "apt-get install ethtool" in e.value.strerror


@pytest.mark.needs(pre.LINUX, pre.ETHTOOL)
def test_ethtool_runs_the_real_tool():
    h = LinuxHost()
    assert h.ethtool("-k lo").startswith("Features for lo:")
    assert h.ethtool("ethtool -k lo").startswith("Features for lo:")
    with pytest.raises(EthtoolError) as e:
        h.ethtool("-g nosuchdev0")
    assert e.value.errno == errno.ENODEV and e.value.returncode == 1
    with pytest.raises(EthtoolError) as e:
        h.ethtool("-k 'lo")
    assert e.value.errno == errno.EINVAL  # the shell would refuse the quote


# ---- udmabuf ---------------------------------------------------------------------------------
def test_udmabuf_size_checked_first():
    h = LinuxHost()
    for size in (0, 100, -4096):
        with pytest.raises(OSError) as e:
            h.udmabuf_create(size)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        h.udmabuf_create(4096.0)


@pytest.mark.needs(pre.LINUX)
def test_udmabuf_missing_driver_is_explained(monkeypatch):
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists",
                        lambda p: False if p == "/dev/udmabuf" else real_exists(p))
    with pytest.raises(OSError) as e:
        LinuxHost().udmabuf_create(1 << 20)
    assert e.value.errno == errno.ENOENT
    assert "udmabuf driver is missing" in e.value.strerror


# ---- the differential scenarios without privileges ----------------------------------------
@needs_kernel
@live
@pytest.mark.skipif(not IS_ROOT, reason="needs root to drop to nobody")
def test_scenarios_as_nobody_skip_admin_paths_and_agree_elsewhere():
    from devmem_lab import Lab
    emu = conformance.run_all(Lab(seed=0).server)
    names = [s.name for s in conformance.SCENARIOS]
    got = as_nobody(lambda: conformance.run_all(LinuxHost()))
    for scn in conformance.SCENARIOS:
        k = got[scn.name]
        if scn.needs_admin:
            assert k.startswith("skipped: needs CAP_NET_ADMIN"), scn.name
        elif scn.name in ("dontneed-null-optval",):
            assert k[1] == "EFAULT"
        elif not isinstance(k, str):
            assert conformance._same(emu[scn.name], k), (scn.name, emu[scn.name], k)
    assert set(got) == set(names)


# ---- how far bind-rx gets (fd -1: always refused, nothing changes) --------------------------
def test_bind_rx_verdicts():
    from devmem_lab.errors import NetlinkError
    from devmem_lab.linux_host import _bind_rx_verdict
    lo_like = NetlinkError(errno.EOPNOTSUPP, None, 20)
    assert _bind_rx_verdict(lo_like, True).startswith("no: no queue management")
    assert _bind_rx_verdict(NetlinkError(errno.EBADF), True).startswith("maybe:")
    assert _bind_rx_verdict(NetlinkError(errno.EBADF), False).startswith("unknown:")
    no_dma = NetlinkError(errno.EOPNOTSUPP, "Device doesn't support DMA")
    assert _bind_rx_verdict(no_dma, True) == "no: Device doesn't support DMA"
    assert _bind_rx_verdict(NetlinkError(errno.EINVAL), True) == "no: no rx queue 0 (EINVAL)"
    assert _bind_rx_verdict(NetlinkError(errno.ENODEV), True) == "refused: ENODEV"


@needs_kernel
@live
def test_check_bind_rx_on_this_host():
    verdicts = LinuxHost().check_bind_rx()
    if not linux_host.has_cap_net_admin():
        assert verdicts == {"*": "needs CAP_NET_ADMIN (run as root): bind-rx is admin-perm"}
        return
    assert verdicts["lo"] == "no: no queue management (EOPNOTSUPP on ifindex)"
    assert set(verdicts) == {name for _, name in socket.if_nameindex()}


@live
@needs_kernel
def test_sendmsg_with_dmabuf_iovs_goes_through_libc_with_offsets():
    """The kernel sees iov_base = the offset: 0 is a NULL pointer (EFAULT); with an unknown
    binding id the id check comes first (EINVAL)."""
    host = LinuxHost()
    ls = host.socket(socket.AF_INET)
    ls.bind(("127.0.0.1", 0))
    ls.listen()
    cs = host.socket(socket.AF_INET)
    cs.connect(ls.getsockname())
    conn, _ = ls.accept()
    try:
        with pytest.raises(OSError) as e:
            cs.sendmsg([uapi.DmabufIov(0, 10)])
        assert e.value.errno == errno.EFAULT
        cs.setsockopt(socket.SOL_SOCKET, uapi.SO_ZEROCOPY, 1)
        anc = [(socket.SOL_SOCKET, uapi.SCM_DEVMEM_DMABUF, uapi.pack_tx_dmabuf_id(424242))]
        with pytest.raises(OSError) as e:
            cs.sendmsg([uapi.DmabufIov(0, 10)], anc, uapi.MSG_ZEROCOPY)
        assert e.value.errno == errno.EINVAL
        assert cs.sendmsg([b"plain"]) == 5 and conn.recv(10) == b"plain"
    finally:
        for s in (conn, cs, ls):
            s.close()


@live
@needs_kernel
def test_probe_reports_bind_tx_support():
    p = LinuxHost().probe()
    if "bind-tx" not in p.op_names():
        pytest.skip("this kernel has no bind-tx (before 6.16)")
    assert p.bind_tx["lo"] == "no: Driver does not support netmem TX"
    assert p.summary()["bind-tx (devmem TX, 6.16+)"] is True
    assert set(p.bind_tx) == set(linux_host._if_names().values())
