"""``ethtool(8)`` against an emulated kernel: real command lines in, ethtool's own text out.

Models the userspace tool as of ethtool 6.15 (the first release with ``hds-thresh``):
``ethtool.c`` (``main``, the option table, ``do_srxfh``, ``do_gstats``), ``common.c``
(``print_indir_table``, ``print_rss_hkey``, ``off_flag_def``) and the netlink front ends
``netlink/{channels,rings,features,rss,parser,nlsock}.c``. ``-n``/``-N`` (``rxclass.c``) are
``devmem_lab.ethtool.rxclass``; what every sub-command shares (``struct cmd_context``,
``exit_bad_args``, ``get_int_range``, ``ioctl_init``) is ``devmem_lab.ethtool.internal``.
Which path a command takes is ethtool's: ``-l -L -g -G -k -K -x`` speak the ethtool netlink
family, ``-X -n -N -S`` the ``SIOCETHTOOL`` ioctl. The kernel side (``net/ethtool/``) is
``devmem_lab.kernel.nic.device``.

Netlink errors print as ``nlsock_process_ack`` does: ``netlink error: <extack> (offset N)``
then ``netlink error: <strerror>``; the offset is the attribute's byte offset in the request
ethtool would have built (nlmsghdr 16 + genlmsghdr 4, then the header nest, then the
attributes in command-line order). Ioctl errors print as ``perror`` does.

Differs from ethtool: output is returned, not written; on failure everything ethtool would
have printed (stdout and stderr, in order) becomes ``EthtoolError.strerror`` with the errno
of the failing call (EINVAL for usage errors) and ``.returncode`` holds ethtool's exit status.
Not emulated (they raise EOPNOTSUPP saying so): ``--json``, ``-I``, ``--disable-netlink``,
RSS contexts, ``rx-flow-hash`` and every option outside the list above.
"""

from __future__ import annotations

import errno
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DevmemError, EthtoolError
from ..kernel import ethtool_genl
from ..kernel.nic import features as feat
from .internal import (
    _INT_MAX,
    _bad_args,
    _Ctx,
    _Exit,
    _get_int_range,
    _ioctl_errno,
    _ioctl_init,
    _not_emulated,
    _perror,
    _Term,
)
from .rxclass import do_grxclass, do_srxclass

if TYPE_CHECKING:
    from ..kernel.nic.device import NetDevice
    from ..kernel.state import Kernel

__all__ = ["ETHTOOL_VERSION", "run"]

ETHTOOL_VERSION = "6.15"

_NL_BASE = 16 + 4  # struct nlmsghdr + struct genlmsghdr
_RSS_HASH_FUNCS = ("toeplitz", "xor", "crc32")  # net/ethtool/common.c rss_hash_func_strings


# ---- entry point and main() ---------------------------------------------------------------
def run(kernel: Kernel, cmdline: str) -> str:
    """Run one ``ethtool`` command line against ``kernel``; return what ethtool prints on stdout.

    ``cmdline`` is split like a shell would (``shlex``); a leading ``ethtool`` is optional.

    Returns
    -------
    str
        ethtool's standard output, trailing newline included ("" when it prints nothing).

    Raises
    ------
    EthtoolError
        The command failed: ``.errno`` is the kernel's errno (EINVAL for usage errors,
        ENODEV for an unknown device, EOPNOTSUPP for what the device cannot do, ...),
        ``.strerror`` everything ethtool printed, ``.returncode`` its exit status.
    TypeError
        ``cmdline`` is not a string.
    """
    if not isinstance(cmdline, str):
        raise TypeError(f"cmdline must be str, not {type(cmdline).__name__}")
    term = _Term()
    try:
        argv = shlex.split(cmdline)
    except ValueError as exc:  # what the shell would refuse before ethtool runs
        raise EthtoolError(errno.EINVAL, f"syntax error: {exc}") from None
    if argv and argv[0] == "ethtool":
        argv = argv[1:]
    try:
        _main(kernel, argv, term)
    except _Exit as ex:
        if ex.code != 0 or ex.err:
            text = term.everything().rstrip("\n")
            error = EthtoolError(ex.err or errno.EINVAL, text)
            error.returncode = ex.code
            raise error from None
    return term.stdout()


