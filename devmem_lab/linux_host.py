"""The real kernel behind the emulated host's method names: ``LinuxHost``.

Runs the same calls a notebook makes on ``lab.server`` against the running Linux kernel:
a real ``socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)`` for the netdev family
(``net/core/netdev-genl.c``, family id resolved through nlctrl, ``net/netlink/genetlink.c``),
real ``socket.socket`` TCP/UDP sockets whose ``setsockopt`` returns the kernel's return value
for ``SO_DEVMEM_DONTNEED`` (``net/core/sock.c`` ``sock_devmem_dontneed``; Python's own
``setsockopt`` drops it, so that one call goes through libc), the real ``ethtool`` binary and
``/dev/udmabuf`` (``drivers/dma-buf/udmabuf.c``).

:meth:`LinuxHost.probe` reports what this kernel offers without changing anything and without
root: kernel version, the netdev family and its ops, queues and page pools, whether the devmem
socket options are known, whether this process may bind (``CAP_NET_ADMIN``) and which NICs
report header split (``net/ethtool/rings.c``).

Importing this module needs no privileges and works on any OS; the calls that talk to the
kernel raise ``OSError`` where Linux (or a privilege) is missing and say which.
"""

from __future__ import annotations

import errno
import os
import platform
import re
import shlex
import socket as _socket
import struct
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any

from . import prerequisites, uapi, ynl
from .errors import DevmemError, EthtoolError
from .netlink import family as netdev_spec
from .netlink import wire

__all__ = [
    "MIN_DEVMEM_KERNEL",
    "KernelNetlinkSocket",
    "KernelSocket",
    "LinuxHost",
    "Probe",
    "has_cap_net_admin",
    "kernel_version",
]

MIN_DEVMEM_KERNEL = (6, 12)  # RX devmem merged in 6.12
CAP_NET_ADMIN = 12  # include/uapi/linux/capability.h

# include/uapi/linux/genetlink.h (op flags nlctrl reports)
GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP, GENL_UNS_ADMIN_PERM = 0x01, 0x02, 0x04, 0x10

# include/uapi/linux/ethtool_netlink_generated.h (rings)
ETHTOOL_MSG_RINGS_GET = 15
ETHTOOL_A_RINGS_HEADER = 1
ETHTOOL_A_HEADER_DEV_INDEX, ETHTOOL_A_HEADER_DEV_NAME = 1, 2
ETHTOOL_A_RINGS_TCP_DATA_SPLIT = 11
ETHTOOL_A_RINGS_HDS_THRESH, ETHTOOL_A_RINGS_HDS_THRESH_MAX = 17, 18
TCP_DATA_SPLIT = {0: "unknown", 1: "disabled", 2: "enabled"}

# drivers/dma-buf/udmabuf.c: struct udmabuf_create {u32 memfd, flags; u64 offset, size}
_UDMABUF_CREATE_STRUCT = struct.Struct("=IIQQ")
UDMABUF_CREATE = (1 << 30) | (_UDMABUF_CREATE_STRUCT.size << 16) | (ord("u") << 8) | 0x42
UDMABUF_FLAGS_CLOEXEC = 0x01
_F_ADD_SEALS, _F_SEAL_SHRINK = 1033, 0x2

# netdev op names by command id, as in netdev.yaml (the family table)
NETDEV_OPS = {cmd: name for name, cmd in netdev_spec.SPEC_CMDS.items()}
NETDEV_OPS.setdefault(16, "queue-create")

# ethtool options that only read (first option after the global flags); everything else sets
_ETHTOOL_READ_ONLY = {
    "-l", "--show-channels", "-g", "--show-ring", "-x", "--show-rxfh-indir", "--show-rxfh",
    "-k", "--show-features", "--show-offload", "-n", "-u", "--show-nfc", "--show-ntuple",
    "-S", "--statistics", "-i", "--driver", "-a", "--show-pause", "-c", "--show-coalesce",
    "-T", "--show-time-stamping", "-P", "--show-permaddr", "-m", "--dump-module-eeprom",
    "--module-info", "--show-eee", "--show-fec", "--show-priv-flags", "--show-module",
    "--show-tunnels", "--show-pse", "--show-plca", "--show-mm", "--version", "-h", "--help",
}
_ETHTOOL_GLOBAL_FLAGS = {"--json", "-j", "-I", "--include-statistics", "--all-groups"}


