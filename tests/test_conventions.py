"""The developers' guide, checked: signatures, function length, errors, ``__all__``, ruff and mypy.

The structural checks read the package's source with :mod:`ast` (no imports, so they run in well under a second);
``__all__`` is checked on the imported subpackages; ruff and mypy run as the project's own tools would.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "geoml_helpers"
ERRORS_MODULE = PACKAGE / "core" / "errors.py"
MAX_POSITIONAL = 6
"""A public callable takes at most this many positional-or-keyword parameters; the rest are keyword-only."""
MAX_FUNCTION_LINES = 60
"""Lines of code (the docstring not counted) a function may have without saying why."""
LONG_MARKER = re.compile(r"^\s*Long because: \S", re.MULTILINE)
"""A function over :data:`MAX_FUNCTION_LINES` says why in its docstring, on a line ``Long because: ...``."""
SKIP_MARKER = "skipped under doctest"
"""A docstring with ``# doctest: +SKIP`` examples says what they need, e.g. "Needs the built demo data (skipped under
doctest):" before them, or ``>>> # needs a running STAC API (skipped under doctest)`` inside an example block."""

BUILTIN_EXCEPTIONS = {
    name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), filename=str(path)) for path in _modules()}


TREES = _trees()


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PROJECT_ROOT)}:{getattr(node, 'lineno', 0)}"


def _callables(tree: ast.Module):
    """Yield ``(qualified name, node, public)`` for every function and method, nested ones included."""

    def visit(node: ast.AST, prefix: str, public: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.", public and not child.name.startswith("_"))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
                is_public = public and (not name.startswith("_") or name == "__init__")
                yield f"{prefix}{name}", child, is_public
                yield from visit(child, f"{prefix}{name}.<locals>.", False)

    yield from visit(tree, "", True)


def _positional(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
    return names[1:] if names and names[0] in ("self", "cls") else names


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the end of the body, without the docstring."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def _exception_classes() -> list[tuple[Path, ast.ClassDef]]:
    """Classes deriving (through any chain inside the package) from a built-in exception or warning."""
    classes = [
        (path, node) for path, tree in TREES.items() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
    ]
    known = set(BUILTIN_EXCEPTIONS)
    found: dict[int, tuple[Path, ast.ClassDef]] = {}
    changed = True
    while changed:
        changed = False
        for path, node in classes:
            bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
            if id(node) not in found and bases & known:
                found[id(node)] = (path, node)
                known.add(node.name)
                changed = True
    return list(found.values())


def _subpackages() -> list[str]:
    return sorted(
        ".".join(p.parent.relative_to(PROJECT_ROOT).parts) for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE
    )


def test_the_checks_see_the_package():
    # guards the other tests against passing on an empty walk
    assert len(TREES) > 30
    assert {"geoml_helpers.core", "geoml_helpers.learn.deep", "geoml_helpers.publish"} <= set(_subpackages())
    assert any(name == "XBatcherDataset.__init__" for tree in TREES.values() for name, _, _ in _callables(tree))


def test_wide_signatures_are_keyword_only():
    wide = [
        f"{_where(path, node)} {name}: {len(_positional(node))} positional parameters"
        for path, tree in TREES.items()
        for name, node, public in _callables(tree)
        if public and len(_positional(node)) > MAX_POSITIONAL
    ]
    assert not wide, (
        f"Public callables take at most {MAX_POSITIONAL} positional parameters: put `*` after the first few "
        "(or pass a frozen dataclass):\n" + "\n".join(wide)
    )


def test_long_functions_say_why():
    long = [
        f"{_where(path, node)} {name}: {_code_lines(node)} lines"
        for path, tree in TREES.items()
        for name, node, _ in _callables(tree)
        # a nested function is part of its parent, whose reason covers it
        if "<locals>" not in name
        and _code_lines(node) > MAX_FUNCTION_LINES
        and not LONG_MARKER.search(ast.get_docstring(node) or "")
    ]
    assert not long, (
        f"Functions over {MAX_FUNCTION_LINES} lines of code: split them, or give the reason in the docstring "
        "on a line starting `Long because: `:\n" + "\n".join(long)
    )


def _docstrings() -> list[tuple[Path, ast.AST, str]]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [
        (path, node, doc)
        for path, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, kinds) and (doc := ast.get_docstring(node, clean=False))
    ]


def test_skipped_examples_say_why():
    silent = [
        f"{_where(path, node)} {getattr(node, 'name', '<module>')}"
        for path, node, doc in _docstrings()
        if "doctest: +SKIP" in doc and SKIP_MARKER not in doc
    ]
    assert not silent, (
        "Docstring examples that do not run must say what they need, e.g. a line 'Needs the built demo data "
        f"({SKIP_MARKER}):' before them (or make them run on a tiny in-memory example):\n" + "\n".join(silent)
    )


def test_exception_classes_live_in_core_errors():
    found = _exception_classes()
    assert any(path == ERRORS_MODULE for path, _ in found), "the walk found no exception in core/errors.py"
    outside = [f"{_where(path, node)} {node.name}" for path, node in found if path != ERRORS_MODULE]
    assert not outside, (
        "Exception and warning classes belong in geoml_helpers/core/errors.py (import them from there):\n"
        + "\n".join(outside)
    )


@pytest.mark.parametrize("package", _subpackages())
def test_subpackage_all_names_exist(package):
    tree = TREES[PROJECT_ROOT.joinpath(*package.split("."), "__init__.py")]
    assigned = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    ]
    assert assigned, f"{package}/__init__.py has no __all__: list the public names it re-exports"
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert len(names) == len(set(names)), (
        f"{package}.__all__ repeats {sorted({n for n in names if names.count(n) > 1})}"
    )
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names {missing}, which the package does not define or import"


def test_package_code_imports_from_modules_not_subpackages():
    # a stage's __init__ imports its modules; code importing from another stage's __init__ risks an import cycle
    packages = set(_subpackages()) | {"geoml_helpers"}
    offenders = [
        f"{_where(path, node)} from {node.module} import ..."
        for path, tree in TREES.items()
        if path.name != "__init__.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module in packages and node.module != "geoml_helpers"
    ]
    assert not offenders, "Import from the module (geoml_helpers.load.cog), not the subpackage:\n" + "\n".join(
        offenders
    )


def _tool(name: str) -> list[str]:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the dev extras (`uv pip install -e '.[dev]'`)")
    return [found]


def test_ruff_is_clean():
    done = subprocess.run(
        [*_tool("ruff"), "check", "--no-cache", "--output-format", "concise"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        f"ruff check found problems (fix them, or `ruff check --fix`):\n{done.stdout}{done.stderr}"
    )


def test_mypy_is_clean(tmp_path):
    env = {**os.environ, "MYPY_FORCE_COLOR": "0"}
    # The cache goes to the test's temporary folder: a .mypy_cache appearing in the checkout while the
    # notebooks run would read as something the notebooks left behind.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert done.returncode == 0, f"mypy geoml_helpers found errors:\n{done.stdout}{done.stderr}"
