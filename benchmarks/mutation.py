"""Mutation test of the ABI, the devmem bindings and the socket's token table (on demand, not CI).

Applies sampled AST mutants (arithmetic operator swaps, integer constants +-1, comparison
flips, ``and``/``or`` swaps, removed statements) to ``devmem_lab/uapi.py``,
``devmem_lab/kernel/devmem.py`` and the token table ``devmem_lab/kernel/tcp/token_table.py``,
runs the fast tests that cover each module against the
mutant (in a scratch copy of the repository, with a per-mutant timeout) and prints the share
of mutants the tests caught. A mutant is *caught* when the tests fail or time out.

    .venv/bin/python benchmarks/mutation.py                # 150 mutants, seed 15
    .venv/bin/python benchmarks/mutation.py -n 40 --seed 1 --module uapi -v

Survivors are printed with their line so a reader can judge which are equivalent (a mutant
that cannot change behaviour, e.g. a search-window size) and which are gaps in the tests.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> (path, functions to mutate (None: the whole module), the fast tests that cover it)
TARGETS: dict[str, tuple[str, tuple[str, ...] | None, tuple[str, ...]]] = {
    "uapi": ("devmem_lab/uapi.py", None,
             ("tests/kernel/test_uapi.py", "tests/kernel/test_uapi_abi.py", "tests/kernel/test_tokens.py",
              "tests/kernel/test_recvmsg.py", "tests/netlink/test_netdev_genl.py")),
    "devmem": ("devmem_lab/kernel/devmem.py", None,
               ("tests/kernel/test_bindings.py", "tests/kernel/test_dmabuf.py", "tests/netlink/test_netdev_genl.py",
                "tests/kernel/test_tokens.py", "tests/kernel/test_recvmsg.py")),
    "token_table": ("devmem_lab/kernel/tcp/token_table.py", None,
                    ("tests/kernel/test_token_table.py", "tests/kernel/test_tokens.py",
                     "tests/kernel/test_recvmsg.py")),
}

_BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv,
               ast.FloorDiv: ast.Mult, ast.Div: ast.Mult, ast.Mod: ast.FloorDiv,
               ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.LShift: ast.RShift,
               ast.RShift: ast.LShift}
_CMP_FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
             ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
             ast.In: ast.NotIn, ast.NotIn: ast.In}


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int  # the index-th mutation point of the module, in ast.walk order
    kind: str
    line: int
    desc: str


def _in_scope(tree: ast.Module, names: tuple[str, ...] | None) -> list[ast.AST]:
    """The nodes to mutate: the module, or the bodies of the named functions/methods."""
    if names is None:
        return [tree]
    return [n for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in names]


def _docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
        isinstance(node.value.value, str)


def _points(tree: ast.Module, names) -> list[tuple[ast.AST, str, object, str]]:
    """Every mutation point: (node, kind, payload, description)."""
    out = []
    seen: set[int] = set()
    for root in _in_scope(tree, names):
        for node in ast.walk(root):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAP:
                new = _BINOP_SWAP[type(node.op)]
                out.append((node, "binop", new,
                            f"{type(node.op).__name__} -> {new.__name__}"))
            elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP_SWAP:
                new = _BINOP_SWAP[type(node.op)]
                out.append((node, "binop", new,
                            f"{type(node.op).__name__}= -> {new.__name__}="))
            elif isinstance(node, ast.Compare):
                for i, op in enumerate(node.ops):
                    if type(op) in _CMP_FLIP:
                        new = _CMP_FLIP[type(op)]
                        out.append((node, "cmp", (i, new),
                                    f"{type(op).__name__} -> {new.__name__}"))
            elif isinstance(node, ast.BoolOp):
                new = ast.Or if isinstance(node.op, ast.And) else ast.And
                out.append((node, "boolop", new, f"{type(node.op).__name__} -> {new.__name__}"))
            elif isinstance(node, ast.Constant) and type(node.value) is int:
                out.append((node, "const", 1, f"{node.value} -> {node.value + 1}"))
                out.append((node, "const", -1, f"{node.value} -> {node.value - 1}"))
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if isinstance(body, list):
                    for i, st in enumerate(body):
                        if isinstance(st, (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign,
                                           ast.Return, ast.Raise, ast.If, ast.For,
                                           ast.Delete)) and not _docstring(st):
                            out.append((node, "remove", (field, i),
                                        f"remove {type(st).__name__} at line {st.lineno}"))
    return out


def enumerate_mutants(module: str) -> list[Mutant]:
    path, names, _ = TARGETS[module]
    tree = ast.parse((ROOT / path).read_text())
    out = []
    for i, (node, kind, payload, desc) in enumerate(_points(tree, names)):
        line = getattr(node, "lineno", 0)
        if kind == "remove":
            line = getattr(node, payload[0])[payload[1]].lineno
        out.append(Mutant(module, i, kind, line, desc))
    return out


def mutated_source(m: Mutant) -> str:
    path, names, _ = TARGETS[m.module]
    tree = ast.parse((ROOT / path).read_text())
    node, kind, payload, _ = _points(tree, names)[m.index]
    if kind == "binop":
        node.op = payload()
    elif kind == "cmp":
        i, new = payload
        node.ops[i] = new()
    elif kind == "boolop":
        node.op = payload()
    elif kind == "const":
        node.value += payload
    elif kind == "remove":
        field, i = payload
        getattr(node, field)[i] = ast.Pass()
    return ast.unparse(ast.fix_missing_locations(tree))


def run_tests(work: Path, tests: tuple[str, ...], timeout: float) -> str:
    """``"caught"``, ``"timeout"`` or ``"survived"``."""
    tests = tuple(t for t in tests if (work / t).exists())
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg",
               PYTHONPATH=str(work))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                            "-m", "not browser", *tests],
                           check=False, cwd=work, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if r.returncode == 0 else "caught"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=150, help="mutants to sample in all (default 150)")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--module", choices=sorted(TARGETS), action="append",
                    help="only this module (repeatable)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per mutant")
    args = ap.parse_args(argv)

    modules = args.module or sorted(TARGETS)
    pool = [m for mod in modules for m in enumerate_mutants(mod)]
    rng = random.Random(args.seed)
    sample = sorted(rng.sample(pool, min(args.n, len(pool))),
                    key=lambda m: (m.module, m.index))
    print(f"{len(pool)} mutation points in {', '.join(modules)}; sampling {len(sample)} "
          f"(seed {args.seed})", flush=True)

    with tempfile.TemporaryDirectory(prefix="devmem-mutation-") as tmp:
        work = Path(tmp)
        for part in ("devmem_lab", "tests", "data"):
            shutil.copytree(ROOT / part, work / part,
                            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        for f in ("pyproject.toml",):
            shutil.copy(ROOT / f, work / f)
        baseline = {mod: run_tests(work, TARGETS[mod][2], args.timeout * 3) for mod in modules}
        if any(v != "survived" for v in baseline.values()):
            print(f"the unmutated tests do not pass: {baseline}", file=sys.stderr)
            return 2
        results: dict[str, list[tuple[Mutant, str]]] = {mod: [] for mod in modules}
        t0 = time.monotonic()
        for k, m in enumerate(sample, 1):
            rel = TARGETS[m.module][0]
            original = (ROOT / rel).read_text()
            (work / rel).write_text(mutated_source(m))
            try:
                outcome = run_tests(work, TARGETS[m.module][2], args.timeout)
            finally:
                (work / rel).write_text(original)
            results[m.module].append((m, outcome))
            if args.verbose:
                print(f"[{k}/{len(sample)}] {outcome:8} {rel}:{m.line} {m.desc}", flush=True)
    print(f"\n{time.monotonic() - t0:.0f} s")
    total = caught = 0
    for mod, rows in results.items():
        c = sum(o != "survived" for _, o in rows)
        total += len(rows)
        caught += c
        if rows:
            print(f"{mod:12} {c}/{len(rows)} caught ({100 * c / len(rows):.0f}%)")
    if total:
        print(f"{'all':12} {caught}/{total} caught ({100 * caught / total:.0f}%)")
    survivors = [(m, o) for rows in results.values() for m, o in rows if o == "survived"]
    if survivors:
        print("\nsurvivors (equivalent, or a gap in the tests):")
        for m, _ in survivors:
            print(f"  {TARGETS[m.module][0]}:{m.line}  {m.kind:6} {m.desc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
