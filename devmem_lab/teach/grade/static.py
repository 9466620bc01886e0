"""Read a submission's code without running it: what it would do to the grading itself.

Emulator only (course tooling). Learner code runs in the same interpreter as the probe
(:mod:`~devmem_lab.teach.grade.probe`), and Python cannot fence code off inside one
process: a notebook could rebind the package's functions, switch the profile hook off, or
read the probe's frame. So before a notebook runs, the grader parses every code cell (in its
own process) and flags the constructs that reach into that machinery:

- changing a module of the package or of the standard library the probe relies on
  (``tokens.coalesce = ...``, ``setattr(uapi, ...)``, ``del sys.modules[...]``);
- importing the grader, ``ctypes``, ``gc`` or ``builtins``; ``sys.modules``;
- frames, code objects and hooks (``_getframe``, ``f_back``, ``__code__``, ``__globals__``,
  ``setprofile``, ``settrace``, ...);
- code built at run time (``exec``, ``eval``, ``compile``, ``__import__``), which this
  reading cannot see into;
- starting processes (``subprocess``, ``multiprocessing``, ``os.system``, ``os.fork``).

A flagged notebook scores 0 on every exercise with the finding in the message, for an
instructor to look at. None of the course's own cells uses these.
"""

from __future__ import annotations

import ast
import importlib.util

__all__ = ["scan"]

_PROTECTED = {"devmem_lab", "sys", "builtins", "signal", "threading", "socket", "struct",
              "copy", "os", "io", "contextlib", "functools", "numbers", "types", "importlib",
              "ast", "time", "dataclasses", "inspect"}
_BAD_IMPORTS = {"ctypes": "uses ctypes", "gc": "imports gc (it reaches every object)",
                "builtins": "imports builtins", "subprocess": "starts processes",
                "multiprocessing": "starts processes", "concurrent": "starts processes"}
_BAD_NAMES = {"_getframe", "currentframe", "f_back", "f_globals", "f_locals", "f_code",
              "__code__", "__globals__", "__closure__", "__builtins__", "__setattr__",
              "__delattr__", "setprofile", "settrace", "getprofile", "gettrace",
              "__subclasses__", "__self__", "__func__", "__wrapped__"}
_BAD_CALLS = {"exec", "eval", "compile", "__import__", "breakpoint"}
_BAD_OS = {"system", "fork", "forkpty", "popen", "posix_spawn", "posix_spawnp", "execv",
           "execve", "execvp", "kill", "_exit"}


def _strip_magics(source: str) -> str:
    """IPython lines (``%magic``, ``!shell``, ``x?``) blanked so that ``ast`` can parse."""
    lines = []
    for line in source.splitlines():
        s = line.strip()
        lines.append("" if s.startswith(("%", "!")) or (s.endswith("?") and "#" not in s)
                     else line)
    return "\n".join(lines)


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_module(dotted: str) -> bool:
    if dotted.split(".")[0] not in _PROTECTED:
        return False
    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError, AttributeError):
        return False


class _Scan(ast.NodeVisitor):
    def __init__(self, modules: dict[str, str]):
        self.modules = modules   # name -> module it is bound to (protected ones only)
        self.found: list[tuple[int, str]] = []

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            top = a.name.split(".")[0]
            if a.name.startswith("devmem_lab.teach.grade"):
                self.flag(node, f"imports the grader ({a.name})")
            elif top in _BAD_IMPORTS:
                self.flag(node, _BAD_IMPORTS[top])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        top = mod.split(".")[0]
        names = {a.name for a in node.names}
        if mod.startswith("devmem_lab.teach.grade") or (mod == "devmem_lab.teach"
                                                         and "grade" in names):
            self.flag(node, f"imports the grader (from {mod})")
        elif top in _BAD_IMPORTS:
            self.flag(node, _BAD_IMPORTS[top])
        elif mod == "sys" and "modules" in names:
            self.flag(node, "uses sys.modules")
        elif mod == "os" and names & _BAD_OS:
            self.flag(node, "starts processes or signals them (os)")
        elif names & _BAD_NAMES:
            self.flag(node, f"imports {min(names & _BAD_NAMES)}")

    def _target(self, target: ast.AST, node: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t, node, verb)
            return
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            root = _root(target)
            if root in self.modules:
                self.flag(node, f"{verb} module {self.modules[root]} "
                                f"({ast.unparse(target)})")

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._target(t, node, "changes")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node, "changes")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, node, "changes")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._target(t, node, "deletes from")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if isinstance(f, ast.Name):
            if f.id in _BAD_CALLS:
                self.flag(node, f"runs code built at run time ({f.id})")
            elif f.id in ("setattr", "delattr") and node.args:
                root = _root(node.args[0])
                if root in self.modules:
                    self.flag(node, f"changes module {self.modules[root]} ({f.id})")
        elif isinstance(f, ast.Attribute):
            root = _root(f)
            if self.modules.get(root) == "os" and f.attr in _BAD_OS:
                self.flag(node, f"starts processes or signals them (os.{f.attr})")
            elif self.modules.get(root) == "signal":
                self.flag(node, f"changes signal handling (signal.{f.attr})")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _BAD_NAMES:
            self.flag(node, f"reaches into the interpreter ({node.attr})")
        elif node.attr == "modules" and self.modules.get(_root(node)) == "sys":
            self.flag(node, "uses sys.modules")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in _BAD_NAMES:
            self.flag(node, f"reaches into the interpreter ({node.id})")


def _bindings(trees: list[ast.AST]) -> dict[str, str]:
    """Names that import statements bind to protected modules, over all cells."""
    out: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in _PROTECTED:
                        if a.asname:
                            out[a.asname] = a.name
                        else:
                            out[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    if _is_module(full):
                        out[a.asname or a.name] = full
    return out


def scan(sources: list[str]) -> list[str]:
    """Findings in the code cells ``sources`` (``"cell 31 line 2: changes module ..."``).

    Cells that do not parse are skipped (running them will fail on their own).
    """
    trees: list[tuple[int, ast.AST]] = []
    for i, src in enumerate(sources):
        try:
            trees.append((i, ast.parse(_strip_magics(src))))
        except (SyntaxError, ValueError):
            continue
    modules = _bindings([t for _i, t in trees])
    found = []
    for i, tree in trees:
        v = _Scan(modules)
        v.visit(tree)
        found.extend(f"code cell {i + 1} line {line}: {what}" for line, what in v.found)
    return found
