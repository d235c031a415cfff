#!/usr/bin/env bash
# Register the project's environment as a Jupyter kernel for this user (what `make kernel` runs),
# so that any JupyterLab on the machine (SageMaker Studio's, a hub's, a system one) can run the
# notebooks in it. It writes <jupyter data dir>/kernels/<name>/kernel.json (JUPYTER_DATA_DIR is
# honoured) and does nothing when that kernel already points at this environment.
#
# Usage: scripts/register_kernel.sh [venv-dir] [name] [display-name]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
name="${2:-geoml}"
display="${3:-geoml (Python 3.12)}"
if [ ! -x "$venv/bin/python" ]; then
  echo "error: $venv/bin/python does not exist: run 'make env' first." >&2
  exit 2
fi
# An absolute path, so the kernel works from any working directory.
python="$(cd "$venv" && pwd)/bin/python"
"$python" - "$name" "$display" <<'PY'
import json
import sys
from pathlib import Path

from ipykernel.kernelspec import install
from jupyter_core.paths import jupyter_data_dir

name, display = sys.argv[1], sys.argv[2]
# The kernel's environment names it, so notebook 00 can tell it runs in the project's kernel.
env = {"GEOML_KERNEL": name}
spec_file = Path(jupyter_data_dir()) / "kernels" / name / "kernel.json"
try:
    spec = json.loads(spec_file.read_text())
except (OSError, ValueError):
    spec = {}
if spec.get("argv", [None])[0] == sys.executable and spec.get("display_name") == display and spec.get("env", {}).get("GEOML_KERNEL") == name:
    print(f"Kernel '{display}' is registered: {spec_file}")
    sys.exit(0)
folder = install(user=True, kernel_name=name, display_name=display, env=env)
print(f"Registered the Jupyter kernel '{display}' ({sys.executable}) in {folder}")
PY
