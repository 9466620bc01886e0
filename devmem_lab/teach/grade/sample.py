"""A sample class of submissions, made from a student copy: for tests, the benchmark and
trying the grader out.

Emulator only (course tooling). :func:`submission` fills the stubs of a student copy
(``raise NotImplementedError("exercise 5.1: ...")``) with the given code, as a learner
would; :func:`sample_class` writes one submission of lesson 05 per kind of learner (correct,
wrong, stub, hanging, raising, memory-hungry, renamed, deleted, redefined ``q``, cheating
three ways, malformed JSON, not a notebook, a dead kernel) and returns the verdicts each
should get.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

__all__ = ["ANSWERS", "EXPECTED", "sample_class", "submission"]

_STUB = re.compile(r'^(\s*)raise NotImplementedError\("exercise (\d+\.\d+):.*$', re.MULTILINE)
_STUDENT = Path(__file__).resolve().parents[3] / "notebooks" / "student"

#: Bodies (indented 4) for the exercises of lesson 05.
ANSWERS = {
    "coalesce": """\
ranges = []
for t in tokens:
    if ranges and sum(ranges[-1]) == t:
        ranges[-1] = (ranges[-1][0], ranges[-1][1] + 1)
    else:
        ranges.append((t, 1))
return ranges""",
    "dontneed_batches": """\
values, cur, room = [], [], 1024
for start, count in coalesce(tokens):
    while count:
        if len(cur) == 128 or room == 0:
            values.append(b"".join(struct.pack("=II", s, c) for s, c in cur))
            cur, room = [], 1024
        take = min(count, room)
        cur.append((start, take))
        start, count, room = start + take, count - take, room - take
if cur:
    values.append(b"".join(struct.pack("=II", s, c) for s, c in cur))
