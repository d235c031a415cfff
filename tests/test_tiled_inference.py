"""Tiled, blended inference equals whole-array inference where both fit; bad models give clear errors."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import rasterio

from geoml_helpers.publish.tiled_inference import (
    ModelFileError,
    ModelMismatchError,
    TiledInferenceError,
    classes_and_confidence,
    load_sklearn_model,
    predict_scene,
    predict_tiled,
    ramp_weights,
    sklearn_predictor,
    torch_predictor,
)

CLASS_IDS = [1, 2, 3, 4, 5, 6]


@pytest.fixture(scope="module")
def scene(demo_ci):
    """Real demo pixels: a 4-band stack derived from the true land cover and the hyperspectral-free S2 COGs."""
    item = demo_ci.s2_items()[3]
    bands = []
    for key in ("blue", "green", "red", "nir"):
        with rasterio.open(item["assets"][key]["href"]) as src:
            bands.append(src.read(1).astype("float32") * 1e-4 - 0.1)
    with rasterio.open(demo_ci.truth_path) as src:
        truth = src.read(1)
    return np.stack(bands), truth


@pytest.fixture(scope="module")
def forest(scene):
    from sklearn.ensemble import RandomForestClassifier

    x, truth = scene
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, truth.shape[0], 3000), rng.integers(0, truth.shape[1], 3000)
    return RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=1).fit(x[:, rows, cols].T, truth[rows, cols])


def test_weights_sum_to_one_between_neighbours():
    tile, overlap = 16, 8
    a = ramp_weights(tile + 2 * overlap, overlap, overlap + tile, overlap, True, True)
    b = ramp_weights(tile + 2 * overlap, overlap, overlap + tile, overlap, True, True)
    total = np.zeros(3 * tile + 2 * overlap)
    total[0 : tile + 2 * overlap] += a
    total[tile : 2 * tile + 2 * overlap] += b
    inside = slice(tile + overlap, 2 * tile + overlap - overlap // 2)
    np.testing.assert_allclose(total[overlap + tile - overlap // 2 : overlap + tile + overlap // 2], 1.0)
    assert total[inside].max() <= 1.0 + 1e-12


@pytest.mark.parametrize("tile,overlap", [(64, 16), (50, 8), (240, 0)])
def test_sklearn_tiled_equals_whole(scene, forest, tile, overlap):
    x, _ = scene
    predictor = sklearn_predictor(forest, CLASS_IDS)
    whole = predictor(x)
    tiled = predict_tiled(x, predictor, len(CLASS_IDS), tile=tile, overlap=overlap).compute(scheduler="threads")
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    top2 = np.sort(whole, axis=0)[-2:]
    clear = (top2[1] - top2[0]) > 1e-4
    cls_whole, _ = classes_and_confidence(whole, CLASS_IDS)
    cls_tiled, _ = classes_and_confidence(tiled, CLASS_IDS)
    assert (cls_whole[clear] == cls_tiled[clear]).all()


def test_torch_conv_tiled_equals_whole_when_overlap_covers_receptive_field(scene):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    # two 3x3 convolutions: receptive radius 2 <= overlap / 2
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 6, 3, padding=1))
    x, _ = scene
    predictor = torch_predictor(net)
    whole = predictor(x)
    tiled = predict_tiled(x, predictor, 6, tile=64, overlap=8).compute(scheduler="threads")
    # zero padding at tile edges vs. at the scene edge: equal only at the scene border and inside
    np.testing.assert_allclose(tiled, whole, atol=1e-4)
    # without overlap the tiles see zero padding at their edges: seams appear
    seams = predict_tiled(x, predictor, 6, tile=64, overlap=0).compute(scheduler="threads")
    assert np.abs(seams - whole).max() > 1e-3


def test_nan_pixels_become_nodata(scene, forest):
    x, _ = scene
    x = x.copy()
    x[:, 10:20, 30:40] = np.nan
    result = predict_scene(x, sklearn_predictor(forest, CLASS_IDS), CLASS_IDS, tile=64, overlap=8, progress=False)
    assert (result.classes[10:20, 30:40] == 0).all()
    assert (result.classes[result.confidence > 0] > 0).all()
    assert result.peak_rss_mb >= result.baseline_rss_mb > 0 and result.n_tiles == 16


def test_bad_settings_and_wrong_output_shape(scene):
    x, _ = scene
    with pytest.raises(TiledInferenceError, match="overlap"):
        predict_tiled(x, lambda t: t, 4, tile=32, overlap=32)
    with pytest.raises(TiledInferenceError, match="n_classes"):
        predict_tiled(x, lambda t: t[:2], 4, tile=128, overlap=8).compute(scheduler="sync")


def test_model_file_missing_or_mismatched(tmp_path, forest):
    with pytest.raises(ModelFileError, match="notebook 04"):
        load_sklearn_model(tmp_path / "nope.joblib")
    path = tmp_path / "rf.joblib"
    joblib.dump(forest, path)
    assert load_sklearn_model(path, ["b", "g", "r", "n"]) is not None
    with pytest.raises(ModelMismatchError, match="expects 4 input features"):
        load_sklearn_model(path, [f"f{i}" for i in range(61)])
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ModelFileError, match="Cannot load"):
        load_sklearn_model(tmp_path / "junk.joblib")