def _main(kernel: Kernel, argv: list[str], term: _Term) -> None:
    """``main()`` of ethtool.c: global flags, option lookup, device name, dispatch."""
    if not argv:
        _bad_args(term)
    while argv:
        if argv[0] == "--debug":
            if len(argv) < 2 or not re.fullmatch(r"(0[xX][0-9a-fA-F]+|[0-9]+)", argv[1]):
                _bad_args(term)
            argv = argv[2:]
        elif argv[0] in ("--disable-netlink", "--json", "-j", "--include-statistics", "-I",
                         "--phy"):
            _not_emulated(f"option {argv[0]!r}")
        else:
            break
    if not argv:
        _bad_args(term)
    opt = argv[0]
    if opt == "--monitor":
        _not_emulated("--monitor")
    if opt == "--version":  # no DEVNAME
        term.out(f"ethtool version {ETHTOOL_VERSION}\n")
        return
    handler = _find_option(opt)
    if handler is None:
        if opt.startswith("-"):
            if opt in _KNOWN_NOT_EMULATED:
                _not_emulated(opt)
            _bad_args(term)
        _not_emulated("DEVNAME (link settings)")
    if len(argv) < 2:
        _bad_args(term)
    ctx = _Ctx(kernel, term, argv[1], argv[2:])
    handler(ctx)


# ---- helpers shared by the netlink commands --------------------------------------------------
def _align4(n: int) -> int:
    return (n + 3) & ~3


def _header_len(devname: str, flags: bool = False) -> int:
    """``ethnla_fill_header``: nest + ETHTOOL_A_HEADER_DEV_NAME (+ ETHTOOL_A_HEADER_FLAGS)."""
    return 4 + 4 + _align4(len(devname.encode()) + 1) + (8 if flags else 0)


def _offsets(devname: str, names: list[str], flags: bool = False) -> dict[str, int]:
    """Byte offset of each 8-byte u8/u32 attribute, in the order ethtool puts them."""
    pos = _NL_BASE + _header_len(devname, flags)
    out: dict[str, int] = {}
    for name in names:
        out[name] = pos
        pos += 8
    return out


def _nl_fail(ctx: _Ctx, err: int, msg: str | None = None, offset: int | None = None) -> None:
    """``nlsock_process_ack``: extack line (with offset) then ``perror("netlink error")``."""
    if msg:
        ctx.term.err(f"netlink error: {msg}" + (f" (offset {offset})" if offset is not None
                                                else "") + "\n")
    _perror(ctx.term, "netlink error", err)
    raise _Exit(1, err)


def _nl_device(ctx: _Ctx) -> NetDevice:
    """``ethnl_parse_header_dev_get``: ENODEV "no device matches name" at the name attr."""
    dev = ctx.device()
    if dev is None:
        _nl_fail(ctx, errno.ENODEV, "no device matches name", _NL_BASE + 4)
    return dev


def _extack(exc: OSError) -> str | None:
    """The kernel's extack message, or None when the error carries only an errno."""
    msg = exc.strerror
    return None if not msg or msg == os.strerror(exc.errno) else msg


def _nl_kernel_error(ctx: _Ctx, exc: DevmemError, offsets: dict[str, int]) -> None:
    attr = getattr(exc, "bad_attr", None)
    offset = offsets.get(attr.replace("_", "-")) if attr else None
    _nl_fail(ctx, exc.errno, _extack(exc), offset)


def _no_extra_args(ctx: _Ctx) -> None:
    if ctx.argv:
        ctx.term.err(f"ethtool: unexpected parameter '{ctx.argv[0]}'\n")
        raise _Exit(1, errno.EINVAL)


def _parse_u32(arg: str | None) -> int | None:
    """``parse_u32`` (netlink/parser.c): decimal, or hex with 0x; None if invalid."""
    if not arg:
        return None
    if arg[:2] in ("0x", "0X"):
        digits, base = arg[2:], 16
        ok = re.fullmatch(r"[0-9a-fA-F]+", digits)
    else:
        digits, base = arg, 10
        ok = re.fullmatch(r"[0-9]+", digits)
    if not ok:
        return None
    value = int(digits, base)
    return value if value <= 0xFFFFFFFF else None


