"""Self-checks for the exercises: ``q1.check(fn)``, ``q1.hint()``, ``q1.solution()``.

Emulator only (no kernel source). Shaped like Kaggle's learntools ``Problem``, but small: the
learner passes the function in (nothing is read from ``globals()``), the check calls it on
fixed cases and compares what it returns, or which exception it raises, with the package's
own implementation (the oracle). The verdict is one printed line; ``check`` never raises.

Three verdicts, always in these words so that tests can match them:

- ``"<label>: correct on N cases, edge cases included"``
- ``"<label>: not attempted yet - ..."`` (the learner's function raised ``NotImplementedError``,
  which is what the stubs of the generated student copies do)
- ``"<label>: not yet - ..."`` naming the input, the result, what was expected and why
  (the case's ``why``), and the hint that covers it.

Results are compared in their :func:`plain` form (builtin data only), so an object whose
``__eq__`` always says yes does not pass. The grader (:mod:`devmem_lab.teach.grade`) runs
the same comparison on hidden cases.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Exercise", "Verdict", "plain", "run_case"]

Verdict = str  # "correct" | "not attempted" | "not yet"

_MAX_ITEMS = 1_000_000  # a result bigger than this is not compared item by item


def run_case(fn: Callable, args: tuple) -> tuple[str, Any]:
    """Call ``fn(*args)``; ``("ok", value)`` or ``("raised", exception class name)``.

    Learner errors never escape: any exception (``SystemExit`` and ``KeyboardInterrupt``
    excepted) becomes the name of its class.
    """
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - learner code may raise anything
        return ("raised", _exc_name(exc))


def _exc_name(exc: BaseException) -> str:
    """``ValueError`` for builtins, ``struct.error`` / ``module.Class`` for the others."""
    cls = type(exc)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


class Opaque(tuple):
    """What :func:`plain` makes of a value that is not builtin data: ``(type name, repr)``.

    Never equal to builtin data, so it never passes a check by accident.
    """

    def __repr__(self) -> str:
        return f"<a {self[0]} object>"


def plain(value: Any, _depth: int = 0) -> Any:
    """``value`` as builtin data: bytes-likes become ``bytes``, integral numbers ``int``;
    tuples, lists and dicts keep their type; anything else becomes an :class:`Opaque`.

    ``bytearray(b"x") == b"x"`` and ``numpy.int64(3) == 3`` in Python, and a check accepts
    them; an object of another class (whatever its ``__eq__`` says) is not accepted.
    """
    if value is None or type(value) in (bool, int, float, str, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and type(value).__module__ == "numpy":
        return float(value)
    if _depth < 20 and type(value) in (tuple, list) and len(value) <= _MAX_ITEMS:
        items = [plain(v, _depth + 1) for v in value]
        return tuple(items) if type(value) is tuple else items
    if _depth < 20 and type(value) is dict and len(value) <= _MAX_ITEMS:
        return {plain(k, _depth + 1): plain(v, _depth + 1) for k, v in value.items()}
    try:
        text = repr(value)[:200]
    except Exception:  # noqa: BLE001 - a learner object with a broken __repr__
        text = "?"
    return Opaque((type(value).__name__, text))


def _as_tuples(value: Any) -> Any:
    """Lists turned into tuples, all the way down (to spot "right numbers, wrong type")."""
    if isinstance(value, (list, tuple)) and not isinstance(value, Opaque):
        return tuple(_as_tuples(v) for v in value)
    return value


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


@dataclass(frozen=True)
class Case:
    """One case of an exercise: the arguments, why it is there, the hint that covers it.

    ``why`` finishes the sentence "expected ... because ..." in a failing verdict (e.g.
    ``"a repeated token starts a new range"``); ``hint`` is the 1-based hint to point to;
    ``env`` (optional): ``env(fn)`` returns a context manager that the call of ``fn`` (the
    learner's function, or the reference) runs in, e.g. the ``socket.CMSG_*`` of a 32-bit
    host.
    """

    args: tuple
    why: str = ""
    hint: int = 0
    env: Callable[[Callable], Any] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Exercise:
    """One exercise: cases, the reference implementation, hints and the worked solution.

    Parameters
    ----------
    label
        ``"q1"``, printed at the start of every verdict.
    reference
        The package's own implementation: what it returns (or raises) is the right answer.
    cases
        Argument tuples or :class:`Case` objects (arguments plus why and which hint). Each
        is deep-copied before each call (learner code may mutate it), unless ``prepare`` is
        given. After construction ``cases`` holds the argument tuples and ``notes`` the
        ``(why, hint)`` pairs.
    hints, solution_code
        Shown by :meth:`hint` and :meth:`solution`.
    prepare
        Optional: builds fresh arguments from a case for every call (e.g. a new ``Lab`` with
        a connected socket), for arguments that cannot be deep-copied.
    outcome
        Optional: ``outcome(result, args) -> comparable`` turns what a call returned into
        what is compared (e.g. the bytes a receive loop produced plus how many tokens it
        left unreturned). Applied only to normal returns.
    show, show_value
        Optional: how to show a case and a result in a verdict (default: their repr).
    """

    label: str
    reference: Callable
    cases: tuple
    hints: tuple[str, ...] = ()
    solution_code: str = ""
    prepare: Callable[..., tuple] | None = field(default=None, repr=False)
    outcome: Callable[[Any, tuple], Any] | None = field(default=None, repr=False)
    show: Callable[[tuple], str] | None = field(default=None, repr=False)
    show_value: Callable[[Any], str] | None = field(default=None, repr=False)
    notes: tuple = field(default=(), repr=False)
    envs: tuple = field(default=(), repr=False)

    def __post_init__(self) -> None:
        cases = tuple(c if isinstance(c, Case) else Case(tuple(c)) for c in self.cases)
        object.__setattr__(self, "cases", tuple(c.args for c in cases))
        object.__setattr__(self, "notes", tuple((c.why, c.hint) for c in cases))
        object.__setattr__(self, "envs", tuple(c.env for c in cases))

    def __repr__(self) -> str:
        return f"Exercise({self.label!r}, {len(self.cases)} cases, {len(self.hints)} hints)"

    # ---- running ------------------------------------------------------------------------
    def call(self, fn: Callable, case: tuple, env: Callable | None = None) -> tuple[str, Any]:
        """``("ok", plain outcome)`` or ``("raised", exception name)`` of ``fn`` on one case
        (inside ``env(fn)`` when given)."""
        if env is not None:
            with env(fn):
                return self.call(fn, case)
        try:
            args = self.prepare(*case) if self.prepare else copy.deepcopy(case)
        except Exception as exc:  # pragma: no cover - a broken case is a bug in the exercise
            raise RuntimeError(f"{self.label}: cannot prepare case {case!r}") from exc
        got = run_case(fn, args)
        if got[0] == "ok" and self.outcome is not None:
            try:
                got = ("ok", self.outcome(got[1], args))
            except Exception as exc:  # noqa: BLE001 - a malformed learner result
                got = ("raised", _exc_name(exc))
        return (got[0], plain(got[1])) if got[0] == "ok" else got

    def _value(self, value: Any) -> str:
        if self.show_value is not None and not isinstance(value, Opaque):
            try:
                return self.show_value(value)
            except Exception:  # noqa: BLE001 - a learner value of an unexpected shape
                return _short(value)
        return _short(value)

    def explain(self, name: str, case: tuple, note: tuple[str, int], got: tuple,
                want: tuple) -> str:
        """The "not yet" sentence for one failing case: input, result, expected, why, hint."""
        shown = self.show(case) if self.show else _short(case)
        shown_got, shown_want = self._value(got[1]), self._value(want[1])
        if shown_got == shown_want:  # the summary hides the difference: show it all
            shown_got, shown_want = _short(got[1]), _short(want[1])
        if got[0] == "raised":
            res = f"raised {got[1]}"
        elif got[1] is None and want[1] is not None:
            res = "returned None (did you forget `return`?)"
        else:
            res = f"gave {shown_got}"
        exp = f"raising {want[1]}" if want[0] == "raised" else shown_want
        text = f"{self.label}: not yet - {name}{shown} {res}, expected {exp}"
        why, hint = note
        if (got[0] == want[0] == "ok" and got[1] != want[1]
                and _as_tuples(got[1]) == _as_tuples(want[1])):
            why = "the values are right but they must be tuples, not lists"
        if why:
            text += f": {why}"
        if hint and self.hints:
            text += f" (see {self.label}.hint({min(hint, len(self.hints))}))"
        return text

    def verdict(self, fn: Callable) -> tuple[Verdict, str]:
        """``(verdict, message)`` without printing; :meth:`check` prints the message."""
        name = getattr(fn, "__name__", "your function")
        if not callable(fn):
            return "not yet", (f"{self.label}: not yet - pass the function itself, "
                               f"e.g. {self.label}.check(my_function), not {_short(fn)}")
        for case, note, env in zip(self.cases, self.notes, self.envs):
            want = self.call(self.reference, case, env)
            got = self.call(fn, case, env)
            if got == ("raised", "NotImplementedError"):
                return "not attempted", (f"{self.label}: not attempted yet - replace the "
                                         "raise line with your code")
            if got != want:
                return "not yet", self.explain(name, case, note, got, want)
        return "correct", f"{self.label}: correct on {len(self.cases)} cases, edge cases included"

    def check(self, fn: Callable) -> None:
        """Run ``fn`` on every case and print one line: correct, not attempted or not yet."""
        print(self.verdict(fn)[1])

    # ---- help -----------------------------------------------------------------------------
    def hint(self, n: int = 1) -> None:
        """Print hint ``n`` (1-based) and say whether another one exists."""
        if not self.hints:
            print(f"{self.label}: no hints for this one")
            return
        n = max(1, min(int(n), len(self.hints)))
        more = (f" (more: {self.label}.hint({n + 1}))" if n < len(self.hints)
                else " (that was the last hint)")
        print(f"{self.label} hint {n}/{len(self.hints)}: {self.hints[n - 1]}{more}")

    def solution(self) -> None:
        """Print the worked solution."""
        print(self.solution_code.strip("\n") if self.solution_code else
              f"{self.label}: no solution text")