return values""",
    "coalesce_sorted": "return [(t, 1) for t in sorted(tokens)]",
    "one_batch": ("return [b''.join(struct.pack('=II', s, c) for s, c in coalesce(tokens))] "
                  "if tokens else []"),
    "hang": "while True:\n    pass",
    "raise": "return tokens[10**6]",
    "memory": "blob = bytearray(64 << 30)\nreturn []",
}


def submission(answers: dict[str, str], *, source: str | Path | None = None,
               before: list[str] = (), after: list[str] = (), replace: dict | None = None):
    """A student copy with stub ``id`` replaced by ``answers[id]`` (code, any indent).

    ``before``/``after``: code cells added at the start/end; ``replace``: ``{old: new}``
    substitutions in every code cell (e.g. a ``def`` renamed).
    """
    import nbformat

    src = Path(source) if source else _STUDENT / "05_token_return.ipynb"
    nb = nbformat.read(src, as_version=4)

    def fill(m: re.Match) -> str:
        body = answers.get(m.group(2))
        if body is None:
            return m.group(0)
        return textwrap.indent("import struct\n" + textwrap.dedent(body), m.group(1))

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = _STUB.sub(fill, cell.source)
            for old, new in (replace or {}).items():
                cell.source = cell.source.replace(old, new)
    nb.cells[:0] = [nbformat.v4.new_code_cell(c) for c in before]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in after]
    return nb


_RIGHT = {"5.1": ANSWERS["coalesce"], "5.2": ANSWERS["dontneed_batches"]}

#: file name -> {exercise: expected verdict}
EXPECTED = {
    "correct.ipynb": {"5.1": "correct", "5.2": "correct"},
    "wrong.ipynb": {"5.1": "incorrect", "5.2": "incorrect"},
    "stub.ipynb": {"5.1": "not attempted", "5.2": "not attempted"},
    "hanging.ipynb": {"5.1": "timeout", "5.2": "timeout"},
    "raising.ipynb": {"5.1": "incorrect", "5.2": "correct"},
    "memory.ipynb": {"5.1": "incorrect", "5.2": "correct"},
    "renamed.ipynb": {"5.1": "correct", "5.2": "error"},
    "fake_q.ipynb": {"5.1": "incorrect", "5.2": "incorrect"},
    "cheat_import.ipynb": {"5.1": "incorrect", "5.2": "incorrect"},
    "cheat_patch.ipynb": {"5.1": "error", "5.2": "error"},
    # no lesson number in the name and no code to read: one row for the whole file
    "malformed.ipynb": {"-": "error"},
    "not_a_notebook.ipynb": {"-": "error"},
    "dead_kernel.ipynb": {"5.1": "error", "5.2": "error"},
}


def sample_class(folder: str | Path) -> dict[str, dict[str, str]]:
    """Write the sample class of lesson 05 into ``folder``; returns :data:`EXPECTED`."""
    import nbformat

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nbs = {
        "correct.ipynb": submission(_RIGHT),
        "wrong.ipynb": submission({"5.1": ANSWERS["coalesce_sorted"],
                                   "5.2": ANSWERS["one_batch"]}),
        "stub.ipynb": submission({}),
        "hanging.ipynb": submission({"5.1": ANSWERS["hang"], "5.2": ANSWERS["dontneed_batches"]}),
        # a cell that raises, and a coalesce that raises IndexError
        "raising.ipynb": submission({"5.1": ANSWERS["raise"], "5.2": ANSWERS["dontneed_batches"]},
                                    before=["raise RuntimeError('a cell that fails')"],
                                    replace={"for start, count in coalesce(tokens)":
                                             "for start, count in coalesce_ok(tokens)"},
                                    after=["def coalesce_ok(tokens):\n"
                                           + textwrap.indent(ANSWERS["coalesce"], "    ")]),
        "memory.ipynb": submission({"5.1": ANSWERS["memory"], "5.2": ANSWERS["dontneed_batches"]},
                                   replace={"for start, count in coalesce(tokens)":
                                            "for start, count in coalesce_ok(tokens)"},
                                   after=["def coalesce_ok(tokens):\n"
                                          + textwrap.indent(ANSWERS["coalesce"], "    "),
                                          "hog = bytearray(64 << 30)"]),
        # coalesce renamed (and passed to q1.check under its new name); dontneed_batches deleted
        "renamed.ipynb": submission(_RIGHT, replace={"def coalesce(": "def my_coalesce(",
                                                     "q1.check(coalesce)": "q1.check(my_coalesce)",
                                                     "in coalesce(tokens)": "in my_coalesce(tokens)"},
                                    after=["del dontneed_batches"]),
        # q objects replaced so that check() always says correct; prints fake verdicts
        "fake_q.ipynb": submission({"5.1": ANSWERS["coalesce_sorted"],
                                    "5.2": ANSWERS["dontneed_batches"]},
                                   before=[("class Fake:\n    def check(self, fn):\n"
                                           "        print(f'q1: correct on 7 cases, edge cases "
                                           "included')\n")],
                                   replace={"q1.check(": "q1 = Fake()\nq1.check(",
                                            "q2.check(": "q2 = Fake()\nq2.check("},
                                   after=["print('5.1 correct 1.0')\nprint('5.2 correct 1.0')"]),
        # the package's answers, imported and reached by getattr/importlib
        "cheat_import.ipynb": submission(
            {"5.1": "from devmem_lab.teach.tokens import coalesce as ref\nreturn ref(tokens)",
             "5.2": ("import importlib\nmod = importlib.import_module('devmem_lab.teach.' + "
                     "'tokens')\nreturn getattr(mod, 'dontneed_' + 'batches')(tokens)")}),
        # the reference replaced by the learner's code, so both always agree
        "cheat_patch.ipynb": submission(
            {"5.1": "return [(t, 1) for t in tokens]", "5.2": "return []"},
            after=[("from devmem_lab.teach import tokens as T\nT.coalesce = coalesce\n"
                   "T.dontneed_batches = dontneed_batches")]),
        "dead_kernel.ipynb": submission(_RIGHT, before=["exit()"]),
    }
    for name, nb in nbs.items():
        nbformat.write(nb, folder / name)
    (folder / "malformed.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = 1"')
    (folder / "not_a_notebook.ipynb").write_text("def coalesce(tokens):\n    return []\n")
    return EXPECTED