@dataclass(frozen=True)
class _Param:
    """One ``struct param_parser`` entry: value kind and ``min_argc``."""

    kind: str  # "u32" | "u8bool" | "lookup"
    min_argc: int = 1
    values: tuple[str, ...] = ()


def _nl_parser(ctx: _Ctx, cmd: str, params: dict[str, _Param]) -> list[tuple[str, object]]:
    """``nl_parser`` (netlink/parser.c): ``(param, value)`` pairs in command-line order."""
    term, argv = ctx.term, ctx.argv
    seen: set[str] = set()
    result: list[tuple[str, object]] = []
    i = 0
    while i < len(argv):
        name = argv[i]
        spec = params.get(name)
        if spec is None:
            term.err(f"ethtool ({cmd}): unknown parameter '{name}'\n")
            raise _Exit(1, errno.EINVAL)
        if name in seen:
            term.err(f"ethtool ({cmd}): duplicate parameter '{name}'\n")
            raise _Exit(1, errno.EINVAL)
        i += 1
        if len(argv) - i < spec.min_argc:
            term.err(f"ethtool ({cmd}): no value for parameter '{name}'\n")
            raise _Exit(1, errno.EINVAL)
        seen.add(name)
        arg = argv[i] if i < len(argv) else None
        i += 1
        value: object = None
        if spec.kind == "u32":
            value = _parse_u32(arg)
        elif spec.kind == "u8bool":
            value = {"on": True, "off": False}.get(arg or "")
        elif spec.kind == "lookup":
            value = arg if arg in spec.values else None
        if value is None:
            shown = "(null)" if arg is None else arg
            term.err(f"ethtool ({cmd}): invalid value '{shown}' for parameter '{name}'\n")
            raise _Exit(1, errno.EINVAL)
        result.append((name, value))
    return result


def _show_u32(label: str, value: int | None) -> str:
    """``show_u32``: the value, or ``n/a`` when the kernel left the attribute out."""
    return f"{label}{'n/a' if value is None else value}\n"


# ---- -l / -L : channels (netlink/channels.c, net/ethtool/channels.c) --------------------------
def _gchannels(ctx: _Ctx) -> None:
    _no_extra_args(ctx)
    dev = _nl_device(ctx)
    if "channels" not in dev.ethtool_ops:
        _nl_fail(ctx, errno.EOPNOTSUPP)
    # channels_fill_reply: a count is sent only when its maximum is non-zero
    pairs = [("RX:\t\t", dev.max_rx, 0), ("TX:\t\t", dev.max_tx, 0),
             ("Other:\t\t", dev.max_other, 0), ("Combined:\t", dev.max_combined, dev.combined)]
    text = f"Channel parameters for {dev.name}:\nPre-set maximums:\n"
    text += "".join(_show_u32(label, mx or None) for label, mx, _cur in pairs)
    text += "Current hardware settings:\n"
    text += "".join(_show_u32(label, cur if mx else None) for label, mx, cur in pairs)
    ctx.term.out(text)


_SCHANNELS = {name: _Param("u32") for name in ("rx", "tx", "other", "combined")}


def _schannels(ctx: _Ctx) -> None:
    args = _nl_parser(ctx, "-L", _SCHANNELS)
    dev = _nl_device(ctx)
    offsets = _offsets(ctx.devname, [name for name, _v in args])
    try:
        if dev.set_channels(**{name: value for name, value in args}):
            ethtool_genl.notify(ctx.kernel.genl, dev, "channels-ntf")
    except DevmemError as exc:
        _nl_kernel_error(ctx, exc, offsets)


# ---- -g / -G : rings (netlink/rings.c, net/ethtool/rings.c) ------------------------------------
def _kernel_has_hds_thresh(version) -> bool:
    """ETHTOOL_A_RINGS_HDS_THRESH arrived with the 6.14 devmem HDS series (6.12 lacks it)."""
    return bool(getattr(version, "hds_thresh_attr", version.rings_refusals))


