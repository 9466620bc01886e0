"""What every ethtool sub-command shares: its context, its output, its exit, the ioctl basics.

Models ethtool 6.15's ``internal.h`` (``struct cmd_context``: device name and the
sub-command's own arguments) and the helpers ``ethtool.c`` lends every sub-command:
``exit_bad_args`` / ``exit_bad_args_info`` (usage error, exit status 1), ``get_int_range`` /
``get_uint_range`` (numeric arguments), ``ioctl_init`` (the ``IFNAMSIZ`` check before the first
``SIOCETHTOOL`` call) and the errno such a call gets back when the device or its ethtool op is
missing (``net/ethtool/ioctl.c`` ``dev_ethtool``); plus libc's ``perror`` and
``strtoll``/``strtoull`` as ethtool relies on them. Its users are ``devmem_lab.ethtool``
(``main``, the option table, the netlink commands, ``-X``, ``-S``) and
``devmem_lab.ethtool.rxclass`` (``-n``/``-N``).

Emulator choices: what ethtool writes is collected in order in a ``_Term`` instead of written;
``exit()`` is the ``_Exit`` exception, which carries the errno behind a failure; options outside
the emulated set raise ``EthtoolError`` (EOPNOTSUPP) without running anything. The names keep
their leading underscore: they are shared by the ethtool front end's modules and are not part of
the package's API.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import EthtoolError

if TYPE_CHECKING:
    from ..kernel.nic.device import NetDevice
    from ..kernel.state import Kernel

__all__: list[str] = []  # package-internal; ethtool.py and rxclass.py import the names they use

_BAD_ARGS = "ethtool: bad command line argument(s)\nFor more information run ethtool -h"
_INT_MAX = 0x7FFFFFFF
_U64 = (1 << 64) - 1


# ---- output and exit ---------------------------------------------------------------------
class _Exit(Exception):
    """``exit(code)`` from inside ethtool; ``err`` is the errno behind a failure."""

    def __init__(self, code: int, err: int = 0) -> None:
        super().__init__(code, err)
        self.code, self.err = code, err


class _Term:
    """What ethtool writes, in order: ``(stream, text)`` pairs."""

    def __init__(self) -> None:
        self.chunks: list[tuple[str, str]] = []

    def out(self, text: str) -> None:
        self.chunks.append(("stdout", text))

    def err(self, text: str) -> None:
        self.chunks.append(("stderr", text))

    def stdout(self) -> str:
        return "".join(t for s, t in self.chunks if s == "stdout")

    def everything(self) -> str:
        return "".join(t for _s, t in self.chunks)


def _bad_args(term: _Term, info: str | None = None) -> None:
    """``exit_bad_args`` / ``exit_bad_args_info`` (ethtool.c)."""
    if info is None:
        term.err(_BAD_ARGS + "\n")
    else:
        head, tail = _BAD_ARGS.split("\n")
        term.err(f"{head}\n{info}\n{tail}\n")
    raise _Exit(1, errno.EINVAL)


def _perror(term: _Term, prefix: str, err: int) -> None:
    term.err(f"{prefix}: {os.strerror(err)}\n")


def _not_emulated(what: str) -> None:
    error = EthtoolError(errno.EOPNOTSUPP, f"devmem-lab: ethtool {what} is not emulated "
                                           "(emulated: -l -L -g -G -k -K -x -X -n -N -S --version)")
    error.returncode = None  # nothing ran
    raise error


# ---- command context ------------------------------------------------------------------------
@dataclass
class _Ctx:
    kernel: Kernel
    term: _Term
    devname: str
    argv: list[str]

    def device(self) -> NetDevice | None:
        return self.kernel.device_by_name(self.devname)


# ---- ioctl helpers -----------------------------------------------------------------------------
def _ioctl_init(ctx: _Ctx) -> None:
    """``ioctl_init``: interface names are at most IFNAMSIZ - 1 bytes."""
    if len(ctx.devname.encode()) >= 16:
        ctx.term.err("Device name longer than 15 characters\n")
        _bad_args(ctx.term)


def _ioctl_errno(dev: NetDevice | None, op: str) -> int:
    """errno of an ``SIOCETHTOOL`` call: ENODEV, EOPNOTSUPP (op missing) or 0."""
    if dev is None:
        return errno.ENODEV
    return 0 if op in dev.ethtool_ops else errno.EOPNOTSUPP


def _get_int_range(term: _Term, arg: str | None, lo: int, hi: int) -> int:
    """``get_int_range`` / ``get_uint_range`` (ethtool.c): bad args unless fully numeric."""
    value = _strtoll(arg) if arg is not None else None
    if value is None or not lo <= value <= hi:
        _bad_args(term)
    return value


def _strtoll(text: str, base: int = 0, unsigned: bool = False) -> int | None:
    """C ``strtoll``/``strtoull`` needing the whole string; None on junk or overflow."""
    s = text.lstrip(" \t\n\r\f\v")
    neg = s[:1] == "-"
    if s[:1] in "+-" and s:
        s = s[1:]
    if base == 0:
        if s[:2].lower() == "0x" and re.fullmatch(r"0[xX][0-9a-fA-F]+", s):
            base, s = 16, s[2:]
        elif s[:1] == "0" and len(s) > 1:
            base, s = 8, s[1:]
        else:
            base = 10
    if s == "" and text.strip() == "":
        return 0  # nothing converted, nothing left over: strtoull("") is 0
    digits = {8: r"[0-7]+", 10: r"[0-9]+", 16: r"[0-9a-fA-F]+"}[base]
    if not re.fullmatch(digits, s):
        return None
    value = int(s, base)
    if unsigned:
        if value > _U64:
            return None
        return (-value) & _U64 if neg else value
    value = -value if neg else value
    return value if -(1 << 63) <= value < (1 << 63) else None
