"""Self-checks for the exercises: ``q1.check(fn)``, ``q1.hint()``, ``q1.solution()``.

Emulator only (no kernel source). Shaped like Kaggle's learntools ``Problem``, but small: the
learner passes the function in (nothing is read from ``globals()``), the check calls it on
fixed cases and compares what it returns, or which exception it raises, with the package's
own implementation (the oracle). The verdict is one printed line; ``check`` never raises.

Three verdicts, always in these words so that tests can match them:

- ``"<label>: correct on N cases, edge cases included"``
- ``"<label>: not attempted yet - ..."`` (the learner's function raised ``NotImplementedError``,
  which is what the stubs of the generated student copies do)
- ``"<label>: not yet - ..."`` naming the input, the result and what was expected.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Exercise", "Verdict", "run_case"]

Verdict = str  # "correct" | "not attempted" | "not yet"


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


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


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
        Argument tuples. Each is deep-copied before each call (learner code may mutate it),
        unless ``prepare`` is given.
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
    cases: tuple[tuple, ...]
    hints: tuple[str, ...] = ()
    solution_code: str = ""
    prepare: Callable[..., tuple] | None = field(default=None, repr=False)
    outcome: Callable[[Any, tuple], Any] | None = field(default=None, repr=False)
    show: Callable[[tuple], str] | None = field(default=None, repr=False)
    show_value: Callable[[Any], str] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Exercise({self.label!r}, {len(self.cases)} cases, {len(self.hints)} hints)"

    # ---- running ------------------------------------------------------------------------
    def _call(self, fn: Callable, case: tuple) -> tuple[str, Any]:
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
        return got

    def _value(self, value: Any) -> str:
        if self.show_value is not None:
            try:
                return self.show_value(value)
            except Exception:  # noqa: BLE001 - a learner value of an unexpected shape
                return _short(value)
        return _short(value)

    def verdict(self, fn: Callable) -> tuple[Verdict, str]:
        """``(verdict, message)`` without printing; :meth:`check` prints the message."""
        name = getattr(fn, "__name__", "your function")
        if not callable(fn):
            return "not yet", (f"{self.label}: not yet - pass the function itself, "
                               f"e.g. {self.label}.check(my_function), not {_short(fn)}")
        for case in self.cases:
            want = self._call(self.reference, case)
            got = self._call(fn, case)
            if got == ("raised", "NotImplementedError"):
                return "not attempted", (f"{self.label}: not attempted yet - replace the "
                                         "raise line with your code")
            if got != want:
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
                return "not yet", f"{self.label}: not yet - {name}{shown} {res}, expected {exp}"
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
