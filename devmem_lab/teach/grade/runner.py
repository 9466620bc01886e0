"""Grade one submitted notebook: read it, run it in a fresh kernel, probe its functions,
compare with the reference here.

Emulator only (course tooling). Runs in a worker process of
:func:`devmem_lab.teach.grade.grade`. Every way a submission can fail becomes rows (never an
exception): unreadable file, malformed JSON, not a notebook, no exercises, a kernel that
dies (memory limit), a notebook or a function that runs past its time.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..check import Opaque
from .probe import cases_of
from .registry import EXERCISES, Spec, exercises_of, lesson_of_module
from .static import scan

__all__ = ["COLUMNS", "grade_notebook"]

COLUMNS = ["notebook", "exercise", "verdict", "score", "message"]
KERNEL_NAME = "devmem-lab-grade"
_NUM = re.compile(r"^(\d+)_")
_TEACH_IMPORT = re.compile(r"devmem_lab\.teach\.(\w+)|from\s+devmem_lab\.teach\s+import\s+"
                           r"([\w ,()]+)")
_EXPECTED: dict[tuple[str, int], tuple] = {}   # (exercise, case) -> reference outcome
_KERNEL_DIR: dict[int, str] = {}


def _row(nb: str, ex: str, verdict: str, score: float, message: str) -> dict:
    return {"notebook": nb, "exercise": ex, "verdict": verdict, "score": float(score),
            "message": message}


def _lesson(path: Path, sources: list[str]) -> str | None:
    """The lesson a submission belongs to: its ``NN_`` file name, else what it imports."""
    m = _NUM.match(path.name)
    if m and exercises_of(m.group(1)):
        return f"{int(m.group(1)):02d}"
    counts: dict[str, int] = {}
    for src in sources:
        for mod, names in _TEACH_IMPORT.findall(src):
            for name in ([mod] if mod else re.findall(r"\w+", names)):
                nn = lesson_of_module(f"devmem_lab.teach.{name}")
                if nn:
                    counts[nn] = counts.get(nn, 0) + 1
    return max(counts, key=counts.get) if counts else (f"{int(m.group(1)):02d}" if m else None)


def _candidates(s: Spec, sources: list[str]) -> list[str]:
    """The exercise's function name, then any name the notebook passes to ``qN.check``."""
    names = [s.function]
    pat = re.compile(rf"\b{s.label}\.check\(\s*([A-Za-z_]\w*)\s*\)")
    for src in sources:
        for name in pat.findall(src):
            if name not in names:
                names.append(name)
    return names


def _kernel_dir(memory: int) -> str:
    """A kernelspec folder whose kernel runs under the memory limit (one per process)."""
    if memory not in _KERNEL_DIR:
        root = Path(tempfile.mkdtemp(prefix="devmem-grade-ks-"))
        atexit.register(shutil.rmtree, root, True)
        spec_dir = root / KERNEL_NAME
        spec_dir.mkdir()
        env = {"MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
               "MALLOC_ARENA_MAX": "2"}
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "devmem_lab.teach.grade.kernel", str(memory),
                     "-f", "{connection_file}"],
            "display_name": "devmem-lab grading", "language": "python", "env": env}))
        _KERNEL_DIR[memory] = str(root)
    return _KERNEL_DIR[memory]


def _decode(value: Any) -> Any:
    if type(value) is tuple:
        if len(value) == 3 and value[0] == "__opaque__":
            return Opaque((value[1], value[2]))
        return tuple(_decode(v) for v in value)
    if type(value) is list:
        return [_decode(v) for v in value]
    if type(value) is dict:
        return {_decode(k): _decode(v) for k, v in value.items()}
    return value


def _expected(ex_id: str, i: int, args: tuple, env=None) -> tuple:
    key = (ex_id, i)
    if key not in _EXPECTED:
        ex = EXERCISES[ex_id].exercise
        _EXPECTED[key] = ex.call(ex.reference, args, env)
    return _EXPECTED[key]


