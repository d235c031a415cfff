#!/usr/bin/env bash
# SageMaker Studio lifecycle configuration (JupyterLab space, "on start"): the course's locked
# environment in the persistent home volume, and its kernel in Studio's JupyterLab.
#
#   1. clones the course into $GEOML_HOME (default ~/geoml), or leaves an existing clone as it is;
#   2. installs uv with pip (from PyPI, pinned and hash-checked by requirements.lock) into
#      ~/.local/share/geoml/uv, once;
#   3. installs requirements.lock into $GEOML_HOME/.venv with `uv pip sync` (make env's script),
#      keeping uv's cache on the home volume too, so a restarted space re-links instead of downloading;
#   4. registers the kernel "geoml (Python 3.12)" for the user.
#
# It needs no conda: only a Python 3.12 (Studio's image has one; set GEOML_PYTHON to choose another).
# It is idempotent: on the second start every step finds its work done and it takes seconds.
# Lifecycle scripts run as root before the user's JupyterLab starts; set GEOML_REPO to your fork.
#
#   GEOML_REPO    git address of the course (default below)      GEOML_REF   branch or tag to clone
#   GEOML_HOME    where the clone and its .venv live (~/geoml)   GEOML_LOG   log file (~/.geoml-on-start.log)
set -euo pipefail

GEOML_REPO="${GEOML_REPO:-https://github.com/geoml-course/geoml.git}"
GEOML_HOME="${GEOML_HOME:-$HOME/geoml}"
GEOML_LOG="${GEOML_LOG:-$HOME/.geoml-on-start.log}"
export UV_PYTHON_DOWNLOADS=never
export UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/uv}"
# uv hard-links from its cache when both are on one volume; copying is the safe default across volumes.
export UV_LINK_MODE="${UV_LINK_MODE:-hardlink}"

started=$(date +%s)
mkdir -p "$(dirname "$GEOML_LOG")"
exec > >(tee -a "$GEOML_LOG") 2>&1
echo "== geoml on-start $(date -u +%Y-%m-%dT%H:%M:%SZ) in $GEOML_HOME"

# A Python 3.12 for the environment: GEOML_PYTHON, python3.12 on the PATH, or a python3 that is 3.12.
if [ -z "${GEOML_PYTHON:-}" ]; then
  for candidate in python3.12 /opt/conda/bin/python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      GEOML_PYTHON=$(command -v "$candidate")
      break
    fi
  done
fi
if [ -z "${GEOML_PYTHON:-}" ]; then
  echo "error: no Python 3.12 found; set GEOML_PYTHON to one." >&2
  exit 2
fi
export GEOML_PYTHON

if [ ! -d "$GEOML_HOME/.git" ]; then
  echo "== cloning $GEOML_REPO into $GEOML_HOME"
  git clone --quiet ${GEOML_REF:+--branch "$GEOML_REF"} "$GEOML_REPO" "$GEOML_HOME"
fi

# make env's own script: uv (bootstrapped by pip when missing), the lock, and a stamp that makes a
# second start a no-op.
GEOML_UV_HOME="${GEOML_UV_HOME:-$HOME/.local/share/geoml/uv}" "$GEOML_HOME/scripts/bootstrap_env.sh" "$GEOML_HOME/.venv"
"$GEOML_HOME/scripts/register_kernel.sh" "$GEOML_HOME/.venv" geoml "geoml (Python 3.12)"

# Lifecycle scripts run as root: hand what they wrote in the home volume back to its owner.
owner=$(stat -c '%u:%g' "$HOME")
if [ "$(id -u)" = 0 ] && [ "$owner" != "0:0" ]; then
  chown -R "$owner" "$GEOML_HOME" "$HOME/.local" "$UV_CACHE_DIR" "$GEOML_LOG" 2>/dev/null || true
fi
echo "== geoml on-start done in $(( $(date +%s) - started )) s: open a notebook in $GEOML_HOME/notebooks with the 'geoml (Python 3.12)' kernel"
