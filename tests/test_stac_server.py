"""The local STAC API: start/stop, search semantics, paging, loading, and its errors."""

from __future__ import annotations

import json
import os
import socket
import time

import numpy as np
import psutil
import pystac_client
import pytest

from geoml_helpers.core.errors import EmptySearchError, PortInUseError, StacApiUnreachableError
from geoml_helpers.demo.stac_documents import footprint_lonlat
from geoml_helpers.discover.stac_search import check_reachable, open_stac_source, search_items, supported_cloud_filter
from geoml_helpers.services.stac_server import LocalStacServer


def test_server_starts_fast_binds_loopback_and_leaves_nothing(demo_ci):
    server = LocalStacServer.for_demo(demo_ci)
    with server:
        pid = server.pid
        assert server.startup_seconds < 5
        assert server.url.startswith("http://127.0.0.1:")
        listening = [c for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
        assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    server.stop()  # idempotent


def test_server_is_stopped_after_an_exception(demo_ci):
    with pytest.raises(RuntimeError, match="boom"):
        with LocalStacServer.for_demo(demo_ci) as server:
            pid = server.pid
            raise RuntimeError("boom")
    assert not psutil.pid_exists(pid)


def test_busy_port_is_refused_with_the_fix(demo_ci):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"Port {port}.*Leave the port out"):
            LocalStacServer.for_demo(demo_ci, port=port).start()


def test_unreachable_api_fails_fast_with_the_fix():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(StacApiUnreachableError, match="stac_api='local'"):
        check_reachable(f"http://127.0.0.1:{port}/v1", timeout=10)
    with pytest.raises(StacApiUnreachableError):
        open_stac_source(f"http://127.0.0.1:{port}/v1", timeout=10)
    assert time.perf_counter() - started < 10


def _client(server):
    return pystac_client.Client.open(server.url)


def test_search_by_collection_bbox_intersects_datetime_ids(stac_server, demo_ci):
    client = _client(stac_server)
    everything = list(client.search(collections=["sentinel-2-l2a"], max_items=None).items())
    assert len(everything) == demo_ci.profile.n_dates
    geometry, bbox = footprint_lonlat(demo_ci.bounds)
    assert len(list(client.search(collections=["sentinel-2-l2a"], bbox=bbox).items())) == len(everything)
    assert len(list(client.search(collections=["sentinel-2-l2a"], intersects=geometry).items())) == len(everything)
    assert list(client.search(collections=["sentinel-2-l2a"], bbox=[20, 20, 21, 21]).items()) == []
    winter = list(client.search(collections=["sentinel-2-l2a"], datetime="2024-06-01/2024-08-31").items())
    assert winter and all("2024-06" <= i.properties["datetime"][:7] <= "2024-08" for i in winter)
    assert len(winter) < len(everything)
    wanted = [everything[1].id, everything[4].id]
    assert sorted(i.id for i in client.search(ids=wanted).items()) == sorted(wanted)
    hyperspectral = list(client.search(collections=["enmap-like-l2a"]).items())
    assert len(hyperspectral) == 1


def test_paging_returns_every_item_once(stac_server, demo_ci):
    search = _client(stac_server).search(collections=["sentinel-2-l2a"], limit=5)
    pages = list(search.pages())
    assert len(pages) == -(-demo_ci.profile.n_dates // 5)
    ids = [item.id for page in pages for item in page]
    assert len(ids) == len(set(ids)) == demo_ci.profile.n_dates


def test_cloud_filter_is_client_side_here_and_says_so(demo_ci, data_root):
    with open_stac_source("local", "ci", data_dir=str(data_root)) as source:
        assert source.cloud_filter == "client"
        clear = search_items(source, max_cloud_cover=10)
        assert clear.cloud_filter == "client"
        assert 0 < len(clear) < clear.matched_before_cloud_filter
        assert all(item.properties["eo:cloud_cover"] <= 10 for item in clear.items)
        server_pid = source.server.pid
    assert not psutil.pid_exists(server_pid)


def test_cloud_filter_mode_follows_the_conformance_classes(real_stac_dir):
    # Earth Search's landing page declares these (stac-utils/pystac-client test cassettes).
    earth_search = [
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
        "https://api.stacspec.org/v1.0.0/item-search#query",
    ]
    assert supported_cloud_filter(earth_search) == "filter"
    assert supported_cloud_filter(earth_search[:1] + earth_search[2:]) == "query"
    assert supported_cloud_filter(earth_search[:1]) == "client"


def test_empty_search_names_the_parameters_to_widen(demo_ci, data_root):
    with open_stac_source("local", "ci", data_dir=str(data_root)) as source:
        with pytest.raises(EmptySearchError) as info:
            search_items(source, datetime="2019-01-01/2019-02-01")
        assert "2019-01-01/2019-02-01" in str(info.value) and "Widen" in str(info.value)
        with pytest.raises(EmptySearchError, match="before the cloud-cover filter"):
            search_items(source, max_cloud_cover=-1)


def test_served_items_load_with_stackstac_and_odc_stac(stac_server, demo_ci):
    import odc.stac
    import rasterio
    import stackstac

    items = _client(stac_server).search(collections=["sentinel-2-l2a"], max_items=2).item_collection()
    stack = stackstac.stack(
        items,
        assets=["red", "swir16"],
        epsg=32734,
        resolution=10,
        bounds=demo_ci.bounds,
        dtype="float64",
        rescale=False,
        fill_value=np.nan,
    )
    loaded = odc.stac.load(items, bands=["red", "swir16"], crs="EPSG:32734", resolution=10, chunks={}, anchor="edge")
    assert stack.shape[-2:] == (demo_ci.profile.size_px,) * 2
    with rasterio.open(items[0].assets["red"].href) as src:
        truth = src.read(1)
    first = items[0].id
    np.testing.assert_array_equal(stack.sel(band="red").isel(time=list(stack.id.values).index(first)).values, truth)
    odc_red = loaded.red.sel(
        time=loaded.time[[str(t)[:10] == items[0].datetime.strftime("%Y-%m-%d") for t in loaded.time.values]]
    ).values[0]
    np.testing.assert_array_equal(odc_red, truth)


def test_cli_serves_until_interrupted(demo_ci, data_root):
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "geoml_helpers.services.stac_server", "--profile", "ci", "--data-dir", str(data_root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = line.split(" at ")[1].split(" ")[0]
        landing = json.loads(__import__("urllib.request").request.urlopen(url, timeout=5).read())
        assert landing["type"] == "Catalog"
        children = [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    time.sleep(0.2)
    assert children and not any(psutil.pid_exists(pid) for pid in children)


def test_server_dies_with_a_killed_kernel(demo_ci, data_root, tmp_path):
    import signal
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from geoml_helpers.demo import open_demo_data\n"
        "from geoml_helpers.services.stac_server import LocalStacServer\n"
        f"server = LocalStacServer.for_demo(open_demo_data('ci', root={str(data_root)!r})).start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    # TMPDIR: the killed kernel cannot remove the server's working folder; keep that leftover inside pytest's tmp_path.
    kernel = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path)}
    )
    server_pid = int(kernel.stdout.readline())
    assert psutil.pid_exists(server_pid)
    kernel.send_signal(signal.SIGKILL)  # no atexit handler runs
    kernel.wait(timeout=10)
    deadline = time.time() + 10
    while (
        time.time() < deadline
        and psutil.pid_exists(server_pid)
        and psutil.Process(server_pid).status() != psutil.STATUS_ZOMBIE
    ):
        time.sleep(0.1)
    assert not psutil.pid_exists(server_pid) or psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