# ---- small helpers ---------------------------------------------------------------------------
def kernel_version(release: str | None = None) -> tuple[int, int, int] | None:
    """``(major, minor, patch)`` of ``platform.release()`` ("6.18.44-fc" -> (6, 18, 44))."""
    release = platform.release() if release is None else release
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def has_cap_net_admin() -> bool:
    """Whether this process holds ``CAP_NET_ADMIN`` (effective set, ``/proc/self/status``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << CAP_NET_ADMIN))
    except OSError:
        pass
    return False


def _require_linux(what: str) -> None:
    if platform.system() != "Linux":
        raise DevmemError(errno.EAFNOSUPPORT,
                          f"{what} needs Linux (this is {platform.system() or 'unknown'})")


_libc_lock = threading.Lock()
_libc_setsockopt = None


def _setsockopt_fn():
    """libc ``setsockopt`` through ctypes, errno kept (``use_errno=True``)."""
    global _libc_setsockopt
    with _libc_lock:
        if _libc_setsockopt is None:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.setsockopt
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                           ctypes.c_uint32]
            fn.restype = ctypes.c_int
            _libc_setsockopt = fn
        return _libc_setsockopt


def raw_setsockopt(fd: int, level: int, optname: int, data: bytes | None,
                   optlen: int | None = None) -> int:
    """``setsockopt(2)`` that returns what the kernel returned (>= 0) or raises ``OSError``.

    ``data=None`` passes a NULL pointer with ``optlen`` (as ``socket.setsockopt(l, o, None, n)``).
    """
    import ctypes
    fn = _setsockopt_fn()
    if data is None:
        ptr, length = None, int(optlen or 0)
    else:
        buf = ctypes.create_string_buffer(bytes(data), max(len(data), 1))
        ptr, length = ctypes.cast(buf, ctypes.c_void_p), len(data)
    ctypes.set_errno(0)
    rc = fn(fd, level, optname, ptr, length)
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return rc


# ---- sockets ---------------------------------------------------------------------------------
class KernelSocket:
    """A real ``socket.socket`` whose ``setsockopt`` returns the kernel's value for DONTNEED.

    Every other attribute is the wrapped socket's (``bind``, ``recvmsg``, ``settimeout``, ...);
    ``accept`` wraps the new connection too. ``.sock`` is the plain ``socket.socket``.
    """

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    def setsockopt(self, level: int, optname: int, value: Any, optlen: int | None = None):
        """``setsockopt(2)``; returns the kernel's return value for ``SO_DEVMEM_DONTNEED``.

        Raises
        ------
        OSError
            The kernel's errno: EINVAL (shorter than an int, length not a multiple of 8,
            more than 128 token ranges), EBADF (not a TCP socket), ENOPROTOOPT (a kernel
            without devmem socket options, or ``CONFIG_PAGE_POOL`` off).
        """
        if level == uapi.SOL_SOCKET and optname == uapi.SO_DEVMEM_DONTNEED:
            if value is None:
                if optlen is None:
                    raise TypeError("setsockopt() takes an int or a buffer, or None with optlen")
                return raw_setsockopt(self.sock.fileno(), level, optname, None, optlen)
            if optlen is not None:
                raise TypeError("optlen goes only with a None value")
            if isinstance(value, int):
                value = struct.pack("i", value)
            return raw_setsockopt(self.sock.fileno(), level, optname, bytes(value))
        if optlen is not None:
            return self.sock.setsockopt(level, optname, value, optlen)
        return self.sock.setsockopt(level, optname, value)

    def sendmsg(self, buffers, ancdata=(), flags: int = 0, address=None) -> int:
        """``socket.sendmsg``; with ``uapi.DmabufIov`` buffers (devmem TX) through libc so
        that the kernel sees each iovec base as a dma-buf offset (:mod:`.linux_tx`)."""
        buffers = list(buffers)
        if any(isinstance(b, uapi.DmabufIov) for b in buffers):
            from .linux_tx import libc_sendmsg
            return libc_sendmsg(self.sock.fileno(), buffers, list(ancdata), flags)
        if address is None:
            return self.sock.sendmsg(buffers, ancdata, flags)
        return self.sock.sendmsg(buffers, ancdata, flags, address)

    def accept(self):
        conn, addr = self.sock.accept()
        return KernelSocket(conn), addr

    def __getattr__(self, name: str):
        return getattr(self.sock, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def __repr__(self) -> str:
        fam = {_socket.AF_INET: "AF_INET", _socket.AF_INET6: "AF_INET6"}.get(
            self.sock.family, str(int(self.sock.family)))
        kind = {_socket.SOCK_STREAM: "SOCK_STREAM", _socket.SOCK_DGRAM: "SOCK_DGRAM"}.get(
            self.sock.type, str(int(self.sock.type)))
        state = "closed" if self.sock.fileno() < 0 else "open"
        return f"<kernel socket {fam} {kind} {state}>"


class KernelNetlinkSocket:
    """``socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)`` with the emulated socket's methods.

    Bound to an auto port id; ``NETLINK_EXT_ACK`` off as the kernel's default (as for the
    emulated socket; ``ynl.Netdev`` turns it on, or pass ``ext_ack=True``); a receive timeout
    so that ``recv`` never hangs (``TimeoutError``). Bindings made through it die when it is
    closed, as in the kernel.
    """

    def __init__(self, *, ext_ack: bool = False, timeout: float | None = 5.0) -> None:
        _require_linux("a netlink socket")
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, wire.NETLINK_GENERIC)
        try:
            self.sock.bind((0, 0))
            if ext_ack:
                self.sock.setsockopt(wire.SOL_NETLINK, wire.NETLINK_EXT_ACK, 1)
            self.sock.settimeout(timeout)
        except BaseException:
            self.sock.close()
            raise

    @property
    def portid(self) -> int:
        """The port id the kernel gave this socket (``nlmsg_pid`` of its replies)."""
        return self.sock.getsockname()[0]

    def sendto(self, data: bytes, address: tuple[int, int] = (0, 0)) -> int:
        """Send one datagram to the kernel (port 0)."""
        return self.sock.sendto(bytes(data), address)

    def send(self, data: bytes) -> int:
        return self.sendto(data)

    def recv(self, bufsize: int = 65536) -> bytes:
        """One datagram from the kernel; ``TimeoutError`` when nothing comes."""
        return self.sock.recv(bufsize)

    def setsockopt(self, *args: Any) -> None:
        return self.sock.setsockopt(*args)

    def getsockopt(self, *args: Any):
        return self.sock.getsockopt(*args)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.sock.fileno() < 0 else "open"
        return f"<kernel netlink socket NETLINK_GENERIC {state}>"


# ---- generic netlink requests (ynl's raw requests, with a process-wide seq) ---------------------
_seq_lock = threading.Lock()
_seq = [0]


def _next_seq() -> int:
    with _seq_lock:
        _seq[0] += 1
        return _seq[0]


def genl_request(sock, family_id: int, cmd: int, attrs: bytes = b"", *, dump: bool = False,
                 version: int = 1) -> list[wire.NlMsg]:
    """Send one generic netlink request and collect its replies until the ack/done
    (:func:`devmem_lab.ynl.request`; a dump asks for no ack, NLMSG_DONE ends it).

    Raises ``NetlinkError`` for an ``NLMSG_ERROR`` (or a ``NLMSG_DONE`` carrying an error)
    with its extack fields.
    """
    return ynl.request(sock, family_id, cmd, attrs, seq=_next_seq(), dump=dump, ack=not dump,
                       version=version)


def resolve_family(sock, name: str) -> dict:
    """``CTRL_CMD_GETFAMILY`` by name: ``{"id", "version", "ops": {cmd: flags}, "mcgrps"}``
    (group names; :func:`devmem_lab.ynl.get_family` has their ids).

    Raises ``NetlinkError`` ENOENT when the kernel has no such family.
    """
    f = ynl.get_family(sock, name, _next_seq())
    return {"id": f["id"], "version": f["version"], "ops": f["ops"],
            "mcgrps": tuple(f["mcgrps"])}


def _u(a: wire.Attr) -> int:
    return {1: a.u8, 2: a.u16, 4: a.u32, 8: a.u64}.get(len(a.payload), a.u32)()


# ---- the probe ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    """What the running kernel offers for devmem TCP, found without changing anything.

    ``notes`` says what could not be checked and why; ``summary()`` is one flat dict
    (a DataFrame row per item via :meth:`to_frame`).
    """

    system: str
    kernel: str
    kernel_version: tuple[int, int, int] | None
    devmem_release: bool  # kernel >= 6.12
    netdev_family: bool
    family_id: int | None
    family_version: int | None
    ops: tuple[tuple[str, str, str], ...]  # (name, "do"/"dump"/"do+dump", permission)
    devices: tuple[dict, ...]
    queues: tuple[dict, ...]
    page_pools: tuple[dict, ...]
    devmem_sockopts: bool | None
    cap_net_admin: bool
    may_bind: bool
    header_split_nics: tuple[str, ...]
    udmabuf: bool
    notes: tuple[str, ...] = field(default=())
    bind_tx: dict = field(default_factory=dict)  # ifname -> bind-tx verdict (linux_tx.py)

    def op_names(self) -> tuple[str, ...]:
        return tuple(o[0] for o in self.ops)

    @property
    def bind_rx_perm(self) -> str | None:
        for name, _kind, perm in self.ops:
            if name == "bind-rx":
                return perm
        return None

    def summary(self) -> dict[str, Any]:
        """The answers, one line each (what a learner would ask first)."""
        return {
            "system": self.system,
            "kernel": self.kernel,
            "kernel >= 6.12 (devmem RX)": self.devmem_release,
            "netdev family": self.netdev_family,
            "netdev ops": ", ".join(self.op_names()) or "-",
            "bind-rx permission": self.bind_rx_perm or "-",
            "devmem socket options known": self.devmem_sockopts,
            "CAP_NET_ADMIN (may bind)": self.may_bind,
            "devices": ", ".join(d["ifname"] for d in self.devices) or "-",
            "rx queues": sum(1 for q in self.queues if q.get("type") == "rx"),
            "page pools": len(self.page_pools),
            "NICs reporting header split": ", ".join(self.header_split_nics) or "none",
            "/dev/udmabuf": self.udmabuf,
            "bind-tx (devmem TX, 6.16+)": "bind-tx" in self.op_names(),
            "NICs with netmem TX": ", ".join(n for n, v in self.bind_tx.items()
                                             if v.startswith("yes")) or "none",
        }

    def to_frame(self):
        """:meth:`summary` as a one-column pandas DataFrame indexed by question."""
        import pandas as pd
        s = self.summary()
        df = pd.DataFrame({"answer": [str(v) for v in s.values()]}, index=list(s))
        df.index.name = "probe"
        return df

    def devices_frame(self):
        """One row per device: queues, page pools, header split, hds-thresh-max."""
        import pandas as pd
        df = pd.DataFrame(list(self.devices))
        return df.set_index("ifindex") if len(df) else df


class LinuxHost:
    """The running Linux kernel behind the emulated host's method names.

    Parameters
    ----------
    ifname
        The interface devmem calls aim at (default ``"lo"``: every Linux has it, and the
        kernel refuses devmem on it, which is what the differential tests compare).
    allow_changes
        ``ethtool`` commands that change a device (``-G``, ``-L``, ``-X``, ``-N``, ``-K``, ...)
        are refused unless this is True: they would change the real NIC (and need root).

    Attributes ``address`` / ``address4`` are the loopback addresses (``::1``,
    ``127.0.0.1``), where the TCP scenarios run.
    """

    name = "linux"
    emulated = False  # devmem_lab.host.HostLike

    def __init__(self, ifname: str = "lo", *, allow_changes: bool = False) -> None:
        self.ifname = ifname
        self.address = "::1"
        self.address4 = "127.0.0.1"
        self.allow_changes = allow_changes

    def __repr__(self) -> str:
        return f"LinuxHost({platform.system()} {platform.release()}, {self.ifname})"

    # ---- names ----------------------------------------------------------------------------
    def if_nametoindex(self, name: str) -> int:
        """``if_nametoindex(3)``: OSError(ENODEV) for an unknown name."""
        if not isinstance(name, str):
            raise TypeError(f"if_nametoindex() argument must be str, not {type(name).__name__}")
        try:
            return _socket.if_nametoindex(name)
        except OSError:
            raise DevmemError(errno.ENODEV, "no interface with this name") from None

    def if_indextoname(self, ifindex: int) -> str:
        """``if_indextoname(3)``: OSError(ENXIO) for an unknown index."""
        try:
            return _socket.if_indextoname(ifindex)
        except OSError:
            raise DevmemError(errno.ENXIO, "no interface with this index") from None

    # ---- sockets --------------------------------------------------------------------------
    def netlink(self, *, ext_ack: bool = False) -> KernelNetlinkSocket:
        """A real generic-netlink socket; ``NETLINK_EXT_ACK`` off unless asked (kernel default)."""
        return KernelNetlinkSocket(ext_ack=ext_ack)

    def socket(self, family: int = _socket.AF_INET6, type: int = _socket.SOCK_STREAM,
               proto: int = 0) -> KernelSocket:
        """A real ``socket.socket(family, type, proto)`` whose DONTNEED returns a count."""
        return KernelSocket(_socket.socket(family, type, proto))

    # ---- dma-bufs -------------------------------------------------------------------------
    def udmabuf_create(self, size: int) -> int:
        """A udmabuf dma-buf fd from ``/dev/udmabuf`` (``UDMABUF_CREATE`` over a sealed memfd).

        Raises
        ------
        OSError
            EINVAL: size not a positive multiple of 4096. ENOENT: no ``/dev/udmabuf`` (the
            udmabuf driver is missing: ``modprobe udmabuf``, needs ``CONFIG_UDMABUF``).
            EACCES: the device node is not accessible to this user.
        """
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"size must be an int, not {type(size).__name__}")
        if size <= 0 or size % uapi.PAGE_SIZE:
            raise DevmemError(errno.EINVAL, f"udmabuf size must be a positive multiple of "
                                            f"{uapi.PAGE_SIZE}, got {size}")
        _require_linux("udmabuf")
        if not os.path.exists("/dev/udmabuf"):
            raise DevmemError(errno.ENOENT, "the udmabuf driver is missing: no /dev/udmabuf "
                                            "(try `modprobe udmabuf`; needs CONFIG_UDMABUF)")
        import fcntl
        dev = os.open("/dev/udmabuf", os.O_RDWR | os.O_CLOEXEC)
        memfd = os.memfd_create("udmabuf", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(memfd, size)
            fcntl.fcntl(memfd, getattr(fcntl, "F_ADD_SEALS", _F_ADD_SEALS), _F_SEAL_SHRINK)
            arg = bytearray(_UDMABUF_CREATE_STRUCT.pack(memfd, UDMABUF_FLAGS_CLOEXEC, 0, size))
            return fcntl.ioctl(dev, UDMABUF_CREATE, arg, False)
        finally:
            os.close(memfd)
            os.close(dev)

    # ---- tools ----------------------------------------------------------------------------
    def ethtool(self, cmdline: str) -> str:
        """Run the real ``ethtool`` with ``cmdline``; returns what it prints on stdout.

        Raises
        ------
        EthtoolError
            ethtool failed: ``.errno`` from its message (EINVAL for usage errors),
            ``.strerror`` everything it printed, ``.returncode`` its exit status. EPERM
            (``returncode`` None) for a command that would change a device while
            ``allow_changes`` is False. ENOENT when ethtool is not installed.
        """
        if not isinstance(cmdline, str):
            raise TypeError(f"cmdline must be str, not {type(cmdline).__name__}")
        try:
            argv = shlex.split(cmdline)
        except ValueError as exc:
            raise EthtoolError(errno.EINVAL, f"syntax error: {exc}") from None
        if argv and argv[0] == "ethtool":
            argv = argv[1:]
        if not self.allow_changes and _ethtool_changes(argv):
            error = EthtoolError(errno.EPERM, f"refused: `ethtool {shlex.join(argv)}` would "
                                 "change a real device; use LinuxHost(allow_changes=True) "
                                 "(and root: CAP_NET_ADMIN)")
            error.returncode = None
            raise error
        exe = prerequisites.ethtool_path()
        if exe is None:
            error = EthtoolError(errno.ENOENT, "ethtool is not installed "
                                 "(apt-get install ethtool / dnf install ethtool)")
            error.returncode = None
            raise error
        proc = subprocess.run([exe, *argv], check=False, capture_output=True, text=True, timeout=20,
                              env={**os.environ, "LC_ALL": "C"})
        if proc.returncode != 0:
            text = (proc.stdout + proc.stderr).rstrip("\n")
            error = EthtoolError(_errno_from_text(text), text)
            error.returncode = proc.returncode
            raise error
        return proc.stdout

    # ---- probe ----------------------------------------------------------------------------
    def probe(self) -> Probe:
        """Report what this kernel supports for devmem TCP. Read-only; no root needed."""
        return probe()

    def check_bind_rx(self) -> dict[str, str]:
        """How far bind-rx gets on each device with a dma-buf fd of -1 (privileged).

        Sends ``bind-rx {ifindex, fd: -1, queues: [rx 0]}`` per device. ``dma_buf_get(-1)``
        always fails (EBADF) and the binding must exist before any queue is restarted, so
        nothing on the host changes. On kernels that check the device first (ops lock,
        6.15+) the answer tells devices without queue management (EOPNOTSUPP on the ifindex,
        as ``lo``) from devices that reach the dma-buf check (EBADF): only those could take a
        devmem binding. Needs ``CAP_NET_ADMIN`` (bind-rx is admin-perm).

        Returns
        -------
        dict
            ifname -> verdict; ``{"*": reason}`` when the check cannot run here.
        """
        from .errors import NetlinkError
        _require_linux("bind-rx")
        if not has_cap_net_admin():
            return {"*": "needs CAP_NET_ADMIN (run as root): bind-rx is admin-perm"}
        names = _if_names()
        verdicts: dict[str, str] = {}
        with KernelNetlinkSocket(ext_ack=True) as sock:
            try:
                fid = resolve_family(sock, "netdev")["id"]
            except OSError:
                return {"*": "the kernel has no netdev family"}
            queue = wire.pack_attr(uapi.NETDEV_A_DMABUF_QUEUES,
                                   wire.pack_attr(1, struct.pack("=I", 0))
                                   + wire.pack_attr(3, struct.pack("=I", 0)), nested=True)
            errors: dict[int, NetlinkError | None] = {}
            for ifindex in sorted(names):
                attrs = (wire.pack_attr(1, struct.pack("=I", ifindex))
                         + wire.pack_attr(3, struct.pack("=I", 0xFFFFFFFF)) + queue)
                try:
                    genl_request(sock, fid, uapi.NETDEV_CMD_BIND_RX, attrs)
                    errors[ifindex] = None
                except NetlinkError as e:
                    errors[ifindex] = e
        lo = errors.get(self.if_nametoindex("lo")) if "lo" in names.values() else None
        ops_lock_first = lo is not None and lo.errno == errno.EOPNOTSUPP \
            and lo.bad_attr_offset is not None
        for ifindex, e in errors.items():
            verdicts[names[ifindex]] = _bind_rx_verdict(e, ops_lock_first)
        return verdicts


def _bind_rx_verdict(e, ops_lock_first: bool) -> str:
    if e is None:  # pragma: no cover - dma_buf_get(-1) cannot succeed
        return "bound (unexpected)"
    name = errno.errorcode.get(e.errno, str(e.errno))
    if e.errno == errno.EOPNOTSUPP:
        name = "EOPNOTSUPP"
    if e.errno == errno.EOPNOTSUPP and e.bad_attr_offset is not None:
        return "no: no queue management (EOPNOTSUPP on ifindex)"
    if e.errno == errno.EOPNOTSUPP and e.extack_msg:
        return f"no: {e.extack_msg}"
    if e.errno == errno.EBADF:
        if not ops_lock_first:
            return "unknown: this kernel looks at the fd before the device (before 6.15)"
        return "maybe: passes the device checks, refused at the dma-buf fd (EBADF)"
    if e.errno == errno.EINVAL and e.extack_msg is None and e.missing_attr is None:
        return "no: no rx queue 0 (EINVAL)"
    text = f"{name}: {e.extack_msg}" if e.extack_msg else name
    return f"refused: {text}"


def _ethtool_changes(argv: list[str]) -> bool:
    """Whether an ethtool command line would change a device (first option not read-only)."""
    i = 0
    while i < len(argv) and argv[i] in _ETHTOOL_GLOBAL_FLAGS | {"--debug"}:
        i += 2 if argv[i] == "--debug" else 1
    if i >= len(argv) or not argv[i].startswith("-"):
        return False  # `ethtool eth0`: link settings, read-only
    return argv[i] not in _ETHTOOL_READ_ONLY


# ethtool messages that carry no strerror text, with the errno the emulated ethtool gives them
_ETHTOOL_TEXT_ERRNO = {"no stats available": errno.EOPNOTSUPP}


def _errno_from_text(text: str) -> int:
    """The errno whose ``strerror`` appears in ethtool's message (longest match), else EINVAL."""
    for needle, code in _ETHTOOL_TEXT_ERRNO.items():
        if needle in text:
            return code
    best, best_len = errno.EINVAL, 0
    for code in errno.errorcode:
        msg = os.strerror(code)
        if msg and msg in text and len(msg) > best_len:
            best, best_len = code, len(msg)
    return best


