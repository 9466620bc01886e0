"""The built course site in a real browser (headless Chromium via playwright).

``make site-test`` builds the site (``make site``) and runs this module with
``DEVMEM_SITE_DIR=build/site``. The site is served over HTTP on 127.0.0.1; every request
to another host is aborted and counted (the site must work offline). Every HTML page is
opened: it must render an article with text, log no console error, load every image and
every local asset it asks for; every internal link must lead to an existing page and, with
a ``#fragment``, to an element with that id. The search page must find
``SO_DEVMEM_DONTNEED`` in lesson 05. A full-page screenshot of each lesson lands in
``build/screenshots/site/``.

Without ``DEVMEM_SITE_DIR`` (a plain ``pytest tests``) the browser tests skip: they need the
built site. The link helpers' own tests run wherever Sphinx is installed.
"""

from __future__ import annotations

import functools
import http.server
import os
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
from browser_support import CHROMIUM_FLAGS, REPO, chromium_path
from prereq import require

from devmem_lab import prerequisites as pre

pytestmark = pytest.mark.site
SITE_ENV = os.environ.get("DEVMEM_SITE_DIR")
SHOTS = REPO / "build" / "screenshots" / "site"
needs_site = pytest.mark.skipif(
    not SITE_ENV, reason="needs the built site: run `make site-test` (builds it, then this)")


# ---- the Sphinx extensions' pure parts ------------------------------------------------------
@pytest.fixture(scope="module")
def ext():
    # the 'site' extra is installed by `make site` (after the unit run of `make test`)
    pytest.importorskip("sphinx", reason="run by make site-test (pip install -e '.[site]')")
    sys.path.insert(0, str(REPO / "docs" / "_ext"))
    import binder_student
    import kernel_source

    return kernel_source, binder_student


@pytest.mark.parametrize("path", ["net/core/devmem.c", "include/uapi/linux/uio.h",
                                  "Documentation/networking/devmem.rst", "net/ethtool/",
                                  "tools/testing/selftests/drivers/net/hw/ncdevmem.c"])
def test_kernel_paths_link_to_the_v6_18_source(ext, path):
    assert ext[0].kernel_url(path) == f"https://elixir.bootlin.com/linux/v6.18/source/{path}"


@pytest.mark.parametrize("text", ["devmem.c", "ethtool.c", "rxclass.c", "tcp_recvmsg_dmabuf",
                                  "arch/*/include/uapi/asm/socket.h", "net/../etc/passwd",
                                  "netdev.yaml", "devmem_lab/kernel/tcp.py", "net core"])
def test_other_inline_code_is_not_linked(ext, text):
    assert ext[0].kernel_url(text) is None


def test_lesson_with_exercises_launches_its_student_copy(ext):
    student_path = ext[1].student_path
    assert student_path("notebooks/05_token_return", REPO) == \
        "notebooks/student/05_token_return.ipynb"
    assert student_path("notebooks/06_memory_bandwidth", REPO) is None  # no exercises
    assert student_path("docs/glossary", REPO) is None


# ---- the built site in the browser ---------------------------------------------------------
class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


@functools.cache
def page_ids(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no per-request noise on stderr
        pass


@pytest.fixture(scope="module")
def site():
    root = Path(SITE_ENV or "").resolve()
    if not (root / "index.html").exists() and not (root / "docs" / "index.html").exists():
        pytest.fail(f"DEVMEM_SITE_DIR={SITE_ENV!r} holds no built site: run `make site`")
    require(pre.CHROMIUM, pre.PLAYWRIGHT)  # skip outside CI, fail in CI
    exe = chromium_path()
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS[1:],
                                         headless=True)
            try:
                yield Site(root, base, browser)
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