def _execute(nb, path: Path, timeout: float, memory: int, wanted: dict, case_limit: float):
    """Run the notebook's cells, then the probe; ``(state, detail, probe lines)``.

    ``state`` is ``"ok"``, ``"timeout"`` (``detail``: the cell) or ``"dead"``.
    """
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    class Client(NotebookClient):
        """Keeps no outputs: grades never come from them, and a notebook that prints
        without end must not fill the grader's memory."""

        def output(self, outs, msg, display_id, cell_index):
            return None

    ksm = KernelSpecManager(kernel_dirs=[_kernel_dir(memory)], ensure_native_kernel=False)
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
    client = Client(nb, km=km, timeout=int(timeout), allow_errors=True,
                            kernel_name=KERNEL_NAME, startup_timeout=60,
                            resources={"metadata": {"path": str(path.parent)}})
    nonce = secrets.token_hex(16)
    fd, results = tempfile.mkstemp(prefix="devmem-grade-", suffix=".txt")
    os.close(fd)
    probe = nbformat.v4.new_code_cell(
        "import devmem_lab.teach.grade.probe as _devmem_lab_probe\n"
        f"_devmem_lab_probe.run(globals(), {wanted!r}, {nonce!r}, {case_limit!r}, {results!r})")
    state, detail = "ok", ""
    lines: list[str] = []
    try:
        with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            deadline = time.monotonic() + timeout
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    state, detail = "timeout", f"before code cell {i + 1}"
                    break
                client.timeout = max(1, int(left))
                try:
                    client.execute_cell(cell, i)
                except CellTimeoutError:
                    state, detail = "timeout", f"in cell {i + 1}"
                    run_sync(km.interrupt_kernel)()
                    break
            budget = case_limit * sum(len(cases_of(e)) for e in wanted) + 30
            client.timeout = int(min(budget, max(timeout, 60)))
            nb.cells.append(probe)
            try:
                client.execute_cell(probe, len(nb.cells) - 1)
            except CellTimeoutError:
                pass
    except DeadKernelError:
        state = "dead"
    except Exception as exc:  # noqa: BLE001 - kernel start-up and the like
        if "died" in str(exc).lower() or "dead" in type(exc).__name__.lower():
            state = "dead"
        else:
            state, detail = "failed", f"{type(exc).__name__}: {exc}"[:300]
    finally:
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001, S110 - the kernel may be gone already
            pass
        try:
            with open(results, encoding="utf-8") as f:
                lines = [ln[len(nonce) + 1:] for ln in f.read().splitlines()
                         if ln.startswith(nonce + " ")]
        except OSError:  # pragma: no cover
            lines = []
        with contextlib.suppress(OSError):
            os.unlink(results)
    return state, detail, lines


def _parse(lines: list[str]) -> dict[str, dict]:
    out = {}
    for ln in lines:
        ex_id, _, text = ln.partition(" ")
        try:
            payload = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(payload, dict) and ex_id in EXERCISES:
            out[ex_id] = payload
    return out


def _judge(nb: str, s: Spec, payload: dict) -> dict:
    """The row of one exercise from the probe's results."""
    ex = s.exercise
    lid = f"exercise {s.id} ({s.function})"
    name = payload.get("function")
    results = payload.get("results", [])
    if name is None:
        if payload.get("error"):
            return _row(nb, s.id, "error", 0, f"{lid}: could not be run: {payload['error']}")
        return _row(nb, s.id, "error", 0,
                    f"{lid}: the notebook defines no function `{s.function}` (was it deleted "
                    f"or renamed?); define {s.function} with the exercise's signature")
    for r in results:
        if r[0] == "tampered":
            return _row(nb, s.id, "error", 0,
                        f"{lid}: not graded - {name} calls {r[1]}, which switches off what the "
                        "grader watches; ask your instructor")
    for r in results:
        if r[0] == "delegated":
            return _row(nb, s.id, "incorrect", 0,
                        f"{lid}: scored 0 - {name} calls {r[1]}, the package's own answer to "
                        "this exercise, so the result is not your work; write it yourself")
    if results and all(r == ("raised", "NotImplementedError") for r in results):
        return _row(nb, s.id, "not attempted", 0,
                    f"{lid}: not attempted - {name} still raises NotImplementedError")
    cases = cases_of(s.id)
    shown = len(ex.cases)
    passed, first, timed_out = 0, None, False
    others: list[str] = []  # the rules the other failing cases are about
    for i, ((args, note, env), got) in enumerate(zip(cases, results)):
        if got == ("timeout",):
            timed_out = True
            first = first or (f"{name}{ex.show(args) if ex.show else repr(args)[:160]} did not "
                              "return within the time limit (an endless loop?)")
            continue
        if got[0] == "error":
            first = first or f"case {i + 1} could not be run: {got[1]}"
            continue
        got = (got[0], _decode(got[1])) if got[0] == "ok" else tuple(got)
        want = _expected(s.id, i, args, env)
        if got == want:
            passed += 1
        elif first is None:
            where = "a case q.check() shows" if i < shown else "a hidden case"
            first = (f"on {where}, "
                     + ex.explain(name, args, note, got, want).split(" - ", 1)[1])
        elif note[0] and note[0] not in others:
            others.append(note[0])
    total = len(cases)
    score = round(passed / total, 4) if total else 0.0
    if passed == total:
        return _row(nb, s.id, "correct", 1.0,
                    f"{lid}: correct on all {total} cases ({shown} shown by {s.label}.check, "
                    f"{total - shown} hidden)")
    verdict = "timeout" if timed_out else "incorrect"
    also = f". Other cases that fail: {'; '.join(others[:4])}" if others else ""
    return _row(nb, s.id, verdict, score,
                f"{lid}: {passed} of {total} cases right; first problem: {first}{also}")


