"""The README's example runs as printed (so it stays true)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_the_taste_snippet_runs_and_reads_the_payload_from_the_dmabuf():
    code = re.search(r"## A taste\n\n```python\n(.*?)```", README.read_text(),
                     re.DOTALL).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert scope["binding"] == {"id": 1}
    assert len(scope["payload"]) > 0 and scope["payload"] in b"hello devmem" * 1000
    assert scope["conn"].tokens_held == 0  # the snippet gave every token back


def test_the_two_setup_commands_are_make_targets():
    text = README.read_text()
    makefile = (README.parent / "Makefile").read_text()
    for target in ("lab", "test"):
        assert f"make {target}" in text
        assert re.search(rf"^{target}:", makefile, re.MULTILINE)