def _grings(ctx: _Ctx) -> None:
    _no_extra_args(ctx)
    dev = _nl_device(ctx)
    if "rings" not in dev.ethtool_ops:
        _nl_fail(ctx, errno.EOPNOTSUPP)
    hds = "hds_thresh" in dev.ring_params and _kernel_has_hds_thresh(dev.kernel.version)
    split = "on" if dev.tcp_data_split_active else "off"
    ctx.term.out(
        f"Ring parameters for {dev.name}:\n"
        "Pre-set maximums:\n"
        + _show_u32("RX:\t\t\t", dev.rx_ring_max)
        + _show_u32("RX Mini:\t\t", None)
        + _show_u32("RX Jumbo:\t\t", None)
        + _show_u32("TX:\t\t\t", dev.tx_ring_max)
        + _show_u32("TX push buff len:\t", None)
        + _show_u32("HDS thresh:\t\t", dev.hds_thresh_max if hds else None)
        + "Current hardware settings:\n"
        + _show_u32("RX:\t\t\t", dev.rx_ring)
        + _show_u32("RX Mini:\t\t", None)
        + _show_u32("RX Jumbo:\t\t", None)
        + _show_u32("TX:\t\t\t", dev.tx_ring)
        + _show_u32("RX Buf Len:\t\t", None)
        + _show_u32("CQE Size:\t\t", None)
        + "TX Push:\t\toff\n"
        + "RX Push:\t\toff\n"
        + _show_u32("TX push buff len:\t", None)
        + f"TCP data split:\t\t{split}\n"
        + _show_u32("HDS thresh:\t\t", dev.hds_thresh if hds else None))


_SRINGS = {
    "rx": _Param("u32"), "rx-mini": _Param("u32"), "rx-jumbo": _Param("u32"),
    "tx": _Param("u32"), "tx-push-buf-len": _Param("u32"), "rx-buf-len": _Param("u32"),
    "tcp-data-split": _Param("lookup", values=("auto", "off", "on")),
    "cqe-size": _Param("u32"), "tx-push": _Param("u8bool"), "rx-push": _Param("u8bool"),
    "hds-thresh": _Param("u32", min_argc=0),
}


def _srings(ctx: _Ctx) -> None:
    args = _nl_parser(ctx, "-G", _SRINGS)
    offsets = _offsets(ctx.devname, [name for name, _v in args])
    # genetlink validates attributes against the policy before the handler looks up the device
    if "hds-thresh" in offsets and not _kernel_has_hds_thresh(ctx.kernel.version):
        _nl_fail(ctx, errno.EINVAL, "Unknown attribute type", offsets["hds-thresh"])
    dev = _nl_device(ctx)
    try:
        if dev.set_rings(**{name.replace("-", "_"): value for name, value in args}):
            ethtool_genl.notify(ctx.kernel.genl, dev, "rings-ntf")
    except DevmemError as exc:
        _nl_kernel_error(ctx, exc, offsets)


