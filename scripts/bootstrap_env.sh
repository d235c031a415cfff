#!/usr/bin/env bash
# Create the project environment (.venv) with Python 3.12 and pip, if it is missing or stale.
# Usage: scripts/bootstrap_env.sh [venv-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
stamp="$venv/.geoml-installed"

find_python312() {
  if [ -n "${GEOML_PYTHON:-}" ]; then echo "$GEOML_PYTHON"; return; fi
  if command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    command -v python3.12; return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local v
    v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | tail -n 1 || true)
    if [ -n "$v" ]; then echo "$(pyenv root)/versions/$v/bin/python3.12"; return; fi
  fi
  return 1
}

if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && "$venv/bin/python" -c 'import geoml_helpers' 2>/dev/null; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  py=$(find_python312) || {
    echo "error: Python 3.12 was not found. Install it (e.g. 'pyenv install 3.12' or your package manager)," >&2
    echo "       or point GEOML_PYTHON at a python3.12 executable, then run this again." >&2
    exit 2
  }
  echo "Creating $venv with $py"
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
echo "Installing geoml and its dependencies into $venv (a few minutes on a fresh machine) ..."
start=$(date +%s)
"$venv/bin/python" -m pip install --quiet --progress-bar off -e ".[dev]"
echo "Environment ready in $(( $(date +%s) - start )) s."
touch "$stamp"
