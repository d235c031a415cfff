r"""Atomic writes: readers see the old file (or folder) or the finished new one, never half of one.

Every file the package writes goes through :func:`atomic_write` (one file) or
:func:`atomic_dir` (a folder such as a zarr store or the demo world): the
writer fills a hidden temporary *sibling* of the destination and
:func:`os.replace` swaps it into place at the end. A sibling lies on the same
file system, so the swap is a rename, atomic on POSIX; if the writer fails or
is interrupted, the temporary copy is removed and the destination is
untouched.

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> write_atomic(folder / "note.txt", "hello").read_text()
'hello'
>>> with atomic_write(folder / "data.bin") as tmp:
...     _ = tmp.write_bytes(b"\x00\x01")
>>> sorted(p.name for p in folder.iterdir())
['data.bin', 'note.txt']
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "atomic_write", "write_atomic"]


def _partial_sibling(path: Path) -> Path:
    """A hidden, unique, not yet existing name next to ``path`` (the writer creates it with default permissions)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    r"""Yield a temporary sibling path to write ``path``'s new content to; swap it into place on success.

    The parent folder is created. The temporary file is not created in
    advance, so any writer (``Path.write_text``, rasterio, pyarrow, nbformat)
    can open it; it gets the default permissions, like a file written in
    place. On an exception (or KeyboardInterrupt) the temporary file is
    removed, ``path`` keeps its old content, and the exception propagates.

    Parameters
    ----------
    path : path-like
        The destination file.

    Yields
    ------
    pathlib.Path
        Where to write; it is renamed to ``path`` when the block ends without an error.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "sub" / "table.csv"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("a,b\n1,2\n")
    ...     target.exists()
    False
    >>> target.read_text().splitlines()
    ['a,b', '1,2']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write text or bytes to ``path`` atomically (see :func:`atomic_write`) and return the path.

    Examples
    --------
    >>> import tempfile
    >>> p = write_atomic(Path(tempfile.mkdtemp()) / "x.json", '{"a": 1}')
    >>> p.read_text()
    '{"a": 1}'
    """
    path = Path(path)
    with atomic_write(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
    return path


@contextmanager
def atomic_dir(path: str | os.PathLike[str], *, keep_existing_on_race: bool = False) -> Iterator[Path]:
    """Yield an empty temporary sibling folder to build ``path`` in; replace ``path`` with it on success.

    The staging folder is readable by everyone (``0o755``), like an ordinary
    data folder. When the block ends without an error an existing ``path`` is
    removed and the staging folder renamed to ``path``; on an error the staging
    folder is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        The destination folder (e.g. a ``.zarr`` store).
    keep_existing_on_race : bool
        When another process renamed its own finished copy to ``path`` between
        the removal and the rename (the rename then fails because ``path`` is a
        non-empty folder), keep that copy and discard this one instead of raising.
        Use it for caches that any process may build.

    Yields
    ------
    pathlib.Path
        The staging folder.

    Examples
    --------
    >>> import tempfile
    >>> store = Path(tempfile.mkdtemp()) / "cube.zarr"
    >>> with atomic_dir(store) as staging:
    ...     _ = (staging / "zarr.json").write_text("{}")
    >>> sorted(p.name for p in store.iterdir())
    ['zarr.json']
    >>> sorted(p.name for p in store.parent.iterdir())
    ['cube.zarr']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the finished folder is ordinary, readable data
    try:
        yield staging
        if path.exists():
            shutil.rmtree(path)
        try:
            os.replace(staging, path)
        except OSError:
            if not (keep_existing_on_race and path.exists()):
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