# ---- -k / -K : features (netlink/features.c, net/ethtool/features.c) -------------------------
# off_flag_def (common.c): short name, long name, kernel feature pattern. UFO is skipped: no
# kernel with the netlink interface has it.
_OFF_FLAGS = (
    ("rx", "rx-checksumming", "rx-checksum"), ("tx", "tx-checksumming", "tx-checksum-*"),
    ("sg", "scatter-gather", "tx-scatter-gather*"),
    ("tso", "tcp-segmentation-offload", "tx-tcp*-segmentation"),
    ("ufo", "udp-fragmentation-offload", "tx-udp-fragmentation"),
    ("gso", "generic-segmentation-offload", "tx-generic-segmentation"),
    ("gro", "generic-receive-offload", "rx-gro"), ("lro", "large-receive-offload", "rx-lro"),
    ("rxvlan", "rx-vlan-offload", "rx-vlan-hw-parse"),
    ("txvlan", "tx-vlan-offload", "tx-vlan-hw-insert"),
    ("ntuple", "ntuple-filters", "rx-ntuple-filter"), ("rxhash", "receive-hashing", "rx-hashing"),
)
# Kernel feature names (netdev_features_strings), in the order `ethtool -k` prints them on
# Linux 6.18: features matching a legacy flag first, grouped under it, then the rest.
_FEATURE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rx-checksumming", ("rx-checksum",)),
    ("tx-checksumming", ("tx-checksum-ipv4", "tx-checksum-ip-generic", "tx-checksum-ipv6",
                         "tx-checksum-fcoe-crc", "tx-checksum-sctp")),
    ("scatter-gather", ("tx-scatter-gather", "tx-scatter-gather-fraglist")),
    ("tcp-segmentation-offload", ("tx-tcp-segmentation", "tx-tcp-ecn-segmentation",
                                  "tx-tcp-mangleid-segmentation", "tx-tcp6-segmentation",
                                  "tx-tcp-accecn-segmentation")),
    ("generic-segmentation-offload", ("tx-generic-segmentation",)),
    ("generic-receive-offload", ("rx-gro",)),
    ("large-receive-offload", ("rx-lro",)),
    ("rx-vlan-offload", ("rx-vlan-hw-parse",)),
    ("tx-vlan-offload", ("tx-vlan-hw-insert",)),
    ("ntuple-filters", ("rx-ntuple-filter",)),
    ("receive-hashing", ("rx-hashing",)),
)
_OTHER_FEATURES = (
    "highdma", "rx-vlan-filter", "vlan-challenged", "tx-gso-robust", "tx-fcoe-segmentation",
    "tx-gre-segmentation", "tx-gre-csum-segmentation", "tx-ipxip4-segmentation",
    "tx-ipxip6-segmentation", "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation",
    "tx-gso-partial", "tx-tunnel-remcsum-segmentation", "tx-sctp-segmentation",
    "tx-esp-segmentation", "tx-udp-segmentation", "tx-gso-list", "tx-nocache-copy", "loopback",
    "rx-fcs", "rx-all", "tx-vlan-stag-hw-insert", "rx-vlan-stag-hw-parse", "rx-vlan-stag-filter",
    "l2-fwd-offload", "hw-tc-offload", "esp-hw-offload", "esp-tx-csum-hw-offload",
    "rx-udp_tunnel-port-offload", "tls-hw-tx-offload", "tls-hw-rx-offload", "rx-gro-hw",
    "tls-hw-record", "rx-gro-list", "macsec-hw-offload", "rx-udp-gro-forwarding",
    "hsr-tag-ins-offload", "hsr-tag-rm-offload", "hsr-fwd-offload", "hsr-dup-offload",
)


def _feature_key(kernel_name: str) -> str:
    """Device key (the name ``-k`` prints) of a kernel feature name."""
    for legacy, members in _FEATURE_GROUPS:
        if len(members) == 1 and members[0] == kernel_name:
            return legacy
    return kernel_name


def _kernel_feature_names() -> list[str]:
    names = [m for _legacy, members in _FEATURE_GROUPS for m in members]
    return names + list(_OTHER_FEATURES)


def _flag_pattern_match(name: str, pattern: str) -> bool:
    """``flag_pattern_match`` (netlink/features.c): one ``*`` at most."""
    if "*" in pattern:
        head, tail = pattern.split("*", 1)
        return (len(name) + 1 >= len(pattern) and name.startswith(head)
                and name.endswith(tail))
    return name == pattern


def _gfeatures(ctx: _Ctx) -> None:
    _no_extra_args(ctx)
    dev = _nl_device(ctx)
    lines = [f"Features for {dev.name}:"]

    def row(prefix: str, label: str, key: str) -> str:
        fixed = " [fixed]" if key in dev.fixed_features else ""
        return f"{prefix}{label}: {'on' if dev.features[key] else 'off'}{fixed}"

    for legacy, members in _FEATURE_GROUPS:
        if len(members) == 1:
            lines.append(row("", legacy, _feature_key(members[0])))
            continue
        any_on = any(dev.features[m] for m in members)
        lines.append(f"{legacy}: {'on' if any_on else 'off'}")
        lines.extend(row("\t", m, m) for m in members)
    lines.extend(row("", name, name) for name in _OTHER_FEATURES)
    ctx.term.out("\n".join(lines) + "\n")


