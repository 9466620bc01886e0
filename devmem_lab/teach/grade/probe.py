"""The kernel side of grading: call the learner's functions on every case, watch what they
call, send back what they returned.

Emulator only (course tooling). The grader appends one cell to a submission, run in the same
kernel after the notebook's own cells::

    import devmem_lab.teach.grade.probe as _probe
    _probe.run(globals(), {"5.1": ["coalesce"], ...}, "NONCE", 10.0)

For each exercise it finds the function (by its name, else the name passed to ``qN.check``),
calls it on the visible and hidden cases, and writes one line ``NONCE id repr(result)`` to a
results file the grader named. The
grader compares those results with the reference itself, in its own process: nothing the
notebook printed, nor its ``q`` objects, decides a grade.

While a learner function runs, a profile hook (``sys.setprofile`` and
``threading.setprofile``) sees every Python and C call it makes, however it got there
(``from ... import``, ``getattr``, ``importlib``, a lambda or ``functools.partial`` around
it): a call into the code object of the exercise's reference (or of a package function that
does the whole job, :mod:`~devmem_lab.teach.grade.registry`) marks the case
``("delegated", name)``; a call that would switch the hook or the timer off
(``sys.setprofile``, ``signal.signal``, a new process, ...) marks it ``("tampered", name)``.
Each case runs under an interval timer (``signal.setitimer``), so an endless loop becomes
``("timeout",)``; ``print`` output of learner code is discarded.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import signal
import sys
import threading
import time
from typing import Any

from ..check import Opaque, _exc_name, plain
from .hidden import HIDDEN
from .registry import spec

__all__ = ["cases_of", "encode", "resolve", "run", "run_exercise"]

_MAX_REPR = 50_000_000


def cases_of(ex_id: str) -> list:
    """``[(args, (why, hint), env)]``: the visible cases of ``check()``, then the hidden ones."""
    ex = spec(ex_id).exercise
    return (list(zip(ex.cases, ex.notes, ex.envs))
            + [(c.args, (c.why, c.hint), c.env) for c in HIDDEN.get(ex_id, ())])


def resolve(dotted: str) -> Any:
    """The object a dotted name names (``devmem_lab.uapi.DmabufCmsg.unpack``)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def _codes(obj: Any) -> list:
    func = getattr(obj, "__func__", obj)
    code = getattr(func, "__code__", None)
    if code is None:
        return []
    out, todo = [], [code]
    while todo:  # nested functions and comprehensions are the reference too
        c = todo.pop()
        out.append(c)
        todo.extend(k for k in c.co_consts if hasattr(k, "co_code"))
    return out


def _tamper_table() -> tuple[dict, dict]:
    """C functions and Python code objects whose call inside a learner function is tampering."""
    import os
    import subprocess

    c_funcs = {sys.setprofile: "sys.setprofile", sys.settrace: "sys.settrace",
               signal.signal: "signal.signal", signal.setitimer: "signal.setitimer",
               signal.alarm: "signal.alarm"}
    for name in ("fork", "system", "posix_spawn", "posix_spawnp", "execv", "execve", "kill",
                 "_exit", "popen"):
        if hasattr(os, name):
            c_funcs[getattr(os, name)] = f"os.{name}"
    py = {}
    for obj, name in ((threading.setprofile, "threading.setprofile"),
                      (threading.settrace, "threading.settrace"),
                      (subprocess.Popen.__init__, "subprocess.Popen")):
        for code in _codes(obj):
            py[code] = name
    try:
        import multiprocessing.process as mpp

        for code in _codes(mpp.BaseProcess.start):
            py[code] = "multiprocessing"
    except ImportError:  # pragma: no cover
        pass
    return c_funcs, py


class _CaseTimeout(BaseException):
    """Raised in the learner's code when a case runs past its time limit."""


