"""A real headless Chromium for the book's checks: Playwright driving the system's Chromium, offline.

Playwright's own browser download cannot work offline and is not needed:
:class:`HeadlessChromium` launches Debian's ``chromium`` (``executable_path``) with
the flags of :data:`CHROMIUM_FLAGS`. :meth:`HeadlessChromium.visit` opens one page
served by :func:`serve_directory` from 127.0.0.1, waits for its Bokeh roots to
render and returns a :class:`PageCheck`: console errors, uncaught exceptions, failed
loads, requests that left 127.0.0.1, every Bokeh root's size, the boxes of plots,
widgets and tables against the article column, and a screenshot.

Examples
--------
>>> from pathlib import Path
>>> # needs a built course book and Chromium (skipped under doctest)
>>> with serve_directory(Path("build/book/ci/_build/html")) as base, HeadlessChromium() as browser:  # doctest: +SKIP
...     check = browser.visit(base + "intro.html", Path("/tmp/intro.png"))
>>> check.problems  # doctest: +SKIP
[]
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoml_helpers.core.errors import BookError, MissingDependencyError

__all__ = ["CHROMIUM_FLAGS", "WINDOW_WIDTH", "HeadlessChromium", "PageCheck", "find_chromium", "serve_directory"]

#: Browser window width of the checks, in CSS pixels: a laptop screen (issue 16's "fit" check).
WINDOW_WIDTH: int = 1300


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 on a free port; yields the base URL.

    Examples
    --------
    >>> with serve_directory(Path(".")) as url:
    ...     url.startswith("http://127.0.0.1:")
    True
    """
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None.

    Looks for ``GEOML_CHROMIUM``, then ``chromium``, ``chromium-browser`` and ``google-chrome`` on the PATH.
    """
    candidates = [
        os.environ.get("GEOML_CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    for name in filter(None, candidates):
        path = shutil.which(name)
        if path:
            return path
    return None


#: Flags that run Debian's chromium headless as root, offline, without a GPU (see PITFALLS.md).
#: Flags that run Debian's chromium headless as root, offline, without a GPU (see PITFALLS.md);
#: Playwright adds ``--headless`` and its own automation flags.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--enable-unsafe-swiftshader",
    "--hide-scrollbars",
    "--mute-audio",
)


class HeadlessChromium:
    """The system's Chromium, headless, with one tab, driven by Playwright (no Playwright browser download).

    Parameters
    ----------
    executable : str, optional
        Chromium binary; default :func:`find_chromium`.
    width, height : int
        Window size in CSS pixels. :meth:`visit` grows the height to the whole page (up to
        ``max_height``) so that every plot is laid out and in the screenshot.
    timeout : float
        Seconds allowed for a page to load.

    Examples
    --------
    Needs Debian's Chromium (skipped under doctest):

    >>> with HeadlessChromium() as browser:  # doctest: +SKIP
    ...     result = browser.visit("http://127.0.0.1:8000/index.html", Path("/tmp/shot.png"))
    """

    def __init__(
        self, executable: str | None = None, width: int = WINDOW_WIDTH, height: int = 900, timeout: float = 30.0
    ) -> None:
        self.executable = executable or find_chromium()
        if not self.executable:
            raise MissingDependencyError(
                "No Chromium found. Install Debian's chromium (apt-get install -y chromium) "
                "or set GEOML_CHROMIUM to a Chrome/Chromium binary."
            )
        self.width, self.height, self.timeout = width, height, timeout
        self._playwright: Any = None
        self._browser: Any = None
        self._page: Any = None
        self._events: list[tuple[str, Any]] = []

    def __enter__(self) -> HeadlessChromium:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
            raise MissingDependencyError(
                "The browser check needs Playwright's Python package: pip install playwright "
                "(no `playwright install`: it drives the system chromium)."
            ) from exc
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=self.executable, args=list(CHROMIUM_FLAGS), headless=True, timeout=self.timeout * 1000
            )
        except Exception as exc:
            self.__exit__(None, None, None)
            raise BookError(
                f"Playwright could not start {self.executable}: {exc}. "
                f"Try running it by hand with --headless {' '.join(CHROMIUM_FLAGS)}."
            ) from exc
        self._page = self._browser.new_page(
            viewport={"width": self.width, "height": self.height}, device_scale_factor=1
        )
        self._page.set_default_timeout(self.timeout * 1000)
        self._page.on("console", lambda message: self._events.append(("console", message)))
        self._page.on("pageerror", lambda error: self._events.append(("pageerror", error)))
        self._page.on("request", lambda request: self._events.append(("request", request.url)))
        self._page.on("websocket", lambda socket: self._events.append(("request", socket.url)))
        return self

    def __exit__(self, *exc_info) -> None:
        if self._browser is not None:
            with contextlib.suppress(Exception):
                self._browser.close()
            self._browser = self._page = None
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                self._playwright.stop()
            self._playwright = None

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression (a promise is awaited) in the page and return its JSON value."""
        for attempt in range(5):
            try:
                return self._page.evaluate(expression)
            except Exception as exc:
                # A page that redirects (index.html) replaces its JavaScript context under the call:
                # ask again in the new one.
                if attempt == 4 or not any(
                    s in str(exc) for s in ("navigat", "context was destroyed", "Cannot find context")
                ):
                    raise BookError(f"JavaScript check failed: {exc}") from exc
                with contextlib.suppress(Exception):
                    self._page.wait_for_load_state("load")
                self._page.wait_for_timeout(300)
        return None  # pragma: no cover - the loop returns or raises

    def visit(
        self,
        url: str,
        screenshot: Path | None = None,
        settle_s: float = 0.5,
        plot_timeout_s: float = 20.0,
        max_height: int = 16000,
    ) -> PageCheck:
        """Open ``url``, wait for its Bokeh roots to render; report errors, roots, element boxes and a screenshot."""
        page = self._page
        page.set_viewport_size({"width": self.width, "height": self.height})
        page.goto("about:blank")
        self._events.clear()
        started = time.monotonic()
        with contextlib.suppress(Exception):  # a page that redirects (index.html) interrupts its own navigation
            page.goto(url, wait_until="load", timeout=self.timeout * 1000)
        # index.html is a meta refresh: wait for the page it leads to.
        page.wait_for_timeout(100)
        with contextlib.suppress(Exception):
            page.wait_for_load_state("load", timeout=self.timeout * 1000)
        loaded = bool(self.evaluate("document.readyState === 'complete' && location.href !== 'about:blank'"))
        roots: list[dict] = []
        deadline = time.monotonic() + plot_timeout_s
        for _ in range(2):
            # Make the whole page the viewport, so that every plot is laid out and in the screenshot;
            # measure again once the plots have rendered, since they change the page's height.
            height = int(
                self.evaluate("document.documentElement ? Math.ceil(document.documentElement.scrollHeight) : 0")
                or self.height
            )
            page.set_viewport_size({"width": self.width, "height": max(self.height, min(height, max_height))})
            while True:
                roots = self.evaluate(_ROOTS_JS) or []
                if all(r["ok"] or not r["visual"] for r in roots) or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(250)
        page.wait_for_timeout(settle_s * 1000)
        check = PageCheck(url=url, loaded=loaded, load_s=round(time.monotonic() - started, 2), roots=roots)
        self._collect_events(check, urllib.parse.urlsplit(url).netloc)
        # Two animation frames, so that the screenshot shows the last layout and not a blank first paint.
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
        check.text_chars = int(self.evaluate("document.body ? document.body.innerText.trim().length : 0") or 0)
        layout = self.evaluate(_BOXES_JS) or {}
        check.column, check.boxes = layout.get("column"), layout.get("boxes", [])
        check.outputs = layout.get("outputs", [])
        if screenshot is not None:
            screenshot = Path(screenshot)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=False)
            check.screenshot = screenshot
        return check

    def _collect_events(self, check: PageCheck, netloc: str) -> None:
        for kind, item in self._events:
            if kind == "pageerror":
                check.errors.append(f"uncaught: {item}")
            elif kind == "console" and item.type in {"error", "assert"}:
                # Chromium's log entries (a failed load, a refused request) arrive here too, as errors.
                location = item.location.get("url", "") if isinstance(item.location, dict) else ""
                check.errors.append(f"console.{item.type}: {item.text} {location}".strip())
            elif kind == "request":
                parts = urllib.parse.urlsplit(item)
                if parts.scheme in {"http", "https", "ws", "wss"} and parts.netloc != netloc:
                    check.external_requests.append(item)


