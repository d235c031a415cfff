"""Learn: pixel features, sampling, spatial cross-validation and lazy prediction.

Used by notebook 04 (pixel classification); deep learning lives in ``learn.deep``. Internal code imports from the
modules, not from this package,
so that the stage packages never import each other in a cycle.
"""

from geoml_helpers.learn.features import (
    INDICES,
    PERCENTILES,
    PHENOLOGY,
    S2_BAND_KEYS,
    FeatureInputError,
    cube_features,
    day_of_year,
    feature_names,
    feature_table,
    fill_temporal_gaps,
    map_time_band_chunks,
    pixel_features,
    sort_along_time,
    valid_pixel_mask,
)
from geoml_helpers.learn.prediction import (
    GDAL_CACHE_BYTES,
    PROBABILITY_NODATA,
    ROWS_IN_FLIGHT,
    predict_chunk,
    predict_lazy,
    write_prediction_cogs,
)
from geoml_helpers.learn.sampling import (
    ID_COLUMNS,
    balance_classes,
    feature_matrix,
    polygon_index_raster,
    sample_pixels,
)
from geoml_helpers.learn.spatial_cv import (
    CV_SCHEMES,
    TooFewSamplesError,
    check_cv_feasible,
    compare_cv,
    make_cv,
)

__all__ = [
    "CV_SCHEMES",
    "FeatureInputError",
    "GDAL_CACHE_BYTES",
    "ID_COLUMNS",
    "INDICES",
    "PERCENTILES",
    "PHENOLOGY",
    "PROBABILITY_NODATA",
    "ROWS_IN_FLIGHT",
    "S2_BAND_KEYS",
    "TooFewSamplesError",
    "balance_classes",
    "check_cv_feasible",
    "compare_cv",
    "cube_features",
    "day_of_year",
    "feature_matrix",
    "feature_names",
    "feature_table",
    "fill_temporal_gaps",
    "make_cv",
    "map_time_band_chunks",
    "pixel_features",
    "polygon_index_raster",
    "predict_chunk",
    "predict_lazy",
    "sample_pixels",
    "sort_along_time",
    "valid_pixel_mask",
    "write_prediction_cogs",
]