class Site:
    def __init__(self, root: Path, base: str, browser) -> None:
        self.root, self.base, self.browser = root, base, browser
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.set_default_timeout(30_000)
        self.external: list[str] = []
        self.failed: list[str] = []
        self.console: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.console.append(m.text))
        self.page.on("pageerror", lambda e: self.console.append(str(e)))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(
            f"{r.status} {r.url}"))
        self.page.on("requestfailed", lambda r: r.url.startswith(self.base)
                     and self.failed.append(f"failed {r.url}"))

    def _route(self, route):
        if route.request.url.startswith(self.base):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def open(self, rel: str):
        self.external.clear()
        self.failed.clear()
        self.console.clear()
        self.page.goto(f"{self.base}/{rel}", wait_until="load")
        return self.page


def _pages() -> list[str]:
    if not SITE_ENV:
        return ["(site not built)"]
    root = Path(SITE_ENV)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                  if not p.relative_to(root).parts[0].startswith(("_", ".")))


PAGES = _pages()
LESSONS = [p for p in PAGES if p.startswith("notebooks/") and p.split("/")[1][:2].isdigit()]

IMAGES = """() => [...document.images].map(i => [i.getAttribute('src'), i.complete,
                                              i.naturalWidth, i.naturalHeight])"""
LINKS = "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"


@needs_site
def test_the_site_has_every_lesson_and_student_copy():
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")) + \
            sorted((REPO / "notebooks" / "student").glob("*.ipynb")):
        rel = nb.relative_to(REPO).with_suffix(".html").as_posix()
        assert rel in PAGES, f"{rel} missing from the site"
    assert "docs/glossary.html" in PAGES and "search.html" in PAGES


@needs_site
@pytest.mark.parametrize("rel", PAGES)
def test_page_renders_with_its_figures_and_links(site, rel):
    page = site.open(rel)
    article = page.locator("#search-results" if rel == "search.html" else "article.bd-article")
    assert article.count() == 1, f"{rel}: no article"
    if rel not in ("search.html", "genindex.html"):
        assert len(article.inner_text()) > 200, f"{rel}: article nearly empty"
        assert page.locator("article h1").count() >= 1, f"{rel}: no title"
    images = page.evaluate(IMAGES)
    broken = [src for src, done, w, h in images if not (done and w > 0 and h > 0)]
    assert not broken, f"{rel}: images that did not load: {broken}"
    if rel in LESSONS:
        nb = REPO / rel.replace(".html", ".ipynb")
        want = nb.read_text().count('"image/png"')
        shown = sum(1 for src, *_ in images if src and src.startswith("../_images/"))
        assert shown >= want, f"{rel}: {shown} figures shown, the notebook stores {want}"
        page.screenshot(path=str(SHOTS / (Path(rel).stem + ".png")), full_page=True)
    assert not site.failed, f"{rel}: requests that failed: {site.failed}"
    assert not site.external, f"{rel}: asked for off-site resources: {site.external}"
    assert not site.console, f"{rel}: console errors: {site.console}"
    bad = []
    for href in page.evaluate(LINKS):
        if not href.startswith(site.base):
            continue
        url, frag = urldefrag(href)
        target = site.root / unquote(urlparse(url).path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        missing_id = (frag and target.suffix == ".html" and target.exists()
                      and unquote(frag) not in page_ids(target))
        if not target.exists() or missing_id:
            bad.append(href)
    assert not bad, f"{rel}: broken internal links: {sorted(set(bad))}"


@needs_site
def test_kernel_paths_on_a_lesson_link_to_the_source(site):
    page = site.open("notebooks/05_token_return.html")
    hrefs = page.evaluate("() => [...document.querySelectorAll('a.kernel-source')]"
                          ".map(a => [a.textContent, a.href])")
    assert ["net/core/sock.c", "https://elixir.bootlin.com/linux/v6.18/source/net/core/sock.c"] \
        in [list(h) for h in hrefs]
    binder = page.locator("a[href*='mybinder.org']").first.get_attribute("href")
    assert binder.endswith("?urlpath=lab/tree/notebooks/student/05_token_return.ipynb")


@needs_site
def test_search_finds_so_devmem_dontneed(site):
    page = site.open("search.html?q=SO_DEVMEM_DONTNEED")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=30_000)
    found = results.evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert any("notebooks/05_token_return.html" in h for h in found), found
    assert any("docs/glossary.html" in h for h in found), found