def _devmem_sockopts_known() -> bool | None:
    """SO_DEVMEM_DONTNEED with one empty token range on a fresh TCP socket: 0 if known.

    ``ENOPROTOOPT`` means the kernel has no devmem socket options (before 6.12, or
    ``CONFIG_PAGE_POOL`` off). Frees nothing either way.
    """
    with _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM) as s:
        try:
            raw_setsockopt(s.fileno(), uapi.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED,
                           struct.pack("=II", 1, 0))
            return True
        except OSError as e:
            if e.errno == errno.ENOPROTOOPT:
                return False
            return None


def _perm(flags: int) -> str:
    if flags & GENL_UNS_ADMIN_PERM:
        return "uns-admin-perm"
    if flags & GENL_ADMIN_PERM:
        return "admin-perm"
    return "none"


def probe() -> Probe:
    """The module-level form of :meth:`LinuxHost.probe`."""
    system = platform.system()
    release = platform.release()
    version = kernel_version(release) if system == "Linux" else None
    devmem_release = bool(version and version[:2] >= MIN_DEVMEM_KERNEL)
    notes: list[str] = []
    empty = {"system": system, "kernel": release, "kernel_version": version,
             "devmem_release": devmem_release, "netdev_family": False, "family_id": None,
             "family_version": None, "ops": (), "devices": (), "queues": (), "page_pools": (),
             "devmem_sockopts": None, "cap_net_admin": False, "may_bind": False,
             "header_split_nics": (), "udmabuf": False}
    if system != "Linux":
        return Probe(**{**empty, "notes": (f"not Linux ({system}): nothing to probe",)})
    cap = has_cap_net_admin()
    result = dict(empty, cap_net_admin=cap, udmabuf=os.path.exists("/dev/udmabuf"))
    try:
        result["devmem_sockopts"] = _devmem_sockopts_known()
    except OSError as e:
        notes.append(f"socket option check failed: {e}")
    names = _if_names()
    try:
        sock = KernelNetlinkSocket(ext_ack=True)
    except OSError as e:
        notes.append(f"no generic netlink socket: {e}")
        return Probe(**result, notes=tuple(notes))
    with sock:
        try:
            nl = ynl.Netdev(sock)
        except OSError as e:
            notes.append(f"netdev family absent ({os.strerror(e.errno)}): kernel before 6.0 "
                         "or not built in")
            nl = None
        if nl is not None:
            ops = []
            for cmd, flags in sorted(nl.family["ops"].items()):
                kind = "+".join(k for k, bit in (("do", GENL_CMD_CAP_DO),
                                                 ("dump", GENL_CMD_CAP_DUMP)) if flags & bit)
                ops.append((NETDEV_OPS.get(cmd, f"cmd-{cmd}"), kind, _perm(flags)))
            result.update(netdev_family=True, family_id=nl.family_id,
                          family_version=nl.family["version"], ops=tuple(ops))
            perm = {o[0]: o[2] for o in ops}.get("bind-rx")
            result["may_bind"] = bool(perm) and (cap or perm == "none")
            if not perm:
                notes.append("no bind-rx op: this kernel has no devmem RX (needs 6.12+)")
            if "bind-tx" in {o[0] for o in ops}:  # unprivileged, refused at fd -1
                from .linux_tx import check_bind_tx
                result["bind_tx"] = check_bind_tx(sock, nl.family_id, names)
            else:
                notes.append("no bind-tx op: this kernel has no devmem TX (needs 6.16+)")
            result["queues"] = tuple(_dump_queues(nl, names, notes))
            result["page_pools"] = tuple(_dump_page_pools(nl, names, notes))
        rings = _rings(sock, notes)
    devices = []
    for ifindex, ifname in sorted(names.items()):
        r = rings.get(ifindex, {})
        qs = [q for q in result["queues"] if q["ifindex"] == ifindex]
        devices.append({
            "ifindex": ifindex, "ifname": ifname,
            "rx_queues": sum(1 for q in qs if q["type"] == "rx"),
            "tx_queues": sum(1 for q in qs if q["type"] == "tx"),
            "page_pools": sum(1 for p in result["page_pools"] if p.get("ifindex") == ifindex),
            "tcp_data_split": r.get("tcp_data_split", "n/a"),
            "hds_thresh_max": r.get("hds_thresh_max"),
        })
    result["devices"] = tuple(devices)
    result["header_split_nics"] = tuple(d["ifname"] for d in devices
                                        if d["tcp_data_split"] in ("enabled", "disabled"))
    if not cap:
        notes.append("no CAP_NET_ADMIN: bind-rx would fail with EPERM (run as root, or "
                     "grant cap_net_admin)")
    if not result["udmabuf"]:
        notes.append("no /dev/udmabuf: no host-memory dma-buf to bind (modprobe udmabuf)")
    return Probe(**result, notes=tuple(notes))


