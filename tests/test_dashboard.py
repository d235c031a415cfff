"""The panel dashboard: built in Python, and served by `panel serve` on 127.0.0.1, leaving no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from geoml_helpers.services.stac_server import free_port

DASHBOARD = Path(__file__).resolve().parents[1] / "geoml_helpers" / "explore" / "dashboard.py"


def test_build_dashboard_has_widgets(demo_ci, data_root):
    import panel as pn

    from geoml_helpers.explore.dashboard import build_dashboard

    app = build_dashboard("ci", data_root)
    widgets = {w.name: w for w in app.select(pn.widgets.Widget)}
    assert {"Land-cover class", "Band or index"} <= set(widgets)
    assert "ndvi" in widgets["Band or index"].options and "swir16" in widgets["Band or index"].options
    (month,) = app.select(pn.widgets.IntSlider)  # month index; its date label is drawn in the browser
    # Changing a widget re-renders without error.
    widgets["Band or index"].value = "nir"
    month.value = month.start


def test_dashboard_opens_on_the_clearest_month_and_fits_the_column(demo_ci, data_root):
    """It opens on the month with the most clear AOI pixels (not the middle one), stacked within 700 px."""
    import numpy as np
    import panel as pn

    from geoml_helpers.explore.dashboard import build_dashboard
    from geoml_helpers.load.cube import ensure_analysis_ready_cube

    cube = ensure_analysis_ready_cube("ci", data_root)
    clear = (cube["clear_count"] > 0).mean(("y", "x")).values
    app = build_dashboard("ci", data_root)
    (month,) = app.select(pn.widgets.IntSlider)
    dates = list(np.datetime_as_string(cube["time"].values, unit="D"))
    opened = dates.index(app.opening_month)
    assert month.value == opened and (month.start, month.end) == (0, len(dates) - 1)
    assert clear[opened] == clear.max() and clear.max() > np.median(clear)
    assert app.width <= 700 and not any(isinstance(row, pn.Row) and len(row) > 3 for row in app)
    # the map follows every slider step (the JupyterLab test checks quick steps in a real browser)
    month.value = month.start


def test_dashboard_of_a_users_project_shows_its_classes(demo_ci, data_root, tmp_path):
    """A user-style project (string classes, half points): the class widget lists its labels, not the demo's."""
    import panel as pn

    from geoml_helpers.core.project import load_project
    from geoml_helpers.demo.user_project import write_user_project
    from geoml_helpers.discover.labels import prepare_labels
    from geoml_helpers.explore.dashboard import build_dashboard

    toml = write_user_project(tmp_path, data_dir=data_root, geometry="mixed")
    table = prepare_labels(load_project(toml), data_root).classes
    app = build_dashboard("ci", data_root, project=toml)
    widgets = {w.name: w for w in app.select(pn.widgets.Widget)}
    assert list(widgets["Land-cover class"].options) == list(table.labels.values())
    widgets["Land-cover class"].value = table.ids[-1]  # re-renders the map with that class's polygons and points


def test_panel_serve_answers_on_loopback(demo_ci, data_root):
    from geoml_helpers.load.cube import ensure_analysis_ready_cube

    ensure_analysis_ready_cube("ci", data_root)  # built here so the server's first page is quick
    port = free_port()
    env = {**os.environ, "GEOML_PROFILE": "ci", "GEOML_DATA_DIR": str(data_root)}
    panel = Path(sys.executable).with_name("panel")
    process = subprocess.Popen(
        [
            str(panel),
            "serve",
            str(DASHBOARD),
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            "--allow-websocket-origin",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/dashboard"
        deadline = time.monotonic() + 120
        response = None
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode(errors="replace")[-3000:]
            try:
                response = requests.get(url, timeout=60)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert response is not None, "panel serve did not answer within 120 s"
        assert response.status_code == 200
        from geoml_helpers.explore.dashboard import DASHBOARD_TITLE

        # The title is set by `.servable(title=...)` at the end of the script: the app was built for this session.
        assert f"<title>{DASHBOARD_TITLE}</title>" in response.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
    assert process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # no process of that group is left
