#!/usr/bin/env bash
# Create or update the project environment from the hashed lock file, with uv.
#
# Usage: scripts/bootstrap_env.sh [venv-dir]          (what `make env` runs)
#
#   1. finds Python 3.12: $GEOML_PYTHON, python3.12 on the PATH, or pyenv's newest 3.12;
#   2. finds uv: $GEOML_UV, uv on the PATH, or the bootstrap copy; when there is none, pip installs
#      the uv release pinned in requirements.lock (hash-checked) into the bootstrap location
#      ${GEOML_UV_HOME:-$HOME/.local/share/geoml/uv}, a small venv of its own;
#   3. `uv pip sync requirements.lock` (exact, hash-checked, removes what the lock does not list),
#      then the project itself in editable mode without dependencies;
#   4. writes a stamp with the hash of the lock, pyproject.toml and the interpreter: when nothing
#      changed the next run returns at once. FORCE=1 re-installs anyway.
#
# uv never downloads a Python build here (UV_PYTHON_DOWNLOADS=never): the install works offline
# against the package index alone. Without uv:
#   python3.12 -m venv .venv && .venv/bin/pip install --require-hashes -r requirements.lock \
#     && .venv/bin/pip install --no-deps -e .
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
lock="requirements.lock"
stamp="$venv/.geoml-env"
export UV_PYTHON_DOWNLOADS=never
# `uv pip sync` must not pick up an activated conda or venv instead of the one named here.
unset CONDA_PREFIX VIRTUAL_ENV

find_python312() {
  if [ -n "${GEOML_PYTHON:-}" ]; then echo "$GEOML_PYTHON"; return; fi
  if command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    command -v python3.12; return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local v
    v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -t. -k3 -n | tail -n 1 || true)
    if [ -n "$v" ]; then echo "$(pyenv root)/versions/$v/bin/python3.12"; return; fi
  fi
  return 1
}

# The state the environment is built from: the lock, the project's metadata ([project] and
# [build-system], not the [tool.*] settings) and the interpreter.
env_key() {
  "$venv/bin/python" - "$lock" <<'PY'
import hashlib, json, sys, tomllib
meta = tomllib.load(open("pyproject.toml", "rb"))
state = {k: meta.get(k) for k in ("project", "build-system")}
digest = hashlib.sha256(open(sys.argv[1], "rb").read())
digest.update(json.dumps(state, sort_keys=True).encode() + sys.version.encode())
print(digest.hexdigest())
PY
}

if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ -x "$venv/bin/python" ] \
  && [ "$(cat "$stamp")" = "$(env_key 2>/dev/null)" ] && "$venv/bin/python" -c 'import geoml_helpers' 2>/dev/null; then
  echo "$venv is up to date with $lock (FORCE=1 re-installs)."
  exit 0
fi

start=$(date +%s)
py=""
if [ ! -x "$venv/bin/python" ]; then
  py=$(find_python312) || {
    echo "error: Python 3.12 was not found. Install it (e.g. 'pyenv install 3.12' or your package manager)," >&2
    echo "       or point GEOML_PYTHON at a python3.12 executable, then run this again." >&2
    exit 2
  }
fi

uv_home="${GEOML_UV_HOME:-$HOME/.local/share/geoml/uv}"
uv="${GEOML_UV:-}"
if [ -z "$uv" ]; then
  if command -v uv >/dev/null 2>&1; then
    uv=$(command -v uv)
  elif [ -x "$uv_home/bin/uv" ]; then
    uv="$uv_home/bin/uv"
  else
    boot_py="${py:-$(find_python312 || command -v python3)}"
    echo "Installing uv with pip into $uv_home (once) ..."
    # The uv release and its hashes come from the lock, so this step is as reproducible as the rest.
    uv_pin=$(mktemp)
    awk '/^uv==/{keep=1} keep{print} keep && !/\\$/{exit}' "$lock" > "$uv_pin"
    [ -s "$uv_pin" ] || { echo "error: $lock pins no uv release; run 'make lock'." >&2; exit 2; }
    "$boot_py" -m venv "$uv_home"
    "$uv_home/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$uv_pin"
    rm -f "$uv_pin"
    uv="$uv_home/bin/uv"
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "Creating $venv with $py"
  "$uv" venv --quiet --python "$py" "$venv"
fi
echo "Installing the locked environment into $venv with $("$uv" --version) ..."
if ! "$venv/bin/python" -c 'import setuptools' 2>/dev/null; then
  # A new environment: every locked package first, each checked against the lock's hashes.
  "$uv" pip sync --quiet --python "$venv/bin/python" --require-hashes "$lock"
fi
# The lock plus the project itself in editable mode, in one sync so that the project is never
# uninstalled in between (others may be using the environment). uv still checks the lock's hashes;
# the project is built with the locked setuptools (no isolated build environment to resolve).
editable=$(mktemp)
printf -- '-e %s\n' "$PWD" > "$editable"
"$uv" pip sync --quiet --python "$venv/bin/python" --no-build-isolation "$lock" "$editable"
rm -f "$editable"
env_key > "$stamp"
echo "Environment ready in $(( $(date +%s) - start )) s."
