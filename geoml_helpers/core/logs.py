"""Logger levels set for the length of a block, then put back.

Used to keep known, harmless chatter out of a notebook's outputs without hiding it elsewhere:
Lightning's info lines while a model trains, tornado's and the nanny's shutdown noise while a
dask cluster closes.

Examples
--------
>>> import logging
>>> with log_levels({"geoml.example": logging.ERROR}):
...     logging.getLogger("geoml.example").level
40
>>> logging.getLogger("geoml.example").level
0
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping

__all__ = ["log_levels"]


@contextlib.contextmanager
def log_levels(levels: Mapping[str, int]) -> Iterator[None]:
    """Set each named logger's level inside the block; restore the previous levels after it, even on error.

    Parameters
    ----------
    levels : mapping of str to int
        Logger name to level (``logging.WARNING``; above ``logging.CRITICAL``, e.g. 60, silences it).

    Examples
    --------
    >>> with log_levels({"tornado.application": 60}):
    ...     logging.getLogger("tornado.application").error("not shown")
    """
    before = {name: logging.getLogger(name).level for name in levels}
    try:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        yield
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
