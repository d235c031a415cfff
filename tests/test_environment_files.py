"""pyproject.toml (pip) and environment.yml (conda-forge) must list the same packages and pins."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import PROJECT_ROOT
from packaging.requirements import Requirement

# conda-forge names that differ from the PyPI names.
CONDA_TO_PYPI = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip"}


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


def test_same_packages_in_both_files():
    pip, (conda, _python) = _pyproject(), _environment()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml but not in environment.yml"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml but not in pyproject.toml"


def test_same_version_constraints_in_both_files():
    pip, (conda, _python) = _pyproject(), _environment()
    different = {name: (pip[name], conda[name]) for name in pip if name in conda and pip[name] != conda[name]}
    assert different == {}


def test_pins_that_matter_and_python():
    pip, (_conda, python) = _pyproject(), _environment()
    assert pip["torch"] == "==2.14.1" and pip["torchvision"] == "==0.29.1"
    assert pip["torchgeo"] == "==0.10.*"
    requires = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert "3.12" in requires and python.lstrip("=") == "3.12"