def _sfeatures(ctx: _Ctx) -> None:
    """``nl_sfeatures`` + ``show_feature_changes``; kernel side ``ethnl_set_features``."""
    term, argv = ctx.term, list(ctx.argv)
    names = _kernel_feature_names()
    requests: list[tuple[str, bool, int]] = []  # kernel name, value, offset of its name attr
    pos = _NL_BASE + _header_len(ctx.devname, flags=True) + 4 + 4  # WANTED nest, BITS nest
    while argv:
        if argv[0] == "--":
            break
        if len(argv) < 2 or argv[1] not in ("on", "off"):
            shown = argv[1] if len(argv) > 1 else "(null)"
            term.err(f"ethtool (-K): flag '{shown}' for parameter '(null)' is not followed by "
                     "'on' or 'off'\n")
            raise _Exit(1, errno.EINVAL)
        flag, value = argv[0], argv[1] == "on"
        legacy = [p for s, lname, p in _OFF_FLAGS if flag in (s, lname)]
        targets = ([n for n in names if _flag_pattern_match(n, legacy[0])] if legacy
                   else [flag])
        for target in targets:
            requests.append((target, value, pos + 4))
            pos += 4 + 4 + _align4(len(target.encode()) + 1) + (4 if value else 0)
        argv = argv[2:]
    dev = _nl_device(ctx)
    value = mask = 0
    for target, on, offset in requests:  # ethnl_parse_bitset (a list bitset with a mask)
        try:
            bit = 1 << feat.feature_index(target)
        except DevmemError as exc:
            _nl_fail(ctx, exc.errno, exc.strerror, offset)
        mask |= bit
        value = value | bit if on else value & ~bit
    try:  # the kernel side, shared with ETHTOOL_MSG_FEATURES_SET (kernel/ethtool_genl.py)
        change = feat.set_features(dev, value, mask)
    except DevmemError as exc:
        _nl_fail(ctx, exc.errno, exc.strerror)
    if change.changed:
        ethtool_genl.notify(ctx.kernel.genl, dev, "features-ntf")
    changes = []
    for name in names:  # show_feature_changes: wanted-vs-result, then old-vs-new
        bit = 1 << feat.feature_index(name)
        now = dev.features[_feature_key(name)]
        if change.wanted_mask & bit:
            changes.append(f"{name}: {'on' if now else 'off'} "
                           f"[requested {'on' if change.wanted & bit else 'off'}]")
        elif change.active_mask & bit:
            changes.append(f"{name}: {'on' if now else 'off'}"
                           + ("" if mask & bit else " [not requested]"))
    if changes:
        term.out("Actual changes:\n" + "\n".join(changes) + "\n")


# ---- -x : RSS (netlink/rss.c, common.c print_indir_table / print_rss_hkey) --------------------
def _grss(ctx: _Ctx) -> None:
    args = _nl_parser(ctx, "-x", {"context": _Param("u32")})
    dev = _nl_device(ctx)
    if "rxfh" not in dev.ethtool_ops:
        _nl_fail(ctx, errno.EOPNOTSUPP)
    if args and args[0][1]:
        _nl_fail(ctx, errno.ENOENT)  # this NIC has no additional RSS contexts
    table = dev.rss_table
    lines = ["", f"RX flow hash indirection table for {dev.name} with {dev.combined} RX ring(s):"]
    for start in range(0, len(table), 8):
        lines.append(f"{start:5d}: " + "".join(f" {q:5d}" for q in table[start:start + 8]))
    lines.append("RSS hash key:")
    lines.append(":".join(f"{b:02x}" for b in dev.rss_key))
    lines.append("RSS hash function:")
    lines.extend(f"    {name}: {'on' if name == dev.rss_hfunc else 'off'}"
                 for name in _RSS_HASH_FUNCS)
    lines += ["RSS input transformation:", "    symmetric-xor: off", "    symmetric-or-xor: off"]
    ctx.term.out("\n".join(lines) + "\n")


# ---- -X : RSS table/key (ethtool.c do_srxfh, net/ethtool/ioctl.c ethtool_set_rxfh) -------------
def _srxfh_args(term: _Term, argv: list[str]) -> dict:
    """The argument loop of ``do_srxfh``: any unknown word or missing value is bad args."""
    opts: dict = {"equal": 0, "start": 0, "weights": None, "hkey": None, "hfunc": None,
                  "default": False, "delete": False, "xfrm": None, "context": 0}
    i = 0
    while i < len(argv):
        word, value = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if word == "weight":
            j = i + 1
            while j < len(argv) and argv[j][:1].isdigit():
                j += 1
            if j == i + 1:
                _bad_args(term)
            opts["weights"], i = argv[i + 1:j], j
            continue
        if word in ("default", "delete"):
            opts[word], i = True, i + 1
            continue
        if word not in ("equal", "start", "hkey", "hfunc", "xfrm", "context") or value is None:
            _bad_args(term)
        if word in ("equal", "start"):
            opts[word] = _get_int_range(term, value, 1 if word == "equal" else 0, _INT_MAX)
        elif word == "xfrm":
            opts["xfrm"] = {"symmetric-xor": 1, "symmetric-or-xor": 2, "none": 0}.get(value)
            if opts["xfrm"] is None:
                _bad_args(term)
        elif word == "context":
            opts["context"] = (0xFFFFFFFF if value == "new"
                               else _get_int_range(term, value, 1, 0xFFFFFFFE))
        else:
            opts[word] = value
        i += 2
    return opts


