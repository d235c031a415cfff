"""Pin environment.yml's packages to the versions in requirements.lock (``make lock`` runs this).

environment.yml lists the same direct dependencies as pyproject.toml, for conda-forge; each is pinned
with ``==`` to the version the lock resolved, so a conda environment gets the tested versions of the
packages it names (conda resolves the rest). ``python`` and ``pip`` stay as they are.

Usage::

    .venv/bin/python scripts/pin_environment_yml.py           # rewrite environment.yml
    .venv/bin/python scripts/pin_environment_yml.py --check   # exit 1, naming them, if pins differ
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from geoml_helpers.course.environment_check import locked_versions  # noqa: E402

CONDA_TO_PYPI = {"pytorch": "torch"}
"""conda-forge names that differ from the PyPI names."""

UNPINNED = {"python", "pip"}
ENTRY = re.compile(r"^(?P<indent>\s+- )(?P<name>[A-Za-z0-9_.\-]+)(?P<spec>[^#\n]*?)(?P<comment>\s+#.*)?$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_environment(text: str, versions: dict[str, str]) -> tuple[str, list[str]]:
    """environment.yml's text with every package pinned to ``versions``, and the names that changed."""
    lines, changed = [], []
    in_dependencies = False
    for line in text.splitlines(keepends=True):
        if re.match(r"^\S", line):
            in_dependencies = line.startswith("dependencies:")
        match = ENTRY.match(line.rstrip("\n")) if in_dependencies else None
        if match and match["name"] not in UNPINNED:
            pypi = _normalise(CONDA_TO_PYPI.get(match["name"], match["name"]))
            if pypi not in versions:
                raise SystemExit(
                    f"error: environment.yml lists {match['name']}, which requirements.lock does not pin; add it "
                    "to pyproject.toml."
                )
            new = f"{match['indent']}{match['name']}=={versions[pypi]}{match['comment'] or ''}\n"
            if new != line:
                changed.append(f"{match['name']}{match['spec'].strip()} -> =={versions[pypi]}")
            line = new
        lines.append(line)
    return "".join(lines), changed


def main(argv: list[str] | None = None) -> int:
    """Pin environment.yml to the lock's versions (or, with --check, report the pins that differ)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report pins that differ from the lock")
    args = parser.parse_args(argv)
    path = ROOT / "environment.yml"
    text, changed = pinned_environment(
        path.read_text(),
        locked_versions(
            ROOT / "requirements.lock",
            {
                "python_full_version": "3.12.0",
                "python_version": "3.12",
                "sys_platform": "linux",
                "platform_machine": "x86_64",
            },
        ),
    )
    if args.check:
        if changed:
            print(
                "environment.yml is not pinned to requirements.lock: " + "; ".join(changed) + ". Run `make lock`.",
                file=sys.stderr,
            )
            return 1
        return 0
    if changed:
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_text(text)
        tmp.replace(path)
    print(f"environment.yml: {len(changed)} pins updated from requirements.lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
