"""The layers of docs/architecture.md hold in the imports (type-only imports included).

- the emulated kernel (``devmem_lab/kernel/``) imports only the kernel layer, the protocol
  (``devmem_lab/netlink/``), ``uapi`` and ``errors``;
- the ethtool tool (``devmem_lab/ethtool/``) imports the kernel and those same pieces;
- the protocol imports only ``uapi`` and ``errors``;
- ``uapi`` imports nothing of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "devmem_lab"

ALLOWED = {
    "kernel": {"kernel", "netlink", "uapi", "errors"},
    "ethtool": {"ethtool", "kernel", "netlink", "uapi", "errors"},
    "netlink": {"netlink", "uapi", "errors"},
    "uapi": set(),
    "errors": set(),
}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def _imports(path: Path) -> set[str]:
    """Every devmem_lab module ``path`` imports, as ``devmem_lab.x.y`` (relative ones resolved),
    anywhere in the file: inside functions and ``if TYPE_CHECKING:`` blocks too."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    package = parts[:-1]  # the package a relative import starts from (also for __init__)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("devmem_lab")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    found |= {f"{mod}.{a.name}" for a in node.names}
                    continue
            else:
                mod = node.module or ""
            if mod.startswith("devmem_lab"):
                found.add(mod)
    return found


def _files(layer: str):
    target = PKG / layer
    return sorted(target.rglob("*.py")) if target.is_dir() else [PKG / f"{layer}.py"]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_is_below_it(layer):
    bad = []
    for path in _files(layer):
        for mod in _imports(path):
            if mod == "devmem_lab" or _layer(mod) not in ALLOWED[layer] | {layer}:
                bad.append(f"{path.relative_to(PKG)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_the_rule_catches_a_type_only_import(monkeypatch):
    sneaky = PKG / "kernel" / "_layer_probe.py"
    assert not sneaky.exists()
    src = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
           "    from ..lab import Lab\n    from ..teach import check\n")
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: src)
    found = _imports(sneaky)
    assert found == {"devmem_lab.lab", "devmem_lab.teach"}
    assert _layer("devmem_lab.lab") not in ALLOWED["kernel"]
