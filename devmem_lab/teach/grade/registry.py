"""Which exercises exist, what the learner's function is called, and what counts as the
package's own answer (delegating to it scores 0).

Emulator only (course tooling). An exercise id is ``"<lesson>.<k>"``, the id the student
copy's stub names (``raise NotImplementedError("exercise 5.1: ...")``), for ``q<k>`` of the
lesson module in :data:`devmem_lab.teach.LESSONS`.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

from .. import LESSONS

__all__ = ["EXERCISES", "Spec", "exercises_of", "lesson_of_module", "spec"]


@dataclass(frozen=True)
class Spec:
    """One exercise as the grader sees it."""

    id: str            # "5.1"
    lesson: str        # "05"
    module: str        # "devmem_lab.teach.tokens"
    label: str         # "q1"
    function: str      # "coalesce": the name the notebook defines
    forbidden: tuple[str, ...]  # dotted names whose code is the answer itself

    @property
    def exercise(self):
        """The :class:`~devmem_lab.teach.check.Exercise` object (its visible cases)."""
        return getattr(importlib.import_module(self.module), self.label)


#: Besides the exercise's reference, the package functions that do the whole job, as the
#: exercise text rules out ("use struct; of wire, only its constants", ...).
_ALSO_FORBIDDEN = {
    "1.1": ("devmem_lab.netlink.wire.pack_attr", "devmem_lab.netlink.wire.pack_nest"),
    "1.2": ("devmem_lab.netlink.wire.parse_error", "devmem_lab.netlink.wire.iter_msgs",
            "devmem_lab.netlink.wire.iter_attrs", "devmem_lab.netlink.wire.attrs_by_type"),
    "2.1": ("devmem_lab.teach.scenario.devmem_server",),
    "3.1": (),
    "3.2": (),
    "4.1": ("devmem_lab.uapi.DmabufCmsg.unpack",),
    "4.2": ("devmem_lab.uapi.parse_cmsgs",),
    "4.3": (),
    "5.1": ("devmem_lab.uapi.coalesce_tokens",),
    "5.2": (),
    "8.1": ("devmem_lab.teach.scenario.ncdevmem_payload",),
    "8.2": (),
}


def _build() -> dict[str, Spec]:
    out = {}
    for nn, name in LESSONS.items():
        mod = importlib.import_module(f"devmem_lab.teach.{name}")
        k = 1
        while hasattr(mod, f"q{k}"):
            ex = getattr(mod, f"q{k}")
            ex_id = f"{int(nn)}.{k}"
            ref = ex.reference
            own = f"{ref.__module__}.{ref.__qualname__}"
            out[ex_id] = Spec(ex_id, nn, mod.__name__, f"q{k}", ref.__name__,
                              (own, *_ALSO_FORBIDDEN.get(ex_id, ())))
            k += 1
    return out


EXERCISES: dict[str, Spec] = _build()


def spec(ex_id: str) -> Spec:
    """The exercise ``ex_id`` (``KeyError`` names the known ids)."""
    try:
        return EXERCISES[ex_id]
    except KeyError:
        raise KeyError(f"no exercise {ex_id!r}; known: {', '.join(EXERCISES)}") from None


def exercises_of(lesson: str) -> list[Spec]:
    """The exercises of lesson ``"05"`` (or ``"5"``), in order."""
    nn = f"{int(lesson):02d}"
    return [s for s in EXERCISES.values() if s.lesson == nn]


_TEACH = re.compile(r"devmem_lab\.teach\.(\w+)")


def lesson_of_module(name: str) -> str | None:
    """``"05"`` for ``devmem_lab.teach.tokens``; ``None`` for other modules."""
    m = _TEACH.fullmatch(name)
    if not m:
        return None
    return next((nn for nn, mod in LESSONS.items() if mod == m.group(1)), None)
