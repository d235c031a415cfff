"""Drive a real JupyterLab on 127.0.0.1 with Playwright over the system Chromium, as a learner would.

Used by ``tests/test_notebooks.py`` (issue 16 part 6): open a course notebook, *Run All*, and read back what the
learner sees: error and stderr outputs, Bokeh toolbars, the dirty mark of the tab, requests that leave
127.0.0.1, and the month of 03's dashboard map after its slider is moved quickly to the end.

Run by hand on a data folder where notebook 02 has run::

    .venv/bin/python tests/jupyterlab_driver.py DATA_DIR 00_environment_check 03_explore_with_holoviz
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geoml_helpers.course.browser import CHROMIUM_FLAGS, find_chromium  # noqa: E402
from geoml_helpers.services.processes import free_port, terminate_process  # noqa: E402

LOCAL_PREFIXES = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")

# Every element of the page, shadow roots included (Bokeh 3 draws inside shadow DOM).
_WALK = "const walk = (root, acc) => { for (const el of root.querySelectorAll('*')) "
_WALK += "{ acc.push(el); if (el.shadowRoot) walk(el.shadowRoot, acc); } return acc; };"

_OUTPUTS_JS = (
    "() => { const sel = (m) => [...document.querySelectorAll(`.jp-OutputArea-output[data-mime-type='${m}']`)]"
    ".map(e => e.textContent.slice(0, 400)); return {stderr: sel('application/vnd.jupyter.stderr'), "
    "error: [...document.querySelectorAll('.jp-OutputArea-output')].filter(e => "
    "e.querySelector(\"[data-mime-type='application/vnd.jupyter.error']\") || "
    "e.getAttribute('data-mime-type') === 'application/vnd.jupyter.error').map(e => e.textContent.slice(0, 400))}; }"
)

_TOOLBARS_JS = (
    "() => { " + _WALK + " return walk(document, []).filter(e => e.classList.contains('bk-Toolbar')).length; }"
)

# The titles of every Bokeh plot on the page and the state of every Bokeh slider, read from BokehJS's own models.
_BOKEH_STATE_JS = """() => {
  const titles = [], sliders = [], texts = [];
  for (const root of Object.values(window.Bokeh ? Bokeh.index : {})) {
    const stack = [root];
    while (stack.length) {
      const v = stack.pop();
      const m = v.model;
      if (m && m.title && m.title.text !== undefined) titles.push(m.title.text);
      if (m && m.type === 'Slider') sliders.push({value: m.value, start: m.start, end: m.end, title: m.title});
      if (m && typeof m.text === 'string') texts.push(m.text);
      if (v.child_views) stack.push(...v.child_views);
    }
  }
  return {titles, sliders, texts};
}"""

_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
_BUSY_JS = "() => [...document.querySelectorAll('.jp-InputPrompt')].filter(e => e.textContent.includes('*')).length"


@dataclass
class NotebookVisit:
    """What a learner saw in one notebook after *Run All*."""

    name: str
    seconds: float
    dirty_after_open: int
    stderr: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    toolbars: int = 0
    bokeh: dict = field(default_factory=dict)


@dataclass
class LabSession:
    """A running JupyterLab and one Chromium tab on it."""

    url: str
    token: str
    page: object
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def off_host(self) -> list[str]:
        """Requests of the page that left 127.0.0.1."""
        return [u for u in self.requests if not u.startswith(LOCAL_PREFIXES)]

    def open(self, name: str, timeout_s: float = 120.0) -> int:
        """Open ``name``.ipynb, wait for its kernel; return 1 if its tab is then marked modified, else 0."""
        page = self.page
        page.goto(f"{self.url}/lab/tree/{name}.ipynb?token={self.token}")
        page.wait_for_selector(".jp-Notebook", timeout=timeout_s * 1000)
        page.wait_for_selector(_IDLE, timeout=timeout_s * 1000)
        time.sleep(2)  # let Lab apply the kernel's metadata, which is what marks a notebook modified
        dirty = page.evaluate("[...document.querySelectorAll('.lm-TabBar-tab.jp-mod-dirty')].map(e => e.textContent)")
        return sum(name in title for title in dirty)

    def run_all(self, name: str, timeout_s: float = 600.0) -> NotebookVisit:
        """Open ``name``, *Run All* from the Run menu, wait until no cell runs; read what the page shows."""
        started = time.perf_counter()
        dirty = self.open(name)
        page = self.page
        page.click("li.lm-MenuBar-item >> text=Run")
        page.click("li.lm-Menu-item >> text=Run All Cells")
        # Every cell is queued ([*]) at once; the run is over when none is left and the kernel is idle.
        # (A loaded machine took over 30 s to show the first [*] in CI.)
        page.wait_for_function(_BUSY_JS, timeout=180_000)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not page.evaluate(_BUSY_JS) and page.locator(_IDLE).count():
                break
            time.sleep(1)
        outputs = page.evaluate(_OUTPUTS_JS)
        return NotebookVisit(
            name=name,
            seconds=time.perf_counter() - started,
            dirty_after_open=dirty,
            stderr=outputs["stderr"],
            errors=outputs["error"],
            toolbars=int(page.evaluate(_TOOLBARS_JS)),
            bokeh=page.evaluate(_BOKEH_STATE_JS),
        )

    def bokeh_state(self) -> dict:
        """Plot titles and slider states, from BokehJS's models."""
        return self.page.evaluate(_BOKEH_STATE_JS)

    def press_slider(self, key: str, times: int = 1, index: int = 0) -> None:
        """Focus the ``index``-th noUiSlider handle (shadow DOM included) and press ``key`` ``times`` quickly."""
        handle = self.page.locator(".noUi-handle").nth(index)
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(times):
            self.page.keyboard.press(key)

    def drag_slider_to_end(self, index: int = 0) -> None:
        """Drag the ``index``-th slider handle to the right end of its track in one quick move."""
        handle = self.page.locator(".noUi-handle").nth(index)
        track = self.page.locator(".noUi-base").nth(index)
        handle.scroll_into_view_if_needed()
        h, t = handle.bounding_box(), track.bounding_box()
        self.page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
        self.page.mouse.down()
        self.page.mouse.move(t["x"] + t["width"] + 20, h["y"] + h["height"] / 2, steps=8)
        self.page.mouse.up()


DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def dashboard_month(state: dict) -> tuple[str | None, str | None]:
    """(the month a dashboard's slider label shows, the month of the map it drives), from BokehJS's models."""
    shown = [DATE.search(t).group() for t in state["texts"] if "Month" in t and DATE.search(t)]
    mapped = [DATE.search(t).group() for t in state["titles"] if DATE.fullmatch(t.split(" ")[-1])]
    return (shown[-1] if shown else None), (mapped[-1] if mapped else None)


def quick_slider_moves(lab: LabSession, settle_s: float = 6.0) -> dict[str, dict]:
    """A learner's quick moves on the page's first slider: a jump to the end, then three quick steps back.

    Returns the Bokeh state ``settle_s`` seconds after each move, which is when a learner looks at the map.
    """
    moves = {}
    lab.press_slider("End")
    time.sleep(settle_s)
    moves["end"] = lab.bokeh_state()
    lab.press_slider("ArrowLeft", times=3)
    time.sleep(settle_s)
    moves["three steps back"] = lab.bokeh_state()
    return moves


def slider_lag_problems(moves: dict[str, dict]) -> list[str]:
    """Each move after which the map is not on the month its slider shows (or no month could be read)."""
    problems = []
    for move, state in moves.items():
        shown, mapped = dashboard_month(state)
        if not (shown and mapped):
            problems.append(f"after {move}: no month read from the dashboard ({state})")
        elif mapped != shown:
            problems.append(f"after {move}: the slider shows {shown} but the map shows {mapped}")
    return problems


def _wait_for_server(url: str, token: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode} before answering")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout_s} s")


@contextmanager
def jupyterlab(notebooks: list[Path], data_dir: Path, log_path: Path | None = None) -> Iterator[LabSession]:
    """A JupyterLab on 127.0.0.1 over copies of ``notebooks`` (the repository's files are never touched).

    The kernel reads the course data from ``data_dir`` (``GEOML_DATA_DIR``); Lab's news and update checks are
    off; the server is stopped, with its kernels, at the end.
    """
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="geoml-lab-"))
    root = work / "notebooks"
    root.mkdir()
    for nb in notebooks:
        shutil.copy(nb, root / nb.name)
    port, token = free_port(), "geoml-lab-test"
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GEOML_DATA_DIR": str(data_dir),
        "WANDB_MODE": "offline",
        "JUPYTER_CONFIG_DIR": str(work / "config"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
    }
    command = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = open(log_path or work / "lab.log", "w")  # noqa: SIM115 - closed below, after the server stopped
    lab = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    try:
        _wait_for_server(url, token, lab, timeout_s=120)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_FLAGS), headless=True)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_default_timeout(60_000)
            session = LabSession(url=url, token=token, page=page)
            page.on("request", lambda r: session.requests.append(r.url))
            page.on("websocket", lambda s: session.requests.append(s.url))
            page.on("console", lambda m: session.console_errors.append(m.text) if m.type == "error" else None)
            try:
                yield session
            finally:
                browser.close()
    finally:
        terminate_process(lab, grace=10, whole_group=True)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    data, *names = sys.argv[1:]
    paths = [ROOT / "notebooks" / f"{n}.ipynb" for n in names]
    with jupyterlab(paths, Path(data)) as lab:
        for n in names:
            visit = lab.run_all(n)
            print(json.dumps(visit.__dict__, default=str)[:2000])
            if n.startswith("03"):
                lab.press_slider("End")
                time.sleep(8)
                print("after End:", json.dumps(lab.bokeh_state()))
                lab.press_slider("ArrowLeft", times=3)
                time.sleep(8)
                print("after 3 quick ArrowLeft:", json.dumps(lab.bokeh_state()))
                lab.page.screenshot(path=str(Path(tempfile.gettempdir()) / "geoml-lab-slider.png"))
        print("off host:", lab.off_host)
        print("console errors:", lab.console_errors[:5])
