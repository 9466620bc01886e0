"""The facts the code cites are in the repository: every citation of docs/kernel-facts.md
names a section that exists, nothing cites a file outside the repository, and the LICENSE
file is the license pyproject.toml declares."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "docs" / "kernel-facts.md"
CITE = re.compile(r'docs/kernel-facts\.md``?,\s+"([^"]+)"')


def _sources():
    for folder in ("devmem_lab", "tests", "benchmarks"):
        yield from (ROOT / folder).rglob("*.py")
    yield from (ROOT / "notebooks").rglob("*.ipynb")
    yield ROOT / "README.md"


def test_every_cited_section_exists():
    headings = {m.group(1).strip() for m in
                re.finditer(r"^#+ (.+)$", FACTS.read_text(), re.MULTILINE)}
    cited = {}
    for path in _sources():
        for m in CITE.finditer(path.read_text(encoding="utf-8")):
            cited.setdefault(m.group(1), path)
    assert cited, "nothing cites docs/kernel-facts.md"
    missing = {s: str(p.relative_to(ROOT)) for s, p in cited.items() if s not in headings}
    assert not missing, f"cited sections not in docs/kernel-facts.md: {missing}"


def test_nothing_cites_the_facts_file_outside_the_repository():
    offenders = [str(p.relative_to(ROOT)) for p in _sources()
                 if "devmem-" "facts.md" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_license_file_matches_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "WITHOUT WARRANTY OF ANY KIND" in text
