"""Checks of the built book: page weight, links offline, and every page opened in headless Chromium.

:func:`check_book` serves the HTML from 127.0.0.1, opens each page with
:class:`~geoml_helpers.course.browser.HeadlessChromium` (Playwright over the system
Chromium), and gathers a :class:`BookCheck`: what the browser saw on each page,
the page weights and the internal links. What a reader sees in the outputs
(placement, colours, fit, noise, line length) is checked by
:mod:`geoml_helpers.course.reader_checks`.

Examples
--------
Needs a built course book and Chromium (skipped under doctest):

>>> from geoml_helpers.course.book_checks import check_book  # doctest: +SKIP
>>> report = check_book(Path("build/book/ci/_build/html"), Path("build/book/ci/screenshots"))  # doctest: +SKIP
>>> report.ok  # doctest: +SKIP
True
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from geoml_helpers.course.browser import HeadlessChromium, PageCheck, serve_directory

__all__ = [
    "MAX_PAGE_BYTES",
    "BookCheck",
    "LinkReport",
    "PageWeight",
    "check_book",
    "check_links",
    "html_pages",
    "page_weights",
]

#: Maximum weight of one page (HTML plus the local files it loads), in bytes.
MAX_PAGE_BYTES: int = 10 * 2**20


class _RefParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.resources: list[str] = []  # what the page itself loads: scripts, stylesheets, images, icons
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None and tag in {
                "a",
                "link",
                "script",
                "img",
                "iframe",
                "source",
                "video",
                "audio",
            }:
                self.refs.append((tag, key, attrs[key]))
                rel = set((attrs.get("rel") or "").lower().split())
                if tag in {"script", "img", "iframe", "source", "video", "audio"} or rel & {
                    "stylesheet",
                    "preload",
                    "modulepreload",
                    "icon",
                }:
                    self.resources.append(attrs[key])


def _parse(page: Path) -> _RefParser:
    parser = _RefParser()
    parser.feed(page.read_text(errors="replace"))
    return parser


def html_pages(html_dir: Path) -> list[Path]:
    """Every ``.html`` page of a built book except Sphinx's ``_sources``/``_static`` copies."""
    html_dir = Path(html_dir)
    return sorted(p for p in html_dir.rglob("*.html") if not p.relative_to(html_dir).parts[0].startswith("_"))


@dataclass
class PageWeight:
    """Size of one page: its HTML and every local file it loads."""

    page: str
    html_bytes: int
    total_bytes: int


def page_weights(html_dir: Path) -> list[PageWeight]:
    """Weight of each page: the HTML plus the local scripts, stylesheets and images it loads (Panel CSS included)."""
    html_dir = Path(html_dir).resolve()
    weights = []
    for page in html_pages(html_dir):
        parsed = _parse(page)
        text = page.read_text(errors="replace")
        urls = set(parsed.resources) | set(re.findall(r"(?:\.\./)*_static/panel/[^\"'\\\s)]+", text))
        files = set()
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            target = (page.parent / urllib.parse.unquote(parts.path)).resolve()
            if target.is_file() and html_dir in target.parents:
                files.add(target)
        size = page.stat().st_size
        weights.append(PageWeight(str(page.relative_to(html_dir)), size, size + sum(f.stat().st_size for f in files)))
    return weights


@dataclass
class LinkReport:
    """Outcome of :func:`check_links`."""

    checked: int
    broken: list[str]
    external: list[str]


def check_links(html_dir: Path) -> LinkReport:
    """Check every internal link, script, stylesheet and image of the book offline; list external links unvisited.

    An internal link is broken when its file is missing or its ``#fragment`` names no
    ``id`` in the target page.
    """
    html_dir = Path(html_dir).resolve()
    ids_cache: dict[Path, set[str]] = {}
    broken, external = [], set()
    checked = 0
    for page in html_pages(html_dir):
        parsed = _parse(page)
        ids_cache[page] = parsed.ids
        for tag, attr, url in parsed.refs:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme in {"http", "https", "ftp"} or url.startswith("//"):
                external.add(url)
                continue
            if parts.scheme in {"mailto", "data", "javascript", "tel", "blob"}:
                continue
            checked += 1
            target = page if not parts.path else (page.parent / urllib.parse.unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(html_dir)}: <{tag} {attr}={url!r}>"
            if not target.is_file():
                broken.append(f"{where} -> missing {target}")
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in ids_cache:
                    ids_cache[target] = _parse(target).ids
                if urllib.parse.unquote(parts.fragment) not in ids_cache[target]:
                    broken.append(f"{where} -> no id {parts.fragment!r} in {target.relative_to(html_dir)}")
    return LinkReport(checked, broken, sorted(external))


@dataclass
class BookCheck:
    """Outcome of :func:`check_book`."""

    pages: list[PageCheck]
    weights: list[PageWeight]
    links: LinkReport

    @property
    def problems(self) -> list[str]:
        """Every problem found, one line each, naming the page."""
        found = [f"{p.url}: {problem}" for p in self.pages for problem in p.problems]
        found += [
            f"{w.page}: weighs {w.total_bytes / 2**20:.1f} MB, above {MAX_PAGE_BYTES / 2**20:.0f} MB "
            "(rasterize or datashade big arrays)"
            for w in self.weights
            if w.total_bytes > MAX_PAGE_BYTES
        ]
        found += [f"broken link {b}" for b in self.links.broken]
        return found

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def summary(self) -> str:
        """A few lines for logs and reports: page count, total size, largest page, plots, links."""
        total = sum(w.html_bytes for w in self.weights)
        largest = max(self.weights, key=lambda w: w.total_bytes)
        plots = sum(p.rendered_plots for p in self.pages)
        lines = [
            f"{len(self.weights)} pages, {total / 2**20:.1f} MB of HTML; largest page {largest.page} "
            f"at {largest.total_bytes / 2**20:.2f} MB with what it loads ({largest.html_bytes / 2**20:.2f} MB HTML)",
            f"{plots} Bokeh plots rendered on {sum(1 for p in self.pages if p.rendered_plots)} pages; "
            f"{len(self.pages)} pages opened in headless Chromium",
            f"{self.links.checked} internal links checked offline, {len(self.links.broken)} broken; "
            f"{len(self.links.external)} external links listed, not fetched",
        ]
        return "\n".join(lines)


def check_book(
    html_dir: Path,
    screenshot_dir: Path | None = None,
    executable: str | None = None,
    log=functools.partial(print, flush=True),
) -> BookCheck:
    """Open every page of a built book in headless Chromium served from 127.0.0.1, and check weights and links.

    Screenshots go to ``screenshot_dir/<page path with / as __>.png``; the external links
    are written to ``screenshot_dir/../external-links.txt``.
    """
    html_dir = Path(html_dir)
    pages = html_pages(html_dir)
    checks = []
    with serve_directory(html_dir) as base, HeadlessChromium(executable) as browser:
        for page in pages:
            rel = page.relative_to(html_dir).as_posix()
            shot = (
                Path(screenshot_dir) / (rel.replace("/", "__").removesuffix(".html") + ".png")
                if screenshot_dir
                else None
            )
            check = browser.visit(base + rel, shot)
            log(f"[browser] {rel}: {check.load_s:.1f} s, {check.rendered_plots} plots, {len(check.problems)} problems")
            checks.append(check)
    links = check_links(html_dir)
    if screenshot_dir:
        (Path(screenshot_dir).parent / "external-links.txt").write_text("\n".join(links.external) + "\n")
    return BookCheck(checks, page_weights(html_dir), links)
