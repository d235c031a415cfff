"""The papermill runner: order, parameters, timing file and failure reports."""

from __future__ import annotations

import json

import nbformat
import pytest

from geoml_helpers.course.runner import SUMMARY_NAME, NotebookFailed, discover_notebooks, run_notebooks


def _notebook(path, *sources, parameters='profile = "workshop"'):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), cell] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)


def test_runs_in_order_injects_profile_and_records_times(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "01_second.ipynb", "import os\nopen('order.txt', 'a').write('01')")
    _notebook(
        notebooks / "00_first.ipynb",
        "import os\nopen('order.txt', 'a').write('00')\nassert profile == 'ci'\nimport numpy as np\nx = "
        "np.ones(50_000_000)",
    )
    _notebook(notebooks / "README_not_numbered.ipynb", "raise SystemExit(1)")
    assert [p.name for p in discover_notebooks(notebooks)] == ["00_first.ipynb", "01_second.ipynb"]
    summary = run_notebooks("ci", notebooks, tmp_path / "out", data_dir=str(tmp_path / "data"), log=lambda *_: None)
    assert summary.ok
    assert (notebooks / "order.txt").read_text() == "0001"
    written = json.loads((tmp_path / "out" / "ci" / SUMMARY_NAME).read_text())
    assert [n["notebook"] for n in written["notebooks"]] == ["00_first.ipynb", "01_second.ipynb"]
    first = written["notebooks"][0]
    assert first["status"] == "ok" and first["wall_s"] > 0
    assert first["peak_rss_mb"] > 300, "a 400 MB array in the kernel must show in the peak memory"
    assert (tmp_path / "out" / "ci" / "00_first.ipynb").exists()


def test_stops_at_the_first_failure_naming_notebook_and_cell(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "00_ok.ipynb", "x = 1")
    _notebook(notebooks / "01_broken.ipynb", "y = 2", "raise ValueError('labels are in the wrong CRS')")
    _notebook(notebooks / "02_never.ipynb", "open('ran.txt', 'w')")
    with pytest.raises(NotebookFailed) as info:
        run_notebooks("ci", notebooks, tmp_path / "out", data_dir=str(tmp_path / "data"), log=lambda *_: None)
    message = str(info.value)
    assert (
        "01_broken.ipynb" in message
        and "cell 4 (counting from 1" in message
        and "`raise ValueError" in message
        and "ValueError: labels are in the wrong CRS" in message
    )
    assert not (notebooks / "ran.txt").exists()
    written = json.loads((tmp_path / "out" / "ci" / SUMMARY_NAME).read_text())
    assert [n["status"] for n in written["notebooks"]] == ["ok", "failed"]


def test_cli_exit_codes(tmp_path, capsys):
    from geoml_helpers.course.runner import main

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "00_broken.ipynb", "1/0")
    assert (
        main(
            [
                "--profile",
                "ci",
                "--notebooks-dir",
                str(notebooks),
                "--output-dir",
                str(tmp_path / "o"),
                "--data-dir",
                str(tmp_path / "d"),
            ]
        )
        == 1
    )
    assert "FAILED" in capsys.readouterr().err
    assert main(["--profile", "huge", "--notebooks-dir", str(notebooks)]) == 2
    assert "Unknown profile" in capsys.readouterr().err
