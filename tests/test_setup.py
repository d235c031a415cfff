"""Set-up paths: the registered kernel, the incremental runner, links behind a Jupyter proxy, SageMaker's on-start.

Everything runs for real: `make kernel` into a private Jupyter data folder, a kernel started from that
spec, notebook 00 executed by the runner, a real LocalCluster and panel app reached through a real
Jupyter server with jupyter-server-proxy, and the SageMaker script installing the lock into a fresh HOME.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests
from conftest import PROJECT_ROOT

from geoml_helpers.course.environment_check import (
    PROJECT_KERNEL_DISPLAY_NAME,
    PROJECT_KERNEL_NAME,
    check_kernel,
    display_path,
    locked_versions,
)
from geoml_helpers.course.runner import SUMMARY_NAME, run_key, run_notebooks
from geoml_helpers.services.processes import free_port
from geoml_helpers.services.proxy import DASK_DEFAULT_LINK, app_url, jupyter_base_url

VENV = Path(sys.prefix)
HUB_PREFIX = "/user/geoml-test/"


def _private_jupyter(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME and Jupyter data folder are empty folders under ``tmp_path``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home), "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data")}


# --- the kernel -------------------------------------------------------------------------------------------------


def test_make_kernel_registers_the_environment_once(tmp_path):
    env = _private_jupyter(tmp_path)
    done = subprocess.run(
        ["make", "-s", "kernel", f"VENV={VENV}"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    spec_file = tmp_path / "jupyter-data" / "kernels" / PROJECT_KERNEL_NAME / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert spec["display_name"] == PROJECT_KERNEL_DISPLAY_NAME == "geoml (Python 3.12)"
    assert spec["argv"][0] == str(VENV / "bin" / "python") and Path(spec["argv"][0]).is_absolute()
    assert spec["env"]["GEOML_KERNEL"] == "geoml"
    listed = subprocess.run(
        [str(VENV / "bin" / "jupyter"), "kernelspec", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(listed.stdout)["kernelspecs"]["geoml"]["resource_dir"] == str(spec_file.parent)
    # A second `make kernel` finds it registered and leaves it alone.
    before = spec_file.stat().st_mtime_ns
    again = subprocess.run(
        ["make", "-s", "kernel", f"VENV={VENV}"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "is registered" in again.stdout
    assert spec_file.stat().st_mtime_ns == before


def test_the_registered_kernel_reports_itself_as_the_project_kernel(tmp_path, monkeypatch):
    from jupyter_client.manager import start_new_kernel

    env = _private_jupyter(tmp_path)
    subprocess.run(
        ["make", "-s", "kernel", f"VENV={VENV}"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name in ("HOME", "JUPYTER_DATA_DIR"):
        monkeypatch.setenv(name, env[name])
    manager, client = start_new_kernel(kernel_name="geoml", cwd=str(PROJECT_ROOT / "notebooks"))
    try:
        outputs: list[dict] = []
        reply = client.execute_interactive(
            "from geoml_helpers.course.environment_check import check_kernel\n"
            "row = check_kernel()\nprint(row.status, '|', row.found)",
            timeout=120,
            output_hook=outputs.append,
        )
        assert reply["content"]["status"] == "ok"
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        assert text.startswith("pass |"), text
        # the interpreter as a reader may see it: relative to the project (no folder of the building machine)
        assert "geoml (Python 3.12) kernel" in text and "interpreter .venv/bin/python" in text, text
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_another_interpreter_is_warned_with_the_fix(tmp_path, monkeypatch):
    env = _private_jupyter(tmp_path)
    for name in ("HOME", "JUPYTER_DATA_DIR"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("GEOML_KERNEL", raising=False)
    # This interpreter is not <elsewhere>/.venv and no geoml kernel is registered in the private folder.
    row = check_kernel(project_root=tmp_path / "elsewhere")
    assert row.status == "warn"
    assert "not the geoml kernel" in row.found and display_path(sys.executable, tmp_path / "elsewhere") in row.found
    assert "geoml (Python 3.12)" in row.fix and "make kernel" in row.fix
    # The project's own environment without a registered kernel: a warning naming `make kernel`.
    same = check_kernel(project_root=PROJECT_ROOT) if VENV.resolve() == (PROJECT_ROOT / ".venv").resolve() else None
    if same is not None:
        assert same.status == "warn" and "is not registered" in same.fix


def test_lock_row_passes_on_the_locked_environment_and_names_drift(tmp_path):
    from geoml_helpers.course.environment_check import check_lock

    installed = check_lock(PROJECT_ROOT)
    assert installed is not None and installed.status == "pass", installed
    lock = (PROJECT_ROOT / "requirements.lock").read_text()
    numpy = locked_versions(PROJECT_ROOT / "requirements.lock")["numpy"]
    (tmp_path / "requirements.lock").write_text(lock.replace(f"\nnumpy=={numpy} ", "\nnumpy==1.0.0 "))
    drift = check_lock(tmp_path)
    assert drift.status == "warn" and f"numpy {numpy} (lock 1.0.0)" in drift.found and "make env" in drift.fix


# --- the incremental runner -------------------------------------------------------------------------------------


def test_runner_skips_an_unchanged_notebook_and_reruns_after_a_data_change(tmp_path, demo_ci, data_root):
    out = tmp_path / "executed"
    first = run_notebooks(
        "ci", PROJECT_ROOT / "notebooks", out, only=["00"], data_dir=str(data_root), log=lambda *_: None, reuse=True
    )
    executed = out / "ci" / "00_environment_check.ipynb"
    summary = out / "ci" / SUMMARY_NAME
    assert [r.reused for r in first.notebooks] == [False] and first.ok
    recorded = nbformat.read(executed, as_version=4).metadata["geoml"]["run_key"]
    assert recorded["parameters"] == '{"profile": "ci"}' and str(data_root) in recorded["data"]
    stamps = (executed.stat().st_mtime_ns, summary.stat().st_mtime_ns)

    started = time.perf_counter()
    second = run_notebooks(
        "ci", PROJECT_ROOT / "notebooks", out, only=["00"], data_dir=str(data_root), log=lambda *_: None, reuse=True
    )
    assert time.perf_counter() - started < 10
    assert [r.reused for r in second.notebooks] == [True]
    assert second.notebooks[0].wall_s == first.notebooks[0].wall_s, "the reused run keeps the measured time"
    assert (executed.stat().st_mtime_ns, summary.stat().st_mtime_ns) == stamps, "nothing was rewritten"

    # The key follows the data: a rebuilt demo world (a new marker) or another profile is a new key.
    notebook = PROJECT_ROOT / "notebooks" / "00_environment_check.ipynb"
    assert run_key(notebook, [], {"profile": "ci"}, data_root, PROJECT_ROOT)["key"] == recorded["key"]
    assert (
        run_key(notebook, [], {"profile": "ci", "project": "other"}, data_root, PROJECT_ROOT)["key"] != recorded["key"]
    )
    marker = data_root / "ci" / "_COMPLETE.json"
    os.utime(marker, ns=(marker.stat().st_atime_ns, marker.stat().st_mtime_ns + 1_000_000_000))
    assert run_key(notebook, [], {"profile": "ci"}, data_root, PROJECT_ROOT)["key"] != recorded["key"]


def _tiny_notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell('profile = "ci"')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)


def test_a_changed_notebook_reruns_itself_and_every_later_one(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _tiny_notebook(notebooks / "00_a.ipynb", "open('runs.txt', 'a').write('a')")
    _tiny_notebook(notebooks / "01_b.ipynb", "open('runs.txt', 'a').write('b')")
    kwargs = dict(data_dir=str(tmp_path / "data"), log=lambda *_: None, reuse=True)
    run_notebooks("ci", notebooks, tmp_path / "out", **kwargs)
    run_notebooks("ci", notebooks, tmp_path / "out", **kwargs)
    assert (notebooks / "runs.txt").read_text() == "ab", "the second run executed nothing"
    _tiny_notebook(notebooks / "00_a.ipynb", "open('runs.txt', 'a').write('A')")
    third = run_notebooks("ci", notebooks, tmp_path / "out", **kwargs)
    assert (notebooks / "runs.txt").read_text() == "abAb" and not any(r.reused for r in third.notebooks)
    forced = run_notebooks(
        "ci", notebooks, tmp_path / "out", data_dir=str(tmp_path / "data"), log=lambda *_: None, reuse=False
    )
    assert (notebooks / "runs.txt").read_text() == "abAbAb" and not any(r.reused for r in forced.notebooks)


# --- links behind a Jupyter server proxy -----------------------------------------------------------------------


def _stop(process: subprocess.Popen) -> None:
    """Stop a process started in its own session, and its children (TERM, then KILL)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def jupyter_proxy(tmp_path_factory):
    """A real Jupyter server with jupyter-server-proxy under a hub-like base URL; yields (origin, token)."""
    folder = tmp_path_factory.mktemp("jupyter-proxy")
    port, token = free_port(), "geoml-test-token"
    env = {**os.environ, "HOME": str(folder), "JUPYTER_RUNTIME_DIR": str(folder / "runtime")}
    process = subprocess.Popen(
        [
            str(VENV / "bin" / "jupyter"), "server", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
            f"--ServerApp.base_url={HUB_PREFIX}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stderr.read().decode(errors="replace")[-3000:]
            try:
                if (
                    requests.get(f"{origin}{HUB_PREFIX}api/status", params={"token": token}, timeout=5).status_code
                    == 200
                ):
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "jupyter server did not start within 120 s"
            time.sleep(0.5)
        yield origin, token
    finally:
        _stop(process)


def test_addresses_without_a_proxy(monkeypatch):
    for name in ("GEOML_JUPYTER_BASE_URL", "JUPYTERHUB_SERVICE_PREFIX", "SAGEMAKER_APP_TYPE_LOWERCASE"):
        monkeypatch.delenv(name, raising=False)
    assert jupyter_base_url() is None
    assert app_url(5006, "dashboard") == "http://127.0.0.1:5006/dashboard"
    monkeypatch.setenv("SAGEMAKER_APP_TYPE_LOWERCASE", "jupyterlab")
    assert app_url(5006, "dashboard") == "/jupyterlab/default/proxy/5006/dashboard"
    monkeypatch.setenv("GEOML_JUPYTER_BASE_URL", "")  # explicitly off
    assert app_url(5006, "dashboard") == "http://127.0.0.1:5006/dashboard"


def test_dask_dashboard_link_plain_then_through_the_hub_proxy(monkeypatch, tmp_path, jupyter_proxy):
    import dask
    import distributed  # noqa: F401  (its config defaults must exist before dask.config.set records what to restore)

    from geoml_helpers.scale.clusters import start_cluster

    for name in ("GEOML_JUPYTER_BASE_URL", "JUPYTERHUB_SERVICE_PREFIX", "SAGEMAKER_APP_TYPE_LOWERCASE"):
        monkeypatch.delenv(name, raising=False)
    origin, token = jupyter_proxy
    with dask.config.set({"distributed.dashboard.link": DASK_DEFAULT_LINK}):
        with start_cluster("local", n_workers=1, memory_limit="1GiB", local_directory=tmp_path) as handle:
            plain = handle.dashboard_link
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/status", plain), plain
            assert requests.get(plain, timeout=30).status_code == 200
        monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", HUB_PREFIX)
        with start_cluster("local", n_workers=1, memory_limit="1GiB", local_directory=tmp_path) as handle:
            link = handle.dashboard_link
            port = handle.client.scheduler_info()["services"]["dashboard"]
            assert link == f"{HUB_PREFIX}proxy/{port}/status"
            # The browser resolves the link against the JupyterLab page; the hub's proxy reaches the dashboard.
            through = requests.get(f"{origin}{link}", params={"token": token}, timeout=60)
            assert through.status_code == 200 and "Dask" in through.text
            assert dask.config.get("distributed.dashboard.link") == f"{HUB_PREFIX}proxy/{{port}}/status"
    assert dask.config.get("distributed.dashboard.link") == DASK_DEFAULT_LINK


def test_panel_app_address_through_the_hub_proxy(monkeypatch, demo_ci, data_root, jupyter_proxy):
    from geoml_helpers.load.cube import ensure_analysis_ready_cube

    ensure_analysis_ready_cube("ci", data_root)  # built here so the app's first page is quick
    origin, token = jupyter_proxy
    port = free_port()
    env = {**os.environ, "JUPYTERHUB_SERVICE_PREFIX": HUB_PREFIX, "GEOML_DATA_DIR": str(data_root)}
    process = subprocess.Popen(
        [sys.executable, "-m", "geoml_helpers.explore.dashboard", "--profile", "ci", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        printed: list[str] = []
        while not (printed and printed[-1].startswith("Dashboard: ")):
            line = process.stdout.readline()  # the address is printed before the server starts
            assert line, "the app exited before printing its address:\n" + "".join(printed)
            printed.append(line)
        assert printed[-1].strip() == f"Dashboard: {HUB_PREFIX}proxy/{port}/dashboard"
        address = printed[-1].strip().split(" ", 1)[1]
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None
            response = requests.get(f"{origin}{address}", params={"token": token}, timeout=90)
            if response.status_code == 200:
                break
            assert time.monotonic() < deadline, f"no dashboard through the proxy: {response.status_code}"
            time.sleep(1)
        from geoml_helpers.explore.dashboard import DASHBOARD_TITLE

        assert f"<title>{DASHBOARD_TITLE}</title>" in response.text
    finally:
        _stop(process)


# --- SageMaker Studio's lifecycle script ------------------------------------------------------------------------


def test_sagemaker_on_start_installs_the_lock_and_kernel_in_a_fresh_home_and_is_idempotent(tmp_path):
    """In a fresh HOME, from a clone of this repository.

    uv's cache is the machine's warm one, to keep the test short; the cold case is measured apart.
    """
    home = tmp_path / "home"
    home.mkdir()
    warm_cache = os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("JUPYTER", "PYENV", "VIRTUAL_ENV", "CONDA", "GEOML"))
    }
    env |= {
        "PATH": "/usr/local/bin:/usr/bin:/bin",  # no conda, no pyenv shims, no uv: as on a fresh Studio space
        "HOME": str(home),
        "GEOML_REPO": str(PROJECT_ROOT),
        "GEOML_PYTHON": str(Path(sys.base_prefix) / "bin" / "python3.12"),
        "UV_CACHE_DIR": warm_cache,
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip"),
    }
    script = PROJECT_ROOT / "scripts" / "sagemaker" / "on-start.sh"
    first = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    venv_python = home / "geoml" / ".venv" / "bin" / "python"
    assert (home / ".local" / "share" / "geoml" / "uv" / "bin" / "uv").is_file(), (
        "uv was bootstrapped with pip in the home volume"
    )
    probe = subprocess.run(
        [
            str(venv_python), "-c",
            "import importlib.metadata as m, geoml_helpers\n"
            "print(m.version('torch'), m.version('jupyter-server-proxy'), geoml_helpers.__file__)",
        ],
        capture_output=True, text=True, timeout=120, cwd=home,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    torch_version, proxy_version, package = probe.stdout.split()
    locked = locked_versions(PROJECT_ROOT / "requirements.lock")
    assert (torch_version, proxy_version) == (locked["torch"], locked["jupyter-server-proxy"]) and package.startswith(
        str(home / "geoml")
    )
    spec = json.loads((home / ".local" / "share" / "jupyter" / "kernels" / "geoml" / "kernel.json").read_text())
    assert spec["argv"][0] == str(venv_python) and spec["display_name"] == "geoml (Python 3.12)"
    assert (home / ".geoml-on-start.log").read_text().count("== geoml on-start done") == 1

    started = time.perf_counter()
    second = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    assert second.returncode == 0, second.stderr
    assert "is up to date" in second.stdout and "is registered" in second.stdout
    assert seconds < 30, f"the second start took {seconds:.0f} s"
    shutil.rmtree(home, ignore_errors=True)


def test_sagemaker_script_fits_a_lifecycle_configuration_and_needs_no_conda():
    import base64

    script = (PROJECT_ROOT / "scripts" / "sagemaker" / "on-start.sh").read_bytes()
    assert len(base64.b64encode(script)) <= 16384, "StudioLifecycleConfigContent is at most 16384 base64 characters"
    code = [line for line in script.decode().splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if re.search(r"\b(conda|mamba|micromamba)\b(?!/bin/python)", line)]


# --- one repository address, repo2docker ------------------------------------------------------------------------


def test_one_repository_address_everywhere():
    import yaml

    config = yaml.safe_load((PROJECT_ROOT / "book" / "_config.yml").read_text())
    url = config["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), "Binder's launch button needs a GitHub org/repo"
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["jupyterhub_url"], "launch buttons on"
    assert config["repository"]["path_to_book"] == "", "the book's notebooks/ pages are the repository's notebooks/"
    for path in ("README.md", "book/run_it_yourself.md", "scripts/sagemaker/on-start.sh"):
        addresses = set(re.findall(r"https://github\.com/[\w.-]+/[\w-]+(?:\.git)?", (PROJECT_ROOT / path).read_text()))
        assert {a.removesuffix(".git") for a in addresses} <= {url}, f"{path} names another repository address"
    # where a reader copies the command: a real address, never "git clone <this repository>"
    clones = re.findall(r"git clone (\S+)", (PROJECT_ROOT / "book" / "run_it_yourself.md").read_text())
    assert clones and all(c.removesuffix(".git") == url for c in clones), clones


def test_repo2docker_builds_from_the_lock_then_the_ci_data():
    binder = PROJECT_ROOT / "binder"
    requirements = [
        line for line in (binder / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert (
        requirements == ["-r ../requirements.lock"]
        and (binder / requirements[0].split()[1]).resolve() == PROJECT_ROOT / "requirements.lock"
    )
    assert (binder / "runtime.txt").read_text().strip() == "python-3.12"
    post_build = binder / "postBuild"
    assert os.access(post_build, os.X_OK) and os.access(binder / "start", os.X_OK)
    commands = [line for line in post_build.read_text().splitlines() if line and not line.startswith("#")]
    assert "python -m geoml_helpers.demo build --profile ci" in commands
    assert any("--no-deps" in line and "-e ." in line for line in commands), "the project without re-resolving the lock"
