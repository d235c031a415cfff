"""No claim against an output: the values the executed notebooks glue, and the claims made from them.

A notebook records a value with ``myst_nb.glue(name, value, display=False)``: the executed copy keeps
it as an output of MIME type ``application/papermill.record/text/plain`` (the value's ``repr``), which
the page does not show. Two kinds of checks read those values here:

* **claims**: a glued string named ``claim_*`` (or ``cv_claim``) is a comparison between other glued
  names, e.g. ``"focus_ci_low_ha <= focus_true_ha <= focus_ci_high_ha"``. The notebook chose it with an
  ``if`` on the same numbers it printed a sentence from; the check re-evaluates it on the glued numbers,
  so a sentence that contradicts its output fails here.
* **expectations**: what the notebooks used to ``assert`` in the reader's cells (no leakage between
  train and test blocks, tiles equal a whole-window prediction, ...), now checked here.

The executed notebooks are read from ``GEOML_EXECUTED_DIR`` or ``build/executed/ci`` (where the book
test executes them). :func:`claim_problems` is importable, so the book test can call it on the
notebooks it has just executed.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

GLUE_MIME = "application/papermill.record/text/plain"
EXECUTED = Path(os.environ.get("GEOML_EXECUTED_DIR", PROJECT_ROOT / "build" / "executed" / "ci"))

# What the reader's cells used to assert, per notebook: comparisons between glued names and numbers.
# A name a notebook did not glue (a user project skips the demo-only parts) is not checked.
EXPECTATIONS = {
    "05_deep_learning_torchgeo": [
        "fast_path_max_difference < 2e-4",
        "fast_path_same_mask == True",
        "chips_crossing_splits == 0",
        "unet_epochs >= 6",
    ],
    "06_timeseries_hyperspectral": [
        "test_pixels_leaked == 0",
        "test_pixels_repeated == 0",
        "test_order_matches == True",
    ],
    "04_pixel_classification": [
        "shared_train_test_blocks == 0",
        "nan_feature_share == 0",
        "dropped_nan_share < 0.01",
        "ppf_agreement > 0.995",
        "worker_peak_mib < worker_limit_mib",
        "random_cv >= block_cv",
        "shifted_share_inside < scene_share_inside",
    ],
    "07_scaling_out": [
        "workers_started >= 1",
        "threads_per_worker_max == 1",
        "touched_spatial_map < touched_timeseries_map",
        "touched_timeseries_pixel_timeseries < touched_spatial_pixel_timeseries",
        "bounded_rechunk_identical == True",
        "remote_zarr_identical == True",
        "cog_overviews >= 1",
        "cog_window_identical == True",
        "s3_small_latency_h > s3_small_transfer_h",
        "s3_large_latency_h < s3_large_transfer_h",
        "training_gib > worker_limit_gib",
        "accuracy_over_chance > 1.5",
        "store_stopped == True",
    ],
    "08_inference_and_publishing": [
        "tiled_whole_agreement > 0.999",
        "predicted_share > 0.9",
        "overviews_landcover_prediction >= 1",
        "overviews_landcover_vote_share >= 1",
        "found_published_item == True",
        "model_from_04 == True",
        "unet_used == True",
        "probability_coverage > 0.85",
    ],
}
_NAME = re.compile(r"\b[a-z_][a-z0-9_]*\b")
_KEYWORDS = {"and", "or", "not", "True", "False"}


def glued_values(notebook: dict) -> dict[str, object]:
    """Name -> value of every ``glue(..., display=False)`` output of an executed notebook."""
    values = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get(GLUE_MIME)
            if name and text is not None:
                text = "".join(text) if isinstance(text, list) else text
                try:
                    values[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[name] = text
    return values


def evaluate(expression: str, values: dict[str, object]) -> bool | None:
    """Evaluate a comparison of glued names; None when a name is missing (nothing to check)."""
    tree = ast.parse(expression, mode="eval")
    allowed = (ast.Expression, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load)
    allowed += (ast.And, ast.Or, ast.Not, ast.USub, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
    for node in ast.walk(tree):
        if not isinstance(node, allowed) or isinstance(node, ast.Constant) and isinstance(node.value, str):
            raise ValueError(f"not a comparison of glued values: {expression!r}")
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    if not names <= set(values):
        return None
    return bool(eval(compile(tree, "<claim>", "eval"), {"__builtins__": {}}, dict(values)))  # noqa: S307


def claim_problems(notebook: dict, page: str, expectations: list[str] = ()) -> list[str]:
    """Claims (glued ``claim_*``/``cv_claim`` strings) and expectations that the glued values contradict."""
    values = glued_values(notebook)
    claims = [v for k, v in values.items() if (k.startswith("claim_") or k == "cv_claim") and isinstance(v, str)]
    problems = []
    for kind, expressions in (("claim", claims), ("expectation", list(expectations))):
        for expression in expressions:
            if evaluate(expression, values) is False:
                shown = {n: values[n] for n in sorted(set(_NAME.findall(expression)) - _KEYWORDS)}
                problems.append(f"{page}: the {kind} {expression!r} does not hold for {shown}")
    return problems


def _glue_output(name: str, value: object) -> dict:
    return {
        "output_type": "display_data",
        "metadata": {"scrapbook": {"name": name, "mime_prefix": "application/papermill.record/"}},
        "data": {GLUE_MIME: repr(value)},
    }


def _notebook(**values) -> dict:
    return {"cells": [{"cell_type": "code", "outputs": [_glue_output(k, v) for k, v in values.items()]}]}


def test_a_claim_that_holds_passes_and_one_that_contradicts_its_numbers_fails():
    good = _notebook(random_cv=0.97, block_cv=0.93, wall_to_wall=0.91, cv_claim="random_cv >= block_cv >= wall_to_wall")
    assert claim_problems(good, "04") == []
    # the sentence says the truth is inside the interval, the glued numbers say it is not
    bad = _notebook(
        focus_ci_low_ha=70.5,
        focus_ci_high_ha=87.7,
        focus_true_ha=57.4,
        claim_focus_interval="focus_ci_low_ha <= focus_true_ha <= focus_ci_high_ha",
    )
    problems = claim_problems(bad, "08")
    assert len(problems) == 1 and "focus_true_ha" in problems[0] and "57.4" in problems[0]


def test_expectations_skip_names_a_notebook_did_not_glue_and_reject_code():
    nb = _notebook(ppf_agreement=0.99)
    assert claim_problems(nb, "04", ["ppf_agreement > 0.995", "tile_agreement > 0.4"]) == [
        "04: the expectation 'ppf_agreement > 0.995' does not hold for {'ppf_agreement': 0.99}"
    ]
    with pytest.raises(ValueError, match="not a comparison"):
        evaluate("__import__('os') == 1", {"__import__": 1})


def _executed(stem: str) -> dict:
    if "GEOML_EXECUTED_DIR" not in os.environ:
        # In `make test` the course test checks the notebooks it has just executed (test_notebooks.py); reading
        # build/executed/ci from here could meet a notebook that the other worker is still writing.
        pytest.skip("set GEOML_EXECUTED_DIR to check an executed course here (the course test checks its own run)")
    path = EXECUTED / f"{stem}.ipynb"
    if not path.exists():
        pytest.skip(f"{path.name} was not executed into {EXECUTED} (the book test executes every notebook there)")
    return json.loads(path.read_text())


@pytest.mark.parametrize("stem", sorted(EXPECTATIONS))
def test_executed_notebooks_claims_agree_with_their_outputs(stem):
    notebook = _executed(stem)
    if not glued_values(notebook):
        pytest.skip(f"{stem} in {EXECUTED} was executed from a source that glued nothing: execute it again")
    assert claim_problems(notebook, stem, EXPECTATIONS[stem]) == []