def _srxfh_exclusive(term: _Term, o: dict) -> None:
    """The mutually exclusive option checks of ``do_srxfh``."""
    equal, weights, default, start, context, delete = (o["equal"], o["weights"], o["default"],
                                                       o["start"], o["context"], o["delete"])
    for cond, msg in (
            (equal and weights, "Equal and weight options are mutually exclusive"),
            (equal and default, "Equal and default options are mutually exclusive"),
            (weights and default, "Weight and default options are mutually exclusive"),
            (start and default, "Start and default options are mutually exclusive"),
            (start and not (equal or weights), "Start must be used with equal or weight options"),
            (default and context, "Default and context options are mutually exclusive"),
            (delete and not context, "Delete option requires context option"),
            (delete and weights, "Delete and weight options are mutually exclusive"),
            (delete and equal, "Delete and equal options are mutually exclusive"),
            (delete and default, "Delete and default options are mutually exclusive"),
            (delete and o["hkey"], "Delete and hkey options are mutually exclusive")):
        if cond:
            term.err(msg + "\n")
            raise _Exit(1, errno.EINVAL)


def _fill_indir_table(term: _Term, o: dict, size: int) -> list[int] | None:
    """``fill_indir_table``: ``equal``/``weight`` tables; None for default or no change."""
    start = o["start"]
    if o["equal"]:
        return [start + (k % o["equal"]) for k in range(size)]
    if o["weights"] is None:
        return None
    values = [_get_int_range(term, w, 0, 0xFFFFFFFF) for w in o["weights"]]
    total = sum(values) & 0xFFFFFFFF
    if total == 0 or total > size:
        term.err("At least one weight must be non-zero\n" if total == 0 else
                 "Total weight exceeds the size of the indirection table\n")
        raise _Exit(1, errno.EINVAL)
    table, j, partial = [], -1, 0
    for k in range(size):
        while k >= (size * partial) // total:
            j += 1
            partial += values[j]
        table.append(start + j)
    return table


def _srxfh(ctx: _Ctx) -> None:
    term = ctx.term
    if not ctx.argv:
        _bad_args(term)
    o = _srxfh_args(term, ctx.argv)
    _srxfh_exclusive(term, o)
    _ioctl_init(ctx)
    dev = ctx.device()
    err = _ioctl_errno(dev, "rxnfc")  # ETHTOOL_GRXRINGS
    if err:
        _perror(term, "Cannot get RX ring count", err)
        raise _Exit(1, err)
    key = _parse_hkey(term, o["hkey"], len(dev.rss_key)) if o["hkey"] is not None else None
    if o["hfunc"] is not None and o["hfunc"] not in _RSS_HASH_FUNCS:
        term.err(f"Unknown hash function: {o['hfunc']}\n")
        raise _Exit(1, errno.EINVAL)
    table = _fill_indir_table(term, o, len(dev.rss_table))
    try:  # ETHTOOL_SRSSH, net/ethtool/ioctl.c ethtool_set_rxfh()
        if o["context"] or o["xfrm"]:
            raise DevmemError(errno.EOPNOTSUPP)  # no RSS contexts, no symmetric hashing
        if table is not None and any(q >= dev.combined for q in table):
            raise DevmemError(errno.EINVAL)  # ethtool_copy_validate_indir
        if o["hfunc"] is not None:
            dev.set_rss_hfunc(o["hfunc"])
        if key is not None:
            dev.set_rss_key(key)
        if table is not None:
            dev.set_rss_table(table)
        elif o["default"]:
            dev.reset_rss()
    except DevmemError as exc:
        _perror(term, "Cannot set RX flow hash configuration", exc.errno)
        raise _Exit(1, exc.errno) from None