def grade_notebook(path: str | os.PathLike, timeout: float = 60, memory: int = 4 << 30,
                   case_limit: float = 10.0) -> list[dict]:
    """Rows (dicts with :data:`COLUMNS`) for one submission; never raises."""
    import nbformat

    p = Path(path)
    nb_name = str(path)
    guess = _NUM.match(p.name)
    fallback = exercises_of(guess.group(1)) if guess else []

    def all_rows(verdict: str, message: str, specs=None) -> list[dict]:
        specs = fallback if specs is None else specs
        if not specs:
            return [_row(nb_name, "-", verdict, 0, message)]
        return [_row(nb_name, s.id, verdict, 0, f"exercise {s.id}: {message}") for s in specs]

    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return all_rows("error", f"cannot read the file ({type(exc).__name__}: {exc})")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return all_rows("error", f"not a notebook: the file is not valid JSON ({exc})"[:400])
    try:
        if not isinstance(raw, dict) or "cells" not in raw:
            raise ValueError("no 'cells' list")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        return all_rows("error", f"not a notebook: {type(exc).__name__}: {exc}"[:400])

    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    lesson = _lesson(p, sources)
    specs = exercises_of(lesson) if lesson else []
    if not specs:
        return all_rows("error", "no exercises found: the notebook is none of the lessons with "
                        "exercises (01-05, 08) by name or by its imports", specs=[])
    findings = scan(sources)
    if findings:
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        return all_rows("error", "not graded - the notebook " + findings[0] + more +
                        "; code that changes the package or the interpreter cannot be graded "
                        "automatically, ask your instructor", specs=specs)
    wanted = {s.id: _candidates(s, sources) for s in specs}
    state, detail, lines = _execute(nb, p, timeout, memory, wanted, case_limit)
    payloads = _parse(lines)
    rows = []
    for s in specs:
        if s.id in payloads:
            row = _judge(nb_name, s, payloads[s.id])
            if state == "timeout" and row["verdict"] == "error" and "defines no" in row["message"]:
                row.update(verdict="timeout", message=(
                    f"exercise {s.id}: the notebook ran past its {timeout:g} s limit ({detail}) "
                    f"before defining {s.function}"))
            rows.append(row)
        elif state == "dead":
            rows.append(_row(nb_name, s.id, "error", 0, (
                f"exercise {s.id}: the kernel died while running this notebook (memory past "
                f"the {memory / 2**30:g} GiB limit, or the process was ended)")))
        elif state == "failed":
            rows.append(_row(nb_name, s.id, "error", 0,
                             f"exercise {s.id}: the notebook could not be run: {detail}"))
        else:
            rows.append(_row(nb_name, s.id, "timeout", 0, (
                f"exercise {s.id}: grading ran out of time "
                + (f"(the notebook ran past its {timeout:g} s limit {detail}, and the kernel "
                   "did not stop)" if state == "timeout" else "(the probe did not finish)"))))
    return rows