def _if_names() -> dict[int, str]:
    try:
        return {i: n for i, n in _socket.if_nameindex()}
    except OSError:
        return {}


def _dump_queues(nl: ynl.Netdev, names: dict[int, str], notes: list[str]) -> list[dict]:
    """``queue-get`` dump: ifindex, type, id, ifname, then napi-id/dmabuf/io-uring if set."""
    out = []
    try:
        queues = nl.queue_dump()
    except OSError as e:
        notes.append(f"queue dump failed: {e}")
        return out
    for a in queues:
        q = {"ifindex": a["ifindex"], "type": a["type"], "id": a["id"],
             "ifname": names.get(a["ifindex"], "?")}
        for key in ("napi-id", "dmabuf"):
            if key in a:
                q[key] = a[key]
        if "io-uring" in a:
            q["io-uring"] = True
        out.append(q)
    return out


_POOL_KEYS = ("id", "ifindex", "napi-id", "inflight", "inflight-mem", "detach-time", "dmabuf")


def _dump_page_pools(nl: ynl.Netdev, names: dict[int, str], notes: list[str]) -> list[dict]:
    out = []
    try:
        pools = nl.page_pool_dump()
    except OSError as e:
        notes.append(f"page-pool dump failed: {e}")
        return out
    for a in pools:
        pool: dict[str, Any] = {k: a[k] for k in _POOL_KEYS if k in a}
        if "ifindex" in pool:
            pool["ifname"] = names.get(pool["ifindex"], "?")
        out.append(pool)
    return out


