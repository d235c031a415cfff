"""Notebook flow: end a notebook early, on purpose, with one line that says why.

Some projects cannot run a whole notebook: a project whose labels are all
points cannot train a segmentation model (notebook 05). Raising an error
would stop a course run; wrapping twenty cells in ``if`` would bury the
lesson. :func:`skip_remaining_cells` prints the reason and turns every
later cell of the running kernel into a no-op, so the run goes on with the
next notebook.

Examples
--------
>>> skip_remaining_cells("No polygons: nothing to segment.")  # in a script: prints, skips nothing
No polygons: nothing to segment. The remaining cells of this notebook are skipped.
False
"""

from __future__ import annotations

__all__ = ["skip_remaining_cells"]

_SKIP_SOURCE = ["pass\n"]


def _skip_cell(lines: list[str]) -> list[str]:
    r"""IPython input transformer: any cell becomes ``pass``.

    Examples
    --------
    >>> _skip_cell(["x = 1\n", "print(x)\n"])
    ['pass\n']
    """
    return list(_SKIP_SOURCE)


def skip_remaining_cells(reason: str) -> bool:
    """Print ``reason`` and skip every later cell of this notebook's kernel.

    Outside IPython (a script) nothing is skipped; the reason is printed and
    ``False`` returned, so a caller can stop by itself.

    Returns
    -------
    bool
        Whether later cells will be skipped.

    Examples
    --------
    >>> skip_remaining_cells("Nothing to do here.")
    Nothing to do here. The remaining cells of this notebook are skipped.
    False
    """
    print(f"{reason} The remaining cells of this notebook are skipped.")
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "input_transformers_post"):
        return False
    if _skip_cell not in shell.input_transformers_post:
        shell.input_transformers_post.append(_skip_cell)
    return True