# Every element with data-root-id is one embedded Bokeh document root. A root whose model is a
# LayoutDOM (a plot, a layout, a Panel pane) must be rendered with a non-zero size; other roots
# (Panel's BrowserInfo/CommManager from pn.extension) draw nothing by design.
_ROOTS_JS = r"""
(() => {
  const out = [];
  const els = document.querySelectorAll('[data-root-id]');
  const bokeh = window.Bokeh;
  const LayoutDOM = bokeh && bokeh.Models && bokeh.Models.get ? bokeh.Models.get('LayoutDOM') : null;
  for (const el of els) {
    const id = el.getAttribute('data-root-id');
    let model = null;
    if (bokeh && bokeh.documents) {
      for (const doc of bokeh.documents) { model = model || doc.get_model_by_id(id); }
    }
    const boxes = [el, ...el.children].map(e => e.getBoundingClientRect());
    const width = Math.max(0, ...boxes.map(b => b.width));
    const height = Math.max(0, ...boxes.map(b => b.height));
    const visual = model === null ? true : (LayoutDOM ? model instanceof LayoutDOM : true);
    out.push({id, type: model ? model.type : null, visual, width, height,
              ok: model !== null && (!visual || (width > 0 && height > 0))});
  }
  return out;
})()
"""

# The article column and the boxes of what must fit in it: every rendered Bokeh root (plots, Panel
# layouts and widgets: the root element, its children, and the canvases, toolbars and inputs in its
# shadow DOM), every table and image, and ipywidgets. A box is measured at its own full width, even where an output
# area clips it behind a scrollbar, because that is what the reader cannot see at once.
_BOXES_JS = r"""
(() => {
  const column = document.querySelector('article.bd-article') || document.querySelector('main article')
                 || document.querySelector('article') || document.querySelector('main');
  if (!column) { return {column: null, boxes: []}; }
  const style = getComputedStyle(column);
  const c = column.getBoundingClientRect();
  const left = c.left + parseFloat(style.paddingLeft || 0), right = c.right - parseFloat(style.paddingRight || 0);
  const describe = (el) => {
    const classes = typeof el.className === 'string' && el.className.trim()
                    ? '.' + el.className.trim().split(/\s+/).join('.') : '';
    const root = el.getAttribute('data-root-id');
    const title = root ? 'Bokeh root ' + root : el.tagName.toLowerCase() + classes;
    let section = el.closest('section');
    const heading = section ? section.querySelector('h1, h2, h3, h4') : null;
    return {what: title, section: heading ? heading.textContent.replace(/[#¶]/g, '').trim().slice(0, 80) : ''};
  };
  const boxes = [];
  const add = (el, kind, parts) => {
    // what a closed <details> or a hidden element holds is not on screen (Chromium still lays it out)
    const seen = parts.filter(e => !e.checkVisibility || e.checkVisibility({visibilityProperty: true}));
    const rects = seen.map(e => e.getBoundingClientRect()).filter(b => b.width > 0 && b.height > 0);
    if (!rects.length) { return; }
    const l = Math.min(...rects.map(b => b.left));
    const r = Math.max(...rects.map(b => b.right), rects[0].left + el.scrollWidth);
    const top = Math.min(...rects.map(b => b.top)) + window.scrollY;
    const height = Math.max(...rects.map(b => b.bottom)) + window.scrollY - top;
    boxes.push({...describe(el), kind, left: l, right: r, width: r - l, top, height});
  };
  // Bokeh draws each plot on a canvas inside nested shadow roots, where a layout may clip it: measure the
  // canvases, toolbars and inputs themselves, wherever they are.
  const drawn = 'canvas, input, select, button, textarea, .noUi-target, .bk-Toolbar';
  const deep = (root, out) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.matches(drawn)) { out.push(el); }
      if (el.shadowRoot) { deep(el.shadowRoot, out); }
    }
    return out;
  };
  for (const el of column.querySelectorAll('[data-root-id]')) {
    add(el, 'plot', [el, ...el.children, ...deep(el, [])]);
  }
  for (const el of column.querySelectorAll('table')) {
    if (!el.closest('[data-root-id]')) { add(el, 'table', [el]); }
  }
  for (const el of column.querySelectorAll('.cell_output img, .output img')) { add(el, 'image', [el]); }
  for (const el of column.querySelectorAll('.jupyter-widgets, .widget-box')) { add(el, 'widget', [el]); }
  // printed text: a line longer than the column hides its end behind a scrollbar (its scrollWidth)
  for (const el of column.querySelectorAll('.cell_output pre')) { add(el, 'text', [el]); }
  // every output as the reader sees it: its visible text lines (hidden parts, e.g. xarray's text
  // fallback or a closed <details>, are not in innerText)
  const outputs = [];
  for (const el of column.querySelectorAll('.cell_output > *')) {
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) { continue; }
    const text = (el.innerText || '').replace(/\s+$/, '');
    const lines = text ? text.split('\n') : [];
    outputs.push({...describe(el), lines: lines.length, first: (lines.find(l => l.trim()) || '').trim().slice(0, 100)});
  }
  return {column: {left, right, width: right - left}, boxes, outputs};
})()
"""


