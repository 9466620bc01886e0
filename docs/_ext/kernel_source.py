"""Sphinx extension: kernel source paths become links to a kernel source browser.

Inline code that is exactly a path in the Linux tree (```net/core/devmem.c```,
```Documentation/networking/devmem.rst```, ```net/ethtool/```) is turned into a link to
``kernel_source_url + path`` (elixir.bootlin.com at the release the lab models). The same
works explicitly with the role ``{kernel}`path``. Used by ``docs/conf.py``.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

__all__ = ["KERNEL_PATH", "kernel_url", "setup"]

# top-level directories of the kernel tree; a path must start with one of them
_TOP = ("arch|block|certs|crypto|Documentation|drivers|fs|include|init|io_uring|ipc|kernel|"
        "lib|mm|net|rust|samples|scripts|security|sound|tools|virt")
KERNEL_PATH = re.compile(rf"^(?:{_TOP})/(?:[A-Za-z0-9_.+-]+/)*[A-Za-z0-9_.+-]*$")
_DEFAULT_URL = "https://elixir.bootlin.com/linux/v6.18/source/"


def kernel_url(path: str, base: str = _DEFAULT_URL) -> str | None:
    """The browser URL of kernel ``path``, or None when ``path`` is no kernel tree path."""
    path = path.strip()
    if not KERNEL_PATH.match(path) or ".." in path or "//" in path:
        return None
    return base + path


def _link(path: str, base: str, inner: nodes.Node) -> nodes.reference:
    ref = nodes.reference("", "", internal=False, refuri=kernel_url(path, base),
                          classes=["kernel-source"], reftitle=f"{path} in the kernel source")
    ref += inner
    return ref


class KernelSourceLinks(SphinxPostTransform):
    """Wrap inline literals that are kernel paths in a reference (not inside links)."""

    default_priority = 5

    def run(self, **kwargs) -> None:
        base = self.config.kernel_source_url
        for node in list(self.document.findall(nodes.literal)):
            if isinstance(node.parent, nodes.reference):
                continue
            if kernel_url(node.astext(), base) is None:
                continue
            node.replace_self(_link(node.astext(), base, node.deepcopy()))


def kernel_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{kernel}`net/core/devmem.c``: a kernel path shown as code, linked to the source."""
    base = inliner.document.settings.env.config.kernel_source_url
    if kernel_url(text, base) is None:
        msg = inliner.reporter.error(f"not a kernel source path: {text!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    return [_link(text, base, nodes.literal(text, text))], []


def setup(app):
    app.add_config_value("kernel_source_url", _DEFAULT_URL, "env")
    app.add_post_transform(KernelSourceLinks)
    app.add_role("kernel", kernel_role)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