class _Discard(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


class _Guard:
    """Profile hook plus timer around one learner call."""

    def __init__(self, forbidden: dict, tamper_c: dict, tamper_py: dict):
        self.forbidden, self.tamper_c, self.tamper_py = forbidden, tamper_c, tamper_py
        self.delegated: str | None = None
        self.tampered: str | None = None
        self.armed = False

    def hook(self, frame, event, arg):
        if not self.armed:
            return
        if event == "call":
            code = frame.f_code
            name = self.forbidden.get(code)
            if name is not None and self.delegated is None:
                self.delegated = name
            elif code in self.tamper_py and self.tampered is None:
                self.tampered = self.tamper_py[code]
        elif event == "c_call":
            try:
                name = self.tamper_c.get(arg)
            except TypeError:  # an unhashable callable
                name = None
            if name is not None and self.tampered is None:
                self.tampered = name

    def call(self, fn, args, limit: float) -> tuple:
        def on_alarm(_signum, _frame):
            raise _CaseTimeout

        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = _Discard()
        threading.setprofile(self.hook)
        signal.setitimer(signal.ITIMER_REAL, limit, 0.25)  # re-fires if swallowed
        sys.setprofile(self.hook)
        try:
            self.armed = True
            got = ("ok", fn(*args))
        except _CaseTimeout:
            got = ("timeout",)
        except MemoryError:
            got = ("raised", "MemoryError")
        except Exception as exc:  # noqa: BLE001 - learner code may raise anything
            got = ("raised", _exc_name(exc))
        finally:
            self.armed = False
            sys.setprofile(None)
            signal.setitimer(signal.ITIMER_REAL, 0)
            threading.setprofile(None)
            sys.stdout, sys.stderr = old_out, old_err
            signal.signal(signal.SIGALRM, old_handler)
        if self.tampered:
            return ("tampered", self.tampered)
        if self.delegated:
            return ("delegated", self.delegated)
        return got


def encode(value: Any) -> Any:
    """A plain value with :class:`Opaque` parts as ``("__opaque__", type, repr)`` literals."""
    if isinstance(value, Opaque):
        return ("__opaque__", value[0], value[1])
    if type(value) is tuple:
        return tuple(encode(v) for v in value)
    if type(value) is list:
        return [encode(v) for v in value]
    if type(value) is dict:
        return {encode(k): encode(v) for k, v in value.items()}
    return value


def run_exercise(ns: dict, ex_id: str, names: list[str], case_limit: float = 10.0) -> dict:
    """``{"function": name or None, "results": [...]}`` for one exercise, run here."""
    s = spec(ex_id)
    ex = s.exercise
    fn, found = None, None
    for name in names:
        cand = ns.get(name)
        if callable(cand):
            fn, found = cand, name
            break
    if fn is None:
        return {"function": None, "results": []}
    forbidden = {}
    for dotted in s.forbidden:
        try:
            for code in _codes(resolve(dotted)):
                forbidden[code] = dotted
        except (ImportError, AttributeError):  # pragma: no cover - a renamed reference
            pass
    guard_tables = _tamper_table()
    results: list = []
    for args, _note, env in cases_of(ex_id):
        if results and results[-1] == ("timeout",):  # one endless loop is enough to know
            results.append(("timeout",))
            continue
        with env(fn) if env else contextlib.nullcontext():
            results.append(_one(ex, fn, args, forbidden, guard_tables, case_limit))
    return {"function": found, "results": results}


def _one(ex, fn, args, forbidden, guard_tables, case_limit) -> tuple:
    """One case: prepare, call under the guard, apply the outcome, encode."""
    try:
        prepared = ex.prepare(*args) if ex.prepare else copy.deepcopy(args)
    except Exception as exc:  # noqa: BLE001 # pragma: no cover - a bug in the exercise
        return ("error", f"cannot prepare the case: {exc!r}")
    guard = _Guard(forbidden, *guard_tables)
    got = guard.call(fn, prepared, case_limit)
    if got[0] == "ok":
        if ex.outcome is not None:
            try:
                got = ("ok", ex.outcome(got[1], prepared))
            except Exception as exc:  # noqa: BLE001 - a malformed learner result
                got = ("raised", _exc_name(exc))
        if got[0] == "ok":
            got = ("ok", encode(plain(got[1])))
    return got


def run(ns: dict, wanted: dict[str, list[str]], nonce: str, case_limit: float = 10.0,
        results: str | None = None) -> None:
    """Grade-run every exercise in ``wanted`` (id -> candidate names); write one line each
    (``NONCE id repr``) to the file ``results`` (appended and flushed line by line, so what
    was done survives a kernel that dies later), or print it."""
    out = open(results, "a", encoding="utf-8") if results else sys.stdout  # noqa: SIM115
    for ex_id, names in wanted.items():
        t0 = time.monotonic()
        try:
            payload = run_exercise(ns, ex_id, names, case_limit)
        except Exception as exc:  # noqa: BLE001 - report, never stop the other exercises
            payload = {"function": None, "results": [], "error": repr(exc)[:300]}
        payload["seconds"] = round(time.monotonic() - t0, 3)
        text = repr(payload)
        if len(text) > _MAX_REPR:
            payload = {"function": payload["function"], "results": [],
                       "error": "the results are too large to send"}
            text = repr(payload)
        out.write(f"{nonce} {ex_id} {text}\n")
        out.flush()
    if results:
        out.close()