@dataclass
class PageCheck:
    """What the browser saw on one page.

    ``column`` is the article column (``left``, ``right``, ``width`` in CSS pixels) and ``boxes``
    the plots, tables, images and widgets in it (``what``, ``kind``, ``section``, ``left``, ``right``,
    ``width``, ``top``, ``height``), measured at the window width; ``outputs`` are the cell outputs with the
    number of text ``lines`` each shows (``what``, ``section``, ``lines``, ``first``);
    :func:`geoml_helpers.course.reader_checks.fit_problems` reads them.
    """

    url: str
    loaded: bool
    load_s: float
    roots: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    text_chars: int = 0
    column: dict | None = None
    boxes: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The page's path under the served folder, e.g. ``notebooks/04_pixel_classification.html``."""
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path).lstrip("/")

    @property
    def rendered_plots(self) -> int:
        """Bokeh roots that draw something and have a non-zero size."""
        return sum(1 for r in self.roots if r["visual"] and r["ok"])

    @property
    def problems(self) -> list[str]:
        """Everything wrong with the page, empty when it is fine."""
        found = [] if self.loaded else ["the load event never fired"]
        found += [] if self.text_chars else ["the page shows no text"]
        found += self.errors
        found += [f"request left 127.0.0.1: {u}" for u in self.external_requests]
        found += [
            f"Bokeh root {r['id']} ({r['type']}) not rendered: {r['width']:.0f}x{r['height']:.0f} px"
            for r in self.roots
            if not r["ok"]
        ]
        return found