def _parse_hkey(term: _Term, text: str, key_size: int) -> bytes:
    """``parse_hkey`` / ``convert_string_to_hashkey`` (ethtool.c)."""
    out = bytearray()
    rest = text
    while True:
        if len(out) > key_size - 1:
            term.err(f"Key is too long for device ({len(out) + 1} > {key_size})\n")
            raise _Exit(1, errno.EINVAL)
        if not re.match(r"[0-9a-fA-F]{2}", rest):
            term.err("Invalid RSS hash key format\n")
            raise _Exit(1, errno.EINVAL)
        out.append(int(rest[:2], 16))
        rest = rest[2:]
        if rest.startswith(":"):
            rest = rest[1:]
        elif rest:
            term.err("Invalid RSS hash key format\n")
            raise _Exit(1, errno.EINVAL)
        if not rest:
            break
    if len(out) != key_size:
        term.err(f"Key is too short for device ({len(out)} < {key_size})\n")
        raise _Exit(1, errno.EINVAL)
    return bytes(out)


# ---- -S : statistics (ethtool.c do_gstats) ---------------------------------------------------
def _gstats(ctx: _Ctx) -> None:
    term = ctx.term
    if ctx.argv:
        _bad_args(term)
    _ioctl_init(ctx)
    dev = ctx.device()
    if dev is None:
        _perror(term, "Cannot get stats strings information", errno.ENODEV)
        raise _Exit(96, errno.ENODEV)
    if "stats" not in dev.ethtool_ops:
        term.err("no stats available\n")
        raise _Exit(94, errno.EOPNOTSUPP)
    term.out("NIC statistics:\n" + "".join(f"     {name[:32]}: {value}\n"
                                           for name, value in dev.ethtool_stats()))


# ---- option table (ethtool.c args[]) --------------------------------------------------------
_OPTIONS: tuple[tuple[str, Callable[[_Ctx], None]], ...] = (
    ("-g|--show-ring", _grings),
    ("-G|--set-ring", _srings),
    ("-k|--show-features|--show-offload", _gfeatures),
    ("-K|--features|--offload", _sfeatures),
    ("-S|--statistics", _gstats),
    ("-n|-u|--show-nfc|--show-ntuple", do_grxclass),
    ("-N|-U|--config-nfc|--config-ntuple", do_srxclass),
    ("-x|--show-rxfh-indir|--show-rxfh", _grss),
    ("-X|--set-rxfh-indir|--rxfh", _srxfh),
    ("-l|--show-channels", _gchannels),
    ("-L|--set-channels", _schannels),
)
_KNOWN_NOT_EMULATED = frozenset({
    "-s", "--change", "-a", "--show-pause", "-A", "--pause", "-c", "--show-coalesce", "-C",
    "--coalesce", "-i", "--driver", "-d", "--register-dump", "-e", "--eeprom-dump", "-E",
    "--change-eeprom", "-r", "--negotiate", "-p", "--identify", "-t", "--test", "--phy-statistics",
    "-T", "--show-time-stamping", "-f", "--flash", "-P", "--show-permaddr", "-w", "--get-dump",
    "-W", "--set-dump", "--show-priv-flags", "--set-priv-flags", "-m", "--dump-module-eeprom",
    "--module-info", "--show-eee", "--set-eee", "--set-phy-tunable", "--get-phy-tunable",
    "--get-tunable", "--set-tunable", "--reset", "--show-fec", "--set-fec", "-Q", "--per-queue",
    "--cable-test", "--cable-test-tdr", "--show-tunnels", "--show-module", "--set-module",
    "--get-plca-cfg", "--set-plca-cfg", "--get-plca-status", "--show-mm", "--set-mm", "--show-pse",
    "--set-pse", "--flash-module-firmware", "--show-phys", "-h", "--help",
})


def _find_option(arg: str) -> Callable[[_Ctx], None] | None:
    """``find_option``: exact match against one of the ``|``-separated spellings."""
    for spellings, handler in _OPTIONS:
        if arg in spellings.split("|"):
            return handler
    return None
