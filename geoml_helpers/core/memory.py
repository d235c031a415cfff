"""Peak resident memory of a block of code, sampled in a background thread.

Used by the tiled inference of notebook 08 (this process and its dask
workers) and by the course runner (the notebook kernels it starts).

Examples
--------
>>> import numpy as np
>>> with PeakMemory() as mem:
...     _ = np.ones(10**6)
>>> mem.peak_mb >= mem.baseline_mb > 0
True
"""

from __future__ import annotations

import threading

__all__ = ["PeakMemory"]


class PeakMemory:
    """Peak resident memory (MB) of this process and its child processes while the ``with`` block runs.

    A daemon thread sums the resident set size (RSS) every ``interval``
    seconds; :attr:`peak_mb` is the largest sum seen, including one last
    sample when the block ends. A peak shorter than ``interval`` can be missed.

    Parameters
    ----------
    interval : float
        Seconds between samples.
    children_only : bool
        Count only the child processes (all descendants), not this one: what
        the course runner wants for the notebook kernels it starts.

    Attributes
    ----------
    baseline_mb : float
        RSS when the block started.
    peak_mb : float
        Highest RSS seen while it ran.

    Examples
    --------
    >>> import subprocess, sys
    >>> with PeakMemory(children_only=True) as kids:
    ...     _ = subprocess.run([sys.executable, "-c", "import time; time.sleep(0.3)"], check=True)
    >>> kids.peak_mb > kids.baseline_mb + 1  # the child's memory, not this process's
    True
    """

    def __init__(self, interval: float = 0.02, *, children_only: bool = False) -> None:
        self.interval = interval
        self.children_only = children_only
        self.baseline_mb = 0.0
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rss_mb(self) -> float:
        """Current RSS in MB of what is measured (this process and/or its descendants)."""
        import psutil

        me = psutil.Process()
        total = 0 if self.children_only else me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # the child ended between listing and reading
                pass
        return total / 1e6

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.baseline_mb = self.peak_mb = self.rss_mb()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, self.rss_mb())