def _rings(sock, notes: list[str]) -> dict[int, dict]:
    """ethtool netlink ``rings-get`` dump: tcp-data-split and hds-thresh-max per device."""
    out: dict[int, dict] = {}
    try:
        fam = resolve_family(sock, "ethtool")
        msgs = genl_request(sock, fam["id"], ETHTOOL_MSG_RINGS_GET,
                            wire.pack_attr(ETHTOOL_A_RINGS_HEADER, b"", nested=True), dump=True)
    except OSError as e:
        notes.append(f"ethtool rings dump failed: {e}")
        return out
    for m in msgs:
        a = wire.attrs_by_type(wire.parse_genl(m.payload)[2])
        if ETHTOOL_A_RINGS_HEADER not in a:
            continue
        hdr = wire.attrs_by_type(a[ETHTOOL_A_RINGS_HEADER].payload)
        if ETHTOOL_A_HEADER_DEV_INDEX not in hdr:
            continue
        info: dict[str, Any] = {}
        if ETHTOOL_A_RINGS_TCP_DATA_SPLIT in a:
            info["tcp_data_split"] = TCP_DATA_SPLIT.get(_u(a[ETHTOOL_A_RINGS_TCP_DATA_SPLIT]),
                                                        "unknown")
        if ETHTOOL_A_RINGS_HDS_THRESH_MAX in a:
            info["hds_thresh_max"] = _u(a[ETHTOOL_A_RINGS_HDS_THRESH_MAX])
        out[hdr[ETHTOOL_A_HEADER_DEV_INDEX].u32()] = info
    return out
